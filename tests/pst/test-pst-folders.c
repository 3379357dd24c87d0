/* SPDX-License-Identifier: MIT
 *
 * test-pst-folders.c - table contexts over hand-made heaps (row matrix in
 * the heap and in a two-block subnode, CEB bits off, cCols larger than its
 * TCINFO, columns outside the row, a matrix shorter than its index); from
 * real files (skipped when the corpus is absent): subnode lookups and
 * forged SLBLOCK/SIBLOCKs, a hierarchy cycle made by rewriting one row of a
 * hierarchy table, and a walk with too small a cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "pst/pst-internal.h"

/* ---- a one-block heap ------------------------------------------------- */

struct heap {
        uint8_t buf[4096];
        uint32_t len;
        uint16_t ib[32]; /* start of allocation i (0-based) */
        uint32_t n;
        struct pst_data_block blk;
        struct pst_data d;
};

static void heap_init(struct heap *h, uint8_t client_sig)
{
        memset(h, 0, sizeof(*h));
        h->buf[2] = 0xEC;
        h->buf[3] = client_sig;
        h->len = 12;
}

/* Add an allocation; returns its HID. */
static uint32_t heap_add(struct heap *h, const void *p, uint32_t len)
{
        assert_true(h->n < 32 && h->len + len < 3000);
        h->ib[h->n++] = (uint16_t)h->len;
        memcpy(h->buf + h->len, p, len);
        h->len += len;
        return h->n << 5;
}

/* Write the page map and hidUserRoot; h->d is the heap. */
static void heap_finish(struct heap *h, uint32_t hid_root)
{
        uint32_t ib_hnpm = (h->len + 1) & ~1u;

        put_le16(h->buf, (uint16_t)ib_hnpm);
        put_le32(h->buf + 4, hid_root);
        put_le16(h->buf + ib_hnpm, (uint16_t)h->n);
        put_le16(h->buf + ib_hnpm + 2, 0);
        for (uint32_t i = 0; i < h->n; i++)
                put_le16(h->buf + ib_hnpm + 4 + 2 * i, h->ib[i]);
        put_le16(h->buf + ib_hnpm + 4 + 2 * h->n, (uint16_t)h->len);
        h->blk = (struct pst_data_block){ .p = h->buf, .len = ib_hnpm + 6 + 2 * h->n };
        h->d = (struct pst_data){ .buf = h->buf, .size = h->blk.len, .n = 1, .blk = &h->blk };
}

/* ---- a table: row ID, row version, one Integer32 column ---------------- */

#define ROW_SIZE 13u /* 3 x 4 bytes, then a one-byte CEB */
#define PID_SIZE 0x0E08u

struct table_opts {
        uint8_t c_cols;        /* cCols as written (3 unless forged) */
        uint16_t size_ib;      /* ibData of the third column (8) */
        uint32_t n_index;      /* rows listed by the row index */
        uint32_t n_rows;       /* rows in the heap matrix; 0 with rows_nid */
        uint32_t rows_nid;     /* hnidRows naming a subnode instead */
        uint8_t ceb_clear_row; /* row whose third column's CEB bit is cleared (+1; 0: none) */
};

static void make_row(uint8_t *row, uint32_t i, bool size_present)
{
        memset(row, 0, ROW_SIZE);
        put_le32(row, 0x200064u + 32 * i); /* row ID: a message NID */
        put_le32(row + 4, 1);
        put_le32(row + 8, 1000 + i);
        row[12] = size_present ? 0xE0 : 0xC0; /* MSB first: columns 0, 1 (and 2) */
}

