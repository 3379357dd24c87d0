/* SPDX-License-Identifier: MIT
 *
 * ndb.c - NDB layer ([MS-PST] 2.2.2): the node and block B-trees, blocks
 * (trailer, CRC, encoding, 4K zlib) and data trees (XBLOCK/XXBLOCK).
 *
 * Everything read from the file is hostile: every page and block is
 * range-checked before it is asked for, every trailer and CRC is checked
 * before a byte of it is used, B-tree levels must strictly decrease (so no
 * lookup can loop) and a page met twice on one path is a cycle.
 */
#include <zlib.h>

#include "pst/pst-internal.h"

#define BTYPE_XBLOCK 0x01u

/* Verified-tag kinds of an extent besides the page ptypes. */
#define VKIND_BLOCK 0x01u

static uint64_t get_id(const struct pst_file *f, const uint8_t *p)
{
        return f->g.id_size == 4 ? get_le32(p) : get_le64(p);
}

static const char *tree_name(uint8_t ptype)
{
        return ptype == PST_PTYPE_NBT ? "NBT" : "BBT";
}

/* ---- B-tree pages ---------------------------------------------------- */

struct bt_page {
        const uint8_t *p;
        uint32_t c_ent;
        uint32_t c_ent_max;
        uint8_t cb_ent;
        uint8_t c_level;
};

/* Smallest entry a BTPAGE of this tree and level can hold ([MS-PST]
 * 2.2.2.7.7): BTENTRY key+BREF, BBTENTRY BREF+cb+cRef, NBTENTRY
 * nid+bidData+bidSub+nidParent. */
static uint32_t min_entry(const struct pst_file *f, uint8_t ptype, uint8_t level)
{
        uint32_t id = f->g.id_size;

        if (level > 0)
                return 3 * id;
        return ptype == PST_PTYPE_BBT ? 2 * id + 4 : 3 * id + 4;
}

static int page_check_trailer(struct pst_file *f, uint8_t ptype, uint64_t bid, uint64_t ib,
                              const uint8_t *p, struct pst_diag *diag)
{
        const struct pst_geom *g = &f->g;
        const char *t = tree_name(ptype);
        const uint8_t *tr = p + g->page_size - g->page_trailer;
        uint32_t crc, computed;
        uint64_t bid_t;
        uint16_t wsig;

        /* Field order differs: ANSI has bid before dwCRC, Unicode after. */
        if (g->id_size == 4) {
                bid_t = get_le32(tr + 4);
                crc = get_le32(tr + 8);
        } else {
                crc = get_le32(tr + 4);
                bid_t = get_le64(tr + 8);
        }
        wsig = get_le16(tr + 2);

        computed = pst_crc32(0, p, g->page_size - g->page_trailer);
        if (crc != computed)
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": CRC mismatch (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32
                                    ")",
                                    t, bid, ib, crc, computed);
        if (tr[0] != ptype)
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": ptype 0x%02x, expected 0x%02x",
                                    t, bid, ib, tr[0], ptype);
        if (tr[1] != tr[0])
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": ptypeRepeat 0x%02x differs from ptype 0x%02x",
                                    t, bid, ib, tr[1], tr[0]);
        if (bid_t != bid)
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": trailer bid 0x%" PRIx64 " differs from the reference",
                                    t, bid, ib, bid_t);
        if (wsig != pst_wsig(ib, bid_t))
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": wSig 0x%04x, computed 0x%04x",
                                    t, bid, ib, wsig, pst_wsig(ib, bid_t));
        return 0;
}

static int page_load(struct pst_file *f, uint8_t ptype, uint64_t bid, uint64_t ib,
                     struct bt_page *ret, struct pst_want *want, struct pst_diag *diag)
{
        const struct pst_geom *g = &f->g;
        const char *t = tree_name(ptype);
        struct pst_extent *e;
        struct bt_page pg = {};
        const uint8_t *c;
        int r;

