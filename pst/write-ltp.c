/* SPDX-License-Identifier: MIT
 *
 * write-ltp.c - the writer's LTP layer ([MS-PST] 2.3): heap-on-node,
 * BTree-on-heap, property contexts, table contexts and the encoding of
 * property values.
 *
 * A heap is written block by block as it fills.  Two blocks wait until
 * the end: block 0, whose HNHDR carries the user root and the fill levels
 * of blocks 0-7, and the pending bitmap block (8 + 128k), whose
 * HNBITMAPHDR carries the fill levels of itself and the next 127.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pst/write-internal.h"

/* ---- heap-on-node ----------------------------------------------------------- */

static uint32_t hn_header_size(uint32_t index)
{
        if (index == 0)
                return 12; /* HNHDR */
        if (index >= 8 && (index - 8) % 128 == 0)
                return 66; /* HNBITMAPHDR */
        return 2;          /* HNPAGEHDR */
}

/* [MS-PST] 2.3.1.2: free bytes of a heap block as a 4-bit fill level. */
static uint8_t fill_level(uint32_t free_bytes)
{
        static const uint32_t min_free[15] = { 3584, 2560, 2048, 1792, 1536, 1280, 1024, 768,
                                               512,  256,  128,  64,   32,   16,   8 };

        for (unsigned i = 0; i < 15; i++)
                if (free_bytes >= min_free[i])
                        return (uint8_t)i;
        return 0xF;
}

static void pack_levels(uint8_t *dst, const uint8_t *levels, unsigned n)
{
        for (unsigned i = 0; i < n; i += 2)
                dst[i / 2] = (uint8_t)(levels[i] | levels[i + 1] << 4);
}

int pstw_hn_init(struct pstw_hn *hn, uint8_t client_sig)
{
        *hn = (struct pstw_hn){ .client_sig = client_sig };
        hn->blks = PSTW_VEC(struct pstw_dblk);
        hn->cur = malloc(PSTW_BLOCK_DATA);
        hn->offs = malloc(sizeof(uint16_t) * (PSTW_HN_MAX_ALLOCS + 1));
        if (!hn->cur || !hn->offs) {
                pstw_hn_free(hn);
                return -ENOMEM;
        }
        hn->cur_len = hn_header_size(0);
        memset(hn->cur, 0, hn->cur_len);
        return 0;
}

void pstw_hn_free(struct pstw_hn *hn)
{
        free(hn->cur);
        free(hn->offs);
        free(hn->blk0);
        free(hn->bm);
        pstw_vec_free(&hn->blks);
        hn->cur = hn->blk0 = hn->bm = NULL;
        hn->offs = NULL;
}

static int hn_write_bm(struct pstw *w, struct pstw_hn *hn)
{
        struct pstw_dblk *b;
        int r;

        if (!hn->bm)
                return 0;
        pack_levels(hn->bm + 2, hn->fill, 128);
        b = &PSTW_AT(&hn->blks, struct pstw_dblk, hn->bm_index);
        r = pstw_block(w, hn->bm, hn->bm_len, false, &b->bid);
        free(hn->bm);
        hn->bm = NULL;
        return r;
}

