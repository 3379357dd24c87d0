/* SPDX-License-Identifier: MIT
 *
 * scan.c - recursive discovery of PST/OST files by header.
 */
#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "io/base/macro.h"
#include "pstream/io.h"
#include "scan.h"

/* Bytes fed to the store decoder at most: a sane store needs a few pages and
 * blocks; a hostile file must not make discovery read gigabytes. */
#define STORE_READ_BUDGET (8 * MIB)
#define STORE_MAX_ROUNDS 4096

struct walker {
        const struct scan_opts *opts;
        struct scan_result *res;
        size_t cap_files, cap_skips;
        unsigned root;
        /* dev/ino of the directories on the current path: a bind mount
         * looping back into itself is caught here. */
        struct {
                uint64_t dev, ino;
        } stack[SCAN_MAX_DEPTH + 1];
        unsigned depth;
};

const char *scan_skip_kind_name(enum scan_skip_kind k)
{
        switch (k) {
        case SCAN_SKIP_NOT_PST:
                return "not-pst";
        case SCAN_SKIP_SYMLINK:
                return "symlink";
        case SCAN_SKIP_SPECIAL:
                return "special";
        case SCAN_SKIP_ERROR:
                return "error";
        }
        return "unknown";
}

static char *path_join(const char *a, const char *b)
{
        char *p;
        size_t la = strlen(a);

        if (!*a)
                return strdup(b);
        if (asprintf(&p, "%s%s%s", a, (la && a[la - 1] == '/') ? "" : "/", b) < 0)
                return NULL;
        return p;
}

static int add_skip(struct walker *w, const char *path, enum scan_skip_kind kind,
                    const char *fmt, ...) _printf_(4, 5);

static int add_skip(struct walker *w, const char *path, enum scan_skip_kind kind,
                    const char *fmt, ...)
{
        struct scan_result *r = w->res;
        va_list ap;

        if (r->nskips == w->cap_skips) {
                size_t n = w->cap_skips ? w->cap_skips * 2 : 64;
                struct scan_skip *s = realloc(r->skips, n * sizeof(*s));
                if (!s)
                        return -ENOMEM;
                r->skips = s;
                w->cap_skips = n;
        }
        struct scan_skip *s = &r->skips[r->nskips];
        s->path = strdup(path);
        if (!s->path)
                return -ENOMEM;
        s->kind = kind;
        s->named_like_pst = false;
        va_start(ap, fmt);
        vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
        va_end(ap);
        r->nskips++;
        if (kind == SCAN_SKIP_ERROR)
                r->nerrors++;
        return 0;
}

int scan_classify_fd(int fd, uint64_t size, bool read_store, struct scan_entry *e,
                     char *skip_reason, size_t reason_len)
{
        uint8_t hdr[PST_HEADER_SIZE];
        struct pst_diag diag = { { 0 } };
        struct pst_file *pf = NULL;
        ssize_t n;
        int r;

        n = io_pread_full(fd, hdr, sizeof(hdr), 0);
        if (n < 0)
                return (int)n;
        if (!pst_magic_ok(hdr, (size_t)n)) {
                snprintf(skip_reason, reason_len, "not a PST/OST file (no !BDN header)");
                return 0;
        }

        r = pst_header_parse(hdr, (size_t)n, &e->hdr, &diag);
        if (r < 0) {
                /* The magic says PST: it is moved byte for byte all the same,
                 * with the damage reported. */
                snprintf(e->problem, sizeof(e->problem), "%s", diag.msg);
                return 1;
        }
        e->header_ok = true;
        if (!e->hdr.crc_partial_ok || !e->hdr.crc_full_ok)
                snprintf(e->problem, sizeof(e->problem), "header CRC mismatch (%s%s)",
                         e->hdr.crc_partial_ok ? "" : "partial",
                         e->hdr.crc_partial_ok || e->hdr.crc_full_ok ? "" : ", full");
        if (e->hdr.file_eof != size && !e->problem[0])
                snprintf(e->problem, sizeof(e->problem),
                         "size %llu differs from the header's ibFileEof %llu (truncated or "
                         "appended)",
                         (unsigned long long)size, (unsigned long long)e->hdr.file_eof);
        if (!read_store)
                return 1;

        r = pst_file_new(hdr, (size_t)n, size, NULL, &pf, &diag);
        if (r >= 0) {
                uint64_t fed = 0;
                uint8_t *buf = NULL;
                size_t buflen = 0;
                struct pst_want want;
                unsigned rounds = 0;

                while ((r = pst_store_info(pf, &e->store, &want, &diag)) == -EAGAIN) {
                        if (++rounds > STORE_MAX_ROUNDS || fed + want.len > STORE_READ_BUDGET) {
                                r = -EFBIG;
                                snprintf(diag.msg, sizeof(diag.msg),
                                         "message store needs more than %llu bytes of reads",
                                         (unsigned long long)STORE_READ_BUDGET);
                                break;
                        }
                        if (want.len > buflen) {
                                uint8_t *nb = realloc(buf, want.len);
                                if (!nb) {
                                        r = -ENOMEM;
                                        break;
                                }
                                buf = nb;
                                buflen = want.len;
                        }
                        n = io_pread_full(fd, buf, want.len, want.offset);
                        if (n < 0) {
                                r = (int)n;
                                snprintf(diag.msg, sizeof(diag.msg), "read at %llu: %s",
                                         (unsigned long long)want.offset, strerror((int)-n));
                                break;
                        }
                        fed += (uint64_t)n;
                        r = pst_file_feed(pf, want.offset, buf, (size_t)n);
                        if (r < 0)
                                break;
                }
                free(buf);
                pst_file_free(pf);
        }
        if (r >= 0)
                e->store_ok = true;
        else if (r == -ENOMEM)
                return r;
        else if (!e->problem[0])
                snprintf(e->problem, sizeof(e->problem), "message store: %s",
                         diag.msg[0] ? diag.msg : strerror(-r));
        return 1;
}

