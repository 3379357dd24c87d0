/* SPDX-License-Identifier: MIT
 *
 * io.h - the floor of pstream: source files, read buffers, the reader.
 *
 * Owns file descriptors of sources (opened read-only, never locked, never
 * written, atime untouched where permitted), the buffer pool (one arena of
 * fixed-size chunks, registered with io_uring as fixed buffers), and the
 * reader (an io_uring ring with a pread() fallback).  Never logs, never
 * parses PST, knows nothing of HTTP.
 *
 * Errors: functions return >= 0 on success, -errno on failure:
 *   -EAGAIN   no buffer or queue slot free right now (try after a completion)
 *   -EIO      short read or device error; -ENOENT/-ESTALE: source vanished
 *   -ENOTSUP  io_uring requested explicitly but unavailable
 *
 * Threads: a struct io_reader belongs to one thread.  struct io_pool and
 * struct io_buf references may be released from any thread.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- source files ---------------------------------------------------- */

struct io_file_id {
        uint64_t size;
        int64_t mtime_ns;
        uint64_t dev;
        uint64_t ino;
};

struct io_file {
        int fd;
        struct io_file_id id; /* as seen by fstat() at open */
};

/* Open a source read-only: O_RDONLY|O_NOFOLLOW|O_CLOEXEC, plus O_NOATIME when
 * the kernel allows it.  Refuses anything but a regular file (-EINVAL on a
 * directory, -ELOOP on a symlink).  dirfd may be AT_FDCWD.  On success
 * *ret is filled; on failure it is left unchanged. */
int io_file_open(int dirfd, const char *path, struct io_file *ret);
void io_file_close(struct io_file *f);

/* Re-stat an open file: 1 if its identity (size, mtime, dev, ino) changed
 * since io_file_open(), 0 if not, -errno on failure. */
int io_file_changed(const struct io_file *f);

/* Synchronous positioned read of at most len bytes, retrying EINTR and short
 * reads until len bytes or EOF.  Returns the number of bytes read. */
ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* ---- buffers --------------------------------------------------------- */

struct io_pool;

struct io_chunk {
        uint8_t *data;
        uint32_t len;   /* valid bytes in this chunk */
        uint32_t index; /* chunk slot in the pool (= fixed-buffer index) */
};

/* A refcounted read buffer: up to one upload block, held as a list of pool
 * chunks.  Whoever holds a reference may read the data; nobody writes it
 * after the read completed.  The last io_buf_unref() returns the chunks to
 * the pool, from any thread. */
struct io_buf {
        atomic_uint refs;
        struct io_pool *pool;
        uint64_t offset; /* offset of data in the source file */
        size_t len;      /* valid bytes, sum of chunk[i].len */
        unsigned nchunks;
        struct io_chunk chunk[];
};

/* Create a pool of nchunks chunks of chunk_size bytes each (chunk_size a
 * multiple of 4096).  The memory is reserved at once but only touched when
 * read into, so RSS grows with use up to nchunks * chunk_size. */
int io_pool_new(size_t chunk_size, unsigned nchunks, struct io_pool **ret);
/* While buffers are still referenced, the arena outlives this call and is
 * released by the last io_buf_unref(). */
struct io_pool *io_pool_free(struct io_pool *p);

size_t io_pool_chunk_size(const struct io_pool *p);
unsigned io_pool_nchunks(const struct io_pool *p);
unsigned io_pool_free_chunks(struct io_pool *p);
/* Base and length of the arena, for registration as fixed buffers. */
void io_pool_arena(const struct io_pool *p, uint8_t **ret_base, size_t *ret_len);

/* Take enough chunks for len bytes, all or nothing.  With wait=false returns
 * -EAGAIN when not enough chunks are free; with wait=true blocks until they
 * are (or until io_pool_cancel()).  -E2BIG if len can never fit.  The buffer
 * starts with refs = 1, len = 0 and chunk lengths = 0. */
