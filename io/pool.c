/* SPDX-License-Identifier: MIT
 *
 * pool.c - the read-buffer pool: one mmap'd arena cut into fixed-size chunks,
 * handed out all-or-nothing as refcounted struct io_buf, with FIFO fairness
 * for blocked allocations.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/base/macro.h"
#include "pstream/io.h"

/* A thread blocked in io_pool_alloc(wait=true).  It lives on that thread's
 * stack and is linked into the pool's FIFO while it waits. */
struct pool_waiter {
        struct pool_waiter *prev, *next;
        pthread_cond_t cond;
        unsigned need;
};

struct io_pool {
        pthread_mutex_t lock;
        uint8_t *arena;
        size_t arena_len;
        size_t chunk_size;
        unsigned nchunks;

        /* Everything below is protected by lock. */
        unsigned nfree;
        unsigned *free_stack; /* LIFO: reuse the chunks most recently resident */
        struct pool_waiter *whead, *wtail;
        bool cancelled;
        bool freed; /* io_pool_free() ran while buffers were still out */
};

static void pool_destroy(struct io_pool *p)
{
        if (p->arena)
                munmap(p->arena, p->arena_len);
        pthread_mutex_destroy(&p->lock);
        free(p->free_stack);
        free(p);
}

int io_pool_new(size_t chunk_size, unsigned nchunks, struct io_pool **ret)
{
        struct io_pool *p;
        size_t len;
        void *a;

        /* Chunk lengths are uint32_t, and each chunk is one fixed buffer
         * (the kernel caps those at 1 GiB). */
        if (!ret || chunk_size == 0 || chunk_size % 4096 != 0 || chunk_size > GIB || nchunks == 0)
                return -EINVAL;
        if (mul_overflow(chunk_size, (size_t)nchunks, &len))
                return -E2BIG;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->free_stack = malloc(sizeof(*p->free_stack) * nchunks);
        if (!p->free_stack || pthread_mutex_init(&p->lock, NULL) != 0) {
                free(p->free_stack);
                free(p);
                return -ENOMEM;
        }

        /* MAP_NORESERVE: no commit charge up front; pages become resident
         * only when a read lands in them. */
        a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
        if (a == MAP_FAILED) {
                int r = negative_errno();
                pool_destroy(p);
                return r;
        }
        /* Customer mail must not end up in core dumps. */
        (void)madvise(a, len, MADV_DONTDUMP);

        p->arena = a;
        p->arena_len = len;
        p->chunk_size = chunk_size;
        p->nchunks = nchunks;
        p->nfree = nchunks;
        /* Pop order 0, 1, 2...: low chunks first, so a lightly used pool
         * keeps touching the same few pages. */
        for (unsigned i = 0; i < nchunks; i++)
                p->free_stack[i] = nchunks - 1 - i;
        *ret = p;
        return 0;
}

struct io_pool *io_pool_free(struct io_pool *p)
{
        bool now;

        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        /* Buffers still held (an uploader being torn down) keep the arena
         * alive; the last io_buf_unref() releases it. */
        now = p->nfree == p->nchunks;
        p->freed = true;
        pthread_mutex_unlock(&p->lock);
        if (now)
                pool_destroy(p);
        return NULL;
}

size_t io_pool_chunk_size(const struct io_pool *p)
{
        return p->chunk_size;
}

unsigned io_pool_nchunks(const struct io_pool *p)
{
        return p->nchunks;
}

unsigned io_pool_free_chunks(struct io_pool *p)
{
        unsigned n;

        pthread_mutex_lock(&p->lock);
        n = p->nfree;
        pthread_mutex_unlock(&p->lock);
        return n;
}

void io_pool_arena(const struct io_pool *p, uint8_t **ret_base, size_t *ret_len)
{
        *ret_base = p->arena;
        *ret_len = p->arena_len;
}

/* Called with the lock held: hand the head waiter its turn when its whole
 * request fits.  Only the head is woken, so a big request is never passed
 * by smaller ones queued behind it. */
