/* SPDX-License-Identifier: MIT
 *
 * test-daemon-options.c - option values: sizes, counts, and the JSON string
 * writer used by reports.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"
#include "options.h"

static void test_sizes(void **state)
{
        uint64_t v;

        (void)state;
        assert_int_equal(parse_size("8M", 0, UINT64_MAX, &v), 0);
        assert_true(v == 8ull << 20);
        assert_int_equal(parse_size("8MiB", 0, UINT64_MAX, &v), 0);
        assert_true(v == 8ull << 20);
        assert_int_equal(parse_size("4096", 0, UINT64_MAX, &v), 0);
        assert_true(v == 4096);
        assert_int_equal(parse_size("1.5g", 0, UINT64_MAX, &v), 0);
        assert_true(v == 3ull << 29);
        assert_int_equal(parse_size("512k", 0, UINT64_MAX, &v), 0);
        assert_true(v == 512 * 1024);
        assert_int_equal(parse_size("", 0, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_size("M", 0, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_size("-1M", 0, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_size("8Q", 0, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(parse_size("1M", 2 << 20, UINT64_MAX, &v), -ERANGE);
        assert_int_equal(parse_size("99999999999T", 0, UINT64_MAX, &v), -ERANGE);
}

static void test_uint(void **state)
{
        unsigned v;

        (void)state;
        assert_int_equal(parse_uint("16", 1, 256, &v), 0);
        assert_int_equal(v, 16);
        assert_int_equal(parse_uint("0", 1, 256, &v), -ERANGE);
        assert_int_equal(parse_uint("257", 1, 256, &v), -ERANGE);
        assert_int_equal(parse_uint("1x", 1, 256, &v), -EINVAL);
        assert_int_equal(parse_uint("-1", 1, 256, &v), -EINVAL);
        assert_int_equal(parse_uint("99999999999999999999", 1, 256, &v), -EINVAL);
}

static void test_json(void **state)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        (void)state;
        json_string(f, "a\"b\\c\n\x01 \xc3\xa9 \xff\xfe ok");
        fclose(f);
        assert_string_equal(buf, "\"a\\\"b\\\\c\\n\\u0001 \xc3\xa9 \\u00ff\\u00fe ok\"");
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_uint),
                cmocka_unit_test(test_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
