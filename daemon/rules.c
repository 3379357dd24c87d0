/* SPDX-License-Identifier: MIT
 *
 * rules.c - mailbox rules and the Import Service mapping CSV.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/base/macro.h"
#include "rules.h"

/* Backtracking steps per match at most: a rule like "*a*a*a*a*b" against a
 * long path must not stall a run. */
#define GLOB_MAX_STEPS 200000

struct globber {
        const char *s;
        struct glob_cap *caps;
        unsigned maxcaps;
        unsigned steps;
};

static bool glob_rec(struct globber *g, const char *p, const char *s, unsigned ncap)
{
        while (*p) {
                if (++g->steps > GLOB_MAX_STEPS)
                        return false;
                if (p[0] == '*' && p[1] == '*') {
                        const char *rest = p + 2;
                        /* "**\/" also matches zero directories. */
                        if (*rest == '/' && glob_rec(g, rest + 1, s, ncap + 1)) {
                                if (ncap < g->maxcaps)
                                        g->caps[ncap] = (struct glob_cap){ (size_t)(s - g->s), 0 };
                                return true;
                        }
                        for (const char *t = s;; t++) {
                                if (glob_rec(g, rest, t, ncap + 1)) {
                                        if (ncap < g->maxcaps)
                                                g->caps[ncap] = (struct glob_cap){
                                                        (size_t)(s - g->s), (size_t)(t - s)
                                                };
                                        return true;
                                }
                                if (!*t || g->steps > GLOB_MAX_STEPS)
                                        return false;
                        }
                }
                if (*p == '*') {
                        for (const char *t = s;; t++) {
                                if (glob_rec(g, p + 1, t, ncap + 1)) {
                                        if (ncap < g->maxcaps)
                                                g->caps[ncap] = (struct glob_cap){
                                                        (size_t)(s - g->s), (size_t)(t - s)
                                                };
                                        return true;
                                }
                                if (!*t || *t == '/' || g->steps > GLOB_MAX_STEPS)
                                        return false;
                        }
                }
                if (!*s)
                        return false;
                if (*p == '?') {
                        if (*s == '/')
                                return false;
                } else if (*p != *s) {
                        return false;
                }
                p++;
                s++;
        }
        return *s == '\0';
}

