/* SPDX-License-Identifier: MIT
 *
 * test-pst-write.c - the writer (pstw_*) read back by our own reader: the
 * folder tree through pst_walk_*, every message through pst_msg_read(),
 * compared property by property (every type, multi-valued, named),
 * recipient by recipient, attachment byte by byte, embedded message by
 * embedded message; values at the size boundaries of heap allocations,
 * blocks and data trees; tables and property contexts large enough for
 * multi-level BTHs, heap bitmap pages, SIBLOCKs and multi-level B-trees;
 * and the errors the writer must return instead of writing a bad file.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "pst/pst-internal.h"
#include "pstream/pst-write.h"
#include "tests/pst/pst-write-items.h"

/* ---- writing and reading back ------------------------------------------------ */

struct written {
        const char *path; /* folder path under the IPM subtree */
        bool fai;
        const struct pst_msg *m;
};

struct file {
        uint8_t *buf;
        size_t size;
        struct pst_file *f;
};

static int new_fd(void)
{
        int fd = memfd_create("pstw", 0);

        assert_true(fd >= 0);
        return fd;
}

static void load(int fd, struct file *out)
{
        struct pst_limits lim = { .max_cache_bytes = 1ull << 32 };
        struct pst_diag diag = {};
        struct stat st;

        assert_int_equal(fstat(fd, &st), 0);
        out->size = (size_t)st.st_size;
        out->buf = malloc(out->size);
        assert_non_null(out->buf);
        assert_int_equal(pread(fd, out->buf, out->size, 0), (ssize_t)out->size);
        assert_int_equal(pst_file_new(out->buf, MIN(out->size, (size_t)PST_HEADER_SIZE), out->size,
                                      &lim, &out->f, &diag),
                         0);
        assert_true(pst_file_header(out->f)->crc_full_ok);
}

static void unload(struct file *f)
{
        pst_file_free(f->f);
        free(f->buf);
}

static void feed(struct file *f, const struct pst_want *w)
{
        assert_true(w->offset <= f->size);
        assert_int_equal(pst_file_feed(f->f, w->offset, f->buf + w->offset,
                                       MIN((size_t)w->len, f->size - (size_t)w->offset)),
                         0);
}

#define PULL(file, expr)                                                                           \
        ({                                                                                         \
                int r_;                                                                            \
                unsigned n_ = 0;                                                                   \
                while ((r_ = (expr)) == -EAGAIN && n_++ < 1000000)                                 \
                        feed(file, &want);                                                         \
                r_;                                                                                \
        })

/* ---- comparing ---------------------------------------------------------------- */

static bool named_eq(const struct pst_named *a, const struct pst_named *b)
{
        if (!a || !b || a->is_string != b->is_string || memcmp(a->guid, b->guid, 16) != 0)
                return false;
        return a->is_string ? strcmp(a->name, b->name) == 0 : a->lid == b->lid;
}

static const struct pst_prop *find_read(const struct pst_prop *props, size_t n,
                                        const struct pst_prop *w)
{
        for (size_t i = 0; i < n; i++) {
                if (w->named ? named_eq(w->named, props[i].named)
                             : props[i].id == w->id && !props[i].named)
                        return &props[i];
        }
        return NULL;
}

static void same_value(uint16_t base, const struct pst_value *w, const struct pst_value *g,
                       uint16_t id)
{
        switch (base) {
        case PST_PT_I2:
                assert_int_equal((int16_t)g->i, (int16_t)w->i);
                break;
        case PST_PT_I4:
        case PST_PT_ERROR:
                assert_int_equal((uint32_t)g->i, (uint32_t)w->i);
                break;
        case PST_PT_BOOLEAN:
                assert_int_equal(g->i != 0, w->i != 0);
                break;
        case PST_PT_I8:
        case PST_PT_CURRENCY:
        case PST_PT_SYSTIME:
                assert_true(g->i == w->i);
                break;
        case PST_PT_R4:
                assert_true((float)g->d == (float)w->d);
                break;
        case PST_PT_R8:
        case PST_PT_APPTIME:
                assert_true(g->d == w->d);
                break;
        default:
                if (g->len != w->len || (w->len && memcmp(g->data, w->data, w->len) != 0))
                        fail_msg("property 0x%04x type 0x%04x: %zu bytes read, %zu written", id,
                                 base, g->len, w->len);
        }
}

