/* SPDX-License-Identifier: MIT
 *
 * test-pst-store.c - pst_store_info() and the pull model on synthetic
 * files: every variant x encoding x data-tree shape, then one corrupted
 * structure at a time (CRCs fixed up afterwards so the check past the CRC
 * is the one that fires), then the feeding contract (-EIO when the asked
 * bytes never come, -EFBIG when the cache limit cannot hold an operation).
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

#include "pst/pst-internal.h"
#include "tests/pst/pst-fixtures.h"
#include "tests/pst/pst-gen.h"

static void test_matrix(void **state)
{
        static const enum pst_format formats[] = { PST_FORMAT_ANSI, PST_FORMAT_UNICODE,
                                                   PST_FORMAT_UNICODE4K };

        (void)state;
        for (size_t fi = 0; fi < ELEMENTSOF(formats); fi++)
                for (unsigned c = 0; c < 3; c++)
                        for (unsigned v = 0; v < 16; v++) {
                                struct pst_gen_opts o = {
                                        .format = formats[fi],
                                        .crypt = c,
                                        .password = v & 1 ? 0xF93BA110u : 0,
                                        .name = v & 2 ? "Personal Folders" : NULL,
                                        .xblock = v & 4,
                                        .bid_bit0 = v & 8,
                                        .compress = true,
                                };
                                struct pst_store_info info;
                                struct pst_diag d = {};
                                struct pst_gen g;
                                int r;

                                assert_int_equal(pst_gen_build(&o, &g), 0);
                                r = pst_gen_store_info(g.buf, g.size, NULL, &info, &d);
                                if (r != 0)
                                        fail_msg("format %zu crypt %u variant %u: %d %s", fi, c, v, r, d.msg);
                                assert_int_equal(info.has_password, !!(v & 1));
                                assert_int_equal(info.password_crc, o.password);
                                assert_string_equal(info.display_name, o.name ? o.name : "");
                                pst_gen_free(&g);
                        }
}

/* Build a Unicode file (or per opts), let mutate() corrupt it, expect err
 * with a diag containing what. */
static void expect_corrupt(const struct pst_gen_opts *o, void (*mutate)(struct pst_gen *g),
                           bool fix, int err, const char *what)
{
        struct pst_store_info info;
        struct pst_diag d = {};
        struct pst_gen g;
        int r;

        assert_int_equal(pst_gen_build(o, &g), 0);
        mutate(&g);
        if (fix)
                pst_gen_fix(&g);
        r = pst_gen_store_info(g.buf, g.size, NULL, &info, &d);
        if (r != err || !strstr(d.msg, what))
                fail_msg("expected %d \"%s\", got %d \"%s\"", err, what, r, d.msg);
        pst_gen_free(&g);
}

static const struct pst_gen_opts uni = { .format = PST_FORMAT_UNICODE,
                                         .crypt = PST_CRYPT_PERMUTE,
                                         .password = 1,
                                         .name = "x" };
static const struct pst_gen_opts uni_x = { .format = PST_FORMAT_UNICODE,
                                           .crypt = PST_CRYPT_NONE,
                                           .name = "split",
                                           .xblock = true };

static void m_nbt_byte(struct pst_gen *g)
{
        g->buf[g->nbt_ib + 40] ^= 0x5A;
}

static void m_cent(struct pst_gen *g)
{
        uint8_t *c = g->buf + pst_gen_counts(g, g->nbt_ib);

        c[0] = (uint8_t)(c[1] + 1);
}

static void m_cbent(struct pst_gen *g)
{
        g->buf[pst_gen_counts(g, g->nbt_ib) + 2] = 20;
}

/* The NBT root becomes an intermediate page whose only entry is itself. */
static void m_self(struct pst_gen *g)
{
        uint8_t *p = g->buf + g->nbt_ib, *c = p + g->bt_area;

        memset(p, 0, g->bt_area);
        put_le64(p, 0);
        put_le64(p + 8, g->nbt_bid);
        put_le64(p + 16, g->nbt_ib);
        c[0] = 1;
        c[1] = 20;
        c[2] = 24;
        c[3] = 1;
}

