/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-walk.c - the input is a whole file: create a decoder from its
 * header and walk its folders and messages (pst_walk_next()) with the
 * daemon's pull loop, feeding exactly the bytes asked for from the input.
 * Reaches subnode trees, table contexts, the folder hierarchy (cycles,
 * depth), messages, attachments and embedded messages.  The custom mutator
 * repairs CRCs after each mutation so the checks behind them are reached.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pstream/pst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed);
/* Provided by libFuzzer only; weak so the corpus-replay build links. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));

static uint64_t le(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;

        while (n-- > 0)
                v = v << 8 | p[n];
        return v;
}

static void put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the header CRCs, the CRC of every BT page found at a page
 * boundary, and the CRC of every block a BBT leaf lists, so mutants get
 * past the CRC gates to the structure checks (RELIABILITY.md 1.7). */
static void fix_crcs(uint8_t *d, size_t size)
{
        unsigned page, ptr, btr, id, area, align, wide;
        uint16_t wver;

        if (size < PST_HEADER_SIZE || !pst_magic_ok(d, size))
                return;
        wver = (uint16_t)le(d + 10, 2);
        if (wver == 14 || wver == 15)
                page = 512, ptr = 12, btr = 12, id = 4, area = 496, align = 64, wide = 0;
        else if (wver == 21 || wver == 23)
                page = 512, ptr = 16, btr = 16, id = 8, area = 488, align = 64, wide = 0;
        else if (wver == 36)
                page = 4096, ptr = 24, btr = 24, id = 8, area = 4056, align = 512, wide = 1;
        else
                return;
        put32(d + 4, pst_crc32(0, d + 8, 471));
        if (id == 8)
                put32(d + 524, pst_crc32(0, d + 8, 516));

        for (size_t ib = page; ib + page <= size; ib += page) {
                uint8_t *p = d + ib, *tr = p + page - ptr, *c = p + area;
                unsigned c_ent = wide ? (unsigned)le(c, 2) : c[0];
                unsigned cb_ent = c[wide ? 4 : 2], level = c[wide ? 5 : 3];

                if ((tr[0] != 0x80 && tr[0] != 0x81) || tr[1] != tr[0])
                        continue;
                if (tr[0] == 0x80 && level == 0 && cb_ent >= 2 * id + 4) {
                        for (unsigned i = 0; i < c_ent && (i + 1) * cb_ent <= area; i++) {
                                const uint8_t *e = p + i * cb_ent;
                                uint64_t bib = le(e + id, id), cb = le(e + 2 * id, 2);
                                uint64_t span = (cb + btr + align - 1) / align * align;

                                if (bib >= size || span > size - bib)
                                        continue;
                                put32(d + bib + span - btr + (id == 4 ? 8 : 4),
                                      pst_crc32(0, d + bib, cb));
                        }
                }
                put32(tr + (id == 4 ? 8 : 4), pst_crc32(0, p, page - ptr));
        }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed)
{
        (void)seed;
        if (!LLVMFuzzerMutate)
                return size;
        size = LLVMFuzzerMutate(data, size, max_size);
        fix_crcs(data, size);
        return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* Small enough that the fuzzer reaches the cache limit too. */
        const struct pst_limits lim = { .max_cache_bytes = 1u << 20, .max_depth = 16 };
        const struct pst_walk_opts opts = { .messages = true };
        struct pst_walk_item it;
        struct pst_diag diag;
        struct pst_walk *w;
        struct pst_file *f;
        struct pst_want want;
                int r;

        if (pst_file_new(data, size < PST_HEADER_SIZE ? size : PST_HEADER_SIZE, size, &lim, &f,
                         &diag) < 0)
                return 0;
        if (pst_walk_new(f, &opts, &w) < 0) {
                pst_file_free(f);
                return 0;
        }
        while ((r = pst_walk_next(w, &it, &want, &diag)) != 0) {
                if (r == -EAGAIN) {
                        /* The decoder checks ranges against the size it was given. */
                        assert(want.len > 0 && want.offset < size && want.len <= size - want.offset);
                        (void)pst_file_feed(f, want.offset, data + want.offset, want.len);
                        continue;
                }
                if (r < 0) {
                        assert(r == -EIO || r == -ENOMEM);
                        break;
                }
                assert(r == 1);
                if (it.kind == PST_WALK_FOLDER) {
                        assert(memchr(it.folder.name, '\0', sizeof(it.folder.name)) != NULL);
                        assert(it.folder.depth <= PST_WALK_MAX_DEPTH);
                } else if (it.kind == PST_WALK_MESSAGE) {
                        assert(memchr(it.message.subject, '\0', sizeof(it.message.subject)) != NULL);
                        assert(it.message.n_attachments <= it.message.n_attachments_all);
                } else {
                        assert(it.kind == PST_WALK_PROBLEM && it.problem.error < 0);
                }
        }
        pst_walk_free(w);
        pst_file_free(f);
        return 0;
}
