/* SPDX-License-Identifier: MIT
 *
 * test-net-throttle.c - the token bucket of the bandwidth cap on a fake
 * clock: the rate held over a simulated minute, the burst bound on every
 * one-second window, pause/resume decisions, live changes, and how many
 * requests a cap keeps running.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pstream/net.h"

#define MS 1000000ull
#define S 1000000000ull

static void test_unlimited(void **state)
{
        struct net_bucket b;

        (void)state;
        net_bucket_init(&b, 0, 0);
        assert_int_equal(net_bucket_take(&b, 1 << 20, 0), 1 << 20);
        assert_int_equal(net_bucket_wait_ns(&b, 1 << 20, 0), 0);
        assert_int_equal(net_bucket_max_active(&b, 8 << 20, 16), 16);
}

static void test_pause_resume(void **state)
{
        struct net_bucket b;

        (void)state;
        /* 1 MB/s: quantum 15625 bytes, burst 125000 bytes. */
        net_bucket_init(&b, 1000000, 0);
        assert_int_equal(b.quantum, 15625);
        assert_int_equal(b.burst, 125000);
        /* Starts empty: pause, and the wait is one quantum's worth. */
        assert_int_equal(net_bucket_take(&b, 65536, 0), 0);
        assert_int_equal(net_bucket_wait_ns(&b, 65536, 0), 15625 * 1000);
        /* Just short of a quantum: still paused. */
        assert_int_equal(net_bucket_take(&b, 65536, 15624 * 1000), 0);
        /* A quantum earned: granted what is there, not more. */
        assert_int_equal(net_bucket_take(&b, 65536, 20 * MS), 20000);
        assert_int_equal(net_bucket_take(&b, 65536, 20 * MS), 0);
        /* The tail of a body smaller than a quantum goes when it fits. */
        assert_int_equal(net_bucket_wait_ns(&b, 100, 20 * MS), 100 * 1000);
        assert_int_equal(net_bucket_wait_ns(&b, 100, 20 * MS + 100 * 1000), 0);
        assert_int_equal(net_bucket_take(&b, 100, 20 * MS + 100 * 1000), 100);
        /* Never more than the burst, however long it slept. */
        assert_int_equal(net_bucket_take(&b, 1 << 20, 3600 * S), 125000);
        /* A clock going backwards earns nothing. */
        assert_int_equal(net_bucket_take(&b, 1 << 20, 10 * S), 0);
}

/* Simulate a sender asking for 512 KiB pieces whenever the bucket lets it
 * (waking exactly when net_bucket_wait_ns() says) for `seconds`, counting
 * bytes per one-second window. */
static uint64_t simulate(struct net_bucket *b, uint64_t t0, unsigned seconds, uint64_t *win,
                         uint64_t *ret_end)
{
        uint64_t t = t0, end = t0 + seconds * S, total = 0;

        while (t < end) {
                size_t n = net_bucket_take(b, 512 * 1024, t);

                if (n > 0) {
                        total += n;
                        win[(t - t0) / S] += n;
                        continue;
                }
                t += net_bucket_wait_ns(b, 512 * 1024, t);
        }
        *ret_end = t;
        return total;
}

static void test_rate_held(void **state)
{
        static uint64_t win[60];
        struct net_bucket b;
        uint64_t total, end;

        (void)state;
        net_bucket_init(&b, 20000000, 5 * S);
        total = simulate(&b, 5 * S, 60, win, &end);
        /* 20 MB/s over a minute, to a quantum, and no window above 120 %. */
        assert_true(total >= 1200000000ull - 262144 && total <= 1200000000ull + 262144);
        for (unsigned i = 0; i < 60; i++)
                assert_true(win[i] <= 20000000ull * 12 / 10);
}

static void test_burst_window(void **state)
{
        struct net_bucket b;
        uint64_t got;

        (void)state;
        /* After a long idle spell the bucket is full: the next second may
         * carry the rate plus the burst, 112.5 %, and not a byte more. */
        net_bucket_init(&b, 20000000, 0);
        got = net_bucket_take(&b, SIZE_MAX, 100 * S);
        assert_int_equal(got, 2500000);
        for (uint64_t t = 100 * S; t < 101 * S; t += MS)
                got += net_bucket_take(&b, SIZE_MAX, t);
        got += net_bucket_take(&b, SIZE_MAX, 101 * S);
        assert_true(got <= 22500000);
        assert_true(got >= 22500000 - 262144);
}

static void test_live_change(void **state)
{
        static uint64_t win1[10], win2[10];
        struct net_bucket b;
        uint64_t end, total;

        (void)state;
        net_bucket_init(&b, 10000000, 0);
        simulate(&b, 0, 10, win1, &end);
        /* Down to 1 MB/s: the tokens on hand shrink to the new burst, and
         * the rate holds from the change on. */
        net_bucket_set_rate(&b, 1000000, end);
        assert_true(b.tokens <= (double)b.burst);
        total = simulate(&b, end, 10, win2, &end);
        assert_true(total <= 10000000 + b.burst);
        assert_true(total >= 10000000 - b.quantum);
        /* Unlimited: everything at once, and back. */
        net_bucket_set_rate(&b, 0, end);
        assert_int_equal(net_bucket_take(&b, 1 << 30, end), 1 << 30);
        net_bucket_set_rate(&b, 1000000, end);
        assert_int_equal(net_bucket_take(&b, 1 << 20, end), 0);
}

static void test_max_active(void **state)
{
        struct net_bucket b;

        (void)state;
        net_bucket_init(&b, 20000000, 0);
        /* 40 MB of body per 2 s: four 8 MiB blocks, sixteen 1 MB ones. */
        assert_int_equal(net_bucket_max_active(&b, 8 << 20, 16), 4);
        assert_int_equal(net_bucket_max_active(&b, 1000000, 16), 16);
        assert_int_equal(net_bucket_max_active(&b, 1000000, 8), 8);
        /* A cap too low for one block in 2 s still runs one, paced. */
        net_bucket_set_rate(&b, 100000, 0);
        assert_int_equal(net_bucket_max_active(&b, 8 << 20, 16), 1);
        /* Tiny bodies (Put Block List) are never held back. */
        assert_int_equal(net_bucket_max_active(&b, 0, 16), 16);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unlimited),   cmocka_unit_test(test_pause_resume),
                cmocka_unit_test(test_rate_held),   cmocka_unit_test(test_burst_window),
                cmocka_unit_test(test_live_change), cmocka_unit_test(test_max_active),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
