/* SPDX-License-Identifier: MIT
 *
 * uploader.c - the Block Blob client: one curl multi handle driving at most
 * `connections` transfers over keep-alive connections, request signing,
 * retries with backoff on monotonic timers, and one done callback per
 * request.  Never sleeps: net_run() waits in curl_multi_poll() for socket
 * activity, the nearest retry timer, or net_wakeup().
 *
 * A request (struct xfer, hung off net_req.priv) is in exactly one list:
 * queued (waiting for a connection slot), active (inside curl), waiting (a
 * retry timer runs) or finished (its callback runs at the end of this
 * net_run() pass).
 *
 * The bandwidth cap is one token bucket (net/throttle.c) over the request
 * bodies of all connections.  read_cb() takes tokens before it copies; with
 * none it returns CURL_READFUNC_PAUSE and marks the transfer paused, and
 * net_run() un-pauses the paused ones (curl_easy_pause(CURLPAUSE_CONT)) as
 * soon as a grant is due, which also bounds its poll timeout.  So that no
 * paused request starves into the stall timeout, a capped uploader starts a
 * request only while fewer than max(1, cap x 2 s / body length) run: each
 * one then gets its body through in a few seconds, and a cap too low for a
 * whole block in a stall timeout still moves every request steadily.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "net/net-internal.h"

/* Error bodies are a few hundred bytes; keep a bounded prefix. */
#define ERROR_BODY_MAX (16 * 1024)
/* Get Block List answers about 100 bytes per block. */
#define BLOCKLIST_BYTES_PER_BLOCK 128
#define BLOCKLIST_MAX_UNCOMMITTED 100000
#define TRACE_LEVEL_DEBUG 7
#ifndef UPLOAD_BUFFER_SIZE
#define UPLOAD_BUFFER_SIZE (512L * 1024)
#endif

enum xfer_list { L_NONE, L_QUEUED, L_ACTIVE, L_WAITING, L_FINISHED };

struct xfer;

struct xlist {
        struct xfer *head, *tail;
        unsigned n;
};

struct xfer {
        struct net_uploader *u;
        struct net_req *req;
        struct xfer *prev, *next;
        enum xfer_list list;

        bool verify;             /* the Get Block List after a commit */
        bool paused;             /* read_cb() paused it for want of tokens */
        CURL *easy;
        struct curl_slist *headers;
        char *url;               /* full URL of the current stage (SAS included) */
        char *path;              /* escaped path, for signing */
        char query[256];         /* our own query parameters, for signing */
        char errbuf[CURL_ERROR_SIZE];

        /* request body: the io_buf (Put Blob, Put Block) or our XML */
        struct io_buf *buf;
        char *xml;
        uint64_t body_len;
        uint64_t crc;            /* x-ms-content-crc64 of the body */
        uint64_t pos;
        unsigned chunk;          /* read cursor: chunk index and offset in it */
        size_t chunk_off;

        /* response of the current attempt */
        char *resp;
        size_t resp_len, resp_cap, resp_max;
        bool resp_truncated;
        char error_code[64];
        char request_id[64];
        char retry_after[64];
        char retry_after_ms[32];

        unsigned stage_attempts; /* tries of the current stage (retry budget) */
        uint64_t start_ns;
        uint64_t due_ns;         /* L_WAITING: when to try again */
        int result;
        struct net_diag diag;
};

struct net_uploader {
        CURLM *multi;
        struct net_dest_info dest;
        char *origin;            /* scheme://host[:port] */
        char *base_path;         /* "/[account/]container/" escaped */
        char *sas;               /* query string of the SAS, or NULL */
        uint8_t key[128];
        size_t keylen;

        unsigned connections;
        long stall_timeout_s;
        long connect_timeout_s;
        struct net_backoff backoff;
        char *user_agent;
        char *ca_file;
        void (*trace)(void *ctx, int level, const char *msg);
        void *trace_ctx;

        struct net_bucket bucket; /* the cap; rate 0 = none */
        struct xlist queued, active, waiting, finished;
        CURL **idle;             /* easy handles kept for reuse */
        unsigned nidle;

        bool paused;             /* net_pause(): queued requests wait */
        uint64_t rng;
        atomic_bool woken;       /* set by net_wakeup(), cleared by net_run() */
        struct net_stats stats;
};

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: jitter only needs to decorrelate clients, not be secret. */
static double next_rnd(struct net_uploader *u)
{
        u->rng ^= u->rng >> 12;
        u->rng ^= u->rng << 25;
        u->rng ^= u->rng >> 27;
        return (double)((u->rng * UINT64_C(2685821657736338717)) >> 11) * 0x1.0p-53;
}

static struct xlist *list_of(struct net_uploader *u, enum xfer_list l)
{
        switch (l) {
        case L_QUEUED:
                return &u->queued;
        case L_ACTIVE:
                return &u->active;
        case L_WAITING:
                return &u->waiting;
        case L_FINISHED:
                return &u->finished;
        default:
                return NULL;
        }
}

/* The one place an xfer changes state, so every transition is visible. */
static void xfer_move(struct xfer *x, enum xfer_list to)
{
        struct xlist *from = list_of(x->u, x->list), *dst = list_of(x->u, to);

        if (from) {
                if (x->prev)
                        x->prev->next = x->next;
                else
                        from->head = x->next;
                if (x->next)
                        x->next->prev = x->prev;
                else
                        from->tail = x->prev;
                from->n--;
        }
        x->prev = x->next = NULL;
        x->list = to;
        if (dst) {
                x->prev = dst->tail;
                if (dst->tail)
                        dst->tail->next = x;
                else
                        dst->head = x;
                dst->tail = x;
                dst->n++;
        }
}

