/* SPDX-License-Identifier: MIT
 *
 * net.h - upload side of pstream: an Azure Block Blob client.
 *
 * Owns the curl multi handle and every easy handle, the connection pool,
 * request signing (Shared Key, SAS), the wire checksum (CRC-64/NVME sent as
 * x-ms-content-crc64), block planning, retries with backoff and jitter, and
 * the redaction of secrets, and the bandwidth cap (one token bucket over
 * all connections).  Never knows PST, never decides dedup policy,
 * never logs: failures come back as -errno plus a struct net_diag, and
 * debug-level events go to the optional trace hook (already redacted).
 *
 * Errors:
 *   -EPROTO     unexpected HTTP status (detail in net_diag)
 *   -EMSGSIZE   413 Request Entity Too Large (re-plan with smaller blocks)
 *   -EACCES     401/403 (credential refused or lacks the permission)
 *   -EEXIST     409 (blob exists and If-None-Match: * was asked)
 *   -ENOENT     404 (container or blob missing)
 *   -ETIMEDOUT  stall or timeout after all retries
 *   -ECONNRESET connection failures after all retries
 *   -EPERM      TLS verification failed (never retried, no payload sent)
 *   -ECANCELED  the uploader was shut down
 *   -EINVAL     bad configuration (URL, key)
 *
 * Threads: one net_uploader per thread; only net_wakeup() may be called from
 * other threads.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pstream/io.h"

/* ---- CRC-64/NVME (x-ms-content-crc64) --------------------------------- */

/* Running CRC-64/NVME: start with crc = 0, feed pieces in order; the value
 * after the last piece is the checksum.  CRC("123456789") = 0xAE8B14860A799888. */
uint64_t net_crc64(uint64_t crc, const void *data, size_t len);
/* Base64 of the 8-byte little-endian CRC, as the header wants (12 chars + NUL). */
void net_crc64_base64(uint64_t crc, char out[13]);

/* ---- diagnostics ------------------------------------------------------ */

struct net_diag {
        long status;           /* HTTP status, 0 for transport errors */
        char error_code[64];   /* x-ms-error-code (or <Code> of the body) */
        char request_id[64];   /* x-ms-request-id */
        char msg[256];         /* human readable, secrets redacted */
        unsigned attempts;     /* tries made, including the last */
};

/* Copy url into out with every SAS signature (sig=...) replaced by
 * "sig=REDACTED".  Always NUL-terminates. */
void net_redact_url(const char *url, char *out, size_t outlen);

/* ---- destination ------------------------------------------------------ */

enum net_auth {
        NET_AUTH_NONE,      /* public container or test sink */
        NET_AUTH_SAS,       /* query string of the URL */
        NET_AUTH_SHARED_KEY,
};

struct net_backoff {
        unsigned max_retries;  /* retries after the first try (default 20) */
        uint32_t base_ms;      /* first delay bound (default 1000) */
        uint32_t max_ms;       /* delay cap (default 60000) */
};

struct net_cfg {
        const char *url;         /* container URL, optionally with a path prefix and SAS:
                                  * https://acct.blob.core.windows.net/container[/prefix][?sas]
                                  * http://127.0.0.1:10000/devstoreaccount1/container[/prefix] */
        const char *account_key; /* base64 Shared Key or NULL; borrowed during net_uploader_new() */
        const char *ca_file;     /* PEM bundle to trust instead of the system's, or NULL */
        unsigned connections;    /* parallel keep-alive connections (default 16) */
        unsigned stall_timeout_s; /* abort a request making no progress this long (default 60) */
        unsigned connect_timeout_s; /* default 30 */
        uint64_t cap;            /* bandwidth cap in request-body bytes per second, 0 = none;
                                  * net_set_cap() changes it live */
        struct net_backoff backoff;
        const char *user_agent;  /* default "pstream/<version>" */
        /* Debug trace hook: one event per call, secrets already redacted. */
        void (*trace)(void *ctx, int level, const char *msg);
        void *trace_ctx;
};

/* What a parsed destination allows.  can_read is false for SAS tokens
 * without 'r' in sp= and for stored-access-policy SAS (si= without sp=),
 * as handed out by the PST Import Service: such targets never get a read
 * request (HEAD, Get Block List). */
struct net_dest_info {
        enum net_auth auth;
        bool can_read;
        bool path_style;   /* account name in the path (Azurite, IP endpoints) */
        char account[64];
        char container[64];
        char prefix[1024]; /* blob name prefix from the URL path, "" or ending in '/' */
        char sas_version[16]; /* sv= of the SAS, "" if none */
};

/* Parse and validate a destination without connecting. */
int net_dest_parse(const char *url, bool have_key, struct net_dest_info *ret, struct net_diag *diag);

/* ---- block planning --------------------------------------------------- */

#define NET_MAX_BLOCKS 50000u
#define NET_MAX_BLOCK_SIZE (4000ull * 1024 * 1024)
#define NET_MAX_PUT_BLOB (5000ull * 1024 * 1024)
#define NET_FALLBACK_BLOCK_SIZE (4ull * 1024 * 1024)

