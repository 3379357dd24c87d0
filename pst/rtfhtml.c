/* SPDX-License-Identifier: MIT
 *
 * rtfhtml.c - the HTML encapsulated in RTF ([MS-OXRTFEX]) and the plain
 * text of RTF, both as UTF-8.
 *
 * Outlook keeps an HTML body as RTF marked \fromhtml1: the original HTML
 * markup sits in {\*\htmltag N ...} groups, the text between tags is
 * ordinary RTF text, and RTF-only decoration is fenced by \htmlrtf ...
 * \htmlrtf0.  De-encapsulating is one pass over the tokens keeping a small
 * per-group state; nothing recurses, the group stack has a fixed depth and
 * the output is capped, so hostile RTF costs at most linear time.
 */
#include "pst/pst-internal.h"

#define RTF_MAX_DEPTH 256u
#define RTF_MAX_WORD 32u
#define RTF_MAX_FONTS 256u

enum rtf_dest {
        RTF_DEST_TEXT,    /* visible text (HTML text between tags) */
        RTF_DEST_HTMLTAG, /* \*\htmltag: HTML markup, shown even in \htmlrtf */
        RTF_DEST_SKIP,    /* pictures, unknown \* destinations, ... */
        RTF_DEST_FONTTBL, /* not text either, but gives each font a code page */
};

struct rtf_group {
        uint8_t dest;
        bool htmlrtf; /* inside \htmlrtf ... \htmlrtf0: RTF-only text */
        uint8_t uc;   /* \ucN: bytes standing in for each \uN */
        uint16_t cpg; /* code page of the current font, 0: \ansicpg */
};

struct rtf_font {
        int32_t num; /* \fN */
        uint16_t cpg;
};

struct rtf_out {
        uint8_t *buf;
        size_t len, cap, max;
};

struct rtf_parser {
        const uint8_t *p, *end;
        bool html; /* extracting HTML (else plain text) */
        bool fromhtml;
        bool star;        /* the last token was \* */
        bool group_start; /* no token yet in the current group */
        unsigned cpg;     /* \ansicpg */
        unsigned skip;    /* fallback bytes still to drop after a \uN */
        uint32_t high;    /* pending UTF-16 high surrogate from \uN, or 0 */
        unsigned depth;
        int32_t def_font; /* the \fN being defined in the font table */
        unsigned n_fonts;
        struct rtf_font fonts[RTF_MAX_FONTS];
        struct rtf_group g[RTF_MAX_DEPTH];
        struct rtf_out out;
};

/* Windows-1252 0x80-0x9F; the rest of the code page is Latin-1.  Unmapped
 * bytes become U+FFFD. */
static const uint16_t cp1252_hi[32] = {
        0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,
};

static int out_grow(struct rtf_out *o, size_t n)
{
        size_t cap;
        uint8_t *b;

        if (n > o->max || o->len > o->max - n)
                return -EFBIG;
        if (o->len + n < o->cap)
                return 0;
        cap = MAX(o->cap * 2, (size_t)4096);
        cap = MAX(cap, o->len + n + 1);
        b = realloc(o->buf, cap);
        if (!b)
                return -ENOMEM;
        o->buf = b;
        o->cap = cap;
        return 0;
}

static int out_bytes(struct rtf_out *o, const void *s, size_t n)
{
        int r = out_grow(o, n);

        if (r < 0)
                return r;
        memcpy(o->buf + o->len, s, n);
        o->len += n;
        return 0;
}

static int out_utf8(struct rtf_out *o, uint32_t c)
{
        uint8_t b[4];
        size_t n;

        if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
                c = 0xFFFD;
        if (c < 0x80) {
                b[0] = (uint8_t)c;
                n = 1;
        } else if (c < 0x800) {
                b[0] = (uint8_t)(0xC0 | c >> 6);
                b[1] = (uint8_t)(0x80 | (c & 0x3F));
                n = 2;
        } else if (c < 0x10000) {
                b[0] = (uint8_t)(0xE0 | c >> 12);
                b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
                b[2] = (uint8_t)(0x80 | (c & 0x3F));
                n = 3;
        } else {
                b[0] = (uint8_t)(0xF0 | c >> 18);
                b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
                b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
                b[3] = (uint8_t)(0x80 | (c & 0x3F));
                n = 4;
        }
        return out_bytes(o, b, n);
}

