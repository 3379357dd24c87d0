/* SPDX-License-Identifier: MIT
 *
 * test-pst-mime.c - structural checks of pst_mime_render() output, without
 * golden files: CRLF everywhere, folded headers, RFC 2047 words and base64
 * and quoted-printable bodies that decode back to the input, consistent
 * boundaries, transport header handling, nesting, and determinism.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pstream/pst.h"

static char *render(const struct pst_mime_msg *m, size_t *ret_len)
{
        uint8_t *out = NULL;
        size_t len = 0;

        assert_int_equal(pst_mime_render(m, &out, &len), 0);
        assert_non_null(out);
        assert_int_equal(out[len], 0);
        assert_int_equal(strlen((char *)out), len);
        if (ret_len)
                *ret_len = len;
        return (char *)out;
}

/* Every line ends in CRLF; header lines stay under 78 characters, all
 * lines under 998. */
static void check_lines(const char *s, bool headers_short)
{
        bool in_headers = true;
        size_t col = 0;

        for (const char *p = s; *p; p++) {
                if (*p == '\r') {
                        assert_int_equal(p[1], '\n');
                        if (col == 0)
                                in_headers = false;
                        col = 0;
                        p++;
                        continue;
                }
                assert_int_not_equal(*p, '\n');
                col++;
                assert_true(col <= 998);
                if (headers_short && in_headers)
                        assert_true(col <= 78);
        }
        assert_int_equal(col, 0);
}

/* The unfolded value of the first header field called name, or NULL. */
static char *header(const char *msg, const char *name)
{
        size_t n = strlen(name);
        const char *p = msg;

        while (*p && !(p[0] == '\r' && p[1] == '\n')) {
                const char *eol = strstr(p, "\r\n");

                if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
                        char *v = malloc(strlen(p) + 1);
                        size_t k = 0;

                        p += n + 1;
                        while (*p == ' ')
                                p++;
                        for (;;) {
                                eol = strstr(p, "\r\n");
                                memcpy(v + k, p, (size_t)(eol - p));
                                k += (size_t)(eol - p);
                                if (eol[2] != ' ' && eol[2] != '\t')
                                        break;
                                p = eol + 2;
                        }
                        v[k] = 0;
                        return v;
                }
                p = eol + 2;
        }
        return NULL;
}

static int b64val(char c)
{
        const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *f = c ? strchr(t, c) : NULL;

        return f ? (int)(f - t) : -1;
}

/* Decode base64 from s up to the first line that is not base64. */
static size_t b64_decode(const char *s, uint8_t *out, size_t max)
{
        uint32_t acc = 0;
        int bits = 0;
        size_t n = 0;

        for (; *s && *s != '-'; s++) {
                int v = b64val(*s);

                if (*s == '\r' || *s == '\n' || *s == '=')
                        continue;
                assert_true(v >= 0);
                acc = acc << 6 | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        assert_true(n < max);
                        out[n++] = (uint8_t)(acc >> bits);
                }
        }
        return n;
}

/* Decode a header value made of RFC 2047 B words separated by spaces. */
static char *decode_words(const char *v)
{
        char *out = calloc(1, strlen(v) + 1);
        size_t n = 0;

        while (*v) {
                const char *end;
                char tmp[128];

                while (*v == ' ')
                        v++;
                assert_memory_equal(v, "=?UTF-8?B?", 10);
                end = strstr(v + 10, "?=");
                assert_non_null(end);
                assert_true(end - v + 2 <= 75);
                memcpy(tmp, v + 10, (size_t)(end - v - 10));
                tmp[end - v - 10] = 0;
                n += b64_decode(tmp, (uint8_t *)out + n, strlen(v));
                v = end + 2;
        }
        return out;
}

