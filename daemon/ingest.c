/* SPDX-License-Identifier: MIT
 *
 * ingest.c - the verbatim pipeline: every PST/OST found becomes one block
 * blob, byte for byte.
 *
 *   reader thread   opens sources, plans blocks, reads them through io/
 *        │ work queue (jobs: one block each, holding an io_buf)
 *   worker pool     CRC-64 of each block (sent as x-ms-content-crc64), and the
 *        │          file's XXH3-128, fed in block order
 *        │ upload queue
 *   uploader thread Put Blob / Put Block / Put Block List through net/
 *
 * Memory is the buffer pool (--memory) plus small per-file records: the
 * reader can only read what the pool lends it, and buffers go back when the
 * service acknowledged a block.  Queues are bounded; no stage waits on a
 * later one while holding something the later one needs.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "control.h"
#include "ingest.h"
#include "io/base/macro.h"
#include "json.h"
#include "log.h"
#include "options.h"
#include "progress.h"
#include "pstream/io.h"
#include "pstream/net.h"
#include "queue.h"
#include "rules.h"
#include "scan.h"
#include "schedule.h"
#include "state.h"

#define PST_CONTENT_TYPE "application/vnd.ms-outlook"

enum file_state {
        FILE_PENDING,
        FILE_DONE,      /* committed */
        FILE_FAILED,
        FILE_UNCHANGED, /* committed by an earlier run, per the journal */
};

struct pipeline;

struct file {
        struct pipeline *p;
        struct scan_entry *e; /* borrowed from the scan result */
        char *blob;           /* name under the URL's prefix */
        char *full_blob;      /* name in the container: the URL's prefix + blob */
        const struct rule *rule; /* mailbox rule that matched, after the run */
        char mailbox[330];
        uint64_t size;        /* as read (fstat at open) */
        struct net_plan plan;
        uint64_t block_size;  /* what to plan with; shrinks to 4 MiB after a 413 */
        uint64_t put_blob_max;
        /* Bumped when the file is restarted (413): blocks of an older
         * generation still in the pipeline are dropped. */
        atomic_uint gen;
        /* The reader is done with the current generation (no read in flight). */
        atomic_bool read_released;

        /* reader thread */
        struct io_file src;
        bool open;
        uint32_t reads_inflight;
        bool all_submitted;

        /* set by the reader before it hands over the file's last block, read
         * by the uploader after that block arrives (ordered by the queues):
         * 1 read completely and unchanged, <0 the error. */
        atomic_int read_status;
        /* set when the file failed: the reader stops reading it */
        atomic_bool aborted;

        /* workers: XXH3-128 over the blocks in order */
        pthread_mutex_t hash_lock;
        XXH3_state_t *xxh;
        uint32_t next_hash;
        struct pending *pending; /* blocks that arrived before their turn, sorted */
        XXH128_hash_t digest;
        bool hashed;
        unsigned hash_gen;

        bool unchanged; /* committed by an earlier run: set before threads start */

        /* uploader thread */
        bool journal_begun;   /* this generation's plan is in the journal */
        bool *staged_before;  /* blocks an earlier run staged, per the journal (and the
                               * service, when it could be asked) */
        uint32_t resumed;     /* how many of them */
        /* Resuming with a readable destination: Get Block List in flight;
         * the file's blocks wait in held until it answers. */
        bool reconciling;
        struct net_req reconcile;
        bool *present;
        struct job *held, **held_tail;
        bool restart_wanted;
        enum file_state state;
        uint32_t staged;
        uint32_t outstanding; /* requests submitted, not finished */
        struct net_req commit;
        char error[512];
        struct file *dup_of; /* same content as an earlier file */
};

/* A journal write waiting for space. */
struct jop {
        struct file *f;
        bool commit;     /* the commit record; else block index was staged */
        uint32_t index;
};

struct pending {
        uint32_t index;
        struct io_buf *buf;
        struct pending *next;
};

enum job_kind {
        JOB_BLOCK,
        JOB_FILE_ERROR, /* the reader gave up on the file; error in ->error */
        JOB_STOP,       /* workers: exit */
};

struct job {
        enum job_kind kind;
        struct job *next;   /* on the deferred list (disk full) */
        struct file *f;
        unsigned gen;
        uint32_t index;
        struct io_buf *buf; /* NULL for a 0-byte file */
        uint64_t crc;
        struct net_req req;
};

struct pipeline {
        const struct ingest_cfg *cfg;
        struct file *files;
        size_t nfiles;
        struct io_pool *pool;
        struct io_reader *reader;
        struct net_uploader *up;
        struct queue *work_q, *up_q;
        struct progress progress;
        struct state *state;     /* journal, or NULL without --state */
        struct control *own_control; /* opened by this run (no shared state), or NULL */
        struct ingest_shared *sh; /* the daemon's (cfg->shared), or own_sh */
        struct ingest_shared own_sh;
        /* The journal had no space (SQLITE_FULL): no new request starts,
         * journal writes wait in jops (in order) and are tried again every
         * second, jobs popped meanwhile wait in deferred. */
        bool disk_full;
        double disk_full_retry;  /* monotonic time of the next try */
        struct jop *jops;
        size_t njops, jops_cap;
        struct job *deferred, **deferred_tail;
        struct rules rules;      /* --mailbox-rules, empty without */
        size_t unmapped;         /* committed files no rule matched */
        char dest_id[160];       /* account/container of the destination */

        atomic_bool stop;      /* fatal error or signal: read no more */
        atomic_uint workers_alive;
        atomic_bool reader_done;
        atomic_int fatal;      /* first fatal error, -errno */
        char fatal_msg[1024];
        unsigned files_final;  /* uploader thread */

        /* Files to read again (after a 413), handed from the uploader to the
         * reader; the reader waits here until no more can come. */
        pthread_mutex_t restart_lock;
        pthread_cond_t restart_cond;
        struct file **restart_q;
        size_t nrestart;
        bool no_more_restarts;
        /* block size for files planned from now on */
        atomic_uint_fast64_t block_size_now;
};

static volatile sig_atomic_t got_signal;

bool ingest_interrupted(void)
{
        return got_signal != 0;
}

static void on_signal(int sig)
{
        /* A second signal means "now": the state on disk is consistent after
         * every commit, so nothing is lost but the blocks in flight. */
        if (got_signal)
                _exit(3);
        got_signal = sig;
}

/* ---- helpers ------------------------------------------------------------ */

static struct job *job_new(enum job_kind kind, struct file *f)
{
        struct job *j = calloc(1, sizeof(*j));

        if (j) {
                j->kind = kind;
                j->f = f;
                if (f)
                        j->gen = atomic_load(&f->gen);
        }
        return j;
}

static void job_free(struct job *j)
{
        if (!j)
                return;
        io_buf_unref(j->buf);
        free(j);
}

static void set_fatal(struct pipeline *p, int error, const char *msg)
{
        int expected = 0;

        if (atomic_compare_exchange_strong(&p->fatal, &expected, error < 0 ? error : -EIO))
                snprintf(p->fatal_msg, sizeof(p->fatal_msg), "%s", msg);
        atomic_store(&p->stop, true);
}

/* ---- reader thread ---------------------------------------------------- */

/* A file's reads are all done: check that the source did not change while
 * it was read (a torn copy must never be committed), then close it. */
static void reader_finish_file(struct file *f)
{
        int st = atomic_load(&f->read_status);

        if (st == 0) {
                int r = io_file_changed(&f->src);
                st = r == 0 ? 1 : r > 0 ? -ESTALE : r;
                atomic_store(&f->read_status, st);
        }
        if (f->open) {
                io_file_close(&f->src);
                f->open = false;
        }
        atomic_store(&f->read_released, true);
}

static void reader_fail_file(struct pipeline *p, struct file *f, int error, const char *fmt, ...)
        _printf_(4, 5);

static void reader_fail_file(struct pipeline *p, struct file *f, int error, const char *fmt, ...)
{
        struct job *j = job_new(JOB_FILE_ERROR, f);
        va_list ap;

        atomic_store(&f->aborted, true);
        atomic_store(&f->read_status, error < 0 ? error : -EIO);
        if (!j) {
                set_fatal(p, -ENOMEM, "out of memory");
                return;
        }
        va_start(ap, fmt);
        vsnprintf(f->error, sizeof(f->error), fmt, ap);
        va_end(ap);
        queue_push(p->up_q, j);
        net_wakeup(p->up);
}

/* Hand a completed read to the workers. */
static void reader_dispatch(struct pipeline *p, struct io_done *d)
{
        struct job *j = d->tag;
        struct file *f = j->f;
        uint64_t want = j->index + 1 == f->plan.nblocks
                                ? f->size - (uint64_t)j->index * f->plan.block_size
                                : f->plan.block_size;

        if (f->plan.single)
                want = f->size;
        j->buf = d->buf;
        f->reads_inflight--;

        if (d->result < 0 || (uint64_t)d->result != want) {
                if (!atomic_load(&f->aborted)) {
                        if (d->result < 0)
                                reader_fail_file(p, f, d->result, "read of block %u failed: %s",
                                                 j->index, strerror(-d->result));
                        else
                                reader_fail_file(p, f, -ESTALE,
                                                 "source shrank while being read (block %u: %d "
                                                 "of %" PRIu64 " bytes); rerun to upload it",
                                                 j->index, d->result, want);
                }
                job_free(j);
                if (f->reads_inflight == 0 && f->all_submitted)
                        reader_finish_file(f);
                return;
        }
        if (f->reads_inflight == 0 && f->all_submitted)
                reader_finish_file(f);
        queue_push(p->work_q, j);
}

static int reader_reap(struct pipeline *p, bool wait)
{
        struct io_done d;
        int r = io_reader_reap(p->reader, wait, &d);

        if (r < 0)
                return r;
        reader_dispatch(p, &d);
        return 0;
}

