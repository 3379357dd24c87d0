/* SPDX-License-Identifier: MIT
 *
 * inspect.c - `pstream inspect`: drives pst_walk_next() with reads of the
 * bytes it wants, and prints what it met.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect.h"
#include "io/base/macro.h"
#include "json.h"
#include "pstream/io.h"

struct reader {
        int fd;
        uint8_t *buf;
        size_t buflen;
};

/* Read and feed one want. */
static int feed(struct pst_file *pf, struct reader *rd, const struct pst_want *want,
                struct pst_diag *diag)
{
        ssize_t n;

        if (want->len > rd->buflen) {
                uint8_t *nb = realloc(rd->buf, want->len);

                if (!nb)
                        return -ENOMEM;
                rd->buf = nb;
                rd->buflen = want->len;
        }
        n = io_pread_full(rd->fd, rd->buf, want->len, want->offset);
        if (n < 0) {
                snprintf(diag->msg, sizeof(diag->msg), "read at %" PRIu64 ": %s", want->offset,
                         strerror((int)-n));
                return (int)n;
        }
        /* -EFBIG (cache full) is reported by the walk's next step. */
        n = pst_file_feed(pf, want->offset, rd->buf, (size_t)n);
        return n == -ENOMEM ? -ENOMEM : 0;
}