static void m_level(struct pst_gen *g)
{
        g->buf[pst_gen_counts(g, g->nbt_ib) + 3] = 200;
}

static void m_ptype(struct pst_gen *g)
{
        uint8_t *tr = g->buf + g->bbt_ib + g->page_size - g->page_trailer;

        tr[0] = tr[1] = 0x81;
}

static void m_ptype_repeat(struct pst_gen *g)
{
        g->buf[g->bbt_ib + g->page_size - g->page_trailer + 1] = 0x84;
}

static void m_page_wsig(struct pst_gen *g)
{
        g->buf[g->nbt_ib + g->page_size - g->page_trailer + 2] ^= 1;
}

static void m_page_bid(struct pst_gen *g)
{
        g->buf[g->nbt_ib + g->page_size - g->page_trailer + 8] ^= 4;
}

static void m_keys(struct pst_gen *g)
{
        /* Two BBT entries with equal keys. */
        uint8_t *e = g->buf + g->bbt_ib;

        memcpy(e + 24, e, 24);
        g->buf[pst_gen_counts(g, g->bbt_ib)] = 2;
}

static uint8_t *blk_trailer(struct pst_gen *g, unsigned i)
{
        return g->buf + g->blk[i].ib + g->blk[i].span - g->block_trailer;
}

static void m_block_crc(struct pst_gen *g)
{
        g->buf[g->blk[0].ib + 5] ^= 1;
}

static void m_block_cb(struct pst_gen *g)
{
        put_le16(blk_trailer(g, 0), (uint16_t)(g->blk[0].cb - 2));
}

static void m_block_bid(struct pst_gen *g)
{
        put_le64(blk_trailer(g, 0) + 8, 0x44);
}

static void m_block_wsig(struct pst_gen *g)
{
        blk_trailer(g, 0)[2] ^= 0x10;
}

static void m_block_eof(struct pst_gen *g)
{
        put_le64(g->buf + g->bbt_ib + 8, g->size - 64);
}

static void m_block_cb_huge(struct pst_gen *g)
{
        put_le16(g->buf + g->bbt_ib + 16, 9000);
}

static void m_block_align(struct pst_gen *g)
{
        put_le64(g->buf + g->bbt_ib + 8, g->blk[0].ib + 8);
}

static void m_not_in_bbt(struct pst_gen *g)
{
        put_le64(g->buf + g->nbt_ib + 8, 0x30);
}

static void m_no_store(struct pst_gen *g)
{
        put_le64(g->buf + g->nbt_ib, 0x22);
}

static void m_hn_sig(struct pst_gen *g)
{
        g->buf[g->blk[0].ib + 2] = 0xEB;
}

static void m_hn_client(struct pst_gen *g)
{
        g->buf[g->blk[0].ib + 3] = 0x7C;
}

static void m_hnpm(struct pst_gen *g)
{
        put_le16(g->buf + g->blk[0].ib, 0xFFF0);
}

static void m_calloc(struct pst_gen *g)
{
        uint8_t *b = g->buf + g->blk[0].ib;

        put_le16(b + get_le16(b), 0x7FFF);
}

static void m_bth_type(struct pst_gen *g)
{
        g->buf[g->blk[0].ib + 12] = 0xB6;
}

static void m_pw_type(struct pst_gen *g)
{
        put_le16(g->buf + g->blk[0].ib + 30, 0x0002);
}

static void m_name_hid(struct pst_gen *g)
{
        put_le32(g->buf + g->blk[0].ib + 24, 7u << 5);
}

static void m_name_subnode(struct pst_gen *g)
{
        put_le32(g->buf + g->blk[0].ib + 24, 0x8025);
}

static void m_lcb_total(struct pst_gen *g)
{
        put_le32(g->buf + g->blk[2].ib + 4, 5);
}

static void m_xblock_type(struct pst_gen *g)
{
        g->buf[g->blk[2].ib + 1] = 3;
}

static void m_xblock_cent(struct pst_gen *g)
{
        put_le16(g->buf + g->blk[2].ib + 2, 900);
}

static void m_xblock_child(struct pst_gen *g)
{
        put_le64(g->buf + g->blk[2].ib + 8, 0x2E); /* itself: internal */
}

