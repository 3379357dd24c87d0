/* SPDX-License-Identifier: MIT
 *
 * eml.c - a decoded message (struct pst_msg) as a struct pst_mime_msg for
 * pst_mime_render(): addresses, dates and ids from its properties, bodies
 * (plain, HTML, or HTML or text from compressed RTF), attachments and
 * embedded messages; String8 values converted from the message's code
 * page ([MS-OXCMSG], [MS-OXPROPS]).
 */
#include <iconv.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "pst/pst-internal.h"

/* Tags used here ([MS-OXPROPS]). */
#define PID_MESSAGE_CLASS 0x001Au
#define PID_SUBJECT 0x0037u
#define PID_CLIENT_SUBMIT_TIME 0x0039u
#define PID_SENT_REPR_NAME 0x0042u
#define PID_SENT_REPR_ADDRTYPE 0x0064u
#define PID_SENT_REPR_EMAIL 0x0065u
#define PID_TRANSPORT_HEADERS 0x007Du
#define PID_RECIPIENT_TYPE 0x0C15u
#define PID_SENDER_NAME 0x0C1Au
#define PID_SENDER_ADDRTYPE 0x0C1Eu
#define PID_SENDER_EMAIL 0x0C1Fu
#define PID_DELIVERY_TIME 0x0E06u
#define PID_BODY 0x1000u
#define PID_RTF_COMPRESSED 0x1009u
#define PID_HTML 0x1013u
#define PID_INTERNET_MESSAGE_ID 0x1035u
#define PID_INTERNET_REFERENCES 0x1039u
#define PID_IN_REPLY_TO 0x1042u
#define PID_DISPLAY_NAME 0x3001u
#define PID_ADDRTYPE 0x3002u
#define PID_EMAIL_ADDRESS 0x3003u
#define PID_CREATION_TIME 0x3007u
#define PID_ATTACH_FILENAME 0x3704u
#define PID_ATTACH_METHOD 0x3705u
#define PID_ATTACH_LONG_FILENAME 0x3707u
#define PID_ATTACH_PATHNAME 0x3708u
#define PID_ATTACH_LONG_PATHNAME 0x370Du
#define PID_ATTACH_MIME_TAG 0x370Eu
#define PID_ATTACH_CONTENT_ID 0x3712u
#define PID_ATTACH_FLAGS 0x3714u
#define PID_SMTP_ADDRESS 0x39FEu
#define PID_INTERNET_CODEPAGE 0x3FDEu
#define PID_MESSAGE_CODEPAGE 0x3FFDu
#define PID_SENDER_SMTP 0x5D01u
#define PID_SENT_REPR_SMTP 0x5D02u
#define PID_ATTACHMENT_HIDDEN 0x7FFEu

#define ATTACH_BY_VALUE 1
#define ATTACH_BY_REFERENCE 2
#define ATTACH_BY_REF_ONLY 4
#define ATTACH_EMBEDDED_MSG 5
#define ATTACH_OLE 6
#define ATTACH_BY_WEB_REFERENCE 7
#define ATT_RENDERED_IN_BODY 0x4

/* pst_mime_render() renders 16 levels of embedded messages; deeper ones
 * become a part that says so. */
#define RENDER_MAX_DEPTH 15u

/* ---- code pages --------------------------------------------------------- */

/* Windows-1252 0x80-0x9F; 0 where the code page has no character. */
static const uint16_t cp1252_high[32] = {
        0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

/* iconv's name for a Windows code page; NULL for unknown ones. */
static const char *cp_name(unsigned cp, char *buf, size_t size)
{
        static const struct {
                unsigned cp;
                const char *name;
        } names[] = {
                { 874, "CP874" },       { 932, "CP932" },        { 936, "CP936" },
                { 949, "CP949" },       { 950, "CP950" },        { 1200, "UTF-16LE" },
                { 1201, "UTF-16BE" },   { 10000, "MACINTOSH" },  { 20866, "KOI8-R" },
                { 21866, "KOI8-U" },    { 50220, "ISO-2022-JP" }, { 50221, "ISO-2022-JP" },
                { 50222, "ISO-2022-JP" }, { 50225, "ISO-2022-KR" }, { 51932, "EUC-JP" },
                { 51936, "GB2312" },    { 51949, "EUC-KR" },     { 52936, "HZ-GB-2312" },
                { 54936, "GB18030" },   { 28600, "ISO-8859-10" }, { 28601, "ISO-8859-11" },
                { 28603, "ISO-8859-13" }, { 28604, "ISO-8859-14" }, { 28605, "ISO-8859-15" },
                { 28606, "ISO-8859-16" },
        };

        if (cp >= 1250 && cp <= 1258) {
                snprintf(buf, size, "CP%u", cp);
                return buf;
        }
        if (cp >= 28592 && cp <= 28599) {
                snprintf(buf, size, "ISO-8859-%u", cp - 28590);
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i].cp == cp)
                        return names[i].name;
        return NULL;
}