static struct rtf_group *cur(struct rtf_parser *ps)
{
        return &ps->g[ps->depth];
}

/* Is text in the current group part of the output? */
static bool visible(struct rtf_parser *ps)
{
        const struct rtf_group *g = &ps->g[ps->depth];

        if (g->dest == RTF_DEST_SKIP || g->dest == RTF_DEST_FONTTBL)
                return false;
        if (!ps->html)
                return g->dest == RTF_DEST_TEXT;
        return g->dest == RTF_DEST_HTMLTAG || !g->htmlrtf;
}

/* A pending high surrogate not followed by its low half is replaced. */
static int flush_surrogate(struct rtf_parser *ps)
{
        if (!ps->high)
                return 0;
        ps->high = 0;
        return out_utf8(&ps->out, 0xFFFD);
}

static int emit_char(struct rtf_parser *ps, uint32_t c)
{
        int r;

        if (!visible(ps))
                return 0;
        r = flush_surrogate(ps);
        if (r < 0)
                return r;
        return out_utf8(&ps->out, c);
}

/* One byte of text (literal or \'hh), in the document's code page. */
static int emit_byte(struct rtf_parser *ps, uint8_t b)
{
        int r;

        if (ps->skip > 0) {
                ps->skip--;
                return 0;
        }
        if (!visible(ps))
                return 0;
        if (b < 0x80)
                return emit_char(ps, b);
        /* Text takes its font's code page; HTML markup the document's. */
        switch (cur(ps)->dest == RTF_DEST_HTMLTAG || !cur(ps)->cpg ? ps->cpg : cur(ps)->cpg) {
        case 65001: /* UTF-8: the bytes are already what we produce */
                r = flush_surrogate(ps);
                return r < 0 ? r : out_bytes(&ps->out, &b, 1);
        case 1252:
                return emit_char(ps, b < 0xA0 ? cp1252_hi[b - 0x80] : b);
        case 28591: /* ISO-8859-1 */
                return emit_char(ps, b);
        default: /* a code page we do not map (DBCS, Cyrillic, ...) */
                return emit_char(ps, 0xFFFD);
        }
}

static int emit_crlf(struct rtf_parser *ps)
{
        int r = emit_char(ps, '\r');

        return r < 0 ? r : emit_char(ps, '\n');
}

static int emit_unicode(struct rtf_parser *ps, int32_t v)
{
        /* \uN is a signed 16-bit UTF-16 unit; anything else is garbage. */
        uint32_t c = v < -32768 || v > 65535 ? 0xFFFD : v < 0 ? (uint32_t)(v + 65536) : (uint32_t)v;
        int r;

        ps->skip = cur(ps)->uc;
        if (!visible(ps))
                return 0;
        if (c >= 0xDC00 && c <= 0xDFFF && ps->high) {
                c = 0x10000 + ((ps->high - 0xD800) << 10) + (c - 0xDC00);
                ps->high = 0;
                return out_utf8(&ps->out, c);
        }
        r = flush_surrogate(ps);
        if (r < 0)
                return r;
        if (c >= 0xD800 && c <= 0xDBFF) {
                ps->high = c;
                return 0;
        }
        return out_utf8(&ps->out, c);
}

static bool word_is(const char *w, const char *s)
{
        /* Control words are compared against dozens of names each: most
         * differ in the first letter. */
        return w[0] == s[0] && strcmp(w, s) == 0;
}

