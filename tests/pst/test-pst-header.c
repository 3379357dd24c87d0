/* SPDX-License-Identifier: MIT
 *
 * test-pst-header.c - pst_header_parse() and pst_file_new() on synthetic
 * headers of the three variants: fields, CRCs, truncation, bad magic,
 * version, client and encryption method.  (Real headers: test-pst-corpus.)
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
#include "tests/pst/pst-gen.h"

static const enum pst_format formats[] = { PST_FORMAT_ANSI, PST_FORMAT_UNICODE,
                                           PST_FORMAT_UNICODE4K };

static void gen(struct pst_gen *g, enum pst_format fmt, enum pst_crypt c)
{
        struct pst_gen_opts o = { .format = fmt, .crypt = c, .name = "hdr" };

        assert_int_equal(pst_gen_build(&o, g), 0);
}

static void test_fields(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                struct pst_header h;
                struct pst_diag d = {};
                struct pst_gen g;

                gen(&g, formats[i], PST_CRYPT_CYCLIC);
                assert_true(pst_magic_ok(g.buf, g.size));
                assert_int_equal(pst_header_parse(g.buf, PST_HEADER_SIZE, &h, &d), 0);
                assert_int_equal(h.format, formats[i]);
                assert_int_equal(h.kind, formats[i] == PST_FORMAT_UNICODE4K ? PST_KIND_OST : PST_KIND_PST);
                assert_int_equal(h.wver, formats[i] == PST_FORMAT_ANSI ? 14 : formats[i] == PST_FORMAT_UNICODE ? 23 : 36);
                assert_int_equal(h.crypt, PST_CRYPT_CYCLIC);
                assert_true(h.crc_partial_ok);
                assert_true(h.crc_full_ok);
                assert_int_equal(h.nbt_bid, g.nbt_bid);
                assert_int_equal(h.nbt_ib, g.nbt_ib);
                assert_int_equal(h.bbt_bid, g.bbt_bid);
                assert_int_equal(h.bbt_ib, g.bbt_ib);
                assert_int_equal(h.file_eof, g.size);
                assert_int_equal(h.amap_valid, 2);
                pst_gen_free(&g);
        }
}

static void expect_bad(const uint8_t *b, size_t len, int err, const char *what)
{
        struct pst_header h;
        struct pst_diag d = {};

        assert_int_equal(pst_header_parse(b, len, &h, &d), err);
        if (!strstr(d.msg, what))
                fail_msg("diag \"%s\" lacks \"%s\"", d.msg, what);
}

static void test_truncated(void **state)
{
        static const size_t lens[] = { 0, 1, 511, 512, 563 };
        struct pst_header h;
        struct pst_gen g;

        (void)state;
        gen(&g, PST_FORMAT_UNICODE, PST_CRYPT_PERMUTE);
        for (size_t i = 0; i < ELEMENTSOF(lens); i++)
                expect_bad(g.buf, lens[i], -EBADMSG, "truncated");
        pst_gen_free(&g);

        /* 512 bytes are a whole ANSI header, 511 are not. */
        gen(&g, PST_FORMAT_ANSI, PST_CRYPT_PERMUTE);
        assert_int_equal(pst_header_parse(g.buf, 512, &h, NULL), 0);
        expect_bad(g.buf, 511, -EBADMSG, "truncated");
        assert_false(pst_magic_ok(g.buf, 3));
        pst_gen_free(&g);
}

static void test_magic_version_client(void **state)
{
        struct pst_gen g;

        (void)state;
        gen(&g, PST_FORMAT_UNICODE, PST_CRYPT_PERMUTE);
        g.buf[0] = '?';
        assert_false(pst_magic_ok(g.buf, g.size));
        expect_bad(g.buf, g.size, -EBADMSG, "magic");
        g.buf[0] = '!';

        for (uint16_t v = 0; v < 64; v++) {
                if (v == 14 || v == 15 || v == 21 || v == 23 || v == 36)
                        continue;
                put_le16(g.buf + 10, v);
                pst_gen_fix(&g);
                expect_bad(g.buf, g.size, -EBADMSG, "wVer");
        }
        put_le16(g.buf + 10, 23);
        memcpy(g.buf + 8, "XX", 2);
        pst_gen_fix(&g);
        expect_bad(g.buf, g.size, -EBADMSG, "wMagicClient");
        memcpy(g.buf + 8, "AB", 2);
        pst_gen_fix(&g);
        {
                struct pst_header h;

                assert_int_equal(pst_header_parse(g.buf, g.size, &h, NULL), 0);
                assert_int_equal(h.kind, PST_KIND_PAB);
        }
        pst_gen_free(&g);
}