static void make_table(struct heap *h, const struct table_opts *o)
{
        uint8_t info[22 + 3 * 8] = { 0x7C, o->c_cols };
        uint8_t bth[8] = { 0xB5, 4, 4, 0 };
        uint8_t idx[8 * 16], rows[ROW_SIZE * 8];
        uint32_t hid_idx_recs, hid_bth, hid_rows = 0;
        static const struct {
                uint32_t tag;
                uint8_t cb, ibit;
        } cols[3] = { { 0x67F20003u, 4, 0 }, { 0x67F30003u, 4, 1 }, { PID_SIZE << 16 | 3u, 4, 2 } };

        heap_init(h, 0x7C);
        for (uint32_t i = 0; i < o->n_index; i++) {
                put_le32(idx + 8 * i, 0x200064u + 32 * i);
                put_le32(idx + 8 * i + 4, i);
        }
        hid_idx_recs = heap_add(h, idx, 8 * o->n_index);
        put_le32(bth + 4, o->n_index ? hid_idx_recs : 0);
        hid_bth = heap_add(h, bth, sizeof(bth));
        for (uint32_t i = 0; i < o->n_rows; i++)
                make_row(rows + ROW_SIZE * i, i, o->ceb_clear_row != i + 1);
        if (o->n_rows)
                hid_rows = heap_add(h, rows, ROW_SIZE * o->n_rows);

        put_le16(info + 2, 12);
        put_le16(info + 4, 12);
        put_le16(info + 6, 12);
        put_le16(info + 8, ROW_SIZE);
        put_le32(info + 10, hid_bth);
        put_le32(info + 14, o->rows_nid ? o->rows_nid : hid_rows);
        for (uint32_t c = 0; c < 3; c++) {
                uint8_t *d = info + 22 + 8 * c;

                put_le32(d, cols[c].tag);
                put_le16(d + 4, (uint16_t)(c == 2 ? o->size_ib : 4 * c));
                d[6] = cols[c].cb;
                d[7] = cols[c].ibit;
        }
        heap_finish(h, heap_add(h, info, sizeof(info)));
}

static uint32_t size_of_row(const struct pst_tc *tc, uint32_t i)
{
        struct pst_rawprop p;
        const uint8_t *row = pst_tc_row(tc, i);

        assert_non_null(row);
        assert_int_equal(pst_tc_cell(tc, row, PID_SIZE, &p, NULL), 0);
        assert_int_equal(p.len, 4);
        return get_le32(p.p);
}

static void test_rows_in_heap(void **state)
{
        const struct table_opts o = { .c_cols = 3, .size_ib = 8, .n_index = 3, .n_rows = 3,
                                      .ceb_clear_row = 2 };
        struct pst_diag diag = {};
        struct pst_rawprop p;
        struct heap h;
        struct pst_tc tc;

        (void)state;
        make_table(&h, &o);
        if (pst_tc_init(&tc, &h.d, 0x10E, &diag) < 0)
                fail_msg("%s", diag.msg);
        assert_false(pst_tc_rows_in_subnode(&tc));
        assert_int_equal(tc.n_rows, 3);
        assert_int_equal(get_le32(pst_tc_row(&tc, 2)), 0x200064u + 64);
        assert_int_equal(size_of_row(&tc, 0), 1000);
        assert_int_equal(size_of_row(&tc, 2), 1002);
        /* Row 1's CEB bit for the column is off: absent, though its bytes are not 0. */
        assert_int_equal(pst_tc_cell(&tc, pst_tc_row(&tc, 1), PID_SIZE, &p, NULL), -ENOENT);
        assert_int_equal(pst_tc_cell(&tc, pst_tc_row(&tc, 1), 0x3001, &p, NULL), -ENOENT);
}

static void test_rows_in_subnode(void **state)
{
        const struct table_opts o = { .c_cols = 3, .size_ib = 8, .n_index = 3,
                                      .rows_nid = 0x8041 };
        uint8_t b0[2 * ROW_SIZE + 5], b1[ROW_SIZE];
        struct pst_data_block blk[2] = { { .p = b0, .len = sizeof(b0) },
                                         { .p = b1, .len = sizeof(b1) } };
        const struct pst_data rows = { .buf = b0, .size = sizeof(b0) + sizeof(b1), .n = 2,
                                       .blk = blk };
        struct pst_diag diag = {};
        struct heap h;
        struct pst_tc tc;

        (void)state;
        make_table(&h, &o);
        assert_int_equal(pst_tc_init(&tc, &h.d, 0x10E, &diag), 0);
        assert_true(pst_tc_rows_in_subnode(&tc));
        assert_int_equal(tc.hnid_rows, 0x8041);
        /* Two rows and 5 bytes of slack in the first block, one row in the
         * second: rows never straddle blocks. */
        make_row(b0, 0, true);
        make_row(b0 + ROW_SIZE, 1, true);
        memset(b0 + 2 * ROW_SIZE, 0xAA, 5);
        make_row(b1, 2, true);
        assert_int_equal(pst_tc_set_rows(&tc, &rows, &diag), 0);
        assert_int_equal(tc.n_rows, 3);
        assert_int_equal(size_of_row(&tc, 1), 1001);
        assert_int_equal(size_of_row(&tc, 2), 1002);
        assert_int_equal(get_le32(pst_tc_row(&tc, 2)), 0x200064u + 64);
        assert_null(pst_tc_row(&tc, 3));

        /* A matrix with fewer rows than the index lists is damage. */
        blk[1].len = ROW_SIZE - 1;
        assert_int_equal(pst_tc_set_rows(&tc, &rows, &diag), -EBADMSG);
        assert_non_null(strstr(diag.msg, "row matrix shorter than the row index"));
        assert_int_equal(tc.n_rows, 2);
}

