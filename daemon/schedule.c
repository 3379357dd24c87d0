/* SPDX-License-Identifier: MIT
 *
 * schedule.c - cap rates and the weekly schedule (see schedule.h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schedule.h"

#define MAX_RATE 100000000000ull
#define ALL_DAYS 0x7f
#define DAY_MINUTES 1440

int sched_parse_rate(const char *s, uint64_t *ret)
{
        static const struct {
                const char *unit;
                double bytes;   /* bytes/s per unit */
        } units[] = {
                { "B/s", 1 },          { "KB/s", 1e3 },         { "MB/s", 1e6 },
                { "GB/s", 1e9 },       { "KiB/s", 1024.0 },     { "MiB/s", 1048576.0 },
                { "GiB/s", 1073741824.0 },
                { "bit", 0.125 },      { "Kbit", 125 },         { "Mbit", 125e3 },
                { "Gbit", 125e6 },     { "bit/s", 0.125 },      { "Kbit/s", 125 },
                { "Mbit/s", 125e3 },   { "Gbit/s", 125e6 },     { "bps", 0.125 },
                { "Kbps", 125 },       { "Mbps", 125e3 },       { "Gbps", 125e6 },
        };
        char *end;
        double v;

        if (!s)
                return -EINVAL;
        if (strcasecmp(s, "unlimited") == 0 || strcasecmp(s, "none") == 0 || strcmp(s, "0") == 0) {
                *ret = 0;
                return 0;
        }
        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s)
                return -EINVAL;
        while (*end == ' ')
                end++;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                const char *u = units[i].unit, *e = end;
                double bytes;

                /* The prefix letter in either case (k, M, g); the rest exact,
                 * so "b/s" never passes for bytes. */
                if (isupper((unsigned char)u[0]) && u[0] != 'B' && tolower((unsigned char)*e) == tolower((unsigned char)u[0])) {
                        u++;
                        e++;
                }
                if (strcmp(e, u) != 0)
                        continue;
                bytes = v * units[i].bytes + 0.5;
                if (bytes < 1 || bytes > (double)MAX_RATE)
                        return -ERANGE;
                *ret = (uint64_t)bytes;
                return 0;
        }
        return -EINVAL;
}

const char *sched_format_rate(uint64_t rate, char *buf, size_t len)
{
        if (rate == 0)
                snprintf(buf, len, "unlimited");
        else if (rate >= 1000000)
                snprintf(buf, len, "%g MB/s", (double)rate / 1e6);
        else if (rate >= 1000)
                snprintf(buf, len, "%g KB/s", (double)rate / 1e3);
        else
                snprintf(buf, len, "%" PRIu64 " B/s", rate);
        return buf;
}

