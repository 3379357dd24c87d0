/* SPDX-License-Identifier: MIT
 *
 * pst-mutator.h - the structure-aware mutator shared by the fuzz targets
 * that take a whole PST file: libFuzzer's mutation, then every CRC put
 * right, so mutants reach the checks behind the CRC gates.  Included by
 * one translation unit per target (it defines LLVMFuzzerCustomMutator).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "pstream/pst.h"

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
