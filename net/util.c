/* SPDX-License-Identifier: MIT
 *
 * util.c - URL escaping and HTTP dates for net/, locale-independent.
 */
#include <ctype.h>
#include <stdio.h>

#include "net/net-internal.h"

static bool unreserved(unsigned char c)
{
        return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int net_url_escape(const char *in, bool keep_slash, char *out, size_t outlen)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;

        for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
                size_t need = unreserved(*p) || (keep_slash && *p == '/') ? 1 : 3;

                if (o + need >= outlen)
                        return -ENAMETOOLONG;
                if (need == 1) {
                        out[o++] = (char)*p;
                } else {
                        out[o++] = '%';
                        out[o++] = hex[*p >> 4];
                        out[o++] = hex[*p & 15];
                }
        }
        if (o >= outlen)
                return -ENAMETOOLONG;
        out[o] = '\0';
        return (int)o;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int net_url_unescape(const char *in, size_t len, char *out, size_t outlen)
{
        size_t o = 0;

        for (size_t i = 0; i < len; i++) {
                char c = in[i];

                if (c == '%') {
                        int hi, lo;

                        if (len - i < 3)
                                return -EINVAL;
                        hi = hexval(in[i + 1]);
                        lo = hexval(in[i + 2]);
                        if (hi < 0 || lo < 0 || (hi | lo) == 0)
                                return -EINVAL;
                        c = (char)(hi << 4 | lo);
                        i += 2;
                } else if (c == '\0') {
                        return -EINVAL;
                }
                if (o + 1 >= outlen)
                        return -ENAMETOOLONG;
                out[o++] = c;
        }
        if (outlen == 0)
                return -ENAMETOOLONG;
        out[o] = '\0';
        return (int)o;
}

void net_http_date(time_t t, char out[NET_HTTP_DATE_MAX])
{
        static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        struct tm tm;

        gmtime_r(&t, &tm);
        snprintf(out, NET_HTTP_DATE_MAX, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
                 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
