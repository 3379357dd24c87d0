/* SPDX-License-Identifier: MIT
 *
 * test-pst-message.c - whole-message decoding (pst_msg_read) and rendering
 * (pst_msg_render) over every real file (skipped when absent):
 *
 *  - every message and FAI item the walk lists decodes without a problem
 *    and renders; its recipient and attachment counts, and through its
 *    embedded messages at every level the attachment, embedded-message and
 *    attachment-byte totals, equal what pst_walk counted;
 *  - the same message decoded from fed ranges (the pull model, with its
 *    restarts) and from a borrowed whole-file image is the same;
 *  - against pffexport -d (libpff, run by the test into a temporary
 *    directory): every property it dumps in ItemValues.txt for an item is
 *    ours with the same type and value, multi-valued ones value by value,
 *    named ones mapped to the same numeric or string name, and the counts
 *    are equal; the same for embedded messages at every level, and each
 *    attachment file it writes has our bytes.  Items of classes pffexport
 *    does not export (PST_FORMAT.md Appendix A, item 4) have no directory
 *    and are not compared.  The last test checks that multi-valued and
 *    named properties (numeric and string) were among those compared.
 */
#include <dirent.h>
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

#define MAX_FILES 128
#define MAX_FOLDERS 1024

struct tfile {
        char path[4096];
        char name[256];
};

static struct tfile files[MAX_FILES];
static struct CMUnitTest tests[MAX_FILES + 2];
static size_t n_files, n_tests;
static bool have_pffexport;

/* What the pffexport comparison covered, over all files. */
static struct {
        unsigned items, props, mv, named_lid, named_string, attachments, embedded;
} seen;

/* ---- reading a file ---------------------------------------------------- */

static uint8_t *read_all(const char *path, size_t *ret_size)
{
        struct stat st;
        uint8_t *buf;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        buf = malloc((size_t)st.st_size + 1);
        assert_non_null(buf);
        assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
        close(fd);
        *ret_size = (size_t)st.st_size;
        return buf;
}

static struct pst_file *open_pst(const uint8_t *img, size_t size, bool borrow)
{
        struct pst_diag diag = {};
        struct pst_file *f;
        int r;

        r = pst_file_new(img, MIN(size, (size_t)PST_HEADER_SIZE), size, NULL, &f, &diag);
        if (r < 0)
                fail_msg("pst_file_new: %s", diag.msg);
        if (borrow)
                assert_int_equal(pst_file_borrow(f, img, size), 0);
        return f;
}

/* Decode nid, feeding f the ranges it asks for from img (pull model). */
static struct pst_msg *read_fed(struct pst_file *f, const uint8_t *img, size_t size, uint32_t nid)
{
        struct pst_diag diag = {};
        struct pst_want want;
        struct pst_msg *m = NULL;
        int r;

        while ((r = pst_msg_read(f, nid, &m, &want, &diag)) == -EAGAIN) {
                assert_true(want.offset < size);
                assert_int_equal(pst_file_feed(f, want.offset, img + want.offset,
                                               MIN((size_t)want.len, size - (size_t)want.offset)),
                                 0);
        }
        if (r < 0)
                fail_msg("message 0x%x (fed): %d %s", nid, r, diag.msg);
        return m;
}

/* ---- totals through embedded messages ---------------------------------- */

struct totals {
        uint32_t attachments, embedded;
        uint64_t bytes;
};

static void count(const struct pst_msg *m, struct totals *t)
{
        for (size_t i = 0; i < m->n_attachments; i++) {
                const struct pst_attachment *a = &m->attachments[i];

                t->attachments++;
                t->bytes += a->len;
                if (a->embedded) {
                        t->embedded++;
                        count(a->embedded, t);
                }
        }
}

