/* SPDX-License-Identifier: MIT
 *
 * message.c - messaging layer: one message decoded whole into the item
 * model of pst.h (struct pst_msg): every property of its PC, its recipient
 * table, its attachments with their bytes, embedded messages, and named
 * properties resolved through the name-to-id map ([MS-PST] 2.4.5-2.4.7).
 *
 * Everything a message holds lives in one arena (pst_arena), decoded node
 * data included (values point into it rather than being copied), capped at
 * PST_MSG_MAX_BYTES.  An operation restarts from scratch after -EAGAIN;
 * with pst_file_borrow() there are no restarts.  Damage below the
 * message's own PC costs only the damaged item, reported as a problem.
 */
#include "pst/pst-internal.h"

#define NID_NAMEMAP 0x61u
#define NID_RECIPIENT_TABLE 0x692u
#define NID_ATTACHMENT_TABLE 0x671u

#define PID_ATTACH_DATA 0x3701u
#define PID_ATTACH_METHOD 0x3705u
#define PID_LTP_ROW_ID 0x67F2u
#define PID_LTP_ROW_VER 0x67F3u
#define ATTACH_EMBEDDED_MSG 5u

/* Name-to-id map properties ([MS-PST] 2.4.7). */
#define PID_NAMEID_GUIDS 0x0002u
#define PID_NAMEID_ENTRIES 0x0003u
#define PID_NAMEID_STRINGS 0x0004u
/* Named property ids are 0x8000 + wPropIdx. */
#define NAMED_MAX 0x8000u

/* Attachments of one message through all its embedded messages, as in
 * walk.c: forged files can make every level reuse its parent's. */
#define MAX_MESSAGE_ATTACHMENTS (1u << 16)
/* Records one PC's BTH may give: its keys are unique 16-bit ids. */
#define MAX_PC_PROPS (1u << 16)

static const uint8_t guid_ps_mapi[16] = { 0x28, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
                                          0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 };
static const uint8_t guid_ps_public_strings[16] = { 0x29, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
                                                    0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 };

/* ---- the name-to-id map ------------------------------------------------ */

struct pst_namemap {
        struct pst_arena a;
        int error;              /* < 0: the map could not be read (names stay NULL) */
        struct pst_diag diag;
        struct pst_named *ent;  /* indexed by wPropIdx */
        uint8_t *present;
        uint32_t n;             /* slots of ent */
        uint32_t n_bad;         /* unusable NAMEID records (diag says so) */
};

void pst_namemap_free(struct pst_namemap *m)
{
        if (!m)
                return;
        pst_arena_done(&m->a);
        free(m);
}

static bool step_error(int r)
{
        return r == -EAGAIN || r == -ENOMEM || r == -EIO;
}

/* Read node n's PC into pc (its heap kept in arena a). */
static int pc_read(struct pst_file *f, const struct pst_node *n, struct pst_arena *a,
                   struct pst_pc *pc, struct pst_want *want, struct pst_diag *diag)
{
        struct pst_data d = {};
        const struct pst_data *kept;
        int r;

        r = pst_data_read(f, n->bid_data, MIN(pst_arena_left(a), (uint64_t)PST_MAX_HEAP_BYTES), &d,
                          want, diag);
        if (r < 0)
                return r;
        r = pst_arena_adopt(a, &d, &kept);
        if (r < 0)
                return r;
        return pst_pc_init(pc, kept, n->nid, diag);
}

/* Resolve a value kept in a subnode of owner into arena a. */
static int resolve(struct pst_file *f, const struct pst_node *owner, struct pst_rawprop *p,
                   struct pst_arena *a, struct pst_want *want, struct pst_diag *diag)
{
        struct pst_data hold = {};
        int r;

        if (!p->in_subnode)
                return 0;
        r = pst_prop_resolve(f, owner, p, pst_arena_left(a), &hold, want, diag);
        if (r < 0)
                return r;
        return pst_arena_adopt(a, &hold, NULL);
}

/* A binary property of the map's PC; absent: empty. */
static int nm_prop(struct pst_file *f, const struct pst_node *n, const struct pst_pc *pc,
                   uint16_t id, struct pst_arena *a, const uint8_t **ret, uint32_t *ret_len,
                   struct pst_want *want, struct pst_diag *diag)
{
        struct pst_rawprop p;
        int r;

