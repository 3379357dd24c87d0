/* SPDX-License-Identifier: MIT
 *
 * test-net-uploader.c - the uploader against a scripted HTTP/1.1 server on
 * 127.0.0.1 run by a thread of this test: retries (503 + Retry-After,
 * connection resets), no retries (400, 413), the diag fields, the body
 * across io_buf chunks, signing headers, the Get Block List check, SAS
 * handling and cancellation.
 *
 * The server thread never asserts (cmocka's longjmp belongs to the test
 * thread); it records requests, the test checks them afterwards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/net-internal.h"

#define AZURITE_KEY                                                                                \
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/* ---- the fake server ---------------------------------------------------- */

enum action { REPLY, RESET };

struct step {
        enum action action;
        int status;
        char headers[256]; /* extra header lines, each ending in \r\n */
        char *body;        /* malloc'd or NULL */
};

struct record {
        char method[8];
        char target[1024];
        char headers[4096];
        char *body;
        size_t body_len;
};

#define MAX_STEPS 16
#define MAX_RECORDS 32
#define MAX_CONNS 16

struct server {
        int lfd;
        int port;
        pthread_t thread;
        pthread_mutex_t lock;
        struct step steps[MAX_STEPS];
        unsigned nsteps, next_step;
        struct record rec[MAX_RECORDS];
        unsigned nrec;
        unsigned connections; /* accepted so far */
        int stop_pipe[2];
};

static struct step next_step(struct server *s)
{
        struct step st = { .action = REPLY, .status = 201 };

        pthread_mutex_lock(&s->lock);
        if (s->next_step < s->nsteps)
                st = s->steps[s->next_step++];
        pthread_mutex_unlock(&s->lock);
        return st;
}

static bool read_request(int fd, struct record *r)
{
        char buf[8192];
        size_t len = 0;
        char *end = NULL, *cl;
        size_t body_len = 0, have;

        while (!end) {
                ssize_t k;

                if (len == sizeof(buf) - 1)
                        return false;
                k = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (k <= 0)
                        return false;
                len += (size_t)k;
                buf[len] = '\0';
                end = strstr(buf, "\r\n\r\n");
        }
        *end = '\0';
        if (sscanf(buf, "%7s %1023s", r->method, r->target) != 2)
                return false;
        snprintf(r->headers, sizeof(r->headers), "%s\r\n", strstr(buf, "\r\n") + 2);
        cl = strcasestr(r->headers, "\r\nContent-Length:");
        if (!cl && strncasecmp(r->headers, "Content-Length:", 15) == 0)
                cl = r->headers - 2;
        if (cl)
                body_len = strtoull(cl + 17, NULL, 10);
        r->body = malloc(body_len + 1);
        if (!r->body)
                return false;
        have = MIN(len - (size_t)(end + 4 - buf), body_len);
        memcpy(r->body, end + 4, have);
        while (have < body_len) {
                ssize_t k = read(fd, r->body + have, body_len - have);
                if (k <= 0) {
                        free(r->body);
                        r->body = NULL;
                        return false;
                }
                have += (size_t)k;
        }
        r->body[body_len] = '\0';
        r->body_len = body_len;
        return true;
}

static void *conn_main(void *arg)
{
        struct server *s = ((void **)arg)[0];
        int fd = (int)(intptr_t)((void **)arg)[1];

        free(arg);
        for (;;) {
                struct record r = { 0 };
                struct step st;
                char head[1024];
                size_t blen;

                if (!read_request(fd, &r))
                        break;
                pthread_mutex_lock(&s->lock);
                if (s->nrec < MAX_RECORDS)
                        s->rec[s->nrec++] = r;
                else
                        free(r.body);
                pthread_mutex_unlock(&s->lock);

                st = next_step(s);
                if (st.action == RESET) {
                        struct linger l = { .l_onoff = 1, .l_linger = 0 };

                        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
                        free(st.body);
                        break;
                }
                blen = st.body ? strlen(st.body) : 0;
                snprintf(head, sizeof(head),
                         "HTTP/1.1 %d Whatever\r\nContent-Length: %zu\r\n"
                         "x-ms-request-id: req-%u\r\n%s\r\n",
                         st.status, blen, s->nrec, st.headers);
                if (write(fd, head, strlen(head)) < 0 || (blen && write(fd, st.body, blen) < 0)) {
                        free(st.body);
                        break;
                }
                free(st.body);
        }
        close(fd);
        return NULL;
}