static void m_zlib(struct pst_gen *g)
{
        g->buf[g->blk[0].ib + 6] ^= 0xFF;
}

static void m_inflated(struct pst_gen *g)
{
        uint8_t *tr = blk_trailer(g, 0);

        put_le16(tr + 18, (uint16_t)(get_le16(tr + 18) + 1));
}

static void test_corrupt(void **state)
{
        const struct pst_gen_opts none = { .format = PST_FORMAT_UNICODE, .name = "x" };
        const struct pst_gen_opts k4 = { .format = PST_FORMAT_UNICODE4K, .name = "compressed name",
                                         .compress = true };

        (void)state;
        expect_corrupt(&uni, m_nbt_byte, false, -EBADMSG, "NBT page 0x104 at 0x400: CRC mismatch");
        expect_corrupt(&uni, m_cent, true, -EBADMSG, "NBT page 0x104 at 0x400: cEnt 16 > cEntMax 15");
        expect_corrupt(&uni, m_cbent, true, -EBADMSG, "cbEnt 20 too small");
        expect_corrupt(&uni, m_self, true, -EBADMSG, "NBT page 0x104 at 0x400: referenced from below itself (cycle)");
        expect_corrupt(&uni, m_level, true, -EBADMSG, "cLevel 200 exceeds the depth limit");
        expect_corrupt(&uni, m_ptype, true, -EBADMSG, "BBT page 0x108 at 0x600: ptype 0x81, expected 0x80");
        expect_corrupt(&uni, m_ptype_repeat, true, -EBADMSG, "ptypeRepeat 0x84");
        expect_corrupt(&uni, m_page_wsig, true, -EBADMSG, "wSig");
        expect_corrupt(&uni, m_page_bid, true, -EBADMSG, "trailer bid 0x100 differs");
        expect_corrupt(&uni, m_keys, true, -EBADMSG, "keys not ascending");
        expect_corrupt(&uni, m_block_crc, false, -EBADMSG, "block 0x24 at 0x800: CRC mismatch");
        expect_corrupt(&uni, m_block_cb, true, -EBADMSG, "block 0x24 at 0x800: trailer cb");
        expect_corrupt(&uni, m_block_bid, true, -EBADMSG, "block 0x24 at 0x800: trailer bid 0x44");
        expect_corrupt(&uni, m_block_wsig, true, -EBADMSG, "block 0x24 at 0x800: wSig");
        expect_corrupt(&uni, m_block_eof, true, -EBADMSG, "beyond the end of the file");
        expect_corrupt(&uni, m_block_cb_huge, true, -EBADMSG, "cb 9000 exceeds the largest block");
        expect_corrupt(&uni, m_block_align, true, -EBADMSG, "not 64-byte aligned");
        expect_corrupt(&uni, m_not_in_bbt, true, -EBADMSG, "block 0x30: not in the BBT");
        expect_corrupt(&uni, m_no_store, true, -EBADMSG, "message store (NID 0x21) missing");
        expect_corrupt(&none, m_hn_sig, true, -EBADMSG, "bSig 0xeb");
        expect_corrupt(&none, m_hn_client, true, -EBADMSG, "bClientSig 0x7c, not a property context");
        expect_corrupt(&none, m_hnpm, true, -EBADMSG, "ibHnpm 0xfff0 outside the block");
        expect_corrupt(&none, m_calloc, true, -EBADMSG, "cAlloc 32767 overruns");
        expect_corrupt(&none, m_bth_type, true, -EBADMSG, "not a BTHHEADER");
        expect_corrupt(&none, m_pw_type, true, -EBADMSG, "PidTagPstPassword has type 0x0002");
        expect_corrupt(&none, m_name_hid, true, -EBADMSG, "HID 0xe0 names allocation 7 of 3");
        expect_corrupt(&none, m_name_subnode, true, -EBADMSG, "names subnode 0x8025, which its subnode tree lacks");
        expect_corrupt(&uni_x, m_lcb_total, true, -EBADMSG, "lcbTotal 5 differs");
        expect_corrupt(&uni_x, m_xblock_type, true, -EBADMSG, "btype/cLevel 01/03, expected 01/01");
        expect_corrupt(&uni_x, m_xblock_cent, true, -EBADMSG, "cEnt 900 does not fit");
        expect_corrupt(&uni_x, m_xblock_child, true, -EBADMSG, "is internal");
        expect_corrupt(&k4, m_zlib, true, -EBADMSG, "does not inflate");
        expect_corrupt(&k4, m_inflated, true, -EBADMSG, "does not inflate to cbInflated");
}

