/* SPDX-License-Identifier: MIT
 *
 * backoff.c - retry policy: which statuses are retried, how long to wait
 * (full jitter over an exponential bound), and the server's Retry-After.
 */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "net/net-internal.h"

/* A server asking for more is honoured (AzCopy gives up instead), but a
 * broken or hostile header must not park a request for days. */
#define RETRY_AFTER_CLAMP_MS (15 * 60 * 1000)

bool net_status_retryable(long status)
{
        switch (status) {
        case 408:
        case 429:
        case 500:
        case 502:
        case 503:
        case 504:
                return true;
        default:
                return false;
        }
}

uint32_t net_backoff_delay(const struct net_backoff *b, unsigned attempt, double rnd,
                           int64_t retry_after_ms)
{
        uint64_t bound = b->base_ms;
        uint32_t delay;

        if (attempt == 0)
                attempt = 1;
        /* Shift until the cap; past 32 doublings any base is above it. */
        for (unsigned i = 1; i < attempt && bound < b->max_ms && i < 32; i++)
                bound <<= 1;
        bound = MIN(bound, (uint64_t)b->max_ms);
        if (!(rnd >= 0.0))
                rnd = 0.0;
        if (rnd >= 1.0)
                rnd = 0.0;
        delay = (uint32_t)((double)bound * rnd);

        if (retry_after_ms > (int64_t)delay)
                delay = (uint32_t)MIN(retry_after_ms, (int64_t)RETRY_AFTER_CLAMP_MS);
        return delay;
}

/* Non-negative decimal integer with optional surrounding blanks; -1 if not. */
static int64_t parse_uint(const char *s)
{
        int64_t v = 0;
        bool any = false;

        while (*s == ' ' || *s == '\t')
                s++;
        for (; isdigit((unsigned char)*s); s++) {
                any = true;
                /* Saturate: the caller clamps anyway. */
                if (v < INT64_MAX / 10 - 10)
                        v = v * 10 + (*s - '0');
        }
        while (*s == ' ' || *s == '\t')
                s++;
        return any && *s == '\0' ? v : -1;
}

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7), parsed
 * without the locale that strptime() would consult. */
static int64_t parse_http_date(const char *s)
{
        static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        char wd[4], mon[4], gmt[4];
        int day, year, hh, mm, ss, consumed = 0;
        struct tm tm = { 0 };
        time_t t;

        if (sscanf(s, " %3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3s %n", wd, &day, mon, &year,
                   &hh, &mm, &ss, gmt, &consumed) != 8 || s[consumed] != '\0')
                return -1;
        if (strcmp(gmt, "GMT") != 0 || day < 1 || day > 31 || year < 1970 || hh > 23 || mm > 59 ||
            ss > 60 || hh < 0 || mm < 0 || ss < 0)
                return -1;
        tm.tm_mon = -1;
        for (int i = 0; i < 12; i++)
                if (strcasecmp(mon, months[i]) == 0)
                        tm.tm_mon = i;
        if (tm.tm_mon < 0)
                return -1;
        tm.tm_mday = day;
        tm.tm_year = year - 1900;
        tm.tm_hour = hh;
        tm.tm_min = mm;
        tm.tm_sec = ss;
        t = timegm(&tm);
        return t == (time_t)-1 ? -1 : (int64_t)t;
}

int64_t net_parse_retry_after(const char *retry_after, const char *retry_after_ms, int64_t now_s)
{
        int64_t v;

        /* The millisecond headers are the more precise ones. */
        if (retry_after_ms) {
                v = parse_uint(retry_after_ms);
                if (v >= 0)
                        return v;
        }
        if (!retry_after)
                return -1;
        v = parse_uint(retry_after);
        if (v >= 0)
                return v > INT64_MAX / 1000 ? INT64_MAX : v * 1000;
        v = parse_http_date(retry_after);
        if (v < 0)
                return -1;
        return v <= now_s ? 0 : (v - now_s > INT64_MAX / 1000 ? INT64_MAX : (v - now_s) * 1000);
}
