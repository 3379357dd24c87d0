/* SPDX-License-Identifier: MIT
 *
 * write-ndb.c - the writer's NDB layer ([MS-PST] 2.2): file space with its
 * allocation maps, blocks, data and subnode trees, the two B-trees, the
 * density list and the header.
 *
 * Space is only ever appended: the AMap region being filled is the only
 * one whose bits can change, so each region's AMap (and the PMap, FMap and
 * FPMap pages the format puts at fixed places) is written as soon as the
 * end of the file moves past it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pst/write-internal.h"

#define WBUF_SIZE (1 * MIB)
#define DLIST_MAX 119u

int pstw_fail(struct pstw *w, int r, const char *fmt, ...)
{
        va_list ap;

        if (w->err == 0) {
                w->err = r;
                va_start(ap, fmt);
                vsnprintf(w->diag.msg, sizeof(w->diag.msg), fmt, ap);
                va_end(ap);
                w->diag.offset = w->eof;
        }
        return r;
}

int pstw_vec_push(struct pstw_vec *v, const void *item)
{
        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 16;
                void *p = reallocarray(v->p, cap, v->size);

                if (!p)
                        return -ENOMEM;
                v->p = p;
                v->cap = cap;
        }
        memcpy((uint8_t *)v->p + v->n * v->size, item, v->size);
        v->n++;
        return 0;
}

void pstw_vec_free(struct pstw_vec *v)
{
        free(v->p);
        v->p = NULL;
        v->n = v->cap = 0;
}

/* ---- raw writes ---------------------------------------------------------- */

static int pwrite_all(struct pstw *w, const uint8_t *p, size_t len, uint64_t off)
{
        while (len > 0) {
                ssize_t n = pwrite(w->fd, p, len, (off_t)off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return pstw_fail(w, -errno, "writing %zu bytes at %" PRIu64 ": %s", len,
                                         off, strerror(errno));
                }
                if (n == 0)
                        return pstw_fail(w, -EIO, "writing at %" PRIu64 ": no progress", off);
                p += n;
                len -= (size_t)n;
                off += (uint64_t)n;
        }
        return 0;
}

static int flush(struct pstw *w)
{
        int r = 0;

        if (w->wbuf_len > 0)
                r = pwrite_all(w, w->wbuf, w->wbuf_len, w->wbuf_off);
        w->wbuf_len = 0;
        return r;
}

/* Write len bytes at off: appends are gathered in wbuf. */
static int emit(struct pstw *w, uint64_t off, const void *p, size_t len)
{
        int r;

        if (w->wbuf_len > 0 &&
            (off != w->wbuf_off + w->wbuf_len || w->wbuf_len + len > WBUF_SIZE)) {
                r = flush(w);
                if (r < 0)
                        return r;
        }
        if (len > WBUF_SIZE)
                return pwrite_all(w, p, len, off);
        if (w->wbuf_len == 0)
                w->wbuf_off = off;
        memcpy(w->wbuf + w->wbuf_len, p, len);
        w->wbuf_len += len;
        return 0;
}

/* ---- space and allocation maps ------------------------------------------- */

static uint64_t region_base(uint64_t k)
{
        return PSTW_AMAP_FIRST + k * (uint64_t)PSTW_AMAP_SPAN;
}

/* Page i of region k is a map page: AMap always, PMap every 8th region,
 * FMap from region 128 every 496, FPMap from region 8192 every 496 x 64. */
static bool map_page(uint64_t k, unsigned i)
{
        switch (i) {
        case 0:
                return true;
        case 1:
                return k % 8 == 0;
        case 2:
                return k >= 128 && (k - 128) % 496 == 0;
        case 3:
                return k >= 8192 && (k - 8192) % (496 * 64) == 0;
        default:
                return false;
        }
}

static void amap_mark(uint8_t *bits, uint64_t from, uint64_t to)
{
        for (uint64_t s = from / 64; s < DIV_ROUND_UP(to, 64); s++)
                bits[s / 8] |= (uint8_t)(0x80u >> (s % 8));
}