        *ret = NULL;
        *ret_len = 0;
        r = pst_pc_get(pc, id, &p, diag);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (p.type != PST_PT_BINARY)
                return pst_diag_set(diag, -EBADMSG, pc->hn.d->blk[0].ib,
                                    "name-to-id map: property 0x%04x has type 0x%04x, not binary", id,
                                    p.type);
        r = resolve(f, n, &p, a, want, diag);
        if (r < 0)
                return r;
        *ret = p.p;
        *ret_len = p.len;
        return 0;
}

/* One NAMEID record ([MS-PST] 2.4.7.1) into m; 1 when it is unusable
 * (its index, GUID index or string offset lies outside the streams). */
static int nm_entry(struct pst_namemap *m, const uint8_t *e, const uint8_t *guids,
                    uint32_t n_guids, const uint8_t *strs, uint32_t n_strs)
{
        uint32_t prop_id = get_le32(e), gidx = get_le16(e + 4) >> 1, idx = get_le16(e + 6);
        struct pst_named nm = { .is_string = get_le16(e + 4) & 1, .lid = prop_id };
        int r;

        if (idx >= NAMED_MAX)
                return 1;
        if (gidx == 1)
                memcpy(nm.guid, guid_ps_mapi, 16);
        else if (gidx == 2)
                memcpy(nm.guid, guid_ps_public_strings, 16);
        else if (gidx >= 3 && gidx - 3 < n_guids / 16)
                memcpy(nm.guid, guids + (size_t)(gidx - 3) * 16, 16);
        else if (gidx != 0)
                return 1;
        if (nm.is_string) {
                uint32_t off = prop_id, len;
                char *s;

                /* CVE-2018-11723 (libpff) read past the stream right here. */
                if (off > n_strs || n_strs - off < 4)
                        return 1;
                len = get_le32(strs + off);
                if (len > n_strs - off - 4)
                        return 1;
                r = pst_arena_alloc(&m->a, (size_t)len / 2 * 3 + 4, (void **)&s);
                if (r < 0)
                        return r;
                pst_utf16le_to_utf8(strs + off + 4, len, s, (size_t)len / 2 * 3 + 4);
                nm.name = s;
                nm.lid = 0;
        }
        /* Only a whole entry replaces what an earlier one with the same
         * index said. */
        m->ent[idx] = nm;
        m->present[idx] = 1;
        return 0;
}

static int nm_read(struct pst_file *f, struct pst_namemap *m, struct pst_want *want,
                   struct pst_diag *diag)
{
        const uint8_t *guids, *ents, *strs;
        uint32_t n_guids, n_ents, n_strs;
        struct pst_node n;
        struct pst_pc pc;
        int r;

        r = pst_node_lookup(f, NULL, NID_NAMEMAP, &n, want, diag);
        if (r == -ENOENT)
                return 0; /* no named properties in this file */
        if (r < 0)
                return r;
        r = pc_read(f, &n, &m->a, &pc, want, diag);
        if (r < 0)
                return r;
        r = nm_prop(f, &n, &pc, PID_NAMEID_GUIDS, &m->a, &guids, &n_guids, want, diag);
        if (r == 0)
                r = nm_prop(f, &n, &pc, PID_NAMEID_ENTRIES, &m->a, &ents, &n_ents, want, diag);
        if (r == 0)
                r = nm_prop(f, &n, &pc, PID_NAMEID_STRINGS, &m->a, &strs, &n_strs, want, diag);
        if (r < 0)
                return r;
        m->n = NAMED_MAX;
        r = pst_arena_calloc(&m->a, NAMED_MAX, sizeof(*m->ent), (void **)&m->ent);
        if (r == 0)
                r = pst_arena_calloc(&m->a, NAMED_MAX, 1, (void **)&m->present);
        for (uint32_t i = 0; r == 0 && i < n_ents / 8; i++) {
                r = nm_entry(m, ents + (size_t)i * 8, guids, n_guids, strs, n_strs);
                if (r == 1) {
                        m->n_bad++;
                        r = 0;
                }
        }
        /* The map stays usable; the names it lost are reported by the
         * messages that use them. */
        if (r == 0 && m->n_bad > 0)
                (void)pst_diag_set(&m->diag, -EBADMSG, pc.hn.d->blk[0].ib,
                                   "name-to-id map: %" PRIu32 " of %" PRIu32
                                   " NAMEID records name an index, GUID or string outside their streams",
                                   m->n_bad, n_ents / 8);
        return r;
}

