/* SPDX-License-Identifier: MIT
 *
 * pst-write-sample.c - write a PST with pstw_* for one scenario and print,
 * as JSON, what was written: per folder path, each message's subject, body
 * (SHA-256), recipients and attachments (name, size, SHA-256), embedded
 * messages included.  test-pst-write-tools.py compares that with what
 * pffexport and readpst export from the file.
 *
 *     pst-write-sample SCENARIO OUT.pst > manifest.json
 *
 * Scenarios (scenario() below): basic, full, many, big, and huge (>= 2 GiB).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdarg.h>
#include <openssl/sha.h>

#include "pstream/pst-write.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* Everything a message points to, freed once it is written. */
static void *pool[1 << 16];
static size_t n_pool;

static void *take(void *p)
{
        if (!p || n_pool == sizeof(pool) / sizeof(pool[0])) {
                fprintf(stderr, "out of memory\n");
                exit(1);
        }
        pool[n_pool++] = p;
        return p;
}

static void *zalloc(size_t n)
{
        return take(calloc(1, n ? n : 1));
}

static void pool_free(void)
{
        while (n_pool)
                free(pool[--n_pool]);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
        va_list ap;
        char *s;

        va_start(ap, f);
        if (vasprintf(&s, f, ap) < 0)
                s = NULL;
        va_end(ap);
        return take(s);
}

static char *text(size_t len)
{
        static const char *const words[] = { "alpha", "bravo", "charlie", "delta", "echo", "fox" };
        char *s = zalloc(len + 16);
        size_t o = 0;

        while (o < len)
                o += (size_t)sprintf(s + o, "%s%s", words[next_rand() % 6],
                                     next_rand() % 9 ? " " : "\r\n");
        s[len] = 0;
        return s;
}

static uint8_t *bytes(size_t len)
{
        uint8_t *p = take(malloc(len ? len : 1));

        for (size_t i = 0; i < len; i++)
                p[i] = (uint8_t)(next_rand() >> 29);
        return p;
}

/* ---- properties ------------------------------------------------------------- */

struct props {
        struct pst_prop *p;
        size_t n, cap;
};

static struct pst_prop *add(struct props *b, uint16_t id, uint16_t type)
{
        if (b->n == b->cap) {
                struct pst_prop *np = zalloc(sizeof(*np) * (b->cap ? 2 * b->cap : 32));

                if (b->n)
                        memcpy(np, b->p, sizeof(*np) * b->n);
                b->p = np;
                b->cap = b->cap ? 2 * b->cap : 32;
        }
        b->p[b->n] = (struct pst_prop){ .id = id, .type = type };
        return &b->p[b->n++];
}

static void add_str(struct props *b, uint16_t id, const char *s)
{
        struct pst_prop *p = add(b, id, PST_PT_UNICODE);

        p->v.data = (const uint8_t *)s;
        p->v.len = strlen(s);
}

static void add_int(struct props *b, uint16_t id, uint16_t type, int64_t v)
{
        add(b, id, type)->v.i = v;
}

/* ---- messages ------------------------------------------------------------------ */

struct opts {
        size_t body_len;
        unsigned n_rcpt;
        unsigned n_att;
        size_t att_len;
        bool embedded;
        bool all_types;
};

static struct pst_msg *message(const char *subject, const struct opts *o, unsigned depth);