static void trace(struct net_uploader *u, const char *fmt, ...) _printf_(2, 3);
static void trace(struct net_uploader *u, const char *fmt, ...)
{
        char raw[1024], line[1024];
        va_list ap;

        if (!u->trace)
                return;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        net_redact_url(raw, line, sizeof(line));
        u->trace(u->trace_ctx, TRACE_LEVEL_DEBUG, line);
}

/* A GET: the check after a commit, or a Get Block List asked for. */
static bool is_get(const struct xfer *x)
{
        return x->verify || x->req->op == NET_GET_BLOCK_LIST;
}

static const char *op_name(const struct xfer *x)
{
        if (is_get(x))
                return "GetBlockList";
        switch (x->req->op) {
        case NET_PUT_BLOB:
                return "PutBlob";
        case NET_PUT_BLOCK:
                return "PutBlock";
        case NET_PUT_BLOCK_LIST:
                return "PutBlockList";
        case NET_GET_BLOCK_LIST:
                break;
        }
        return "?";
}

/* ---- body and response callbacks ---------------------------------------- */

static size_t read_cb(char *dst, size_t size, size_t nitems, void *userdata)
{
        struct xfer *x = userdata;
        size_t want = (size_t)MIN((uint64_t)(size * nitems), x->body_len - x->pos), n = 0;

        want = net_bucket_take(&x->u->bucket, want, now_ns());
        if (want == 0 && x->pos < x->body_len) {
                x->paused = true;
                return CURL_READFUNC_PAUSE;
        }
        if (x->xml) {
                n = (size_t)MIN((uint64_t)want, x->body_len - x->pos);
                memcpy(dst, x->xml + x->pos, n);
        } else if (x->buf) {
                while (n < want && x->chunk < x->buf->nchunks && x->pos + n < x->body_len) {
                        const struct io_chunk *c = &x->buf->chunk[x->chunk];
                        size_t k = MIN(want - n, (size_t)c->len - x->chunk_off);

                        k = (size_t)MIN((uint64_t)k, x->body_len - x->pos - n);
                        memcpy(dst + n, c->data + x->chunk_off, k);
                        n += k;
                        x->chunk_off += k;
                        if (x->chunk_off == c->len) {
                                x->chunk++;
                                x->chunk_off = 0;
                        }
                }
        }
        x->pos += n;
        x->u->stats.bytes_sent += n;
        return n;
}

static int seek_cb(void *userdata, curl_off_t offset, int origin)
{
        struct xfer *x = userdata;
        uint64_t left;

        if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->body_len)
                return CURL_SEEKFUNC_FAIL;
        x->pos = (uint64_t)offset;
        x->chunk = 0;
        x->chunk_off = 0;
        if (x->buf) {
                left = x->pos;
                while (x->chunk < x->buf->nchunks && left >= x->buf->chunk[x->chunk].len) {
                        left -= x->buf->chunk[x->chunk].len;
                        x->chunk++;
                }
                x->chunk_off = (size_t)left;
        }
        return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct xfer *x = userdata;
        size_t n = size * nmemb, take = MIN(n, x->resp_max - x->resp_len);

        if (take < n)
                x->resp_truncated = true;
        if (take > 0) {
                if (x->resp_len + take + 1 > x->resp_cap) {
                        size_t cap = MAX(x->resp_cap * 2, x->resp_len + take + 1);
                        char *p;

                        cap = MIN(cap, x->resp_max + 1);
                        p = realloc(x->resp, cap);
                        if (!p)
                                return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
                        x->resp = p;
                        x->resp_cap = cap;
                }
                memcpy(x->resp + x->resp_len, data, take);
                x->resp_len += take;
                x->resp[x->resp_len] = '\0';
        }
        /* Swallow the rest: only a bounded prefix of a body matters. */
        return n;
}

static void header_value(const char *line, size_t len, size_t namelen, char *out, size_t outlen)
{
        const char *v = line + namelen + 1, *e = line + len;
        size_t n;

        while (v < e && (*v == ' ' || *v == '\t'))
                v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
        n = MIN((size_t)(e - v), outlen - 1);
        for (size_t i = 0; i < n; i++)
                out[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
        out[n] = '\0';
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *userdata)
{
        static const struct {
                const char *name;
                size_t off, len;
        } wanted[] = {
                { "x-ms-error-code", offsetof(struct xfer, error_code), sizeof(((struct xfer *)0)->error_code) },
                { "x-ms-request-id", offsetof(struct xfer, request_id), sizeof(((struct xfer *)0)->request_id) },
                { "retry-after", offsetof(struct xfer, retry_after), sizeof(((struct xfer *)0)->retry_after) },
                { "x-ms-retry-after-ms", offsetof(struct xfer, retry_after_ms), sizeof(((struct xfer *)0)->retry_after_ms) },
                { "retry-after-ms", offsetof(struct xfer, retry_after_ms), sizeof(((struct xfer *)0)->retry_after_ms) },
        };
        struct xfer *x = userdata;
        size_t len = size * nitems;

        /* A new status line (after a 100 Continue, say) starts a new set. */
        if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
                x->error_code[0] = x->request_id[0] = '\0';
                x->retry_after[0] = x->retry_after_ms[0] = '\0';
                return len;
        }
        for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
                size_t nl = strlen(wanted[i].name);

                if (len > nl && line[nl] == ':' && strncasecmp(line, wanted[i].name, nl) == 0)
                        header_value(line, len, nl, (char *)x + wanted[i].off, wanted[i].len);
        }
        return len;
}

