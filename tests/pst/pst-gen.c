/* SPDX-License-Identifier: MIT
 *
 * pst-gen.c - minimal synthetic PST writer for tests (see pst-gen.h).
 * Written from PST_FORMAT.md, independently of the reader's layout code,
 * so that a shared misreading would have to be made twice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pst/pst-internal.h"
#include "tests/pst/pst-gen.h"

#define NID_STORE 0x21u

static void put_id(const struct pst_gen *g, uint8_t *p, uint64_t v)
{
        if (g->id_size == 4)
                put_le32(p, (uint32_t)v);
        else
                put_le64(p, v);
}

/* The heap of the store PC: block 0 holds HNHDR, the BTH header and its
 * two records (0x3001 display name, 0x67FF password) and, unless split,
 * the name; when split, block 1 holds the name. */
static size_t heap_block0(const struct pst_gen_opts *o, bool unicode, uint8_t *p, size_t namelen)
{
        uint32_t hid_name = 0;
        size_t end;
        unsigned c_alloc = 2;

        if (o->name) {
                if (o->xblock) {
                        hid_name = (1u << 16) | (1u << 5); /* block 1, allocation 1 */
                } else {
                        hid_name = 3u << 5;
                        c_alloc = 3;
                }
        }
        /* HNHDR: ibHnpm, bSig, bClientSig (PC), hidUserRoot (alloc 1), fill levels. */
        p[2] = 0xEC;
        p[3] = 0xBC;
        put_le32(p + 4, 1u << 5);
        put_le32(p + 8, 0);
        /* Allocation 1 at 12: BTHHEADER, cbKey 2, cbEnt 6, no index levels, root alloc 2. */
        p[12] = 0xB5;
        p[13] = 2;
        p[14] = 6;
        p[15] = 0;
        put_le32(p + 16, 2u << 5);
        /* Allocation 2 at 20: the records, ascending by property id. */
        put_le16(p + 20, 0x3001);
        put_le16(p + 22, unicode ? 0x001F : 0x001E);
        put_le32(p + 24, hid_name);
        put_le16(p + 28, 0x67FF);
        put_le16(p + 30, 0x0003);
        put_le32(p + 32, o->password);
        end = 36;
        if (c_alloc == 3)
                end += namelen; /* allocation 3: the name, filled by the caller */
        end = ALIGN_UP(end, 2);
        put_le16(p, (uint16_t)end); /* ibHnpm */
        put_le16(p + end, (uint16_t)c_alloc);
        put_le16(p + end + 2, 0);
        put_le16(p + end + 4, 12);
        put_le16(p + end + 6, 20);
        put_le16(p + end + 8, 32 + 4);
        if (c_alloc == 3)
                put_le16(p + end + 10, (uint16_t)(36 + namelen));
        return end + 4 + 2 * (c_alloc + 1);
}

static size_t put_name(const struct pst_gen_opts *o, bool unicode, uint8_t *p)
{
        size_t n = strlen(o->name);

        for (size_t i = 0; i < n; i++) {
                if (unicode)
                        put_le16(p + 2 * i, (uint8_t)o->name[i]);
                else
                        p[i] = (uint8_t)o->name[i];
        }
        return unicode ? 2 * n : n;
}

