/* SPDX-License-Identifier: MIT
 *
 * pst-malform.c - the malformed-input set of RELIABILITY.md 1.6: targeted
 * structural damage to small valid files, written into a directory with a
 * manifest that says what each file must produce.
 *
 *     pst-malform OUTDIR CORPUS NODE_MODULES
 *
 * The structure to damage is found by parsing the file here, independently
 * of pst/ (header BREFs -> every NBT/BBT page -> a node's data block, its
 * subnode block, heap, PC, TC), then the CRCs and trailers in front of the
 * damaged check are put right so the damage reaches that check (a variant
 * keeps the CRC wrong where the CRC is the check).  Only the encodings of
 * pst/crypt.c and the CRC of pst/crc.c are borrowed.
 *
 * OUTDIR/cases.tsv, one line per file:
 *     case  file  source  exits  substring  lost_msgs  lost_folders  reach
 *  - source: the undamaged file (its inspect is the reference), or "-";
 *  - exits: the allowed exit codes of `pstream inspect`, e.g. "1" or "0,1";
 *  - substring: what the report must contain (a problem message, or stderr
 *    for exit 3; "a|b" for alternatives), "" when the damage cannot be seen
 *    by a reader (an unreferenced duplicate, a lie in a flag nobody needs)
 *    or export copes without a word (an out-of-range time left out, a
 *    damaged RTF body beside a plain one, a wrong PidTagAttachSize);
 *  - lost_msgs / lost_folders: how many messages (FAI included) and folders
 *    of the source may be missing at most, -1 unchecked (file-level damage);
 *  - reach: "inspect" when inspect reads the damaged structure, "export"
 *    when only a full message decode does (bodies, named properties, times,
 *    attachment sizes): inspect must then lose nothing, and export (exit 1)
 *    must name the substring when there is one.
 *
 * Case 15's 10,000-deep folder chain is a file written here from scratch
 * (NBT, BBT, a PC and a TC per folder), and so are case 26's message with
 * embedded messages 10,000 deep (two SLBLOCKs per level) and cases 20/24's
 * subject in a subnode whose XBLOCK claims 2 GiB.  Not generated:
 * 32 (10^7 items, > 4 GiB: needs the PST writer).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pst/pst-internal.h"
#include "tests/pst/pst-gen.h"

#define NID_TYPE(n) ((n)&0x1Fu)
#define NT_FOLDER 0x02u
#define NT_SEARCH 0x03u
#define NT_MESSAGE 0x04u
#define NT_ATTACH 0x05u
#define NT_ASSOC 0x08u
#define NT_HIER 0x0Du
#define NT_CONTENTS 0x0Eu
#define NT_FAI 0x0Fu

#define MAX_PAGES 4096
#define MAX_NODES 65536
#define MAX_BLOCKS 65536

struct page {
        uint64_t ib, bid;
        uint8_t ptype, level;
        uint32_t c_ent;
        uint8_t cb_ent;
        uint64_t parent_ib; /* 0 for the root */
        uint32_t parent_idx;
};

struct node {
        uint32_t nid, parent;
        uint64_t data, sub;
        uint64_t page_ib;
        uint32_t idx;
};

struct block {
        uint64_t bid, ib;
        uint16_t cb;
        uint64_t page_ib;
        uint32_t idx;
};

struct pst {
        char *src; /* path of the source (owned) */
        uint8_t *b;
        size_t n;
        unsigned fmt; /* 0 ANSI, 1 Unicode, 2 4K */
        unsigned id, page, ptr, area, btr, align;
        bool wide;
        uint8_t crypt;
        uint64_t nbt_bid, nbt_ib, bbt_bid, bbt_ib;
        struct page *pages;
        size_t n_pages;
        struct node *nodes;
        size_t n_nodes;
        struct block *blocks;
        size_t n_blocks;
};

static const char *outdir;
static FILE *manifest;
static unsigned n_written;

/* ---- loading and parsing ------------------------------------------------- */

static uint64_t get_id(const struct pst *p, const uint8_t *q)
{
        return p->id == 4 ? get_le32(q) : get_le64(q);
}

static void put_id(const struct pst *p, uint8_t *q, uint64_t v)
{
        if (p->id == 4)
                put_le32(q, (uint32_t)v);
        else
                put_le64(q, v);
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_n)
{
        FILE *f = fopen(path, "re");
        uint8_t *b;
        long n;

        if (!f)
                return -errno;
        if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                fclose(f);
                return -EIO;
        }
        b = malloc((size_t)n + 1);
        if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
                free(b);
                fclose(f);
                return -EIO;
        }
        fclose(f);
        *ret = b;
        *ret_n = (size_t)n;
        return 0;
}

/* Geometry and roots of each variant ([MS-PST] 2.2.2.6, 2.2.2.7). */
static void geometry(struct pst *p)
{
        uint16_t wver = get_le16(p->b + 10);
        bool k4 = wver == 36;

        if (wver == 14 || wver == 15) {
                *p = (struct pst){ .src = p->src,
                                   .b = p->b,
                                   .n = p->n,
                                   .fmt = 0,
                                   .id = 4,
                                   .page = 512,
                                   .ptr = 12,
                                   .area = 496,
                                   .btr = 12,
                                   .align = 64,
                                   .crypt = p->b[461],
                                   .nbt_bid = get_le32(p->b + 184),
                                   .nbt_ib = get_le32(p->b + 188),
                                   .bbt_bid = get_le32(p->b + 192),
                                   .bbt_ib = get_le32(p->b + 196) };
                return;
        }
        *p = (struct pst){ .src = p->src,
                           .b = p->b,
                           .n = p->n,
                           .fmt = k4 ? 2 : 1,
                           .id = 8,
                           .page = k4 ? 4096 : 512,
                           .ptr = k4 ? 24 : 16,
                           .area = k4 ? 4056 : 488,
                           .btr = k4 ? 24 : 16,
                           .align = k4 ? 512 : 64,
                           .wide = k4,
                           .crypt = p->b[513],
                           .nbt_bid = get_le64(p->b + 216),
                           .nbt_ib = get_le64(p->b + 224),
                           .bbt_bid = get_le64(p->b + 232),
                           .bbt_ib = get_le64(p->b + 240) };
}

static const char *tree_name_of(uint8_t ptype)
{
        return ptype == PST_PTYPE_NBT ? "nbt" : "bbt";
}

static void page_counts(const struct pst *p, const uint8_t *pg, uint32_t *c_ent, uint8_t *cb_ent,
                        uint8_t *level)
{
        const uint8_t *c = pg + p->area;

        *c_ent = p->wide ? get_le16(c) : c[0];
        c += p->wide ? 4 : 2;
        *cb_ent = c[0];
        *level = c[1];
}

/* Breadth-first over one B-tree: every page, every leaf entry. */
static int parse_tree(struct pst *p, uint8_t ptype, uint64_t bid, uint64_t ib)
{
        size_t first = p->n_pages;

        p->pages[p->n_pages++] = (struct page){ .ib = ib, .bid = bid, .ptype = ptype };
        for (size_t k = first; k < p->n_pages; k++) {
                struct page *pg = &p->pages[k];
                const uint8_t *q;

                if (pg->ib + p->page > p->n)
                        return -EBADMSG;
                q = p->b + pg->ib;
                page_counts(p, q, &pg->c_ent, &pg->cb_ent, &pg->level);
                for (uint32_t i = 0; i < pg->c_ent; i++) {
                        const uint8_t *e = q + (size_t)i * pg->cb_ent;

                        if (pg->level > 0) {
                                if (p->n_pages == MAX_PAGES)
                                        return -EFBIG;
                                p->pages[p->n_pages++] = (struct page){
                                        .ib = get_id(p, e + 2 * p->id),
                                        .bid = get_id(p, e + p->id),
                                        .ptype = ptype,
                                        .parent_ib = pg->ib,
                                        .parent_idx = i,
                                };
                                pg = &p->pages[k];
                        } else if (ptype == PST_PTYPE_NBT && p->n_nodes < MAX_NODES) {
                                p->nodes[p->n_nodes++] = (struct node){
                                        .nid = (uint32_t)get_id(p, e),
                                        .data = get_id(p, e + p->id),
                                        .sub = get_id(p, e + 2 * p->id),
                                        .parent = get_le32(e + 3 * p->id),
                                        .page_ib = pg->ib,
                                        .idx = i,
                                };
                        } else if (ptype == PST_PTYPE_BBT && p->n_blocks < MAX_BLOCKS) {
                                p->blocks[p->n_blocks++] = (struct block){
                                        .bid = pst_bid_clean(get_id(p, e)),
                                        .ib = get_id(p, e + p->id),
                                        .cb = get_le16(e + 2 * p->id),
                                        .page_ib = pg->ib,
                                        .idx = i,
                                };
                        }
                }
        }
        return 0;
}

static int pst_load(struct pst *p, char *path)
{
        int r;

        *p = (struct pst){ .src = path };
        r = read_file(path, &p->b, &p->n);
        if (r < 0)
                return r;
        if (p->n < PST_HEADER_SIZE || !pst_magic_ok(p->b, p->n))
                return -EBADMSG;
        geometry(p);
        p->pages = calloc(MAX_PAGES, sizeof(*p->pages));
        p->nodes = calloc(MAX_NODES, sizeof(*p->nodes));
        p->blocks = calloc(MAX_BLOCKS, sizeof(*p->blocks));
        if (!p->pages || !p->nodes || !p->blocks)
                return -ENOMEM;
        r = parse_tree(p, PST_PTYPE_NBT, p->nbt_bid, p->nbt_ib);
        if (r == 0)
                r = parse_tree(p, PST_PTYPE_BBT, p->bbt_bid, p->bbt_ib);
        return r;
}

static void pst_unload(struct pst *p)
{
        free(p->src);
        free(p->b);
        free(p->pages);
        free(p->nodes);
        free(p->blocks);
}

/* A working copy of p's bytes: every case damages its own copy. */
static uint8_t *copy_of(const struct pst *p)
{
        uint8_t *c = malloc(p->n);

        if (!c)
                abort();
        memcpy(c, p->b, p->n);
        return c;
}

static const struct node *node_find(const struct pst *p, uint32_t nid)
{
        for (size_t i = 0; i < p->n_nodes; i++)
                if (p->nodes[i].nid == nid)
                        return &p->nodes[i];
        return NULL;
}

static const struct block *block_find(const struct pst *p, uint64_t bid)
{
        bid = pst_bid_clean(bid);
        for (size_t i = 0; i < p->n_blocks; i++)
                if (p->blocks[i].bid == bid)
                        return &p->blocks[i];
        return NULL;
}

static const struct page *page_at(const struct pst *p, uint64_t ib)
{
        for (size_t i = 0; i < p->n_pages; i++)
                if (p->pages[i].ib == ib)
                        return &p->pages[i];
        return NULL;
}

/* ---- CRCs and trailers ----------------------------------------------------- */

static void fix_header(const struct pst *p, uint8_t *b)
{
        put_le32(b + 4, pst_crc32(0, b + 8, 471));
        if (p->id == 8)
                put_le32(b + 524, pst_crc32(0, b + 8, 516));
}

static uint8_t *page_trailer(const struct pst *p, uint8_t *b, uint64_t ib)
{
        return b + ib + p->page - p->ptr;
}

static void fix_page(const struct pst *p, uint8_t *b, uint64_t ib)
{
        put_le32(page_trailer(p, b, ib) + (p->id == 4 ? 8 : 4),
                 pst_crc32(0, b + ib, p->page - p->ptr));
}

static uint32_t block_span(const struct pst *p, uint32_t cb)
{
        return (cb + p->btr + p->align - 1) / p->align * p->align;
}

static uint8_t *block_trailer(const struct pst *p, uint8_t *b, const struct block *bl)
{
        return b + bl->ib + block_span(p, bl->cb) - p->btr;
}

static void fix_block(const struct pst *p, uint8_t *b, const struct block *bl)
{
        put_le32(block_trailer(p, b, bl) + (p->id == 4 ? 8 : 4), pst_crc32(0, b + bl->ib, bl->cb));
}

/* The decoded bytes of an (uncompressed) block, and writing them back. */
static uint8_t *block_get(const struct pst *p, const uint8_t *b, const struct block *bl)
{
        uint8_t *d = malloc(bl->cb ? bl->cb : 1);

        if (!d)
                abort();
        memcpy(d, b + bl->ib, bl->cb);
        if (!(bl->bid & PST_BID_INTERNAL))
                pst_block_decode(p->crypt, bl->bid, d, bl->cb);
        return d;
}

static void block_put(const struct pst *p, uint8_t *b, const struct block *bl, const uint8_t *d)
{
        memcpy(b + bl->ib, d, bl->cb);
        if (!(bl->bid & PST_BID_INTERNAL)) {
                if (p->crypt == PST_CRYPT_PERMUTE)
                        pst_permute_encode(b + bl->ib, bl->cb);
                else if (p->crypt == PST_CRYPT_CYCLIC)
                        pst_cyclic(b + bl->ib, bl->cb, bl->bid);
        }
        fix_block(p, b, bl);
}

/* ---- output ---------------------------------------------------------------- */

struct expect {
        const char *exits;
        const char *sub;
        int lost_msgs, lost_folders;
        bool export_only;
};

static void emit(unsigned kase, const char *name, const char *source, const uint8_t *b, size_t n,
                 struct expect e)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%02u-%s.pst", outdir, kase, name);
        f = fopen(path, "we");
        if (!f || (n && fwrite(b, 1, n, f) != n) || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
        fprintf(manifest, "%u\t%02u-%s.pst\t%s\t%s\t%s\t%d\t%d\t%s\n", kase, kase, name,
                source ? source : "-", e.exits, e.sub, e.lost_msgs, e.lost_folders,
                e.export_only ? "export" : "inspect");
        n_written++;
}

static void emit_pst(unsigned kase, const char *name, const struct pst *p, const uint8_t *b,
                     struct expect e)
{
        emit(kase, name, p->src, b, p->n, e);
}

/* Damage that is the file's: nothing to compare. */
#define FILE_LEVEL(ex, s)                                                                          \
        ((struct expect){ .exits = (ex), .sub = (s), .lost_msgs = -1, .lost_folders = -1 })
/* Damage confined to items: at most m messages and f folders lost. */
#define ITEMS(s, m, f)                                                                             \
        ((struct expect){ .exits = "1", .sub = (s), .lost_msgs = (m), .lost_folders = (f) })