static void expect_bad_table(const struct table_opts *o, const char *what)
{
        struct pst_diag diag = {};
        struct heap h;
        struct pst_tc tc;

        make_table(&h, o);
        assert_int_equal(pst_tc_init(&tc, &h.d, 0x10E, &diag), -EBADMSG);
        if (!strstr(diag.msg, what))
                fail_msg("diag \"%s\" lacks \"%s\"", diag.msg, what);
}

static void test_bad_tables(void **state)
{
        const struct table_opts huge = { .c_cols = 255, .size_ib = 8, .n_index = 1, .n_rows = 1 };
        const struct table_opts outside = { .c_cols = 3, .size_ib = 10, .n_index = 1, .n_rows = 1 };
        const struct table_opts short_matrix = { .c_cols = 3, .size_ib = 8, .n_index = 3,
                                                 .n_rows = 2 };

        (void)state;
        expect_bad_table(&huge, "TCINFO too short for cCols");
        expect_bad_table(&outside, "TCOLDESC outside the row");
        expect_bad_table(&short_matrix, "row matrix shorter than the row index");
}

/* ---- subnode trees of a real file, and forged ones ----------------------- */

static uint8_t *load_corpus_file(const char *name, size_t *ret_size)
{
        const char *corpus = getenv("PSTREAM_CORPUS");
        char path[4096];
        struct stat st;
        uint8_t *file;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", corpus ? corpus : ".", name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        assert_int_equal(fstat(fd, &st), 0);
        file = malloc((size_t)st.st_size);
        assert_non_null(file);
        assert_int_equal(pread(fd, file, (size_t)st.st_size, 0), st.st_size);
        close(fd);
        *ret_size = (size_t)st.st_size;
        return file;
}

/* Look nid up in the subnode tree of NBT node owner of the file in memory. */
static int subnode_in(const uint8_t *file, size_t size, uint32_t owner, uint32_t nid,
                      struct pst_node *ret, struct pst_diag *diag)
{
        struct pst_nbt_entry ne;
        struct pst_file *f;
        struct pst_want want;
        int r;

        assert_int_equal(pst_file_new(file, PST_HEADER_SIZE, size, NULL, &f, diag), 0);
        assert_int_equal(pst_file_feed(f, 0, file, size), 0);
        assert_int_equal(pst_nbt_lookup(f, owner, &ne, &want, diag), 0);
        r = pst_subnode_lookup(f, ne.bid_sub, nid, ret, &want, diag);
        pst_file_free(f);
        return r;
}

