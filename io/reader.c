/* SPDX-License-Identifier: MIT
 *
 * reader.c - the reader: read requests into pool buffers through one of two
 * backends behind an ops table (fio style), io_uring with fixed buffers, or
 * synchronous pread() where io_uring is unavailable.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "io/base/macro.h"
#include "pstream/io.h"

#if HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#endif

/* Flush prepared SQEs to the kernel once this many are waiting, so reads
 * start while the caller is still busy (opening the next file on a slow
 * share); smaller batches are flushed by io_reader_reap(). */
#define SUBMIT_BATCH 16u

/* -EINTR/-EAGAIN from a read are retried, but not forever. */
#define MAX_RETRIES 8u

/* user_data of the cancel SQE in io_reader_free(); read SQEs carry
 * (request slot << 32 | chunk), and slots stay below 4096. */
#define CANCEL_USER_DATA UINT64_MAX

/* Fixed-buffer state of a pool chunk in this ring. */
enum {
        CHUNK_UNREGISTERED,
        CHUNK_REGISTERED,
        CHUNK_PLAIN, /* registration failed (RLIMIT_MEMLOCK): plain reads */
};

struct io_req {
        struct io_req *next; /* free list, backend queue or done list */
        void *tag;
        struct io_buf *buf; /* non-NULL while the slot is in use */
        uint64_t off;
        size_t len;
        int fd;
        int result;       /* 0, or the first -errno of any chunk */
        unsigned nreads;  /* chunks this request reads into */
        unsigned issued;  /* chunks given to the ring at least once */
        unsigned pending; /* chunk reads not completed yet */
        unsigned retries;
        bool fixed; /* buf's chunks are this ring's fixed buffers */
};

struct req_list {
        struct io_req *head, *tail;
};

struct io_reader;

struct reader_ops {
        void (*start)(struct io_reader *r, struct io_req *q);
        int (*reap)(struct io_reader *r, bool wait, struct io_req **ret);
        /* Return true when no buffer is owned by the kernel any more. */
        bool (*drain)(struct io_reader *r);
        void (*exit)(struct io_reader *r);
};

struct io_reader {
        const struct reader_ops *ops;
        enum io_backend backend;
        struct io_pool *pool;
        size_t chunk_size;
        unsigned depth;
        unsigned inflight; /* requests submitted, not reaped */
        unsigned reads;    /* chunk reads of those: what queue_depth bounds */
        struct io_req *reqs;
        struct io_req *free_reqs;
        struct req_list queue; /* pread: not read yet; io_uring: chunks not issued */
        struct req_list done;  /* io_uring: completed, not reaped */

        struct io_uring ring;
        bool fixed;         /* the pool has a (sparse) fixed-buffer table */
        uint8_t *reg;       /* per chunk: CHUNK_UNREGISTERED, _REGISTERED, _PLAIN */
        bool draining;      /* io_reader_free(): no resubmission */
        unsigned sq_issued; /* SQEs prepared whose CQE was not reaped */
};

static void list_push(struct req_list *l, struct io_req *q)
{
        q->next = NULL;
        if (l->tail)
                l->tail->next = q;
        else
                l->head = q;
        l->tail = q;
}

static struct io_req *list_pop(struct req_list *l)
{
        struct io_req *q = l->head;

        if (q) {
                l->head = q->next;
                if (!l->head)
                        l->tail = NULL;
        }
        return q;
}

/* Bytes chunk i of a request is meant to receive. */
static size_t chunk_want(const struct io_reader *r, const struct io_req *q, unsigned i)
{
        size_t start = (size_t)i * r->chunk_size;

        return i < q->nreads ? MIN(r->chunk_size, q->len - start) : 0;
}

/* Settle buf->len and the result.  Only the contiguous prefix counts: if the
 * file shrank and grew during the read, a chunk after a short one may hold
 * data that does not follow on from what precedes it. */
