/* SPDX-License-Identifier: MIT
 *
 * tc.c - table context ([MS-PST] 2.3.4): TCINFO, the column descriptions,
 * the row index and the row matrix, with typed cell access.
 *
 * pst_tc_init() checks TCINFO and every TCOLDESC against the row layout
 * once (columns inside the data part of the row, the cell existence bitmap
 * inside the row, iBit inside the bitmap), so reading a cell afterwards is
 * a lookup and a bit test.  The row matrix keeps its block boundaries: rows
 * never straddle blocks, and each block holds len / row_size of them.
 */
#include "pst/pst-internal.h"

#define HN_CLIENT_TC 0x7Cu
#define TCINFO_HDR 22u
#define TCOLDESC_SIZE 8u

struct count_ctx {
        uint32_t n;
};

static int count_rec(void *ctx, const uint8_t *key, const uint8_t *data)
{
        struct count_ctx *c = ctx;

        (void)key;
        (void)data;
        if (++c->n > PST_MAX_TC_ROWS)
                return -EFBIG;
        return 0;
}

static int tc_fail(const struct pst_tc *tc, int r, const char *what, uint32_t a, uint32_t b,
                   struct pst_diag *diag)
{
        return pst_diag_set(diag, r, tc->hn.d->blk[0].ib,
                            "TC of node 0x%" PRIx32 ": %s (%" PRIu32 ", %" PRIu32 ")", tc->hn.nid,
                            what, a, b);
}

int pst_tc_init(struct pst_tc *tc, const struct pst_data *d, uint32_t nid, struct pst_diag *diag)
{
        struct count_ctx cnt = {};
        struct pst_bth idx;
        const uint8_t *p;
        uint32_t len, hid_index, ceb;
        int r;

        *tc = (struct pst_tc){};
        r = pst_hn_init(&tc->hn, d, nid, diag);
        if (r < 0)
                return r;
        if (tc->hn.client_sig != HN_CLIENT_TC)
                return pst_diag_set(diag, -EBADMSG, d->blk[0].ib,
                                    "node 0x%" PRIx32 ": heap bClientSig 0x%02x, not a table context",
                                    nid, tc->hn.client_sig);
        r = pst_hn_get(&tc->hn, tc->hn.hid_user_root, &p, &len, diag);
        if (r < 0)
                return r;
        if (len < TCINFO_HDR || p[0] != HN_CLIENT_TC)
                return tc_fail(tc, -EBADMSG, "not a TCINFO (bytes, bType)", len, len ? p[0] : 0,
                               diag);
        tc->c_cols = p[1];
        if (len < TCINFO_HDR + (uint32_t)tc->c_cols * TCOLDESC_SIZE)
                return tc_fail(tc, -EBADMSG, "TCINFO too short for cCols (bytes, cCols)", len,
                               tc->c_cols, diag);
        tc->end_4b = get_le16(p + 2);
        tc->end_2b = get_le16(p + 4);
        tc->end_1b = get_le16(p + 6);
        tc->row_size = get_le16(p + 8);
        hid_index = get_le32(p + 10);
        tc->hnid_rows = get_le32(p + 14);
        ceb = (tc->c_cols + 7u) / 8u;
        if (tc->end_4b > tc->end_2b || tc->end_2b > tc->end_1b || tc->end_1b > tc->row_size ||
            tc->end_4b < 4 || (uint32_t)tc->end_1b + ceb > tc->row_size)
                return tc_fail(tc, -EBADMSG, "rgib not ordered or the CEB overruns the row (TCI_1b, TCI_bm)",
                               tc->end_1b, tc->row_size, diag);
        for (uint32_t i = 0; i < tc->c_cols; i++) {
                const uint8_t *c = p + TCINFO_HDR + i * TCOLDESC_SIZE;
                struct pst_tc_col col = {
                        .tag = get_le32(c),
                        .ib = get_le16(c + 4),
                        .cb = c[6],
                        .ibit = c[7],
                };

                if ((col.cb != 1 && col.cb != 2 && col.cb != 4 && col.cb != 8) ||
                    (uint32_t)col.ib + col.cb > tc->end_1b || col.ibit >= ceb * 8)
                        return tc_fail(tc, -EBADMSG, "TCOLDESC outside the row (column, tag)", i,
                                       col.tag, diag);
                tc->col[i] = col;
        }

        /* The row index: dwRowID -> dwRowIndex (2 bytes in ANSI files). */
        r = pst_bth_init(&idx, &tc->hn, hid_index, diag);
        if (r < 0)
                return r;
        if (idx.cb_key != 4 || (idx.cb_ent != 4 && idx.cb_ent != 2))
                return tc_fail(tc, -EBADMSG, "row index cbKey/cbEnt not 4/4 or 4/2", idx.cb_key,
                               idx.cb_ent, diag);
        r = pst_bth_foreach(&idx, count_rec, &cnt, diag);
        if (r == -EFBIG)
                return tc_fail(tc, -EFBIG, "row index holds more rows than the limit", cnt.n,
                               PST_MAX_TC_ROWS, diag);
        if (r < 0)
                return r;
        tc->n_index = cnt.n;

        if (tc->hnid_rows != 0 && !pst_tc_rows_in_subnode(tc)) {
                r = pst_hn_get(&tc->hn, tc->hnid_rows, &p, &len, diag);
                if (r < 0)
                        return r;
                tc->heap_rows_blk = (struct pst_data_block){
                        .p = (uint8_t *)p,
                        .len = len,
                        .bid = d->blk[0].bid,
                        .ib = d->blk[0].ib,
                };
                tc->heap_rows = (struct pst_data){ .size = len, .n = 1, .blk = &tc->heap_rows_blk };
                return pst_tc_set_rows(tc, &tc->heap_rows, diag);
        }
        return 0;
}

