/* SPDX-License-Identifier: MIT
 *
 * options.c - option value parsing and human formatting.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"

int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
        static const struct {
                const char *suffix;
                uint64_t mult;
        } units[] = {
                { "", 1 },
                { "b", 1 },
                { "k", 1ull << 10 },   { "kb", 1ull << 10 },  { "kib", 1ull << 10 },
                { "m", 1ull << 20 },   { "mb", 1ull << 20 },  { "mib", 1ull << 20 },
                { "g", 1ull << 30 },   { "gb", 1ull << 30 },  { "gib", 1ull << 30 },
                { "t", 1ull << 40 },   { "tb", 1ull << 40 },  { "tib", 1ull << 40 },
        };
        char *end;
        double v;

        if (!s || !*s || !isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || !isfinite(v) || v < 0)
                return -EINVAL;
        while (*end == ' ')
                end++;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcasecmp(end, units[i].suffix) != 0)
                        continue;
                double bytes = v * (double)units[i].mult;
                if (bytes > 18446744073709549568.0)
                        return -ERANGE;
                uint64_t n = (uint64_t)bytes;
                if (n < min || n > max)
                        return -ERANGE;
                *ret = n;
                return 0;
        }
        return -EINVAL;
}

int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        char *end;
        unsigned long v;

        if (!s || !isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

const char *format_bytes(uint64_t n, char *buf, size_t len)
{
        static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double)n;
        unsigned i = 0;

        while (v >= 1024 && i + 1 < sizeof(u) / sizeof(u[0])) {
                v /= 1024;
                i++;
        }
        if (i == 0)
                snprintf(buf, len, "%llu B", (unsigned long long)n);
        else
                snprintf(buf, len, "%.*f %s", v < 10 ? 2 : 1, v, u[i]);
        return buf;
}

const char *format_duration(double seconds, char *buf, size_t len)
{
        if (!(seconds >= 0) || seconds > 3600.0 * 24 * 365) {
                snprintf(buf, len, "--:--");
                return buf;
        }
        unsigned long t = (unsigned long)(seconds + 0.5);
        if (t >= 3600)
                snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
        else
                snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
        return buf;
}

int read_secret_file(const char *path, char **ret)
{
        FILE *f = fopen(path, "re");
        char buf[4097];
        size_t n;

        if (!f)
                return -errno;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        while (n > 0 && isspace((unsigned char)buf[n - 1]))
                buf[--n] = '\0';
        if (n == 0 || n >= sizeof(buf) - 1) {
                explicit_bzero(buf, sizeof(buf));
                return -EINVAL;
        }
        *ret = strdup(buf[0] == '?' ? buf + 1 : buf);
        explicit_bzero(buf, sizeof(buf));
        return *ret ? 0 : -ENOMEM;
}