static int write_page(struct pstw *w, uint64_t ib, uint8_t *page, uint8_t ptype, uint64_t bid,
                      bool sig)
{
        uint8_t *tr = page + PSTW_PAGE - 16;

        tr[0] = tr[1] = ptype;
        put_le16(tr + 2, sig ? pst_wsig(ib, bid) : 0);
        put_le32(tr + 4, pst_crc32(0, page, PSTW_PAGE - 16));
        put_le64(tr + 8, bid);
        return emit(w, ib, page, PSTW_PAGE);
}

static int write_map(struct pstw *w, uint64_t ib, const uint8_t *bits, uint8_t ptype)
{
        uint8_t page[PSTW_PAGE] = {};

        memcpy(page, bits, 496);
        /* Map pages carry their own offset as BID and no signature. */
        return write_page(w, ib, page, ptype, ib, false);
}

static void region_start(struct pstw *w, uint64_t k)
{
        uint64_t base = region_base(k);

        w->region = k;
        memset(w->amap, 0, sizeof(w->amap));
        for (unsigned i = 0; i < 4; i++)
                if (map_page(k, i))
                        amap_mark(w->amap, i * PSTW_PAGE, (i + 1) * PSTW_PAGE);
        if (map_page(k, 2)) {
                w->fmap_ib = base + 2 * PSTW_PAGE;
                memset(w->fmap, 0, sizeof(w->fmap));
        }
}

static int dlist_note(struct pstw *w, uint64_t k, unsigned free_slots)
{
        uint32_t e = (uint32_t)(k & 0xFFFFF) | (uint32_t)free_slots << 20;

        if (free_slots == 0 || k > 0xFFFFF)
                return 0;
        if (w->dlist.n == DLIST_MAX) {
                /* Keep the emptiest regions: replace the fullest kept one. */
                uint32_t *d = w->dlist.p;
                size_t min = 0;

                for (size_t i = 1; i < w->dlist.n; i++)
                        if (d[i] >> 20 < d[min] >> 20)
                                min = i;
                if (d[min] >> 20 < free_slots)
                        d[min] = e;
                return 0;
        }
        return pstw_vec_push(&w->dlist, &e);
}

/* The region is complete: write its maps. */
static int region_seal(struct pstw *w)
{
        uint64_t k = w->region, base = region_base(k);
        unsigned free_slots = 0, run = 0, best = 0;
        uint8_t ff[496];
        int r;

        for (unsigned s = 0; s < 496 * 8; s++) {
                if (w->amap[s / 8] & (0x80u >> (s % 8))) {
                        run = 0;
                } else {
                        free_slots++;
                        best = MAX(best, ++run);
                }
        }
        w->amap_free += (uint64_t)free_slots * 64;
        w->n_regions = k + 1;
        r = write_map(w, base, w->amap, 0x84);
        if (r < 0)
                return r;
        /* Nothing is reserved through the PMap, so no page is free there
         * (cbPMapFree 0) and no PMap has free pages for the FPMap. */
        memset(ff, 0xFF, sizeof(ff));
        if (map_page(k, 1)) {
                r = write_map(w, base + PSTW_PAGE, ff, 0x83);
                if (r < 0)
                        return r;
        }
        if (map_page(k, 3)) {
                r = write_map(w, base + 3 * PSTW_PAGE, ff, 0x85);
                if (r < 0)
                        return r;
        }
        /* FMap byte: the longest free run of this AMap, for the FMap page
         * covering AMaps 128 + 496j ... + 495. */
        if (k >= 128 && w->fmap_ib) {
                unsigned i = (unsigned)((k - 128) % 496);

                w->fmap[i] = (uint8_t)MIN(best, 255u);
                if (i == 495) {
                        r = write_map(w, w->fmap_ib, w->fmap, 0x82);
                        w->fmap_ib = 0;
                        if (r < 0)
                                return r;
                }
        }
        return dlist_note(w, k, free_slots);
}

/* Reserve size bytes aligned to align at the end of the file, past map
 * pages and never across a region boundary. */