/* Damage only a full decode of the message meets; inspect loses nothing,
 * export names it. */
#define EXPORT_ONLY(s)                                                                             \
        ((struct expect){                                                                          \
            .exits = "0,1", .sub = (s), .lost_msgs = 0, .lost_folders = 0, .export_only = true })
/* The same, where export copes without a word (a value it does not need,
 * or renders differently): nothing may be lost. */
#define EXPORT_QUIET EXPORT_ONLY("")
/* Damage no reader can see from the tables: nothing may be lost. */
#define UNSEEN ((struct expect){ .exits = "0,1", .sub = "", .lost_msgs = 0, .lost_folders = 0 })

/* ---- heap, BTH, PC, TC (block 0 of a node's data) -------------------------- */

struct heap {
        uint8_t *d; /* decoded block */
        uint32_t len;
        uint32_t ib_hnpm, c_alloc;
        uint8_t client_sig;
        uint32_t hid_user_root;
};

static bool heap_parse(uint8_t *d, uint32_t len, struct heap *h)
{
        if (len < 12 || d[2] != 0xEC)
                return false;
        *h = (struct heap){
                .d = d, .len = len, .client_sig = d[3], .hid_user_root = get_le32(d + 4)
        };
        h->ib_hnpm = get_le16(d);
        if (h->ib_hnpm + 4u > len)
                return false;
        h->c_alloc = get_le16(d + h->ib_hnpm);
        return h->ib_hnpm + 4u + 2u * (h->c_alloc + 1) <= len;
}

static uint8_t *rgib(const struct heap *h)
{
        return h->d + h->ib_hnpm + 4;
}

/* Allocation of a block-0 HID: offset and length, false if not one. */
static bool heap_alloc(const struct heap *h, uint32_t hid, uint32_t *off, uint32_t *len)
{
        uint32_t i = (hid >> 5) & 0x7FF;

        if (hid == 0 || (hid & 0x1F) != 0 || (hid >> 16) != 0 || i == 0 || i > h->c_alloc)
                return false;
        *off = get_le16(rgib(h) + 2 * (i - 1));
        *len = get_le16(rgib(h) + 2 * i) - *off;
        return *off + *len <= h->len;
}

static uint32_t hid_of(uint32_t index)
{
        return index << 5;
}

/* The leaf records of a level-0 BTH at hid: offset, count, record size. */
static bool bth_leaf(const struct heap *h, uint32_t hid, uint32_t *bth_off, uint32_t *rec_off,
                     uint32_t *n, uint32_t *rec)
{
        uint32_t off, len, roff, rlen;

        if (!heap_alloc(h, hid, &off, &len) || len != 8 || h->d[off] != 0xB5 || h->d[off + 3] != 0)
                return false;
        *bth_off = off;
        *rec = h->d[off + 1] + h->d[off + 2];
        if (get_le32(h->d + off + 4) == 0) {
                *rec_off = 0;
                *n = 0;
                return true;
        }
        if (!heap_alloc(h, get_le32(h->d + off + 4), &roff, &rlen))
                return false;
        *rec_off = roff;
        *n = rlen / *rec;
        return true;
}

/* The PC record (wPropId, wPropType, dwValueHnid) of property id: its offset. */
static bool pc_prop(const struct heap *h, uint16_t id, uint32_t *ret)
{
        uint32_t bth, off, n, rec;

        if (h->client_sig != 0xBC || !bth_leaf(h, h->hid_user_root, &bth, &off, &n, &rec) ||
            rec != 8)
                return false;
        for (uint32_t i = 0; i < n; i++)
                if (get_le16(h->d + off + i * rec) == id) {
                        *ret = off + i * rec;
                        return true;
                }
        return false;
}

/* ---- a node's pieces ------------------------------------------------------- */

/* The single data block of a node (false for a data tree). */
static const struct block *node_block(const struct pst *p, const struct node *n)
{
        if (!n || (n->data & PST_BID_INTERNAL))
                return NULL;
        return block_find(p, n->data);
}

/* A node's subnode entries (SLBLOCK, or the first SLBLOCK under an SIBLOCK). */
struct subnode {
        uint32_t nid;
        uint64_t data, sub;
        uint32_t off; /* of the entry in the SLBLOCK */
};

static size_t subnodes(const struct pst *p, const uint8_t *b, uint64_t bid_sub,
                       const struct block **ret_bl, struct subnode *out, size_t max)
{
        const struct block *bl = bid_sub ? block_find(p, bid_sub) : NULL;
        uint32_t hdr = p->id == 8 ? 8 : 4, c_ent;
        size_t n = 0;

        if (!bl)
                return 0;
        if (b[bl->ib] == 0x02 && b[bl->ib + 1] == 1) /* SIBLOCK: its first child */
                bl = block_find(p, get_id(p, b + bl->ib + hdr + p->id));
        if (!bl || b[bl->ib] != 0x02 || b[bl->ib + 1] != 0)
                return 0;
        c_ent = get_le16(b + bl->ib + 2);
        for (uint32_t i = 0; i < c_ent && n < max && hdr + (i + 1) * 3 * p->id <= bl->cb; i++) {
                const uint8_t *e = b + bl->ib + hdr + i * 3 * p->id;

                out[n++] = (struct subnode){ .nid = get_le32(e),
                                             .data = get_id(p, e + p->id),
                                             .sub = get_id(p, e + 2 * p->id),
                                             .off = hdr + i * 3 * p->id };
        }
        *ret_bl = bl;
        return n;
}

static const struct subnode *subnode_find(const struct subnode *s, size_t n, uint32_t nid)
{
        for (size_t i = 0; i < n; i++)
                if (s[i].nid == nid)
                        return &s[i];
        return NULL;
}

/* ---- choosing targets ------------------------------------------------------ */

/* A message (NID type 4, single-block PC with a subject) whose subnode tree
 * holds a recipient table and, if want_att, an attachment table. */
static const struct node *pick_message(const struct pst *p, bool want_att, bool want_embedded)
{
        for (size_t i = 0; i < p->n_nodes; i++) {
                const struct node *n = &p->nodes[i];
                const struct block *bl = node_block(p, n), *sl;
                struct subnode s[64];
                struct heap h;
                uint32_t off;
                size_t k;
                bool ok;

                if (NID_TYPE(n->nid) != NT_MESSAGE || !bl)
                        continue;
                k = subnodes(p, p->b, n->sub, &sl, s, 64);
                if (!subnode_find(s, k, 0x692) || (want_att && !subnode_find(s, k, 0x671)))
                        continue;
                if (want_embedded) {
                        bool emb = false;

                        for (size_t j = 0; j < k; j++)
                                if (NID_TYPE(s[j].nid) == NT_ATTACH && s[j].sub) {
                                        struct subnode s2[16];
                                        const struct block *sl2;
                                        size_t k2 = subnodes(p, p->b, s[j].sub, &sl2, s2, 16);

                                        for (size_t m = 0; m < k2; m++)
                                                emb |= NID_TYPE(s2[m].nid) == NT_MESSAGE;
                                }
                        if (!emb)
                                continue;
                }
                uint8_t *d = block_get(p, p->b, bl);
                ok = heap_parse(d, bl->cb, &h) && pc_prop(&h, 0x0037, &off);
                free(d);
                if (ok)
                        return n;
        }
        return NULL;
}

/* A leaf NBT page whose nodes are messages and their like only (no folder
 * or folder table): losing it costs its messages.  *ret_msgs counts them. */
static const struct page *pick_message_leaf(const struct pst *p, int *ret_msgs)
{
        for (size_t i = 0; i < p->n_pages; i++) {
                const struct page *pg = &p->pages[i];
                int msgs = 0;
                bool ok = pg->ptype == PST_PTYPE_NBT && pg->level == 0 && pg->parent_ib != 0;

                for (size_t j = 0; ok && j < p->n_nodes; j++) {
                        uint32_t t = NID_TYPE(p->nodes[j].nid);

                        if (p->nodes[j].page_ib != pg->ib)
                                continue;
                        if (t == NT_MESSAGE || t == NT_ASSOC)
                                msgs++;
                        else if (t == NT_FOLDER || t == NT_SEARCH || t == NT_HIER ||
                                 t == NT_CONTENTS || t == NT_FAI || p->nodes[j].nid < 0x400)
                                ok = false;
                }
                if (ok && msgs > 0) {
                        *ret_msgs = msgs;
                        return pg;
                }
        }
        return NULL;
}

static const struct page *first_page(const struct pst *p, uint8_t ptype, unsigned min_level)
{
        for (size_t i = 0; i < p->n_pages; i++)
                if (p->pages[i].ptype == ptype && p->pages[i].level >= min_level)
                        return &p->pages[i];
        return NULL;
}

/* ---- generic mutations ----------------------------------------------------- */

/* Copy of p with the header field at off set to v (size bytes) and CRCs fixed. */
static uint8_t *with_header(const struct pst *p, size_t off, uint64_t v, unsigned size, bool fix)
{
        uint8_t *b = copy_of(p);

        for (unsigned i = 0; i < size; i++)
                b[off + i] = (uint8_t)(v >> (8 * i));
        if (fix)
                fix_header(p, b);
        return b;
}

static size_t off_eof(const struct pst *p)
{
        return p->id == 4 ? 168 : 184;
}

static size_t off_nbt(const struct pst *p)
{
        return p->id == 4 ? 184 : 216;
}

static size_t off_bbt(const struct pst *p)
{
        return p->id == 4 ? 192 : 232;
}

static size_t off_crypt(const struct pst *p)
{
        return p->id == 4 ? 461 : 513;
}

/* Offset of a page's counts and the ptype/ptypeRepeat/wSig/CRC/bid fields. */
static uint8_t *page_counts_at(const struct pst *p, uint8_t *b, uint64_t ib)
{
        return b + ib + p->area;
}

/* Set a page's cLevel / cEnt / cEntMax / cbEnt (negative: leave). */
static void page_set(const struct pst *p, uint8_t *b, uint64_t ib, int c_ent, int c_ent_max,
                     int cb_ent, int level)
{
        uint8_t *c = page_counts_at(p, b, ib);

        if (p->wide) {
                if (c_ent >= 0)
                        put_le16(c, (uint16_t)c_ent);
                if (c_ent_max >= 0)
                        put_le16(c + 2, (uint16_t)c_ent_max);
                c += 4;
        } else {
                if (c_ent >= 0)
                        c[0] = (uint8_t)c_ent;
                if (c_ent_max >= 0)
                        c[1] = (uint8_t)c_ent_max;
                c += 2;
        }
        if (cb_ent >= 0)
                c[0] = (uint8_t)cb_ent;
        if (level >= 0)
                c[1] = (uint8_t)level;
        fix_page(p, b, ib);
}

/* Rewrite block 0 of node n's data through fn, fixing its CRC. */
typedef bool (*heap_fn)(struct heap *h, void *ctx);

static uint8_t *with_heap(const struct pst *p, const struct node *n, heap_fn fn, void *ctx)
{
        const struct block *bl = node_block(p, n);
        uint8_t *b, *d;
        struct heap h;

        if (!bl)
                return NULL;
        b = copy_of(p);
        d = block_get(p, b, bl);
        if (!heap_parse(d, bl->cb, &h) || !fn(&h, ctx)) {
                free(d);
                free(b);
                return NULL;
        }
        block_put(p, b, bl, d);
        free(d);
        return b;
}

/* Same for a subnode's single data block. */
static uint8_t *with_sub_heap(const struct pst *p, const struct node *n, uint32_t snid, heap_fn fn,
                              void *ctx)
{
        struct subnode s[64];
        const struct block *sl, *bl;
        const struct subnode *e;
        size_t k = subnodes(p, p->b, n->sub, &sl, s, 64);
        uint8_t *b, *d;
        struct heap h;

        e = subnode_find(s, k, snid);
        if (!e || (e->data & PST_BID_INTERNAL) || !(bl = block_find(p, e->data)))
                return NULL;
        b = copy_of(p);
        d = block_get(p, b, bl);
        if (!heap_parse(d, bl->cb, &h) || !fn(&h, ctx)) {
                free(d);
                free(b);
                return NULL;
        }
        block_put(p, b, bl, d);
        free(d);
        return b;
}

/* ---- the cases ------------------------------------------------------------- */

struct sources {
        struct pst u; /* Unicode, folders, messages, attachments, an embedded message */
        struct pst a; /* ANSI with a message and an attachment */
        struct pst e; /* embedded messages nested */
        struct pst c; /* cyclic encoding */
        struct pst r; /* a message of many recipients */
        struct pst o; /* 4K OST */
        bool have_o;
        struct pst_gen g4; /* pst-gen 4K, zlib blocks */
        struct pst_gen gx; /* pst-gen Unicode, store PC behind an XBLOCK */
};

static void case_1(struct sources *s)
{
        static const uint8_t zero[1];
        const struct pst *u = &s->u, *a = &s->a;
        const struct block *bl;
        const struct node *store = node_find(u, 0x21);
        char name[64];

        emit(1, "empty", NULL, zero, 0, FILE_LEVEL("3", "truncated"));
        emit(1, "one-byte", NULL, u->b, 1, FILE_LEVEL("3", "truncated"));
        emit(1, "unicode-511", NULL, u->b, 511, FILE_LEVEL("3", "truncated"));
        emit(1, "unicode-512", NULL, u->b, 512, FILE_LEVEL("3", "truncated"));
        emit(1, "unicode-513", NULL, u->b, 513, FILE_LEVEL("3", "truncated"));
        emit(1, "ansi-511", NULL, a->b, 511, FILE_LEVEL("3", "truncated"));
        emit(1, "ansi-512", NULL, a->b, 512, FILE_LEVEL("1", "ibFileEof"));
        emit(1, "ansi-513", NULL, a->b, 513, FILE_LEVEL("1", "ibFileEof"));
        /* At every B-tree page boundary and in the middle of each page. */
        for (size_t i = 0; i < u->n_pages; i++) {
                snprintf(name, sizeof(name), "cut-at-%s-page-0x%" PRIx64,
                         tree_name_of(u->pages[i].ptype), u->pages[i].ib);
                emit(1, name, NULL, u->b, u->pages[i].ib, FILE_LEVEL("1", "ibFileEof"));
                snprintf(name, sizeof(name), "cut-in-%s-page-0x%" PRIx64,
                         tree_name_of(u->pages[i].ptype), u->pages[i].ib);
                emit(1, name, NULL, u->b, u->pages[i].ib + u->page / 2,
                     FILE_LEVEL("1", "ibFileEof"));
        }
        bl = node_block(u, store);
        if (bl)
                emit(1, "cut-in-store-block", NULL, u->b, bl->ib + bl->cb / 2,
                     FILE_LEVEL("1", "ibFileEof"));
}

