/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-lzfu.c - pst_lzfu_decompress() on arbitrary bytes: never crash,
 * never read past size, and never produce more than the input can explain.
 * Mutations almost never keep the CRC right, so each input also runs with
 * cbSize and the CRC fixed up, to reach the decompressor itself.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pstream/pst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size)
{
        struct pst_diag diag;
        uint8_t *out = NULL;
        size_t len = 0;
        int r;

        r = pst_lzfu_decompress(data, size, &out, &len, &diag);
        if (r == 0) {
                assert(out);
                assert(out[len] == 0);
                assert(len <= 8 * (uint64_t)size + 207);
                assert(len <= PST_LZFU_MAX_OUT);
                free(out);
        } else {
                assert(r == -EBADMSG || r == -EFBIG || r == -ENOMEM);
                assert(!out);
                assert(memchr(diag.msg, '\0', sizeof(diag.msg)) != NULL);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t *fixed;
        uint32_t crc;

        check(data, size);
        if (size < 16 || size > UINT32_MAX)
                return 0;
        fixed = malloc(size);
        assert(fixed);
        memcpy(fixed, data, size);
        for (int i = 0; i < 4; i++)
                fixed[i] = (uint8_t)((size - 4) >> (8 * i));
        crc = pst_crc32(0, fixed + 16, size - 16);
        for (int i = 0; i < 4; i++)
                fixed[12 + i] = (uint8_t)(crc >> (8 * i));
        check(fixed, size);
        free(fixed);
        return 0;
}
