/* SPDX-License-Identifier: MIT
 *
 * test-net-crc64.c - CRC-64/NVME: check values, the running API, and the
 * folding path against slicing-by-8 and a bitwise reference.
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
#include "net/crc64-internal.h"

/* The definition, one bit at a time: reflected poly, init and xorout ~0. */
static uint64_t crc_bitwise(const uint8_t *p, size_t n)
{
        uint64_t c = ~UINT64_C(0);

        for (size_t i = 0; i < n; i++) {
                c ^= p[i];
                for (int k = 0; k < 8; k++)
                        c = (c >> 1) ^ ((c & 1) ? UINT64_C(0x9A6C9329AC4BC9B5) : 0);
        }
        return ~c;
}

/* Deterministic generator so a failure reproduces. */
static uint64_t rng_state = UINT64_C(0x243F6A8885A308D3);
static uint64_t rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static void test_check_value(void **state)
{
        (void)state;
        /* AZURE.md §3.4 and the CRC catalogue's CRC-64/NVME check value. */
        assert_true(net_crc64(0, "123456789", 9) == UINT64_C(0xAE8B14860A799888));
        assert_true(net_crc64_slice8(0, "123456789", 9) == UINT64_C(0xAE8B14860A799888));
        assert_true(crc_bitwise((const uint8_t *)"123456789", 9) == UINT64_C(0xAE8B14860A799888));
}

static void test_empty_and_one_byte(void **state)
{
        uint8_t b = 0;

        (void)state;
        assert_true(net_crc64(0, NULL, 0) == 0);
        assert_true(net_crc64(0, "", 0) == 0);
        /* Feeding nothing leaves a running value unchanged. */
        assert_true(net_crc64(UINT64_C(0x1234), "", 0) == UINT64_C(0x1234));
        for (unsigned v = 0; v < 256; v++) {
                b = (uint8_t)v;
                assert_true(net_crc64(0, &b, 1) == crc_bitwise(&b, 1));
        }
        assert_true(net_crc64(0, "a", 1) != net_crc64(0, "b", 1));
}

static void test_paths_agree(void **state)
{
        const size_t max = 100 * 1000;
        uint8_t *buf = malloc(max + 16);

        (void)state;
        assert_non_null(buf);
        for (size_t i = 0; i < max + 16; i++)
                buf[i] = (uint8_t)rnd();

        for (unsigned iter = 0; iter < 300; iter++) {
                /* Mix small, boundary-straddling and large lengths. */
                size_t len = iter < 300 - 60 ? (size_t)(rnd() % (iter < 120 ? 600 : max + 1)) :
                                               (size_t)(max - rnd() % 300);
                size_t off = (size_t)(rnd() % 16);
                const uint8_t *p = buf + off;
                uint64_t want = crc_bitwise(p, len);

                assert_true(net_crc64_slice8(0, p, len) == want);
                if (net_crc64_have_clmul())
                        assert_true(net_crc64_clmul(0, p, len) == want);
                assert_true(net_crc64(0, p, len) == want);

                /* Random split into up to four pieces, fed in order. */
                size_t a = len ? (size_t)(rnd() % (len + 1)) : 0;
                size_t b = a + (len - a ? (size_t)(rnd() % (len - a + 1)) : 0);
                size_t c = b + (len - b ? (size_t)(rnd() % (len - b + 1)) : 0);
                uint64_t run = net_crc64(0, p, a);
                run = net_crc64(run, p + a, b - a);
                run = net_crc64(run, p + b, c - b);
                run = net_crc64(run, p + c, len - c);
                assert_true(run == want);
                if (net_crc64_have_clmul()) {
                        run = net_crc64_clmul(0, p, b);
                        run = net_crc64_clmul(run, p + b, len - b);
                        assert_true(run == want);
                }
        }
        free(buf);
}

static void test_base64(void **state)
{
        char out[13];

        (void)state;
        /* 0xAE8B14860A799888 little-endian = 88 98 79 0a 86 14 8b ae. */
        net_crc64_base64(UINT64_C(0xAE8B14860A799888), out);
        assert_string_equal(out, "iJh5CoYUi64=");
        net_crc64_base64(0, out);
        assert_string_equal(out, "AAAAAAAAAAA=");
        assert_int_equal(strlen(out), 12);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check_value),
                cmocka_unit_test(test_empty_and_one_byte),
                cmocka_unit_test(test_paths_agree),
                cmocka_unit_test(test_base64),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