static uint32_t xorshift(uint32_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        return *s;
}

static void case_2(struct sources *s)
{
        const struct pst *u = &s->u;
        uint8_t *b = copy_of(u);
        uint32_t seed = 0x5eed;

        memset(b, 0, PST_HEADER_SIZE);
        emit_pst(2, "zero-header", u, b, FILE_LEVEL("3", "magic"));
        for (size_t i = 0; i < PST_HEADER_SIZE; i++)
                b[i] = (uint8_t)xorshift(&seed);
        emit_pst(2, "random-header", u, b, FILE_LEVEL("3", "magic"));
        /* Random but with the magic: the next field is checked. */
        memcpy(b, "!BDN", 4);
        emit_pst(2, "random-header-magic", u, b, FILE_LEVEL("3", "wMagicClient"));
        free(b);
}

static void case_3(struct sources *s)
{
        const struct pst *u = &s->u, *a = &s->a;
        uint8_t *b;

        b = with_header(u, 0, 0x58444221, 4, false); /* "!BDX" */
        emit_pst(3, "bad-magic", u, b, FILE_LEVEL("3", "magic"));
        free(b);
        b = with_header(u, 10, 99, 2, true);
        emit_pst(3, "wver-99", u, b, FILE_LEVEL("3", "wVer"));
        free(b);
        /* ANSI wVer on Unicode structures: the fields are read at the ANSI
         * offsets; bCryptMethod lands in rgbFP (0xFF). */
        b = with_header(u, 10, 14, 2, true);
        emit_pst(3, "unicode-says-ansi", u, b, FILE_LEVEL("3", "bCryptMethod"));
        free(b);
        b = with_header(a, 10, 23, 2, false);
        fix_header(u, b); /* with the Unicode CRC layout */
        emit_pst(3, "ansi-says-unicode", a, b, FILE_LEVEL("1", "NBT page"));
        free(b);
        b = with_header(u, 10, 36, 2, true);
        emit_pst(3, "pst-says-4k", u, b, FILE_LEVEL("1", "4096-byte page"));
        free(b);
}

static void case_4(struct sources *s)
{
        const struct pst *u = &s->u, *a = &s->a;
        uint8_t *b;

        b = with_header(u, 4, get_le32(u->b + 4) ^ 1, 4, false);
        emit_pst(4, "crc-partial", u, b, FILE_LEVEL("3", "partial CRC"));
        free(b);
        b = with_header(u, 524, get_le32(u->b + 524) ^ 1, 4, false);
        emit_pst(4, "crc-full", u, b, FILE_LEVEL("3", "full CRC"));
        free(b);
        b = with_header(a, 4, get_le32(a->b + 4) ^ 1, 4, false);
        emit_pst(4, "ansi-crc-partial", a, b, FILE_LEVEL("3", "partial CRC"));
        free(b);
        b = with_header(u, off_crypt(u), 5, 1, true);
        emit_pst(4, "crypt-5", u, b, FILE_LEVEL("3", "bCryptMethod"));
        free(b);
        b = with_header(a, off_crypt(a), 0x10, 1, true);
        emit_pst(4, "ansi-crypt-0x10", a, b, FILE_LEVEL("3", "bCryptMethod"));
        free(b);
}

static void case_5(struct sources *s)
{
        const struct pst *u = &s->u, *a = &s->a;
        uint8_t *b;

        b = with_header(u, off_eof(u), u->n - 512, 8, true);
        emit_pst(5, "eof-smaller", u, b, ITEMS("ibFileEof", 0, 0));
        free(b);
        b = with_header(u, off_eof(u), u->n + 65536, 8, true);
        emit_pst(5, "eof-larger", u, b, ITEMS("ibFileEof", 0, 0));
        free(b);
        b = with_header(a, off_eof(a), a->n + 65536, 4, true);
        emit_pst(5, "ansi-eof-larger", a, b, ITEMS("ibFileEof", 0, 0));
        free(b);
        b = with_header(u, off_nbt(u) + 8, u->n + 8 * 512, 8, true);
        emit_pst(5, "nbt-beyond-eof", u, b, FILE_LEVEL("1", "beyond the end"));
        free(b);
        b = with_header(u, off_nbt(u) + 8, u->nbt_ib + 8, 8, true);
        emit_pst(5, "nbt-unaligned", u, b, FILE_LEVEL("1", "not a 512-byte page"));
        free(b);
        b = with_header(u, off_nbt(u) + 8, UINT64_C(0xFFFFFFFFFFFFFE00), 8, true);
        emit_pst(5, "nbt-ib-overflow", u, b, FILE_LEVEL("1", "beyond the end"));
        free(b);
        b = with_header(u, off_bbt(u) + 8, u->n + 8 * 512, 8, true);
        emit_pst(5, "bbt-beyond-eof", u, b, FILE_LEVEL("1", "beyond the end"));
        free(b);
        b = with_header(a, off_bbt(a) + 4, 0xFFFFFE00u, 4, true);
        emit_pst(5, "ansi-bbt-ib-overflow", a, b, FILE_LEVEL("1", "beyond the end"));
        free(b);
}

/* Damage one trailer field of a page; CRC fixed unless it is the CRC. */
static void page_trailer_cases(unsigned kase, const struct pst *p, const struct page *pg,
                               const char *tag)
{
        uint8_t *b, *tr;
        char name[64];
        unsigned bid_off = p->id == 4 ? 4 : 8;

        for (int k = 0; k < 5; k++) {
                static const char *const what[] = { "ptype", "ptypeRepeat", "wSig", "CRC", "bid" };
                static const char *const sub[] = { "ptype 0x", "ptypeRepeat", "wSig",
                                                   "CRC mismatch", "trailer bid" };

                b = copy_of(p);
                tr = page_trailer(p, b, pg->ib);
                if (k == 0)
                        tr[0] = tr[1] = pg->ptype == PST_PTYPE_NBT ? PST_PTYPE_BBT : PST_PTYPE_NBT;
                else if (k == 1)
                        tr[1] ^= 1;
                else if (k == 2)
                        tr[2] ^= 1;
                else if (k == 3)
                        b[pg->ib] ^= 0x40;
                else
                        put_id(p, tr + bid_off, pg->bid + 4);
                if (k != 3)
                        fix_page(p, b, pg->ib);
                snprintf(name, sizeof(name), "%s-%s", tag, what[k]);
                emit_pst(kase, name, p, b, FILE_LEVEL("1", sub[k]));
                free(b);
        }
}

static void case_6(struct sources *s)
{
        page_trailer_cases(6, &s->u, first_page(&s->u, PST_PTYPE_NBT, 0), "nbt-root");
        page_trailer_cases(6, &s->u, first_page(&s->u, PST_PTYPE_BBT, 0), "bbt-root");
        page_trailer_cases(6, &s->a, first_page(&s->a, PST_PTYPE_NBT, 0), "ansi-nbt-root");
}

/* Entry i of a BT page: its BREF (bid, ib) rewritten. */
static void set_bref(const struct pst *p, uint8_t *b, const struct page *pg, uint32_t i,
                     uint64_t bid, uint64_t ib)
{
        uint8_t *e = b + pg->ib + (size_t)i * pg->cb_ent;

        put_id(p, e + p->id, bid);
        put_id(p, e + 2 * p->id, ib);
        fix_page(p, b, pg->ib);
}

static void case_7(struct sources *s)
{
        for (int t = 0; t < 2; t++) {
                const struct pst *u = &s->u;
                uint8_t ptype = t == 0 ? PST_PTYPE_NBT : PST_PTYPE_BBT;
                const struct page *root = first_page(u, ptype, 1);
                const char *tn = tree_name_of(ptype);
                char name[64];
                uint8_t *b;

                if (!root || root->c_ent < 3) {
                        fprintf(stderr, "pst-malform: no 2-level %s in %s\n", tn, u->src);
                        exit(1);
                }
                /* The entry over the leaf of messages (whose NIDs are
                 * looked up), else entry 1. */
                uint32_t self = 1;
                int msgs;
                const struct page *ml = pick_message_leaf(u, &msgs);

                if (t == 0 && ml && ml->parent_ib == root->ib)
                        self = ml->parent_idx;
                b = copy_of(u);
                set_bref(u, b, root, self, root->bid, root->ib);
                snprintf(name, sizeof(name), "%s-page-lists-itself", tn);
                emit_pst(7, name, u, b, FILE_LEVEL("1", "cycle"));
                free(b);
                /* Entries 1 and 2 share one child: the second parent's key
                 * range does not hold the child's keys. */
                b = copy_of(u);
                {
                        const uint8_t *e1 = u->b + root->ib + (size_t)1 * root->cb_ent;

                        set_bref(u, b, root, 2, get_id(u, e1 + u->id), get_id(u, e1 + 2 * u->id));
                }
                snprintf(name, sizeof(name), "%s-two-parents", tn);
                emit_pst(7, name, u, b, FILE_LEVEL("1", "below its parent"));
                free(b);
        }
        /* Child pointing to an ancestor: a leaf page's trailer made an
         * intermediate page listing the root. */
        {
                const struct pst *u = &s->u;
                const struct page *root = first_page(u, PST_PTYPE_NBT, 1), *leaf = NULL;
                uint8_t *b = copy_of(u), *q;
                uint64_t key;

                for (size_t i = 0; i < u->n_pages; i++)
                        if (u->pages[i].parent_ib == root->ib && u->pages[i].level == 0)
                                leaf = &u->pages[i];
                q = b + leaf->ib;
                key = get_id(u, q);
                memset(q, 0, u->area);
                put_id(u, q, key);
                put_id(u, q + u->id, root->bid);
                put_id(u, q + 2 * u->id, root->ib);
                page_set(u, b, leaf->ib, 1, u->area / (3 * u->id), 3 * u->id, root->level - 1);
                emit_pst(7, "nbt-child-lists-root", u, b, FILE_LEVEL("1", "NBT page"));
                free(b);
        }
}

static void case_8(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct page *root = first_page(u, PST_PTYPE_NBT, 1), *leaf = NULL;
        uint8_t *b;

        for (size_t i = 0; i < u->n_pages && !leaf; i++)
                if (u->pages[i].parent_ib == root->ib)
                        leaf = &u->pages[i];
        b = copy_of(u);
        page_set(u, b, leaf->ib, -1, -1, -1, root->level);
        emit_pst(8, "nbt-child-level-equal", u, b, FILE_LEVEL("1", "cLevel"));
        free(b);
        b = copy_of(u);
        page_set(u, b, root->ib, -1, -1, -1, 255);
        emit_pst(8, "nbt-root-level-255", u, b, FILE_LEVEL("1", "cLevel"));
        free(b);
        b = copy_of(u);
        page_set(u, b, first_page(u, PST_PTYPE_BBT, 0)->ib, -1, -1, -1, 40);
        emit_pst(8, "bbt-root-level-40", u, b, FILE_LEVEL("1", "cLevel"));
        free(b);
}

/* The leaf of messages only, or (lacking one) the first NBT leaf. */
static const struct page *message_leaf(const struct pst *p, struct expect *e, const char *sub)
{
        int msgs = 0;
        const struct page *pg = pick_message_leaf(p, &msgs);

        if (pg) {
                *e = ITEMS(sub, msgs, 0);
                return pg;
        }
        *e = FILE_LEVEL("1", sub);
        for (size_t i = 0; i < p->n_pages; i++)
                if (p->pages[i].ptype == PST_PTYPE_NBT && p->pages[i].level == 0)
                        return &p->pages[i];
        return NULL;
}

/* The 4K OST's pages: 16-bit counts, 24-byte trailers. */
static void case_6_9_4k(struct sources *s)
{
        const struct pst *o = &s->o;
        const struct page *root = first_page(o, PST_PTYPE_NBT, 0), *leaf = NULL;
        uint8_t *b;

        if (!s->have_o)
                return;
        for (size_t i = 0; i < o->n_pages && !leaf; i++)
                if (o->pages[i].ptype == PST_PTYPE_NBT && o->pages[i].level == 0)
                        leaf = &o->pages[i];
        b = copy_of(o);
        b[root->ib] ^= 0x40;
        emit_pst(6, "ost-nbt-root-crc", o, b, FILE_LEVEL("1", "CRC mismatch"));
        memcpy(b, o->b, o->n);
        page_set(o, b, leaf->ib, 0x7FFF, (int)(o->area / leaf->cb_ent), -1, -1);
        emit_pst(9, "ost-nbt-leaf-cent-32767", o, b, FILE_LEVEL("1", "cEnt"));
        free(b);
}

static void case_9(struct sources *s)
{
        const struct pst *u = &s->u;
        struct expect e;
        const struct page *pg = message_leaf(u, &e, "cEnt");
        uint32_t max = u->area / pg->cb_ent;
        uint8_t *b;

        b = copy_of(u);
        page_set(u, b, pg->ib, (int)max + 1, (int)max, -1, -1);
        emit_pst(9, "cent-above-centmax", u, b, e);
        free(b);
        e.sub = "cbEnt";
        b = copy_of(u);
        page_set(u, b, pg->ib, -1, -1, 0, -1);
        emit_pst(9, "cbent-0", u, b, e);
        free(b);
        b = copy_of(u);
        page_set(u, b, pg->ib, -1, -1, (int)u->id, -1);
        emit_pst(9, "cbent-small", u, b, e);
        free(b);
        b = copy_of(u);
        page_set(u, b, pg->ib, -1, -1, 255, -1);
        emit_pst(9, "cent-x-cbent-above-page", u, b, e);
        free(b);
        {
                const struct pst *a = &s->a;
                const struct page *ap = message_leaf(a, &e, "cbEnt");

                b = copy_of(a);
                page_set(a, b, ap->ib, 255, 255, 255, -1);
                emit_pst(9, "ansi-cent-255-cbent-255", a, b, e);
                free(b);
        }
}