/* Read the map once per file; a map that cannot be read leaves names
 * unresolved (and says why in every message that has named properties). */
static int nm_get(struct pst_file *f, struct pst_want *want, struct pst_diag *diag)
{
        struct pst_namemap *m;
        int r;

        if (f->names)
                return 0;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->a.budget = PST_MSG_MAX_BYTES;
        r = nm_read(f, m, want, &m->diag);
        if (step_error(r)) {
                if (diag)
                        *diag = m->diag;
                pst_namemap_free(m);
                return r;
        }
        if (r < 0) {
                pst_arena_done(&m->a);
                m->ent = NULL;
                m->present = NULL;
                m->error = r;
        }
        f->names = m;
        return 0;
}

static const struct pst_named *nm_find(const struct pst_namemap *m, uint16_t id)
{
        uint32_t idx = (uint32_t)id - 0x8000u;

        if (id < 0x8000u || !m->present || idx >= m->n || !m->present[idx])
                return NULL;
        return &m->ent[idx];
}

/* ---- one message --------------------------------------------------------- */

struct msg_obj {
        struct pst_msg msg; /* first: pst_msg_free() gets back here */
        struct pst_arena a;
        struct pst_problem probs[PST_MSG_MAX_PROBLEMS];
        size_t n_probs, n_more;
};

struct dec {
        struct pst_file *f;
        struct msg_obj *o;
        uint32_t nid;      /* the top-level message */
        uint32_t n_attach; /* attachments met, every level */
        bool named_failed; /* the map's failure reported once */
        uint64_t chain[PST_MSG_MAX_DEPTH + 1]; /* bid_data of the messages being decoded */
        struct pst_want *want;
};

static void problem(struct dec *d, int r, const struct pst_diag *dg)
{
        struct msg_obj *o = d->o;

        if (o->n_probs == PST_MSG_MAX_PROBLEMS) {
                o->n_more++;
                return;
        }
        o->probs[o->n_probs++] = (struct pst_problem){ .nid = d->nid, .error = r, .diag = *dg };
}

/* Keep going after r (a lost item, already described in dg) unless it
 * ends the whole operation. */
static int lost(struct dec *d, int r, struct pst_diag *dg)
{
        if (step_error(r))
                return r;
        problem(d, r, dg);
        return 0;
}

static uint32_t fixed_size(uint16_t type)
{
        switch (type) {
        case PST_PT_I2:
                return 2;
        case PST_PT_I4:
        case PST_PT_R4:
        case PST_PT_ERROR:
                return 4;
        case PST_PT_BOOLEAN:
                return 1;
        case PST_PT_R8:
        case PST_PT_CURRENCY:
        case PST_PT_APPTIME:
        case PST_PT_I8:
        case PST_PT_SYSTIME:
                return 8;
        case PST_PT_CLSID:
                return 16;
        }
        return 0;
}

static void fixed_value(uint16_t type, const uint8_t *p, struct pst_value *v)
{
        uint32_t u32;
        uint64_t u64;
        float f32;
        double f64;

        switch (type) {
        case PST_PT_I2:
                v->i = (int16_t)get_le16(p);
                break;
        case PST_PT_I4:
                v->i = (int32_t)get_le32(p);
                break;
        case PST_PT_ERROR:
                v->i = get_le32(p);
                break;
        case PST_PT_BOOLEAN:
                v->i = p[0] != 0;
                break;
        case PST_PT_R4:
                u32 = get_le32(p);
                memcpy(&f32, &u32, 4);
                v->d = f32;
                break;
        case PST_PT_R8:
        case PST_PT_APPTIME:
                u64 = get_le64(p);
                memcpy(&f64, &u64, 8);
                v->d = f64;
                break;
        case PST_PT_CURRENCY:
        case PST_PT_I8:
        case PST_PT_SYSTIME:
                v->i = (int64_t)get_le64(p);
                break;
        case PST_PT_CLSID:
                v->data = p;
                v->len = 16;
                break;
        }
}

/* A string value as NUL-terminated bytes in the arena: String8 as stored,
 * Unicode as UTF-8; both end at their first NUL. */
static int string_value(struct pst_arena *a, uint16_t type, const uint8_t *p, size_t len,
                        struct pst_value *v)
{
        size_t cap;
        char *s;
        int r;

