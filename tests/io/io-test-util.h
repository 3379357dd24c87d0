/* SPDX-License-Identifier: MIT
 *
 * io-test-util.h - helpers shared by the io/ tests: a scratch directory,
 * files of pseudo-random bytes, and checking a buffer against a pread of
 * the same range.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pstream/io.h"

struct scratch {
        char dir[256];
        char paths[64][300];
        unsigned n;
};

static inline uint64_t xorshift64(uint64_t *s)
{
        uint64_t x = *s;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *s = x;
}

/* Returns 0, or -errno. */
static inline int scratch_init(struct scratch *s)
{
        const char *tmp = getenv("TMPDIR");

        memset(s, 0, sizeof(*s));
        snprintf(s->dir, sizeof(s->dir), "%s/pstream-io-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        return mkdtemp(s->dir) ? 0 : -errno;
}

static inline const char *scratch_path(struct scratch *s, const char *name)
{
        char p[sizeof(s->paths[0])];

        if (s->n >= 64)
                abort();
        /* Via a copy: gcc's -Wrestrict can not tell dir and paths apart. */
        snprintf(p, sizeof(p), "%s/%s", s->dir, name);
        memcpy(s->paths[s->n], p, sizeof(p));
        return s->paths[s->n++];
}

static inline void scratch_done(struct scratch *s)
{
        for (unsigned i = s->n; i > 0; i--) {
                struct stat st;
                if (lstat(s->paths[i - 1], &st) == 0)
                        (S_ISDIR(st.st_mode) ? rmdir : unlink)(s->paths[i - 1]);
        }
        rmdir(s->dir);
}

/* Create name with size pseudo-random bytes from seed; returns its path. */
static inline const char *scratch_file(struct scratch *s, const char *name, size_t size,
                                       uint64_t seed)
{
        const char *p = scratch_path(s, name);
        uint8_t blk[65536];
        uint64_t st = seed | 1;
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0)
                abort();
        for (size_t done = 0; done < size;) {
                size_t n = size - done < sizeof(blk) ? size - done : sizeof(blk);
                for (size_t i = 0; i < n; i += 8) {
                        uint64_t v = xorshift64(&st);
                        memcpy(blk + i, &v, n - i < 8 ? n - i : 8);
                }
                if (write(fd, blk, n) != (ssize_t)n)
                        abort();
                done += n;
        }
        close(fd);
        return p;
}

/* 0 when buf holds exactly the bytes a pread of [off, off + result) gives
 * and that range ends where the file (or want) does; otherwise a nonzero
 * code saying what differed. */
static inline int check_buf(int fd, const struct io_buf *b, uint64_t off, size_t want, int result)
{
        size_t expect_len, sum = 0;
        uint8_t *ref;
        struct stat st;
        ssize_t n;
        int rc = 0;

        if (fstat(fd, &st) < 0)
                return 1;
        expect_len = off >= (uint64_t)st.st_size ? 0 : (size_t)st.st_size - off;
        if (expect_len > want)
                expect_len = want;
        if (result < 0 || (size_t)result != expect_len || b->len != expect_len || b->offset != off)
                return 2;
        ref = malloc(want ? want : 1);
        if (!ref)
                return 3;
        n = io_pread_full(fd, ref, want, off);
        if (n != (ssize_t)expect_len)
                rc = 4;
        for (unsigned i = 0; rc == 0 && i < b->nchunks; i++) {
                /* Data is contiguous: only the last chunk with data may be partial. */
                if (i > 0 && b->chunk[i].len > 0 &&
                    b->chunk[i - 1].len != io_pool_chunk_size(b->pool))
                        rc = 7;
                if (sum + b->chunk[i].len > expect_len ||
                    memcmp(b->chunk[i].data, ref + sum, b->chunk[i].len) != 0)
                        rc = 5;
                sum += b->chunk[i].len;
        }
        if (rc == 0 && sum != expect_len)
                rc = 6;
        free(ref);
        return rc;
}