static void pool_wake_head(struct io_pool *p)
{
        if (p->whead && p->nfree >= p->whead->need)
                pthread_cond_signal(&p->whead->cond);
}

static void pool_take(struct io_pool *p, struct io_buf *b, unsigned n)
{
        for (unsigned i = 0; i < n; i++) {
                unsigned idx = p->free_stack[--p->nfree];
                b->chunk[i] = (struct io_chunk){
                        .data = p->arena + (size_t)idx * p->chunk_size,
                        .len = 0,
                        .index = idx,
                };
        }
}

static void waiter_unlink(struct io_pool *p, struct pool_waiter *w)
{
        if (w->prev)
                w->prev->next = w->next;
        else
                p->whead = w->next;
        if (w->next)
                w->next->prev = w->prev;
        else
                p->wtail = w->prev;
}

int io_pool_alloc(struct io_pool *p, size_t len, bool wait, struct io_buf **ret)
{
        /* Not DIV_ROUND_UP: len near SIZE_MAX must not wrap to a small n. */
        size_t n = len / p->chunk_size + (len % p->chunk_size != 0);
        struct pool_waiter w = { .need = (unsigned)n };
        struct io_buf *b;
        int r = 0;

        if (n == 0)
                n = 1;
        if (n > p->nchunks)
                return -E2BIG;
        /* The header is malloc'd outside the lock: the lock is on every
         * completion's path, malloc does not need to be. */
        b = malloc(sizeof(*b) + n * sizeof(b->chunk[0]));
        if (!b)
                return -ENOMEM;

        pthread_mutex_lock(&p->lock);
        /* Queued waiters go first: taking chunks past them would let a
         * stream of small allocations starve a big one. */
        if (!p->whead && p->nfree >= n)
                goto take;
        if (!wait) {
                r = -EAGAIN;
                goto out;
        }
        if (p->cancelled) {
                r = -ECANCELED;
                goto out;
        }
        pthread_cond_init(&w.cond, NULL);
        w.prev = p->wtail;
        if (p->wtail)
                p->wtail->next = &w;
        else
                p->whead = &w;
        p->wtail = &w;
        while (!p->cancelled && (p->whead != &w || p->nfree < n))
                pthread_cond_wait(&w.cond, &p->lock);
        waiter_unlink(p, &w);
        pthread_cond_destroy(&w.cond);
        if (p->cancelled) {
                r = -ECANCELED;
                goto out;
        }
take:
        pool_take(p, b, (unsigned)n);
        /* What is left may already satisfy the next waiter in line. */
        pool_wake_head(p);
        pthread_mutex_unlock(&p->lock);

        atomic_init(&b->refs, 1);
        b->pool = p;
        b->offset = 0;
        b->len = 0;
        b->nchunks = (unsigned)n;
        *ret = b;
        return 0;
out:
        pthread_mutex_unlock(&p->lock);
        free(b);
        return r;
}

void io_pool_cancel(struct io_pool *p)
{
        pthread_mutex_lock(&p->lock);
        p->cancelled = true;
        for (struct pool_waiter *w = p->whead; w; w = w->next)
                pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&p->lock);
}

struct io_buf *io_buf_ref(struct io_buf *b)
{
        /* Relaxed: the caller already holds a reference, so the buffer can
         * not go away meanwhile and no data is published by this. */
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
        return b;
}

struct io_buf *io_buf_unref(struct io_buf *b)
{
        struct io_pool *p;
        bool destroy;

        if (!b)
                return NULL;
        /* Release: our last reads of the data happen before another holder
         * can see the count drop.  Acquire, paired with the release in every
         * other holder's decrement: the final holder sees all their reads
         * done before the chunks are handed out again. */
        if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
                return NULL;

        p = b->pool;
        pthread_mutex_lock(&p->lock);
        for (unsigned i = b->nchunks; i > 0; i--)
                p->free_stack[p->nfree++] = b->chunk[i - 1].index;
        pool_wake_head(p);
        destroy = p->freed && p->nfree == p->nchunks;
        pthread_mutex_unlock(&p->lock);
        free(b);
        if (destroy)
                pool_destroy(p);
        return NULL;
}
