/* SPDX-License-Identifier: MIT
 *
 * test-daemon-config.c - the configuration file: every default valid, the
 * shipped conf/pstream.conf parses and documents every option of the table,
 * bad input gets a message naming the file and line, and --dump-config
 * output reads back to the same configuration.
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

#include "cfg.h"

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf;
        long n;

        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = calloc(1, (size_t)n + 1);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        *len = (size_t)n;
        return buf;
}

static void test_defaults(void **state)
{
        struct daemon_cfg c;

        (void)state;
        cfg_defaults(&c);
        assert_int_equal(c.connections, 16);
        assert_true(c.block_size == 8u << 20);
        assert_true(c.memory == 32u << 20);
        assert_true(c.rescan_interval_s == 3600);
        assert_string_equal(c.io, "auto");
        assert_string_equal(c.state_dir, "/var/lib/pstream");
        assert_null(c.url);
        cfg_done(&c);
}

static void test_shipped_example(void **state)
{
        char path[4096], err[512] = "", opt[128];
        const char *root = getenv("PSTREAM_SOURCE_ROOT");
        struct daemon_cfg c;
        size_t len;
        char *text;

        (void)state;
        snprintf(path, sizeof(path), "%s/conf/pstream.conf", root ? root : ".");
        text = slurp(path, &len);
        assert_non_null(text);
        cfg_defaults(&c);
        if (cfg_parse(&c, text, len, path, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        assert_int_equal(cfg_validate(&c, err, sizeof(err)), 0);
        assert_int_equal(c.npaths, 2);
        assert_string_equal(c.schedule, "Mon-Fri 08:00-18:00 = 50Mbit; * = unlimited");

        /* Every option of the table is documented in the example, set or
         * commented out. */
        for (size_t i = 0; i < cfg_option_count(); i++) {
                const char *dot = strchr(cfg_option_name(i, opt, sizeof(opt)), '.');
                char section[64], want[160], want_commented[160];
                snprintf(section, sizeof(section), "[%.*s]", (int)(dot - opt), opt);
                snprintf(want, sizeof(want), "\n%s = ", dot + 1);
                snprintf(want_commented, sizeof(want_commented), "\n# %s =", dot + 1);
                const char *sec = strstr(text, section);
                if (!sec)
                        fail_msg("section %s missing from conf/pstream.conf", section);
                const char *next = strstr(sec + 1, "\n[");
                const char *hit = strstr(sec, want), *hit2 = strstr(sec, want_commented);
                if ((!hit || (next && hit > next)) && (!hit2 || (next && hit2 > next)))
                        fail_msg("option %s not documented in conf/pstream.conf", opt);
        }
        cfg_done(&c);
        free(text);
}

static void test_errors(void **state)
{
        static const struct {
                const char *text;
                const char *want;
        } cases[] = {
                { "[nowhere]\n", "t.conf:1: unknown section [nowhere]" },
                { "[transfer]\nbogus = 1\n", "t.conf:2: unknown option 'bogus'" },
                { "[transfer]\nconnections = 0\n", "connections" },
                { "[transfer]\nconnections = 12x\n", "connections" },
                { "[transfer]\nblock_size = 8Q\n", "block_size" },
                { "[transfer]\nio = mmap\n", "io: 'mmap' is not one of auto|uring|pread" },
                { "[daemon]\nrescan_interval = 5s\n", "rescan_interval" },
                { "[daemon]\nrescan_interval = 1y\n", "rescan_interval" },
                { "[transfer]\nno equals sign\n", "t.conf:2: expected 'name = value'" },
                { "[transfer\n", "bad section header" },
                { "path = /x\n", "unknown option 'path' in []" },
        };
        char err[512];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct daemon_cfg c;
                cfg_defaults(&c);
                err[0] = '\0';
                assert_int_equal(cfg_parse(&c, cases[i].text, strlen(cases[i].text), "t.conf", err,
                                           sizeof(err)),
                                 -EINVAL);
                if (!strstr(err, cases[i].want))
                        fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
                cfg_done(&c);
        }

        /* Whole-configuration checks. */
        struct daemon_cfg c;
        const char *bad_sas = "[source]\npath = /s\n[destination]\nurl = https://a.blob.core."
                              "windows.net/c?sig=x\n";
        cfg_defaults(&c);
        assert_int_equal(cfg_parse(&c, bad_sas, strlen(bad_sas), "t", err, sizeof(err)), 0);
        assert_int_equal(cfg_validate(&c, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "sas_file"));
        cfg_done(&c);
        cfg_defaults(&c);
        assert_int_equal(cfg_validate(&c, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "path"));
        cfg_done(&c);

        /* An over-long line and a NUL byte are refused, not truncated. */
        char *big = malloc(CFG_MAX_LINE + 20);
        memset(big, 'a', CFG_MAX_LINE + 19);
        big[CFG_MAX_LINE + 19] = '\n';
        cfg_defaults(&c);
        assert_int_equal(cfg_parse(&c, big, CFG_MAX_LINE + 20, "t", err, sizeof(err)), -EINVAL);
        assert_int_equal(cfg_parse(&c, "[daemon]\nre\0port = x\n", 21, "t", err, sizeof(err)),
                         -EINVAL);
        cfg_done(&c);
        free(big);
}

static void test_dump_roundtrip(void **state)
{
        const char text[] = "\xEF\xBB\xBF# BOM first\n[source]\npath = /a\npath = /b c\n"
                            "[destination]\nurl = http://127.0.0.1:1/devstoreaccount1/c\n"
                            "prefix = wave 1\n[transfer]\nmemory = 48M\nblock_size = 512K\n"
                            "schedule = Sat,Sun 00:00-24:00 = unlimited; * = 10MB/s # not a "
                            "comment\n[daemon]\nrescan_interval = 90m\n";
        struct daemon_cfg a, b;
        char err[512], *out = NULL;
        size_t outlen = 0;
        FILE *f;

        (void)state;
        cfg_defaults(&a);
        if (cfg_parse(&a, text, sizeof(text) - 1, "t", err, sizeof(err)) < 0)
                fail_msg("%s", err);
        assert_int_equal(a.npaths, 2);
        assert_string_equal(a.paths[1], "/b c");
        assert_string_equal(a.schedule, "Sat,Sun 00:00-24:00 = unlimited; * = 10MB/s # not a comment");
        assert_true(a.rescan_interval_s == 5400);

        f = open_memstream(&out, &outlen);
        cfg_dump(&a, f);
        fclose(f);
        cfg_defaults(&b);
        if (cfg_parse(&b, out, outlen, "dump", err, sizeof(err)) < 0)
                fail_msg("dump does not parse: %s", err);
        assert_int_equal(b.npaths, a.npaths);
        assert_string_equal(b.paths[1], a.paths[1]);
        assert_string_equal(b.url, a.url);
        assert_string_equal(b.prefix, a.prefix);
        assert_string_equal(b.schedule, a.schedule);
        assert_true(b.memory == a.memory && b.block_size == a.block_size);
        assert_true(b.rescan_interval_s == a.rescan_interval_s);
        free(out);
        cfg_done(&a);
        cfg_done(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_shipped_example),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_dump_roundtrip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
