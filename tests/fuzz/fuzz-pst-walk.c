/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-walk.c - the input is a whole file: create a decoder from its
 * header and walk its folders and messages (pst_walk_next()) with the
 * daemon's pull loop, feeding exactly the bytes asked for from the input.
 * Reaches subnode trees, table contexts, the folder hierarchy (cycles,
 * depth), messages, attachments and embedded messages.  The custom mutator
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
        const struct pst_walk_opts opts = { .messages = true };
        struct pst_walk_item it;
        struct pst_diag diag;
        struct pst_walk *w;
        struct pst_file *f;
        struct pst_want want;
                int r;

        if (pst_file_new(data, size < PST_HEADER_SIZE ? size : PST_HEADER_SIZE, size, &lim, &f,
                         &diag) < 0)
                return 0;
        if (pst_walk_new(f, &opts, &w) < 0) {
                pst_file_free(f);
                return 0;
        }
        while ((r = pst_walk_next(w, &it, &want, &diag)) != 0) {
                if (r == -EAGAIN) {
                        /* The decoder checks ranges against the size it was given. */
                        assert(want.len > 0 && want.offset < size && want.len <= size - want.offset);
                        (void)pst_file_feed(f, want.offset, data + want.offset, want.len);
                        continue;
                }
                if (r < 0) {
                        assert(r == -EIO || r == -ENOMEM);
                        break;
                }
                assert(r == 1);
                if (it.kind == PST_WALK_FOLDER) {
                        assert(memchr(it.folder.name, '\0', sizeof(it.folder.name)) != NULL);
                        assert(it.folder.depth <= PST_WALK_MAX_DEPTH);
                } else if (it.kind == PST_WALK_MESSAGE) {
                        assert(memchr(it.message.subject, '\0', sizeof(it.message.subject)) != NULL);
                        assert(it.message.n_attachments <= it.message.n_attachments_all);
                } else {
                        assert(it.kind == PST_WALK_PROBLEM && it.problem.error < 0);
                }
        }
        pst_walk_free(w);
        pst_file_free(f);
        return 0;
}
