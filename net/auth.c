/* SPDX-License-Identifier: MIT
 *
 * auth.c - Shared Key signing (AZURE.md §3.6): the canonical string-to-sign
 * and its HMAC-SHA256 with the account key.  The key only ever exists
 * decoded in memory owned by the caller, which wipes it.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net-internal.h"

static int b64val(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int net_base64_decode(const char *in, uint8_t *out, size_t outlen)
{
        size_t n = strlen(in), o = 0;

        if (n == 0 || n % 4 != 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i += 4) {
                int v[4];
                unsigned pad = 0;

                for (unsigned j = 0; j < 4; j++) {
                        /* '=' only as the last one or two characters. */
                        if (in[i + j] == '=' && i + 4 == n && j >= 2) {
                                v[j] = 0;
                                pad++;
                                continue;
                        }
                        if (pad)
                                return -EINVAL;
                        v[j] = b64val(in[i + j]);
                        if (v[j] < 0)
                                return -EINVAL;
                }
                uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                             (uint32_t)v[3];
                if (o + 3 - pad > outlen)
                        return -ENOBUFS;
                out[o++] = (uint8_t)(w >> 16);
                if (pad < 2)
                        out[o++] = (uint8_t)(w >> 8);
                if (pad < 1)
                        out[o++] = (uint8_t)w;
        }
        return (int)o;
}

int net_sharedkey_sign_raw(const char *account, const uint8_t *key, size_t keylen,
                           const char *string_to_sign, char *out, size_t outlen)
{
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned maclen = 0;
        char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];

        if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)string_to_sign,
                  strlen(string_to_sign), mac, &maclen))
                return -EIO;
        EVP_EncodeBlock((unsigned char *)b64, mac, (int)maclen);
        explicit_bzero(mac, sizeof(mac));
        if ((size_t)snprintf(out, outlen, "SharedKey %s:%s", account, b64) >= outlen)
                return -ENOBUFS;
        return 0;
}

int net_sharedkey_sign(const char *account, const char *key_base64, const char *string_to_sign,
                       char *out, size_t outlen)
{
        uint8_t key[256];
        int r;

        r = net_base64_decode(key_base64, key, sizeof(key));
        if (r < 0)
                return -EINVAL;
        r = net_sharedkey_sign_raw(account, key, (size_t)r, string_to_sign, out, outlen);
        explicit_bzero(key, sizeof(key));
        return r;
}

struct qparam {
        char name[32];
        char value[256];
};

static int cmp_hdr(const void *a, const void *b)
{
        return strcmp(((const struct net_hdr *)a)->name, ((const struct net_hdr *)b)->name);
}

static int cmp_qparam(const void *a, const void *b)
{
        const struct qparam *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c ? c : strcmp(x->value, y->value);
}

/* Split an escaped query into lowercase names and decoded values.  Our own
 * requests carry at most a handful of short parameters (comp, blockid,
 * blocklisttype, restype). */
static int parse_query(const char *query, struct qparam *q, size_t max, size_t *ret_n)
{
        size_t n = 0;

        for (const char *p = query; *p;) {
                const char *amp = strchrnul(p, '&'), *eq = memchr(p, '=', (size_t)(amp - p));
                size_t nl = eq ? (size_t)(eq - p) : (size_t)(amp - p);

                if (nl == 0 || nl >= sizeof(q->name) || n == max)
                        return -EINVAL;
                for (size_t i = 0; i < nl; i++)
                        q[n].name[i] = (char)tolower((unsigned char)p[i]);
                q[n].name[nl] = '\0';
                if (eq) {
                        if (net_url_unescape(eq + 1, (size_t)(amp - eq - 1), q[n].value,
                                             sizeof(q->value)) < 0)
                                return -EINVAL;
                } else {
                        q[n].value[0] = '\0';
                }
                n++;
                p = *amp ? amp + 1 : amp;
        }
        *ret_n = n;
        return 0;
}

int net_sharedkey_string_to_sign(const char *verb, uint64_t content_length, const char *content_md5,
                                 const char *content_type, const char *if_none_match,
                                 const struct net_hdr *xms, size_t nxms, const char *account,
                                 const char *path, const char *query, char **ret)
{
        struct net_hdr sorted[16];
        struct qparam q[8];
        size_t nq = 0, len = 0;
        char clen[24] = "";
        FILE *f;
        char *s = NULL;

        if (nxms > ELEMENTSOF(sorted) || parse_query(query ? query : "", q, ELEMENTSOF(q), &nq) < 0)
                return -EINVAL;
        if (nxms)
                memcpy(sorted, xms, nxms * sizeof(*xms));
        qsort(sorted, nxms, sizeof(*sorted), cmp_hdr);
        qsort(q, nq, sizeof(*q), cmp_qparam);
        /* Empty, not "0", for a zero Content-Length (version >= 2015-02-21). */
        if (content_length > 0)
                snprintf(clen, sizeof(clen), "%" PRIu64, content_length);

        f = open_memstream(&s, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "%s\n\n\n%s\n%s\n%s\n\n\n\n%s\n\n\n", verb, clen, content_md5 ? content_md5 : "",
                content_type ? content_type : "", if_none_match ? if_none_match : "");
        for (size_t i = 0; i < nxms; i++)
                fprintf(f, "%s:%s\n", sorted[i].name, sorted[i].value);
        fprintf(f, "/%s%s", account, path);
        /* Repeated names are joined with ',' on one line, values sorted. */
        for (size_t i = 0; i < nq; i++) {
                if (i > 0 && strcmp(q[i].name, q[i - 1].name) == 0)
                        fprintf(f, ",%s", q[i].value);
                else
                        fprintf(f, "\n%s:%s", q[i].name, q[i].value);
        }
        if (fclose(f) != 0) {
                free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}