        if (type == PST_PT_STRING8) {
                const uint8_t *nul = len > 0 ? memchr(p, 0, len) : NULL;

                if (nul)
                        len = (size_t)(nul - p);
                r = pst_arena_alloc(a, len + 1, (void **)&s);
                if (r < 0)
                        return r;
                if (len > 0)
                        memcpy(s, p, len);
                s[len] = '\0';
                v->data = (const uint8_t *)s;
                v->len = len;
                return 0;
        }
        /* A UTF-16 unit gives at most 3 bytes (a pair 4), an odd byte 3. */
        cap = len / 2 * 3 + 4;
        r = pst_arena_alloc(a, cap, (void **)&s);
        if (r < 0)
                return r;
        v->len = pst_utf16le_to_utf8(p, len, s, cap);
        v->data = (const uint8_t *)s;
        return 0;
}

/* Fill out from raw (resolved) bytes p/len of type. */
static int value_decode(struct dec *d, uint16_t id, uint16_t type, const uint8_t *p, uint32_t len,
                        struct pst_prop *out, struct pst_diag *dg)
{
        struct pst_arena *a = &d->o->a;
        uint16_t base = type & (uint16_t)~PST_PT_MV;
        uint32_t fs = fixed_size(base), count;
        struct pst_value *mv;
        int r;

        *out = (struct pst_prop){ .id = id, .type = type };
        if (!(type & PST_PT_MV)) {
                if (fs != 0) {
                        if (len < fs)
                                return pst_diag_set(dg, -EBADMSG, 0,
                                                    "message 0x%" PRIx32 ": property 0x%04x of type 0x%04x"
                                                    " has %" PRIu32 " bytes, needs %" PRIu32,
                                                    d->nid, id, type, len, fs);
                        fixed_value(type, p, &out->v);
                        return 0;
                }
                if (type == PST_PT_STRING8 || type == PST_PT_UNICODE)
                        return string_value(a, type, p, len, &out->v);
                /* Binary, Object (nid + size), SvrEid, restrictions, rule actions: as stored. */
                out->v.data = p;
                out->v.len = len;
                return 0;
        }

        if (fs != 0 && base != PST_PT_BOOLEAN && base != PST_PT_ERROR) {
                /* Fixed-size multi-valued: a packed array. */
                if (len % fs != 0)
                        return pst_diag_set(dg, -EBADMSG, 0,
                                            "message 0x%" PRIx32 ": multi-valued property 0x%04x of type"
                                            " 0x%04x has %" PRIu32 " bytes, not a multiple of %" PRIu32,
                                            d->nid, id, type, len, fs);
                count = len / fs;
                r = pst_arena_calloc(a, MAX(count, 1u), sizeof(*mv), (void **)&mv);
                if (r < 0)
                        return r;
                for (uint32_t i = 0; i < count; i++)
                        fixed_value(base, p + (size_t)i * fs, &mv[i]);
                out->mv = mv;
                out->count = count;
                return 0;
        }
        if (base != PST_PT_STRING8 && base != PST_PT_UNICODE && base != PST_PT_BINARY)
                return pst_diag_set(dg, -ENOTSUP, 0,
                                    "message 0x%" PRIx32 ": property 0x%04x has unknown multi-valued"
                                    " type 0x%04x",
                                    d->nid, id, type);
        /* Variable-size multi-valued: ulCount, rgulDataOffsets[ulCount], data. */
        if (len == 0) {
                out->mv = NULL;
                out->count = 0;
                return 0;
        }
        if (len < 4 || get_le32(p) > (len - 4) / 4)
                return pst_diag_set(dg, -EBADMSG, 0,
                                    "message 0x%" PRIx32 ": multi-valued property 0x%04x of %" PRIu32
                                    " bytes: count %" PRIu32 " does not fit",
                                    d->nid, id, len, len >= 4 ? get_le32(p) : 0);
        count = get_le32(p);
        r = pst_arena_calloc(a, MAX(count, 1u), sizeof(*mv), (void **)&mv);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < count; i++) {
                uint32_t start = get_le32(p + 4 + (size_t)i * 4);
                uint32_t end = i + 1 < count ? get_le32(p + 8 + (size_t)i * 4) : len;

                if (start < 4 + 4 * count || start > end || end > len)
                        return pst_diag_set(dg, -EBADMSG, 0,
                                            "message 0x%" PRIx32 ": multi-valued property 0x%04x: value %"
                                            PRIu32 " at %" PRIu32 "..%" PRIu32 " outside its %" PRIu32
                                            " bytes",
                                            d->nid, id, i, start, end, len);
                if (base == PST_PT_BINARY) {
                        mv[i].data = p + start;
                        mv[i].len = end - start;
                        continue;
                }
                r = string_value(a, base, p + start, end - start, &mv[i]);
                if (r < 0)
                        return r;
        }
        out->mv = mv;
        out->count = count;
        return 0;
}