static void *server_main(void *arg)
{
        struct server *s = arg;
        pthread_t conns[MAX_CONNS];
        unsigned n = 0;

        for (;;) {
                struct pollfd p[2] = { { s->lfd, POLLIN, 0 }, { s->stop_pipe[0], POLLIN, 0 } };
                void **ca;
                int fd;

                if (poll(p, 2, -1) < 0 || p[1].revents)
                        break;
                fd = accept(s->lfd, NULL, NULL);
                if (fd < 0)
                        continue;
                ca = malloc(2 * sizeof(void *));
                if (!ca || n == MAX_CONNS) {
                        free(ca);
                        close(fd);
                        continue;
                }
                ca[0] = s;
                ca[1] = (void *)(intptr_t)fd;
                pthread_mutex_lock(&s->lock);
                s->connections++;
                pthread_mutex_unlock(&s->lock);
                if (pthread_create(&conns[n], NULL, conn_main, ca) == 0)
                        n++;
                else
                        close(fd);
        }
        /* Clients are gone by now (the uploader was freed first). */
        for (unsigned i = 0; i < n; i++)
                pthread_join(conns[i], NULL);
        return NULL;
}

static int server_start(struct server *s)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);

        memset(s, 0, sizeof(*s));
        pthread_mutex_init(&s->lock, NULL);
        s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            listen(s->lfd, 16) < 0 || getsockname(s->lfd, (struct sockaddr *)&a, &al) < 0 ||
            pipe(s->stop_pipe) < 0)
                return -errno;
        s->port = ntohs(a.sin_port);
        return -pthread_create(&s->thread, NULL, server_main, s);
}

static void server_stop(struct server *s)
{
        (void)!write(s->stop_pipe[1], "x", 1);
        pthread_join(s->thread, NULL);
        close(s->lfd);
        close(s->stop_pipe[0]);
        close(s->stop_pipe[1]);
        for (unsigned i = 0; i < s->nrec; i++)
                free(s->rec[i].body);
        for (unsigned i = s->next_step; i < s->nsteps; i++)
                free(s->steps[i].body);
        pthread_mutex_destroy(&s->lock);
}

static void script(struct server *s, enum action a, int status, const char *headers, const char *body)
{
        struct step *st = &s->steps[s->nsteps++];

        st->action = a;
        st->status = status;
        snprintf(st->headers, sizeof(st->headers), "%s", headers ? headers : "");
        st->body = body ? strdup(body) : NULL;
}

/* Value of a request header, "" if absent. */
static const char *req_header(const struct record *r, const char *name, char *out, size_t outlen)
{
        size_t nl = strlen(name);

        out[0] = '\0';
        for (const char *p = r->headers; *p;) {
                const char *eol = strstr(p, "\r\n");

                if (!eol)
                        break;
                if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
                        const char *v = p + nl + 1;
                        while (*v == ' ')
                                v++;
                        snprintf(out, outlen, "%.*s", (int)(eol - v), v);
                        break;
                }
                p = eol + 2;
        }
        return out;
}

/* ---- the client side ---------------------------------------------------- */

struct result {
        int calls;
        int result;
        struct net_diag diag;
};

static void on_done(struct net_req *req, int result, const struct net_diag *diag)
{
        struct result *r = req->userdata;

        r->calls++;
        r->result = result;
        r->diag = *diag;
}

struct tracebuf {
        char text[16384];
        size_t len;
        unsigned lines;
};

static void on_trace(void *ctx, int level, const char *msg)
{
        struct tracebuf *t = ctx;

        (void)level;
        t->lines++;
        t->len += (size_t)snprintf(t->text + t->len, sizeof(t->text) - t->len, "%s\n", msg);
        if (t->len >= sizeof(t->text))
                t->len = sizeof(t->text) - 1;
}

/* Three chunks of uneven size, so the body is read across chunk edges. */
static const char *const parts[] = { "Hello, ", "chunked ", "world of PST bytes!" };

static struct io_pool *pool;

/* A real pool buffer of three chunks, each holding one part. */
static struct io_buf *make_buf(void)
{
        struct io_buf *b;

