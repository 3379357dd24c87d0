/* SPDX-License-Identifier: MIT
 *
 * mime.c - render a message (struct pst_mime_msg) as RFC 5322 / MIME bytes.
 *
 * Everything here comes from a PST, so every string is treated as hostile:
 * header text is folded and, when not plain ASCII, RFC 2047-encoded; bodies
 * are quoted-printable unless trivially 7-bit; attachments are base64; any
 * byte sequence that is not UTF-8 becomes U+FFFD.  The output depends on
 * the input only: boundaries and a missing Message-ID come from a hash of
 * the content, never from the clock or a random source, so a message that
 * is migrated twice is the same bytes twice (and deduplicates).
 */
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include <xxhash.h>

#include "pst/pst-internal.h"

#define MIME_MAX_DEPTH 16u  /* message/rfc822 nesting */
#define MIME_LINE 76u       /* folded header lines and encoded bodies */
#define MIME_GLUE 3u        /* room kept for ",", ":;" after a header token */
#define MIME_EW_BYTES 42u   /* UTF-8 bytes per encoded word (68 characters) */

struct mbuf {
        uint8_t *p;
        size_t len, cap;
        int err; /* sticky: the first failure, later writes are dropped */
};

static void mb_put(struct mbuf *b, const void *s, size_t n)
{
        if (b->err < 0 || n == 0)
                return;
        if (n > PST_MIME_MAX_OUT || b->len > PST_MIME_MAX_OUT - n) {
                b->err = -EFBIG;
                return;
        }
        if (b->len + n > b->cap) {
                size_t cap = MAX(MAX(b->cap * 2, (size_t)1024), b->len + n);
                uint8_t *p = realloc(b->p, cap);

                if (!p) {
                        b->err = -ENOMEM;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
}

static void mb_str(struct mbuf *b, const char *s)
{
        mb_put(b, s, strlen(s));
}

static void mb_done(struct mbuf *b)
{
        free(b->p);
        *b = (struct mbuf){};
}

/* ---- text helpers ----------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
        uint32_t c;
        size_t k;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xC2 && s[0] <= 0xDF)
                k = 2, c = s[0] & 0x1F;
        else if (s[0] >= 0xE0 && s[0] <= 0xEF)
                k = 3, c = s[0] & 0x0F;
        else if (s[0] >= 0xF0 && s[0] <= 0xF4)
                k = 4, c = s[0] & 0x07;
        else
                return 0;
        if (n < k)
                return 0;
        for (size_t i = 1; i < k; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3F);
        }
        if ((k == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) || (k == 4 && (c < 0x10000 || c > 0x10FFFF)))
                return 0;
        return k;
}

/* s as valid UTF-8 (invalid sequences and NULs become U+FFFD). */
static void mb_utf8(struct mbuf *b, const uint8_t *s, size_t n)
{
        size_t i = 0, start = 0;

        /* Valid runs are copied whole; only a bad byte breaks one. */
        while (i < n) {
                size_t k;

                if (s[i] != 0 && s[i] < 0x80) {
                        i++;
                        continue;
                }
                k = s[i] ? utf8_len(s + i, n - i) : 0;
                if (k > 0) {
                        i += k;
                        continue;
                }
                mb_put(b, s + start, i - start);
                mb_put(b, "\xEF\xBF\xBD", 3);
                start = ++i;
        }
        mb_put(b, s + start, n - start);
}

static bool is_ascii_print(const char *s)
{
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7E)
                        return false;
        return true;
}

/* Content hash for boundaries and derived Message-IDs: XXH3, chained. */
static uint64_t content_hash(uint64_t h, const void *data, size_t n)
{
        return XXH3_64bits_withSeed(data, n, h);
}

#define HASH_INIT UINT64_C(0xCBF29CE484222325)

/* Make room for n more bytes at once (one allocation for a known size). */
static bool mb_reserve(struct mbuf *b, size_t n)
{
        uint8_t *p;
        size_t cap;

        if (b->err < 0)
                return false;
        if (n > PST_MIME_MAX_OUT || b->len > PST_MIME_MAX_OUT - n) {
                b->err = -EFBIG;
                return false;
        }
        if (b->len + n <= b->cap)
                return true;
        /* Geometric, so a buffer reused for many messages settles. */
        cap = MAX(b->len + n, MIN(2 * b->cap, (size_t)PST_MIME_MAX_OUT + 1));
        p = realloc(b->p, cap);
        if (!p) {
                b->err = -ENOMEM;
                return false;
        }
        b->p = p;
        b->cap = cap;
        return true;
}

/* ---- encodings -------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encode n (< 58) bytes into o; returns the characters written. */
static size_t b64_line_scalar(uint8_t *o, const uint8_t *s, size_t n)
{
        uint8_t *start = o;
        size_t i = 0;

        for (; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

                o[0] = (uint8_t)b64[v >> 18];
                o[1] = (uint8_t)b64[(v >> 12) & 63];
                o[2] = (uint8_t)b64[(v >> 6) & 63];
                o[3] = (uint8_t)b64[v & 63];
                o += 4;
        }
        if (i < n) {
                uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);

                o[0] = (uint8_t)b64[v >> 18];
                o[1] = (uint8_t)b64[(v >> 12) & 63];
                o[2] = i + 1 < n ? (uint8_t)b64[(v >> 6) & 63] : '=';
                o[3] = '=';
                o += 4;
        }
        return (size_t)(o - start);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* SSSE3: 12 input bytes to 16 characters per step (the multiply-shift
 * and shuffle-table method of Muła and Lemire, "Faster Base64 Encoding
 * and Decoding Using AVX2 Instructions", 2018).  Reads 16 bytes for 12,
 * so it stops while 16 remain and leaves the rest to the scalar code. */
__attribute__((target("ssse3"))) static size_t b64_line_ssse3(uint8_t *o, const uint8_t *s, size_t n,
                                                              size_t avail)
{
        const __m128i shuf = _mm_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1);
        const __m128i lut = _mm_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                          '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62,
                                          '/' - 63, 'A', 0, 0);
        size_t i = 0, k = 0;

        /* A step reads 16 bytes and encodes the first 12; it may read into
         * the next line (avail bytes follow s).  A line's last 9 bytes are
         * one more step whose 4 surplus characters the line end and the
         * next line overwrite. */
        for (; i + 12 <= n + (n - i == 9 ? 3 : 0) && i + 16 <= avail; i += 12, k += 16) {
                __m128i in = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + i)), shuf);
                __m128i t0 = _mm_and_si128(in, _mm_set1_epi32(0x0fc0fc00));
                __m128i t1 = _mm_mulhi_epu16(t0, _mm_set1_epi32(0x04000040));
                __m128i t2 = _mm_and_si128(in, _mm_set1_epi32(0x003f03f0));
                __m128i t3 = _mm_mullo_epi16(t2, _mm_set1_epi32(0x01000010));
                __m128i idx = _mm_or_si128(t1, t3);
                __m128i r = _mm_subs_epu8(idx, _mm_set1_epi8(51));
                __m128i less = _mm_cmpgt_epi8(_mm_set1_epi8(26), idx);

                r = _mm_or_si128(r, _mm_and_si128(less, _mm_set1_epi8(13)));
                r = _mm_add_epi8(_mm_shuffle_epi8(lut, r), idx);
                _mm_storeu_si128((__m128i *)(o + k), r);
                if (n - i == 9)
                        return k + 12;
        }
        return k + b64_line_scalar(o + k, s + i, n - i);
}