/* Close the current block: page map, then write it or keep it. */
static int hn_seal(struct pstw *w, struct pstw_hn *hn)
{
        uint32_t ib = ALIGN_UP(hn->cur_len, 2u), len = ib + 4 + 2 * (hn->n_offs + 1);
        uint32_t index = hn->cur_index;
        struct pstw_dblk d = { .len = len };
        uint8_t *p = hn->cur, level;
        int r;

        put_le16(p, (uint16_t)ib);
        put_le16(p + ib, (uint16_t)hn->n_offs);
        put_le16(p + ib + 2, 0);
        for (unsigned i = 0; i < hn->n_offs; i++)
                put_le16(p + ib + 4 + 2 * i, hn->offs[i]);
        put_le16(p + ib + 4 + 2 * hn->n_offs, (uint16_t)hn->cur_len);
        if (hn->cur_len & 1)
                p[hn->cur_len] = 0;
        level = fill_level(PSTW_BLOCK_DATA - len);
        hn->total += len;
        r = pstw_vec_push(&hn->blks, &d);
        if (r < 0)
                return pstw_fail(w, r, "heap blocks");
        if (index < 8)
                hn->fill0[index] = level;
        if (index == 0 || hn_header_size(index) == 66) {
                uint8_t *keep = malloc(len);

                if (!keep)
                        return pstw_fail(w, -ENOMEM, "heap block");
                memcpy(keep, p, len);
                if (index == 0) {
                        hn->blk0 = keep;
                        hn->blk0_len = len;
                } else {
                        r = hn_write_bm(w, hn);
                        if (r < 0) {
                                free(keep);
                                return r;
                        }
                        hn->bm = keep;
                        hn->bm_len = len;
                        hn->bm_index = index;
                        memset(hn->fill, 0, sizeof(hn->fill));
                        hn->fill[0] = level;
                }
        } else {
                if (hn->bm && index - hn->bm_index < 128)
                        hn->fill[index - hn->bm_index] = level;
                r = pstw_block(w, p, len, false, &PSTW_AT(&hn->blks, struct pstw_dblk, index).bid);
                if (r < 0)
                        return r;
        }
        return 0;
}

int pstw_hn_alloc(struct pstw *w, struct pstw_hn *hn, const void *data, size_t len,
                  uint32_t *ret_hid)
{
        int r;

        if (len == 0 || len > PSTW_HN_ALLOC_MAX)
                return pstw_fail(w, -EINVAL, "heap allocation of %zu bytes", len);
        /* Room for the data and a page map one entry longer. */
        if (ALIGN_UP(hn->cur_len + (uint32_t)len, 2u) + 4 + 2 * (hn->n_offs + 2) >
                PSTW_BLOCK_DATA ||
            hn->n_offs == PSTW_HN_MAX_ALLOCS) {
                r = hn_seal(w, hn);
                if (r < 0)
                        return r;
                if (hn->cur_index == PSTW_HN_MAX_BLOCKS - 1)
                        return pstw_fail(w, -EFBIG, "heap of more than %u blocks",
                                         PSTW_HN_MAX_BLOCKS);
                hn->cur_index++;
                hn->n_offs = 0;
                hn->cur_len = hn_header_size(hn->cur_index);
                memset(hn->cur, 0, hn->cur_len);
        }
        hn->offs[hn->n_offs++] = (uint16_t)hn->cur_len;
        memcpy(hn->cur + hn->cur_len, data, len);
        hn->cur_len += (uint32_t)len;
        *ret_hid = hn->cur_index << 16 | hn->n_offs << 5;
        return 0;
}

int pstw_hn_finish(struct pstw *w, struct pstw_hn *hn, uint32_t hid_user_root, uint64_t *ret_bid)
{
        struct pstw_dblk *b0;
        int r;

        r = hn_seal(w, hn);
        if (r < 0)
                return r;
        r = hn_write_bm(w, hn);
        if (r < 0)
                return r;
        /* HNHDR: ibHnpm (set), bSig, bClientSig, hidUserRoot, rgbFillLevel. */
        hn->blk0[2] = 0xEC;
        hn->blk0[3] = hn->client_sig;
        put_le32(hn->blk0 + 4, hid_user_root);
        pack_levels(hn->blk0 + 8, hn->fill0, 8);
        b0 = &PSTW_AT(&hn->blks, struct pstw_dblk, 0);
        r = pstw_block(w, hn->blk0, hn->blk0_len, false, &b0->bid);
        if (r < 0)
                return r;
        return pstw_data_tree(w, hn->blks.p, hn->blks.n, ret_bid);
}

/* ---- BTree-on-heap ------------------------------------------------------------- */

void pstw_bth_init(struct pstw_bth *b, uint8_t cb_key, uint8_t cb_ent)
{
        *b = (struct pstw_bth){ .cb_key = cb_key, .cb_ent = cb_ent };
        b->cap[0] = PSTW_HN_ALLOC_MAX / (cb_key + cb_ent);
        b->cap[1] = PSTW_HN_ALLOC_MAX / (cb_key + 4u);
}