static int space(struct pstw *w, uint64_t size, uint64_t align, uint64_t *ret)
{
        uint64_t o = ALIGN_UP(w->eof, align), k, base;
        int r;

retry:
        k = (o - PSTW_AMAP_FIRST) / PSTW_AMAP_SPAN;
        base = region_base(k);
        if (o + size > base + PSTW_AMAP_SPAN) {
                o = base + PSTW_AMAP_SPAN;
                goto retry;
        }
        for (unsigned i = 0; i < 4; i++) {
                uint64_t p = base + i * PSTW_PAGE;

                if (map_page(k, i) && o < p + PSTW_PAGE && o + size > p) {
                        o = ALIGN_UP(p + PSTW_PAGE, align);
                        goto retry;
                }
        }
        while (w->region < k) {
                r = region_seal(w);
                if (r < 0)
                        return r;
                region_start(w, w->region + 1);
        }
        amap_mark(w->amap, o - base, o - base + size);
        w->eof = o + size;
        *ret = o;
        return 0;
}

/* ---- blocks and trees ------------------------------------------------------ */

static int bt_add(struct pstw *w, struct pstw_bt *bt, uint64_t key, const uint8_t *ent);

int pstw_block(struct pstw *w, const void *data, size_t len, bool internal, uint64_t *ret_bid)
{
        uint8_t buf[PSTW_BLOCK_DATA + PSTW_BLOCK_TRAILER + 64];
        uint64_t bid, ib;
        uint8_t ent[24] = {};
        uint32_t span;
        uint8_t *tr;
        int r;

        if (w->err)
                return w->err;
        if (len > PSTW_BLOCK_DATA)
                return pstw_fail(w, -EINVAL, "block of %zu bytes", len);
        if (w->bid_next > (UINT64_C(1) << 62))
                return pstw_fail(w, -EFBIG, "block IDs exhausted");
        bid = w->bid_next | (internal ? PST_BID_INTERNAL : 0);
        w->bid_next += 4;
        span = ALIGN_UP((uint32_t)len + PSTW_BLOCK_TRAILER, 64u);
        r = space(w, span, 64, &ib);
        if (r < 0)
                return pstw_fail(w, r, "no space for a block");
        memcpy(buf, data, len);
        if (!internal) {
                if (w->crypt == PST_CRYPT_PERMUTE)
                        pst_permute_encode(buf, len);
                else if (w->crypt == PST_CRYPT_CYCLIC)
                        pst_cyclic(buf, len, bid);
        }
        memset(buf + len, 0, span - len);
        tr = buf + span - PSTW_BLOCK_TRAILER;
        put_le16(tr, (uint16_t)len);
        put_le16(tr + 2, pst_wsig(ib, bid));
        put_le32(tr + 4, pst_crc32(0, buf, len));
        put_le64(tr + 8, bid);
        r = emit(w, ib, buf, span);
        if (r < 0)
                return r;
        /* BBTENTRY: BREF, cb, cRef (1: one reference), padding. */
        put_le64(ent, bid);
        put_le64(ent + 8, ib);
        put_le16(ent + 16, (uint16_t)len);
        put_le16(ent + 18, 1);
        r = bt_add(w, &w->bbt, bid, ent);
        if (r < 0)
                return r;
        *ret_bid = bid;
        return 0;
}

