/* SPDX-License-Identifier: MIT
 *
 * file.c - a file being decoded: its header, its geometry, and the bounded
 * cache of byte ranges the caller fed (the pull model of pst.h).
 *
 * The cache is an array of extents sorted by offset.  A lookup wants one
 * extent covering the whole range (the decoder asks for whole pages and
 * blocks, and the caller feeds what was asked).  Eviction is least recently
 * used, but never touches an extent used by the operation still running:
 * operations restart from the top after every -EAGAIN, and evicting their
 * earlier pages could otherwise make them ask for the same bytes forever.
 */
#include <stdio.h>

#include "pst/pst-internal.h"

#define DEFAULT_MAX_CACHE (64 * MIB)
#define DEFAULT_MAX_DEPTH 32u

int pst_diag_set(struct pst_diag *diag, int r, uint64_t offset, const char *fmt, ...)
{
        va_list ap;

        if (!diag)
                return r;
        va_start(ap, fmt);
        (void)vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
        va_end(ap);
        diag->offset = offset;
        return r;
}

static const struct pst_geom geom_ansi = {
        .page_size = 512,
        .page_trailer = 12,
        .bt_area = 496,
        .block_trailer = 12,
        .block_align = 64,
        .block_max = 8192,
        .id_size = 4,
};

static const struct pst_geom geom_unicode = {
        .page_size = 512,
        .page_trailer = 16,
        .bt_area = 488,
        .block_trailer = 16,
        .block_align = 64,
        .block_max = 8192,
        .id_size = 8,
};

static const struct pst_geom geom_4k = {
        .page_size = 4096,
        .page_trailer = 24,
        .bt_area = 4056,
        .block_trailer = 24,
        .block_align = 512,
        .block_max = 65536,
        .id_size = 8,
        .wide_counts = true,
};

int pst_file_new(const void *header, size_t len, uint64_t file_size, const struct pst_limits *lim,
                 struct pst_file **ret, struct pst_diag *diag)
{
        struct pst_header h;
        struct pst_file *f;
        int r;

        r = pst_header_parse(header, len, &h, diag);
        if (r < 0)
                return r;
        /* The root BREFs and bCryptMethod are covered by the CRCs; with a
         * bad CRC nothing below the header can be trusted to be located. */
        if (!h.crc_partial_ok || !h.crc_full_ok)
                return pst_diag_set(diag, -EBADMSG, 4, "header: %s CRC mismatch",
                                    !h.crc_partial_ok ? "partial" : "full");

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->hdr = h;
        f->file_size = file_size;
        switch (h.format) {
        case PST_FORMAT_ANSI:
                f->g = geom_ansi;
                break;
        case PST_FORMAT_UNICODE:
                f->g = geom_unicode;
                break;
        case PST_FORMAT_UNICODE4K:
                f->g = geom_4k;
                break;
        }
        if (lim)
                f->lim = *lim;
        if (f->lim.max_cache_bytes == 0)
                f->lim.max_cache_bytes = DEFAULT_MAX_CACHE;
        if (f->lim.max_depth == 0)
                f->lim.max_depth = DEFAULT_MAX_DEPTH;
        f->epoch = 1;
        *ret = f;
        return 0;
}

struct pst_file *pst_file_free(struct pst_file *f)
{
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_ext; i++)
                free(f->ext[i]);
        free(f->ext);
        free(f->verified);
        pst_namemap_free(f->names);
        free(f);
        return NULL;
}

const struct pst_header *pst_file_header(const struct pst_file *f)
{
        return &f->hdr;
}