void pstw_bth_free(struct pstw_bth *b)
{
        for (unsigned i = 0; i < ELEMENTSOF(b->lv); i++) {
                free(b->lv[i].buf);
                b->lv[i].buf = NULL;
        }
}

static unsigned bth_rec(const struct pstw_bth *b, unsigned level)
{
        return b->cb_key + (level == 0 ? b->cb_ent : 4u);
}

static int bth_push(struct pstw *w, struct pstw_hn *hn, struct pstw_bth *b, unsigned level,
                    const uint8_t *rec);

/* Write level's pending records as one allocation, referenced above. */
static int bth_flush(struct pstw *w, struct pstw_hn *hn, struct pstw_bth *b, unsigned level)
{
        uint8_t up[16 + 4];
        uint32_t hid;
        int r;

        r = pstw_hn_alloc(w, hn, b->lv[level].buf, b->lv[level].n * bth_rec(b, level), &hid);
        if (r < 0)
                return r;
        memcpy(up, b->lv[level].buf, b->cb_key);
        put_le32(up + b->cb_key, hid);
        b->lv[level].n = 0;
        b->lv[level].flushed++;
        b->lv[level].last_hid = hid;
        return bth_push(w, hn, b, level + 1, up);
}

static int bth_push(struct pstw *w, struct pstw_hn *hn, struct pstw_bth *b, unsigned level,
                    const uint8_t *rec)
{
        unsigned sz = bth_rec(b, level);
        int r;

        if (level >= ELEMENTSOF(b->lv))
                return pstw_fail(w, -EFBIG, "BTH deeper than %zu levels", ELEMENTSOF(b->lv));
        if (!b->lv[level].buf) {
                b->lv[level].buf = malloc(PSTW_HN_ALLOC_MAX);
                if (!b->lv[level].buf)
                        return pstw_fail(w, -ENOMEM, "BTH level");
        }
        if (b->lv[level].n == b->cap[level ? 1 : 0]) {
                r = bth_flush(w, hn, b, level);
                if (r < 0)
                        return r;
        }
        memcpy(b->lv[level].buf + b->lv[level].n * sz, rec, sz);
        b->lv[level].n++;
        return 0;
}

int pstw_bth_add(struct pstw *w, struct pstw_hn *hn, struct pstw_bth *b, const uint8_t *rec)
{
        uint64_t key = 0;

        for (unsigned i = 0; i < b->cb_key; i++)
                key |= (uint64_t)rec[i] << (8 * i);
        if (b->any && key <= b->last_key)
                return pstw_fail(w, -EINVAL, "BTH key 0x%" PRIx64 " out of order or repeated", key);
        b->any = true;
        b->last_key = key;
        return bth_push(w, hn, b, 0, rec);
}

int pstw_bth_finish(struct pstw *w, struct pstw_hn *hn, struct pstw_bth *b, uint32_t *ret_hid)
{
        uint8_t hdr[8] = { 0xB5, b->cb_key, b->cb_ent, 0 };
        uint32_t root = 0;
        int r;

        for (unsigned l = 0; b->any && l < ELEMENTSOF(b->lv); l++) {
                bool top = b->lv[l].flushed == 0;

                for (unsigned u = l + 1; top && u < ELEMENTSOF(b->lv); u++)
                        top = b->lv[u].n == 0 && b->lv[u].flushed == 0;
                if (top) {
                        hdr[3] = (uint8_t)l;
                        if (l > 0 && b->lv[l].n == 1) {
                                /* One child: it is the root. */
                                root = get_le32(b->lv[l].buf + b->cb_key);
                                hdr[3] = (uint8_t)(l - 1);
                        } else {
                                r = pstw_hn_alloc(w, hn, b->lv[l].buf, b->lv[l].n * bth_rec(b, l),
                                                  &root);
                                if (r < 0)
                                        return r;
                        }
                        break;
                }
                if (b->lv[l].n > 0) {
                        r = bth_flush(w, hn, b, l);
                        if (r < 0)
                                return r;
                }
        }
        put_le32(hdr + 4, root);
        return pstw_hn_alloc(w, hn, hdr, sizeof(hdr), ret_hid);
}

/* ---- values ---------------------------------------------------------------------- */