/* Resolve raw (of a PC or TC owned by node owner) and decode it into out,
 * with its name when named. */
static int prop_decode(struct dec *d, const struct pst_node *owner, struct pst_rawprop *raw,
                       struct pst_prop *out, struct pst_diag *dg)
{
        const struct pst_namemap *m = d->f->names;
        int r;

        r = resolve(d->f, owner, raw, &d->o->a, d->want, dg);
        if (r < 0)
                return r;
        r = value_decode(d, raw->id, raw->type, raw->p, raw->len, out, dg);
        if (r < 0)
                return r;
        if (raw->id >= 0x8000u && m) {
                const struct pst_named *nm = nm_find(m, raw->id);
                struct pst_named *copy;

                if (!nm) {
                        if ((m->error < 0 || m->n_bad > 0) && !d->named_failed) {
                                struct pst_diag e = m->diag;

                                d->named_failed = true;
                                problem(d, m->error < 0 ? m->error : -EBADMSG, &e);
                        }
                        return 0;
                }
                r = pst_arena_alloc(&d->o->a, sizeof(*copy), (void **)&copy);
                if (r < 0)
                        return r;
                *copy = *nm;
                if (nm->is_string) {
                        size_t n = strlen(nm->name) + 1;
                        char *s;

                        r = pst_arena_alloc(&d->o->a, n, (void **)&s);
                        if (r < 0)
                                return r;
                        memcpy(s, nm->name, n);
                        copy->name = s;
                }
                out->named = copy;
        }
        return 0;
}

/* ---- property contexts ----------------------------------------------------- */

struct pc_records {
        const uint8_t **rec; /* key (2 bytes) then the record's data */
        uint32_t n, cap;
};

static int pc_record_cb(void *ctx, const uint8_t *key, const uint8_t *data)
{
        struct pc_records *c = ctx;

        /* Keys are unique 16-bit ids; more records is a forged BTH. */
        if (c->n == MAX_PC_PROPS)
                return -EFBIG;
        if (c->rec)
                c->rec[c->n] = key;
        c->n++;
        (void)data;
        return 0;
}

/* Every property of pc (owned by node n) into *ret; with stash_id, that
 * property is left out and returned raw in *stash (stash->id 0 when absent). */
static int pc_props(struct dec *d, const struct pst_node *n, const struct pst_pc *pc,
                    uint16_t stash_id, struct pst_rawprop *stash, struct pst_prop **ret,
                    size_t *ret_n, struct pst_diag *dg)
{
        struct pc_records c = {};
        struct pst_prop *props;
        size_t k = 0;
        int r;

        if (stash)
                *stash = (struct pst_rawprop){};
        r = pst_bth_foreach(&pc->bth, pc_record_cb, &c, dg);
        if (r == -EFBIG)
                return pst_diag_set(dg, -EBADMSG, pc->hn.d->blk[0].ib,
                                    "PC of node 0x%" PRIx32 ": more than %u properties", n->nid,
                                    MAX_PC_PROPS);
        if (r < 0)
                return r;
        r = pst_arena_alloc(&d->o->a, (size_t)MAX(c.n, 1u) * sizeof(*c.rec), (void **)&c.rec);
        if (r == 0)
                r = pst_arena_alloc(&d->o->a, (size_t)MAX(c.n, 1u) * sizeof(*props), (void **)&props);
        if (r < 0)
                return r;
        c.cap = c.n;
        c.n = 0;
        r = pst_bth_foreach(&pc->bth, pc_record_cb, &c, dg);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < c.n && i < c.cap; i++) {
                uint16_t id = get_le16(c.rec[i]);
                struct pst_rawprop raw;

                r = pst_pc_record(pc, id, c.rec[i] + 2, &raw, dg);
                if (r == 0 && stash && id == stash_id) {
                        *stash = raw;
                        continue;
                }
                if (r == 0)
                        r = prop_decode(d, n, &raw, &props[k], dg);
                if (r == 0) {
                        k++;
                        continue;
                }
                if (r == -EFBIG && pst_arena_left(&d->o->a) == 0)
                        (void)pst_diag_set(dg, r, 0,
                                           "message 0x%" PRIx32 ": node 0x%" PRIx32
                                           ": property 0x%04x not decoded: the message's %u MiB"
                                           " budget is spent",
                                           d->nid, n->nid, id, PST_MSG_MAX_BYTES >> 20);
                r = lost(d, r, dg);
                if (r < 0)
                        return r;
        }
        *ret = props;
        *ret_n = k;
        return 0;
}

