/* SPDX-License-Identifier: MIT
 *
 * export.c - `pstream export`: each message of a PST/OST as an .eml.
 *
 * The file is read once into memory (files above IMAGE_MAX are read on
 * demand instead) and lent to one decoder per thread (pst_file_borrow()).
 * The main thread walks the folder tree, listing message NIDs without
 * reading them, and creates the directories; then the workers take
 * messages off a shared counter, decode (pst_msg_read), render
 * (pst_msg_render) and write each .eml with one write, keeping what the
 * report needs in the message's slot.  The report lists messages in walk
 * order whatever the thread count, so it is deterministic.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "io/base/macro.h"
#include "json.h"
#include "log.h"
#include "progress.h"
#include "pstream/io.h"
#include "pstream/pst.h"

/* Files up to this size are read whole into memory and shared by the
 * workers; larger ones are read on demand into each worker's bounded
 * decoder cache, so memory stays bounded whatever the file's size. */
#define IMAGE_MAX (2 * GIB)
#define HUGE_PAGE (2 * MIB)
/* Files from this size are read by several threads, at most READ_THREADS. */
#define READ_SPLIT_MIN (4 * MIB)
#define READ_THREADS 4u
/* Initial size of each worker's output buffer. */
#define OUT_INITIAL (8 * MIB)
/* A folder name component is cut at this many bytes of UTF-8. */
#define NAME_MAX_BYTES 200u
#define ORPHANS_DIR "_orphans"
/* Progress lines at most this often (seconds). */
#define PROGRESS_INTERVAL 1.0

#define NID_TYPE_NORMAL_MESSAGE 0x04u
#define PID_MESSAGE_CLASS 0x001Au
#define PID_SUBJECT 0x0037u
#define PID_DISPLAY_NAME 0x3001u
#define PID_ATTACH_FILENAME 0x3704u
#define PID_ATTACH_METHOD 0x3705u
#define PID_ATTACH_LONG_FILENAME 0x3707u
#define ATTACH_EMBEDDED_MSG 5

struct folder {
        uint32_t nid;
        uint32_t parent_nid;
        char *path; /* relative to the file's output directory; "" for the root */
        uint32_t messages, fai, exported;
};

struct att_info {
        char *name;
        uint64_t size;
        int64_t method;
};

struct job {
        uint32_t nid;
        uint32_t folder; /* index into folders, or ORPHAN */
        /* Results, written by the worker that took the job. */
        bool ok;
        char reason[256];
        uint64_t offset;
        char *class, *subject;
        uint32_t recipients, embedded;
        struct att_info *atts;
        uint32_t n_atts;
        struct pst_problem *probs;
        size_t n_probs, more_probs;
};

#define ORPHAN UINT32_MAX

struct xfile {
        const char *path;
        int fd;
        uint64_t size;
        uint8_t header[PST_HEADER_SIZE];
        size_t header_len;
        struct pst_header hdr;
        uint8_t *image; /* the whole file, or NULL: read on demand */
        int rootfd;     /* the file's output directory */
        char *outname;

        struct folder *folders;
        size_t n_folders;
        struct job *jobs;
        size_t n_jobs;
        struct pst_problem *probs;
        size_t n_probs;
        size_t cap_folders, cap_jobs, cap_probs;

        atomic_size_t next, done;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned running;
};

/* ---- small collections ---------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
        size_t ncap;
        void *np;

        if (n < *cap)
                return 0;
        ncap = *cap ? 2 * *cap : 16;
        np = reallocarray(*p, ncap, size);
        if (!np)
                return -ENOMEM;
        *p = np;
        *cap = ncap;
        return 0;
}

/* A set of strings (sibling paths) or of NIDs: open addressing. */
struct strset {
        const char **s;
        size_t n, cap;
};

static uint64_t hash_str(const char *s)
{
        uint64_t h = 0xcbf29ce484222325ull;

        while (*s)
                h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
        return h;
}

static bool strset_has(const struct strset *set, const char *s)
{
        if (set->cap == 0)
                return false;
        for (size_t i = hash_str(s) & (set->cap - 1); set->s[i]; i = (i + 1) & (set->cap - 1))
                if (!strcmp(set->s[i], s))
                        return true;
        return false;
}

static int strset_add(struct strset *set, const char *s)
{
        size_t i;

        if (2 * (set->n + 1) > set->cap) {
                struct strset n = { .cap = set->cap ? 2 * set->cap : 64 };

                n.s = calloc(n.cap, sizeof(*n.s));
                if (!n.s)
                        return -ENOMEM;
                for (size_t k = 0; k < set->cap; k++)
                        if (set->s[k]) {
                                for (i = hash_str(set->s[k]) & (n.cap - 1); n.s[i]; i = (i + 1) & (n.cap - 1))
                                        ;
                                n.s[i] = set->s[k];
                        }
                free(set->s);
                n.n = set->n;
                *set = n;
        }
        for (i = hash_str(s) & (set->cap - 1); set->s[i]; i = (i + 1) & (set->cap - 1))
                ;
        set->s[i] = s;
        set->n++;
        return 0;
}

