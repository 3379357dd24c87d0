/* SPDX-License-Identifier: MIT
 *
 * test-pst-lzfu.c - compressed RTF: the [MS-OXRTFCP] worked examples, the
 * stored ("MELA") form with Aspose's wrong sizes, and hostile headers and
 * streams (CRC, sizes, truncation, references to unwritten bytes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pstream/pst.h"

/* [MS-OXRTFCP] section 3.1.1, "Example 1: Simple Compressed RTF". */
static const uint8_t spec_simple[] = {
        0x2d, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5, 0xc7,
        0xa7, 0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42, 0x32, 0x0a,
        0xf3, 0x20, 0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0, 0x6c, 0x64, 0x7d,
        0x0a, 0x80, 0x0f, 0xa0,
};
static const char spec_simple_rtf[] = "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n";

/* [MS-OXRTFCP] section 3.1.2, "Example 2: Reading a Token from the
 * Dictionary that Crosses WritePosition". */
static const uint8_t spec_crossing[] = {
        0x1a, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xe2, 0xd4, 0x4b,
        0x51, 0x41, 0x00, 0x04, 0x20, 0x57, 0x58, 0x59, 0x5a, 0x0d, 0x6e, 0x7d, 0x01, 0x0e, 0xb0,
};
static const char spec_crossing_rtf[] = "{\\rtf1 WXYZWXYZWXYZWXYZWXYZ}";

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

/* Wrap a hand-made LZFu stream in a header with a right CRC. */
static size_t make_lzfu(uint8_t *buf, const uint8_t *body, size_t n, uint32_t raw)
{
        put32(buf, (uint32_t)n + 12);
        put32(buf + 4, raw);
        memcpy(buf + 8, "LZFu", 4);
        put32(buf + 12, pst_crc32(0, body, n));
        memcpy(buf + 16, body, n);
        return n + 16;
}

static int decode(const uint8_t *in, size_t n, uint8_t **out, size_t *len, struct pst_diag *d)
{
        *out = NULL;
        *len = 0;
        memset(d, 0, sizeof(*d));
        return pst_lzfu_decompress(in, n, out, len, d);
}

static void test_spec_examples(void **state)
{
        struct pst_diag d;
        uint8_t *out;
        size_t len;

        (void)state;
        assert_int_equal(decode(spec_simple, sizeof(spec_simple), &out, &len, &d), 0);
        assert_int_equal(len, strlen(spec_simple_rtf));
        assert_memory_equal(out, spec_simple_rtf, len);
        free(out);

        assert_int_equal(decode(spec_crossing, sizeof(spec_crossing), &out, &len, &d), 0);
        assert_int_equal(len, strlen(spec_crossing_rtf));
        assert_memory_equal(out, spec_crossing_rtf, len);
        free(out);
}

static void test_padding_after_stream(void **state)
{
        uint8_t buf[sizeof(spec_simple) + 7];
        struct pst_diag d;
        uint8_t *out;
        size_t len;

        (void)state;
        memcpy(buf, spec_simple, sizeof(spec_simple));
        memset(buf + sizeof(spec_simple), 0xAA, 7);
        assert_int_equal(decode(buf, sizeof(buf), &out, &len, &d), 0);
        assert_memory_equal(out, spec_simple_rtf, len);
        free(out);
}