/* Get a buffer for len bytes; while the pool is empty, completed reads are
 * passed on (they free buffers downstream).  Blocks only when nothing of
 * ours is in flight, i.e. when the uploader holds every buffer. */
static int reader_alloc(struct pipeline *p, size_t len, struct io_buf **ret)
{
        for (;;) {
                int r = io_pool_alloc(p->pool, len, false, ret);
                if (r != -EAGAIN)
                        return r;
                if (io_reader_inflight(p->reader) > 0) {
                        r = reader_reap(p, true);
                        if (r < 0)
                                return r;
                        continue;
                }
                return io_pool_alloc(p->pool, len, true, ret);
        }
}

static void reader_file(struct pipeline *p, struct file *f)
{
        int r;

        f->reads_inflight = 0;
        f->all_submitted = false;
        r = io_file_open(AT_FDCWD, f->e->path, &f->src);
        if (r < 0) {
                reader_fail_file(p, f, r, "cannot open: %s", strerror(-r));
                atomic_store(&f->read_released, true);
                return;
        }
        f->open = true;
        f->size = f->src.id.size;

        r = net_plan(f->size, f->block_size, f->put_blob_max, &f->plan);
        if (r < 0) {
                reader_fail_file(p, f, r, "too large for one block blob (%" PRIu64 " bytes)",
                                 f->size);
                reader_finish_file(f);
                return;
        }
        if (!f->plan.single && f->plan.block_size > io_pool_nchunks(p->pool) *
                                                            io_pool_chunk_size(p->pool)) {
                reader_fail_file(p, f, -E2BIG,
                                 "needs %" PRIu64 " MiB blocks, more than --memory allows",
                                 f->plan.block_size >> 20);
                reader_finish_file(f);
                return;
        }

        if (f->size == 0) {
                /* Nothing to read: one empty Put Blob. */
                struct job *j = job_new(JOB_BLOCK, f);
                if (!j) {
                        set_fatal(p, -ENOMEM, "out of memory");
                        return;
                }
                f->all_submitted = true;
                reader_finish_file(f);
                queue_push(p->work_q, j);
                return;
        }

        for (uint32_t b = 0; b < f->plan.nblocks; b++) {
                uint64_t off = (uint64_t)b * f->plan.block_size;
                size_t len = f->plan.single ? f->size
                                            : (size_t)MIN(f->plan.block_size, f->size - off);
                struct io_buf *buf;
                struct job *j;

                if (atomic_load(&f->aborted) || atomic_load(&p->stop))
                        break;
                r = reader_alloc(p, len, &buf);
                if (r < 0) {
                        if (r != -ECANCELED)
                                reader_fail_file(p, f, r, "no read buffer: %s", strerror(-r));
                        break;
                }
                j = job_new(JOB_BLOCK, f);
                if (!j) {
                        io_buf_unref(buf);
                        set_fatal(p, -ENOMEM, "out of memory");
                        break;
                }
                j->index = b;
                for (;;) {
                        r = io_reader_submit(p->reader, f->src.fd, off, len, buf, j);
                        if (r != -EAGAIN)
                                break;
                        r = reader_reap(p, true);
                        if (r < 0)
                                break;
                }
                if (r < 0) {
                        io_buf_unref(buf);
                        job_free(j);
                        reader_fail_file(p, f, r, "cannot queue read: %s", strerror(-r));
                        break;
                }
                f->reads_inflight++;
        }
        f->all_submitted = true;
        if (f->reads_inflight == 0)
                reader_finish_file(f);
}

static void *reader_thread(void *arg)
{
        struct pipeline *p = arg;

        for (size_t i = 0; i < p->nfiles && !atomic_load(&p->stop); i++)
                if (!p->files[i].unchanged) {
                        struct file *f = &p->files[i];
                        f->block_size = atomic_load(&p->block_size_now);
                        f->put_blob_max = MIN(p->cfg->put_blob_max, f->block_size);
                        reader_file(p, f);
                }
        for (;;) {
                struct file *f = NULL;

                /* Nothing of ours may be in flight while we wait: the
                 * uploader needs those blocks to finish the run. */
                while (io_reader_inflight(p->reader) > 0)
                        if (reader_reap(p, true) < 0)
                                break;
                pthread_mutex_lock(&p->restart_lock);
                while (p->nrestart == 0 && !p->no_more_restarts)
                        pthread_cond_wait(&p->restart_cond, &p->restart_lock);
                if (p->nrestart > 0)
                        f = p->restart_q[--p->nrestart];
                pthread_mutex_unlock(&p->restart_lock);
                if (!f || atomic_load(&p->stop))
                        break;

                /* A fresh start: new generation, hash from the beginning. */
                pthread_mutex_lock(&f->hash_lock);
                XXH3_128bits_reset(f->xxh);
                for (struct pending *n = f->pending, *next; n; n = next) {
                        next = n->next;
                        io_buf_unref(n->buf);
                        free(n);
                }
                f->pending = NULL;
                f->next_hash = 0;
                f->hashed = false;
                f->hash_gen = atomic_load(&f->gen);
                pthread_mutex_unlock(&f->hash_lock);
                atomic_store(&f->read_status, 0);
                atomic_store(&f->aborted, false);
                reader_file(p, f);
        }
        /* Files whose reads never got going (stop) are closed here. */
        for (size_t i = 0; i < p->nfiles; i++)
                if (p->files[i].open)
                        reader_finish_file(&p->files[i]);

        for (unsigned w = 0; w < p->cfg->workers; w++) {
                struct job *j = job_new(JOB_STOP, NULL);
                if (!j) {
                        /* Workers then find the stop flag on their way out. */
                        set_fatal(p, -ENOMEM, "out of memory");
                        break;
                }
                queue_push(p->work_q, j);
        }
        atomic_store(&p->reader_done, true);
        net_wakeup(p->up);
        return NULL;
}

/* ---- worker pool ------------------------------------------------------ */

static void hash_update(struct file *f, const struct io_buf *buf)
{
        if (buf)
                for (unsigned c = 0; c < buf->nchunks; c++)
                        XXH3_128bits_update(f->xxh, buf->chunk[c].data, buf->chunk[c].len);
        f->next_hash++;
}

/* Feed the file hash in block order.  Blocks may come out of order (reads
 * complete in any order and workers race), so early ones wait in a short
 * sorted list; its length is bounded by the buffers in flight. */
static void hash_block(struct file *f, unsigned gen, uint32_t index, struct io_buf *buf)
{
        pthread_mutex_lock(&f->hash_lock);
        if (gen != f->hash_gen || f->next_hash == UINT32_MAX)
                goto out; /* an older generation, or abandoned (see below) */
        if (index != f->next_hash) {
                struct pending *n = malloc(sizeof(*n)), **pp = &f->pending;
                if (!n) {
                        /* Without memory the digest can't be completed:
                         * leave it missing rather than wrong. */
                        f->next_hash = UINT32_MAX;
                        goto out;
                }
                n->index = index;
                n->buf = io_buf_ref(buf);
                while (*pp && (*pp)->index < index)
                        pp = &(*pp)->next;
                n->next = *pp;
                *pp = n;
                goto out;
        }
        hash_update(f, buf);
        while (f->pending && f->pending->index == f->next_hash) {
                struct pending *n = f->pending;
                f->pending = n->next;
                hash_update(f, n->buf);
                io_buf_unref(n->buf);
                free(n);
        }
        if (f->next_hash == f->plan.nblocks) {
                f->digest = XXH3_128bits_digest(f->xxh);
                f->hashed = true;
        }
out:
        pthread_mutex_unlock(&f->hash_lock);
}

static void *worker_thread(void *arg)
{
        struct pipeline *p = arg;

        for (;;) {
                struct job *j = queue_pop(p->work_q);

                if (j->kind == JOB_STOP) {
                        free(j);
                        break;
                }
                if (!atomic_load(&j->f->aborted)) {
                        uint64_t crc = 0;
                        if (j->buf)
                                for (unsigned c = 0; c < j->buf->nchunks; c++)
                                        crc = net_crc64(crc, j->buf->chunk[c].data,
                                                        j->buf->chunk[c].len);
                        j->crc = crc;
                        hash_block(j->f, j->gen, j->index, j->buf);
                }
                queue_push(p->up_q, j);
                net_wakeup(p->up);
        }
        atomic_fetch_sub(&p->workers_alive, 1);
        net_wakeup(p->up);
        return NULL;
}

/* ---- uploader thread -------------------------------------------------- */

static void digest_hex(const struct file *f, char out[33]);

static void file_final(struct pipeline *p, struct file *f, enum file_state st);

/* How the journal knows a blob and its source: the source as it was read
 * (fstat at open), never as discovery saw it. */
static struct state_file journal_key(const struct pipeline *p, const struct file *f)
{
        return (struct state_file){
                .dest = p->dest_id,
                .blob = f->full_blob,
                .path = f->e->path,
                .size = f->src.id.size,
                .mtime_ns = f->src.id.mtime_ns,
                .ino = f->src.id.ino,
        };
}

static void upload_job(struct pipeline *p, struct job *j);
static void reconcile_start(struct pipeline *p, struct file *f);
static void file_fail(struct pipeline *p, struct file *f, const char *fmt, ...) _printf_(3, 4);

/* ---- the journal, and a full disk under it ----------------------------- */

static void disk_full_enter(struct pipeline *p, int r)
{
        if (p->disk_full)
                return;
        p->disk_full = true;
        p->disk_full_retry = now_monotonic() + 1;
        net_pause(p->up, true);
        log_warning_errno(r, "state_dir=%s: the journal can't write (%m): uploads paused; they "
                          "resume when space returns",
                          p->cfg->state_dir);
}