bool glob_match(const char *pat, const char *s, struct glob_cap *caps, unsigned *ncaps)
{
        struct glob_cap dummy[1];
        struct globber g = {
                .s = s,
                .caps = caps ? caps : dummy,
                .maxcaps = caps && ncaps ? *ncaps : 0,
        };
        unsigned n = 0;

        if (!glob_rec(&g, pat, s, 0))
                return false;
        if (ncaps) {
                for (const char *p = pat; *p; p++)
                        if (*p == '*') {
                                n++;
                                if (p[1] == '*')
                                        p++;
                        }
                *ncaps = MIN(n, g.maxcaps);
        }
        return true;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (!err || !errlen)
                return;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

static bool valid_mailbox(const char *m)
{
        /* An SMTP address (possibly with {n} placeholders) or a GUID, as the
         * Import Service accepts for inactive mailboxes. */
        size_t at = 0, len = strlen(m);

        if (len == 0 || len > 320)
                return false;
        for (const char *p = m; *p; p++) {
                if ((unsigned char)*p <= ' ' || *p == ',' || *p == '"')
                        return false;
                if (*p == '@')
                        at++;
        }
        if (at == 1)
                return true;
        if (at == 0 && len == 36) {
                for (size_t i = 0; i < 36; i++) {
                        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                        if (dash ? m[i] != '-' : !isxdigit((unsigned char)m[i]))
                                return false;
                }
                return true;
        }
        return false;
}

static int parse_line(char *line, unsigned lineno, struct rule *ret, char *err, size_t errlen)
{
        char *tok[8];
        unsigned n = 0;
        struct rule r = { .line = lineno };

        for (char *save = NULL, *t = strtok_r(line, " \t", &save); t;
             t = strtok_r(NULL, " \t", &save)) {
                if (n == ELEMENTSOF(tok)) {
                        set_err(err, errlen, "line %u: too many fields", lineno);
                        return -EINVAL;
                }
                tok[n++] = t;
        }
        if (n < 2) {
                set_err(err, errlen, "line %u: expected GLOB MAILBOX [options]", lineno);
                return -EINVAL;
        }
        if (!valid_mailbox(tok[1])) {
                set_err(err, errlen, "line %u: '%.64s' is not a mailbox (SMTP address or GUID)",
                        lineno, tok[1]);
                return -EINVAL;
        }
        for (unsigned i = 2; i < n; i++) {
                char *eq = strchr(tok[i], '=');
                char **slot;
                if (!eq) {
                        set_err(err, errlen, "line %u: option '%.64s' is not KEY=VALUE", lineno,
                                tok[i]);
                        goto fail;
                }
                *eq = '\0';
                if (!strcasecmp(tok[i], "IsArchive")) {
                        if (strcasecmp(eq + 1, "TRUE") && strcasecmp(eq + 1, "FALSE")) {
                                set_err(err, errlen, "line %u: IsArchive must be TRUE or FALSE",
                                        lineno);
                                goto fail;
                        }
                        for (char *c = eq + 1; *c; c++)
                                *c = (char)toupper((unsigned char)*c);
                        slot = &r.is_archive;
                } else if (!strcasecmp(tok[i], "TargetRootFolder")) {
                        if (eq[1] != '/') {
                                set_err(err, errlen,
                                        "line %u: TargetRootFolder must start with '/'", lineno);
                                goto fail;
                        }
                        slot = &r.target_root;
                } else if (!strcasecmp(tok[i], "ContentCodePage")) {
                        char *end;
                        long cp = strtol(eq + 1, &end, 10);
                        if (*end || cp <= 0 || cp > 65535) {
                                set_err(err, errlen, "line %u: ContentCodePage must be a number",
                                        lineno);
                                goto fail;
                        }
                        slot = &r.codepage;
                } else {
                        set_err(err, errlen, "line %u: unknown option '%.64s'", lineno, tok[i]);
                        goto fail;
                }
                if (*slot) {
                        set_err(err, errlen, "line %u: option %s given twice", lineno, tok[i]);
                        goto fail;
                }
                *slot = strdup(eq + 1);
                if (!*slot)
                        goto oom;
        }
        r.glob = strdup(tok[0]);
        r.mailbox = strdup(tok[1]);
        if (!r.glob || !r.mailbox)
                goto oom;
        *ret = r;
        return 0;
oom:
        set_err(err, errlen, "out of memory");
fail:
        free(r.glob);
        free(r.mailbox);
        free(r.is_archive);
        free(r.target_root);
        free(r.codepage);
        return -EINVAL;
}

int rules_parse(const char *text, size_t len, struct rules *ret, char *err, size_t errlen)
{
        struct rules rs = { 0 };
        size_t cap = 0;
        unsigned lineno = 0;
        int r = 0;

        for (size_t pos = 0; pos < len;) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
                char line[RULES_MAX_LINE + 1];

                lineno++;
                if (ll > RULES_MAX_LINE) {
                        set_err(err, errlen, "line %u: longer than %d bytes", lineno,
                                RULES_MAX_LINE);
                        r = -EINVAL;
                        break;
                }
                memcpy(line, text + pos, ll);
                line[ll] = '\0';
                pos += ll + (nl ? 1 : 0);

                if (memchr(line, '\0', ll)) {
                        set_err(err, errlen, "line %u: contains a NUL byte", lineno);
                        r = -EINVAL;
                        break;
                }
                char *hash = strchr(line, '#');
                if (hash)
                        *hash = '\0';
                char *p = line;
                while (*p == ' ' || *p == '\t' || *p == '\r')
                        p++;
                for (char *e = p + strlen(p); e > p && isspace((unsigned char)e[-1]);)
                        *--e = '\0';
                if (!*p)
                        continue;

                if (rs.n == RULES_MAX) {
                        set_err(err, errlen, "more than %d rules", RULES_MAX);
                        r = -EINVAL;
                        break;
                }
                if (rs.n == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        struct rule *nv = realloc(rs.v, nc * sizeof(*nv));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        rs.v = nv;
                        cap = nc;
                }
                r = parse_line(p, lineno, &rs.v[rs.n], err, errlen);
                if (r < 0)
                        break;
                rs.n++;
        }
        if (r < 0) {
                rules_done(&rs);
                return r;
        }
        *ret = rs;
        return 0;
}

int rules_load(const char *path, struct rules *ret, char *err, size_t errlen)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0, cap = 0;
        int r;

        if (!f) {
                r = -errno;
                set_err(err, errlen, "cannot open: %s", strerror(errno));
                return r;
        }
        for (;;) {
                if (len == cap) {
                        if (cap >= 64 * MIB) {
                                fclose(f);
                                free(buf);
                                set_err(err, errlen, "larger than 64 MiB");
                                return -EFBIG;
                        }
                        size_t nc = cap ? cap * 2 : 4096;
                        char *nb = realloc(buf, nc);
                        if (!nb) {
                                fclose(f);
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = nb;
                        cap = nc;
                }
                size_t k = fread(buf + len, 1, cap - len, f);
                if (k == 0)
                        break;
                len += k;
        }
        r = ferror(f) ? -EIO : 0;
        fclose(f);
        if (r == 0)
                r = rules_parse(buf ? buf : "", len, ret, err, errlen);
        else
                set_err(err, errlen, "read error");
        free(buf);
        return r;
}