int pstw_data_tree(struct pstw *w, const struct pstw_dblk *blk, size_t n, uint64_t *ret_bid)
{
        uint8_t buf[PSTW_BLOCK_DATA];
        struct pstw_vec x = PSTW_VEC(struct pstw_dblk);
        uint64_t total = 0;
        int r = 0;

        if (n == 0) {
                *ret_bid = 0;
                return 0;
        }
        if (n == 1) {
                *ret_bid = blk[0].bid;
                return 0;
        }
        if (n > (size_t)PSTW_XBLOCK_BIDS * PSTW_XBLOCK_BIDS)
                return pstw_fail(w, -EFBIG, "data tree of %zu blocks", n);
        /* XBLOCKs of up to 1021 data blocks, and an XXBLOCK over them. */
        for (size_t i = 0; i < n; i += PSTW_XBLOCK_BIDS) {
                size_t c = MIN(n - i, (size_t)PSTW_XBLOCK_BIDS);
                struct pstw_dblk xb = {};
                uint64_t t = 0;

                for (size_t j = 0; j < c; j++) {
                        t += blk[i + j].len;
                        put_le64(buf + 8 + 8 * j, blk[i + j].bid);
                }
                if (t > UINT32_MAX) {
                        r = pstw_fail(w, -EFBIG, "value of more than 4 GiB");
                        goto out;
                }
                buf[0] = 0x01;
                buf[1] = 0x01;
                put_le16(buf + 2, (uint16_t)c);
                put_le32(buf + 4, (uint32_t)t);
                if (n <= PSTW_XBLOCK_BIDS) {
                        r = pstw_block(w, buf, 8 + 8 * c, true, ret_bid);
                        goto out;
                }
                r = pstw_block(w, buf, 8 + 8 * c, true, &xb.bid);
                if (r < 0)
                        goto out;
                xb.len = (uint32_t)t;
                total += t;
                r = pstw_vec_push(&x, &xb);
                if (r < 0)
                        goto out;
        }
        if (total > UINT32_MAX) {
                r = pstw_fail(w, -EFBIG, "value of more than 4 GiB");
                goto out;
        }
        buf[0] = 0x01;
        buf[1] = 0x02;
        put_le16(buf + 2, (uint16_t)x.n);
        put_le32(buf + 4, (uint32_t)total);
        for (size_t j = 0; j < x.n; j++)
                put_le64(buf + 8 + 8 * j, PSTW_AT(&x, struct pstw_dblk, j).bid);
        r = pstw_block(w, buf, 8 + 8 * x.n, true, ret_bid);
out:
        pstw_vec_free(&x);
        return r < 0 ? pstw_fail(w, r, "data tree") : 0;
}

int pstw_stream(struct pstw *w, const void *data, uint64_t len, uint64_t *ret_bid)
{
        struct pstw_vec v = PSTW_VEC(struct pstw_dblk);
        const uint8_t *p = data;
        int r = 0;

        if (len > UINT32_MAX)
                return pstw_fail(w, -EFBIG, "value of %" PRIu64 " bytes (4 GiB at most)", len);
        for (uint64_t o = 0; o < len; o += PSTW_BLOCK_DATA) {
                struct pstw_dblk b = { .len = (uint32_t)MIN(len - o, (uint64_t)PSTW_BLOCK_DATA) };

                r = pstw_block(w, p + o, b.len, false, &b.bid);
                if (r < 0)
                        goto out;
                r = pstw_vec_push(&v, &b);
                if (r < 0)
                        goto out;
        }
        r = pstw_data_tree(w, v.p, v.n, ret_bid);
out:
        pstw_vec_free(&v);
        return r;
}

static int sn_cmp(const void *a, const void *b)
{
        uint32_t x = ((const struct pstw_sn *)a)->nid, y = ((const struct pstw_sn *)b)->nid;

        return x < y ? -1 : x > y;
}

int pstw_subtree(struct pstw *w, struct pstw_sn *sn, size_t n, uint64_t *ret_bid)
{
        uint8_t buf[PSTW_BLOCK_DATA];
        uint8_t si[PSTW_BLOCK_DATA] = { 0x02, 0x01 };
        size_t n_sl = DIV_ROUND_UP(n, (size_t)PSTW_SL_ENTRIES);
        int r;

        *ret_bid = 0;
        if (n == 0)
                return 0;
        if (n_sl > PSTW_SI_ENTRIES)
                return pstw_fail(w, -EFBIG, "%zu subnodes in one node", n);
        qsort(sn, n, sizeof(*sn), sn_cmp);
        for (size_t i = 1; i < n; i++)
                if (sn[i].nid == sn[i - 1].nid)
                        return pstw_fail(w, -EINVAL, "subnode 0x%x twice", sn[i].nid);
        for (size_t k = 0; k < n_sl; k++) {
                size_t first = k * PSTW_SL_ENTRIES, c = MIN(n - first, (size_t)PSTW_SL_ENTRIES);
                uint64_t bid;

                memset(buf, 0, 8);
                buf[0] = 0x02; /* SLBLOCK: btype 2, cLevel 0, cEnt, padding */
                put_le16(buf + 2, (uint16_t)c);
                for (size_t j = 0; j < c; j++) {
                        uint8_t *e = buf + 8 + 24 * j;

                        put_le64(e, sn[first + j].nid);
                        put_le64(e + 8, sn[first + j].bid_data);
                        put_le64(e + 16, sn[first + j].bid_sub);
                }
                r = pstw_block(w, buf, 8 + 24 * c, true, &bid);
                if (r < 0)
                        return r;
                if (n_sl == 1) {
                        *ret_bid = bid;
                        return 0;
                }
                put_le64(si + 8 + 16 * k, sn[first].nid);
                put_le64(si + 8 + 16 * k + 8, bid);
        }
        put_le16(si + 2, (uint16_t)n_sl);
        memset(si + 4, 0, 4);
        return pstw_block(w, si, 8 + 16 * n_sl, true, ret_bid);
}