/* The pull model and the borrowed image give the same message. */
static void same_msg(const struct pst_msg *a, const struct pst_msg *b)
{
        assert_int_equal(a->n_props, b->n_props);
        for (size_t i = 0; i < a->n_props; i++) {
                assert_int_equal(a->props[i].id, b->props[i].id);
                assert_int_equal(a->props[i].type, b->props[i].type);
                assert_int_equal(a->props[i].v.len, b->props[i].v.len);
                assert_int_equal(a->props[i].count, b->props[i].count);
                if (a->props[i].v.len)
                        assert_memory_equal(a->props[i].v.data, b->props[i].v.data, a->props[i].v.len);
        }
        assert_int_equal(a->n_recipients, b->n_recipients);
        assert_int_equal(a->n_attachments, b->n_attachments);
        for (size_t i = 0; i < a->n_attachments; i++) {
                const struct pst_attachment *x = &a->attachments[i], *y = &b->attachments[i];

                assert_int_equal(x->len, y->len);
                if (x->len)
                        assert_memory_equal(x->data, y->data, x->len);
                assert_int_equal(!!x->embedded, !!y->embedded);
                if (x->embedded)
                        same_msg(x->embedded, y->embedded);
        }
}

/* ---- pffexport's ItemValues.txt ---------------------------------------- */

struct pv {
        uint32_t id, type;
        bool has_lid, has_name;
        uint32_t lid;
        char name[256];
        uint8_t *data;
        size_t len;
};

struct pvs {
        struct pv *v;
        size_t n, cap;
};

static void pvs_done(struct pvs *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i].data);
        free(s->v);
        *s = (struct pvs){};
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* One hex dump line "0x00000000: 4f 00 ...  ...   ascii": bytes sit at
 * fixed columns, so the ASCII column is never read as hex. */
static void parse_hex(const char *line, struct pv *v)
{
        size_t n = strlen(line);

        for (size_t j = 0; j < 16; j++) {
                size_t col = 12 + 3 * j + (j >= 8);
                int hi, lo;

                if (col + 2 > n || (hi = hexval(line[col])) < 0 || (lo = hexval(line[col + 1])) < 0 ||
                    (col + 2 < n && line[col + 2] != ' '))
                        break;
                v->data = realloc(v->data, v->len + 1);
                assert_non_null(v->data);
                v->data[v->len++] = (uint8_t)(hi << 4 | lo);
        }
}

/* The entries of dir/ItemValues.txt; false when the file is absent. */
static bool load_values(const char *dir, struct pvs *s)
{
        char path[8192], line[1024];
        struct pv *cur = NULL;
        bool in_value = false;
        FILE *f;

        snprintf(path, sizeof(path), "%s/ItemValues.txt", dir);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f)) {
                unsigned x;

                line[strcspn(line, "\n")] = '\0';
                if (sscanf(line, "Entry type: 0x%x", &x) == 1) {
                        if (s->n == s->cap) {
                                s->cap = s->cap ? 2 * s->cap : 64;
                                s->v = realloc(s->v, s->cap * sizeof(*s->v));
                                assert_non_null(s->v);
                        }
                        cur = &s->v[s->n++];
                        *cur = (struct pv){ .id = x };
                        in_value = false;
                } else if (cur && sscanf(line, "Value type: 0x%x", &x) == 1) {
                        cur->type = x;
                } else if (cur && sscanf(line, "Maps to entry type: 0x%x", &x) == 1) {
                        cur->has_lid = true;
                        cur->lid = x;
                } else if (cur && strncmp(line, "Maps to entry:", 14) == 0) {
                        const char *p = line + 14;

                        p += strspn(p, "\t ");
                        cur->has_name = true;
                        snprintf(cur->name, sizeof(cur->name), "%s", p);
                } else if (cur && strcmp(line, "Value:") == 0) {
                        in_value = true;
                } else if (cur && in_value && strncmp(line, "0x", 2) == 0 && strlen(line) > 12 &&
                           line[10] == ':') {
                        parse_hex(line, cur);
                } else if (line[0] == '\0') {
                        in_value = false;
                }
        }
        fclose(f);
        return true;
}