static size_t put_cp(uint8_t *o, uint32_t c)
{
        if (c < 0x80) {
                o[0] = (uint8_t)c;
                return 1;
        }
        if (c < 0x800) {
                o[0] = (uint8_t)(0xC0 | (c >> 6));
                o[1] = (uint8_t)(0x80 | (c & 0x3F));
                return 2;
        }
        o[0] = (uint8_t)(0xE0 | (c >> 12));
        o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
}

/* Conversions of one render: one iconv descriptor kept for the last code
 * page, so a message's strings cost one iconv_open(). */
struct conv {
        struct pst_arena *a;
        unsigned cp;
        iconv_t cd;
};

static void conv_done(struct conv *c)
{
        if (c->cd != (iconv_t)-1 && c->cd != NULL)
                iconv_close(c->cd);
}

/* in (len bytes in code page cp) as NUL-terminated UTF-8 in the arena.
 * ASCII, UTF-8, Latin-1 and 1252 are converted here; other code pages
 * through iconv, bytes it cannot convert as U+FFFD; an unknown code page
 * as 1252. */
static int conv_utf8(struct conv *c, unsigned cp, const uint8_t *in, size_t len, char **ret,
                     size_t *ret_len)
{
        size_t i = 0, o = 0, cap;
        char name[32];
        const char *iname;
        uint8_t *out;
        int r;

        while (i < len && in[i] < 0x80)
                i++;
        if (i == len || cp == 65001 || cp == 20127) {
                /* ASCII, or UTF-8 (the renderer replaces invalid sequences). */
                r = pst_arena_alloc(c->a, len + 1, (void **)&out);
                if (r < 0)
                        return r;
                memcpy(out, in, len);
                out[len] = '\0';
                *ret = (char *)out;
                *ret_len = len;
                return 0;
        }
        iname = cp == 1252 || cp == 28591 ? NULL : cp_name(cp, name, sizeof(name));
        if (iname && (c->cp != cp || c->cd == NULL)) {
                conv_done(c);
                c->cp = cp;
                c->cd = iconv_open("UTF-8", iname);
        }
        if (!iname || c->cd == (iconv_t)-1) {
                /* 3 bytes at most for any character of these. */
                if (len > (SIZE_MAX - 1) / 3)
                        return -EFBIG;
                r = pst_arena_alloc(c->a, len * 3 + 1, (void **)&out);
                if (r < 0)
                        return r;
                for (i = 0; i < len; i++) {
                        uint32_t ch = in[i];

                        if (cp != 28591 && ch >= 0x80 && ch < 0xA0)
                                ch = cp1252_high[ch - 0x80] ? cp1252_high[ch - 0x80] : 0xFFFD;
                        o += put_cp(out + o, ch);
                }
                out[o] = '\0';
                *ret = (char *)out;
                *ret_len = o;
                return 0;
        }
        /* 4 bytes of UTF-8 per input byte cover every code page; U+FFFD
         * for a skipped byte takes 3. */
        if (len > (SIZE_MAX - 1) / 4)
                return -EFBIG;
        cap = len * 4 + 1;
        r = pst_arena_alloc(c->a, cap, (void **)&out);
        if (r < 0)
                return r;
        {
                char *ip = (char *)in, *op = (char *)out;
                size_t il = len, ol = cap - 1;

                (void)iconv(c->cd, NULL, NULL, NULL, NULL);
                while (il > 0) {
                        if (iconv(c->cd, &ip, &il, &op, &ol) != (size_t)-1)
                                break;
                        if (errno == E2BIG || ol < 3)
                                break;
                        /* EILSEQ or EINVAL (cut sequence): U+FFFD, next byte. */
                        op += put_cp((uint8_t *)op, 0xFFFD);
                        ol -= 3;
                        ip++;
                        il--;
                        (void)iconv(c->cd, NULL, NULL, NULL, NULL);
                }
                o = (size_t)(op - (char *)out);
        }
        out[o] = '\0';
        *ret = (char *)out;
        *ret_len = o;
        return 0;
}