static int jop_push(struct pipeline *p, struct file *f, bool commit, uint32_t index)
{
        if (p->njops == p->jops_cap) {
                size_t cap = p->jops_cap ? 2 * p->jops_cap : 64;
                struct jop *n = reallocarray(p->jops, cap, sizeof(*n));
                if (!n)
                        return -ENOMEM;
                p->jops = n;
                p->jops_cap = cap;
        }
        p->jops[p->njops++] = (struct jop){ .f = f, .commit = commit, .index = index };
        return 0;
}

static int journal_write_commit(struct pipeline *p, struct file *f)
{
        char hex[33];
        bool hashed;

        pthread_mutex_lock(&f->hash_lock);
        hashed = f->hashed;
        if (hashed)
                digest_hex(f, hex);
        pthread_mutex_unlock(&f->hash_lock);
        struct state_file sf = journal_key(p, f);
        sf.xxh3 = hashed ? hex : NULL;
        return state_record_commit(p->state, &sf);
}

/* Write one journal record now, or queue it behind the ones waiting for
 * space.  Returns 1 written (or given up on: see the log), 0 queued. */
static int journal_write(struct pipeline *p, struct file *f, bool commit, uint32_t index)
{
        int r;

        if (!p->disk_full) {
                r = commit ? journal_write_commit(p, f)
                           : state_block_staged(p->state, p->dest_id, f->full_blob, index);
                if (r >= 0)
                        return 1;
                p->sh->totals.journal_errors++;
                if (r != -ENOSPC) {
                        if (commit)
                                log_warning_errno(r, "file=%s: committed, but the journal could not "
                                                  "record it (%m); a rerun uploads it again",
                                                  f->e->path);
                        else
                                log_warning_errno(r, "file=%s block=%u: staged, but the journal "
                                                  "could not record it (%m); a crash now costs "
                                                  "its resend",
                                                  f->e->path, index);
                        return 1;
                }
                disk_full_enter(p, r);
        }
        if (jop_push(p, f, commit, index) < 0) {
                set_fatal(p, -ENOMEM, "out of memory");
                return 1;
        }
        return 0;
}

static void file_done(struct pipeline *p, struct file *f);

/* Disk full: try the waiting journal writes in order, once a second; when
 * all went through, uploads resume. */
static void journal_retry(struct pipeline *p)
{
        size_t i;

        if (!p->disk_full || now_monotonic() < p->disk_full_retry)
                return;
        p->disk_full_retry = now_monotonic() + 1;
        for (i = 0; i < p->njops; i++) {
                struct jop *o = &p->jops[i];
                int r = o->commit ? journal_write_commit(p, o->f)
                                  : state_block_staged(p->state, p->dest_id, o->f->full_blob,
                                                       o->index);
                if (r == -ENOSPC)
                        break;
                if (r < 0)
                        log_warning_errno(r, "file=%s: the journal could not record it (%m); a "
                                          "rerun sends it again",
                                          o->f->e->path);
                if (o->commit)
                        file_done(p, o->f);
        }
        memmove(p->jops, p->jops + i, (p->njops - i) * sizeof(*p->jops));
        p->njops -= i;
        if (p->njops > 0)
                return;
        p->disk_full = false;
        net_pause(p->up, p->sh->paused);
        log_notice("state_dir=%s: the journal writes again: uploads resume", p->cfg->state_dir);
        while (!p->disk_full && p->deferred) {
                struct job *j = p->deferred;
                p->deferred = j->next;
                if (!p->deferred)
                        p->deferred_tail = &p->deferred;
                upload_job(p, j);
        }
}

/* The run stops with journal writes still waiting: the blobs they commit
 * are on the service, but no record says so. */
static void journal_abandon(struct pipeline *p)
{
        for (size_t i = 0; i < p->njops; i++)
                if (p->jops[i].commit)
                        file_fail(p, p->jops[i].f, "committed, but the journal had no space to "
                                                  "record it; a rerun uploads it again");
        p->njops = 0;
        for (struct job *j = p->deferred, *next; j; j = next) {
                next = j->next;
                job_free(j);
        }
        p->deferred = NULL;
        p->deferred_tail = &p->deferred;
}

/* The block IDs of a blob name the source version and plan they were read
 * with: blocks of an earlier version left uncommitted on the service are
 * never taken for this one's (see net_block_id()). */
static uint64_t id_salt(const struct file *f)
{
        const uint64_t v[4] = { f->src.id.size, (uint64_t)f->src.id.mtime_ns, f->src.id.ino,
                                f->plan.block_size };

        return XXH3_64bits(v, sizeof(v));
}

/* The blob is committed: say so durably before counting it done. */
static void file_committed(struct pipeline *p, struct file *f)
{
        if (p->state && journal_write(p, f, true, 0) == 0)
                return; /* done when the record is written */
        file_done(p, f);
}

static void file_done(struct pipeline *p, struct file *f)
{
        p->sh->totals.files_committed++;
        p->sh->totals.bytes_committed += f->size;
        p->sh->totals.blocks_committed += f->plan.nblocks;
        file_final(p, f, FILE_DONE);
}

static void file_final(struct pipeline *p, struct file *f, enum file_state st)
{
        if (f->state != FILE_PENDING)
                return;
        f->state = st;
        p->files_final++;
        if (st == FILE_DONE) {
                atomic_fetch_add(&p->progress.files_done, 1);
        } else {
                atomic_fetch_add(&p->progress.files_failed, 1);
                p->sh->totals.files_failed++;
        }
}

static void file_fail(struct pipeline *p, struct file *f, const char *fmt, ...) _printf_(3, 4);

static void file_fail(struct pipeline *p, struct file *f, const char *fmt, ...)
{
        va_list ap;

        if (f->state != FILE_PENDING)
                return;
        atomic_store(&f->aborted, true);
        va_start(ap, fmt);
        vsnprintf(f->error, sizeof(f->error), fmt, ap);
        va_end(ap);
        log_error("file=%s blob=%s: %s", f->e->path, f->blob, f->error);
        file_final(p, f, FILE_FAILED);
}

/* A request failed for good: the file fails, and the log line carries the
 * service's answer as fields (status=, error=, request_id=). */
static void file_fail_request(struct pipeline *p, struct file *f, const struct net_diag *d,
                              const char *msg)
{
        if (f->state != FILE_PENDING)
                return;
        atomic_store(&f->aborted, true);
        snprintf(f->error, sizeof(f->error), "%.*s", (int)sizeof(f->error) - 1, msg);
        log_error("file=%s blob=%s status=%ld error=%s request_id=%s: %s", f->e->path, f->blob,
                  d ? d->status : 0L, d && d->error_code[0] ? d->error_code : "-",
                  d && d->request_id[0] ? d->request_id : "-", f->error);
        file_final(p, f, FILE_FAILED);
}

/* Errors that no other file can escape either: stop the run. */
static bool error_is_fatal(int r)
{
        return r == -EACCES || r == -ENOENT || r == -EPERM || r == -EINVAL;
}

static void fail_request(struct pipeline *p, struct file *f, const char *what, int r,
                         const struct net_diag *d)
{
        char msg[768];

        snprintf(msg, sizeof(msg), "%s failed: %s%s%s%s%s (HTTP %ld%s%s, %u attempt%s)", what,
                 d && d->msg[0] ? d->msg : strerror(-r), d && d->error_code[0] ? " [" : "",
                 d && d->error_code[0] ? d->error_code : "", d && d->error_code[0] ? "]" : "", "",
                 d ? d->status : 0L, d && d->request_id[0] ? ", request id " : "",
                 d && d->request_id[0] ? d->request_id : "", d ? d->attempts : 0,
                 d && d->attempts == 1 ? "" : "s");
        file_fail_request(p, f, d, msg);
        if (error_is_fatal(r)) {
                char fm[900];
                const char *hint = r == -ENOENT  ? "does the container exist?"
                                   : r == -EPERM ? "TLS verification failed; check --ca-file"
                                                 : "check the SAS or key and its permissions";
                snprintf(fm, sizeof(fm), "%s; %s", msg, hint);
                set_fatal(p, r, fm);
        }
}

static void submit_commit(struct pipeline *p, struct file *f);

/* The service refused a request as too large (413): read the file again
 * with 4 MiB blocks, the size every service version accepts, and plan every
 * later file that way too.  Returns false when there is nothing smaller to
 * fall back to. */
static bool request_restart(struct pipeline *p, struct file *f)
{
        uint64_t req_size = f->plan.single ? f->size : f->plan.block_size;

        if (req_size <= NET_FALLBACK_BLOCK_SIZE || f->restart_wanted)
                return f->restart_wanted;
        atomic_store(&p->block_size_now, NET_FALLBACK_BLOCK_SIZE);
        log_warning("file=%s: the service refused a %" PRIu64 " KiB request (413); uploading it "
                    "again with %llu KiB blocks",
                    f->e->path, req_size >> 10, NET_FALLBACK_BLOCK_SIZE >> 10);
        f->restart_wanted = true;
        atomic_store(&f->aborted, true);
        return true;
}

/* Restart files whose old generation has drained; tell the reader when no
 * restart can come any more. */
