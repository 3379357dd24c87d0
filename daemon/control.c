/* SPDX-License-Identifier: MIT
 *
 * control.c - the control socket, server and client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#define HTTP_MAX_HEAD 4096

struct control {
        int fd;      /* control.sock, or -1 */
        int http_fd; /* metrics listener, or -1 */
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
        c->fd = c->http_fd = -1;
        if (!dir) {
                *ret = c;
                return 0;
        }
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
        if (c->fd >= 0) {
                close(c->fd);
                (void)unlink(c->addr.sun_path);
        }
        if (c->http_fd >= 0)
                close(c->http_fd);
        free(c);
        return NULL;
}

static int set_err(char *err, size_t len, int r, const char *what, const char *addr)
{
        snprintf(err, len, "metrics_listen %s: %s", addr, what);
        return r;
}

int control_listen_http(struct control *c, const char *addr, bool allow_remote, char *err,
                        size_t errlen)
{
        struct sockaddr_storage ss = { 0 };
        socklen_t sslen;
        char host[64];
        const char *colon;
        bool loopback;
        int fd, one = 1;

        if (c->http_fd >= 0)
                return set_err(err, errlen, -EALREADY, "already listening", addr);
        if (addr[0] == '[') {
                const char *close_br = strchr(addr, ']');
                if (!close_br || close_br[1] != ':')
                        return set_err(err, errlen, -EINVAL, "expected [IPv6]:PORT", addr);
                colon = close_br + 1;
                if ((size_t)(close_br - addr - 1) >= sizeof(host))
                        return set_err(err, errlen, -EINVAL, "address too long", addr);
                memcpy(host, addr + 1, (size_t)(close_br - addr - 1));
                host[close_br - addr - 1] = '\0';
        } else {
                colon = strchr(addr, ':');
                /* An IPv6 address needs its brackets: "::1:9187" is ambiguous. */
                if (!colon || strchr(colon + 1, ':') || (size_t)(colon - addr) >= sizeof(host))
                        return set_err(err, errlen, -EINVAL,
                                       "expected IPv4:PORT or [IPv6]:PORT", addr);
                memcpy(host, addr, (size_t)(colon - addr));
                host[colon - addr] = '\0';
        }
        char *end;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (colon[1] < '0' || colon[1] > '9' || *end || port == 0 || port > 65535)
                return set_err(err, errlen, -EINVAL, "the port must be 1-65535", addr);

        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)port);
                sslen = sizeof(*in4);
                loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)port);
                sslen = sizeof(*in6);
                loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
        } else {
                return set_err(err, errlen, -EINVAL,
                               "not a numeric IP address (127.0.0.1:PORT, [::1]:PORT)", addr);
        }
        if (!loopback && !allow_remote)
                return set_err(err, errlen, -EPERM,
                               "not a loopback address; set metrics_allow_remote = yes to serve "
                               "it beyond this machine",
                               addr);

        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return set_err(err, errlen, -errno, strerror(errno), addr);
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 16) < 0) {
                int r = -errno;
                close(fd);
                return set_err(err, errlen, r, strerror(-r), addr);
        }
        c->http_fd = fd;
        return 0;
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

/* Read an HTTP request head (up to the empty line) within the timeout. */
static int read_head(int fd, char *buf, size_t len)
{
        size_t n = 0;

        while (n < len - 1) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                if (poll(&pfd, 1, CLIENT_TIMEOUT_MS) <= 0)
                        return -ETIMEDOUT;
                ssize_t k = read(fd, buf + n, len - 1 - n);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k <= 0)
                        return -EIO;
                n += (size_t)k;
                buf[n] = '\0';
                if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
                        return 0;
        }
        return -E2BIG;
}

static void http_answer(int fd, const char *status, const char *body, size_t len)
{
        char head[256];
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                         status, len);
        write_all(fd, head, (size_t)n);
        write_all(fd, body, len);
}

/* One HTTP client: GET /metrics, nothing else. */
static void serve_http(int fd, void (*handle)(void *ctx, const char *cmd, FILE *out), void *ctx)
{
        char head[HTTP_MAX_HEAD];
        char *answer = NULL;
        size_t len = 0;

        if (read_head(fd, head, sizeof(head)) < 0)
                return;
        if (strncmp(head, "GET ", 4) != 0) {
                static const char msg[] = "only GET /metrics\n";
                http_answer(fd, "405 Method Not Allowed", msg, sizeof(msg) - 1);
                return;
        }
        size_t plen = strcspn(head + 4, " ?\r\n");
        if (plen != 8 || strncmp(head + 4, "/metrics", 8) != 0) {
                static const char msg[] = "not found: the metrics are at /metrics\n";
                http_answer(fd, "404 Not Found", msg, sizeof(msg) - 1);
                return;
        }
        FILE *out = open_memstream(&answer, &len);
        if (!out)
                return;
        handle(ctx, "metrics", out);
        fclose(out);
        http_answer(fd, "200 OK", answer, len);
        free(answer);
}

void control_poll(struct control *c, void (*handle)(void *ctx, const char *cmd, FILE *out),
                  void *ctx)
{
        for (unsigned i = 0; c && c->http_fd >= 0 && i < CLIENTS_PER_POLL; i++) {
                int fd = accept4(c->http_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        break;
                serve_http(fd, handle, ctx);
                close(fd);
        }
        for (unsigned i = 0; c && c->fd >= 0 && i < CLIENTS_PER_POLL; i++) {
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
