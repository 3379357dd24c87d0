/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-header.c - pst_header_parse() and pst_file_new() on arbitrary
 * bytes: never crash, never read past len, and agree with each other.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pstream/pst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct pst_header h;
        struct pst_diag diag;
        struct pst_file *f = NULL;
        int r, r2;

        r = pst_header_parse(data, size, &h, &diag);
        if (r == 0) {
                assert(pst_magic_ok(data, size));
                assert(strcmp(pst_format_name(h.format), "unknown") != 0);
                assert(strcmp(pst_kind_name(h.kind), "unknown") != 0);
                assert(strcmp(pst_crypt_name(h.crypt), "unknown") != 0);
        } else {
                assert(r == -EBADMSG || r == -ENOTSUP);
                assert(memchr(diag.msg, '\0', sizeof(diag.msg)) != NULL);
        }
        /* Only a header with both CRCs right makes a decoder. */
        r2 = pst_file_new(data, size, size, NULL, &f, &diag);
        assert((r2 == 0) == (r == 0 && h.crc_partial_ok && h.crc_full_ok));
        if (r2 == 0)
                assert(pst_file_header(f)->format == h.format);
        pst_file_free(f);
        return 0;
}