typedef size_t (*b64_line_fn)(uint8_t *o, const uint8_t *s, size_t n, size_t avail);

static size_t b64_line_plain(uint8_t *o, const uint8_t *s, size_t n, size_t avail)
{
        (void)avail;
        return b64_line_scalar(o, s, n);
}

static b64_line_fn b64_line_pick(void)
{
        return __builtin_cpu_supports("ssse3") ? b64_line_ssse3 : b64_line_plain;
}
#else
typedef size_t (*b64_line_fn)(uint8_t *o, const uint8_t *s, size_t n, size_t avail);

static size_t b64_line_plain(uint8_t *o, const uint8_t *s, size_t n, size_t avail)
{
        (void)avail;
        return b64_line_scalar(o, s, n);
}

static b64_line_fn b64_line_pick(void)
{
        return b64_line_plain;
}
#endif

static void b64_chunk(struct mbuf *b, const uint8_t *s, size_t n)
{
        if (!mb_reserve(b, (n + 2) / 3 * 4))
                return;
        b->len += b64_line_scalar(b->p + b->len, s, n);
}

/* Base64 body in 76-character lines (57 input bytes each), written in
 * place after one reservation of its exact size. */
static void b64_body(struct mbuf *b, const uint8_t *s, size_t n)
{
        size_t lines = (n + 56) / 57;
        b64_line_fn b64_line = b64_line_pick();

        if (!mb_reserve(b, lines * 78))
                return;
        for (size_t i = 0; i < n; i += 57) {
                uint8_t *o = b->p + b->len;
                size_t k = b64_line(o, s + i, MIN((size_t)57, n - i), n - i);

                o[k] = '\r';
                o[k + 1] = '\n';
                b->len += k + 2;
        }
}

/* Normalise line ends (CR, LF, CRLF) of UTF-8 text to CRLF, replacing
 * invalid UTF-8; the result is what the body encoders work on. */
