/* SPDX-License-Identifier: MIT
 *
 * pst-write-items.c - items of the item model for the writer's tests (see
 * pst-write-items.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/pst/pst-write-items.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

uint64_t pstwi_rand(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* Everything a message points to, freed once it is written. */
static void *pool[1 << 16];
static size_t n_pool;

void *pstwi_take(void *p)
{
        if (!p || n_pool == sizeof(pool) / sizeof(pool[0])) {
                fprintf(stderr, "out of memory\n");
                exit(1);
        }
        pool[n_pool++] = p;
        return p;
}

void *pstwi_zalloc(size_t n)
{
        return pstwi_take(calloc(1, n ? n : 1));
}

void pstwi_pool_free(void)
{
        while (n_pool)
                free(pool[--n_pool]);
}

char *pstwi_fmt(const char *f, ...)
{
        va_list ap;
        char *s;

        va_start(ap, f);
        if (vasprintf(&s, f, ap) < 0)
                s = NULL;
        va_end(ap);
        return pstwi_take(s);
}

char *pstwi_text(size_t len)
{
        static const char *const words[] = { "alpha", "bravo", "charlie", "delta", "echo", "fox" };
        char *s = pstwi_zalloc(len + 16);
        size_t o = 0;

        while (o < len)
                o += (size_t)sprintf(s + o, "%s%s", words[pstwi_rand() % 6],
                                     pstwi_rand() % 9 ? " " : "\r\n");
        s[len] = 0;
        return s;
}

uint8_t *pstwi_bytes(size_t len)
{
        uint8_t *p = pstwi_take(malloc(len ? len : 1));

        for (size_t i = 0; i < len; i++)
                p[i] = (uint8_t)(pstwi_rand() >> 29);
        return p;
}

/* ---- properties ------------------------------------------------------------- */

struct pst_prop *pstwi_add(struct pstwi_props *b, uint16_t id, uint16_t type)
{
        if (b->n == b->cap) {
                struct pst_prop *np = pstwi_zalloc(sizeof(*np) * (b->cap ? 2 * b->cap : 32));

                if (b->n)
                        memcpy(np, b->p, sizeof(*np) * b->n);
                b->p = np;
                b->cap = b->cap ? 2 * b->cap : 32;
        }
        b->p[b->n] = (struct pst_prop){ .id = id, .type = type };
        return &b->p[b->n++];
}

void pstwi_add_str(struct pstwi_props *b, uint16_t id, const char *s)
{
        struct pst_prop *p = pstwi_add(b, id, PST_PT_UNICODE);

        p->v.data = (const uint8_t *)s;
        p->v.len = strlen(s);
}

void pstwi_add_int(struct pstwi_props *b, uint16_t id, uint16_t type, int64_t v)
{
        pstwi_add(b, id, type)->v.i = v;
}

/* ---- messages ------------------------------------------------------------------ */

