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
 * Scenarios (scenario() below): basic, full, many, big, huge (2080 MiB of
 * 8 MiB attachments, or N MiB given as a third argument) and small (N
 * small messages in 10 folders, 100,000 by default).
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
#include "tests/pst/pst-write-items.h"

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
        pstwi_pool_free();
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

/* A message with two attachments and 360 values too large for the heap:
 * more subnodes than an SLBLOCK holds, so an SIBLOCK over two SLBLOCKs. */
static struct pst_msg *many_subnodes(void)
{
        struct pstwi_opts o = { .body_len = 100, .n_rcpt = 1, .n_att = 2, .att_len = 5000 };
        struct pst_msg *m = pstwi_message("Many subnodes", &o, 0);
        struct pstwi_props b = {};

        for (size_t i = 0; i < m->n_props; i++)
                *pstwi_add(&b, m->props[i].id, m->props[i].type) = m->props[i];
        for (unsigned i = 0; i < 360; i++) {
                struct pst_prop *p = pstwi_add(&b, (uint16_t)(0x6800 + i), PST_PT_BINARY);

                p->v.len = 4000;
                p->v.data = pstwi_bytes(4000);
        }
        m->props = b.p;
        m->n_props = b.n;
        return m;
}

static unsigned huge_mib = 2080, small_count = 100000;