unsigned pst_msg_codepage(const struct pst_msg *m)
{
        const struct pst_prop *p = pst_props_find(m->props, m->n_props, PID_MESSAGE_CODEPAGE);

        if (!p || p->type != PST_PT_I4 || p->v.i <= 0)
                p = pst_props_find(m->props, m->n_props, PID_INTERNET_CODEPAGE);
        if (!p || p->type != PST_PT_I4 || p->v.i <= 0)
                return 1252;
        return (unsigned)p->v.i;
}

size_t pst_prop_utf8(const struct pst_prop *p, unsigned cp, char *out, size_t outsz)
{
        struct pst_arena a = { .budget = PST_MSG_MAX_BYTES };
        struct conv c = { .a = &a };
        size_t n = 0, len;
        char *s;

        if (outsz == 0)
                return 0;
        out[0] = '\0';
        if (!p || (p->type != PST_PT_UNICODE && p->type != PST_PT_STRING8))
                return 0;
        if (p->type == PST_PT_UNICODE) {
                s = (char *)p->v.data;
                len = p->v.len;
        } else if (conv_utf8(&c, cp, p->v.data, p->v.len, &s, &len) < 0) {
                goto out;
        }
        n = MIN(len, outsz - 1);
        /* Back off to a character boundary. */
        if (n < len)
                while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
                        n--;
        memcpy(out, s, n);
        out[n] = '\0';
out:
        conv_done(&c);
        pst_arena_done(&a);
        return n;
}

/* ---- building the MIME message ------------------------------------------ */

struct build {
        struct conv c;
        struct pst_arena *a;
        int err;
};

/* Property id of props as UTF-8 (NULL when absent or not a string). */
static const char *str_of(struct build *b, const struct pst_prop *props, size_t n, uint16_t id,
                          unsigned cp)
{
        const struct pst_prop *p = pst_props_find(props, n, id);
        char *s;
        size_t len;
        int r;

        if (!p)
                return NULL;
        if (p->type == PST_PT_UNICODE)
                return (const char *)p->v.data;
        if (p->type != PST_PT_STRING8)
                return NULL;
        r = conv_utf8(&b->c, cp, p->v.data, p->v.len, &s, &len);
        if (r < 0) {
                b->err = r;
                return NULL;
        }
        return s;
}

static const char *nonempty(const char *s)
{
        return s && *s ? s : NULL;
}

static bool is_smtp(const char *type)
{
        return type && strcasecmp(type, "SMTP") == 0;
}

/* An SMTP address among smtp, or email when its type is SMTP (or it looks
 * like one). */
static const char *pick_addr(const char *smtp, const char *type, const char *email)
{
        if (nonempty(smtp) && strchr(smtp, '@'))
                return smtp;
        if (nonempty(email) && (is_smtp(type) || (!type && strchr(email, '@'))))
                return email;
        return NULL;
}

static bool time_of(const struct pst_prop *props, size_t n, uint16_t id, int64_t *ret)
{
        const struct pst_prop *p = pst_props_find(props, n, id);
        int64_t t;

        if (!p || p->type != PST_PT_SYSTIME || p->v.i < 0)
                return false;
        /* FILETIME: 100 ns units since 1601-01-01. */
        t = p->v.i / 10000000 - INT64_C(11644473600);
        if (t < INT64_C(-2208988800) || t > INT64_C(253402300799)) /* years 1900-9999 */
                return false;
        *ret = t;
        return true;
}