/* Destinations whose content is never visible text. */
static bool skipped_destination(const char *w)
{
        static const char *const skip[] = {
                "colortbl",   "stylesheet", "info",    "pict",
                "object",   "themedata",  "datastore",  "listtable", "listoverridetable",
                "rsidtbl",  "generator",  "xmlnstbl",   "header",  "footer",
                "headerl",  "headerr",    "headerf",    "footerl", "footerr",
                "footerf",  "fldinst",    "latentstyles", "filetbl", "revtbl",
                "colorschememapping", "pgdsctbl", "mmathPr", "operator", "author",
        };

        for (size_t i = 0; i < ELEMENTSOF(skip); i++)
                if (word_is(w, skip[i]))
                        return true;
        return false;
}

/* The code page of a font's \fcharsetN; 0 (the document's) if unknown. */
static uint16_t charset_cpg(int32_t charset)
{
        static const struct {
                uint8_t charset;
                uint16_t cpg;
        } map[] = {
                { 0, 1252 },   { 2, 42 },     { 77, 10000 }, { 128, 932 },  { 129, 949 },
                { 130, 1361 }, { 134, 936 },  { 136, 950 },  { 161, 1253 }, { 162, 1254 },
                { 163, 1258 }, { 177, 1255 }, { 178, 1256 }, { 186, 1257 }, { 204, 1251 },
                { 222, 874 },  { 238, 1250 }, { 255, 437 },
        };

        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (map[i].charset == charset)
                        return map[i].cpg;
        return 0;
}

static void font_define(struct rtf_parser *ps, uint16_t cpg)
{
        for (unsigned i = 0; i < ps->n_fonts; i++)
                if (ps->fonts[i].num == ps->def_font) {
                        ps->fonts[i].cpg = cpg;
                        return;
                }
        if (ps->n_fonts < RTF_MAX_FONTS)
                ps->fonts[ps->n_fonts++] = (struct rtf_font){ ps->def_font, cpg };
}

static uint16_t font_cpg(const struct rtf_parser *ps, int32_t num)
{
        for (unsigned i = 0; i < ps->n_fonts; i++)
                if (ps->fonts[i].num == num)
                        return ps->fonts[i].cpg;
        return 0;
}

static int control_word(struct rtf_parser *ps, const char *w, bool has_param, int32_t param)
{
        struct rtf_group *g = cur(ps);
        bool first = ps->group_start, star = ps->star;

        ps->group_start = false;
        ps->star = false;

        if (star && first) {
                /* {\*\htmltag ...} carries HTML; any other \* destination
                 * is one we may ignore, as readers must ([MSFT-RTF]). */
                if (ps->html && word_is(w, "htmltag") &&
                    (g->dest == RTF_DEST_TEXT || g->dest == RTF_DEST_HTMLTAG))
                        g->dest = RTF_DEST_HTMLTAG;
                else
                        g->dest = RTF_DEST_SKIP;
                return 0;
        }
        if (word_is(w, "bin")) {
                /* \binN: N raw bytes (picture data) that are not RTF and
                 * may hold braces; skipped whole. */
                if (has_param && param > 0)
                        ps->p += MIN((size_t)param, (size_t)(ps->end - ps->p));
                return 0;
        }
        if (word_is(w, "fonttbl")) {
                g->dest = g->dest == RTF_DEST_SKIP ? RTF_DEST_SKIP : RTF_DEST_FONTTBL;
                return 0;
        }
        if (g->dest == RTF_DEST_FONTTBL) {
                if (word_is(w, "f") && has_param)
                        ps->def_font = param;
                else if (word_is(w, "fcharset") && has_param)
                        font_define(ps, charset_cpg(param));
                else if (word_is(w, "cpg") && has_param && param > 0 && param <= UINT16_MAX)
                        font_define(ps, (uint16_t)param);
                return 0;
        }
        if (word_is(w, "f") && has_param) {
                g->cpg = font_cpg(ps, param);
                return 0;
        }
        if (skipped_destination(w)) {
                g->dest = RTF_DEST_SKIP;
                return 0;
        }
        if (word_is(w, "fromhtml")) {
                if (ps->depth == 1 && has_param && param == 1)
                        ps->fromhtml = true;
                return 0;
        }
        if (word_is(w, "ansicpg")) {
                if (has_param && param > 0)
                        ps->cpg = (unsigned)param;
                return 0;
        }
        if (word_is(w, "htmlrtf")) {
                g->htmlrtf = !has_param || param != 0;
                return 0;
        }
        if (word_is(w, "uc")) {
                g->uc = (uint8_t)(has_param && param >= 0 ? MIN(param, 8) : 1);
                return 0;
        }
        if (word_is(w, "u"))
                return has_param ? emit_unicode(ps, param) : 0;

        /* Everything below is text; it does not count as \uN fallback. */
        ps->skip = 0;
        if (word_is(w, "par") || word_is(w, "line") || word_is(w, "sect") || word_is(w, "row"))
                return emit_crlf(ps);
        if (word_is(w, "tab") || word_is(w, "cell"))
                return emit_char(ps, '\t');
        if (word_is(w, "lquote"))
                return emit_char(ps, 0x2018);
        if (word_is(w, "rquote"))
                return emit_char(ps, 0x2019);
        if (word_is(w, "ldblquote"))
                return emit_char(ps, 0x201C);
        if (word_is(w, "rdblquote"))
                return emit_char(ps, 0x201D);
        if (word_is(w, "bullet"))
                return emit_char(ps, 0x2022);
        if (word_is(w, "endash"))
                return emit_char(ps, 0x2013);
        if (word_is(w, "emdash"))
                return emit_char(ps, 0x2014);
        if (word_is(w, "emspace") || word_is(w, "enspace") || word_is(w, "qmspace"))
                return emit_char(ps, ' ');
        return 0;
}