static void uploader_restarts(struct pipeline *p)
{
        bool pending = false;

        for (size_t i = 0; i < p->nfiles; i++) {
                struct file *f = &p->files[i];
                if (!f->restart_wanted)
                        continue;
                if (f->state != FILE_PENDING) {
                        f->restart_wanted = false;
                        continue;
                }
                if (f->outstanding > 0 || !atomic_load(&f->read_released)) {
                        pending = true;
                        continue;
                }
                f->restart_wanted = false;
                f->staged = 0;
                f->journal_begun = false;
                f->block_size = NET_FALLBACK_BLOCK_SIZE;
                f->put_blob_max = MIN(f->put_blob_max, NET_FALLBACK_BLOCK_SIZE);
                atomic_fetch_add(&f->gen, 1);
                atomic_store(&f->read_released, false);
                pthread_mutex_lock(&p->restart_lock);
                p->restart_q[p->nrestart++] = f;
                pthread_cond_signal(&p->restart_cond);
                pthread_mutex_unlock(&p->restart_lock);
                pending = true;
        }
        if (!pending && (p->files_final == p->nfiles || atomic_load(&p->stop))) {
                pthread_mutex_lock(&p->restart_lock);
                if (!p->no_more_restarts) {
                        p->no_more_restarts = true;
                        pthread_cond_signal(&p->restart_cond);
                }
                pthread_mutex_unlock(&p->restart_lock);
        }
}

static void on_block_done(struct net_req *req, int r, const struct net_diag *d)
{
        struct job *j = req->userdata;
        struct file *f = j->f;
        struct pipeline *p = f->p;

        f->outstanding--;
        if (j->gen != atomic_load(&f->gen) || f->restart_wanted) {
                job_free(j);
                return;
        }
        if (r >= 0 && j->buf)
                atomic_fetch_add(&p->progress.bytes_done, j->buf->len);
        if (f->state == FILE_PENDING) {
                if (r == -EMSGSIZE && request_restart(p, f)) {
                        /* the file goes round again */
                } else if (r == -ECANCELED) {
                        file_fail(p, f, "not uploaded: %s", p->fatal_msg);
                } else if (r < 0) {
                        char what[64];
                        if (f->plan.single)
                                snprintf(what, sizeof(what), "Put Blob");
                        else
                                snprintf(what, sizeof(what), "Put Block %u", j->index);
                        fail_request(p, f, what, r, d);
                } else if (f->plan.single) {
                        file_committed(p, f);
                } else {
                        if (p->state)
                                (void)journal_write(p, f, false, j->index);
                        p->sh->totals.blocks_staged++;
                        if (++f->staged == f->plan.nblocks)
                                submit_commit(p, f);
                }
        }
        job_free(j);
}

static void on_commit_finished(struct net_req *req, int r, const struct net_diag *d)
{
        struct file *f = req->userdata;
        struct pipeline *p = f->p;

        f->outstanding--;
        if (f->state != FILE_PENDING)
                return;
        if (r == -ECANCELED) {
                file_fail(p, f, "not committed: %s", p->fatal_msg);
        } else if (r < 0) {
                /* The service did not take the list: what the journal says
                 * was staged can't be trusted for the next run. */
                if (p->state)
                        (void)state_blob_forget(p->state, p->dest_id, f->full_blob);
                fail_request(p, f, "Put Block List", r, d);
        }
        else
                file_committed(p, f);
}

static void submit_commit(struct pipeline *p, struct file *f)
{
        int st = atomic_load(&f->read_status);
        int r;

        if (st < 0) {
                file_fail(p, f, "source changed while it was read: %s; rerun to upload it",
                          strerror(-st));
                return;
        }
        f->commit = (struct net_req){
                .op = NET_PUT_BLOCK_LIST,
                .blob = f->blob,
                .nblocks = f->plan.nblocks,
                .id_salt = id_salt(f),
                .content_type = PST_CONTENT_TYPE,
                .done = on_commit_finished,
                .userdata = f,
        };
        r = net_submit(p->up, &f->commit);
        if (r < 0) {
                file_fail(p, f, "cannot queue Put Block List: %s", strerror(-r));
                return;
        }
        f->outstanding++;
}

/* The service's answer: what it holds is not sent again, what the journal
 * had but the service lost (or never got) is.  Without an answer the
 * journal's word stands. */
static void on_reconciled(struct net_req *req, int r, const struct net_diag *d)
{
        struct file *f = req->userdata;
        struct pipeline *p = f->p;

        f->outstanding--;
        f->reconciling = false;
        if (r == 0 && f->staged_before) {
                uint32_t had = 0, lost = 0, found = 0;
                for (uint32_t i = 0; i < f->plan.nblocks; i++) {
                        had += f->staged_before[i];
                        lost += f->staged_before[i] && !f->present[i];
                        found += !f->staged_before[i] && f->present[i];
                        f->staged_before[i] = f->present[i];
                }
                f->resumed = had - lost + found;
                p->sh->totals.blocks_lost += lost;
                p->sh->totals.blocks_found += found;
                log_info("file=%s blob=%s: the service holds %u of %u blocks (journal: %u; lost "
                         "%u, found %u): sending the other %u",
                         f->e->path, f->blob, f->resumed, f->plan.nblocks, had, lost, found,
                         f->plan.nblocks - f->resumed);
        } else if (r != -ECANCELED) {
                log_warning("file=%s blob=%s status=%ld error=%s: Get Block List failed (%s); "
                            "trusting the journal",
                            f->e->path, f->blob, d ? d->status : 0L,
                            d && d->error_code[0] ? d->error_code : "-",
                            d && d->msg[0] ? d->msg : strerror(-r));
        }
        f->present = (free(f->present), NULL);
        while (f->held) {
                struct job *j = f->held;
                f->held = j->next;
                upload_job(p, j);
        }
}

/* Ask the service which blocks of this source version it holds (a
 * readable destination only: write-only SAS never get a read). */
static void reconcile_start(struct pipeline *p, struct file *f)
{
        if (!net_uploader_dest(p->up)->can_read)
                return;
        f->present = calloc(f->plan.nblocks, sizeof(bool));
        if (!f->present)
                return;
        f->reconcile = (struct net_req){
                .op = NET_GET_BLOCK_LIST,
                .blob = f->blob,
                .nblocks = f->plan.nblocks,
                .id_salt = id_salt(f),
                .block_size = f->plan.block_size,
                .blob_size = f->size,
                .present = f->present,
                .done = on_reconciled,
                .userdata = f,
        };
        if (net_submit(p->up, &f->reconcile) < 0) {
                f->present = (free(f->present), NULL);
                return;
        }
        f->outstanding++;
        f->reconciling = true;
        f->held = NULL;
        f->held_tail = &f->held;
}

/* The first block of a file's generation reaches the uploader: record its
 * plan, and learn which blocks an interrupted run already staged. */
static int journal_begin(struct pipeline *p, struct file *f)
{
        struct state_file sf = journal_key(p, f);
        int n;

        f->journal_begun = true;
        free(f->staged_before);
        f->staged_before = calloc(f->plan.nblocks, sizeof(bool));
        if (!f->staged_before)
                return 0; /* everything is sent: slower, never wrong */
        bool known = false;
        n = state_blob_begin(p->state, &sf, f->plan.block_size, f->plan.nblocks,
                             STATE_STAGED_MAX_AGE_S, f->staged_before, &known);
        if (n == -ENOSPC) {
                /* Tried again when there is space: nothing goes out before
                 * the plan is in the journal. */
                p->sh->totals.journal_errors++;
                f->journal_begun = false;
                f->staged_before = (free(f->staged_before), NULL);
                disk_full_enter(p, n);
                return n;
        }
        if (n < 0) {
                log_warning_errno(n, "file=%s: journal unusable for this file (%m); sending every "
                                  "block",
                                  f->e->path);
                f->staged_before = (free(f->staged_before), NULL);
                return 0;
        }
        f->resumed = (uint32_t)n;
        if (n > 0)
                log_info("file=%s: resuming: %d of %u blocks were staged by an interrupted run",
                         f->e->path, n, f->plan.nblocks);
        if (known)
                reconcile_start(p, f);
        return 0;
}

static void upload_job(struct pipeline *p, struct job *j)
{
        struct file *f = j->f;
        int r;

        if (j->kind == JOB_FILE_ERROR) {
                if (f->state == FILE_PENDING && j->gen == atomic_load(&f->gen)) {
                        char msg[sizeof(f->error)];
                        memcpy(msg, f->error, sizeof(msg));
                        file_fail(p, f, "%s", msg);
                }
                job_free(j);
                return;
        }
        if (j->gen != atomic_load(&f->gen) || f->restart_wanted) {
                job_free(j);
                return;
        }
        if (f->state != FILE_PENDING || atomic_load(&p->stop)) {
                if (f->state == FILE_PENDING && atomic_load(&p->stop))
                        file_fail(p, f, "not uploaded: %s",
                                  p->fatal_msg[0] ? "run stopped" : "interrupted");
                job_free(j);
                return;
        }
        {
                /* One Put Blob commits at once: only send bytes that were
                 * read whole from an unchanged source.  A file found changed
                 * while its blocks are still going out stops sending them:
                 * it can't be committed anyway. */
                int st = atomic_load(&f->read_status);
                if (st < 0) {
                        file_fail(p, f, "source changed while it was read (%s); rerun to upload it",
                                  strerror(-st));
                        job_free(j);
                        return;
                }
        }
        if (!f->plan.single && p->state) {
                if (!f->journal_begun && journal_begin(p, f) == -ENOSPC) {
                        j->next = NULL;
                        *p->deferred_tail = j;
                        p->deferred_tail = &j->next;
                        return;
                }
                if (f->reconciling) {
                        j->next = NULL;
                        *f->held_tail = j;
                        f->held_tail = &j->next;
                        return;
                }
                if (f->staged_before && f->staged_before[j->index]) {
                        /* Acknowledged before a crash: not sent again. */
                        atomic_fetch_add(&p->progress.bytes_done, j->buf->len);
                        p->sh->totals.blocks_resumed++;
                        job_free(j);
                        if (++f->staged == f->plan.nblocks)
                                submit_commit(p, f);
                        return;
                }
        }
        j->req = (struct net_req){
                .op = f->plan.single ? NET_PUT_BLOB : NET_PUT_BLOCK,
                .blob = f->blob,
                .block_index = j->index,
                .id_salt = id_salt(f),
                .buf = j->buf,
                .crc64 = j->crc,
                .content_type = PST_CONTENT_TYPE,
                .done = on_block_done,
                .userdata = j,
        };
        r = net_submit(p->up, &j->req);
        if (r < 0) {
                file_fail(p, f, "cannot queue upload: %s", strerror(-r));
                job_free(j);
                return;
        }
        f->outstanding++;
}

