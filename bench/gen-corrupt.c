/* SPDX-License-Identifier: MIT
 *
 * gen-corrupt.c - damage a finished Unicode PST the ways real files are
 * damaged: a block whose bytes no longer match its CRC (bit rot, a bad
 * sector), a truncated copy, and a node B-tree page that points back at
 * itself (a cycle, which a reader must detect instead of looping).
 *
 * Reads the file's header and B-tree pages itself ([MS-PST] 2.2.2.6,
 * 2.2.2.7), independently of pst/, which is the reader under test.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/gen.h"
#include "io/base/macro.h"
#include "pstream/io.h"

/* Unicode (wVer 23) geometry. */
#define PAGE 512u
#define PAGE_DATA 496u /* bytes covered by the page CRC */
#define BT_CENT 488u
#define BT_CBENT 490u
#define BT_CLEVEL 491u
#define PT_PTYPE 496u
#define PT_CRC 500u
#define PT_BID 504u
#define PTYPE_NBT 0x81u
#define PTYPE_BBT 0x80u
#define HDR_NBT_BID 216u
#define HDR_NBT_IB 224u
#define HDR_BBT_BID 232u
#define HDR_BBT_IB 240u
#define BLOCK_TRAILER 16u
#define MAX_DEPTH 16u
#define NID_TYPE_NORMAL_MESSAGE 0x04u

const char *gen_corrupt_name(enum gen_corrupt_kind k)
{
        switch (k) {
        case GEN_CORRUPT_NONE:
                return "none";
        case GEN_CORRUPT_BLOCK_CRC:
                return "block-crc";
        case GEN_CORRUPT_TRUNCATE:
                return "truncated";
        case GEN_CORRUPT_BT_CYCLE:
                return "btree-cycle";
        }
        return "unknown";
}

static int read_page(int fd, uint64_t ib, uint8_t ptype, uint8_t page[PAGE])
{
        ssize_t n = io_pread_full(fd, page, PAGE, ib);

        if (n < 0)
                return (int)n;
        if (n != PAGE || page[PT_PTYPE] != ptype ||
            pst_crc32(0, page, PAGE_DATA) != get_le32(page + PT_CRC))
                return -EBADMSG; /* not the page the writer said it wrote */
        return 0;
}

static int write_page(int fd, uint64_t ib, uint8_t page[PAGE])
{
        put_le32(page + PT_CRC, pst_crc32(0, page, PAGE_DATA));
        return pwrite(fd, page, PAGE, (off_t)ib) == PAGE ? 0 : -EIO;
}

struct pick {
        struct gen_rng *rng;
        uint64_t seen;
        uint64_t nid, bid;
};

/* Reservoir-sample one normal message's NBT entry. */
static int pick_message(int fd, uint64_t ib, unsigned depth, struct pick *pk)
{
        uint8_t page[PAGE];
        unsigned n, cb;
        int r;

        if (depth > MAX_DEPTH)
                return -ELOOP;
        r = read_page(fd, ib, PTYPE_NBT, page);
        if (r < 0)
                return r;
        n = page[BT_CENT];
        cb = page[BT_CBENT];
        if (cb == 0 || n * cb > BT_CENT)
                return -EBADMSG;
        for (unsigned i = 0; i < n; i++) {
                const uint8_t *e = page + i * cb;

                if (page[BT_CLEVEL] > 0) {
                        r = pick_message(fd, get_le64(e + 16), depth + 1, pk);
                        if (r < 0)
                                return r;
                } else if ((get_le64(e) & 0x1F) == NID_TYPE_NORMAL_MESSAGE) {
                        if (gen_rng_below(pk->rng, ++pk->seen) == 0) {
                                pk->nid = get_le64(e);
                                pk->bid = get_le64(e + 8);
                        }
                }
        }
        return 0;
}

/* The BBT leaf entry of bid: its offset and stored size. */
static int find_block(int fd, uint64_t ib, uint64_t bid, unsigned depth, uint64_t *ret_ib,
                      uint32_t *ret_cb)
{
        uint8_t page[PAGE];
        unsigned n, cb;
        int r;

        if (depth > MAX_DEPTH)
                return -ELOOP;
        r = read_page(fd, ib, PTYPE_BBT, page);
        if (r < 0)
                return r;
        n = page[BT_CENT];
        cb = page[BT_CBENT];
        if (cb == 0 || n == 0 || n * cb > BT_CENT)
                return -EBADMSG;
        bid &= ~1ull; /* bit 0 is reserved ([MS-PST] 2.2.2.2) */
        if (page[BT_CLEVEL] > 0) {
                unsigned i = 0;

                while (i + 1 < n && get_le64(page + (i + 1) * cb) <= bid)
                        i++;
                return find_block(fd, get_le64(page + i * cb + 16), bid, depth + 1, ret_ib, ret_cb);
        }
        for (unsigned i = 0; i < n; i++) {
                const uint8_t *e = page + i * cb;

                if ((get_le64(e) & ~1ull) == bid) {
                        *ret_ib = get_le64(e + 8);
                        *ret_cb = get_le16(e + 16);
                        return 0;
                }
        }
        return -ENOENT;
}

