#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# pst-write-check.py - an independent structural check of a Unicode PST
# (written from [MS-PST], sharing no code with pst/), for files the writer
# made.  It checks what neither pffexport nor readpst looks at:
#   - both header CRCs, every NBT/BBT page (trailer, CRC, signature, levels,
#     keys sorted, a child's first key equal to its parent's entry key),
#     every block of the BBT (trailer, CRC, signature);
#   - every block referenced exactly by the node trees and nothing else:
#     no block lost or dangling (NBT -> data/subnode trees -> XBLOCK/XXBLOCK,
#     SLBLOCK/SIBLOCK, recursively);
#   - the allocation maps: each AMap's bits equal the pages and blocks
#     actually in its region, cbAMapFree and ibAMapLast, ibFileEof, PMap /
#     FMap / FPMap pages where the format puts them, the density list;
#   - heaps (unencoded files): HNHDR, HNPAGEHDR and HNBITMAPHDR at blocks
#     8 + 128k, page maps.
# Prints statistics as JSON (B-tree depths, XBLOCK/XXBLOCK/SLBLOCK/SIBLOCK
# counts, heap bitmap pages...); exits 1 listing the errors found.
#
#     pst-write-check.py FILE.pst
import json
import struct
import sys
import zlib

AMAP_FIRST = 0x4400
AMAP_SPAN = 496 * 8 * 64
errors = []


def err(msg):
    if len(errors) < 50:
        errors.append(msg)


def crc(b):
    return zlib.crc32(b, 0xFFFFFFFF) ^ 0xFFFFFFFF


def wsig(ib, bid):
    v = (ib ^ bid) & 0xFFFFFFFF
    return (v >> 16) ^ (v & 0xFFFF)


def map_page(k, i):
    return (i == 0 or (i == 1 and k % 8 == 0) or (i == 2 and k >= 128 and (k - 128) % 496 == 0)
            or (i == 3 and k >= 8192 and (k - 8192) % (496 * 64) == 0))


