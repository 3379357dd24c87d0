/* SPDX-License-Identifier: MIT
 *
 * test-io-reader.c - the reader, run once per backend (argv[1]: io_uring or
 * pread): many files of awkward sizes read concurrently in random blocks and
 * compared byte for byte with pread(), EOF and past-EOF reads, the queue
 * depth, bad fds, short reads that must not pass for EOF, freeing a reader
 * with reads in flight, and two reader threads sharing one pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "io-test-util.h"
#include "io/base/macro.h"
#include "pstream/io.h"

#define CS (64 * 1024u)

static enum io_backend backend;

struct fixture {
        struct scratch s;
        struct io_pool *pool;
        struct io_reader *r;
};

static int new_reader(struct io_pool *pool, unsigned depth, struct io_reader **ret)
{
        struct io_cfg cfg = { .backend = backend, .queue_depth = depth };

        return io_reader_new(&cfg, pool, ret);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f || scratch_init(&f->s) < 0 || io_pool_new(CS, 256, &f->pool) < 0 ||
            new_reader(f->pool, 64, &f->r) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        io_reader_free(f->r);
        /* Every test gives all buffers back. */
        if (io_pool_free_chunks(f->pool) != io_pool_nchunks(f->pool))
                return -1;
        io_pool_free(f->pool);
        scratch_done(&f->s);
        free(f);
        return 0;
}