bool pstw_type_known(uint16_t type)
{
        switch (type & ~PST_PT_MV) {
        case PST_PT_I2:
        case PST_PT_I4:
        case PST_PT_R4:
        case PST_PT_R8:
        case PST_PT_CURRENCY:
        case PST_PT_APPTIME:
        case PST_PT_I8:
        case PST_PT_SYSTIME:
        case PST_PT_CLSID:
        case PST_PT_STRING8:
        case PST_PT_UNICODE:
        case PST_PT_BINARY:
                return true;
        case PST_PT_ERROR:
        case PST_PT_BOOLEAN:
        case PST_PT_OBJECT:
        case PST_PT_SVREID:
        case PST_PT_SRESTRICT:
        case PST_PT_ACTIONS:
                return !(type & PST_PT_MV);
        default:
                return false;
        }
}

bool pstw_type_inline(uint16_t type)
{
        switch (type) {
        case PST_PT_I2:
        case PST_PT_I4:
        case PST_PT_R4:
        case PST_PT_ERROR:
        case PST_PT_BOOLEAN:
                return true;
        default:
                return false;
        }
}

unsigned pstw_type_cell(uint16_t type)
{
        switch (type) {
        case PST_PT_I2:
                return 2;
        case PST_PT_I4:
        case PST_PT_R4:
        case PST_PT_ERROR:
                return 4;
        case PST_PT_BOOLEAN:
                return 1;
        case PST_PT_I8:
        case PST_PT_R8:
        case PST_PT_CURRENCY:
        case PST_PT_APPTIME:
        case PST_PT_SYSTIME:
                return 8;
        default:
                return 4; /* an HNID */
        }
}

static size_t fixed_size(uint16_t base)
{
        switch (base) {
        case PST_PT_I2:
                return 2;
        case PST_PT_I4:
        case PST_PT_R4:
        case PST_PT_ERROR:
                return 4;
        case PST_PT_BOOLEAN:
                return 1;
        case PST_PT_I8:
        case PST_PT_R8:
        case PST_PT_CURRENCY:
        case PST_PT_APPTIME:
        case PST_PT_SYSTIME:
                return 8;
        case PST_PT_CLSID:
                return 16;
        default:
                return 0;
        }
}

static int put_fixed(uint16_t base, const struct pst_value *v, uint8_t *p)
{
        union {
                float f;
                uint32_t u;
        } f32;
        union {
                double d;
                uint64_t u;
        } f64;

        switch (base) {
        case PST_PT_I2:
                put_le16(p, (uint16_t)v->i);
                return 0;
        case PST_PT_I4:
        case PST_PT_ERROR:
                put_le32(p, (uint32_t)v->i);
                return 0;
        case PST_PT_BOOLEAN:
                p[0] = v->i != 0;
                return 0;
        case PST_PT_R4:
                f32.f = (float)v->d;
                put_le32(p, f32.u);
                return 0;
        case PST_PT_I8:
        case PST_PT_CURRENCY:
        case PST_PT_SYSTIME:
                put_le64(p, (uint64_t)v->i);
                return 0;
        case PST_PT_R8:
        case PST_PT_APPTIME:
                f64.d = v->d;
                put_le64(p, f64.u);
                return 0;
        case PST_PT_CLSID:
                if (v->len != 16 || !v->data)
                        return -EINVAL;
                memcpy(p, v->data, 16);
                return 0;
        default:
                return -ENOTSUP;
        }
}