static void test_subnode_tree(void **state)
{
        /* sample1.pst's one message: an SLBLOCK with its recipient and
         * attachment tables and one attachment. */
        const uint32_t msg = 0x200024;
        struct pst_nbt_entry ne;
        struct pst_bbt_entry be;
        struct pst_diag diag = {};
        struct pst_node n, n2;
        struct pst_file *f;
        struct pst_want want;
        uint8_t *file, *sl, *copy;
        uint64_t bid_671;
        uint32_t c_ent;
        size_t size;

        (void)state;
        file = load_corpus_file("emk_pstsdk__sample1.pst", &size);
        assert_non_null(file);
        assert_int_equal(subnode_in(file, size, msg, 0x671, &n, &diag), 0);
        assert_int_equal(n.nid, 0x671);
        assert_true(n.bid_data != 0);
        bid_671 = n.bid_data;
        assert_int_equal(subnode_in(file, size, msg, 0x692, &n2, &diag), 0);
        assert_true(n2.bid_data != n.bid_data);
        assert_int_equal(subnode_in(file, size, msg, 0x12345, &n, &diag), -ENOENT);
        assert_int_equal(subnode_in(file, size, msg, 0x1, &n, &diag), -ENOENT);

        assert_int_equal(pst_file_new(file, PST_HEADER_SIZE, size, NULL, &f, &diag), 0);
        assert_int_equal(pst_file_feed(f, 0, file, size), 0);
        assert_int_equal(pst_nbt_lookup(f, msg, &ne, &want, &diag), 0);
        assert_int_equal(pst_bbt_lookup(f, ne.bid_sub, &be, &want, &diag), 0);
        pst_file_free(f);
        sl = file + be.ib;
        c_ent = get_le16(sl + 2);
        assert_int_equal(sl[0], 0x02);
        assert_int_equal(sl[1], 0); /* an SLBLOCK: Unicode, 8-byte header, 24-byte entries */
        assert_true(c_ent >= 3);
        copy = malloc(size);
        assert_non_null(copy);

        /* Internal blocks are not encoded: forge, fix the CRC, look up. */
#define FORGE(stmt, what)                                                                     \
        do {                                                                                  \
                uint8_t *b = copy + be.ib;                                                    \
                memcpy(copy, file, size);                                                     \
                stmt;                                                                         \
                put_le32(b + ALIGN_UP(be.cb + 16u, 64u) - 16 + 4, pst_crc32(0, b, be.cb));    \
                assert_int_equal(subnode_in(copy, size, msg, 0x692, &n, &diag), -EBADMSG);    \
                if (!strstr(diag.msg, what))                                                  \
                        fail_msg("diag \"%s\" lacks \"%s\"", diag.msg, what);                 \
        } while (0)

        FORGE(put_le32(b + 8 + 24, 0x7FFFFFFF), "NIDs not ascending at entry 2");
        FORGE(put_le16(b + 2, 0xFFFF), "SLBLOCK");
        FORGE(b[0] = 0x01, "btype/cLevel 01/00");
        /* An SIBLOCK entry naming a data block (the attachment table's). */
        assert_false(bid_671 & PST_BID_INTERNAL);
        FORGE((b[1] = 1, put_le16(b + 2, 1), put_le64(b + 8, 0), put_le64(b + 16, bid_671)),
              "is not an internal block");
        /* An SIBLOCK naming itself: cLevel must decrease. */
        FORGE((b[1] = 1, put_le16(b + 2, 1), put_le32(b + 8, 0), put_le64(b + 16, be.bid)),
              "expected 02 and below 1");
#undef FORGE
        free(copy);
        free(file);
}

/* ---- a hierarchy cycle in a real file ----------------------------------- */

static void test_hierarchy_cycle(void **state)
{
        const char *corpus = getenv("PSTREAM_CORPUS");
        const struct pst_walk_opts opts = { .messages = true };
        char path[4096];
        struct pst_header hdr;
        struct pst_nbt_entry ne;
        struct pst_bbt_entry be;
        struct pst_diag diag = {};
        struct pst_walk_item it;
        struct pst_walk *w;
        struct pst_file *f;
        struct pst_want want;
        struct stat st;
        uint8_t *file, *blk, *tr;
        unsigned hits = 0, cycles = 0, folders = 0;
        bool deleted_items = false;
        int fd, r;

        (void)state;
        snprintf(path, sizeof(path), "%s/microsoft_outlook-pst-rs__Empty.pst",
                 corpus ? corpus : ".");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        file = malloc((size_t)st.st_size);
        assert_non_null(file);
        assert_int_equal(pread(fd, file, (size_t)st.st_size, 0), st.st_size);
        close(fd);

        /* Find the hierarchy table (0x802D) of the IPM subtree 0x8022: one
         * block, its rows in the heap. */
        assert_int_equal(pst_file_new(file, PST_HEADER_SIZE, (uint64_t)st.st_size, NULL, &f, &diag), 0);
        hdr = *pst_file_header(f);
        assert_int_equal(hdr.format, PST_FORMAT_UNICODE);
        assert_int_equal(pst_file_feed(f, 0, file, (size_t)st.st_size), 0);
        assert_int_equal(pst_nbt_lookup(f, 0x802D, &ne, &want, &diag), 0);
        assert_false(ne.bid_data & PST_BID_INTERNAL);
        assert_int_equal(pst_bbt_lookup(f, ne.bid_data, &be, &want, &diag), 0);
        pst_file_free(f);

        /* Make its row 0x8062 (Deleted Items) say 0x8022: the folder lists
         * itself.  Keys stay ascending (0x8022 < 0x8062 < the others). */
        blk = file + be.ib;
        assert_int_equal(hdr.crypt, PST_CRYPT_PERMUTE);
        pst_permute_decode(blk, be.cb);
        for (uint32_t i = 0; i + 4 <= be.cb; i++)
                if (get_le32(blk + i) == 0x8062) {
                        put_le32(blk + i, 0x8022);
                        hits++;
                }
        assert_int_equal(hits, 2); /* the row index key and the row's dwRowID */
        pst_permute_encode(blk, be.cb);
        tr = blk + ALIGN_UP(be.cb + 16u, 64u) - 16;
        put_le32(tr + 4, pst_crc32(0, blk, be.cb));

        assert_int_equal(pst_file_new(file, PST_HEADER_SIZE, (uint64_t)st.st_size, NULL, &f, &diag), 0);
        assert_int_equal(pst_walk_new(f, &opts, &w), 0);
        while ((r = pst_walk_next(w, &it, &want, &diag)) != 0) {
                if (r == -EAGAIN) {
                        assert_int_equal(pst_file_feed(f, want.offset, file + want.offset, want.len), 0);
                        continue;
                }
                assert_int_equal(r, 1);
                if (it.kind == PST_WALK_FOLDER) {
                        folders++;
                        deleted_items |= it.folder.nid == 0x8062;
                } else if (it.kind == PST_WALK_PROBLEM) {
                        printf("# problem at 0x%x: %s\n", it.problem.nid, it.problem.diag.msg);
                        assert_int_equal(it.problem.nid, 0x8022);
                        assert_non_null(strstr(it.problem.diag.msg, "listed again"));
                        cycles++;
                }
        }
        /* Only what hangs below the cycle is lost: Deleted Items. */
        assert_int_equal(cycles, 1);
        assert_false(deleted_items);
        assert_int_equal(folders, 5);
        pst_walk_free(w);
        pst_file_free(f);
        free(file);
}