/* The subject without its \x01 n prefix marker. */
static const char *subject_of(const char *s)
{
        if (s && (uint8_t)s[0] == 0x01 && s[1] != '\0')
                return s + 2;
        return s;
}

static int addrs(struct build *b, const struct pst_msg *m, unsigned cp, struct pst_mime_msg *mm)
{
        struct pst_mime_addr *to, *cc, *bcc;
        int r;

        if (m->n_recipients == 0)
                return 0;
        r = pst_arena_calloc(b->a, m->n_recipients, 3 * sizeof(*to), (void **)&to);
        if (r < 0)
                return r;
        cc = to + m->n_recipients;
        bcc = cc + m->n_recipients;
        for (size_t i = 0; i < m->n_recipients; i++) {
                const struct pst_recipient *rc = &m->recipients[i];
                const struct pst_prop *t = pst_props_find(rc->props, rc->n_props, PID_RECIPIENT_TYPE);
                struct pst_mime_addr a = {
                        .name = str_of(b, rc->props, rc->n_props, PID_DISPLAY_NAME, cp),
                        .addr = pick_addr(str_of(b, rc->props, rc->n_props, PID_SMTP_ADDRESS, cp),
                                          str_of(b, rc->props, rc->n_props, PID_ADDRTYPE, cp),
                                          str_of(b, rc->props, rc->n_props, PID_EMAIL_ADDRESS, cp)),
                };
                /* The high bits of PidTagRecipientType are flags (e.g. 0x10000000 resent). */
                long type = t && t->type == PST_PT_I4 ? (long)(t->v.i & 0xF) : 1;

                if (type == 2)
                        cc[mm->n_cc++] = a;
                else if (type == 3)
                        bcc[mm->n_bcc++] = a;
                else
                        to[mm->n_to++] = a;
        }
        mm->to = to;
        mm->cc = cc;
        mm->bcc = bcc;
        return b->err;
}

/* Key properties of items without a body (contacts, appointments, tasks,
 * notes...), as "Label: value" lines: named ones by their well-known
 * (set, LID), tagged ones by tag. */
struct key_prop {
        uint16_t tag;          /* 0: named */
        uint8_t set;           /* 1 PSETID_Address, 2 PSETID_Appointment, 3 PSETID_Task */
        uint32_t lid;
        const char *label;
};

static const uint8_t psetid[3][16] = {
        /* {00062004-0000-0000-C000-000000000046} PSETID_Address */
        { 0x04, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 },
        /* {00062002-...} PSETID_Appointment */
        { 0x02, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 },
        /* {00062003-...} PSETID_Task */
        { 0x03, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 },
};

static const struct key_prop key_props[] = {
        { 0x3001, 0, 0, "Name" },
        { 0x3A06, 0, 0, "Given name" },
        { 0x3A11, 0, 0, "Surname" },
        { 0x3A16, 0, 0, "Company" },
        { 0x3A17, 0, 0, "Title" },
        { 0x3A18, 0, 0, "Department" },
        { 0, 1, 0x8083, "E-mail" },
        { 0, 1, 0x8093, "E-mail 2" },
        { 0, 1, 0x80A3, "E-mail 3" },
        { 0x3A08, 0, 0, "Business phone" },
        { 0x3A09, 0, 0, "Home phone" },
        { 0x3A1C, 0, 0, "Mobile phone" },
        { 0x3A24, 0, 0, "Business fax" },
        { 0, 1, 0x801B, "Business address" },
        { 0, 1, 0x801A, "Home address" },
        { 0x3A44, 0, 0, "Middle name" },
        { 0x3A45, 0, 0, "Display name prefix" },
        { 0, 2, 0x820D, "Start" },
        { 0, 2, 0x820E, "End" },
        { 0, 2, 0x8208, "Location" },
        { 0, 3, 0x8104, "Task start" },
        { 0, 3, 0x8105, "Task due" },
        { 0, 3, 0x811F, "Task owner" },
        { 0, 3, 0x8102, "Percent complete" },
};

static const struct pst_prop *key_find(const struct pst_msg *m, const struct key_prop *k)
{
        if (k->tag)
                return pst_props_find(m->props, m->n_props, k->tag);
        for (size_t i = 0; i < m->n_props; i++) {
                const struct pst_named *nm = m->props[i].named;

                if (nm && !nm->is_string && nm->lid == k->lid && !memcmp(nm->guid, psetid[k->set - 1], 16))
                        return &m->props[i];
        }
        return NULL;
}

