/* SPDX-License-Identifier: MIT
 *
 * test-net-auth.c - Shared Key: the HMAC against a published vector, the
 * string-to-sign against Microsoft's documented example, the path-style
 * canonical resource, and the Base64/URL/date helpers under it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/net-internal.h"

static void test_sign_published_vector(void **state)
{
        char out[128];

        (void)state;
        /* Vector from AzureSDKForRust, as used by mozilla/sccache
         * src/azure/blobstore.rs test_signing(): HMAC-SHA256 with the
         * Base64-decoded key over the string, Base64 of the MAC. */
        assert_int_equal(net_sharedkey_sign("acct",
                                            "pXeTVaaaaU9XxH6fPcPlq8Y9D9G3Cdo5Eh2nMSgKj/DWqeSFFXDdmpz5Trv+L2hQNM+nGa704Rf8Z22W9O1jdQ==",
                                            "53d7e14aee681a00340300032015-01-01T10:00:00.0000000", out,
                                            sizeof(out)),
                         0);
        assert_string_equal(out, "SharedKey acct:gZzaRaIkvC9jYRY123tq3xXZdsMAcgAbjKQo8y0p0Fs=");

        assert_int_equal(net_sharedkey_sign("acct", "not base64!", "x", out, sizeof(out)), -EINVAL);
        assert_int_equal(net_sharedkey_sign("acct", "YWJj", "x", out, 10), -ENOBUFS);
}

static void test_string_to_sign_documented(void **state)
{
        /* learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key,
         * "Constructing the canonicalized resource string" example: Get
         * Container Metadata with x-ms-date and x-ms-version 2015-02-21. */
        static const char want[] = "GET\n\n\n\n\n\n\n\n\n\n\n\n"
                                   "x-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\n"
                                   "x-ms-version:2015-02-21\n"
                                   "/myaccount/mycontainer\n"
                                   "comp:metadata\n"
                                   "restype:container\n"
                                   "timeout:20";
        const struct net_hdr h[] = {
                { "x-ms-version", "2015-02-21" },
                { "x-ms-date", "Fri, 26 Jun 2015 23:39:12 GMT" },
        };
        char *s = NULL;

        (void)state;
        assert_int_equal(net_sharedkey_string_to_sign("GET", 0, NULL, NULL, NULL, h, 2, "myaccount",
                                                      "/mycontainer",
                                                      "restype=container&comp=metadata&timeout=20", &s),
                         0);
        assert_string_equal(s, want);
        free(s);
}

static void test_string_to_sign_path_style(void **state)
{
        /* Azurite: the account is in the path too, so it appears twice
         * (AZURE.md §3.6); query values are signed URL-decoded. */
        static const char want[] = "PUT\n\n\n1024\n\n\n\n\n\n*\n\n\n"
                                   "x-ms-content-crc64:iJh5CoYUi64=\n"
                                   "x-ms-date:Sun, 06 Nov 1994 08:49:37 GMT\n"
                                   "x-ms-version:2021-08-06\n"
                                   "/devstoreaccount1/devstoreaccount1/c1/dir/a%20b.pst\n"
                                   "blockid:cHMx+/==\n"
                                   "comp:block";
        const struct net_hdr h[] = {
                { "x-ms-version", "2021-08-06" },
                { "x-ms-content-crc64", "iJh5CoYUi64=" },
                { "x-ms-date", "Sun, 06 Nov 1994 08:49:37 GMT" },
        };
        char *s = NULL;

        (void)state;
        assert_int_equal(net_sharedkey_string_to_sign("PUT", 1024, NULL, NULL, "*", h, 3,
                                                      "devstoreaccount1",
                                                      "/devstoreaccount1/c1/dir/a%20b.pst",
                                                      "comp=block&blockid=cHMx%2B%2F%3D%3D", &s),
                         0);
        assert_string_equal(s, want);
        free(s);

        /* Repeated parameters: one line, values sorted and comma-joined. */
        assert_int_equal(net_sharedkey_string_to_sign("GET", 0, NULL, NULL, NULL, NULL, 0, "a", "/c",
                                                      "B=2&b=1", &s),
                         0);
        assert_string_equal(s, "GET\n\n\n\n\n\n\n\n\n\n\n\n/a/c\nb:1,2");
        free(s);

        assert_int_equal(net_sharedkey_string_to_sign("GET", 0, NULL, NULL, NULL, NULL, 0, "a", "/c",
                                                      "x=%zz", &s),
                         -EINVAL);
}

static void test_base64_decode(void **state)
{
        uint8_t out[16];

        (void)state;
        assert_int_equal(net_base64_decode("YWJj", out, sizeof(out)), 3);
        assert_memory_equal(out, "abc", 3);
        assert_int_equal(net_base64_decode("YWI=", out, sizeof(out)), 2);
        assert_int_equal(net_base64_decode("YQ==", out, sizeof(out)), 1);
        assert_int_equal(out[0], 'a');
        assert_int_equal(net_base64_decode("", out, sizeof(out)), -EINVAL);
        assert_int_equal(net_base64_decode("YWJ", out, sizeof(out)), -EINVAL);
        assert_int_equal(net_base64_decode("Y===", out, sizeof(out)), -EINVAL);
        assert_int_equal(net_base64_decode("YQ==YWJj", out, sizeof(out)), -EINVAL);
        assert_int_equal(net_base64_decode("YW Jj", out, sizeof(out)), -EINVAL);
        assert_int_equal(net_base64_decode("YWJjYWJj", out, 5), -ENOBUFS);
}

static void test_helpers(void **state)
{
        char date[NET_HTTP_DATE_MAX], buf[64];

        (void)state;
        net_http_date(784111777, date);
        assert_string_equal(date, "Sun, 06 Nov 1994 08:49:37 GMT");

        assert_int_equal(net_url_escape("a b/c+d=~", true, buf, sizeof(buf)), 15);
        assert_string_equal(buf, "a%20b/c%2Bd%3D~");
        assert_int_equal(net_url_escape("a/b", false, buf, sizeof(buf)), 5);
        assert_string_equal(buf, "a%2Fb");
        assert_int_equal(net_url_escape("abcdef", false, buf, 6), -ENAMETOOLONG);

        assert_int_equal(net_url_unescape("a%20b%2f", 8, buf, sizeof(buf)), 4);
        assert_string_equal(buf, "a b/");
        assert_int_equal(net_url_unescape("%00", 3, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(net_url_unescape("%2", 2, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(net_url_unescape("%g0", 3, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(net_url_unescape("abcd", 4, buf, 4), -ENAMETOOLONG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sign_published_vector),
                cmocka_unit_test(test_string_to_sign_documented),
                cmocka_unit_test(test_string_to_sign_path_style),
                cmocka_unit_test(test_base64_decode),
                cmocka_unit_test(test_helpers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
