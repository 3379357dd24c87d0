/* SPDX-License-Identifier: MIT
 *
 * gen-corpus.c - harvest real messages from PSTs with pstream's own reader
 * (pst_walk to list them, pst_msg_read to decode them), for gen-estate's
 * items built on real content: subjects, plain bodies, attachments.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/gen.h"
#include "io/base/macro.h"
#include "pstream/io.h"

#define MAX_DIR_DEPTH 16

struct reader {
        int fd;
        uint8_t *buf;
        size_t cap;
};

static int feed(struct pst_file *pf, struct reader *rd, const struct pst_want *w)
{
        ssize_t n;

        if (w->len > rd->cap) {
                uint8_t *b = realloc(rd->buf, w->len);

                if (!b)
                        return -ENOMEM;
                rd->buf = b;
                rd->cap = w->len;
        }
        n = io_pread_full(rd->fd, rd->buf, w->len, w->offset);
        if (n < 0)
                return (int)n;
        n = pst_file_feed(pf, w->offset, rd->buf, (size_t)n);
        return n == -ENOMEM ? -ENOMEM : 0;
}

/* What one corpus message may bring: longer bodies are cut, bigger
 * attachments left out. */
#define BODY_MAX (64 * KIB)
#define ATTACH_MAX (4 * MIB)
#define MAX_ATTACH 8u

static int push_msg(struct gen_corpus *c, const struct gen_corpus_msg *m)
{
        /* Capacity: 64, then doubled at every power of two. */
        if (c->n_msgs == 0 || (c->n_msgs >= 64 && (c->n_msgs & (c->n_msgs - 1)) == 0)) {
                struct gen_corpus_msg *n = realloc(c->msgs, (c->n_msgs ? 2 * c->n_msgs : 64) *
                                                                    sizeof(*n));

                if (!n)
                        return -ENOMEM;
                c->msgs = n;
        }
        c->msgs[c->n_msgs++] = *m;
        return 0;
}

static void msg_done(struct gen_corpus_msg *m)
{
        free(m->subject);
        free(m->body);
        for (size_t k = 0; k < m->n_attach; k++) {
                free(m->attach[k].filename);
                free(m->attach[k].mime);
                free(m->attach[k].data);
        }
        free(m->attach);
        *m = (struct gen_corpus_msg){};
}

static char *prop_string(const struct pst_prop *props, size_t n, uint16_t id, unsigned cp)
{
        char buf[1024];

        pst_prop_utf8(pst_props_find(props, n, id), cp, buf, sizeof(buf));
        return buf[0] ? strdup(buf) : NULL;
}

/* Keep what m has that an item can reuse: its subject, plain body (cut on
 * a line end under BODY_MAX) and attachments by value with a name. */
static int keep_msg(struct gen_corpus *c, const struct pst_msg *m, size_t cap)
{
        unsigned cp = pst_msg_codepage(m);
        const struct pst_prop *body = pst_props_find(m->props, m->n_props, 0x1000);
        struct gen_corpus_msg cm = {};
        size_t bytes;
        int r = -ENOMEM;

        cm.subject = prop_string(m->props, m->n_props, 0x0037, cp);
        if (!cm.subject)
                return 0;
        if (body && body->type == PST_PT_UNICODE && body->v.len > 0) {
                size_t len = body->v.len;

                if (len > BODY_MAX) {
                        len = BODY_MAX;
                        while (len > 0 && body->v.data[len - 1] != '\n')
                                len--;
                }
                cm.body = malloc(len + 1);
                if (!cm.body)
                        goto fail;
                memcpy(cm.body, body->v.data, len);
                cm.body[len] = 0;
                cm.body_len = len;
        }
        bytes = sizeof(cm) + strlen(cm.subject) + cm.body_len;
        cm.attach = calloc(MAX_ATTACH, sizeof(*cm.attach));
        if (!cm.attach)
                goto fail;
        for (size_t i = 0; i < m->n_attachments && cm.n_attach < MAX_ATTACH; i++) {
                const struct pst_attachment *at = &m->attachments[i];
                struct gen_corpus_attach *ca = &cm.attach[cm.n_attach];

                if (at->embedded || !at->data || at->len == 0 || at->len > ATTACH_MAX ||
                    bytes + at->len > cap)
                        continue;
                ca->filename = prop_string(at->props, at->n_props, 0x3707, cp);
                if (!ca->filename)
                        ca->filename = prop_string(at->props, at->n_props, 0x3704, cp);
                if (!ca->filename)
                        continue;
                ca->mime = prop_string(at->props, at->n_props, 0x370E, cp);
                ca->data = malloc(at->len);
                if (!ca->data) {
                        cm.n_attach++;
                        goto fail;
                }
                memcpy(ca->data, at->data, at->len);
                ca->len = at->len;
                bytes += at->len;
                cm.n_attach++;
        }
        if (c->bytes + bytes > cap) {
                msg_done(&cm);
                return 0;
        }
        r = push_msg(c, &cm);
        if (r < 0)
                goto fail;
        c->bytes += bytes;
        return 0;
fail:
        msg_done(&cm);
        return r;
}

