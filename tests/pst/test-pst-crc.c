/* SPDX-License-Identifier: MIT
 *
 * test-pst-crc.c - the PST CRC-32: check values, the zlib identity
 * (pst_crc32 == crc32(~0, d, n) ^ ~0), running use, and the slicing and
 * carry-less multiplication paths against a bitwise reference at every
 * alignment and tail length.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "pstream/pst.h"

/* The definition: reflected 0xEDB88320, initial value 0, no final xor. */
static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
        uint32_t c = 0;

        for (size_t i = 0; i < n; i++) {
                c ^= p[i];
                for (int k = 0; k < 8; k++)
                        c = (c >> 1) ^ ((c & 1) ? 0xEDB88320u : 0);
        }
        return c;
}

static uint32_t crc_zlib(const uint8_t *p, size_t n)
{
        return (uint32_t)crc32(0xFFFFFFFFu, p, (uInt)n) ^ 0xFFFFFFFFu;
}

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);
static uint64_t rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static void test_vectors(void **state)
{
        uint8_t all[256], zeros[8] = {};

        (void)state;
        for (int i = 0; i < 256; i++)
                all[i] = (uint8_t)i;
        assert_int_equal(pst_crc32(0, "123456789", 9), 0x2DFD2D88u);
        assert_int_equal(pst_crc32(0, "a", 1), 0x3AB551CEu);
        assert_int_equal(pst_crc32(0, zeros, sizeof(zeros)), 0);
        assert_int_equal(pst_crc32(0, all, sizeof(all)), 0x2493092Bu);
        assert_int_equal(pst_crc32(0, NULL, 0), 0);
        assert_int_equal(pst_crc32(0x1234, "", 0), 0x1234);
}

static void test_zlib_identity(void **state)
{
        uint8_t buf[4096 + 16];

        (void)state;
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (uint8_t)rnd();
        /* Every alignment and tail length of the 8-byte loop, and long runs. */
        for (size_t off = 0; off < 16; off++)
                for (size_t n = 0; n < 80; n++) {
                        uint32_t want = crc_bitwise(buf + off, n);

                        assert_int_equal(pst_crc32(0, buf + off, n), want);
                        assert_int_equal(crc_zlib(buf + off, n), want);
                }
        for (size_t n = 100; n <= 4096; n += 333)
                assert_int_equal(pst_crc32(0, buf + 3, n), crc_zlib(buf + 3, n));
}

/* Lengths around the 64-byte threshold and 16-byte steps of the folding
 * path, with a running (non-zero) CRC coming in. */
static void test_folding(void **state)
{
        uint8_t buf[1200 + 8];

        (void)state;
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (uint8_t)rnd();
        for (size_t off = 0; off < 8; off += 3)
                for (size_t n = 48; n <= 1200; n += (n < 200 ? 1 : 7)) {
                        uint32_t seed = pst_crc32(0, buf + off, 5);

                        assert_int_equal(pst_crc32(0, buf + off, n), crc_bitwise(buf + off, n));
                        assert_int_equal(pst_crc32(seed, buf + off + 5, n - 5), crc_bitwise(buf + off, n));
                }
}

static void test_running(void **state)
{
        uint8_t buf[1000];

        (void)state;
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (uint8_t)rnd();
        for (size_t cut = 0; cut <= sizeof(buf); cut += 37) {
                uint32_t c = pst_crc32(0, buf, cut);

                assert_int_equal(pst_crc32(c, buf + cut, sizeof(buf) - cut),
                                 pst_crc32(0, buf, sizeof(buf)));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vectors),
                cmocka_unit_test(test_zlib_identity),
                cmocka_unit_test(test_folding),
                cmocka_unit_test(test_running),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