/* ---- tables -------------------------------------------------------------- */

/* The TC of node n, kept in the arena. */
static int table_read(struct dec *d, const struct pst_node *n, struct pst_tc *tc,
                      struct pst_diag *dg)
{
        struct pst_arena *a = &d->o->a;
        const struct pst_data *heap, *rows;
        struct pst_data hd = {}, rd = {};
        struct pst_node sub;
        int r;

        r = pst_data_read(d->f, n->bid_data, MIN(pst_arena_left(a), (uint64_t)PST_MAX_HEAP_BYTES), &hd,
                          d->want, dg);
        if (r < 0)
                return r;
        r = pst_arena_adopt(a, &hd, &heap);
        if (r < 0)
                return r;
        r = pst_tc_init(tc, heap, n->nid, dg);
        if (r < 0 || !pst_tc_rows_in_subnode(tc))
                return r;
        r = pst_subnode_lookup(d->f, n->bid_sub, tc->hnid_rows, &sub, d->want, dg);
        if (r == -ENOENT)
                return pst_diag_set(dg, -EBADMSG, heap->blk[0].ib,
                                    "TC of node 0x%" PRIx32 ": row matrix subnode 0x%" PRIx32
                                    " missing from its subnode tree",
                                    n->nid, tc->hnid_rows);
        if (r < 0)
                return r;
        r = pst_data_read(d->f, sub.bid_data,
                          MIN(pst_arena_left(a), (uint64_t)PST_MAX_TC_MATRIX_BYTES), &rd, d->want, dg);
        if (r < 0)
                return r;
        r = pst_arena_adopt(a, &rd, &rows);
        if (r < 0)
                return r;
        return pst_tc_set_rows(tc, rows, dg);
}

/* The recipient table of message n: one struct pst_recipient a row, its
 * cells as properties (in column order, the TC's own row id columns left out). */
static int recipients_read(struct dec *d, const struct pst_node *msg, struct pst_msg *out,
                           struct pst_diag *dg)
{
        struct pst_recipient *rcp;
        struct pst_node tn;
        struct pst_tc tc;
        int r;

        r = pst_node_lookup(d->f, msg, NID_RECIPIENT_TABLE, &tn, d->want, dg);
        if (r == -ENOENT)
                return 0;
        if (r == 0)
                r = table_read(d, &tn, &tc, dg);
        if (r < 0)
                return r;
        r = pst_arena_calloc(&d->o->a, MAX(tc.n_rows, 1u), sizeof(*rcp), (void **)&rcp);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < tc.n_rows; i++) {
                const uint8_t *row = pst_tc_row(&tc, i);
                struct pst_prop *props;
                size_t k = 0;

                r = pst_arena_alloc(&d->o->a, (size_t)MAX(tc.c_cols, 1u) * sizeof(*props),
                                    (void **)&props);
                if (r < 0)
                        return r;
                for (uint32_t c = 0; c < tc.c_cols; c++) {
                        uint16_t id = (uint16_t)(tc.col[c].tag >> 16);
                        struct pst_rawprop raw;

                        if (id == PID_LTP_ROW_ID || id == PID_LTP_ROW_VER)
                                continue;
                        r = pst_tc_cell(&tc, row, id, &raw, dg);
                        if (r == -ENOENT)
                                continue;
                        if (r == 0)
                                r = prop_decode(d, &tn, &raw, &props[k], dg);
                        if (r == 0) {
                                k++;
                                continue;
                        }
                        r = lost(d, r, dg);
                        if (r < 0)
                                return r;
                }
                rcp[i] = (struct pst_recipient){ .props = props, .n_props = k };
        }
        out->recipients = rcp;
        out->n_recipients = tc.n_rows;
        return 0;
}

/* ---- attachments and embedded messages ---------------------------------------- */

static int message_decode(struct dec *d, const struct pst_node *n, unsigned depth,
                          struct pst_msg *out, struct pst_diag *dg);

/* The embedded message of attachment an (its PidTagAttachDataObject names
 * a subnode of the attachment). */
