/* SPDX-License-Identifier: MIT
 *
 * test-daemon-schedule.c - cap rates and the weekly schedule: parsing, the
 * errors that name the rule, evaluation at fixed instants (a fake "now"),
 * and the next change, in Europe/Berlin across both DST switches of 2026.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "schedule.h"

static uint64_t rate(const char *s)
{
        uint64_t r = UINT64_MAX;

        assert_int_equal(sched_parse_rate(s, &r), 0);
        return r;
}

static void test_rates(void **state)
{
        uint64_t r;

        (void)state;
        assert_int_equal(rate("20MB/s"), 20000000);
        assert_int_equal(rate("512KB/s"), 512000);
        assert_int_equal(rate("512kB/s"), 512000);
        assert_int_equal(rate("1GB/s"), 1000000000);
        assert_int_equal(rate("100B/s"), 100);
        assert_int_equal(rate("4MiB/s"), 4194304);
        assert_int_equal(rate("50Mbit"), 6250000);
        assert_int_equal(rate("50Mbit/s"), 6250000);
        assert_int_equal(rate("50mbit"), 6250000);
        assert_int_equal(rate("50Mbps"), 6250000);
        assert_int_equal(rate("1.5Gbit"), 187500000);
        assert_int_equal(rate("800Kbit"), 100000);
        assert_int_equal(rate("2.5 MB/s"), 2500000);
        assert_int_equal(rate("unlimited"), 0);
        assert_int_equal(rate("none"), 0);
        assert_int_equal(rate("0"), 0);
        /* Bare numbers and b/B mix-ups are ambiguous: refused. */
        assert_int_equal(sched_parse_rate("20", &r), -EINVAL);
        assert_int_equal(sched_parse_rate("20M", &r), -EINVAL);
        assert_int_equal(sched_parse_rate("20Mb/s", &r), -EINVAL);
        assert_int_equal(sched_parse_rate("20MB", &r), -EINVAL);
        assert_int_equal(sched_parse_rate("-5MB/s", &r), -EINVAL);
        assert_int_equal(sched_parse_rate("", &r), -EINVAL);
        assert_int_equal(sched_parse_rate("fast", &r), -EINVAL);
        assert_int_equal(sched_parse_rate("1bit", &r), -ERANGE);
        assert_int_equal(sched_parse_rate("1000GB/s", &r), -ERANGE);
}

static void test_format(void **state)
{
        char b[32];

        (void)state;
        assert_string_equal(sched_format_rate(0, b, sizeof(b)), "unlimited");
        assert_string_equal(sched_format_rate(20000000, b, sizeof(b)), "20 MB/s");
        assert_string_equal(sched_format_rate(6250000, b, sizeof(b)), "6.25 MB/s");
        assert_string_equal(sched_format_rate(512000, b, sizeof(b)), "512 KB/s");
        assert_string_equal(sched_format_rate(100, b, sizeof(b)), "100 B/s");
}

