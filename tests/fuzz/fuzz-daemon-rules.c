/* SPDX-License-Identifier: MIT
 *
 * fuzz-daemon-rules.c - the mailbox rules parser and matcher on hostile
 * input: the first line of the input is a path to match, the rest rules.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *nl = memchr(data, '\n', size);
        char path[1024], mb[330], err[256];
        struct rules rs;
        size_t plen;

        if (!nl)
                return 0;
        plen = (size_t)(nl - data);
        if (plen >= sizeof(path) || memchr(data, '\0', plen))
                return 0;
        memcpy(path, data, plen);
        path[plen] = '\0';
        if (rules_parse((const char *)nl + 1, size - plen - 1, &rs, err, sizeof(err)) < 0)
                return 0;
        (void)rules_match(&rs, path, mb, sizeof(mb));
        rules_done(&rs);
        return 0;
}
