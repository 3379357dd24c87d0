/* SPDX-License-Identifier: MIT
 *
 * net-internal.h - helpers shared by the files of net/: diag filling, URL
 * escaping, Base64, HTTP dates and the Shared Key string-to-sign.  Exported
 * (net_ prefix) so tests/net can check them; not part of the public API.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "io/base/macro.h"
#include "pstream/net.h"

/* Longest SAS query we accept; real ones are a few hundred bytes. */
#define NET_MAX_QUERY 2048
/* Longest blob name Azure accepts. */
#define NET_MAX_BLOB_NAME 1024
/* x-ms-version sent with Shared Key (SAS requests run at the SAS's sv). */
#define NET_API_VERSION "2021-08-06"

/* Fill diag (may be NULL): status, a printf-style message (redacted), and
 * return r so callers can write `return net_diag_set(...)`.  Clears the
 * other fields except attempts. */
int net_diag_set(struct net_diag *diag, long status, int r, const char *fmt, ...) _printf_(4, 5);

/* Percent-encode everything but RFC 3986 unreserved characters (and '/'
 * when keep_slash).  -ENAMETOOLONG when out is too small. */
int net_url_escape(const char *in, bool keep_slash, char *out, size_t outlen);

/* Decode %XX escapes of in[0..len) into out (NUL-terminated).  -EINVAL on
 * a malformed escape or a decoded NUL, -ENAMETOOLONG when out is too small. */
int net_url_unescape(const char *in, size_t len, char *out, size_t outlen);

/* Strict Base64 decode (padding required, no whitespace).  Returns the
 * decoded length, -EINVAL on bad input, -ENOBUFS when out is too small. */
int net_base64_decode(const char *in, uint8_t *out, size_t outlen);

/* RFC 1123 date in GMT, locale-independent: "Sun, 06 Nov 1994 08:49:37 GMT". */
#define NET_HTTP_DATE_MAX 40
void net_http_date(time_t t, char out[NET_HTTP_DATE_MAX]);

/* One request header for signing. */
struct net_hdr {
        const char *name;  /* lowercase for x-ms-* */
        const char *value;
};

/* Shared Key string-to-sign (AZURE.md §3.6).  xms: the x-ms-* headers of
 * the request, any order; path: the escaped URL path as sent (starting with
 * '/'); query: the escaped query without '?', or "".  Returns a malloc'd
 * string in *ret, or -ENOMEM / -EINVAL. */
int net_sharedkey_string_to_sign(const char *verb, uint64_t content_length, const char *content_md5,
                                 const char *content_type, const char *if_none_match,
                                 const struct net_hdr *xms, size_t nxms, const char *account,
                                 const char *path, const char *query, char **ret);

/* Signature with an already decoded key: writes "SharedKey account:sig". */
int net_sharedkey_sign_raw(const char *account, const uint8_t *key, size_t keylen,
                           const char *string_to_sign, char *out, size_t outlen);
