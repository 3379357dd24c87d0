/* SPDX-License-Identifier: MIT
 *
 * pst-internal.h - what the files of pst/ share: the decoder object, its
 * cache of fed extents, the NDB layer (B-trees, blocks, data trees) and the
 * LTP layer (heap-on-node, BTH, property context).  Exported with a pst_
 * prefix so tests/pst can drive each layer; not part of the public API.
 *
 * Ownership: pointers returned into fed bytes (pst_file_get) stay valid
 * until the next pst_file_feed() or pst_file_free(); struct pst_data owns
 * its decoded bytes until pst_data_done().
 */
#pragma once

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/base/macro.h"
#include "pstream/pst.h"

/* Special NIDs ([MS-PST] 2.4.1). */
#define PST_NID_MESSAGE_STORE 0x21u

/* nidType of a HID inside a heap ([MS-PST] 2.3.1.1). */
#define PST_NID_TYPE_HID 0x00u

/* Page types (PAGETRAILER.ptype). */
#define PST_PTYPE_BBT 0x80u
#define PST_PTYPE_NBT 0x81u

/* Property types: the PST_PT_* enum of pstream/pst.h. */

/* Properties of the message store PC ([MS-PST] 2.4.3). */
#define PST_PID_DISPLAY_NAME 0x3001u
#define PST_PID_PST_PASSWORD 0x67FFu

/* Largest heap (HN data tree) read into memory: real heaps are a few
 * hundred KiB even for folders of 100k messages (the row matrix lives in a
 * subnode); the cap keeps a forged lcbTotal from costing more. */
#define PST_MAX_HEAP_BYTES (64 * MIB)
/* Longest string value read for names, subjects and classes. */
#define PST_MAX_STRING_BYTES (1 * MIB)
/* Data blocks one data tree may list; XXBLOCKs could name 67M in 4K files. */
#define PST_MAX_DATA_BLOCKS (1u << 20)
/* BTH levels (bIdxLevels): real heaps use 0 or 1. */
#define PST_MAX_BTH_LEVELS 8u
/* Coalesce wanted blocks near each other on disk, asking for at most this
 * many bytes between them in one want. */
#define PST_WANT_GAP (4 * KIB)
/* Never ask for more than this in one want when coalescing blocks. */
#define PST_WANT_MAX (1 * MIB)

/* Geometry of one on-disk variant ([MS-PST] 2.2.2, PST_FORMAT.md 1.1). */
struct pst_geom {
        uint32_t page_size;     /* 512, or 4096 in 4K files */
        uint32_t page_trailer;  /* 12 / 16 / 24 */
        uint32_t bt_area;       /* bytes of rgentries in a BTPAGE */
        uint32_t block_trailer; /* 12 / 16 / 24 */
        uint32_t block_align;   /* 64, or 512 in 4K files */
        uint32_t block_max;     /* largest on-disk block span, trailer included */
        uint32_t id_size;       /* BIDs, IBs and NBT NIDs: 4 (ANSI) or 8 bytes */
        bool wide_counts;       /* 4K: cEnt/cEntMax are 16-bit */
};

/* One fed range of the file. */
struct pst_extent {
        uint64_t off;
        uint32_t len;
        uint64_t lru;   /* clock of the last use, for eviction */
        uint64_t epoch; /* f->epoch of the last use: pinned while the operation runs */
        /* A page or block at off whose trailer and CRC were checked once,
         * so repeated lookups skip the CRC: vkind 0 = not verified. */
        uint8_t vkind;
        uint64_t vbid;
        uint8_t data[];
};

struct pst_file {
        struct pst_header hdr;
        struct pst_geom g;
        uint64_t file_size;
        struct pst_limits lim;

        struct pst_extent **ext; /* sorted by off */
        size_t n_ext, cap_ext;
        uint64_t cache_bytes;
        uint32_t max_ext_len; /* longest extent ever stored, bounds the lookup */
        uint64_t clock;
        /* Bumped when an operation finishes (returns anything but -EAGAIN):
         * extents used since then belong to the running operation and are
         * not evicted, so a restart always makes progress. */
        uint64_t epoch;
        int feed_err; /* a feed that could not be kept, reported by the next operation */
        bool have_last_want;
        struct pst_want last_want;

        /* pst_file_borrow(): the whole file, lent by the caller. */
        const uint8_t *image;
        /* Pages and blocks of the image whose trailer and CRC were checked
         * (open addressing on off, off+1 stored, 0 = empty); cleared when
         * full, so it stays bounded whatever the file's size. */
        struct pst_verified *verified;
        size_t n_verified;

        struct pst_namemap *names; /* the name-to-id map, once read (message.c) */
};

struct pst_verified {
        uint64_t off1; /* offset + 1 */
        uint64_t bid;
        uint8_t kind;
};