int pstw_utf16(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
        const uint8_t *p = (const uint8_t *)s;
        uint8_t *out = malloc(len * 2 + 2);
        size_t o = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len;) {
                uint32_t c = p[i], need = 0, min = 0;

                if (c < 0x80) {
                        need = 0;
                } else if ((c & 0xE0) == 0xC0) {
                        c &= 0x1F, need = 1, min = 0x80;
                } else if ((c & 0xF0) == 0xE0) {
                        c &= 0x0F, need = 2, min = 0x800;
                } else if ((c & 0xF8) == 0xF0) {
                        c &= 0x07, need = 3, min = 0x10000;
                } else {
                        c = 0xFFFD, need = 0, i++;
                        goto put;
                }
                i++;
                for (uint32_t k = 0; k < need; k++, i++) {
                        if (i >= len || (p[i] & 0xC0) != 0x80) {
                                c = 0xFFFD;
                                goto put;
                        }
                        c = c << 6 | (p[i] & 0x3F);
                }
                if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                        c = 0xFFFD;
        put:
                if (c >= 0x10000) {
                        c -= 0x10000;
                        put_le16(out + o, (uint16_t)(0xD800 | c >> 10));
                        put_le16(out + o + 2, (uint16_t)(0xDC00 | (c & 0x3FF)));
                        o += 4;
                } else {
                        put_le16(out + o, (uint16_t)c);
                        o += 2;
                }
        }
        *ret = out;
        *ret_len = o;
        return 0;
}

/* A variable-size single value's bytes (UNICODE converted). */
static int var_bytes(uint16_t base, const struct pst_value *v, uint8_t **ret, size_t *ret_len)
{
        if (v->len > 0 && !v->data)
                return -EINVAL;
        if (base == PST_PT_UNICODE)
                return pstw_utf16((const char *)v->data, v->len, ret, ret_len);
        *ret = malloc(v->len ? v->len : 1);
        if (!*ret)
                return -ENOMEM;
        if (v->len)
                memcpy(*ret, v->data, v->len);
        *ret_len = v->len;
        return 0;
}

int pstw_encode(uint16_t type, const struct pst_prop *p, uint8_t inl[16], uint8_t **ret,
                size_t *ret_len)
{
        uint16_t base = type & ~PST_PT_MV;
        size_t fs = fixed_size(base), total;
        uint8_t *out;
        int r;

        *ret = NULL;
        *ret_len = 0;
        if (!pstw_type_known(type))
                return -ENOTSUP;
        if (!(type & PST_PT_MV)) {
                if (fs) {
                        r = put_fixed(base, &p->v, inl);
                        if (r < 0)
                                return r;
                        *ret = inl;
                        *ret_len = fs;
                        return 0;
                }
                r = var_bytes(base, &p->v, ret, ret_len);
                if (r == 0 && *ret_len == 0) {
                        free(*ret);
                        *ret = NULL;
                }
                return r;
        }
        if (p->count > 0 && !p->mv)
                return -EINVAL;
        if (fs) {
                /* Fixed-size multi-valued: a packed array. */
                if (p->count == 0)
                        return 0;
                if (p->count > SIZE_MAX / fs)
                        return -EFBIG;
                out = malloc(fs * p->count);
                if (!out)
                        return -ENOMEM;
                for (uint32_t i = 0; i < p->count; i++) {
                        r = put_fixed(base, &p->mv[i], out + fs * i);
                        if (r < 0) {
                                free(out);
                                return r;
                        }
                }
                *ret = out;
                *ret_len = fs * p->count;
                return 0;
        }
        /* Variable-size multi-valued: ulCount, rgulDataOffsets, data. */
        total = 4 + 4 * (size_t)p->count;
        for (uint32_t i = 0; i < p->count; i++)
                total += (base == PST_PT_UNICODE ? 2 : 1) * p->mv[i].len;
        if (total > UINT32_MAX)
                return -EFBIG;
        out = malloc(total);
        if (!out)
                return -ENOMEM;
        put_le32(out, p->count);
        total = 4 + 4 * (size_t)p->count;
        for (uint32_t i = 0; i < p->count; i++) {
                uint8_t *b;
                size_t n;

                r = var_bytes(base, &p->mv[i], &b, &n);
                if (r < 0) {
                        free(out);
                        return r;
                }
                put_le32(out + 4 + 4 * i, (uint32_t)total);
                memcpy(out + total, b, n);
                total += n;
                free(b);
        }
        *ret = out;
        *ret_len = total;
        return 0;
}

