/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-ltp.c - the input is a node's decoded data stream: the LTP layer
 * alone.  The first byte says how many blocks (1-8) the rest is cut into
 * (heaps span blocks; HIDs name one), then the heap is read as a property
 * context (every property of a fixed list, strings converted) and as a
 * table context (every cell of every row; a row matrix in a subnode is
 * stood in for by the same bytes), and its BTH walked.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pst/pst-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_prop(const struct pst_rawprop *p, const struct pst_data *d)
{
        char s[64];

        if (p->in_subnode)
                return;
        /* A value lies inside the block it came from, or is inline. */
        if (p->len > 0) {
                bool inside = false;

                for (uint32_t k = 0; k < d->n && !inside; k++)
                        inside = p->p >= d->blk[k].p && p->len <= d->blk[k].len &&
                                 (size_t)(p->p - d->blk[k].p) <= d->blk[k].len - p->len;
                assert(inside || p->len <= 8);
        }
        if (pst_prop_string(p, s, sizeof(s)) == 0)
                assert(memchr(s, '\0', sizeof(s)) != NULL);
}

static int count_rec(void *ctx, const uint8_t *key, const uint8_t *data)
{
        unsigned *n = ctx;

        (void)key;
        (void)data;
        return ++*n > 100000 ? 1 : 0;
}

static void as_pc(const struct pst_data *d)
{
        static const uint16_t ids[] = { 0x0037, 0x001A, 0x3001, 0x67FF, 0x0E06, 0x1009, 0x3701,
                                        0x3705, 0x0002, 0x0003, 0x0004, 0x35E0, 0x8000 };
        struct pst_diag diag;
        struct pst_pc pc;
        unsigned n = 0;

        if (pst_pc_init(&pc, d, 0x21, &diag) < 0)
                return;
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                struct pst_rawprop p;

                if (pst_pc_get(&pc, ids[i], &p, &diag) == 0)
                        check_prop(&p, d);
        }
        (void)pst_bth_foreach(&pc.bth, count_rec, &n, &diag);
}

static void as_tc(const struct pst_data *d)
{
        static const uint16_t ids[] = { 0x67F2, 0x0037, 0x3001, 0x0E06, 0x3602, 0x360A, 0x0C15 };
        struct pst_diag diag;
        struct pst_tc tc;

        if (pst_tc_init(&tc, d, 0x692, &diag) < 0)
                return;
        if (pst_tc_rows_in_subnode(&tc) && pst_tc_set_rows(&tc, d, &diag) < 0)
                return;
        assert(tc.n_rows <= tc.n_index);
        for (uint32_t i = 0; i < tc.n_rows; i++) {
                const uint8_t *row = pst_tc_row(&tc, i);

                assert(row != NULL);
                for (size_t c = 0; c < sizeof(ids) / sizeof(ids[0]); c++) {
                        struct pst_rawprop p;

                        if (pst_tc_cell(&tc, row, ids[c], &p, &diag) == 0)
                                check_prop(&p, d);
                }
                for (uint32_t c = 0; c < tc.c_cols; c++) {
                        struct pst_rawprop p;

                        if (pst_tc_cell(&tc, row, (uint16_t)(tc.col[c].tag >> 16), &p, &diag) == 0)
                                check_prop(&p, d);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct pst_data_block blk[8];
        struct pst_data d = {};
        uint32_t n, each, off = 0;
        uint8_t *buf;

        if (size < 2 || size > (1u << 20))
                return 0;
        n = 1 + data[0] % 8;
        data++;
        size--;
        /* Exact-size copy so ASan sees overreads of the last block. */
        buf = malloc(size);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        each = (uint32_t)(size / n);
        for (uint32_t k = 0; k < n; k++) {
                uint32_t len = k + 1 == n ? (uint32_t)size - off : each;

                blk[k] = (struct pst_data_block){
                        .p = buf + off, .len = len, .bid = 4 * (k + 1), .ib = 0x4000 + 0x2000 * k
                };
                off += len;
        }
        d = (struct pst_data){ .buf = buf, .size = size, .n = n, .blk = blk };
        as_pc(&d);
        as_tc(&d);
        free(buf);
        return 0;
}
