/* SPDX-License-Identifier: MIT
 *
 * gen-corpus.c - harvest real messages from PSTs with pstream's own reader,
 * for gen-estate's items built on real content.
 */
#include <dirent.h>
#include <errno.h>
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

static int add_msg(struct gen_corpus *c, const char *subject, size_t cap)
{
        size_t len = strlen(subject);
        struct gen_corpus_msg *m;

        if (c->bytes + len + sizeof(*m) > cap)
                return 0;
        /* Capacity: 64, then doubled at every power of two. */
        if (c->n_msgs == 0 || (c->n_msgs >= 64 && (c->n_msgs & (c->n_msgs - 1)) == 0)) {
                m = realloc(c->msgs, (c->n_msgs ? 2 * c->n_msgs : 64) * sizeof(*m));
                if (!m)
                        return -ENOMEM;
                c->msgs = m;
        }
        m = &c->msgs[c->n_msgs];
        *m = (struct gen_corpus_msg){ .subject = strdup(subject) };
        if (!m->subject)
                return -ENOMEM;
        c->n_msgs++;
        c->bytes += len + sizeof(*m);
        return 0;
}

/* Every message's subject (pst_walk_next) of one PST. */
static int harvest_file(struct gen_corpus *c, const char *path, size_t cap)
{
        const struct pst_walk_opts opts = { .messages = true };
        struct reader rd = { .fd = -1 };
        uint8_t hdr[PST_HEADER_SIZE];
        struct pst_file *pf = NULL;
        struct pst_walk *w = NULL;
        struct pst_walk_item it;
        struct pst_want want;
        struct pst_diag diag;
        struct stat st;
        ssize_t n;
        int r;

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
                r = 0; /* not a PST: not part of the corpus */
                goto out;
        }
        r = pst_file_new(hdr, (size_t)n, (uint64_t)st.st_size, NULL, &pf, &diag);
        if (r < 0)
                goto out;
        r = pst_walk_new(pf, &opts, &w);
        if (r < 0)
                goto out;
        c->files++;
        while ((r = pst_walk_next(w, &it, &want, &diag)) != 0) {
                if (r == -EAGAIN) {
                        r = feed(pf, &rd, &want);
                        if (r < 0)
                                break;
                        continue;
                }
                if (r < 0)
                        break;
                if (it.kind == PST_WALK_MESSAGE && !it.message.fai && it.message.subject[0] &&
                    strncmp(it.message.message_class, "IPM.Note", 8) == 0) {
                        r = add_msg(c, it.message.subject, cap);
                        if (r < 0)
                                break;
                }
        }
out:
        if (r < 0 && r != -ENOMEM)
                c->failed++;
        pst_walk_free(w);
        pst_file_free(pf);
        free(rd.buf);
        if (rd.fd >= 0)
                close(rd.fd);
        return r == -ENOMEM ? r : 0;
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
        for (size_t i = 0; i < c->n_msgs; i++) {
                struct gen_corpus_msg *m = &c->msgs[i];

                free(m->subject);
                free(m->body);
                for (size_t k = 0; k < m->n_attach; k++) {
                        free(m->attach[k].filename);
                        free(m->attach[k].mime);
                        free(m->attach[k].data);
                }
                free(m->attach);
        }
        free(c->msgs);
        *c = (struct gen_corpus){};
}
