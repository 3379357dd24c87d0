/* SPDX-License-Identifier: MIT
 *
 * ltp.c - LTP layer ([MS-PST] 2.3): heap-on-node over a node's data blocks,
 * BTree-on-Heap, property context, and the string conversions values need.
 *
 * pst_hn_init() checks every page map once (offsets inside the block,
 * allocations ascending, the map after the last allocation), so resolving a
 * HID afterwards is a few bounds checks.
 */
#include "pst/pst-internal.h"

#define HN_SIG 0xECu
#define HN_CLIENT_PC 0xBCu
#define BTH_TYPE 0xB5u

#define HNHDR_SIZE 12u
#define HNPAGEHDR_SIZE 2u
#define HNBITMAPHDR_SIZE 66u

/* Bytes before the first allocation of heap block k: HNHDR in block 0, an
 * HNBITMAPHDR in blocks 8, 136, 264, ..., an HNPAGEHDR elsewhere. */
static uint32_t hn_block_hdr(uint32_t k)
{
        if (k == 0)
                return HNHDR_SIZE;
        if (k >= 8 && (k - 8) % 128 == 0)
                return HNBITMAPHDR_SIZE;
        return HNPAGEHDR_SIZE;
}

/* The HNPAGEMAP of block k: rgibAlloc and cAlloc. */
static int hn_page_map(const struct pst_hn *hn, uint32_t k, bool validate, const uint8_t **ret,
                       uint32_t *ret_c_alloc, struct pst_diag *diag)
{
        const struct pst_data_block *b = &hn->d->blk[k];
        uint32_t hdr = hn_block_hdr(k), ib_hnpm, c_alloc;
        const uint8_t *rgib;

        if (b->len < hdr + 4u)
                return pst_diag_set(diag, -EBADMSG, b->ib,
                                    "heap of node 0x%" PRIx32 ", block %" PRIu32 " (0x%" PRIx64
                                    " at 0x%" PRIx64 "): %" PRIu32 " bytes, too short for a heap page",
                                    hn->nid, k, b->bid, b->ib, b->len);
        ib_hnpm = get_le16(b->p);
        if (ib_hnpm < hdr || (uint64_t)ib_hnpm + 4 > b->len)
                return pst_diag_set(diag, -EBADMSG, b->ib,
                                    "heap of node 0x%" PRIx32 ", block %" PRIu32 " (0x%" PRIx64
                                    " at 0x%" PRIx64 "): ibHnpm 0x%" PRIx32 " outside the block",
                                    hn->nid, k, b->bid, b->ib, ib_hnpm);
        c_alloc = get_le16(b->p + ib_hnpm);
        rgib = b->p + ib_hnpm + 4;
        if ((uint64_t)ib_hnpm + 4 + 2 * ((uint64_t)c_alloc + 1) > b->len)
                return pst_diag_set(diag, -EBADMSG, b->ib,
                                    "heap of node 0x%" PRIx32 ", block %" PRIu32 " (0x%" PRIx64
                                    " at 0x%" PRIx64 "): HNPAGEMAP cAlloc %" PRIu32
                                    " overruns the block",
                                    hn->nid, k, b->bid, b->ib, c_alloc);
        if (validate) {
                uint32_t prev = hdr;

                for (uint32_t i = 0; i <= c_alloc; i++) {
                        uint32_t v = get_le16(rgib + 2 * i);

                        if (v < prev || v > ib_hnpm)
                                return pst_diag_set(
                                        diag, -EBADMSG, b->ib,
                                        "heap of node 0x%" PRIx32 ", block %" PRIu32 " (0x%" PRIx64
                                        " at 0x%" PRIx64 "): rgibAlloc[%" PRIu32 "] 0x%" PRIx32
                                        " out of order or past the map",
                                        hn->nid, k, b->bid, b->ib, i, v);
                        prev = v;
                }
        }
        *ret = rgib;
        *ret_c_alloc = c_alloc;
        return 0;
}

