/* SPDX-License-Identifier: MIT
 *
 * test-net-dest.c - destination URLs: account and path style, prefixes,
 * SAS permissions, and the inputs that must be refused (with a message
 * that never carries the signature).
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

#include "pstream/net.h"

static void test_account_url(void **state)
{
        struct net_dest_info d;
        struct net_diag diag;

        (void)state;
        assert_int_equal(net_dest_parse("https://acct1.blob.core.windows.net/ingestiondata", true, &d, &diag), 0);
        assert_int_equal(d.auth, NET_AUTH_SHARED_KEY);
        assert_true(d.can_read);
        assert_false(d.path_style);
        assert_string_equal(d.account, "acct1");
        assert_string_equal(d.container, "ingestiondata");
        assert_string_equal(d.prefix, "");
        assert_string_equal(d.sas_version, "");

        /* A trailing slash is no prefix; a prefix always ends in '/'. */
        assert_int_equal(net_dest_parse("https://acct1.blob.core.windows.net/c01/", true, &d, &diag), 0);
        assert_string_equal(d.prefix, "");
        assert_int_equal(net_dest_parse("HTTPS://acct1.blob.core.windows.net/c01/dept/2024", true, &d, &diag), 0);
        assert_string_equal(d.prefix, "dept/2024/");
        assert_int_equal(net_dest_parse("https://acct1.blob.core.windows.net/c01/a%20b/c/", true, &d, &diag), 0);
        assert_string_equal(d.prefix, "a b/c/");

        /* No key, no SAS: anonymous (a test sink or public container). */
        assert_int_equal(net_dest_parse("https://acct1.blob.core.windows.net/c01", false, &d, &diag), 0);
        assert_int_equal(d.auth, NET_AUTH_NONE);
}

static void test_path_style(void **state)
{
        struct net_dest_info d;
        struct net_diag diag;

        (void)state;
        assert_int_equal(net_dest_parse("http://127.0.0.1:10000/devstoreaccount1/c01/pst/", true, &d, &diag), 0);
        assert_true(d.path_style);
        assert_string_equal(d.account, "devstoreaccount1");
        assert_string_equal(d.container, "c01");
        assert_string_equal(d.prefix, "pst/");
        assert_int_equal(d.auth, NET_AUTH_SHARED_KEY);

        assert_int_equal(net_dest_parse("http://localhost:10000/devstoreaccount1/c01", true, &d, &diag), 0);
        assert_true(d.path_style);
        assert_int_equal(net_dest_parse("http://[::1]:10000/devstoreaccount1/c01", true, &d, &diag), 0);
        assert_true(d.path_style);
        assert_int_equal(net_dest_parse("http://azurite:10000/devstoreaccount1/c01", true, &d, &diag), 0);
        assert_true(d.path_style);
        assert_string_equal(d.account, "devstoreaccount1");

        /* Path style needs the container after the account. */
        assert_int_equal(net_dest_parse("http://127.0.0.1:10000/devstoreaccount1", true, &d, &diag), -EINVAL);
        assert_non_null(strstr(diag.msg, "container"));
}

static void test_sas(void **state)
{
        static const char secret[] = "s3cr3tS1gnatur3%2B%3D";
        struct net_dest_info d;
        struct net_diag diag;
        char url[512];

        (void)state;
        snprintf(url, sizeof(url), "https://acct1.blob.core.windows.net/c01?sv=2021-08-06&sp=racw&sr=c&sig=%s", secret);
        assert_int_equal(net_dest_parse(url, false, &d, &diag), 0);
        assert_int_equal(d.auth, NET_AUTH_SAS);
        assert_true(d.can_read);
        assert_string_equal(d.sas_version, "2021-08-06");

        snprintf(url, sizeof(url), "https://acct1.blob.core.windows.net/c01?sv=2021-08-06&sp=cw&sr=c&sig=%s", secret);
        assert_int_equal(net_dest_parse(url, false, &d, &diag), 0);
        assert_false(d.can_read);

        /* The PST Import Service's stored-access-policy SAS. */
        snprintf(url, sizeof(url), "https://acct1.blob.core.windows.net/ingestiondata?sv=2015-04-05&sr=c&si=IngestionSasForAzCopy201&sig=%s&se=2030-01-01", secret);
        assert_int_equal(net_dest_parse(url, false, &d, &diag), 0);
        assert_false(d.can_read);
        assert_string_equal(d.sas_version, "2015-04-05");

        /* A SAS and a key together is ambiguous. */
        assert_int_equal(net_dest_parse(url, true, &d, &diag), -EINVAL);
        assert_null(strstr(diag.msg, secret));

        /* Neither sp nor si. */
        snprintf(url, sizeof(url), "https://acct1.blob.core.windows.net/c01?sv=2021-08-06&sig=%s", secret);
        assert_int_equal(net_dest_parse(url, false, &d, &diag), -EINVAL);

        /* A query without a signature is not a SAS. */
        assert_int_equal(net_dest_parse("https://acct1.blob.core.windows.net/c01?sp=rw", false, &d, &diag), -EINVAL);
        assert_non_null(strstr(diag.msg, "sig="));
        assert_int_equal(net_dest_parse("https://acct1.blob.core.windows.net/c01?foo", true, &d, &diag), -EINVAL);
        assert_int_equal(net_dest_parse("https://acct1.blob.core.windows.net/c01?sig=", false, &d, &diag), -EINVAL);

        /* Duplicated signature or a space in the query. */
        assert_int_equal(net_dest_parse("https://acct1.blob.core.windows.net/c01?sp=w&sig=a&sig=b", false, &d, &diag), -EINVAL);
        assert_int_equal(net_dest_parse("https://acct1.blob.core.windows.net/c01?sp=w&sig=a b", false, &d, &diag), -EINVAL);
}