        if (ib % g->page_size != 0 || ib < g->page_size)
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": offset is not a %" PRIu32 "-byte page after the header",
                                    t, bid, ib, g->page_size);
        if (!range_ok(ib, g->page_size, f->file_size))
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": beyond the end of the file (%" PRIu64 " bytes)",
                                    t, bid, ib, f->file_size);
        r = pst_file_get(f, ib, g->page_size, &pg.p, &e, want);
        if (r < 0)
                return r;
        if (!pst_file_verified(f, e, ib, ptype, bid)) {
                r = page_check_trailer(f, ptype, bid, ib, pg.p, diag);
                if (r < 0)
                        return r;
                pst_file_set_verified(f, e, ib, ptype, bid);
        }

        c = pg.p + g->bt_area;
        if (g->wide_counts) {
                pg.c_ent = get_le16(c);
                pg.c_ent_max = get_le16(c + 2);
                c += 4;
        } else {
                pg.c_ent = c[0];
                pg.c_ent_max = c[1];
                c += 2;
        }
        pg.cb_ent = c[0];
        pg.c_level = c[1];

        if (pg.c_ent > pg.c_ent_max)
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": cEnt %" PRIu32 " > cEntMax %" PRIu32,
                                    t, bid, ib, pg.c_ent, pg.c_ent_max);
        if (pg.cb_ent < min_entry(f, ptype, pg.c_level))
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": cbEnt %u too small for a level-%u entry (%" PRIu32 ")",
                                    t, bid, ib, pg.cb_ent, pg.c_level,
                                    min_entry(f, ptype, pg.c_level));
        if ((uint64_t)pg.c_ent_max * pg.cb_ent > g->bt_area)
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": cEntMax %" PRIu32 " x cbEnt %u exceeds the %" PRIu32
                                    "-byte entry area",
                                    t, bid, ib, pg.c_ent_max, pg.cb_ent, g->bt_area);
        if (pg.c_level > f->lim.max_depth)
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                    ": cLevel %u exceeds the depth limit %u",
                                    t, bid, ib, pg.c_level, f->lim.max_depth);
        *ret = pg;
        return 0;
}

/* Descend from the tree's root to the leaf entry whose key is key.  Keys of
 * the BBT are compared with bit 0 cleared. */
static int bt_lookup(struct pst_file *f, uint8_t ptype, uint64_t key, const uint8_t **ret,
                     struct pst_want *want, struct pst_diag *diag)
{
        const char *t = tree_name(ptype);
        uint64_t bid = ptype == PST_PTYPE_NBT ? f->hdr.nbt_bid : f->hdr.bbt_bid;
        uint64_t ib = ptype == PST_PTYPE_NBT ? f->hdr.nbt_ib : f->hdr.bbt_ib;
        /* cLevel is a byte and strictly decreases: at most 256 pages a path. */
        uint64_t path_bid[256], path_ib[256];
        unsigned parent_level = 256;
        uint64_t parent_key = 0;
        int r;

        for (unsigned depth = 0; depth < ELEMENTSOF(path_bid); depth++) {
                struct bt_page pg = {};
                const uint8_t *ent;
                uint64_t prev = 0;
                int64_t found = -1;

                for (unsigned j = 0; j < depth; j++)
                        if (path_ib[j] == ib || path_bid[j] == bid)
                                return pst_diag_set(diag, -EBADMSG, ib,
                                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                                    ": referenced from below itself (cycle)",
                                                    t, bid, ib);
                path_bid[depth] = bid;
                path_ib[depth] = ib;

                r = page_load(f, ptype, bid, ib, &pg, want, diag);
                if (r < 0)
                        return r;
                if (pg.c_level >= parent_level)
                        return pst_diag_set(diag, -EBADMSG, ib,
                                            "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                            ": cLevel %u not below its parent's %u",
                                            t, bid, ib, pg.c_level, parent_level);

                for (uint32_t i = 0; i < pg.c_ent; i++) {
                        uint64_t k = get_id(f, pg.p + (size_t)i * pg.cb_ent);

                        if (ptype == PST_PTYPE_BBT)
                                k = pst_bid_clean(k);
                        if (i == 0 && depth > 0 && k < parent_key)
                                return pst_diag_set(diag, -EBADMSG, ib,
                                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                                    ": first key 0x%" PRIx64
                                                    " below its parent's 0x%" PRIx64,
                                                    t, bid, ib, k, parent_key);
                        if (i > 0 && k <= prev)
                                return pst_diag_set(diag, -EBADMSG, ib,
                                                    "%s page 0x%" PRIx64 " at 0x%" PRIx64
                                                    ": keys not ascending at entry %" PRIu32,
                                                    t, bid, ib, i);
                        if (k <= key)
                                found = i;
                        prev = k;
                }
                if (found < 0)
                        return -ENOENT;
                ent = pg.p + (size_t)found * pg.cb_ent;
                if (pg.c_level == 0) {
                        uint64_t k = get_id(f, ent);

                        if ((ptype == PST_PTYPE_BBT ? pst_bid_clean(k) : k) != key)
                                return -ENOENT;
                        *ret = ent;
                        return 0;
                }
                parent_key = get_id(f, ent);
                if (ptype == PST_PTYPE_BBT)
                        parent_key = pst_bid_clean(parent_key);
                bid = get_id(f, ent + f->g.id_size);
                ib = get_id(f, ent + 2 * f->g.id_size);
                parent_level = pg.c_level;
        }
        /* Unreachable: levels strictly decrease from at most 255. */
        return pst_diag_set(diag, -EBADMSG, ib, "%s: path deeper than 256 pages", t);
}

int pst_nbt_lookup(struct pst_file *f, uint32_t nid, struct pst_nbt_entry *ret,
                   struct pst_want *want, struct pst_diag *diag)
{
        uint32_t id = f->g.id_size;
        const uint8_t *e;
        int r;