int pst_hn_init(struct pst_hn *hn, const struct pst_data *d, uint32_t nid, struct pst_diag *diag)
{
        struct pst_hn h = { .d = d, .nid = nid };
        const uint8_t *b0;
        int r;

        if (d->n == 0 || d->blk[0].len < HNHDR_SIZE)
                return pst_diag_set(diag, -EBADMSG, d->n ? d->blk[0].ib : 0,
                                    "heap of node 0x%" PRIx32 ": shorter than its HNHDR", nid);
        /* A HID names its block in 16 bits. */
        if (d->n > 65536)
                return pst_diag_set(diag, -EBADMSG, d->blk[0].ib,
                                    "heap of node 0x%" PRIx32 ": %" PRIu32 " blocks, a heap has at most 65536",
                                    nid, d->n);
        b0 = d->blk[0].p;
        if (b0[2] != HN_SIG)
                return pst_diag_set(diag, -EBADMSG, d->blk[0].ib,
                                    "heap of node 0x%" PRIx32 " (block 0x%" PRIx64 " at 0x%" PRIx64
                                    "): bSig 0x%02x, expected 0xEC",
                                    nid, d->blk[0].bid, d->blk[0].ib, b0[2]);
        for (uint32_t k = 0; k < d->n; k++) {
                const uint8_t *rgib;
                uint32_t c_alloc;

                r = hn_page_map(&h, k, true, &rgib, &c_alloc, diag);
                if (r < 0)
                        return r;
        }
        h.client_sig = b0[3];
        h.hid_user_root = get_le32(b0 + 4);
        *hn = h;
        return 0;
}

int pst_hn_get(const struct pst_hn *hn, uint32_t hid, const uint8_t **ret, uint32_t *ret_len,
               struct pst_diag *diag)
{
        uint32_t index = (hid >> 5) & 0x7FF, k = hid >> 16, c_alloc, start, end;
        const uint8_t *rgib;
        int r;

        if (hid == 0) {
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        if ((hid & 0x1F) != PST_NID_TYPE_HID || index == 0 || k >= hn->d->n)
                return pst_diag_set(diag, -EBADMSG, hn->d->blk[0].ib,
                                    "heap of node 0x%" PRIx32 ": HID 0x%" PRIx32
                                    " does not name an allocation (%" PRIu32 " blocks)",
                                    hn->nid, hid, hn->d->n);
        r = hn_page_map(hn, k, false, &rgib, &c_alloc, diag);
        if (r < 0)
                return r;
        if (index > c_alloc)
                return pst_diag_set(diag, -EBADMSG, hn->d->blk[k].ib,
                                    "heap of node 0x%" PRIx32 ": HID 0x%" PRIx32
                                    " names allocation %" PRIu32 " of %" PRIu32 " in block %" PRIu32,
                                    hn->nid, hid, index, c_alloc, k);
        start = get_le16(rgib + 2 * (index - 1));
        end = get_le16(rgib + 2 * index);
        *ret = hn->d->blk[k].p + start;
        *ret_len = end - start;
        return 0;
}

/* ---- BTree-on-Heap --------------------------------------------------- */

int pst_bth_init(struct pst_bth *b, const struct pst_hn *hn, uint32_t hid, struct pst_diag *diag)
{
        const uint8_t *p;
        uint32_t len;
        uint8_t cb_key, cb_ent, levels;
        int r;

        r = pst_hn_get(hn, hid, &p, &len, diag);
        if (r < 0)
                return r;
        if (len != 8 || p[0] != BTH_TYPE)
                return pst_diag_set(diag, -EBADMSG, hn->d->blk[0].ib,
                                    "BTH of node 0x%" PRIx32 " at HID 0x%" PRIx32
                                    ": not a BTHHEADER (%" PRIu32 " bytes, bType 0x%02x)",
                                    hn->nid, hid, len, len ? p[0] : 0);
        cb_key = p[1];
        cb_ent = p[2];
        levels = p[3];
        if ((cb_key != 2 && cb_key != 4 && cb_key != 8 && cb_key != 16) || cb_ent > 32 ||
            levels > PST_MAX_BTH_LEVELS)
                return pst_diag_set(diag, -EBADMSG, hn->d->blk[0].ib,
                                    "BTH of node 0x%" PRIx32 " at HID 0x%" PRIx32
                                    ": cbKey %u, cbEnt %u, bIdxLevels %u out of range",
                                    hn->nid, hid, cb_key, cb_ent, levels);
        *b = (struct pst_bth){
                .hn = hn,
                .cb_key = cb_key,
                .cb_ent = cb_ent,
                .levels = levels,
                .hid_root = get_le32(p + 4),
        };
        return 0;
}

/* Compare little-endian unsigned keys of n bytes. */
static int key_cmp(const uint8_t *a, const uint8_t *b, unsigned n)
{
        while (n-- > 0)
                if (a[n] != b[n])
                        return a[n] < b[n] ? -1 : 1;
        return 0;
}

/* The record array of one BTH level, checked to hold whole, ascending records. */
static int bth_records(const struct pst_bth *b, uint32_t hid, unsigned level, const uint8_t **ret,
                       uint32_t *ret_n, struct pst_diag *diag)
{
        uint32_t rec = b->cb_key + (level > 0 ? 4u : b->cb_ent);
        const uint8_t *p;
        uint32_t len;
        int r;

        r = pst_hn_get(b->hn, hid, &p, &len, diag);
        if (r < 0)
                return r;
        if (len % rec != 0)
                return pst_diag_set(diag, -EBADMSG, b->hn->d->blk[0].ib,
                                    "BTH of node 0x%" PRIx32 ": level-%u records at HID 0x%" PRIx32
                                    " are %" PRIu32 " bytes, not a multiple of %" PRIu32,
                                    b->hn->nid, level, hid, len, rec);
        for (uint32_t i = 1; i < len / rec; i++)
                if (key_cmp(p + (size_t)(i - 1) * rec, p + (size_t)i * rec, b->cb_key) >= 0)
                        return pst_diag_set(diag, -EBADMSG, b->hn->d->blk[0].ib,
                                            "BTH of node 0x%" PRIx32 ": keys at HID 0x%" PRIx32
                                            " not ascending at record %" PRIu32,
                                            b->hn->nid, hid, i);
        *ret = p;
        *ret_n = len / rec;
        return 0;
}

int pst_bth_lookup(const struct pst_bth *b, const uint8_t *key, const uint8_t **ret,
                   struct pst_diag *diag)
{
        uint32_t hid = b->hid_root;
        int r;