/* Index of the first extent with off > x (upper bound). */
static size_t ext_upper(const struct pst_file *f, uint64_t x)
{
        size_t lo = 0, hi = f->n_ext;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (f->ext[mid]->off <= x)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static struct pst_extent *ext_find(const struct pst_file *f, uint64_t off, uint32_t len)
{
        size_t i = ext_upper(f, off);

        /* Extents starting at or before off, nearest first; one starting
         * more than the longest extent before off cannot reach it. */
        while (i > 0) {
                struct pst_extent *e = f->ext[--i];

                if (off - e->off >= f->max_ext_len)
                        break;
                if (len <= e->len && off - e->off <= e->len - len)
                        return e;
        }
        return NULL;
}

bool pst_file_has(const struct pst_file *f, uint64_t off, uint32_t len)
{
        return f->image || ext_find(f, off, len) != NULL;
}

int pst_file_borrow(struct pst_file *f, const void *data, size_t len)
{
        if (len < f->file_size || f->n_ext > 0 || f->image)
                return -EINVAL;
        f->image = data;
        return 0;
}

/* Slots of the image's verified set: 16k pages and blocks (384 KiB).  In
 * an image blocks are mostly read once; B-tree pages are what repeats. */
#define VERIFIED_SLOTS (1u << 14)

static size_t verified_slot(const struct pst_file *f, uint64_t off)
{
        size_t i = (size_t)((off >> 6) * 0x9E3779B97F4A7C15ull >> 48) & (VERIFIED_SLOTS - 1);

        while (f->verified[i].off1 != 0 && f->verified[i].off1 != off + 1)
                i = (i + 1) & (VERIFIED_SLOTS - 1);
        return i;
}

bool pst_file_verified(const struct pst_file *f, const struct pst_extent *e, uint64_t off,
                       uint8_t kind, uint64_t bid)
{
        const struct pst_verified *v;

        if (!f->image)
                return e->off == off && e->vkind == kind && e->vbid == bid;
        if (!f->verified)
                return false;
        v = &f->verified[verified_slot(f, off)];
        return v->off1 == off + 1 && v->kind == kind && v->bid == bid;
}

void pst_file_set_verified(struct pst_file *f, struct pst_extent *e, uint64_t off, uint8_t kind,
                           uint64_t bid)
{
        struct pst_verified *v;

        if (!f->image) {
                /* Only an extent that starts with the page or block says
                 * which one it checked. */
                if (e->off == off) {
                        e->vkind = kind;
                        e->vbid = bid;
                }
                return;
        }
        if (!f->verified) {
                f->verified = calloc(VERIFIED_SLOTS, sizeof(*f->verified));
                if (!f->verified)
                        return; /* not remembering costs only a second check */
        }
        /* Half full: start over rather than grow with the file. */
        if (f->n_verified >= VERIFIED_SLOTS / 2) {
                memset(f->verified, 0, VERIFIED_SLOTS * sizeof(*f->verified));
                f->n_verified = 0;
        }
        v = &f->verified[verified_slot(f, off)];
        if (v->off1 == 0)
                f->n_verified++;
        *v = (struct pst_verified){ .off1 = off + 1, .bid = bid, .kind = kind };
}

int pst_file_get(struct pst_file *f, uint64_t off, uint32_t len, const uint8_t **ret,
                 struct pst_extent **ret_ext, struct pst_want *want)
{
        struct pst_extent *e;

        /* Callers checked the range against file_size, which the image spans. */
        if (f->image) {
                *ret = f->image + off;
                if (ret_ext)
                        *ret_ext = NULL;
                return 0;
        }
        e = ext_find(f, off, len);

        if (!e) {
                want->offset = off;
                want->len = len;
                return -EAGAIN;
        }
        e->lru = ++f->clock;
        e->epoch = f->epoch;
        *ret = e->data + (off - e->off);
        if (ret_ext)
                *ret_ext = e;
        return 0;
}

static void ext_remove(struct pst_file *f, size_t i)
{
        f->cache_bytes -= f->ext[i]->len;
        free(f->ext[i]);
        memmove(f->ext + i, f->ext + i + 1, (f->n_ext - i - 1) * sizeof(*f->ext));
        f->n_ext--;
}

/* Make room for len more bytes by evicting unpinned extents, least recently
 * used first.  False when the running operation's own extents fill it. */
static bool cache_make_room(struct pst_file *f, uint64_t len)
{
        while (f->cache_bytes + len > f->lim.max_cache_bytes) {
                size_t victim = SIZE_MAX;

                for (size_t i = 0; i < f->n_ext; i++)
                        if (f->ext[i]->epoch != f->epoch &&
                            (victim == SIZE_MAX || f->ext[i]->lru < f->ext[victim]->lru))
                                victim = i;
                if (victim == SIZE_MAX)
                        return false;
                ext_remove(f, victim);
        }
        return true;
}

int pst_file_feed(struct pst_file *f, uint64_t offset, const void *data, size_t len)
{
        struct pst_extent *e, *old;
        size_t i;

        if (f->image)
                return offset > f->file_size ? -EINVAL : 0; /* it has every byte */

        if (offset > f->file_size)
                return -EINVAL;
        /* Bytes past the size the decoder was created with are never asked
         * for; a longer read is not an error, the tail is just not kept. */
        len = (size_t)MIN((uint64_t)len, f->file_size - offset);
        if (len == 0)
                return 0;
        if (len > UINT32_MAX || len > f->lim.max_cache_bytes) {
                f->feed_err = -EFBIG;
                return -EFBIG;
        }
        old = ext_find(f, offset, (uint32_t)len);
        if (old) {
                /* Already held (a repeated feed): mark it used, keep one copy. */
                old->lru = ++f->clock;
                old->epoch = f->epoch;
                return 0;
        }
        if (!cache_make_room(f, len)) {
                f->feed_err = -EFBIG;
                return -EFBIG;
        }
        if (f->n_ext == f->cap_ext) {
                size_t ncap = f->cap_ext ? f->cap_ext * 2 : 64;
                struct pst_extent **n = realloc(f->ext, ncap * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                f->ext = n;
                f->cap_ext = ncap;
        }
        e = malloc(sizeof(*e) + len);
        if (!e)
                return -ENOMEM;
        *e = (struct pst_extent){
                .off = offset,
                .len = (uint32_t)len,
                .lru = ++f->clock,
                /* Fed bytes were asked for by the running operation. */
                .epoch = f->epoch,
        };
        memcpy(e->data, data, len);

        i = ext_upper(f, offset);
        memmove(f->ext + i + 1, f->ext + i, (f->n_ext - i) * sizeof(*f->ext));
        f->ext[i] = e;
        f->n_ext++;
        f->cache_bytes += len;
        f->max_ext_len = MAX(f->max_ext_len, (uint32_t)len);
        return 0;
}

int pst_op_begin(struct pst_file *f, struct pst_diag *diag)
{
        int r = f->feed_err;

        if (r == 0)
                return 0;
        f->feed_err = 0;
        f->have_last_want = false;
        f->epoch++;
        return pst_diag_set(diag, r, 0,
                            "decoder cache limit (%" PRIu64 " bytes) too small for this operation",
                            f->lim.max_cache_bytes);
}

int pst_op_end(struct pst_file *f, int r, const struct pst_want *want, struct pst_diag *diag)
{
        if (r != -EAGAIN) {
                f->have_last_want = false;
                f->epoch++;
                return r;
        }
        /* The same want twice in a row: the bytes were not fed (or fed
         * short, the file shrank); asking again would never end. */
        if (f->have_last_want && f->last_want.offset == want->offset &&
            f->last_want.len == want->len) {
                f->have_last_want = false;
                f->epoch++;
                return pst_diag_set(diag, -EIO, want->offset,
                                    "bytes 0x%" PRIx64 "+%" PRIu32 " were asked for but not fed",
                                    want->offset, want->len);
        }
        f->have_last_want = true;
        f->last_want = *want;
        return r;
}