class Pst:
    def __init__(self, path):
        self.f = open(path, "rb")
        self.f.seek(0, 2)
        self.size = self.f.tell()
        self.h = self.read(0, 564)
        self.stats = {"nbt_levels": 0, "bbt_levels": 0, "nbt_entries": 0, "bbt_entries": 0,
                      "xblock": 0, "xxblock": 0, "slblock": 0, "siblock": 0,
                      "heaps": 0, "heap_max_blocks": 0, "heap_bitmaps": 0}
        self.extents = []  # (ib, length) of every page and block in use
        self.bbt = {}

    def read(self, off, n):
        self.f.seek(off)
        b = self.f.read(n)
        if len(b) != n:
            err("short read at %d" % off)
            b += bytes(n - len(b))
        return b

    def header(self):
        h = self.h
        if h[:4] != b"!BDN" or h[8:10] != b"SM" or struct.unpack_from("<H", h, 10)[0] != 23:
            err("header: not a Unicode PST")
        if struct.unpack_from("<I", h, 4)[0] != crc(h[8:479]):
            err("header: partial CRC")
        if struct.unpack_from("<I", h, 524)[0] != crc(h[8:524]):
            err("header: full CRC")
        if h[512] != 0x80:
            err("header: bSentinel")
        self.crypt = h[513]
        (self.eof, self.amap_last, self.amap_free, self.pmap_free, self.nbt_bid, self.nbt_ib,
         self.bbt_bid, self.bbt_ib) = struct.unpack_from("<QQQQQQQQ", h, 184)
        if self.eof != self.size:
            err("header: ibFileEof %d, file is %d bytes" % (self.eof, self.size))
        if h[248] != 2:
            err("header: fAMapValid %d" % h[248])

    def page(self, ib, bid, ptype, sig=True):
        p = self.read(ib, 512)
        t = p[496:]
        if t[0] != ptype or t[1] != ptype:
            err("page at %d: ptype %#x, want %#x" % (ib, t[0], ptype))
        if struct.unpack_from("<I", t, 4)[0] != crc(p[:496]):
            err("page at %d: CRC" % ib)
        if struct.unpack_from("<Q", t, 8)[0] != bid:
            err("page at %d: BID %#x, want %#x" % (ib, struct.unpack_from("<Q", t, 8)[0], bid))
        if struct.unpack_from("<H", t, 2)[0] != (wsig(ib, bid) if sig else 0):
            err("page at %d: signature" % ib)
        self.extents.append((ib, 512))
        return p

    def btree(self, bid, ib, ptype, level_want, key_want, out, depth=0):
        if depth > 16:
            err("B-tree deeper than 16")
            return 0
        p = self.page(ib, bid, ptype)
        c_ent, c_max, cb_ent, level = p[488], p[489], p[490], p[491]
        if level_want is not None and level != level_want:
            err("page at %d: cLevel %d, want %d" % (ib, level, level_want))
        want_cb = 24 if level or ptype == 0x80 else 32
        if cb_ent != want_cb or c_max != 488 // cb_ent or c_ent == 0 or c_ent > c_max:
            err("page at %d: counts %d/%d/%d" % (ib, c_ent, c_max, cb_ent))
            return level
        keys = [struct.unpack_from("<Q", p, i * cb_ent)[0] for i in range(c_ent)]
        if keys != sorted(set(keys)):
            err("page at %d: keys not sorted" % ib)
        if key_want is not None and keys[0] != key_want:
            err("page at %d: first key %#x, parent says %#x" % (ib, keys[0], key_want))
        for i in range(c_ent):
            e = p[i * cb_ent:(i + 1) * cb_ent]
            if level:
                k, cbid, cib = struct.unpack_from("<QQQ", e)
                self.btree(cbid, cib, ptype, level - 1, k, out, depth + 1)
            else:
                out.append(e)
        return level

    def trees(self):
        nbt, bbt = [], []
        self.stats["nbt_levels"] = self.btree(self.nbt_bid, self.nbt_ib, 0x81, None, None, nbt) + 1
        self.stats["bbt_levels"] = self.btree(self.bbt_bid, self.bbt_ib, 0x80, None, None, bbt) + 1
        self.stats["nbt_entries"], self.stats["bbt_entries"] = len(nbt), len(bbt)
        for e in bbt:
            bid, ib, cb, cref = struct.unpack_from("<QQHH", e)
            self.bbt[bid] = (ib, cb)
        self.nodes = [struct.unpack_from("<QQQI", e) for e in nbt]

    def block(self, bid):
        if bid not in self.bbt:
            err("block %#x not in the BBT" % bid)
            return b""
        ib, cb = self.bbt[bid]
        span = (cb + 16 + 63) // 64 * 64
        b = self.read(ib, span)
        t = b[span - 16:]
        tcb, sig, c, tbid = struct.unpack("<HHIQ", t)
        if tcb != cb or tbid != bid or sig != wsig(ib, bid) or c != crc(b[:cb]):
            err("block %#x at %d: trailer or CRC" % (bid, ib))
        return b[:cb]

    def data_tree(self, bid, refs):
        """The leaf blocks of a data tree (their contents when unencoded)."""
        if bid == 0:
            return []
        refs.append(bid)
        b = self.block(bid)
        if not bid & 2:
            return [b]
        if b[0] != 1 or b[1] not in (1, 2):
            err("internal block %#x: not an XBLOCK/XXBLOCK" % bid)
            return []
        n, total = struct.unpack_from("<HI", b, 2)
        self.stats["xblock" if b[1] == 1 else "xxblock"] += 1
        out = []
        for i in range(n):
            child = struct.unpack_from("<Q", b, 8 + 8 * i)[0]
            if b[1] == 2:
                refs.append(child)
                cb = self.block(child)
                if not child & 2 or cb[:2] != b"\x01\x01":
                    err("XXBLOCK %#x: child %#x not an XBLOCK" % (bid, child))
                    continue
                self.stats["xblock"] += 1
                for j in range(struct.unpack_from("<H", cb, 2)[0]):
                    leaf = struct.unpack_from("<Q", cb, 8 + 8 * j)[0]
                    refs.append(leaf)
                    out.append(self.block(leaf))
            else:
                refs.append(child)
                out.append(self.block(child))
        if sum(len(x) for x in out) != total:
            err("data tree %#x: lcbTotal %d, blocks hold %d" % (bid, total, sum(len(x) for x in out)))
        return out

    def heap(self, blocks, where):
        if not blocks:
            return
        if len(blocks[0]) < 12 or blocks[0][2] != 0xEC:
            err("%s: not a heap" % where)
            return
        self.stats["heaps"] += 1
        self.stats["heap_max_blocks"] = max(self.stats["heap_max_blocks"], len(blocks))
        for i, b in enumerate(blocks):
            hdr = 12 if i == 0 else 66 if i >= 8 and (i - 8) % 128 == 0 else 2
            if hdr == 66:
                self.stats["heap_bitmaps"] += 1
            ib = struct.unpack_from("<H", b, 0)[0]
            if ib < hdr or ib + 4 > len(b):
                err("%s: heap block %d: ibHnpm %d" % (where, i, ib))
                continue
            c_alloc = struct.unpack_from("<H", b, ib)[0]
            if ib + 4 + 2 * (c_alloc + 1) > len(b):
                err("%s: heap block %d: %d allocations past its end" % (where, i, c_alloc))
                continue
            offs = struct.unpack_from("<%dH" % (c_alloc + 1), b, ib + 4)
            if offs[0] != hdr or list(offs) != sorted(offs) or offs[-1] > ib:
                err("%s: heap block %d: page map %r (header %d)" % (where, i, offs[:4], hdr))

    def subtree(self, bid, refs, where, depth=0):
        if bid == 0:
            return
        if depth > 8:
            err("%s: subnodes nested deeper than 8" % where)
            return
        refs.append(bid)
        b = self.block(bid)
        if not bid & 2 or b[0] != 2:
            err("%s: subnode block %#x is not an SLBLOCK/SIBLOCK" % (where, bid))
            return
        n = struct.unpack_from("<H", b, 2)[0]
        if b[1] == 1:
            self.stats["siblock"] += 1
            for i in range(n):
                nid, child = struct.unpack_from("<QQ", b, 8 + 16 * i)
                self.subtree(child, refs, where, depth)
            return
        self.stats["slblock"] += 1
        for i in range(n):
            nid, data, sub = struct.unpack_from("<QQQ", b, 8 + 24 * i)
            self.node(nid, data, sub, refs, "%s/%#x" % (where, nid), depth + 1)

    def node(self, nid, data, sub, refs, where, depth=0):
        blocks = self.data_tree(data, refs)
        # Every node is a heap (PC or TC) but the LTP subnodes (type 0x1F):
        # values too large for a heap and row matrices, raw bytes.
        if self.crypt == 0 and nid & 0x1F != 0x1F:
            self.heap(blocks, where)
        self.subtree(sub, refs, where, depth)

    def references(self):
        refs = []
        for nid, data, sub, parent in self.nodes:
            self.node(nid, data, sub, refs, "node %#x" % nid)
        seen = set()
        for r in refs:
            if r in seen:
                err("block %#x referenced twice" % r)
            seen.add(r)
        lost = set(self.bbt) - seen
        if lost:
            err("%d blocks in the BBT referenced by no node, e.g. %#x" % (len(lost), min(lost)))
        for bid, (ib, cb) in self.bbt.items():
            self.extents.append((ib, (cb + 16 + 63) // 64 * 64))

    def maps(self):
        n_regions = (self.size - AMAP_FIRST + AMAP_SPAN - 1) // AMAP_SPAN
        if AMAP_FIRST + n_regions * AMAP_SPAN != self.size:
            err("file size %d is not whole AMap regions" % self.size)
        bits = [bytearray(496) for _ in range(n_regions)]

        def mark(ib, n):
            for s in range(ib // 64, (ib + n + 63) // 64):
                k, o = divmod(s * 64 - AMAP_FIRST, AMAP_SPAN)
                if k < 0 or k >= n_regions:
                    err("allocation at %d outside the AMaps" % ib)
                    return
                slot = o // 64
                if bits[k][slot // 8] & (0x80 >> (slot % 8)):
                    err("64-byte slot at %d used twice" % (s * 64))
                bits[k][slot // 8] |= 0x80 >> (slot % 8)

        for k in range(n_regions):
            base = AMAP_FIRST + k * AMAP_SPAN
            for i, ptype in enumerate((0x84, 0x83, 0x82, 0x85)):
                if map_page(k, i):
                    p = self.page(base + 512 * i, base + 512 * i, ptype, sig=False)
                    if ptype in (0x83, 0x85) and p[:496] != b"\xff" * 496:
                        err("map page at %d: not all 0xFF" % (base + 512 * i))
                    if ptype == 0x82:
                        self.stats["fmaps"] = self.stats.get("fmaps", 0) + 1
                    if ptype == 0x85:
                        self.stats["fpmaps"] = self.stats.get("fpmaps", 0) + 1
        for ib, n in self.extents:
            if ib >= AMAP_FIRST:
                mark(ib, n)
        free_total = 0
        free_by_region = {}
        for k in range(n_regions):
            base = AMAP_FIRST + k * AMAP_SPAN
            amap = self.read(base, 496)
            if amap != bytes(bits[k]):
                err("AMap of region %d (at %d) differs from the space in use" % (k, base))
            free = sum(8 - bin(x).count("1") for x in bits[k])
            free_by_region[k] = free
            free_total += free * 64
        if free_total != self.amap_free:
            err("cbAMapFree %d, the AMaps say %d" % (self.amap_free, free_total))
        if self.amap_last != AMAP_FIRST + (n_regions - 1) * AMAP_SPAN:
            err("ibAMapLast %d" % self.amap_last)
        if self.pmap_free != 0:
            err("cbPMapFree %d" % self.pmap_free)
        dl = self.read(0x4200, 512)
        bid = struct.unpack_from("<Q", dl, 504)[0]
        self.page(0x4200, bid, 0x86)
        for i in range(dl[1]):
            e = struct.unpack_from("<I", dl, 8 + 4 * i)[0]
            k, free = e & 0xFFFFF, e >> 20
            if free_by_region.get(k) != free:
                err("density list: region %d has %s free slots, not %d" % (k, free_by_region.get(k), free))
        self.stats["amap_regions"] = n_regions
        self.stats["dlist_entries"] = dl[1]


def main():
    p = Pst(sys.argv[1])
    p.header()
    p.trees()
    p.references()
    p.maps()
    print(json.dumps(p.stats, sort_keys=True))
    for e in errors:
        print("error: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