        r = bt_lookup(f, PST_PTYPE_NBT, nid, &e, want, diag);
        if (r < 0)
                return r;
        *ret = (struct pst_nbt_entry){
                .nid = nid,
                .bid_data = get_id(f, e + id),
                .bid_sub = get_id(f, e + 2 * id),
                .nid_parent = get_le32(e + 3 * id),
        };
        return 0;
}

int pst_bbt_lookup(struct pst_file *f, uint64_t bid, struct pst_bbt_entry *ret,
                   struct pst_want *want, struct pst_diag *diag)
{
        uint32_t id = f->g.id_size;
        const uint8_t *e;
        int r;

        r = bt_lookup(f, PST_PTYPE_BBT, pst_bid_clean(bid), &e, want, diag);
        if (r < 0)
                return r;
        *ret = (struct pst_bbt_entry){
                .bid = get_id(f, e),
                .ib = get_id(f, e + id),
                .cb = get_le16(e + 2 * id),
                .cref = get_le16(e + 2 * id + 2),
        };
        return 0;
}

struct nbt_pending {
        uint64_t bid, ib;
        unsigned parent_level;
};

/* Append the NIDs of nid_type of a leaf page to *out; every key must be
 * above *last (the previous leaf key met), as in a B-tree walked in order. */
static int nbt_list_leaf(const struct pst_file *f, const struct bt_page *pg, uint64_t ib,
                         uint8_t nid_type, uint64_t *last, bool *have_last, uint32_t **out, size_t *n,
                         size_t *cap, struct pst_diag *diag)
{
        for (uint32_t i = 0; i < pg->c_ent; i++) {
                uint64_t key = get_id(f, pg->p + (size_t)i * pg->cb_ent);
                uint32_t nid = (uint32_t)key;

                if (*have_last && key <= *last)
                        return pst_diag_set(diag, -EBADMSG, ib,
                                            "NBT page at 0x%" PRIx64 ": key 0x%" PRIx64
                                            " not above the previous leaf key 0x%" PRIx64,
                                            ib, key, *last);
                *last = key;
                *have_last = true;
                /* A key with bits above 32 is no NID pst_nbt_lookup() finds. */
                if ((nid & 0x1F) != nid_type || key > UINT32_MAX)
                        continue;
                if (*n == *cap) {
                        size_t ncap = *cap ? 2 * *cap : 256;
                        uint32_t *no = realloc(*out, ncap * sizeof(*no));

                        if (!no)
                                return -ENOMEM;
                        *out = no;
                        *cap = ncap;
                }
                (*out)[(*n)++] = nid;
        }
        return 0;
}

int pst_nbt_list(struct pst_file *f, uint8_t nid_type, uint32_t **ret, size_t *ret_n,
                 struct pst_want *want, struct pst_diag *diag)
{
        /* Levels strictly decrease down every path, but a forged tree can
         * share subtrees; more visits than the file has pages ends it. */
        uint64_t max_visits = f->file_size / f->g.page_size + 1, visits = 0, last = 0;
        struct nbt_pending *stack = NULL;
        bool have_last = false;
        size_t n_stack = 0, cap_stack = 0, n = 0, cap = 0;
        uint32_t *out = NULL;
        int r = 0;

        stack = malloc(sizeof(*stack));
        if (!stack)
                return -ENOMEM;
        cap_stack = 1;
        stack[n_stack++] = (struct nbt_pending){
                .bid = f->hdr.nbt_bid,
                .ib = f->hdr.nbt_ib,
                .parent_level = 256,
        };
        while (n_stack > 0) {
                struct nbt_pending p = stack[--n_stack];
                struct bt_page pg;

                if (++visits > max_visits) {
                        r = pst_diag_set(diag, -EBADMSG, p.ib,
                                         "NBT: more page visits than the file has pages"
                                         " (subtrees shared); listing stopped at page 0x%" PRIx64,
                                         p.bid);
                        goto out;
                }
                r = page_load(f, PST_PTYPE_NBT, p.bid, p.ib, &pg, want, diag);
                if (r < 0)
                        goto out;
                if (pg.c_level >= p.parent_level) {
                        r = pst_diag_set(diag, -EBADMSG, p.ib,
                                         "NBT page 0x%" PRIx64 " at 0x%" PRIx64
                                         ": cLevel %u not below its parent's %u",
                                         p.bid, p.ib, pg.c_level, p.parent_level);
                        goto out;
                }
                if (pg.c_level == 0) {
                        r = nbt_list_leaf(f, &pg, p.ib, nid_type, &last, &have_last, &out, &n, &cap, diag);
                        if (r < 0)
                                goto out;
                        continue;
                }
                if (pg.c_ent > cap_stack - n_stack) {
                        struct nbt_pending *ns = realloc(stack, (cap_stack + pg.c_ent) * sizeof(*ns));

                        if (!ns) {
                                r = -ENOMEM;
                                goto out;
                        }
                        stack = ns;
                        cap_stack += pg.c_ent;
                }
                /* Children pushed last-first, so leaves come out ascending. */
                for (uint32_t i = pg.c_ent; i-- > 0;) {
                        const uint8_t *e = pg.p + (size_t)i * pg.cb_ent;

                        stack[n_stack++] = (struct nbt_pending){
                                .bid = get_id(f, e + f->g.id_size),
                                .ib = get_id(f, e + 2 * f->g.id_size),
                                .parent_level = pg.c_level,
                        };
                }
        }
        *ret = out;
        *ret_n = n;
        out = NULL;
out:
        free(out);
        free(stack);
        return r;
}

