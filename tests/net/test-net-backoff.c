/* SPDX-License-Identifier: MIT
 *
 * test-net-backoff.c - retry delays with a fixed random value, Retry-After
 * parsing, and which statuses are retried.
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

static const struct net_backoff b = { .max_retries = 20, .base_ms = 1000, .max_ms = 60000 };

static void test_bounds(void **state)
{
        (void)state;
        /* rnd just under 1 gives (almost) the bound; the bound doubles. */
        assert_int_equal(net_backoff_delay(&b, 1, 0.999999, -1), 999);
        assert_int_equal(net_backoff_delay(&b, 2, 0.999999, -1), 1999);
        assert_int_equal(net_backoff_delay(&b, 3, 0.5, -1), 2000);
        assert_int_equal(net_backoff_delay(&b, 6, 0.5, -1), 16000);
        /* Capped at max_ms, also for absurd attempt numbers. */
        assert_int_equal(net_backoff_delay(&b, 7, 0.999999, -1), 59999);
        assert_int_equal(net_backoff_delay(&b, 100, 0.5, -1), 30000);
        assert_int_equal(net_backoff_delay(&b, UINT32_MAX, 0.5, -1), 30000);
        /* Full jitter: zero is a valid draw. */
        assert_int_equal(net_backoff_delay(&b, 5, 0.0, -1), 0);
        for (unsigned a = 1; a < 30; a++)
                for (double r = 0; r < 1.0; r += 0.125)
                        assert_true(net_backoff_delay(&b, a, r, -1) < 60000);
        /* Out-of-range rnd is treated as 0, never as a bigger delay. */
        assert_int_equal(net_backoff_delay(&b, 3, 1.5, -1), 0);
        assert_int_equal(net_backoff_delay(&b, 3, -0.5, -1), 0);
}

static void test_retry_after_override(void **state)
{
        (void)state;
        /* Larger Retry-After wins; a smaller one does not shorten. */
        assert_int_equal(net_backoff_delay(&b, 1, 0.5, 5000), 5000);
        assert_int_equal(net_backoff_delay(&b, 3, 0.5, 100), 2000);
        /* Beyond max_ms is honoured (unlike AzCopy, which gives up)... */
        assert_int_equal(net_backoff_delay(&b, 1, 0.5, 120000), 120000);
        /* ...but clamped to 15 minutes. */
        assert_int_equal(net_backoff_delay(&b, 1, 0.5, 3600000), 900000);
        assert_int_equal(net_backoff_delay(&b, 1, 0.5, INT64_MAX), 900000);
}

static void test_parse_retry_after(void **state)
{
        const int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

        (void)state;
        assert_int_equal(net_parse_retry_after("1", NULL, now), 1000);
        assert_int_equal(net_parse_retry_after(" 120 ", NULL, now), 120000);
        assert_int_equal(net_parse_retry_after("0", NULL, now), 0);
        assert_int_equal(net_parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", NULL, now), 10000);
        /* A date in the past means now. */
        assert_int_equal(net_parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", NULL, now), 0);
        /* The millisecond headers win. */
        assert_int_equal(net_parse_retry_after("10", "250", now), 250);
        assert_int_equal(net_parse_retry_after(NULL, "1500", now), 1500);
        /* A garbled ms header falls back to Retry-After. */
        assert_int_equal(net_parse_retry_after("2", "soon", now), 2000);
        /* Absent or garbage. */
        assert_int_equal(net_parse_retry_after(NULL, NULL, now), -1);
        assert_int_equal(net_parse_retry_after("", NULL, now), -1);
        assert_int_equal(net_parse_retry_after("-5", NULL, now), -1);
        assert_int_equal(net_parse_retry_after("1.5", NULL, now), -1);
        assert_int_equal(net_parse_retry_after("soon", NULL, now), -1);
        assert_int_equal(net_parse_retry_after("Sun, 06 Nov 1994 08:49:47", NULL, now), -1);
        assert_int_equal(net_parse_retry_after("Sun, 06 Foo 1994 08:49:47 GMT", NULL, now), -1);
        assert_int_equal(net_parse_retry_after("Sun, 06 Nov 1994 25:49:47 GMT", NULL, now), -1);
        assert_int_equal(net_parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT trailing", NULL, now), -1);
        /* Huge values saturate instead of overflowing. */
        assert_true(net_parse_retry_after("99999999999999999999999", NULL, now) > 0);
}

static void test_status(void **state)
{
        static const long yes[] = { 408, 429, 500, 502, 503, 504 };
        static const long no[] = { 0, 200, 201, 400, 401, 403, 404, 409, 411, 412, 413, 416, 501, 505 };

        (void)state;
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
                assert_true(net_status_retryable(yes[i]));
        for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
                assert_false(net_status_retryable(no[i]));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_retry_after_override),
                cmocka_unit_test(test_parse_retry_after),
                cmocka_unit_test(test_status),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