static void text_normalise(struct mbuf *out, const char *s, size_t n)
{
        const uint8_t *p = (const uint8_t *)s;
        size_t i = 0, start = 0;

        while (i < n) {
                if (p[i] == '\r' || p[i] == '\n') {
                        mb_utf8(out, p + start, i - start);
                        mb_put(out, "\r\n", 2);
                        i += (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
                        start = i;
                } else {
                        i++;
                }
        }
        mb_utf8(out, p + start, n - start);
}

/* 7bit only for ASCII text with short lines and no '=', so a boundary
 * ("--=_...") can never occur in it; anything else is quoted-printable. */
static bool text_is_7bit(const uint8_t *s, size_t n)
{
        size_t col = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
                        if (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
                                return false;
                        col = 0;
                        i++;
                        continue;
                }
                if (s[i] >= 0x7F || s[i] == '=' || (s[i] < 0x20 && s[i] != '\t'))
                        return false;
                if (++col > 998 - 2)
                        return false;
        }
        return true;
}

static void qp_body(struct mbuf *b, const uint8_t *s, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t col = 0;
        uint8_t *o;

        /* At most 3 characters a byte, a soft break per 25 bytes, a CRLF:
         * reserved once, then written in place. */
        if (n > (PST_MIME_MAX_OUT - 16) / 4) {
                b->err = b->err < 0 ? b->err : -EFBIG;
                return;
        }
        if (!mb_reserve(b, 3 * n + n / 8 + 16))
                return;
        o = b->p + b->len;
        for (size_t i = 0; i < n; i++) {
                bool eol = i + 1 >= n || (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n');
                size_t k;

                if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
                        *o++ = '\r';
                        *o++ = '\n';
                        col = 0;
                        i++;
                        continue;
                }
                /* Whitespace before a line end would be stripped in transit. */
                k = (s[i] >= 0x21 && s[i] <= 0x7E && s[i] != '=') || ((s[i] == ' ' || s[i] == '\t') && !eol)
                            ? 1
                            : 3;
                if (col + k > MIME_LINE - 1) {
                        *o++ = '=';
                        *o++ = '\r';
                        *o++ = '\n';
                        col = 0;
                }
                if (k == 1) {
                        *o++ = s[i];
                } else {
                        *o++ = '=';
                        *o++ = (uint8_t)hex[s[i] >> 4];
                        *o++ = (uint8_t)hex[s[i] & 15];
                }
                col += k;
        }
        if (n > 0 && !(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n')) {
                *o++ = '\r';
                *o++ = '\n';
        }
        b->len = (size_t)(o - b->p);
}

/* ---- header fields ---------------------------------------------------- */

struct hdr {
        struct mbuf *b;
        size_t col;
};

static void hdr_begin(struct hdr *h, struct mbuf *b, const char *name)
{
        h->b = b;
        mb_str(b, name);
        mb_put(b, ":", 1);
        h->col = strlen(name) + 1;
}

/* A token preceded by a space, or by a fold when the line would pass 76
 * (even the first one: "Subject:" may end its line). */
static void hdr_token(struct hdr *h, const char *t, size_t n)
{
        if (h->col > 1 && h->col + 1 + n > MIME_LINE - MIME_GLUE) {
                mb_put(h->b, "\r\n", 2);
                h->col = 0;
        }
        mb_put(h->b, " ", 1);
        mb_put(h->b, t, n);
        h->col += 1 + n;
}

/* Append to the current token without a space (e.g. a comma). */
static void hdr_glue(struct hdr *h, const char *t)
{
        mb_str(h->b, t);
        h->col += strlen(t);
}

static void hdr_end(struct hdr *h)
{
        mb_put(h->b, "\r\n", 2);
}

/* RFC 2047 B encoded words, each at most 75 characters, split between
 * whole UTF-8 characters. */
static void hdr_encoded(struct hdr *h, const char *s)
{
        struct mbuf u = {}, w = {};
        size_t i = 0;

        mb_utf8(&u, (const uint8_t *)s, strlen(s));
        if (u.err < 0) {
                h->b->err = u.err;
                mb_done(&u);
                return;
        }
        while (i < u.len) {
                /* Fill the current line when at least 12 bytes fit, so no
                 * fold is needed right after "Name:". */
                size_t room = MIME_LINE - MIME_GLUE - MIN(h->col + 1 + 12, (size_t)(MIME_LINE - MIME_GLUE));
                size_t max = room / 4 * 3 >= 12 ? MIN(room / 4 * 3, (size_t)MIME_EW_BYTES) : MIME_EW_BYTES;
                size_t n = 0;

                while (i + n < u.len) {
                        size_t k = utf8_len(u.p + i + n, u.len - i - n);

                        if (n > 0 && n + k > max)
                                break;
                        n += k;
                }
                w.len = 0;
                mb_str(&w, "=?UTF-8?B?");
                b64_chunk(&w, u.p + i, n);
                mb_str(&w, "?=");
                if (w.err < 0) {
                        h->b->err = w.err;
                        break;
                }
                hdr_token(h, (const char *)w.p, w.len);
                i += n;
        }
        mb_done(&u);
        mb_done(&w);
}

/* Unstructured text (Subject): plain words when ASCII, else encoded words. */
static void hdr_text(struct hdr *h, const char *s)
{
        const char *p = s;

        if (!is_ascii_print(s) || strstr(s, "=?"))
                return hdr_encoded(h, s);
        for (const char *q = s;; q++)
                if (*q == ' ' || !*q) {
                        if (q - p > 70)
                                return hdr_encoded(h, s);
                        p = q + 1;
                        if (!*q)
                                break;
                }
        for (p = s;;) {
                const char *q = strchr(p, ' ');
                size_t n = q ? (size_t)(q - p) : strlen(p);

                hdr_token(h, p, n);
                if (!q)
                        break;
                p = q + 1;
        }
}

static bool is_atext_or_space(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr(" !#$%&'*+-/=?^_`{|}~", c));
}

