/* SPDX-License-Identifier: MIT
 *
 * gen-estate.c - generate a realistic estate of PSTs with known contents:
 * shares/<share>/users/<user>/<name>.pst written through pstream's PST
 * writer, items synthetic or built on real corpus messages, duplicates
 * within a mailbox (items repeated across its PSTs, and whole-file copies),
 * password-protected and permute-encoded files, and files damaged on
 * purpose; DIR/manifest.json is the ground truth.  See bench/README.md.
 *
 * One thread per mailbox at a time (--jobs), each mailbox a pure function of
 * --seed and its index, so the output is the same whatever the thread count.
 * A file's items are generated, written and dropped one at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/gen.h"
#include "io/base/macro.h"
#include "pstream/pst-write.h"

#define BYTE_POOL_SIZE (64 * MIB)
#define CORPUS_CAP (64 * MIB)
#define MAX_MAILBOXES 100000u
#define MAX_FILES_PER_MAILBOX 1000u
#define MAX_CORPUS_PATHS 64u
/* Sizes: the writer's files are whole allocation-map regions of 253,952
 * bytes past the first 0x4400; an empty PST is one region.  A file's size is
 * estimated from its items' bytes times rho (what the writer adds: block
 * trailers, heaps, tables, B-trees), learnt from the mailbox's files. */
#define PSTW_REGION 253952u
#define PST_EMPTY_EST (0x4400u + 16 * KIB)
#define RHO_START 1.05
/* Draws of an item that does not fit the file before the file is closed. */
#define MAX_MISFITS 16u

struct options {
        const char *out;
        uint64_t size;
        unsigned mailboxes;
        unsigned files_per_mailbox;
        uint64_t seed;
        double dup_rate, copy_rate, corrupt_rate, password_rate, permute_rate, cyclic_rate;
        double embedded_rate, corpus_rate;
        unsigned jobs;
        char *corpus[MAX_CORPUS_PATHS];
        size_t n_corpus;
};

/* Folders a mailbox has: the writer's standard ones are not counted. */
#define MAX_FOLDERS 24u

struct file_rec {
        char *path; /* relative to --out */
        uint32_t folder_msgs[MAX_FOLDERS]; /* messages per folder of the layout */
        uint64_t size;
        uint64_t messages, attachments, embedded, attach_bytes;
        unsigned folders;
        bool password;
        uint32_t password_crc;
        char password_text[64];
        enum pst_crypt crypt;
        struct gen_corrupt corrupt;
        int copy_of; /* index of the original in its mailbox's files, or -1 */
};

/* The mailbox's unique item hashes in first-seen order, with an open-
 * addressing index over them. */
struct hashset {
        uint8_t (*h)[16];
        size_t n, cap;
        uint32_t *slot; /* index + 1, 0 empty */
        size_t n_slot;
};

/* The mailbox's folder tree: the same in each of its files, so that an
 * item repeated in another file sits in the folder of the same path.  The
 * writer adds Deleted Items and Search Root itself. */
struct layout {
        const char *name[MAX_FOLDERS];
        int parent[MAX_FOLDERS]; /* index, -1: top of the IPM subtree */
        unsigned n;
};

struct mailbox {
        unsigned index;
        struct layout layout;
        const struct gen_person *owner;
        const char *share;
        uint64_t budget;
        struct file_rec *files;
        unsigned n_files;
        struct hashset items;
        uint64_t messages; /* written, over every file but copies */
        int error;
        char error_msg[4608];
};

struct estate {
        const struct options *o;
        struct gen_people people;
        struct gen_bytes bytes;
        struct gen_corpus corpus;
        char **shares;
        unsigned n_shares;
        struct mailbox *mb;
        atomic_uint next;
};

static const char *const pst_names[] = {
        "Outlook", "archive", "Personal Folders", "old mail", "backup", "Projects", "mail",
        "Archive", "export", "Sent old", "laptop", "My Outlook Data File",
};

static const char *const user_folders[] = {
        "Projects", "Customers", "Suppliers", "Finance", "HR", "Travel", "Newsletters",
        "Important", "Reports", "Contracts", "Archive", "Misc", "Team", "Board", "Receipts",
};

/* ---- the mailbox's unique items -------------------------------------------- */

static uint64_t hash_key(const uint8_t h[16])
{
        return get_le64(h);
}

static int hashset_add(struct hashset *s, const uint8_t h[16])
{
        size_t i;

        if (2 * (s->n + 1) > s->n_slot) {
                size_t ns = s->n_slot ? 2 * s->n_slot : 1024;
                uint32_t *slot = calloc(ns, sizeof(*slot));

                if (!slot)
                        return -ENOMEM;
                for (size_t k = 0; k < s->n; k++) {
                        i = hash_key(s->h[k]) & (ns - 1);
                        while (slot[i])
                                i = (i + 1) & (ns - 1);
                        slot[i] = (uint32_t)k + 1;
                }
                free(s->slot);
                s->slot = slot;
                s->n_slot = ns;
        }
        i = hash_key(h) & (s->n_slot - 1);
        while (s->slot[i]) {
                if (memcmp(s->h[s->slot[i] - 1], h, 16) == 0)
                        return 0;
                i = (i + 1) & (s->n_slot - 1);
        }
        if (s->n == s->cap) {
                size_t nc = s->cap ? 2 * s->cap : 256;
                uint8_t(*nh)[16] = realloc(s->h, nc * 16);

                if (!nh)
                        return -ENOMEM;
                s->h = nh;
                s->cap = nc;
        }
        memcpy(s->h[s->n], h, 16);
        s->slot[i] = (uint32_t)++s->n;
        return 1;
}

