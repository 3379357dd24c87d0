/* SPDX-License-Identifier: MIT
 *
 * pst-write-items.h - messages of the item model (pst.h) for the writer's
 * tests: deterministic pseudo-random text, bytes, recipients, attachments,
 * embedded messages and a property of every type (multi-valued and named
 * ones too).  Everything allocated lives in a pool freed by
 * pstwi_pool_free().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pstream/pst.h"

struct pstwi_props {
        struct pst_prop *p;
        size_t n, cap;
};
/* What pstwi_message() puts in a message. */
struct pstwi_opts {
        size_t body_len;
        unsigned n_rcpt;
        unsigned n_att;
        size_t att_len;
        bool embedded;
        bool all_types;
};

uint64_t pstwi_rand(void);
void *pstwi_take(void *p);
void *pstwi_zalloc(size_t n);
void pstwi_pool_free(void);
char *pstwi_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
char *pstwi_text(size_t len);
uint8_t *pstwi_bytes(size_t len);
struct pst_prop *pstwi_add(struct pstwi_props *b, uint16_t id, uint16_t type);
void pstwi_add_str(struct pstwi_props *b, uint16_t id, const char *s);
void pstwi_add_int(struct pstwi_props *b, uint16_t id, uint16_t type, int64_t v);
/* Properties 0x6600-0x6619 of every type, incl. multi-valued, and three
 * named ones (numeric, and strings in PS_PUBLIC_STRINGS and a custom set). */
void pstwi_add_all_types(struct pstwi_props *b);
/* A message: subject, body, sender, times, and what o asks for; embedded
 * messages nest two levels deep. */
struct pst_msg *pstwi_message(const char *subject, const struct pstwi_opts *o, unsigned depth);