/* A display name: atoms, a quoted string, or encoded words. */
static void hdr_phrase(struct hdr *h, const char *s)
{
        bool atoms = true;
        size_t n = strlen(s), esc = 0;

        for (const char *q = s; *q; q++) {
                atoms = atoms && is_atext_or_space(*q);
                esc += *q == '"' || *q == '\\';
        }
        if (atoms && !strstr(s, "=?") && n <= 70) {
                hdr_text(h, s);
                return;
        }
        /* A quoted string cannot be folded: only if it fits a line. */
        if (is_ascii_print(s) && !strstr(s, "=?") && n + esc <= 64) {
                char q[64 + 3];
                size_t k = 0;

                q[k++] = '"';
                for (const char *c = s; *c; c++) {
                        if (*c == '"' || *c == '\\')
                                q[k++] = '\\';
                        q[k++] = *c;
                }
                q[k++] = '"';
                hdr_token(h, q, k);
                return;
        }
        hdr_encoded(h, s);
}

/* An addr-spec we can write unquoted: local@domain in dot-atom characters. */
static bool addr_ok(const char *a)
{
        const char *at;

        if (!a || !*a || strlen(a) > 254)
                return false;
        at = strchr(a, '@');
        if (!at || at == a || !at[1] || strchr(at + 1, '@'))
                return false;
        for (const char *c = a; *c; c++)
                if (*c != '@' && (*c == ' ' || !is_atext_or_space(*c)) && *c != '.')
                        return false;
        return true;
}

static bool phrase_nonempty(const char *s)
{
        return s && *s;
}

static void hdr_mailbox(struct hdr *h, const struct pst_mime_addr *a)
{
        if (addr_ok(a->addr)) {
                char tok[260];

                if (phrase_nonempty(a->name))
                        hdr_phrase(h, a->name);
                snprintf(tok, sizeof(tok), phrase_nonempty(a->name) ? "<%s>" : "%s", a->addr);
                hdr_token(h, tok, strlen(tok));
        } else {
                /* No usable SMTP address (e.g. an X.500 one): an empty
                 * group keeps the name without inventing an address. */
                hdr_phrase(h, phrase_nonempty(a->name) ? a->name : "unknown");
                hdr_glue(h, ":;");
        }
}

static void hdr_addrs(struct mbuf *b, const char *name, const struct pst_mime_addr *a, size_t n)
{
        struct hdr h;

        if (n == 0)
                return;
        hdr_begin(&h, b, name);
        for (size_t i = 0; i < n; i++) {
                hdr_mailbox(&h, &a[i]);
                if (i + 1 < n)
                        hdr_glue(&h, ",");
        }
        hdr_end(&h);
}

/* Printable ASCII without spaces and angle brackets (msg-id, Content-ID). */
static bool id_ok(const char *s, size_t n)
{
        if (n == 0 || n > 900)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= 0x20 || s[i] >= 0x7F || s[i] == '<' || s[i] == '>')
                        return false;
        return true;
}

/* Space-separated message ids, each written as <id>; bad ones are dropped. */
static void hdr_ids(struct mbuf *b, const char *name, const char *s)
{
        struct hdr h;
        bool any = false;

        if (!s)
                return;
        for (const char *p = s; *p;) {
                size_t n;
                char tok[904];

                while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ',')
                        p++;
                n = strcspn(p, " \t\r\n,");
                if (n == 0)
                        break;
                if (n >= 2 && p[0] == '<' && p[n - 1] == '>' && id_ok(p + 1, n - 2)) {
                        if (!any)
                                hdr_begin(&h, b, name);
                        snprintf(tok, sizeof(tok), "<%.*s>", (int)(n - 2), p + 1);
                        hdr_token(&h, tok, n);
                        any = true;
                } else if (id_ok(p, n)) {
                        if (!any)
                                hdr_begin(&h, b, name);
                        snprintf(tok, sizeof(tok), "<%.*s>", (int)n, p);
                        hdr_token(&h, tok, n + 2);
                        any = true;
                }
                p += n;
        }
        if (any)
                hdr_end(&h);
}