/* ---- diagnostics (file.c) ------------------------------------------- */

/* Fill diag (may be NULL) with a printf-style message and offset; returns r
 * so callers can write `return pst_diag_set(...)`. */
int pst_diag_set(struct pst_diag *diag, int r, uint64_t offset, const char *fmt, ...) _printf_(4, 5);

/* ---- the cache of fed bytes (file.c) -------------------------------- */

/* Bytes [off, off+len) of the file from one fed extent: 0 with *ret (and
 * *ret_ext, may be NULL) set, or -EAGAIN with *want set to exactly that
 * range.  The caller has checked that the range lies inside the file. */
int pst_file_get(struct pst_file *f, uint64_t off, uint32_t len, const uint8_t **ret,
                 struct pst_extent **ret_ext, struct pst_want *want);

/* Is [off, off+len) fed (without marking it used)? */
bool pst_file_has(const struct pst_file *f, uint64_t off, uint32_t len);

/* Was the page or block at off (got with pst_file_get(), e its extent)
 * checked as kind and bid already?  _set records that it was. */
bool pst_file_verified(const struct pst_file *f, const struct pst_extent *e, uint64_t off,
                       uint8_t kind, uint64_t bid);
void pst_file_set_verified(struct pst_file *f, struct pst_extent *e, uint64_t off, uint8_t kind,
                           uint64_t bid);

/* The name-to-id map's memory (message.c), released with the file. */
void pst_namemap_free(struct pst_namemap *m);

/* Bracket a public operation: _begin reports a pending feed error, _end
 * turns a repeated identical want into -EIO (the caller did not feed it)
 * and unpins the cache when the operation finishes. */
int pst_op_begin(struct pst_file *f, struct pst_diag *diag);
int pst_op_end(struct pst_file *f, int r, const struct pst_want *want, struct pst_diag *diag);

/* ---- encodings (crypt.c) -------------------------------------------- */

void pst_permute_decode(uint8_t *p, size_t n);
void pst_permute_encode(uint8_t *p, size_t n);
/* NDB_CRYPT_CYCLIC, its own inverse; key is the BID (bit 0 is cleared here). */
void pst_cyclic(uint8_t *p, size_t n, uint64_t bid);
/* Decode an external block's bytes in place per the file's method. */
void pst_block_decode(enum pst_crypt c, uint64_t bid, uint8_t *p, size_t n);

/* ---- NDB (ndb.c) ---------------------------------------------------- */

static inline uint16_t pst_wsig(uint64_t ib, uint64_t bid)
{
        uint32_t v = (uint32_t)((ib ^ bid) & 0xFFFFFFFFu);

        return (uint16_t)((v >> 16) ^ (v & 0xFFFFu));
}

/* BIDs: bit 0 reserved (readers clear it), bit 1 marks internal blocks. */
#define PST_BID_INTERNAL 0x2u
static inline uint64_t pst_bid_clean(uint64_t bid)
{
        return bid & ~(uint64_t)1;
}

struct pst_nbt_entry {
        uint32_t nid;
        uint64_t bid_data;
        uint64_t bid_sub;
        uint32_t nid_parent;
};

struct pst_bbt_entry {
        uint64_t bid;
        uint64_t ib;
        uint16_t cb;   /* stored size (compressed in 4K files) */
        uint16_t cref;
};

/* Find nid in the node B-tree / bid in the block B-tree.  -ENOENT when
 * absent, -EAGAIN with *want, -EBADMSG on a corrupt page. */
int pst_nbt_lookup(struct pst_file *f, uint32_t nid, struct pst_nbt_entry *ret,
                   struct pst_want *want, struct pst_diag *diag);
int pst_bbt_lookup(struct pst_file *f, uint64_t bid, struct pst_bbt_entry *ret,
                   struct pst_want *want, struct pst_diag *diag);

/* A node's data stream, split at its data blocks (the heap layer needs the
 * boundaries; value readers concatenate). */
struct pst_data_block {
        uint8_t *p;
        uint32_t len;
        uint64_t bid; /* for diagnostics */
        uint64_t ib;
};

struct pst_data {
        uint8_t *buf; /* one allocation holding every block back to back */
        uint64_t size;
        uint32_t n;
        struct pst_data_block *blk;
};

/* Read the data tree rooted at bid (a data block, XBLOCK or XXBLOCK):
 * check every trailer and CRC, decode, inflate (4K), check lcbTotal.
 * -EFBIG when it holds more than max_bytes.  *ret is written on success
 * only; release it with pst_data_done(). */
int pst_data_read(struct pst_file *f, uint64_t bid, uint64_t max_bytes, struct pst_data *ret,
                  struct pst_want *want, struct pst_diag *diag);