static int open_ro(const char *p)
{
        int fd = open(p, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                abort();
        return fd;
}

/* Reap one request, waiting; fail the test on an error of the reader. */
static struct io_done reap_one(struct io_reader *r)
{
        struct io_done d = { 0 };

        assert_int_equal(io_reader_reap(r, true, &d), 0);
        assert_non_null(d.buf);
        return d;
}

static void test_backend(void **state)
{
        struct fixture *f = *state;
        struct io_reader *r = NULL;
        struct io_done d;

        assert_int_equal(io_reader_backend(f->r), backend);
        assert_string_equal(io_backend_name(IO_BACKEND_URING), "io_uring");
        assert_string_equal(io_backend_name(IO_BACKEND_PREAD), "pread");
        assert_string_equal(io_backend_name(IO_BACKEND_AUTO), "auto");
        assert_int_equal(new_reader(f->pool, 0, &r), -EINVAL);
        assert_int_equal(new_reader(f->pool, 4097, &r), -EINVAL);
        assert_null(r);
        assert_int_equal(new_reader(f->pool, 4096, &r), 0);
        io_reader_free(r);
        assert_null(io_reader_free(NULL));
        /* Nothing in flight: no completion will ever come, even waiting. */
        assert_int_equal(io_reader_reap(f->r, true, &d), -EAGAIN);
        assert_int_equal(io_reader_reap(f->r, false, &d), -EAGAIN);
}

static unsigned resident_pages(struct io_pool *p)
{
        static unsigned char vec[4096];
        unsigned n = 0;
        uint8_t *base;
        size_t len;

        io_pool_arena(p, &base, &len);
        if (len / 4096 > sizeof(vec) || mincore(base, len, vec) < 0)
                abort();
        for (size_t i = 0; i < len / 4096; i++)
                n += vec[i] & 1;
        return n;
}

/* Creating a reader (fixed-buffer registration included) leaves the arena
 * untouched; a read makes resident what it filled and no more. */
static void test_arena_resident_with_use(void **state)
{
        struct fixture *f = *state;
        int fd = open_ro(scratch_file(&f->s, "m.pst", 3 * CS, 12));
        struct io_pool *p;
        struct io_reader *r;
        struct io_buf *b;
        struct io_done d;

        assert_int_equal(io_pool_new(CS, 16, &p), 0);
        assert_int_equal(new_reader(p, 8, &r), 0);
        assert_int_equal(resident_pages(p), 0);
        assert_int_equal(io_pool_alloc(p, 2 * CS, false, &b), 0);
        assert_int_equal(io_reader_submit(r, fd, 0, 2 * CS, b, NULL), 0);
        d = reap_one(r);
        assert_int_equal(check_buf(fd, d.buf, 0, 2 * CS, d.result), 0);
        assert_int_equal(resident_pages(p), 2 * CS / 4096);
        io_buf_unref(d.buf);
        io_reader_free(r);
        io_pool_free(p);
        close(fd);
}

/* Many files, all interleaved on one reader: random block sizes (up to
 * 6 chunks, some not chunk multiples), every byte checked. */
static void test_many_files(void **state)
{
        struct fixture *f = *state;
        const size_t sizes[] = { 0, 1, CS - 1, CS, CS + 1, 2 * CS, 3 * MIB + 12345, 5 * MIB,
                                 7 * MIB - 1, 4097, 100 };
        int fds[ELEMENTSOF(sizes)];
        uint64_t cursor[ELEMENTSOF(sizes)] = { 0 }, verified = 0, total = 0;
        bool finished[ELEMENTSOF(sizes)] = { 0 };
        unsigned reaped_at_eof = 0, left = ELEMENTSOF(sizes);
        uint64_t rnd = 12345;
        char name[32];

        for (unsigned i = 0; i < ELEMENTSOF(sizes); i++) {
                snprintf(name, sizeof(name), "f%u.pst", i);
                fds[i] = open_ro(scratch_file(&f->s, name, sizes[i], i + 1));
                total += sizes[i];
        }
        while (left > 0 || io_reader_inflight(f->r) > 0) {
                unsigned i = (unsigned)(xorshift64(&rnd) % ELEMENTSOF(sizes));
                size_t len = xorshift64(&rnd) % (6 * CS) + 1;
                struct io_buf *b;
                struct io_done d;
                int r;

                if (xorshift64(&rnd) % 4 == 0)
                        len = (xorshift64(&rnd) % 6 + 1) * CS;
                if (!finished[i]) {
                        r = io_pool_alloc(f->pool, len, false, &b);
                        if (r == 0) {
                                r = io_reader_submit(f->r, fds[i], cursor[i], len, b,
                                                     (void *)(uintptr_t)(len << 8 | i));
                                if (r == -EAGAIN) {
                                        io_buf_unref(b);
                                } else {
                                        assert_int_equal(r, 0);
                                        /* One block past the end too: it reads nothing. */
                                        if (cursor[i] >= sizes[i]) {
                                                finished[i] = true;
                                                left--;
                                        }
                                        cursor[i] += len;
                                        continue;
                                }
                        }
                        assert_true(r == 0 || r == -EAGAIN);
                }
                if (io_reader_inflight(f->r) == 0)
                        continue;
                d = reap_one(f->r);
                {
                        unsigned fi = (unsigned)((uintptr_t)d.tag & 0xff);
                        size_t want = (uintptr_t)d.tag >> 8;
                        uint64_t off = d.buf->offset;

                        assert_int_equal(check_buf(fds[fi], d.buf, off, want, d.result), 0);
                        verified += (uint64_t)d.result;
                        if ((size_t)d.result < want)
                                reaped_at_eof++;
                }
                io_buf_unref(d.buf);
        }
        assert_int_equal(verified, total);
        assert_true(reaped_at_eof >= ELEMENTSOF(sizes));
        for (unsigned i = 0; i < ELEMENTSOF(sizes); i++)
                close(fds[i]);
}

static void test_eof_and_past_eof(void **state)
{
        struct fixture *f = *state;
        int fd = open_ro(scratch_file(&f->s, "e.pst", 10000, 9));
        const struct {
                uint64_t off;
                size_t len;
                int expect;
        } cases[] = {
                { 0, 3 * CS, 10000 },  { 9000, 5000, 1000 }, { 9999, CS, 1 },
                { 10000, CS, 0 },      { 10001, 10, 0 },     { 1ull << 40, 2 * CS, 0 },
                { 0, 0, 0 },           { 100, 200, 200 },
        };

        for (unsigned i = 0; i < ELEMENTSOF(cases); i++) {
                struct io_buf *b;
                struct io_done d;

                assert_int_equal(io_pool_alloc(f->pool, cases[i].len, false, &b), 0);
                assert_int_equal(io_reader_submit(f->r, fd, cases[i].off, cases[i].len, b,
                                                  (void *)&cases[i]),
                                 0);
                assert_int_equal(io_reader_inflight(f->r), 1);
                d = reap_one(f->r);
                assert_ptr_equal(d.tag, &cases[i]);
                assert_ptr_equal(d.buf, b);
                assert_int_equal(d.result, cases[i].expect);
                assert_int_equal(check_buf(fd, b, cases[i].off, cases[i].len, d.result), 0);
                assert_int_equal(io_reader_inflight(f->r), 0);
                io_buf_unref(b);
        }
        close(fd);
}

static void test_invalid_submit(void **state)
{
        struct fixture *f = *state;
        struct io_buf *b;

        assert_int_equal(io_pool_alloc(f->pool, 2 * CS, false, &b), 0);
        assert_int_equal(io_reader_submit(f->r, 0, 0, 2 * CS + 1, b, NULL), -EINVAL);
        assert_int_equal(io_reader_submit(f->r, 0, INT64_MAX, 10, b, NULL), -EINVAL);
        assert_int_equal(io_reader_submit(f->r, 0, 0, 10, NULL, NULL), -EINVAL);
        assert_int_equal(io_reader_inflight(f->r), 0);
        io_buf_unref(b);
}

/* The depth counts chunk reads across all requests. */
static void test_queue_full(void **state)
{
        struct fixture *f = *state;
        int fd = open_ro(scratch_file(&f->s, "q.pst", 8 * CS, 4));
        struct io_reader *r;
        struct io_buf *b[8], *x;
        struct io_done d;
        unsigned n = 0;

        assert_int_equal(new_reader(f->pool, 4, &r), 0);
        for (unsigned i = 0; i < 3; i++) {
                assert_int_equal(io_pool_alloc(f->pool, CS, false, &b[n]), 0);
                assert_int_equal(io_reader_submit(r, fd, i * CS, CS, b[n], NULL), 0);
                n++;
        }
        /* 3 of 4 slots used: a 2-chunk request does not fit, 1 chunk does. */
        assert_int_equal(io_pool_alloc(f->pool, 2 * CS, false, &x), 0);
        assert_int_equal(io_reader_submit(r, fd, 0, 2 * CS, x, NULL), -EAGAIN);
        assert_int_equal(io_pool_alloc(f->pool, CS, false, &b[n]), 0);
        assert_int_equal(io_reader_submit(r, fd, 3 * CS, CS, b[n], NULL), 0);
        n++;
        assert_int_equal(io_reader_submit(r, fd, 0, 1, x, NULL), -EAGAIN);
        assert_int_equal(io_reader_inflight(r), 4);
        /* After one completion there is room for one chunk again. */
        d = reap_one(r);
        assert_int_equal(d.result, CS);
        assert_int_equal(check_buf(fd, d.buf, d.buf->offset, CS, d.result), 0);
        io_buf_unref(d.buf);
        assert_int_equal(io_reader_submit(r, fd, 0, 2 * CS, x, NULL), -EAGAIN);
        assert_int_equal(io_reader_submit(r, fd, 4 * CS, CS, x, NULL), 0);
        while (io_reader_inflight(r) > 0) {
                d = reap_one(r);
                assert_int_equal(check_buf(fd, d.buf, d.buf->offset, CS, d.result), 0);
                io_buf_unref(d.buf);
        }

        /* With nothing in flight, a request bigger than the depth goes in
         * and is read in parts; nothing else until it is done. */
        assert_int_equal(io_pool_alloc(f->pool, 8 * CS, false, &x), 0);
        assert_int_equal(io_reader_submit(r, fd, 0, 8 * CS, x, NULL), 0);
        assert_int_equal(io_pool_alloc(f->pool, CS, false, &b[0]), 0);
        assert_int_equal(io_reader_submit(r, fd, 0, CS, b[0], NULL), -EAGAIN);
        d = reap_one(r);
        assert_ptr_equal(d.buf, x);
        assert_int_equal(check_buf(fd, x, 0, 8 * CS, d.result), 0);
        assert_int_equal(d.result, 8 * CS);
        io_buf_unref(x);
        io_buf_unref(b[0]);
        io_reader_free(r);
        close(fd);
}

/* A closed fd and -1 fail their own requests only. */
static void test_bad_fd(void **state)
{
        struct fixture *f = *state;
        int fd = open_ro(scratch_file(&f->s, "g.pst", 5 * CS, 6));
        int closed = open_ro(scratch_file(&f->s, "h.pst", 5 * CS, 7));
        const int fds[] = { fd, closed, fd, -1, fd };
        unsigned good = 0, bad = 0;

        close(closed);
        for (unsigned i = 0; i < ELEMENTSOF(fds); i++) {
                struct io_buf *b;

                assert_int_equal(io_pool_alloc(f->pool, 3 * CS, false, &b), 0);
                assert_int_equal(io_reader_submit(f->r, fds[i], i * 1000, 3 * CS, b,
                                                  (void *)(uintptr_t)i),
                                 0);
        }
        while (io_reader_inflight(f->r) > 0) {
                struct io_done d = reap_one(f->r);
                unsigned i = (unsigned)(uintptr_t)d.tag;

                if (fds[i] == fd) {
                        assert_int_equal(check_buf(fd, d.buf, i * 1000, 3 * CS, d.result), 0);
                        good++;
                } else {
                        assert_int_equal(d.result, -EBADF);
                        bad++;
                }
                io_buf_unref(d.buf);
        }
        assert_int_equal(good, 3);
        assert_int_equal(bad, 2);
        close(fd);
}

/* A read that stops short before EOF is not EOF.  Make one: the second page
 * of the destination is PROT_NONE, so the kernel copies one page and stops.
 * A reader that took that for EOF would report 4096; asking again for the
 * rest runs into the protected page and fails the request with -EFAULT.
 * The buffer comes from its own pool: fixed buffers are written through
 * pinned pages and would not stop. */
static void test_short_read_is_not_eof(void **state)
{
        struct fixture *f = *state;
        int fd = open_ro(scratch_file(&f->s, "s.pst", 2 * CS, 8));
        struct io_pool *other;
        struct io_buf *b;
        struct io_done d;
        uint8_t *ref = malloc(4096);

        assert_non_null(ref);
        assert_int_equal(io_pool_new(CS, 1, &other), 0);
        assert_int_equal(io_pool_alloc(other, CS, false, &b), 0);
        assert_int_equal(mprotect(b->chunk[0].data + 4096, 4096, PROT_NONE), 0);
        assert_int_equal(io_reader_submit(f->r, fd, 0, CS, b, NULL), 0);
        d = reap_one(f->r);
        assert_int_equal(d.result, -EFAULT);
        /* io_uring keeps what the first read brought (pread's helper
         * reports only the error). */
        assert_int_equal(pread(fd, ref, 4096, 0), 4096);
        assert_memory_equal(d.buf->chunk[0].data, ref, 4096);
        if (backend == IO_BACKEND_URING)
                assert_int_equal(d.buf->chunk[0].len, 4096);
        assert_int_equal(mprotect(b->chunk[0].data + 4096, 4096, PROT_READ | PROT_WRITE), 0);

        /* The same pool's memory intact: read fully through the slow path. */
        assert_int_equal(io_reader_submit(f->r, fd, 100, CS, b, NULL), 0);
        d = reap_one(f->r);
        assert_int_equal(check_buf(fd, d.buf, 100, CS, d.result), 0);
        io_buf_unref(b);
        io_pool_free(other);
        free(ref);
        close(fd);
}

/* Freeing a reader with reads queued, running and completed-but-not-reaped
 * hands every buffer back to the pool (the teardown checks the count). */
static void test_free_in_flight(void **state)
{
        struct fixture *f = *state;
        int fd = open_ro(scratch_file(&f->s, "i.pst", 4 * MIB, 10));
        struct io_reader *r;
        struct io_done d;
        unsigned n = 0;

        assert_int_equal(new_reader(f->pool, 16, &r), 0);
        for (;;) {
                struct io_buf *b;

                assert_int_equal(io_pool_alloc(f->pool, 4 * CS, false, &b), 0);
                if (io_reader_submit(r, fd, (uint64_t)n * 4 * CS, 4 * CS, b, NULL) < 0) {
                        io_buf_unref(b);
                        break;
                }
                n++;
        }
        assert_int_equal(n, 4);
        /* Let one complete without reaping it, to have every state. */
        assert_int_equal(io_reader_reap(r, true, &d), 0);
        io_buf_unref(d.buf);
        assert_true(io_pool_free_chunks(f->pool) < io_pool_nchunks(f->pool));
        assert_null(io_reader_free(r));
        assert_int_equal(io_pool_free_chunks(f->pool), io_pool_nchunks(f->pool));
        close(fd);
}

/* Two threads, each with its own reader, share one pool too small for both,
 * so each waits for chunks the other releases.  Results are collected in
 * atomics; cmocka asserts only on the test's own thread. */
struct worker {
        struct io_pool *pool;
        int fd;
        uint64_t size;
        atomic_uint errors;
        atomic_ulong bytes;
};

static void *reader_worker(void *arg)
{
        struct worker *w = arg;
        struct io_reader *r;
        uint64_t off = 0;

        if (new_reader(w->pool, 8, &r) < 0) {
                atomic_fetch_add(&w->errors, 1);
                return NULL;
        }
        while (off < w->size || io_reader_inflight(r) > 0) {
                struct io_buf *b;
                struct io_done d;

                if (off < w->size && io_pool_alloc(w->pool, 3 * CS, false, &b) == 0) {
                        if (io_reader_submit(r, w->fd, off, 3 * CS, b, NULL) == 0) {
                                off += 3 * CS;
                                continue;
                        }
                        io_buf_unref(b);
                }
                if (io_reader_inflight(r) == 0) {
                        /* The other thread holds the pool: wait for it. */
                        if (io_pool_alloc(w->pool, 3 * CS, true, &b) == 0)
                                io_buf_unref(b);
                        continue;
                }
                if (io_reader_reap(r, true, &d) < 0) {
                        atomic_fetch_add(&w->errors, 1);
                        break;
                }
                if (check_buf(w->fd, d.buf, d.buf->offset, 3 * CS, d.result) != 0)
                        atomic_fetch_add(&w->errors, 1);
                atomic_fetch_add(&w->bytes, (unsigned long)d.result);
                io_buf_unref(d.buf);
        }
        io_reader_free(r);
        return NULL;
}

static void test_two_threads_one_pool(void **state)
{
        struct fixture *f = *state;
        struct worker w[2];
        pthread_t t[2];
        struct io_pool *small;

        assert_int_equal(io_pool_new(CS, 8, &small), 0);
        for (unsigned i = 0; i < 2; i++) {
                char name[16];
                snprintf(name, sizeof(name), "t%u.pst", i);
                w[i] = (struct worker){ .pool = small, .size = 3 * MIB + i * 777 };
                w[i].fd = open_ro(scratch_file(&f->s, name, w[i].size, 20 + i));
                assert_int_equal(pthread_create(&t[i], NULL, reader_worker, &w[i]), 0);
        }
        for (unsigned i = 0; i < 2; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(atomic_load(&w[i].errors), 0);
                assert_int_equal(atomic_load(&w[i].bytes), w[i].size);
                close(w[i].fd);
        }
        assert_int_equal(io_pool_free_chunks(small), 8);
        io_pool_free(small);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_backend, setup, teardown),
                cmocka_unit_test_setup_teardown(test_arena_resident_with_use, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_eof_and_past_eof, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_submit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_fd, setup, teardown),
                cmocka_unit_test_setup_teardown(test_short_read_is_not_eof, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_in_flight, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_threads_one_pool, setup, teardown),
        };

        if (argc != 2 || (strcmp(argv[1], "io_uring") != 0 && strcmp(argv[1], "pread") != 0)) {
                fprintf(stderr, "usage: %s io_uring|pread\n", argv[0]);
                return 2;
        }
        backend = strcmp(argv[1], "io_uring") == 0 ? IO_BACKEND_URING : IO_BACKEND_PREAD;
        if (backend == IO_BACKEND_URING) {
                struct io_pool *p;
                struct io_reader *r = NULL;
                int k;

                if (io_pool_new(CS, 1, &p) < 0)
                        return 1;
                k = new_reader(p, 4, &r);
                io_reader_free(r);
                io_pool_free(p);
                if (k == -ENOTSUP) {
                        printf("1..0 # SKIP io_uring unavailable\n");
                        return 0;
                }
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