        if (!pool)
                assert_int_equal(io_pool_new(4096, 12, &pool), 0);
        assert_int_equal(io_pool_alloc(pool, 3 * 4096, false, &b), 0);
        assert_int_equal(b->nchunks, 3);
        b->len = 0;
        for (unsigned i = 0; i < 3; i++) {
                b->chunk[i].len = (uint32_t)strlen(parts[i]);
                memcpy(b->chunk[i].data, parts[i], b->chunk[i].len);
                b->len += b->chunk[i].len;
        }
        return b;
}

static uint64_t body_crc(void)
{
        uint64_t c = 0;

        for (unsigned i = 0; i < 3; i++)
                c = net_crc64(c, parts[i], strlen(parts[i]));
        return c;
}

static uint64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run until every result in rs has its callback, or 8 s pass. */
static void run_until_done(struct net_uploader *u, struct result *rs, unsigned n)
{
        uint64_t end = mono_ms() + 8000;

        for (;;) {
                bool all = true;

                for (unsigned i = 0; i < n; i++)
                        all = all && rs[i].calls > 0;
                if (all || mono_ms() > end)
                        break;
                assert_true(net_run(u, 500) >= 0);
        }
}

struct fixture {
        struct server srv;
        struct net_uploader *u;
        struct tracebuf trace;
        char url[512];
};

static struct net_uploader *new_uploader(struct fixture *f, const char *url, const char *key)
{
        struct net_cfg cfg = {
                .url = url,
                .account_key = key,
                .connections = 1,
                .connect_timeout_s = 5,
                .stall_timeout_s = 5,
                .backoff = { .max_retries = 3, .base_ms = 10, .max_ms = 50 },
                .trace = on_trace,
                .trace_ctx = &f->trace,
        };
        struct net_diag diag;
        struct net_uploader *u = NULL;

        assert_int_equal(net_uploader_new(&cfg, &u, &diag), 0);
        return u;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f || server_start(&f->srv) < 0)
                return -1;
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/devstoreaccount1/c01/pfx", f->srv.port);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        net_uploader_free(f->u);
        server_stop(&f->srv);
        free(f);
        return 0;
}

static void test_retry_after_then_created(void **state)
{
        struct fixture *f = *state;
        struct io_buf *b = make_buf();
        struct result res = { 0 };
        struct net_req req = { .op = NET_PUT_BLOCK, .blob = "a b.pst", .block_index = 3, .buf = b,
                               .crc64 = body_crc(), .done = on_done, .userdata = &res };
        struct net_stats st;
        char h[256], crc[13], id[64], idesc[200], want_target[512];
        uint64_t t0;

        script(&f->srv, REPLY, 503, "Retry-After: 1\r\n",
               "<?xml version=\"1.0\"?><Error><Code>ServerBusy</Code><Message>busy</Message></Error>");
        f->u = new_uploader(f, f->url, AZURITE_KEY);
        assert_int_equal(net_submit(f->u, &req), 0);
        /* The uploader holds its own reference while it needs the bytes. */
        assert_int_equal(atomic_load(&b->refs), 2);
        t0 = mono_ms();
        run_until_done(f->u, &res, 1);

        assert_int_equal(res.calls, 1);
        assert_int_equal(res.result, 0);
        assert_int_equal(res.diag.status, 201);
        assert_int_equal(res.diag.attempts, 2);
        assert_string_equal(res.diag.request_id, "req-2");
        /* Retry-After: 1 beat the 10-50 ms backoff. */
        assert_true(mono_ms() - t0 >= 950);
        assert_int_equal(atomic_load(&b->refs), 1);
        net_get_stats(f->u, &st);
        assert_int_equal(st.retries, 1);
        assert_int_equal(st.requests, 2);
        assert_int_equal(st.bytes_sent, 2 * b->len);
        assert_int_equal(st.active, 0);
        assert_int_equal(st.queued, 0);

        /* What went over the wire, both times. */
        assert_int_equal(f->srv.nrec, 2);
        net_block_id("a b.pst", 0, 3, id);
        net_url_escape(id, false, idesc, sizeof(idesc));
        snprintf(want_target, sizeof(want_target),
                 "/devstoreaccount1/c01/pfx/a%%20b.pst?comp=block&blockid=%s", idesc);
        net_crc64_base64(body_crc(), crc);
        for (unsigned i = 0; i < 2; i++) {
                const struct record *r = &f->srv.rec[i];

                assert_string_equal(r->method, "PUT");
                assert_string_equal(r->target, want_target);
                assert_int_equal(r->body_len, b->len);
                assert_string_equal(r->body, "Hello, chunked world of PST bytes!");
                assert_string_equal(req_header(r, "x-ms-content-crc64", h, sizeof(h)), crc);
                assert_string_equal(req_header(r, "x-ms-version", h, sizeof(h)), NET_API_VERSION);
                assert_string_equal(req_header(r, "Expect", h, sizeof(h)), "");
                assert_null(strcasestr(r->headers, "100-continue"));
                assert_non_null(strstr(req_header(r, "Authorization", h, sizeof(h)),
                                       "SharedKey devstoreaccount1:"));
        }

        /* The signature is the one the string-to-sign asks for. */
        {
                const struct record *r = &f->srv.rec[1];
                char date[64], auth[256], want[256];
                struct net_hdr hs[] = { { "x-ms-date", date }, { "x-ms-version", NET_API_VERSION },
                                        { "x-ms-content-crc64", crc } };
                char *sts = NULL;

                req_header(r, "x-ms-date", date, sizeof(date));
                req_header(r, "Authorization", auth, sizeof(auth));
                assert_int_equal(net_sharedkey_string_to_sign("PUT", b->len, NULL, NULL, NULL, hs, 3,
                                                              "devstoreaccount1",
                                                              "/devstoreaccount1/c01/pfx/a%20b.pst",
                                                              strchr(want_target, '?') + 1, &sts),
                                 0);
                assert_int_equal(net_sharedkey_sign("devstoreaccount1", AZURITE_KEY, sts, want, sizeof(want)), 0);
                assert_string_equal(auth, want);
                free(sts);
        }
        /* One keep-alive connection served both tries. */
        assert_int_equal(f->srv.connections, 1);
        /* One trace line per request end, never a signature or key. */
        assert_non_null(strstr(f->trace.text, "status=503"));
        assert_non_null(strstr(f->trace.text, "status=201"));
        assert_null(strstr(f->trace.text, "SharedKey"));
        io_buf_unref(b);
}