static void same_props(const struct pst_prop *w, size_t nw, const struct pst_prop *g, size_t ng)
{
        for (size_t i = 0; i < nw; i++) {
                const struct pst_prop *p = find_read(g, ng, &w[i]);

                if (!p)
                        fail_msg("property 0x%04x (type 0x%04x%s) not read back", w[i].id,
                                 w[i].type, w[i].named ? ", named" : "");
                assert_int_equal(p->type, w[i].type);
                if (w[i].type & PST_PT_MV) {
                        assert_int_equal(p->count, w[i].count);
                        for (uint32_t k = 0; k < w[i].count; k++)
                                same_value(w[i].type & ~PST_PT_MV, &w[i].mv[k], &p->mv[k], w[i].id);
                } else {
                        same_value(w[i].type, &w[i].v, &p->v, w[i].id);
                }
        }
}

static void same_msg(const struct pst_msg *w, const struct pst_msg *g)
{
        same_props(w->props, w->n_props, g->props, g->n_props);
        assert_int_equal(g->n_recipients, w->n_recipients);
        for (size_t i = 0; i < w->n_recipients; i++)
                same_props(w->recipients[i].props, w->recipients[i].n_props, g->recipients[i].props,
                           g->recipients[i].n_props);
        assert_int_equal(g->n_attachments, w->n_attachments);
        for (size_t i = 0; i < w->n_attachments; i++) {
                const struct pst_attachment *wa = &w->attachments[i], *ga = &g->attachments[i];

                same_props(wa->props, wa->n_props, ga->props, ga->n_props);
                assert_int_equal(ga->len, wa->len);
                if (wa->len)
                        assert_memory_equal(ga->data, wa->data, wa->len);
                assert_int_equal(!!ga->embedded, !!wa->embedded);
                if (wa->embedded)
                        same_msg(wa->embedded, ga->embedded);
        }
}

static const char *subject_of(const struct pst_msg *m)
{
        const struct pst_prop *p = pst_props_find(m->props, m->n_props, 0x0037);

        return p ? (const char *)p->v.data : "";
}

/* Walk the file: every folder (path under the IPM subtree) and message must
 * be one written, every written one must be met, equal. */
static void check_file(struct file *f, const struct written *wr, size_t n, unsigned n_folders)
{
        struct pst_walk_opts o = { .messages = true, .message_ids = true };
        struct pst_walk *walk;
        struct pst_walk_item it;
        struct pst_want want;
        struct pst_diag diag;
        char paths[64][1024] = {};
        uint32_t nids[64] = {};
        unsigned found = 0, folders = 0, depth_ipm = 0;
        bool *seen = calloc(n + 1, 1);
        int r;

        assert_int_equal(pst_walk_new(f->f, &o, &walk), 0);
        while ((r = PULL(f, pst_walk_next(walk, &it, &want, &diag))) == 1) {
                if (it.kind == PST_WALK_PROBLEM)
                        fail_msg("problem at 0x%x: %s", it.problem.nid, it.problem.diag.msg);
                if (it.kind == PST_WALK_FOLDER) {
                        unsigned d = it.folder.depth;

                        if (it.folder.ipm_subtree)
                                depth_ipm = d;
                        if (d > depth_ipm && depth_ipm && d - depth_ipm < 64) {
                                unsigned k = d - depth_ipm;

                                snprintf(paths[k], sizeof(paths[k]), "%.500s%s%.256s",
                                         k > 1 ? paths[k - 1] : "", k > 1 ? "/" : "",
                                         it.folder.name);
                                nids[k] = it.folder.nid;
                                folders++;
                        }
                        continue;
                }
                /* A message: find the written one with this folder and subject. */
                {
                        struct pst_msg *m;
                        const char *path = NULL;
                        size_t i;

                        for (unsigned k = 1; k < 64 && !path; k++)
                                if (nids[k] == it.message.folder_nid)
                                        path = paths[k];
                        assert_non_null(path);
                        assert_int_equal(
                            PULL(f, pst_msg_read(f->f, it.message.nid, &m, &want, &diag)), 0);
                        for (i = 0; i < n; i++)
                                if (!seen[i] && wr[i].fai == it.message.fai &&
                                    strcmp(wr[i].path, path) == 0 &&
                                    strcmp(subject_of(wr[i].m), subject_of(m)) == 0)
                                        break;
                        if (i == n)
                                fail_msg("message %s/%s not written", path, subject_of(m));
                        seen[i] = true;
                        same_msg(wr[i].m, m);
                        pst_msg_free(m);
                        found++;
                }
        }
        assert_int_equal(r, 0);
        pst_walk_free(walk);
        assert_int_equal(found, n);
        assert_int_equal(folders, n_folders);
        free(seen);
}

