/* SPDX-License-Identifier: MIT
 *
 * test-io-pool.c - the buffer pool: chunk arithmetic, all-or-nothing
 * allocation, -E2BIG, lazy residency, blocking waits woken by unrefs or by
 * io_pool_cancel() from other threads, FIFO fairness for a big waiter, and
 * several threads allocating and releasing each other's buffers.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "io-test-util.h"
#include "io/base/macro.h"
#include "pstream/io.h"

#define CS 4096u

static void test_new_invalid(void **state)
{
        struct io_pool *p = NULL;

        (void)state;
        assert_int_equal(io_pool_new(1000, 4, &p), -EINVAL);
        assert_int_equal(io_pool_new(0, 4, &p), -EINVAL);
        assert_int_equal(io_pool_new(CS, 0, &p), -EINVAL);
        assert_null(p);
        assert_null(io_pool_free(NULL));
}

static void test_chunks_and_e2big(void **state)
{
        struct io_pool *p;
        struct io_buf *b;
        uint8_t *base;
        size_t len;

        (void)state;
        assert_int_equal(io_pool_new(CS, 8, &p), 0);
        io_pool_arena(p, &base, &len);
        assert_int_equal(len, 8 * CS);
        assert_int_equal((uintptr_t)base % 4096, 0);
        assert_int_equal(io_pool_chunk_size(p), CS);
        assert_int_equal(io_pool_nchunks(p), 8);

        /* len -> chunks: 0 still takes one. */
        const size_t lens[] = { 0, 1, CS - 1, CS, CS + 1, 3 * CS, 8 * CS };
        const unsigned want[] = { 1, 1, 1, 1, 2, 3, 8 };
        for (unsigned i = 0; i < ELEMENTSOF(lens); i++) {
                assert_int_equal(io_pool_alloc(p, lens[i], false, &b), 0);
                assert_int_equal(b->nchunks, want[i]);
                assert_int_equal(atomic_load(&b->refs), 1);
                assert_ptr_equal(b->pool, p);
                assert_int_equal(b->len, 0);
                assert_int_equal(io_pool_free_chunks(p), 8 - want[i]);
                for (unsigned c = 0; c < b->nchunks; c++) {
                        assert_int_equal(b->chunk[c].len, 0);
                        assert_true(b->chunk[c].index < 8);
                        assert_ptr_equal(b->chunk[c].data, base + b->chunk[c].index * CS);
                        for (unsigned d = 0; d < c; d++)
                                assert_int_not_equal(b->chunk[c].index, b->chunk[d].index);
                }
                assert_null(io_buf_unref(b));
                assert_int_equal(io_pool_free_chunks(p), 8);
        }
        b = (struct io_buf *)0x1;
        assert_int_equal(io_pool_alloc(p, 8 * CS + 1, false, &b), -E2BIG);
        assert_int_equal(io_pool_alloc(p, 8 * CS + 1, true, &b), -E2BIG);
        assert_int_equal(io_pool_alloc(p, SIZE_MAX, true, &b), -E2BIG);
        assert_ptr_equal(b, (struct io_buf *)0x1);
        assert_null(io_buf_unref(NULL));
        io_pool_free(p);
}

static void test_all_or_nothing(void **state)
{
        struct io_pool *p;
        struct io_buf *a, *b, *c;

        (void)state;
        assert_int_equal(io_pool_new(CS, 4, &p), 0);
        assert_int_equal(io_pool_alloc(p, 3 * CS, false, &a), 0);
        assert_int_equal(io_pool_alloc(p, 2 * CS, false, &b), -EAGAIN);
        /* The failed attempt took nothing. */
        assert_int_equal(io_pool_free_chunks(p), 1);
        assert_int_equal(io_pool_alloc(p, CS, false, &b), 0);
        assert_int_equal(io_pool_alloc(p, 1, false, &c), -EAGAIN);

        /* References: the chunks come back with the last one only. */
        io_buf_ref(a);
        io_buf_unref(a);
        assert_int_equal(io_pool_free_chunks(p), 0);
        io_buf_unref(a);
        assert_int_equal(io_pool_free_chunks(p), 3);
        io_buf_unref(b);
        assert_int_equal(io_pool_free_chunks(p), 4);
        io_pool_free(p);
}