static void hdr_date(struct mbuf *b, int64_t t)
{
        static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        time_t tt = (time_t)t;
        struct tm tm;
        char s[64];

        /* Years 1900-9999 only: gmtime would accept what RFC 5322 cannot say. */
        if (t < -2208988800LL || t > 253402300799LL || !gmtime_r(&tt, &tm))
                return;
        snprintf(s, sizeof(s), "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        mb_str(b, s);
}

/* ---- transport headers ------------------------------------------------ */

enum {
        SEEN_FROM = 1 << 0,
        SEEN_TO = 1 << 1,
        SEEN_CC = 1 << 2,
        SEEN_DATE = 1 << 3,
        SEEN_SUBJECT = 1 << 4,
        SEEN_MSGID = 1 << 5,
};

static bool name_is(const char *f, size_t n, const char *name)
{
        return n == strlen(name) && strncasecmp(f, name, n) == 0;
}

/* Copy PidTagTransportMessageHeaders up to its blank line, lines ending in
 * CRLF, dropping NULs, lines that are not fields, and the MIME fields
 * (Content-*, MIME-Version) that described the original body, not ours.
 * Returns which fields it copied (SEEN_*). */
static unsigned transport_headers(struct mbuf *b, const char *s)
{
        unsigned seen = 0;
        bool keep = false;

        while (*s) {
                size_t n = strcspn(s, "\r\n");
                const char *next = s + n;

                if (*next == '\r')
                        next++;
                if (*next == '\n')
                        next++;
                if (n == 0)
                        break; /* the end of the header section */
                if (*s == ' ' || *s == '\t') {
                        /* a continuation of the field before */
                } else {
                        size_t k = 0;

                        while (k < n && s[k] > 0x20 && s[k] < 0x7F && s[k] != ':')
                                k++;
                        keep = k > 0 && k < n && s[k] == ':' && strncasecmp(s, "Content-", 8) != 0 &&
                               !name_is(s, k, "MIME-Version");
                        if (keep) {
                                seen |= name_is(s, k, "From") ? SEEN_FROM : 0;
                                seen |= name_is(s, k, "To") ? SEEN_TO : 0;
                                seen |= name_is(s, k, "Cc") ? SEEN_CC : 0;
                                seen |= name_is(s, k, "Date") ? SEEN_DATE : 0;
                                seen |= name_is(s, k, "Subject") ? SEEN_SUBJECT : 0;
                                seen |= name_is(s, k, "Message-ID") ? SEEN_MSGID : 0;
                        }
                }
                if (keep) {
                        /* Copied in runs between the NULs a field may hold. */
                        for (size_t i = 0; i < n;) {
                                const char *z = memchr(s + i, '\0', n - i);
                                size_t k = z ? (size_t)(z - (s + i)) : n - i;

                                mb_put(b, s + i, k);
                                i += k + (z != NULL);
                        }
                        mb_put(b, "\r\n", 2);
                }
                s = next;
        }
        return seen;
}

/* ---- entities --------------------------------------------------------- */

static int render_message(const struct pst_mime_msg *m, unsigned depth, struct mbuf *out);

static void text_entity(struct mbuf *b, const char *subtype, const char *s, size_t n)
{
        struct mbuf t = {};
        bool plain;

        text_normalise(&t, s, n);
        if (t.err < 0) {
                b->err = t.err;
                mb_done(&t);
                return;
        }
        plain = text_is_7bit(t.p, t.len);
        mb_str(b, "Content-Type: text/");
        mb_str(b, subtype);
        mb_str(b, "; charset=utf-8\r\nContent-Transfer-Encoding: ");
        mb_str(b, plain ? "7bit\r\n\r\n" : "quoted-printable\r\n\r\n");
        if (plain) {
                mb_put(b, t.p, t.len);
                if (t.len > 0 && !(t.len >= 2 && t.p[t.len - 1] == '\n'))
                        mb_put(b, "\r\n", 2);
        } else {
                qp_body(b, t.p, t.len);
        }
        mb_done(&t);
}

/* type/subtype made of token characters, lower-cased; else octet-stream.
 * A multipart or message type with plain bytes would lie about them. */
static void content_type(char *out, size_t size, const char *t)
{
        static const char tspecial_free[] = "!#$&^_.+-";
        size_t n = t ? strlen(t) : 0, slash = 0;
        bool ok = n > 2 && n < size;

        for (size_t i = 0; ok && i < n; i++) {
                char c = t[i];

                if (c == '/' && !slash && i > 0 && i + 1 < n)
                        slash = i;
                else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           strchr(tspecial_free, c) != NULL))
                        ok = false;
        }
        if (!ok || !slash || strncasecmp(t, "multipart/", 10) == 0 || strncasecmp(t, "message/", 8) == 0) {
                snprintf(out, size, "application/octet-stream");
                return;
        }
        for (size_t i = 0; i <= n; i++)
                out[i] = (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] - 'A' + 'a' : t[i]);
}

static bool filename_simple(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 60 || !is_ascii_print(s) || strstr(s, "=?"))
                return false;
        return strpbrk(s, "\"\\") == NULL;
}

