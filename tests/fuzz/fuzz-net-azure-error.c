/* SPDX-License-Identifier: MIT
 *
 * fuzz-net-azure-error.c - net_parse_error_body() on arbitrary bytes: it
 * must stay inside the buffer, always terminate its outputs, and only ever
 * return an identifier as the code.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pstream/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char code[64], msg[256], tiny[1];
        int r;

        r = net_parse_error_body((const char *)data, size, code, sizeof(code), msg, sizeof(msg));
        if (memchr(code, '\0', sizeof(code)) == NULL || memchr(msg, '\0', sizeof(msg)) == NULL)
                abort();
        if (r == 0 && code[0] == '\0')
                abort();
        for (const char *p = code; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("_-.", *p))
                        abort();
        for (const char *p = msg; *p; p++)
                if (iscntrl((unsigned char)*p))
                        abort();
        /* Degenerate output sizes. */
        net_parse_error_body((const char *)data, size, tiny, sizeof(tiny), tiny, sizeof(tiny));
        if (tiny[0] != '\0')
                abort();
        net_parse_error_body((const char *)data, size, code, 0, msg, 0);
        return 0;
}
