/* SPDX-License-Identifier: MIT
 *
 * pst-gen.h - a writer of minimal synthetic PST files for tests and fuzz
 * seeds: header + NBT leaf + BBT leaf + the message-store PC (one data
 * block, or two behind an XBLOCK), in any of the three variants and
 * encodings.  The layout is exposed so tests can corrupt one structure and
 * call pst_gen_fix() to recompute every CRC, reaching the checks past it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pstream/pst.h"

struct pst_gen_opts {
        enum pst_format format;
        enum pst_crypt crypt;
        uint32_t password;   /* PidTagPstPassword */
        const char *name;    /* ASCII store name; NULL stores HID 0 (empty) */
        bool xblock;         /* heap in two blocks behind an XBLOCK */
        bool compress;       /* 4K: zlib the external blocks */
        bool bid_bit0;       /* reference the data with reserved bit 0 set */
};

#define PST_GEN_MAX_BLOCKS 3

struct pst_gen_block {
        uint64_t bid;
        uint64_t ib;
        uint32_t cb;   /* stored bytes */
        uint32_t span; /* on disk */
};

struct pst_gen {
        uint8_t *buf;
        size_t size;
        enum pst_format format;
        uint32_t page_size, page_trailer, block_trailer, id_size, bt_area;
        uint64_t nbt_bid, nbt_ib, bbt_bid, bbt_ib;
        uint64_t data_bid; /* the NBT's bidData for NID 0x21 */
        /* blk[0], blk[1]: data blocks (blk[1] only with xblock); blk[2]: the XBLOCK */
        struct pst_gen_block blk[PST_GEN_MAX_BLOCKS];
        unsigned n_blk;
};

/* Build a file into g (g->buf is malloc'd).  Returns 0 or -ENOMEM. */
int pst_gen_build(const struct pst_gen_opts *o, struct pst_gen *g);

/* Recompute the header CRCs, both page CRCs and every block CRC (over the
 * cb bytes each block trailer declares, clamped to its span). */
void pst_gen_fix(struct pst_gen *g);

void pst_gen_free(struct pst_gen *g);

/* Offset of the counts (cEnt...) of the BT page at ib. */
uint64_t pst_gen_counts(const struct pst_gen *g, uint64_t page_ib);

/* Run pst_store_info() to completion over a file held in memory, feeding
 * exactly what is asked (pread-like: short at EOF).  Counts rounds and
 * bytes fed when the pointers are not NULL. */
int pst_gen_pull_store(struct pst_file *f, const uint8_t *file, size_t size,
                       struct pst_store_info *ret, struct pst_diag *diag, unsigned *rounds,
                       uint64_t *fed);

/* pst_file_new() on an in-memory file + pst_gen_pull_store(). */
int pst_gen_store_info(const uint8_t *file, size_t size, const struct pst_limits *lim,
                       struct pst_store_info *ret, struct pst_diag *diag);