static void hashset_free(struct hashset *s)
{
        free(s->h);
        free(s->slot);
        *s = (struct hashset){};
}

/* ---- files ----------------------------------------------------------------- */

static int mkdirs(const char *path)
{
        char buf[4096];
        size_t n = strlen(path);

        if (n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int mb_fail(struct mailbox *mb, int r, const char *what, const char *path,
                   const struct pst_diag *diag)
{
        snprintf(mb->error_msg, sizeof(mb->error_msg), "%s %s: %s%s%s", what, path, strerror(-r),
                 diag && diag->msg[0] ? ": " : "", diag ? diag->msg : "");
        mb->error = r;
        return r;
}

/* A file name for the user's directory not used yet by this mailbox. */
static char *file_name(const struct mailbox *mb, const char *share, const char *stem)
{
        char *path;

        for (unsigned k = 1;; k++) {
                bool used = false;

                if (k == 1) {
                        if (asprintf(&path, "shares/%s/users/%s/%s.pst", share, mb->owner->login,
                                     stem) < 0)
                                return NULL;
                } else if (asprintf(&path, "shares/%s/users/%s/%s (%u).pst", share,
                                    mb->owner->login, stem, k) < 0) {
                        return NULL;
                }
                for (unsigned i = 0; i < mb->n_files && !used; i++)
                        used = strcmp(mb->files[i].path, path) == 0;
                if (!used)
                        return path;
                free(path);
        }
}

static int copy_file(const char *from, const char *to)
{
        int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
        struct stat st;
        off_t left;

        if (in < 0 || fstat(in, &st) < 0) {
                r = -errno;
                goto out;
        }
        out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0) {
                r = -errno;
                goto out;
        }
        for (left = st.st_size; left > 0;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        goto out;
                }
                left -= n;
        }
out:
        if (in >= 0)
                close(in);
        if (out >= 0)
                close(out);
        return r;
}

struct folders {
        uint32_t nid[MAX_FOLDERS];
        unsigned n;
};

static void layout_make(struct layout *l, struct gen_rng *r)
{
        unsigned n_user = (unsigned)gen_rng_below(r, 9);
        uint32_t used = 0;

        _Static_assert(3 + ELEMENTSOF(user_folders) <= MAX_FOLDERS, "MAX_FOLDERS");
        l->name[0] = "Inbox";
        l->name[1] = "Sent Items";
        l->name[2] = "Junk Email";
        l->parent[0] = l->parent[1] = l->parent[2] = -1;
        l->n = 3;
        for (unsigned i = 0; i < n_user; i++) {
                unsigned k = (unsigned)gen_rng_below(r, ELEMENTSOF(user_folders));
                uint64_t where = gen_rng_below(r, 10);

                if (used & (1u << k))
                        continue;
                used |= 1u << k;
                l->name[l->n] = user_folders[k];
                /* Under Inbox, at the top, or under an earlier user folder. */
                l->parent[l->n] = where < 5 ? 0 : where < 8 || l->n == 3 ? -1
                                                    : 3 + (int)gen_rng_below(r, l->n - 3);
                l->n++;
        }
}