static int hexval(uint8_t c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* After a backslash: a control word, \'hh, or a control symbol. */
static int control(struct rtf_parser *ps)
{
        char w[RTF_MAX_WORD + 1];
        size_t n = 0;
        bool neg = false, has_param = false, overlong = false;
        int64_t param = 0;
        uint8_t c;

        if (ps->p >= ps->end)
                return 0;
        c = *ps->p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
                bool first = ps->group_start;

                ps->p++;
                ps->group_start = false;
                if (c == '*') {
                        ps->star = first;
                        ps->group_start = first; /* \* precedes the destination word */
                        return 0;
                }
                ps->star = false;
                switch (c) {
                case '\'': {
                        int hi, lo;

                        if (ps->end - ps->p < 2) {
                                ps->p = ps->end; /* half an escape ends the input */
                                return 0;
                        }
                        hi = hexval(ps->p[0]);
                        lo = hexval(ps->p[1]);
                        if (hi < 0 || lo < 0)
                                return 0;
                        ps->p += 2;
                        return emit_byte(ps, (uint8_t)(hi << 4 | lo));
                }
                case '\\':
                case '{':
                case '}':
                        return emit_byte(ps, c);
                case '~':
                        ps->skip = 0;
                        return emit_char(ps, 0xA0);
                case '_':
                        ps->skip = 0;
                        return emit_char(ps, '-');
                case '\r':
                case '\n':
                        ps->skip = 0;
                        return emit_crlf(ps);
                default: /* \- optional hyphen, \: index subentry, ... */
                        return 0;
                }
        }
        while (ps->p < ps->end &&
               ((*ps->p >= 'a' && *ps->p <= 'z') || (*ps->p >= 'A' && *ps->p <= 'Z'))) {
                if (n < RTF_MAX_WORD)
                        w[n] = (char)*ps->p;
                else
                        overlong = true; /* no word we act on is this long */
                n += n < RTF_MAX_WORD;
                ps->p++;
        }
        w[overlong ? 0 : n] = 0;
        if (ps->p < ps->end && *ps->p == '-') {
                neg = true;
                ps->p++;
        }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
                has_param = true;
                if (param < INT32_MAX)
                        param = param * 10 + (*ps->p - '0');
                ps->p++;
        }
        param = MIN(param, (int64_t)INT32_MAX);
        if (neg)
                param = -param;
        if (ps->p < ps->end && *ps->p == ' ')
                ps->p++; /* the delimiter belongs to the word */
        return control_word(ps, w, has_param, (int32_t)param);
}