/* ---- building requests -------------------------------------------------- */

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
        char line[512];
        struct curl_slist *n;

        if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, value) >= sizeof(line))
                return -EINVAL;
        n = curl_slist_append(*list, line);
        if (!n)
                return -ENOMEM;
        *list = n;
        return 0;
}

static int build_headers(struct xfer *x)
{
        struct net_uploader *u = x->u;
        const struct net_req *req = x->req;
        struct net_hdr xms[8];
        size_t nxms = 0;
        char date[NET_HTTP_DATE_MAX], crc[13], auth[256];
        const char *inm = NULL;
        int r;

        net_http_date(time(NULL), date);
        xms[nxms++] = (struct net_hdr){ "x-ms-date", date };
        xms[nxms++] = (struct net_hdr){ "x-ms-version", NET_API_VERSION };
        if (!is_get(x)) {
                net_crc64_base64(x->crc, crc);
                xms[nxms++] = (struct net_hdr){ "x-ms-content-crc64", crc };
                if (req->op == NET_PUT_BLOB)
                        xms[nxms++] = (struct net_hdr){ "x-ms-blob-type", "BlockBlob" };
                if (req->op != NET_PUT_BLOCK) {
                        xms[nxms++] = (struct net_hdr){ "x-ms-blob-content-type",
                                                        req->content_type ? req->content_type :
                                                                            "application/octet-stream" };
                        if (req->content_md5)
                                xms[nxms++] = (struct net_hdr){ "x-ms-blob-content-md5",
                                                                req->content_md5 };
                        if (req->if_none_match)
                                inm = "*";
                }
        }

        curl_slist_free_all(x->headers);
        x->headers = NULL;
        /* No 100-continue round trip: Azure answers errors before reading. */
        r = add_header(&x->headers, "Expect", "");
        if (r < 0)
                return r;
        for (size_t i = 0; i < nxms; i++) {
                r = add_header(&x->headers, xms[i].name, xms[i].value);
                if (r < 0)
                        return r;
        }
        if (inm) {
                r = add_header(&x->headers, "If-None-Match", inm);
                if (r < 0)
                        return r;
        }

        if (u->dest.auth == NET_AUTH_SHARED_KEY) {
                _cleanup_free_ char *sts = NULL;

                r = net_sharedkey_string_to_sign(is_get(x) ? "GET" : "PUT", is_get(x) ? 0 : x->body_len,
                                                 NULL, NULL, inm, xms, nxms, u->dest.account, x->path,
                                                 x->query, &sts);
                if (r < 0)
                        return r;
                r = net_sharedkey_sign_raw(u->dest.account, u->key, u->keylen, sts, auth, sizeof(auth));
                if (r < 0)
                        return r;
                r = add_header(&x->headers, "Authorization", auth);
                explicit_bzero(auth, sizeof(auth));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* URL and signing inputs of the current stage. */
static int build_url(struct xfer *x)
{
        struct net_uploader *u = x->u;
        const struct net_req *req = x->req;
        char name[NET_MAX_BLOB_NAME + 1], esc[3 * NET_MAX_BLOB_NAME + 1], id[64], idesc[3 * 64 + 1];
        int r;

        snprintf(name, sizeof(name), "%s%s", u->dest.prefix, req->blob);
        r = net_url_escape(name, true, esc, sizeof(esc));
        if (r < 0)
                return r;

        x->query[0] = '\0';
        if (x->verify) {
                snprintf(x->query, sizeof(x->query), "comp=blocklist&blocklisttype=committed");
        } else if (req->op == NET_GET_BLOCK_LIST) {
                snprintf(x->query, sizeof(x->query), "comp=blocklist&blocklisttype=all");
        } else if (req->op == NET_PUT_BLOCK) {
                net_block_id(req->blob, req->id_salt, req->block_index, id);
                r = net_url_escape(id, false, idesc, sizeof(idesc));
                if (r < 0)
                        return r;
                snprintf(x->query, sizeof(x->query), "comp=block&blockid=%s", idesc);
        } else if (req->op == NET_PUT_BLOCK_LIST) {
                snprintf(x->query, sizeof(x->query), "comp=blocklist");
        }

        free(x->path);
        free(x->url);
        x->url = NULL;
        if (asprintf(&x->path, "%s%s", u->base_path, esc) < 0) {
                x->path = NULL;
                return -ENOMEM;
        }
        if (asprintf(&x->url, "%s%s%s%s%s%s", u->origin, x->path, x->query[0] || u->sas ? "?" : "",
                     x->query, x->query[0] && u->sas ? "&" : "", u->sas ? u->sas : "") < 0) {
                x->url = NULL;
                return -ENOMEM;
        }
        return 0;
}

static CURL *get_easy(struct net_uploader *u)
{
        CURL *e;

        if (u->nidle > 0) {
                e = u->idle[--u->nidle];
                /* Connections live in the multi handle, so a reset keeps them. */
                curl_easy_reset(e);
                return e;
        }
        return curl_easy_init();
}

static void put_easy(struct net_uploader *u, CURL *e)
{
        if (!e)
                return;
        if (u->nidle < u->connections)
                u->idle[u->nidle++] = e;
        else
                curl_easy_cleanup(e);
}

static int setup_easy(struct xfer *x)
{
        struct net_uploader *u = x->u;
        CURL *e = x->easy;
        CURLcode c = CURLE_OK;

#define SET(opt, val)                                                                              \
        do {                                                                                       \
                if (c == CURLE_OK)                                                                 \
                        c = curl_easy_setopt(e, opt, val);                                         \
        } while (0)

        SET(CURLOPT_URL, x->url);
        SET(CURLOPT_PRIVATE, x);
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        if (u->ca_file)
                SET(CURLOPT_CAINFO, u->ca_file);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_CONNECTTIMEOUT, u->connect_timeout_s);
        /* A stall is less than a byte per second for stall_timeout_s. */
        SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
        SET(CURLOPT_LOW_SPEED_TIME, u->stall_timeout_s);
        SET(CURLOPT_USERAGENT, u->user_agent);
        SET(CURLOPT_HTTPHEADER, x->headers);
        SET(CURLOPT_ERRORBUFFER, x->errbuf);
        SET(CURLOPT_HEADERFUNCTION, header_cb);
        SET(CURLOPT_HEADERDATA, x);
        SET(CURLOPT_WRITEFUNCTION, write_cb);
        SET(CURLOPT_WRITEDATA, x);
        if (is_get(x)) {
                SET(CURLOPT_HTTPGET, 1L);
        } else {
                SET(CURLOPT_UPLOAD, 1L);
                SET(CURLOPT_READFUNCTION, read_cb);
                SET(CURLOPT_READDATA, x);
                SET(CURLOPT_SEEKFUNCTION, seek_cb);
                SET(CURLOPT_SEEKDATA, x);
                SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body_len);
                /* curl's 64 KiB default means a read callback and a send()
                 * per 64 KiB; larger pieces halve the CPU of a multi-GB run.
                 * It is allocated per handle: connections x this. */
                SET(CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER_SIZE);
        }
#undef SET
        return c == CURLE_OK ? 0 : -EINVAL;
}

