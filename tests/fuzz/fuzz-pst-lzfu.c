/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-lzfu.c - pst_lzfu_decompress() on arbitrary bytes: never crash,
 * never read past size, and never produce more than the input can explain.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pstream/pst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
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
        return 0;
}