static void case_10(struct sources *s)
{
        const struct pst *u = &s->u;
        struct expect e;
        const struct page *pg = message_leaf(u, &e, "not ascending");
        uint8_t *b, *q, tmp[64];
        unsigned cb = pg->cb_ent;

        b = copy_of(u);
        q = b + pg->ib;
        memcpy(tmp, q, cb);
        memcpy(q, q + cb, cb);
        memcpy(q + cb, tmp, cb);
        fix_page(u, b, pg->ib);
        emit_pst(10, "nbt-keys-swapped", u, b, e);
        free(b);
        b = copy_of(u);
        q = b + pg->ib;
        memcpy(q + cb, q, cb);
        fix_page(u, b, pg->ib);
        emit_pst(10, "nbt-key-duplicated", u, b, e);
        free(b);
        b = copy_of(u);
        q = b + pg->ib;
        put_id(u, q, get_id(u, q) - 0x20);
        fix_page(u, b, pg->ib);
        e.sub = "below its parent";
        emit_pst(10, "nbt-key-below-parent", u, b, e);
        free(b);
        /* A BBT leaf with keys out of order: its blocks are lost. */
        for (size_t i = 0; i < u->n_pages; i++) {
                const struct page *bp = &u->pages[i];

                if (bp->ptype != PST_PTYPE_BBT || bp->level != 0 || bp->c_ent < 2)
                        continue;
                b = copy_of(u);
                q = b + bp->ib;
                memcpy(tmp, q, bp->cb_ent);
                memcpy(q, q + bp->cb_ent, bp->cb_ent);
                memcpy(q + bp->cb_ent, tmp, bp->cb_ent);
                fix_page(u, b, bp->ib);
                emit_pst(10, "bbt-keys-swapped", u, b, FILE_LEVEL("1", "not ascending"));
                free(b);
                break;
        }
}

/* Rewrite the BBT entry of block bl: cb and/or ib. */
static void set_bbt(const struct pst *p, uint8_t *b, const struct block *bl, int64_t cb, int64_t ib)
{
        const struct page *pg = page_at(p, bl->page_ib);
        uint8_t *e = b + pg->ib + (size_t)bl->idx * pg->cb_ent;

        if (ib >= 0)
                put_id(p, e + p->id, (uint64_t)ib);
        if (cb >= 0)
                put_le16(e + 2 * p->id, (uint16_t)cb);
        fix_page(p, b, pg->ib);
}

static void case_11(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = pick_message(u, false, false);
        const struct block *bl = node_block(u, m);
        struct expect e = ITEMS("block", 1, 0);
        uint8_t *b, *tr;

        b = copy_of(u);
        set_bbt(u, b, bl, 0, -1);
        e.sub = "trailer cb";
        emit_pst(11, "block-cb-0", u, b, e);
        free(b);
        b = copy_of(u);
        set_bbt(u, b, bl, 9000, -1);
        e.sub = "largest block";
        emit_pst(11, "block-cb-9000", u, b, e);
        free(b);
        b = copy_of(u);
        set_bbt(u, b, bl, bl->cb - 1, -1);
        e.sub = "trailer cb";
        emit_pst(11, "block-cb-differs", u, b, e);
        free(b);
        b = copy_of(u);
        b[bl->ib] ^= 0x01;
        e.sub = "CRC mismatch";
        emit_pst(11, "block-crc", u, b, e);
        free(b);
        b = copy_of(u);
        tr = block_trailer(u, b, bl);
        put_id(u, tr + (u->id == 4 ? 4 : 8), bl->bid + 4);
        e.sub = "trailer bid";
        emit_pst(11, "block-trailer-bid", u, b, e);
        free(b);
        b = copy_of(u);
        set_bbt(u, b, bl, -1, 0);
        e.sub = "after the header";
        emit_pst(11, "block-over-header", u, b, e);
        free(b);
        b = copy_of(u);
        set_bbt(u, b, bl, -1, (int64_t)u->nbt_ib);
        e.sub = "block 0x";
        emit_pst(11, "block-over-nbt-page", u, b, e);
        free(b);
}

/* pst-gen's store behind an XBLOCK: damage the XBLOCK, fix every CRC. */
static void gen_xblock(struct pst_gen *g, int level, int c_ent, int64_t lcb, bool self,
                       bool child_internal, const char *name, const char *sub)
{
        struct pst_gen c = *g;
        uint8_t *x;

        c.buf = malloc(g->size);
        if (!c.buf)
                abort();
        memcpy(c.buf, g->buf, g->size);
        x = c.buf + g->blk[2].ib;
        if (level >= 0)
                x[1] = (uint8_t)level;
        if (c_ent >= 0)
                put_le16(x + 2, (uint16_t)c_ent);
        if (lcb >= 0)
                put_le32(x + 4, (uint32_t)lcb);
        if (self)
                put_le64(x + 8, g->blk[2].bid);
        if (child_internal)
                put_le64(x + 8, get_le64(x + 8) | PST_BID_INTERNAL);
        pst_gen_fix(&c);
        emit(12, name, NULL, c.buf, c.size, FILE_LEVEL("1", sub));
        free(c.buf);
}

/* An attachment's data behind an XBLOCK in a real file: damaged, it costs
 * that attachment only. */
static void xblock_attachment(const struct pst *p)
{
        for (size_t i = 0; i < p->n_nodes; i++) {
                const struct node *m = &p->nodes[i];
                struct subnode sn[64];
                const struct block *sl;
                size_t k;

                if (NID_TYPE(m->nid) != NT_MESSAGE)
                        continue;
                k = subnodes(p, p->b, m->sub, &sl, sn, 64);
                for (size_t j = 0; j < k; j++) {
                        struct subnode an[16];
                        const struct block *asl, *xb;
                        size_t ak;

                        if (NID_TYPE(sn[j].nid) != NT_ATTACH)
                                continue;
                        ak = subnodes(p, p->b, sn[j].sub, &asl, an, 16);
                        for (size_t a = 0; a < ak; a++) {
                                uint8_t *b;

                                if (!(an[a].data & PST_BID_INTERNAL) ||
                                    !(xb = block_find(p, an[a].data)) || p->b[xb->ib] != 0x01 ||
                                    p->b[xb->ib + 1] != 1)
                                        continue;
                                b = copy_of(p);
                                b[xb->ib + 1] = 3;
                                fix_block(p, b, xb);
                                emit_pst(12, "attachment-xblock-clevel-3", p, b,
                                         ITEMS("XBLOCK", 0, 0));
                                memcpy(b, p->b, p->n);
                                put_le32(b + xb->ib + 4, get_le32(p->b + xb->ib + 4) + 1);
                                fix_block(p, b, xb);
                                emit_pst(12, "attachment-xblock-lcbtotal-off", p, b,
                                         EXPORT_ONLY("lcbTotal"));
                                memcpy(b, p->b, p->n);
                                put_le32(b + xb->ib + 4, 0xFFFFFFFF);
                                fix_block(p, b, xb);
                                emit_pst(12, "attachment-xblock-lcbtotal-4g", p, b,
                                         EXPORT_ONLY("lcbTotal"));
                                free(b);
                                return;
                        }
                }
        }
        fprintf(stderr, "pst-malform: case 12: no attachment behind an XBLOCK in %s\n", p->src);
}

static void case_12(struct sources *s)
{
        struct pst_gen *g = &s->gx;
        uint32_t lcb = get_le32(g->buf + g->blk[2].ib + 4);

        gen_xblock(g, 3, -1, -1, false, false, "xblock-clevel-3", "XBLOCK");
        gen_xblock(g, 0, -1, -1, false, false, "xblock-clevel-0", "XBLOCK");
        gen_xblock(g, -1, 0xFFFF, -1, false, false, "xblock-cent-huge", "XBLOCK");
        gen_xblock(g, -1, -1, lcb + 1, false, false, "xblock-lcbtotal-off", "lcbTotal");
        gen_xblock(g, -1, -1, 0xFFFFFFFF, false, false, "xblock-lcbtotal-4g", "lcbTotal");
        gen_xblock(g, 2, -1, -1, true, false, "xxblock-lists-itself", "XBLOCK");
        gen_xblock(g, -1, -1, -1, false, true, "xblock-child-internal", "XBLOCK");
        xblock_attachment(&s->c);
}

/* The message's SLBLOCK rewritten by fn. */
static uint8_t *with_slblock(const struct pst *p, const struct node *m,
                             void (*fn)(const struct pst *, uint8_t *, const struct block *,
                                        const struct node *))
{
        const struct block *sl;
        struct subnode sn[64];
        uint8_t *b;

        if (subnodes(p, p->b, m->sub, &sl, sn, 64) == 0)
                return NULL;
        b = copy_of(p);
        fn(p, b, sl, m);
        fix_block(p, b, sl);
        return b;
}

static void sl_self(const struct pst *p, uint8_t *b, const struct block *sl, const struct node *m)
{
        uint8_t *q = b + sl->ib;
        uint32_t hdr = p->id == 8 ? 8 : 4;

        q[1] = 1;
        put_le16(q + 2, 1);
        put_id(p, q + hdr, 0);
        put_id(p, q + hdr + p->id, sl->bid);
}

static void sl_deep(const struct pst *p, uint8_t *b, const struct block *sl, const struct node *m)
{
        b[sl->ib + 1] = 5;
}

static void sl_parent(const struct pst *p, uint8_t *b, const struct block *sl, const struct node *m)
{
        uint32_t hdr = p->id == 8 ? 8 : 4, c_ent = get_le16(b + sl->ib + 2);

        for (uint32_t i = 0; i < c_ent; i++) {
                uint8_t *e = b + sl->ib + hdr + i * 3 * p->id;

                if (get_le32(e) == 0x671)
                        put_id(p, e + p->id, m->data);
        }
}

static void sl_no_rcpt(const struct pst *p, uint8_t *b, const struct block *sl,
                       const struct node *m)
{
        uint32_t hdr = p->id == 8 ? 8 : 4, c_ent = get_le16(b + sl->ib + 2);

        for (uint32_t i = 0; i < c_ent; i++) {
                uint8_t *e = b + sl->ib + hdr + i * 3 * p->id;

                /* 0x692 -> 0x6B2: a NID no reader asks for, order kept. */
                if (get_le32(e) == 0x692 && (i + 1 == c_ent || get_le32(e + 3 * p->id) > 0x6B2))
                        put_le32(e, 0x6B2);
        }
}

static void case_13(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = pick_message(u, true, false);
        uint8_t *b;

        b = with_slblock(u, m, sl_self);
        emit_pst(13, "siblock-lists-itself", u, b, ITEMS("subnode", 0, 0));
        free(b);
        b = with_slblock(u, m, sl_deep);
        emit_pst(13, "slblock-clevel-5", u, b, ITEMS("subnode", 0, 0));
        free(b);
        b = with_slblock(u, m, sl_parent);
        emit_pst(13, "subnode-is-parent", u, b, ITEMS("not a table context", 0, 0));
        free(b);
}

/* ---- tables ---------------------------------------------------------------- */

struct tcinfo {
        uint32_t off; /* of TCINFO in the block */
        uint32_t c_cols;
        uint32_t row_size;
        uint32_t hid_index;
        uint32_t rows_off, n_rows; /* heap-resident row matrix */
};

static bool tc_parse(const struct heap *h, struct tcinfo *t)
{
        uint32_t off, len, hnid;

        if (h->client_sig != 0x7C || !heap_alloc(h, h->hid_user_root, &off, &len) || len < 22 ||
            h->d[off] != 0x7C)
                return false;
        *t = (struct tcinfo){ .off = off,
                              .c_cols = h->d[off + 1],
                              .row_size = get_le16(h->d + off + 8),
                              .hid_index = get_le32(h->d + off + 10) };
        hnid = get_le32(h->d + off + 14);
        if (hnid == 0)
                return true;
        if ((hnid & 0x1F) != 0 || t->row_size == 0 || !heap_alloc(h, hnid, &t->rows_off, &len))
                return false;
        t->n_rows = len / t->row_size;
        return true;
}

/* Rows of table node nid (top-level), heap-resident only; -1 if unknown. */
static int table_rows(const struct pst *p, uint32_t nid)
{
        const struct node *n = node_find(p, nid);
        const struct block *bl = node_block(p, n);
        struct tcinfo t;
        struct heap h;
        uint8_t *d;
        int r = -1;

        if (!n)
                return 0;
        if (!bl)
                return -1;
        d = block_get(p, p->b, bl);
        if (heap_parse(d, bl->cb, &h) && tc_parse(&h, &t) && get_le32(d + t.off + 14) != 0 &&
            (get_le32(d + t.off + 14) & 0x1F) == 0)
                r = (int)t.n_rows;
        else if (heap_parse(d, bl->cb, &h) && tc_parse(&h, &t) && get_le32(d + t.off + 14) == 0)
                r = 0;
        free(d);
        return r;
}

/* A folder with no subfolders and no messages. */
static bool empty_folder(const struct pst *p, uint32_t nid)
{
        return NID_TYPE(nid) == NT_FOLDER && table_rows(p, (nid & ~0x1Fu) | NT_HIER) == 0 &&
               table_rows(p, (nid & ~0x1Fu) | NT_CONTENTS) == 0 &&
               table_rows(p, (nid & ~0x1Fu) | NT_FAI) == 0;
}

/* Set row `row` of table node tnid's dwRowID to v. */
struct row_ctx {
        uint32_t row, v;
};

static bool set_row_id(struct heap *h, void *ctx)
{
        struct row_ctx *c = ctx;
        struct tcinfo t;

        if (!tc_parse(h, &t) || c->row >= t.n_rows)
                return false;
        put_le32(h->d + t.rows_off + c->row * t.row_size, c->v);
        return true;
}

/* A hierarchy table with a row naming an empty folder: *ret_row, *ret_child. */
static const struct node *pick_hier(const struct pst *p, uint32_t *ret_row, uint32_t *ret_child)
{
        for (size_t i = 0; i < p->n_nodes; i++) {
                const struct node *n = &p->nodes[i];
                const struct block *bl = node_block(p, n);
                struct tcinfo t;
                struct heap h;
                uint8_t *d;

                if (NID_TYPE(n->nid) != NT_HIER || !bl)
                        continue;
                d = block_get(p, p->b, bl);
                if (heap_parse(d, bl->cb, &h) && tc_parse(&h, &t)) {
                        for (uint32_t r = 0; r < t.n_rows; r++) {
                                uint32_t c = get_le32(d + t.rows_off + r * t.row_size);

                                if (empty_folder(p, c)) {
                                        *ret_row = r;
                                        *ret_child = c;
                                        free(d);
                                        return n;
                                }
                        }
                }
                free(d);
        }
        return NULL;
}