struct nidset {
        uint32_t *v; /* 0 = empty (NID 0 is never a message) */
        size_t n, cap;
};

static size_t nid_slot(const struct nidset *s, uint32_t nid)
{
        size_t i = (nid * 2654435761u) & (s->cap - 1);

        while (s->v[i] != 0 && s->v[i] != nid)
                i = (i + 1) & (s->cap - 1);
        return i;
}

static bool nidset_has(const struct nidset *s, uint32_t nid)
{
        return s->cap > 0 && s->v[nid_slot(s, nid)] == nid;
}

static int nidset_add(struct nidset *s, uint32_t nid)
{
        if (2 * (s->n + 1) > s->cap) {
                struct nidset n = { .cap = s->cap ? 2 * s->cap : 256 };

                n.v = calloc(n.cap, sizeof(*n.v));
                if (!n.v)
                        return -ENOMEM;
                for (size_t i = 0; i < s->cap; i++)
                        if (s->v[i])
                                n.v[nid_slot(&n, s->v[i])] = s->v[i];
                n.n = s->n;
                free(s->v);
                *s = n;
        }
        size_t i = nid_slot(s, nid);

        if (s->v[i] == 0) {
                s->v[i] = nid;
                s->n++;
        }
        return 0;
}

/* ---- paths ---------------------------------------------------------------- */

/* A folder name as one path component: '/', '\', NUL and control
 * characters as '_', "." and ".." as "_", at most NAME_MAX_BYTES cut on a
 * character boundary; an empty name as "_". */