static void test_truncated_file(void **state)
{
        struct pst_store_info info;
        struct pst_diag d = {};
        struct pst_gen g;

        (void)state;
        assert_int_equal(pst_gen_build(&uni, &g), 0);
        /* The file ends inside the block: found before anything is asked. */
        assert_int_equal(pst_gen_store_info(g.buf, g.blk[0].ib + 32, NULL, &info, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "block 0x24 at 0x800+128: beyond the end of the file"));
        /* ... or inside the BBT page. */
        assert_int_equal(pst_gen_store_info(g.buf, g.bbt_ib + 100, NULL, &info, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "BBT page 0x108 at 0x600: beyond the end"));
        /* Header only. */
        assert_int_equal(pst_gen_store_info(g.buf, PST_HEADER_SIZE, NULL, &info, &d), -EBADMSG);
        assert_non_null(strstr(d.msg, "NBT page"));
        pst_gen_free(&g);
}

static void test_pull_contract(void **state)
{
        struct pst_store_info info;
        struct pst_diag d = {};
        struct pst_file *f;
        struct pst_want w, w2;
        struct pst_gen g;
        unsigned rounds = 0;
        uint64_t fed = 0;

        (void)state;
        assert_int_equal(pst_gen_build(&uni, &g), 0);
        assert_int_equal(pst_file_new(g.buf, g.size, g.size, NULL, &f, &d), 0);
        assert_int_equal(pst_file_header(f)->format, PST_FORMAT_UNICODE);

        /* The first want is the whole NBT root page. */
        assert_int_equal(pst_store_info(f, &info, &w, &d), -EAGAIN);
        assert_int_equal(w.offset, g.nbt_ib);
        assert_int_equal(w.len, 512);
        /* Not fed: asking again would loop forever, so it is an error. */
        assert_int_equal(pst_store_info(f, &info, &w2, &d), -EIO);
        assert_non_null(strstr(d.msg, "not fed"));
        /* A short feed (file shrank) is the same. */
        assert_int_equal(pst_store_info(f, &info, &w, &d), -EAGAIN);
        assert_int_equal(pst_file_feed(f, w.offset, g.buf + w.offset, w.len - 1), 0);
        assert_int_equal(pst_store_info(f, &info, &w, &d), -EIO);

        assert_int_equal(pst_file_feed(f, g.size + 1, g.buf, 1), -EINVAL);
        assert_int_equal(pst_gen_pull_store(f, g.buf, g.size, &info, &d, &rounds, &fed), 0);
        /* NBT page, BBT page, the block; the short feed above left nothing. */
        assert_int_equal(rounds, 3);
        assert_int_equal(fed, 512 + 512 + 128);
        assert_string_equal(info.display_name, "x");

        /* Everything is cached now. */
        rounds = 0;
        assert_int_equal(pst_gen_pull_store(f, g.buf, g.size, &info, &d, &rounds, NULL), 0);
        assert_int_equal(rounds, 0);
        pst_file_free(f);

        /* Feeding the whole file up front needs no round at all, and a feed
         * past the end is kept up to the end. */
        assert_int_equal(pst_file_new(g.buf, g.size, g.size, NULL, &f, &d), 0);
        {
                uint8_t *big = calloc(1, g.size + 100);

                memcpy(big, g.buf, g.size);
                assert_int_equal(pst_file_feed(f, 0, big, g.size + 100), 0);
                free(big);
        }
        assert_int_equal(pst_store_info(f, &info, &w, &d), 0);
        assert_null(pst_file_free(f));
        pst_gen_free(&g);
}

