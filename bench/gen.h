/* SPDX-License-Identifier: MIT
 *
 * gen.h - what the pieces of bench/gen-estate share: a seeded PRNG, a
 * per-item arena, the content pools (synthetic bytes, harvested corpus
 * text), item synthesis, the item content hash and corruption injection.
 *
 * Everything is a pure function of the seeds it is given: the same seed
 * gives the same item, byte for byte, in any thread and any run.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pstream/pst.h"

/* ---- PRNG: splitmix64 to seed, xoshiro256** to draw ----------------------- */

struct gen_rng {
        uint64_t s[4];
};

uint64_t gen_mix(uint64_t a, uint64_t b); /* a strong 2-to-1 hash for deriving seeds */
void gen_rng_seed(struct gen_rng *r, uint64_t seed);
uint64_t gen_rng_next(struct gen_rng *r);
uint64_t gen_rng_below(struct gen_rng *r, uint64_t n); /* [0, n), n > 0 */
double gen_rng_unit(struct gen_rng *r);                /* [0, 1) */
/* exp(N(log(median), sigma)) clamped to [lo, hi] */
double gen_rng_lognormal(struct gen_rng *r, double median, double sigma, double lo, double hi);

/* ---- arena: the memory of one item, freed all at once --------------------- */

struct gen_arena {
        struct gen_chunk *head;
        size_t chunk_size;
};

void *gen_alloc(struct gen_arena *a, size_t len); /* aborts on ENOMEM (a bench tool) */
char *gen_strdup(struct gen_arena *a, const char *s);
char *gen_printf(struct gen_arena *a, const char *fmt, ...)
        __attribute__((format(printf, 2, 3), nonnull(2)));
void gen_arena_reset(struct gen_arena *a); /* keeps the first chunk */
void gen_arena_free(struct gen_arena *a);

/* ---- shared read-only pools ----------------------------------------------- */

/* Words of office mail; the first 64 are the commonest English words. */
extern const char *const gen_words[];
extern const size_t gen_n_words;

/* Bytes that attachments are cut from: segments of text, structured records
 * and incompressible noise, so that attachments compress like real ones
 * (office documents and text well, JPEG/ZIP not at all).  Built once. */
struct gen_bytes {
        uint8_t *data;
        size_t size; /* usable start offsets: [0, size - GEN_ATTACH_MAX] */
};

#define GEN_ATTACH_MAX (12u * 1024 * 1024)

int gen_bytes_build(struct gen_bytes *b, uint64_t seed, size_t size);
void gen_bytes_free(struct gen_bytes *b);

/* A message harvested from a real PST: its subject, plain body (may be
 * NULL) and attachments by value. */
struct gen_corpus_attach {
        char *filename;
        char *mime;
        uint8_t *data;
        size_t len;
};

struct gen_corpus_msg {
        char *subject;
        char *body;
        size_t body_len;
        struct gen_corpus_attach *attach;
        size_t n_attach;
};

struct gen_corpus {
        struct gen_corpus_msg *msgs;
        size_t n_msgs;
        size_t bytes;    /* held, capped by gen_corpus_load's cap */
        unsigned files;  /* PSTs read */
        unsigned failed; /* PSTs that could not be read at all */
};

/* Harvest the messages of every PST under each path (a file or a directory,
 * walked recursively, in name order so the pool is deterministic) while the
 * pool holds under cap bytes. */
int gen_corpus_load(struct gen_corpus *c, char *const *paths, size_t n_paths, size_t cap);

/* Decode every message of the PST at path with pstream's reader and print
 * "HASH<TAB>NID" per message (gen_item_hash, decimal NID) to out: the
 * reader's view of the items, to hold against the manifest.  A message
 * that cannot be decoded is reported on stderr.  Returns 0, -EBADMSG when
 * some message could not be decoded, or -errno when the file cannot be
 * walked. */
int gen_item_hashes(const char *path, FILE *out);
void gen_corpus_free(struct gen_corpus *c);

/* ---- the directory of people ---------------------------------------------- */

struct gen_person {
        char name[64];  /* "Jane Smith" */
        char smtp[96];  /* "jane.smith@contoso.com" */
        char login[48]; /* "jsmith", unique */
};

struct gen_people {
        struct gen_person *p;
        size_t n;
        size_t n_internal; /* the first n_internal are the organisation's */
};

int gen_people_build(struct gen_people *pp, uint64_t seed, size_t n_internal, size_t n_external);
void gen_people_free(struct gen_people *pp);

/* ---- items ---------------------------------------------------------------- */

/* What a mailbox looks like, fixed for all its files. */
struct gen_mailbox_ctx {
        const struct gen_people *people;
        const struct gen_bytes *bytes;
        const struct gen_corpus *corpus;
        size_t owner;              /* index into people */
        const uint32_t *contacts;  /* people this mailbox corresponds with */
        size_t n_contacts;
        int64_t t_start, t_end;    /* Unix seconds: the mailbox's active years */
        unsigned n_folders;        /* folder roles are chosen below this */
        double embedded_rate;      /* share of messages forwarding one as an attachment */
        double corpus_rate;        /* share of messages built on a corpus message */
};

/* Folder roles: 0 Inbox, 1 Sent Items, 2 Junk Email, others user folders. */
#define GEN_FOLDER_INBOX 0u
#define GEN_FOLDER_SENT 1u

struct gen_item {
        struct pst_msg msg;
        unsigned folder;      /* index into the mailbox's folders */
        uint64_t bytes;       /* bodies + attachment bytes: for the size budget */
        uint32_t attachments; /* top-level attachment rows */
        uint32_t embedded;    /* of those, embedded messages */
};

/* Build the item of item_seed in a (its memory is the arena's). */
void gen_item_make(const struct gen_mailbox_ctx *mb, uint64_t item_seed, struct gen_arena *a,
                   struct gen_item *ret);

/* ---- the item content hash ------------------------------------------------ */

/* XXH3-128 of the canonical serialisation defined in bench/README.md
 * ("Item content hash"): the identity of an item for dedup, independent of
 * the file, folder and node it sits in. */
void gen_item_hash(const struct pst_msg *m, uint8_t ret[16]);

/* ---- corruption ----------------------------------------------------------- */

enum gen_corrupt_kind {
        GEN_CORRUPT_NONE,
        GEN_CORRUPT_BLOCK_CRC, /* one byte of a message's data block flipped */
        GEN_CORRUPT_TRUNCATE,  /* the file cut short */
        GEN_CORRUPT_BT_CYCLE,  /* a node B-tree page pointing back at itself */
};

struct gen_corrupt {
        enum gen_corrupt_kind kind;
        uint64_t offset; /* the damaged block or page; the new size when truncated */
        uint32_t nid;    /* block-crc: the message whose data block it is */
};

const char *gen_corrupt_name(enum gen_corrupt_kind k);

/* Damage the finished Unicode PST open on fd (read-write) as kind says,
 * choosing where with rng.  Returns 0 and fills *ret, or -errno. */
int gen_corrupt_file(int fd, enum gen_corrupt_kind kind, struct gen_rng *rng,
                     struct gen_corrupt *ret);