/* Start one try of the current stage; on failure the xfer is finished. */
static void finish(struct xfer *x, int result);

static void start(struct xfer *x)
{
        struct net_uploader *u = x->u;
        int r;

        x->stage_attempts++;
        x->diag.attempts++;
        x->pos = 0;
        x->paused = false;
        x->chunk = 0;
        x->chunk_off = 0;
        x->resp_len = 0;
        x->resp_truncated = false;
        if (x->resp)
                x->resp[0] = '\0';
        x->error_code[0] = x->request_id[0] = '\0';
        x->retry_after[0] = x->retry_after_ms[0] = '\0';
        x->errbuf[0] = '\0';
        x->resp_max = ERROR_BODY_MAX;
        if (x->verify)
                x->resp_max = MAX((size_t)ERROR_BODY_MAX,
                                  (size_t)x->req->nblocks * BLOCKLIST_BYTES_PER_BLOCK + 4096);
        else if (is_get(x)) /* ours, and stale uncommitted blocks (the service keeps 100,000) */
                x->resp_max = ((size_t)x->req->nblocks + BLOCKLIST_MAX_UNCOMMITTED) *
                                      BLOCKLIST_BYTES_PER_BLOCK + 4096;

        r = build_url(x);
        if (r >= 0)
                r = build_headers(x);
        if (r < 0) {
                finish(x, net_diag_set(&x->diag, 0, r, "%s %s: cannot build the request", op_name(x),
                                       x->req->blob));
                return;
        }
        x->easy = get_easy(u);
        if (!x->easy || setup_easy(x) < 0 || curl_multi_add_handle(u->multi, x->easy) != CURLM_OK) {
                put_easy(u, TAKE_PTR(x->easy));
                finish(x, net_diag_set(&x->diag, 0, -ENOMEM, "%s %s: cannot set up curl", op_name(x),
                                       x->req->blob));
                return;
        }
        x->start_ns = now_ns();
        xfer_move(x, L_ACTIVE);
}

static void finish(struct xfer *x, int result)
{
        if (result < 0 && result != -ECANCELED)
                x->u->stats.failures++;
        x->result = result;
        x->buf = io_buf_unref(x->buf);
        xfer_move(x, L_FINISHED);
}

static void xfer_free(struct xfer *x)
{
        if (!x)
                return;
        io_buf_unref(x->buf);
        curl_slist_free_all(x->headers);
        free(x->url);
        free(x->path);
        free(x->xml);
        free(x->resp);
        free(x);
}

/* ---- completion --------------------------------------------------------- */

static bool tls_failure(CURLcode c)
{
        switch (c) {
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_USE_SSL_FAILED:
                return true;
        default:
                return false;
        }
}

/* Transport errors worth another try, and the errno they end as. */
static int transport_error(CURLcode c, bool *ret_retry)
{
        *ret_retry = true;
        switch (c) {
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SEND_FAIL_REWIND:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return -ECONNRESET;
        default:
                *ret_retry = false;
                return -EIO;
        }
}

static int status_errno(long status)
{
        switch (status) {
        case 413:
                return -EMSGSIZE;
        case 401:
        case 403:
                return -EACCES;
        case 404:
                return -ENOENT;
        case 409:
                return -EEXIST;
        default:
                return -EPROTO;
        }
}