/* ---- blocks ---------------------------------------------------------- */

struct block_ref {
        uint64_t bid; /* bit 0 cleared */
        uint64_t ib;
        uint32_t cb;   /* stored bytes */
        uint32_t span; /* bytes on disk, padding and trailer included */
        const uint8_t *raw;
        uint32_t size; /* logical (inflated) bytes, once checked */
};

/* Find a block in the BBT and check where it claims to be. */
static int block_locate(struct pst_file *f, uint64_t bid, struct block_ref *ret,
                        struct pst_want *want, struct pst_diag *diag)
{
        const struct pst_geom *g = &f->g;
        struct pst_bbt_entry e;
        uint32_t span;
        int r;

        bid = pst_bid_clean(bid);
        r = pst_bbt_lookup(f, bid, &e, want, diag);
        if (r == -ENOENT)
                return pst_diag_set(diag, -EBADMSG, 0, "block 0x%" PRIx64 ": not in the BBT", bid);
        if (r < 0)
                return r;
        span = ALIGN_UP((uint32_t)e.cb + g->block_trailer, g->block_align);
        if (span > g->block_max)
                return pst_diag_set(diag, -EBADMSG, e.ib,
                                    "block 0x%" PRIx64 " at 0x%" PRIx64
                                    ": cb %u exceeds the largest block",
                                    bid, e.ib, e.cb);
        if (e.ib % g->block_align != 0 || e.ib < PST_HEADER_SIZE)
                return pst_diag_set(diag, -EBADMSG, e.ib,
                                    "block 0x%" PRIx64 " at 0x%" PRIx64
                                    ": offset is not %" PRIu32 "-byte aligned after the header",
                                    bid, e.ib, g->block_align);
        if (!range_ok(e.ib, span, f->file_size))
                return pst_diag_set(diag, -EBADMSG, e.ib,
                                    "block 0x%" PRIx64 " at 0x%" PRIx64 "+%" PRIu32
                                    ": beyond the end of the file (%" PRIu64 " bytes)",
                                    bid, e.ib, span, f->file_size);
        *ret = (struct block_ref){ .bid = bid, .ib = e.ib, .cb = e.cb, .span = span };
        return 0;
}

/* Get a located block's bytes and check its trailer and CRC; sets raw and
 * size. */
static int block_fetch(struct pst_file *f, struct block_ref *b, struct pst_want *want,
                       struct pst_diag *diag)
{
        const struct pst_geom *g = &f->g;
        const uint8_t *p, *tr;
        struct pst_extent *e;
        uint32_t crc, computed, cb_t;
        uint64_t bid_t;
        uint16_t wsig;
        int r;

        r = pst_file_get(f, b->ib, b->span, &p, &e, want);
        if (r < 0)
                return r;
        tr = p + b->span - g->block_trailer;
        cb_t = get_le16(tr);
        wsig = get_le16(tr + 2);
        if (g->id_size == 4) {
                bid_t = get_le32(tr + 4);
                crc = get_le32(tr + 8);
        } else {
                crc = get_le32(tr + 4);
                bid_t = get_le64(tr + 8);
        }

        if (!pst_file_verified(f, e, b->ib, VKIND_BLOCK, b->bid)) {
                if (cb_t != b->cb)
                        return pst_diag_set(diag, -EBADMSG, b->ib,
                                            "block 0x%" PRIx64 " at 0x%" PRIx64
                                            ": trailer cb %" PRIu32 " differs from the BBT's %" PRIu32,
                                            b->bid, b->ib, cb_t, b->cb);
                computed = pst_crc32(0, p, b->cb);
                if (crc != computed)
                        return pst_diag_set(diag, -EBADMSG, b->ib,
                                            "block 0x%" PRIx64 " at 0x%" PRIx64
                                            ": CRC mismatch (stored 0x%08" PRIx32
                                            ", computed 0x%08" PRIx32 ")",
                                            b->bid, b->ib, crc, computed);
                if (pst_bid_clean(bid_t) != b->bid)
                        return pst_diag_set(diag, -EBADMSG, b->ib,
                                            "block 0x%" PRIx64 " at 0x%" PRIx64
                                            ": trailer bid 0x%" PRIx64 " differs",
                                            b->bid, b->ib, bid_t);
                if (wsig != pst_wsig(b->ib, bid_t))
                        return pst_diag_set(diag, -EBADMSG, b->ib,
                                            "block 0x%" PRIx64 " at 0x%" PRIx64
                                            ": wSig 0x%04x, computed 0x%04x",
                                            b->bid, b->ib, wsig, pst_wsig(b->ib, bid_t));
                pst_file_set_verified(f, e, b->ib, VKIND_BLOCK, b->bid);
        }
        b->raw = p;
        /* 4K: cbInflated says how many bytes the cb stored ones stand for. */
        b->size = f->hdr.format == PST_FORMAT_UNICODE4K ? get_le16(tr + 18) : b->cb;
        return 0;
}