static const char *const day_names[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static int parse_day(const char *s, size_t n)
{
        for (int d = 0; d < 7; d++)
                if (n == 3 && strncasecmp(s, day_names[d], 3) == 0)
                        return d;
        return -1;
}

/* "Mon-Fri,Sun" or "*" into a day mask; 0 on error. */
static uint8_t parse_days(const char *s, size_t n)
{
        uint8_t mask = 0;
        size_t i = 0;

        if (n == 1 && s[0] == '*')
                return ALL_DAYS;
        while (i < n) {
                size_t item = i, len, dash = 0;
                int a, b;

                while (i < n && s[i] != ',')
                        i++;
                len = i - item;
                while (dash < len && s[item + dash] != '-')
                        dash++;
                a = parse_day(s + item, dash);
                b = dash < len ? parse_day(s + item + dash + 1, len - dash - 1) : a;
                if (a < 0 || b < 0)
                        return 0;
                for (int d = a;; d = (d + 1) % 7) {
                        mask |= (uint8_t)(1u << d);
                        if (d == b)
                                break;
                }
                if (i < n)
                        i++;
        }
        return mask;
}

/* "HH:MM" (00:00 to 24:00) into minutes; -1 on error. */
static int parse_hhmm(const char *s, size_t n)
{
        int h, m;

        if (n != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
            !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
                return -1;
        h = (s[0] - '0') * 10 + (s[1] - '0');
        m = (s[3] - '0') * 10 + (s[4] - '0');
        if (m > 59 || h > 24 || (h == 24 && m != 0))
                return -1;
        return h * 60 + m;
}

static char *trim(char *s)
{
        char *e;

        while (isspace((unsigned char)*s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

static int parse_rule(char *text, struct sched_rule *r, char *why, size_t whylen)
{
        char *eq = strchr(text, '='), *lhs, *rhs, *sp;
        int start, end;

        if (!eq) {
                snprintf(why, whylen, "expected \"DAYS [HH:MM-HH:MM] = RATE\"");
                return -EINVAL;
        }
        *eq = '\0';
        lhs = trim(text);
        rhs = trim(eq + 1);
        if (sched_parse_rate(rhs, &r->rate) < 0) {
                snprintf(why, whylen, "bad rate \"%s\" (like 20MB/s, 50Mbit or unlimited)", rhs);
                return -EINVAL;
        }
        sp = lhs + strcspn(lhs, " \t");
        r->days = parse_days(lhs, (size_t)(sp - lhs));
        if (!r->days) {
                snprintf(why, whylen, "bad days \"%.*s\" (like Mon-Fri, Sat,Sun or *)", (int)(sp - lhs), lhs);
                return -EINVAL;
        }
        sp = trim(sp);
        if (!*sp) {
                r->start = 0;
                r->end = DAY_MINUTES;
                return 0;
        }
        start = strlen(sp) == 11 && sp[5] == '-' ? parse_hhmm(sp, 5) : -1;
        end = start >= 0 ? parse_hhmm(sp + 6, 5) : -1;
        if (start < 0 || end <= 0 || start == end || start == DAY_MINUTES) {
                snprintf(why, whylen, "bad time range \"%s\" (like 08:00-18:00)", sp);
                return -EINVAL;
        }
        r->start = (uint16_t)start;
        r->end = (uint16_t)end;
        return 0;
}

int sched_parse(const char *s, struct schedule *ret, char *err, size_t errlen)
{
        struct schedule sc = { 0 };
        char *copy, *p, *save = NULL;
        unsigned num = 0;
        int r = 0;

        copy = strdup(s ? s : "");
        if (!copy)
                return -ENOMEM;
        for (p = strtok_r(copy, ";\n", &save); p; p = strtok_r(NULL, ";\n", &save)) {
                char text[256], why[128];

                num++;
                p = trim(p);
                if (!*p)
                        continue;
                snprintf(text, sizeof(text), "%s", p);
                if (sc.n == SCHED_MAX_RULES) {
                        snprintf(err, errlen, "rule %u \"%s\": more than %d rules", num, text,
                                 SCHED_MAX_RULES);
                        r = -EINVAL;
                        break;
                }
                if (parse_rule(p, &sc.rule[sc.n], why, sizeof(why)) < 0) {
                        snprintf(err, errlen, "rule %u \"%s\": %s", num, text, why);
                        r = -EINVAL;
                        break;
                }
                sc.n++;
        }
        free(copy);
        if (r == 0 && sc.n == 0) {
                snprintf(err, errlen, "no rule (like \"Mon-Fri 08:00-18:00 = 50Mbit; * = unlimited\")");
                r = -EINVAL;
        }
        if (r == 0)
                *ret = sc;
        return r;
}

static bool rule_matches(const struct sched_rule *r, int wday, int minute)
{
        bool today = r->days & (1u << wday), yesterday = r->days & (1u << ((wday + 6) % 7));

        if (r->start < r->end)
                return today && minute >= r->start && minute < r->end;
        return (today && minute >= r->start) || (yesterday && minute < r->end);
}

uint64_t sched_rate_at(const struct schedule *s, time_t now)
{
        struct tm tm;

        if (!localtime_r(&now, &tm))
                return 0;
        for (unsigned i = 0; i < s->n; i++)
                if (rule_matches(&s->rule[i], tm.tm_wday, tm.tm_hour * 60 + tm.tm_min))
                        return s->rule[i].rate;
        return 0;
}

time_t sched_next_change(const struct schedule *s, time_t now, uint64_t *ret_rate)
{
        uint64_t cur = sched_rate_at(s, now);

        /* Rules change at local minute boundaries, and time zone offsets
         * (DST included) are whole minutes, so those are the UTC minute
         * boundaries: step through them. */
        for (time_t t = now - now % 60 + 60; t <= now + 8 * 86400; t += 60) {
                uint64_t rate = sched_rate_at(s, t);

                if (rate != cur) {
                        if (ret_rate)
                                *ret_rate = rate;
                        return t;
                }
        }
        return -1;
}

int sched_add_default(struct schedule *s, uint64_t rate)
{
        if (s->n == SCHED_MAX_RULES)
                return -E2BIG;
        s->rule[s->n++] = (struct sched_rule){ .days = 0x7f, .start = 0, .end = 1440, .rate = rate };
        return 0;
}