static bool has_pst_extension(const char *name)
{
        size_t n = strlen(name);

        return n >= 4 && (!strcasecmp(name + n - 4, ".pst") || !strcasecmp(name + n - 4, ".ost"));
}

static int add_file(struct walker *w, int dirfd, const char *name, const char *path,
                    const char *rel)
{
        struct scan_result *res = w->res;
        struct scan_entry e = { 0 };
        struct io_file f;
        char reason[160] = "";
        int r;

        r = io_file_open(dirfd, name, &f);
        if (r < 0)
                return add_skip(w, path, SCAN_SKIP_ERROR, "cannot open: %s", strerror(-r));

        r = scan_classify_fd(f.fd, f.id.size, w->opts->read_store, &e, reason, sizeof(reason));
        io_file_close(&f);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return add_skip(w, path, SCAN_SKIP_ERROR, "cannot read: %s", strerror(-r));
        if (r == 0 && w->opts->all_files)
                snprintf(e.problem, sizeof(e.problem), "not a PST/OST (%s); moved as it is",
                         reason);
        else if (r == 0) {
                r = add_skip(w, path, SCAN_SKIP_NOT_PST, "%s", reason);
                if (r >= 0 && has_pst_extension(name)) {
                        struct scan_skip *s = &w->res->skips[w->res->nskips - 1];
                        s->named_like_pst = true;
                        snprintf(s->reason, sizeof(s->reason),
                                 "named like a PST/OST but has no PST header (damaged, or not a "
                                 "PST)");
                }
                return r;
        }

        e.path = strdup(path);
        e.rel = strdup(rel);
        if (!e.path || !e.rel) {
                free(e.path);
                free(e.rel);
                return -ENOMEM;
        }
        e.root = w->root;
        e.size = f.id.size;
        e.mtime_ns = f.id.mtime_ns;
        e.dev = f.id.dev;
        e.ino = f.id.ino;

        if (res->nfiles == w->cap_files) {
                size_t n = w->cap_files ? w->cap_files * 2 : 64;
                struct scan_entry *nf = realloc(res->files, n * sizeof(*nf));
                if (!nf) {
                        free(e.path);
                        free(e.rel);
                        return -ENOMEM;
                }
                res->files = nf;
                w->cap_files = n;
        }
        res->files[res->nfiles++] = e;
        return 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walker *w, int dirfd, const char *path, const char *rel);