/* Turn a fetched block into its logical bytes: out has b->size bytes. */
static int block_decode(struct pst_file *f, const struct block_ref *b, uint8_t *out,
                        struct pst_diag *diag)
{
        if (b->size != b->cb) {
                z_stream z = {
                        .next_in = (Bytef *)b->raw,
                        .avail_in = b->cb,
                        .next_out = out,
                        .avail_out = b->size,
                };
                int zr;

                if (inflateInit(&z) != Z_OK)
                        return -ENOMEM;
                zr = inflate(&z, Z_FINISH);
                /* Exactly cbInflated bytes from exactly cb: anything else is
                 * a corrupt stream, a bomb or trailing garbage. */
                if (zr != Z_STREAM_END || z.avail_out != 0 || z.avail_in != 0) {
                        uint64_t got = z.total_out;

                        inflateEnd(&z);
                        return pst_diag_set(diag, -EBADMSG, b->ib,
                                            "block 0x%" PRIx64 " at 0x%" PRIx64
                                            ": zlib stream of %" PRIu32
                                            " bytes does not inflate to cbInflated %" PRIu32
                                            " (zlib %d, %" PRIu64 " bytes out)",
                                            b->bid, b->ib, b->cb, b->size, zr, got);
                }
                inflateEnd(&z);
        } else if (b->size > 0) {
                memcpy(out, b->raw, b->size);
        }
        /* Only external (data) blocks are encoded. */
        if (!(b->bid & PST_BID_INTERNAL))
                pst_block_decode(f->hdr.crypt, b->bid, out, b->size);
        return 0;
}

/* Read an internal block (XBLOCK, XXBLOCK, SLBLOCK, SIBLOCK) into a new
 * allocation. */
static int internal_read(struct pst_file *f, uint64_t bid, uint8_t **ret, uint32_t *ret_len,
                         uint64_t *ret_ib, struct pst_want *want, struct pst_diag *diag)
{
        struct block_ref b;
        uint8_t *buf;
        int r;

        r = block_locate(f, bid, &b, want, diag);
        if (r < 0)
                return r;
        r = block_fetch(f, &b, want, diag);
        if (r < 0)
                return r;
        buf = malloc(b.size ? b.size : 1);
        if (!buf)
                return -ENOMEM;
        r = block_decode(f, &b, buf, diag);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = b.size;
        *ret_ib = b.ib;
        return 0;
}

/* ---- data trees ------------------------------------------------------ */

struct xtree {
        uint64_t *leaf; /* data block BIDs in stream order */
        uint32_t n;
        uint32_t cap;
        uint64_t lcb_total;
};

static int xtree_add(struct xtree *x, const uint8_t *rgbid, uint32_t c_ent, uint32_t id_size)
{
        if (c_ent > PST_MAX_DATA_BLOCKS - x->n)
                return -EFBIG;
        if (x->n + c_ent > x->cap) {
                uint32_t ncap = MAX(x->n + c_ent, x->cap * 2);
                uint64_t *n = realloc(x->leaf, (size_t)MAX(ncap, 1u) * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                x->leaf = n;
                x->cap = ncap;
        }
        for (uint32_t i = 0; i < c_ent; i++)
                x->leaf[x->n++] = id_size == 4 ? get_le32(rgbid + (size_t)i * 4)
                                               : get_le64(rgbid + (size_t)i * 8);
        return 0;
}

/* Parse an XBLOCK/XXBLOCK header; level is 1 or 2. */
static int xblock_parse(const struct pst_file *f, uint64_t bid, uint64_t ib, const uint8_t *p,
                        uint32_t len, unsigned level, uint32_t *ret_c_ent,
                        uint32_t *ret_lcb_total, struct pst_diag *diag)
{
        uint32_t c_ent;

        if (len < 8 || p[0] != BTYPE_XBLOCK || p[1] != level)
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s 0x%" PRIx64 " at 0x%" PRIx64
                                    ": btype/cLevel %02x/%02x, expected 01/%02x",
                                    level == 1 ? "XBLOCK" : "XXBLOCK", bid, ib,
                                    len >= 1 ? p[0] : 0, len >= 2 ? p[1] : 0, level);
        c_ent = get_le16(p + 2);
        if ((uint64_t)c_ent * f->g.id_size > len - 8)
                return pst_diag_set(diag, -EBADMSG, ib,
                                    "%s 0x%" PRIx64 " at 0x%" PRIx64 ": cEnt %" PRIu32
                                    " does not fit its %" PRIu32 " bytes",
                                    level == 1 ? "XBLOCK" : "XXBLOCK", bid, ib, c_ent, len);
        for (uint32_t i = 0; i < c_ent; i++) {
                uint64_t child = f->g.id_size == 4 ? get_le32(p + 8 + (size_t)i * 4)
                                                   : get_le64(p + 8 + (size_t)i * 8);
                /* XXBLOCKs list XBLOCKs (internal), XBLOCKs data blocks. */
                if (!!(child & PST_BID_INTERNAL) != (level == 2))
                        return pst_diag_set(diag, -EBADMSG, ib,
                                            "%s 0x%" PRIx64 " at 0x%" PRIx64 ": entry %" PRIu32
                                            " BID 0x%" PRIx64 " is %s",
                                            level == 1 ? "XBLOCK" : "XXBLOCK", bid, ib, i, child,
                                            level == 2 ? "not internal" : "internal");
        }
        *ret_c_ent = c_ent;
        *ret_lcb_total = get_le32(p + 4);
        return 0;
}