        if (hid == 0)
                return -ENOENT;
        /* Each step goes down one level, so this ends after levels + 1. */
        for (int level = b->levels; level >= 0; level--) {
                uint32_t rec = b->cb_key + (level > 0 ? 4u : b->cb_ent), n;
                const uint8_t *p, *hit = NULL;

                r = bth_records(b, hid, (unsigned)level, &p, &n, diag);
                if (r < 0)
                        return r;
                for (uint32_t i = 0; i < n && key_cmp(p + (size_t)i * rec, key, b->cb_key) <= 0; i++)
                        hit = p + (size_t)i * rec;
                if (!hit)
                        return -ENOENT;
                if (level == 0) {
                        if (key_cmp(hit, key, b->cb_key) != 0)
                                return -ENOENT;
                        *ret = hit + b->cb_key;
                        return 0;
                }
                hid = get_le32(hit + b->cb_key);
        }
        return -ENOENT;
}

static int bth_walk(const struct pst_bth *b, uint32_t hid, unsigned level, pst_bth_fn fn,
                    void *ctx, struct pst_diag *diag)
{
        uint32_t rec = b->cb_key + (level > 0 ? 4u : b->cb_ent), n;
        const uint8_t *p;
        int r;

        r = bth_records(b, hid, level, &p, &n, diag);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < n; i++) {
                const uint8_t *e = p + (size_t)i * rec;

                /* Recursion depth is bounded by bIdxLevels <= PST_MAX_BTH_LEVELS. */
                r = level > 0 ? bth_walk(b, get_le32(e + b->cb_key), level - 1, fn, ctx, diag)
                              : fn(ctx, e, e + b->cb_key);
                if (r != 0)
                        return r;
        }
        return 0;
}

int pst_bth_foreach(const struct pst_bth *b, pst_bth_fn fn, void *ctx, struct pst_diag *diag)
{
        if (b->hid_root == 0)
                return 0;
        return bth_walk(b, b->hid_root, b->levels, fn, ctx, diag);
}

/* ---- property context ------------------------------------------------ */