static int scenario(struct ctx *c, const char *name)
{
        uint32_t inbox, sub, subsub, sent, bulk;

        if (strcmp(name, "basic") == 0) {
                struct pstwi_opts o = { .body_len = 200, .n_rcpt = 2, .n_att = 1, .att_len = 500 };

                CHECK(folder(c, 0, "Inbox", &inbox));
                CHECK(folder(c, inbox, "Sub", &sub));
                CHECK(folder(c, 0, "Sent Items", &sent));
                folder_begin(c, "Inbox");
                for (unsigned i = 0; i < 5; i++)
                        CHECK(put(c, inbox, false,
                                  pstwi_message(pstwi_fmt("Inbox message %u", i), &o, 0)));
                folder_end(c);
                folder_begin(c, "Inbox/Sub");
                CHECK(put(c, sub, false, pstwi_message("Sub message", &o, 0)));
                folder_end(c);
                folder_begin(c, "Sent Items");
                o.n_att = 0;
                CHECK(put(c, sent, false, pstwi_message("Sent message", &o, 0)));
                folder_end(c);
                return 0;
        }
        if (strcmp(name, "full") == 0) {
                struct pstwi_opts big = { .body_len = 100000,
                                          .n_rcpt = 5,
                                          .n_att = 2,
                                          .att_len = 3 * 1024 * 1024,
                                          .embedded = true,
                                          .all_types = true };
                struct pstwi_opts small = { .body_len = 50, .n_rcpt = 1 };

                CHECK(folder(c, 0, "Inbox", &inbox));
                CHECK(folder(c, inbox, "Level 1", &sub));
                CHECK(folder(c, sub, "Level 2 \xc3\xa9t\xc3\xa9", &subsub));
                folder_begin(c, "Inbox");
                CHECK(put(c, inbox, false,
                          pstwi_message("Every feature \xe2\x82\xac \xe4\xb8\x96", &big, 0)));
                CHECK(put(c, inbox, false, pstwi_message("Small", &small, 0)));
                CHECK(put(c, inbox, true, pstwi_message("FAI item", &small, 0)));
                folder_end(c);
                folder_begin(c, "Inbox/Level 1");
                CHECK(put(c, sub, false, pstwi_message("Level one", &small, 0)));
                folder_end(c);
                folder_begin(c, "Inbox/Level 1/Level 2 \xc3\xa9t\xc3\xa9");
                small.n_att = 1;
                small.att_len = 10;
                CHECK(put(c, subsub, false, pstwi_message("Level two", &small, 0)));
                folder_end(c);
                return 0;
        }
        if (strcmp(name, "many") == 0) {
                struct pstwi_opts o = { .body_len = 100, .n_rcpt = 1 };
                struct pstwi_opts wide = { .body_len = 100, .n_rcpt = 3000 };
                struct pstwi_opts atts = {
                        .body_len = 100, .n_rcpt = 1, .n_att = 281, .att_len = 20
                };

                CHECK(folder(c, 0, "Bulk", &bulk));
                folder_begin(c, "Bulk");
                CHECK(put(c, bulk, false, pstwi_message("Many recipients", &wide, 0)));
                CHECK(put(c, bulk, false, pstwi_message("Many attachments", &atts, 0)));
                CHECK(put(c, bulk, false, many_subnodes()));
                for (unsigned i = 0; i < 4000; i++)
                        CHECK(put(c, bulk, false,
                                  pstwi_message(
                                      pstwi_fmt("Bulk message %05u with a longish subject line", i),
                                      &o, 0)));
                folder_end(c);
                /* Many folders: a deep hierarchy table and NBT. */
                CHECK(folder(c, 0, "Folders", &sub));
                for (unsigned i = 0; i < 300; i++) {
                        char *n = pstwi_fmt("Folder %03u", i);

                        CHECK(folder(c, sub, n, &subsub));
                        folder_begin(c, pstwi_fmt("Folders/%s", n));
                        CHECK(put(c, subsub, false,
                                  pstwi_message(pstwi_fmt("In folder %u", i), &o, 0)));
                        folder_end(c);
                }
                return 0;
        }
        if (strcmp(name, "big") == 0) {
                struct pstwi_opts o = {
                        .body_len = 1000, .n_rcpt = 1, .n_att = 1, .att_len = 40 * 1024 * 1024
                };

                CHECK(folder(c, 0, "Big", &bulk));
                folder_begin(c, "Big");
                CHECK(put(c, bulk, false, pstwi_message("Forty MiB attachment", &o, 0)));
                folder_end(c);
                return 0;
        }
        if (strcmp(name, "huge") == 0) {
                struct pstwi_opts o = {
                        .body_len = 2000, .n_rcpt = 2, .n_att = 1, .att_len = 8 * 1024 * 1024
                };

                CHECK(folder(c, 0, "Huge", &bulk));
                folder_begin(c, "Huge");
                for (unsigned i = 0; i < huge_mib / 8; i++)
                        CHECK(put(c, bulk, false, pstwi_message(pstwi_fmt("Huge %03u", i), &o, 0)));
                folder_end(c);
                return 0;
        }
        if (strcmp(name, "small") == 0) {
                struct pstwi_opts o = { .body_len = 1000, .n_rcpt = 1 };
                uint32_t f[10];

                for (unsigned k = 0; k < 10; k++)
                        CHECK(folder(c, 0, pstwi_fmt("Small %u", k), &f[k]));
                for (unsigned k = 0; k < 10; k++) {
                        folder_begin(c, pstwi_fmt("Small %u", k));
                        for (unsigned i = k; i < small_count; i += 10) {
                                o.n_att = i % 10 == 0;
                                o.att_len = 2000;
                                CHECK(put(c, f[k], false,
                                          pstwi_message(pstwi_fmt("Small %u", i), &o, 0)));
                        }
                        folder_end(c);
                }
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

        if (argc != 3 && argc != 4) {
                fprintf(
                    stderr,
                    "usage: %s basic|full|many|big|huge|small OUT.pst [MIB (huge) | N (small)]\n",
                    argv[0]);
                return 2;
        }
        if (argc == 4 && strcmp(argv[1], "huge") == 0)
                huge_mib = (unsigned)strtoul(argv[3], NULL, 10);
        if (argc == 4 && strcmp(argv[1], "small") == 0)
                small_count = (unsigned)strtoul(argv[3], NULL, 10);
        if (strcmp(argv[1], "full") == 0) {
                o.crypt = PST_CRYPT_PERMUTE;
                o.display_name = "Sample \xc3\xa9 store";
                o.has_password = true;
                o.password_crc = 0x64850502u;
        }
        if (strcmp(argv[1], "basic") == 0)
                o.crypt = PST_CRYPT_CYCLIC;
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
        pstwi_pool_free();
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