/* Write one PST of about target bytes. */
static int write_pst(const struct estate *es, struct mailbox *mb, struct gen_mailbox_ctx *ctx,
                     const struct layout *lay, struct gen_rng *r, struct file_rec *fr,
                     uint64_t target, const uint64_t *prev, size_t n_prev, uint64_t **cur,
                     size_t *n_cur, uint64_t *fresh, double *rho)
{
        struct pstw_opts po = { .crypt = fr->crypt, .has_password = fr->password,
                                .password_crc = fr->password_crc };
        uint8_t record_key[16];
        struct gen_arena arena = { .chunk_size = 256 * KIB };
        char full[4096], store_name[160];
        struct pstw *w = NULL;
        struct pst_diag diag = {};
        struct folders fo = {};
        size_t cap_cur = *n_cur;
        unsigned misfits = 0;
        uint64_t est = 0;
        struct stat st;
        int fd, r2;

        snprintf(full, sizeof(full), "%s/%s", es->o->out, fr->path);
        snprintf(store_name, sizeof(store_name), "%s", mb->owner->name);
        po.display_name = store_name;
        /* Each file its own store UID, as separately created PSTs have. */
        put_le64(record_key, gen_rng_next(r));
        put_le64(record_key + 8, gen_rng_next(r));
        po.record_key = record_key;
        fd = open(full, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return mb_fail(mb, -errno, "cannot create", full, NULL);
        r2 = pstw_new(fd, &po, &w, &diag);
        if (r2 < 0) {
                close(fd);
                return mb_fail(mb, r2, "writer", full, &diag);
        }
        for (unsigned i = 0; i < lay->n; i++) {
                uint32_t parent = lay->parent[i] < 0 ? 0 : fo.nid[lay->parent[i]];

                r2 = pstw_folder(w, parent, lay->name[i], NULL, &fo.nid[i]);
                if (r2 < 0)
                        goto fail;
                fo.n++;
        }
        fr->folders = fo.n;

        for (;;) {
                struct gen_item it;
                uint64_t seed, have, left;
                uint8_t h[16];

                /* The writer pads the file to a whole allocation-map region
                 * on close: aiming half a region short of the target lands
                 * on it on average. */
                have = PST_EMPTY_EST + (uint64_t)(*rho * (double)est);
                if (have + PSTW_REGION / 2 >= target || misfits >= MAX_MISFITS)
                        break;
                left = target - have - PSTW_REGION / 2;
                if (n_prev && gen_rng_unit(r) < es->o->dup_rate)
                        seed = prev[gen_rng_below(r, n_prev)];
                else
                        seed = gen_mix(gen_mix(es->o->seed, 0x17E5 + mb->index), (*fresh)++);
                gen_item_make(ctx, seed, &arena, &it);
                /* An item much bigger than what is left goes to another file. */
                if ((uint64_t)(*rho * (double)it.bytes) > left + left / 8 + 16 * KIB) {
                        misfits++;
                        gen_arena_reset(&arena);
                        continue;
                }
                est += it.bytes;
                misfits = 0;
                r2 = pstw_message(w, fo.nid[it.folder], false, &it.msg, NULL);
                if (r2 < 0)
                        goto fail;
                gen_item_hash(&it.msg, h);
                r2 = hashset_add(&mb->items, h);
                if (r2 < 0)
                        goto fail;
                fr->messages++;
                fr->folder_msgs[it.folder]++;
                fr->attachments += it.attachments;
                fr->embedded += it.embedded;
                if (*n_cur == cap_cur) {
                        uint64_t *n = realloc(*cur, (cap_cur ? 2 * cap_cur : 256) * sizeof(*n));

                        if (!n) {
                                r2 = -ENOMEM;
                                goto fail;
                        }
                        *cur = n;
                        cap_cur = cap_cur ? 2 * cap_cur : 256;
                }
                (*cur)[(*n_cur)++] = seed;
                gen_arena_reset(&arena);
        }
        gen_arena_free(&arena);
        r2 = pstw_close(w, &diag);
        w = NULL;
        if (r2 < 0)
                goto fail;
        if (fstat(fd, &st) < 0) {
                r2 = -errno;
                goto fail;
        }
        fr->size = (uint64_t)st.st_size;
        /* Learn what the writer adds to the items' bytes, for the next file;
         * a file of a few regions says too little (padding dominates). */
        if (est >= 8 * PSTW_REGION && fr->size > PST_EMPTY_EST + PSTW_REGION / 2)
                *rho = MIN(1.5, MAX(0.9, (double)(fr->size - PST_EMPTY_EST - PSTW_REGION / 2) /
                                                 (double)est));
        close(fd);
        return 0;
fail:
        gen_arena_free(&arena);
        if (w)
                pstw_close(w, &diag);
        close(fd);
        return mb_fail(mb, r2, "writing", full, &diag);
}

static int make_mailbox(struct estate *es, struct mailbox *mb)
{
        const struct options *o = es->o;
        struct gen_rng r;
        struct gen_mailbox_ctx ctx = {
                .people = &es->people,
                .bytes = &es->bytes,
                .corpus = &es->corpus,
                .owner = mb->index,
                .embedded_rate = o->embedded_rate,
                .corpus_rate = o->corpus_rate,
        };
        struct layout *lay = &mb->layout;
        uint32_t *contacts;
        uint64_t *prev = NULL, *cur = NULL, fresh = 0, left = mb->budget;
        size_t n_prev = 0, n_cur = 0;
        double w[MAX_FILES_PER_MAILBOX], w_left = 0, rho = RHO_START;
        char dir[4096];
        int ret = 0;

        gen_rng_seed(&r, gen_mix(o->seed, 0x3A11B0C5 + (uint64_t)mb->index));
        /* Whom the owner writes to: 15-80 people, mostly colleagues. */
        ctx.n_contacts = 15 + (size_t)gen_rng_below(&r, 66);
        contacts = calloc(ctx.n_contacts, sizeof(*contacts));
        mb->files = calloc(o->files_per_mailbox, sizeof(*mb->files));
        if (!contacts || !mb->files) {
                free(contacts);
                return mb_fail(mb, -ENOMEM, "mailbox", mb->owner->smtp, NULL);
        }
        for (size_t i = 0; i < ctx.n_contacts; i++) {
                bool internal = gen_rng_below(&r, 100) < 70;
                size_t k = internal ? gen_rng_below(&r, es->people.n_internal)
                                    : es->people.n_internal +
                                              gen_rng_below(&r, es->people.n - es->people.n_internal);

                contacts[i] = (uint32_t)(k == mb->index ? (k + 1) % es->people.n : k);
        }
        ctx.contacts = contacts;
        {
                /* Active between 1998 and 2024, for 1 to 12 years. */
                int64_t start = 883612800 + (int64_t)gen_rng_below(&r, 22ull * 365 * 86400);
                int64_t span = (1 + (int64_t)gen_rng_below(&r, 12)) * 365 * 86400;

                ctx.t_start = start;
                ctx.t_end = MIN(start + span, (int64_t)1735689600);
        }
        layout_make(lay, &r);
        ctx.n_folders = lay->n;
        for (unsigned f = 0; f < o->files_per_mailbox; f++) {
                w[f] = gen_rng_lognormal(&r, 1.0, 0.5, 0.1, 10);
                w_left += w[f];
        }
        snprintf(dir, sizeof(dir), "%s/shares/%s/users/%s", o->out, mb->share, mb->owner->login);
        ret = mkdirs(dir);
        if (ret < 0) {
                mb_fail(mb, ret, "cannot create", dir, NULL);
                goto out;
        }

        for (unsigned f = 0; f < o->files_per_mailbox; f++) {
                struct file_rec *fr = &mb->files[mb->n_files];
                const char *stem = pst_names[gen_rng_below(&r, ELEMENTSOF(pst_names))];
                int orig = -1;

                *fr = (struct file_rec){ .copy_of = -1 };
                /* A whole-file copy of an earlier, undamaged file of the
                 * mailbox that fits in what is left of its budget. */
                if (f > 0 && gen_rng_unit(&r) < o->copy_rate) {
                        unsigned k = (unsigned)gen_rng_below(&r, mb->n_files);

                        for (unsigned i = 0; i < mb->n_files && orig < 0; i++) {
                                const struct file_rec *c = &mb->files[(k + i) % mb->n_files];

                                if (c->copy_of < 0 && c->corrupt.kind == GEN_CORRUPT_NONE &&
                                    c->size <= left + PSTW_REGION / 2)
                                        orig = (int)((k + i) % mb->n_files);
                        }
                }
                if (orig >= 0) {
                        const struct file_rec *src = &mb->files[orig];
                        bool elsewhere = gen_rng_below(&r, 2) == 0;
                        const char *base = strrchr(src->path, '/') + 1;
                        char from[4096], to[4096], *name = NULL, *path = NULL;
                        int len = (int)strlen(base) - 4; /* without ".pst" */

                        /* In the backup share under the same name, or beside
                         * the original as "Copy of NAME". */
                        if (asprintf(&name, elsewhere ? "%.*s" : "Copy of %.*s", len, base) >= 0)
                                path = file_name(mb, elsewhere ? es->shares[es->n_shares - 1]
                                                               : mb->share,
                                                 name);
                        free(name);
                        if (!path) {
                                ret = mb_fail(mb, -ENOMEM, "mailbox", mb->owner->smtp, NULL);
                                goto out;
                        }
                        *fr = *src;
                        fr->path = path;
                        fr->copy_of = orig;
                        mb->n_files++;
                        snprintf(to, sizeof(to), "%s/%s", o->out, fr->path);
                        *strrchr(to, '/') = 0;
                        ret = mkdirs(to);
                        snprintf(from, sizeof(from), "%s/%s", o->out, src->path);
                        snprintf(to, sizeof(to), "%s/%s", o->out, fr->path);
                        if (ret >= 0)
                                ret = copy_file(from, to);
                        if (ret < 0) {
                                mb_fail(mb, ret, "cannot copy to", to, NULL);
                                goto out;
                        }
                        w_left -= w[f];
                        left = left > fr->size ? left - fr->size : 0;
                        continue;
                }

                fr->path = file_name(mb, mb->share, stem);
                if (!fr->path) {
                        ret = mb_fail(mb, -ENOMEM, "mailbox", mb->owner->smtp, NULL);
                        goto out;
                }
                {
                        double u = gen_rng_unit(&r);

                        fr->crypt = u < o->permute_rate                  ? PST_CRYPT_PERMUTE
                                    : u < o->permute_rate + o->cyclic_rate ? PST_CRYPT_CYCLIC
                                                                           : PST_CRYPT_NONE;
                }
                if (gen_rng_unit(&r) < o->password_rate) {
                        snprintf(fr->password_text, sizeof(fr->password_text), "%.40s%04u",
                                 mb->owner->login, (unsigned)gen_rng_below(&r, 10000));
                        fr->password = true;
                        fr->password_crc = pst_crc32(0, fr->password_text,
                                                     strlen(fr->password_text));
                }
                if (gen_rng_unit(&r) < o->corrupt_rate)
                        fr->corrupt.kind = GEN_CORRUPT_BLOCK_CRC + (int)gen_rng_below(&r, 3);
                {
                        uint64_t target = f + 1 == o->files_per_mailbox
                                                  ? left
                                                  : (uint64_t)((double)left * w[f] / w_left);
                        struct gen_rng fr_rng;

                        gen_rng_seed(&fr_rng, gen_rng_next(&r));
                        ret = write_pst(es, mb, &ctx, lay, &fr_rng, fr, target, prev, n_prev,
                                        &cur, &n_cur, &fresh, &rho);
                        if (ret < 0)
                                goto out;
                }
                w_left -= w[f];
                mb->messages += fr->messages;
                mb->n_files++;
                /* Later files repeat items of the earlier ones. */
                {
                        uint64_t *np = realloc(prev, (n_prev + n_cur) * sizeof(*np) + 1);

                        if (!np) {
                                ret = mb_fail(mb, -ENOMEM, "mailbox", mb->owner->smtp, NULL);
                                goto out;
                        }
                        prev = np;
                        memcpy(prev + n_prev, cur, n_cur * sizeof(*cur));
                        n_prev += n_cur;
                        n_cur = 0;
                }
                if (fr->corrupt.kind != GEN_CORRUPT_NONE) {
                        char full[4096];
                        struct gen_rng cr;
                        int fd;

                        snprintf(full, sizeof(full), "%s/%s", o->out, fr->path);
                        gen_rng_seed(&cr, gen_rng_next(&r));
                        fd = open(full, O_RDWR | O_CLOEXEC);
                        ret = fd < 0 ? -errno : gen_corrupt_file(fd, fr->corrupt.kind, &cr, &fr->corrupt);
                        if (fd >= 0)
                                close(fd);
                        if (ret == -ENOENT) {
                                /* No message to damage: truncate it instead. */
                                fd = open(full, O_RDWR | O_CLOEXEC);
                                ret = fd < 0 ? -errno
                                             : gen_corrupt_file(fd, GEN_CORRUPT_TRUNCATE, &cr,
                                                                &fr->corrupt);
                                if (fd >= 0)
                                        close(fd);
                        }
                        if (ret < 0) {
                                mb_fail(mb, ret, "cannot damage", full, NULL);
                                goto out;
                        }
                        if (fr->corrupt.kind == GEN_CORRUPT_TRUNCATE)
                                fr->size = fr->corrupt.offset;
                }
                left = left > fr->size ? left - fr->size : 0;
        }
out:
        free(prev);
        free(cur);
        free(contacts);
        return ret;
}

static void *worker(void *arg)
{
        struct estate *es = arg;

        for (;;) {
                unsigned i = atomic_fetch_add(&es->next, 1);

                if (i >= es->o->mailboxes)
                        return NULL;
                if (make_mailbox(es, &es->mb[i]) < 0)
                        return NULL; /* the error is in the mailbox; the rest are not needed */
        }
}

/* ---- manifest -------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

/* The folder's path below the IPM subtree, names joined with '/', as a
 * JSON string. */
static void folder_path(FILE *f, const struct layout *l, unsigned k)
{
        char buf[MAX_FOLDERS * 32] = "";
        const char *parts[MAX_FOLDERS];
        unsigned n = 0;

        for (int i = (int)k; i >= 0 && n < MAX_FOLDERS; i = l->parent[i])
                parts[n++] = l->name[i];
        while (n--) {
                strcat(buf, parts[n]);
                if (n)
                        strcat(buf, "/");
        }
        json_str(f, buf);
}

static int write_manifest(const struct estate *es, uint64_t total)
{
        const struct options *o = es->o;
        char path[4096], tmp[4200];
        FILE *f;
        bool first = true;

        snprintf(path, sizeof(path), "%s/manifest.json", o->out);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        f = fopen(tmp, "w");
        if (!f)
                return -errno;
        fprintf(f, "{\n\"generator\": {\"tool\": \"gen-estate\", \"seed\": %" PRIu64
                   ", \"size\": %" PRIu64 ", \"mailboxes\": %u, \"files_per_mailbox\": %u"
                   ", \"dup_rate\": %g, \"copy_rate\": %g, \"corrupt_rate\": %g"
                   ", \"password_rate\": %g, \"permute_rate\": %g, \"cyclic_rate\": %g"
                   ", \"embedded_rate\": %g"
                   ", \"corpus_rate\": %g, \"corpus_files\": %u, \"corpus_messages\": %zu},\n",
                o->seed, o->size, o->mailboxes, o->files_per_mailbox, o->dup_rate, o->copy_rate,
                o->corrupt_rate, o->password_rate, o->permute_rate, o->cyclic_rate, o->embedded_rate,
                o->corpus_rate, es->corpus.files, es->corpus.n_msgs);
        fputs("\"content_hash\": \"pstream-item-v1: XXH3-128 of the canonical serialisation of "
              "an item's properties, recipients and attachments (bench/README.md)\",\n", f);
        fprintf(f, "\"total_size\": %" PRIu64 ",\n\"files\": [", total);
        for (unsigned m = 0; m < o->mailboxes; m++) {
                const struct mailbox *mb = &es->mb[m];

                for (unsigned i = 0; i < mb->n_files; i++) {
                        const struct file_rec *fr = &mb->files[i];

                        fputs(first ? "\n {\"path\": " : ",\n {\"path\": ", f);
                        first = false;
                        json_str(f, fr->path);
                        fputs(", \"mailbox\": ", f);
                        json_str(f, mb->owner->smtp);
                        fprintf(f, ", \"size\": %" PRIu64 ", \"messages\": %" PRIu64
                                   ", \"attachments\": %" PRIu64 ", \"embedded\": %" PRIu64
                                   ", \"folders\": [",
                                fr->size, fr->messages, fr->attachments, fr->embedded);
                        for (unsigned k = 0; k < fr->folders; k++) {
                                fputs(k ? ", {\"path\": " : "{\"path\": ", f);
                                folder_path(f, &mb->layout, k);
                                fprintf(f, ", \"messages\": %" PRIu32 "}", fr->folder_msgs[k]);
                        }
                        fprintf(f, "], \"password\": %s", fr->password ? "true" : "false");
                        if (fr->password) {
                                fputs(", \"password_text\": ", f);
                                json_str(f, fr->password_text);
                                fprintf(f, ", \"password_crc\": %" PRIu32, fr->password_crc);
                        }
                        fprintf(f, ", \"crypt\": \"%s\", \"corrupt\": ", pst_crypt_name(fr->crypt));
                        if (fr->corrupt.kind == GEN_CORRUPT_NONE)
                                fputs("null", f);
                        else if (fr->corrupt.kind == GEN_CORRUPT_BLOCK_CRC)
                                fprintf(f, "{\"kind\": \"%s\", \"offset\": %" PRIu64 ", \"nid\": %" PRIu32 "}",
                                        gen_corrupt_name(fr->corrupt.kind), fr->corrupt.offset,
                                        fr->corrupt.nid);
                        else
                                fprintf(f, "{\"kind\": \"%s\", \"offset\": %" PRIu64 "}",
                                        gen_corrupt_name(fr->corrupt.kind), fr->corrupt.offset);
                        fputs(", \"copy_of\": ", f);
                        if (fr->copy_of < 0)
                                fputs("null", f);
                        else
                                json_str(f, mb->files[fr->copy_of].path);
                        fputc('}', f);
                }
        }
        fputs("\n],\n\"mailboxes\": [", f);
        for (unsigned m = 0; m < o->mailboxes; m++) {
                const struct mailbox *mb = &es->mb[m];

                fputs(m ? ",\n {\"name\": " : "\n {\"name\": ", f);
                json_str(f, mb->owner->smtp);
                fputs(", \"user\": ", f);
                json_str(f, mb->owner->login);
                fputs(", \"display_name\": ", f);
                json_str(f, mb->owner->name);
                fprintf(f, ", \"files\": %u, \"messages\": %" PRIu64 ", \"unique_items\": %zu, \"items\": [",
                        mb->n_files, mb->messages, mb->items.n);
                for (size_t i = 0; i < mb->items.n; i++) {
                        fputs(i ? ",\"" : "\"", f);
                        for (unsigned k = 0; k < 16; k++)
                                fprintf(f, "%02x", mb->items.h[i][k]);
                        fputc('"', f);
                }
                fputs("]}", f);
        }
        fputs("\n]\n}\n", f);
        if (fflush(f) != 0 || ferror(f)) {
                fclose(f);
                return -EIO;
        }
        fclose(f);
        return rename(tmp, path) < 0 ? -errno : 0;
}

/* ---- options --------------------------------------------------------------- */

static const char usage[] =
        "Usage: gen-estate --out DIR --size SIZE --mailboxes N --seed S --dup-rate R [options]\n"
        "       gen-estate --item-hashes FILE...\n"
        "\n"
        "Writes DIR/shares/<share>/users/<user>/<name>.pst, about SIZE bytes in all,\n"
        "and DIR/manifest.json (the ground truth).  SIZE takes K, M, G, T (powers of 1024).\n"
        "\n"
        "  --files-per-mailbox M  PSTs per mailbox, whole-file copies included (3)\n"
        "  --dup-rate R           share of items in a mailbox's later files repeated\n"
        "                         from its earlier ones (0-1)\n"
        "  --copy-rate R          share of later files that are whole-file copies (R/2)\n"
        "  --corrupt-rate C       share of files damaged after writing (0)\n"
        "  --password-rate P      share of files with a password CRC (0)\n"
        "  --permute-rate P       share of files permute-encoded (0.25)\n"
        "  --cyclic-rate P        share of files with cyclic encoding (0.05)\n"
        "  --embedded-rate E      share of messages forwarding an embedded message (0.02)\n"
        "  --corpus PATH          harvest real messages from the PSTs under PATH (repeatable)\n"
        "  --corpus-rate R        share of messages built on a corpus message (0.3)\n"
        "  --jobs N               mailboxes written at once (the CPU count)\n"
        "\n"
        "--item-hashes reads every message of each FILE with pstream's reader and prints\n"
        "its content hash and NID (exit 1 if a message or file could not be read).\n";

static int parse_size(const char *s, uint64_t *ret)
{
        char *end;
        double v;
        uint64_t mul = 1;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || v < 0)
                return -EINVAL;
        switch (*end) {
        case 'k': case 'K': mul = KIB; end++; break;
        case 'm': case 'M': mul = MIB; end++; break;
        case 'g': case 'G': mul = GIB; end++; break;
        case 't': case 'T': mul = 1024 * GIB; end++; break;
        default: break;
        }
        if (mul > 1 && *end == 'i')
                end++;
        if (*end == 'B')
                end++;
        if (*end || v * (double)mul > 1e15)
                return -EINVAL;
        *ret = (uint64_t)(v * (double)mul);
        return 0;
}

