/* SPDX-License-Identifier: MIT
 *
 * cfg.c - table-driven configuration file (fio-style option table).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "io/base/macro.h"
#include "options.h"

enum opt_type {
        T_STRING,
        T_PATHS,    /* one path per line; the option may repeat */
        T_UINT,
        T_SIZE,
        T_DURATION, /* seconds: 30s, 15m, 1h, 2d */
        T_ENUM,     /* a string from a fixed list */
};

struct opt {
        const char *section;
        const char *name;
        enum opt_type type;
        size_t offset;
        const char *def; /* default, in the file's own syntax; NULL = unset */
        uint64_t min, max;
        const char *choices; /* T_ENUM: "a|b|c" */
        const char *help;
        enum cfg_apply apply; /* when a reload (SIGHUP) applies a change */
};

#define OFF(field) offsetof(struct daemon_cfg, field)

static const struct opt opts[] = {
        { "source", "path", T_PATHS, OFF(paths), NULL, 0, 0, NULL,
          "a share root to take PST/OST files from (repeat the line for more roots)" },
        { "destination", "url", T_STRING, OFF(url), NULL, 0, 0, NULL,
          "container URL without the SAS: https://ACCOUNT.blob.core.windows.net/CONTAINER[/PATH]" },
        { "destination", "sas_file", T_STRING, OFF(sas_file), NULL, 0, 0, NULL,
          "file holding the SAS token (under systemd: LoadCredential=, read from "
          "$CREDENTIALS_DIRECTORY)" },
        { "destination", "key_file", T_STRING, OFF(key_file), NULL, 0, 0, NULL,
          "file holding a Shared Key (base64), for storage accounts of your own" },
        { "destination", "ca_file", T_STRING, OFF(ca_file), NULL, 0, 0, NULL,
          "PEM CA bundle to trust instead of the system's (verification stays on)" },
        { "destination", "prefix", T_STRING, OFF(prefix), NULL, 0, 0, NULL,
          "blob name prefix inside the container" },
        { "transfer", "connections", T_UINT, OFF(connections), "16", 1, 256, NULL,
          "parallel keep-alive connections" },
        { "transfer", "block_size", T_SIZE, OFF(block_size), "8M", 64 * KIB, 4000 * MIB, NULL,
          "Put Block size (doubled above 50,000 blocks; 4M after a 413)" },
        { "transfer", "put_blob_max", T_SIZE, OFF(put_blob_max), "8M", 0, 5000 * MIB, NULL,
          "files up to this size go up in one Put Blob" },
        { "transfer", "memory", T_SIZE, OFF(memory), "32M", 4 * MIB, 1024 * GIB, NULL,
          "read buffers at most: the bound on the daemon's memory" },
        { "transfer", "workers", T_UINT, OFF(workers), "1", 1, 256, NULL,
          "hashing threads" },
        { "transfer", "queue_depth", T_UINT, OFF(queue_depth), "64", 1, 4096, NULL,
          "reads in flight" },
        { "transfer", "io", T_ENUM, OFF(io), "auto", 0, 0, "auto|uring|pread",
          "reader backend; auto falls back to pread where io_uring is refused" },
        { "transfer", "cap", T_STRING, OFF(cap), "unlimited", 0, 0, NULL,
          "bandwidth cap when no schedule rule applies: 20MB/s, 50Mbit, unlimited", CFG_APPLY_NOW },
        { "transfer", "schedule", T_STRING, OFF(schedule), NULL, 0, 0, NULL,
          "weekly caps in local time, first match wins: Mon-Fri 08:00-18:00 = 50Mbit; * = "
          "unlimited", CFG_APPLY_NOW },
        { "import", "mailbox_rules", T_STRING, OFF(mailbox_rules), NULL, 0, 0, NULL,
          "file of rules mapping paths to mailboxes (see README)" },
        { "import", "mapping_csv", T_STRING, OFF(mapping_csv), NULL, 0, 0, NULL,
          "where to write the PST Import Service mapping CSV" },
        { "daemon", "state_dir", T_STRING, OFF(state_dir), "/var/lib/pstream", 0, 0, NULL,
          "journal of what was committed (local disk, never the share)", CFG_APPLY_RESTART },
        { "daemon", "report", T_STRING, OFF(report), NULL, 0, 0, NULL,
          "JSON report of each pass, rewritten after every pass" },
        { "daemon", "rescan_interval", T_DURATION, OFF(rescan_interval_s), "1h", 60,
          30 * 24 * 3600, NULL, "how long to wait between passes over the sources", CFG_APPLY_NOW },
        { "daemon", "log_level", T_ENUM, OFF(log_level), "info", 0, 0,
          "debug|info|notice|warning|err", "least important messages logged", CFG_APPLY_NOW },
        { "daemon", "metrics_listen", T_STRING, OFF(metrics_listen), NULL, 0, 0, NULL,
          "serve Prometheus metrics at http://HOST:PORT/metrics: 127.0.0.1:9187 or [::1]:9187 "
          "(off when unset)", CFG_APPLY_RESTART },
        { "daemon", "metrics_allow_remote", T_ENUM, OFF(metrics_allow_remote), "no", 0, 0, "no|yes",
          "yes lets metrics_listen be an address other than loopback", CFG_APPLY_RESTART },
};