static void test_400_not_retried(void **state)
{
        struct fixture *f = *state;
        struct result res = { 0 };
        struct net_req req = { .op = NET_PUT_BLOB, .blob = "x.pst", .done = on_done, .userdata = &res };

        script(&f->srv, REPLY, 400, "x-ms-error-code: InvalidHeaderValue\r\n",
               "<?xml version=\"1.0\"?><Error><Code>Other</Code><Message>The value for one of the HTTP headers is not in the correct format.</Message></Error>");
        f->u = new_uploader(f, f->url, NULL);
        assert_int_equal(net_submit(f->u, &req), 0);
        run_until_done(f->u, &res, 1);

        assert_int_equal(res.calls, 1);
        assert_int_equal(res.result, -EPROTO);
        assert_int_equal(res.diag.status, 400);
        assert_int_equal(res.diag.attempts, 1);
        /* The header wins over the body's <Code>. */
        assert_string_equal(res.diag.error_code, "InvalidHeaderValue");
        assert_string_equal(res.diag.request_id, "req-1");
        assert_non_null(strstr(res.diag.msg, "400"));
        assert_non_null(strstr(res.diag.msg, "not in the correct format"));
        assert_int_equal(f->srv.nrec, 1);

        /* Put Blob of size 0: blob type, content type, empty body. */
        {
                char h[128];
                const struct record *r = &f->srv.rec[0];

                assert_string_equal(r->target, "/devstoreaccount1/c01/pfx/x.pst");
                assert_string_equal(req_header(r, "x-ms-blob-type", h, sizeof(h)), "BlockBlob");
                assert_string_equal(req_header(r, "x-ms-blob-content-type", h, sizeof(h)),
                                    "application/octet-stream");
                assert_string_equal(req_header(r, "Content-Length", h, sizeof(h)), "0");
                assert_string_equal(req_header(r, "Authorization", h, sizeof(h)), "");
        }
}