static int rtf_run(struct rtf_parser *ps)
{
        int r = 0;

        ps->cpg = 1252;
        ps->g[0].uc = 1;
        while (ps->p < ps->end && r >= 0) {
                uint8_t c = *ps->p++;

                switch (c) {
                case '{':
                        if (ps->depth + 1 >= RTF_MAX_DEPTH)
                                return -EBADMSG;
                        ps->g[ps->depth + 1] = ps->g[ps->depth];
                        ps->depth++;
                        ps->group_start = true;
                        ps->star = false;
                        ps->skip = 0;
                        break;
                case '}':
                        if (ps->depth == 0)
                                return 0; /* an unmatched brace: the document ends */
                        ps->depth--;
                        ps->group_start = false;
                        ps->star = false;
                        ps->skip = 0;
                        if (ps->depth == 0)
                                return 0; /* the end of the {\rtf ...} group */
                        break;
                case '\\':
                        r = control(ps);
                        break;
                case '\r':
                case '\n':
                        break; /* line breaks in RTF source are not text */
                default:
                        ps->group_start = false;
                        ps->star = false;
                        r = emit_byte(ps, c);
                        break;
                }
        }
        return r;
}

static int rtf_convert(const void *rtf, size_t len, bool html, uint8_t **ret, size_t *ret_len,
                       struct pst_diag *diag)
{
        struct rtf_parser *ps;
        const uint8_t *p = rtf;
        size_t max;
        int r;

        if (!rtf || len < 5 || memcmp(p, "{\\rtf", 5) != 0)
                return pst_diag_set(diag, -EBADMSG, 0, "RTF body: does not start with {\\rtf");
        ps = calloc(1, sizeof(*ps));
        if (!ps)
                return -ENOMEM;
        /* Every input byte yields at most 3 output bytes (\'hh: 4 in, <= 3 out). */
        max = len > PST_LZFU_MAX_OUT / 3 ? PST_LZFU_MAX_OUT : 3 * len;
        ps->p = p;
        ps->end = p + len;
        ps->html = html;
        ps->out.max = max;
        r = rtf_run(ps);
        if (r >= 0)
                r = flush_surrogate(ps);
        if (r == -EBADMSG)
                r = pst_diag_set(diag, r, (uint64_t)(ps->p - p),
                                 "RTF body: groups nested deeper than %u", RTF_MAX_DEPTH);
        else if (r == -EFBIG)
                r = pst_diag_set(diag, r, (uint64_t)(ps->p - p), "RTF body: output above %zu bytes",
                                 max);
        else if (r >= 0 && html && !ps->fromhtml)
                r = pst_diag_set(diag, -ENOENT, 0, "RTF body: no \\fromhtml1, no HTML inside");
        /* out_grow() always leaves room for the terminating NUL. */
        if (r >= 0 && !ps->out.buf) {
                ps->out.buf = malloc(1);
                r = ps->out.buf ? 0 : -ENOMEM;
        }
        if (r < 0) {
                free(ps->out.buf);
                free(ps);
                return r;
        }
        ps->out.buf[ps->out.len] = 0;
        *ret = ps->out.buf;
        *ret_len = ps->out.len;
        free(ps);
        return 0;
}

int pst_rtf_html(const void *rtf, size_t len, uint8_t **ret, size_t *ret_len, struct pst_diag *diag)
{
        return rtf_convert(rtf, len, true, ret, ret_len, diag);
}

int pst_rtf_text(const void *rtf, size_t len, uint8_t **ret, size_t *ret_len, struct pst_diag *diag)
{
        return rtf_convert(rtf, len, false, ret, ret_len, diag);
}
