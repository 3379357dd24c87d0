/* SPDX-License-Identifier: MIT
 *
 * redact.c - keep SAS signatures out of everything net/ hands back: the
 * URL redactor and the diag filler that applies it to every message.
 */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include "net/net-internal.h"

/* Characters a sig= value can be made of (Base64, its percent-encoding and
 * URL-safe variants); anything else ends it. */
static bool sig_char(char c)
{
        return isalnum((unsigned char)c) || strchr("%+/=-_.~", c);
}

void net_redact_url(const char *url, char *out, size_t outlen)
{
        static const char mask[] = "REDACTED";
        size_t o = 0;

        if (outlen == 0)
                return;
        if (!url)
                url = "";

        /* Redact "sig=" anywhere, whatever precedes it: over-redacting a
         * look-alike parameter costs nothing, leaking a signature does. */
        for (const char *p = url; *p;) {
                if (strncasecmp(p, "sig=", 4) == 0) {
                        for (size_t i = 0; i < 4 && o + 1 < outlen; i++)
                                out[o++] = p[i];
                        p += 4;
                        while (*p && sig_char(*p))
                                p++;
                        for (size_t i = 0; mask[i] && o + 1 < outlen; i++)
                                out[o++] = mask[i];
                        continue;
                }
                if (o + 1 < outlen)
                        out[o++] = *p;
                p++;
        }
        out[o] = '\0';
}

int net_diag_set(struct net_diag *diag, long status, int r, const char *fmt, ...)
{
        char raw[sizeof(diag->msg) * 2];
        va_list ap;

        if (!diag)
                return r;
        diag->status = status;
        diag->error_code[0] = '\0';
        diag->request_id[0] = '\0';
        va_start(ap, fmt);
        vsnprintf(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        net_redact_url(raw, diag->msg, sizeof(diag->msg));
        return r;
}
