/* SPDX-License-Identifier: MIT
 *
 * queue.c - bounded MPMC ring after Dmitry Vyukov's design: every cell
 * carries a sequence number telling whose turn it is, so producers and
 * consumers claim cells with one CAS on their own index and never lock.
 * Semaphores count free cells and full cells; a claim is only attempted
 * after the matching semaphore was taken, so it always finds its cell.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "io/base/macro.h"
#include "queue.h"

struct cell {
        atomic_size_t seq;
        void *item;
};

struct queue {
        /* head and tail on their own cache lines: producers and consumers
         * hammer different ones. */
        _Alignas(64) atomic_size_t tail; /* next cell to fill */
        _Alignas(64) atomic_size_t head; /* next cell to drain */
        _Alignas(64) size_t mask;
        sem_t free_cells;
        sem_t full_cells;
        struct cell *cells;
};

int queue_new(size_t capacity, struct queue **ret)
{
        struct queue *q;
        size_t n = 2;

        if (capacity > 65536)
                return -EINVAL;
        while (n < capacity)
                n <<= 1;

        q = aligned_alloc(64, ALIGN_UP(sizeof(*q), 64));
        if (!q)
                return -ENOMEM;
        memset(q, 0, sizeof(*q));
        q->cells = calloc(n, sizeof(struct cell));
        if (!q->cells) {
                free(q);
                return -ENOMEM;
        }
        q->mask = n - 1;
        for (size_t i = 0; i < n; i++)
                atomic_init(&q->cells[i].seq, i);
        atomic_init(&q->head, 0);
        atomic_init(&q->tail, 0);
        sem_init(&q->free_cells, 0, (unsigned)n);
        sem_init(&q->full_cells, 0, 0);
        *ret = q;
        return 0;
}

struct queue *queue_free(struct queue *q)
{
        if (!q)
                return NULL;
        sem_destroy(&q->free_cells);
        sem_destroy(&q->full_cells);
        free(q->cells);
        free(q);
        return NULL;
}

size_t queue_capacity(const struct queue *q)
{
        return q->mask + 1;
}

size_t queue_length(struct queue *q)
{
        int n = 0;

        sem_getvalue(&q->full_cells, &n);
        return n > 0 ? (size_t)n : 0;
}

static void sem_wait_nointr(sem_t *s)
{
        while (sem_wait(s) < 0 && errno == EINTR)
                ;
}

/* Claim the next cell to fill; the caller holds a free_cells token. */
static void enqueue(struct queue *q, void *item)
{
        size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        struct cell *c;

        for (;;) {
                c = &q->cells[pos & q->mask];
                /* Pairs with the release in dequeue(): the cell's previous
                 * item was taken before we may overwrite it. */
                size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
                intptr_t dif = (intptr_t)seq - (intptr_t)pos;
                if (dif == 0) {
                        if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed))
                                break;
                } else {
                        pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
                }
        }
        c->item = item;
        /* Pairs with the acquire in dequeue(): the item is visible before
         * a consumer sees the cell as full. */
        atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
        sem_post(&q->full_cells);
}

/* Claim the next cell to drain; the caller holds a full_cells token. */
static void *dequeue(struct queue *q)
{
        size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
        struct cell *c;
        void *item;

        for (;;) {
                c = &q->cells[pos & q->mask];
                /* Pairs with the release in enqueue(). */
                size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
                intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
                if (dif == 0) {
                        if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed))
                                break;
                } else {
                        pos = atomic_load_explicit(&q->head, memory_order_relaxed);
                }
        }
        item = c->item;
        /* Pairs with the acquire in enqueue(): we are done with the cell
         * before a producer may reuse it one lap later. */
        atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
        sem_post(&q->free_cells);
        return item;
}

void queue_push(struct queue *q, void *item)
{
        sem_wait_nointr(&q->free_cells);
        enqueue(q, item);
}

int queue_try_push(struct queue *q, void *item)
{
        if (sem_trywait(&q->free_cells) < 0)
                return -EAGAIN;
        enqueue(q, item);
        return 0;
}

void *queue_pop(struct queue *q)
{
        sem_wait_nointr(&q->full_cells);
        return dequeue(q);
}

void *queue_try_pop(struct queue *q)
{
        if (sem_trywait(&q->full_cells) < 0)
                return NULL;
        return dequeue(q);
}
