/* SPDX-License-Identifier: MIT
 *
 * test-daemon-queue.c - the bounded MPMC queue under contention: every item
 * pushed is popped exactly once, nothing is invented, order per producer is
 * kept, and a full queue blocks instead of dropping.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "queue.h"

#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 200000

struct ctx {
        struct queue *q;
        atomic_uint_fast64_t sum;
        atomic_uint count;
        atomic_uint order_violations;
        unsigned char *seen; /* one byte per item: popped how many times */
};

struct producer_arg {
        struct ctx *c;
        uintptr_t id;
};

static void *producer(void *arg)
{
        struct producer_arg *a = arg;

        for (uintptr_t i = 0; i < PER_PRODUCER; i++) {
                /* Items are 1-based so no item is NULL. */
                uintptr_t item = a->id * PER_PRODUCER + i + 1;
                queue_push(a->c->q, (void *)item);
        }
        return NULL;
}

static void *consumer(void *arg)
{
        struct ctx *c = arg;
        uintptr_t last[PRODUCERS] = { 0 };

        for (;;) {
                uintptr_t item = (uintptr_t)queue_pop(c->q);
                if (item == UINTPTR_MAX)
                        break;
                uintptr_t idx = item - 1, prod = idx / PER_PRODUCER;
                /* One consumer must see each producer's items in push order. */
                if (item <= last[prod])
                        atomic_fetch_add(&c->order_violations, 1);
                last[prod] = item;
                __atomic_fetch_add(&c->seen[idx], 1, __ATOMIC_RELAXED);
                atomic_fetch_add(&c->sum, item);
                atomic_fetch_add(&c->count, 1);
        }
        return NULL;
}

static void test_contention(void **state)
{
        struct ctx c = { 0 };
        pthread_t pt[PRODUCERS], ct[CONSUMERS];
        struct producer_arg pa[PRODUCERS];
        const uint64_t n = (uint64_t)PRODUCERS * PER_PRODUCER;

        (void)state;
        assert_int_equal(queue_new(64, &c.q), 0);
        c.seen = calloc(n, 1);
        assert_non_null(c.seen);
        for (unsigned i = 0; i < CONSUMERS; i++)
                assert_int_equal(pthread_create(&ct[i], NULL, consumer, &c), 0);
        for (unsigned i = 0; i < PRODUCERS; i++) {
                pa[i] = (struct producer_arg){ &c, i };
                assert_int_equal(pthread_create(&pt[i], NULL, producer, &pa[i]), 0);
        }
        for (unsigned i = 0; i < PRODUCERS; i++)
                pthread_join(pt[i], NULL);
        for (unsigned i = 0; i < CONSUMERS; i++)
                queue_push(c.q, (void *)UINTPTR_MAX);
        for (unsigned i = 0; i < CONSUMERS; i++)
                pthread_join(ct[i], NULL);

        assert_int_equal(atomic_load(&c.count), n);
        assert_true(atomic_load(&c.sum) == n * (n + 1) / 2);
        assert_int_equal(atomic_load(&c.order_violations), 0);
        for (uint64_t i = 0; i < n; i++)
                if (c.seen[i] != 1)
                        fail_msg("item %llu popped %u times", (unsigned long long)i + 1,
                                 c.seen[i]);
        free(c.seen);
        queue_free(c.q);
}

static void test_bounded(void **state)
{
        struct queue *q;

        (void)state;
        assert_int_equal(queue_new(3, &q), 0);
        assert_int_equal(queue_capacity(q), 4);
        for (uintptr_t i = 1; i <= 4; i++)
                assert_int_equal(queue_try_push(q, (void *)i), 0);
        assert_int_equal(queue_try_push(q, (void *)5), -EAGAIN);
        for (uintptr_t i = 1; i <= 4; i++)
                assert_int_equal((uintptr_t)queue_try_pop(q), i);
        assert_null(queue_try_pop(q));
        /* Wrap around the ring many times. */
        for (uintptr_t i = 1; i <= 1000; i++) {
                assert_int_equal(queue_try_push(q, (void *)i), 0);
                assert_int_equal((uintptr_t)queue_pop(q), i);
        }
        queue_free(q);
}

struct blocker {
        struct queue *q;
        atomic_bool pushed;
};

static void *push_one(void *arg)
{
        struct blocker *b = arg;

        queue_push(b->q, (void *)42);
        atomic_store(&b->pushed, true);
        return NULL;
}

static void test_full_blocks(void **state)
{
        struct blocker b = { 0 };
        pthread_t t;

        (void)state;
        assert_int_equal(queue_new(2, &b.q), 0);
        queue_push(b.q, (void *)1);
        queue_push(b.q, (void *)2);
        assert_int_equal(pthread_create(&t, NULL, push_one, &b), 0);
        /* The producer must wait, not drop or overwrite. */
        usleep(50000);
        assert_false(atomic_load(&b.pushed));
        assert_int_equal((uintptr_t)queue_pop(b.q), 1);
        pthread_join(t, NULL);
        assert_true(atomic_load(&b.pushed));
        assert_int_equal((uintptr_t)queue_pop(b.q), 2);
        assert_int_equal((uintptr_t)queue_pop(b.q), 42);
        queue_free(b.q);
        assert_int_equal(queue_new(65537, &b.q), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bounded),
                cmocka_unit_test(test_full_blocks),
                cmocka_unit_test(test_contention),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