static int key_props_text(struct build *b, const struct pst_msg *m, unsigned cp, char **ret,
                          size_t *ret_len)
{
        size_t cap = 0, len = 0;
        char *s = NULL;
        int r;

        /* No key property: no text (the caller tests *ret_len). */
        *ret = NULL;
        *ret_len = 0;
        /* Two passes: measure, then write. */
        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < ELEMENTSOF(key_props); i++) {
                        const struct pst_prop *p = key_find(m, &key_props[i]);
                        char val[64];
                        const char *v = NULL;
                        int64_t t;

                        if (!p)
                                continue;
                        if (p->type == PST_PT_UNICODE || p->type == PST_PT_STRING8) {
                                v = str_of(b, p, 1, p->id, cp);
                        } else if (p->type == PST_PT_SYSTIME && time_of(p, 1, p->id, &t)) {
                                struct tm tm;
                                time_t tt = (time_t)t;

                                gmtime_r(&tt, &tm);
                                strftime(val, sizeof(val), "%Y-%m-%d %H:%M:%S UTC", &tm);
                                v = val;
                        } else if (p->type == PST_PT_R8) {
                                snprintf(val, sizeof(val), "%.0f%%", p->v.d * 100);
                                v = val;
                        } else if (p->type == PST_PT_I4) {
                                snprintf(val, sizeof(val), "%" PRId64, p->v.i);
                                v = val;
                        }
                        if (!nonempty(v))
                                continue;
                        if (pass == 0) {
                                cap += strlen(key_props[i].label) + 2 + strlen(v) + 2;
                                continue;
                        }
                        len += (size_t)snprintf(s + len, cap + 1 - len, "%s: %s\r\n", key_props[i].label, v);
                }
                if (b->err < 0)
                        return b->err;
                if (pass == 0) {
                        if (cap == 0)
                                return 0;
                        r = pst_arena_alloc(b->a, cap + 1, (void **)&s);
                        if (r < 0)
                                return r;
                }
        }
        *ret = s;
        *ret_len = len;
        return 0;
}

/* Bodies: PidTagBody; PidTagHtml (binary in PidTagInternetCodepage, or a
 * string); else the HTML encapsulated in PidTagRtfCompressed, or its text
 * when there is no plain body either. */
static int bodies(struct build *b, const struct pst_msg *m, unsigned cp, struct pst_mime_msg *mm)
{
        const struct pst_prop *html = pst_props_find(m->props, m->n_props, PID_HTML);
        const struct pst_prop *rtf = pst_props_find(m->props, m->n_props, PID_RTF_COMPRESSED);
        const struct pst_prop *icp = pst_props_find(m->props, m->n_props, PID_INTERNET_CODEPAGE);
        unsigned hcp = icp && icp->type == PST_PT_I4 && icp->v.i > 0 ? (unsigned)icp->v.i : cp;
        char *s;
        size_t len;
        int r;

        mm->body_text = str_of(b, m->props, m->n_props, PID_BODY, cp);
        if (mm->body_text)
                mm->body_text_len = strlen(mm->body_text);
        if (html && html->type == PST_PT_BINARY && html->v.len > 0) {
                r = conv_utf8(&b->c, hcp, html->v.data, html->v.len, &s, &len);
                if (r < 0)
                        return r;
                mm->body_html = s;
                mm->body_html_len = len;
        } else if (html && (html->type == PST_PT_UNICODE || html->type == PST_PT_STRING8)) {
                mm->body_html = str_of(b, m->props, m->n_props, PID_HTML, hcp);
                if (mm->body_html)
                        mm->body_html_len = strlen(mm->body_html);
        }
        if (!mm->body_html && rtf && rtf->type == PST_PT_BINARY && rtf->v.len > 0) {
                uint8_t *raw = NULL, *out = NULL;
                size_t raw_len, out_len = 0;
                bool is_html = true;

                /* A damaged RTF body costs only itself: the plain body stays. */
                r = pst_lzfu_decompress(rtf->v.data, rtf->v.len, &raw, &raw_len, NULL);
                if (r == 0)
                        r = pst_rtf_html(raw, raw_len, &out, &out_len, NULL);
                if (r == -ENOENT && !mm->body_text) {
                        is_html = false;
                        r = pst_rtf_text(raw, raw_len, &out, &out_len, NULL);
                }
                if (r == 0) {
                        r = pst_arena_alloc(b->a, out_len + 1, (void **)&s);
                        if (r == 0) {
                                memcpy(s, out, out_len);
                                s[out_len] = '\0';
                                if (is_html) {
                                        mm->body_html = s;
                                        mm->body_html_len = out_len;
                                } else {
                                        mm->body_text = s;
                                        mm->body_text_len = out_len;
                                }
                        }
                }
                free(raw);
                free(out);
                if (r == -ENOMEM)
                        return r;
        }
        if (!mm->body_text && !mm->body_html) {
                r = key_props_text(b, m, cp, &s, &len);
                if (r < 0)
                        return r;
                if (len > 0) {
                        mm->body_text = s;
                        mm->body_text_len = len;
                }
        }
        return b->err;
}

