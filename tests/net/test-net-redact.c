/* SPDX-License-Identifier: MIT
 *
 * test-net-redact.c - signature redaction and the Azure error-body parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pstream/net.h"

static void test_redact(void **state)
{
        char out[256];

        (void)state;
        net_redact_url("https://a.blob.core.windows.net/c?sv=2021&sp=w&sig=AbC%2Bd%3D&se=2030", out, sizeof(out));
        assert_string_equal(out, "https://a.blob.core.windows.net/c?sv=2021&sp=w&sig=REDACTED&se=2030");
        /* Case-insensitive, anywhere, several times, at the end. */
        net_redact_url("x SIG=abc/+= y Sig=def", out, sizeof(out));
        assert_string_equal(out, "x SIG=REDACTED y Sig=REDACTED");
        net_redact_url("?sig=", out, sizeof(out));
        assert_string_equal(out, "?sig=REDACTED");
        net_redact_url("no secret here", out, sizeof(out));
        assert_string_equal(out, "no secret here");
        net_redact_url(NULL, out, sizeof(out));
        assert_string_equal(out, "");

        /* Truncation never lets the secret through and always terminates. */
        for (size_t n = 1; n < 40; n++) {
                memset(out, 'Z', sizeof(out));
                net_redact_url("?sp=w&sig=TOPSECRETTOPSECRET&x=1", out, n);
                assert_true(strlen(out) < n);
                assert_null(strstr(out, "TOPS"));
                assert_null(strstr(out, "SECRET"));
        }
}

static void test_error_body(void **state)
{
        static const char body[] =
                "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code>"
                "<Message>Operations per second is over the account limit.\nRequestId:1\nTime:2024</Message></Error>";
        char code[64], msg[128];

        (void)state;
        assert_int_equal(net_parse_error_body(body, strlen(body), code, sizeof(code), msg, sizeof(msg)), 0);
        assert_string_equal(code, "ServerBusy");
        assert_string_equal(msg, "Operations per second is over the account limit. RequestId:1 Time:2024");

        /* Entities decoded, signatures redacted, output bounded. */
        static const char b2[] = "<Error><Code>AuthenticationFailed</Code><Message>a &lt;b&gt; &amp; "
                                 "https://x/c?sig=SECRET1 &quot;q&apos;</Message></Error>";
        assert_int_equal(net_parse_error_body(b2, strlen(b2), code, sizeof(code), msg, sizeof(msg)), 0);
        assert_string_equal(msg, "a <b> & https://x/c?sig=REDACTED \"q'");
        assert_int_equal(net_parse_error_body(b2, strlen(b2), code, 5, msg, 8), 0);
        assert_string_equal(code, "Auth");
        assert_string_equal(msg, "a <b> &");

        /* Only len bytes are looked at: the closing tag is beyond them. */
        assert_int_equal(net_parse_error_body(body, 40, code, sizeof(code), msg, sizeof(msg)), -ENOMSG);
        assert_string_equal(code, "");

        /* No code, unterminated, not XML, empty, hostile code text. */
        assert_int_equal(net_parse_error_body("<Message>m</Message>", 20, code, sizeof(code), msg, sizeof(msg)), -ENOMSG);
        assert_string_equal(msg, "m");
        assert_int_equal(net_parse_error_body("<Code>abc", 9, code, sizeof(code), msg, sizeof(msg)), -ENOMSG);
        assert_int_equal(net_parse_error_body("{\"error\":1}", 11, code, sizeof(code), msg, sizeof(msg)), -ENOMSG);
        assert_int_equal(net_parse_error_body(NULL, 0, code, sizeof(code), msg, sizeof(msg)), -ENOMSG);
        assert_int_equal(net_parse_error_body("<Code>a b\x01</Code>", 17, code, sizeof(code), msg, sizeof(msg)), -EBADMSG);
        assert_string_equal(code, "");
        assert_int_equal(net_parse_error_body("<Code></Code>", 13, code, sizeof(code), msg, sizeof(msg)), -ENOMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_redact),
                cmocka_unit_test(test_error_body),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