/* The data stream of a node of the NBT (*ret_entry may be NULL). */
int pst_node_data(struct pst_file *f, uint32_t nid, uint64_t max_bytes,
                  struct pst_nbt_entry *ret_entry, struct pst_data *ret, struct pst_want *want,
                  struct pst_diag *diag);

void pst_data_done(struct pst_data *d);

/* A node: one of the NBT or a subnode ([MS-PST] 2.2.2.8.3.3).  Subnode
 * NIDs are unique only within their parent's subnode tree. */
struct pst_node {
        uint32_t nid;
        uint64_t bid_data;
        uint64_t bid_sub; /* 0: no subnode tree */
};

/* Find nid in the subnode tree rooted at bid_sub (SLBLOCK, or SIBLOCKs over
 * SLBLOCKs; cLevel must strictly decrease, so no lookup loops).  -ENOENT
 * when absent or bid_sub is 0. */
int pst_subnode_lookup(struct pst_file *f, uint64_t bid_sub, uint32_t nid, struct pst_node *ret,
                       struct pst_want *want, struct pst_diag *diag);

/* nid as a subnode of parent, or from the NBT when parent is NULL. */
int pst_node_lookup(struct pst_file *f, const struct pst_node *parent, uint32_t nid,
                    struct pst_node *ret, struct pst_want *want, struct pst_diag *diag);

/* Logical size of the data tree at bid without reading its data blocks
 * (lcbTotal, the BBT cb, or a 4K block's cbInflated); bid 0 has size 0. */
int pst_data_size(struct pst_file *f, uint64_t bid, uint64_t *ret, struct pst_want *want,
                  struct pst_diag *diag);

/* ---- LTP (ltp.c) ---------------------------------------------------- */

/* A heap-on-node over a node's data stream (borrowed). */
struct pst_hn {
        const struct pst_data *d;
        uint32_t nid; /* for diagnostics */
        uint8_t client_sig;
        uint32_t hid_user_root;
};

/* Check HNHDR, every HNPAGEHDR/HNBITMAPHDR and HNPAGEMAP. */
int pst_hn_init(struct pst_hn *hn, const struct pst_data *d, uint32_t nid, struct pst_diag *diag);

/* Resolve a HID to its allocation.  HID 0 gives len 0 (an empty value). */
int pst_hn_get(const struct pst_hn *hn, uint32_t hid, const uint8_t **ret, uint32_t *ret_len,
               struct pst_diag *diag);

/* A BTree-on-Heap. */
struct pst_bth {
        const struct pst_hn *hn;
        uint8_t cb_key;
        uint8_t cb_ent;
        uint8_t levels;
        uint32_t hid_root;
};

int pst_bth_init(struct pst_bth *b, const struct pst_hn *hn, uint32_t hid, struct pst_diag *diag);

/* Find key (cb_key bytes, little-endian) and point *ret at its cb_ent data
 * bytes.  -ENOENT when absent. */
int pst_bth_lookup(const struct pst_bth *b, const uint8_t *key, const uint8_t **ret,
                   struct pst_diag *diag);

/* Call fn for every leaf record in key order; a non-zero return from fn
 * stops the walk and is returned. */
typedef int (*pst_bth_fn)(void *ctx, const uint8_t *key, const uint8_t *data);
int pst_bth_foreach(const struct pst_bth *b, pst_bth_fn fn, void *ctx, struct pst_diag *diag);

/* A property context: an HN with bClientSig 0xBC whose BTH maps
 * wPropId -> (wPropType, dwValueHnid). */
struct pst_pc {
        struct pst_hn hn;
        struct pst_bth bth;
};

int pst_pc_init(struct pst_pc *pc, const struct pst_data *d, uint32_t nid, struct pst_diag *diag);

/* A property value as stored in a PC or TC (the public struct pst_prop is
 * the decoded form, message.c). */
struct pst_rawprop {
        uint16_t id;
        uint16_t type;
        uint32_t hnid;    /* dwValueHnid as stored */
        const uint8_t *p; /* the value (inline ones point into the record) */
        uint32_t len;
        bool in_subnode;  /* p/len unset: the value is subnode hnid (pst_prop_resolve) */
};

/* Get property id.  -ENOENT when absent; -ENOTSUP for a type this layer
 * does not know.  A value kept in a subnode is returned with in_subnode. */
int pst_pc_get(const struct pst_pc *pc, uint16_t id, struct pst_rawprop *ret, struct pst_diag *diag);

/* The same for a record of the PC's BTH (its 6 data bytes), e.g. from
 * pst_bth_foreach(). */
int pst_pc_record(const struct pst_pc *pc, uint16_t id, const uint8_t *rec, struct pst_rawprop *ret,
                  struct pst_diag *diag);

/* Point an in_subnode prop at its value: read subnode prop->hnid of owner
 * (the node whose heap holds the HNID) into *hold (at most max_bytes;
 * release with pst_data_done).  Props not in a subnode are left as they are. */