static int add_problem(struct inspect_result *res, const struct pst_problem *p)
{
        res->problems_total++;
        if (res->n_problems == INSPECT_MAX_PROBLEMS)
                return 0;
        if (res->n_problems % 64 == 0) {
                struct pst_problem *n = realloc(res->problems,
                                                (res->n_problems + 64) * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                res->problems = n;
        }
        res->problems[res->n_problems++] = *p;
        return 0;
}

static int add_folder(struct inspect_result *res, const struct pst_folder *fo)
{
        if (res->n_folders % 64 == 0) {
                struct pst_folder *n = realloc(res->folders, (res->n_folders + 64) * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                res->folders = n;
        }
        res->folders[res->n_folders++] = *fo;
        return 0;
}

static int walk(struct pst_file *pf, struct reader *rd, struct inspect_result *res,
                struct pst_diag *diag)
{
        const struct pst_walk_opts opts = { .messages = true };
        struct pst_walk *w = NULL;
        struct pst_walk_item it;
        struct pst_want want;
        int r;

        r = pst_walk_new(pf, &opts, &w);
        if (r < 0)
                return r;
        for (;;) {
                r = pst_walk_next(w, &it, &want, diag);
                if (r == -EAGAIN) {
                        r = feed(pf, rd, &want, diag);
                        if (r < 0)
                                break;
                        continue;
                }
                if (r <= 0)
                        break;
                if (it.kind == PST_WALK_FOLDER) {
                        r = add_folder(res, &it.folder);
                } else if (it.kind == PST_WALK_MESSAGE) {
                        const struct pst_message *m = &it.message;

                        if (m->fai)
                                res->fai++;
                        else
                                res->messages++;
                        res->attachments += m->n_attachments;
                        res->embedded += m->n_embedded;
                        res->attachments_all += m->n_attachments_all;
                        res->embedded_all += m->n_embedded_all;
                } else {
                        r = add_problem(res, &it.problem);
                }
                if (r < 0)
                        break;
        }
        pst_walk_free(w);
        return r;
}

int inspect_file(const char *path, struct inspect_result *res, struct pst_diag *diag)
{
        struct reader rd = { .fd = -1 };
        uint8_t hdr[PST_HEADER_SIZE];
        struct pst_file *pf = NULL;
        struct stat st;
        ssize_t n;
        int r;

        *res = (struct inspect_result){};
        rd.fd = open(path, O_RDONLY | O_CLOEXEC);
        if (rd.fd < 0) {
                r = -errno;
                snprintf(diag->msg, sizeof(diag->msg), "cannot open: %s", strerror(errno));
                return r;
        }
        if (fstat(rd.fd, &st) < 0) {
                r = -errno;
                snprintf(diag->msg, sizeof(diag->msg), "cannot stat: %s", strerror(errno));
                goto out;
        }
        n = io_pread_full(rd.fd, hdr, sizeof(hdr), 0);
        if (n < 0) {
                r = (int)n;
                snprintf(diag->msg, sizeof(diag->msg), "cannot read the header: %s", strerror(-r));
                goto out;
        }
        r = pst_file_new(hdr, (size_t)n, (uint64_t)st.st_size, NULL, &pf, diag);
        if (r < 0)
                goto out;
        res->hdr = *pst_file_header(pf);

        {
                struct pst_want want;
                struct pst_diag d = {};

                while ((r = pst_store_info(pf, &res->store, &want, &d)) == -EAGAIN) {
                        r = feed(pf, &rd, &want, &d);
                        if (r < 0)
                                break;
                }
                if (r == -ENOMEM || r == -EIO) {
                        *diag = d;
                        goto out;
                }
                if (r < 0) {
                        struct pst_problem p = { .nid = 0x21, .error = r, .diag = d };

                        r = add_problem(res, &p);
                        if (r < 0)
                                goto out;
                } else {
                        res->store_ok = true;
                }
        }
        r = walk(pf, &rd, res, diag);
out:
        pst_file_free(pf);
        free(rd.buf);
        close(rd.fd);
        return r;
}

void inspect_result_done(struct inspect_result *res)
{
        free(res->folders);
        free(res->problems);
        *res = (struct inspect_result){};
}

void inspect_print_text(FILE *out, const char *path, const struct inspect_result *res)
{
        fprintf(out, "file:        %s\n", path);
        fprintf(out, "format:      %s %s (wVer %u)\n", pst_format_name(res->hdr.format),
                pst_kind_name(res->hdr.kind), res->hdr.wver);
        fprintf(out, "encryption:  %s\n", pst_crypt_name(res->hdr.crypt));
        if (res->store_ok) {
                fprintf(out, "password:    %s\n", res->store.has_password ? "yes" : "no");
                fprintf(out, "store name:  %s\n", res->store.display_name);
        }
        fputs("folders:\n", out);
        for (size_t i = 0; i < res->n_folders; i++) {
                const struct pst_folder *fo = &res->folders[i];

                fprintf(out, "  %*s%s [0x%" PRIx32 "]", (int)MIN(fo->depth, 40u) * 2, "",
                        fo->name[0] ? fo->name : "(no name)", fo->nid);
                if (fo->search)
                        fputs(" search folder\n", out);
                else
                        fprintf(out, " messages %" PRIu32 ", FAI %" PRIu32 "%s\n", fo->n_messages,
                                fo->n_fai, fo->ipm_subtree ? " (IPM subtree)" : "");
        }
        fprintf(out,
                "totals:      %zu folders, %" PRIu64 " messages, %" PRIu64 " FAI, %" PRIu64
                " attachments (%" PRIu64 " embedded messages); with nested: %" PRIu64
                " attachments, %" PRIu64 " embedded\n",
                res->n_folders, res->messages, res->fai, res->attachments, res->embedded,
                res->attachments_all, res->embedded_all);
        fprintf(out, "problems:    %" PRIu64 "\n", res->problems_total);
        for (size_t i = 0; i < res->n_problems; i++) {
                const struct pst_problem *p = &res->problems[i];

                fprintf(out, "  node 0x%" PRIx32 ": %s", p->nid, p->diag.msg);
                if (p->diag.offset != 0)
                        fprintf(out, " (file offset 0x%" PRIx64 ")", p->diag.offset);
                fputc('\n', out);
        }
        if (res->problems_total > res->n_problems)
                fprintf(out, "  (%" PRIu64 " more not listed)\n",
                        res->problems_total - res->n_problems);
}

void inspect_print_json(FILE *out, const char *path, const struct inspect_result *res)
{
        fputs("{\"file\": ", out);
        json_string(out, path);
        fprintf(out, ", \"format\": \"%s\", \"kind\": \"%s\", \"wver\": %u, \"encryption\": \"%s\"",
                pst_format_name(res->hdr.format), pst_kind_name(res->hdr.kind), res->hdr.wver,
                pst_crypt_name(res->hdr.crypt));
        if (res->store_ok) {
                fprintf(out, ", \"password\": %s, \"store_name\": ",
                        res->store.has_password ? "true" : "false");
                json_string(out, res->store.display_name);
        }
        fputs(", \"folders\": [", out);
        for (size_t i = 0; i < res->n_folders; i++) {
                const struct pst_folder *fo = &res->folders[i];

                fprintf(out, "%s\n  {\"nid\": %" PRIu32 ", \"parent\": %" PRIu32 ", \"depth\": %u, \"name\": ",
                        i ? "," : "", fo->nid, fo->parent_nid, fo->depth);
                json_string(out, fo->name);
                fprintf(out,
                        ", \"search\": %s, \"ipm_subtree\": %s, \"messages\": %" PRIu32
                        ", \"fai\": %" PRIu32 ", \"subfolders\": %" PRIu32 "}",
                        fo->search ? "true" : "false", fo->ipm_subtree ? "true" : "false",
                        fo->n_messages, fo->n_fai, fo->n_subfolders);
        }
        fprintf(out,
                "],\n \"totals\": {\"folders\": %zu, \"messages\": %" PRIu64 ", \"fai\": %" PRIu64
                ", \"attachments\": %" PRIu64 ", \"embedded\": %" PRIu64
                ", \"attachments_nested\": %" PRIu64 ", \"embedded_nested\": %" PRIu64 "}",
                res->n_folders, res->messages, res->fai, res->attachments, res->embedded,
                res->attachments_all, res->embedded_all);
        fprintf(out, ",\n \"problems_total\": %" PRIu64 ", \"problems\": [", res->problems_total);
        for (size_t i = 0; i < res->n_problems; i++) {
                fprintf(out, "%s\n  {\"nid\": %" PRIu32 ", \"offset\": %" PRIu64 ", \"error\": %d, \"message\": ",
                        i ? "," : "", res->problems[i].nid, res->problems[i].diag.offset,
                        res->problems[i].error);
                json_string(out, res->problems[i].diag.msg);
                fputc('}', out);
        }
        fputs("]}\n", out);
}
