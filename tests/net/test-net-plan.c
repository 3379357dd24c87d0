/* SPDX-License-Identifier: MIT
 *
 * test-net-plan.c - block planning and block IDs.
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

#define MiB (1024ull * 1024)

static void test_single(void **state)
{
        struct net_plan p;

        (void)state;
        assert_int_equal(net_plan(0, 8 * MiB, 8 * MiB, &p), 0);
        assert_true(p.single);
        assert_int_equal(p.nblocks, 1);
        /* Size 0 is a single Put Blob even when no Put Blob is wanted. */
        assert_int_equal(net_plan(0, 8 * MiB, 0, &p), 0);
        assert_true(p.single);
        assert_int_equal(net_plan(1, 8 * MiB, 8 * MiB, &p), 0);
        assert_true(p.single);
        assert_int_equal(p.nblocks, 1);
        assert_int_equal(net_plan(8 * MiB, 8 * MiB, 8 * MiB, &p), 0);
        assert_true(p.single);
        /* Put Blob is capped at 5000 MiB whatever the caller asks. */
        assert_int_equal(net_plan(5001 * MiB, 8 * MiB, 100000 * MiB, &p), 0);
        assert_false(p.single);
}

static void test_blocks(void **state)
{
        struct net_plan p;

        (void)state;
        /* Exactly one block when Put Blob is off. */
        assert_int_equal(net_plan(8 * MiB, 8 * MiB, 0, &p), 0);
        assert_false(p.single);
        assert_int_equal(p.nblocks, 1);
        assert_true(p.block_size == 8 * MiB);
        /* One byte over: two blocks. */
        assert_int_equal(net_plan(8 * MiB + 1, 8 * MiB, 8 * MiB, &p), 0);
        assert_false(p.single);
        assert_int_equal(p.nblocks, 2);
        assert_true(p.block_size == 8 * MiB);
}

static void test_doubling(void **state)
{
        struct net_plan p;

        (void)state;
        /* 50,000 blocks exactly: no doubling. */
        assert_int_equal(net_plan(50000ull * 8 * MiB, 8 * MiB, 8 * MiB, &p), 0);
        assert_int_equal(p.nblocks, 50000);
        assert_true(p.block_size == 8 * MiB);
        /* One byte more: 16 MiB blocks. */
        assert_int_equal(net_plan(50000ull * 8 * MiB + 1, 8 * MiB, 8 * MiB, &p), 0);
        assert_true(p.block_size == 16 * MiB);
        assert_int_equal(p.nblocks, 25001);
        /* Doubling stops at 4000 MiB rather than overshooting to 4096. */
        assert_int_equal(net_plan(50000ull * 4000 * MiB, 1000 * MiB, 0, &p), 0);
        assert_true(p.block_size == NET_MAX_BLOCK_SIZE);
        assert_int_equal(p.nblocks, 50000);
}

static void test_too_big(void **state)
{
        struct net_plan p = { .nblocks = 7 };

        (void)state;
        assert_int_equal(net_plan(50000ull * 4000 * MiB + 1, 8 * MiB, 8 * MiB, &p), -EFBIG);
        assert_int_equal(p.nblocks, 7);
        assert_int_equal(net_plan(UINT64_MAX, 8 * MiB, 8 * MiB, &p), -EFBIG);
        assert_int_equal(net_plan(100, 0, 0, &p), -EINVAL);
        assert_int_equal(net_plan(100, NET_MAX_BLOCK_SIZE + 1, 0, &p), -EINVAL);
}

static void test_block_ids(void **state)
{
        static const uint32_t idx[] = { 0, 1, 2, 9, 10, 255, 4095, 49999, UINT32_MAX };
        const uint64_t salt = 0x1234567890abcdefull;
        char a[64], b[64], first[64];
        size_t len0;

        (void)state;
        len0 = net_block_id("store/x.pst", salt, 0, first);
        assert_int_equal(len0, strlen(first));
        assert_int_equal(len0, 36);
        for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
                assert_int_equal(net_block_id("store/x.pst", salt, idx[i], a), len0);
                /* Deterministic, and read back to its index. */
                net_block_id("store/x.pst", salt, idx[i], b);
                assert_string_equal(a, b);
                assert_int_equal(net_block_index("store/x.pst", salt, a, strlen(a)), idx[i]);
                /* Distinct from every other index. */
                for (size_t j = 0; j < i; j++) {
                        net_block_id("store/x.pst", salt, idx[j], b);
                        assert_string_not_equal(a, b);
                }
                /* Another blob or another salt (another source version):
                 * another ID of the same length, not read as one of ours. */
                assert_int_equal(net_block_id("store/y.pst", salt, idx[i], b), len0);
                assert_string_not_equal(a, b);
                assert_int_equal(net_block_index("store/x.pst", salt, b, strlen(b)), -1);
                assert_int_equal(net_block_id("store/x.pst", salt + 1, idx[i], b), len0);
                assert_string_not_equal(a, b);
                assert_int_equal(net_block_index("store/x.pst", salt, b, strlen(b)), -1);
        }
        /* Length does not depend on the name either. */
        assert_int_equal(net_block_id("", 0, 3, a), len0);
        assert_int_equal(net_block_id("a/very/long/name/that/goes/on/and/on/and/on.pst", 0, 3, a),
                         len0);
        /* Hostile IDs from a Get Block List answer. */
        assert_int_equal(net_block_index("store/x.pst", salt, "", 0), -1);
        assert_int_equal(net_block_index("store/x.pst", salt, "!!!!", 4), -1);
        assert_int_equal(net_block_index("store/x.pst", salt, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                         36), -1);
        memcpy(b, first, 37);
        b[35] = '*';
        assert_int_equal(net_block_index("store/x.pst", salt, b, 36), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_single),
                cmocka_unit_test(test_blocks),
                cmocka_unit_test(test_doubling),
                cmocka_unit_test(test_too_big),
                cmocka_unit_test(test_block_ids),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