static void set_err(char *err, size_t len, const char *fmt, ...) _printf_(3, 4);
static void set_err(char *err, size_t len, const char *fmt, ...)
{
        va_list ap;

        if (!err || !len)
                return;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
}

static int parse_duration(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;
        uint64_t mult = 1;

        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno)
                return -EINVAL;
        if (!strcmp(end, "") || !strcmp(end, "s"))
                mult = 1;
        else if (!strcmp(end, "m") || !strcmp(end, "min"))
                mult = 60;
        else if (!strcmp(end, "h"))
                mult = 3600;
        else if (!strcmp(end, "d"))
                mult = 86400;
        else
                return -EINVAL;
        if (mul_overflow((uint64_t)v, mult, ret))
                return -ERANGE;
        return 0;
}

static bool enum_ok(const char *choices, const char *v)
{
        size_t n = strlen(v);

        for (const char *p = choices; p && *p;) {
                const char *bar = strchr(p, '|');
                size_t len = bar ? (size_t)(bar - p) : strlen(p);
                if (len == n && !strncmp(p, v, n))
                        return true;
                p = bar ? bar + 1 : NULL;
        }
        return false;
}

/* Set one option from its text; -EINVAL/-ERANGE with err on a bad value. */
static int opt_set(struct daemon_cfg *c, const struct opt *o, const char *v, char *err,
                   size_t errlen)
{
        void *field = (char *)c + o->offset;
        int r;

        switch (o->type) {
        case T_STRING:
        case T_ENUM: {
                if (o->type == T_ENUM && !enum_ok(o->choices, v)) {
                        set_err(err, errlen, "%s.%s: '%.64s' is not one of %s", o->section,
                                o->name, v, o->choices);
                        return -EINVAL;
                }
                char *dup = strdup(v);
                if (!dup)
                        return -ENOMEM;
                free(*(char **)field);
                *(char **)field = dup;
                return 0;
        }
        case T_PATHS: {
                if (c->npaths >= CFG_MAX_SOURCES) {
                        set_err(err, errlen, "more than %d source paths", CFG_MAX_SOURCES);
                        return -EINVAL;
                }
                char *dup = strdup(v);
                if (!dup)
                        return -ENOMEM;
                c->paths[c->npaths++] = dup;
                return 0;
        }
        case T_UINT: {
                unsigned u;
                r = parse_uint(v, (unsigned)o->min, (unsigned)o->max, &u);
                if (r < 0) {
                        set_err(err, errlen, "%s.%s: expected a number from %" PRIu64 " to %" PRIu64
                                ", got '%.64s'",
                                o->section, o->name, o->min, o->max, v);
                        return r;
                }
                *(unsigned *)field = u;
                return 0;
        }
        case T_SIZE:
                r = parse_size(v, o->min, o->max, (uint64_t *)field);
                if (r < 0)
                        set_err(err, errlen, "%s.%s: expected a size like 8M, got '%.64s'",
                                o->section, o->name, v);
                return r;
        case T_DURATION: {
                uint64_t d;
                r = parse_duration(v, &d);
                if (r == 0 && (d < o->min || d > o->max))
                        r = -ERANGE;
                if (r < 0) {
                        set_err(err, errlen,
                                "%s.%s: expected a duration from %" PRIu64 "s to %" PRIu64
                                "s like 30m or 1h, got '%.64s'",
                                o->section, o->name, o->min, o->max, v);
                        return r;
                }
                *(uint64_t *)field = d;
                return 0;
        }
        }
        return -EINVAL;
}

void cfg_defaults(struct daemon_cfg *c)
{
        memset(c, 0, sizeof(*c));
        for (size_t i = 0; i < ELEMENTSOF(opts); i++)
                if (opts[i].def)
                        /* The table's defaults are valid by construction; a
                         * test parses each of them. */
                        (void)opt_set(c, &opts[i], opts[i].def, NULL, 0);
}