/* RFC 2231 filename*0*=UTF-8''..., continued so no line passes 76. */
static void disposition_filename(struct mbuf *b, const char *name)
{
        static const char hex[] = "0123456789ABCDEF";
        struct mbuf u = {};
        unsigned part = 0;
        size_t i = 0;

        mb_utf8(&u, (const uint8_t *)name, strlen(name));
        if (u.err < 0) {
                b->err = u.err;
                mb_done(&u);
                return;
        }
        while (i < u.len) {
                char line[96];
                size_t k = (size_t)snprintf(line, sizeof(line), ";\r\n filename*%u*=%s", part,
                                            part == 0 ? "UTF-8''" : "");

                while (i < u.len && k < 70) {
                        uint8_t c = u.p[i++];

                        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            strchr("!#$&+-.^_`|~", c)) {
                                line[k++] = (char)c;
                        } else {
                                line[k++] = '%';
                                line[k++] = hex[c >> 4];
                                line[k++] = hex[c & 15];
                        }
                }
                mb_put(b, line, k);
                part++;
        }
        mb_done(&u);
}

static int attachment_entity(struct mbuf *b, const struct pst_mime_part *a, unsigned depth)
{
        const char *name = a->filename && *a->filename ? a->filename : NULL;
        char type[128];

        if (a->message) {
                struct mbuf inner = {};
                bool eight = false;
                int r = render_message(a->message, depth + 1, &inner);

                if (r < 0) {
                        mb_done(&inner);
                        return r;
                }
                for (size_t i = 0; i < inner.len && !eight; i++)
                        eight = inner.p[i] >= 0x80;
                mb_str(b, "Content-Type: message/rfc822\r\n");
                mb_str(b, eight ? "Content-Transfer-Encoding: 8bit\r\n" : "Content-Transfer-Encoding: 7bit\r\n");
                mb_str(b, "Content-Disposition: attachment");
                if (name && filename_simple(name)) {
                        mb_str(b, "; filename=\"");
                        mb_str(b, name);
                        mb_str(b, "\"");
                } else if (name) {
                        disposition_filename(b, name);
                }
                mb_str(b, "\r\n\r\n");
                mb_put(b, inner.p, inner.len);
                mb_done(&inner);
                return 0;
        }

        content_type(type, sizeof(type), a->mime_type);
        mb_str(b, "Content-Type: ");
        mb_str(b, type);
        if (name && filename_simple(name)) {
                mb_str(b, ";\r\n name=\"");
                mb_str(b, name);
                mb_str(b, "\"");
        }
        mb_str(b, "\r\nContent-Transfer-Encoding: base64\r\n");
        if (a->content_id && id_ok(a->content_id, strlen(a->content_id))) {
                mb_str(b, "Content-ID: <");
                mb_str(b, a->content_id);
                mb_str(b, ">\r\n");
        }
        mb_str(b, a->is_inline ? "Content-Disposition: inline" : "Content-Disposition: attachment");
        if (name && filename_simple(name)) {
                mb_str(b, "; filename=\"");
                mb_str(b, name);
                mb_str(b, "\"");
        } else if (name) {
                disposition_filename(b, name);
        }
        mb_str(b, "\r\n\r\n");
        if (a->data)
                b64_body(b, a->data, a->len);
        return 0;
}

/* ---- multiparts -------------------------------------------------------- */

/* A hash of everything m renders from, for boundaries and a derived
 * Message-ID: it is known before rendering, so each entity is rendered
 * once, straight into the output. */
static uint64_t msg_hash(const struct pst_mime_msg *m, unsigned depth)
{
        const char *strs[] = { m->transport_headers, m->from.name, m->from.addr, m->subject,
                               m->message_id, m->in_reply_to, m->references };
        uint64_t h = content_hash(HASH_INIT, &depth, sizeof(depth));

        for (size_t i = 0; i < ELEMENTSOF(strs); i++)
                if (strs[i])
                        h = content_hash(h, strs[i], strlen(strs[i]) + 1);
        for (size_t i = 0; i < m->n_to + m->n_cc + m->n_bcc; i++) {
                const struct pst_mime_addr *a = i < m->n_to ? &m->to[i]
                                                : i < m->n_to + m->n_cc ? &m->cc[i - m->n_to]
                                                                        : &m->bcc[i - m->n_to - m->n_cc];

                h = content_hash(h, a->name ? a->name : "", a->name ? strlen(a->name) + 1 : 1);
                h = content_hash(h, a->addr ? a->addr : "", a->addr ? strlen(a->addr) + 1 : 1);
        }
        if (m->has_date)
                h = content_hash(h, &m->date, sizeof(m->date));
        if (m->body_text)
                h = content_hash(h, m->body_text, m->body_text_len);
        h = content_hash(h, "\1", 1);
        if (m->body_html)
                h = content_hash(h, m->body_html, m->body_html_len);
        for (size_t i = 0; i < m->n_parts; i++) {
                const struct pst_mime_part *a = &m->parts[i];
                const char *ps[] = { a->filename, a->mime_type, a->content_id };

                for (size_t k = 0; k < ELEMENTSOF(ps); k++)
                        h = content_hash(h, ps[k] ? ps[k] : "", ps[k] ? strlen(ps[k]) + 1 : 1);
                h = content_hash(h, &a->is_inline, 1);
                if (a->message && depth < MIME_MAX_DEPTH) {
                        uint64_t e = msg_hash(a->message, depth + 1);

                        h = content_hash(h, &e, sizeof(e));
                } else if (a->data) {
                        h = content_hash(h, a->data, a->len);
                }
        }
        return h;
}