/* ---- B-trees --------------------------------------------------------------- */

static void bt_init(struct pstw_bt *bt, uint8_t ptype, unsigned cb_ent)
{
        *bt = (struct pstw_bt){ .ptype = ptype, .cb_ent = cb_ent, .c_max = 488 / cb_ent };
        bt->refs = PSTW_VEC(struct pstw_ref);
}

static int bt_page(struct pstw *w, struct pstw_bt *bt, uint8_t *page, unsigned n, unsigned cb_ent,
                   unsigned level, uint64_t key, struct pstw_vec *out)
{
        struct pstw_ref ref = { .key = key };
        int r;

        page[488] = (uint8_t)n;
        page[489] = (uint8_t)(488 / cb_ent);
        page[490] = (uint8_t)cb_ent;
        page[491] = (uint8_t)level;
        memset(page + 492, 0, 4);
        memset(page + n * cb_ent, 0, 488 - n * cb_ent);
        ref.bid = w->pid_next++;
        r = space(w, PSTW_PAGE, PSTW_PAGE, &ref.ib);
        if (r < 0)
                return r;
        r = write_page(w, ref.ib, page, bt->ptype, ref.bid, true);
        if (r < 0)
                return r;
        return pstw_vec_push(out, &ref);
}

static int bt_flush(struct pstw *w, struct pstw_bt *bt)
{
        int r;

        if (bt->n == 0)
                return 0;
        r = bt_page(w, bt, bt->page, bt->n, bt->cb_ent, 0, bt->first_key, &bt->refs);
        bt->n = 0;
        return r < 0 ? pstw_fail(w, r, "B-tree page") : 0;
}

static int bt_add(struct pstw *w, struct pstw_bt *bt, uint64_t key, const uint8_t *ent)
{
        int r;

        if (bt->any && key <= bt->last_key)
                return pstw_fail(w, -EINVAL, "B-tree key 0x%" PRIx64 " after 0x%" PRIx64, key,
                                 bt->last_key);
        if (bt->n == bt->c_max) {
                r = bt_flush(w, bt);
                if (r < 0)
                        return r;
        }
        if (bt->n == 0)
                bt->first_key = key;
        memcpy(bt->page + bt->n * bt->cb_ent, ent, bt->cb_ent);
        bt->n++;
        bt->any = true;
        bt->last_key = key;
        return 0;
}

/* Build the intermediate levels over the leaf references; *root. */
static int bt_upper(struct pstw *w, struct pstw_bt *bt, struct pstw_vec *refs,
                    struct pstw_ref *root)
{
        struct pstw_vec cur = *refs, next;
        unsigned level = 1;
        int r = 0;

        *refs = PSTW_VEC(struct pstw_ref);
        if (cur.n == 0)
                return pstw_fail(w, -EINVAL, "empty B-tree");
        while (cur.n > 1) {
                next = PSTW_VEC(struct pstw_ref);
                for (size_t i = 0; i < cur.n && r >= 0; i += 20) {
                        uint8_t page[PSTW_PAGE];
                        size_t c = MIN(cur.n - i, (size_t)20);

                        for (size_t j = 0; j < c; j++) {
                                const struct pstw_ref *x = &PSTW_AT(&cur, struct pstw_ref, i + j);

                                put_le64(page + 24 * j, x->key);
                                put_le64(page + 24 * j + 8, x->bid);
                                put_le64(page + 24 * j + 16, x->ib);
                        }
                        r = bt_page(w, bt, page, (unsigned)c, 24, level,
                                    PSTW_AT(&cur, struct pstw_ref, i).key, &next);
                }
                pstw_vec_free(&cur);
                cur = next;
                if (r < 0)
                        break;
                level++;
        }
        if (r >= 0)
                *root = PSTW_AT(&cur, struct pstw_ref, 0);
        pstw_vec_free(&cur);
        return r < 0 ? pstw_fail(w, r, "B-tree levels") : 0;
}