static void test_bad_inputs(void **state)
{
        static const char *const bad[] = {
                NULL,
                "",
                "ftp://acct1.blob.core.windows.net/c01",
                "file:///etc/passwd",
                "acct1.blob.core.windows.net/c01",
                "https://",
                "https:///c01",
                "https://acct1.blob.core.windows.net",
                "https://acct1.blob.core.windows.net/",
                "https://acct1.blob.core.windows.net/C01",
                "https://acct1.blob.core.windows.net/c",
                "https://acct1.blob.core.windows.net/-c01",
                "https://acct1.blob.core.windows.net/c--1",
                "https://acct1.blob.core.windows.net/c_01",
                "https://Acct1.blob.core.windows.net/c01",
                "https://ab.blob.core.windows.net/c01",
                "https://user:pw@acct1.blob.core.windows.net/c01",
                "https://acct1.blob.core.windows.net/c01#frag",
                "https://acct1.blob.core.windows.net/c01/a//b",
                "https://acct1.blob.core.windows.net/c01/a/../b",
                "https://acct1.blob.core.windows.net/c01/./b",
                "https://acct1.blob.core.windows.net/c01/a%00b",
                "https://acct1.blob.core.windows.net/c01/a%0ab",
                "https://acct1.blob.core.windows.net/c01/a%zz",
                "http://127.0.0.1:10000/dev-store/c01",
        };
        struct net_dest_info d;
        struct net_diag diag;

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(&diag, 0, sizeof(diag));
                assert_int_equal(net_dest_parse(bad[i], true, &d, &diag), -EINVAL);
                assert_true(diag.msg[0] != '\0');
        }
}

static void test_long_parts(void **state)
{
        struct net_dest_info d;
        struct net_diag diag;
        char *url = malloc(8192);
        int n;

        (void)state;
        assert_non_null(url);
        /* Container of 64 characters. */
        n = snprintf(url, 8192, "https://acct1.blob.core.windows.net/");
        memset(url + n, 'c', 64);
        url[n + 64] = '\0';
        assert_int_equal(net_dest_parse(url, true, &d, &diag), -EINVAL);
        url[n + 63] = '\0';
        assert_int_equal(net_dest_parse(url, true, &d, &diag), 0);

        /* Prefix longer than a blob name may be. */
        n = snprintf(url, 8192, "https://acct1.blob.core.windows.net/c01/");
        memset(url + n, 'p', 1100);
        url[n + 1100] = '\0';
        assert_int_equal(net_dest_parse(url, true, &d, &diag), -EINVAL);
        assert_non_null(strstr(diag.msg, "long"));

        /* Overlong query. */
        n = snprintf(url, 8192, "https://acct1.blob.core.windows.net/c01?sp=w&sig=");
        memset(url + n, 'x', 3000);
        url[n + 3000] = '\0';
        assert_int_equal(net_dest_parse(url, false, &d, &diag), -EINVAL);
        assert_null(strstr(diag.msg, "xxxx"));

        /* Host name of 300 characters. */
        n = snprintf(url, 8192, "https://");
        memset(url + n, 'h', 300);
        snprintf(url + n + 300, 100, ".blob.core.windows.net/c01");
        assert_int_equal(net_dest_parse(url, true, &d, &diag), -EINVAL);
        free(url);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_account_url),
                cmocka_unit_test(test_path_style),
                cmocka_unit_test(test_sas),
                cmocka_unit_test(test_bad_inputs),
                cmocka_unit_test(test_long_parts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