/* A contents table with heap rows. */
static const struct node *pick_contents(const struct pst *p)
{
        for (size_t i = 0; i < p->n_nodes; i++)
                if (NID_TYPE(p->nodes[i].nid) == NT_CONTENTS && table_rows(p, p->nodes[i].nid) > 0)
                        return &p->nodes[i];
        return NULL;
}

static void case_14(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *ct = pick_contents(u), *ht;
        struct row_ctx rc = { .row = 0, .v = (ct->nid & ~0x1Fu) | NT_FOLDER };
        uint32_t row, child;
        uint8_t *b;

        b = with_heap(u, ct, set_row_id, &rc);
        emit_pst(14, "contents-row-is-folder", u, b, ITEMS("not a message", 1, 0));
        free(b);
        /* A message NID in place of a folder's. */
        ht = pick_hier(u, &row, &child);
        rc = (struct row_ctx){ .row = row };
        for (size_t i = 0; i < u->n_nodes && !rc.v; i++)
                if (NID_TYPE(u->nodes[i].nid) == NT_MESSAGE)
                        rc.v = u->nodes[i].nid;
        b = with_heap(u, ht, set_row_id, &rc);
        emit_pst(14, "hierarchy-row-is-message", u, b, ITEMS("not a folder NID", 0, 1));
        free(b);
}

static void case_15(struct sources *s)
{
        const struct pst *u = &s->u;
        uint32_t row, child;
        const struct node *ht = pick_hier(u, &row, &child);
        struct row_ctx rc = { .row = row, .v = (ht->nid & ~0x1Fu) | NT_FOLDER };
        uint8_t *b;

        b = with_heap(u, ht, set_row_id, &rc);
        emit_pst(15, "folder-lists-itself", u, b, ITEMS("cycle", 0, 1));
        free(b);
        rc.v = 0x122;
        b = with_heap(u, ht, set_row_id, &rc);
        emit_pst(15, "folder-lists-root", u, b, ITEMS("cycle", 0, 1));
        free(b);
        /* An orphan: the NBT's nidParent names no node.  Tables are what
         * a walk follows; nothing may be lost. */
        {
                const struct node *f = node_find(u, child);
                const struct page *pg = page_at(u, f->page_ib);

                b = copy_of(u);
                put_le32(b + pg->ib + (size_t)f->idx * pg->cb_ent + 3 * u->id, 0x7FFFFFE2);
                fix_page(u, b, pg->ib);
                emit_pst(15, "orphan-folder-parent", u, b, UNSEEN);
                free(b);
        }
}

/* ---- case 15's chain: a file written from scratch ------------------------- */

/* Folders in the chain: far past PST_WALK_MAX_DEPTH (ost2pst#2 had 9,620). */
#define CHAIN_DEPTH 10000u

struct wr {
        uint8_t *b;
        size_t n, cap;
        uint64_t next_bid;
        uint8_t *bbt; /* leaf entries, 24 bytes each */
        uint8_t *nbt; /* leaf entries, 32 bytes each */
        size_t n_bbt, n_nbt;
};

static void wr_grow(struct wr *w, size_t n)
{
        if (w->n + n > w->cap) {
                w->cap = (w->n + n) * 2;
                w->b = realloc(w->b, w->cap);
                if (!w->b)
                        abort();
        }
        memset(w->b + w->n, 0, n);
        w->n += n;
}

/* A Unicode data block (no encoding): its BID. */
static uint64_t wr_block(struct wr *w, const uint8_t *data, uint32_t len)
{
        uint32_t span = (len + 16 + 63) / 64 * 64;
        uint64_t ib = w->n, bid = (w->next_bid += 4);
        uint8_t *tr, *e;

        wr_grow(w, span);
        memcpy(w->b + ib, data, len);
        tr = w->b + ib + span - 16;
        put_le16(tr, (uint16_t)len);
        put_le16(tr + 2, pst_wsig(ib, bid));
        put_le32(tr + 4, pst_crc32(0, data, len));
        put_le64(tr + 8, bid);
        e = w->bbt + w->n_bbt++ * 24;
        put_le64(e, bid);
        put_le64(e + 8, ib);
        put_le16(e + 16, (uint16_t)len);
        put_le16(e + 18, 2);
        return bid;
}

static void wr_node(struct wr *w, uint32_t nid, uint64_t bid, uint32_t parent)
{
        uint8_t *e = w->nbt + w->n_nbt++ * 32;

        put_le64(e, nid);
        put_le64(e + 8, bid);
        put_le32(e + 24, parent);
}

/* One level of a B-tree from entries (cb bytes each, key first): the
 * pages, and their BTENTRYs for the level above. */
static uint8_t *wr_level(struct wr *w, uint8_t ptype, unsigned level, const uint8_t *ent, size_t n,
                         unsigned cb, size_t *ret_n)
{
        unsigned per = 488 / cb;
        size_t n_pages = (n + per - 1) / per;
        uint8_t *up = calloc(n_pages, 24);

        if (!up)
                abort();
        for (size_t k = 0; k < n_pages; k++) {
                size_t first = k * per, cnt = n - first < per ? n - first : per;
                uint64_t ib = w->n, bid = (w->next_bid += 4);
                uint8_t *pg, *tr;

                wr_grow(w, 512);
                pg = w->b + ib;
                memcpy(pg, ent + first * cb, cnt * cb);
                pg[488] = (uint8_t)cnt;
                pg[489] = (uint8_t)per;
                pg[490] = (uint8_t)cb;
                pg[491] = (uint8_t)level;
                tr = pg + 496;
                tr[0] = tr[1] = ptype;
                put_le16(tr + 2, pst_wsig(ib, bid));
                put_le64(tr + 8, bid);
                put_le32(tr + 4, pst_crc32(0, pg, 496));
                memcpy(up + k * 24, ent + first * cb, 8);
                put_le64(up + k * 24 + 8, bid);
                put_le64(up + k * 24 + 16, ib);
        }
        *ret_n = n_pages;
        return up;
}

/* The whole tree: root BREF at hdr_off of the header. */
static void wr_tree(struct wr *w, uint8_t ptype, const uint8_t *leaf, size_t n, unsigned cb,
                    size_t hdr_off)
{
        uint8_t *cur = NULL;
        size_t m;
        unsigned level = 0;

        cur = wr_level(w, ptype, level, leaf, n, cb, &m);
        while (m > 1) {
                uint8_t *up = wr_level(w, ptype, ++level, cur, m, 24, &m);

                free(cur);
                cur = up;
        }
        put_le64(w->b + hdr_off, get_le64(cur + 8));
        put_le64(w->b + hdr_off + 8, get_le64(cur + 16));
        free(cur);
}

/* A heap (HNHDR, allocations, HNPAGEMAP) into out; returns its length. */
static uint32_t heap_make(uint8_t *out, uint8_t client_sig, const uint8_t *const *alloc,
                          const uint32_t *len, unsigned n)
{
        uint32_t off = 12;
        uint16_t ib[16];

        memset(out, 0, 12);
        out[2] = 0xEC;
        out[3] = client_sig;
        put_le32(out + 4, hid_of(1));
        for (unsigned i = 0; i < n; i++) {
                ib[i] = (uint16_t)off;
                memcpy(out + off, alloc[i], len[i]);
                off += len[i];
        }
        ib[n] = (uint16_t)off;
        put_le16(out, (uint16_t)off);
        put_le16(out + off, (uint16_t)n);
        put_le16(out + off + 2, 0);
        for (unsigned i = 0; i <= n; i++)
                put_le16(out + off + 4 + 2 * i, ib[i]);
        return off + 4 + 2 * (n + 1);
}

/* A PC with PidTagDisplayName name (ASCII). */
static uint32_t pc_make(uint8_t *out, const char *name)
{
        uint8_t bth[8] = { 0xB5, 2, 6, 0 }, rec[8], str[64];
        size_t n = strlen(name);
        const uint8_t *a[] = { bth, rec, str };
        uint32_t len[] = { 8, 8, (uint32_t)(2 * n) };

        put_le32(bth + 4, hid_of(2));
        put_le16(rec, 0x3001);
        put_le16(rec + 2, PST_PT_UNICODE);
        put_le32(rec + 4, hid_of(3));
        for (size_t i = 0; i < n; i++)
                put_le16(str + 2 * i, (uint8_t)name[i]);
        return heap_make(out, 0xBC, a, len, 3);
}

/* A TC of one column (dwRowID) with one row (row_id), or none (0). */
static uint32_t tc_make(uint8_t *out, uint32_t row_id)
{
        uint8_t info[30] = { 0x7C, 1 }, bth[8] = { 0xB5, 4, 4, 0 }, rec[8] = {}, row[5] = {};
        const uint8_t *a[] = { info, bth, rec, row };
        uint32_t len[] = { 30, 8, 8, 5 };

        put_le16(info + 2, 4);
        put_le16(info + 4, 4);
        put_le16(info + 6, 4);
        put_le16(info + 8, 5);
        put_le32(info + 10, hid_of(2));
        put_le32(info + 14, row_id ? hid_of(4) : 0);
        put_le32(info + 22, 0x67F20003);
        info[28] = 4;
        put_le32(bth + 4, row_id ? hid_of(3) : 0);
        put_le32(rec, row_id);
        put_le32(row, row_id);
        row[4] = 0x80;
        return heap_make(out, 0x7C, a, len, row_id ? 4 : 2);
}

static uint32_t chain_nid(uint32_t i, uint32_t type)
{
        return ((0x400u + i) << 5) | type;
}

static void case_15_chain(struct sources *s)
{
        struct wr w = { .next_bid = 0x100 };
        uint8_t heap[256];
        uint64_t pc, empty, store;
        uint32_t len;

        w.bbt = calloc(CHAIN_DEPTH + 16, 24);
        w.nbt = calloc(3 * CHAIN_DEPTH + 16, 32);
        if (!w.bbt || !w.nbt)
                abort();
        /* pst-gen's Unicode header (no encoding), fields rewritten below. */
        wr_grow(&w, 1024);
        memcpy(w.b, s->gx.buf, PST_HEADER_SIZE);
        w.b[513] = PST_CRYPT_NONE;

        len = pc_make(heap, "deep chain");
        store = wr_block(&w, heap, len);
        len = pc_make(heap, "d");
        pc = wr_block(&w, heap, len);
        len = tc_make(heap, 0);
        empty = wr_block(&w, heap, len);

        wr_node(&w, 0x21, store, 0);
        wr_node(&w, 0x122, pc, 0x122);
        len = tc_make(heap, chain_nid(0, NT_FOLDER));
        wr_node(&w, 0x12D, wr_block(&w, heap, len), 0);
        wr_node(&w, 0x12E, empty, 0);
        for (uint32_t i = 0; i < CHAIN_DEPTH; i++) {
                wr_node(&w, chain_nid(i, NT_FOLDER), pc, i ? chain_nid(i - 1, NT_FOLDER) : 0x122);
                if (i + 1 < CHAIN_DEPTH) {
                        len = tc_make(heap, chain_nid(i + 1, NT_FOLDER));
                        wr_node(&w, chain_nid(i, NT_HIER), wr_block(&w, heap, len), 0);
                } else {
                        wr_node(&w, chain_nid(i, NT_HIER), empty, 0);
                }
                wr_node(&w, chain_nid(i, NT_CONTENTS), empty, 0);
        }
        /* Pages start on a page boundary. */
        wr_grow(&w, (512 - w.n % 512) % 512);
        wr_tree(&w, PST_PTYPE_BBT, w.bbt, w.n_bbt, 24, 232);
        wr_tree(&w, PST_PTYPE_NBT, w.nbt, w.n_nbt, 32, 216);
        put_le64(w.b + 184, w.n);
        put_le32(w.b + 4, pst_crc32(0, w.b + 8, 471));
        put_le32(w.b + 524, pst_crc32(0, w.b + 8, 516));
        emit(15, "folder-chain-10000-deep", NULL, w.b, w.n, FILE_LEVEL("1", "deeper than"));
        free(w.b);
        free(w.bbt);
        free(w.nbt);
}

static void case_16(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct page *root = first_page(u, PST_PTYPE_NBT, 1);

        /* Leaves k and k+1 under the root: the first NID of k+1 becomes the
         * last NID of k, and so does the root's key for k+1.  Lookups of
         * that NID find the entry of k+1 (other data). */
        for (uint32_t k = 0; k + 1 < root->c_ent; k++) {
                const uint8_t *e0 = u->b + root->ib + (size_t)k * root->cb_ent;
                const uint8_t *e1 = e0 + root->cb_ent;
                const struct page *l0 = page_at(u, get_id(u, e0 + 2 * u->id));
                const struct page *l1 = page_at(u, get_id(u, e1 + 2 * u->id));
                uint32_t last, first;
                uint8_t *b;

                if (!l0 || !l1 || l0->level != 0 || l1->level != 0)
                        continue;
                last = (uint32_t)get_id(u, u->b + l0->ib + (size_t)(l0->c_ent - 1) * l0->cb_ent);
                first = (uint32_t)get_id(u, u->b + l1->ib);
                if (NID_TYPE(last) != NT_MESSAGE || NID_TYPE(first) != NT_MESSAGE)
                        continue;
                b = copy_of(u);
                put_id(u, b + l1->ib, last);
                fix_page(u, b, l1->ib);
                put_id(u, b + root->ib + (size_t)(k + 1) * root->cb_ent, last);
                fix_page(u, b, root->ib);
                emit_pst(16, "nid-in-two-leaves", u, b,
                         ((struct expect){
                             .exits = "0,1", .sub = "", .lost_msgs = 2, .lost_folders = 0 }));
                free(b);
                return;
        }
        fprintf(stderr, "pst-malform: case 16: no two message leaves in %s\n", u->src);
}

/* ---- heap cases ------------------------------------------------------------ */

struct hn_ctx {
        int what;
        uint16_t id;
        uint32_t v;
};