struct net_plan {
        bool single;          /* one Put Blob */
        uint64_t block_size;  /* size of every block but the last */
        uint32_t nblocks;     /* >= 1 (a single Put Blob counts as 1, also for size 0) */
};

/* Plan the upload of size bytes: a single Put Blob when size <= put_blob_max,
 * else blocks of block_size, doubled while more than 50,000 blocks would be
 * needed (up to 4000 MiB).  -EFBIG when the file can't fit in any plan. */
int net_plan(uint64_t size, uint64_t block_size, uint64_t put_blob_max, struct net_plan *ret);

/* Block ID of block index of blob: fixed length for every block of a blob,
 * derived only from (blob name, salt, index), so a rerun re-stages the same
 * IDs.  The salt names the source and plan the blocks come from (the
 * caller's choice, e.g. a hash of size, mtime, inode and block size): blocks
 * staged from another version of the source never match, so Get Block List
 * can say which blocks of this version the service holds.  Writes
 * NUL-terminated base64 into out; returns its length. */
size_t net_block_id(const char *blob, uint64_t salt, uint32_t index, char out[64]);

/* The index of a block ID made by net_block_id(blob, salt, ...): -1 when id
 * is not one of them. */
int64_t net_block_index(const char *blob, uint64_t salt, const char *id, size_t len);

/* ---- the uploader ----------------------------------------------------- */

enum net_op {
        NET_PUT_BLOB,        /* whole body in buf (buf may be NULL for size 0) */
        NET_PUT_BLOCK,       /* block block_index of blob */
        NET_PUT_BLOCK_LIST,  /* commit blocks 0..nblocks-1 of blob */
        NET_GET_BLOCK_LIST,  /* which of blocks 0..nblocks-1 of blob the service holds, committed
                              * or not, with their planned sizes: present[] (readable
                              * destinations only; a blob that does not exist holds none) */
};

struct net_req;
typedef void (*net_done_fn)(struct net_req *req, int result, const struct net_diag *diag);

struct net_req {
        enum net_op op;
        const char *blob;       /* blob name under the URL prefix, unescaped; kept until done */
        uint32_t block_index;   /* NET_PUT_BLOCK */
        uint32_t nblocks;       /* NET_PUT_BLOCK_LIST, NET_GET_BLOCK_LIST */
        uint64_t id_salt;       /* NET_PUT_BLOCK, NET_PUT_BLOCK_LIST, NET_GET_BLOCK_LIST:
                                 * see net_block_id() */
        uint64_t block_size;    /* NET_GET_BLOCK_LIST: every block but the last */
        uint64_t blob_size;     /* NET_GET_BLOCK_LIST: the whole blob */
        bool *present;          /* NET_GET_BLOCK_LIST: nblocks flags, set on success */
        struct io_buf *buf;     /* body for PUT_BLOB/PUT_BLOCK; the uploader takes a reference
                                 * for as long as it needs the bytes (retries included) */
        uint64_t crc64;         /* CRC-64/NVME of the body, computed by the caller */
        bool if_none_match;     /* send If-None-Match: * (create only) */
        const char *content_md5; /* base64 whole-blob MD5 for x-ms-blob-content-md5, or NULL */
        const char *content_type; /* x-ms-blob-content-type of the blob (PUT_BLOB, PUT_BLOCK_LIST),
                                   * NULL for application/octet-stream */
        net_done_fn done;       /* called exactly once, from net_run() (or from
                                 * net_uploader_free() with -ECANCELED); diag is
                                 * valid during the call only.  After a verified
                                 * commit (Get Block List) diag describes the GET. */
        void *userdata;
        /* private to net/ below */
        void *priv;
};

/* Why a try was repeated, for the metrics. */
enum net_retry_class {
        NET_RETRY_CONNECTION, /* reset, refused, cut answer */
        NET_RETRY_TIMEOUT,    /* stall, 408 */
        NET_RETRY_THROTTLED,  /* 429 */
        NET_RETRY_BUSY,       /* 503 */
        NET_RETRY_SERVER,     /* 500, 502, 504 */
        NET_RETRY_CLASSES,
};

struct net_stats {
        uint64_t bytes_sent;    /* request body bytes on the wire, retries included */
        uint64_t requests;      /* requests completed (any status) */
        uint64_t retries;       /* tries repeated after a retryable failure */
        uint64_t retries_by_class[NET_RETRY_CLASSES];
        uint64_t failures;      /* requests finished with an error (after their retries) */
        unsigned active;        /* requests in flight now */
        unsigned queued;        /* submitted, waiting for a connection */
        uint64_t cap;           /* cap in force, bytes/s, 0 = none */
};

struct net_uploader;

int net_uploader_new(const struct net_cfg *cfg, struct net_uploader **ret, struct net_diag *diag);
/* Abort everything in flight (their done callbacks run with -ECANCELED) and free. */
struct net_uploader *net_uploader_free(struct net_uploader *u);

