/* SPDX-License-Identifier: MIT
 *
 * write-internal.h - what the writer's files share (see pst-write.h):
 *   write-ndb.c  file space, blocks, data and subnode trees, NBT/BBT,
 *                allocation maps, density list, header;
 *   write-ltp.c  heap-on-node, BTH, property and table contexts;
 *   write.c      the messaging layer: store, folders, messages, name map.
 *
 * Everything is appended at the end of the file as it is produced; what
 * must wait for pstw_close() is kept small: one leaf page of each B-tree,
 * one reference per written leaf page (24 bytes per 15-20 nodes/blocks), one
 * open heap and row buffer per folder table, the folder list and the
 * named-property map.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pst/pst-internal.h"
#include "pstream/pst-write.h"

/* Unicode geometry ([MS-PST] 2.2.2.7, 2.2.2.8). */
#define PSTW_PAGE 512u
#define PSTW_BLOCK_DATA 8176u /* data bytes of a block */
#define PSTW_BLOCK_TRAILER 16u
#define PSTW_XBLOCK_BIDS 1021u    /* (8176 - 8) / 8 BIDs per XBLOCK/XXBLOCK */
#define PSTW_SL_ENTRIES 340u      /* (8176 - 8) / 24 SLENTRYs per SLBLOCK */
#define PSTW_SI_ENTRIES 510u      /* (8176 - 8) / 16 SIENTRYs per SIBLOCK */
#define PSTW_HN_ALLOC_MAX 3580u   /* largest heap allocation ([MS-PST] 2.3.1) */
#define PSTW_HN_MAX_BLOCKS 65535u /* hidBlockIndex is 16 bits */
#define PSTW_HN_MAX_ALLOCS 2047u  /* hidIndex is 11 bits */
#define PSTW_MAX_DEPTH 16u        /* embedded messages in embedded messages */

/* Allocation maps ([MS-PST] 2.2.2.7.2-2.2.2.7.5). */
#define PSTW_DLIST_IB 0x4200u
#define PSTW_AMAP_FIRST 0x4400u
#define PSTW_AMAP_SPAN (496u * 8u * 64u) /* bytes one AMap page maps: 253,952 */

/* NID types ([MS-PST] 2.2.2.1). */
enum {
        NT_INTERNAL = 0x01,
        NT_NORMAL_FOLDER = 0x02,
        NT_SEARCH_FOLDER = 0x03,
        NT_NORMAL_MESSAGE = 0x04,
        NT_ATTACHMENT = 0x05,
        NT_ASSOC_MESSAGE = 0x08,
        NT_HIERARCHY_TABLE = 0x0D,
        NT_CONTENTS_TABLE = 0x0E,
        NT_ASSOC_CONTENTS_TABLE = 0x0F,
        NT_ATTACHMENT_TABLE = 0x11,
        NT_RECIPIENT_TABLE = 0x12,
        NT_LTP = 0x1F,
};

static inline uint32_t pstw_nid(uint32_t index, uint32_t type)
{
        return index << 5 | type;
}

/* A growable array of fixed-size items. */
struct pstw_vec {
        void *p;
        size_t n, cap, size;
};

int pstw_vec_push(struct pstw_vec *v, const void *item);
void pstw_vec_free(struct pstw_vec *v);
#define PSTW_VEC(type) ((struct pstw_vec){ .size = sizeof(type) })
#define PSTW_AT(v, type, i) (((type *)(v)->p)[i])

/* One reference of a B-tree level: the smallest key below it and where. */
struct pstw_ref {
        uint64_t key;
        uint64_t bid;
        uint64_t ib;
};

/* A B-tree of pages (NBT or BBT): leaf pages are written as soon as they
 * are full, their references are kept for the upper levels. */
struct pstw_bt {
        uint8_t ptype;
        unsigned cb_ent, c_max;
        uint8_t page[PSTW_PAGE];
        unsigned n;
        uint64_t first_key, last_key;
        bool any;
        struct pstw_vec refs; /* struct pstw_ref, one per written leaf */
};

/* A data block of a data tree: its BID and logical length. */
struct pstw_dblk {
        uint64_t bid;
        uint32_t len;
};

/* A subnode entry (SLENTRY). */
struct pstw_sn {
        uint32_t nid;
        uint64_t bid_data;
        uint64_t bid_sub;
};

struct pstw_folder;
struct pstw_named_map;

struct pstw {
        int fd;
        int err;
        struct pst_diag diag;
        enum pst_crypt crypt;
        struct pstw_opts opts;
        uint8_t record_key[16];

        uint64_t eof;      /* next free byte */
        uint64_t bid_next; /* next block BID (bidNextB) */
        uint64_t pid_next; /* next page BID (bidNextP) */
        uint32_t unique;