static bool hn_damage(struct heap *h, void *ctx)
{
        struct hn_ctx *c = ctx;
        uint8_t *g = rgib(h);
        uint32_t off, bth, roff, n, rec;

        switch (c->what) {
        case 0: /* ibHnpm */
                put_le16(h->d, 0xFFFF);
                return true;
        case 1: /* cAlloc */
                put_le16(h->d + h->ib_hnpm, 0x7FFF);
                return true;
        case 2: /* rgibAlloc not monotonic */
                if (h->c_alloc < 3)
                        return false;
                {
                        uint16_t t = get_le16(g + 2);

                        put_le16(g + 2, get_le16(g + 4));
                        put_le16(g + 4, t);
                }
                return true;
        case 3: /* last allocation past the block */
                put_le16(g + 2 * h->c_alloc, (uint16_t)(h->len + 100));
                return true;
        case 4: /* property c->id's dwValueHnid */
                if (!pc_prop(h, c->id, &off))
                        return false;
                put_le32(h->d + off + 4, c->v);
                return true;
        case 5: /* property c->id's wPropType */
                if (!pc_prop(h, c->id, &off))
                        return false;
                put_le16(h->d + off + 2, (uint16_t)c->v);
                return true;
        case 6: /* hidUserRoot */
                put_le32(h->d + 4, c->v);
                return true;
        case 7: /* BTHHEADER byte c->id (1 cbKey, 2 cbEnt, 3 levels) or hidRoot (4) */
                if (!bth_leaf(h, h->hid_user_root, &bth, &roff, &n, &rec))
                        return false;
                if (c->id == 4)
                        put_le32(h->d + bth + 4, c->v);
                else
                        h->d[bth + c->id] = (uint8_t)c->v;
                return true;
        case 8: /* property c->id's key */
                if (!pc_prop(h, c->id, &off))
                        return false;
                put_le16(h->d + off, (uint16_t)c->v);
                return true;
        }
        return false;
}

static uint8_t *msg_heap(const struct pst *p, const struct node *m, int what, uint16_t id,
                         uint32_t v)
{
        struct hn_ctx c = { .what = what, .id = id, .v = v };

        return with_heap(p, m, hn_damage, &c);
}

static void emit_or_note(unsigned kase, const char *name, const struct pst *p, uint8_t *b,
                         struct expect e)
{
        if (!b) {
                fprintf(stderr, "pst-malform: case %u %s: no target in %s\n", kase, name, p->src);
                return;
        }
        emit_pst(kase, name, p, b, e);
        free(b);
}

static void case_17(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = pick_message(u, false, false);

        emit_or_note(17, "hn-ibhnpm-outside", u, msg_heap(u, m, 0, 0, 0), ITEMS("ibHnpm", 1, 0));
        emit_or_note(17, "hn-calloc-huge", u, msg_heap(u, m, 1, 0, 0), ITEMS("cAlloc", 1, 0));
        emit_or_note(17, "hn-rgiballoc-unordered", u, msg_heap(u, m, 2, 0, 0),
                     ITEMS("rgibAlloc", 1, 0));
        emit_or_note(17, "hn-alloc-past-block", u, msg_heap(u, m, 3, 0, 0),
                     ITEMS("rgibAlloc", 1, 0));
}

static void case_18(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = pick_message(u, false, false);

        emit_or_note(18, "hid-block-5", u, msg_heap(u, m, 4, 0x0037, (5u << 16) | hid_of(1)),
                     ITEMS("does not name an allocation", 0, 0));
        emit_or_note(18, "hid-index-2000", u, msg_heap(u, m, 4, 0x0037, hid_of(2000)),
                     ITEMS("names allocation", 0, 0));
        emit_or_note(18, "hid-user-root-0", u, msg_heap(u, m, 6, 0, 0), ITEMS("BTH", 1, 0));
}

static void case_19(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = pick_message(u, false, false);

        emit_or_note(19, "bth-cbkey-3", u, msg_heap(u, m, 7, 1, 3), ITEMS("cbKey", 1, 0));
        emit_or_note(19, "bth-cbent-5", u, msg_heap(u, m, 7, 2, 5), ITEMS("cbEnt", 1, 0));
        emit_or_note(19, "bth-levels-200", u, msg_heap(u, m, 7, 3, 200), ITEMS("bIdxLevels", 1, 0));
        emit_or_note(19, "bth-hidroot-invalid", u, msg_heap(u, m, 7, 4, 0xFFFFFFE0),
                     ITEMS("HID", 1, 0));
}

static void case_20(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = pick_message(u, false, false);

        emit_or_note(20, "pc-unknown-type", u, msg_heap(u, m, 5, 0x0037, 0x0077),
                     ITEMS("unknown type", 0, 0));
        emit_or_note(20, "pc-fixed-size-wrong", u, msg_heap(u, m, 5, 0x0037, PST_PT_SYSTIME),
                     ITEMS("expected 8", 0, 0));
        emit_or_note(20, "pc-missing-subnode", u, msg_heap(u, m, 4, 0x0037, 0x7FFFFFE4),
                     ITEMS("lacks", 0, 0));
}

/* ---- values ---------------------------------------------------------------- */

/* Rewrite the value bytes of property id of node n (or of its subnode snid
 * when snid != 0), in the heap or in the value's own subnode block. */
typedef bool (*value_fn)(uint8_t *v, uint32_t len, void *ctx);

static uint8_t *with_value(const struct pst *p, const struct node *n, uint32_t snid, uint16_t id,
                           value_fn fn, void *ctx)
{
        struct subnode sn[64], vs[64];
        const struct block *sl, *bl = NULL, *vbl;
        const struct subnode *e;
        uint64_t sub = n->sub;
        uint32_t off, len, hnid;
        uint8_t *b, *d;
        struct heap h;
        size_t k;

        if (snid) {
                k = subnodes(p, p->b, n->sub, &sl, sn, 64);
                e = subnode_find(sn, k, snid);
                if (!e || (e->data & PST_BID_INTERNAL))
                        return NULL;
                bl = block_find(p, e->data);
                sub = e->sub;
        } else {
                bl = node_block(p, n);
        }
        if (!bl)
                return NULL;
        b = copy_of(p);
        d = block_get(p, b, bl);
        if (!heap_parse(d, bl->cb, &h) || !pc_prop(&h, id, &off)) {
                free(d);
                free(b);
                return NULL;
        }
        hnid = get_le32(d + off + 4);
        if ((hnid & 0x1F) == 0) {
                if (!heap_alloc(&h, hnid, &off, &len) || !fn(d + off, len, ctx)) {
                        free(d);
                        free(b);
                        return NULL;
                }
                block_put(p, b, bl, d);
                free(d);
                return b;
        }
        free(d);
        k = subnodes(p, p->b, sub, &sl, vs, 64);
        e = subnode_find(vs, k, hnid);
        if (!e || (e->data & PST_BID_INTERNAL) || !(vbl = block_find(p, e->data))) {
                free(b);
                return NULL;
        }
        d = block_get(p, b, vbl);
        if (!fn(d, vbl->cb, ctx)) {
                free(d);
                free(b);
                return NULL;
        }
        block_put(p, b, vbl, d);
        free(d);
        return b;
}

struct put_ctx {
        uint32_t off;
        uint64_t v;
        unsigned size;
        const char *utf16; /* or write this string as UTF-16LE, padded with spaces */
};

static bool put_value(uint8_t *v, uint32_t len, void *ctx)
{
        struct put_ctx *c = ctx;

        if (c->utf16) {
                size_t n = strlen(c->utf16);

                for (uint32_t i = 0; i + 1 < len; i += 2)
                        put_le16(v + i, i / 2 < n ? (uint8_t)c->utf16[i / 2] : ' ');
                return len >= 2;
        }
        if (c->off + c->size > len)
                return false;
        for (unsigned i = 0; i < c->size; i++)
                v[c->off + i] = (uint8_t)(c->v >> (8 * i));
        return true;
}

static uint8_t *value_put(const struct pst *p, const struct node *n, uint32_t snid, uint16_t id,
                          uint32_t off, uint64_t v, unsigned size)
{
        struct put_ctx c = { .off = off, .v = v, .size = size };

        return with_value(p, n, snid, id, put_value, &c);
}

static uint8_t *value_utf16(const struct pst *p, const struct node *n, uint32_t snid, uint16_t id,
                            const char *s)
{
        struct put_ctx c = { .utf16 = s };

        return with_value(p, n, snid, id, put_value, &c);
}

/* A message with property id; NULL if none. */
static const struct node *message_with(const struct pst *p, uint16_t id, uint32_t type_mask)
{
        for (size_t i = 0; i < p->n_nodes; i++) {
                const struct node *n = &p->nodes[i];
                const struct block *bl = node_block(p, n);
                struct heap h;
                uint32_t off;
                uint8_t *d;
                bool ok;

                if (NID_TYPE(n->nid) != NT_MESSAGE || !bl)
                        continue;
                d = block_get(p, p->b, bl);
                ok = heap_parse(d, bl->cb, &h) && pc_prop(&h, id, &off) &&
                     (!type_mask || (get_le16(d + off + 2) & type_mask));
                free(d);
                if (ok)
                        return n;
        }
        return NULL;
}

/* The first attachment subnode of m. */
static uint32_t first_attachment(const struct pst *p, const struct node *m)
{
        struct subnode sn[64];
        const struct block *sl;
        size_t k = subnodes(p, p->b, m->sub, &sl, sn, 64);

        for (size_t i = 0; i < k; i++)
                if (NID_TYPE(sn[i].nid) == NT_ATTACH)
                        return sn[i].nid;
        return 0;
}

static void case_21(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = NULL;
        uint16_t id = 0;

        /* A multi-valued property of any message. */
        for (size_t i = 0; i < u->n_nodes && !m; i++) {
                const struct node *n = &u->nodes[i];
                const struct block *bl = node_block(u, n);
                uint32_t bth, off, cnt, rec;
                struct heap h;
                uint8_t *d;

                if (NID_TYPE(n->nid) != NT_MESSAGE || !bl)
                        continue;
                d = block_get(u, u->b, bl);
                if (heap_parse(d, bl->cb, &h) && h.client_sig == 0xBC &&
                    bth_leaf(&h, h.hid_user_root, &bth, &off, &cnt, &rec))
                        for (uint32_t j = 0; j < cnt && !m; j++)
                                if (get_le16(d + off + j * 8 + 2) & PST_PT_MV) {
                                        m = n;
                                        id = get_le16(d + off + j * 8);
                                }
                free(d);
        }
        if (!m) {
                fprintf(stderr, "pst-malform: case 21: no multi-valued property in %s\n", u->src);
                return;
        }
        emit_or_note(21, "mv-count-2g", u, value_put(u, m, 0, id, 0, 0x7FFFFFFF, 4),
                     EXPORT_ONLY("multi-valued"));
        emit_or_note(21, "mv-count-4g", u, value_put(u, m, 0, id, 0, 0xFFFFFFFF, 4),
                     EXPORT_ONLY("multi-valued"));
}

struct tc_ctx {
        int what;
};

static bool tc_damage(struct heap *h, void *ctx)
{
        struct tc_ctx *c = ctx;
        struct tcinfo t;
        uint32_t bth, roff, n, rec;

        if (!tc_parse(h, &t))
                return false;
        switch (c->what) {
        case 0: /* cCols beyond TCINFO */
                h->d[t.off + 1] = 255;
                return true;
        case 1: /* column 0 past the row */
                put_le16(h->d + t.off + 22 + 4, 0xFFF0);
                return true;
        case 2: /* CEB too short: row size = end of the 1-byte area */
                put_le16(h->d + t.off + 8, get_le16(h->d + t.off + 6));
                return true;
        case 3: /* rows twice as long: the matrix holds half the index */
                put_le16(h->d + t.off + 8, (uint16_t)(2 * t.row_size));
                return t.n_rows > 0;
        case 4: /* row index values past the matrix */
                if (!bth_leaf(h, t.hid_index, &bth, &roff, &n, &rec))
                        return false;
                for (uint32_t i = 0; i < n; i++)
                        put_le32(h->d + roff + i * rec + 4, 0xFFFFFFF0);
                return n > 0;
        case 5: /* row index emptied */
                if (!bth_leaf(h, t.hid_index, &bth, &roff, &n, &rec))
                        return false;
                put_le32(h->d + bth + 4, 0);
                return true;
        case 6: /* row index: 8 index levels whose records all lead back to
                 * the root, so it claims n^9 rows (bounded: levels <= 8) */
                if (!bth_leaf(h, t.hid_index, &bth, &roff, &n, &rec) || rec != 8)
                        return false;
                if (n < 2)
                        return false;
                h->d[bth + 3] = 8;
                for (uint32_t i = 0; i < n; i++)
                        put_le32(h->d + roff + i * rec + 4, get_le32(h->d + bth + 4));
                return n > 0;
        }
        return false;
}

static uint8_t *rcpt_damage(const struct pst *p, const struct node *m, int what)
{
        struct tc_ctx c = { .what = what };

        return with_sub_heap(p, m, 0x692, tc_damage, &c);
}

static void case_22(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = pick_message(u, false, false);

        emit_or_note(22, "tc-ccols-255", u, rcpt_damage(u, m, 0), ITEMS("cCols", 0, 0));
        emit_or_note(22, "tc-column-past-row", u, rcpt_damage(u, m, 1), ITEMS("TCOLDESC", 0, 0));
        emit_or_note(22, "tc-ceb-short", u, rcpt_damage(u, m, 2), ITEMS("CEB", 0, 0));
        emit_or_note(22, "tc-matrix-short", u, rcpt_damage(u, m, 3),
                     ITEMS("row matrix shorter", 0, 0));
        emit_or_note(22, "tc-row-index-past-matrix", u, rcpt_damage(u, m, 4), UNSEEN);
}

static bool nameid_guid(uint8_t *v, uint32_t len, void *ctx)
{
        for (uint32_t i = 0; i + 8 <= len; i += 8)
                put_le16(v + i + 4, (uint16_t)(0xFFFE | (get_le16(v + i + 4) & 1)));
        return len >= 8;
}

static bool nameid_string(uint8_t *v, uint32_t len, void *ctx)
{
        bool any = false;

        for (uint32_t i = 0; i + 8 <= len; i += 8)
                if (get_le16(v + i + 4) & 1) {
                        put_le32(v + i, 0x7FFFFFF0);
                        any = true;
                }
        return any;
}

static void case_23(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *n = node_find(u, 0x61);

        emit_or_note(23, "nameid-guid-index", u, with_value(u, n, 0, 0x0003, nameid_guid, NULL),
                     EXPORT_ONLY("name-to-id"));
        emit_or_note(23, "nameid-string-offset", u,
                     with_value(u, n, 0, 0x0003, nameid_string, NULL), EXPORT_ONLY("name-to-id"));
        /* The GUID stream pointed at the 8-byte BTHHEADER. */
        {
                const struct block *bl = node_block(u, n);
                uint8_t *d = bl ? block_get(u, u->b, bl) : NULL;
                struct heap h;
                uint32_t root = 0;

                if (d && heap_parse(d, bl->cb, &h))
                        root = h.hid_user_root;
                free(d);
                emit_or_note(23, "nameid-guid-stream-short", u, msg_heap(u, n, 4, 0x0002, root),
                             EXPORT_ONLY("name-to-id"));
        }
}

