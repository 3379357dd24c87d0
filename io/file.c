/* SPDX-License-Identifier: MIT
 *
 * file.c - source files: read-only opens that never follow symlinks, never
 * block on FIFOs and leave atime alone, identity checks, and full preads.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/base/macro.h"
#include "pstream/io.h"

static void file_id_from_stat(const struct stat *st, struct io_file_id *ret)
{
        *ret = (struct io_file_id){
                .size = (uint64_t)st->st_size,
                .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
                .dev = (uint64_t)st->st_dev,
                .ino = (uint64_t)st->st_ino,
        };
}

int io_file_open(int dirfd, const char *path, struct io_file *ret)
{
        /* O_NONBLOCK: a FIFO planted in the share must not hang the open;
         * it is refused below and cleared again for regular files. */
        const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int fl;

        if (!path || !ret)
                return -EINVAL;

        /* O_NOATIME needs ownership or CAP_FOWNER; on shares we often have
         * neither, and then a plain open is the best we can do. */
        fd = openat(dirfd, path, flags | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = openat(dirfd, path, flags);
        if (fd < 0)
                return negative_errno();

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return S_ISLNK(st.st_mode) ? -ELOOP : -EINVAL;

        /* io_uring answers -EAGAIN instead of punting to its workers when a
         * file is O_NONBLOCK, so regular files must be blocking again. */
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
                return negative_errno();

        ret->fd = TAKE_FD(fd);
        file_id_from_stat(&st, &ret->id);
        return 0;
}

void io_file_close(struct io_file *f)
{
        if (!f || f->fd < 0)
                return;
        /* Read-only fd: close() errors carry no lost data, nothing to report. */
        (void)close(f->fd);
        f->fd = -1;
}

int io_file_changed(const struct io_file *f)
{
        struct io_file_id now;
        struct stat st;

        if (!f || f->fd < 0)
                return -EBADF;
        if (fstat(f->fd, &st) < 0)
                return negative_errno();
        file_id_from_stat(&st, &now);
        return now.size != f->id.size || now.mtime_ns != f->id.mtime_ns ||
               now.dev != f->id.dev || now.ino != f->id.ino;
}

ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
        uint8_t *p = buf;
        size_t done = 0;

        if (len > SSIZE_MAX || off > INT64_MAX)
                return -EINVAL;
        while (done < len) {
                ssize_t n = pread(fd, p + done, len - done, (off_t)(off + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break; /* EOF */
                done += (size_t)n;
        }
        return (ssize_t)done;
}