/* Call fn on every message (not FAI) of the PST at path, listed by a walk
 * and decoded one by one.  A message that cannot be decoded, and every
 * problem of the walk, is passed as NULL with the error and the node.  Returns 0, or -errno when the file cannot be
 * walked (diag says why) or fn fails. */
typedef int (*msg_fn)(void *ctx, uint32_t nid, const struct pst_msg *m, int error,
                      const struct pst_diag *diag);

static int each_message(const char *path, msg_fn fn, void *ctx, struct pst_diag *diag)
{
        const struct pst_walk_opts opts = { .messages = true, .message_ids = true };
        struct reader rd = { .fd = -1 };
        uint8_t hdr[PST_HEADER_SIZE];
        struct pst_file *pf = NULL;
        struct pst_walk *w = NULL;
        struct pst_walk_item it;
        struct pst_want want;
        uint32_t *nids = NULL;
        size_t n_nids = 0, cap_nids = 0;
        struct stat st;
        ssize_t n;
        int r;

        *diag = (struct pst_diag){};
        rd.fd = open(path, O_RDONLY | O_CLOEXEC);
        if (rd.fd < 0 || fstat(rd.fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        n = io_pread_full(rd.fd, hdr, sizeof(hdr), 0);
        if (n < 0) {
                r = (int)n;
                goto out;
        }
        if (!pst_magic_ok(hdr, (size_t)n)) {
                r = -EMEDIUMTYPE;
                goto out;
        }
        r = pst_file_new(hdr, (size_t)n, (uint64_t)st.st_size, NULL, &pf, diag);
        if (r < 0)
                goto out;
        r = pst_walk_new(pf, &opts, &w);
        if (r < 0)
                goto out;
        while ((r = pst_walk_next(w, &it, &want, diag)) != 0) {
                if (r == -EAGAIN) {
                        r = feed(pf, &rd, &want);
                        if (r < 0)
                                goto out;
                        continue;
                }
                if (r < 0)
                        goto out;
                if (it.kind == PST_WALK_PROBLEM) {
                        r = fn(ctx, it.problem.nid, NULL, it.problem.error, &it.problem.diag);
                        if (r != 0)
                                goto out;
                        continue;
                }
                if (it.kind != PST_WALK_MESSAGE || it.message.fai)
                        continue;
                if (n_nids == cap_nids) {
                        uint32_t *x = realloc(nids, (cap_nids ? 2 * cap_nids : 256) * sizeof(*x));

                        if (!x) {
                                r = -ENOMEM;
                                goto out;
                        }
                        nids = x;
                        cap_nids = cap_nids ? 2 * cap_nids : 256;
                }
                nids[n_nids++] = it.message.nid;
        }
        for (size_t i = 0; i < n_nids; i++) {
                struct pst_msg *m = NULL;
                struct pst_diag d = {};

                while ((r = pst_msg_read(pf, nids[i], &m, &want, &d)) == -EAGAIN) {
                        r = feed(pf, &rd, &want);
                        if (r < 0)
                                goto out;
                }
                if (r == -ENOMEM || r == -EIO) {
                        *diag = d;
                        goto out;
                }
                r = fn(ctx, nids[i], r < 0 ? NULL : m, r, &d);
                pst_msg_free(m);
                if (r != 0)
                        goto out;
        }
        r = 0;
out:
        free(nids);
        pst_walk_free(w);
        pst_file_free(pf);
        free(rd.buf);
        if (rd.fd >= 0)
                close(rd.fd);
        return r;
}

struct harvest {
        struct gen_corpus *c;
        size_t cap;
};

static int harvest_one(void *ctx, uint32_t nid, const struct pst_msg *m, int error,
                       const struct pst_diag *diag)
{
        struct harvest *h = ctx;
        char cls[64];

        if (!m)
                return 0; /* an unreadable message is not harvested */
        if (h->c->bytes >= h->cap)
                return 1; /* full: stop reading this file */
        pst_prop_utf8(pst_props_find(m->props, m->n_props, 0x001A), pst_msg_codepage(m), cls,
                      sizeof(cls));
        return strncmp(cls, "IPM.Note", 8) == 0 ? keep_msg(h->c, m, h->cap) : 0;
}

static int harvest_file(struct gen_corpus *c, const char *path, size_t cap)
{
        struct harvest h = { .c = c, .cap = cap };
        struct pst_diag diag;
        int r = each_message(path, harvest_one, &h, &diag);

        if (r == -EMEDIUMTYPE)
                return 0; /* not a PST: not part of the corpus */
        if (r < 0 && r != -ENOMEM)
                c->failed++;
        else
                c->files++;
        return r == -ENOMEM ? r : 0;
}

struct hashes {
        FILE *out;
        const char *path;
        unsigned failed;
};

static int hash_one(void *ctx, uint32_t nid, const struct pst_msg *m, int error,
                    const struct pst_diag *diag)
{
        struct hashes *h = ctx;
        uint8_t x[16];

        if (!m) {
                fprintf(stderr, "gen-estate: %s: node 0x%" PRIx32 ": %s\n", h->path, nid,
                        diag->msg[0] ? diag->msg : strerror(-error));
                h->failed++;
                return 0;
        }
        gen_item_hash(m, x);
        for (unsigned k = 0; k < 16; k++)
                fprintf(h->out, "%02x", x[k]);
        fprintf(h->out, "\t%" PRIu32 "\n", nid);
        return 0;
}

int gen_item_hashes(const char *path, FILE *out)
{
        struct hashes h = { .out = out, .path = path };
        struct pst_diag diag;
        int r = each_message(path, hash_one, &h, &diag);

        if (r < 0) {
                fprintf(stderr, "gen-estate: %s: %s%s%s\n", path, strerror(-r),
                        diag.msg[0] ? ": " : "", diag.msg);
                return r;
        }
        return h.failed ? -EBADMSG : 0;
}

static int harvest_path(struct gen_corpus *c, const char *path, size_t cap, unsigned depth)
{
        struct dirent **ents;
        struct stat st;
        int n, r = 0;

        if (lstat(path, &st) < 0)
                return -errno;
        if (S_ISREG(st.st_mode))
                return harvest_file(c, path, cap);
        if (!S_ISDIR(st.st_mode) || depth >= MAX_DIR_DEPTH)
                return 0;
        n = scandir(path, &ents, NULL, alphasort);
        if (n < 0)
                return -errno;
        for (int i = 0; i < n; i++) {
                char *sub;

                if (r >= 0 && ents[i]->d_name[0] != '.') {
                        if (asprintf(&sub, "%s/%s", path, ents[i]->d_name) < 0) {
                                r = -ENOMEM;
                        } else {
                                r = harvest_path(c, sub, cap, depth + 1);
                                free(sub);
                        }
                }
                free(ents[i]);
        }
        free(ents);
        return r;
}

int gen_corpus_load(struct gen_corpus *c, char *const *paths, size_t n_paths, size_t cap)
{
        *c = (struct gen_corpus){};
        for (size_t i = 0; i < n_paths; i++) {
                int r = harvest_path(c, paths[i], cap, 0);

                if (r < 0) {
                        fprintf(stderr, "gen-estate: corpus %s: %s\n", paths[i], strerror(-r));
                        return r;
                }
        }
        return 0;
}

void gen_corpus_free(struct gen_corpus *c)
{
        for (size_t i = 0; i < c->n_msgs; i++)
                msg_done(&c->msgs[i]);
        free(c->msgs);
        *c = (struct gen_corpus){};
}