/* ---- comparing one property -------------------------------------------- */

/* UTF-8 (ours) as UTF-16LE, for comparing with the stored bytes. */
static size_t to_utf16(const uint8_t *s, size_t n, uint8_t *out)
{
        size_t o = 0;

        for (size_t i = 0; i < n;) {
                uint32_t c = s[i];
                size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;

                if (k == 2)
                        c = (c & 0x1F) << 6 | (s[i + 1] & 0x3F);
                else if (k == 3)
                        c = (c & 0x0F) << 12 | (s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
                else if (k == 4)
                        c = (c & 0x07) << 18 | (s[i + 1] & 0x3F) << 12 | (s[i + 2] & 0x3F) << 6 |
                            (s[i + 3] & 0x3F);
                i += k;
                if (c >= 0x10000) {
                        c -= 0x10000;
                        put_le16(out + o, (uint16_t)(0xD800 | (c >> 10)));
                        put_le16(out + o + 2, (uint16_t)(0xDC00 | (c & 0x3FF)));
                        o += 4;
                } else {
                        put_le16(out + o, (uint16_t)c);
                        o += 2;
                }
        }
        return o;
}

/* Bytes of a string as stored, up to its first NUL (a NUL character in
 * Unicode): what our decoder keeps. */
static size_t stored_len(const uint8_t *p, size_t n, bool wide)
{
        for (size_t i = 0; wide ? i + 1 < n : i < n; i += wide ? 2 : 1)
                if (p[i] == 0 && (!wide || p[i + 1] == 0))
                        return i;
        return wide ? n & ~(size_t)1 : n;
}

static void same_string(const char *what, uint16_t type, const struct pst_value *v, const uint8_t *raw,
                        size_t len)
{
        bool wide = type == PST_PT_UNICODE;
        size_t n = stored_len(raw, len, wide);

        if (wide) {
                uint8_t *u = malloc(v->len * 2 + 4);
                size_t un;

                assert_non_null(u);
                un = to_utf16(v->data, v->len, u);
                if (un != n || (n > 0 && memcmp(u, raw, n) != 0))
                        fail_msg("%s: Unicode string differs (%zu vs %zu bytes)", what, un, n);
                free(u);
        } else if (v->len != n || (n > 0 && memcmp(v->data, raw, n) != 0)) {
                fail_msg("%s: String8 differs (%zu vs %zu bytes)", what, v->len, n);
        }
}

static void same_fixed(const char *what, uint16_t type, const struct pst_value *v, const uint8_t *raw,
                       size_t len)
{
        uint8_t b[16];
        size_t n;

        switch (type) {
        case PST_PT_BOOLEAN:
                assert_true(len >= 1);
                if ((raw[0] != 0) != (v->i != 0))
                        fail_msg("%s: Boolean differs", what);
                return;
        case PST_PT_I2:
                put_le16(b, (uint16_t)v->i);
                n = 2;
                break;
        case PST_PT_I4:
        case PST_PT_ERROR:
                put_le32(b, (uint32_t)v->i);
                n = 4;
                break;
        case PST_PT_R4: {
                float f = (float)v->d;

                memcpy(b, &f, 4);
                n = 4;
                break;
        }
        case PST_PT_R8:
        case PST_PT_APPTIME:
                memcpy(b, &v->d, 8);
                n = 8;
                break;
        case PST_PT_CLSID:
                assert_int_equal(v->len, 16);
                memcpy(b, v->data, 16);
                n = 16;
                break;
        default: /* I8, CURRENCY, SYSTIME */
                put_le64(b, (uint64_t)v->i);
                n = 8;
                break;
        }
        if (len < n || memcmp(b, raw, n) != 0)
                fail_msg("%s: value of type 0x%04x differs", what, type);
}

static void same_value(const char *what, const struct pst_prop *p, const struct pv *e)
{
        uint16_t base = p->type & (uint16_t)~PST_PT_MV;
        size_t elem;

        if (!(p->type & PST_PT_MV)) {
                if (p->type == PST_PT_STRING8 || p->type == PST_PT_UNICODE)
                        same_string(what, p->type, &p->v, e->data, e->len);
                else if (base == PST_PT_BINARY || base == PST_PT_OBJECT || base == PST_PT_SVREID ||
                         base == PST_PT_SRESTRICT || base == PST_PT_ACTIONS) {
                        if (p->v.len != e->len || (e->len && memcmp(p->v.data, e->data, e->len) != 0))
                                fail_msg("%s: %zu bytes vs pffexport's %zu", what, p->v.len, e->len);
                } else {
                        same_fixed(what, p->type, &p->v, e->data, e->len);
                }
                return;
        }
        seen.mv++;
        if (base == PST_PT_STRING8 || base == PST_PT_UNICODE || base == PST_PT_BINARY) {
                uint32_t n = e->len >= 4 ? get_le32(e->data) : 0;

                assert_int_equal(p->count, n);
                for (uint32_t i = 0; i < n; i++) {
                        uint32_t start = get_le32(e->data + 4 + 4 * i);
                        uint32_t end = i + 1 < n ? get_le32(e->data + 8 + 4 * i) : (uint32_t)e->len;

                        assert_true(start <= end && end <= e->len);
                        if (base == PST_PT_BINARY) {
                                assert_int_equal(p->mv[i].len, end - start);
                                assert_memory_equal(p->mv[i].data, e->data + start, end - start);
                        } else {
                                same_string(what, base, &p->mv[i], e->data + start, end - start);
                        }
                }
                return;
        }
        elem = base == PST_PT_I2 ? 2 : base == PST_PT_I4 || base == PST_PT_R4 ? 4 : base == PST_PT_CLSID ? 16 : 8;
        assert_int_equal(p->count, e->len / elem);
        for (uint32_t i = 0; i < p->count; i++)
                same_fixed(what, base, &p->mv[i], e->data + i * elem, elem);
}

/* ---- comparing items ----------------------------------------------------- */

/* The entry of dir named like "Attachment00001" or "Message00001": an
 * item directory, any type, index k (1-based); false when absent. */
static bool find_item(const char *dir, unsigned k, char *out, size_t outsz)
{
        char want[8];
        struct dirent *de;
        bool found = false;
        DIR *d = opendir(dir);

        if (!d)
                return false;
        snprintf(want, sizeof(want), "%05u", k);
        while (!found && (de = readdir(d))) {
                size_t len = strlen(de->d_name);

                if (len > 5 && strcmp(de->d_name + len - 5, want) == 0 && de->d_name[0] >= 'A' &&
                    de->d_name[0] <= 'Z') {
                        snprintf(out, outsz, "%s/%s", dir, de->d_name);
                        found = true;
                }
        }
        closedir(d);
        return found;
}

/* pffexport's file for attachment k of an item: Attachments/<k>_<name>
 * (k zero-padded to the count's width). */
static bool find_attachment_file(const char *dir, unsigned k, char *out, size_t outsz)
{
        char adir[8192];
        struct dirent *de;
        bool found = false;
        DIR *d;

        snprintf(adir, sizeof(adir), "%s/Attachments", dir);
        d = opendir(adir);
        if (!d)
                return false;
        while (!found && (de = readdir(d))) {
                char *end;
                unsigned long v = strtoul(de->d_name, &end, 10);

                if (end != de->d_name && *end == '_' && v == k && de->d_type == DT_REG) {
                        int n = snprintf(out, outsz, "%s/%s", adir, de->d_name);

                        found = n > 0 && (size_t)n < outsz;
                }
        }
        closedir(d);
        return found;
}

static void compare_item(const char *name, const char *dir, const struct pst_msg *m)
{
        struct pvs s = {};
        char what[512], sub[8192], item[8300];

        if (!load_values(dir, &s))
                fail_msg("%s: %s has no ItemValues.txt", name, dir);
        seen.items++;
        for (size_t i = 0; i < s.n; i++) {
                const struct pv *e = &s.v[i];
                const struct pst_prop *p = pst_props_find(m->props, m->n_props, (uint16_t)e->id);

                snprintf(what, sizeof(what), "%s: %s: property 0x%04x", name, dir, e->id);
                if (!p)
                        fail_msg("%s (type 0x%04x) is not among ours", what, e->type);
                if (p->type != e->type)
                        fail_msg("%s: type 0x%04x, pffexport 0x%04x", what, p->type, e->type);
                same_value(what, p, e);
                if (e->has_lid) {
                        if (!p->named || p->named->is_string || p->named->lid != e->lid)
                                fail_msg("%s: named 0x%x, pffexport 0x%x", what,
                                         p->named ? p->named->lid : 0, e->lid);
                        seen.named_lid++;
                } else if (e->has_name) {
                        if (!p->named || !p->named->is_string || strcmp(p->named->name, e->name) != 0)
                                fail_msg("%s: named \"%s\", pffexport \"%s\"", what,
                                         p->named && p->named->is_string ? p->named->name : "", e->name);
                        seen.named_string++;
                }
                seen.props++;
        }
        if (s.n != m->n_props)
                fail_msg("%s: %s: %zu properties, pffexport %zu", name, dir, m->n_props, s.n);
        pvs_done(&s);

        for (size_t i = 0; i < m->n_attachments; i++) {
                const struct pst_attachment *a = &m->attachments[i];

                if (a->embedded) {
                        snprintf(sub, sizeof(sub), "%s/Attachments/Attachment%05zu", dir, i + 1);
                        if (!find_item(sub, 1, item, sizeof(item)))
                                fail_msg("%s: %s: no directory for embedded message %zu", name, dir, i + 1);
                        compare_item(name, item, a->embedded);
                        seen.embedded++;
                } else if (a->data && find_attachment_file(dir, (unsigned)i + 1, item, sizeof(item))) {
                        size_t n;
                        uint8_t *b = read_all(item, &n);

                        if (n != a->len || memcmp(b, a->data, n) != 0)
                                fail_msg("%s: %s: %zu bytes, ours %zu or different", name, item, n, a->len);
                        free(b);
                        seen.attachments++;
                }
        }
}

/* ---- one file -------------------------------------------------------------- */

struct tfolder {
        uint32_t nid;
        char path[2048];
};

/* libpff numbers the items of a folder (Message00001...) in the order of
 * the node B-tree among all nodes whose parent it is: subfolders and FAI
 * items included, by NID, not in contents-table order. */
struct child {
        uint32_t nid, parent;
};

static struct child *children;
static size_t n_children;

static void load_children(struct pst_file *f)
{
        static const uint8_t types[] = { 0x02, 0x03, 0x04, 0x08 };
        struct pst_diag diag = {};
        struct pst_want want;

        free(children);
        children = NULL;
        n_children = 0;
        for (size_t t = 0; t < ELEMENTSOF(types); t++) {
                uint32_t *nids;
                size_t n;

                if (pst_nbt_list(f, types[t], &nids, &n, &want, &diag) < 0)
                        fail_msg("NBT listing: %s", diag.msg);
                children = realloc(children, (n_children + n + 1) * sizeof(*children));
                assert_non_null(children);
                for (size_t i = 0; i < n; i++) {
                        struct pst_nbt_entry e;

                        assert_int_equal(pst_nbt_lookup(f, nids[i], &e, &want, &diag), 0);
                        children[n_children++] = (struct child){ .nid = nids[i], .parent = e.nid_parent };
                }
                free(nids);
        }
}

static unsigned pff_index(uint32_t nid, uint32_t parent)
{
        unsigned k = 1;

        for (size_t i = 0; i < n_children; i++)
                k += children[i].parent == parent && children[i].nid < nid;
        return k;
}

/* pffexport writes a folder name with '/', '\\' and '~' as '_'. */
static void pff_name(const char *in, char *out, size_t outsz)
{
        size_t i = 0;

        for (; in[i] && i + 1 < outsz; i++)
                out[i] = in[i] == '/' || in[i] == '\\' || in[i] == '~' ? '_' : in[i];
        out[i] = '\0';
}

static struct tfolder *folder_of(struct tfolder *fo, size_t n, uint32_t nid)
{
        for (size_t i = 0; i < n; i++)
                if (fo[i].nid == nid)
                        return &fo[i];
        return NULL;
}

static void test_file(void **state)
{
        const struct tfile *t = *state;
        const struct pst_walk_opts opts = { .messages = true };
        static struct tfolder folders[MAX_FOLDERS];
        char tmpl[] = "/tmp/pstream-msg-XXXXXX", target[4200], cmd[12000];
        struct pst_file *f, *fed;
        struct pst_walk *w;
        struct pst_walk_item it;
        struct pst_diag diag = {};
        struct pst_want want;
        size_t size, n_folders = 0;
        unsigned msgs = 0, compared = 0;
        uint8_t *img = read_all(t->path, &size);
        int r;

        if (have_pffexport) {
                assert_non_null(mkdtemp(tmpl));
                snprintf(target, sizeof(target), "%s/x", tmpl);
                snprintf(cmd, sizeof(cmd), "pffexport -q -d -f all -t '%s' '%s' >/dev/null 2>&1", target,
                         t->path);
                assert_int_equal(system(cmd), 0);
        }
        f = open_pst(img, size, true);
        fed = open_pst(img, size, false);
        load_children(f);
        assert_int_equal(pst_walk_new(f, &opts, &w), 0);
        while ((r = pst_walk_next(w, &it, &want, &diag)) != 0) {
                const struct pst_message *wm = &it.message;
                const struct pst_problem *pr;
                struct pst_msg *m, *m2;
                struct tfolder *fo;
                struct totals tot = {};
                uint8_t *eml;
                size_t eml_len, np, more;
                char dir[8192], item[8300];

                if (r < 0)
                        fail_msg("%s: walk: %d %s", t->name, r, diag.msg);
                if (it.kind == PST_WALK_PROBLEM)
                        fail_msg("%s: walk problem at 0x%x: %s", t->name, it.problem.nid, it.problem.diag.msg);
                if (it.kind == PST_WALK_FOLDER) {
                        struct tfolder *parent = folder_of(folders, n_folders, it.folder.parent_nid);
                        char s[512];

                        assert_true(n_folders < MAX_FOLDERS);
                        fo = &folders[n_folders++];
                        *fo = (struct tfolder){ .nid = it.folder.nid };
                        if (parent) {
                                pff_name(it.folder.name, s, sizeof(s));
                                snprintf(fo->path, sizeof(fo->path), "%.1000s%s%.500s", parent->path,
                                         parent->path[0] ? "/" : "", s);
                        }
                        continue;
                }
                msgs++;
                r = pst_msg_read(f, wm->nid, &m, &want, &diag);
                if (r < 0)
                        fail_msg("%s: message 0x%x: %d %s", t->name, wm->nid, r, diag.msg);
                pr = pst_msg_problems(m, &np, &more);
                for (size_t i = 0; i < np; i++)
                        printf("# %s: message 0x%x: %s\n", t->name, wm->nid, pr[i].diag.msg);
                assert_int_equal(np + more, 0);

                assert_int_equal(m->n_recipients, wm->n_recipients);
                assert_int_equal(m->n_attachments, wm->n_attachments);
                count(m, &tot);
                assert_int_equal(tot.attachments, wm->n_attachments_all);
                assert_int_equal(tot.embedded, wm->n_embedded_all);
                assert_int_equal(tot.bytes, wm->attach_bytes);

                m2 = read_fed(fed, img, size, wm->nid);
                same_msg(m, m2);
                pst_msg_free(m2);

                assert_int_equal(pst_msg_render(m, &eml, &eml_len), 0);
                assert_true(eml_len > 0 && strstr((char *)eml, "MIME-Version: 1.0\r\n") != NULL);
                free(eml);

                fo = folder_of(folders, n_folders, wm->folder_nid);
                assert_non_null(fo);
                if (have_pffexport && !wm->fai) {
                        snprintf(dir, sizeof(dir), "%s.export/%s", target, fo->path);
                        if (find_item(dir, pff_index(wm->nid, wm->folder_nid), item, sizeof(item))) {
                                compare_item(t->name, item, m);
                                compared++;
                        }
                }
                pst_msg_free(m);
        }
        printf("# %s: %u messages decoded, %u compared with pffexport\n", t->name, msgs, compared);
        pst_walk_free(w);
        pst_file_free(fed);
        pst_file_free(f);
        free(img);
        if (have_pffexport) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
                assert_int_equal(system(cmd), 0);
        }
}