static void test_mela(void **state)
{
        static const char rtf[] = "{\\rtf1\\ansi hi}";
        uint8_t buf[64];
        struct pst_diag d;
        uint8_t *out;
        size_t n = strlen(rtf), len;

        (void)state;
        /* Aspose: CRC 0 and cbRawSize 12 bytes larger than the payload. */
        put32(buf, (uint32_t)n + 12 + 12);
        put32(buf + 4, (uint32_t)n + 12);
        memcpy(buf + 8, "MELA", 4);
        put32(buf + 12, 0);
        memcpy(buf + 16, rtf, n);
        assert_int_equal(decode(buf, 16 + n, &out, &len, &d), 0);
        assert_int_equal(len, n);
        assert_memory_equal(out, rtf, n);
        free(out);

        /* A smaller cbRawSize still truncates; a stray CRC is ignored. */
        put32(buf + 4, 5);
        put32(buf + 12, 0xDEADBEEF);
        assert_int_equal(decode(buf, 16 + n, &out, &len, &d), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(out, rtf, 5);
        free(out);
}

static void test_bad_headers(void **state)
{
        uint8_t buf[sizeof(spec_simple)];
        struct pst_diag d;
        uint8_t *out;
        size_t len;

        (void)state;
        for (size_t n = 0; n < 16; n++)
                assert_int_equal(decode(spec_simple, n, &out, &len, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "header"));
        assert_int_equal(decode(NULL, 0, &out, &len, &d), -EBADMSG);

        memcpy(buf, spec_simple, sizeof(buf));
        memcpy(buf + 8, "LZFv", 4);
        assert_int_equal(decode(buf, sizeof(buf), &out, &len, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "dwMagic"));

        memcpy(buf, spec_simple, sizeof(buf));
        put32(buf, 11);
        assert_int_equal(decode(buf, sizeof(buf), &out, &len, &d), -EBADMSG);
        assert_null(out);
}

static void test_truncated(void **state)
{
        struct pst_diag d;
        uint8_t *out;
        size_t len;

        (void)state;
        /* cbSize promises more than is there: the CRC cannot be checked. */
        for (size_t n = 16; n < sizeof(spec_simple); n++) {
                assert_int_equal(decode(spec_simple, n, &out, &len, &d), -EBADMSG);
                assert_null(out);
        }
        assert_non_null(strstr(d.msg, "cbSize"));
}

static void test_crc_mismatch(void **state)
{
        uint8_t buf[sizeof(spec_simple)];
        struct pst_diag d;
        uint8_t *out;
        size_t len;

        (void)state;
        memcpy(buf, spec_simple, sizeof(buf));
        buf[20] ^= 1;
        assert_int_equal(decode(buf, sizeof(buf), &out, &len, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "CRC"));
        assert_int_equal(d.offset, 12);
}

static void test_rawsize_bomb(void **state)
{
        uint8_t buf[sizeof(spec_simple)];
        struct pst_diag d;
        uint8_t *out;
        size_t len;
        uint32_t comp = sizeof(spec_simple) - 16;

        (void)state;
        memcpy(buf, spec_simple, sizeof(buf));
        put32(buf + 4, 0xFFFFFFFFu);
        assert_int_equal(decode(buf, sizeof(buf), &out, &len, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "tampered"));
        assert_int_equal(d.offset, 4);

        /* 8 x COMPSIZE + 207 is the most a real stream can expand to. */
        put32(buf + 4, 8 * comp + 207 + 1);
        assert_int_equal(decode(buf, sizeof(buf), &out, &len, &d), -EBADMSG);
        put32(buf + 4, 8 * comp + 207);
        assert_int_equal(decode(buf, sizeof(buf), &out, &len, &d), 0);
        assert_memory_equal(out, spec_simple_rtf, len); /* stops at the end marker */
        free(out);
}

static void test_end_marker(void **state)
{
        /* Literals "ab", then a reference at the write position (209 = 0xD1). */
        static const uint8_t body[] = { 0x04, 'a', 'b', 0x0D, 0x10, 'z', 'z' };
        uint8_t buf[64];
        struct pst_diag d;
        uint8_t *out;
        size_t n, len;

        (void)state;
        n = make_lzfu(buf, body, sizeof(body), 100);
        assert_int_equal(decode(buf, n, &out, &len, &d), 0);
        assert_int_equal(len, 2);
        assert_memory_equal(out, "ab", 2);
        free(out);

        /* No end marker: stops at the end of the input. */
        static const uint8_t nomark[] = { 0x00, 'a', 'b', 'c' };
        n = make_lzfu(buf, nomark, sizeof(nomark), 100);
        assert_int_equal(decode(buf, n, &out, &len, &d), 0);
        assert_int_equal(len, 3);
        free(out);

        /* cbRawSize reached first: the output is cut there. */
        n = make_lzfu(buf, nomark, sizeof(nomark), 2);
        assert_int_equal(decode(buf, n, &out, &len, &d), 0);
        assert_int_equal(len, 2);
        free(out);

        /* A reference cut by the end of the stream. */
        static const uint8_t cut[] = { 0x02, 'a', 0x0D };
        n = make_lzfu(buf, cut, sizeof(cut), 100);
        assert_int_equal(decode(buf, n, &out, &len, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "inside a reference"));
}

static void test_references(void **state)
{
        /* Offset 0 length 17 copies the start of the preload; offset 0xF00
         * (never written) yields zeros; offset 4095 wraps to 0. */
        static const uint8_t body[] = { 0x07, 0x00, 0x0F, 0xF0, 0x03, 0xFF, 0xF1 };
        uint8_t buf[64];
        struct pst_diag d;
        uint8_t *out;
        size_t n, len;

        (void)state;
        n = make_lzfu(buf, body, sizeof(body), 200);
        assert_int_equal(decode(buf, n, &out, &len, &d), 0);
        assert_int_equal(len, 17 + 5 + 3);
        assert_memory_equal(out, "{\\rtf1\\ansi\\mac\\d", 17);
        for (size_t i = 17; i < 22; i++)
                assert_int_equal(out[i], 0);
        assert_int_equal(out[22], 0);
        assert_memory_equal(out + 23, "{\\", 2);
        free(out);
}

static void test_zero_raw(void **state)
{
        static const uint8_t body[] = { 0x00, 'a' };
        uint8_t buf[64];
        struct pst_diag d;
        uint8_t *out;
        size_t n, len;

        (void)state;
        n = make_lzfu(buf, body, sizeof(body), 0);
        assert_int_equal(decode(buf, n, &out, &len, &d), 0);
        assert_int_equal(len, 0);
        assert_non_null(out);
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spec_examples), cmocka_unit_test(test_padding_after_stream),
                cmocka_unit_test(test_mela),          cmocka_unit_test(test_bad_headers),
                cmocka_unit_test(test_truncated),     cmocka_unit_test(test_crc_mismatch),
                cmocka_unit_test(test_rawsize_bomb),  cmocka_unit_test(test_end_marker),
                cmocka_unit_test(test_references),    cmocka_unit_test(test_zero_raw),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
