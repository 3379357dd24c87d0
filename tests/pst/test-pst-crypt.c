/* SPDX-License-Identifier: MIT
 *
 * test-pst-crypt.c - the block encodings: permute is a bijection whose
 * decode undoes encode, cyclic is its own inverse, depends on the key, and
 * ignores the reserved bit 0 of the BID.  (Decoding real permute and cyclic
 * files is checked by test-pst-corpus.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pst/pst-internal.h"

static void test_permute(void **state)
{
        uint8_t b[256], seen[256] = {};

        (void)state;
        for (int i = 0; i < 256; i++)
                b[i] = (uint8_t)i;
        pst_permute_encode(b, sizeof(b));
        for (int i = 0; i < 256; i++)
                seen[b[i]]++;
        for (int i = 0; i < 256; i++)
                assert_int_equal(seen[i], 1);
        /* [MS-PST] 5.1: mpbbCrypt starts 0x41 0x36 0x13 0x62. */
        assert_int_equal(b[0], 0x41);
        assert_int_equal(b[3], 0x62);
        pst_permute_decode(b, sizeof(b));
        for (int i = 0; i < 256; i++)
                assert_int_equal(b[i], i);
        /* Every length and alignment around the 64-byte vector path. */
        for (size_t off = 0; off < 3; off++)
                for (size_t n = 0; n + off <= sizeof(b); n += 13) {
                        for (int i = 0; i < 256; i++)
                                b[i] = (uint8_t)(i * 37 + 11);
                        pst_permute_encode(b + off, n);
                        pst_permute_decode(b + off, n);
                        for (int i = 0; i < 256; i++)
                                assert_int_equal(b[i], (uint8_t)(i * 37 + 11));
                }
}

static void test_cyclic(void **state)
{
        uint8_t plain[300], b[300], c[300];

        (void)state;
        for (size_t i = 0; i < sizeof(plain); i++)
                plain[i] = (uint8_t)(i * 7 + 3);
        memcpy(b, plain, sizeof(b));
        pst_cyclic(b, sizeof(b), 0x152C);
        assert_memory_not_equal(b, plain, sizeof(b));
        memcpy(c, b, sizeof(c));
        pst_cyclic(c, sizeof(c), 0x152C);
        assert_memory_equal(c, plain, sizeof(c));

        /* Bit 0 is reserved: 0x152D keys exactly like 0x152C. */
        memcpy(c, plain, sizeof(c));
        pst_cyclic(c, sizeof(c), 0x152D);
        assert_memory_equal(c, b, sizeof(c));

        /* Another key gives another encoding; only the low 32 bits count. */
        memcpy(c, plain, sizeof(c));
        pst_cyclic(c, sizeof(c), 0x1530);
        assert_memory_not_equal(c, b, sizeof(c));
        memcpy(c, plain, sizeof(c));
        pst_cyclic(c, sizeof(c), UINT64_C(0x77700000152C));
        assert_memory_equal(c, b, sizeof(c));
}

static void test_block_decode(void **state)
{
        uint8_t b[64], p[64];

        (void)state;
        for (size_t i = 0; i < sizeof(p); i++)
                p[i] = (uint8_t)i;
        memcpy(b, p, sizeof(b));
        pst_block_decode(PST_CRYPT_NONE, 0x24, b, sizeof(b));
        assert_memory_equal(b, p, sizeof(b));
        pst_permute_encode(b, sizeof(b));
        pst_block_decode(PST_CRYPT_PERMUTE, 0x24, b, sizeof(b));
        assert_memory_equal(b, p, sizeof(b));
        pst_cyclic(b, sizeof(b), 0x24);
        pst_block_decode(PST_CRYPT_CYCLIC, 0x24, b, sizeof(b));
        assert_memory_equal(b, p, sizeof(b));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_permute),
                cmocka_unit_test(test_cyclic),
                cmocka_unit_test(test_block_decode),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
