/* SPDX-License-Identifier: MIT
 *
 * dest.c - parse and validate a destination container URL: account,
 * container, blob-name prefix, and what the credential allows.  Hostile
 * input is expected (config files, fuzzing); messages never echo the query.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include "net/net-internal.h"

#define MAX_HOST 255

/* Azure: 3-24 lowercase letters and digits. */
static bool valid_account(const char *s, size_t n)
{
        if (n < 3 || n > 24)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
                        return false;
        return true;
}

/* Azure: 3-63 of [a-z0-9-], starting with a letter or digit, no "--", no
 * trailing '-'. */
static bool valid_container(const char *s, size_t n)
{
        if (n < 3 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                if (!islower(c) && !isdigit(c) && c != '-')
                        return false;
                if (c == '-' && s[i + 1] == '-')
                        return false;
        }
        return true;
}

static bool host_char(char c)
{
        return isalnum((unsigned char)c) || c == '-' || c == '.' || c == ':' || c == '[' ||
               c == ']';
}

/* IP literals, localhost and single-label hosts (containers like "azurite")
 * carry the account in the path, as Azurite and IP endpoints do. */
static bool host_is_path_style(const char *host)
{
        char name[MAX_HOST + 1];
        struct in_addr a4;
        const char *colon;

        if (host[0] == '[')
                return true;
        colon = strrchr(host, ':');
        snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - host) : (int)strlen(host), host);
        return inet_pton(AF_INET, name, &a4) == 1 || strcasecmp(name, "localhost") == 0 ||
               !strchr(name, '.');
}

