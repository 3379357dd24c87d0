/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-walk.c - the input is a whole file: create a decoder from its
 * header and walk its folders and messages (pst_walk_next()) with the
 * daemon's pull loop, feeding exactly the bytes asked for from the input.
 * Reaches subnode trees, table contexts, the folder hierarchy (cycles,
 * depth), messages, attachments and embedded messages.  Every message
 * walked is then decoded whole (pst_msg_read: properties of every type,
 * the name-to-id map, recipients, attachments, embedded messages) both
 * from fed ranges and from the input lent whole (pst_file_borrow), the two
 * must agree, and it is rendered (pst_msg_render: bodies, LZFu, RTF, MIME);
 * the NBT is listed for orphans.  The custom mutator repairs CRCs after
 * each mutation so the checks behind them are reached.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pstream/pst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#include "pst-mutator.h"

static bool decode_error(int r)
{
        return r == -ENOENT || r == -EBADMSG || r == -EFBIG || r == -ENOMEM || r == -EIO ||
               r == -ENOTSUP;
}

/* Decode nid through f's pull loop and from the borrowed image img, and
 * render it. */
static void message(struct pst_file *f, struct pst_file *img, const uint8_t *data, size_t size,
                    uint32_t nid)
{
        struct pst_msg *a = NULL, *b = NULL;
        struct pst_diag diag;
        struct pst_want want;
        uint8_t *eml;
        size_t len, n, more;
        int r, r2;

        while ((r = pst_msg_read(f, nid, &a, &want, &diag)) == -EAGAIN) {
                assert(want.len > 0 && want.offset < size && want.len <= size - want.offset);
                (void)pst_file_feed(f, want.offset, data + want.offset, want.len);
        }
        assert(r == 0 || decode_error(r));
        r2 = pst_msg_read(img, nid, &b, &want, &diag);
        assert(r2 == 0 || (decode_error(r2) && r2 != -EIO));
        if (r == 0 && r2 == 0) {
                /* The cache limit can cost the fed decoder an item, never add one. */
                assert(a->n_props <= b->n_props && a->n_attachments <= b->n_attachments);
                (void)pst_msg_problems(a, &n, &more);
                assert(n <= PST_MSG_MAX_PROBLEMS);
        }
        if (r2 == 0) {
                r = pst_msg_render(b, &eml, &len);
                assert(r == 0 || r == -EFBIG || r == -ENOMEM || r == -EBADMSG);
                if (r == 0) {
                        assert(eml[len] == '\0');
                        free(eml);
                }
        }
        pst_msg_free(a);
        pst_msg_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* Small enough that the fuzzer reaches the cache limit too. */
        const struct pst_limits lim = { .max_cache_bytes = 1u << 20, .max_depth = 16 };
        const struct pst_walk_opts opts = { .messages = true };
        struct pst_walk_item it;
        struct pst_diag diag;
        struct pst_walk *w;
        struct pst_file *f, *img;
        struct pst_want want;
        uint32_t *nids;
        size_t n_nids;
        int r;

        if (pst_file_new(data, size < PST_HEADER_SIZE ? size : PST_HEADER_SIZE, size, &lim, &f,
                         &diag) < 0)
                return 0;
        r = pst_file_new(data, size < PST_HEADER_SIZE ? size : PST_HEADER_SIZE, size, &lim, &img, &diag);
        assert(r == 0 && pst_file_borrow(img, data, size) == 0);
        if (pst_walk_new(f, &opts, &w) < 0) {
                pst_file_free(img);
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
                        message(f, img, data, size, it.message.nid);
                } else {
                        assert(it.kind == PST_WALK_PROBLEM && it.problem.error < 0);
                }
        }
        pst_walk_free(w);
        r = pst_nbt_list(img, 0x04, &nids, &n_nids, &want, &diag);
        assert(r == 0 || r == -EBADMSG || r == -ENOMEM);
        if (r == 0) {
                for (size_t i = 1; i < n_nids; i++)
                        assert(nids[i - 1] < nids[i] && (nids[i] & 0x1F) == 0x04);
                free(nids);
        }
        pst_file_free(img);
        pst_file_free(f);
        return 0;
}