static void req_finish(struct io_reader *r, struct io_req *q)
{
        struct io_buf *b = q->buf;
        bool hole = false;
        size_t total = 0;

        for (unsigned i = 0; i < b->nchunks; i++) {
                if (hole) {
                        b->chunk[i].len = 0;
                        continue;
                }
                total += b->chunk[i].len;
                hole = b->chunk[i].len < chunk_want(r, q, i);
        }
        b->len = total;
        if (q->result == 0)
                q->result = (int)total;
}

/* ---- io_uring backend ------------------------------------------------- */

/* Register a chunk the first time this ring reads into it.  Registering
 * pins (and so faults in) memory: doing it for the whole arena up front
 * would make every byte of the memory budget resident at start-up. */
static bool uring_chunk_fixed(struct io_reader *r, const struct io_chunk *c)
{
        if (r->reg[c->index] == CHUNK_UNREGISTERED) {
                struct iovec iov = { .iov_base = c->data, .iov_len = r->chunk_size };
                __u64 tag = 0;

                r->reg[c->index] = io_uring_register_buffers_update_tag(&r->ring, c->index, &iov,
                                                                        &tag, 1) == 1
                                           ? CHUNK_REGISTERED
                                           : CHUNK_PLAIN;
        }
        return r->reg[c->index] == CHUNK_REGISTERED;
}

static void uring_prep_chunk(struct io_reader *r, struct io_req *q, unsigned i)
{
        struct io_chunk *c = &q->buf->chunk[i];
        struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
        unsigned nbytes = (unsigned)(chunk_want(r, q, i) - c->len);
        uint64_t off = q->off + (uint64_t)i * r->chunk_size + c->len;

        /* The ring has at least depth SQ entries and at most depth SQEs are
         * issued, so the SQ can not be full. */
        assert(sqe);
        if (q->fixed && uring_chunk_fixed(r, c))
                io_uring_prep_read_fixed(sqe, q->fd, c->data + c->len, nbytes, off, (int)c->index);
        else
                io_uring_prep_read(sqe, q->fd, c->data + c->len, nbytes, off);
        io_uring_sqe_set_data64(sqe, (uint64_t)(q - r->reqs) << 32 | i);
        r->sq_issued++;
}

static void uring_chunk_done(struct io_reader *r, struct io_req *q)
{
        if (--q->pending == 0) {
                req_finish(r, q);
                list_push(&r->done, q);
        }
}

/* Give the ring chunk reads of queued requests, oldest first, while it has
 * room.  A request that already failed issues nothing more. */
static void uring_issue(struct io_reader *r)
{
        struct io_req *q;

        while ((q = r->queue.head) && r->sq_issued < r->depth) {
                if (q->result < 0) {
                        unsigned left = q->nreads - q->issued;

                        list_pop(&r->queue);
                        q->issued = q->nreads;
                        q->pending -= left;
                        if (q->pending == 0) {
                                req_finish(r, q);
                                list_push(&r->done, q);
                        }
                        continue;
                }
                uring_prep_chunk(r, q, q->issued++);
                if (q->issued == q->nreads)
                        list_pop(&r->queue);
        }
}

static void uring_start(struct io_reader *r, struct io_req *q)
{
        if (q->nreads == 0) {
                /* Nothing to read: complete at once. */
                req_finish(r, q);
                list_push(&r->done, q);
                return;
        }
        list_push(&r->queue, q);
        uring_issue(r);
        /* A failed flush leaves the SQEs queued; the next reap submits
         * them again and reports the error. */
        if (io_uring_sq_ready(&r->ring) >= SUBMIT_BATCH)
                (void)io_uring_submit(&r->ring);
}

