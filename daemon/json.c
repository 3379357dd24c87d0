/* SPDX-License-Identifier: MIT
 *
 * json.c - JSON string escaping.
 */
#include <stdint.h>

#include "json.h"

/* Length of the valid UTF-8 sequence at s, or 0. */
static unsigned utf8_len(const unsigned char *s)
{
        unsigned n;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xE0) == 0xC0) {
                n = 2;
                cp = s[0] & 0x1F;
        } else if ((s[0] & 0xF0) == 0xE0) {
                n = 3;
                cp = s[0] & 0x0F;
        } else if ((s[0] & 0xF8) == 0xF0) {
                n = 4;
                cp = s[0] & 0x07;
        } else {
                return 0;
        }
        for (unsigned i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
                return 0;
        return n;
}

void json_string(FILE *f, const char *str)
{
        const unsigned char *s = (const unsigned char *)(str ? str : "");

        fputc('"', f);
        while (*s) {
                unsigned n = utf8_len(s);
                if (n == 0) {
                        fprintf(f, "\\u%04x", *s);
                        s++;
                        continue;
                }
                if (n > 1) {
                        fwrite(s, 1, n, f);
                        s += n;
                        continue;
                }
                switch (*s) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                default:
                        if (*s < 0x20 || *s == 0x7F)
                                fprintf(f, "\\u%04x", *s);
                        else
                                fputc(*s, f);
                }
                s++;
        }
        fputc('"', f);
}
