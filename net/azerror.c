/* SPDX-License-Identifier: MIT
 *
 * azerror.c - pull <Code> and <Message> out of an Azure error body.  The
 * body comes from the network, so this is a bounded scan of len bytes (no
 * NUL needed, no XML parser, no recursion), fuzzed by fuzz-net-azure-error.
 */
#include <ctype.h>

#include "net/net-internal.h"

/* Find needle in hay[0..len), case-sensitive like XML tags. */
static const char *find(const char *hay, size_t len, const char *needle)
{
        return memmem(hay, len, needle, strlen(needle));
}

static const struct {
        const char *name;
        char c;
} entities[] = {
        { "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' }, { "&quot;", '"' }, { "&apos;", '\'' },
};

/* Copy the text of <tag>...</tag> into out, decoding the five predefined
 * entities and turning control characters into spaces so the result is
 * one printable line.  Returns true when the element was found. */
static bool extract(const char *body, size_t len, const char *open, const char *close, char *out,
                    size_t outlen)
{
        const char *s, *e;
        size_t o = 0;

        if (outlen == 0)
                return false;
        out[0] = '\0';
        s = find(body, len, open);
        if (!s)
                return false;
        s += strlen(open);
        e = find(s, len - (size_t)(s - body), close);
        if (!e)
                return false;

        while (s < e && o + 1 < outlen) {
                char c = *s;
                size_t adv = 1;

                if (c == '&') {
                        for (size_t i = 0; i < ELEMENTSOF(entities); i++) {
                                size_t el = strlen(entities[i].name);
                                if ((size_t)(e - s) >= el && memcmp(s, entities[i].name, el) == 0) {
                                        c = entities[i].c;
                                        adv = el;
                                        break;
                                }
                        }
                }
                if (iscntrl((unsigned char)c))
                        c = ' ';
                out[o++] = c;
                s += adv;
        }
        /* Azure appends "\nRequestId:...\nTime:..." to messages; trim the
         * trailing blanks those newlines left behind. */
        while (o > 0 && out[o - 1] == ' ')
                o--;
        out[o] = '\0';
        return true;
}

int net_parse_error_body(const char *body, size_t len, char *code, size_t codelen, char *msg,
                         size_t msglen)
{
        char raw[1024];
        bool have_code;

        if (codelen)
                code[0] = '\0';
        if (msglen)
                msg[0] = '\0';
        if (!body || len == 0)
                return -ENOMSG;

        have_code = extract(body, len, "<Code>", "</Code>", code, codelen);
        /* Messages can quote URLs; never let a signature through. */
        if (msglen && extract(body, len, "<Message>", "</Message>", raw, sizeof(raw)))
                net_redact_url(raw, msg, msglen);
        if (have_code && codelen) {
                /* Error codes are identifiers; anything else is not one. */
                for (char *p = code; *p; p++)
                        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') {
                                code[0] = '\0';
                                return -EBADMSG;
                        }
        }
        return have_code && code[0] ? 0 : -ENOMSG;
}