/* Stop means now: nothing new is read, requests in flight or waiting for a
 * retry are cancelled (a server that never answers must not hold a SIGTERM
 * hostage), and the reader is released from every wait. */
static void uploader_stop(struct pipeline *p)
{
        io_pool_cancel(p->pool);
        pthread_mutex_lock(&p->restart_lock);
        p->no_more_restarts = true;
        pthread_cond_signal(&p->restart_cond);
        pthread_mutex_unlock(&p->restart_lock);
        net_cancel_all(p->up);
}

/* The cap the configuration wants now (the schedule's rule in force, else
 * the cap), applied live: requests in flight go on at the new pace.  Called
 * every pass of the loop (at most 200 ms apart), so a schedule boundary or
 * a reloaded configuration takes effect within a second. */
static void apply_schedule(struct pipeline *p, uint64_t current)
{
        const struct ingest_shared *sh = p->sh;
        uint64_t want, next_rate = 0;
        time_t now = time(NULL), next;
        char a[32], b[32];

        if (sh->cap_overridden)
                return;
        want = sh->schedule ? sched_rate_at(sh->schedule, now) : sh->cap;
        if (want == current)
                return;
        net_set_cap(p->up, want);
        p->progress.cap = want;
        next = sh->schedule ? sched_next_change(sh->schedule, now, &next_rate) : -1;
        if (!sh->schedule) {
                log_info("cap %s", sched_format_rate(want, a, sizeof(a)));
        } else if (next < 0) {
                log_info("cap %s by the schedule", sched_format_rate(want, a, sizeof(a)));
        } else {
                struct tm tm;
                char when[32] = "";

                localtime_r(&next, &tm);
                strftime(when, sizeof(when), "%a %H:%M", &tm);
                log_info("cap %s by the schedule, %s from %s", sched_format_rate(want, a, sizeof(a)),
                         sched_format_rate(next_rate, b, sizeof(b)), when);
        }
}

/* The cap in force for sh: the override, the schedule's, or the cap. */
static uint64_t cap_now(const struct ingest_shared *sh)
{
        if (sh->cap_overridden)
                return sh->cap_override;
        return sh->schedule ? sched_rate_at(sh->schedule, time(NULL)) : sh->cap;
}

/* When the schedule changes the cap next: -1 when it doesn't (or when
 * `pstream cap` overrides it); the time as ISO 8601 in when. */
static time_t next_cap_change(const struct ingest_shared *sh, uint64_t *rate, char when[32])
{
        time_t next = -1;

        when[0] = '\0';
        if (sh->schedule && !sh->cap_overridden) {
                next = sched_next_change(sh->schedule, time(NULL), rate);
                if (next >= 0) {
                        struct tm tm;
                        localtime_r(&next, &tm);
                        strftime(when, 32, "%Y-%m-%dT%H:%M:%S%z", &tm);
                }
        }
        return next;
}

static void status_text(struct pipeline *p, FILE *out, bool json)
{
        struct net_stats st;
        uint64_t bd = atomic_load(&p->progress.bytes_done);
        uint64_t bt = atomic_load(&p->progress.bytes_total);
        double rate = p->progress.rate;
        double eta = rate > 0 && bt > bd ? (double)(bt - bd) / rate : -1;
        uint64_t next_rate = 0;
        char a[32], b[32], c[32], when[32];
        time_t next = next_cap_change(p->sh, &next_rate, when);

        net_get_stats(p->up, &st);
        const char *state = atomic_load(&p->stop) ? "stopping"
                            : p->sh->paused       ? "paused"
                            : p->disk_full        ? "waiting for disk space"
                                                  : "running";
        if (!json) {
                fprintf(out, "state: %s\n", state);
                fprintf(out, "files: %u of %u done, %u failed\n",
                        atomic_load(&p->progress.files_done), atomic_load(&p->progress.files_total),
                        atomic_load(&p->progress.files_failed));
                fprintf(out, "bytes: %s of %s, %.1f MB/s, ETA %s\n",
                        format_bytes(bd, a, sizeof(a)), format_bytes(bt, b, sizeof(b)), rate / 1e6,
                        format_duration(eta, c, sizeof(c)));
                fprintf(out, "cap: %s%s", sched_format_rate(st.cap, a, sizeof(a)),
                        p->sh->cap_overridden ? " (set by pstream cap)" : "");
                if (next >= 0)
                        fprintf(out, ", %s from %s", sched_format_rate(next_rate, b, sizeof(b)),
                                when);
                fprintf(out, "\nrequests: %" PRIu64 " done, %u active, %u waiting, %" PRIu64
                             " retries\n",
                        st.requests, st.active, st.queued, st.retries);
        } else {
                fprintf(out, "{\"state\": \"%s\", \"files_total\": %u, \"files_done\": %u, "
                             "\"files_failed\": %u, \"bytes_total\": %" PRIu64
                             ", \"bytes_done\": %" PRIu64 ", \"rate\": %.0f, \"eta_s\": %.0f, "
                             "\"cap\": %" PRIu64 ", \"cap_overridden\": %s, \"disk_full\": %s, ",
                        state, atomic_load(&p->progress.files_total),
                        atomic_load(&p->progress.files_done), atomic_load(&p->progress.files_failed),
                        bt, bd, rate, eta, st.cap, p->sh->cap_overridden ? "true" : "false",
                        p->disk_full ? "true" : "false");
                if (next >= 0)
                        fprintf(out, "\"next_cap\": %" PRIu64 ", \"next_cap_at\": \"%s\", ",
                                next_rate, when);
                fprintf(out, "\"requests\": %" PRIu64 ", \"active\": %u, \"waiting\": %u, "
                             "\"retries\": %" PRIu64 ", \"files\": [",
                        st.requests, st.active, st.queued, st.retries);
        }
        /* Files in progress, and the failed ones with their error. */
        bool first = true;
        for (size_t i = 0; i < p->nfiles; i++) {
                struct file *f = &p->files[i];
                bool active = f->state == FILE_PENDING && (f->staged > 0 || f->outstanding > 0);
                if (!active && f->state != FILE_FAILED)
                        continue;
                if (!json) {
                        if (active)
                                fprintf(out, "  uploading %s: %u of %u blocks\n", f->e->path,
                                        f->staged, f->plan.nblocks);
                        else
                                fprintf(out, "  failed    %s: %s\n", f->e->path, f->error);
                        continue;
                }
                fputs(first ? "{\"path\": " : ", {\"path\": ", out);
                first = false;
                json_string(out, f->e->path);
                if (active)
                        fprintf(out, ", \"status\": \"uploading\", \"blocks_staged\": %u, "
                                     "\"blocks\": %u}",
                                f->staged, f->plan.nblocks);
                else {
                        fputs(", \"status\": \"failed\", \"error\": ", out);
                        json_string(out, f->error);
                        fputc('}', out);
                }
        }
        if (json)
                fputs("]}\n", out);
}

/* The metrics of a pass in progress: the totals so far plus this pass's
 * requests, and the gauges of now. */
static void metrics_now(struct pipeline *p, struct metrics_snapshot *m)
{
        struct net_stats st;

        net_get_stats(p->up, &st);
        *m = p->sh->totals;
        m->bytes_sent += st.bytes_sent;
        m->requests += st.requests;
        for (unsigned i = 0; i < METRICS_RETRY_CLASSES && i < NET_RETRY_CLASSES; i++)
                m->retries[i] += st.retries_by_class[i];
        m->request_errors += st.failures;
        m->pass_running = true;
        m->paused = p->sh->paused;
        m->disk_full = p->disk_full;
        m->cap = st.cap;
        m->requests_active = st.active;
        m->requests_waiting = st.queued;
        m->blocks_queued = (unsigned)queue_length(p->up_q);
        m->files_pending = p->nfiles - p->files_final;
        uint64_t bd = atomic_load(&p->progress.bytes_done);
        uint64_t bt = atomic_load(&p->progress.bytes_total);
        m->bytes_pending = bt > bd ? bt - bd : 0;
}

/* This pass's requests into the totals, once, before the uploader goes. */
static void add_net_totals(struct pipeline *p)
{
        struct net_stats st;

        net_get_stats(p->up, &st);
        p->sh->totals.bytes_sent += st.bytes_sent;
        p->sh->totals.requests += st.requests;
        for (unsigned i = 0; i < METRICS_RETRY_CLASSES && i < NET_RETRY_CLASSES; i++)
                p->sh->totals.retries[i] += st.retries_by_class[i];
        p->sh->totals.request_errors += st.failures;
}

/* Commands that act on sh alone: the same during a pass and between. */
static bool shared_command(struct ingest_shared *sh, struct net_uploader *up, const char *cmd,
                           FILE *out)
{
        uint64_t rate;
        char a[32];

        if (!strcmp(cmd, "pause")) {
                sh->paused = true;
                if (up)
                        net_pause(up, true);
                log_notice("paused by the control socket: requests in flight finish, none start");
                fputs("paused\n", out);
        } else if (!strcmp(cmd, "resume")) {
                sh->paused = false;
                if (up)
                        net_pause(up, false);
                log_notice("resumed by the control socket");
                fputs("resumed\n", out);
        } else if (!strcmp(cmd, "cap schedule")) {
                sh->cap_overridden = false;
                fputs("cap follows the configuration\n", out);
        } else if (!strncmp(cmd, "cap ", 4) && sched_parse_rate(cmd + 4, &rate) == 0) {
                sh->cap_overridden = true;
                sh->cap_override = rate;
                if (up)
                        net_set_cap(up, rate);
                log_notice("cap %s set by the control socket", sched_format_rate(rate, a, sizeof(a)));
                fprintf(out, "cap %s\n", a);
        } else {
                return false;
        }
        return true;
}