/* A value too large for the heap goes to a subnode of the node. */
static int value_hnid(struct pstw *w, struct pstw_hn *hn, struct pstw_vec *subs, uint32_t *next_sub,
                      const uint8_t *val, size_t len, uint32_t *ret)
{
        struct pstw_sn sn = {};
        int r;

        if (len == 0) {
                *ret = 0;
                return 0;
        }
        if (len <= PSTW_HN_ALLOC_MAX)
                return pstw_hn_alloc(w, hn, val, len, ret);
        r = pstw_stream(w, val, len, &sn.bid_data);
        if (r < 0)
                return r;
        sn.nid = pstw_nid((*next_sub)++, NT_LTP);
        r = pstw_vec_push(subs, &sn);
        if (r < 0)
                return pstw_fail(w, r, "subnode list");
        *ret = sn.nid;
        return 0;
}

/* ---- property context ---------------------------------------------------------- */

int pstw_pc_init(struct pstw_pc *pc, struct pstw_vec *subs)
{
        *pc = (struct pstw_pc){ .subs = subs, .next_sub = 1 };
        pc->recs = (struct pstw_vec){ .size = 8 };
        return pstw_hn_init(&pc->hn, 0xBC);
}

void pstw_pc_free(struct pstw_pc *pc)
{
        pstw_hn_free(&pc->hn);
        pstw_vec_free(&pc->recs);
}

int pstw_pc_add_hnid(struct pstw *w, struct pstw_pc *pc, uint16_t id, uint16_t type, uint32_t hnid)
{
        uint8_t rec[8];

        put_le16(rec, id);
        put_le16(rec + 2, type);
        put_le32(rec + 4, hnid);
        return pstw_vec_push(&pc->recs, rec) < 0 ? pstw_fail(w, -ENOMEM, "properties") : 0;
}

int pstw_pc_add(struct pstw *w, struct pstw_pc *pc, uint16_t id, uint16_t type, const uint8_t *val,
                size_t len)
{
        uint32_t hnid = 0;
        int r;

        if (pstw_type_inline(type)) {
                uint8_t v[4] = {};

                memcpy(v, val, MIN(len, sizeof(v)));
                hnid = get_le32(v);
        } else {
                r = value_hnid(w, &pc->hn, pc->subs, &pc->next_sub, val, len, &hnid);
                if (r < 0)
                        return r;
        }
        return pstw_pc_add_hnid(w, pc, id, type, hnid);
}

static int rec_cmp(const void *a, const void *b)
{
        uint16_t x = get_le16(a), y = get_le16(b);

        return x < y ? -1 : x > y;
}

int pstw_pc_finish(struct pstw *w, struct pstw_pc *pc, uint64_t *ret_bid)
{
        struct pstw_bth b;
        uint32_t hid;
        int r = 0;

        qsort(pc->recs.p, pc->recs.n, 8, rec_cmp);
        pstw_bth_init(&b, 2, 6);
        for (size_t i = 0; i < pc->recs.n && r >= 0; i++) {
                const uint8_t *rec = (const uint8_t *)pc->recs.p + 8 * i;

                if (i > 0 && get_le16(rec) == get_le16(rec - 8))
                        r = pstw_fail(w, -EINVAL, "property 0x%04x given twice", get_le16(rec));
                else
                        r = pstw_bth_add(w, &pc->hn, &b, rec);
        }
        if (r >= 0)
                r = pstw_bth_finish(w, &pc->hn, &b, &hid);
        pstw_bth_free(&b);
        if (r < 0)
                return r;
        return pstw_hn_finish(w, &pc->hn, hid, ret_bid);
}

/* ---- table context ------------------------------------------------------------- */

static int col_cmp(const void *a, const void *b)
{
        const struct pstw_col *x = a, *y = b;
        uint32_t tx = (uint32_t)x->id << 16 | x->type, ty = (uint32_t)y->id << 16 | y->type;

        return tx < ty ? -1 : tx > ty;
}