static void test_resident_on_use(void **state)
{
        struct io_pool *p;
        struct io_buf *b;
        unsigned char vec[64];
        uint8_t *base;
        size_t len;
        unsigned resident = 0;

        (void)state;
        assert_int_equal(io_pool_new(CS, 64, &p), 0);
        io_pool_arena(p, &base, &len);
        assert_int_equal(mincore(base, len, vec), 0);
        for (unsigned i = 0; i < 64; i++)
                resident += vec[i] & 1;
        assert_int_equal(resident, 0);

        assert_int_equal(io_pool_alloc(p, 2 * CS, false, &b), 0);
        memset(b->chunk[0].data, 0xa5, CS);
        assert_int_equal(mincore(base, len, vec), 0);
        resident = 0;
        for (unsigned i = 0; i < 64; i++)
                resident += vec[i] & 1;
        assert_int_equal(resident, 1);
        assert_true(vec[b->chunk[0].index] & 1);
        io_buf_unref(b);
        io_pool_free(p);
}

/* ---- threads ---------------------------------------------------------- */

struct waiter_arg {
        struct io_pool *pool;
        size_t len;
        atomic_int result;
        atomic_int order; /* position in which this waiter was served */
        atomic_int *counter;
        struct io_buf *buf;
};

static void *waiter_thread(void *arg)
{
        struct waiter_arg *w = arg;
        struct io_buf *b = NULL;
        int r = io_pool_alloc(w->pool, w->len, true, &b);

        if (r == 0) {
                atomic_store(&w->order, atomic_fetch_add(w->counter, 1));
                w->buf = b;
        }
        atomic_store(&w->result, r);
        return NULL;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void test_wait_woken_by_unref(void **state)
{
        struct io_pool *p;
        struct io_buf *a;
        atomic_int counter = 0;
        struct waiter_arg w = { .len = 2 * CS, .result = 1, .counter = &counter };
        pthread_t t;

        (void)state;
        assert_int_equal(io_pool_new(CS, 2, &p), 0);
        w.pool = p;
        assert_int_equal(io_pool_alloc(p, 2 * CS, false, &a), 0);
        assert_int_equal(pthread_create(&t, NULL, waiter_thread, &w), 0);
        sleep_ms(50);
        assert_int_equal(atomic_load(&w.result), 1); /* still waiting */
        io_buf_unref(a);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(atomic_load(&w.result), 0);
        assert_int_equal(w.buf->nchunks, 2);
        io_buf_unref(w.buf);
        assert_int_equal(io_pool_free_chunks(p), 2);
        io_pool_free(p);
}

static void test_cancel(void **state)
{
        struct io_pool *p;
        struct io_buf *a, *b;
        atomic_int counter = 0;
        struct waiter_arg w[3];
        pthread_t t[3];

        (void)state;
        assert_int_equal(io_pool_new(CS, 4, &p), 0);
        assert_int_equal(io_pool_alloc(p, 4 * CS, false, &a), 0);
        for (unsigned i = 0; i < 3; i++) {
                w[i] = (struct waiter_arg){ .pool = p, .len = (i + 1) * CS, .result = 1,
                                            .counter = &counter };
                assert_int_equal(pthread_create(&t[i], NULL, waiter_thread, &w[i]), 0);
        }
        sleep_ms(50);
        io_pool_cancel(p);
        for (unsigned i = 0; i < 3; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(atomic_load(&w[i].result), -ECANCELED);
        }
        /* Sticky: a late waiter does not sleep; what fits is still served. */
        assert_int_equal(io_pool_alloc(p, CS, true, &b), -ECANCELED);
        io_buf_unref(a);
        assert_int_equal(io_pool_alloc(p, CS, true, &b), 0);
        io_buf_unref(b);
        assert_int_equal(io_pool_free_chunks(p), 4);
        io_pool_free(p);
}

static void test_fifo_big_waiter_not_starved(void **state)
{
        struct io_pool *p;
        struct io_buf *held[4], *x;
        atomic_int counter = 0;
        struct waiter_arg big = { .len = 4 * CS, .result = 1, .order = -1, .counter = &counter };
        struct waiter_arg small = { .len = CS, .result = 1, .order = -1, .counter = &counter };
        pthread_t tb, ts;

        (void)state;
        assert_int_equal(io_pool_new(CS, 4, &p), 0);
        big.pool = small.pool = p;
        for (unsigned i = 0; i < 4; i++)
                assert_int_equal(io_pool_alloc(p, CS, false, &held[i]), 0);
        assert_int_equal(pthread_create(&tb, NULL, waiter_thread, &big), 0);
        /* With one chunk free, a non-waiting caller gets -EAGAIN exactly
         * when the big waiter is queued: it may not jump the line. */
        io_buf_unref(held[0]);
        while (io_pool_alloc(p, CS, false, &x) == 0) {
                io_buf_unref(x);
                sleep_ms(1);
        }
        assert_int_equal(io_pool_free_chunks(p), 1);

        /* The small waiter could be served from the free chunk, but the
         * big one is first in line. */
        assert_int_equal(pthread_create(&ts, NULL, waiter_thread, &small), 0);
        sleep_ms(50);
        assert_int_equal(atomic_load(&small.result), 1);
        assert_int_equal(atomic_load(&big.result), 1);
        for (unsigned i = 1; i < 4; i++)
                io_buf_unref(held[i]);
        assert_int_equal(pthread_join(tb, NULL), 0);
        assert_int_equal(atomic_load(&big.result), 0);
        assert_int_equal(atomic_load(&big.order), 0);
        io_buf_unref(big.buf);
        assert_int_equal(pthread_join(ts, NULL), 0);
        assert_int_equal(atomic_load(&small.result), 0);
        assert_int_equal(atomic_load(&small.order), 1);
        io_buf_unref(small.buf);
        assert_int_equal(io_pool_free_chunks(p), 4);
        io_pool_free(p);
}

/* Hammer: threads allocate random sizes (waiting or not), claim each chunk
 * in an owner table, stamp the data, and either release the buffer
 * themselves or pass it, with a reference of their own still held, to a
 * releaser thread; whichever unref comes last returns the chunks.  A chunk
 * in two buffers at once, a lost chunk or a torn stamp shows in the
 * counters, which are checked after the join. */
#define HAMMER_THREADS 6
#define HAMMER_ITERS 3000
#define HAMMER_CHUNKS 32

struct hammer {
        struct io_pool *pool;
        atomic_uint owner[HAMMER_CHUNKS];
        atomic_ulong seq;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct io_buf *box[256];
        unsigned nbox;
        unsigned alive;
        atomic_uint errors;
        atomic_ulong chunks_taken, chunks_released;
};

/* Check that the chunks still carry this buffer's stamp, give them up in
 * the owner table, and drop one reference. */
static void hammer_release(struct hammer *h, struct io_buf *b)
{
        uint64_t stamp;

        memcpy(&stamp, b->chunk[0].data + 8, sizeof(stamp));
        for (unsigned i = 0; i < b->nchunks; i++) {
                unsigned me = (unsigned)stamp | 1;
                uint64_t got;

                memcpy(&got, b->chunk[i].data, sizeof(got));
                if (got != stamp + i)
                        atomic_fetch_add(&h->errors, 1);
                if (!atomic_compare_exchange_strong(&h->owner[b->chunk[i].index], &me, 0))
                        atomic_fetch_add(&h->errors, 1);
        }
        atomic_fetch_add(&h->chunks_released, b->nchunks);
        io_buf_unref(b);
}

static void *releaser_thread(void *arg)
{
        struct hammer *h = arg;

        pthread_mutex_lock(&h->lock);
        for (;;) {
                while (h->nbox > 0) {
                        struct io_buf *b = h->box[--h->nbox];
                        pthread_mutex_unlock(&h->lock);
                        hammer_release(h, b);
                        pthread_mutex_lock(&h->lock);
                }
                if (h->alive == 0)
                        break;
                pthread_cond_wait(&h->cond, &h->lock);
        }
        pthread_mutex_unlock(&h->lock);
        return NULL;
}

static void *hammer_thread(void *arg)
{
        struct hammer *h = arg;
        uint64_t rnd = 0x9e3779b97f4a7c15ull * (atomic_fetch_add(&h->seq, 1) + 1);

        for (unsigned it = 0; it < HAMMER_ITERS; it++) {
                size_t len = xorshift64(&rnd) % (6 * CS) + 1;
                struct io_buf *b = NULL;
                uint64_t stamp;
                bool passed = false;
                int r;

                r = io_pool_alloc(h->pool, len, xorshift64(&rnd) & 1, &b);
                if (r == -EAGAIN)
                        continue;
                if (r < 0) {
                        atomic_fetch_add(&h->errors, 1);
                        break;
                }
                if (b->nchunks != (len + CS - 1) / CS || atomic_load(&b->refs) != 1)
                        atomic_fetch_add(&h->errors, 1);
                atomic_fetch_add(&h->chunks_taken, b->nchunks);
                stamp = atomic_fetch_add(&h->seq, 1) << 8;
                for (unsigned i = 0; i < b->nchunks; i++) {
                        uint64_t v = stamp + i;
                        unsigned zero = 0;
                        if (!atomic_compare_exchange_strong(&h->owner[b->chunk[i].index], &zero,
                                                            (unsigned)stamp | 1))
                                atomic_fetch_add(&h->errors, 1);
                        memcpy(b->chunk[i].data, &v, sizeof(v));
                }
                memcpy(b->chunk[0].data + 8, &stamp, sizeof(stamp));

                if (it & 1) {
                        io_buf_ref(b);
                        pthread_mutex_lock(&h->lock);
                        if (h->nbox < ELEMENTSOF(h->box)) {
                                h->box[h->nbox++] = b;
                                passed = true;
                                pthread_cond_signal(&h->cond);
                        }
                        pthread_mutex_unlock(&h->lock);
                        /* Our own reference races with the releaser's. */
                        io_buf_unref(b);
                }
                if (!passed)
                        hammer_release(h, b);
        }
        pthread_mutex_lock(&h->lock);
        h->alive--;
        pthread_cond_signal(&h->cond);
        pthread_mutex_unlock(&h->lock);
        return NULL;
}

static void test_hammer(void **state)
{
        struct hammer *h = calloc(1, sizeof(*h));
        pthread_t t[HAMMER_THREADS], rel;

        (void)state;
        assert_non_null(h);
        assert_int_equal(io_pool_new(CS, HAMMER_CHUNKS, &h->pool), 0);
        pthread_mutex_init(&h->lock, NULL);
        pthread_cond_init(&h->cond, NULL);
        h->alive = HAMMER_THREADS;
        assert_int_equal(pthread_create(&rel, NULL, releaser_thread, h), 0);
        for (unsigned i = 0; i < HAMMER_THREADS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, h), 0);
        for (unsigned i = 0; i < HAMMER_THREADS; i++)
                assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(pthread_join(rel, NULL), 0);
        assert_int_equal(atomic_load(&h->errors), 0);
        assert_true(atomic_load(&h->chunks_taken) > HAMMER_ITERS);
        assert_int_equal(atomic_load(&h->chunks_taken), atomic_load(&h->chunks_released));
        assert_int_equal(io_pool_free_chunks(h->pool), HAMMER_CHUNKS);
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
        io_pool_free(h->pool);
        free(h);
}