int pst_prop_resolve(struct pst_file *f, const struct pst_node *owner, struct pst_rawprop *prop,
                     uint64_t max_bytes, struct pst_data *hold, struct pst_want *want,
                     struct pst_diag *diag);

/* A string prop (String8 or Unicode) as UTF-8 in out; -EBADMSG for another type. */
int pst_prop_string(const struct pst_rawprop *prop, char *out, size_t outsz);

/* ---- table context (tc.c) ------------------------------------------- */

/* Rows one table may have: 4M, far above Outlook's practical folder sizes. */
#define PST_MAX_TC_ROWS (1u << 22)
/* Largest row matrix read into memory. */
#define PST_MAX_TC_MATRIX_BYTES (256 * MIB)

struct pst_tc_col {
        uint32_t tag; /* wPropType | wPropId << 16 */
        uint16_t ib;
        uint8_t cb;
        uint8_t ibit;
};

struct pst_tc {
        struct pst_hn hn;
        uint8_t c_cols;
        struct pst_tc_col col[256];
        uint16_t end_4b, end_2b, end_1b, row_size;
        uint32_t hnid_rows;     /* 0, a HID, or a subnode NID of the table's node */
        uint32_t n_index;       /* records of the row index */
        /* The row matrix, split at its blocks (rows never straddle them). */
        const struct pst_data *rows;
        struct pst_data heap_rows; /* when hnid_rows is a HID: one block in the heap */
        struct pst_data_block heap_rows_blk;
        uint32_t n_rows;        /* rows of the matrix, at most n_index */
};

/* Parse TCINFO, the columns and the row index of the heap in d.  When
 * hnid_rows is a HID the row matrix is set up too; when it names a subnode
 * (rows_in_subnode) read that subnode's data and call pst_tc_set_rows(). */
int pst_tc_init(struct pst_tc *tc, const struct pst_data *d, uint32_t nid, struct pst_diag *diag);

static inline bool pst_tc_rows_in_subnode(const struct pst_tc *tc)
{
        return tc->hnid_rows != 0 && (tc->hnid_rows & 0x1F) != PST_NID_TYPE_HID;
}

/* Give the table its row matrix read from subnode tc->hnid_rows (borrowed). */
int pst_tc_set_rows(struct pst_tc *tc, const struct pst_data *rows, struct pst_diag *diag);

/* Row i (< tc->n_rows): row_size bytes. */
const uint8_t *pst_tc_row(const struct pst_tc *tc, uint32_t i);

/* Cell of column id in row: -ENOENT when there is no such column or its
 * CEB bit is clear.  Fixed-size cells point into the row; others are
 * HNIDs resolved in the table's heap (or returned in_subnode). */
int pst_tc_cell(const struct pst_tc *tc, const uint8_t *row, uint16_t id, struct pst_rawprop *ret,
                struct pst_diag *diag);

/* UTF-16LE (no terminator) to NUL-terminated UTF-8 in out[outsz]: stops
 * at U+0000, replaces unpaired surrogates and an odd last byte with
 * U+FFFD, truncates on a character boundary.  Returns bytes written. */
size_t pst_utf16le_to_utf8(const uint8_t *in, size_t len, char *out, size_t outsz);

/* 8-bit string copied as is (the codepage is the caller's business), NUL-
 * terminated, stopping at NUL.  Returns bytes written. */
size_t pst_string8_copy(const uint8_t *in, size_t len, char *out, size_t outsz);

/* ---- arena (arena.c) ------------------------------------------------ */

/* Memory of one decoded message: bump allocation in chunks, plus buffers
 * adopted from elsewhere (decoded node data), all freed at once.  Every
 * byte counts against budget: -EFBIG past it. */
struct pst_arena_chunk;

struct pst_arena {
        struct pst_arena_chunk *head;
        void **owned;
        size_t n_owned, cap_owned;
        uint64_t bytes, budget;
};

/* n bytes, 8-byte aligned, not zeroed: 0 with *ret, -EFBIG, -ENOMEM. */
int pst_arena_alloc(struct pst_arena *a, size_t n, void **ret);
/* The same, zeroed, for count elements of size bytes (overflow-checked). */
int pst_arena_calloc(struct pst_arena *a, size_t count, size_t size, void **ret);
/* Take d's buffers (freed with the arena); d is emptied either way.  With
 * ret, *ret is a copy of d kept in the arena (for heaps and tables, which
 * keep pointing at their struct pst_data). */
int pst_arena_adopt(struct pst_arena *a, struct pst_data *d, const struct pst_data **ret);
/* Bytes still allowed. */
uint64_t pst_arena_left(const struct pst_arena *a);
void pst_arena_done(struct pst_arena *a);