int pstw_tc_init(struct pstw_tc *tc, const uint32_t *tags, unsigned n_tags)
{
        static const unsigned groups[] = { 8, 4, 2, 1 };
        uint32_t off = 8;
        unsigned bit = 2;
        int r;

        *tc = (struct pstw_tc){ .next_sub = 1 };
        tc->row_blks = PSTW_VEC(struct pstw_dblk);
        tc->subs = PSTW_VEC(struct pstw_sn);
        tc->col[0] = (struct pstw_col){ 0x67F2, PST_PT_I4, 0, 4, 0 };
        tc->col[1] = (struct pstw_col){ 0x67F3, PST_PT_I4, 4, 4, 1 };
        tc->n_cols = 2;
        for (unsigned i = 0; i < n_tags; i++) {
                uint16_t id = (uint16_t)(tags[i] >> 16), type = (uint16_t)tags[i];
                bool dup = false;

                for (unsigned j = 0; j < tc->n_cols; j++)
                        dup |= tc->col[j].id == id;
                if (dup)
                        continue;
                if (tc->n_cols == 255 || !pstw_type_known(type))
                        return -EINVAL;
                tc->col[tc->n_cols++] = (struct pstw_col){ .id = id,
                                                           .type = type,
                                                           .cb = (uint8_t)pstw_type_cell(type) };
        }
        qsort(tc->col + 2, tc->n_cols - 2, sizeof(tc->col[0]), col_cmp);
        /* 8- and 4-byte cells, then 2-byte, then 1-byte, then the CEB. */
        for (unsigned g = 0; g < ELEMENTSOF(groups); g++) {
                for (unsigned i = 2; i < tc->n_cols; i++) {
                        if (tc->col[i].cb != groups[g])
                                continue;
                        tc->col[i].ib = (uint16_t)off;
                        tc->col[i].ibit = (uint8_t)bit++;
                        off += groups[g];
                }
                if (g >= 1)
                        tc->rgib[g - 1] = (uint16_t)off;
        }
        tc->rgib[3] = (uint16_t)(off + DIV_ROUND_UP(tc->n_cols, 8u));
        tc->row_size = tc->rgib[3];
        tc->rows_per_block = PSTW_BLOCK_DATA / tc->row_size;
        tc->row = calloc(1, tc->row_size);
        if (!tc->row)
                return -ENOMEM;
        pstw_bth_init(&tc->index, 4, 4);
        r = pstw_hn_init(&tc->hn, 0x7C);
        if (r < 0) {
                free(tc->row);
                tc->row = NULL;
        }
        return r;
}

void pstw_tc_free(struct pstw_tc *tc)
{
        pstw_hn_free(&tc->hn);
        pstw_bth_free(&tc->index);
        pstw_vec_free(&tc->row_blks);
        pstw_vec_free(&tc->subs);
        free(tc->rows);
        free(tc->row);
        tc->rows = tc->row = NULL;
}

static void ceb_set(struct pstw_tc *tc, unsigned ibit)
{
        tc->row[tc->rgib[2] + ibit / 8] |= (uint8_t)(0x80u >> (ibit % 8));
}

int pstw_tc_row_begin(struct pstw_tc *tc, uint32_t row_id)
{
        memset(tc->row, 0, tc->row_size);
        put_le32(tc->row, row_id);
        ceb_set(tc, 0);
        ceb_set(tc, 1);
        return 0;
}

bool pstw_tc_has(const struct pstw_tc *tc, uint16_t id, uint16_t type)
{
        for (unsigned i = 2; i < tc->n_cols; i++)
                if (tc->col[i].id == id && tc->col[i].type == type)
                        return true;
        return false;
}

int pstw_tc_cell(struct pstw *w, struct pstw_tc *tc, uint16_t id, uint16_t type, const uint8_t *val,
                 size_t len)
{
        const struct pstw_col *c = NULL;
        uint32_t hnid;
        int r;

        for (unsigned i = 2; i < tc->n_cols && !c; i++)
                if (tc->col[i].id == id && tc->col[i].type == type)
                        c = &tc->col[i];
        if (!c)
                return 0;
        if (c->cb == 4 && !pstw_type_inline(type)) {
                r = value_hnid(w, &tc->hn, &tc->subs, &tc->next_sub, val, len, &hnid);
                if (r < 0)
                        return r;
                put_le32(tc->row + c->ib, hnid);
        } else {
                memcpy(tc->row + c->ib, val, MIN(len, (size_t)c->cb));
        }
        ceb_set(tc, c->ibit);
        return 0;
}