        /* Appends not yet written: [wbuf_off, wbuf_off + wbuf_len). */
        uint8_t *wbuf;
        uint64_t wbuf_off;
        size_t wbuf_len;

        /* The AMap region being filled, its bits and what sealed ones left. */
        uint64_t region;
        uint8_t amap[496];
        uint64_t amap_free;    /* free bytes of sealed regions */
        uint64_t n_regions;    /* sealed */
        uint8_t fmap[496];     /* the FMap page being filled */
        uint64_t fmap_ib;      /* 0: none pending */
        struct pstw_vec dlist; /* uint32_t DLISTPAGEENT, at most 119 kept */

        struct pstw_bt bbt;
        struct pstw_bt nbt;    /* message nodes, in NID order as they come */
        struct pstw_vec nodes; /* struct pst_nbt_entry written at close */

        /* Messaging (write.c). */
        uint32_t next_folder_index;
        uint32_t next_message_index;
        struct pstw_vec folders; /* struct pstw_folder * */
        struct pstw_named_map *named;
};

/* ---- write-ndb.c ------------------------------------------------------- */

/* Remember the first error (with a message); returns r. */
int pstw_fail(struct pstw *w, int r, const char *fmt, ...) _printf_(3, 4);

int pstw_ndb_init(struct pstw *w);
void pstw_ndb_free(struct pstw *w);

/* Write one block of len (<= PSTW_BLOCK_DATA) bytes: external blocks are
 * encoded per the file's method.  *ret_bid is its BID. */
int pstw_block(struct pstw *w, const void *data, size_t len, bool internal, uint64_t *ret_bid);

/* A data tree over n blocks already written: the block itself, an XBLOCK,
 * or an XXBLOCK over XBLOCKs.  n == 0 gives BID 0. */
int pstw_data_tree(struct pstw *w, const struct pstw_dblk *blk, size_t n, uint64_t *ret_bid);

/* Write a byte stream as a data tree (len 0 gives BID 0). */
int pstw_stream(struct pstw *w, const void *data, uint64_t len, uint64_t *ret_bid);

/* Write a subnode tree (SLBLOCKs, one SIBLOCK above when needed) over n
 * entries (sorted here); n == 0 gives 0. */
int pstw_subtree(struct pstw *w, struct pstw_sn *sn, size_t n, uint64_t *ret_bid);

/* Add an NBT entry for a node written now: NIDs must come in increasing
 * order (messages); nodes of the folder tree go through pstw_node(). */
int pstw_nbt_add(struct pstw *w, uint32_t nid, uint64_t bid_data, uint64_t bid_sub,
                 uint32_t nid_parent);
/* An NBT entry sorted and written at close (every NID below messages'). */
int pstw_node(struct pstw *w, uint32_t nid, uint64_t bid_data, uint64_t bid_sub,
              uint32_t nid_parent);

/* Write the B-trees, the maps, the density list and the header. */
int pstw_ndb_finish(struct pstw *w, const uint32_t rgnid[32]);

/* ---- write-ltp.c ------------------------------------------------------- */

/* A heap-on-node being written.  Blocks are written as they fill, except
 * block 0 (HNHDR) and the block holding the pending HNBITMAPHDR, kept
 * until their fill levels are known. */
struct pstw_hn {
        uint8_t client_sig;
        uint8_t *cur;     /* the block being filled */
        uint32_t cur_len; /* bytes used, header included */
        uint32_t cur_index;
        uint16_t *offs; /* allocation starts in cur */
        unsigned n_offs;
        uint8_t *blk0; /* block 0 once sealed */
        uint32_t blk0_len;
        uint8_t *bm; /* the pending bitmap block (index 8 + 128k) */
        uint32_t bm_len, bm_index;
        uint8_t fill0[8];     /* fill levels of blocks 0-7 (HNHDR) */
        uint8_t fill[128];    /* of the pending bitmap block's 128 */
        struct pstw_vec blks; /* struct pstw_dblk per block index (0 and bm set at finish) */
        uint64_t total;
};

int pstw_hn_init(struct pstw_hn *hn, uint8_t client_sig);
void pstw_hn_free(struct pstw_hn *hn);
/* Allocate len (1..PSTW_HN_ALLOC_MAX) bytes holding data; *ret_hid. */
int pstw_hn_alloc(struct pstw *w, struct pstw_hn *hn, const void *data, size_t len,
                  uint32_t *ret_hid);
/* Seal and write every block; *ret_bid is the node's data tree. */
int pstw_hn_finish(struct pstw *w, struct pstw_hn *hn, uint32_t hid_user_root, uint64_t *ret_bid);

