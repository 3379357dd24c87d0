/* SPDX-License-Identifier: MIT
 *
 * gen-item.c - one message of a generated estate, from its seed: envelope
 * (sender, recipients, dates, message id) from the mailbox's directory of
 * people, a subject and body either synthetic or harvested from the real
 * corpus, attachments cut from the shared byte pool, sometimes a forwarded
 * message embedded; and the item content hash.
 */
#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "bench/gen.h"
#include "io/base/macro.h"

/* Property ids ([MS-OXPROPS]). */
enum {
        PID_IMPORTANCE = 0x0017,
        PID_MESSAGE_CLASS = 0x001A,
        PID_SUBJECT = 0x0037,
        PID_CLIENT_SUBMIT_TIME = 0x0039,
        PID_SENT_REPR_NAME = 0x0042,
        PID_SENT_REPR_ADDRTYPE = 0x0064,
        PID_SENT_REPR_EMAIL = 0x0065,
        PID_SENDER_NAME = 0x0C1A,
        PID_SENDER_ADDRTYPE = 0x0C1E,
        PID_SENDER_EMAIL = 0x0C1F,
        PID_RECIPIENT_TYPE = 0x0C15,
        PID_DISPLAY_CC = 0x0E03,
        PID_DISPLAY_TO = 0x0E04,
        PID_DELIVERY_TIME = 0x0E06,
        PID_MESSAGE_FLAGS = 0x0E07,
        PID_OBJECT_TYPE = 0x0FFE,
        PID_BODY = 0x1000,
        PID_HTML = 0x1013,
        PID_INTERNET_MESSAGE_ID = 0x1035,
        PID_IN_REPLY_TO = 0x1042,
        PID_DISPLAY_NAME = 0x3001,
        PID_ADDRTYPE = 0x3002,
        PID_EMAIL = 0x3003,
        PID_ATTACH_FILENAME = 0x3704,
        PID_ATTACH_METHOD = 0x3705,
        PID_ATTACH_LONG_FILENAME = 0x3707,
        PID_RENDERING_POSITION = 0x370B,
        PID_ATTACH_MIME = 0x370E,
        PID_ATTACH_CONTENT_ID = 0x3712,
        PID_DISPLAY_TYPE = 0x3900,
        PID_SMTP_ADDRESS = 0x39FE,
        PID_SENDER_SMTP = 0x5D01,
};

#define MSGFLAG_READ 0x01
#define MSGFLAG_HASATTACH 0x10
#define FILETIME_UNIX_OFFSET 11644473600ll

static const struct pst_named named_keywords = {
        /* PS_PUBLIC_STRINGS {00020329-0000-0000-C000-000000000046}, "Keywords" */
        .guid = { 0x29, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00,
                  0x00, 0x46 },
        .is_string = true,
        .name = "Keywords",
};

static const struct pst_named named_reminder_set = {
        /* PSETID_Common {00062008-0000-0000-C000-000000000046}, PidLidReminderSet */
        .guid = { 0x08, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00,
                  0x00, 0x46 },
        .lid = 0x8503,
};

static const char *const categories[] = { "Important", "Follow up", "Personal", "Project",
                                          "Waiting", "Finance", "Travel" };

/* ---- text ------------------------------------------------------------------ */

struct sbuf {
        char *p;
        size_t len, cap;
};

static void sb_init(struct sbuf *s, struct gen_arena *a, size_t cap)
{
        s->p = gen_alloc(a, cap + 1);
        s->len = 0;
        s->cap = cap;
        s->p[0] = 0;
}

static void sb_add(struct sbuf *s, const char *t)
{
        size_t n = MIN(strlen(t), s->cap - s->len);

        memcpy(s->p + s->len, t, n);
        s->len += n;
        s->p[s->len] = 0;
}