static void add_all_types(struct props *b)
{
        static const uint8_t guid[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                          0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
        static const uint8_t ps_public_strings[16] = { 0x29, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
                                                       0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 };
        struct pst_named *n = zalloc(3 * sizeof(*n));
        struct pst_value *mv;
        struct pst_prop *p;

        add_int(b, 0x6600, PST_PT_I2, -1234);
        add_int(b, 0x6601, PST_PT_I4, -123456789);
        add(b, 0x6602, PST_PT_R4)->v.d = 1.5;
        add(b, 0x6603, PST_PT_R8)->v.d = -2.25e100;
        add_int(b, 0x6604, PST_PT_CURRENCY, 123456789012345ll);
        add(b, 0x6605, PST_PT_APPTIME)->v.d = 45000.5;
        add_int(b, 0x6606, PST_PT_ERROR, 0x80040107);
        add_int(b, 0x6607, PST_PT_BOOLEAN, 1);
        add_int(b, 0x6608, PST_PT_I8, -1234567890123456789ll);
        p = add(b, 0x6609, PST_PT_STRING8);
        p->v.data = (const uint8_t *)"eight-bit text";
        p->v.len = 14;
        add_int(b, 0x660A, PST_PT_SYSTIME, 133000000000000000ll);
        p = add(b, 0x660B, PST_PT_CLSID);
        p->v.data = guid;
        p->v.len = 16;
        p = add(b, 0x660C, PST_PT_BINARY);
        p->v.data = bytes(300);
        p->v.len = 300;
        p = add(b, 0x660D, PST_PT_BINARY); /* larger than a heap allocation */
        p->v.data = bytes(20000);
        p->v.len = 20000;
        /* Multi-valued, fixed and variable. */
        mv = zalloc(3 * sizeof(*mv));
        mv[0].i = 1, mv[1].i = -2, mv[2].i = 3;
        p = add(b, 0x6610, PST_PT_MV | PST_PT_I4);
        p->mv = mv, p->count = 3;
        p = add(b, 0x6611, PST_PT_MV | PST_PT_I2);
        p->mv = mv, p->count = 3;
        p = add(b, 0x6612, PST_PT_MV | PST_PT_I8);
        p->mv = mv, p->count = 3;
        p = add(b, 0x6613, PST_PT_MV | PST_PT_SYSTIME);
        p->mv = mv, p->count = 2;
        mv = zalloc(2 * sizeof(*mv));
        mv[0].d = 0.5, mv[1].d = -7.75;
        p = add(b, 0x6614, PST_PT_MV | PST_PT_R8);
        p->mv = mv, p->count = 2;
        p = add(b, 0x6615, PST_PT_MV | PST_PT_R4);
        p->mv = mv, p->count = 2;
        mv = zalloc(3 * sizeof(*mv));
        mv[0].data = (const uint8_t *)"first", mv[0].len = 5;
        mv[1].data = (const uint8_t *)"", mv[1].len = 0;
        mv[2].data = (const uint8_t *)"th\xc3\xaerd \xe2\x82\xac", mv[2].len = 10;
        p = add(b, 0x6616, PST_PT_MV | PST_PT_UNICODE);
        p->mv = mv, p->count = 3;
        p = add(b, 0x6617, PST_PT_MV | PST_PT_STRING8);
        p->mv = mv, p->count = 2;
        p = add(b, 0x6618, PST_PT_MV | PST_PT_BINARY);
        p->mv = mv, p->count = 3;
        mv = zalloc(2 * sizeof(*mv));
        mv[0].data = guid, mv[0].len = 16;
        mv[1].data = ps_public_strings, mv[1].len = 16;
        p = add(b, 0x6619, PST_PT_MV | PST_PT_CLSID);
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
        p = add(b, 0x8000, PST_PT_I4);
        p->named = &n[0], p->v.i = 42;
        p = add(b, 0x8001, PST_PT_MV | PST_PT_UNICODE);
        p->named = &n[1], p->mv = mv, p->count = 0;
        p = add(b, 0x8002, PST_PT_UNICODE);
        p->named = &n[2], p->v.data = (const uint8_t *)"named value", p->v.len = 11;
}

static struct pst_msg *message(const char *subject, const struct opts *o, unsigned depth)
{
        struct pst_msg *m = zalloc(sizeof(*m));
        struct props b = {};
        char *sender = fmt("sender%u@example.com", (unsigned)(next_rand() % 1000));
        struct pst_recipient *rc = zalloc(sizeof(*rc) * o->n_rcpt);
        struct pst_attachment *at = zalloc(sizeof(*at) * (o->n_att + (o->embedded ? 1 : 0)));

        add_str(&b, 0x0037, subject);
        add_str(&b, 0x1000, text(o->body_len));
        add_str(&b, 0x001A, "IPM.Note");
        add_str(&b, 0x0C1A, "Sample Sender");
        add_str(&b, 0x0C1F, sender);
        add_str(&b, 0x0C1E, "SMTP");
        add_str(&b, 0x5D01, sender);
        add_str(&b, 0x0042, "Sample Sender");
        add_str(&b, 0x0065, sender);
        add_str(&b, 0x0064, "SMTP");
        add_str(&b, 0x1035, fmt("<%llx@example.com>", (unsigned long long)next_rand()));
        add_int(&b, 0x0039, PST_PT_SYSTIME, 132000000000000000ll + (int64_t)(next_rand() % 10000000000000ull));
        add_int(&b, 0x0E06, PST_PT_SYSTIME, 132000000000000000ll + (int64_t)(next_rand() % 10000000000000ull));
        if (o->all_types)
                add_all_types(&b);
        for (unsigned i = 0; i < o->n_rcpt; i++) {
                struct props r = {};
                char *a = fmt("rcpt%u@example.org", i);

                add_int(&r, 0x0C15, PST_PT_I4, i % 3 + 1);
                add_str(&r, 0x3001, fmt("Recipient %u", i));
                add_str(&r, 0x3002, "SMTP");
                add_str(&r, 0x3003, a);
                add_str(&r, 0x39FE, a);
                rc[i] = (struct pst_recipient){ r.p, r.n };
        }
        for (unsigned i = 0; i < o->n_att; i++) {
                struct props a = {};
                size_t len = o->att_len + i;
                char *name = fmt("file%u-%u.bin", depth, i);

                add_int(&a, 0x3705, PST_PT_I4, 1);
                add_str(&a, 0x3707, name);
                add_str(&a, 0x3704, name);
                add_str(&a, 0x3001, name);
                add_str(&a, 0x370E, "application/octet-stream");
                at[i] = (struct pst_attachment){ a.p, a.n, bytes(len), len, NULL };
        }
        if (o->embedded && depth < 2) {
                struct props a = {};
                struct opts eo = { .body_len = 500, .n_rcpt = 1, .n_att = 1, .att_len = 1000,
                                   .embedded = true };

                add_int(&a, 0x3705, PST_PT_I4, 5);
                add_str(&a, 0x3001, fmt("embedded level %u", depth + 1));
                at[o->n_att] = (struct pst_attachment){ a.p, a.n, NULL, 0,
                                                        message(fmt("Embedded %u", depth + 1), &eo,
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

/* ---- the manifest ---------------------------------------------------------------- */

static const struct pst_prop *find(const struct pst_prop *p, size_t n, uint16_t id)
{
        for (size_t i = 0; i < n; i++)
                if (p[i].id == id && !p[i].named)
                        return &p[i];
        return NULL;
}

static void jstr(const char *s, size_t n)
{
        putchar('"');
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '"' || s[i] == '\\')
                        printf("\\%c", s[i]);
                else if ((unsigned char)s[i] < 0x20)
                        printf("\\u%04x", s[i]);
                else
                        putchar(s[i]);
        }
        putchar('"');
}

static void sha(const void *p, size_t n)
{
        uint8_t d[32];

        SHA256(p, n, d);
        putchar('"');
        for (unsigned i = 0; i < 32; i++)
                printf("%02x", d[i]);
        putchar('"');
}

static void print_msg(const struct pst_msg *m)
{
        const struct pst_prop *s = find(m->props, m->n_props, 0x0037);
        const struct pst_prop *body = find(m->props, m->n_props, 0x1000);

        printf("{\"subject\": ");
        jstr((const char *)s->v.data, s->v.len);
        printf(", \"body_sha256\": ");
        sha(body->v.data, body->v.len);
        printf(", \"body_len\": %zu, \"body\": ", body->v.len);
        jstr((const char *)body->v.data, body->v.len);
        printf(", \"recipients\": [");
        for (size_t i = 0; i < m->n_recipients; i++) {
                const struct pst_recipient *rc = &m->recipients[i];
                const struct pst_prop *a = find(rc->props, rc->n_props, 0x3003);
                const struct pst_prop *n = find(rc->props, rc->n_props, 0x3001);

                printf("%s{\"type\": %d, \"name\": ", i ? ", " : "",
                       (int)find(rc->props, rc->n_props, 0x0C15)->v.i);
                jstr((const char *)n->v.data, n->v.len);
                printf(", \"email\": ");
                jstr((const char *)a->v.data, a->v.len);
                printf("}");
        }
        printf("], \"attachments\": [");
        for (size_t i = 0; i < m->n_attachments; i++) {
                const struct pst_attachment *a = &m->attachments[i];

                printf("%s", i ? ", " : "");
                if (a->embedded) {
                        printf("{\"embedded\": ");
                        print_msg(a->embedded);
                        printf("}");
                        continue;
                }
                printf("{\"name\": ");
                s = find(a->props, a->n_props, 0x3707);
                jstr((const char *)s->v.data, s->v.len);
                printf(", \"size\": %zu, \"sha256\": ", a->len);
                sha(a->data, a->len);
                printf("}");
        }
        printf("]}");
}

/* ---- scenarios --------------------------------------------------------------------- */

struct ctx {
        struct pstw *w;
        bool first_folder;
        bool first_msg;
        char fai[4096]; /* JSON list items: FAI subjects of the folder */
};

static void folder_begin(struct ctx *c, const char *path)
{
        printf("%s\n  {\"path\": ", c->first_folder ? "" : ",");
        jstr(path, strlen(path));
        printf(", \"messages\": [");
        c->first_folder = false;
        c->first_msg = true;
        c->fai[0] = 0;
}

static void folder_end(struct ctx *c)
{
        printf("], \"fai\": [%s]}", c->fai);
}

static int put(struct ctx *c, uint32_t folder, bool fai, struct pst_msg *m)
{
        int r = pstw_message(c->w, folder, fai, m, NULL);

        if (r < 0)
                return r;
        if (!fai) {
                printf("%s\n    ", c->first_msg ? "" : ",");
                print_msg(m);
                c->first_msg = false;
        } else {
                const struct pst_prop *s = find(m->props, m->n_props, 0x0037);

                snprintf(c->fai + strlen(c->fai), sizeof(c->fai) - strlen(c->fai), "%s\"%.*s\"",
                         c->fai[0] ? ", " : "", (int)s->v.len, (const char *)s->v.data);
        }
        pool_free();
        return 0;
}

static int folder(struct ctx *c, uint32_t parent, const char *name, uint32_t *nid)
{
        return pstw_folder(c->w, parent, name, "IPF.Note", nid);
}

#define CHECK(x)                                                                                   \
        do {                                                                                       \
                int r_ = (x);                                                                      \
                if (r_ < 0)                                                                        \
                        return r_;                                                                 \
        } while (0)

static int scenario(struct ctx *c, const char *name)
{
        uint32_t inbox, sub, subsub, sent, bulk;

        if (strcmp(name, "basic") == 0) {
                struct opts o = { .body_len = 200, .n_rcpt = 2, .n_att = 1, .att_len = 500 };

                CHECK(folder(c, 0, "Inbox", &inbox));
                CHECK(folder(c, inbox, "Sub", &sub));
                CHECK(folder(c, 0, "Sent Items", &sent));
                folder_begin(c, "Inbox");
                for (unsigned i = 0; i < 5; i++)
                        CHECK(put(c, inbox, false, message(fmt("Inbox message %u", i), &o, 0)));
                folder_end(c);
                folder_begin(c, "Inbox/Sub");
                CHECK(put(c, sub, false, message("Sub message", &o, 0)));
                folder_end(c);
                folder_begin(c, "Sent Items");
                o.n_att = 0;
                CHECK(put(c, sent, false, message("Sent message", &o, 0)));
                folder_end(c);
                return 0;
        }
        if (strcmp(name, "full") == 0) {
                struct opts big = { .body_len = 100000, .n_rcpt = 5, .n_att = 2,
                                    .att_len = 3 * 1024 * 1024, .embedded = true, .all_types = true };
                struct opts small = { .body_len = 50, .n_rcpt = 1 };

                CHECK(folder(c, 0, "Inbox", &inbox));
                CHECK(folder(c, inbox, "Level 1", &sub));
                CHECK(folder(c, sub, "Level 2 \xc3\xa9t\xc3\xa9", &subsub));
                folder_begin(c, "Inbox");
                CHECK(put(c, inbox, false, message("Every feature \xe2\x82\xac \xe4\xb8\x96", &big, 0)));
                CHECK(put(c, inbox, false, message("Small", &small, 0)));
                CHECK(put(c, inbox, true, message("FAI item", &small, 0)));
                folder_end(c);
                folder_begin(c, "Inbox/Level 1");
                CHECK(put(c, sub, false, message("Level one", &small, 0)));
                folder_end(c);
                folder_begin(c, "Inbox/Level 1/Level 2 \xc3\xa9t\xc3\xa9");
                small.n_att = 1;
                small.att_len = 10;
                CHECK(put(c, subsub, false, message("Level two", &small, 0)));
                folder_end(c);
                return 0;
        }
        if (strcmp(name, "many") == 0) {
                struct opts o = { .body_len = 100, .n_rcpt = 1 };
                struct opts wide = { .body_len = 100, .n_rcpt = 3000 };

                CHECK(folder(c, 0, "Bulk", &bulk));
                folder_begin(c, "Bulk");
                CHECK(put(c, bulk, false, message("Many recipients", &wide, 0)));
                for (unsigned i = 0; i < 4000; i++)
                        CHECK(put(c, bulk, false,
                                  message(fmt("Bulk message %05u with a longish subject line", i),
                                          &o, 0)));
                folder_end(c);
                /* Many folders: a deep hierarchy table and NBT. */
                CHECK(folder(c, 0, "Folders", &sub));
                for (unsigned i = 0; i < 300; i++) {
                        char *n = fmt("Folder %03u", i);

                        CHECK(folder(c, sub, n, &subsub));
                        folder_begin(c, fmt("Folders/%s", n));
                        CHECK(put(c, subsub, false, message(fmt("In folder %u", i), &o, 0)));
                        folder_end(c);
                }
                return 0;
        }
        if (strcmp(name, "big") == 0) {
                struct opts o = { .body_len = 1000, .n_rcpt = 1, .n_att = 1,
                                  .att_len = 40 * 1024 * 1024 };

                CHECK(folder(c, 0, "Big", &bulk));
                folder_begin(c, "Big");
                CHECK(put(c, bulk, false, message("Forty MiB attachment", &o, 0)));
                folder_end(c);
                return 0;
        }
        if (strcmp(name, "huge") == 0) {
                struct opts o = { .body_len = 2000, .n_rcpt = 2, .n_att = 1,
                                  .att_len = 8 * 1024 * 1024 };

                CHECK(folder(c, 0, "Huge", &bulk));
                folder_begin(c, "Huge");
                for (unsigned i = 0; i < 260; i++)
                        CHECK(put(c, bulk, false, message(fmt("Huge %03u", i), &o, 0)));
                folder_end(c);
                return 0;
        }
        fprintf(stderr, "unknown scenario %s\n", name);
        return -EINVAL;
}

int main(int argc, char **argv)
{
        struct pstw_opts o = { .crypt = PST_CRYPT_NONE };
        struct pst_diag diag = {};
        struct ctx c = { .first_folder = true };
        int fd, r;

        if (argc != 3) {
                fprintf(stderr, "usage: %s basic|full|many|big|huge OUT.pst\n", argv[0]);
                return 2;
        }
        if (strcmp(argv[1], "full") == 0 || strcmp(argv[1], "many") == 0) {
                o.crypt = PST_CRYPT_PERMUTE;
                o.display_name = "Sample \xc3\xa9 store";
                o.has_password = true;
                o.password_crc = 0x64850502u;
        }
        fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
                perror(argv[2]);
                return 1;
        }
        r = pstw_new(fd, &o, &c.w, &diag);
        if (r < 0) {
                fprintf(stderr, "pstw_new: %s\n", diag.msg);
                return 1;
        }
        printf("{\"scenario\": \"%s\", \"crypt\": %d, \"password_crc\": %u, \"folders\": [",
               argv[1], o.crypt, o.has_password ? o.password_crc : 0);
        r = scenario(&c, argv[1]);
        printf("\n]}\n");
        pool_free();
        if (r < 0) {
                pstw_close(c.w, &diag);
                fprintf(stderr, "writing %s: %s (%s)\n", argv[2], strerror(-r), diag.msg);
                return 1;
        }
        r = pstw_close(c.w, &diag);
        if (r < 0) {
                fprintf(stderr, "closing %s: %s (%s)\n", argv[2], strerror(-r), diag.msg);
                return 1;
        }
        if (close(fd) < 0) {
                perror("close");
                return 1;
        }
        return 0;
}