/* Compare the committed list with the plan: same count, same IDs, same
 * order (a service that silently dropped or reordered blocks must not
 * pass: rclone#7590). */
static int check_block_list(struct xfer *x)
{
        const struct net_req *req = x->req;
        const char *p, *end;
        uint32_t i = 0;

        if (x->resp_truncated || !x->resp)
                return net_diag_set(&x->diag, 200, -EPROTO, "GetBlockList %s: answer too long or empty",
                                    req->blob);
        p = strstr(x->resp, "<CommittedBlocks>");
        if (!p)
                return net_diag_set(&x->diag, 200, -EPROTO, "GetBlockList %s: no <CommittedBlocks>",
                                    req->blob);
        end = strstr(p, "</CommittedBlocks>");
        if (!end)
                end = x->resp + x->resp_len;
        for (;;) {
                const char *n = strstr(p, "<Name>"), *ne;
                char want[64];
                size_t wl;

                if (!n || n >= end)
                        break;
                n += 6;
                ne = strstr(n, "</Name>");
                if (!ne || ne > end)
                        break;
                if (i >= req->nblocks)
                        return net_diag_set(&x->diag, 200, -EPROTO,
                                            "GetBlockList %s: more committed blocks than the %u planned",
                                            req->blob, req->nblocks);
                wl = net_block_id(req->blob, req->id_salt, i, want);
                if ((size_t)(ne - n) != wl || memcmp(n, want, wl) != 0)
                        return net_diag_set(&x->diag, 200, -EPROTO,
                                            "GetBlockList %s: committed block %u is not the planned one",
                                            req->blob, i);
                i++;
                p = ne + 7;
        }
        if (i != req->nblocks)
                return net_diag_set(&x->diag, 200, -EPROTO,
                                    "GetBlockList %s: %u committed blocks, %u planned", req->blob, i,
                                    req->nblocks);
        return 0;
}

static enum net_retry_class retry_class(long status, int r)
{
        switch (status) {
        case 0:
                return r == -ETIMEDOUT ? NET_RETRY_TIMEOUT : NET_RETRY_CONNECTION;
        case 408:
                return NET_RETRY_TIMEOUT;
        case 429:
                return NET_RETRY_THROTTLED;
        case 503:
                return NET_RETRY_BUSY;
        default:
                return NET_RETRY_SERVER;
        }
}

/* Get Block List (all): mark in present[] every block of the plan the
 * service holds with its planned size.  Other IDs (other versions of the
 * source, other plans) are ignored; so is everything that doesn't parse. */
static int parse_present(struct xfer *x)
{
        const struct net_req *req = x->req;
        const char *p;

        if (x->resp_truncated || !x->resp)
                return net_diag_set(&x->diag, 200, -EPROTO, "GetBlockList %s: answer too long or empty",
                                    req->blob);
        if (!strstr(x->resp, "<BlockList"))
                return net_diag_set(&x->diag, 200, -EPROTO, "GetBlockList %s: no <BlockList>",
                                    req->blob);
        memset(req->present, 0, req->nblocks * sizeof(*req->present));
        for (p = x->resp; (p = strstr(p, "<Block>"));) {
                const char *end = strstr(p, "</Block>"), *n, *ne, *sz;
                if (!end)
                        break;
                n = strstr(p, "<Name>");
                sz = strstr(p, "<Size>");
                p = end + 8;
                if (!n || n > end || !sz || sz > end)
                        continue;
                n += 6;
                ne = strstr(n, "</Name>");
                if (!ne || ne > end)
                        continue;
                int64_t i = net_block_index(req->blob, req->id_salt, n, (size_t)(ne - n));
                if (i < 0 || (uint64_t)i >= req->nblocks)
                        continue;
                char *e;
                unsigned long long size = strtoull(sz + 6, &e, 10);
                uint64_t want = (uint64_t)i + 1 < req->nblocks
                                        ? req->block_size
                                        : req->blob_size - (uint64_t)i * req->block_size;
                if (e != sz + 6 && *e == '<' && size == want)
                        req->present[i] = true;
        }
        return 0;
}

static void schedule_retry(struct xfer *x, enum net_retry_class cls, int64_t retry_after_ms)
{
        struct net_uploader *u = x->u;
        uint32_t delay = net_backoff_delay(&u->backoff, x->stage_attempts, next_rnd(u), retry_after_ms);

        u->stats.retries++;
        u->stats.retries_by_class[cls]++;
        x->due_ns = now_ns() + (uint64_t)delay * 1000000u;
        trace(u, "retry op=%s blob=%s attempt=%u delay_ms=%" PRIu32 " reason=\"%s\"", op_name(x),
              x->req->blob, x->stage_attempts + 1, delay, x->diag.msg);
        xfer_move(x, L_WAITING);
}