int pst_tc_set_rows(struct pst_tc *tc, const struct pst_data *rows, struct pst_diag *diag)
{
        uint64_t n = 0;

        for (uint32_t k = 0; k < rows->n; k++)
                n += rows->blk[k].len / tc->row_size;
        tc->rows = rows;
        /* Rows past the index are free slots of the matrix; fewer rows
         * than the index lists is damage. */
        if (n < tc->n_index) {
                tc->n_rows = (uint32_t)n;
                return tc_fail(tc, -EBADMSG, "row matrix shorter than the row index (rows, index)",
                               (uint32_t)n, tc->n_index, diag);
        }
        tc->n_rows = tc->n_index;
        return 0;
}

const uint8_t *pst_tc_row(const struct pst_tc *tc, uint32_t i)
{
        for (uint32_t k = 0; k < tc->rows->n; k++) {
                uint32_t in_blk = tc->rows->blk[k].len / tc->row_size;

                if (i < in_blk)
                        return tc->rows->blk[k].p + (size_t)i * tc->row_size;
                i -= in_blk;
        }
        return NULL;
}

int pst_tc_cell(const struct pst_tc *tc, const uint8_t *row, uint16_t id, struct pst_rawprop *ret,
                struct pst_diag *diag)
{
        for (uint32_t i = 0; i < tc->c_cols; i++) {
                const struct pst_tc_col *c = &tc->col[i];
                struct pst_rawprop prop = { .id = id, .type = (uint16_t)(c->tag & 0xFFFF) };
                const uint8_t *ceb = row + tc->end_1b;
                int r;

                if ((c->tag >> 16) != id)
                        continue;
                if (!(ceb[c->ibit / 8] & (0x80u >> (c->ibit % 8))))
                        return -ENOENT;
                prop.p = row + c->ib;
                prop.len = c->cb;
                switch (prop.type) {
                case PST_PT_I2:
                case PST_PT_I4:
                case PST_PT_R4:
                case PST_PT_R8:
                case PST_PT_CURRENCY:
                case PST_PT_APPTIME:
                case PST_PT_ERROR:
                case PST_PT_BOOLEAN:
                case PST_PT_I8:
                case PST_PT_SYSTIME:
                        *ret = prop;
                        return 0;
                }
                if (c->cb != 4)
                        return tc_fail(tc, -EBADMSG, "variable-size column is not a 4-byte HNID (tag, cbData)",
                                       c->tag, c->cb, diag);
                prop.hnid = get_le32(row + c->ib);
                if ((prop.hnid & 0x1F) != PST_NID_TYPE_HID) {
                        prop.p = NULL;
                        prop.len = 0;
                        prop.in_subnode = true;
                        *ret = prop;
                        return 0;
                }
                r = pst_hn_get(&tc->hn, prop.hnid, &prop.p, &prop.len, diag);
                if (r < 0)
                        return r;
                *ret = prop;
                return 0;
        }
        return -ENOENT;
}