static int build(struct build *b, const struct pst_msg *m, unsigned depth, struct pst_mime_msg *mm);

/* A text part standing for an attachment whose bytes are not in the file
 * (by reference) or not exported (OLE storage, nesting too deep). */
static int note_part(struct build *b, struct pst_mime_part *part, const char *what,
                     const char *path)
{
        size_t cap = strlen(what) + (path ? strlen(path) : 0) + 8;
        char *s;
        int r;

        r = pst_arena_alloc(b->a, cap, (void **)&s);
        if (r < 0)
                return r;
        part->len = (size_t)snprintf(s, cap, "%s%s%s\r\n", what, path ? ": " : "", path ? path : "");
        part->data = (const uint8_t *)s;
        part->mime_type = "text/plain";
        return 0;
}

static int parts(struct build *b, const struct pst_msg *m, unsigned cp, unsigned depth,
                 struct pst_mime_msg *mm)
{
        struct pst_mime_part *parts;
        int r;

        if (m->n_attachments == 0)
                return 0;
        r = pst_arena_calloc(b->a, m->n_attachments, sizeof(*parts), (void **)&parts);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_attachments; i++) {
                const struct pst_attachment *at = &m->attachments[i];
                const struct pst_prop *mp = pst_props_find(at->props, at->n_props, PID_ATTACH_METHOD);
                const struct pst_prop *fl = pst_props_find(at->props, at->n_props, PID_ATTACH_FLAGS);
                const struct pst_prop *hid = pst_props_find(at->props, at->n_props, PID_ATTACHMENT_HIDDEN);
                long method = mp && mp->type == PST_PT_I4 ? (long)mp->v.i : ATTACH_BY_VALUE;
                struct pst_mime_part *pt = &parts[i];

                pt->filename = nonempty(str_of(b, at->props, at->n_props, PID_ATTACH_LONG_FILENAME, cp));
                if (!pt->filename)
                        pt->filename = nonempty(str_of(b, at->props, at->n_props, PID_ATTACH_FILENAME, cp));
                if (!pt->filename)
                        pt->filename = nonempty(str_of(b, at->props, at->n_props, PID_DISPLAY_NAME, cp));
                pt->mime_type = nonempty(str_of(b, at->props, at->n_props, PID_ATTACH_MIME_TAG, cp));
                pt->content_id = nonempty(str_of(b, at->props, at->n_props, PID_ATTACH_CONTENT_ID, cp));
                pt->is_inline = pt->content_id &&
                                ((fl && fl->type == PST_PT_I4 && (fl->v.i & ATT_RENDERED_IN_BODY)) ||
                                 (hid && hid->type == PST_PT_BOOLEAN && hid->v.i));
                if (b->err < 0)
                        return b->err;
                if (at->embedded && depth < RENDER_MAX_DEPTH) {
                        struct pst_mime_msg *em;

                        r = pst_arena_calloc(b->a, 1, sizeof(*em), (void **)&em);
                        if (r == 0)
                                r = build(b, at->embedded, depth + 1, em);
                        if (r < 0)
                                return r;
                        pt->message = em;
                } else if (at->embedded) {
                        r = note_part(b, pt, "Embedded message nested too deep to render", NULL);
                } else if (method == ATTACH_BY_REFERENCE || method == ATTACH_BY_REF_ONLY ||
                           method == ATTACH_BY_WEB_REFERENCE) {
                        const char *path = nonempty(str_of(b, at->props, at->n_props,
                                                           PID_ATTACH_LONG_PATHNAME, cp));

                        if (!path)
                                path = nonempty(str_of(b, at->props, at->n_props, PID_ATTACH_PATHNAME, cp));
                        r = note_part(b, pt, "Attachment stored by reference, not in the PST", path);
                } else if (method == ATTACH_OLE) {
                        r = note_part(b, pt, "OLE object attachment (not exported)", NULL);
                } else {
                        pt->data = at->data;
                        pt->len = at->len;
                }
                if (r < 0)
                        return r;
        }
        mm->parts = parts;
        mm->n_parts = m->n_attachments;
        return b->err;
}