void cfg_done(struct daemon_cfg *c)
{
        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                void *field = (char *)c + opts[i].offset;
                if (opts[i].type == T_STRING || opts[i].type == T_ENUM)
                        free(*(char **)field);
        }
        for (unsigned i = 0; i < c->npaths; i++)
                free(c->paths[i]);
        memset(c, 0, sizeof(*c));
}

static char *trim(char *s)
{
        while (*s == ' ' || *s == '\t')
                s++;
        for (char *e = s + strlen(s); e > s && isspace((unsigned char)e[-1]);)
                *--e = '\0';
        return s;
}

int cfg_parse(struct daemon_cfg *c, const char *text, size_t len, const char *name, char *err,
              size_t errlen)
{
        char section[64] = "";
        unsigned lineno = 0;

        for (size_t pos = 0; pos < len;) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
                char buf[CFG_MAX_LINE + 1], line_err[256];
                char *line;
                int r;

                lineno++;
                if (ll > CFG_MAX_LINE) {
                        set_err(err, errlen, "%s:%u: line longer than %d bytes", name, lineno,
                                CFG_MAX_LINE);
                        return -EINVAL;
                }
                memcpy(buf, text + pos, ll);
                buf[ll] = '\0';
                pos += ll + (nl ? 1 : 0);
                if (memchr(buf, '\0', ll)) {
                        set_err(err, errlen, "%s:%u: NUL byte in the line", name, lineno);
                        return -EINVAL;
                }
                /* A UTF-8 byte order mark on the first line, as some editors write. */
                line = buf;
                if (lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3))
                        line += 3;
                line = trim(line);
                if (!*line || *line == '#' || *line == ';')
                        continue;

                if (*line == '[') {
                        char *close = strchr(line, ']');
                        if (!close || close[1] || close - line - 1 >= (long)sizeof(section) ||
                            close == line + 1) {
                                set_err(err, errlen, "%s:%u: bad section header", name, lineno);
                                return -EINVAL;
                        }
                        *close = '\0';
                        snprintf(section, sizeof(section), "%s", line + 1);
                        bool known = false;
                        for (size_t i = 0; i < ELEMENTSOF(opts); i++)
                                known |= !strcmp(opts[i].section, section);
                        if (!known) {
                                set_err(err, errlen, "%s:%u: unknown section [%s]", name, lineno,
                                        section);
                                return -EINVAL;
                        }
                        continue;
                }

                char *eq = strchr(line, '=');
                if (!eq) {
                        set_err(err, errlen, "%s:%u: expected 'name = value'", name, lineno);
                        return -EINVAL;
                }
                *eq = '\0';
                char *key = trim(line), *value = trim(eq + 1);
                const struct opt *o = NULL;
                for (size_t i = 0; i < ELEMENTSOF(opts); i++)
                        if (!strcmp(opts[i].section, section) && !strcmp(opts[i].name, key))
                                o = &opts[i];
                if (!o) {
                        set_err(err, errlen, "%s:%u: unknown option '%.64s' in [%s]", name,
                                lineno, key, section);
                        return -EINVAL;
                }
                line_err[0] = '\0';
                r = opt_set(c, o, value, line_err, sizeof(line_err));
                if (r < 0) {
                        set_err(err, errlen, "%s:%u: %s", name, lineno,
                                line_err[0] ? line_err : strerror(-r));
                        return r == -ENOMEM ? r : -EINVAL;
                }
        }
        return 0;
}

int cfg_load(struct daemon_cfg *c, const char *path, char *err, size_t errlen)
{
        FILE *f = fopen(path, "re");
        char *buf;
        size_t n;
        int r;

        if (!f) {
                r = -errno;
                set_err(err, errlen, "%s: %s", path, strerror(errno));
                return r;
        }
        /* A configuration file is small; more than 1 MiB is a mistake. */
        buf = malloc(MIB + 1);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(buf, 1, MIB + 1, f);
        r = ferror(f) ? -EIO : 0;
        fclose(f);
        if (r == 0 && n > MIB) {
                set_err(err, errlen, "%s: larger than 1 MiB", path);
                r = -EFBIG;
        } else if (r < 0) {
                set_err(err, errlen, "%s: read error", path);
        } else {
                r = cfg_parse(c, buf, n, path, err, errlen);
        }
        free(buf);
        return r;
}

