/* SPDX-License-Identifier: MIT
 *
 * test-io-fallback.c - with io_uring_setup() refused by seccomp (as Docker's
 * default profile does), IO_BACKEND_AUTO falls back to pread and still reads
 * correctly, and IO_BACKEND_URING fails with -ENOTSUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include "io-test-util.h"
#include "io/base/macro.h"
#include "pstream/io.h"

#define CS (64 * 1024u)

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#endif

/* Returns 0, or -errno. */
static int deny_io_uring_setup(void)
{
        struct sock_filter insns[] = {
                /* Another ABI could reach io_uring_setup under another
                 * number: refuse those calls outright too. */
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(insns), .filter = insns };

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
                return 0;
        /* valgrind does not know seccomp(2), only the older prctl(). */
        if (errno != ENOSYS || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
                return -errno;
        return 0;
}

static void test_auto_falls_back(void **state)
{
        struct scratch s;
        struct io_cfg cfg = { .backend = IO_BACKEND_AUTO, .queue_depth = 8 };
        struct io_pool *pool;
        struct io_reader *r = NULL;
        const size_t size = 2 * MIB + 333;
        uint64_t off = 0, bytes = 0;
        int fd;

        (void)state;
        assert_int_equal(scratch_init(&s), 0);
        fd = open(scratch_file(&s, "fb.pst", size, 99), O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(io_pool_new(CS, 32, &pool), 0);

        cfg.backend = IO_BACKEND_URING;
        assert_int_equal(io_reader_new(&cfg, pool, &r), -ENOTSUP);
        assert_null(r);

        cfg.backend = IO_BACKEND_AUTO;
        assert_int_equal(io_reader_new(&cfg, pool, &r), 0);
        assert_int_equal(io_reader_backend(r), IO_BACKEND_PREAD);
        while (off < size || io_reader_inflight(r) > 0) {
                struct io_buf *b;
                struct io_done d;

                if (off < size && io_pool_alloc(pool, 3 * CS + 5, false, &b) == 0) {
                        if (io_reader_submit(r, fd, off, 3 * CS + 5, b, NULL) == 0) {
                                off += 3 * CS + 5;
                                continue;
                        }
                        io_buf_unref(b);
                }
                assert_int_equal(io_reader_reap(r, true, &d), 0);
                assert_int_equal(check_buf(fd, d.buf, d.buf->offset, 3 * CS + 5, d.result), 0);
                bytes += (uint64_t)d.result;
                io_buf_unref(d.buf);
        }
        assert_int_equal(bytes, size);
        io_reader_free(r);
        assert_int_equal(io_pool_free_chunks(pool), 32);
        io_pool_free(pool);
        close(fd);
        scratch_done(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_auto_falls_back),
        };
        int k;

#ifdef AUDIT_ARCH_NATIVE
        k = deny_io_uring_setup();
#else
        k = -ENOTSUP;
#endif
        if (k < 0) {
                printf("1..0 # SKIP cannot install a seccomp filter: %s\n", strerror(-k));
                return 0;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