/* ---- scenarios ----------------------------------------------------------------- */

/* PidTagRecordKey of the store (0x21), 16 bytes into key. */
static void store_record_key(struct file *f, uint8_t key[16])
{
        struct pst_want want;
        struct pst_diag diag;
        struct pst_data d;
        struct pst_pc pc;
        struct pst_rawprop p;

        assert_int_equal(PULL(f, pst_node_data(f->f, 0x21, 1 << 20, NULL, &d, &want, &diag)), 0);
        assert_int_equal(pst_pc_init(&pc, &d, 0x21, &diag), 0);
        assert_int_equal(pst_pc_get(&pc, 0x0FF9, &p, &diag), 0);
        assert_int_equal(p.len, 16);
        memcpy(key, p.p, 16);
        pst_data_done(&d);
}

static void write_and_check(enum pst_crypt crypt, bool password)
{
        static const uint8_t uid[16] = "0123456789abcdef";
        struct pstw_opts o = { .crypt = crypt,
                               .display_name = "Round \xc3\xa9 trip",
                               .has_password = password,
                               .password_crc = 0x12345678,
                               .record_key = crypt == PST_CRYPT_CYCLIC ? uid : NULL };
        uint8_t key[16];
        struct pstwi_opts full = { .body_len = 30000,
                                   .n_rcpt = 4,
                                   .n_att = 2,
                                   .att_len = 100000,
                                   .embedded = true,
                                   .all_types = true };
        struct pstwi_opts small = { .body_len = 10, .n_rcpt = 1, .n_att = 1, .att_len = 0 };
        struct written wr[6];
        struct pst_store_info info;
        struct pst_want want;
        struct pst_diag diag = {};
        struct pstw *w;
        struct file f;
        uint32_t inbox, nested, deeper, empty;
        int fd = new_fd();

        assert_int_equal(pstw_new(fd, &o, &w, &diag), 0);
        assert_int_equal(pstw_folder(w, 0, "Inbox", NULL, &inbox), 0);
        assert_int_equal(pstw_folder(w, inbox, "Nested", "IPF.Note", &nested), 0);
        assert_int_equal(pstw_folder(w, nested, "Deeper \xe2\x82\xac", "IPF.Note", &deeper), 0);
        assert_int_equal(pstw_folder(w, 0, "Empty", "IPF.Contact", &empty), 0);
        wr[0] = (struct written){ "Inbox", false, pstwi_message("Full \xe4\xb8\x96", &full, 0) };
        wr[1] = (struct written){ "Inbox", false, pstwi_message("Small", &small, 0) };
        wr[2] = (struct written){ "Inbox", true, pstwi_message("Hidden FAI", &small, 0) };
        wr[3] = (struct written){ "Inbox/Nested", false, pstwi_message("Nested one", &small, 0) };
        wr[4] = (struct written){ "Inbox/Nested/Deeper \xe2\x82\xac", false,
                                  pstwi_message("Deep one", &full, 0) };
        wr[5] = (struct written){ "Inbox/Nested/Deeper \xe2\x82\xac", false,
                                  pstwi_message("Deep two", &small, 0) };
        assert_int_equal(pstw_message(w, inbox, false, wr[0].m, NULL), 0);
        assert_int_equal(pstw_message(w, inbox, false, wr[1].m, NULL), 0);
        assert_int_equal(pstw_message(w, inbox, true, wr[2].m, NULL), 0);
        assert_int_equal(pstw_message(w, nested, false, wr[3].m, NULL), 0);
        assert_int_equal(pstw_message(w, deeper, false, wr[4].m, NULL), 0);
        assert_int_equal(pstw_message(w, deeper, false, wr[5].m, NULL), 0);
        assert_int_equal(pstw_close(w, &diag), 0);

        load(fd, &f);
        assert_int_equal(pst_file_header(f.f)->crypt, crypt);
        assert_int_equal(PULL(&f, pst_store_info(f.f, &info, &want, &diag)), 0);
        assert_string_equal(info.display_name, "Round \xc3\xa9 trip");
        store_record_key(&f, key);
        if (crypt == PST_CRYPT_CYCLIC)
                assert_memory_equal(key, uid, 16);
        else
                assert_memory_not_equal(key, uid, 16);
        assert_int_equal(info.has_password, password);
        if (password)
                assert_int_equal(info.password_crc, 0x12345678);
        /* Inbox, Nested, Deeper, Empty and the standard Deleted Items. */
        check_file(&f, wr, 6, 5);
        unload(&f);
        close(fd);
        pstwi_pool_free();
}

