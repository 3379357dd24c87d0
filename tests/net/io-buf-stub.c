/* SPDX-License-Identifier: MIT
 *
 * io-buf-stub.c - test-only io_buf_ref()/io_buf_unref() for tests/net while
 * io/pool.c is still a placeholder.  Buffers built by the tests are plain
 * malloc'd structs; the last unref frees the struct (not the chunk data).
 */
#include <stdlib.h>

#include "pstream/io.h"

struct io_buf *io_buf_ref(struct io_buf *b)
{
        atomic_fetch_add(&b->refs, 1);
        return b;
}

struct io_buf *io_buf_unref(struct io_buf *b)
{
        if (b && atomic_fetch_sub(&b->refs, 1) == 1)
                free(b);
        return NULL;
}
