/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-mime.c - pst_mime_render() on a message built from the input:
 * the bytes are cut at NUL into fields (transport headers, addresses,
 * subject, ids, bodies, attachment names, types and data) taken in a fixed
 * order, and a field starting with 0x01 opens an embedded message (nested
 * up to 20 deep, past the renderer's limit of 16).  The render must succeed
 * or fail cleanly, be NUL-terminated, have CRLF line ends and no line over
 * 998 bytes, and render the same bytes twice.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pstream/pst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ADDRS 4
#define MAX_PARTS 4
#define MAX_LEVELS 20

struct level {
        struct pst_mime_msg m;
        struct pst_mime_addr to[MAX_ADDRS], cc[MAX_ADDRS], bcc[MAX_ADDRS];
        struct pst_mime_part parts[MAX_PARTS];
};

struct input {
        char *p, *end; /* a NUL-terminated copy of the input */
};

/* The next NUL-terminated field, NULL when the input is used up; a field
 * that is a single "-" stands for an absent (NULL) one. */
static const char *field(struct input *in)
{
        char *f = in->p;

        if (in->p >= in->end)
                return NULL;
        in->p += strlen(in->p) + 1;
        return strcmp(f, "-") ? f : NULL;
}

static size_t count(struct input *in, size_t max)
{
        const char *f = field(in);

        return f ? (size_t)(unsigned char)f[0] % (max + 1) : 0;
}

static void build(struct level *lv, unsigned depth, struct input *in)
{
        struct level *l = &lv[depth];
        struct pst_mime_msg *m = &l->m;
        const char *f;

        memset(l, 0, sizeof(*l));
        m->transport_headers = field(in);
        m->from.name = field(in);
        m->from.addr = field(in);
        m->n_to = count(in, MAX_ADDRS);
        for (size_t i = 0; i < m->n_to; i++)
                l->to[i] = (struct pst_mime_addr){ .name = field(in), .addr = field(in) };
        m->n_cc = count(in, MAX_ADDRS);
        for (size_t i = 0; i < m->n_cc; i++)
                l->cc[i] = (struct pst_mime_addr){ .name = field(in), .addr = field(in) };
        m->n_bcc = count(in, MAX_ADDRS);
        for (size_t i = 0; i < m->n_bcc; i++)
                l->bcc[i] = (struct pst_mime_addr){ .name = field(in), .addr = field(in) };
        m->to = l->to;
        m->cc = l->cc;
        m->bcc = l->bcc;
        m->subject = field(in);
        f = field(in);
        if (f && strlen(f) >= 8) {
                uint64_t v;

                memcpy(&v, f, sizeof(v));
                m->has_date = true;
                m->date = (int64_t)v;
        }
        m->message_id = field(in);
        m->in_reply_to = field(in);
        m->references = field(in);
        m->body_text = field(in);
        m->body_text_len = m->body_text ? strlen(m->body_text) : 0;
        m->body_html = field(in);
        m->body_html_len = m->body_html ? strlen(m->body_html) : 0;
        m->n_parts = count(in, MAX_PARTS);
        for (size_t i = 0; i < m->n_parts; i++) {
                struct pst_mime_part *p = &l->parts[i];

                p->filename = field(in);
                p->mime_type = field(in);
                p->content_id = field(in);
                f = field(in);
                p->is_inline = f && f[0] == 'i';
                if (f && f[0] == 0x01 && depth + 1 < MAX_LEVELS) {
                        build(lv, depth + 1, in);
                        p->message = &lv[depth + 1].m;
                } else {
                        p->data = (const uint8_t *)f;
                        p->len = f ? strlen(f) : 0;
                }
        }
        m->parts = l->parts;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct level lv[MAX_LEVELS];
        struct input in;
        uint8_t *out = NULL, *again = NULL;
        size_t len = 0, len2 = 0;
        char *copy;
        int r, r2;

        if (size > (1u << 16))
                return 0;
        copy = malloc(size + 1);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        copy[size] = '\0';
        in = (struct input){ .p = copy, .end = copy + size };
        build(lv, 0, &in);

        r = pst_mime_render(&lv[0].m, &out, &len);
        assert(r == 0 || r == -EFBIG || r == -ENOMEM);
        if (r == 0) {
                size_t line = 0;

                assert(out[len] == '\0');
                for (size_t i = 0; i < len; i++) {
                        if (out[i] == '\n') {
                                assert(i > 0 && out[i - 1] == '\r');
                                line = 0;
                        } else {
                                assert(++line <= 998 + 1);
                        }
                }
                r2 = pst_mime_render(&lv[0].m, &again, &len2);
                assert(r2 == 0 && len2 == len && memcmp(out, again, len) == 0);
        }
        free(out);
        free(again);
        free(copy);
        return 0;
}