static void test_roundtrip_none(void **state)
{
        write_and_check(PST_CRYPT_NONE, false);
}

static void test_roundtrip_permute_password(void **state)
{
        write_and_check(PST_CRYPT_PERMUTE, true);
}

static void test_roundtrip_cyclic(void **state)
{
        write_and_check(PST_CRYPT_CYCLIC, false);
}

/* One message per boundary size of an attachment: heap allocation (3580),
 * block (8176), XBLOCK (1021 blocks) -> XXBLOCK. */
static void test_value_sizes(void **state)
{
        static const size_t sizes[] = { 0,    1,    3579,        3580,           3581,
                                        8176, 8177, 8176 * 1021, 8176 * 1021 + 1 };
        struct pstw_opts o = { .crypt = PST_CRYPT_PERMUTE };
        struct written wr[ELEMENTSOF(sizes) + 1];
        struct pst_diag diag = {};
        struct pstw *w;
        struct file f;
        uint32_t folder;
        int fd = new_fd();

        assert_int_equal(pstw_new(fd, &o, &w, &diag), 0);
        assert_int_equal(pstw_folder(w, 0, "Sizes", NULL, &folder), 0);
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                struct pstwi_opts mo = { .body_len = sizes[i] / 2,
                                         .n_att = 1,
                                         .att_len = sizes[i] };

                wr[i] = (struct written){ "Sizes", false,
                                          pstwi_message(pstwi_fmt("size %zu", sizes[i]), &mo, 0) };
                assert_int_equal(pstw_message(w, folder, false, wr[i].m, NULL), 0);
        }
        {
                /* A subject too long for a heap allocation: in the message's PC
                 * and in its contents-table cell, a subnode of each. */
                struct pstwi_opts mo = { .body_len = 10 };
                char *s = pstwi_text(3000);

                wr[ELEMENTSOF(sizes)] =
                    (struct written){ "Sizes", false, pstwi_message(s, &mo, 0) };
                assert_int_equal(pstw_message(w, folder, false, wr[ELEMENTSOF(sizes)].m, NULL), 0);
        }
        assert_int_equal(pstw_close(w, &diag), 0);
        load(fd, &f);
        check_file(&f, wr, ELEMENTSOF(sizes) + 1, 2);
        unload(&f);
        close(fd);
        pstwi_pool_free();
}

/* Big structures: 1500 properties (a BTH with an index level, a heap of
 * more than 8 blocks: an HNBITMAPHDR), 2000 recipients (a row matrix over
 * many blocks), 400 attachments (more subnodes than an SLBLOCK holds: an
 * SIBLOCK), 3000 messages in a folder (NBT of 3 levels, a contents table
 * heap with a bitmap page). */
static void test_big_structures(void **state)
{
        struct pstw_opts o = { .crypt = PST_CRYPT_NONE };
        struct pstwi_opts plain = { .body_len = 40 };
        struct pstwi_opts rcpt = { .body_len = 40, .n_rcpt = 2000 };
        struct pstwi_opts att = { .body_len = 40, .n_att = 400, .att_len = 10 };
        size_t n = 3003;
        struct written *wr = calloc(n, sizeof(*wr));
        struct pstwi_props b = {};
        struct pst_msg *many;
        struct pst_diag diag = {};
        struct pstw *w;
        struct file f;
        uint32_t folder;
        int fd = new_fd();

        many = pstwi_message("Many properties", &plain, 0);
        for (size_t i = 0; i < many->n_props; i++)
                *pstwi_add(&b, many->props[i].id, many->props[i].type) = many->props[i];
        for (unsigned i = 0; i < 1500; i++)
                pstwi_add_str(&b, (uint16_t)(0x4000 + i),
                              pstwi_fmt("value %u %s", i, pstwi_text(i % 40)));
        many->props = b.p;
        many->n_props = b.n;
        assert_int_equal(pstw_new(fd, &o, &w, &diag), 0);
        assert_int_equal(pstw_folder(w, 0, "Big", NULL, &folder), 0);
        wr[0] = (struct written){ "Big", false, many };
        wr[1] = (struct written){ "Big", false, pstwi_message("Many recipients", &rcpt, 0) };
        wr[2] = (struct written){ "Big", false, pstwi_message("Many attachments", &att, 0) };
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(pstw_message(w, folder, false, wr[i].m, NULL), 0);
        for (size_t i = 3; i < n; i++) {
                wr[i] = (struct written){ "Big", false,
                                          pstwi_message(pstwi_fmt("bulk %zu", i), &plain, 0) };
                assert_int_equal(pstw_message(w, folder, false, wr[i].m, NULL), 0);
        }
        assert_int_equal(pstw_close(w, &diag), 0);
        load(fd, &f);
        check_file(&f, wr, n, 2);
        unload(&f);
        close(fd);
        pstwi_pool_free();
        free(wr);
}

