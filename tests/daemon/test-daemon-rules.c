/* SPDX-License-Identifier: MIT
 *
 * test-daemon-rules.c - mailbox rules (glob, captures, errors) and the PST
 * Import Service mapping CSV (exact header, quoting, 500-row split).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rules.h"

static void test_glob(void **state)
{
        struct glob_cap caps[9];
        unsigned n;

        (void)state;
        assert_true(glob_match("*.pst", "a.pst", NULL, NULL));
        assert_false(glob_match("*.pst", "dir/a.pst", NULL, NULL));
        assert_true(glob_match("**.pst", "dir/sub/a.pst", NULL, NULL));
        assert_true(glob_match("**/*.pst", "a.pst", NULL, NULL));
        assert_true(glob_match("users/?oe/*", "users/joe/x.pst", NULL, NULL));
        assert_false(glob_match("users/?oe/*", "users/jjoe/x.pst", NULL, NULL));
        assert_false(glob_match("a?b", "a/b", NULL, NULL));
        assert_true(glob_match("", "", NULL, NULL));
        assert_false(glob_match("", "x", NULL, NULL));

        n = 9;
        assert_true(glob_match("users/*/**", "users/jdoe/old/2019.pst", caps, &n));
        assert_int_equal(n, 2);
        assert_int_equal(caps[0].off, 6);
        assert_int_equal(caps[0].len, 4);
        assert_int_equal(caps[1].off, 11);
        assert_int_equal(caps[1].len, strlen("old/2019.pst"));

        /* A pathological pattern ends within the step budget, no match. */
        char s[300];
        memset(s, 'a', sizeof(s) - 2);
        s[sizeof(s) - 2] = 'c';
        s[sizeof(s) - 1] = '\0';
        assert_false(glob_match("*a*a*a*a*a*a*a*a*a*b", s, NULL, NULL));
}

static void test_rules_match(void **state)
{
        const char text[] = "# estate rules\n"
                            "\n"
                            "users/*/archive/** {1}@contoso.com IsArchive=true\n"
                            "users/*/**   {1}@contoso.com   TargetRootFolder=/Imported PST\n"
                            "shared/finance/*.pst finance@contoso.com ContentCodePage=932\n";
        struct rules rs;
        char err[256], mb[330];
        const struct rule *r;

        (void)state;
        /* "PST" after a space is a stray field: rejected with the line. */
        assert_int_equal(rules_parse(text, sizeof(text) - 1, &rs, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "line 4"));

        const char ok[] = "users/*/archive/** {1}@contoso.com IsArchive=true\n"
                          "users/*/**   {1}@contoso.com   TargetRootFolder=/Imported\r\n"
                          "shared/finance/*.pst finance@contoso.com ContentCodePage=932 # cp\n"
                          "inactive/*.pst 0a1b2c3d-0000-4000-8000-00000000abcd\n";
        assert_int_equal(rules_parse(ok, sizeof(ok) - 1, &rs, err, sizeof(err)), 0);
        assert_int_equal(rs.n, 4);

        r = rules_match(&rs, "users/jdoe/archive/2019/a.pst", mb, sizeof(mb));
        assert_non_null(r);
        assert_string_equal(mb, "jdoe@contoso.com");
        assert_string_equal(r->is_archive, "TRUE");

        r = rules_match(&rs, "users/asmith/mail.pst", mb, sizeof(mb));
        assert_non_null(r);
        assert_string_equal(mb, "asmith@contoso.com");
        assert_null(r->is_archive);
        assert_string_equal(r->target_root, "/Imported");

        r = rules_match(&rs, "shared/finance/q1.pst", mb, sizeof(mb));
        assert_non_null(r);
        assert_string_equal(mb, "finance@contoso.com");
        assert_string_equal(r->codepage, "932");

        r = rules_match(&rs, "inactive/x.pst", mb, sizeof(mb));
        assert_non_null(r);
        assert_string_equal(mb, "0a1b2c3d-0000-4000-8000-00000000abcd");

        assert_null(rules_match(&rs, "shared/other/q1.pst", mb, sizeof(mb)));
        /* A capture that would put a space or comma into the address. */
        assert_null(rules_match(&rs, "users/j doe/a.pst", mb, sizeof(mb)));
        /* Too small an output buffer: no match rather than a cut address. */
        assert_null(rules_match(&rs, "users/jdoe/a.pst", mb, 5));
        rules_done(&rs);
}