static void test_crcs(void **state)
{
        struct pst_header h;
        struct pst_diag d = {};
        struct pst_file *f = NULL;
        struct pst_gen g;

        (void)state;
        /* Unicode: a byte inside both ranges, then one only the full CRC covers. */
        gen(&g, PST_FORMAT_UNICODE, PST_CRYPT_PERMUTE);
        g.buf[100] ^= 1;
        assert_int_equal(pst_header_parse(g.buf, g.size, &h, &d), 0);
        assert_false(h.crc_partial_ok);
        assert_false(h.crc_full_ok);
        assert_int_equal(pst_file_new(g.buf, g.size, g.size, NULL, &f, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "partial CRC"));
        pst_gen_fix(&g);
        g.buf[520] ^= 1; /* bidNextB: full CRC only */
        assert_int_equal(pst_header_parse(g.buf, g.size, &h, &d), 0);
        assert_true(h.crc_partial_ok);
        assert_false(h.crc_full_ok);
        assert_int_equal(pst_file_new(g.buf, g.size, g.size, NULL, &f, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "full CRC"));
        pst_gen_free(&g);

        /* ANSI has no full CRC: bytes past 478 are not covered at all. */
        gen(&g, PST_FORMAT_ANSI, PST_CRYPT_PERMUTE);
        g.buf[490] ^= 1;
        assert_int_equal(pst_header_parse(g.buf, g.size, &h, &d), 0);
        assert_true(h.crc_partial_ok);
        assert_true(h.crc_full_ok);
        g.buf[300] ^= 1;
        assert_int_equal(pst_header_parse(g.buf, g.size, &h, &d), 0);
        assert_false(h.crc_partial_ok);
        pst_gen_free(&g);
}

static void test_crypt_method(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                size_t at = formats[i] == PST_FORMAT_ANSI ? 461 : 513;
                struct pst_header h;
                struct pst_gen g;

                gen(&g, formats[i], PST_CRYPT_NONE);
                for (unsigned c = 0; c < 3; c++) {
                        g.buf[at] = (uint8_t)c;
                        pst_gen_fix(&g);
                        assert_int_equal(pst_header_parse(g.buf, g.size, &h, NULL), 0);
                        assert_int_equal(h.crypt, c);
                }
                g.buf[at] = 0x10; /* NDB_CRYPT_EDPCRYPTED */
                pst_gen_fix(&g);
                expect_bad(g.buf, g.size, -ENOTSUP, "bCryptMethod 0x10");
                g.buf[at] = 0xFF;
                pst_gen_fix(&g);
                expect_bad(g.buf, g.size, -ENOTSUP, "bCryptMethod");
                pst_gen_free(&g);
        }
}

static void test_names(void **state)
{
        (void)state;
        assert_string_equal(pst_format_name(PST_FORMAT_ANSI), "ansi");
        assert_string_equal(pst_format_name(PST_FORMAT_UNICODE), "unicode");
        assert_string_equal(pst_format_name(PST_FORMAT_UNICODE4K), "unicode4k");
        assert_string_equal(pst_kind_name(PST_KIND_PST), "pst");
        assert_string_equal(pst_kind_name(PST_KIND_OST), "ost");
        assert_string_equal(pst_kind_name(PST_KIND_PAB), "pab");
        assert_string_equal(pst_crypt_name(PST_CRYPT_NONE), "none");
        assert_string_equal(pst_crypt_name(PST_CRYPT_PERMUTE), "permute");
        assert_string_equal(pst_crypt_name(PST_CRYPT_CYCLIC), "cyclic");
        assert_string_equal(pst_crypt_name((enum pst_crypt)7), "unknown");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fields),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_magic_version_client),
                cmocka_unit_test(test_crcs),
                cmocka_unit_test(test_crypt_method),
                cmocka_unit_test(test_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