/* Collect the data blocks of the tree rooted at internal block bid. */
static int xtree_collect(struct pst_file *f, uint64_t bid, uint64_t max_bytes, struct xtree *x,
                         struct pst_want *want, struct pst_diag *diag)
{
        uint8_t *p = NULL;
        uint32_t len, c_ent, lcb;
        uint64_t ib, sum = 0;
        int r;

        r = internal_read(f, bid, &p, &len, &ib, want, diag);
        if (r < 0)
                return r;
        /* The root is an XXBLOCK if it says so, else it must be an XBLOCK. */
        r = xblock_parse(f, bid, ib, p, len, len >= 2 && p[1] == 2 ? 2 : 1, &c_ent, &lcb, diag);
        if (r < 0)
                goto out;
        if (lcb > max_bytes) {
                r = pst_diag_set(diag, -EFBIG, ib,
                                 "data tree 0x%" PRIx64 " at 0x%" PRIx64 ": lcbTotal %" PRIu32
                                 " exceeds the limit %" PRIu64,
                                 bid, ib, lcb, max_bytes);
                goto out;
        }
        x->lcb_total = lcb;
        if (p[1] == 1) {
                r = xtree_add(x, p + 8, c_ent, f->g.id_size);
                goto too_many;
        }

        for (uint32_t i = 0; i < c_ent; i++) {
                uint64_t child = f->g.id_size == 4 ? get_le32(p + 8 + (size_t)i * 4)
                                                   : get_le64(p + 8 + (size_t)i * 8);
                uint8_t *c = NULL;
                uint32_t clen, cc_ent, clcb;
                uint64_t cib;

                r = internal_read(f, child, &c, &clen, &cib, want, diag);
                if (r < 0)
                        goto out;
                r = xblock_parse(f, pst_bid_clean(child), cib, c, clen, 1, &cc_ent, &clcb, diag);
                if (r >= 0)
                        r = xtree_add(x, c + 8, cc_ent, f->g.id_size);
                free(c);
                if (r < 0)
                        goto too_many;
                sum += clcb;
        }
        if (sum != lcb)
                r = pst_diag_set(diag, -EBADMSG, ib,
                                 "XXBLOCK 0x%" PRIx64 " at 0x%" PRIx64 ": lcbTotal %" PRIu32
                                 " differs from its XBLOCKs' sum %" PRIu64,
                                 bid, ib, lcb, sum);
        goto out;
too_many:
        if (r == -EFBIG)
                r = pst_diag_set(diag, -EFBIG, ib,
                                 "data tree 0x%" PRIx64 " at 0x%" PRIx64
                                 ": more than %u data blocks",
                                 bid, ib, PST_MAX_DATA_BLOCKS);
out:
        free(p);
        return r;
}

/* Ask for the block at refs[i] and for any later missing blocks that sit
 * just after it on disk, so one read serves several.  Bounded: at most
 * PST_WANT_MAX in all, at most PST_WANT_GAP of it between blocks. */
static int want_blocks(struct pst_file *f, const uint64_t *leaf, uint32_t n, uint32_t i,
                       const struct block_ref *first, struct pst_want *want)
{
        uint64_t end = first->ib + first->span, slack = 0;

        want->offset = first->ib;
        want->len = first->span;
        for (uint32_t j = i + 1; j < n; j++) {
                struct pst_want w;
                struct block_ref b;

                /* Only blocks whose BBT pages are at hand; no diag: a bad
                 * block is reported when its turn comes. */
                if (block_locate(f, leaf[j], &b, &w, NULL) < 0)
                        break;
                if (pst_file_has(f, b.ib, b.span))
                        continue;
                if (b.ib < end || slack + (b.ib - end) > PST_WANT_GAP ||
                    b.ib + b.span - want->offset > PST_WANT_MAX)
                        break;
                slack += b.ib - end;
                end = b.ib + b.span;
                want->len = (uint32_t)(end - want->offset);
        }
        return -EAGAIN;
}