/* A BTH built bottom-up from records given in key order. */
struct pstw_bth {
        uint8_t cb_key, cb_ent;
        struct {
                uint8_t *buf;      /* PSTW_HN_ALLOC_MAX bytes, on first use */
                unsigned n;        /* records pending */
                unsigned flushed;  /* allocations written at this level */
                uint32_t last_hid; /* of the last one */
        } lv[8];
        unsigned cap[2]; /* records per allocation: leaves, intermediate */
        uint64_t last_key;
        bool any;
};

void pstw_bth_init(struct pstw_bth *b, uint8_t cb_key, uint8_t cb_ent);
void pstw_bth_free(struct pstw_bth *b);
int pstw_bth_add(struct pstw *w, struct pstw_hn *hn, struct pstw_bth *b, const uint8_t *rec);
/* Allocate the BTHHEADER; *ret_hid. */
int pstw_bth_finish(struct pstw *w, struct pstw_hn *hn, struct pstw_bth *b, uint32_t *ret_hid);

/* A property context being built: values go to the heap or, when larger
 * than an allocation, to subnodes appended to *subs. */
struct pstw_pc {
        struct pstw_hn hn;
        struct pstw_vec recs; /* uint8_t[8]: wPropId, wPropType, dwValueHnid */
        struct pstw_vec *subs;
        uint32_t next_sub; /* index of the next LTP subnode NID */
};

int pstw_pc_init(struct pstw_pc *pc, struct pstw_vec *subs);
void pstw_pc_free(struct pstw_pc *pc);
/* Add a property; value bytes are its [MS-PST] encoding (pstw_encode). */
int pstw_pc_add(struct pstw *w, struct pstw_pc *pc, uint16_t id, uint16_t type, const uint8_t *val,
                size_t len);
/* Add a property whose value is already in a subnode (or heap) HNID. */
int pstw_pc_add_hnid(struct pstw *w, struct pstw_pc *pc, uint16_t id, uint16_t type, uint32_t hnid);
int pstw_pc_finish(struct pstw *w, struct pstw_pc *pc, uint64_t *ret_bid);

/* A table context column ([MS-PST] 2.3.4.2). */
struct pstw_col {
        uint16_t id, type;
        uint16_t ib;
        uint8_t cb, ibit;
};

struct pstw_tc {
        struct pstw_hn hn;
        struct pstw_col col[256];
        unsigned n_cols;
        uint16_t rgib[4];
        uint32_t row_size, rows_per_block;
        uint8_t *rows; /* the row block being filled */
        uint32_t rows_len;
        struct pstw_vec row_blks; /* struct pstw_dblk: written row blocks */
        uint64_t rows_total;
        uint32_t n_rows;
        struct pstw_bth index;
        struct pstw_vec subs; /* struct pstw_sn: row matrix, large cells */
        uint32_t next_sub;
        uint8_t *row; /* the row being built */
};

/* Columns beyond PidTagLtpRowId/Ver, which are added. */
int pstw_tc_init(struct pstw_tc *tc, const uint32_t *tags, unsigned n_tags);
void pstw_tc_free(struct pstw_tc *tc);
/* Start a row with row id row_id (increasing from row to row). */
int pstw_tc_row_begin(struct pstw_tc *tc, uint32_t row_id);
/* Does the table have a column id of this type? */
bool pstw_tc_has(const struct pstw_tc *tc, uint16_t id, uint16_t type);
/* Set a cell of the current row (encoded as for a PC); ignored when the
 * table has no such column or the type differs. */
int pstw_tc_cell(struct pstw *w, struct pstw_tc *tc, uint16_t id, uint16_t type, const uint8_t *val,
                 size_t len);
int pstw_tc_row_end(struct pstw *w, struct pstw_tc *tc);
/* Write the table: its node's data and subnode trees. */
int pstw_tc_finish(struct pstw *w, struct pstw_tc *tc, uint64_t *ret_data, uint64_t *ret_sub);

/* The [MS-PST] 2.3.3.x encoding of a value of the item model into *ret
 * (malloc'd unless *ret_len <= 16, then in inl), NULL/0 for empty.
 * UNICODE is converted from UTF-8 to UTF-16LE. */
int pstw_encode(uint16_t type, const struct pst_prop *p, uint8_t inl[16], uint8_t **ret,
                size_t *ret_len);
/* UTF-8 to UTF-16LE (invalid sequences become U+FFFD); *ret malloc'd. */
int pstw_utf16(const char *s, size_t len, uint8_t **ret, size_t *ret_len);
/* Is a value of this type stored inline in a PC record / its TC cell size. */
bool pstw_type_inline(uint16_t type);
unsigned pstw_type_cell(uint16_t type);
bool pstw_type_known(uint16_t type);
