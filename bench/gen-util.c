/* SPDX-License-Identifier: MIT
 *
 * gen-util.c - gen-estate's PRNG, arena, attachment byte pool and
 * directory of people.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/gen.h"
#include "io/base/macro.h"

/* ---- PRNG ------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
}

uint64_t gen_mix(uint64_t a, uint64_t b)
{
        uint64_t x = a ^ (b * 0xD6E8FEB86659FD93ull);

        splitmix64(&x);
        return splitmix64(&x) ^ b;
}

void gen_rng_seed(struct gen_rng *r, uint64_t seed)
{
        for (unsigned i = 0; i < 4; i++)
                r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

uint64_t gen_rng_next(struct gen_rng *r)
{
        uint64_t *s = r->s;
        uint64_t res = rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return res;
}

uint64_t gen_rng_below(struct gen_rng *r, uint64_t n)
{
        /* Lemire's multiply-shift; the bias is below 2^-32 for our n. */
        return (uint64_t)(((unsigned __int128)gen_rng_next(r) * n) >> 64);
}

double gen_rng_unit(struct gen_rng *r)
{
        return (double)(gen_rng_next(r) >> 11) * 0x1.0p-53;
}

double gen_rng_lognormal(struct gen_rng *r, double median, double sigma, double lo, double hi)
{
        /* Box-Muller, one of the pair. */
        double u1 = gen_rng_unit(r), u2 = gen_rng_unit(r);
        double z = sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
        double v = median * exp(sigma * z);

        return v < lo ? lo : v > hi ? hi : v;
}

/* ---- arena ----------------------------------------------------------------- */

struct gen_chunk {
        struct gen_chunk *next;
        size_t used, size;
        _Alignas(16) uint8_t data[];
};

void *gen_alloc(struct gen_arena *a, size_t len)
{
        struct gen_chunk *c = a->head;

        len = ALIGN_UP(len, 16);
        if (!c || c->size - c->used < len) {
                size_t sz = MAX(a->chunk_size ? a->chunk_size : 256 * KIB, len);

                c = malloc(sizeof(*c) + sz);
                if (!c) {
                        fputs("gen-estate: out of memory\n", stderr);
                        abort();
                }
                c->size = sz;
                c->used = 0;
                /* A big one-off chunk goes behind the head so the head keeps
                 * serving small allocations. */
                if (a->head && sz > a->head->size) {
                        c->next = a->head->next;
                        a->head->next = c;
                } else {
                        c->next = a->head;
                        a->head = c;
                }
        }
        c->used += len;
        return c->data + c->used - len;
}

char *gen_strdup(struct gen_arena *a, const char *s)
{
        size_t n = strlen(s) + 1;

        return memcpy(gen_alloc(a, n), s, n);
}