static int corrupt_block(int fd, const uint8_t *hdr, struct gen_rng *rng, struct gen_corrupt *ret)
{
        struct pick pk = { .rng = rng };
        uint64_t ib;
        uint32_t cb;
        uint8_t b;
        off_t at;
        int r;

        r = pick_message(fd, get_le64(hdr + HDR_NBT_IB), 0, &pk);
        if (r < 0)
                return r;
        if (!pk.seen)
                return -ENOENT; /* no message to damage */
        r = find_block(fd, get_le64(hdr + HDR_BBT_IB), pk.bid, 0, &ib, &cb);
        if (r < 0)
                return r;
        if (cb == 0)
                return -EBADMSG;
        /* Flip every bit of one byte of the data (not the trailer). */
        at = (off_t)(ib + gen_rng_below(rng, cb));
        if (pread(fd, &b, 1, at) != 1)
                return -EIO;
        b ^= 0xFF;
        if (pwrite(fd, &b, 1, at) != 1)
                return -EIO;
        ret->offset = ib;
        ret->nid = (uint32_t)pk.nid;
        return 0;
}

/* Point one child reference of an NBT intermediate page at the page
 * itself; a root that is a single leaf becomes a level-1 page whose only
 * entry is itself. */
static int corrupt_cycle(int fd, const uint8_t *hdr, struct gen_rng *rng, struct gen_corrupt *ret)
{
        uint64_t ib = get_le64(hdr + HDR_NBT_IB);
        uint8_t page[PAGE];
        unsigned n, cb, k;
        int r;

        r = read_page(fd, ib, PTYPE_NBT, page);
        if (r < 0)
                return r;
        n = page[BT_CENT];
        cb = page[BT_CBENT];
        if (page[BT_CLEVEL] == 0) {
                memset(page, 0, BT_CENT);
                page[BT_CENT] = 1;
                page[BT_CBENT] = 24;
                page[BT_CLEVEL] = 1;
                put_le64(page + 8, get_le64(hdr + HDR_NBT_BID));
                put_le64(page + 16, ib);
        } else {
                if (cb < 24 || n == 0 || n * cb > BT_CENT)
                        return -EBADMSG;
                /* Keep entry 0 (the store and root folder) unless it is the only one. */
                k = n > 1 ? 1 + (unsigned)gen_rng_below(rng, n - 1) : 0;
                put_le64(page + k * cb + 8, get_le64(page + PT_BID));
                put_le64(page + k * cb + 16, ib);
        }
        r = write_page(fd, ib, page);
        if (r < 0)
                return r;
        ret->offset = ib;
        return 0;
}

int gen_corrupt_file(int fd, enum gen_corrupt_kind kind, struct gen_rng *rng,
                     struct gen_corrupt *ret)
{
        uint8_t hdr[PST_HEADER_SIZE];
        struct gen_corrupt c = { .kind = kind };
        struct stat st;
        int r = 0;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (io_pread_full(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
            get_le16(hdr + 10) != 23)
                return -EBADMSG;
        switch (kind) {
        case GEN_CORRUPT_BLOCK_CRC:
                r = corrupt_block(fd, hdr, rng, &c);
                break;
        case GEN_CORRUPT_TRUNCATE: {
                /* Keep 50-95 % of what was written, like an interrupted
                 * copy: the end of the file may be padding, but the B-tree
                 * roots, written last, mark the end of the data. */
                uint64_t end = MAX(get_le64(hdr + HDR_NBT_IB), get_le64(hdr + HDR_BBT_IB)) + PAGE;

                end = MIN(end, (uint64_t)st.st_size);
                c.offset = end / 2 + gen_rng_below(rng, end * 45 / 100 + 1);
                if (ftruncate(fd, (off_t)c.offset) < 0)
                        r = -errno;
                break;
        }
        case GEN_CORRUPT_BT_CYCLE:
                r = corrupt_cycle(fd, hdr, rng, &c);
                break;
        case GEN_CORRUPT_NONE:
                break;
        }
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}
