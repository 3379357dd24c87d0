/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-store.c - the input is a whole file: create a decoder from its
 * header and run pst_store_info() with the daemon's pull loop, feeding
 * exactly the bytes asked for from the input.  Reaches the NBT/BBT pages,
 * blocks, data trees, the heap, the BTH and the PC.  The custom mutator
 * repairs CRCs after each mutation so the checks behind them are reached.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pstream/pst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#include "pst-mutator.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* Small enough that the fuzzer reaches the cache limit too. */
        const struct pst_limits lim = { .max_cache_bytes = 1u << 20, .max_depth = 16 };
        struct pst_store_info info;
        struct pst_diag diag;
        struct pst_file *f;
        struct pst_want w;
        unsigned rounds = 0;
        int r;

        if (pst_file_new(data, size < PST_HEADER_SIZE ? size : PST_HEADER_SIZE, size, &lim, &f,
                         &diag) < 0)
                return 0;
        while ((r = pst_store_info(f, &info, &w, &diag)) == -EAGAIN) {
                /* The decoder checks ranges against the size it was given. */
                assert(w.len > 0 && w.offset < size && w.len <= size - w.offset);
                (void)pst_file_feed(f, w.offset, data + w.offset, w.len);
                /* Every round adds an extent of at least 64 bytes that the
                 * running operation pins, until the cache limit ends it. */
                assert(++rounds <= lim.max_cache_bytes / 64 + 2);
        }
        if (r == 0)
                assert(memchr(info.display_name, '\0', sizeof(info.display_name)) != NULL);
        else
                assert(r == -EBADMSG || r == -ENOTSUP || r == -EFBIG || r == -EIO || r == -ENOMEM);
        pst_file_free(f);
        return 0;
}