static void nbt_entry(uint8_t *e, uint32_t nid, uint64_t bid_data, uint64_t bid_sub,
                      uint32_t nid_parent)
{
        put_le64(e, nid);
        put_le64(e + 8, bid_data);
        put_le64(e + 16, bid_sub);
        put_le32(e + 24, nid_parent);
        put_le32(e + 28, 0);
}

int pstw_nbt_add(struct pstw *w, uint32_t nid, uint64_t bid_data, uint64_t bid_sub,
                 uint32_t nid_parent)
{
        uint8_t e[32];

        nbt_entry(e, nid, bid_data, bid_sub, nid_parent);
        return bt_add(w, &w->nbt, nid, e);
}

int pstw_node(struct pstw *w, uint32_t nid, uint64_t bid_data, uint64_t bid_sub,
              uint32_t nid_parent)
{
        struct pst_nbt_entry e = { nid, bid_data, bid_sub, nid_parent };

        if (w->err)
                return w->err;
        return pstw_vec_push(&w->nodes, &e) < 0 ? pstw_fail(w, -ENOMEM, "node list") : 0;
}

static int node_cmp(const void *a, const void *b)
{
        uint32_t x = ((const struct pst_nbt_entry *)a)->nid,
                 y = ((const struct pst_nbt_entry *)b)->nid;

        return x < y ? -1 : x > y;
}

/* ---- init / finish ----------------------------------------------------------- */

int pstw_ndb_init(struct pstw *w)
{
        w->wbuf = malloc(WBUF_SIZE);
        if (!w->wbuf)
                return -ENOMEM;
        w->eof = PSTW_AMAP_FIRST;
        w->bid_next = 4;
        w->pid_next = 1;
        w->dlist = PSTW_VEC(uint32_t);
        w->nodes = PSTW_VEC(struct pst_nbt_entry);
        bt_init(&w->bbt, 0x80, 24);
        bt_init(&w->nbt, 0x81, 32);
        region_start(w, 0);
        return 0;
}

void pstw_ndb_free(struct pstw *w)
{
        free(w->wbuf);
        w->wbuf = NULL;
        pstw_vec_free(&w->dlist);
        pstw_vec_free(&w->nodes);
        pstw_vec_free(&w->bbt.refs);
        pstw_vec_free(&w->nbt.refs);
}

static int dlist_cmp(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a >> 20, y = *(const uint32_t *)b >> 20;

        return x > y ? -1 : x < y;
}

static int write_dlist(struct pstw *w)
{
        uint8_t page[PSTW_PAGE] = {};
        uint32_t *d = w->dlist.p;

        if (w->dlist.n > 0)
                qsort(d, w->dlist.n, sizeof(*d), dlist_cmp);
        /* bFlags 1: backfill complete; cEntDList; ulCurrentPage: the last AMap. */
        page[0] = 0x01;
        page[1] = (uint8_t)w->dlist.n;
        put_le32(page + 4, (uint32_t)MIN(w->n_regions - 1, (uint64_t)0xFFFFF));
        for (size_t i = 0; i < w->dlist.n; i++)
                put_le32(page + 8 + 4 * i, d[i]);
        return write_page(w, PSTW_DLIST_IB, page, 0x86, w->pid_next++, true);
}

