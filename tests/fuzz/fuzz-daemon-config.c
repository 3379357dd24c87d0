/* SPDX-License-Identifier: MIT
 *
 * fuzz-daemon-config.c - the configuration file parser on hostile input:
 * parse, validate, dump, and the dump must parse again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct daemon_cfg c, d;
        char err[512], *out = NULL;
        size_t outlen = 0;
        FILE *f;

        cfg_defaults(&c);
        if (cfg_parse(&c, (const char *)data, size, "fuzz", err, sizeof(err)) == 0) {
                (void)cfg_validate(&c, err, sizeof(err));
                f = open_memstream(&out, &outlen);
                if (f) {
                        cfg_dump(&c, f);
                        fclose(f);
                        cfg_defaults(&d);
                        /* What we print, we must read back. */
                        if (cfg_parse(&d, out, outlen, "dump", err, sizeof(err)) != 0)
                                abort();
                        cfg_done(&d);
                        free(out);
                }
        }
        cfg_done(&c);
        return 0;
}
