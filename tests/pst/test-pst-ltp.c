/* SPDX-License-Identifier: MIT
 *
 * test-pst-ltp.c - the LTP layer on its own: string conversions, and the
 * heap / BTH / PC of a synthetic message store read through the NDB layer
 * (one heap block, and two behind an XBLOCK).
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

static void test_utf16(void **state)
{
        char out[16];

        (void)state;
        /* "aé€" + U+1F600 (surrogate pair). */
        static const uint8_t s[] = { 'a', 0, 0xE9, 0, 0xAC, 0x20, 0x3D, 0xD8, 0x00, 0xDE };
        assert_int_equal(pst_utf16le_to_utf8(s, sizeof(s), out, sizeof(out)), 10);
        assert_string_equal(out, "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");

        /* Unpaired surrogates and an odd last byte become U+FFFD. */
        static const uint8_t bad[] = { 0x00, 0xD8, 'b', 0, 0x00, 0xDC, 'c' };
        assert_int_equal(pst_utf16le_to_utf8(bad, sizeof(bad), out, sizeof(out)), 10);
        assert_string_equal(out, "\xEF\xBF\xBD" "b" "\xEF\xBF\xBD" "\xEF\xBF\xBD");

        /* Stops at U+0000; truncates on a character boundary. */
        static const uint8_t nul[] = { 'x', 0, 0, 0, 'y', 0 };
        assert_int_equal(pst_utf16le_to_utf8(nul, sizeof(nul), out, sizeof(out)), 1);
        assert_string_equal(out, "x");
        assert_int_equal(pst_utf16le_to_utf8(s, sizeof(s), out, 5), 3);
        assert_string_equal(out, "a\xC3\xA9");
        assert_int_equal(pst_utf16le_to_utf8(s, sizeof(s), out, 1), 0);
        assert_string_equal(out, "");
        assert_int_equal(pst_utf16le_to_utf8(NULL, 0, out, sizeof(out)), 0);
        assert_int_equal(pst_utf16le_to_utf8(s, sizeof(s), out, 0), 0);

        assert_int_equal(pst_string8_copy((const uint8_t *)"abc\0def", 7, out, sizeof(out)), 3);
        assert_string_equal(out, "abc");
        assert_int_equal(pst_string8_copy((const uint8_t *)"abcdef", 6, out, 4), 3);
        assert_string_equal(out, "abc");
}

struct collect {
        unsigned n;
        uint16_t ids[4];
};

static int collect_fn(void *ctx, const uint8_t *key, const uint8_t *data)
{
        struct collect *c = ctx;

        (void)data;
        if (c->n == ELEMENTSOF(c->ids))
                return -E2BIG;
        c->ids[c->n++] = get_le16(key);
        return 0;
}

static int stop_fn(void *ctx, const uint8_t *key, const uint8_t *data)
{
        (void)ctx, (void)key, (void)data;
        return 42;
}

/* Open the store PC of a generated file, feeding the whole file. */
static void open_pc(const struct pst_gen_opts *o, struct pst_gen *g, struct pst_file **f,
                    struct pst_data *d, struct pst_pc *pc)
{
        struct pst_nbt_entry e;
        struct pst_diag diag = {};
        struct pst_want w;

        assert_int_equal(pst_gen_build(o, g), 0);
        assert_int_equal(pst_file_new(g->buf, g->size, g->size, NULL, f, &diag), 0);
        assert_int_equal(pst_file_feed(*f, 0, g->buf, g->size), 0);
        assert_int_equal(pst_node_data(*f, 0x21, 1 * MIB, &e, d, &w, &diag), 0);
        assert_int_equal(e.bid_data, g->data_bid);
        assert_int_equal(pst_pc_init(pc, d, 0x21, &diag), 0);
}

static void test_pc(void **state)
{
        const struct pst_gen_opts opts[] = {
                { .format = PST_FORMAT_UNICODE, .crypt = PST_CRYPT_CYCLIC, .password = 7, .name = "one block" },
                { .format = PST_FORMAT_ANSI, .crypt = PST_CRYPT_PERMUTE, .password = 7, .name = "two", .xblock = true },
                { .format = PST_FORMAT_UNICODE4K, .password = 7, .name = "four k", .xblock = true, .compress = true },
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                struct collect c = {};
                struct pst_diag diag = {};
                struct pst_data d;
                struct pst_file *f;
                struct pst_rawprop p;
                struct pst_gen g;
                struct pst_pc pc;
                uint8_t key[2];
                const uint8_t *v;
                uint32_t len;
                char name[32];

                open_pc(&opts[i], &g, &f, &d, &pc);
                assert_int_equal(d.n, opts[i].xblock ? 2 : 1);
                assert_int_equal(pc.hn.client_sig, 0xBC);

                assert_int_equal(pst_bth_foreach(&pc.bth, collect_fn, &c, &diag), 0);
                assert_int_equal(c.n, 2);
                assert_int_equal(c.ids[0], 0x3001);
                assert_int_equal(c.ids[1], 0x67FF);
                assert_int_equal(pst_bth_foreach(&pc.bth, stop_fn, NULL, &diag), 42);

                assert_int_equal(pst_pc_get(&pc, 0x67FF, &p, &diag), 0);
                assert_int_equal(p.type, 0x0003);
                assert_int_equal(p.len, 4);
                assert_int_equal(get_le32(p.p), 7);

                assert_int_equal(pst_pc_get(&pc, 0x3001, &p, &diag), 0);
                if (opts[i].format == PST_FORMAT_ANSI) {
                        assert_int_equal(p.type, 0x001E);
                        pst_string8_copy(p.p, p.len, name, sizeof(name));
                } else {
                        assert_int_equal(p.type, 0x001F);
                        pst_utf16le_to_utf8(p.p, p.len, name, sizeof(name));
                }
                assert_string_equal(name, opts[i].name);
                /* The name sits in heap block 1 when split. */
                assert_int_equal(p.hnid >> 16, opts[i].xblock ? 1 : 0);

                assert_int_equal(pst_pc_get(&pc, 0x3002, &p, &diag), -ENOENT);
                assert_int_equal(pst_pc_get(&pc, 0x0001, &p, &diag), -ENOENT);
                put_le16(key, 0x7000);
                assert_int_equal(pst_bth_lookup(&pc.bth, key, &v, &diag), -ENOENT);

                /* HIDs that name nothing. */
                assert_int_equal(pst_hn_get(&pc.hn, 0, &v, &len, &diag), 0);
                assert_int_equal(len, 0);
                assert_int_equal(pst_hn_get(&pc.hn, 0x21, &v, &len, &diag), -EBADMSG);
                assert_int_equal(pst_hn_get(&pc.hn, 5u << 16 | 1u << 5, &v, &len, &diag), -EBADMSG);
                assert_int_equal(pst_hn_get(&pc.hn, 0x7E0, &v, &len, &diag), -EBADMSG);

                pst_data_done(&d);
                pst_file_free(f);
                pst_gen_free(&g);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_utf16),
                cmocka_unit_test(test_pc),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