static void sanitise(const char *name, char *out)
{
        size_t n = 0;

        for (const char *p = name; *p && n < NAME_MAX_BYTES; p++) {
                unsigned char c = (unsigned char)*p;

                out[n++] = c < 0x20 || c == 0x7F || c == '/' || c == '\\' ? '_' : (char)c;
        }
        /* Cut inside a multi-byte character: drop its lead and tail bytes. */
        if (name[n] != '\0' && n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) {
                while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
                        n--;
                if (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
                        n--;
        }
        out[n] = '\0';
        if (n == 0 || !strcmp(out, ".") || !strcmp(out, ".."))
                strcpy(out, "_");
}

/* A directory below rootfd by relative path, opened component by
 * component when the path is too long for one lookup. */
static int dir_open(int rootfd, const char *rel)
{
        char comp[NAME_MAX_BYTES + 32];
        int fd, nfd;

        if (rel[0] == '\0') {
                fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
                return fd < 0 ? -errno : fd;
        }
        if (strlen(rel) < PATH_MAX - 64) {
                fd = openat(rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                return fd < 0 ? -errno : fd;
        }
        fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        while (*rel) {
                size_t k = strcspn(rel, "/");

                if (k >= sizeof(comp)) {
                        close(fd);
                        return -ENAMETOOLONG;
                }
                memcpy(comp, rel, k);
                comp[k] = '\0';
                nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                close(fd);
                if (nfd < 0)
                        return -errno;
                fd = nfd;
                rel += k + (rel[k] == '/');
        }
        return fd;
}

/* rel + "/" + name (just name when rel is "") into out[PATH_MAX]; false
 * when it does not fit in one path lookup. */
static bool path_join(char *out, const char *rel, const char *name)
{
        size_t a = strlen(rel), b = strlen(name);

        if (a + b + 2 > PATH_MAX)
                return false;
        memcpy(out, rel, a);
        if (a > 0)
                out[a++] = '/';
        memcpy(out + a, name, b + 1);
        return true;
}

/* Create (or open) file name in directory rel of rootfd and write data. */
static int write_file(int rootfd, const char *rel, const char *name, const void *data, size_t len)
{
        char path[PATH_MAX];
        int fd, dfd = -1;
        size_t off = 0;
        int r = 0;

        if (path_join(path, rel, name)) {
                fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        } else {
                dfd = dir_open(rootfd, rel);
                if (dfd < 0)
                        return dfd;
                fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        }
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        while (off < len) {
                ssize_t n = write(fd, (const uint8_t *)data + off, len - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                off += (size_t)n;
        }
        if (close(fd) < 0 && r == 0)
                r = -errno;
out:
        if (dfd >= 0)
                close(dfd);
        return r;
}

static int mkdir_rel(int rootfd, const char *parent, const char *name)
{
        char path[PATH_MAX];
        int r, dfd;

        if (path_join(path, parent, name)) {
                r = mkdirat(rootfd, path, 0755);
        } else {
                dfd = dir_open(rootfd, parent);
                if (dfd < 0)
                        return dfd;
                r = mkdirat(dfd, name, 0755);
                close(dfd);
        }
        return r < 0 && errno != EEXIST ? -errno : 0;
}

/* ---- reading the file --------------------------------------------------------- */

struct feeder {
        int fd;
        uint8_t *buf;
        size_t cap;
};

/* Serve one want of a decoder that reads on demand. */
static int feed(struct pst_file *pf, struct feeder *fd, const struct pst_want *want,
                struct pst_diag *diag)
{
        ssize_t n;

        if (want->len > fd->cap) {
                uint8_t *nb = realloc(fd->buf, want->len);

                if (!nb)
                        return -ENOMEM;
                fd->buf = nb;
                fd->cap = want->len;
        }
        n = io_pread_full(fd->fd, fd->buf, want->len, want->offset);
        if (n < 0) {
                snprintf(diag->msg, sizeof(diag->msg), "read at %" PRIu64 ": %s", want->offset,
                         strerror((int)-n));
                diag->offset = want->offset;
                return (int)n;
        }
        n = pst_file_feed(pf, want->offset, fd->buf, (size_t)n);
        return n == -ENOMEM ? -ENOMEM : 0;
}

/* A decoder of x for one thread: borrowing the image, or reading through fd. */
static int decoder_new(struct xfile *x, struct pst_file **ret, struct pst_diag *diag)
{
        struct pst_file *pf;
        int r;

        r = pst_file_new(x->header, x->header_len, x->size, NULL, &pf, diag);
        if (r < 0)
                return r;
        if (x->image) {
                r = pst_file_borrow(pf, x->image, x->size);
                if (r < 0) {
                        pst_file_free(pf);
                        return r;
                }
        }
        *ret = pf;
        return 0;
}

static int add_problem(struct xfile *x, uint32_t nid, int error, const struct pst_diag *d)
{
        int r = grow((void **)&x->probs, &x->cap_probs, x->n_probs, sizeof(*x->probs));

        if (r < 0)
                return r;
        x->probs[x->n_probs++] = (struct pst_problem){ .nid = nid, .error = error, .diag = *d };
        return 0;
}

static int add_job(struct xfile *x, uint32_t nid, uint32_t folder)
{
        int r = grow((void **)&x->jobs, &x->cap_jobs, x->n_jobs, sizeof(*x->jobs));

        if (r < 0)
                return r;
        x->jobs[x->n_jobs++] = (struct job){ .nid = nid, .folder = folder };
        return 0;
}

/* ---- the folder tree ------------------------------------------------------ */

struct tree {
        struct strset paths;   /* every folder path, for sibling clashes */
        struct nidset listed;  /* messages some folder lists */
        uint32_t *nids;        /* folder nid -> index: parallel to x->folders */
};

static ssize_t folder_index(const struct xfile *x, uint32_t nid)
{
        /* Folders arrive parent first, and the parent is usually the most
         * recent folder at its depth: search backwards. */
        for (size_t i = x->n_folders; i-- > 0;)
                if (x->folders[i].nid == nid)
                        return (ssize_t)i;
        return -1;
}

static int add_folder(struct xfile *x, struct tree *t, const struct pst_folder *fo)
{
        char name[NAME_MAX_BYTES + 1], uniq[NAME_MAX_BYTES + 32];
        const char *parent = "";
        struct folder *f;
        char *path;
        int r;

        r = grow((void **)&x->folders, &x->cap_folders, x->n_folders, sizeof(*x->folders));
        if (r < 0)
                return r;
        if (fo->depth > 0) {
                ssize_t p = folder_index(x, fo->parent_nid);

                if (p >= 0)
                        parent = x->folders[p].path;
                sanitise(fo->name, name);
                snprintf(uniq, sizeof(uniq), "%s", name);
                /* Siblings with equal names get " (2)", " (3)"... in walk order. */
                for (unsigned k = 2;; k++) {
                        if (asprintf(&path, "%s%s%s", parent, *parent ? "/" : "", uniq) < 0)
                                return -ENOMEM;
                        if (!strset_has(&t->paths, path))
                                break;
                        free(path);
                        snprintf(uniq, sizeof(uniq), "%s (%u)", name, k);
                }
                r = mkdir_rel(x->rootfd, parent, uniq);
                if (r < 0) {
                        free(path);
                        return r;
                }
        } else {
                path = strdup("");
                if (!path)
                        return -ENOMEM;
        }
        r = strset_add(&t->paths, path);
        if (r < 0) {
                free(path);
                return r;
        }
        f = &x->folders[x->n_folders++];
        *f = (struct folder){
                .nid = fo->nid,
                .parent_nid = fo->parent_nid,
                .path = path,
                .messages = fo->n_messages,
                .fai = fo->n_fai,
        };
        return 0;
}

/* Walk the folder tree: folders, and the jobs for their messages. */
static int walk(struct xfile *x, struct pst_file *pf, struct feeder *fd, struct tree *t,
                bool orphans, struct pst_diag *diag)
{
        const struct pst_walk_opts opts = { .messages = true, .message_ids = true };
        struct pst_walk *w = NULL;
        struct pst_walk_item it;
        struct pst_want want;
        int r;

        r = pst_walk_new(pf, &opts, &w);
        if (r < 0)
                return r;
        /* Reserve the orphans' directory name at the top. */
        if (orphans) {
                r = strset_add(&t->paths, ORPHANS_DIR);
                if (r < 0)
                        goto out;
        }
        for (;;) {
                r = pst_walk_next(w, &it, &want, diag);
                if (r == -EAGAIN) {
                        r = feed(pf, fd, &want, diag);
                        if (r < 0)
                                break;
                        continue;
                }
                if (r <= 0)
                        break;
                if (it.kind == PST_WALK_FOLDER) {
                        r = add_folder(x, t, &it.folder);
                        if (r < 0) {
                                snprintf(diag->msg, sizeof(diag->msg), "folder 0x%" PRIx32 ": cannot create its directory: %s",
                                         it.folder.nid, strerror(-r));
                                break;
                        }
                } else if (it.kind == PST_WALK_MESSAGE) {
                        /* The walk lists a folder's messages right after it. */
                        ssize_t fi = folder_index(x, it.message.folder_nid);

                        if (it.message.fai || fi < 0)
                                continue;
                        r = nidset_add(&t->listed, it.message.nid);
                        if (r == 0)
                                r = add_job(x, it.message.nid, (uint32_t)fi);
                } else {
                        r = add_problem(x, it.problem.nid, it.problem.error, &it.problem.diag);
                }
                if (r < 0)
                        break;
        }
out:
        pst_walk_free(w);
        return r;
}

/* Messages of the NBT that no folder lists go to _orphans/. */
static int find_orphans(struct xfile *x, struct pst_file *pf, struct feeder *fd, struct tree *t,
                        struct pst_diag *diag)
{
        struct pst_want want;
        uint32_t *nids = NULL;
        size_t n = 0, k = 0;
        int r;

        for (;;) {
                r = pst_nbt_list(pf, NID_TYPE_NORMAL_MESSAGE, &nids, &n, &want, diag);
                if (r != -EAGAIN)
                        break;
                r = feed(pf, fd, &want, diag);
                if (r < 0)
                        return r;
        }
        if (r == -ENOMEM || r == -EIO)
                return r;
        if (r < 0)
                return add_problem(x, 0, r, diag);
        for (size_t i = 0; i < n; i++) {
                if (nidset_has(&t->listed, nids[i]))
                        continue;
                r = add_job(x, nids[i], ORPHAN);
                if (r < 0)
                        break;
                k++;
        }
        free(nids);
        if (r == 0 && k > 0)
                r = mkdir_rel(x->rootfd, "", ORPHANS_DIR);
        return r;
}

/* ---- one message ------------------------------------------------------------- */

static uint32_t count_embedded(const struct pst_msg *m)
{
        uint32_t n = 0;

        for (size_t i = 0; i < m->n_attachments; i++)
                if (m->attachments[i].embedded)
                        n += 1 + count_embedded(m->attachments[i].embedded);
        return n;
}

static char *prop_strdup(const struct pst_prop *props, size_t n, uint16_t id, unsigned cp)
{
        char buf[1024];

        pst_prop_utf8(pst_props_find(props, n, id), cp, buf, sizeof(buf));
        return strdup(buf);
}

/* What the report says of m. */
static int job_info(struct job *j, const struct pst_msg *m)
{
        unsigned cp = pst_msg_codepage(m);
        char *subject;

        j->class = prop_strdup(m->props, m->n_props, PID_MESSAGE_CLASS, cp);
        subject = prop_strdup(m->props, m->n_props, PID_SUBJECT, cp);
        if (!j->class || !subject) {
                free(subject);
                return -ENOMEM;
        }
        /* Without the \x01 n prefix marker. */
        if ((uint8_t)subject[0] == 0x01 && subject[1] != '\0')
                memmove(subject, subject + 2, strlen(subject + 2) + 1);
        j->subject = subject;
        j->recipients = (uint32_t)m->n_recipients;
        j->embedded = count_embedded(m);
        if (m->n_attachments == 0)
                return 0;
        j->atts = calloc(m->n_attachments, sizeof(*j->atts));
        if (!j->atts)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_attachments; i++) {
                const struct pst_attachment *a = &m->attachments[i];
                const struct pst_prop *mp = pst_props_find(a->props, a->n_props, PID_ATTACH_METHOD);
                struct att_info *ai = &j->atts[j->n_atts++];
                uint16_t ids[] = { PID_ATTACH_LONG_FILENAME, PID_ATTACH_FILENAME, PID_DISPLAY_NAME };
                char name[1024] = "";

                for (size_t k = 0; k < ELEMENTSOF(ids) && !name[0]; k++)
                        pst_prop_utf8(pst_props_find(a->props, a->n_props, ids[k]), cp, name, sizeof(name));
                ai->name = strdup(name);
                if (!ai->name)
                        return -ENOMEM;
                ai->method = mp && mp->type == PST_PT_I4 ? mp->v.i : 0;
                ai->size = a->len;
                if (a->embedded) {
                        uint8_t *buf;
                        size_t len;

                        /* An embedded message's size is that of its rendering. */
                        if (pst_msg_render(a->embedded, &buf, &len) == 0) {
                                ai->size = len;
                                free(buf);
                        }
                }
        }
        return 0;
}

static void job_skip(struct job *j, int r, const char *what, const struct pst_diag *d)
{
        const char *why = d && d->msg[0] ? d->msg : strerror(-r);

        j->ok = false;
        /* Long reasons are cut; the offset stays exact. */
        if (snprintf(j->reason, sizeof(j->reason), "%s: %s", what, why) >= (int)sizeof(j->reason))
                j->reason[sizeof(j->reason) - 1] = '\0';
        j->offset = d ? d->offset : 0;
}

/* What one worker keeps from one message to the next. */
struct worker_state {
        struct pst_file *pf;
        struct feeder fd;
        uint8_t *out; /* the .eml being written, reused */
        size_t out_cap, out_advised;
};

/* The worker's output buffer, reused for every message: in huge pages
 * where the kernel allows, since first touching it page by page cost more
 * than writing it.  Done again when rendering grew it. */
static void out_advise(struct worker_state *ws)
{
        uintptr_t start, end;

        if (ws->out_cap == ws->out_advised)
                return;
        ws->out_advised = ws->out_cap;
        start = ALIGN_UP((uintptr_t)ws->out, (uintptr_t)HUGE_PAGE);
        end = ((uintptr_t)ws->out + ws->out_cap) & ~((uintptr_t)HUGE_PAGE - 1);
        if (end > start)
                (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}

static void export_one(struct xfile *x, struct worker_state *ws, struct job *j)
{
        struct pst_file *pf = ws->pf;
        struct feeder *fd = &ws->fd;
        const char *dir = j->folder == ORPHAN ? ORPHANS_DIR : x->folders[j->folder].path;
        struct pst_diag diag = {};
        struct pst_msg *m = NULL;
        const struct pst_problem *pr;
        struct pst_want want;
        char name[32];
        size_t len, n;
        int r;

        for (;;) {
                r = pst_msg_read(pf, j->nid, &m, &want, &diag);
                if (r != -EAGAIN)
                        break;
                r = feed(pf, fd, &want, &diag);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                job_skip(j, r, "decode", &diag);
                return;
        }
        pr = pst_msg_problems(m, &n, &j->more_probs);
        if (n > 0) {
                j->probs = malloc(n * sizeof(*j->probs));
                if (j->probs) {
                        memcpy(j->probs, pr, n * sizeof(*j->probs));
                        j->n_probs = n;
                }
        }
        r = job_info(j, m);
        if (r < 0) {
                job_skip(j, r, "report", NULL);
                goto out;
        }
        r = pst_msg_render_into(m, &ws->out, &ws->out_cap, &len);
        if (r < 0) {
                job_skip(j, r, "render", NULL);
                goto out;
        }
        out_advise(ws);
        snprintf(name, sizeof(name), "%08" PRIx32 ".eml", j->nid);
        r = write_file(x->rootfd, dir, name, ws->out, len);
        if (r < 0) {
                job_skip(j, r, "write", NULL);
                goto out;
        }
        j->ok = true;
out:
        pst_msg_free(m);
}

struct worker {
        struct xfile *x;
        pthread_t thread;
};

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        struct xfile *x = w->x;
        struct worker_state ws = { .fd = { .fd = x->fd } };
        struct pst_diag diag = {};
        int r;

        r = decoder_new(x, &ws.pf, &diag);
        /* Room for most messages at once (untouched pages cost nothing). */
        if (posix_memalign((void **)&ws.out, HUGE_PAGE, OUT_INITIAL) == 0) {
                ws.out_cap = OUT_INITIAL;
                out_advise(&ws);
        }
        for (;;) {
                size_t i = atomic_fetch_add(&x->next, 1);

                if (i >= x->n_jobs)
                        break;
                /* The header parsed for the walk: cannot fail but for memory. */
                if (r < 0)
                        job_skip(&x->jobs[i], r, "decoder", &diag);
                else
                        export_one(x, &ws, &x->jobs[i]);
                atomic_fetch_add(&x->done, 1);
        }
        pst_file_free(ws.pf);
        free(ws.fd.buf);
        free(ws.out);
        pthread_mutex_lock(&x->lock);
        x->running--;
        pthread_cond_signal(&x->cond);
        pthread_mutex_unlock(&x->lock);
        return NULL;
}

/* Run the jobs on n threads (the calling one waits and draws progress). */
static int run_jobs(struct xfile *x, unsigned n, bool quiet)
{
        struct worker *w;
        double t0 = now_monotonic(), last = t0;
        unsigned started = 0;
        int r = 0;

        n = (unsigned)MIN((size_t)n, x->n_jobs);
        if (n == 0)
                return 0;
        w = calloc(n, sizeof(*w));
        if (!w)
                return -ENOMEM;
        pthread_mutex_lock(&x->lock);
        for (; started < n; started++) {
                w[started].x = x;
                r = -pthread_create(&w[started].thread, NULL, worker_main, &w[started]);
                if (r < 0)
                        break;
                x->running++;
        }
        while (x->running > 0) {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&x->cond, &x->lock, &ts);
                if (!quiet && now_monotonic() - last >= PROGRESS_INTERVAL && x->running > 0) {
                        last = now_monotonic();
                        fprintf(stderr, "pstream export: %s: %zu/%zu messages\n", x->path,
                                (size_t)atomic_load(&x->done), x->n_jobs);
                }
        }
        pthread_mutex_unlock(&x->lock);
        for (unsigned i = 0; i < started; i++)
                pthread_join(w[i].thread, NULL);
        free(w);
        /* Threads that could not start: the ones that did took every job. */
        return started > 0 ? 0 : r;
}

/* ---- the report --------------------------------------------------------------- */

static void json_problem(FILE *f, bool *first, uint32_t nid, const char *reason, uint64_t offset)
{
        fprintf(f, "%s\n  {\"nid\": %" PRIu32 ", \"reason\": ", *first ? "" : ",", nid);
        json_string(f, reason);
        fprintf(f, ", \"offset\": %" PRIu64 "}", offset);
        *first = false;
}

static int write_report(const struct xfile *x)
{
        bool first = true;
        FILE *f;
        int fd;

        fd = openat(x->rootfd, "report.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "w");
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        fputs("{\"file\": ", f);
        json_string(f, x->path);
        fprintf(f, ", \"format\": \"%s\", \"crypt\": \"%s\",\n\"folders\": [", pst_format_name(x->hdr.format),
                pst_crypt_name(x->hdr.crypt));
        for (size_t i = 0; i < x->n_folders; i++) {
                const struct folder *fo = &x->folders[i];

                fprintf(f, "%s\n  {\"nid\": %" PRIu32 ", \"path\": ", i ? "," : "", fo->nid);
                json_string(f, fo->path);
                fprintf(f, ", \"messages\": %" PRIu32 ", \"fai\": %" PRIu32 ", \"exported\": %" PRIu32 "}",
                        fo->messages, fo->fai, fo->exported);
        }
        fputs("],\n\"messages\": [", f);
        for (size_t i = 0; i < x->n_jobs; i++) {
                const struct job *j = &x->jobs[i];
                bool orphan = j->folder == ORPHAN;
                const char *dir = orphan ? ORPHANS_DIR : x->folders[j->folder].path;
                char eml[PATH_MAX + 32];

                if (!j->ok)
                        continue;
                snprintf(eml, sizeof(eml), "%s%s%08" PRIx32 ".eml", dir, *dir ? "/" : "", j->nid);
                fprintf(f, "%s\n  {\"nid\": %" PRIu32 ", \"folder_nid\": %" PRIu32 ", \"eml\": ", first ? "" : ",",
                        j->nid, orphan ? 0 : x->folders[j->folder].nid);
                first = false;
                json_string(f, eml);
                fputs(", \"class\": ", f);
                json_string(f, j->class);
                fputs(", \"subject\": ", f);
                json_string(f, j->subject);
                fprintf(f, ", \"recipients\": %" PRIu32 ", \"attachments\": [", j->recipients);
                for (uint32_t k = 0; k < j->n_atts; k++) {
                        fputs(k ? ", {\"name\": " : "{\"name\": ", f);
                        json_string(f, j->atts[k].name);
                        fprintf(f, ", \"size\": %" PRIu64 ", \"method\": %" PRId64 "}", j->atts[k].size,
                                j->atts[k].method);
                }
                fprintf(f, "], \"embedded\": %" PRIu32 ", \"orphan\": %s}", j->embedded, orphan ? "true" : "false");
        }
        fputs("],\n\"skipped\": [", f);
        first = true;
        for (size_t i = 0; i < x->n_jobs; i++) {
                const struct job *j = &x->jobs[i];

                if (j->ok)
                        continue;
                fprintf(f, "%s\n  {\"nid\": %" PRIu32 ", \"folder_nid\": %" PRIu32 ", \"reason\": ", first ? "" : ",",
                        j->nid, j->folder == ORPHAN ? 0 : x->folders[j->folder].nid);
                json_string(f, j->reason);
                fprintf(f, ", \"offset\": %" PRIu64 "}", j->offset);
                first = false;
        }
        fputs("],\n\"problems\": [", f);
        first = true;
        for (size_t i = 0; i < x->n_probs; i++)
                json_problem(f, &first, x->probs[i].nid, x->probs[i].diag.msg, x->probs[i].diag.offset);
        for (size_t i = 0; i < x->n_jobs; i++) {
                const struct job *j = &x->jobs[i];

                for (size_t k = 0; k < j->n_probs; k++)
                        json_problem(f, &first, j->nid, j->probs[k].diag.msg, j->probs[k].diag.offset);
                if (j->more_probs > 0) {
                        char m[96];

                        snprintf(m, sizeof(m), "and %zu more problems in this message", j->more_probs);
                        json_problem(f, &first, j->nid, m, 0);
                }
        }
        fputs("]}\n", f);
        if (ferror(f)) {
                fclose(f);
                return -EIO;
        }
        return fclose(f) == 0 ? 0 : -errno;
}

/* ---- one file -------------------------------------------------------------- */

static void xfile_done(struct xfile *x)
{
        for (size_t i = 0; i < x->n_folders; i++)
                free(x->folders[i].path);
        free(x->folders);
        for (size_t i = 0; i < x->n_jobs; i++) {
                struct job *j = &x->jobs[i];

                free(j->class);
                free(j->subject);
                for (uint32_t k = 0; k < j->n_atts; k++)
                        free(j->atts[k].name);
                free(j->atts);
                free(j->probs);
        }
        free(x->jobs);
        free(x->probs);
        free(x->image);
        free(x->outname);
        if (x->rootfd >= 0)
                close(x->rootfd);
        if (x->fd >= 0)
                close(x->fd);
        pthread_mutex_destroy(&x->lock);
        pthread_cond_destroy(&x->cond);
}

/* One slice of the image, read by its own thread. */
struct slice {
        int fd;
        uint8_t *buf;
        uint64_t off, len;
        ssize_t got;
        pthread_t thread;
};

static void *read_slice(void *arg)
{
        struct slice *s = arg;

        s->got = io_pread_full(s->fd, s->buf + s->off, s->len, s->off);
        return NULL;
}

/* Read the whole file into x->image with up to jobs threads: copying from
 * the page cache and faulting the pages in is per-CPU work too. */
static int read_image(struct xfile *x, unsigned jobs, struct pst_diag *diag)
{
        struct slice s[READ_THREADS];
        uint64_t chunk;
        unsigned n = MIN(MAX(jobs, 1u), (unsigned)READ_THREADS), started = 0;
        int r = 0;

        if (x->size < READ_SPLIT_MIN)
                n = 1;
        chunk = ALIGN_UP((x->size + n - 1) / n, (uint64_t)HUGE_PAGE);
        for (unsigned i = 0; i < n; i++) {
                uint64_t off = MIN((uint64_t)i * chunk, x->size);

                s[i] = (struct slice){ .fd = x->fd, .buf = x->image, .off = off,
                                       .len = MIN(chunk, x->size - off) };
        }
        /* Slice 0 is read here; the others by threads (read here too if one
         * cannot start). */
        for (unsigned i = 1; i < n; i++) {
                if (pthread_create(&s[i].thread, NULL, read_slice, &s[i]) != 0)
                        break;
                started = i;
        }
        read_slice(&s[0]);
        for (unsigned i = 1; i < n; i++) {
                if (i <= started)
                        pthread_join(s[i].thread, NULL);
                else
                        read_slice(&s[i]);
        }
        for (unsigned i = 0; i < n && r == 0; i++) {
                if (s[i].got < 0 || (uint64_t)s[i].got != s[i].len) {
                        r = s[i].got < 0 ? (int)s[i].got : -EIO;
                        snprintf(diag->msg, sizeof(diag->msg), "cannot read the whole file: %s",
                                 s[i].got < 0 ? strerror((int)-s[i].got) : "it shrank");
                }
        }
        return r;
}

/* Open path, check it is a PST, read it (whole when small enough). */
static int xfile_open(struct xfile *x, const char *path, unsigned jobs, struct pst_diag *diag)
{
        struct io_file iof;
        ssize_t n;
        int r;

        r = io_file_open(AT_FDCWD, path, &iof);
        if (r < 0) {
                snprintf(diag->msg, sizeof(diag->msg), "cannot open: %s", strerror(-r));
                return r;
        }
        x->fd = iof.fd;
        x->size = iof.id.size;
        n = io_pread_full(x->fd, x->header, sizeof(x->header), 0);
        if (n < 0) {
                snprintf(diag->msg, sizeof(diag->msg), "cannot read: %s", strerror((int)-n));
                return (int)n;
        }
        x->header_len = (size_t)n;
        r = pst_header_parse(x->header, x->header_len, &x->hdr, diag);
        if (r < 0)
                return r;
        if (x->size > IMAGE_MAX)
                return 0;
        /* Huge pages where the kernel allows them: reading 14 MB into 4 KiB
         * pages spent more in page faults than in copying. */
        if (posix_memalign((void **)&x->image, HUGE_PAGE, ALIGN_UP(MAX(x->size, (uint64_t)1), HUGE_PAGE)) != 0)
                return -ENOMEM;
        (void)madvise(x->image, ALIGN_UP(MAX(x->size, (uint64_t)1), HUGE_PAGE), MADV_HUGEPAGE);
        return read_image(x, jobs, diag);
}

static int export_file(const char *path, int todir, struct strset *outnames,
                       const struct export_opts *o)
{
        struct xfile x = { .path = path, .fd = -1, .rootfd = -1 };
        struct tree t = {};
        struct pst_file *pf = NULL;
        struct pst_diag diag = {};
        struct feeder fd = { .fd = -1 };
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t skipped = 0, exported = 0, problems = 0;
        int r, status = 3;

        pthread_mutex_init(&x.lock, NULL);
        pthread_cond_init(&x.cond, NULL);
        r = xfile_open(&x, path, o->jobs, &diag);
        if (r < 0) {
                log_error("export %s: %s", path, diag.msg);
                goto out;
        }
        fd.fd = x.fd;
        /* Names of the outputs of this run: a second "a.pst" is "a.pst (2)". */
        for (unsigned k = 1;; k++) {
                free(x.outname);
                if ((k == 1 ? asprintf(&x.outname, "%s", *base ? base : "_")
                            : asprintf(&x.outname, "%s (%u)", *base ? base : "_", k)) < 0) {
                        x.outname = NULL;
                        r = -ENOMEM;
                        goto fail;
                }
                if (!strset_has(outnames, x.outname))
                        break;
        }
        {
                char *key = strdup(x.outname); /* owned by the set */

                r = key ? strset_add(outnames, key) : -ENOMEM;
                if (r < 0) {
                        free(key);
                        goto fail;
                }
        }
        if (mkdirat(todir, x.outname, 0755) < 0 && errno != EEXIST) {
                r = -errno;
                goto fail;
        }
        x.rootfd = openat(todir, x.outname, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (x.rootfd < 0) {
                r = -errno;
                goto fail;
        }

        r = decoder_new(&x, &pf, &diag);
        if (r < 0) {
                log_error("export %s: %s", path, diag.msg);
                goto out;
        }
        r = walk(&x, pf, &fd, &t, o->orphans, &diag);
        if (r == 0 && o->orphans)
                r = find_orphans(&x, pf, &fd, &t, &diag);
        if (r < 0) {
                log_error_errno(r, "export %s: %s", path, diag.msg[0] ? diag.msg : strerror(-r));
                goto out;
        }
        r = run_jobs(&x, o->jobs, o->quiet);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < x.n_jobs; i++) {
                const struct job *j = &x.jobs[i];

                if (!j->ok) {
                        skipped++;
                        continue;
                }
                exported++;
                problems += j->n_probs + j->more_probs;
                if (j->folder != ORPHAN)
                        x.folders[j->folder].exported++;
        }
        problems += x.n_probs;
        r = write_report(&x);
        if (r < 0)
                goto fail;
        if (!o->quiet)
                fprintf(stderr, "pstream export: %s: %zu messages exported, %zu skipped, %zu problems\n", path,
                        exported, skipped, problems);
        status = skipped > 0 || problems > 0 ? 1 : 0;
        goto out;
fail:
        log_error_errno(r, "export %s: %s", path, strerror(-r));
out:
        pst_file_free(pf);
        free(fd.buf);
        free(t.paths.s);
        free(t.listed.v);
        xfile_done(&x);
        return status;
}

int export_files(char **files, int n, const struct export_opts *o)
{
        struct export_opts opts = *o;
        struct strset outnames = {};
        int todir, status = 0;

        if (opts.jobs == 0) {
                long c = sysconf(_SC_NPROCESSORS_ONLN);

                opts.jobs = c > 0 ? (unsigned)c : 1;
        }
        if (mkdir(o->to, 0755) < 0 && errno != EEXIST) {
                log_error_errno(-errno, "export: cannot create %s: %m", o->to);
                return 3;
        }
        todir = open(o->to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (todir < 0) {
                log_error_errno(-errno, "export: cannot open %s: %m", o->to);
                return 3;
        }
        for (int i = 0; i < n; i++) {
                int st = export_file(files[i], todir, &outnames, &opts);

                status = MAX(status, st);
        }
        for (size_t i = 0; i < outnames.cap; i++)
                free((char *)outnames.s[i]);
        free(outnames.s);
        close(todir);
        return status;
}
