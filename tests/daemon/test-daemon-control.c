/* SPDX-License-Identifier: MIT
 *
 * test-daemon-control.c - the metrics listener of the control loop: the
 * addresses it refuses (not loopback without allow_remote, not numeric, bad
 * ports: hostile configuration text), and GET /metrics, 404 and 405 served
 * by control_poll() to a real client socket on 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "control.h"

static int listen_at(const char *addr, bool remote)
{
        struct control *c = NULL;
        char err[256] = "";
        int r;

        assert_int_equal(control_open(NULL, &c), 0);
        r = control_listen_http(c, addr, remote, err, sizeof(err));
        if (r < 0)
                assert_non_null(strstr(err, "metrics_listen"));
        control_close(c);
        return r;
}

static void test_refused(void **state)
{
        (void)state;
        /* Beyond loopback: only when allowed. */
        assert_int_equal(listen_at("0.0.0.0:9187", false), -EPERM);
        assert_int_equal(listen_at("10.1.2.3:9187", false), -EPERM);
        assert_int_equal(listen_at("[::]:9187", false), -EPERM);
        assert_int_equal(listen_at("[2001:db8::1]:9187", false), -EPERM);
        /* Not an address and a port. */
        assert_int_equal(listen_at("localhost:9187", false), -EINVAL);
        assert_int_equal(listen_at("127.0.0.1", false), -EINVAL);
        assert_int_equal(listen_at("127.0.0.1:", false), -EINVAL);
        assert_int_equal(listen_at("127.0.0.1:0", false), -EINVAL);
        assert_int_equal(listen_at("127.0.0.1:65536", false), -EINVAL);
        assert_int_equal(listen_at("127.0.0.1:91x", false), -EINVAL);
        assert_int_equal(listen_at("127.0.0.1:-1", false), -EINVAL);
        assert_int_equal(listen_at("127.0.0.1:+80", false), -EINVAL);
        assert_int_equal(listen_at("127.0.0.1: 80", false), -EINVAL);
        assert_int_equal(listen_at("[::1]9187", false), -EINVAL);
        assert_int_equal(listen_at("[::1:9187", false), -EINVAL);
        assert_int_equal(listen_at("::1:9187", false), -EINVAL);
        assert_int_equal(listen_at("", false), -EINVAL);
        char longhost[300];
        memset(longhost, '1', sizeof(longhost));
        strcpy(longhost + 250, ":9187");
        assert_int_equal(listen_at(longhost, false), -EINVAL);
}

/* A loopback port free right now. */
static unsigned free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static void handler(void *ctx, const char *cmd, FILE *out)
{
        int *calls = ctx;

        (*calls)++;
        fprintf(out, "# TYPE x gauge\nx{cmd=\"%s\"} 1\n", cmd);
}

/* Send request, let the control loop serve it, return the whole answer. */
static char *ask(struct control *c, unsigned port, const char *request, int *calls)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        static char buf[8192];
        size_t n = 0;
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
        control_poll(c, handler, calls);
        for (ssize_t k; n < sizeof(buf) - 1 && (k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0;)
                n += (size_t)k;
        buf[n] = '\0';
        close(fd);
        return buf;
}

static void test_http(void **state)
{
        struct control *c = NULL;
        char addr[64], err[256];
        unsigned port = free_port();
        int calls = 0;
        char *ans;

        (void)state;
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
        assert_int_equal(control_open(NULL, &c), 0);
        assert_int_equal(control_listen_http(c, addr, false, err, sizeof(err)), 0);
        assert_int_equal(control_listen_http(c, addr, false, err, sizeof(err)), -EALREADY);

        ans = ask(c, port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &calls);
        assert_int_equal(calls, 1);
        assert_non_null(strstr(ans, "HTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(ans, "Content-Type: text/plain; version=0.0.4"));
        static const char body[] = "# TYPE x gauge\nx{cmd=\"metrics\"} 1\n";
        char clen[64];
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", sizeof(body) - 1);
        assert_non_null(strstr(ans, clen));
        char *b = strstr(ans, "\r\n\r\n");
        assert_non_null(b);
        assert_string_equal(b + 4, body);

        ans = ask(c, port, "GET /metrics?name=x HTTP/1.0\r\n\r\n", &calls);
        assert_int_equal(calls, 2);
        assert_non_null(strstr(ans, "200 OK"));

        ans = ask(c, port, "GET /metricsX HTTP/1.1\r\n\r\n", &calls);
        assert_non_null(strstr(ans, "404 Not Found"));
        ans = ask(c, port, "GET / HTTP/1.1\r\n\r\n", &calls);
        assert_non_null(strstr(ans, "404 Not Found"));
        ans = ask(c, port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &calls);
        assert_non_null(strstr(ans, "405 Method Not Allowed"));
        /* A head that never ends is dropped after the client timeout. */
        ans = ask(c, port, "GET /metrics HTTP/1.1\r\nX: y", &calls);
        assert_string_equal(ans, "");
        assert_int_equal(calls, 2);
        control_close(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_http),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