int pst_pc_init(struct pst_pc *pc, const struct pst_data *d, uint32_t nid, struct pst_diag *diag)
{
        int r;

        r = pst_hn_init(&pc->hn, d, nid, diag);
        if (r < 0)
                return r;
        if (pc->hn.client_sig != HN_CLIENT_PC)
                return pst_diag_set(diag, -EBADMSG, d->blk[0].ib,
                                    "node 0x%" PRIx32 ": heap bClientSig 0x%02x, not a property context",
                                    nid, pc->hn.client_sig);
        r = pst_bth_init(&pc->bth, &pc->hn, pc->hn.hid_user_root, diag);
        if (r < 0)
                return r;
        if (pc->bth.cb_key != 2 || pc->bth.cb_ent != 6)
                return pst_diag_set(diag, -EBADMSG, d->blk[0].ib,
                                    "PC of node 0x%" PRIx32 ": BTH cbKey %u cbEnt %u, expected 2 and 6",
                                    nid, pc->bth.cb_key, pc->bth.cb_ent);
        return 0;
}

/* Size of a fixed-size value held in the heap, or 0 for other types. */
static uint32_t heap_fixed_size(uint16_t type)
{
        switch (type) {
        case PST_PT_R8:
        case PST_PT_CURRENCY:
        case PST_PT_APPTIME:
        case PST_PT_I8:
        case PST_PT_SYSTIME:
        case PST_PT_OBJECT: /* nid + ulSize */
                return 8;
        case PST_PT_CLSID:
                return 16;
        }
        return 0;
}

int pst_pc_get(const struct pst_pc *pc, uint16_t id, struct pst_rawprop *ret, struct pst_diag *diag)
{
        uint8_t key[2];
        const uint8_t *rec;
        int r;

        put_le16(key, id);
        r = pst_bth_lookup(&pc->bth, key, &rec, diag);
        if (r < 0)
                return r;
        return pst_pc_record(pc, id, rec, ret, diag);
}

int pst_pc_record(const struct pst_pc *pc, uint16_t id, const uint8_t *rec, struct pst_rawprop *ret,
                  struct pst_diag *diag)
{
        struct pst_rawprop prop = { .id = id };
        uint32_t fixed;
        int r;

        prop.type = get_le16(rec);
        prop.hnid = get_le32(rec + 2);

        switch (prop.type) {
        case PST_PT_I2:
        case PST_PT_I4:
        case PST_PT_R4:
        case PST_PT_ERROR:
        case PST_PT_BOOLEAN:
                /* Up to 4 bytes live in dwValueHnid itself; Boolean is its low byte. */
                prop.p = rec + 2;
                prop.len = prop.type == PST_PT_I2 ? 2 : prop.type == PST_PT_BOOLEAN ? 1 : 4;
                *ret = prop;
                return 0;
        }

        fixed = heap_fixed_size(prop.type);
        if (fixed == 0 && prop.type != PST_PT_STRING8 && prop.type != PST_PT_UNICODE &&
            prop.type != PST_PT_BINARY && prop.type != PST_PT_SVREID &&
            prop.type != PST_PT_SRESTRICT && prop.type != PST_PT_ACTIONS &&
            !(prop.type & PST_PT_MV))
                return pst_diag_set(diag, -ENOTSUP, pc->hn.d->blk[0].ib,
                                    "PC of node 0x%" PRIx32 ": property 0x%04x has unknown type 0x%04x",
                                    pc->hn.nid, id, prop.type);

        /* Larger values are an HNID: a HID in this heap, or a subnode. */
        if ((prop.hnid & 0x1F) != PST_NID_TYPE_HID) {
                if (fixed != 0)
                        return pst_diag_set(diag, -EBADMSG, pc->hn.d->blk[0].ib,
                                            "PC of node 0x%" PRIx32 ": property 0x%04x of type 0x%04x"
                                            " must be in the heap, has HNID 0x%" PRIx32,
                                            pc->hn.nid, id, prop.type, prop.hnid);
                prop.in_subnode = true;
                *ret = prop;
                return 0;
        }
        r = pst_hn_get(&pc->hn, prop.hnid, &prop.p, &prop.len, diag);
        if (r < 0)
                return r;
        if (fixed != 0 && prop.len != fixed)
                return pst_diag_set(diag, -EBADMSG, pc->hn.d->blk[0].ib,
                                    "PC of node 0x%" PRIx32 ": property 0x%04x of type 0x%04x has %" PRIu32
                                    " bytes, expected %" PRIu32,
                                    pc->hn.nid, id, prop.type, prop.len, fixed);
        *ret = prop;
        return 0;
}

