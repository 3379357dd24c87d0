/* SPDX-License-Identifier: MIT
 *
 * fuzz-net-dest.c - net_dest_parse() on arbitrary strings.  The first byte
 * chooses whether an account key is present; the rest is the URL.  Checks
 * the invariants of an accepted destination, and that no diag message
 * carries the value of a sig= parameter.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errno.h>

#include "pstream/net.h"

#define MIN_LEN(a, b) ((a) < (b) ? (a) : (b))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct net_dest_info d;
        struct net_diag diag;
        const char *sig;
        char *url;
        bool have_key;
        int r;

        if (size == 0)
                return 0;
        have_key = data[0] & 1;
        url = malloc(size);
        if (!url)
                return 0;
        memcpy(url, data + 1, size - 1);
        url[size - 1] = '\0';

        memset(&diag, 0, sizeof(diag));
        r = net_dest_parse(url, have_key, &d, &diag);
        if (memchr(diag.msg, '\0', sizeof(diag.msg)) == NULL)
                abort();
        if (r == 0) {
                size_t pl = strlen(d.prefix);

                if (!d.account[0] || strlen(d.container) < 3 || (pl && d.prefix[pl - 1] != '/'))
                        abort();
                if (d.auth == NET_AUTH_SAS && have_key)
                        abort();
                if (d.auth == NET_AUTH_SHARED_KEY && !d.can_read)
                        abort();
        } else if (r != -EINVAL || !diag.msg[0]) {
                abort();
        }
        /* Any sig= that reaches a message is followed by REDACTED (or a
         * prefix of it, where the message was cut). */
        for (const char *p = diag.msg; (sig = strcasestr(p, "sig=")); p = sig + 4) {
                size_t n = strlen(sig + 4);

                if (strncmp(sig + 4, "REDACTED", MIN_LEN(n, 8)) != 0)
                        abort();
        }
        free(url);
        return 0;
}