static void test_rules_errors(void **state)
{
        static const struct {
                const char *text;
                const char *want;
        } cases[] = {
                { "onlyglob\n", "line 1" },
                { "a b\n", "not a mailbox" },
                { "a x@y IsArchive=maybe\n", "IsArchive" },
                { "a x@y TargetRootFolder=rel\n", "TargetRootFolder" },
                { "a x@y Foo=1\n", "unknown option" },
                { "a x@y noequals\n", "KEY=VALUE" },
                { "a x@y IsArchive=TRUE IsArchive=FALSE\n", "twice" },
                { "\n\na x@y ContentCodePage=abc\n", "line 3" },
        };
        char err[256];
        struct rules rs;

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                err[0] = '\0';
                assert_int_equal(rules_parse(cases[i].text, strlen(cases[i].text), &rs, err,
                                             sizeof(err)),
                                 -EINVAL);
                if (!strstr(err, cases[i].want))
                        fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].want);
        }
        /* A NUL byte inside a line and an over-long line are refused. */
        assert_int_equal(rules_parse("a\0b x@y\n", 8, &rs, err, sizeof(err)), -EINVAL);
        char *big = malloc(RULES_MAX_LINE + 10);
        memset(big, 'a', RULES_MAX_LINE + 9);
        big[RULES_MAX_LINE + 9] = '\n';
        assert_int_equal(rules_parse(big, RULES_MAX_LINE + 10, &rs, err, sizeof(err)), -EINVAL);
        free(big);
}

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "rb");
        char *buf;
        long n;

        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = calloc(1, (size_t)n + 1);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        return buf;
}

static unsigned count_lines(const char *s)
{
        unsigned n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static void test_mapping_csv(void **state)
{
        char dir[] = "/tmp/pstream-test-mapping-XXXXXX", path[128], path2[128], path3[128];
        struct mapping_row rows[1001];
        char names[1001][32];
        char *csv;

        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/map.csv", dir);
        snprintf(path2, sizeof(path2), "%s/map-2.csv", dir);
        snprintf(path3, sizeof(path3), "%s/map-3.csv", dir);

        rows[0] = (struct mapping_row){ "users/jdoe", "mail.pst", "jdoe@contoso.com", "FALSE",
                                        "/", "932" };
        rows[1] = (struct mapping_row){ "", "a,b \"q\".pst", "x@contoso.com", NULL, NULL, NULL };
        assert_int_equal(mapping_write(path, rows, 2, NULL, NULL), 1);
        csv = slurp(path);
        assert_string_equal(
                csv, "Workload,FilePath,Name,Mailbox,IsArchive,TargetRootFolder,ContentCodePage,"
                     "SPFileContainer,SPManifestContainer,SPSiteUrl\r\n"
                     "Exchange,users/jdoe,mail.pst,jdoe@contoso.com,FALSE,/,932,,,\r\n"
                     "Exchange,,\"a,b \"\"q\"\".pst\",x@contoso.com,,,,,,\r\n");
        free(csv);

        for (unsigned i = 0; i < 1001; i++) {
                snprintf(names[i], sizeof(names[i]), "f%04u.pst", i);
                rows[i] = (struct mapping_row){ "d", names[i], "x@contoso.com", NULL, NULL, NULL };
        }
        assert_int_equal(mapping_write(path, rows, 1001, NULL, NULL), 3);
        csv = slurp(path);
        assert_int_equal(count_lines(csv), 501);
        assert_non_null(strstr(csv, "f0499.pst"));
        assert_null(strstr(csv, "f0500.pst"));
        free(csv);
        csv = slurp(path2);
        assert_int_equal(count_lines(csv), 501);
        assert_non_null(strstr(csv, "Workload,FilePath,"));
        assert_non_null(strstr(csv, "f0500.pst"));
        free(csv);
        csv = slurp(path3);
        assert_int_equal(count_lines(csv), 2);
        assert_non_null(strstr(csv, "f1000.pst"));
        free(csv);
        unlink(path);
        unlink(path2);
        unlink(path3);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_glob),
                cmocka_unit_test(test_rules_match),
                cmocka_unit_test(test_rules_errors),
                cmocka_unit_test(test_mapping_csv),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