int io_pool_alloc(struct io_pool *p, size_t len, bool wait, struct io_buf **ret);

/* Wake every waiter in io_pool_alloc(wait=true); they return -ECANCELED. */
/* Cancellation sticks: later io_pool_alloc(wait=true) calls that would have
 * to wait return -ECANCELED at once, so a thread arriving after the
 * shutdown does not sleep forever.  Waiters are served first come, first
 * served: while one waits, io_pool_alloc(wait=false) returns -EAGAIN. */
void io_pool_cancel(struct io_pool *p);

struct io_buf *io_buf_ref(struct io_buf *b);
struct io_buf *io_buf_unref(struct io_buf *b); /* accepts NULL, returns NULL */

/* ---- the reader ------------------------------------------------------ */

enum io_backend {
        IO_BACKEND_AUTO,  /* io_uring, else pread */
        IO_BACKEND_URING, /* io_uring or fail with -ENOTSUP */
        IO_BACKEND_PREAD,
};

struct io_cfg {
        enum io_backend backend;
        unsigned queue_depth; /* reads in flight at most (ring size), 1..4096 */
};

struct io_reader;

/* One completed read request. */
struct io_done {
        void *tag;          /* as given to io_reader_submit() */
        struct io_buf *buf; /* taken by the caller: one reference */
        int result;         /* bytes read (may be < requested at EOF), or -errno */
};

/* Create a reader over a pool.  With IO_BACKEND_AUTO, io_uring is used when
 * io_uring_queue_init() works and the pool registers as fixed buffers;
 * EPERM/ENOSYS/ENOMEM (seccomp, containers, old kernels) select pread. */
/* pool is kept until io_reader_free().  Each chunk is registered as a fixed
 * buffer the first time this reader reads into it (registering pins the
 * memory, so the arena still becomes resident only with use); chunks that
 * can not be registered (RLIMIT_MEMLOCK) and buffers from another pool are
 * read with plain io_uring reads.  The ring is restricted to reads, cancels
 * and filling its buffer table. */
int io_reader_new(const struct io_cfg *cfg, struct io_pool *pool, struct io_reader **ret);
/* Waits for reads still owned by the kernel (after cancelling them), then
 * drops the references of every buffer not reaped yet. */
struct io_reader *io_reader_free(struct io_reader *r);

/* The backend actually in use (never IO_BACKEND_AUTO). */
enum io_backend io_reader_backend(const struct io_reader *r);
const char *io_backend_name(enum io_backend b);

/* Queue a read of len bytes at off from fd into buf (len <= the chunks of
 * buf; the reader sets buf->offset, chunk lengths and buf->len).  The
 * reader keeps buf until the matching io_done is reaped.  -EAGAIN when the
 * queue is full. */
int io_reader_submit(struct io_reader *r, int fd, uint64_t off, size_t len, struct io_buf *buf,
                     void *tag);
/* Also: -EINVAL when len > INT_MAX (the result is an int) or does not fit
 * buf.  queue_depth counts chunk reads, not requests; a request with more
 * chunks than queue_depth is accepted when nothing else is in flight.  On
 * failure buf stays the caller's.  A bad fd is not an error here: the
 * request completes with result -EBADF. */

/* Number of submitted requests not reaped yet. */
unsigned io_reader_inflight(const struct io_reader *r);

/* Reap one completed request into *ret.  With wait=true blocks until one
 * completes; with wait=false returns -EAGAIN when none has.  Returns 0 when
 * *ret was filled.  A request completes only when all its bytes are read,
 * EOF was hit, or an error occurred (short reads are resubmitted). */
int io_reader_reap(struct io_reader *r, bool wait, struct io_done *ret);
/* Also: -EAGAIN with nothing in flight, even with wait=true.  Completions
 * come in completion order, not submission order.  With the pread backend
 * the oldest queued request is read synchronously by this call. */