static void test_parse(void **state)
{
        struct schedule s;
        char err[256] = "";

        (void)state;
        assert_int_equal(sched_parse("Mon-Fri 08:00-18:00 = 50Mbit; * = unlimited", &s, err,
                                     sizeof(err)), 0);
        assert_int_equal(s.n, 2);
        assert_int_equal(s.rule[0].days, 0x3e);
        assert_int_equal(s.rule[0].start, 480);
        assert_int_equal(s.rule[0].end, 1080);
        assert_int_equal(s.rule[0].rate, 6250000);
        assert_int_equal(s.rule[1].days, 0x7f);
        assert_int_equal(s.rule[1].start, 0);
        assert_int_equal(s.rule[1].end, 1440);
        assert_int_equal(s.rule[1].rate, 0);

        assert_int_equal(sched_parse(" sat,SUN = 1MB/s ;; Fri-Mon 22:00-06:00=2MB/s;\n"
                                     "Wed 12:00-24:00 = 3MB/s;", &s, err, sizeof(err)), 0);
        assert_int_equal(s.n, 3);
        assert_int_equal(s.rule[0].days, 0x41);
        assert_int_equal(s.rule[1].days, 0x63);
        assert_int_equal(s.rule[1].start, 1320);
        assert_int_equal(s.rule[1].end, 360);
        assert_int_equal(s.rule[2].end, 1440);

        /* Errors name the rule and what is wrong with it. */
        assert_int_equal(sched_parse("* = 1MB/s; Mon-Fry 08:00-18:00 = 50Mbit", &s, err,
                                     sizeof(err)), -EINVAL);
        assert_string_equal(err, "rule 2 \"Mon-Fry 08:00-18:00 = 50Mbit\": bad days \"Mon-Fry\" "
                                 "(like Mon-Fri, Sat,Sun or *)");
        assert_int_equal(sched_parse("Mon 8:00-18:00 = 1MB/s", &s, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "rule 1 \"Mon 8:00-18:00 = 1MB/s\": bad time range"));
        assert_int_equal(sched_parse("Mon 08:00-08:00 = 1MB/s", &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(sched_parse("Mon 08:00-24:01 = 1MB/s", &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(sched_parse("Mon 08:00-18:00 = 20", &s, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "bad rate \"20\""));
        assert_int_equal(sched_parse("Mon 08:00-18:00 50Mbit", &s, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "expected"));
        assert_int_equal(sched_parse(" ; ", &s, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "no rule"));
}

static int berlin(void **state)
{
        (void)state;
        setenv("TZ", "Europe/Berlin", 1);
        tzset();
        return 0;
}

/* Unix times (UTC) of the instants the tests look at. */
#define MON_30_MAR_0600Z 1774850400   /* 08:00 CEST, the first Monday of summer time */
#define SAT_28_MAR_1200Z 1774699200
#define SUN_29_MAR_0100Z 1774746000   /* 02:00 CET becomes 03:00 CEST */
#define SUN_29_MAR_0130Z 1774747800   /* 03:30 CEST */
#define FRI_23_OCT_1600Z 1792771200   /* 18:00 CEST */
#define FRI_23_OCT_1700Z 1792774800
#define SUN_25_OCT_0030Z 1792888200   /* 02:30 CEST, the first time */
#define SUN_25_OCT_0230Z 1792895400   /* 03:30 CET, after 02:00-03:00 ran twice */
#define MON_26_OCT_0700Z 1792998000   /* 08:00 CET */

static const char office[] = "Mon-Fri 08:00-18:00 = 50Mbit; Sun 02:30-03:30 = 1MB/s; * = unlimited";

static void test_eval_dst(void **state)
{
        struct schedule s;
        char err[256];

        (void)state;
        assert_int_equal(sched_parse(office, &s, err, sizeof(err)), 0);
        /* 08:00 local is 06:00 UTC in summer time, not 07:00. */
        assert_int_equal(sched_rate_at(&s, MON_30_MAR_0600Z - 1), 0);
        assert_int_equal(sched_rate_at(&s, MON_30_MAR_0600Z), 6250000);
        /* ... and 07:00 UTC after the October switch. */
        assert_int_equal(sched_rate_at(&s, MON_26_OCT_0700Z - 3600), 0);
        assert_int_equal(sched_rate_at(&s, MON_26_OCT_0700Z - 1), 0);
        assert_int_equal(sched_rate_at(&s, MON_26_OCT_0700Z), 6250000);
        /* 18:00 CEST ends the office hours. */
        assert_int_equal(sched_rate_at(&s, FRI_23_OCT_1600Z - 1), 6250000);
        assert_int_equal(sched_rate_at(&s, FRI_23_OCT_1600Z), 0);
        /* Spring forward: 02:30 does not exist; the rule starts at 03:00 CEST. */
        assert_int_equal(sched_rate_at(&s, SUN_29_MAR_0100Z - 1), 0);
        assert_int_equal(sched_rate_at(&s, SUN_29_MAR_0100Z), 1000000);
        assert_int_equal(sched_rate_at(&s, SUN_29_MAR_0130Z), 0);
        /* Fall back: 02:30-03:00 happens twice, the rule holds both times. */
        assert_int_equal(sched_rate_at(&s, SUN_25_OCT_0030Z), 1000000);
        assert_int_equal(sched_rate_at(&s, SUN_25_OCT_0030Z + 1800), 0);
        assert_int_equal(sched_rate_at(&s, SUN_25_OCT_0030Z + 3600), 1000000);
        assert_int_equal(sched_rate_at(&s, SUN_25_OCT_0230Z - 1), 1000000);
        assert_int_equal(sched_rate_at(&s, SUN_25_OCT_0230Z), 0);
}

static void test_overnight(void **state)
{
        struct schedule s;
        char err[256];

        (void)state;
        /* Fri 22:00 to Sat 06:00 only: Saturday night is not in it. */
        assert_int_equal(sched_parse("Fri 22:00-06:00 = 1MB/s", &s, err, sizeof(err)), 0);
        assert_int_equal(sched_rate_at(&s, FRI_23_OCT_1600Z + 4 * 3600 - 1), 0);
        assert_int_equal(sched_rate_at(&s, FRI_23_OCT_1600Z + 4 * 3600), 1000000);
        assert_int_equal(sched_rate_at(&s, FRI_23_OCT_1600Z + 12 * 3600 - 1), 1000000);
        assert_int_equal(sched_rate_at(&s, FRI_23_OCT_1600Z + 12 * 3600), 0);
        assert_int_equal(sched_rate_at(&s, FRI_23_OCT_1600Z + 28 * 3600), 0);
}

static void test_next_change(void **state)
{
        struct schedule s;
        uint64_t next = 42;
        char err[256];

        (void)state;
        assert_int_equal(sched_parse(office, &s, err, sizeof(err)), 0);
        assert_int_equal(sched_next_change(&s, SAT_28_MAR_1200Z, &next), SUN_29_MAR_0100Z);
        assert_int_equal(next, 1000000);
        assert_int_equal(sched_next_change(&s, SUN_29_MAR_0100Z, &next), SUN_29_MAR_0130Z);
        assert_int_equal(next, 0);
        assert_int_equal(sched_next_change(&s, SUN_29_MAR_0130Z, &next), MON_30_MAR_0600Z);
        assert_int_equal(next, 6250000);
        /* From within a minute, and from the last second before a change. */
        assert_int_equal(sched_next_change(&s, MON_30_MAR_0600Z - 1, NULL), MON_30_MAR_0600Z);
        assert_int_equal(sched_next_change(&s, MON_30_MAR_0600Z + 17, NULL), MON_30_MAR_0600Z + 10 * 3600);
        assert_int_equal(sched_next_change(&s, FRI_23_OCT_1700Z, NULL), SUN_25_OCT_0030Z);
        /* The wall clock runs 02:30-03:00 CEST, 02:00-03:30 CET: the rule
         * holds, lets go for 02:00-02:30 CET, and holds again. */
        assert_int_equal(sched_next_change(&s, SUN_25_OCT_0030Z, &next), SUN_25_OCT_0030Z + 1800);
        assert_int_equal(next, 0);
        assert_int_equal(sched_next_change(&s, SUN_25_OCT_0030Z + 1800, &next), SUN_25_OCT_0030Z + 3600);
        assert_int_equal(next, 1000000);
        assert_int_equal(sched_next_change(&s, SUN_25_OCT_0030Z + 3600, NULL), SUN_25_OCT_0230Z);
        assert_int_equal(sched_next_change(&s, SUN_25_OCT_0230Z, NULL), MON_26_OCT_0700Z);
        /* A constant schedule never changes. */
        assert_int_equal(sched_parse("* = 20MB/s", &s, err, sizeof(err)), 0);
        assert_int_equal(sched_next_change(&s, MON_30_MAR_0600Z, NULL), -1);
}

static void test_add_default(void **state)
{
        struct schedule s;
        char err[256];

        (void)state;
        /* --cap (or the config's cap) is the rate outside every rule. */
        assert_int_equal(sched_parse(office, &s, err, sizeof(err)), 0);
        s.n--; /* drop "* = unlimited" */
        assert_int_equal(sched_add_default(&s, 20000000), 0);
        assert_int_equal(sched_rate_at(&s, MON_30_MAR_0600Z), 6250000);
        assert_int_equal(sched_rate_at(&s, MON_30_MAR_0600Z - 1), 20000000);
        s.n = SCHED_MAX_RULES;
        assert_int_equal(sched_add_default(&s, 1), -E2BIG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rates),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_parse),
                cmocka_unit_test_setup(test_eval_dst, berlin),
                cmocka_unit_test_setup(test_overnight, berlin),
                cmocka_unit_test_setup(test_next_change, berlin),
                cmocka_unit_test_setup(test_add_default, berlin),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