static int embedded_read(struct dec *d, const struct pst_node *an, const struct pst_rawprop *obj,
                         unsigned depth, struct pst_attachment *att, struct pst_diag *dg)
{
        struct pst_node sub;
        struct pst_msg *em;
        uint32_t snid;
        int r;

        if (obj->in_subnode || obj->len < 4)
                return pst_diag_set(dg, -EBADMSG, 0,
                                    "message 0x%" PRIx32 ": attachment 0x%" PRIx32
                                    ": PidTagAttachDataObject is not a node reference",
                                    d->nid, an->nid);
        snid = get_le32(obj->p);
        r = pst_subnode_lookup(d->f, an->bid_sub, snid, &sub, d->want, dg);
        if (r == -ENOENT)
                return pst_diag_set(dg, -EBADMSG, 0,
                                    "message 0x%" PRIx32 ": attachment 0x%" PRIx32
                                    ": embedded message subnode 0x%" PRIx32 " missing",
                                    d->nid, an->nid, snid);
        if (r < 0)
                return r;
        if (depth + 1 >= PST_MSG_MAX_DEPTH)
                return pst_diag_set(dg, -EFBIG, 0,
                                    "message 0x%" PRIx32 ": attachment 0x%" PRIx32
                                    ": embedded messages nested more than %u deep",
                                    d->nid, an->nid, PST_MSG_MAX_DEPTH);
        for (unsigned i = 0; i <= depth; i++)
                if (d->chain[i] == pst_bid_clean(sub.bid_data))
                        return pst_diag_set(dg, -EBADMSG, 0,
                                            "message 0x%" PRIx32 ": attachment 0x%" PRIx32
                                            ": embedded message 0x%" PRIx32
                                            " is one of its own parents (cycle)",
                                            d->nid, an->nid, snid);
        r = pst_arena_calloc(&d->o->a, 1, sizeof(*em), (void **)&em);
        if (r < 0)
                return r;
        r = message_decode(d, &sub, depth + 1, em, dg);
        if (r < 0)
                return r;
        att->embedded = em;
        return 0;
}

static int attachment_read(struct dec *d, const struct pst_node *msg, uint32_t anid, unsigned depth,
                           struct pst_attachment *att, struct pst_diag *dg)
{
        struct pst_rawprop data;
        struct pst_prop *props;
        const struct pst_prop *method;
        struct pst_node an;
        struct pst_pc pc;
        size_t n;
        int r;

        r = pst_node_lookup(d->f, msg, anid, &an, d->want, dg);
        if (r == -ENOENT)
                return pst_diag_set(dg, -EBADMSG, 0,
                                    "message 0x%" PRIx32 ": attachment 0x%" PRIx32
                                    " listed in its attachment table but not a subnode",
                                    d->nid, anid);
        if (r == 0)
                r = pc_read(d->f, &an, &d->o->a, &pc, d->want, dg);
        if (r == 0)
                r = pc_props(d, &an, &pc, PID_ATTACH_DATA, &data, &props, &n, dg);
        if (r < 0)
                return r;
        *att = (struct pst_attachment){ .props = props, .n_props = n };
        if (data.id == 0)
                return 0;
        method = pst_props_find(props, n, PID_ATTACH_METHOD);
        if (data.type == PST_PT_OBJECT) {
                /* OLE storage (method 6) is never dereferenced. */
                if (method && method->v.i == ATTACH_EMBEDDED_MSG)
                        return embedded_read(d, &an, &data, depth, att, dg);
                return 0;
        }
        if (data.type != PST_PT_BINARY)
                return pst_diag_set(dg, -EBADMSG, 0,
                                    "message 0x%" PRIx32 ": attachment 0x%" PRIx32
                                    ": PidTagAttachDataBinary has type 0x%04x",
                                    d->nid, anid, data.type);
        r = resolve(d->f, &an, &data, &d->o->a, d->want, dg);
        if (r < 0)
                return r;
        att->data = data.p;
        att->len = data.len;
        return 0;
}

static int attachments_read(struct dec *d, const struct pst_node *msg, unsigned depth,
                            struct pst_msg *out, struct pst_diag *dg)
{
        struct pst_attachment *att;
        struct pst_node tn;
        struct pst_tc tc;
        size_t k = 0;
        int r;