static const char unknown_command[] =
        "error: unknown command (status, status json, pause, resume, cap RATE, cap schedule)\n";

static void on_control(void *ctx, const char *cmd, FILE *out)
{
        struct pipeline *p = ctx;

        if (!strcmp(cmd, "status")) {
                status_text(p, out, false);
        } else if (!strcmp(cmd, "status json")) {
                status_text(p, out, true);
        } else if (!strcmp(cmd, "metrics")) {
                struct metrics_snapshot m;
                metrics_now(p, &m);
                metrics_write(out, &m);
        } else if (shared_command(p->sh, p->up, cmd, out)) {
                /* `pstream resume` does not override a full disk. */
                net_pause(p->up, p->sh->paused || p->disk_full);
                if (!strcmp(cmd, "cap schedule"))
                        apply_schedule(p, UINT64_MAX);
                if (p->sh->cap_overridden)
                        p->progress.cap = p->sh->cap_override;
        } else {
                fputs(unknown_command, out);
        }
}

void ingest_control_idle(struct ingest_shared *sh, const char *cmd, FILE *out)
{
        uint64_t next_rate = 0;
        char a[32], b[32], when[32];
        time_t next = next_cap_change(sh, &next_rate, when);
        const char *state = sh->paused ? "paused" : "idle";

        if (!strcmp(cmd, "status")) {
                fprintf(out, "state: %s (%s)\n", state, sh->idle_status);
                fprintf(out, "cap: %s%s", sched_format_rate(cap_now(sh), a, sizeof(a)),
                        sh->cap_overridden ? " (set by pstream cap)" : "");
                if (next >= 0)
                        fprintf(out, ", %s from %s", sched_format_rate(next_rate, b, sizeof(b)),
                                when);
                fprintf(out, "\ntotals: %" PRIu64 " files committed (%s), %" PRIu64
                             " failed, %" PRIu64 " passes\n",
                        sh->totals.files_committed,
                        format_bytes(sh->totals.bytes_committed, b, sizeof(b)),
                        sh->totals.files_failed, sh->totals.passes);
        } else if (!strcmp(cmd, "status json")) {
                fprintf(out, "{\"state\": \"%s\", \"detail\": ", state);
                json_string(out, sh->idle_status);
                fprintf(out, ", \"cap\": %" PRIu64 ", \"cap_overridden\": %s, ", cap_now(sh),
                        sh->cap_overridden ? "true" : "false");
                if (next >= 0)
                        fprintf(out, "\"next_cap\": %" PRIu64 ", \"next_cap_at\": \"%s\", ",
                                next_rate, when);
                fprintf(out, "\"passes\": %" PRIu64 ", \"files_committed\": %" PRIu64
                             ", \"files_failed\": %" PRIu64 ", \"bytes_committed\": %" PRIu64
                             ", \"files\": []}\n",
                        sh->totals.passes, sh->totals.files_committed, sh->totals.files_failed,
                        sh->totals.bytes_committed);
        } else if (!strcmp(cmd, "metrics")) {
                struct metrics_snapshot m = sh->totals;
                m.paused = sh->paused;
                m.cap = cap_now(sh);
                metrics_write(out, &m);
        } else if (!shared_command(sh, NULL, cmd, out)) {
                fputs(unknown_command, out);
        }
}

static void uploader_loop(struct pipeline *p)
{
        bool stopping = false;

        for (;;) {
                struct job *j;
                struct net_stats st;

                control_poll(p->sh->control, on_control, p);
                /* Paused: jobs wait in the queue, which stops the reader once
                 * the buffers are out; requests in flight finish. */
                while (!p->sh->paused && !p->disk_full && (j = queue_try_pop(p->up_q)))
                        upload_job(p, j);

                if (got_signal && !atomic_load(&p->stop))
                        set_fatal(p, -ECANCELED, "interrupted by a signal");
                if (atomic_load(&p->stop) && !stopping) {
                        stopping = true;
                        uploader_stop(p);
                }
                if (stopping)
                        journal_abandon(p);
                else
                        journal_retry(p);
                if (stopping)
                        for (size_t i = 0; i < p->nfiles; i++)
                                if (p->files[i].state == FILE_PENDING &&
                                    p->files[i].outstanding == 0)
                                        file_fail(p, &p->files[i], "not uploaded: %s",
                                                  p->fatal_msg);

                uploader_restarts(p);
                net_get_stats(p->up, &st);
                apply_schedule(p, st.cap);
                if (atomic_load(&p->reader_done) && atomic_load(&p->workers_alive) == 0 &&
                    st.active == 0 && st.queued == 0 &&
                    (!(p->sh->paused || p->disk_full) || stopping)) {
                        /* The last jobs may have come in after the drain above. */
                        if ((j = queue_try_pop(p->up_q))) {
                                upload_job(p, j);
                                continue;
                        }
                        if (p->files_final == p->nfiles || stopping)
                                break;
                }

                int r = net_run(p->up, 200);
                if (r < 0 && r != -EINTR) {
                        set_fatal(p, r, "upload engine failed");
                        continue;
                }
                progress_tick(&p->progress, st.bytes_sent);
                if (p->cfg->tick)
                        p->cfg->tick(p->cfg->tick_ctx);
        }
}

/* ---- set-up, report, summary ------------------------------------------ */

static char *blob_name(const char *prefix, const char *rel)
{
        char *s;

        if (!prefix || !*prefix)
                return strdup(rel);
        if (asprintf(&s, "%s%s%s", prefix, prefix[strlen(prefix) - 1] == '/' ? "" : "/", rel) < 0)
                return NULL;
        return s;
}

static int cmp_blob(const void *a, const void *b)
{
        const struct file *x = a, *y = b;
        return strcmp(x->blob, y->blob);
}

static void digest_hex(const struct file *f, char out[33])
{
        XXH128_canonical_t c;

        XXH128_canonicalFromHash(&c, f->digest);
        for (unsigned i = 0; i < 16; i++)
                snprintf(out + 2 * i, 3, "%02x", c.digest[i]);
}

static void find_duplicates(struct pipeline *p)
{
        /* Quadratic over files with equal sizes only: cheap for any real
         * estate listing, and exact (the digest decides, not the size). */
        for (size_t i = 0; i < p->nfiles; i++) {
                struct file *a = &p->files[i];
                if (!a->hashed)
                        continue;
                for (size_t k = 0; k < i; k++) {
                        struct file *b = &p->files[k];
                        if (b->hashed && b->size == a->size && !b->dup_of &&
                            XXH128_isEqual(a->digest, b->digest)) {
                                a->dup_of = b;
                                break;
                        }
                }
        }
}

static int write_report(struct pipeline *p, const struct scan_result *scan, const char *path,
                        double seconds)
{
        FILE *f = fopen(path, "we");
        uint64_t bytes = 0;

        if (!f)
                return -errno;
        fputs("{\n  \"version\": \"" PSTREAM_VERSION "\",\n  \"mode\": \"verbatim\",\n  \"files\": [",
              f);
        for (size_t i = 0; i < p->nfiles; i++) {
                struct file *x = &p->files[i];
                char hex[33];

                fputs(i ? ",\n    {" : "\n    {", f);
                fputs("\"path\": ", f);
                json_string(f, x->e->path);
                fputs(", \"blob\": ", f);
                json_string(f, x->full_blob);
                fprintf(f, ", \"size\": %" PRIu64 ", \"status\": \"%s\"", x->size,
                        x->state == FILE_DONE        ? "uploaded"
                        : x->state == FILE_UNCHANGED ? "unchanged"
                                                     : "failed");
                if (x->state == FILE_DONE)
                        bytes += x->size;
                if (x->hashed) {
                        digest_hex(x, hex);
                        fprintf(f, ", \"xxh3\": \"%s\"", hex);
                }
                if (x->e->header_ok)
                        fprintf(f, ", \"format\": \"%s\", \"encryption\": \"%s\"",
                                pst_format_name(x->e->hdr.format), pst_crypt_name(x->e->hdr.crypt));
                if (x->e->store_ok)
                        fprintf(f, ", \"password\": %s",
                                x->e->store.has_password ? "true" : "false");
                if (x->e->problem[0]) {
                        fputs(", \"damage\": ", f);
                        json_string(f, x->e->problem);
                }
                if (x->dup_of) {
                        fputs(", \"duplicate_of\": ", f);
                        json_string(f, x->dup_of->full_blob);
                }
                if (x->rule) {
                        fputs(", \"mailbox\": ", f);
                        json_string(f, x->mailbox);
                }
                if (x->state == FILE_FAILED) {
                        fputs(", \"error\": ", f);
                        json_string(f, x->error);
                }
                fputc('}', f);
        }
        fputs("\n  ],\n  \"unmapped\": [", f);
        for (size_t i = 0, k = 0; p->rules.n && i < p->nfiles; i++) {
                struct file *x = &p->files[i];
                if (x->rule || (x->state != FILE_DONE && x->state != FILE_UNCHANGED))
                        continue;
                fputs(k++ ? ", " : "", f);
                json_string(f, x->e->path);
        }
        /* What discovery passed over, but for ordinary non-PST files. */
        fputs("],\n  \"skipped\": [", f);
        for (size_t i = 0, k = 0; i < scan->nskips; i++) {
                const struct scan_skip *sk = &scan->skips[i];
                if (sk->kind == SCAN_SKIP_NOT_PST && !sk->named_like_pst)
                        continue;
                fputs(k++ ? ",\n    {" : "\n    {", f);
                fputs("\"path\": ", f);
                json_string(f, sk->path);
                fprintf(f, ", \"kind\": \"%s\", \"reason\": ", scan_skip_kind_name(sk->kind));
                json_string(f, sk->reason);
                fputc('}', f);
        }
        fprintf(f, "],\n  \"bytes\": %" PRIu64 ",\n  \"seconds\": %.3f\n}\n", bytes, seconds);
        if (fclose(f) != 0)
                return -errno;
        return 0;
}