static void test_413_and_error_body(void **state)
{
        struct fixture *f = *state;
        struct io_buf *b = make_buf();
        struct result res = { 0 };
        struct net_req req = { .op = NET_PUT_BLOB, .blob = "big.pst", .buf = b, .crc64 = body_crc(),
                               .if_none_match = true, .content_md5 = "1B2M2Y8AsgTpgAmY7PhCfg==",
                               .content_type = "application/vnd.ms-outlook",
                               .done = on_done, .userdata = &res };
        char h[128];

        script(&f->srv, REPLY, 413, NULL,
               "<?xml version=\"1.0\"?><Error><Code>RequestBodyTooLarge</Code><Message>The request body is too large.</Message></Error>");
        f->u = new_uploader(f, f->url, NULL);
        assert_int_equal(net_submit(f->u, &req), 0);
        run_until_done(f->u, &res, 1);

        assert_int_equal(res.result, -EMSGSIZE);
        assert_int_equal(res.diag.status, 413);
        assert_int_equal(res.diag.attempts, 1);
        assert_string_equal(res.diag.error_code, "RequestBodyTooLarge");
        assert_int_equal(f->srv.nrec, 1);
        assert_string_equal(req_header(&f->srv.rec[0], "If-None-Match", h, sizeof(h)), "*");
        assert_string_equal(req_header(&f->srv.rec[0], "x-ms-blob-content-md5", h, sizeof(h)),
                            "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_string_equal(req_header(&f->srv.rec[0], "x-ms-blob-content-type", h, sizeof(h)),
                            "application/vnd.ms-outlook");
        assert_int_equal(atomic_load(&b->refs), 1);
        io_buf_unref(b);
}

static void test_status_mapping(void **state)
{
        static const struct {
                int status;
                int err;
        } map[] = { { 401, -EACCES }, { 403, -EACCES }, { 404, -ENOENT }, { 409, -EEXIST }, { 412, -EPROTO } };
        struct fixture *f = *state;
        struct result res[5] = { 0 };
        struct net_req req[5];

        for (unsigned i = 0; i < 5; i++)
                script(&f->srv, REPLY, map[i].status, NULL, NULL);
        f->u = new_uploader(f, f->url, NULL);
        /* With one connection the requests go out in submission order. */
        for (unsigned i = 0; i < 5; i++) {
                req[i] = (struct net_req){ .op = NET_PUT_BLOB, .blob = "m.pst", .done = on_done,
                                           .userdata = &res[i] };
                assert_int_equal(net_submit(f->u, &req[i]), 0);
        }
        run_until_done(f->u, res, 5);
        for (unsigned i = 0; i < 5; i++) {
                assert_int_equal(res[i].calls, 1);
                assert_int_equal(res[i].diag.status, map[i].status);
                assert_int_equal(res[i].result, map[i].err);
                assert_int_equal(res[i].diag.attempts, 1);
        }
}

static void test_reset_retried(void **state)
{
        struct fixture *f = *state;
        struct io_buf *b = make_buf();
        struct result ok = { 0 }, bad = { 0 };
        struct net_req r1 = { .op = NET_PUT_BLOCK, .blob = "r.pst", .buf = b, .crc64 = body_crc(),
                              .done = on_done, .userdata = &ok };
        struct net_req r2 = r1;

        /* One reset, then success: retried on a new connection. */
        script(&f->srv, RESET, 0, NULL, NULL);
        script(&f->srv, REPLY, 201, NULL, NULL);
        /* Then resets only: gives up after max_retries = 3.  curl itself
         * retries once when a reused connection dies before any answer,
         * so script more resets than our four tries. */
        for (unsigned i = 0; i < 12; i++)
                script(&f->srv, RESET, 0, NULL, NULL);
        f->u = new_uploader(f, f->url, NULL);

        assert_int_equal(net_submit(f->u, &r1), 0);
        run_until_done(f->u, &ok, 1);
        assert_int_equal(ok.result, 0);
        assert_int_equal(ok.diag.attempts, 2);
        assert_int_equal(f->srv.rec[1].body_len, b->len);

        r2.userdata = &bad;
        assert_int_equal(net_submit(f->u, &r2), 0);
        run_until_done(f->u, &bad, 1);
        assert_int_equal(bad.result, -ECONNRESET);
        assert_int_equal(bad.diag.status, 0);
        assert_int_equal(bad.diag.attempts, 4);
        assert_true(bad.diag.msg[0] != '\0');
        assert_int_equal(atomic_load(&b->refs), 1);
        io_buf_unref(b);
}