int cfg_validate(const struct daemon_cfg *c, char *err, size_t errlen)
{
        if (c->npaths == 0) {
                set_err(err, errlen, "[source] needs at least one 'path ='");
                return -EINVAL;
        }
        if (!c->url) {
                set_err(err, errlen, "[destination] needs 'url ='");
                return -EINVAL;
        }
        if (strchr(c->url, '?')) {
                set_err(err, errlen, "[destination] url must not carry a SAS: put the token in "
                                     "sas_file (a config file is read by more people than a "
                                     "credential)");
                return -EINVAL;
        }
        if (c->sas_file && c->key_file) {
                set_err(err, errlen, "[destination] sas_file and key_file exclude each other");
                return -EINVAL;
        }
        if (c->memory < c->block_size || c->memory < c->put_blob_max) {
                set_err(err, errlen, "[transfer] memory must hold one block and one Put Blob");
                return -EINVAL;
        }
        if (c->mapping_csv && !c->mailbox_rules) {
                set_err(err, errlen, "[import] mapping_csv needs mailbox_rules");
                return -EINVAL;
        }
        return 0;
}

static void dump_value(const struct daemon_cfg *c, const struct opt *o, FILE *f)
{
        const void *field = (const char *)c + o->offset;
        char buf[64];

        switch (o->type) {
        case T_STRING:
        case T_ENUM: {
                const char *s = *(char *const *)field;
                if (s)
                        fprintf(f, "%s = %s\n", o->name, s);
                else
                        fprintf(f, "# %s =\n", o->name);
                break;
        }
        case T_PATHS:
                if (c->npaths == 0)
                        fprintf(f, "# %s =\n", o->name);
                for (unsigned i = 0; i < c->npaths; i++)
                        fprintf(f, "%s = %s\n", o->name, c->paths[i]);
                break;
        case T_UINT:
                fprintf(f, "%s = %u\n", o->name, *(const unsigned *)field);
                break;
        case T_SIZE: {
                uint64_t v = *(const uint64_t *)field;
                if (v && v % MIB == 0)
                        snprintf(buf, sizeof(buf), "%" PRIu64 "M", v / MIB);
                else if (v && v % KIB == 0)
                        snprintf(buf, sizeof(buf), "%" PRIu64 "K", v / KIB);
                else
                        snprintf(buf, sizeof(buf), "%" PRIu64, v);
                fprintf(f, "%s = %s\n", o->name, buf);
                break;
        }
        case T_DURATION: {
                uint64_t v = *(const uint64_t *)field;
                if (v % 86400 == 0)
                        fprintf(f, "%s = %" PRIu64 "d\n", o->name, v / 86400);
                else if (v % 3600 == 0)
                        fprintf(f, "%s = %" PRIu64 "h\n", o->name, v / 3600);
                else if (v % 60 == 0)
                        fprintf(f, "%s = %" PRIu64 "m\n", o->name, v / 60);
                else
                        fprintf(f, "%s = %" PRIu64 "s\n", o->name, v);
                break;
        }
        }
}

void cfg_dump(const struct daemon_cfg *c, FILE *f)
{
        const char *section = NULL;

        fputs("# pstream daemon configuration (effective values; see pstream daemon --help)\n", f);
        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                const struct opt *o = &opts[i];
                if (!section || strcmp(section, o->section)) {
                        section = o->section;
                        fprintf(f, "\n[%s]\n", section);
                }
                if (o->def)
                        fprintf(f, "# %s (default %s)\n", o->help, o->def);
                else
                        fprintf(f, "# %s\n", o->help);
                dump_value(c, o, f);
        }
}

/* One option's value as --dump-config writes it, for comparisons. */
static bool same_value(const struct daemon_cfg *a, const struct daemon_cfg *b, const struct opt *o)
{
        char *x = NULL, *y = NULL;
        size_t xl = 0, yl = 0;
        FILE *fx = open_memstream(&x, &xl), *fy = open_memstream(&y, &yl);
        bool same = false;

        if (fx && fy) {
                dump_value(a, o, fx);
                dump_value(b, o, fy);
                fflush(fx);
                fflush(fy);
                same = xl == yl && !memcmp(x, y, xl);
        }
        if (fx)
                fclose(fx);
        if (fy)
                fclose(fy);
        free(x);
        free(y);
        return same;
}

const char *cfg_changes(const struct daemon_cfg *a, const struct daemon_cfg *b,
                        enum cfg_apply apply, char *buf, size_t len)
{
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(opts) && n < len; i++) {
                const struct opt *o = &opts[i];
                if (o->apply != apply || same_value(a, b, o))
                        continue;
                int k = snprintf(buf + n, len - n, "%s%s.%s", n ? ", " : "", o->section, o->name);
                if (k < 0)
                        break;
                n += (size_t)k;
        }
        return buf;
}

size_t cfg_option_count(void)
{
        return ELEMENTSOF(opts);
}

const char *cfg_option_name(size_t i, char *buf, size_t len)
{
        if (i >= ELEMENTSOF(opts))
                return NULL;
        snprintf(buf, len, "%s.%s", opts[i].section, opts[i].name);
        return buf;
}