static int visit(struct walker *w, int dirfd, const char *name, const char *path, const char *rel)
{
        struct stat st;

        if (w->opts->cancel && *w->opts->cancel)
                return -ECANCELED;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return add_skip(w, path, SCAN_SKIP_ERROR, "cannot stat: %m");

        if (S_ISLNK(st.st_mode))
                return add_skip(w, path, SCAN_SKIP_SYMLINK, "symbolic link, not followed");
        if (S_ISREG(st.st_mode))
                return add_file(w, dirfd, name, path, rel);
        if (!S_ISDIR(st.st_mode))
                return add_skip(w, path, SCAN_SKIP_SPECIAL, "not a regular file or directory");

        for (unsigned i = 0; i < w->depth; i++)
                if (w->stack[i].dev == (uint64_t)st.st_dev && w->stack[i].ino == (uint64_t)st.st_ino)
                        return add_skip(w, path, SCAN_SKIP_ERROR,
                                        "directory loop (same directory as an ancestor)");
        if (w->depth >= SCAN_MAX_DEPTH)
                return add_skip(w, path, SCAN_SKIP_ERROR, "deeper than %d levels, not walked",
                                SCAN_MAX_DEPTH);

        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return add_skip(w, path, SCAN_SKIP_ERROR, "cannot open directory: %m");
        w->stack[w->depth].dev = (uint64_t)st.st_dev;
        w->stack[w->depth].ino = (uint64_t)st.st_ino;
        w->depth++;
        int r = walk_dir(w, fd, path, rel);
        w->depth--;
        return r;
}

/* Takes dirfd. */
static int walk_dir(struct walker *w, int dirfd, const char *path, const char *rel)
{
        DIR *d = fdopendir(dirfd);
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        int r = 0;

        if (!d) {
                close(dirfd);
                return add_skip(w, path, SCAN_SKIP_ERROR, "cannot list directory: %m");
        }
        /* Read all names first and sort them: a stable order makes reports,
         * blob upload order and reruns reproducible. */
        errno = 0;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 32;
                        char **nn = realloc(names, nc * sizeof(*nn));
                        if (!nn) {
                                r = -ENOMEM;
                                goto out;
                        }
                        names = nn;
                        cap = nc;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        goto out;
                }
                n++;
                errno = 0;
        }
        if (errno) {
                r = add_skip(w, path, SCAN_SKIP_ERROR, "listing interrupted: %m");
                if (r < 0)
                        goto out;
        }
        qsort(names, n, sizeof(*names), cmp_names);

        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *cpath = path_join(path, names[i]);
                _cleanup_free_ char *crel = path_join(rel, names[i]);
                if (!cpath || !crel) {
                        r = -ENOMEM;
                        break;
                }
                r = visit(w, dirfd, names[i], cpath, crel);
        }
out:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        closedir(d);
        return r;
}

int scan_roots(char *const *roots, size_t nroots, const struct scan_opts *opts,
               struct scan_result *ret)
{
        struct walker *w = calloc(1, sizeof(*w));
        int r = 0;

        if (!w)
                return -ENOMEM;
        memset(ret, 0, sizeof(*ret));
        w->opts = opts;
        w->res = ret;

        for (size_t i = 0; i < nroots && r >= 0; i++) {
                const char *root = roots[i];
                struct stat st;

                w->root = (unsigned)i;
                if (lstat(root, &st) < 0) {
                        r = add_skip(w, root, SCAN_SKIP_ERROR, "cannot stat: %m");
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (fd < 0) {
                                r = add_skip(w, root, SCAN_SKIP_ERROR,
                                             "cannot open directory: %m");
                                continue;
                        }
                        w->stack[0].dev = (uint64_t)st.st_dev;
                        w->stack[0].ino = (uint64_t)st.st_ino;
                        w->depth = 1;
                        r = walk_dir(w, fd, root, "");
                        continue;
                }
                /* A root that is a file (or a link to one the user named
                 * explicitly): its blob name is its base name. */
                const char *base = strrchr(root, '/');
                base = base && base[1] ? base + 1 : root;
                if (S_ISLNK(st.st_mode) && stat(root, &st) == 0 && S_ISREG(st.st_mode))
                        r = add_file(w, AT_FDCWD, root, root, base);
                else if (S_ISREG(st.st_mode))
                        r = add_file(w, AT_FDCWD, root, root, base);
                else
                        r = add_skip(w, root, SCAN_SKIP_SPECIAL, "not a regular file or directory");
        }
        free(w);
        if (r < 0)
                scan_result_done(ret);
        return r;
}

void scan_result_done(struct scan_result *r)
{
        for (size_t i = 0; i < r->nfiles; i++) {
                free(r->files[i].path);
                free(r->files[i].rel);
        }
        for (size_t i = 0; i < r->nskips; i++)
                free(r->skips[i].path);
        free(r->files);
        free(r->skips);
        memset(r, 0, sizeof(*r));
}