static int tc_flush_rows(struct pstw *w, struct pstw_tc *tc)
{
        struct pstw_dblk d = { .len = tc->rows_len };
        int r;

        if (tc->rows_len == 0)
                return 0;
        r = pstw_block(w, tc->rows, tc->rows_len, false, &d.bid);
        if (r < 0)
                return r;
        tc->rows_len = 0;
        return pstw_vec_push(&tc->row_blks, &d) < 0 ? pstw_fail(w, -ENOMEM, "row blocks") : 0;
}

int pstw_tc_row_end(struct pstw *w, struct pstw_tc *tc)
{
        uint8_t rec[8];
        int r;

        if (tc->n_rows == UINT32_MAX)
                return pstw_fail(w, -EFBIG, "table of 2^32 rows");
        if (!tc->rows) {
                tc->rows = malloc(PSTW_BLOCK_DATA);
                if (!tc->rows)
                        return pstw_fail(w, -ENOMEM, "table rows");
        }
        if (tc->rows_len / tc->row_size == tc->rows_per_block) {
                r = tc_flush_rows(w, tc);
                if (r < 0)
                        return r;
        }
        memcpy(tc->rows + tc->rows_len, tc->row, tc->row_size);
        tc->rows_len += tc->row_size;
        /* Row index: dwRowID -> dwRowIndex. */
        memcpy(rec, tc->row, 4);
        put_le32(rec + 4, tc->n_rows);
        tc->n_rows++;
        return pstw_bth_add(w, &tc->hn, &tc->index, rec);
}

int pstw_tc_finish(struct pstw *w, struct pstw_tc *tc, uint64_t *ret_data, uint64_t *ret_sub)
{
        uint8_t info[22 + 8 * 256];
        uint32_t hnid_rows = 0, hid_index, hid_info;
        size_t n;
        int r;

        if (tc->n_rows > 0 && tc->row_blks.n == 0 && tc->rows_len <= PSTW_HN_ALLOC_MAX) {
                r = pstw_hn_alloc(w, &tc->hn, tc->rows, tc->rows_len, &hnid_rows);
                if (r < 0)
                        return r;
        } else if (tc->n_rows > 0) {
                struct pstw_sn sn = { .nid = pstw_nid(tc->next_sub++, NT_LTP) };

                r = tc_flush_rows(w, tc);
                if (r < 0)
                        return r;
                r = pstw_data_tree(w, tc->row_blks.p, tc->row_blks.n, &sn.bid_data);
                if (r < 0)
                        return r;
                if (pstw_vec_push(&tc->subs, &sn) < 0)
                        return pstw_fail(w, -ENOMEM, "subnode list");
                hnid_rows = sn.nid;
        }
        r = pstw_bth_finish(w, &tc->hn, &tc->index, &hid_index);
        if (r < 0)
                return r;
        /* TCINFO and the column descriptors, in tag order. */
        info[0] = 0x7C;
        info[1] = (uint8_t)tc->n_cols;
        for (unsigned i = 0; i < 4; i++)
                put_le16(info + 2 + 2 * i, tc->rgib[i]);
        put_le32(info + 10, hid_index);
        put_le32(info + 14, hnid_rows);
        put_le32(info + 18, 0);
        {
                struct pstw_col sorted[256];

                memcpy(sorted, tc->col, tc->n_cols * sizeof(sorted[0]));
                qsort(sorted, tc->n_cols, sizeof(sorted[0]), col_cmp);
                for (unsigned i = 0; i < tc->n_cols; i++) {
                        uint8_t *d = info + 22 + 8 * i;

                        put_le16(d, sorted[i].type);
                        put_le16(d + 2, sorted[i].id);
                        put_le16(d + 4, sorted[i].ib);
                        d[6] = sorted[i].cb;
                        d[7] = sorted[i].ibit;
                }
        }
        n = 22 + 8 * (size_t)tc->n_cols;
        r = pstw_hn_alloc(w, &tc->hn, info, n, &hid_info);
        if (r < 0)
                return r;
        r = pstw_hn_finish(w, &tc->hn, hid_info, ret_data);
        if (r < 0)
                return r;
        return pstw_subtree(w, tc->subs.p, tc->subs.n, ret_sub);
}