static bool odd_last(struct heap *h, void *ctx)
{
        uint8_t *g = rgib(h);
        uint32_t off;
        uint32_t start = get_le16(g + 2 * (h->c_alloc - 1)), end = get_le16(g + 2 * h->c_alloc);

        if (!pc_prop(h, 0x0037, &off) || end - start < 3)
                return false;
        put_le32(h->d + off + 4, hid_of(h->c_alloc));
        if ((end - start) % 2 == 0)
                put_le16(g + 2 * h->c_alloc, (uint16_t)(end - 1));
        return true;
}

static void case_24(struct sources *s)
{
        const struct pst *u = &s->u, *a = &s->a;
        const struct node *m = pick_message(u, false, false), *am;

        emit_or_note(24, "utf16-unpaired-surrogate", u,
                     value_put(u, m, 0, 0x0037, 0, 0x0041D800, 4), UNSEEN);
        emit_or_note(24, "utf16-lone-low-surrogate", u, value_put(u, m, 0, 0x0037, 2, 0xDC00, 2),
                     UNSEEN);
        emit_or_note(
            24, "utf16-odd-length", u, with_heap(u, m, odd_last, NULL),
            ((struct expect){ .exits = "0,1", .sub = "", .lost_msgs = 0, .lost_folders = 0 }));
        am = message_with(a, 0x0037, 0);
        emit_or_note(24, "string8-bogus-codepage", a, msg_heap(a, am, 4, 0x3FFD, 0xFFFF),
                     EXPORT_QUIET);
        emit_or_note(24, "string8-bogus-internet-cpid", a, msg_heap(a, am, 4, 0x3FDE, 99999),
                     EXPORT_QUIET);
}

static void case_25(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = message_with(u, 0x0E06, 0);

        if (!m)
                m = message_with(u, 0x0039, 0);
        emit_or_note(25, "filetime-0", u, value_put(u, m, 0, 0x0E06, 0, 0, 8), EXPORT_QUIET);
        emit_or_note(25, "filetime-negative", u,
                     value_put(u, m, 0, 0x0E06, 0, UINT64_C(0xFFFFFFFFFFFFFFFF), 8), EXPORT_QUIET);
        emit_or_note(25, "filetime-year-30828-plus", u,
                     value_put(u, m, 0, 0x0E06, 0, UINT64_C(0x7FFFFFFFFFFFFFFF), 8), EXPORT_QUIET);
        emit_or_note(25, "filetime-wrong-size", u, msg_heap(u, m, 5, 0x0E06, PST_PT_UNICODE),
                     EXPORT_QUIET);
}

static void case_26(struct sources *s)
{
        const struct pst *e = &s->e;
        const struct node *m = pick_message(e, true, true);
        struct subnode sn[64], s2[16];
        const struct block *sl, *sl2;
        size_t k;

        if (!m) {
                fprintf(stderr, "pst-malform: case 26: no embedded message in %s\n", e->src);
                return;
        }
        /* The embedded message's subnode tree is its parent's: the
         * attachment table leads back to the same attachment, forever. */
        k = subnodes(e, e->b, m->sub, &sl, sn, 64);
        for (size_t i = 0; i < k; i++) {
                size_t k2;

                if (NID_TYPE(sn[i].nid) != NT_ATTACH || !sn[i].sub)
                        continue;
                k2 = subnodes(e, e->b, sn[i].sub, &sl2, s2, 16);
                for (size_t j = 0; j < k2; j++) {
                        uint8_t *b;

                        if (NID_TYPE(s2[j].nid) != NT_MESSAGE)
                                continue;
                        b = copy_of(e);
                        put_id(e, b + sl2->ib + s2[j].off + 2 * e->id, m->sub);
                        fix_block(e, b, sl2);
                        emit_pst(26, "embedded-subnodes-are-parents", e, b,
                                 ITEMS("nested|cycle", 0, 0));
                        free(b);
                        /* The embedded message's data is its parent's too. */
                        b = copy_of(e);
                        put_id(e, b + sl2->ib + s2[j].off + e->id, m->data);
                        put_id(e, b + sl2->ib + s2[j].off + 2 * e->id, m->sub);
                        fix_block(e, b, sl2);
                        emit_pst(26, "embedded-is-its-parent", e, b, ITEMS("nested|cycle", 0, 0));
                        free(b);
                        return;
                }
        }
}

/* An internal block (SLBLOCK): its BID, with the internal bit. */
static uint64_t wr_internal(struct wr *w, const uint8_t *data, uint32_t len)
{
        uint64_t bid = wr_block(w, data, len), ib = get_le64(w->bbt + (w->n_bbt - 1) * 24 + 8);
        uint32_t span = (len + 16 + 63) / 64 * 64;
        uint8_t *tr = w->b + ib + span - 16;

        bid |= PST_BID_INTERNAL;
        put_le64(w->bbt + (w->n_bbt - 1) * 24, bid);
        put_le16(tr + 2, pst_wsig(ib, bid));
        put_le64(tr + 8, bid);
        return bid;
}

/* An SLBLOCK of up to two entries (nid, data, sub), NIDs ascending. */
static uint64_t wr_slblock(struct wr *w, const uint32_t *nid, const uint64_t *data,
                           const uint64_t *sub, unsigned n)
{
        uint8_t b[64] = { 0x02, 0x00 };

        put_le16(b + 2, (uint16_t)n);
        for (unsigned i = 0; i < n; i++) {
                put_le64(b + 8 + 24 * i, nid[i]);
                put_le64(b + 16 + 24 * i, data[i]);
                put_le64(b + 24 + 24 * i, sub[i]);
        }
        return wr_internal(w, b, 8 + 24 * n);
}

/* A message PC: PidTagMessageClass "IPM.Note", PidTagSubject "level N". */
static uint64_t wr_msg_pc(struct wr *w, uint32_t level)
{
        uint8_t heap[256], bth[8] = { 0xB5, 2, 6, 0 }, rec[16], cls[16], subj[32];
        const uint8_t *a[] = { bth, rec, cls, subj };
        char name[16];
        uint32_t l[] = { 8, 16, 16, 0 }, len;

        snprintf(name, sizeof(name), "level %" PRIu32, level);
        put_le32(bth + 4, hid_of(2));
        put_le16(rec, 0x001A);
        put_le16(rec + 2, PST_PT_UNICODE);
        put_le32(rec + 4, hid_of(3));
        put_le16(rec + 8, 0x0037);
        put_le16(rec + 10, PST_PT_UNICODE);
        put_le32(rec + 12, hid_of(4));
        for (int i = 0; i < 8; i++)
                put_le16(cls + 2 * i, (uint8_t) "IPM.Note"[i]);
        for (size_t i = 0; name[i]; i++)
                put_le16(subj + 2 * i, (uint8_t)name[i]);
        l[3] = (uint32_t)(2 * strlen(name));
        len = heap_make(heap, 0xBC, a, l, 4);
        return wr_block(w, heap, len);
}

/* Case 26: a message whose attachment embeds a message whose attachment
 * embeds a message... CHAIN_DEPTH levels, every level its own subnode
 * trees (two SLBLOCKs), the PCs and the attachment table shared. */
static void case_26_chain(struct sources *s)
{
        enum { NID_ATT = 0x8005, NID_EMB = 0x200024, NID_TOP = 0x200044 };
        struct wr w = { .next_bid = 0x100 };
        uint8_t heap[256], bth[8] = { 0xB5, 2, 6, 0 }, rec[16], obj[8];
        uint64_t msg_pc = 0, att_pc, att_tc, empty, below = 0;
        uint32_t len;

        w.bbt = calloc(3 * CHAIN_DEPTH + 16, 24);
        w.nbt = calloc(16, 32);
        if (!w.bbt || !w.nbt)
                abort();
        wr_grow(&w, 1024);
        memcpy(w.b, s->gx.buf, PST_HEADER_SIZE);
        w.b[513] = PST_CRYPT_NONE;

        len = pc_make(heap, "deep embedding");
        wr_node(&w, 0x21, wr_block(&w, heap, len), 0);
        len = pc_make(heap, "d");
        {
                uint64_t folder = wr_block(&w, heap, len);

                len = tc_make(heap, 0);
                empty = wr_block(&w, heap, len);
                len = tc_make(heap, NID_TOP);
                wr_node(&w, 0x122, folder, 0x122);
                wr_node(&w, 0x12D, empty, 0);
                wr_node(&w, 0x12E, wr_block(&w, heap, len), 0);
        }
        /* The attachment PC: PidTagAttachDataObject -> NID_EMB, method 5. */
        {
                const uint8_t *a[] = { bth, rec, obj };
                uint32_t l[] = { 8, 16, 8 };

                put_le32(bth + 4, hid_of(2));
                put_le16(rec, 0x3701);
                put_le16(rec + 2, PST_PT_OBJECT);
                put_le32(rec + 4, hid_of(3));
                put_le16(rec + 8, 0x3705);
                put_le16(rec + 10, PST_PT_I4);
                put_le32(rec + 12, 5);
                put_le32(obj, NID_EMB);
                put_le32(obj + 4, 0);
                len = heap_make(heap, 0xBC, a, l, 3);
                att_pc = wr_block(&w, heap, len);
        }
        len = tc_make(heap, NID_ATT);
        att_tc = wr_block(&w, heap, len);

        /* From the deepest message up: message i's tree holds the
         * attachment table and the attachment, whose tree holds message
         * i + 1.  Each message has a PC block of its own (shared blocks
         * would look like a cycle). */
        for (uint32_t i = CHAIN_DEPTH; i-- > 0;) {
                uint32_t mn[2] = { 0x671, NID_ATT }, an[1] = { NID_EMB };
                uint64_t md[2] = { att_tc, att_pc }, ms[2] = { 0, 0 }, ad[1] = { msg_pc },
                         as[1] = { below };
                uint64_t att_tree = below ? wr_slblock(&w, an, ad, as, 1) : 0;

                msg_pc = wr_msg_pc(&w, i);
                ms[1] = att_tree;
                below = wr_slblock(&w, mn, md, ms, att_tree ? 2 : 1);
        }
        {
                uint8_t *e = w.nbt + w.n_nbt++ * 32;

                put_le64(e, NID_TOP);
                put_le64(e + 8, msg_pc);
                put_le64(e + 16, below);
                put_le32(e + 24, 0x122);
        }
        /* BBT entries must ascend: wr_block made them in BID order. */
        wr_grow(&w, (512 - w.n % 512) % 512);
        wr_tree(&w, PST_PTYPE_BBT, w.bbt, w.n_bbt, 24, 232);
        wr_tree(&w, PST_PTYPE_NBT, w.nbt, w.n_nbt, 32, 216);
        put_le64(w.b + 184, w.n);
        put_le32(w.b + 4, pst_crc32(0, w.b + 8, 471));
        put_le32(w.b + 524, pst_crc32(0, w.b + 8, 516));
        emit(26, "embedded-10000-deep", NULL, w.b, w.n,
             ((struct expect){
                 .exits = "1", .sub = "nested", .lost_msgs = -1, .lost_folders = -1 }));
        free(w.b);
        free(w.bbt);
        free(w.nbt);
}

/* Cases 20 and 24: a subject kept in a subnode behind an XBLOCK that
 * claims 2 GiB (lcbTotal) for 10 bytes of data: more than any backing
 * storage, and far more than a subject may take. */
static void case_20_24_subnode(struct sources *s)
{
        enum { NID_TOP = 0x200044, NID_SUBJ = 0x8041 };
        struct wr w = { .next_bid = 0x100 };
        uint8_t heap[256], bth[8] = { 0xB5, 2, 6, 0 }, rec[16], cls[16], xb[16] = { 0x01, 0x01 };
        const uint8_t *a[] = { bth, rec, cls };
        uint32_t l[] = { 8, 16, 16 }, len, nid[1] = { NID_SUBJ };
        uint64_t data[1], sub[1] = { 0 }, msg_pc, sl;
        uint8_t subj[10];

        w.bbt = calloc(16, 24);
        w.nbt = calloc(16, 32);
        if (!w.bbt || !w.nbt)
                abort();
        wr_grow(&w, 1024);
        memcpy(w.b, s->gx.buf, PST_HEADER_SIZE);
        w.b[513] = PST_CRYPT_NONE;

        len = pc_make(heap, "big subject");
        wr_node(&w, 0x21, wr_block(&w, heap, len), 0);
        len = pc_make(heap, "d");
        {
                uint64_t folder = wr_block(&w, heap, len), empty, contents;

                len = tc_make(heap, 0);
                empty = wr_block(&w, heap, len);
                len = tc_make(heap, NID_TOP);
                contents = wr_block(&w, heap, len);
                wr_node(&w, 0x122, folder, 0x122);
                wr_node(&w, 0x12D, empty, 0);
                wr_node(&w, 0x12E, contents, 0);
        }
        put_le32(bth + 4, hid_of(2));
        put_le16(rec, 0x001A);
        put_le16(rec + 2, PST_PT_UNICODE);
        put_le32(rec + 4, hid_of(3));
        put_le16(rec + 8, 0x0037);
        put_le16(rec + 10, PST_PT_UNICODE);
        put_le32(rec + 12, NID_SUBJ);
        for (int i = 0; i < 8; i++)
                put_le16(cls + 2 * i, (uint8_t) "IPM.Note"[i]);
        len = heap_make(heap, 0xBC, a, l, 3);
        msg_pc = wr_block(&w, heap, len);
        for (int i = 0; i < 5; i++)
                put_le16(subj + 2 * i, (uint8_t) "Hello"[i]);
        put_le16(xb + 2, 1);
        put_le32(xb + 4, 0x80000000u);
        put_le64(xb + 8, wr_block(&w, subj, sizeof(subj)));
        data[0] = wr_internal(&w, xb, sizeof(xb));
        sl = wr_slblock(&w, nid, data, sub, 1);
        {
                uint8_t *e = w.nbt + w.n_nbt++ * 32;

                put_le64(e, NID_TOP);
                put_le64(e + 8, msg_pc);
                put_le64(e + 16, sl);
                put_le32(e + 24, 0x122);
        }
        wr_grow(&w, (512 - w.n % 512) % 512);
        wr_tree(&w, PST_PTYPE_BBT, w.bbt, w.n_bbt, 24, 232);
        wr_tree(&w, PST_PTYPE_NBT, w.nbt, w.n_nbt, 32, 216);
        put_le64(w.b + 184, w.n);
        put_le32(w.b + 4, pst_crc32(0, w.b + 8, 471));
        put_le32(w.b + 524, pst_crc32(0, w.b + 8, 516));
        emit(20, "subject-subnode-lcbtotal-2g", NULL, w.b, w.n,
             ((struct expect){
                 .exits = "1", .sub = "lcbTotal", .lost_msgs = -1, .lost_folders = -1 }));
        free(w.b);
        free(w.bbt);
        free(w.nbt);
}