static char *block_list_answer(const char *blob, uint32_t n, uint32_t swap_at)
{
        char *s = malloc(256 + (size_t)n * 100);
        size_t o = 0;

        if (!s)
                abort();
        o += (size_t)sprintf(s, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><CommittedBlocks>");
        for (uint32_t i = 0; i < n; i++) {
                char id[64];

                net_block_id(blob, 0, i == swap_at ? i + 1 : i, id);
                o += (size_t)sprintf(s + o, "<Block><Name>%s</Name><Size>4</Size></Block>", id);
        }
        sprintf(s + o, "</CommittedBlocks><UncommittedBlocks /></BlockList>");
        return s;
}

static void test_block_list_verified(void **state)
{
        struct fixture *f = *state;
        struct result good = { 0 }, bad = { 0 }, shortlist = { 0 };
        struct net_req req = { .op = NET_PUT_BLOCK_LIST, .blob = "v.pst", .nblocks = 3,
                               .done = on_done, .userdata = &good };
        char *answer = block_list_answer("v.pst", 3, UINT32_MAX);
        char *swapped = block_list_answer("v.pst", 3, 1);
        char *two = block_list_answer("v.pst", 2, UINT32_MAX);
        char h[64], crc[13], id[64], want[512];

        script(&f->srv, REPLY, 201, NULL, NULL);
        script(&f->srv, REPLY, 200, NULL, answer);
        script(&f->srv, REPLY, 201, NULL, NULL);
        script(&f->srv, REPLY, 200, NULL, swapped);
        script(&f->srv, REPLY, 201, NULL, NULL);
        script(&f->srv, REPLY, 200, NULL, two);
        free(answer);
        free(swapped);
        free(two);
        f->u = new_uploader(f, f->url, AZURITE_KEY);
        assert_true(net_uploader_dest(f->u)->can_read);

        assert_int_equal(net_submit(f->u, &req), 0);
        run_until_done(f->u, &good, 1);
        assert_int_equal(good.result, 0);
        assert_int_equal(good.calls, 1);

        /* The commit: <Latest> IDs 0..n-1, CRC over the XML. */
        assert_int_equal(f->srv.nrec, 2);
        assert_string_equal(f->srv.rec[0].method, "PUT");
        assert_string_equal(f->srv.rec[0].target, "/devstoreaccount1/c01/pfx/v.pst?comp=blocklist");
        net_crc64_base64(net_crc64(0, f->srv.rec[0].body, f->srv.rec[0].body_len), crc);
        assert_string_equal(req_header(&f->srv.rec[0], "x-ms-content-crc64", h, sizeof(h)), crc);
        for (uint32_t i = 0; i < 3; i++) {
                net_block_id("v.pst", 0, i, id);
                snprintf(want, sizeof(want), "<Latest>%s</Latest>", id);
                assert_non_null(strstr(f->srv.rec[0].body, want));
        }
        assert_null(strstr(f->srv.rec[0].body, "<Committed>"));
        /* Then the check. */
        assert_string_equal(f->srv.rec[1].method, "GET");
        assert_string_equal(f->srv.rec[1].target,
                            "/devstoreaccount1/c01/pfx/v.pst?comp=blocklist&blocklisttype=committed");

        req.userdata = &bad;
        assert_int_equal(net_submit(f->u, &req), 0);
        run_until_done(f->u, &bad, 1);
        assert_int_equal(bad.result, -EPROTO);
        assert_non_null(strstr(bad.diag.msg, "block 1"));

        req.userdata = &shortlist;
        assert_int_equal(net_submit(f->u, &req), 0);
        run_until_done(f->u, &shortlist, 1);
        assert_int_equal(shortlist.result, -EPROTO);
        assert_non_null(strstr(shortlist.diag.msg, "2 committed"));
}

static void test_sas_no_read(void **state)
{
        struct fixture *f = *state;
        struct result res = { 0 };
        struct net_req req = { .op = NET_PUT_BLOCK_LIST, .blob = "s.pst", .nblocks = 2,
                               .done = on_done, .userdata = &res };
        char url[600];

        snprintf(url, sizeof(url),
                 "http://127.0.0.1:%d/devstoreaccount1/ingestiondata?sv=2015-04-05&sr=c&si=IngestionSasForAzCopy&sig=T0pS3cr3t%%2Bx%%3D",
                 f->srv.port);
        script(&f->srv, REPLY, 500, "x-ms-retry-after-ms: 20\r\n",
               "<Error><Code>OperationTimedOut</Code><Message>see https://h/c?sig=T0pS3cr3t%2Bx%3D</Message></Error>");
        f->u = new_uploader(f, url, NULL);
        assert_false(net_uploader_dest(f->u)->can_read);
        assert_int_equal(net_submit(f->u, &req), 0);
        run_until_done(f->u, &res, 1);

        assert_int_equal(res.result, 0);
        assert_int_equal(res.diag.attempts, 2);
        /* Never a read on a write-only SAS. */
        assert_int_equal(f->srv.nrec, 2);
        for (unsigned i = 0; i < f->srv.nrec; i++) {
                assert_string_equal(f->srv.rec[i].method, "PUT");
                assert_string_equal(f->srv.rec[i].target,
                                    "/devstoreaccount1/ingestiondata/s.pst?comp=blocklist&sv=2015-04-05&sr=c&si=IngestionSasForAzCopy&sig=T0pS3cr3t%2Bx%3D");
                assert_null(strcasestr(f->srv.rec[i].headers, "Authorization"));
        }
        /* The signature reaches the server but never the trace. */
        assert_null(strstr(f->trace.text, "T0pS3cr3t"));
        assert_non_null(strstr(f->trace.text, "sig=REDACTED"));
        assert_true(f->trace.lines >= 2);
}

static void test_cancel_on_free(void **state)
{
        struct fixture *f = *state;
        struct io_buf *b = make_buf();
        struct result res[3] = { 0 };
        struct net_req req[3];

        f->u = new_uploader(f, f->url, NULL);
        for (unsigned i = 0; i < 3; i++) {
                req[i] = (struct net_req){ .op = NET_PUT_BLOCK, .blob = "c.pst", .block_index = i,
                                           .buf = b, .done = on_done, .userdata = &res[i] };
                assert_int_equal(net_submit(f->u, &req[i]), 0);
        }
        assert_int_equal(atomic_load(&b->refs), 4);
        f->u = net_uploader_free(f->u);
        for (unsigned i = 0; i < 3; i++) {
                assert_int_equal(res[i].calls, 1);
                assert_int_equal(res[i].result, -ECANCELED);
        }
        assert_int_equal(atomic_load(&b->refs), 1);
        io_buf_unref(b);
}

static void test_submit_rejects(void **state)
{
        static const char *const bad_names[] = { "", "/x", "a//b", "a/./b", "../x", "dir/" };
        struct fixture *f = *state;
        struct result res = { 0 };
        struct net_req req = { .op = NET_PUT_BLOCK, .blob = "ok.pst", .done = on_done, .userdata = &res };
        char *longname = malloc(1100);

        f->u = new_uploader(f, f->url, NULL);
        /* Put Block without a body, block list without blocks. */
        assert_int_equal(net_submit(f->u, &req), -EINVAL);
        req.op = NET_PUT_BLOCK_LIST;
        assert_int_equal(net_submit(f->u, &req), -EINVAL);
        req.nblocks = NET_MAX_BLOCKS + 1;
        assert_int_equal(net_submit(f->u, &req), -EINVAL);
        req.nblocks = 1;
        req.done = NULL;
        assert_int_equal(net_submit(f->u, &req), -EINVAL);
        req.done = on_done;
        for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
                req.blob = bad_names[i];
                assert_int_equal(net_submit(f->u, &req), -EINVAL);
        }
        assert_non_null(longname);
        memset(longname, 'n', 1099);
        longname[1099] = '\0';
        req.blob = longname;
        assert_int_equal(net_submit(f->u, &req), -EINVAL);
        free(longname);
        assert_int_equal(res.calls, 0);
        assert_int_equal(f->srv.nrec, 0);
}

static void test_wakeup(void **state)
{
        struct fixture *f = *state;
        uint64_t t0;

        f->u = new_uploader(f, f->url, NULL);
        net_wakeup(f->u);
        t0 = mono_ms();
        assert_int_equal(net_run(f->u, 5000), 0);
        assert_true(mono_ms() - t0 < 1000);
        /* Nothing to do and no wakeup: returns at the timeout. */
        t0 = mono_ms();
        assert_int_equal(net_run(f->u, 100), 0);
        assert_true(mono_ms() - t0 >= 90);
        assert_non_null(net_curl_version());
        assert_non_null(net_tls_backend());
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_retry_after_then_created, setup, teardown),
                cmocka_unit_test_setup_teardown(test_400_not_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_413_and_error_body, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status_mapping, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reset_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_block_list_verified, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sas_no_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_on_free, setup, teardown),
                cmocka_unit_test_setup_teardown(test_submit_rejects, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wakeup, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