static void uring_cqe(struct io_reader *r, const struct io_uring_cqe *cqe)
{
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        struct io_req *q;
        struct io_chunk *c;
        unsigned i;
        int res = cqe->res;

        if (ud == CANCEL_USER_DATA)
                return;
        q = &r->reqs[ud >> 32];
        i = (unsigned)(ud & UINT32_MAX);
        c = &q->buf->chunk[i];
        r->sq_issued--;

        if (res > 0) {
#if HAVE_VALGRIND_MEMCHECK_H
                /* The kernel wrote these bytes behind valgrind's back. */
                VALGRIND_MAKE_MEM_DEFINED(c->data + c->len, (size_t)res);
#endif
                c->len += (uint32_t)res;
                /* Short read before EOF (network filesystems do this):
                 * ask again for the rest, in the slot this CQE freed. */
                if (c->len < chunk_want(r, q, i) && q->result == 0 && !r->draining) {
                        uring_prep_chunk(r, q, i);
                        return;
                }
        } else if (res < 0) {
                if ((res == -EINTR || res == -EAGAIN) && q->result == 0 && !r->draining &&
                    q->retries < MAX_RETRIES) {
                        q->retries++;
                        uring_prep_chunk(r, q, i);
                        return;
                }
                if (q->result == 0)
                        q->result = res;
        }
        /* res == 0 is EOF: the chunk is done with what it has. */
        uring_chunk_done(r, q);
}

static void uring_process(struct io_reader *r)
{
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;

        io_uring_for_each_cqe(&r->ring, head, cqe)
        {
                uring_cqe(r, cqe);
                n++;
        }
        io_uring_cq_advance(&r->ring, n);
}

static int uring_reap(struct io_reader *r, bool wait, struct io_req **ret)
{
        for (;;) {
                int k;

                uring_issue(r);
                uring_process(r);
                if (r->done.head && io_uring_sq_ready(&r->ring) == 0)
                        break;
                if (r->sq_issued == 0) {
                        if (r->done.head)
                                break;
                        return -EAGAIN;
                }
                /* One enter both submits what was prepared and, when there
                 * is nothing to hand back yet, waits for a completion. */
                if (wait && !r->done.head)
                        k = io_uring_submit_and_wait(&r->ring, 1);
                else
                        k = io_uring_submit(&r->ring);
                if (k < 0 && k != -EINTR && k != -EAGAIN && k != -EBUSY)
                        return k;
                uring_process(r);
                if (r->done.head)
                        break;
                if (!wait)
                        return -EAGAIN;
        }
        *ret = list_pop(&r->done);
        return 0;
}

