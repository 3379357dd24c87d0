/* SPDX-License-Identifier: MIT
 *
 * control.c - the control socket, server and client.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "io/base/macro.h"

#define CLIENTS_PER_POLL 8
#define CLIENT_TIMEOUT_MS 200

struct control {
        int fd;
        struct sockaddr_un addr;
};

static int make_addr(const char *dir, struct sockaddr_un *ret)
{
        memset(ret, 0, sizeof(*ret));
        ret->sun_family = AF_UNIX;
        if ((size_t)snprintf(ret->sun_path, sizeof(ret->sun_path), "%s/%s", dir,
                             CONTROL_SOCKET_NAME) >= sizeof(ret->sun_path))
                return -ENAMETOOLONG;
        return 0;
}

int control_open(const char *dir, struct control **ret)
{
        struct control *c = calloc(1, sizeof(*c));
        mode_t old;
        int r;

        if (!c)
                return -ENOMEM;
        r = make_addr(dir, &c->addr);
        if (r < 0)
                goto fail;
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
                r = -errno;
                goto fail;
        }
        /* A socket left by a killed run would make bind fail. */
        (void)unlink(c->addr.sun_path);
        old = umask(0077); /* the socket is as private as the journal beside it */
        r = bind(c->fd, (struct sockaddr *)&c->addr, sizeof(c->addr)) < 0 ? -errno : 0;
        umask(old);
        if (r == 0 && listen(c->fd, 16) < 0)
                r = -errno;
        if (r < 0) {
                close(c->fd);
                goto fail;
        }
        *ret = c;
        return 0;
fail:
        free(c);
        return r;
}

struct control *control_close(struct control *c)
{
        if (!c)
                return NULL;
        close(c->fd);
        (void)unlink(c->addr.sun_path);
        free(c);
        return NULL;
}

/* Read one line of at most CONTROL_MAX_LINE bytes within the timeout. */
static int read_line(int fd, char *buf, size_t len)
{
        size_t n = 0;

        while (n < len - 1) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int r = poll(&pfd, 1, CLIENT_TIMEOUT_MS);
                if (r <= 0)
                        return -ETIMEDOUT;
                ssize_t k = read(fd, buf + n, len - 1 - n);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k <= 0)
                        return -EIO;
                n += (size_t)k;
                char *nl = memchr(buf, '\n', n);
                if (nl) {
                        *nl = '\0';
                        if (nl > buf && nl[-1] == '\r')
                                nl[-1] = '\0';
                        return 0;
                }
        }
        return -E2BIG;
}

static void write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                if (poll(&pfd, 1, CLIENT_TIMEOUT_MS) <= 0)
                        return;
                ssize_t k = write(fd, p, n);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k <= 0)
                        return;
                p += k;
                n -= (size_t)k;
        }
}

void control_poll(struct control *c, void (*handle)(void *ctx, const char *cmd, FILE *out),
                  void *ctx)
{
        for (unsigned i = 0; c && i < CLIENTS_PER_POLL; i++) {
                char line[CONTROL_MAX_LINE];
                char *answer = NULL;
                size_t len = 0;
                int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd < 0)
                        return;
                if (read_line(fd, line, sizeof(line)) == 0) {
                        FILE *out = open_memstream(&answer, &len);
                        if (out) {
                                handle(ctx, line, out);
                                fclose(out);
                                write_all(fd, answer, len);
                                free(answer);
                        }
                }
                close(fd);
        }
}

int control_request(const char *dir, const char *cmd, FILE *out)
{
        struct sockaddr_un addr;
        char buf[4096];
        int fd, r;

        r = make_addr(dir, &addr);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        /* One line out; the answer runs until the server closes. */
        size_t n = strlen(cmd);
        if (write(fd, cmd, n) != (ssize_t)n || write(fd, "\n", 1) != 1) {
                r = -errno;
                close(fd);
                return r ? r : -EIO;
        }
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                fwrite(buf, 1, (size_t)k, out);
        }
        close(fd);
        return 0;
}
