/* SPDX-License-Identifier: MIT
 *
 * test-io-file.c - io_file_open() refuses what is not a regular file (and
 * never follows symlinks or hangs on FIFOs), io_file_changed() notices
 * appends, truncation and touches, io_pread_full() stops at EOF.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "io-test-util.h"
#include "pstream/io.h"

static int setup(void **state)
{
        struct scratch *s = malloc(sizeof(*s));

        if (!s || scratch_init(s) < 0)
                return -1;
        *state = s;
        return 0;
}

static int teardown(void **state)
{
        scratch_done(*state);
        free(*state);
        return 0;
}

static void test_open_regular(void **state)
{
        struct scratch *s = *state;
        const char *p = scratch_file(s, "a.pst", 12345, 7);
        struct io_file f;
        struct stat st;
        int fl;

        assert_int_equal(io_file_open(AT_FDCWD, p, &f), 0);
        assert_true(f.fd >= 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(f.id.size, 12345);
        assert_int_equal(f.id.ino, st.st_ino);
        assert_int_equal(f.id.dev, st.st_dev);
        assert_int_equal(f.id.mtime_ns, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
        /* Read-only, close-on-exec, and blocking again (io_uring needs it). */
        fl = fcntl(f.fd, F_GETFL);
        assert_int_equal(fl & O_ACCMODE, O_RDONLY);
        assert_int_equal(fl & O_NONBLOCK, 0);
        assert_true(fcntl(f.fd, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(write(f.fd, "x", 1), -1);
        assert_int_equal(errno, EBADF);
        assert_int_equal(io_file_changed(&f), 0);
        io_file_close(&f);
        assert_int_equal(f.fd, -1);
        io_file_close(&f); /* twice is harmless */
}

static void test_open_relative_to_dirfd(void **state)
{
        struct scratch *s = *state;
        struct io_file f;
        int dfd;

        scratch_file(s, "rel.pst", 10, 1);
        dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(io_file_open(dfd, "rel.pst", &f), 0);
        assert_int_equal(f.id.size, 10);
        io_file_close(&f);
        close(dfd);
}

static void test_open_refuses(void **state)
{
        struct scratch *s = *state;
        const char *target = scratch_file(s, "target.pst", 100, 3);
        const char *link = scratch_path(s, "link.pst");
        const char *dir = scratch_path(s, "sub");
        const char *fifo = scratch_path(s, "fifo.pst");
        struct io_file f = { .fd = -42 };

        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(mkfifo(fifo, 0644), 0);

        assert_int_equal(io_file_open(AT_FDCWD, link, &f), -ELOOP);
        assert_int_equal(io_file_open(AT_FDCWD, dir, &f), -EINVAL);
        /* Without a writer, a blocking open of a FIFO would hang here. */
        assert_int_equal(io_file_open(AT_FDCWD, fifo, &f), -EINVAL);
        assert_int_equal(io_file_open(AT_FDCWD, "/dev/null", &f), -EINVAL);
        assert_int_equal(io_file_open(AT_FDCWD, scratch_path(s, "missing"), &f), -ENOENT);
        /* Left unchanged on failure. */
        assert_int_equal(f.fd, -42);
}

static void test_changed(void **state)
{
        struct scratch *s = *state;
        const char *p = scratch_file(s, "c.pst", 8192, 5);
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { 0 } };
        struct io_file f;
        struct stat st;
        int fd;

        /* Append. */
        assert_int_equal(io_file_open(AT_FDCWD, p, &f), 0);
        fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "more", 4), 4);
        assert_int_equal(io_file_changed(&f), 1);
        io_file_close(&f);

        /* Truncate to the same mtime as before: the size alone tells. */
        assert_int_equal(io_file_open(AT_FDCWD, p, &f), 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(ftruncate(fd, 100), 0);
        ts[1] = st.st_mtim;
        assert_int_equal(futimens(fd, ts), 0);
        assert_int_equal(io_file_changed(&f), 1);
        io_file_close(&f);

        /* Touch: same size, new mtime (1 ns later is enough). */
        assert_int_equal(io_file_open(AT_FDCWD, p, &f), 0);
        assert_int_equal(io_file_changed(&f), 0);
        assert_int_equal(fstat(fd, &st), 0);
        ts[1] = st.st_mtim;
        ts[1].tv_nsec = (ts[1].tv_nsec + 1) % 1000000000;
        assert_int_equal(futimens(fd, ts), 0);
        assert_int_equal(io_file_changed(&f), 1);
        io_file_close(&f);

        /* A closed handle is an error, not "unchanged". */
        assert_int_equal(io_file_changed(&f), -EBADF);
        close(fd);
}

static void test_pread_full(void **state)
{
        struct scratch *s = *state;
        const char *p = scratch_file(s, "r.pst", 100000, 11);
        uint8_t *a = malloc(200000), *b = malloc(200000);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        int pfd[2];

        assert_non_null(a);
        assert_non_null(b);
        assert_true(fd >= 0);
        assert_int_equal(io_pread_full(fd, a, 100000, 0), 100000);
        assert_int_equal(read(fd, b, 100000), 100000);
        assert_memory_equal(a, b, 100000);
        /* Short at EOF, empty past it. */
        assert_int_equal(io_pread_full(fd, a, 200000, 99000), 1000);
        assert_memory_equal(a, b + 99000, 1000);
        assert_int_equal(io_pread_full(fd, a, 10, 100000), 0);
        assert_int_equal(io_pread_full(fd, a, 10, 1ull << 50), 0);
        assert_int_equal(io_pread_full(fd, a, 0, 0), 0);
        assert_int_equal(io_pread_full(-1, a, 10, 0), -EBADF);
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        assert_int_equal(io_pread_full(pfd[0], a, 10, 0), -ESPIPE);
        close(pfd[0]);
        close(pfd[1]);
        close(fd);
        free(a);
        free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open_regular, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_relative_to_dirfd, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_refuses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_changed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pread_full, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