const struct net_dest_info *net_uploader_dest(const struct net_uploader *u);

/* Queue a request; it starts when a connection is free.  req is kept until
 * its done callback has run. */
int net_submit(struct net_uploader *u, struct net_req *req);

/* Drive transfers for at most timeout_ms: start queued requests, wait for
 * socket activity, finish transfers, schedule retries, run done callbacks.
 * Returns the number of requests finished, or -errno. */
int net_run(struct net_uploader *u, int timeout_ms);

/* Abort every request in flight, queued or waiting for a retry: each done
 * callback runs now with -ECANCELED.  The uploader stays usable. */
void net_cancel_all(struct net_uploader *u);

/* While paused, no queued request starts (requests in flight finish, retry
 * timers still run out into the queue). */
void net_pause(struct net_uploader *u, bool paused);

/* Make a net_run() that is waiting return early.  Thread-safe. */
void net_wakeup(struct net_uploader *u);

void net_get_stats(const struct net_uploader *u, struct net_stats *ret);

/* Change the bandwidth cap (bytes/s of request bodies, 0 = none) from now
 * on.  Transfers in flight continue at the new pace; none is restarted. */
void net_set_cap(struct net_uploader *u, uint64_t cap);

/* Versions for `pstream --version`: curl version and its TLS backend. */
const char *net_curl_version(void);
const char *net_tls_backend(void);

/* ---- testable pieces, exported for tests/net ------------------------- */

/* Delay before retry number attempt (1-based): full jitter over an
 * exponential bound, min(max_ms, base_ms << (attempt-1)) * rnd where rnd is
 * in [0,1).  A Retry-After (ms, >= 0) overrides it when larger. */
uint32_t net_backoff_delay(const struct net_backoff *b, unsigned attempt, double rnd,
                           int64_t retry_after_ms);

/* Parse Retry-After / x-ms-retry-after-ms / retry-after-ms header values
 * into milliseconds relative to now_s (unix seconds, for HTTP dates).
 * Returns -1 when absent or unparseable. */
int64_t net_parse_retry_after(const char *retry_after, const char *retry_after_ms, int64_t now_s);

/* Is this HTTP status retried? 408, 429, 500, 502, 503, 504. */
bool net_status_retryable(long status);

/* Extract <Code> and <Message> from an Azure XML error body of len bytes
 * (not NUL-terminated; hostile input).  Always NUL-terminates both outputs
 * (empty when absent); the message is redacted and made one printable
 * line.  Returns 0 when a code was found, -ENOMSG when none, -EBADMSG when
 * the <Code> text is not an identifier (code then left empty). */
int net_parse_error_body(const char *body, size_t len, char *code, size_t codelen, char *msg,
                         size_t msglen);

/* Shared Key signature of a canonical request (Authorization header value
 * "SharedKey account:sig").  Exposed for the documented-example tests. */
int net_sharedkey_sign(const char *account, const char *key_base64, const char *string_to_sign,
                       char *out, size_t outlen);

/* ---- bandwidth cap: the token bucket --------------------------------- */

/* One token bucket over the request-body bytes of every connection (HTTP
 * headers and TLS framing are not counted: a few hundred bytes per
 * request).  Time comes in as an argument (CLOCK_MONOTONIC ns in the
 * uploader, anything in tests), so the arithmetic is testable without
 * sleeping.
 *
 * The bucket starts empty and holds at most `burst` tokens (an eighth of a
 * second of rate, at least two quanta), so no one-second window carries
 * more than rate + burst, 112.5 % of the cap.  A take is granted in pieces
 * of at least `quantum` bytes (a sixty-fourth of a second of rate, between
 * 4 KiB and 256 KiB) or what is left of the body, so a paced transfer sends
 * full segments and wakes up at most about 64 times a second. */
struct net_bucket {
        uint64_t rate;     /* bytes per second; 0 = unlimited */
        uint64_t burst;    /* bytes */
        uint64_t quantum;  /* smallest grant worth a wake-up, bytes */
        double tokens;     /* bytes available at last_ns */
        uint64_t last_ns;
};

void net_bucket_init(struct net_bucket *b, uint64_t rate, uint64_t now_ns);
/* New rate from now on; tokens earned so far are kept (within the new burst). */
void net_bucket_set_rate(struct net_bucket *b, uint64_t rate, uint64_t now_ns);
/* Bytes, at most want, that may be sent now (they are taken from the bucket);
 * 0 means pause: fewer than min(quantum, want) tokens are there. */
size_t net_bucket_take(struct net_bucket *b, size_t want, uint64_t now_ns);
/* Nanoseconds until a take of want bytes would be granted; 0 when now. */
uint64_t net_bucket_wait_ns(struct net_bucket *b, size_t want, uint64_t now_ns);
/* How many requests of body_len bytes may run at once under the cap so each
 * one keeps moving: max(1, rate x 2 s / body_len), at most connections. */
unsigned net_bucket_max_active(const struct net_bucket *b, uint64_t body_len, unsigned connections);