        r = pst_node_lookup(d->f, msg, NID_ATTACHMENT_TABLE, &tn, d->want, dg);
        if (r == -ENOENT)
                return 0;
        if (r == 0)
                r = table_read(d, &tn, &tc, dg);
        if (r < 0)
                return r;
        r = pst_arena_calloc(&d->o->a, MAX(tc.n_rows, 1u), sizeof(*att), (void **)&att);
        if (r < 0)
                return r;
        out->attachments = att;
        for (uint32_t i = 0; i < tc.n_rows; i++) {
                uint32_t anid = get_le32(pst_tc_row(&tc, i));

                if (d->n_attach >= MAX_MESSAGE_ATTACHMENTS) {
                        (void)pst_diag_set(dg, -EFBIG, 0,
                                           "message 0x%" PRIx32 ": more than %u attachments through"
                                           " its embedded messages; the rest not read",
                                           d->nid, MAX_MESSAGE_ATTACHMENTS);
                        return lost(d, -EFBIG, dg);
                }
                d->n_attach++;
                r = attachment_read(d, msg, anid, depth, &att[k], dg);
                if (r == 0) {
                        out->n_attachments = ++k;
                        continue;
                }
                r = lost(d, r, dg);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Message n (depth 0: the top level): its PC, then recipients and
 * attachments, each lost alone when damaged. */
static int message_decode(struct dec *d, const struct pst_node *n, unsigned depth,
                          struct pst_msg *out, struct pst_diag *dg)
{
        struct pst_prop *props;
        struct pst_pc pc;
        size_t np;
        int r;

        d->chain[depth] = pst_bid_clean(n->bid_data);
        r = pc_read(d->f, n, &d->o->a, &pc, d->want, dg);
        if (r == 0)
                r = pc_props(d, n, &pc, 0, NULL, &props, &np, dg);
        if (r < 0)
                return r;
        out->props = props;
        out->n_props = np;
        r = recipients_read(d, n, out, dg);
        if (r < 0)
                r = lost(d, r, dg);
        if (r == 0)
                r = attachments_read(d, n, depth, out, dg);
        if (r < 0)
                r = lost(d, r, dg);
        return r;
}

int pst_msg_read(struct pst_file *f, uint32_t nid, struct pst_msg **ret, struct pst_want *want,
                 struct pst_diag *diag)
{
        struct pst_diag dg = {};
        struct msg_obj *o = NULL;
        struct pst_node n;
        struct dec d;
        int r;

        r = pst_op_begin(f, &dg);
        if (r < 0)
                goto out;
        r = nm_get(f, want, &dg);
        if (r == 0)
                r = pst_node_lookup(f, NULL, nid, &n, want, &dg);
        if (r == -ENOENT)
                r = pst_diag_set(&dg, -ENOENT, 0, "message 0x%" PRIx32 ": not in the NBT", nid);
        if (r < 0)
                goto end;
        o = calloc(1, sizeof(*o));
        if (!o) {
                r = -ENOMEM;
                goto end;
        }
        o->a.budget = PST_MSG_MAX_BYTES;
        d = (struct dec){ .f = f, .o = o, .nid = nid, .want = want };
        r = message_decode(&d, &n, 0, &o->msg, &dg);
        if (r < 0 && r != -EAGAIN && r != -EIO && r != -ENOMEM) {
                char m[sizeof(dg.msg)];

                memcpy(m, dg.msg, sizeof(m));
                (void)pst_diag_set(&dg, r, dg.offset, "message 0x%" PRIx32 ": %s", nid, m);
        }
end:
        r = pst_op_end(f, r, want, &dg);
        if (r < 0) {
                pst_msg_free(o ? &o->msg : NULL);
                goto out;
        }
        *ret = &o->msg;
out:
        if (r < 0 && diag)
                *diag = dg;
        return r;
}

struct pst_msg *pst_msg_free(struct pst_msg *m)
{
        struct msg_obj *o = (struct msg_obj *)m;

        if (o) {
                pst_arena_done(&o->a);
                free(o);
        }
        return NULL;
}

const struct pst_problem *pst_msg_problems(const struct pst_msg *m, size_t *ret_n,
                                           size_t *ret_more)
{
        const struct msg_obj *o = (const struct msg_obj *)m;

        *ret_n = o->n_probs;
        if (ret_more)
                *ret_more = o->n_more;
        return o->probs;
}

const struct pst_prop *pst_props_find(const struct pst_prop *props, size_t n, uint16_t id)
{
        for (size_t i = 0; i < n; i++)
                if (props[i].id == id)
                        return &props[i];
        return NULL;
}