static int build(struct build *b, const struct pst_msg *m, unsigned depth, struct pst_mime_msg *mm)
{
        const struct pst_prop *p = m->props;
        unsigned cp = pst_msg_codepage(m);
        size_t n = m->n_props;
        int r;

        *mm = (struct pst_mime_msg){};
        mm->transport_headers = nonempty(str_of(b, p, n, PID_TRANSPORT_HEADERS, cp));
        mm->from.name = nonempty(str_of(b, p, n, PID_SENDER_NAME, cp));
        if (!mm->from.name)
                mm->from.name = nonempty(str_of(b, p, n, PID_SENT_REPR_NAME, cp));
        mm->from.addr = pick_addr(str_of(b, p, n, PID_SENDER_SMTP, cp),
                                  str_of(b, p, n, PID_SENDER_ADDRTYPE, cp),
                                  str_of(b, p, n, PID_SENDER_EMAIL, cp));
        if (!mm->from.addr)
                mm->from.addr = pick_addr(str_of(b, p, n, PID_SENT_REPR_SMTP, cp),
                                          str_of(b, p, n, PID_SENT_REPR_ADDRTYPE, cp),
                                          str_of(b, p, n, PID_SENT_REPR_EMAIL, cp));
        mm->subject = subject_of(str_of(b, p, n, PID_SUBJECT, cp));
        mm->has_date = time_of(p, n, PID_CLIENT_SUBMIT_TIME, &mm->date) ||
                       time_of(p, n, PID_DELIVERY_TIME, &mm->date) ||
                       time_of(p, n, PID_CREATION_TIME, &mm->date);
        mm->message_id = nonempty(str_of(b, p, n, PID_INTERNET_MESSAGE_ID, cp));
        mm->in_reply_to = nonempty(str_of(b, p, n, PID_IN_REPLY_TO, cp));
        mm->references = nonempty(str_of(b, p, n, PID_INTERNET_REFERENCES, cp));
        if (b->err < 0)
                return b->err;
        r = addrs(b, m, cp, mm);
        if (r == 0)
                r = bodies(b, m, cp, mm);
        if (r == 0)
                r = parts(b, m, cp, depth, mm);
        return r;
}

int pst_msg_render_into(const struct pst_msg *m, uint8_t **buf, size_t *cap, size_t *ret_len)
{
        struct pst_arena a = { .budget = UINT64_MAX };
        struct build b = { .c = { .a = &a }, .a = &a };
        struct pst_mime_msg mm;
        int r;

        if (!m || !buf || !cap || !ret_len)
                return -EINVAL;
        r = build(&b, m, 0, &mm);
        if (r == 0)
                r = pst_mime_render_into(&mm, buf, cap, ret_len);
        conv_done(&b.c);
        pst_arena_done(&a);
        return r;
}

int pst_msg_render(const struct pst_msg *m, uint8_t **ret, size_t *ret_len)
{
        uint8_t *buf = NULL;
        size_t cap = 0;
        int r;

        if (!ret || !ret_len)
                return -EINVAL;
        r = pst_msg_render_into(m, &buf, &cap, ret_len);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}