static void on_mapping_file(void *ctx, const char *file, size_t rows)
{
        (void)ctx;
        log_info("csv=%s rows=%zu: mapping CSV written", file, rows);
}

/* Whose mailbox is each committed file?  Files no rule matches are listed. */
static void match_mailboxes(struct pipeline *p)
{
        for (size_t i = 0; i < p->nfiles; i++) {
                struct file *f = &p->files[i];

                if (f->state != FILE_DONE && f->state != FILE_UNCHANGED)
                        continue;
                f->rule = rules_match(&p->rules, f->e->rel, f->mailbox, sizeof(f->mailbox));
                if (!f->rule) {
                        p->unmapped++;
                        log_warning("file=%s: no mailbox rule matches '%s'; not in the mapping CSV",
                                    f->e->path, f->e->rel);
                }
        }
}

static int write_mapping(struct pipeline *p)
{
        struct mapping_row *rows = calloc(p->nfiles + 1, sizeof(*rows));
        char **folders = calloc(p->nfiles + 1, sizeof(*folders));
        size_t n = 0;
        int r = 0;

        if (!rows || !folders) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < p->nfiles; i++) {
                struct file *f = &p->files[i];

                if (!f->rule)
                        continue;
                /* FilePath is the folder under the container, Name the
                 * file: both exactly as stored, case included. */
                folders[n] = strdup(f->full_blob);
                if (!folders[n]) {
                        r = -ENOMEM;
                        goto out;
                }
                char *slash = strrchr(folders[n], '/');
                if (slash) {
                        *slash = '\0';
                        rows[n].name = slash + 1;
                        rows[n].file_path = folders[n];
                } else {
                        rows[n].name = folders[n];
                        rows[n].file_path = "";
                }
                rows[n].mailbox = f->mailbox;
                rows[n].is_archive = f->rule->is_archive;
                rows[n].target_root = f->rule->target_root;
                rows[n].codepage = f->rule->codepage;
                n++;
        }
        r = mapping_write(p->cfg->mapping_csv, rows, n, on_mapping_file, NULL);
out:
        if (r < 0)
                log_error_errno(r, "csv=%s: cannot write the mapping CSV: %m", p->cfg->mapping_csv);
        if (folders)
                for (size_t i = 0; i < n; i++)
                        free(folders[i]);
        free(folders);
        free(rows);
        return r < 0 ? r : 0;
}

static void print_summary(struct pipeline *p, double seconds, size_t skipped, size_t unmatched)
{
        uint64_t up_bytes = 0, dup_bytes = 0;
        unsigned done = 0, failed = 0, unchanged = 0, dups = 0, damaged = 0;
        uint64_t resumed = 0;
        char b1[32], b2[32];

        for (size_t i = 0; i < p->nfiles; i++) {
                struct file *f = &p->files[i];
                if (f->state == FILE_DONE) {
                        done++;
                        up_bytes += f->size;
                } else if (f->state == FILE_UNCHANGED) {
                        unchanged++;
                } else {
                        failed++;
                }
                if (f->dup_of) {
                        dups++;
                        dup_bytes += f->size;
                }
                resumed += f->resumed;
                if (f->e->problem[0])
                        damaged++;
        }
        printf("pstream ingest summary (mode verbatim)\n");
        printf("  files:      %u uploaded, %u failed, %zu other entr%s skipped\n", done, failed,
               skipped, skipped == 1 ? "y" : "ies");
        if (unchanged)
                printf("  unchanged:  %u file%s committed by an earlier run (--state), not sent\n",
                       unchanged, unchanged == 1 ? "" : "s");
        printf("  bytes:      %s in %.2f s (%.1f MB/s)\n", format_bytes(up_bytes, b1, sizeof(b1)),
               seconds, seconds > 0 ? (double)up_bytes / seconds / 1e6 : 0.0);
        if (resumed)
                printf("  resumed:    %" PRIu64 " block%s staged by an interrupted run, not sent "
                       "again\n",
                       resumed, resumed == 1 ? "" : "s");
        if (damaged)
                printf("  damaged:    %u file%s uploaded as found, damage listed above\n", damaged,
                       damaged == 1 ? "" : "s");
        if (dups)
                printf("  duplicates: %u file%s (%s) identical to another file\n", dups,
                       dups == 1 ? "" : "s", format_bytes(dup_bytes, b2, sizeof(b2)));
        if (unmatched)
                printf("  unmapped:   %zu uploaded file%s matched no mailbox rule\n", unmatched,
                       unmatched == 1 ? "" : "s");
        for (size_t i = 0; i < p->nfiles; i++)
                if (p->files[i].state == FILE_FAILED)
                        printf("  FAILED:     %s: %s\n", p->files[i].e->path, p->files[i].error);
        fflush(stdout);
}

static void net_trace(void *ctx, int level, const char *msg)
{
        (void)ctx;
        log_full_errno(level, 0, "%s", msg);
}