int pst_prop_resolve(struct pst_file *f, const struct pst_node *owner, struct pst_rawprop *prop,
                     uint64_t max_bytes, struct pst_data *hold, struct pst_want *want,
                     struct pst_diag *diag)
{
        struct pst_node sub;
        struct pst_data d = {};
        int r;

        if (!prop->in_subnode)
                return 0;
        r = pst_subnode_lookup(f, owner->bid_sub, prop->hnid, &sub, want, diag);
        if (r == -ENOENT)
                return pst_diag_set(diag, -EBADMSG, 0,
                                    "node 0x%" PRIx32 ": property 0x%04x names subnode 0x%" PRIx32
                                    ", which its subnode tree lacks",
                                    owner->nid, prop->id, prop->hnid);
        if (r < 0)
                return r;
        r = pst_data_read(f, sub.bid_data, MIN(max_bytes, (uint64_t)UINT32_MAX), &d, want, diag);
        if (r < 0)
                return r;
        *hold = d;
        prop->p = d.buf;
        prop->len = (uint32_t)d.size;
        prop->in_subnode = false;
        return 0;
}

int pst_prop_string(const struct pst_rawprop *prop, char *out, size_t outsz)
{
        if (prop->in_subnode)
                return -EINVAL;
        if (prop->type == PST_PT_UNICODE)
                pst_utf16le_to_utf8(prop->p, prop->len, out, outsz);
        else if (prop->type == PST_PT_STRING8)
                pst_string8_copy(prop->p, prop->len, out, outsz);
        else
                return -EBADMSG;
        return 0;
}

/* ---- strings --------------------------------------------------------- */

/* Append code point c if it fits with room for the NUL; false when full. */
static bool put_utf8(char *out, size_t outsz, size_t *pos, uint32_t c)
{
        uint8_t b[4];
        size_t n;

        if (c < 0x80) {
                b[0] = (uint8_t)c;
                n = 1;
        } else if (c < 0x800) {
                b[0] = (uint8_t)(0xC0 | (c >> 6));
                b[1] = (uint8_t)(0x80 | (c & 0x3F));
                n = 2;
        } else if (c < 0x10000) {
                b[0] = (uint8_t)(0xE0 | (c >> 12));
                b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
                b[2] = (uint8_t)(0x80 | (c & 0x3F));
                n = 3;
        } else {
                b[0] = (uint8_t)(0xF0 | (c >> 18));
                b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
                b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
                b[3] = (uint8_t)(0x80 | (c & 0x3F));
                n = 4;
        }
        if (outsz - 1 - *pos < n)
                return false;
        memcpy(out + *pos, b, n);
        *pos += n;
        return true;
}

size_t pst_utf16le_to_utf8(const uint8_t *in, size_t len, char *out, size_t outsz)
{
        size_t pos = 0, i = 0;

        if (outsz == 0)
                return 0;
        while (i + 1 < len) {
                uint32_t c = get_le16(in + i);

                i += 2;
                if (c == 0)
                        goto done;
                if (c >= 0xD800 && c <= 0xDBFF) {
                        uint32_t lo = i + 1 < len ? get_le16(in + i) : 0;

                        if (lo >= 0xDC00 && lo <= 0xDFFF) {
                                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                                i += 2;
                        } else {
                                c = 0xFFFD;
                        }
                } else if (c >= 0xDC00 && c <= 0xDFFF) {
                        c = 0xFFFD;
                }
                if (!put_utf8(out, outsz, &pos, c))
                        goto done;
        }
        if (i < len)
                (void)put_utf8(out, outsz, &pos, 0xFFFD); /* odd byte count */
done:
        out[pos] = '\0';
        return pos;
}

size_t pst_string8_copy(const uint8_t *in, size_t len, char *out, size_t outsz)
{
        size_t n = 0;

        if (outsz == 0)
                return 0;
        while (n < len && n < outsz - 1 && in[n] != 0) {
                out[n] = (char)in[n];
                n++;
        }
        out[n] = '\0';
        return n;
}