/* Data blocks next to each other on disk are asked for in one want. */
static void test_coalesced_want(void **state)
{
        struct pst_store_info info;
        struct pst_diag d = {};
        struct pst_file *f;
        struct pst_want w;
        struct pst_gen g;
        unsigned rounds = 0;

        (void)state;
        assert_int_equal(pst_gen_build(&uni_x, &g), 0);
        assert_int_equal(g.blk[1].ib, g.blk[0].ib + g.blk[0].span);
        assert_int_equal(pst_file_new(g.buf, g.size, g.size, NULL, &f, &d), 0);
        while (pst_store_info(f, &info, &w, &d) == -EAGAIN) {
                /* NBT page, BBT page, the XBLOCK, then both data blocks. */
                static const unsigned at[] = { 0, 0, 2, 0 };

                assert_true(rounds < ELEMENTSOF(at));
                if (rounds == 2 || rounds == 3)
                        assert_int_equal(w.offset, g.blk[at[rounds]].ib);
                if (rounds == 3)
                        assert_int_equal(w.len, g.blk[0].span + g.blk[1].span);
                assert_int_equal(pst_file_feed(f, w.offset, g.buf + w.offset, w.len), 0);
                rounds++;
        }
        assert_int_equal(rounds, 4);
        assert_string_equal(info.display_name, "split");
        pst_file_free(f);
        pst_gen_free(&g);
}

static void test_cache_limit(void **state)
{
        struct pst_limits lim = { .max_cache_bytes = 700 };
        struct pst_store_info info;
        struct pst_diag d = {};
        struct pst_file *f;
        struct pst_gen g;

        (void)state;
        assert_int_equal(pst_gen_build(&uni, &g), 0);
        /* One 512-byte page fits, the operation's second page cannot. */
        assert_int_equal(pst_gen_store_info(g.buf, g.size, &lim, &info, &d), -EFBIG);
        assert_non_null(strstr(d.msg, "cache limit"));

        /* Just enough for one operation: it completes, and again after the
         * cache has been cycled by a later operation. */
        lim.max_cache_bytes = 512 + 512 + 128;
        assert_int_equal(pst_file_new(g.buf, g.size, g.size, &lim, &f, &d), 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(pst_gen_pull_store(f, g.buf, g.size, &info, &d, NULL, NULL), 0);
                assert_string_equal(info.display_name, "x");
        }
        pst_file_free(f);
        pst_gen_free(&g);
}

/* The committed fixtures are what the generator writes (pst-gen-files
 * regenerates them) and decode to what they were written with. */
static void test_fixtures(void **state)
{
        const char *src = getenv("PSTREAM_SOURCE_ROOT");

        (void)state;
        assert_non_null(src);
        for (size_t i = 0; i < ELEMENTSOF(pst_fixtures); i++) {
                const struct pst_fixture *fx = &pst_fixtures[i];
                struct pst_store_info info;
                struct pst_diag d = {};
                struct pst_gen g;
                char path[4096];
                uint8_t *buf;
                size_t n;
                FILE *f;

                assert_int_equal(pst_gen_build(&fx->opts, &g), 0);
                snprintf(path, sizeof(path), "%s/tests/data/pst/%s", src, fx->file);
                f = fopen(path, "re");
                if (!f)
                        fail_msg("%s missing: run pst-gen-files", path);
                buf = malloc(g.size + 1);
                assert_non_null(buf);
                n = fread(buf, 1, g.size + 1, f);
                fclose(f);
                assert_int_equal(n, g.size);
                assert_memory_equal(buf, g.buf, g.size);

                assert_int_equal(pst_gen_store_info(buf, n, NULL, &info, &d), 0);
                assert_int_equal(info.password_crc, fx->opts.password);
                assert_string_equal(info.display_name, fx->opts.name);
                free(buf);
                pst_gen_free(&g);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_matrix),
                cmocka_unit_test(test_corrupt),
                cmocka_unit_test(test_truncated_file),
                cmocka_unit_test(test_pull_contract),
                cmocka_unit_test(test_coalesced_want),
                cmocka_unit_test(test_cache_limit),
                cmocka_unit_test(test_fixtures),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