int pst_data_read(struct pst_file *f, uint64_t bid, uint64_t max_bytes, struct pst_data *ret,
                  struct pst_want *want, struct pst_diag *diag)
{
        struct xtree x = {};
        struct block_ref *refs = NULL;
        struct pst_data d = {};
        uint64_t total = 0, off = 0;
        bool tree;
        int r;

        bid = pst_bid_clean(bid);
        tree = bid & PST_BID_INTERNAL;
        if (tree) {
                r = xtree_collect(f, bid, max_bytes, &x, want, diag);
                if (r < 0)
                        goto out;
        } else {
                x.leaf = malloc(sizeof(*x.leaf));
                if (!x.leaf) {
                        r = -ENOMEM;
                        goto out;
                }
                x.leaf[0] = bid;
                x.n = x.cap = 1;
        }

        refs = calloc(MAX(x.n, 1u), sizeof(*refs));
        if (!refs) {
                r = -ENOMEM;
                goto out;
        }
        /* Locate everything first and decode nothing until every block is
         * at hand: a restart after -EAGAIN then costs lookups, not CRCs
         * and decoding of the blocks already seen. */
        for (uint32_t i = 0; i < x.n; i++) {
                r = block_locate(f, x.leaf[i], &refs[i], want, diag);
                if (r < 0)
                        goto out;
                if (!pst_file_has(f, refs[i].ib, refs[i].span)) {
                        r = want_blocks(f, x.leaf, x.n, i, &refs[i], want);
                        goto out;
                }
        }
        for (uint32_t i = 0; i < x.n; i++) {
                r = block_fetch(f, &refs[i], want, diag);
                if (r < 0)
                        goto out;
                total += refs[i].size;
                if (total > max_bytes) {
                        r = pst_diag_set(diag, -EFBIG, refs[i].ib,
                                         "data tree 0x%" PRIx64 ": more than the limit of %" PRIu64
                                         " bytes",
                                         bid, max_bytes);
                        goto out;
                }
        }
        if (tree && total != x.lcb_total) {
                r = pst_diag_set(diag, -EBADMSG, refs[0].ib,
                                 "data tree 0x%" PRIx64 ": lcbTotal %" PRIu64
                                 " differs from its blocks' sum %" PRIu64,
                                 bid, x.lcb_total, total);
                goto out;
        }

        d.buf = malloc(total ? total : 1);
        d.blk = calloc(MAX(x.n, 1u), sizeof(*d.blk));
        if (!d.buf || !d.blk) {
                r = -ENOMEM;
                goto out;
        }
        for (uint32_t i = 0; i < x.n; i++) {
                r = block_decode(f, &refs[i], d.buf + off, diag);
                if (r < 0)
                        goto out;
                d.blk[i] = (struct pst_data_block){
                        .p = d.buf + off,
                        .len = refs[i].size,
                        .bid = refs[i].bid,
                        .ib = refs[i].ib,
                };
                off += refs[i].size;
        }
        d.n = x.n;
        d.size = total;
        *ret = d;
        d = (struct pst_data){};
        r = 0;
out:
        pst_data_done(&d);
        free(refs);
        free(x.leaf);
        return r;
}

int pst_node_data(struct pst_file *f, uint32_t nid, uint64_t max_bytes,
                  struct pst_nbt_entry *ret_entry, struct pst_data *ret, struct pst_want *want,
                  struct pst_diag *diag)
{
        struct pst_nbt_entry e;
        int r;

        r = pst_nbt_lookup(f, nid, &e, want, diag);
        if (r == -ENOENT)
                return pst_diag_set(diag, -ENOENT, 0, "node 0x%" PRIx32 ": not in the NBT", nid);
        if (r < 0)
                return r;
        r = pst_data_read(f, e.bid_data, max_bytes, ret, want, diag);
        if (r < 0) {
                if (r != -EAGAIN && diag) {
                        char m[sizeof(diag->msg)];

                        memcpy(m, diag->msg, sizeof(m));
                        (void)pst_diag_set(diag, r, diag->offset, "node 0x%" PRIx32 ": %s", nid, m);
                }
                return r;
        }
        if (ret_entry)
                *ret_entry = e;
        return 0;
}

void pst_data_done(struct pst_data *d)
{
        free(d->buf);
        free(d->blk);
        *d = (struct pst_data){};
}

/* ---- subnode trees --------------------------------------------------- */

#define BTYPE_SUBNODE 0x02u

int pst_subnode_lookup(struct pst_file *f, uint64_t bid_sub, uint32_t nid, struct pst_node *ret,
                       struct pst_want *want, struct pst_diag *diag)
{
        uint32_t id = f->g.id_size, hdr = id == 8 ? 8 : 4;
        unsigned prev_level = f->lim.max_depth;
        uint64_t bid = pst_bid_clean(bid_sub);