/* A cache too small for a step: that step becomes an -EFBIG problem and
 * the walk goes on.  quickbrownfox's folder of 68 messages needs 24-32 KiB
 * of fed pages and blocks (its contents table); its four other folders fit
 * in 16 KiB. */
static void test_small_cache(void **state)
{
        const char *corpus = getenv("PSTREAM_CORPUS");
        const struct pst_limits lim = { .max_cache_bytes = 16 * 1024 };
        const struct pst_walk_opts opts = { .messages = true };
        char path[4096];
        struct pst_diag diag = {};
        struct pst_walk_item it;
        struct pst_walk *w;
        struct pst_file *f;
        struct pst_want want;
        uint8_t hdr[PST_HEADER_SIZE], *buf;
        struct stat st;
        unsigned folders = 0, messages = 0, too_big = 0;
        int fd, r;

        (void)state;
        snprintf(path, sizeof(path),
                 "%s/hughbe_PstReader__simiden__pst2john__2003_compressable-encryption_quickbrownfox.pst",
                 corpus ? corpus : ".");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
        assert_int_equal(pst_file_new(hdr, sizeof(hdr), (uint64_t)st.st_size, &lim, &f, &diag), 0);
        assert_int_equal(pst_walk_new(f, &opts, &w), 0);
        while ((r = pst_walk_next(w, &it, &want, &diag)) != 0) {
                if (r == -EAGAIN) {
                        buf = malloc(want.len);
                        assert_non_null(buf);
                        assert_int_equal(pread(fd, buf, want.len, (off_t)want.offset), want.len);
                        (void)pst_file_feed(f, want.offset, buf, want.len);
                        free(buf);
                        continue;
                }
                assert_int_equal(r, 1);
                if (it.kind == PST_WALK_FOLDER)
                        folders++;
                else if (it.kind == PST_WALK_MESSAGE)
                        messages++;
                else if (it.problem.error == -EFBIG)
                        too_big++;
        }
        printf("# 16 KiB cache: %u folders, %u messages, %u steps too big\n", folders, messages,
               too_big);
        assert_int_equal(folders, 4);
        assert_int_equal(too_big, 1);
        assert_int_equal(messages, 0);
        pst_walk_free(w);
        pst_file_free(f);
        close(fd);
}

static bool in_corpus(const char *name)
{
        const char *corpus = getenv("PSTREAM_CORPUS");
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s", corpus ? corpus : ".", name);
        if (access(path, R_OK) == 0)
                return true;
        printf("# %s absent: its tests are not run\n", name);
        return false;
}

int main(void)
{
        struct CMUnitTest tests[6] = {
                cmocka_unit_test(test_rows_in_heap),
                cmocka_unit_test(test_rows_in_subnode),
                cmocka_unit_test(test_bad_tables),
        };
        size_t n = 3;

        /* Tests on real files exist only where the files do (cmocka's TAP
         * skip reads as a failure). */
        if (in_corpus("emk_pstsdk__sample1.pst"))
                tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_subnode_tree);
        if (in_corpus("microsoft_outlook-pst-rs__Empty.pst"))
                tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_hierarchy_cycle);
        if (in_corpus("hughbe_PstReader__simiden__pst2john__2003_compressable-encryption_quickbrownfox.pst"))
                tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_small_cache);
        return _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
}