static void completed(struct net_uploader *u, struct xfer *x, CURLcode cc)
{
        long status = 0;
        uint64_t ms = (now_ns() - x->start_ns) / 1000000u;
        char code[64] = "", bodymsg[160] = "";
        bool retry = false;
        int r = 0;

        curl_multi_remove_handle(u->multi, x->easy);
        if (cc == CURLE_OK)
                curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        put_easy(u, TAKE_PTR(x->easy));
        u->stats.requests++;

        trace(u, "%s %s status=%ld ms=%" PRIu64 " attempt=%u curl=%d", is_get(x) ? "GET" : "PUT",
              x->url, status, ms, x->stage_attempts, (int)cc);

        if (cc != CURLE_OK) {
                const char *what = x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);

                if (tls_failure(cc))
                        r = -EPERM;
                else
                        r = transport_error(cc, &retry);
                net_diag_set(&x->diag, 0, r, "%s %s: %s", op_name(x), x->req->blob, what);
        } else if (status >= 200 && status < 300) {
                net_diag_set(&x->diag, status, 0, "%s", "");
                if (x->verify)
                        r = check_block_list(x);
                else if (x->req->op == NET_GET_BLOCK_LIST)
                        r = parse_present(x);
        } else {
                if (x->resp_len > 0)
                        net_parse_error_body(x->resp, x->resp_len, code, sizeof(code), bodymsg,
                                             sizeof(bodymsg));
                retry = net_status_retryable(status);
                r = retry ? -EAGAIN : status_errno(status);
                net_diag_set(&x->diag, status, r, "%s %s: HTTP %ld%s%s", op_name(x), x->req->blob,
                             status, bodymsg[0] ? ": " : "", bodymsg);
        }
        /* After net_diag_set(), which clears them. */
        snprintf(x->diag.error_code, sizeof(x->diag.error_code), "%s", x->error_code[0] ? x->error_code : code);
        snprintf(x->diag.request_id, sizeof(x->diag.request_id), "%s", x->request_id);

        if (retry && x->stage_attempts <= u->backoff.max_retries) {
                schedule_retry(x, retry_class(status, r),
                               net_parse_retry_after(x->retry_after[0] ? x->retry_after : NULL,
                                                     x->retry_after_ms[0] ? x->retry_after_ms : NULL,
                                                     (int64_t)time(NULL)));
                return;
        }
        if (r == -EAGAIN)
                r = status_errno(status);
        /* A blob never staged or committed: the service holds none of it. */
        if (r == -ENOENT && x->req->op == NET_GET_BLOCK_LIST &&
            !strcmp(x->diag.error_code, "BlobNotFound"))
                r = 0;

        if (r == 0 && !x->verify && x->req->op == NET_PUT_BLOCK_LIST && u->dest.can_read) {
                x->verify = true;
                x->stage_attempts = 0;
                start(x);
                return;
        }
        finish(x, r);
}

/* ---- public API --------------------------------------------------------- */

static int split_origin(const char *url, char **ret_origin)
{
        const char *p = strstr(url, "://");
        size_t n;

        if (!p)
                return -EINVAL;
        p += 3;
        n = (size_t)(p - url) + strcspn(p, "/?#");
        *ret_origin = strndup(url, n);
        if (!*ret_origin)
                return -ENOMEM;
        /* Scheme in lowercase, as curl's protocol filter compares it. */
        for (char *s = *ret_origin; *s != ':'; s++)
                *s = (char)tolower((unsigned char)*s);
        return 0;
}

int net_uploader_new(const struct net_cfg *cfg, struct net_uploader **ret, struct net_diag *diag)
{
        struct net_uploader *u;
        const char *q;
        uint64_t seed = 0;
        int r;

        if (!cfg || !ret)
                return net_diag_set(diag, 0, -EINVAL, "no configuration");
        u = calloc(1, sizeof(*u));
        if (!u)
                return net_diag_set(diag, 0, -ENOMEM, "out of memory");

        r = net_dest_parse(cfg->url, cfg->account_key != NULL, &u->dest, diag);
        if (r < 0)
                goto fail;
        if (u->dest.auth == NET_AUTH_SHARED_KEY) {
                r = net_base64_decode(cfg->account_key, u->key, sizeof(u->key));
                if (r <= 0) {
                        r = net_diag_set(diag, 0, -EINVAL, "account key is not valid Base64");
                        goto fail;
                }
                u->keylen = (size_t)r;
        }

        u->connections = cfg->connections ? cfg->connections : 16;
        u->stall_timeout_s = cfg->stall_timeout_s ? (long)cfg->stall_timeout_s : 60;
        u->connect_timeout_s = cfg->connect_timeout_s ? (long)cfg->connect_timeout_s : 30;
        net_bucket_init(&u->bucket, cfg->cap, now_ns());
        u->backoff = cfg->backoff;
        if (!u->backoff.max_retries)
                u->backoff.max_retries = 20;
        if (!u->backoff.base_ms)
                u->backoff.base_ms = 1000;
        if (!u->backoff.max_ms)
                u->backoff.max_ms = 60000;
        u->trace = cfg->trace;
        u->trace_ctx = cfg->trace_ctx;

        r = -ENOMEM;
        u->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "pstream/" PSTREAM_VERSION);
        u->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
        u->idle = calloc(u->connections, sizeof(*u->idle));
        if (!u->user_agent || (cfg->ca_file && !u->ca_file) || !u->idle)
                goto fail_nomem;

        r = split_origin(cfg->url, &u->origin);
        if (r < 0)
                goto fail_nomem;
        if (asprintf(&u->base_path, "/%s%s%s/", u->dest.path_style ? u->dest.account : "",
                     u->dest.path_style ? "/" : "", u->dest.container) < 0) {
                u->base_path = NULL;
                goto fail_nomem;
        }
        q = strchr(cfg->url, '?');
        if (u->dest.auth == NET_AUTH_SAS && q) {
                u->sas = strdup(q + 1);
                if (!u->sas)
                        goto fail_nomem;
        }

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                goto fail_nomem;
        u->multi = curl_multi_init();
        if (!u->multi) {
                curl_global_cleanup();
                goto fail_nomem;
        }
        curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)u->connections);
        curl_multi_setopt(u->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)u->connections);
        curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, (long)u->connections);

        if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
                seed = now_ns() ^ (uint64_t)(uintptr_t)u;
        u->rng = seed | 1;

        trace(u, "uploader account=%s container=%s path_style=%d auth=%d can_read=%d connections=%u",
              u->dest.account, u->dest.container, u->dest.path_style, (int)u->dest.auth,
              u->dest.can_read, u->connections);
        *ret = u;
        return 0;