static bool uring_drain(struct io_reader *r)
{
        struct io_uring_sqe *sqe;
        struct io_req *q;

        r->draining = true;
        /* Chunks never issued are never read: drop them. */
        while ((q = list_pop(&r->queue))) {
                unsigned left = q->nreads - q->issued;

                q->issued = q->nreads;
                q->pending -= left;
        }
        if (r->sq_issued == 0)
                return true;
        /* Queued SQEs go in too (the ring can not take them back), then
         * one cancel for everything; reads already running finish anyway. */
        if (io_uring_submit(&r->ring) >= 0) {
                sqe = io_uring_get_sqe(&r->ring);
                if (sqe) {
                        io_uring_prep_cancel64(sqe, 0,
                                               IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
                        io_uring_sqe_set_data64(sqe, CANCEL_USER_DATA);
                }
        }
        /* Every buffer belongs to the kernel until its CQE is reaped. */
        while (r->sq_issued > 0) {
                int k = io_uring_submit_and_wait(&r->ring, 1);

                if (k < 0 && k != -EINTR && k != -EAGAIN && k != -EBUSY)
                        return false;
                uring_process(r);
        }
        return true;
}

static void uring_exit(struct io_reader *r)
{
        io_uring_queue_exit(&r->ring);
        free(r->reg);
}

static const struct reader_ops uring_ops = {
        .start = uring_start,
        .reap = uring_reap,
        .drain = uring_drain,
        .exit = uring_exit,
};

/* One fixed-buffer slot per chunk, so a chunk's pool index is its
 * buf_index; the slots are filled by uring_chunk_fixed() on first use.
 * Without a table (old kernel), plain reads into the same memory work. */
static bool uring_register_pool(struct io_reader *r)
{
        unsigned n = io_pool_nchunks(r->pool);

        r->reg = calloc(n, sizeof(*r->reg));
        if (!r->reg)
                return false;
        if (io_uring_register_buffers_sparse(&r->ring, n) < 0) {
                free(r->reg);
                r->reg = NULL;
                return false;
        }
        return true;
}

/* Defence in depth (RELIABILITY §5.3): io_uring operations bypass seccomp,
 * so the ring is set up disabled and may only ever read and cancel, and
 * fill its fixed-buffer table.
 * Through io_uring_register(): Debian's liburing 2.3 declares
 * io_uring_register_restrictions() and io_uring_enable_rings() but does not
 * export them. */
static int uring_restrict(struct io_reader *r)
{
        struct io_uring_restriction res[] = {
                { .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READ },
                { .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READ_FIXED },
                { .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_ASYNC_CANCEL },
                { .opcode = IORING_RESTRICTION_REGISTER_OP,
                  .register_op = IORING_REGISTER_BUFFERS_UPDATE },
        };
        int k = io_uring_register((unsigned)r->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res,
                                  ELEMENTSOF(res));

        if (k < 0)
                return k;
        k = io_uring_register((unsigned)r->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
        return k < 0 ? k : 0;
}

static int uring_init(struct io_reader *r)
{
        struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
        int k;

        k = io_uring_queue_init_params(r->depth, &r->ring, &p);
        if (k < 0)
                return k;
        r->fixed = uring_register_pool(r);
        k = uring_restrict(r);
        if (k < 0) {
                uring_exit(r);
                /* The pread fallback must not see a table that is gone. */
                r->reg = NULL;
                r->fixed = false;
                return k;
        }
        r->ops = &uring_ops;
        r->backend = IO_BACKEND_URING;
        return 0;
}

/* ---- pread backend ---------------------------------------------------- */

static void pread_start(struct io_reader *r, struct io_req *q)
{
        list_push(&r->queue, q);
}

static int pread_reap(struct io_reader *r, bool wait, struct io_req **ret)
{
        struct io_req *q = list_pop(&r->queue);

        if (!q)
                return -EAGAIN;
        for (unsigned i = 0; i < q->nreads; i++) {
                struct io_chunk *c = &q->buf->chunk[i];
                size_t want = chunk_want(r, q, i);
                ssize_t n = io_pread_full(q->fd, c->data, want, q->off + (uint64_t)i * r->chunk_size);

                if (n < 0) {
                        q->result = (int)n;
                        break;
                }
                c->len = (uint32_t)n;
                if ((size_t)n < want)
                        break; /* EOF */
        }
        req_finish(r, q);
        *ret = q;
        return 0;
}

static bool pread_drain(struct io_reader *r)
{
        /* Nothing was read yet, nothing is owned by anybody but us. */
        while (list_pop(&r->queue))
                ;
        return true;
}

static void pread_exit(struct io_reader *r)
{
}

static const struct reader_ops pread_ops = {
        .start = pread_start,
        .reap = pread_reap,
        .drain = pread_drain,
        .exit = pread_exit,
};

/* ---- the reader ------------------------------------------------------- */

static bool uring_unavailable(int k)
{
        return k == -EPERM || k == -ENOSYS || k == -ENOMEM || k == -EINVAL;
}

int io_reader_new(const struct io_cfg *cfg, struct io_pool *pool, struct io_reader **ret)
{
        struct io_reader *r;
        int k;

        if (!cfg || !pool || !ret || cfg->queue_depth == 0 || cfg->queue_depth > 4096)
                return -EINVAL;
        if (cfg->backend != IO_BACKEND_AUTO && cfg->backend != IO_BACKEND_URING &&
            cfg->backend != IO_BACKEND_PREAD)
                return -EINVAL;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->reqs = calloc(cfg->queue_depth, sizeof(*r->reqs));
        if (!r->reqs) {
                free(r);
                return -ENOMEM;
        }
        r->pool = pool;
        r->chunk_size = io_pool_chunk_size(pool);
        r->depth = cfg->queue_depth;
        for (unsigned i = cfg->queue_depth; i > 0; i--) {
                r->reqs[i - 1].next = r->free_reqs;
                r->free_reqs = &r->reqs[i - 1];
        }

        if (cfg->backend != IO_BACKEND_PREAD) {
                k = uring_init(r);
                if (k < 0 && (cfg->backend == IO_BACKEND_URING || !uring_unavailable(k))) {
                        free(r->reqs);
                        free(r);
                        return uring_unavailable(k) ? -ENOTSUP : k;
                }
        }
        if (!r->ops) {
                r->ops = &pread_ops;
                r->backend = IO_BACKEND_PREAD;
        }
        *ret = r;
        return 0;
}

struct io_reader *io_reader_free(struct io_reader *r)
{
        if (!r)
                return NULL;
        /* If the kernel could not be waited for, its buffers are leaked:
         * better than handing out memory a read may still land in. */
        if (r->ops->drain(r))
                for (unsigned i = 0; i < r->depth; i++)
                        io_buf_unref(r->reqs[i].buf);
        r->ops->exit(r);
        free(r->reqs);
        free(r);
        return NULL;
}

enum io_backend io_reader_backend(const struct io_reader *r)
{
        return r->backend;
}

const char *io_backend_name(enum io_backend b)
{
        switch (b) {
        case IO_BACKEND_AUTO:
                return "auto";
        case IO_BACKEND_URING:
                return "io_uring";
        case IO_BACKEND_PREAD:
                return "pread";
        }
        return "unknown";
}

int io_reader_submit(struct io_reader *r, int fd, uint64_t off, size_t len, struct io_buf *buf,
                     void *tag)
{
        unsigned nreads;
        struct io_req *q;

        if (!buf || len > INT_MAX || len > (size_t)buf->nchunks * r->chunk_size ||
            off > INT64_MAX - len)
                return -EINVAL;
        nreads = (unsigned)DIV_ROUND_UP(len, r->chunk_size);
        /* Count chunk reads, not requests, against the depth.  A request
         * bigger than the whole depth is taken when nothing else is in
         * flight and fed to the ring in parts. */
        if (!r->free_reqs || (r->reads > 0 && r->reads + nreads > r->depth))
                return -EAGAIN;

        q = r->free_reqs;
        r->free_reqs = q->next;
        *q = (struct io_req){
                .tag = tag,
                .buf = buf,
                .off = off,
                .len = len,
                .fd = fd,
                .nreads = nreads,
                .pending = nreads,
                .fixed = r->fixed && buf->pool == r->pool,
        };
        buf->offset = off;
        buf->len = 0;
        for (unsigned i = 0; i < buf->nchunks; i++)
                buf->chunk[i].len = 0;
        r->reads += nreads;
        r->inflight++;
        r->ops->start(r, q);
        return 0;
}

unsigned io_reader_inflight(const struct io_reader *r)
{
        return r->inflight;
}

int io_reader_reap(struct io_reader *r, bool wait, struct io_done *ret)
{
        struct io_req *q;
        int k;

        if (!ret)
                return -EINVAL;
        k = r->ops->reap(r, wait, &q);
        if (k < 0)
                return k;
        *ret = (struct io_done){ .tag = q->tag, .buf = q->buf, .result = q->result };
        q->buf = NULL;
        r->reads -= q->nreads;
        q->next = r->free_reqs;
        r->free_reqs = q;
        r->inflight--;
        return 0;
}