void pstwi_add_all_types(struct pstwi_props *b)
{
        static const uint8_t guid[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                          0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
        static const uint8_t ps_public_strings[16] = { 0x29, 0x03, 0x02, 0x00, 0x00, 0x00,
                                                       0x00, 0x00, 0xC0, 0x00, 0x00, 0x00,
                                                       0x00, 0x00, 0x00, 0x46 };
        struct pst_named *n = pstwi_zalloc(3 * sizeof(*n));
        struct pst_value *mv;
        struct pst_prop *p;

        pstwi_add_int(b, 0x6600, PST_PT_I2, -1234);
        pstwi_add_int(b, 0x6601, PST_PT_I4, -123456789);
        pstwi_add(b, 0x6602, PST_PT_R4)->v.d = 1.5;
        pstwi_add(b, 0x6603, PST_PT_R8)->v.d = -2.25e100;
        pstwi_add_int(b, 0x6604, PST_PT_CURRENCY, 123456789012345ll);
        pstwi_add(b, 0x6605, PST_PT_APPTIME)->v.d = 45000.5;
        pstwi_add_int(b, 0x6606, PST_PT_ERROR, 0x80040107);
        pstwi_add_int(b, 0x6607, PST_PT_BOOLEAN, 1);
        pstwi_add_int(b, 0x6608, PST_PT_I8, -1234567890123456789ll);
        p = pstwi_add(b, 0x6609, PST_PT_STRING8);
        p->v.data = (const uint8_t *)"eight-bit text";
        p->v.len = 14;
        pstwi_add_int(b, 0x660A, PST_PT_SYSTIME, 133000000000000000ll);
        p = pstwi_add(b, 0x660B, PST_PT_CLSID);
        p->v.data = guid;
        p->v.len = 16;
        p = pstwi_add(b, 0x660C, PST_PT_BINARY);
        p->v.data = pstwi_bytes(300);
        p->v.len = 300;
        p = pstwi_add(b, 0x661A, PST_PT_SVREID);
        p->v.data = pstwi_bytes(21), p->v.len = 21;
        p = pstwi_add(b, 0x661B, PST_PT_SRESTRICT);
        p->v.data = pstwi_bytes(33), p->v.len = 33;
        p = pstwi_add(b, 0x661C, PST_PT_ACTIONS);
        p->v.data = pstwi_bytes(47), p->v.len = 47;
        p = pstwi_add(b, 0x660D, PST_PT_BINARY); /* larger than a heap allocation */
        p->v.data = pstwi_bytes(20000);
        p->v.len = 20000;
        /* Multi-valued, fixed and variable. */
        mv = pstwi_zalloc(3 * sizeof(*mv));
        mv[0].i = 1, mv[1].i = -2, mv[2].i = 3;
        p = pstwi_add(b, 0x6610, PST_PT_MV | PST_PT_I4);
        p->mv = mv, p->count = 3;
        p = pstwi_add(b, 0x6611, PST_PT_MV | PST_PT_I2);
        p->mv = mv, p->count = 3;
        p = pstwi_add(b, 0x6612, PST_PT_MV | PST_PT_I8);
        p->mv = mv, p->count = 3;
        p = pstwi_add(b, 0x6613, PST_PT_MV | PST_PT_SYSTIME);
        p->mv = mv, p->count = 2;
        p = pstwi_add(b, 0x661D, PST_PT_MV | PST_PT_CURRENCY);
        p->mv = mv, p->count = 3;
        mv = pstwi_zalloc(2 * sizeof(*mv));
        mv[0].d = 0.5, mv[1].d = -7.75;
        p = pstwi_add(b, 0x6614, PST_PT_MV | PST_PT_R8);
        p->mv = mv, p->count = 2;
        p = pstwi_add(b, 0x6615, PST_PT_MV | PST_PT_R4);
        p->mv = mv, p->count = 2;
        p = pstwi_add(b, 0x661E, PST_PT_MV | PST_PT_APPTIME);
        p->mv = mv, p->count = 2;
        mv = pstwi_zalloc(3 * sizeof(*mv));
        mv[0].data = (const uint8_t *)"first", mv[0].len = 5;
        mv[1].data = (const uint8_t *)"", mv[1].len = 0;
        mv[2].data = (const uint8_t *)"th\xc3\xaerd \xe2\x82\xac", mv[2].len = 10;
        p = pstwi_add(b, 0x6616, PST_PT_MV | PST_PT_UNICODE);
        p->mv = mv, p->count = 3;
        p = pstwi_add(b, 0x6617, PST_PT_MV | PST_PT_STRING8);
        p->mv = mv, p->count = 2;
        p = pstwi_add(b, 0x6618, PST_PT_MV | PST_PT_BINARY);
        p->mv = mv, p->count = 3;
        mv = pstwi_zalloc(2 * sizeof(*mv));
        mv[0].data = guid, mv[0].len = 16;
        mv[1].data = ps_public_strings, mv[1].len = 16;
        p = pstwi_add(b, 0x6619, PST_PT_MV | PST_PT_CLSID);
        p->mv = mv, p->count = 2;
        /* Named: numeric in a custom set, string in PS_PUBLIC_STRINGS. */
        memcpy(n[0].guid, guid, 16);
        n[0].lid = 0x8501;
        memcpy(n[1].guid, ps_public_strings, 16);
        n[1].is_string = true;
        n[1].name = "Keywords-Sample";
        memcpy(n[2].guid, guid, 16);
        n[2].is_string = true;
        n[2].name = "X-Custom-\xc3\xa9t\xc3\xa9";
        p = pstwi_add(b, 0x8000, PST_PT_I4);
        p->named = &n[0], p->v.i = 42;
        p = pstwi_add(b, 0x8001, PST_PT_MV | PST_PT_UNICODE);
        p->named = &n[1], p->mv = mv, p->count = 0;
        p = pstwi_add(b, 0x8002, PST_PT_UNICODE);
        p->named = &n[2], p->v.data = (const uint8_t *)"named value", p->v.len = 11;
}

struct pst_msg *pstwi_message(const char *subject, const struct pstwi_opts *o, unsigned depth)
{
        struct pst_msg *m = pstwi_zalloc(sizeof(*m));
        struct pstwi_props b = {};
        char *sender = pstwi_fmt("sender%u@example.com", (unsigned)(pstwi_rand() % 1000));
        struct pst_recipient *rc = pstwi_zalloc(sizeof(*rc) * o->n_rcpt);
        struct pst_attachment *at = pstwi_zalloc(sizeof(*at) * (o->n_att + (o->embedded ? 1 : 0)));

        pstwi_add_str(&b, 0x0037, subject);
        pstwi_add_str(&b, 0x1000, pstwi_text(o->body_len));
        pstwi_add_str(&b, 0x001A, "IPM.Note");
        pstwi_add_str(&b, 0x0C1A, "Sample Sender");
        pstwi_add_str(&b, 0x0C1F, sender);
        pstwi_add_str(&b, 0x0C1E, "SMTP");
        pstwi_add_str(&b, 0x5D01, sender);
        pstwi_add_str(&b, 0x0042, "Sample Sender");
        pstwi_add_str(&b, 0x0065, sender);
        pstwi_add_str(&b, 0x0064, "SMTP");
        pstwi_add_str(&b, 0x1035,
                      pstwi_fmt("<%llx@example.com>", (unsigned long long)pstwi_rand()));
        pstwi_add_int(&b, 0x0039, PST_PT_SYSTIME,
                      132000000000000000ll + (int64_t)(pstwi_rand() % 10000000000000ull));
        pstwi_add_int(&b, 0x0E06, PST_PT_SYSTIME,
                      132000000000000000ll + (int64_t)(pstwi_rand() % 10000000000000ull));
        if (o->all_types)
                pstwi_add_all_types(&b);
        for (unsigned i = 0; i < o->n_rcpt; i++) {
                struct pstwi_props r = {};
                char *a = pstwi_fmt("rcpt%u@example.org", i);

                pstwi_add_int(&r, 0x0C15, PST_PT_I4, i % 3 + 1);
                pstwi_add_str(&r, 0x3001, pstwi_fmt("Recipient %u", i));
                pstwi_add_str(&r, 0x3002, "SMTP");
                pstwi_add_str(&r, 0x3003, a);
                pstwi_add_str(&r, 0x39FE, a);
                rc[i] = (struct pst_recipient){ r.p, r.n };
        }
        for (unsigned i = 0; i < o->n_att; i++) {
                struct pstwi_props a = {};
                size_t len = o->att_len + i;
                char *name = pstwi_fmt("file%u-%u.bin", depth, i);

                pstwi_add_int(&a, 0x3705, PST_PT_I4, 1);
                pstwi_add_str(&a, 0x3707, name);
                pstwi_add_str(&a, 0x3704, name);
                pstwi_add_str(&a, 0x3001, name);
                pstwi_add_str(&a, 0x370E, "application/octet-stream");
                at[i] = (struct pst_attachment){ a.p, a.n, pstwi_bytes(len), len, NULL };
        }
        if (o->embedded && depth < 2) {
                struct pstwi_props a = {};
                struct pstwi_opts eo = {
                        .body_len = 500, .n_rcpt = 1, .n_att = 1, .att_len = 1000, .embedded = true
                };

                pstwi_add_int(&a, 0x3705, PST_PT_I4, 5);
                pstwi_add_str(&a, 0x3001, pstwi_fmt("embedded level %u", depth + 1));
                at[o->n_att] =
                    (struct pst_attachment){ a.p, a.n, NULL, 0,
                                             pstwi_message(pstwi_fmt("Embedded %u", depth + 1), &eo,
                                                           depth + 1) };
        }
        m->props = b.p;
        m->n_props = b.n;
        m->recipients = rc;
        m->n_recipients = o->n_rcpt;
        m->attachments = at;
        m->n_attachments = o->n_att + (o->embedded && depth < 2);
        return m;
}