fail_nomem:
        r = net_diag_set(diag, 0, -ENOMEM, "out of memory");
fail:
        net_uploader_free(u);
        return r;
}

/* Run and free every finished request; returns how many. */
static int run_callbacks(struct net_uploader *u)
{
        int n = 0;

        while (u->finished.head) {
                struct xfer *x = u->finished.head;
                struct net_req *req = x->req;

                xfer_move(x, L_NONE);
                req->priv = NULL;
                /* The callback may submit more; x is gone from every list. */
                req->done(req, x->result, &x->diag);
                xfer_free(x);
                n++;
        }
        return n;
}

void net_cancel_all(struct net_uploader *u)
{
        /* Callbacks of cancelled requests may still submit: cancel until
         * nothing is left. */
        for (;;) {
                while (u->active.head) {
                        struct xfer *x = u->active.head;

                        curl_multi_remove_handle(u->multi, x->easy);
                        curl_easy_cleanup(TAKE_PTR(x->easy));
                        finish(x, net_diag_set(&x->diag, 0, -ECANCELED, "uploader shut down"));
                }
                while (u->queued.head)
                        finish(u->queued.head, net_diag_set(&u->queued.head->diag, 0, -ECANCELED,
                                                            "uploader shut down"));
                while (u->waiting.head)
                        finish(u->waiting.head, net_diag_set(&u->waiting.head->diag, 0, -ECANCELED,
                                                             "uploader shut down"));
                if (!u->finished.head)
                        break;
                run_callbacks(u);
        }
}

struct net_uploader *net_uploader_free(struct net_uploader *u)
{
        if (!u)
                return NULL;
        net_cancel_all(u);

        for (unsigned i = 0; i < u->nidle; i++)
                curl_easy_cleanup(u->idle[i]);
        if (u->multi) {
                curl_multi_cleanup(u->multi);
                curl_global_cleanup();
        }
        explicit_bzero(u->key, sizeof(u->key));
        if (u->sas) {
                explicit_bzero(u->sas, strlen(u->sas));
                free(u->sas);
        }
        free(u->idle);
        free(u->origin);
        free(u->base_path);
        free(u->user_agent);
        free(u->ca_file);
        free(u);
        return NULL;
}

const struct net_dest_info *net_uploader_dest(const struct net_uploader *u)
{
        return &u->dest;
}