static size_t count(const char *s, const char *needle)
{
        size_t n = 0;

        for (const char *p = s; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

static void test_simple(void **state)
{
        struct pst_mime_addr to = { "Bob", "bob@example.com" };
        struct pst_mime_msg m = {
                .from = { "Alice Example", "alice@example.com" },
                .to = &to,
                .n_to = 1,
                .subject = "Hello there",
                .has_date = true,
                .date = 0,
                .message_id = "id1@example.com",
                .in_reply_to = "<id0@example.com>",
                .references = "<a@x> <b@x>",
                .body_text = "line 1\nline 2\r\nline 3",
                .body_text_len = 21,
        };
        char *s, *v;

        (void)state;
        s = render(&m, NULL);
        check_lines(s, true);
        v = header(s, "From");
        assert_string_equal(v, "Alice Example <alice@example.com>");
        free(v);
        v = header(s, "Date");
        assert_string_equal(v, "Thu, 01 Jan 1970 00:00:00 +0000");
        free(v);
        v = header(s, "Message-ID");
        assert_string_equal(v, "<id1@example.com>");
        free(v);
        v = header(s, "References");
        assert_string_equal(v, "<a@x> <b@x>");
        free(v);
        v = header(s, "MIME-Version");
        assert_string_equal(v, "1.0");
        free(v);
        v = header(s, "Content-Transfer-Encoding");
        assert_string_equal(v, "7bit");
        free(v);
        assert_non_null(strstr(s, "\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"));
        free(s);
}

static void test_encoded_subject(void **state)
{
        static const char subject[] =
                "Grüße aus Köln – ein sehr langer Betreff mit Umlauten äöü, der über mehrere Zeilen "
                "gefaltet werden muss 😀 und trotzdem zurückkommt";
        struct pst_mime_addr to[] = { { "Jörg Müller", "j@example.com" }, { "Smith, John", "s@example.com" },
                                      { "X.500 only", "/o=Org/ou=Admin/cn=Recipients/cn=x" } };
        struct pst_mime_msg m = { .from = { NULL, "a@example.com" }, .to = to, .n_to = 3, .subject = subject };
        char *s, *v, *d;

        (void)state;
        s = render(&m, NULL);
        check_lines(s, true);
        v = header(s, "Subject");
        d = decode_words(v);
        assert_string_equal(d, subject);
        free(d);
        free(v);
        v = header(s, "To");
        assert_non_null(strstr(v, "=?UTF-8?B?"));
        assert_non_null(strstr(v, "<j@example.com>, \"Smith, John\" <s@example.com>, \"X.500 only\":;"));
        free(v);
        v = header(s, "From");
        assert_string_equal(v, "a@example.com");
        free(v);
        free(s);
}

static void test_many_recipients(void **state)
{
        struct pst_mime_addr to[12];
        char names[12][160];
        struct pst_mime_msg m = { .to = to, .n_to = 12, .cc = to, .n_cc = 12 };
        char *s;

        (void)state;
        /* Names of every length, encoded and not, without an address (a
         * group, ending in ":;,") or with one: no line passes 78. */
        for (int i = 0; i < 12; i++) {
                memset(names[i], 0, sizeof(names[i]));
                for (int k = 0; k < 5 * i + 3; k++)
                        strcat(names[i], i % 2 ? "\xC3\xA9" : "e");
                to[i] = (struct pst_mime_addr){ names[i], i % 3 ? "user@example.com" : NULL };
        }
        s = render(&m, NULL);
        check_lines(s, true);
        assert_int_equal(count(s, "user@example.com"), 16);
        free(s);
}

static void test_long_ascii_header(void **state)
{
        char subject[600];
        struct pst_mime_msg m = { .subject = subject };
        char *s, *v;

        (void)state;
        /* Many short words: folded at spaces, unfolds to the same text. */
        subject[0] = 0;
        for (int i = 0; i < 60; i++)
                strcat(subject, "word ");
        strcat(subject, "end");
        s = render(&m, NULL);
        check_lines(s, true);
        v = header(s, "Subject");
        assert_string_equal(v, subject);
        free(v);
        free(s);

        /* One 500-character word cannot be folded: encoded words instead. */
        memset(subject, 'x', 500);
        subject[500] = 0;
        s = render(&m, NULL);
        check_lines(s, true);
        v = header(s, "Subject");
        char *d = decode_words(v);
        assert_string_equal(d, subject);
        free(d);
        free(v);
        free(s);
}

/* The body of the part whose headers contain marker. */
static const char *part_body(const char *s, const char *marker)
{
        const char *p = strstr(s, marker);

        assert_non_null(p);
        p = strstr(p, "\r\n\r\n");
        assert_non_null(p);
        return p + 4;
}

static void test_multipart(void **state)
{
        uint8_t data[1000];
        struct pst_mime_part parts[] = {
                { .filename = "report 2024 – résumé with a rather long file name.pdf",
                  .mime_type = "Application/PDF",
                  .data = data,
                  .len = sizeof(data) },
                { .filename = "x.bin", .mime_type = "not a type", .data = data, .len = 5 },
        };
        static const char text[] = "Grüße\nzweite Zeile = mit Gleichheitszeichen und viel Text, der länger "
                                   "als sechsundsiebzig Zeichen ist, damit weiche Umbrüche entstehen.  \n";
        struct pst_mime_msg m = {
                .subject = "multi",
                .body_text = text,
                .body_text_len = strlen(text),
                .body_html = "<p>hi</p>",
                .body_html_len = 9,
                .parts = parts,
                .n_parts = 2,
        };
        uint8_t back[1100];
        char *s, *v, *b, bnd[80], open[90], close[90];
        const char *p;

        (void)state;
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t)(i * 7 + 3);
        s = render(&m, NULL);
        check_lines(s, true);

        v = header(s, "Content-Type");
        assert_non_null(strstr(v, "multipart/mixed;"));
        b = strstr(v, "boundary=\"");
        assert_non_null(b);
        snprintf(bnd, sizeof(bnd), "%.*s", (int)strcspn(b + 10, "\""), b + 10);
        free(v);
        snprintf(open, sizeof(open), "\r\n--%s\r\n", bnd);
        snprintf(close, sizeof(close), "\r\n--%s--\r\n", bnd);
        /* alternative + 2 attachments, and one closing delimiter at the end */
        assert_int_equal(count(s, open), 3);
        assert_int_equal(count(s, close), 1);
        assert_int_equal(strcmp(s + strlen(s) - strlen(close), close), 0);
        assert_int_equal(count(s, "multipart/alternative"), 1);

        /* base64 decodes back to the attachment bytes */
        p = part_body(s, "Content-Type: application/pdf");
        assert_int_equal(b64_decode(p, back, sizeof(back)), sizeof(data));
        assert_memory_equal(back, data, sizeof(data));
        assert_non_null(strstr(s, "filename*0*=UTF-8''report%202024%20%E2%80%93%20r%C3%A9sum%C3%A9"));
        assert_non_null(strstr(s, "Content-Type: application/octet-stream;\r\n name=\"x.bin\""));

        /* quoted-printable: soft breaks under 76, '=' and trailing spaces encoded */
        p = part_body(s, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable");
        assert_memory_equal(p, "Gr=C3=BC=C3=9Fe\r\nzweite Zeile =3D mit", 36);
        for (const char *l = p; *l && *l != '-'; l = strstr(l, "\r\n") + 2)
                assert_true(strstr(l, "\r\n") - l <= 76);
        assert_non_null(strstr(p, " =20\r\n"));
        free(s);
}

static void test_related(void **state)
{
        static const uint8_t png[] = { 0x89, 'P', 'N', 'G' };
        struct pst_mime_part parts[] = {
                { .filename = "logo.png", .mime_type = "image/png", .content_id = "logo@x", .is_inline = true,
                  .data = png, .len = sizeof(png) },
        };
        struct pst_mime_msg m = { .body_html = "<img src=\"cid:logo@x\">", .body_html_len = 22,
                                  .parts = parts, .n_parts = 1 };
        char *s;

        (void)state;
        s = render(&m, NULL);
        check_lines(s, true);
        assert_non_null(strstr(s, "Content-Type: multipart/related;"));
        assert_null(strstr(s, "multipart/mixed"));
        assert_non_null(strstr(s, "Content-ID: <logo@x>\r\nContent-Disposition: inline; filename=\"logo.png\""));
        free(s);
}

static void test_transport_headers(void **state)
{
        struct pst_mime_addr to = { "Bob", "bob@example.com" };
        struct pst_mime_msg m = {
                .transport_headers = "Microsoft Mail Internet Headers Version 2.0\n"
                                     "Received: from a\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\n"
                                     "Subject: original\r\n"
                                     "Content-Type: multipart/alternative;\n boundary=\"old\"\n"
                                     "MIME-Version: 1.0\r"
                                     "Content-Transfer-Encoding: 8bit\n"
                                     "To: someone@example.com\n"
                                     "\n"
                                     "Body-Like: after the blank line\n",
                .from = { "Alice", "alice@example.com" },
                .to = &to,
                .n_to = 1,
                .subject = "synthetic",
                .body_text = "x",
                .body_text_len = 1,
        };
        char *s, *v;

        (void)state;
        s = render(&m, NULL);
        check_lines(s, false);
        assert_memory_equal(s, "Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: original\r\n", 74);
        assert_int_equal(count(s, "Subject:"), 1);
        assert_int_equal(count(s, "To:"), 1);
        assert_int_equal(count(s, "MIME-Version:"), 1);
        assert_int_equal(count(s, "boundary=\"old\""), 0);
        assert_int_equal(count(s, "Body-Like"), 0);
        assert_int_equal(count(s, "Microsoft Mail"), 0);
        v = header(s, "From"); /* missing from the transport headers: synthesised */
        assert_string_equal(v, "Alice <alice@example.com>");
        free(v);
        v = header(s, "Content-Transfer-Encoding");
        assert_string_equal(v, "7bit");
        free(v);
        free(s);
}

static void test_embedded(void **state)
{
        struct pst_mime_msg chain[20];
        struct pst_mime_part att[20];
        uint8_t *out = (uint8_t *)"x";
        size_t len;
        char *s;

        (void)state;
        for (int i = 0; i < 20; i++) {
                chain[i] = (struct pst_mime_msg){ .subject = "level", .body_text = "t", .body_text_len = 1 };
                att[i] = (struct pst_mime_part){ .filename = "fwd.eml", .message = i + 1 < 20 ? &chain[i + 1] : NULL };
                if (i + 1 < 20) {
                        chain[i].parts = &att[i];
                        chain[i].n_parts = 1;
                }
        }
        /* 20 levels: refused, nothing returned. */
        assert_int_equal(pst_mime_render(&chain[0], &out, &len), -EFBIG);
        /* 6 levels: five message/rfc822 parts, each with its own boundary. */
        chain[5].parts = NULL;
        chain[5].n_parts = 0;
        s = render(&chain[0], NULL);
        check_lines(s, true);
        assert_int_equal(count(s, "Content-Type: message/rfc822"), 5);
        assert_int_equal(count(s, "Subject: level"), 6);
        free(s);
        assert_int_equal(pst_mime_render(NULL, &out, &len), -EINVAL);
}

static void test_deterministic(void **state)
{
        uint8_t data[64] = { 1, 2, 3 };
        struct pst_mime_part part = { .filename = "a.bin", .data = data, .len = sizeof(data) };
        struct pst_mime_msg m = { .subject = "same", .body_text = "t", .body_text_len = 1, .parts = &part, .n_parts = 1 };
        char *a, *b, *c, *ida, *idc;
        size_t la, lb, lc;

        (void)state;
        a = render(&m, &la);
        b = render(&m, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        /* One attachment byte changes the boundary and the derived Message-ID. */
        data[10] = 9;
        c = render(&m, &lc);
        ida = header(a, "Message-ID");
        idc = header(c, "Message-ID");
        assert_string_not_equal(ida, idc);
        assert_non_null(strstr(ida, "@pstream.invalid>"));
        assert_string_not_equal(strstr(a, "boundary="), strstr(c, "boundary="));
        free(ida);
        free(idc);
        free(a);
        free(b);
        free(c);
}

static void test_hostile_strings(void **state)
{
        /* Invalid UTF-8, controls, an overlong encoding, a header injection. */
        struct pst_mime_addr to = { "Eve\r\nBcc: x@evil", "eve@example.com\r\nX: y" };
        struct pst_mime_msg m = {
                .subject = "bad \xC0\xAF utf8 \xFF\r\nInjected: yes",
                .to = &to,
                .n_to = 1,
                .message_id = "bad id\r\nX: 1",
                .body_html = "a\0b\xFF",
                .body_html_len = 4,
        };
        char *s, *v, *d;

        (void)state;
        s = render(&m, NULL);
        check_lines(s, true);
        assert_null(strstr(s, "\r\nInjected:"));
        assert_null(strstr(s, "\r\nBcc:"));
        assert_null(strstr(s, "\r\nX:"));
        v = header(s, "Subject");
        d = decode_words(v);
        assert_string_equal(d, "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8 \xEF\xBF\xBD\r\nInjected: yes");
        free(d);
        free(v);
        assert_non_null(strstr(s, "a=EF=BF=BDb=EF=BF=BD"));
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_simple),
                cmocka_unit_test(test_encoded_subject),
                cmocka_unit_test(test_many_recipients),
                cmocka_unit_test(test_long_ascii_header),
                cmocka_unit_test(test_multipart),
                cmocka_unit_test(test_related),
                cmocka_unit_test(test_transport_headers),
                cmocka_unit_test(test_embedded),
                cmocka_unit_test(test_deterministic),
                cmocka_unit_test(test_hostile_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