/* Render child k of a multipart into b. */
typedef int (*kid_fn)(struct mbuf *b, const struct pst_mime_msg *m, unsigned depth, uint64_t h,
                      size_t k);

/* Clashes tolerated before giving up: each needs the content to hold the
 * exact boundary string, so only a file crafted for it gets here. */
#define MAX_BOUNDARY_TRIES 64u

/* A multipart entity of n children rendered by kid straight into b.  The
 * boundary comes from h; should a child contain it, the entity is
 * rendered again with the next one, so it is deterministic and safe. */
static int multipart(struct mbuf *b, const char *subtype, const struct pst_mime_msg *m,
                     unsigned depth, uint64_t h, kid_fn kid, size_t n)
{
        size_t start = b->len;
        char boundary[48];
        int r = 0;

        h = content_hash(h, subtype, strlen(subtype));
        for (unsigned salt = 0; salt < MAX_BOUNDARY_TRIES; salt++) {
                size_t blen;
                bool clash = false;

                b->len = start;
                blen = (size_t)snprintf(boundary, sizeof(boundary), "=_pst_%016" PRIx64, h + salt);
                mb_str(b, "Content-Type: multipart/");
                mb_str(b, subtype);
                mb_str(b, ";\r\n boundary=\"");
                mb_str(b, boundary);
                mb_str(b, "\"\r\n\r\n");
                for (size_t i = 0; i < n && !clash && r >= 0 && b->err >= 0; i++) {
                        size_t kstart;

                        mb_str(b, "--");
                        mb_str(b, boundary);
                        mb_str(b, "\r\n");
                        kstart = b->len;
                        r = kid(b, m, depth, h, i);
                        if (r < 0 || b->err < 0)
                                break;
                        clash = memmem(b->p + kstart, b->len - kstart, boundary, blen) != NULL;
                        /* The CRLF before a boundary belongs to the boundary. */
                        if (!(b->len - kstart >= 2 && b->p[b->len - 1] == '\n'))
                                mb_str(b, "\r\n");
                        mb_str(b, "\r\n");
                }
                if (r < 0)
                        return r;
                if (b->err < 0)
                        return b->err;
                if (clash)
                        continue;
                mb_str(b, "--");
                mb_str(b, boundary);
                mb_str(b, "--\r\n");
                return b->err;
        }
        b->len = start;
        return -EBADMSG;
}

/* An inline part the HTML refers to by Content-ID. */
static bool is_related(const struct pst_mime_msg *m, const struct pst_mime_part *a)
{
        return m->body_html && a->is_inline && !a->message && a->content_id &&
               id_ok(a->content_id, strlen(a->content_id));
}

/* The k-th part of m with is_related() == related. */
static const struct pst_mime_part *nth_part(const struct pst_mime_msg *m, bool related, size_t k)
{
        for (size_t i = 0; i < m->n_parts; i++)
                if (is_related(m, &m->parts[i]) == related && k-- == 0)
                        return &m->parts[i];
        return NULL;
}

/* The body tree: mixed (attachments) around related (inline parts the
 * HTML refers to) around alternative (text and HTML) around the texts. */
static int text_kid(struct mbuf *b, const struct pst_mime_msg *m, unsigned depth, uint64_t h, size_t k)
{
        (void)depth;
        (void)h;
        if (k == 0)
                text_entity(b, "plain", m->body_text, m->body_text_len);
        else
                text_entity(b, "html", m->body_html, m->body_html_len);
        return b->err;
}

static int alt_entity(struct mbuf *b, const struct pst_mime_msg *m, unsigned depth, uint64_t h)
{
        if (m->body_text && m->body_html)
                return multipart(b, "alternative", m, depth, h, text_kid, 2);
        if (m->body_html)
                text_entity(b, "html", m->body_html, m->body_html_len);
        else
                text_entity(b, "plain", m->body_text ? m->body_text : "", m->body_text ? m->body_text_len : 0);
        return b->err;
}

static int related_kid(struct mbuf *b, const struct pst_mime_msg *m, unsigned depth, uint64_t h, size_t k)
{
        if (k == 0)
                return alt_entity(b, m, depth, h);
        return attachment_entity(b, nth_part(m, true, k - 1), depth);
}