static const char *word(struct gen_rng *r)
{
        /* Favour the first (function) words as prose does. */
        uint64_t x = gen_rng_below(r, 100);

        return gen_words[x < 40 ? gen_rng_below(r, 64) : gen_rng_below(r, gen_n_words)];
}

/* Sentences until about len bytes. */
static void prose(struct sbuf *s, struct gen_rng *r, size_t len, const char *par_sep)
{
        size_t end = MIN(s->len + len, s->cap);

        while (s->len < end) {
                unsigned n = 4 + (unsigned)gen_rng_below(r, 14);
                char w[32];

                for (unsigned i = 0; i < n && s->len < end; i++) {
                        const char *x = word(r);

                        if (i == 0) {
                                snprintf(w, sizeof(w), "%c%s", x[0] - 'a' + 'A', x + 1);
                                sb_add(s, w);
                        } else {
                                sb_add(s, " ");
                                sb_add(s, x);
                        }
                }
                sb_add(s, gen_rng_below(r, 6) == 0 ? "?" : ".");
                sb_add(s, gen_rng_below(r, 5) == 0 ? par_sep : " ");
        }
}

static char *subject_text(struct gen_arena *a, struct gen_rng *r)
{
        struct sbuf s;
        unsigned n = 2 + (unsigned)gen_rng_below(r, 5);
        uint64_t k = gen_rng_below(r, 100);

        sb_init(&s, a, 200);
        for (unsigned i = 0; i < n; i++) {
                const char *w = gen_words[64 + gen_rng_below(r, gen_n_words - 64)];
                char t[32];

                snprintf(t, sizeof(t), "%s%c%s", i ? " " : "", i ? w[0] : w[0] - 'a' + 'A', w + 1);
                sb_add(&s, t);
        }
        if (k < 15) {
                char t[32];

                snprintf(t, sizeof(t), " - Q%u", 1 + (unsigned)gen_rng_below(r, 4));
                sb_add(&s, t);
        } else if (k < 25) {
                char t[32];

                snprintf(t, sizeof(t), " #%u", (unsigned)gen_rng_below(r, 100000));
                sb_add(&s, t);
        }
        return s.p;
}

/* ---- properties -------------------------------------------------------------- */

struct props {
        struct pst_prop *v;
        size_t n, cap;
};

static void props_init(struct props *p, struct gen_arena *a, size_t cap)
{
        p->v = gen_alloc(a, cap * sizeof(*p->v));
        p->n = 0;
        p->cap = cap;
}

static struct pst_prop *prop(struct props *p, uint16_t id, uint16_t type)
{
        struct pst_prop *x;

        if (p->n == p->cap)
                abort(); /* our own sizing is wrong */
        x = &p->v[p->n++];
        *x = (struct pst_prop){ .id = id, .type = type };
        return x;
}

static void p_str(struct props *p, uint16_t id, const char *s)
{
        struct pst_prop *x = prop(p, id, PST_PT_UNICODE);

        x->v.data = (const uint8_t *)s;
        x->v.len = strlen(s);
}

static void p_int(struct props *p, uint16_t id, uint16_t type, int64_t v)
{
        prop(p, id, type)->v.i = v;
}

static int64_t filetime(int64_t unix_s)
{
        return (unix_s + FILETIME_UNIX_OFFSET) * 10000000ll;
}

static void recipient(struct gen_arena *a, struct pst_recipient *rc, const struct gen_person *pe,
                      int type)
{
        struct props p;

        props_init(&p, a, 8);
        p_int(&p, PID_RECIPIENT_TYPE, PST_PT_I4, type);
        p_int(&p, PID_OBJECT_TYPE, PST_PT_I4, 6); /* MAPI_MAILUSER */
        p_str(&p, PID_DISPLAY_NAME, pe->name);
        p_str(&p, PID_ADDRTYPE, "SMTP");
        p_str(&p, PID_EMAIL, pe->smtp);
        p_int(&p, PID_DISPLAY_TYPE, PST_PT_I4, 0);
        p_str(&p, PID_SMTP_ADDRESS, pe->smtp);
        rc->props = p.v;
        rc->n_props = p.n;
}