/* Write a block's stored bytes and trailer at ib; returns its span. */
static int put_block(struct pst_gen *g, const struct pst_gen_opts *o, struct pst_gen_block *b,
                     const uint8_t *data, uint32_t len)
{
        uint32_t align = g->format == PST_FORMAT_UNICODE4K ? 512 : 64;
        uint8_t enc[65536], z[65536 + 64];
        const uint8_t *stored = enc;
        uint32_t cb = len;
        uint8_t *tr;

        memcpy(enc, data, len);
        if (!(b->bid & 2)) {
                if (o->crypt == PST_CRYPT_PERMUTE)
                        pst_permute_encode(enc, len);
                else if (o->crypt == PST_CRYPT_CYCLIC)
                        pst_cyclic(enc, len, b->bid); /* its own inverse */
        }
        if (o->compress && g->format == PST_FORMAT_UNICODE4K) {
                uLongf zlen = sizeof(z);

                if (compress2(z, &zlen, enc, len, 9) != Z_OK)
                        return -EINVAL;
                /* Like a real writer: keep the block as is unless it shrinks,
                 * since cb == cbInflated means "not compressed". */
                if (zlen < len) {
                        stored = z;
                        cb = (uint32_t)zlen;
                }
        }
        b->cb = cb;
        b->span = ALIGN_UP(cb + g->block_trailer, align);
        memcpy(g->buf + b->ib, stored, cb);
        tr = g->buf + b->ib + b->span - g->block_trailer;
        put_le16(tr, (uint16_t)cb);
        put_le16(tr + 2, pst_wsig(b->ib, b->bid));
        if (g->id_size == 4) {
                put_le32(tr + 4, (uint32_t)b->bid);
        } else {
                put_le64(tr + 8, b->bid);
                if (g->format == PST_FORMAT_UNICODE4K) {
                        put_le16(tr + 16, 2);
                        put_le16(tr + 18, (uint16_t)len);
                }
        }
        return 0;
}

uint64_t pst_gen_counts(const struct pst_gen *g, uint64_t page_ib)
{
        return page_ib + g->bt_area;
}

static void put_counts(struct pst_gen *g, uint64_t ib, unsigned c_ent, unsigned cb_ent)
{
        uint8_t *c = g->buf + pst_gen_counts(g, ib);
        unsigned c_max = g->bt_area / cb_ent;

        if (g->format == PST_FORMAT_UNICODE4K) {
                put_le16(c, (uint16_t)c_ent);
                put_le16(c + 2, (uint16_t)c_max);
                c += 4;
        } else {
                c[0] = (uint8_t)c_ent;
                c[1] = (uint8_t)c_max;
                c += 2;
        }
        c[0] = (uint8_t)cb_ent;
        c[1] = 0; /* leaf */
}

static void put_page_trailer(struct pst_gen *g, uint64_t ib, uint8_t ptype, uint64_t bid)
{
        uint8_t *tr = g->buf + ib + g->page_size - g->page_trailer;

        tr[0] = tr[1] = ptype;
        put_le16(tr + 2, pst_wsig(ib, bid));
        if (g->id_size == 4)
                put_le32(tr + 4, (uint32_t)bid);
        else
                put_le64(tr + 8, bid);
}

static void put_header(struct pst_gen *g, const struct pst_gen_opts *o)
{
        uint8_t *h = g->buf;
        bool ansi = g->format == PST_FORMAT_ANSI;

        memcpy(h, "!BDN", 4);
        memcpy(h + 8, g->format == PST_FORMAT_UNICODE4K ? "SO" : "SM", 2);
        put_le16(h + 10, ansi ? 14 : g->format == PST_FORMAT_UNICODE ? 23 : 36);
        put_le16(h + 12, g->format == PST_FORMAT_UNICODE4K ? 12 : 19);
        h[14] = h[15] = 1;
        if (ansi) {
                put_le32(h + 24, 0x100);       /* bidNextB */
                put_le32(h + 28, 0x200);       /* bidNextP */
                put_le32(h + 168, (uint32_t)g->size);
                put_le32(h + 184, (uint32_t)g->nbt_bid);
                put_le32(h + 188, (uint32_t)g->nbt_ib);
                put_le32(h + 192, (uint32_t)g->bbt_bid);
                put_le32(h + 196, (uint32_t)g->bbt_ib);
                h[200] = 2;
                memset(h + 204, 0xFF, 256);    /* rgbFM, rgbFP */
                h[460] = 0x80;
                h[461] = (uint8_t)o->crypt;
        } else {
                put_le64(h + 32, 0x200);
                put_le64(h + 184, g->size);
                put_le64(h + 216, g->nbt_bid);
                put_le64(h + 224, g->nbt_ib);
                put_le64(h + 232, g->bbt_bid);
                put_le64(h + 240, g->bbt_ib);
                h[248] = 2;
                memset(h + 256, 0xFF, 256);
                h[512] = 0x80;
                h[513] = (uint8_t)o->crypt;
                put_le64(h + 516, 0x100);
        }
}