static int parse_rate(const char *s, double *ret)
{
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || !(v >= 0 && v <= 1))
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
        enum { O_OUT = 256, O_SIZE, O_MAILBOXES, O_FILES, O_SEED, O_DUP, O_COPY, O_CORRUPT,
               O_PASSWORD, O_PERMUTE, O_CYCLIC, O_EMBEDDED, O_CORPUS, O_CORPUS_RATE, O_JOBS,
               O_HELP };
        static const struct option longopts[] = {
                { "out", required_argument, NULL, O_OUT },
                { "size", required_argument, NULL, O_SIZE },
                { "mailboxes", required_argument, NULL, O_MAILBOXES },
                { "files-per-mailbox", required_argument, NULL, O_FILES },
                { "seed", required_argument, NULL, O_SEED },
                { "dup-rate", required_argument, NULL, O_DUP },
                { "copy-rate", required_argument, NULL, O_COPY },
                { "corrupt-rate", required_argument, NULL, O_CORRUPT },
                { "password-rate", required_argument, NULL, O_PASSWORD },
                { "permute-rate", required_argument, NULL, O_PERMUTE },
                { "cyclic-rate", required_argument, NULL, O_CYCLIC },
                { "embedded-rate", required_argument, NULL, O_EMBEDDED },
                { "corpus", required_argument, NULL, O_CORPUS },
                { "corpus-rate", required_argument, NULL, O_CORPUS_RATE },
                { "jobs", required_argument, NULL, O_JOBS },
                { "help", no_argument, NULL, O_HELP },
                {},
        };
        bool have_size = false, have_mb = false, have_seed = false, have_dup = false;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        int c, r = 0;

        *o = (struct options){
                .files_per_mailbox = 3,
                .copy_rate = -1,
                .permute_rate = 0.25,
                .cyclic_rate = 0.05,
                .embedded_rate = 0.02,
                .corpus_rate = 0.3,
                .jobs = ncpu > 0 ? (unsigned)MIN(ncpu, 64) : 1,
        };
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case O_OUT: o->out = optarg; break;
                case O_SIZE: r = parse_size(optarg, &o->size); have_size = true; break;
                case O_MAILBOXES:
                        r = parse_uint(optarg, 1, MAX_MAILBOXES, &o->mailboxes);
                        have_mb = true;
                        break;
                case O_FILES: r = parse_uint(optarg, 1, MAX_FILES_PER_MAILBOX, &o->files_per_mailbox); break;
                case O_SEED: {
                        char *end;

                        errno = 0;
                        o->seed = strtoull(optarg, &end, 0);
                        r = errno || end == optarg || *end ? -EINVAL : 0;
                        have_seed = true;
                        break;
                }
                case O_DUP: r = parse_rate(optarg, &o->dup_rate); have_dup = true; break;
                case O_COPY: r = parse_rate(optarg, &o->copy_rate); break;
                case O_CORRUPT: r = parse_rate(optarg, &o->corrupt_rate); break;
                case O_PASSWORD: r = parse_rate(optarg, &o->password_rate); break;
                case O_PERMUTE: r = parse_rate(optarg, &o->permute_rate); break;
                case O_CYCLIC: r = parse_rate(optarg, &o->cyclic_rate); break;
                case O_EMBEDDED: r = parse_rate(optarg, &o->embedded_rate); break;
                case O_CORPUS_RATE: r = parse_rate(optarg, &o->corpus_rate); break;
                case O_CORPUS:
                        if (o->n_corpus == MAX_CORPUS_PATHS)
                                r = -E2BIG;
                        else
                                o->corpus[o->n_corpus++] = optarg;
                        break;
                case O_JOBS: r = parse_uint(optarg, 1, 64, &o->jobs); break;
                case O_HELP: fputs(usage, stdout); exit(0);
                default: fputs(usage, stderr); return -EINVAL;
                }
                if (r < 0) {
                        fprintf(stderr, "gen-estate: bad value for --%s: %s\n",
                                longopts[c - O_OUT].name, optarg);
                        return r;
                }
        }
        if (optind < argc || !o->out || !have_size || !have_mb || !have_seed || !have_dup) {
                fputs("gen-estate: --out, --size, --mailboxes, --seed and --dup-rate are required\n",
                      stderr);
                fputs(usage, stderr);
                return -EINVAL;
        }
        if (o->copy_rate < 0)
                o->copy_rate = o->dup_rate / 2;
        if (o->permute_rate + o->cyclic_rate > 1) {
                fputs("gen-estate: --permute-rate + --cyclic-rate is more than 1\n", stderr);
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct options o;
        struct estate es = {};
        pthread_t th[64];
        unsigned n_th = 0;
        struct timespec t0, t1;
        uint64_t total = 0, messages = 0;
        unsigned n_files = 0;
        double wsum = 0;
        int r = 0;

        if (argc >= 2 && strcmp(argv[1], "--item-hashes") == 0) {
                for (int i = 2; i < argc; i++)
                        if (gen_item_hashes(argv[i], stdout) < 0)
                                r = 1;
                return fflush(stdout) == 0 ? r : 1;
        }
        if (parse_options(argc, argv, &o) < 0)
                return 2;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        es.o = &o;
        r = mkdirs(o.out);
        if (r < 0) {
                fprintf(stderr, "gen-estate: cannot create %s: %s\n", o.out, strerror(-r));
                return 1;
        }
        /* The mailbox owners are the first people of the directory. */
        if (gen_people_build(&es.people, o.seed, (size_t)o.mailboxes + 40 + o.mailboxes / 2,
                             40 + (size_t)o.mailboxes / 2) < 0 ||
            gen_bytes_build(&es.bytes, o.seed, BYTE_POOL_SIZE) < 0) {
                fputs("gen-estate: out of memory\n", stderr);
                return 1;
        }
        r = gen_corpus_load(&es.corpus, o.corpus, o.n_corpus, CORPUS_CAP);
        if (r < 0)
                return 1;
        if (o.n_corpus && es.corpus.n_msgs == 0)
                fputs("gen-estate: no message found in the corpus; items are all synthetic\n",
                      stderr);

        /* Shares: home shares for about 8 mailboxes each, and a backup share
         * that receives some of the copies. */
        es.n_shares = 2 + MIN(o.mailboxes / 8, 6u);
        es.shares = calloc(es.n_shares, sizeof(*es.shares));
        es.mb = calloc(o.mailboxes, sizeof(*es.mb));
        if (!es.shares || !es.mb) {
                fputs("gen-estate: out of memory\n", stderr);
                return 1;
        }
        for (unsigned i = 0; i + 1 < es.n_shares; i++)
                if (asprintf(&es.shares[i], "fs%02u-home", i + 1) < 0)
                        return 1;
        es.shares[es.n_shares - 1] = strdup("nas-backup");
        {
                struct gen_rng r0;

                gen_rng_seed(&r0, gen_mix(o.seed, 0x51CE));
                for (unsigned i = 0; i < o.mailboxes; i++) {
                        struct mailbox *mb = &es.mb[i];

                        mb->index = i;
                        mb->owner = &es.people.p[i];
                        mb->share = es.shares[gen_rng_below(&r0, es.n_shares - 1)];
                        /* Mailbox sizes vary about 4x either way. */
                        mb->budget = (uint64_t)(gen_rng_lognormal(&r0, 1.0, 0.6, 0.2, 5) * 1e6);
                        wsum += (double)mb->budget;
                }
                for (unsigned i = 0; i < o.mailboxes; i++)
                        es.mb[i].budget = (uint64_t)((double)o.size * (double)es.mb[i].budget / wsum);
        }

        for (; n_th < MIN(o.jobs, o.mailboxes); n_th++)
                if (pthread_create(&th[n_th], NULL, worker, &es) != 0)
                        break;
        if (n_th == 0) {
                fputs("gen-estate: cannot start a thread\n", stderr);
                return 1;
        }
        for (unsigned i = 0; i < n_th; i++)
                pthread_join(th[i], NULL);

        r = 0;
        for (unsigned i = 0; i < o.mailboxes; i++) {
                if (es.mb[i].error) {
                        fprintf(stderr, "gen-estate: %s\n", es.mb[i].error_msg);
                        r = 1;
                }
                for (unsigned k = 0; k < es.mb[i].n_files; k++)
                        total += es.mb[i].files[k].size;
                messages += es.mb[i].messages;
                n_files += es.mb[i].n_files;
        }
        if (r == 0) {
                int w = write_manifest(&es, total);

                if (w < 0) {
                        fprintf(stderr, "gen-estate: cannot write the manifest: %s\n", strerror(-w));
                        r = 1;
                }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        fprintf(stderr,
                "gen-estate: %u files, %" PRIu64 " bytes (%.2f%% of --size), %" PRIu64
                " messages, corpus %zu messages from %u files, %.1f s\n",
                n_files, total, o.size ? 100.0 * (double)total / (double)o.size : 0.0, messages,
                es.corpus.n_msgs, es.corpus.files,
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

        for (unsigned i = 0; i < o.mailboxes; i++) {
                for (unsigned k = 0; k < es.mb[i].n_files; k++)
                        free(es.mb[i].files[k].path);
                free(es.mb[i].files);
                hashset_free(&es.mb[i].items);
        }
        free(es.mb);
        for (unsigned i = 0; i < es.n_shares; i++)
                free(es.shares[i]);
        free(es.shares);
        gen_corpus_free(&es.corpus);
        gen_bytes_free(&es.bytes);
        gen_people_free(&es.people);
        return r;
}