int ingest_run(const struct ingest_cfg *cfg)
{
        struct pipeline *p = calloc(1, sizeof(*p));
        struct scan_result scan = { 0 };
        struct scan_opts sopts = { .read_store = true,
                                   .all_files = cfg->all_files,
                                   .cancel = &got_signal };
        struct net_dest_info dest;
        struct net_diag diag = { 0 };
        pthread_t reader_tid, *worker_tids = NULL;
        unsigned nworkers_started = 0;
        bool reader_started = false;
        double t0;
        size_t unmatched = 0, named_like_pst = 0;
        int r, exit_code = 3;

        if (!p)
                return 3;
        p->cfg = cfg;
        p->sh = cfg->shared ? cfg->shared : &p->own_sh;
        p->deferred_tail = &p->deferred;
        if (!cfg->shared) {
                p->own_sh.cap = cfg->cap;
                p->own_sh.schedule = cfg->schedule;
        }
        p->sh->totals.passes++;
        atomic_init(&p->fatal, 0);
        atomic_init(&p->block_size_now, cfg->block_size);
        pthread_mutex_init(&p->restart_lock, NULL);
        pthread_cond_init(&p->restart_cond, NULL);

        r = net_dest_parse(cfg->url, cfg->account_key != NULL, &dest, &diag);
        if (r < 0) {
                log_error("destination: %s", diag.msg);
                exit_code = 2;
                goto out;
        }
        if (cfg->mapping_csv && !cfg->rules_file) {
                log_error("--mapping-csv needs --mailbox-rules to know each file's mailbox");
                exit_code = 2;
                goto out;
        }
        if (cfg->rules_file) {
                char err[256];
                r = rules_load(cfg->rules_file, &p->rules, err, sizeof(err));
                if (r < 0) {
                        log_error("rules=%s: mailbox rules: %s", cfg->rules_file, err);
                        exit_code = 2;
                        goto out;
                }
        }

        struct sigaction sa = { .sa_handler = on_signal };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        t0 = now_monotonic();
        r = scan_roots(cfg->sources, cfg->nsources, &sopts, &scan);
        if (r == -ECANCELED) {
                log_error("interrupted while looking for PST files; nothing was uploaded");
                goto out;
        }
        if (r < 0) {
                log_error_errno(r, "discovery failed: %m");
                goto out;
        }
        for (size_t i = 0; i < scan.nskips; i++) {
                struct scan_skip *s = &scan.skips[i];
                if (s->kind == SCAN_SKIP_NOT_PST && s->named_like_pst)
                        named_like_pst++;
                if (s->kind == SCAN_SKIP_NOT_PST && !s->named_like_pst)
                        log_debug("skipped file=%s: %s", s->path, s->reason);
                else
                        log_warning("skipped file=%s: %s", s->path, s->reason);
        }
        for (size_t i = 0; i < scan.nfiles; i++)
                if (scan.files[i].problem[0])
                        log_warning("file=%s: damaged, uploaded as found: %s", scan.files[i].path,
                                    scan.files[i].problem);

        p->nfiles = scan.nfiles;
        p->files = calloc(scan.nfiles + 1, sizeof(*p->files));
        p->restart_q = calloc(scan.nfiles + 1, sizeof(*p->restart_q));
        if (!p->files || !p->restart_q)
                goto out;
        for (size_t i = 0; i < scan.nfiles; i++) {
                struct file *f = &p->files[i];
                f->p = p;
                f->e = &scan.files[i];
                f->blob = blob_name(cfg->prefix, f->e->rel);
                f->full_blob = f->blob ? blob_name(dest.prefix, f->blob) : NULL;
                f->xxh = XXH3_createState();
                if (!f->blob || !f->full_blob || !f->xxh)
                        goto out;
                XXH3_128bits_reset(f->xxh);
                pthread_mutex_init(&f->hash_lock, NULL);
                atomic_init(&f->read_status, 0);
                atomic_init(&f->aborted, false);
                atomic_init(&f->gen, 0);
                atomic_init(&f->read_released, false);
                f->size = f->e->size;
        }
        /* Two sources may hold the same relative path: two files must never
         * race into one blob. */
        {
                struct file *sorted = malloc((p->nfiles + 1) * sizeof(*sorted));
                if (!sorted)
                        goto out;
                memcpy(sorted, p->files, p->nfiles * sizeof(*sorted));
                qsort(sorted, p->nfiles, sizeof(*sorted), cmp_blob);
                for (size_t i = 1; i < p->nfiles; i++)
                        if (!strcmp(sorted[i].blob, sorted[i - 1].blob)) {
                                log_error("file=%s file=%s blob=%s: two sources map to the same "
                                          "blob name; give each source its own --prefix or "
                                          "upload them in separate runs",
                                          sorted[i - 1].e->path, sorted[i].e->path, sorted[i].blob);
                                free(sorted);
                                exit_code = 2;
                                goto out;
                        }
                free(sorted);
        }

        snprintf(p->dest_id, sizeof(p->dest_id), "%s/%s", dest.account, dest.container);
        if (cfg->state_dir) {
                char msg[1024] = "";
                r = state_open(cfg->state_dir, &p->state, msg, sizeof(msg));
                if (r < 0) {
                        log_error("state_dir=%s: %s", cfg->state_dir, msg);
                        exit_code = 2;
                        goto out;
                }
                if (r > 0)
                        log_warning("%s", msg);
                if (!cfg->shared) {
                        r = control_open(cfg->state_dir, &p->own_control);
                        if (r < 0)
                                log_warning_errno(r, "state_dir=%s: no control socket (%m); pstream "
                                                  "status will not reach this run",
                                                  cfg->state_dir);
                }
                for (size_t i = 0; i < p->nfiles; i++) {
                        struct file *f = &p->files[i];
                        struct state_file sf = {
                                .dest = p->dest_id,
                                .blob = f->full_blob,
                                .path = f->e->path,
                                .size = f->e->size,
                                .mtime_ns = f->e->mtime_ns,
                                .ino = f->e->ino,
                        };
                        if (state_is_committed(p->state, &sf) == 1) {
                                f->state = FILE_UNCHANGED;
                                p->sh->totals.files_unchanged++;
                                f->unchanged = true;
                                p->files_final++;
                                log_debug("file=%s: unchanged since it was committed, not sent",
                                          f->e->path);
                        }
                }
        }

        if (!cfg->shared && cfg->metrics_listen) {
                char err[256];
                if (!p->own_control && (r = control_open(NULL, &p->own_control)) < 0)
                        goto out;
                r = control_listen_http(p->own_control, cfg->metrics_listen,
                                        cfg->metrics_allow_remote, err, sizeof(err));
                if (r < 0) {
                        log_error("--%s", err);
                        exit_code = 2;
                        goto out;
                }
                log_info("metrics at http://%s/metrics", cfg->metrics_listen);
        }
        if (!cfg->shared)
                p->own_sh.control = p->own_control;

        log_info("found %zu PST/OST file%s, %zu other entr%s skipped", scan.nfiles,
                 scan.nfiles == 1 ? "" : "s", scan.nskips, scan.nskips == 1 ? "y" : "ies");

        progress_init(&p->progress, cfg->progress);
        p->progress.cap = cap_now(p->sh);
        for (size_t i = 0; i < p->nfiles; i++)
                if (p->files[i].state == FILE_PENDING) {
                        atomic_fetch_add(&p->progress.bytes_total, p->files[i].size);
                        atomic_fetch_add(&p->progress.files_total, 1);
                }

        r = io_pool_new(INGEST_CHUNK_SIZE, (unsigned)(cfg->memory / INGEST_CHUNK_SIZE), &p->pool);
        if (r < 0) {
                log_error_errno(r, "cannot reserve %" PRIu64 " MiB of read buffers: %m",
                                cfg->memory >> 20);
                goto out;
        }
        struct io_cfg iocfg = { .backend = cfg->io_backend, .queue_depth = cfg->queue_depth };
        r = io_reader_new(&iocfg, p->pool, &p->reader);
        if (r < 0) {
                log_error_errno(r, "cannot set up the reader (--io=%s): %m",
                                io_backend_name(cfg->io_backend));
                exit_code = r == -ENOTSUP ? 2 : 3;
                goto out;
        }
        log_debug("reader backend=%s queue_depth=%u memory=%" PRIu64 "MiB",
                  io_backend_name(io_reader_backend(p->reader)), cfg->queue_depth,
                  cfg->memory >> 20);

        struct net_cfg ncfg = {
                .url = cfg->url,
                .account_key = cfg->account_key,
                .ca_file = cfg->ca_file,
                .connections = cfg->connections,
                .stall_timeout_s = 60,
                .connect_timeout_s = 30,
                .backoff = { .max_retries = 20, .base_ms = 1000, .max_ms = 60000 },
                .user_agent = "pstream/" PSTREAM_VERSION,
                .trace = log_get_max_level() >= LOG_DEBUG ? net_trace : NULL,
                .cap = cap_now(p->sh),
        };
        r = net_uploader_new(&ncfg, &p->up, &diag);
        if (r < 0) {
                log_error("destination: %s", diag.msg[0] ? diag.msg : strerror(-r));
                exit_code = r == -EINVAL ? 2 : 3;
                goto out;
        }
        /* No cap is ever UINT64_MAX: the schedule's first cap is applied and logged. */
        apply_schedule(p, UINT64_MAX);
        if (p->sh->paused) {
                net_pause(p->up, true);
                log_notice("paused (pstream pause): this pass waits for pstream resume");
        }

        size_t qcap = MIN(65536, MAX(256, io_pool_nchunks(p->pool) * 4));
        if (queue_new(qcap, &p->work_q) < 0 || queue_new(qcap, &p->up_q) < 0)
                goto out;

        /* Threads: the reader, the workers, and this thread as the uploader. */
        atomic_init(&p->workers_alive, cfg->workers);
        worker_tids = calloc(cfg->workers, sizeof(*worker_tids));
        if (!worker_tids)
                goto out;
        for (unsigned w = 0; w < cfg->workers; w++) {
                if (pthread_create(&worker_tids[w], NULL, worker_thread, p) != 0) {
                        atomic_fetch_sub(&p->workers_alive, cfg->workers - w);
                        set_fatal(p, -EAGAIN, "cannot start worker threads");
                        break;
                }
                nworkers_started++;
        }
        if (nworkers_started == cfg->workers) {
                if (pthread_create(&reader_tid, NULL, reader_thread, p) == 0)
                        reader_started = true;
                else
                        set_fatal(p, -EAGAIN, "cannot start the reader thread");
        }
        if (!reader_started) {
                /* Without a reader the workers need their stop jobs from us. */
                for (unsigned w = 0; w < nworkers_started; w++) {
                        struct job *j = job_new(JOB_STOP, NULL);
                        if (j)
                                queue_push(p->work_q, j);
                }
                atomic_store(&p->reader_done, true);
        }

        uploader_loop(p);
        journal_abandon(p);
        pthread_mutex_lock(&p->restart_lock);
        p->no_more_restarts = true;
        pthread_cond_signal(&p->restart_cond);
        pthread_mutex_unlock(&p->restart_lock);
        io_pool_cancel(p->pool);
        if (reader_started)
                pthread_join(reader_tid, NULL);
        for (unsigned w = 0; w < nworkers_started; w++)
                pthread_join(worker_tids[w], NULL);
        /* Anything still queued belongs to files that failed or a run that
         * stopped: release its buffers before the pool goes. */
        for (struct job *j; (j = queue_try_pop(p->up_q));)
                upload_job(p, j);
        add_net_totals(p);
        p->up = net_uploader_free(p->up);
        for (size_t i = 0; i < p->nfiles; i++)
                if (p->files[i].state == FILE_PENDING)
                        file_fail(p, &p->files[i], "not uploaded: %s",
                                  p->fatal_msg[0] ? p->fatal_msg : "stopped");
        progress_end(&p->progress);

        double seconds = now_monotonic() - t0;
        find_duplicates(p);
        if (p->rules.n)
                match_mailboxes(p);
        unmatched = p->unmapped;
        bool mapping_failed = cfg->mapping_csv && write_mapping(p) < 0;
        if (cfg->report_file) {
                r = write_report(p, &scan, cfg->report_file, seconds);
                if (r < 0)
                        log_error_errno(r, "report=%s: cannot write the report: %m",
                                        cfg->report_file);
        }
        if (atomic_load(&p->fatal))
                log_error("run stopped: %s", p->fatal_msg);
        print_summary(p, seconds, scan.nskips, unmatched);

        if (atomic_load(&p->fatal))
                exit_code = 3;
        else if (atomic_load(&p->progress.files_failed) > 0 || scan.nerrors > 0 || unmatched > 0 ||
                 named_like_pst > 0 || mapping_failed)
                exit_code = 1;
        else
                exit_code = 0;
out:
        if (exit_code == 3 && !atomic_load(&p->fatal) && r == -ENOMEM)
                log_error("out of memory");
        free(worker_tids);
        state_close(p->state);
        control_close(p->own_control);
        net_uploader_free(p->up);
        io_reader_free(p->reader);
        queue_free(p->work_q);
        queue_free(p->up_q);
        io_pool_free(p->pool);
        if (p->files) {
                for (size_t i = 0; i < p->nfiles; i++) {
                        struct file *f = &p->files[i];
                        free(f->blob);
                        free(f->full_blob);
                        free(f->staged_before);
                        free(f->present);
                        if (f->xxh)
                                XXH3_freeState(f->xxh);
                        for (struct pending *n = f->pending, *next; n; n = next) {
                                next = n->next;
                                io_buf_unref(n->buf);
                                free(n);
                        }
                }
                free(p->files);
        }
        scan_result_done(&scan);
        free(p->restart_q);
        free(p->jops);
        rules_done(&p->rules);
        free(p);
        return exit_code;
}