static void case_27_28(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = pick_message(u, true, false);
        uint32_t an = first_attachment(u, m);
        struct hn_ctx c = { .what = 4, .id = 0x0E20, .v = 0xFFFFFFFF };
        uint8_t *b;

        emit_or_note(27, "attach-size-4g", u, with_sub_heap(u, m, an, hn_damage, &c), EXPORT_QUIET);
        c.v = 10;
        emit_or_note(27, "attach-size-10", u, with_sub_heap(u, m, an, hn_damage, &c), EXPORT_QUIET);
        for (uint32_t method = 2; method <= 6; method += 2) {
                char name[64];
                struct hn_ctx mc = { .what = 4, .id = 0x3705, .v = method };
                struct pst tmp = *u;

                b = value_utf16(u, m, an, 0x3707, "\\\\192.0.2.1\\share\\x");
                if (!b)
                        b = copy_of(u);
                tmp.b = b;
                {
                        uint8_t *b2 = with_sub_heap(&tmp, m, an, hn_damage, &mc);

                        free(b);
                        snprintf(name, sizeof(name), "attach-method-%u-unc", method);
                        emit_or_note(28, name, u, b2, EXPORT_QUIET);
                }
        }
}

static void case_29(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = pick_message(u, false, false);

        emit_or_note(29, "recipients-absent", u, with_slblock(u, m, sl_no_rcpt), UNSEEN);
        emit_or_note(29, "recipients-empty", u, rcpt_damage(u, m, 5), UNSEEN);
        /* A table of several recipients, so that n^9 is large. */
        const struct pst *srcs[] = { &s->u, &s->r };

        for (size_t k = 0; k < ELEMENTSOF(srcs); k++)
                for (size_t i = 0; i < srcs[k]->n_nodes; i++) {
                        const struct node *n = &srcs[k]->nodes[i];
                        uint8_t *b;

                        if (NID_TYPE(n->nid) != NT_MESSAGE || !(b = rcpt_damage(srcs[k], n, 6)))
                                continue;
                        emit_pst(29, "recipients-index-claims-millions", srcs[k], b,
                                 ITEMS("TC", 0, 0));
                        free(b);
                        return;
                }
        fprintf(stderr, "pst-malform: case 29: no recipient table of 2 rows\n");
}

static void case_30(struct sources *s)
{
        const struct pst *u = &s->u;
        const struct node *m = message_with(u, 0x001A, 0);

        emit_or_note(30, "class-absent", u, msg_heap(u, m, 8, 0x001A, 0x001B), UNSEEN);
        emit_or_note(30, "class-unknown", u, value_utf16(u, m, 0, 0x001A, "IPM.Zz"), UNSEEN);
        emit_or_note(30, "class-report-ndr", u, value_utf16(u, m, 0, 0x001A, "REPORT.IPM.Note.NDR"),
                     UNSEEN);
}

static void case_31(struct sources *s)
{
        const struct pst *u = &s->u;

        for (size_t i = 0; i < u->n_nodes; i++) {
                const struct node *f = &u->nodes[i];
                uint32_t base = f->nid & ~0x1Fu;

                if (NID_TYPE(f->nid) != NT_FOLDER || table_rows(u, base | NT_HIER) <= 0)
                        continue;
                emit_or_note(31, "folder-says-no-subfolders", u, msg_heap(u, f, 4, 0x360A, 0),
                             UNSEEN);
                break;
        }
        for (size_t i = 0; i < u->n_nodes; i++) {
                const struct node *f = &u->nodes[i];
                uint32_t base = f->nid & ~0x1Fu;

                if (NID_TYPE(f->nid) != NT_FOLDER || table_rows(u, base | NT_CONTENTS) <= 0)
                        continue;
                emit_or_note(31, "folder-says-no-content", u, msg_heap(u, f, 4, 0x3602, 0), UNSEEN);
                break;
        }
}

/* ---- compressed RTF -------------------------------------------------------- */

struct lzfu_ctx {
        int what;
};

static bool lzfu_damage(uint8_t *v, uint32_t len, void *ctx)
{
        struct lzfu_ctx *c = ctx;
        uint32_t comp;

        if (len < 32 || get_le32(v + 8) != 0x75465A4C) /* "LZFu" */
                return false;
        comp = get_le32(v);
        switch (c->what) {
        case 0:
                put_le32(v, 4);
                return true;
        case 1:
                put_le32(v, 0x00FFFFFF);
                return true;
        case 2:
                put_le32(v + 4, 0xFFFFFFFF);
                return true;
        case 3:
                put_le32(v + 4, 8 * (comp - 12) + 208);
                return true;
        case 4:
                memcpy(v + 8, "LZFv", 4);
                return true;
        case 5:
                put_le32(v + 12, get_le32(v + 12) ^ 1);
                return true;
        case 6: /* a reference to dictionary bytes never written */
                v[16] = 0x01;
                v[17] = 0xFF;
                v[18] = 0x0F;
                put_le32(v, 12 + 3);
                put_le32(v + 4, 64);
                put_le32(v + 12, pst_crc32(0, v + 16, 3));
                return true;
        case 7: /* the stream ends inside a reference */
                v[16] = 0x01;
                v[17] = 0x12;
                put_le32(v, 12 + 2);
                put_le32(v + 12, pst_crc32(0, v + 16, 2));
                return true;
        }
        return false;
}

static void case_33(struct sources *s)
{
        static const char *const names[] = { "compsize-4",
                                             "compsize-huge",
                                             "rawsize-4g",
                                             "rawsize-above-8x",
                                             "magic",
                                             "crc",
                                             "reference-before-start",
                                             "ends-mid-token" };
        const struct pst *srcs[] = { &s->u, &s->e, &s->a, &s->c }, *u = NULL;
        const struct node *m = NULL;

        for (size_t i = 0; i < ELEMENTSOF(srcs) && !m; i++) {
                u = srcs[i];
                m = message_with(u, 0x1009, 0);
        }
        if (!m) {
                fprintf(stderr, "pst-malform: case 33: no compressed RTF in the sources\n");
                return;
        }
        for (int i = 0; i < 8; i++) {
                struct lzfu_ctx c = { .what = i };
                char name[64];

                snprintf(name, sizeof(name), "lzfu-%s", names[i]);
                emit_or_note(33, name, u, with_value(u, m, 0, 0x1009, lzfu_damage, &c),
                             EXPORT_QUIET);
        }
}

/* ---- zlib (4K) ------------------------------------------------------------- */

static void gen_zlib(struct pst_gen *g, int what, const char *name)
{
        struct pst_gen c = *g;
        const struct pst_gen_block *bk = &g->blk[0];
        uint8_t *x, *tr;
        uint32_t cb = bk->cb;

        c.buf = malloc(g->size);
        if (!c.buf)
                abort();
        memcpy(c.buf, g->buf, g->size);
        x = c.buf + bk->ib;
        tr = c.buf + bk->ib + bk->span - c.block_trailer;
        if (what == 0) {
                x[cb / 2] ^= 0x55;
        } else if (what == 1) {
                put_le16(tr + 18, (uint16_t)(get_le16(tr + 18) + 1));
        } else if (what == 2) {
                /* 64 KiB of zeros in ~100 bytes, declared as the real size. */
                static uint8_t zeros[65535];
                uLongf zlen = bk->span - c.block_trailer;

                if (compress2(x, &zlen, zeros, sizeof(zeros), 9) != Z_OK)
                        abort();
                cb = (uint32_t)zlen;
        } else {
                memset(x + cb, 0xA5, 8);
                cb += 8;
        }
        if (cb != bk->cb) {
                put_le16(tr, (uint16_t)cb);
                put_le16(c.buf + c.bbt_ib + 2 * c.id_size, (uint16_t)cb);
        }
        pst_gen_fix(&c);
        emit(34, name, NULL, c.buf, c.size, FILE_LEVEL("1", "zlib"));
        free(c.buf);
}

static void case_34(struct sources *s)
{
        const struct pst *o = &s->o;

        gen_zlib(&s->g4, 0, "zlib-stream-invalid");
        gen_zlib(&s->g4, 1, "zlib-size-differs");
        gen_zlib(&s->g4, 2, "zlib-bomb");
        gen_zlib(&s->g4, 3, "zlib-trailing-garbage");
        if (!s->have_o)
                return;
        /* A real OST: one message's compressed PC block. */
        for (size_t i = 0; i < o->n_nodes; i++) {
                const struct node *n = &o->nodes[i];
                const struct block *bl = node_block(o, n);
                uint8_t *b, *tr;

                if (NID_TYPE(n->nid) != NT_MESSAGE || !bl ||
                    get_le16(block_trailer(o, o->b, bl) + 18) == bl->cb)
                        continue;
                b = copy_of(o);
                b[bl->ib + bl->cb / 2] ^= 0x55;
                fix_block(o, b, bl);
                emit_pst(34, "ost-message-zlib-invalid", o, b, ITEMS("zlib", 1, 0));
                tr = block_trailer(o, b, bl);
                b[bl->ib + bl->cb / 2] ^= 0x55;
                put_le16(tr + 18, (uint16_t)(get_le16(tr + 18) - 1));
                fix_block(o, b, bl);
                emit_pst(34, "ost-message-zlib-size-differs", o, b, ITEMS("zlib", 1, 0));
                free(b);
                return;
        }
        fprintf(stderr, "pst-malform: case 34: no compressed message block in %s\n", o->src);
}

static void case_35(struct sources *s)
{
        const struct pst *u = &s->u, *c = &s->c;
        uint8_t *b;

        b = with_header(u, off_crypt(u), PST_CRYPT_CYCLIC, 1, true);
        emit_pst(35, "permute-read-as-cyclic", u, b, FILE_LEVEL("1", "bSig"));
        free(b);
        b = with_header(u, off_crypt(u), PST_CRYPT_NONE, 1, true);
        emit_pst(35, "permute-read-as-none", u, b, FILE_LEVEL("1", "bSig"));
        free(b);
        b = with_header(c, off_crypt(c), PST_CRYPT_PERMUTE, 1, true);
        emit_pst(35, "cyclic-read-as-permute", c, b, FILE_LEVEL("1", "bSig"));
        free(b);
}

/* ---- main ------------------------------------------------------------------ */

static int load(struct pst *p, const char *dir, const char *name)
{
        char *path;
        int r;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        r = pst_load(p, path);
        if (r < 0)
                fprintf(stderr, "pst-malform: %s: %s\n", path, strerror(-r));
        return r;
}

int main(int argc, char **argv)
{
        struct pst_gen_opts o4 = { .format = PST_FORMAT_UNICODE4K,
                                   .crypt = PST_CRYPT_PERMUTE,
                                   .name = "zlib store",
                                   .compress = true };
        struct pst_gen_opts ox = { .format = PST_FORMAT_UNICODE,
                                   .crypt = PST_CRYPT_PERMUTE,
                                   .name = "xblock store",
                                   .xblock = true };
        struct sources s = {};
        char path[4096];
        int r;

        if (argc != 4) {
                fprintf(stderr, "usage: %s OUTDIR CORPUS NODE_MODULES\n", argv[0]);
                return 2;
        }
        outdir = argv[1];
        if (load(&s.u, argv[2], "hughbe_PstReader__tghanem__PST__user1@test.lab.pst") < 0 ||
            load(&s.a, argv[2], "emk_pstsdk__sample2.pst") < 0 ||
            load(&s.e, argv[2],
                 "hughbe_PstReader__aranetic__process-pst__four_nesting_levels.pst") < 0 ||
            load(&s.c, argv[2],
                 "hughbe_PstReader__simiden__pst2john__2003_high-encryption_quickquick.pst") < 0 ||
            load(&s.r, argv[2], "hughbe_PstReader__aranetic__process-pst__multiple_to_cc.pst") <
                0) {
                r = 77;
                goto out;
        }
        /* The OST is optional: its cases are left out without it. */
        s.have_o = load(&s.o, argv[3],
                        "pst-extractor/example/testdata/pstextractortest@outlook.com.ost") == 0;
        r = 1;
        if (pst_gen_build(&o4, &s.g4) < 0 || pst_gen_build(&ox, &s.gx) < 0)
                goto out;
        snprintf(path, sizeof(path), "%s/cases.tsv", outdir);
        manifest = fopen(path, "we");
        if (!manifest) {
                perror(path);
                goto out;
        }
        case_1(&s);
        case_2(&s);
        case_3(&s);
        case_4(&s);
        case_5(&s);
        case_6(&s);
        case_7(&s);
        case_8(&s);
        case_9(&s);
        case_6_9_4k(&s);
        case_10(&s);
        case_11(&s);
        case_12(&s);
        case_13(&s);
        case_14(&s);
        case_15(&s);
        case_15_chain(&s);
        case_16(&s);
        case_17(&s);
        case_18(&s);
        case_19(&s);
        case_20(&s);
        case_20_24_subnode(&s);
        case_21(&s);
        case_22(&s);
        case_23(&s);
        case_24(&s);
        case_25(&s);
        case_26(&s);
        case_26_chain(&s);
        case_27_28(&s);
        case_29(&s);
        case_30(&s);
        case_31(&s);
        case_33(&s);
        case_34(&s);
        case_35(&s);
        if (fclose(manifest) != 0)
                goto out;
        fprintf(stderr, "pst-malform: %u files in %s\n", n_written, outdir);
        r = 0;
out:
        pst_unload(&s.u);
        pst_unload(&s.a);
        pst_unload(&s.e);
        pst_unload(&s.c);
        pst_unload(&s.r);
        pst_unload(&s.o);
        pst_gen_free(&s.g4);
        pst_gen_free(&s.gx);
        return r;
}