/* ---- attachments ------------------------------------------------------------- */

static const struct {
        const char *ext, *mime;
        unsigned weight;
        double median;
} attach_types[] = {
        { "pdf", "application/pdf", 25, 150e3 },
        { "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 15,
          60e3 },
        { "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 12, 40e3 },
        { "jpg", "image/jpeg", 18, 250e3 },
        { "png", "image/png", 8, 40e3 },
        { "zip", "application/zip", 5, 400e3 },
        { "txt", "text/plain", 7, 4e3 },
        { "csv", "text/csv", 5, 20e3 },
        { "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", 5,
          900e3 },
};

static const char *const unicode_stems[] = { "Präsentation", "Résumé", "Ångström-Messung",
                                             "Übersicht", "Año fiscal", "Données clés" };

static void attach_props(struct gen_arena *a, struct pst_attachment *at, int method,
                         const char *filename, const char *mime, const char *display)
{
        struct props p;

        props_init(&p, a, 8);
        p_str(&p, PID_DISPLAY_NAME, display);
        if (filename)
                p_str(&p, PID_ATTACH_FILENAME, filename);
        p_int(&p, PID_ATTACH_METHOD, PST_PT_I4, method);
        if (filename)
                p_str(&p, PID_ATTACH_LONG_FILENAME, filename);
        p_int(&p, PID_RENDERING_POSITION, PST_PT_I4, -1);
        if (mime)
                p_str(&p, PID_ATTACH_MIME, mime);
        at->props = p.v;
        at->n_props = p.n;
}

static void synth_attachment(const struct gen_mailbox_ctx *mb, struct gen_rng *r,
                             struct gen_arena *a, struct pst_attachment *at)
{
        unsigned total = 0, pick;
        size_t t = 0, len;
        char *name;

        for (size_t i = 0; i < ELEMENTSOF(attach_types); i++)
                total += attach_types[i].weight;
        pick = (unsigned)gen_rng_below(r, total);
        while (pick >= attach_types[t].weight)
                pick -= attach_types[t++].weight;
        /* Most attachments are small, a few are megabytes. */
        len = (size_t)gen_rng_lognormal(r, attach_types[t].median, 1.2, 120, GEN_ATTACH_MAX);
        if (gen_rng_below(r, 20) == 0)
                name = gen_printf(a, "%s %u.%s",
                                  unicode_stems[gen_rng_below(r, ELEMENTSOF(unicode_stems))],
                                  (unsigned)gen_rng_below(r, 100), attach_types[t].ext);
        else
                name = gen_printf(a, "%s_%s_%u.%s", gen_words[64 + gen_rng_below(r, gen_n_words - 64)],
                                  gen_words[64 + gen_rng_below(r, gen_n_words - 64)],
                                  (unsigned)gen_rng_below(r, 1000), attach_types[t].ext);
        attach_props(a, at, 1, name, attach_types[t].mime, name);
        at->data = mb->bytes->data + gen_rng_below(r, mb->bytes->size);
        at->len = len;
}

/* ---- messages ---------------------------------------------------------------- */

static const struct gen_person *contact(const struct gen_mailbox_ctx *mb, struct gen_rng *r)
{
        return &mb->people->p[mb->contacts[gen_rng_below(r, mb->n_contacts)]];
}

/* A message; depth > 0 for an embedded one (no further embedding). */
static void make_msg(const struct gen_mailbox_ctx *mb, struct gen_rng *r, struct gen_arena *a,
                     unsigned depth, struct gen_item *it)
{
        const struct gen_person *owner = &mb->people->p[mb->owner];
        const struct gen_corpus_msg *cm = NULL;
        const struct gen_person *from, *to[4], *cc[4];
        unsigned n_to, n_cc = 0, n_att = 0, n_cm_att = 0;
        struct pst_recipient *rcpt;
        struct pst_attachment *att;
        struct props p;
        int64_t t = mb->t_start + (int64_t)gen_rng_below(r, (uint64_t)(mb->t_end - mb->t_start));
        bool sent = depth == 0 && it->folder == GEN_FOLDER_SENT;
        bool reply = gen_rng_below(r, 100) < 30;
        const char *subject, *body;
        size_t body_len;
        struct sbuf sb, to_line, cc_line;
        char *msgid;

        if (mb->corpus->n_msgs && gen_rng_unit(r) < mb->corpus_rate)
                cm = &mb->corpus->msgs[gen_rng_below(r, mb->corpus->n_msgs)];

        if (sent) {
                from = owner;
                n_to = 1 + (unsigned)gen_rng_below(r, 3);
                for (unsigned i = 0; i < n_to; i++)
                        to[i] = contact(mb, r);
        } else {
                from = contact(mb, r);
                to[0] = owner;
                n_to = 1 + (unsigned)gen_rng_below(r, 3);
                for (unsigned i = 1; i < n_to; i++)
                        to[i] = contact(mb, r);
        }
        if (gen_rng_below(r, 100) < 30) {
                n_cc = 1 + (unsigned)gen_rng_below(r, 4);
                for (unsigned i = 0; i < n_cc; i++)
                        cc[i] = contact(mb, r);
        }

        /* Subject and body. */
        if (cm && cm->subject[0])
                subject = cm->subject;
        else
                subject = subject_text(a, r);
        if (reply && !cm)
                subject = gen_printf(a, "%s%s", gen_rng_below(r, 4) ? "RE: " : "FW: ", subject);
        if (cm && cm->body) {
                body = cm->body;
                body_len = cm->body_len;
        } else {
                size_t len = (size_t)gen_rng_lognormal(r, 900, 0.9, 40, 48 * KIB);
                char line[256];

                sb_init(&sb, a, len + 1024 + (reply ? 2 * len + 512 : 0));
                snprintf(line, sizeof(line), "Hi %.*s,\r\n\r\n", (int)strcspn(to[0]->name, " "),
                         to[0]->name);
                sb_add(&sb, line);
                prose(&sb, r, len, "\r\n\r\n");
                snprintf(line, sizeof(line), "\r\n\r\nRegards,\r\n%s\r\n", from->name);
                sb_add(&sb, line);
                if (reply) {
                        const struct gen_person *q = contact(mb, r);

                        snprintf(line, sizeof(line),
                                 "\r\n-----Original Message-----\r\nFrom: %s <%s>\r\nSubject: ",
                                 q->name, q->smtp);
                        sb_add(&sb, line);
                        sb_add(&sb, subject);
                        sb_add(&sb, "\r\n\r\n");
                        prose(&sb, r, 2 * len, "\r\n\r\n");
                }
                body = sb.p;
                body_len = sb.len;
        }

        msgid = gen_printf(a, "<%016llx.%llx@%s>", (unsigned long long)gen_rng_next(r),
                           (unsigned long long)t, strchr(from->smtp, '@') + 1);

        /* Recipients, and their display lines as Outlook keeps them. */
        rcpt = gen_alloc(a, (n_to + n_cc) * sizeof(*rcpt));
        sb_init(&to_line, a, 4 * 64 + 8);
        sb_init(&cc_line, a, 4 * 64 + 8);
        for (unsigned i = 0; i < n_to; i++) {
                recipient(a, &rcpt[i], to[i], 1);
                if (i)
                        sb_add(&to_line, "; ");
                sb_add(&to_line, to[i]->name);
        }
        for (unsigned i = 0; i < n_cc; i++) {
                recipient(a, &rcpt[n_to + i], cc[i], 2);
                if (i)
                        sb_add(&cc_line, "; ");
                sb_add(&cc_line, cc[i]->name);
        }

        /* Attachments. */
        if (cm)
                n_cm_att = (unsigned)MIN(cm->n_attach, 8u);
        if (!cm && gen_rng_below(r, 100) < (depth ? 10 : 30)) {
                n_att = 1;
                while (n_att < 6 && gen_rng_below(r, 100) < 35)
                        n_att++;
        }
        {
                bool embed = depth == 0 && gen_rng_unit(r) < mb->embedded_rate;
                unsigned n = n_cm_att + n_att + embed;

                att = gen_alloc(a, (n ? n : 1) * sizeof(*att));
                memset(att, 0, (n ? n : 1) * sizeof(*att));
                for (unsigned i = 0; i < n_cm_att; i++) {
                        const struct gen_corpus_attach *ca = &cm->attach[i];

                        attach_props(a, &att[i], 1, ca->filename, ca->mime, ca->filename);
                        att[i].data = ca->data;
                        att[i].len = ca->len;
                        it->bytes += ca->len;
                }
                for (unsigned i = n_cm_att; i < n_cm_att + n_att; i++) {
                        synth_attachment(mb, r, a, &att[i]);
                        it->bytes += att[i].len;
                }
                if (embed) {
                        struct gen_item *sub = gen_alloc(a, sizeof(*sub));
                        struct pst_attachment *e = &att[n - 1];
                        const struct pst_prop *sp;

                        *sub = (struct gen_item){};
                        make_msg(mb, r, a, depth + 1, sub);
                        e->embedded = &sub->msg;
                        sp = NULL;
                        for (size_t i = 0; i < sub->msg.n_props; i++)
                                if (sub->msg.props[i].id == PID_SUBJECT)
                                        sp = &sub->msg.props[i];
                        attach_props(a, e, 5, NULL, NULL,
                                     sp ? (const char *)gen_printf(a, "%.*s", (int)sp->v.len,
                                                                   (const char *)sp->v.data)
                                        : "Forwarded message");
                        it->bytes += sub->bytes;
                        it->embedded++;
                }
                it->attachments = n;
                it->msg.attachments = att;
                it->msg.n_attachments = n;
        }

        /* The message's own properties, ascending by id. */
        props_init(&p, a, 32);
        p_int(&p, PID_IMPORTANCE, PST_PT_I4, gen_rng_below(r, 20) == 0 ? 2 : 1);
        p_str(&p, PID_MESSAGE_CLASS, "IPM.Note");
        p_str(&p, PID_SUBJECT, subject);
        p_int(&p, PID_CLIENT_SUBMIT_TIME, PST_PT_SYSTIME, filetime(t));
        p_str(&p, PID_SENT_REPR_NAME, from->name);
        p_str(&p, PID_SENT_REPR_ADDRTYPE, "SMTP");
        p_str(&p, PID_SENT_REPR_EMAIL, from->smtp);
        p_str(&p, PID_SENDER_NAME, from->name);
        p_str(&p, PID_SENDER_ADDRTYPE, "SMTP");
        p_str(&p, PID_SENDER_EMAIL, from->smtp);
        if (n_cc)
                p_str(&p, PID_DISPLAY_CC, cc_line.p);
        p_str(&p, PID_DISPLAY_TO, to_line.p);
        p_int(&p, PID_DELIVERY_TIME, PST_PT_SYSTIME, filetime(t + 1 + (int64_t)gen_rng_below(r, 90)));
        p_int(&p, PID_MESSAGE_FLAGS, PST_PT_I4,
              MSGFLAG_READ | (it->msg.n_attachments ? MSGFLAG_HASATTACH : 0));
        {
                struct pst_prop *x = prop(&p, PID_BODY, PST_PT_UNICODE);

                x->v.data = (const uint8_t *)body;
                x->v.len = body_len;
                it->bytes += body_len;
        }
        if (gen_rng_below(r, 100) < 55) {
                /* The HTML alternative Outlook keeps beside the text. */
                struct sbuf h;
                struct pst_prop *x;
                size_t i = 0;

                sb_init(&h, a, body_len * 2 + 256);
                sb_add(&h, "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; "
                           "charset=utf-8\"></head><body><p>");
                while (i < body_len) {
                        size_t n = strcspn(body + i, "\r\n<>&");

                        n = MIN(n, body_len - i);
                        if (h.cap - h.len < n)
                                break;
                        memcpy(h.p + h.len, body + i, n);
                        h.len += n;
                        i += n;
                        if (i >= body_len)
                                break;
                        switch (body[i++]) {
                        case '\n':
                                sb_add(&h, "<br>\r\n");
                                break;
                        case '<':
                                sb_add(&h, "&lt;");
                                break;
                        case '>':
                                sb_add(&h, "&gt;");
                                break;
                        case '&':
                                sb_add(&h, "&amp;");
                                break;
                        default:
                                break;
                        }
                }
                sb_add(&h, "</p></body></html>\r\n");
                x = prop(&p, PID_HTML, PST_PT_BINARY);
                x->v.data = (const uint8_t *)h.p;
                x->v.len = h.len;
                it->bytes += h.len;
        }
        p_str(&p, PID_INTERNET_MESSAGE_ID, msgid);
        if (reply)
                p_str(&p, PID_IN_REPLY_TO,
                      gen_printf(a, "<%016llx@%s>", (unsigned long long)gen_rng_next(r),
                                 strchr(to[0]->smtp, '@') + 1));
        p_str(&p, PID_SENDER_SMTP, from->smtp);
        if (gen_rng_below(r, 100) < 15) {
                /* Categories: a multi-valued named property. */
                unsigned n = 1 + (unsigned)gen_rng_below(r, 2);
                struct pst_value *mv = gen_alloc(a, n * sizeof(*mv));
                struct pst_prop *x = prop(&p, 0x8000, PST_PT_MV | PST_PT_UNICODE);

                for (unsigned i = 0; i < n; i++) {
                        const char *c = categories[gen_rng_below(r, ELEMENTSOF(categories))];

                        mv[i] = (struct pst_value){ .data = (const uint8_t *)c, .len = strlen(c) };
                }
                x->named = &named_keywords;
                x->mv = mv;
                x->count = n;
        }
        if (gen_rng_below(r, 100) < 10) {
                struct pst_prop *x = prop(&p, 0x8001, PST_PT_BOOLEAN);

                x->named = &named_reminder_set;
                x->v.i = 1;
        }
        it->msg.props = p.v;
        it->msg.n_props = p.n;
        it->msg.recipients = rcpt;
        it->msg.n_recipients = n_to + n_cc;
        it->bytes += 1024; /* properties and tables */
}

void gen_item_make(const struct gen_mailbox_ctx *mb, uint64_t item_seed, struct gen_arena *a,
                   struct gen_item *ret)
{
        struct gen_rng r;
        uint64_t x;

        gen_rng_seed(&r, item_seed);
        *ret = (struct gen_item){};
        /* Folder by role: Inbox 45 %, Sent Items 22 %, Junk Email 6 %,
         * the rest spread over the user's folders. */
        x = gen_rng_below(&r, 100);
        if (x < 45 || mb->n_folders <= 3)
                ret->folder = x < 60 || mb->n_folders < 2 ? GEN_FOLDER_INBOX : GEN_FOLDER_SENT;
        else if (x < 67)
                ret->folder = GEN_FOLDER_SENT;
        else if (x < 73)
                ret->folder = 2;
        else
                ret->folder = 3 + (unsigned)gen_rng_below(&r, mb->n_folders - 3);
        make_msg(mb, &r, a, 0, ret);
}

/* ---- the item content hash ----------------------------------------------------- */

static const uint16_t hash_msg_props[] = {
        PID_MESSAGE_CLASS, PID_SUBJECT, PID_SENDER_NAME, PID_SENDER_EMAIL, PID_SENDER_SMTP,
        PID_CLIENT_SUBMIT_TIME, PID_DELIVERY_TIME, PID_INTERNET_MESSAGE_ID, PID_IN_REPLY_TO,
        PID_BODY, PID_HTML,
};
static const uint16_t hash_rcpt_props[] = { PID_RECIPIENT_TYPE, PID_DISPLAY_NAME, PID_EMAIL,
                                            PID_SMTP_ADDRESS };
static const uint16_t hash_attach_props[] = { PID_ATTACH_METHOD, PID_ATTACH_LONG_FILENAME,
                                              PID_ATTACH_MIME, PID_ATTACH_CONTENT_ID };

static void h_u8(XXH3_state_t *h, uint8_t v)
{
        XXH3_128bits_update(h, &v, 1);
}

static void h_u64(XXH3_state_t *h, uint64_t v)
{
        uint8_t b[8];

        put_le64(b, v);
        XXH3_128bits_update(h, b, 8);
}

static void h_bytes(XXH3_state_t *h, const void *p, size_t len)
{
        h_u64(h, len);
        XXH3_128bits_update(h, p, len);
}

static void h_field(XXH3_state_t *h, const struct pst_prop *props, size_t n, uint16_t id)
{
        uint8_t b[2];

        put_le16(b, id);
        XXH3_128bits_update(h, b, 2);
        for (size_t i = 0; i < n; i++) {
                const struct pst_prop *p = &props[i];

                if (p->id != id || p->named)
                        continue;
                switch (p->type) {
                case PST_PT_I2:
                case PST_PT_I4:
                case PST_PT_I8:
                case PST_PT_BOOLEAN:
                case PST_PT_SYSTIME:
                        h_u8(h, 1);
                        h_u64(h, (uint64_t)p->v.i);
                        return;
                case PST_PT_UNICODE:
                case PST_PT_STRING8:
                case PST_PT_BINARY:
                        h_u8(h, 2);
                        h_bytes(h, p->v.data, p->v.len);
                        return;
                default:
                        break;
                }
        }
        h_u8(h, 0);
}

static void h_msg(XXH3_state_t *h, const struct pst_msg *m, unsigned depth)
{
        for (size_t i = 0; i < ELEMENTSOF(hash_msg_props); i++)
                h_field(h, m->props, m->n_props, hash_msg_props[i]);
        h_u64(h, m->n_recipients);
        for (size_t r = 0; r < m->n_recipients; r++)
                for (size_t i = 0; i < ELEMENTSOF(hash_rcpt_props); i++)
                        h_field(h, m->recipients[r].props, m->recipients[r].n_props,
                                hash_rcpt_props[i]);
        h_u64(h, m->n_attachments);
        for (size_t k = 0; k < m->n_attachments; k++) {
                const struct pst_attachment *at = &m->attachments[k];

                for (size_t i = 0; i < ELEMENTSOF(hash_attach_props); i++)
                        h_field(h, at->props, at->n_props, hash_attach_props[i]);
                if (at->embedded && depth < 16) {
                        h_u8(h, 'E');
                        h_msg(h, at->embedded, depth + 1);
                } else if (at->data) {
                        h_u8(h, 'D');
                        h_bytes(h, at->data, at->len);
                } else {
                        h_u8(h, 0);
                }
        }
}

void gen_item_hash(const struct pst_msg *m, uint8_t ret[16])
{
        XXH3_state_t h;
        XXH128_canonical_t c;

        XXH3_128bits_reset(&h);
        XXH3_128bits_update(&h, "pstream-item-v1", 16); /* with its NUL */
        h_msg(&h, m, 0);
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&h));
        memcpy(ret, c.digest, 16);
}