static int related_entity(struct mbuf *b, const struct pst_mime_msg *m, unsigned depth, uint64_t h)
{
        size_t n = 0;

        for (size_t i = 0; i < m->n_parts; i++)
                n += is_related(m, &m->parts[i]);
        if (n > 0)
                return multipart(b, "related", m, depth, h, related_kid, n + 1);
        return alt_entity(b, m, depth, h);
}

static int mixed_kid(struct mbuf *b, const struct pst_mime_msg *m, unsigned depth, uint64_t h, size_t k)
{
        if (k == 0)
                return related_entity(b, m, depth, h);
        return attachment_entity(b, nth_part(m, false, k - 1), depth);
}

static int body_entity(struct mbuf *b, const struct pst_mime_msg *m, unsigned depth, uint64_t h)
{
        size_t n = 0;

        for (size_t i = 0; i < m->n_parts; i++)
                n += !is_related(m, &m->parts[i]);
        if (n > 0)
                return multipart(b, "mixed", m, depth, h, mixed_kid, n + 1);
        return related_entity(b, m, depth, h);
}

/* About how many bytes m renders to, to allocate the output once. */
static size_t estimate(const struct pst_mime_msg *m, unsigned depth)
{
        uint64_t n = 4096 + (m->transport_headers ? strlen(m->transport_headers) : 0) +
                     (uint64_t)m->body_text_len * 3 / 2 + (uint64_t)m->body_html_len * 3 / 2 +
                     256 * (m->n_to + m->n_cc + m->n_bcc);

        for (size_t i = 0; i < m->n_parts; i++) {
                const struct pst_mime_part *a = &m->parts[i];

                if (a->message && depth < MIME_MAX_DEPTH)
                        n += estimate(a->message, depth + 1);
                else if (a->data)
                        n += (uint64_t)(a->len + 56) / 57 * 78;
                n += 512;
        }
        return (size_t)MIN(n, (uint64_t)PST_MIME_MAX_OUT);
}

static int render_message(const struct pst_mime_msg *m, unsigned depth, struct mbuf *out)
{
        uint64_t h;
        unsigned seen = 0;
        bool synth;

        if (depth > MIME_MAX_DEPTH)
                return -EFBIG;
        h = msg_hash(m, depth);
        if (!mb_reserve(out, estimate(m, depth)))
                return out->err;

        if (m->transport_headers)
                seen = transport_headers(out, m->transport_headers);
        synth = seen == 0; /* nothing usable came from the transport headers */
        if (!(seen & SEEN_FROM) && (phrase_nonempty(m->from.name) || phrase_nonempty(m->from.addr)))
                hdr_addrs(out, "From", &m->from, 1);
        if (!(seen & SEEN_TO))
                hdr_addrs(out, "To", m->to, m->n_to);
        if (!(seen & SEEN_CC))
                hdr_addrs(out, "Cc", m->cc, m->n_cc);
        if (synth)
                hdr_addrs(out, "Bcc", m->bcc, m->n_bcc);
        if (!(seen & SEEN_DATE) && m->has_date)
                hdr_date(out, m->date);
        if (!(seen & SEEN_SUBJECT) && m->subject) {
                struct hdr hd;

                hdr_begin(&hd, out, "Subject");
                hdr_text(&hd, m->subject);
                hdr_end(&hd);
        }
        if (!(seen & SEEN_MSGID)) {
                size_t before = out->len;

                hdr_ids(out, "Message-ID", m->message_id);
                if (out->len == before && out->err >= 0) {
                        char id[64];

                        /* From everything the message renders from: messages
                         * that differ in any rendered byte differ here. */
                        snprintf(id, sizeof(id), "Message-ID: <%016" PRIx64 "@pstream.invalid>\r\n",
                                 content_hash(h, out->p, out->len));
                        mb_str(out, id);
                }
        }
        if (synth) {
                hdr_ids(out, "In-Reply-To", m->in_reply_to);
                hdr_ids(out, "References", m->references);
        }
        mb_str(out, "MIME-Version: 1.0\r\n");
        if (out->err < 0)
                return out->err;
        return body_entity(out, m, depth, h);
}

int pst_mime_render_into(const struct pst_mime_msg *m, uint8_t **buf, size_t *cap, size_t *ret_len)
{
        struct mbuf out;
        int r;

        if (!m || !buf || !cap || !ret_len)
                return -EINVAL;
        out = (struct mbuf){ .p = *buf, .cap = *buf ? *cap : 0 };
        r = render_message(m, 0, &out);
        if (r >= 0)
                mb_put(&out, "", 1); /* a NUL, not counted */
        r = r < 0 ? r : out.err;
        *buf = out.p;
        *cap = out.cap;
        if (r < 0)
                return r;
        *ret_len = out.len - 1;
        return 0;
}

int pst_mime_render(const struct pst_mime_msg *m, uint8_t **ret, size_t *ret_len)
{
        uint8_t *buf = NULL;
        size_t cap = 0;
        int r;

        if (!ret || !ret_len)
                return -EINVAL;
        r = pst_mime_render_into(m, &buf, &cap, ret_len);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}