static int write_header(struct pstw *w, const uint32_t rgnid[32], const struct pstw_ref *nbt,
                        const struct pstw_ref *bbt, uint64_t file_eof)
{
        uint8_t h[564] = {};

        memcpy(h, "!BDN", 4);
        memcpy(h + 8, "SM", 2);
        put_le16(h + 10, 23);
        put_le16(h + 12, 19);
        h[14] = h[15] = 1;
        put_le64(h + 32, w->pid_next);
        put_le32(h + 40, w->unique);
        for (unsigned i = 0; i < 32; i++)
                put_le32(h + 44 + 4 * i, rgnid[i]);
        put_le64(h + 184, file_eof);
        put_le64(h + 192, region_base(w->n_regions - 1));
        put_le64(h + 200, w->amap_free);
        put_le64(h + 208, 0);
        put_le64(h + 216, nbt->bid);
        put_le64(h + 224, nbt->ib);
        put_le64(h + 232, bbt->bid);
        put_le64(h + 240, bbt->ib);
        h[248] = 2;                 /* VALID_AMAP2 */
        memset(h + 256, 0xFF, 256); /* rgbFM, rgbFP: deprecated */
        h[512] = 0x80;
        h[513] = (uint8_t)w->crypt;
        put_le64(h + 516, w->bid_next);
        put_le32(h + 4, pst_crc32(0, h + 8, 471));
        put_le32(h + 524, pst_crc32(0, h + 8, 516));
        return pwrite_all(w, h, sizeof(h), 0);
}

int pstw_ndb_finish(struct pstw *w, const uint32_t rgnid[32])
{
        struct pst_nbt_entry *nodes = w->nodes.p;
        struct pstw_bt low;
        struct pstw_ref nbt_root, bbt_root;
        struct pstw_vec refs;
        uint64_t file_eof;
        int r;

        if (w->err)
                return w->err;
        /* The folder tree's nodes sort before every message's: their leaves
         * come first, then the message leaves written so far. */
        qsort(nodes, w->nodes.n, sizeof(*nodes), node_cmp);
        bt_init(&low, 0x81, 32);
        for (size_t i = 0; i < w->nodes.n; i++) {
                uint8_t e[32];

                nbt_entry(e, nodes[i].nid, nodes[i].bid_data, nodes[i].bid_sub,
                          nodes[i].nid_parent);
                r = bt_add(w, &low, nodes[i].nid, e);
                if (r < 0)
                        goto out;
        }
        if (low.any && w->nbt.any &&
            low.last_key >= (w->nbt.refs.n ? PSTW_AT(&w->nbt.refs, struct pstw_ref, 0).key
                                           : w->nbt.first_key)) {
                r = pstw_fail(w, -EINVAL, "folder nodes sort among messages");
                goto out;
        }
        r = bt_flush(w, &low);
        if (r < 0)
                goto out;
        r = bt_flush(w, &w->nbt);
        if (r < 0)
                goto out;
        refs = low.refs;
        low.refs = PSTW_VEC(struct pstw_ref);
        for (size_t i = 0; i < w->nbt.refs.n && r >= 0; i++)
                r = pstw_vec_push(&refs, &PSTW_AT(&w->nbt.refs, struct pstw_ref, i));
        if (r < 0) {
                pstw_vec_free(&refs);
                r = pstw_fail(w, -ENOMEM, "NBT references");
                goto out;
        }
        r = bt_upper(w, &w->nbt, &refs, &nbt_root);
        if (r < 0)
                goto out;
        /* Blocks are all written: the BBT's last leaf and levels. */
        r = bt_flush(w, &w->bbt);
        if (r < 0)
                goto out;
        r = bt_upper(w, &w->bbt, &w->bbt.refs, &bbt_root);
        if (r < 0)
                goto out;
        r = region_seal(w);
        if (r < 0)
                goto out;
        if (w->fmap_ib) {
                r = write_map(w, w->fmap_ib, w->fmap, 0x82);
                if (r < 0)
                        goto out;
        }
        r = write_dlist(w);
        if (r < 0)
                goto out;
        r = flush(w);
        if (r < 0)
                goto out;
        /* The file ends with its last AMap region, like Outlook's. */
        file_eof = region_base(w->n_regions);
        if (ftruncate(w->fd, (off_t)file_eof) < 0) {
                r = pstw_fail(w, -errno, "extending the file to %" PRIu64 ": %s", file_eof,
                              strerror(errno));
                goto out;
        }
        r = write_header(w, rgnid, &nbt_root, &bbt_root, file_eof);
out:
        pstw_vec_free(&low.refs);
        return r;
}
