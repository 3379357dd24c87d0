/* SPDX-License-Identifier: MIT
 *
 * test-pst-rtfhtml.c - HTML de-encapsulation ([MS-OXRTFEX]) and plain text
 * from RTF: tags, \htmlrtf suppression, escapes, code pages, \uN with
 * fallback bytes, nesting, and broken documents (bounded, no crash).
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

static char *html(const char *rtf, int want_r)
{
        struct pst_diag d = {};
        uint8_t *out = NULL;
        size_t len = 0;
        int r = pst_rtf_html(rtf, strlen(rtf), &out, &len, &d);

        assert_int_equal(r, want_r);
        if (r < 0) {
                assert_null(out);
                assert_true(d.msg[0] != 0);
                return NULL;
        }
        assert_int_equal(strlen((char *)out), len);
        return (char *)out;
}

static char *text(const char *rtf)
{
        struct pst_diag d = {};
        uint8_t *out = NULL;
        size_t len = 0;

        assert_int_equal(pst_rtf_text(rtf, strlen(rtf), &out, &len, &d), 0);
        return (char *)out;
}

#define assert_html(rtf, want)                                                                     \
        do {                                                                                       \
                char *_h = html(rtf, 0);                                                           \
                assert_string_equal(_h, want);                                                     \
                free(_h);                                                                          \
        } while (0)

/* Shaped like the [MS-OXRTFEX] section 3 example: header, font and color
 * tables, markup in htmltag groups, RTF-only \line/\par fenced by \htmlrtf. */
static const char spec_like[] =
        "{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl\r\n"
        "{\\f0\\fswiss Arial;}\r\n"
        "{\\f1\\fmodern Courier New;}}\r\n"
        "{\\colortbl\\red0\\green0\\blue0;\\red0\\green0\\blue255;}\r\n"
        "\\uc1\\pard\\plain\\deftab360 \\f0\\fs24 \r\n"
        "{\\*\\htmltag19 <html>}\r\n"
        "{\\*\\htmltag34 <head>}\r\n"
        "{\\*\\htmltag177 <style>\\par p\\{margin:0px\\}\\par </style>}\r\n"
        "{\\*\\htmltag41 </head>}\r\n"
        "{\\*\\htmltag50 <body>}\r\n"
        "{\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 Line one.\r\n"
        "{\\*\\htmltag116 <br>}\\htmlrtf \\line \\htmlrtf0 Line two.\\htmlrtf\\par \\htmlrtf0 }\r\n"
        "\\htmlrtf0 {\\*\\htmltag72 </p>}\r\n"
        "{\\*\\htmltag58 </body>}\r\n"
        "{\\*\\htmltag27 </html>}}\r\n";

static void test_spec_like(void **state)
{
        (void)state;
        assert_html(spec_like, "<html><head><style>\r\np{margin:0px}\r\n</style></head><body>"
                               "<p>Line one.<br>Line two.</p></body></html>");
}

static void test_escapes(void **state)
{
        (void)state;
        /* \'hh in cp1252 (0x80 is the euro sign, 0xE9 e-acute), \{ \} \\. */
        assert_html("{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 {\\*\\htmltag0 <b>}\\'80 caf\\'e9 \\{x\\}\\\\"
                    "{\\*\\htmltag0 </b>}}",
                    "<b>\xE2\x82\xAC caf\xC3\xA9 {x}\\</b>");
        /* \tab, \~, quotes; \par inside an htmltag; CR/LF in the source are not text. */
        assert_html("{\\rtf1\\fromhtml1 a\\tab b\\~c\r\n\\lquote q\\rquote {\\*\\htmltag0 \\par }}",
                    "a\tb\xC2\xA0" "c\xE2\x80\x98q\xE2\x80\x99\r\n");
        /* A UTF-8 code page passes bytes through. */
        assert_html("{\\rtf1\\ansi\\ansicpg65001\\fromhtml1 \\'c3\\'a9}", "\xC3\xA9");
        /* A code page we do not map yields U+FFFD, never raw bytes. */
        assert_html("{\\rtf1\\ansi\\ansicpg932\\fromhtml1 \\'82\\'a0}", "\xEF\xBF\xBD\xEF\xBF\xBD");
        /* Text takes the code page of its font (\fcharset204 is 1251, which
         * we do not map: U+FFFD, not a wrong Latin letter); markup keeps
         * \ansicpg; \f0 (charset 0, 1252) decodes again. */
        assert_html("{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 {\\fonttbl{\\f0\\fcharset0 Arial;}"
                    "{\\f1\\fcharset204{\\*\\panose 0}Arial Cyr;}}"
                    "{\\f1 \\'e0{\\*\\htmltag0 \\'e9}}\\f0 \\'e0}",
                    "\xEF\xBF\xBD\xC3\xA9\xC3\xA0");
        /* A bad hex escape is dropped. */
        assert_html("{\\rtf1\\fromhtml1 x\\'zzy}", "xzzy");
}