int pst_gen_build(const struct pst_gen_opts *o, struct pst_gen *g)
{
        bool ansi = o->format == PST_FORMAT_ANSI, unicode = !ansi;
        uint8_t heap0[1024] = {}, heap1[1024] = {}, xb[64] = {};
        size_t namelen = o->name ? (unicode ? 2 : 1) * strlen(o->name) : 0;
        size_t len0, len1 = 0, hdr = ansi ? 512 : 564;
        uint32_t align;
        uint64_t ib;
        uint8_t *e;
        int r;

        *g = (struct pst_gen){ .format = o->format };
        switch (o->format) {
        case PST_FORMAT_ANSI:
                g->page_size = 512, g->page_trailer = 12, g->block_trailer = 12, g->id_size = 4;
                g->bt_area = 496;
                break;
        case PST_FORMAT_UNICODE:
                g->page_size = 512, g->page_trailer = 16, g->block_trailer = 16, g->id_size = 8;
                g->bt_area = 488;
                break;
        case PST_FORMAT_UNICODE4K:
                g->page_size = 4096, g->page_trailer = 24, g->block_trailer = 24, g->id_size = 8;
                g->bt_area = 4056;
                break;
        }
        align = o->format == PST_FORMAT_UNICODE4K ? 512 : 64;

        len0 = heap_block0(o, unicode, heap0, namelen);
        if (o->name && !o->xblock)
                put_name(o, unicode, heap0 + 36);
        if (o->name && o->xblock) {
                /* Block 1: HNPAGEHDR (ibHnpm), the name, the page map. */
                size_t end = ALIGN_UP(2 + namelen, 2);

                put_name(o, unicode, heap1 + 2);
                put_le16(heap1, (uint16_t)end);
                put_le16(heap1 + end, 1);
                put_le16(heap1 + end + 2, 0);
                put_le16(heap1 + end + 4, 2);
                put_le16(heap1 + end + 6, (uint16_t)(2 + namelen));
                len1 = end + 8;
        } else if (o->xblock) {
                /* Block 1 without allocations: ibHnpm 2, cAlloc 0, rgibAlloc {2}. */
                put_le16(heap1, 2);
                put_le16(heap1 + 6, 2);
                len1 = 8;
        }

        g->nbt_bid = 0x104;
        g->bbt_bid = 0x108;
        g->nbt_ib = ALIGN_UP((uint64_t)hdr, g->page_size);
        g->bbt_ib = g->nbt_ib + g->page_size;
        ib = g->bbt_ib + g->page_size;
        g->blk[0] = (struct pst_gen_block){ .bid = 0x24, .ib = ib };
        g->n_blk = 1;
        g->size = ib + 3 * 8192 + 3 * 1024; /* generous; trimmed below */
        g->buf = calloc(1, g->size);
        if (!g->buf)
                return -ENOMEM;

        r = put_block(g, o, &g->blk[0], heap0, (uint32_t)len0);
        if (r < 0)
                goto fail;
        ib = g->blk[0].ib + g->blk[0].span;
        g->data_bid = 0x24;
        if (o->xblock) {
                uint32_t id = g->id_size;

                g->blk[1] = (struct pst_gen_block){ .bid = 0x28, .ib = ib };
                r = put_block(g, o, &g->blk[1], heap1, (uint32_t)len1);
                if (r < 0)
                        goto fail;
                ib = g->blk[1].ib + g->blk[1].span;
                xb[0] = 0x01;
                xb[1] = 0x01;
                put_le16(xb + 2, 2);
                put_le32(xb + 4, (uint32_t)(len0 + len1));
                put_id(g, xb + 8, 0x24);
                put_id(g, xb + 8 + id, 0x28);
                g->blk[2] = (struct pst_gen_block){ .bid = 0x2E, .ib = ib };
                r = put_block(g, o, &g->blk[2], xb, 8 + 2 * id);
                if (r < 0)
                        goto fail;
                ib = g->blk[2].ib + g->blk[2].span;
                g->data_bid = 0x2E;
                g->n_blk = 3;
        }
        g->size = ALIGN_UP(ib, (uint64_t)align);
        if (o->bid_bit0)
                g->data_bid |= 1;

        /* NBT leaf: NID 0x21 -> data. */
        e = g->buf + g->nbt_ib;
        put_id(g, e, NID_STORE);
        put_id(g, e + g->id_size, g->data_bid);
        put_counts(g, g->nbt_ib, 1, ansi ? 16 : 32);
        put_page_trailer(g, g->nbt_ib, 0x81, g->nbt_bid);

        /* BBT leaf: every block, ascending BID. */
        for (unsigned i = 0; i < g->n_blk; i++) {
                e = g->buf + g->bbt_ib + i * (ansi ? 12 : 24);
                put_id(g, e, g->blk[i].bid);
                put_id(g, e + g->id_size, g->blk[i].ib);
                put_le16(e + 2 * g->id_size, (uint16_t)g->blk[i].cb);
                put_le16(e + 2 * g->id_size + 2, 2);
        }
        put_counts(g, g->bbt_ib, g->n_blk, ansi ? 12 : 24);
        put_page_trailer(g, g->bbt_ib, 0x80, g->bbt_bid);

        put_header(g, o);
        pst_gen_fix(g);
        return 0;
fail:
        pst_gen_free(g);
        return r;
}