/* The comparison was not vacuous: it met every kind it checks. */
static void test_coverage(void **state)
{
        (void)state;
        if (!have_pffexport || n_files == 0)
                skip();
        printf("# compared %u items, %u properties (%u multi-valued, %u named by number, %u by string),"
               " %u attachment files, %u embedded messages\n",
               seen.items, seen.props, seen.mv, seen.named_lid, seen.named_string, seen.attachments,
               seen.embedded);
        assert_true(seen.items > 0);
        assert_true(seen.mv > 0);
        assert_true(seen.named_lid > 0);
        assert_true(seen.named_string > 0);
        assert_true(seen.attachments > 0);
        assert_true(seen.embedded > 0);
}

static void add(const char *path, const char *name)
{
        if (n_files == MAX_FILES || access(path, R_OK) != 0)
                return;
        snprintf(files[n_files].path, sizeof(files[n_files].path), "%s", path);
        snprintf(files[n_files].name, sizeof(files[n_files].name), "%s", name);
        tests[n_tests++] = (struct CMUnitTest){
                .name = files[n_files].name,
                .test_func = test_file,
                .initial_state = &files[n_files],
        };
        n_files++;
}

int main(void)
{
        const char *corpus = getenv("PSTREAM_CORPUS"), *nm = getenv("PSTREAM_NODE_MODULES");
        static const char *const npm[] = { "enron.pst", "pstextractortest@outlook.com.ost",
                                           "pstextractortestpdf@outlook.com.ost" };
        char path[4096], line[2048];
        FILE *m;

        have_pffexport = system("command -v pffexport >/dev/null 2>&1") == 0;
        if (!have_pffexport)
                printf("# pffexport not installed: values not compared with it\n");
        if (corpus) {
                snprintf(path, sizeof(path), "%s/MANIFEST.tsv", corpus);
                m = fopen(path, "re");
                while (m && fgets(line, sizeof(line), m)) {
                        line[strcspn(line, "\t\n")] = '\0';
                        if (strcmp(line, "name") != 0 && line[0]) {
                                snprintf(path, sizeof(path), "%s/%s", corpus, line);
                                add(path, line);
                        }
                }
                if (m)
                        fclose(m);
        }
        for (size_t i = 0; nm && i < ELEMENTSOF(npm); i++) {
                snprintf(path, sizeof(path), "%s/pst-extractor/example/testdata/%s", nm, npm[i]);
                add(path, npm[i]);
        }
        if (n_files == 0) {
                printf("1..0 # SKIP no corpus (PSTREAM_CORPUS) and no pst-extractor files\n");
                return 77;
        }
        tests[n_tests++] = (struct CMUnitTest){ .name = "coverage", .test_func = test_coverage };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