static bool valid_blob_name(const struct net_uploader *u, const char *blob)
{
        size_t n;

        if (!blob || !*blob)
                return false;
        n = strlen(blob);
        if (n + strlen(u->dest.prefix) > NET_MAX_BLOB_NAME)
                return false;
        /* Same rule as the URL prefix: servers normalise these away. */
        for (const char *s = blob; *s;) {
                size_t sl = strcspn(s, "/");

                if (sl == 0 || (sl == 1 && s[0] == '.') || (sl == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                s += sl;
                if (*s)
                        s++;
        }
        return blob[n - 1] != '/';
}

static int build_block_list(struct xfer *x)
{
        static const char head[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
        static const char tail[] = "</BlockList>";
        size_t cap = sizeof(head) + sizeof(tail) + (size_t)x->req->nblocks * (64 + 17), o = 0;
        char *s = malloc(cap);

        if (!s)
                return -ENOMEM;
        o += (size_t)snprintf(s, cap, "%s", head);
        for (uint32_t i = 0; i < x->req->nblocks; i++) {
                char id[64];

                net_block_id(x->req->blob, x->req->id_salt, i, id);
                o += (size_t)snprintf(s + o, cap - o, "<Latest>%s</Latest>", id);
        }
        o += (size_t)snprintf(s + o, cap - o, "%s", tail);
        x->xml = s;
        x->body_len = o;
        x->crc = net_crc64(0, s, o);
        return 0;
}

int net_submit(struct net_uploader *u, struct net_req *req)
{
        struct xfer *x;
        int r;

        if (!u || !req || !req->done || !valid_blob_name(u, req->blob))
                return -EINVAL;
        switch (req->op) {
        case NET_PUT_BLOB:
                break;
        case NET_PUT_BLOCK:
                if (!req->buf || req->block_index >= NET_MAX_BLOCKS)
                        return -EINVAL;
                break;
        case NET_PUT_BLOCK_LIST:
                if (req->nblocks == 0 || req->nblocks > NET_MAX_BLOCKS)
                        return -EINVAL;
                break;
        case NET_GET_BLOCK_LIST:
                if (!u->dest.can_read)
                        return -EOPNOTSUPP;
                if (req->nblocks == 0 || req->nblocks > NET_MAX_BLOCKS || !req->present ||
                    !req->block_size ||
                    req->blob_size <= (uint64_t)(req->nblocks - 1) * req->block_size)
                        return -EINVAL;
                break;
        default:
                return -EINVAL;
        }
        if (req->buf && (uint64_t)req->buf->len > NET_MAX_PUT_BLOB)
                return -EINVAL;

        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->u = u;
        x->req = req;
        if (req->op == NET_PUT_BLOCK_LIST) {
                r = build_block_list(x);
                if (r < 0) {
                        free(x);
                        return r;
                }
        } else {
                x->crc = req->crc64;
                if (req->buf) {
                        x->buf = io_buf_ref(req->buf);
                        x->body_len = req->buf->len;
                }
        }
        req->priv = x;
        xfer_move(x, L_QUEUED);
        return 0;
}

/* Move due retries to the queue; returns ns until the next one is due, or
 * UINT64_MAX when none waits. */
static uint64_t promote_due(struct net_uploader *u, uint64_t now)
{
        uint64_t next = UINT64_MAX;

        for (struct xfer *x = u->waiting.head, *nx; x; x = nx) {
                nx = x->next;
                if (x->due_ns <= now)
                        xfer_move(x, L_QUEUED);
                else
                        next = MIN(next, x->due_ns - now);
        }
        return next;
}

/* May the head of the queue start now?  Under a cap only as many run as
 * the cap can keep moving (net_bucket_max_active()). */
static bool can_start(const struct net_uploader *u)
{
        return !u->paused && u->queued.head &&
               u->active.n < net_bucket_max_active(&u->bucket, u->queued.head->body_len, u->connections);
}

static void start_queued(struct net_uploader *u)
{
        while (can_start(u))
                start(u->queued.head);
}

/* Un-pause paused transfers when the bucket can grant them something;
 * returns ns until it can, or UINT64_MAX when none is paused. */
static uint64_t resume_paused(struct net_uploader *u, uint64_t now)
{
        uint64_t left = UINT64_MAX, wait;

        for (struct xfer *x = u->active.head; x; x = x->next)
                if (x->paused)
                        left = MIN(left, x->body_len - x->pos);
        if (left == UINT64_MAX)
                return UINT64_MAX;
        wait = net_bucket_wait_ns(&u->bucket, (size_t)MIN(left, (uint64_t)SIZE_MAX), now);
        if (wait > 0)
                return wait;
        for (struct xfer *x = u->active.head; x; x = x->next)
                if (x->paused) {
                        x->paused = false;
                        curl_easy_pause(x->easy, CURLPAUSE_CONT);
                }
        return 0;
}

static void reap(struct net_uploader *u)
{
        CURLMsg *m;
        int left;

        while ((m = curl_multi_info_read(u->multi, &left))) {
                struct xfer *x = NULL;

                if (m->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
                completed(u, x, m->data.result);
        }
}

int net_run(struct net_uploader *u, int timeout_ms)
{
        uint64_t start_ns = now_ns(), deadline = UINT64_MAX;
        int done = 0, running;

        if (timeout_ms >= 0)
                deadline = start_ns + (uint64_t)timeout_ms * 1000000u;

        for (;;) {
                uint64_t now = now_ns(), next_timer, wait_ns;
                int wait_ms;

                next_timer = promote_due(u, now);
                start_queued(u);
                resume_paused(u, now);
                if (curl_multi_perform(u->multi, &running) != CURLM_OK)
                        return -EIO;
                reap(u);
                /* Retries and verify stages may have been queued by reap(). */
                start_queued(u);
                done += run_callbacks(u);

                if (done > 0 || atomic_exchange(&u->woken, false))
                        return done;
                now = now_ns();
                if (now >= deadline)
                        return 0;
                next_timer = MIN(promote_due(u, now), resume_paused(u, now));
                if (next_timer == 0 || can_start(u))
                        continue;

                wait_ns = MIN(next_timer, deadline == UINT64_MAX ? UINT64_MAX : deadline - now);
                /* Round up so a timer is due when we wake; poll at most a
                 * minute at a time. */
                wait_ms = (int)MIN((wait_ns + 999999u) / 1000000u, (uint64_t)60000);
                if (curl_multi_poll(u->multi, NULL, 0, wait_ms, NULL) != CURLM_OK)
                        return -EIO;
        }
}

void net_wakeup(struct net_uploader *u)
{
        /* Pairs with the atomic_exchange() in net_run(). */
        atomic_store(&u->woken, true);
        curl_multi_wakeup(u->multi);
}

void net_get_stats(const struct net_uploader *u, struct net_stats *ret)
{
        *ret = u->stats;
        ret->active = u->active.n;
        ret->queued = u->queued.n + u->waiting.n;
        ret->cap = u->bucket.rate;
}

void net_set_cap(struct net_uploader *u, uint64_t cap)
{
        net_bucket_set_rate(&u->bucket, cap, now_ns());
        /* Lifting the cap lets paused transfers go at once. */
        resume_paused(u, now_ns());
}

const char *net_curl_version(void)
{
        return curl_version_info(CURLVERSION_NOW)->version;
}

const char *net_tls_backend(void)
{
        const char *s = curl_version_info(CURLVERSION_NOW)->ssl_version;

        return s ? s : "none";
}

void net_pause(struct net_uploader *u, bool paused)
{
        u->paused = paused;
}