char *gen_printf(struct gen_arena *a, const char *fmt, ...)
{
        va_list ap;
        int n;
        char *s;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        s = gen_alloc(a, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
        return s;
}

void gen_arena_reset(struct gen_arena *a)
{
        struct gen_chunk *c;

        if (!a->head)
                return;
        /* Keep the last (first allocated, normal-sized) chunk. */
        while (a->head->next) {
                c = a->head;
                a->head = c->next;
                free(c);
        }
        a->head->used = 0;
}

void gen_arena_free(struct gen_arena *a)
{
        while (a->head) {
                struct gen_chunk *c = a->head;

                a->head = c->next;
                free(c);
        }
}

/* ---- words ----------------------------------------------------------------- */

const char *const gen_words[] = {
        "the", "of", "and", "to", "in", "for", "is", "on", "that", "by", "this", "with", "you",
        "it", "not", "or", "be", "are", "from", "at", "as", "your", "all", "have", "new", "more",
        "an", "was", "we", "will", "can", "about", "if", "my", "has", "but", "our", "one", "other",
        "do", "no", "they", "he", "up", "may", "what", "which", "their", "out", "use", "any",
        "there", "see", "only", "so", "his", "when", "here", "who", "also", "now", "get", "first",
        "been", "would", "how", "were", "some", "these", "its", "like", "than", "time", "could",
        "should", "please", "thanks", "meeting", "report", "budget", "review", "project",
        "deadline", "contract", "client", "invoice", "schedule", "draft", "proposal", "update",
        "quarter", "forecast", "approval", "attached", "agenda", "minutes", "summary", "team",
        "office", "training", "policy", "customer", "supplier", "delivery", "order", "price",
        "quote", "figures", "numbers", "sales", "marketing", "finance", "legal", "compliance",
        "audit", "server", "migration", "backup", "network", "release", "version", "issue",
        "ticket", "support", "request", "access", "account", "password", "holiday", "travel",
        "expenses", "conference", "call", "tomorrow", "today", "monday", "friday", "week",
        "month", "year", "plan", "strategy", "risk", "change", "board", "presentation", "slides",
        "document", "spreadsheet", "comments", "feedback", "question", "answer", "decision",
        "next", "steps", "action", "items", "follow", "discuss", "confirm", "agree", "signed",
        "pending", "urgent", "reminder", "available", "room", "lunch", "site", "visit", "warehouse",
        "shipment", "inventory", "pipeline", "revenue", "cost", "margin", "headcount", "hiring",
};
const size_t gen_n_words = ELEMENTSOF(gen_words);

/* ---- attachment byte pool -------------------------------------------------- */

#define SEGMENT (64 * KIB)

int gen_bytes_build(struct gen_bytes *b, uint64_t seed, size_t size)
{
        struct gen_rng r;
        uint8_t *d;

        size = ALIGN_UP(size, SEGMENT);
        d = malloc(size + GEN_ATTACH_MAX);
        if (!d)
                return -ENOMEM;
        gen_rng_seed(&r, gen_mix(seed, 0xB17E5));
        /* Per segment: 40 % noise (compressed formats), 35 % text, 25 %
         * records (the repetitive structure of office files and logs). */
        for (size_t off = 0; off < size + GEN_ATTACH_MAX; off += SEGMENT) {
                size_t end = MIN(off + SEGMENT, size + GEN_ATTACH_MAX);
                uint64_t kind = gen_rng_below(&r, 100);

                if (kind < 40) {
                        for (size_t i = off; i < end; i += 8) {
                                uint64_t v = gen_rng_next(&r);

                                memcpy(d + i, &v, MIN((size_t)8, end - i));
                        }
                } else if (kind < 75) {
                        size_t i = off;

                        while (i < end) {
                                const char *w = gen_words[gen_rng_below(&r, gen_n_words)];
                                size_t n = strlen(w);
                                uint64_t x = gen_rng_below(&r, 16);

                                n = MIN(n, end - i);
                                memcpy(d + i, w, n);
                                i += n;
                                if (i < end)
                                        d[i++] = x == 0 ? '\n' : x == 1 ? '.' : ' ';
                        }
                } else {
                        size_t i = off;
                        uint32_t rec = (uint32_t)gen_rng_next(&r);

                        while (i < end) {
                                char line[64];
                                int n = snprintf(line, sizeof(line), "%08x;%u;%s;0000;\r\n", rec++,
                                                 (unsigned)gen_rng_below(&r, 100000),
                                                 gen_words[gen_rng_below(&r, gen_n_words)]);
                                size_t k = MIN((size_t)n, end - i);

                                memcpy(d + i, line, k);
                                i += k;
                        }
                }
        }
        b->data = d;
        b->size = size;
        return 0;
}

void gen_bytes_free(struct gen_bytes *b)
{
        free(b->data);
        *b = (struct gen_bytes){};
}

/* ---- people ---------------------------------------------------------------- */

static const char *const first_names[] = {
        "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
        "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
        "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty",
        "Anthony", "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul",
        "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
        "Brian", "Dorothy", "George", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie",
        "Edward", "Rebecca", "Jason", "Sharon", "Jeffrey", "Laura", "Ryan", "Cynthia", "Jacob",
        "Kathleen", "Gary", "Amy", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna",
        "Stephen", "Brenda", "Larry", "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon",
        "Helen", "Benjamin", "Samantha", "Samuel", "Katherine", "Gregory", "Christine", "Frank",
        "Debra", "Alexander", "Rachel", "Raymond", "Carolyn", "Patrick", "Janet", "Jack",
        "Catherine", "Dennis", "Maria", "Jerry", "Heather", "Tyler", "Diane", "Aaron", "Ruth",
        "José", "Zoë", "Søren", "Chloé", "Björn", "Renée",
};

static const char *const last_names[] = {
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
        "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
        "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
        "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
        "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
        "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
        "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
        "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
        "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward",
        "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza",
        "Ruiz", "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long",
        "Ross", "Foster", "Jiménez", "Müller", "O'Brien", "Søndergaard",
};

static const char *const external_domains[] = {
        "fabrikam.com", "northwindtraders.com", "adventure-works.com", "tailspintoys.com",
        "wingtiptoys.com", "litwareinc.com", "proseware.com", "lucernepublishing.com",
        "margiestravel.com", "treyresearch.net", "gmail.com", "hotmail.com", "yahoo.com",
        "outlook.com",
};

static const char *const org_domains[] = {
        "contoso.com", "contoso-corp.com", "woodgrovebank.com", "fourthcoffee.com",
        "alpineskihouse.com", "cohovineyard.com",
};

/* Lower-case ASCII letters of s (accents dropped, apostrophes removed). */
static void ascii_lower(char *out, size_t outlen, const char *s)
{
        size_t o = 0;

        for (; *s && o + 1 < outlen; s++) {
                unsigned char c = (unsigned char)*s;

                if (c >= 'A' && c <= 'Z')
                        out[o++] = (char)(c - 'A' + 'a');
                else if (c >= 'a' && c <= 'z')
                        out[o++] = (char)c;
                else if (c == 0xC3 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0xBF)
                        /* U+00C0-U+00FF: the letter without its accent. */
                        out[o++] = "aaaaaaaceeeeiiiidnoooooxouuuuyts"[(unsigned char)*++s & 0x1F];
        }
        out[o] = 0;
}

int gen_people_build(struct gen_people *pp, uint64_t seed, size_t n_internal, size_t n_external)
{
        size_t n = n_internal + n_external;
        struct gen_rng r;
        const char *org;

        pp->p = calloc(n, sizeof(*pp->p));
        if (!pp->p)
                return -ENOMEM;
        pp->n = n;
        pp->n_internal = n_internal;
        gen_rng_seed(&r, gen_mix(seed, 0x9E091E));
        org = org_domains[gen_rng_below(&r, ELEMENTSOF(org_domains))];
        for (size_t i = 0; i < n; i++) {
                struct gen_person *p = &pp->p[i];
                const char *fn = first_names[gen_rng_below(&r, ELEMENTSOF(first_names))];
                const char *ln = last_names[gen_rng_below(&r, ELEMENTSOF(last_names))];
                char f[32], l[32];

                ascii_lower(f, sizeof(f), fn);
                ascii_lower(l, sizeof(l), ln);
                snprintf(p->name, sizeof(p->name), "%s %s", fn, ln);
                /* The index makes addresses and logins unique, as a directory would. */
                if (i < n_internal) {
                        snprintf(p->smtp, sizeof(p->smtp), "%s.%s%zu@%s", f, l, i, org);
                        snprintf(p->login, sizeof(p->login), "%c%.20s%zu", f[0], l, i);
                } else {
                        snprintf(p->smtp, sizeof(p->smtp), "%s.%s%zu@%s", f, l, i,
                                 external_domains[gen_rng_below(&r, ELEMENTSOF(external_domains))]);
                        snprintf(p->login, sizeof(p->login), "x%zu", i);
                }
        }
        return 0;
}

void gen_people_free(struct gen_people *pp)
{
        free(pp->p);
        *pp = (struct gen_people){};
}