void pst_gen_fix(struct pst_gen *g)
{
        uint8_t *h = g->buf;
        uint64_t pages[2] = { g->nbt_ib, g->bbt_ib };

        for (unsigned i = 0; i < g->n_blk; i++) {
                const struct pst_gen_block *b = &g->blk[i];
                uint8_t *tr = g->buf + b->ib + b->span - g->block_trailer;
                uint32_t cb = MIN((uint32_t)get_le16(tr), b->span - g->block_trailer);

                put_le32(tr + (g->id_size == 4 ? 8 : 4), pst_crc32(0, g->buf + b->ib, cb));
        }
        for (unsigned i = 0; i < 2; i++) {
                uint8_t *tr = g->buf + pages[i] + g->page_size - g->page_trailer;

                put_le32(tr + (g->id_size == 4 ? 8 : 4),
                         pst_crc32(0, g->buf + pages[i], g->page_size - g->page_trailer));
        }
        put_le32(h + 4, pst_crc32(0, h + 8, 471));
        if (g->format != PST_FORMAT_ANSI)
                put_le32(h + 524, pst_crc32(0, h + 8, 516));
}

void pst_gen_free(struct pst_gen *g)
{
        free(g->buf);
        g->buf = NULL;
}

int pst_gen_pull_store(struct pst_file *f, const uint8_t *file, size_t size,
                       struct pst_store_info *ret, struct pst_diag *diag, unsigned *rounds,
                       uint64_t *fed)
{
        struct pst_want w;
        int r;

        /* The decoder never loops forever (pst_op_end turns a repeated want
         * into -EIO), but a test must not hang if it did: cap the rounds. */
        for (unsigned i = 0; i < 100000; i++) {
                size_t n;

                r = pst_store_info(f, ret, &w, diag);
                if (r != -EAGAIN)
                        return r;
                if (w.offset > size || w.len == 0)
                        return -ERANGE;
                n = MIN((size_t)w.len, size - (size_t)w.offset);
                r = pst_file_feed(f, w.offset, file + w.offset, n);
                if (r < 0 && r != -EFBIG)
                        return r;
                if (rounds)
                        (*rounds)++;
                if (fed)
                        *fed += n;
        }
        return -ELOOP;
}

int pst_gen_store_info(const uint8_t *file, size_t size, const struct pst_limits *lim,
                       struct pst_store_info *ret, struct pst_diag *diag)
{
        struct pst_file *f;
        int r;

        r = pst_file_new(file, MIN(size, (size_t)PST_HEADER_SIZE), size, lim, &f, diag);
        if (r < 0)
                return r;
        r = pst_gen_pull_store(f, file, size, ret, diag, NULL, NULL);
        pst_file_free(f);
        return r;
}