        if (bid == 0)
                return -ENOENT;
        /* Levels strictly decrease from at most max_depth, so this ends. */
        for (;;) {
                uint8_t *p = NULL;
                uint32_t len, c_ent, esz, hit = UINT32_MAX;
                uint64_t ib, next;
                unsigned level;
                int r;

                if (!(bid & PST_BID_INTERNAL))
                        return pst_diag_set(diag, -EBADMSG, 0,
                                            "subnode tree 0x%" PRIx64 ": BID 0x%" PRIx64
                                            " is not an internal block",
                                            pst_bid_clean(bid_sub), bid);
                r = internal_read(f, bid, &p, &len, &ib, want, diag);
                if (r < 0)
                        return r;
                level = len >= 2 ? p[1] : 0;
                if (len < hdr || p[0] != BTYPE_SUBNODE || level >= prev_level) {
                        r = pst_diag_set(diag, -EBADMSG, ib,
                                         "subnode block 0x%" PRIx64 " at 0x%" PRIx64
                                         ": btype/cLevel %02x/%02x, expected 02 and below %u",
                                         bid, ib, len >= 1 ? p[0] : 0, level, prev_level);
                        free(p);
                        return r;
                }
                c_ent = get_le16(p + 2);
                esz = level == 0 ? 3 * id : 2 * id;
                if ((uint64_t)c_ent * esz > len - hdr) {
                        r = pst_diag_set(diag, -EBADMSG, ib,
                                         "%s 0x%" PRIx64 " at 0x%" PRIx64 ": cEnt %" PRIu32
                                         " does not fit its %" PRIu32 " bytes",
                                         level == 0 ? "SLBLOCK" : "SIBLOCK", bid, ib, c_ent, len);
                        free(p);
                        return r;
                }
                for (uint32_t i = 0; i < c_ent; i++) {
                        const uint8_t *e = p + hdr + (size_t)i * esz;
                        /* A NID is 32 bits; Unicode pads it to 8 bytes. */
                        uint32_t enid = get_le32(e);

                        if (i > 0 && enid <= get_le32(e - esz)) {
                                r = pst_diag_set(diag, -EBADMSG, ib,
                                                 "subnode block 0x%" PRIx64 " at 0x%" PRIx64
                                                 ": NIDs not ascending at entry %" PRIu32,
                                                 bid, ib, i);
                                free(p);
                                return r;
                        }
                        if (enid <= nid)
                                hit = i;
                }
                if (hit == UINT32_MAX ||
                    (level == 0 && get_le32(p + hdr + (size_t)hit * esz) != nid)) {
                        free(p);
                        return -ENOENT;
                }
                if (level == 0) {
                        const uint8_t *e = p + hdr + (size_t)hit * esz;

                        *ret = (struct pst_node){
                                .nid = nid,
                                .bid_data = pst_bid_clean(get_id(f, e + id)),
                                .bid_sub = pst_bid_clean(get_id(f, e + 2 * id)),
                        };
                        free(p);
                        return 0;
                }
                next = pst_bid_clean(get_id(f, p + hdr + (size_t)hit * esz + id));
                free(p);
                prev_level = level;
                bid = next;
        }
}

int pst_node_lookup(struct pst_file *f, const struct pst_node *parent, uint32_t nid,
                    struct pst_node *ret, struct pst_want *want, struct pst_diag *diag)
{
        struct pst_nbt_entry e;
        int r;

        if (parent)
                return pst_subnode_lookup(f, parent->bid_sub, nid, ret, want, diag);
        r = pst_nbt_lookup(f, nid, &e, want, diag);
        if (r < 0)
                return r;
        *ret = (struct pst_node){
                .nid = nid,
                .bid_data = pst_bid_clean(e.bid_data),
                .bid_sub = pst_bid_clean(e.bid_sub),
        };
        return 0;
}

int pst_data_size(struct pst_file *f, uint64_t bid, uint64_t *ret, struct pst_want *want,
                  struct pst_diag *diag)
{
        struct block_ref b;
        int r;

        bid = pst_bid_clean(bid);
        if (bid == 0) {
                *ret = 0;
                return 0;
        }
        if (bid & PST_BID_INTERNAL) {
                uint8_t *p = NULL;
                uint32_t len, c_ent, lcb;
                uint64_t ib;

                r = internal_read(f, bid, &p, &len, &ib, want, diag);
                if (r < 0)
                        return r;
                r = xblock_parse(f, bid, ib, p, len, len >= 2 && p[1] == 2 ? 2 : 1, &c_ent, &lcb,
                                 diag);
                free(p);
                if (r < 0)
                        return r;
                *ret = lcb;
                return 0;
        }
        r = block_locate(f, bid, &b, want, diag);
        if (r < 0)
                return r;
        /* 4K blocks may be compressed: the trailer has the logical size. */
        if (f->hdr.format == PST_FORMAT_UNICODE4K) {
                r = block_fetch(f, &b, want, diag);
                if (r < 0)
                        return r;
                *ret = b.size;
                return 0;
        }
        *ret = b.cb;
        return 0;
}