void rules_done(struct rules *rs)
{
        for (size_t i = 0; i < rs->n; i++) {
                free(rs->v[i].glob);
                free(rs->v[i].mailbox);
                free(rs->v[i].is_archive);
                free(rs->v[i].target_root);
                free(rs->v[i].codepage);
        }
        free(rs->v);
        rs->v = NULL;
        rs->n = 0;
}

const struct rule *rules_match(const struct rules *rs, const char *rel, char *mailbox,
                               size_t mailbox_len)
{
        for (size_t i = 0; i < rs->n; i++) {
                struct glob_cap caps[RULES_MAX_CAPTURES];
                unsigned ncaps = RULES_MAX_CAPTURES;
                const struct rule *r = &rs->v[i];
                size_t o = 0;

                if (!glob_match(r->glob, rel, caps, &ncaps))
                        continue;
                for (const char *m = r->mailbox; *m; m++) {
                        const char *piece = m;
                        size_t plen = 1;
                        if (m[0] == '{' && m[1] >= '1' && m[1] <= '9' && m[2] == '}') {
                                unsigned k = (unsigned)(m[1] - '1');
                                if (k >= ncaps)
                                        return NULL;
                                piece = rel + caps[k].off;
                                plen = caps[k].len;
                                m += 2;
                        }
                        if (o + plen >= mailbox_len)
                                return NULL;
                        memcpy(mailbox + o, piece, plen);
                        o += plen;
                }
                mailbox[o] = '\0';
                /* A capture may bring in characters a CSV field or an
                 * address can't hold. */
                for (size_t k = 0; k < o; k++)
                        if ((unsigned char)mailbox[k] <= ' ' || mailbox[k] == ',' ||
                            mailbox[k] == '"' || mailbox[k] == '/')
                                return NULL;
                return r;
        }
        return NULL;
}

void csv_field(FILE *f, const char *s)
{
        if (!s)
                return;
        if (!strpbrk(s, ",\"\r\n")) {
                fputs(s, f);
                return;
        }
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"')
                        fputc('"', f);
                fputc(*s, f);
        }
        fputc('"', f);
}

static char *part_name(const char *path, unsigned part)
{
        size_t len = strlen(path);
        char *p;

        if (part == 1)
                return strdup(path);
        if (len > 4 && !strcasecmp(path + len - 4, ".csv")) {
                if (asprintf(&p, "%.*s-%u.csv", (int)(len - 4), path, part) < 0)
                        return NULL;
        } else if (asprintf(&p, "%s-%u", path, part) < 0) {
                return NULL;
        }
        return p;
}

int mapping_write(const char *path, const struct mapping_row *rows, size_t n,
                  void (*on_file)(void *ctx, const char *file, size_t rows), void *ctx)
{
        unsigned parts = n == 0 ? 1 : (unsigned)DIV_ROUND_UP(n, MAPPING_MAX_ROWS);

        for (unsigned part = 1; part <= parts; part++) {
                _cleanup_free_ char *name = part_name(path, part);
                size_t first = (size_t)(part - 1) * MAPPING_MAX_ROWS;
                size_t last = MIN(n, first + MAPPING_MAX_ROWS);
                FILE *f;

                if (!name)
                        return -ENOMEM;
                f = fopen(name, "we");
                if (!f)
                        return -errno;
                /* The service wants exactly this header, CRLF line ends are
                 * what Excel and the portal's template use. */
                fputs(MAPPING_CSV_HEADER "\r\n", f);
                for (size_t i = first; i < last; i++) {
                        const struct mapping_row *r = &rows[i];
                        fputs("Exchange,", f);
                        csv_field(f, r->file_path);
                        fputc(',', f);
                        csv_field(f, r->name);
                        fputc(',', f);
                        csv_field(f, r->mailbox);
                        fputc(',', f);
                        csv_field(f, r->is_archive);
                        fputc(',', f);
                        csv_field(f, r->target_root);
                        fputc(',', f);
                        csv_field(f, r->codepage);
                        fputs(",,,\r\n", f);
                }
                if (fflush(f) != 0 || ferror(f)) {
                        int e = -errno;
                        fclose(f);
                        return e ? e : -EIO;
                }
                if (fclose(f) != 0)
                        return -errno;
                if (on_file)
                        on_file(ctx, name, last - first);
        }
        return (int)parts;
}