/* A store with nothing but its standard folders. */
static void test_empty_store(void **state)
{
        struct pstw_opts o = { .crypt = PST_CRYPT_NONE };
        struct pst_diag diag = {};
        struct pstw *w;
        struct file f;
        int fd = new_fd();

        assert_int_equal(pstw_new(fd, &o, &w, &diag), 0);
        assert_int_equal(pstw_close(w, &diag), 0);
        load(fd, &f);
        /* The file is whole AMap regions: the first one ends at 0x42400. */
        assert_int_equal(f.size, 0x42400);
        check_file(&f, NULL, 0, 1);
        unload(&f);
        close(fd);
}

/* What cannot be written is an error, not a bad file; the first error sticks. */
static void test_errors(void **state)
{
        struct pstw_opts o = { .crypt = PST_CRYPT_NONE };
        struct pst_diag diag = {};
        struct pstwi_props b = {};
        struct pst_msg m = {};
        struct pstw *w;
        uint32_t folder;
        int fd = new_fd();

        o.crypt = 7;
        assert_int_equal(pstw_new(fd, &o, &w, &diag), -EINVAL);
        o.crypt = PST_CRYPT_NONE;
        assert_int_equal(pstw_new(fd, &o, &w, &diag), 0);
        assert_int_equal(pstw_folder(w, 0x12345, "x", NULL, &folder), -ENOENT);
        assert_int_equal(pstw_close(w, &diag), -ENOENT);
        assert_non_null(strstr(diag.msg, "parent folder"));

        /* An unknown property type. */
        assert_int_equal(pstw_new(fd, &o, &w, &diag), 0);
        assert_int_equal(pstw_folder(w, 0, "F", NULL, &folder), 0);
        pstwi_add_int(&b, 0x6000, 0x0099, 1);
        m.props = b.p;
        m.n_props = b.n;
        assert_int_equal(pstw_message(w, folder, false, &m, NULL), -ENOTSUP);
        assert_int_equal(pstw_message(w, folder, false, &m, NULL), -ENOTSUP);
        assert_int_equal(pstw_close(w, &diag), -ENOTSUP);

        /* A named id without its name; a property twice. */
        b.n = 0;
        pstwi_add_int(&b, 0x8005, PST_PT_I4, 1);
        m.props = b.p;
        m.n_props = b.n;
        assert_int_equal(pstw_new(fd, &o, &w, &diag), 0);
        assert_int_equal(pstw_message(w, 0, false, &m, NULL), -EINVAL);
        assert_int_equal(pstw_close(w, &diag), -EINVAL);
        b.n = 0;
        pstwi_add_int(&b, 0x6001, PST_PT_I4, 1);
        pstwi_add_int(&b, 0x6001, PST_PT_I4, 2);
        m.props = b.p;
        m.n_props = b.n;
        assert_int_equal(pstw_new(fd, &o, &w, &diag), 0);
        assert_int_equal(pstw_message(w, 0, false, &m, NULL), -EINVAL);
        assert_int_equal(pstw_close(w, &diag), -EINVAL);
        assert_non_null(strstr(diag.msg, "twice"));

        /* A CLSID that is not 16 bytes. */
        b.n = 0;
        pstwi_add(&b, 0x6002, PST_PT_CLSID)->v.len = 3;
        m.props = b.p;
        m.n_props = b.n;
        assert_int_equal(pstw_new(fd, &o, &w, &diag), 0);
        assert_int_equal(pstw_message(w, 0, false, &m, NULL), -EINVAL);
        assert_int_equal(pstw_close(w, &diag), -EINVAL);
        close(fd);
        pstwi_pool_free();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip_none),
                cmocka_unit_test(test_roundtrip_permute_password),
                cmocka_unit_test(test_roundtrip_cyclic),
                cmocka_unit_test(test_value_sizes),
                cmocka_unit_test(test_big_structures),
                cmocka_unit_test(test_empty_store),
                cmocka_unit_test(test_errors),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