static void test_unicode(void **state)
{
        (void)state;
        /* \uN with one fallback byte (the default \uc1), then \uc0 and \uc2. */
        assert_html("{\\rtf1\\fromhtml1 \\u8364?x}", "\xE2\x82\xACx");
        assert_html("{\\rtf1\\fromhtml1 \\uc0\\u233 x}", "\xC3\xA9x");
        assert_html("{\\rtf1\\fromhtml1 \\uc2\\u233\\'e9\\'e9x}", "\xC3\xA9x");
        /* Negative values are UTF-16 units; a surrogate pair is one character. */
        assert_html("{\\rtf1\\fromhtml1 \\u-10179?\\u-8704?}", "\xF0\x9F\x98\x80");
        /* A lone surrogate becomes U+FFFD. */
        assert_html("{\\rtf1\\fromhtml1 \\u-10179?z}", "\xEF\xBF\xBDz");
        /* The fallback count ends with the group. */
        assert_html("{\\rtf1\\fromhtml1 {\\uc3\\u233}ab}", "\xC3\xA9" "ab");
}

static void test_suppression_and_groups(void **state)
{
        (void)state;
        /* \htmlrtf is scoped to its group; unknown \* destinations and
         * \*\htmltag inside a skipped destination stay hidden. */
        assert_html("{\\rtf1\\fromhtml1 {\\htmlrtf hidden}shown{\\*\\foo no}"
                    "{\\fonttbl{\\*\\htmltag0 no}}\\htmlrtf x\\htmlrtf0 y}",
                    "showny");
        /* \*\mhtmltag is not output (its \htmltag twin is). */
        assert_html("{\\rtf1\\fromhtml1 {\\*\\mhtmltag0 <img src=cid:1>}{\\*\\htmltag0 <img src=a>}}",
                    "<img src=a>");
        /* \binN data is skipped whole, braces and all, and may be cut short. */
        assert_html("{\\rtf1\\fromhtml1 a{\\pict\\bin4 }}{{b}c}", "ac");
        assert_html("{\\rtf1\\fromhtml1 a{\\pict\\bin99 }}", "a");
        /* A lone \* outside a group start is ignored. */
        assert_html("{\\rtf1\\fromhtml1 a\\*b}", "ab");
}

static void test_not_html(void **state)
{
        char *t;

        (void)state;
        assert_null(html("{\\rtf1\\ansi hello\\par world}", -ENOENT));
        /* \fromhtml1 only counts in the header, not in a nested group. */
        assert_null(html("{\\rtf1{\\fromhtml1 x}}", -ENOENT));
        assert_null(html("{\\rtf1\\fromhtml0 x}", -ENOENT));
        assert_null(html("not rtf", -EBADMSG));
        assert_null(html("", -EBADMSG));

        t = text("{\\rtf1\\ansi\\fromtext {\\fonttbl{\\f0 Arial;}}hello\\par w\\'f6rld\\tab!}");
        assert_string_equal(t, "hello\r\nw\xC3\xB6rld\t!");
        free(t);
        /* Text mode drops the HTML markup but keeps the text runs. */
        t = text("{\\rtf1\\fromhtml1 {\\*\\htmltag0 <p>}hi\\htmlrtf \\par\\htmlrtf0 }");
        assert_string_equal(t, "hi\r\n");
        free(t);
}

static void test_broken(void **state)
{
        char buf[4096];
        size_t n;
        char *h;

        (void)state;
        /* Missing closing braces: everything up to the end. */
        assert_html("{\\rtf1\\fromhtml1 {\\*\\htmltag0 <p>}abc{{{", "<p>abc");
        /* An extra closing brace ends the document. */
        assert_html("{\\rtf1\\fromhtml1 a}b}c", "a");
        /* A backslash or half an escape at the very end. */
        assert_html("{\\rtf1\\fromhtml1 a\\", "a");
        assert_html("{\\rtf1\\fromhtml1 a\\'4", "a");
        /* An over-long control word and a huge parameter are harmless. */
        memset(buf, 0, sizeof(buf));
        strcpy(buf, "{\\rtf1\\fromhtml1 \\");
        n = strlen(buf);
        memset(buf + n, 'x', 100);
        strcpy(buf + n + 100, "99999999999999999999 z\\u99999999999 y}");
        h = html(buf, 0);
        assert_string_equal(h, "z\xEF\xBF\xBD");
        free(h);

        /* Nesting: 250 levels are fine, 300 are refused. */
        n = 0;
        n += (size_t)sprintf(buf, "{\\rtf1\\fromhtml1 ");
        for (int i = 0; i < 250; i++)
                buf[n++] = '{';
        buf[n++] = 'x';
        buf[n] = 0;
        assert_html(buf, "x");
        n = (size_t)sprintf(buf, "{\\rtf1\\fromhtml1 ");
        for (int i = 0; i < 300; i++)
                buf[n++] = '{';
        buf[n] = 0;
        assert_null(html(buf, -EBADMSG));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spec_like),
                cmocka_unit_test(test_escapes),
                cmocka_unit_test(test_unicode),
                cmocka_unit_test(test_suppression_and_groups),
                cmocka_unit_test(test_not_html),
                cmocka_unit_test(test_broken),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