/* The pool may be freed before the last buffer: the arena goes with the
 * last unref, here from another thread (ASan/valgrind see a leak or a
 * use after free if not). */
static void *unref_thread(void *arg)
{
        io_buf_unref(arg);
        return NULL;
}

static void test_free_with_buffers_out(void **state)
{
        struct io_pool *p;
        struct io_buf *b;
        pthread_t t;

        (void)state;
        assert_int_equal(io_pool_new(CS, 4, &p), 0);
        assert_int_equal(io_pool_alloc(p, 2 * CS, false, &b), 0);
        memset(b->chunk[1].data, 1, CS);
        assert_null(io_pool_free(p));
        assert_int_equal(b->chunk[1].data[CS - 1], 1); /* arena still mapped */
        assert_int_equal(pthread_create(&t, NULL, unref_thread, b), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_new_invalid),
                cmocka_unit_test(test_chunks_and_e2big),
                cmocka_unit_test(test_all_or_nothing),
                cmocka_unit_test(test_resident_on_use),
                cmocka_unit_test(test_wait_woken_by_unref),
                cmocka_unit_test(test_cancel),
                cmocka_unit_test(test_fifo_big_waiter_not_starved),
                cmocka_unit_test(test_hammer),
                cmocka_unit_test(test_free_with_buffers_out),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