/* One query parameter's value if present (escaped form), length in *ret_len. */
static const char *query_get(const char *q, const char *name, size_t *ret_len)
{
        size_t nl = strlen(name);

        for (const char *p = q; *p;) {
                const char *amp = strchrnul(p, '&');

                if ((size_t)(amp - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == '=') {
                        *ret_len = (size_t)(amp - p) - nl - 1;
                        return p + nl + 1;
                }
                p = *amp ? amp + 1 : amp;
        }
        return NULL;
}

static unsigned query_count(const char *q, const char *name)
{
        size_t nl = strlen(name);
        unsigned n = 0;

        for (const char *p = q; *p;) {
                const char *amp = strchrnul(p, '&');

                if ((size_t)(amp - p) >= nl && strncasecmp(p, name, nl) == 0 &&
                    (p[nl] == '=' || p + nl == amp))
                        n++;
                p = *amp ? amp + 1 : amp;
        }
        return n;
}

static int parse_query(const char *q, bool have_key, struct net_dest_info *d, struct net_diag *diag)
{
        static const char *const once[] = { "sig", "sp", "si", "sv" };
        const char *v;
        size_t vl;

        for (const char *p = q; *p; p++)
                if (!isgraph((unsigned char)*p) || *p == '#')
                        return net_diag_set(diag, 0, -EINVAL,
                                            "destination URL: query has a space, control or '#' character");
        for (size_t i = 0; i < ELEMENTSOF(once); i++)
                if (query_count(q, once[i]) > 1)
                        return net_diag_set(diag, 0, -EINVAL,
                                            "destination URL: SAS parameter '%s' given twice", once[i]);
        v = query_get(q, "sig", &vl);
        if (!v || vl == 0)
                return net_diag_set(diag, 0, -EINVAL,
                                    "destination URL has a query string but no SAS signature (sig=)");
        if (have_key)
                return net_diag_set(diag, 0, -EINVAL,
                                    "destination has both a SAS and an account key: give only one");

        d->auth = NET_AUTH_SAS;
        v = query_get(q, "sv", &vl);
        if (v) {
                if (vl == 0 || vl >= sizeof(d->sas_version))
                        return net_diag_set(diag, 0, -EINVAL, "destination URL: bad SAS version (sv=)");
                memcpy(d->sas_version, v, vl);
                d->sas_version[vl] = '\0';
        }

        v = query_get(q, "sp", &vl);
        if (v) {
                /* Permissions are single letters; 'r' covers Get Block List. */
                d->can_read = memchr(v, 'r', vl) != NULL;
        } else if (query_get(q, "si", &vl)) {
                /* Stored access policy: the permissions are hidden on the
                 * server, and the PST Import Service's policy has no read. */
                d->can_read = false;
        } else {
                return net_diag_set(diag, 0, -EINVAL,
                                    "destination URL: SAS has neither permissions (sp=) nor a policy (si=)");
        }
        return 0;
}

int net_dest_parse(const char *url, bool have_key, struct net_dest_info *ret, struct net_diag *diag)
{
        struct net_dest_info d = { 0 };
        char host[MAX_HOST + 1];
        const char *p, *host_end, *path, *path_end, *q, *seg, *slash;
        size_t n;

        if (!url || !ret)
                return net_diag_set(diag, 0, -EINVAL, "destination URL missing");
        if (strlen(url) > NET_MAX_BLOB_NAME + MAX_HOST + NET_MAX_QUERY + 16)
                return net_diag_set(diag, 0, -EINVAL, "destination URL too long");

        if (strncasecmp(url, "https://", 8) == 0)
                p = url + 8;
        else if (strncasecmp(url, "http://", 7) == 0)
                p = url + 7;
        else
                return net_diag_set(diag, 0, -EINVAL,
                                    "destination URL must start with https:// or http://");

        host_end = p + strcspn(p, "/?#");
        n = (size_t)(host_end - p);
        if (n == 0)
                return net_diag_set(diag, 0, -EINVAL, "destination URL has no host");
        if (n > MAX_HOST)
                return net_diag_set(diag, 0, -EINVAL, "destination URL: host name too long");
        for (size_t i = 0; i < n; i++)
                if (!host_char(p[i]))
                        return net_diag_set(diag, 0, -EINVAL,
                                            "destination URL: bad character in host (credentials in URLs are not accepted)");
        memcpy(host, p, n);
        host[n] = '\0';
        if (*host_end == '#')
                return net_diag_set(diag, 0, -EINVAL, "destination URL must not have a fragment");

        path = host_end;
        path_end = path + strcspn(path, "?#");
        if (*path_end == '#')
                return net_diag_set(diag, 0, -EINVAL, "destination URL must not have a fragment");
        q = *path_end == '?' ? path_end + 1 : NULL;
        if (q && strlen(q) > NET_MAX_QUERY)
                return net_diag_set(diag, 0, -EINVAL, "destination URL: query string too long");

        d.path_style = host_is_path_style(host);
        seg = path < path_end && *path == '/' ? path + 1 : path_end;

        if (d.path_style) {
                slash = memchr(seg, '/', (size_t)(path_end - seg));
                n = slash ? (size_t)(slash - seg) : (size_t)(path_end - seg);
                /* Azurite's account names are not Azure's (devstoreaccount1
                 * is 16 characters but other names may have capitals), so
                 * only the length and the charset of a path segment apply. */
                if (n == 0 || n >= sizeof(d.account))
                        return net_diag_set(diag, 0, -EINVAL,
                                            "destination URL: missing or too long account name in the path");
                for (size_t i = 0; i < n; i++)
                        if (!isalnum((unsigned char)seg[i]))
                                return net_diag_set(diag, 0, -EINVAL,
                                                    "destination URL: bad account name in the path");
                memcpy(d.account, seg, n);
                seg = slash ? slash + 1 : path_end;
        } else {
                n = strcspn(host, ".");
                if (!valid_account(host, n))
                        return net_diag_set(diag, 0, -EINVAL,
                                            "destination URL: '%.*s' is not a storage account name (3-24 lowercase letters and digits)",
                                            (int)MIN(n, 64), host);
                memcpy(d.account, host, n);
        }

        slash = memchr(seg, '/', (size_t)(path_end - seg));
        n = slash ? (size_t)(slash - seg) : (size_t)(path_end - seg);
        if (n == 0)
                return net_diag_set(diag, 0, -EINVAL, "destination URL has no container");
        if (!valid_container(seg, n))
                return net_diag_set(diag, 0, -EINVAL,
                                    "destination URL: '%.*s' is not a container name (3-63 of a-z 0-9 -)",
                                    (int)MIN(n, 64), seg);
        memcpy(d.container, seg, n);

        if (slash && slash + 1 < path_end) {
                const char *pp = slash + 1;
                size_t plen = (size_t)(path_end - pp);
                int r = net_url_unescape(pp, plen, d.prefix, sizeof(d.prefix) - 1);

                if (r == -ENAMETOOLONG)
                        return net_diag_set(diag, 0, -EINVAL, "destination URL: path prefix too long");
                if (r < 0)
                        return net_diag_set(diag, 0, -EINVAL, "destination URL: bad escape in the path prefix");
                for (int i = 0; i < r; i++)
                        if (iscntrl((unsigned char)d.prefix[i]) || d.prefix[i] == '\\')
                                return net_diag_set(diag, 0, -EINVAL,
                                                    "destination URL: control character or backslash in the path prefix");
                if (d.prefix[r - 1] != '/') {
                        d.prefix[r++] = '/';
                        d.prefix[r] = '\0';
                }
                /* Empty, "." and ".." segments get normalised away by
                 * proxies and servers: the blob would land elsewhere. */
                for (const char *s = d.prefix; *s;) {
                        size_t sl = strcspn(s, "/");

                        if (sl == 0 || (sl == 1 && s[0] == '.') || (sl == 2 && s[0] == '.' && s[1] == '.'))
                                return net_diag_set(diag, 0, -EINVAL,
                                                    "destination URL: empty, '.' or '..' segment in the path prefix");
                        s += sl + 1;
                }
        }

        if (q && *q) {
                int r = parse_query(q, have_key, &d, diag);
                if (r < 0)
                        return r;
        } else if (have_key) {
                d.auth = NET_AUTH_SHARED_KEY;
                d.can_read = true;
        } else {
                d.auth = NET_AUTH_NONE;
                d.can_read = true;
        }

        *ret = d;
        if (diag)
                *diag = (struct net_diag){ 0 };
        return 0;
}
