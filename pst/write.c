/* SPDX-License-Identifier: MIT
 *
 * write.c - the writer's messaging layer ([MS-PST] 2.4): the message store,
 * the folder tree Outlook creates in a new PST (root folder, "Top of
 * Personal Folders", "Search Root", "Deleted Items"), folders with their
 * hierarchy/contents/FAI tables, messages with recipients, attachments and
 * embedded messages, the name-to-id map and the table templates.
 *
 * NIDs: folders take indexes 0x401-0xFFFF and messages 0x10000 up, so every
 * node of the folder tree, written at close, sorts before every message,
 * whose node is in the NBT as soon as it is written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pst/write-internal.h"

#define NID_STORE 0x21u
#define NID_NAME_MAP 0x61u
#define NID_ROOT 0x122u
#define IDX_IPM 0x401u
#define IDX_SEARCH_ROOT 0x402u
#define IDX_DELETED 0x403u
#define IDX_FIRST_FOLDER 0x404u
#define IDX_LAST_FOLDER 0xFFFFu
#define IDX_FIRST_MESSAGE 0x10000u
#define IDX_LAST_MESSAGE 0x7FFFFFFu /* 27 bits */
#define NAMED_MAX 0x7FFFu           /* ids 0x8000-0xFFFE */
#define NAMED_BUCKETS 251u

#define MSGFLAG_READ 0x01
#define MSGFLAG_HASATTACH 0x10
#define MSGFLAG_ASSOCIATED 0x40

#define TAG(id, type) ((uint32_t)(id) << 16 | (type))

static const uint8_t ps_mapi[16] = { 0x28, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
                                     0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 };
/* PSETID_Common: always in the GUID stream, which libpff wants non-empty. */
static const uint8_t psetid_common[16] = { 0x08, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
                                           0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 };
static const uint8_t ps_public_strings[16] = { 0x29, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
                                               0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 };

/* Columns of the tables Outlook's templates define ([MS-PST] 2.4.4.4.1,
 * 2.4.4.5.1, 2.4.4.6.1, 2.4.5.2.1, 2.4.6.1.1). */
static const uint32_t hierarchy_cols[] = {
        TAG(0x3001, PST_PT_UNICODE), TAG(0x3602, PST_PT_I4),      TAG(0x3603, PST_PT_I4),
        TAG(0x360A, PST_PT_BOOLEAN), TAG(0x3613, PST_PT_UNICODE), TAG(0x3617, PST_PT_I4),
};
static const uint32_t contents_cols[] = {
        TAG(0x0017, PST_PT_I4),      TAG(0x001A, PST_PT_UNICODE), TAG(0x0036, PST_PT_I4),
        TAG(0x0037, PST_PT_UNICODE), TAG(0x0039, PST_PT_SYSTIME), TAG(0x0042, PST_PT_UNICODE),
        TAG(0x0057, PST_PT_BOOLEAN), TAG(0x0058, PST_PT_BOOLEAN), TAG(0x0070, PST_PT_UNICODE),
        TAG(0x0071, PST_PT_BINARY),  TAG(0x0E03, PST_PT_UNICODE), TAG(0x0E04, PST_PT_UNICODE),
        TAG(0x0E06, PST_PT_SYSTIME), TAG(0x0E07, PST_PT_I4),      TAG(0x0E08, PST_PT_I4),
        TAG(0x0E17, PST_PT_I4),      TAG(0x3008, PST_PT_SYSTIME),
};
static const uint32_t recipient_cols[] = {
        TAG(0x0C15, PST_PT_I4),      TAG(0x0E0F, PST_PT_BOOLEAN), TAG(0x0FF9, PST_PT_BINARY),
        TAG(0x0FFE, PST_PT_I4),      TAG(0x0FFF, PST_PT_BINARY),  TAG(0x3001, PST_PT_UNICODE),
        TAG(0x3002, PST_PT_UNICODE), TAG(0x3003, PST_PT_UNICODE), TAG(0x300B, PST_PT_BINARY),
        TAG(0x3900, PST_PT_I4),      TAG(0x39FF, PST_PT_UNICODE), TAG(0x3A40, PST_PT_BOOLEAN),
};
static const uint32_t attachment_cols[] = {
        TAG(0x0E20, PST_PT_I4),      TAG(0x3704, PST_PT_UNICODE), TAG(0x3705, PST_PT_I4),
        TAG(0x3707, PST_PT_UNICODE), TAG(0x370B, PST_PT_I4),
};

struct pstw_folder {
        uint32_t nid, parent;
        char *name, *cls;
        struct pstw_tc *tc[2]; /* contents, FAI contents: opened by the first message */
        uint32_t n_msgs, n_unread, n_fai, n_children;
};

struct named_ent {
        uint8_t guid[16];
        bool is_string;
        uint32_t lid;
        char *name;
};

struct pstw_named_map {
        struct named_ent *e;
        uint32_t n, cap;
        int32_t slot[2 * NAMED_MAX + 1]; /* open addressing: index + 1, 0 empty */
};

/* ---- named properties -------------------------------------------------------------- */

static uint32_t named_hash(const struct pst_named *n)
{
        uint32_t h = 2166136261u;
        const uint8_t *p = n->guid;

        for (unsigned i = 0; i < 16; i++)
                h = (h ^ p[i]) * 16777619u;
        if (n->is_string)
                for (p = (const uint8_t *)n->name; *p; p++)
                        h = (h ^ *p) * 16777619u;
        else
                h = (h ^ n->lid) * 16777619u;
        return h ^ n->is_string;
}

static bool named_eq(const struct named_ent *e, const struct pst_named *n)
{
        if (e->is_string != n->is_string || memcmp(e->guid, n->guid, 16) != 0)
                return false;
        return n->is_string ? strcmp(e->name, n->name) == 0 : e->lid == n->lid;
}

/* The property id (0x8000 + index) of a named property, added if new. */
static int named_id(struct pstw *w, const struct pst_named *n, uint16_t *ret)
{
        struct pstw_named_map *m = w->named;
        uint32_t s = named_hash(n) % ELEMENTSOF(m->slot);
        struct named_ent *e;

        if (n->is_string && !n->name)
                return pstw_fail(w, -EINVAL, "string named property without a name");
        for (; m->slot[s]; s = (s + 1) % ELEMENTSOF(m->slot)) {
                if (named_eq(&m->e[m->slot[s] - 1], n)) {
                        *ret = (uint16_t)(0x8000 + m->slot[s] - 1);
                        return 0;
                }
        }
        if (m->n == NAMED_MAX)
                return pstw_fail(w, -EFBIG, "more than %u named properties", NAMED_MAX);
        if (m->n == m->cap) {
                uint32_t cap = m->cap ? 2 * m->cap : 64;
                struct named_ent *p = reallocarray(m->e, cap, sizeof(*p));

                if (!p)
                        return pstw_fail(w, -ENOMEM, "named properties");
                m->e = p;
                m->cap = cap;
        }
        e = &m->e[m->n];
        *e = (struct named_ent){ .is_string = n->is_string, .lid = n->lid };
        memcpy(e->guid, n->guid, 16);
        if (n->is_string) {
                e->name = strdup(n->name);
                if (!e->name)
                        return pstw_fail(w, -ENOMEM, "named properties");
        }
        m->slot[s] = (int32_t)++m->n;
        *ret = (uint16_t)(0x8000 + m->n - 1);
        return 0;
}

/* The name-to-id map ([MS-PST] 2.4.7): GUID, entry and string streams and
 * the hash buckets. */
static int write_name_map(struct pstw *w)
{
        struct pstw_named_map *m = w->named;
        struct pstw_vec guids = { .size = 16 }, ents = { .size = 8 }, strs = { .size = 1 };
        struct pstw_vec bucket[NAMED_BUCKETS];
        struct pstw_vec subs = PSTW_VEC(struct pstw_sn);
        struct pstw_pc pc;
        uint64_t bid_data, bid_sub;
        uint8_t v[4];
        int r;

        for (unsigned b = 0; b < NAMED_BUCKETS; b++)
                bucket[b] = (struct pstw_vec){ .size = 8 };
        r = pstw_pc_init(&pc, &subs);
        if (r < 0)
                return pstw_fail(w, r, "name-to-id map");
        r = pstw_vec_push(&guids, psetid_common);
        for (uint32_t i = 0; i < m->n && r >= 0; i++) {
                const struct named_ent *e = &m->e[i];
                uint32_t gidx = 0, id = e->lid, hash;
                uint8_t ne[8];

                if (memcmp(e->guid, ps_mapi, 16) == 0) {
                        gidx = 1;
                } else if (memcmp(e->guid, ps_public_strings, 16) == 0) {
                        gidx = 2;
                } else {
                        for (size_t g = 0; g < guids.n && !gidx; g++)
                                if (memcmp((uint8_t *)guids.p + 16 * g, e->guid, 16) == 0)
                                        gidx = 3 + (uint32_t)g;
                        if (!gidx) {
                                r = pstw_vec_push(&guids, e->guid);
                                gidx = 3 + (uint32_t)guids.n - 1;
                        }
                }
                hash = id;
                if (e->is_string && r >= 0) {
                        uint8_t *u, len[4];
                        size_t ulen;

                        r = pstw_utf16(e->name, strlen(e->name), &u, &ulen);
                        if (r < 0)
                                break;
                        id = (uint32_t)strs.n;
                        hash = pst_crc32(0, u, ulen);
                        put_le32(len, (uint32_t)ulen);
                        for (unsigned k = 0; k < 4 && r >= 0; k++)
                                r = pstw_vec_push(&strs, &len[k]);
                        for (size_t k = 0; k < ulen && r >= 0; k++)
                                r = pstw_vec_push(&strs, &u[k]);
                        for (uint8_t z = 0; strs.n % 4 && r >= 0;)
                                r = pstw_vec_push(&strs, &z);
                        free(u);
                }
                put_le32(ne, id);
                put_le16(ne + 4, (uint16_t)(gidx << 1 | e->is_string));
                put_le16(ne + 6, (uint16_t)i);
                if (r >= 0)
                        r = pstw_vec_push(&ents, ne);
                put_le32(ne, hash);
                if (r >= 0)
                        r = pstw_vec_push(
                            &bucket[(hash ^ (gidx << 1 | e->is_string)) % NAMED_BUCKETS], ne);
        }
        if (r < 0) {
                r = pstw_fail(w, r, "name-to-id map");
                goto out;
        }
        put_le32(v, NAMED_BUCKETS);
        r = pstw_pc_add(w, &pc, 0x0001, PST_PT_I4, v, 4);
        if (r >= 0)
                r = pstw_pc_add(w, &pc, 0x0002, PST_PT_BINARY, guids.p, guids.n * 16);
        if (r >= 0)
                r = pstw_pc_add(w, &pc, 0x0003, PST_PT_BINARY, ents.p, ents.n * 8);
        if (r >= 0)
                r = pstw_pc_add(w, &pc, 0x0004, PST_PT_BINARY, strs.p, strs.n);
        for (unsigned b = 0; b < NAMED_BUCKETS && r >= 0; b++)
                if (bucket[b].n)
                        r = pstw_pc_add(w, &pc, (uint16_t)(0x1000 + b), PST_PT_BINARY, bucket[b].p,
                                        bucket[b].n * 8);
        if (r >= 0)
                r = pstw_pc_finish(w, &pc, &bid_data);
        if (r >= 0)
                r = pstw_subtree(w, subs.p, subs.n, &bid_sub);
        if (r >= 0)
                r = pstw_node(w, NID_NAME_MAP, bid_data, bid_sub, 0);
out:
        pstw_pc_free(&pc);
        pstw_vec_free(&subs);
        pstw_vec_free(&guids);
        pstw_vec_free(&ents);
        pstw_vec_free(&strs);
        for (unsigned b = 0; b < NAMED_BUCKETS; b++)
                pstw_vec_free(&bucket[b]);
        return r;
}

/* ---- properties ---------------------------------------------------------------------- */

static const struct pst_prop *find_prop(const struct pst_prop *props, size_t n, uint16_t id)
{
        for (size_t i = 0; i < n; i++)
                if (props[i].id == id && !props[i].named)
                        return &props[i];
        return NULL;
}

/* The id a property gets in this file. */
static int prop_id(struct pstw *w, const struct pst_prop *p, uint16_t *ret)
{
        if (p->named)
                return named_id(w, p->named, ret);
        if (p->id >= 0x8000)
                return pstw_fail(w, -EINVAL, "property 0x%04x without its name", p->id);
        *ret = p->id;
        return 0;
}

static int add_props(struct pstw *w, struct pstw_pc *pc, const struct pst_prop *props, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                uint8_t inl[16], *val;
                size_t len;
                uint16_t id;
                int r;

                r = prop_id(w, &props[i], &id);
                if (r < 0)
                        return r;
                r = pstw_encode(props[i].type, &props[i], inl, &val, &len);
                if (r < 0)
                        return pstw_fail(w, r, "property 0x%04x of type 0x%04x", props[i].id,
                                         props[i].type);
                r = pstw_pc_add(w, pc, id, props[i].type, val, len);
                if (val != inl)
                        free(val);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_i4(struct pstw *w, struct pstw_pc *pc, uint16_t id, uint32_t v)
{
        uint8_t b[4];

        put_le32(b, v);
        return pstw_pc_add(w, pc, id, PST_PT_I4, b, 4);
}

static int add_str(struct pstw *w, struct pstw_pc *pc, uint16_t id, const char *s)
{
        uint8_t *u;
        size_t n;
        int r;

        r = pstw_utf16(s, strlen(s), &u, &n);
        if (r < 0)
                return pstw_fail(w, r, "string");
        r = pstw_pc_add(w, pc, id, PST_PT_UNICODE, u, n);
        free(u);
        return r;
}

static int cell_i4(struct pstw *w, struct pstw_tc *tc, uint16_t id, uint32_t v)
{
        uint8_t b[4];

        put_le32(b, v);
        return pstw_tc_cell(w, tc, id, PST_PT_I4, b, 4);
}

static int cell_str(struct pstw *w, struct pstw_tc *tc, uint16_t id, const char *s)
{
        uint8_t *u;
        size_t n;
        int r;

        r = pstw_utf16(s, strlen(s), &u, &n);
        if (r < 0)
                return pstw_fail(w, r, "string");
        r = pstw_tc_cell(w, tc, id, PST_PT_UNICODE, u, n);
        free(u);
        return r;
}

/* A cell from a property of the item model. */
static int cell_prop(struct pstw *w, struct pstw_tc *tc, uint16_t id, const struct pst_prop *p)
{
        uint8_t inl[16], *val;
        size_t len;
        int r;

        if (!pstw_tc_has(tc, id, p->type))
                return 0;
        r = pstw_encode(p->type, p, inl, &val, &len);
        if (r < 0)
                return pstw_fail(w, r, "property 0x%04x of type 0x%04x", p->id, p->type);
        r = pstw_tc_cell(w, tc, id, p->type, val, len);
        if (val != inl)
                free(val);
        return r;
}

/* ---- messages -------------------------------------------------------------------------- */

static uint64_t prop_bytes(const struct pst_prop *p, size_t n)
{
        uint64_t s = 0;

        for (size_t i = 0; i < n; i++) {
                s += 8 + p[i].v.len;
                for (uint32_t k = 0; p[i].mv && k < p[i].count; k++)
                        s += 8 + p[i].mv[k].len;
        }
        return s;
}

/* An estimate of PidTagMessageSize: property bytes at every level. */
static uint64_t msg_bytes(const struct pst_msg *m, unsigned depth)
{
        uint64_t s = prop_bytes(m->props, m->n_props);

        for (size_t i = 0; i < m->n_recipients; i++)
                s += prop_bytes(m->recipients[i].props, m->recipients[i].n_props);
        for (size_t i = 0; i < m->n_attachments; i++) {
                const struct pst_attachment *a = &m->attachments[i];

                s += prop_bytes(a->props, a->n_props) + a->len;
                if (a->embedded && depth < PSTW_MAX_DEPTH)
                        s += msg_bytes(a->embedded, depth + 1);
        }
        return s;
}

struct built {
        uint64_t bid_data, bid_sub;
        uint32_t flags;
        uint64_t size;
};

static int build_message(struct pstw *w, const struct pst_msg *m, bool fai, unsigned depth,
                         struct built *ret);

static int build_recipients(struct pstw *w, const struct pst_msg *m, struct pstw_vec *subs)
{
        uint32_t tags[255];
        unsigned n_tags = 0;
        struct pstw_tc tc;
        struct pstw_sn sn = { .nid = 0x692 };
        int r;

        /* The recipients' own properties are the columns, then the template's. */
        for (size_t i = 0; i < m->n_recipients; i++) {
                const struct pst_recipient *rc = &m->recipients[i];

                for (size_t k = 0; k < rc->n_props; k++) {
                        uint16_t id;
                        bool seen = false;

                        r = prop_id(w, &rc->props[k], &id);
                        if (r < 0)
                                return r;
                        for (unsigned t = 0; t < n_tags; t++)
                                seen |= tags[t] >> 16 == id;
                        if (seen)
                                continue;
                        if (n_tags == 253 - ELEMENTSOF(recipient_cols))
                                return pstw_fail(w, -EFBIG,
                                                 "recipients with more than %u properties", n_tags);
                        if (!pstw_type_known(rc->props[k].type))
                                return pstw_fail(w, -ENOTSUP, "recipient property type 0x%04x",
                                                 rc->props[k].type);
                        tags[n_tags++] = TAG(id, rc->props[k].type);
                }
        }
        for (unsigned i = 0; i < ELEMENTSOF(recipient_cols); i++) {
                bool seen = false;

                for (unsigned t = 0; t < n_tags; t++)
                        seen |= tags[t] >> 16 == recipient_cols[i] >> 16;
                if (!seen)
                        tags[n_tags++] = recipient_cols[i];
        }
        r = pstw_tc_init(&tc, tags, n_tags);
        if (r < 0)
                return pstw_fail(w, r, "recipient table");
        for (size_t i = 0; i < m->n_recipients && r >= 0; i++) {
                const struct pst_recipient *rc = &m->recipients[i];

                pstw_tc_row_begin(&tc, (uint32_t)i);
                for (size_t k = 0; k < rc->n_props && r >= 0; k++) {
                        uint16_t id;

                        r = prop_id(w, &rc->props[k], &id);
                        if (r >= 0)
                                r = cell_prop(w, &tc, id, &rc->props[k]);
                }
                if (r >= 0)
                        r = pstw_tc_row_end(w, &tc);
        }
        if (r >= 0)
                r = pstw_tc_finish(w, &tc, &sn.bid_data, &sn.bid_sub);
        pstw_tc_free(&tc);
        if (r >= 0 && pstw_vec_push(subs, &sn) < 0)
                r = pstw_fail(w, -ENOMEM, "subnode list");
        return r;
}

static int build_attachment(struct pstw *w, const struct pst_attachment *a, uint32_t nid,
                            unsigned depth, struct pstw_sn *ret, uint32_t *ret_method,
                            uint32_t *ret_size)
{
        struct pstw_vec subs = PSTW_VEC(struct pstw_sn);
        const struct pst_prop *method = find_prop(a->props, a->n_props, 0x3705);
        struct pstw_pc pc;
        uint64_t size = a->len;
        int r;

        if (a->len > 0 && !a->data)
                return pstw_fail(w, -EINVAL, "attachment data missing");
        if (find_prop(a->props, a->n_props, 0x3701))
                return pstw_fail(w, -EINVAL, "PidTagAttachDataBinary among the properties");
        r = pstw_pc_init(&pc, &subs);
        if (r < 0)
                return pstw_fail(w, r, "attachment");
        r = add_props(w, &pc, a->props, a->n_props);
        *ret_method = method ? (uint32_t)method->v.i : a->embedded ? 5 : 1;
        if (r >= 0 && !method)
                r = add_i4(w, &pc, 0x3705, *ret_method);
        if (r >= 0 && a->embedded) {
                struct pstw_sn emb = { .nid = pstw_nid(1, NT_NORMAL_MESSAGE) };
                struct built b;
                uint8_t obj[8];
                uint32_t hid;

                r = build_message(w, a->embedded, false, depth + 1, &b);
                if (r >= 0) {
                        emb.bid_data = b.bid_data;
                        emb.bid_sub = b.bid_sub;
                        size = b.size;
                        r = pstw_vec_push(&subs, &emb) < 0 ? pstw_fail(w, -ENOMEM, "subnodes") : 0;
                }
                /* PtypObject: the subnode and the object's size. */
                put_le32(obj, emb.nid);
                put_le32(obj + 4, (uint32_t)MIN(size, (uint64_t)UINT32_MAX));
                if (r >= 0)
                        r = pstw_hn_alloc(w, &pc.hn, obj, sizeof(obj), &hid);
                if (r >= 0)
                        r = pstw_pc_add_hnid(w, &pc, 0x3701, PST_PT_OBJECT, hid);
        } else if (r >= 0) {
                r = pstw_pc_add(w, &pc, 0x3701, PST_PT_BINARY, a->data, a->len);
        }
        *ret_size = (uint32_t)MIN(size, (uint64_t)INT32_MAX);
        if (r >= 0 && !find_prop(a->props, a->n_props, 0x0E20))
                r = add_i4(w, &pc, 0x0E20, *ret_size);
        if (r >= 0)
                r = pstw_pc_finish(w, &pc, &ret->bid_data);
        if (r >= 0)
                r = pstw_subtree(w, subs.p, subs.n, &ret->bid_sub);
        ret->nid = nid;
        pstw_pc_free(&pc);
        pstw_vec_free(&subs);
        return r;
}

static int build_attachments(struct pstw *w, const struct pst_msg *m, unsigned depth,
                             struct pstw_vec *subs)
{
        struct pstw_tc tc;
        struct pstw_sn table = { .nid = 0x671 };
        int r;

        if (m->n_attachments > IDX_LAST_FOLDER - IDX_IPM)
                return pstw_fail(w, -EFBIG, "%zu attachments in one message", m->n_attachments);
        r = pstw_tc_init(&tc, attachment_cols, ELEMENTSOF(attachment_cols));
        if (r < 0)
                return pstw_fail(w, r, "attachment table");
        for (size_t i = 0; i < m->n_attachments && r >= 0; i++) {
                const struct pst_attachment *a = &m->attachments[i];
                uint32_t nid = pstw_nid(IDX_IPM + (uint32_t)i, NT_ATTACHMENT), method = 0, size = 0;
                struct pstw_sn sn;

                r = build_attachment(w, a, nid, depth, &sn, &method, &size);
                if (r < 0)
                        break;
                r = pstw_vec_push(subs, &sn) < 0 ? pstw_fail(w, -ENOMEM, "subnodes") : 0;
                pstw_tc_row_begin(&tc, nid);
                for (size_t k = 0; k < a->n_props && r >= 0; k++)
                        if (!a->props[k].named)
                                r = cell_prop(w, &tc, a->props[k].id, &a->props[k]);
                if (r >= 0)
                        r = cell_i4(w, &tc, 0x3705, method);
                if (r >= 0)
                        r = cell_i4(w, &tc, 0x0E20, size);
                if (r >= 0)
                        r = pstw_tc_row_end(w, &tc);
        }
        if (r >= 0)
                r = pstw_tc_finish(w, &tc, &table.bid_data, &table.bid_sub);
        pstw_tc_free(&tc);
        if (r >= 0 && pstw_vec_push(subs, &table) < 0)
                r = pstw_fail(w, -ENOMEM, "subnode list");
        return r;
}

/* PidTagDisplayTo/Cc/Bcc as Outlook computes them: the display names of
 * the recipients of that type, "; "-separated. */
static int add_display(struct pstw *w, struct pstw_pc *pc, const struct pst_msg *m)
{
        static const uint16_t ids[3] = { 0x0E04, 0x0E03, 0x0E02 };
        int r = 0;

        for (unsigned t = 0; t < 3 && r >= 0; t++) {
                struct pstw_vec s = { .size = 1 };
                const char sep[2] = { ';', ' ' };

                if (find_prop(m->props, m->n_props, ids[t]))
                        continue;
                for (size_t i = 0; i < m->n_recipients && r >= 0; i++) {
                        const struct pst_recipient *rc = &m->recipients[i];
                        const struct pst_prop *type = find_prop(rc->props, rc->n_props, 0x0C15);
                        const struct pst_prop *name = find_prop(rc->props, rc->n_props, 0x3001);

                        if (!type || type->v.i != t + 1 || !name || !name->v.data ||
                            (name->type != PST_PT_UNICODE && name->type != PST_PT_STRING8))
                                continue;
                        for (unsigned k = 0; s.n && k < 2 && r >= 0; k++)
                                r = pstw_vec_push(&s, &sep[k]);
                        for (size_t k = 0; k < name->v.len && r >= 0; k++)
                                r = pstw_vec_push(&s, &name->v.data[k]);
                }
                if (r >= 0 && s.n) {
                        char z = 0;

                        r = pstw_vec_push(&s, &z);
                        if (r >= 0)
                                r = add_str(w, pc, ids[t], s.p);
                }
                pstw_vec_free(&s);
        }
        return r < 0 ? pstw_fail(w, r, "display recipients") : 0;
}

static int build_message(struct pstw *w, const struct pst_msg *m, bool fai, unsigned depth,
                         struct built *ret)
{
        struct pstw_vec subs = PSTW_VEC(struct pstw_sn);
        const struct pst_prop *flags = find_prop(m->props, m->n_props, 0x0E07);
        struct pstw_pc pc;
        int r;

        if (depth > PSTW_MAX_DEPTH)
                return pstw_fail(w, -EFBIG, "embedded messages nested deeper than %u",
                                 PSTW_MAX_DEPTH);
        if ((m->n_props && !m->props) || (m->n_recipients && !m->recipients) ||
            (m->n_attachments && !m->attachments))
                return pstw_fail(w, -EINVAL, "message without its arrays");
        ret->size = MIN(msg_bytes(m, depth), (uint64_t)INT32_MAX);
        ret->flags = flags ? (uint32_t)flags->v.i
                           : MSGFLAG_READ | (m->n_attachments ? MSGFLAG_HASATTACH : 0) |
                                 (fai ? MSGFLAG_ASSOCIATED : 0);
        r = pstw_pc_init(&pc, &subs);
        if (r < 0)
                return pstw_fail(w, r, "message");
        r = add_props(w, &pc, m->props, m->n_props);
        if (r >= 0 && !find_prop(m->props, m->n_props, 0x001A))
                r = add_str(w, &pc, 0x001A, "IPM.Note");
        if (r >= 0 && !flags)
                r = add_i4(w, &pc, 0x0E07, ret->flags);
        if (r >= 0 && !find_prop(m->props, m->n_props, 0x0E08))
                r = add_i4(w, &pc, 0x0E08, (uint32_t)ret->size);
        if (r >= 0)
                r = add_display(w, &pc, m);
        if (r >= 0)
                r = build_recipients(w, m, &subs);
        if (r >= 0 && m->n_attachments)
                r = build_attachments(w, m, depth, &subs);
        if (r >= 0)
                r = pstw_pc_finish(w, &pc, &ret->bid_data);
        if (r >= 0)
                r = pstw_subtree(w, subs.p, subs.n, &ret->bid_sub);
        pstw_pc_free(&pc);
        pstw_vec_free(&subs);
        return r;
}

/* ---- folders ----------------------------------------------------------------------------- */

static struct pstw_folder *folder_get(struct pstw *w, uint32_t nid)
{
        uint32_t idx = nid >> 5;

        if (nid == NID_ROOT)
                return PSTW_AT(&w->folders, struct pstw_folder *, 0);
        if ((nid & 0x1F) != NT_NORMAL_FOLDER || idx < IDX_IPM || idx >= w->next_folder_index)
                return NULL;
        return PSTW_AT(&w->folders, struct pstw_folder *, idx - IDX_IPM + 1);
}

static int folder_add(struct pstw *w, uint32_t nid, uint32_t parent, const char *name,
                      const char *cls)
{
        struct pstw_folder *f = calloc(1, sizeof(*f));

        if (!f)
                return -ENOMEM;
        f->nid = nid;
        f->parent = parent;
        f->name = strdup(name);
        f->cls = cls ? strdup(cls) : NULL;
        if (!f->name || (cls && !f->cls) || pstw_vec_push(&w->folders, &f) < 0) {
                free(f->name);
                free(f->cls);
                free(f);
                return -ENOMEM;
        }
        return 0;
}

static void folder_free(struct pstw_folder *f)
{
        for (unsigned i = 0; i < 2; i++) {
                if (f->tc[i])
                        pstw_tc_free(f->tc[i]);
                free(f->tc[i]);
        }
        free(f->name);
        free(f->cls);
        free(f);
}

static void record_key(struct pstw *w, const uint8_t *key)
{
        const char *name = w->opts.display_name ? w->opts.display_name : "Personal Folders";
        uint32_t c = pst_crc32(0, name, strlen(name));

        if (key) {
                memcpy(w->record_key, key, 16);
                return;
        }
        /* A fixed provider UID varied by the store name: two stores of
         * different names differ, the same input gives the same file. */
        for (unsigned i = 0; i < 16; i++)
                w->record_key[i] = (uint8_t)(0x50 + i) ^ (uint8_t)(c >> (8 * (i % 4)));
}

int pstw_new(int fd, const struct pstw_opts *opts, struct pstw **ret, struct pst_diag *diag)
{
        struct pstw *w;
        int r;

        if (fd < 0 || !opts || !ret)
                return pst_diag_set(diag, -EINVAL, 0, "pstw_new: bad arguments");
        if (opts->crypt != PST_CRYPT_NONE && opts->crypt != PST_CRYPT_PERMUTE &&
            opts->crypt != PST_CRYPT_CYCLIC)
                return pst_diag_set(diag, -EINVAL, 0, "pstw_new: unknown encoding %d", opts->crypt);
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->fd = fd;
        w->opts = *opts;
        w->opts.display_name = NULL;
        w->crypt = opts->crypt;
        w->unique = 1;
        w->folders = PSTW_VEC(struct pstw_folder *);
        w->named = calloc(1, sizeof(*w->named));
        w->next_folder_index = IDX_FIRST_FOLDER;
        w->next_message_index = IDX_FIRST_MESSAGE;
        r = w->named ? pstw_ndb_init(w) : -ENOMEM;
        if (r >= 0 && opts->display_name) {
                w->opts.display_name = strdup(opts->display_name);
                if (!w->opts.display_name)
                        r = -ENOMEM;
        }
        record_key(w, opts->record_key);
        w->opts.record_key = NULL;
        if (r >= 0) {
                /* libpff refuses a map without entries: start with the
                 * one every Outlook store has, PidNameKeywords. */
                struct pst_named kw = { .is_string = true, .name = "Keywords" };
                uint16_t id;

                memcpy(kw.guid, ps_public_strings, 16);
                r = named_id(w, &kw, &id);
        }
        if (r >= 0)
                r = folder_add(w, NID_ROOT, NID_ROOT, "", NULL);
        if (r >= 0)
                r = folder_add(w, pstw_nid(IDX_IPM, NT_NORMAL_FOLDER), NID_ROOT,
                               "Top of Personal Folders", NULL);
        if (r >= 0)
                r = folder_add(w, pstw_nid(IDX_SEARCH_ROOT, NT_NORMAL_FOLDER), NID_ROOT,
                               "Search Root", NULL);
        if (r >= 0)
                r = folder_add(w, pstw_nid(IDX_DELETED, NT_NORMAL_FOLDER),
                               pstw_nid(IDX_IPM, NT_NORMAL_FOLDER), "Deleted Items", "IPF.Note");
        if (r < 0) {
                pstw_close(w, NULL);
                return pst_diag_set(diag, r, 0, "pstw_new: out of memory");
        }
        *ret = w;
        return 0;
}

int pstw_folder(struct pstw *w, uint32_t parent_nid, const char *name, const char *container_class,
                uint32_t *ret_nid)
{
        uint32_t nid;
        int r;

        if (w->err)
                return w->err;
        if (!name)
                return pstw_fail(w, -EINVAL, "folder without a name");
        if (parent_nid == 0)
                parent_nid = pstw_nid(IDX_IPM, NT_NORMAL_FOLDER);
        if (!folder_get(w, parent_nid))
                return pstw_fail(w, -ENOENT, "parent folder 0x%x", parent_nid);
        if (w->next_folder_index > IDX_LAST_FOLDER)
                return pstw_fail(w, -EFBIG, "more than %u folders",
                                 IDX_LAST_FOLDER - IDX_FIRST_FOLDER + 1);
        nid = pstw_nid(w->next_folder_index, NT_NORMAL_FOLDER);
        r = folder_add(w, nid, parent_nid, name, container_class ? container_class : "IPF.Note");
        if (r < 0)
                return pstw_fail(w, r, "folder list");
        w->next_folder_index++;
        if (ret_nid)
                *ret_nid = nid;
        return 0;
}

static int contents_row(struct pstw *w, struct pstw_tc *tc, uint32_t nid, const struct pst_msg *m,
                        const struct built *b)
{
        int r;

        pstw_tc_row_begin(tc, nid);
        r = cell_i4(w, tc, 0x0E07, b->flags);
        if (r >= 0)
                r = cell_i4(w, tc, 0x0E08, (uint32_t)b->size);
        if (r >= 0 && !find_prop(m->props, m->n_props, 0x001A))
                r = cell_str(w, tc, 0x001A, "IPM.Note");
        for (size_t i = 0; i < m->n_props && r >= 0; i++) {
                const struct pst_prop *p = &m->props[i];

                if (!p->named && p->id != 0x0E07 && p->id != 0x0E08)
                        r = cell_prop(w, tc, p->id, p);
        }
        if (r >= 0)
                r = pstw_tc_row_end(w, tc);
        return r;
}

int pstw_message(struct pstw *w, uint32_t folder_nid, bool fai, const struct pst_msg *m,
                 uint32_t *ret_nid)
{
        struct pstw_folder *f;
        struct built b;
        uint32_t nid;
        int r;

        if (w->err)
                return w->err;
        if (!m)
                return pstw_fail(w, -EINVAL, "no message");
        f = folder_get(w, folder_nid ? folder_nid : pstw_nid(IDX_IPM, NT_NORMAL_FOLDER));
        if (!f)
                return pstw_fail(w, -ENOENT, "folder 0x%x", folder_nid);
        if (w->next_message_index > IDX_LAST_MESSAGE)
                return pstw_fail(w, -EFBIG, "more than %u messages",
                                 IDX_LAST_MESSAGE - IDX_FIRST_MESSAGE + 1);
        if (!f->tc[fai]) {
                f->tc[fai] = malloc(sizeof(*f->tc[fai]));
                r = f->tc[fai] ? pstw_tc_init(f->tc[fai], contents_cols, ELEMENTSOF(contents_cols))
                               : -ENOMEM;
                if (r < 0) {
                        free(f->tc[fai]);
                        f->tc[fai] = NULL;
                        return pstw_fail(w, r, "contents table");
                }
        }
        nid = pstw_nid(w->next_message_index++, fai ? NT_ASSOC_MESSAGE : NT_NORMAL_MESSAGE);
        r = build_message(w, m, fai, 0, &b);
        if (r >= 0)
                r = pstw_nbt_add(w, nid, b.bid_data, b.bid_sub, f->nid);
        if (r >= 0)
                r = contents_row(w, f->tc[fai], nid, m, &b);
        if (r < 0)
                return pstw_fail(w, r, "message 0x%x", nid); /* sticks: close fails too */
        if (fai) {
                f->n_fai++;
        } else {
                f->n_msgs++;
                f->n_unread += !(b.flags & MSGFLAG_READ);
        }
        if (ret_nid)
                *ret_nid = nid;
        return 0;
}

/* ---- close ------------------------------------------------------------------------------- */

/* Table nodes have no parent in the NBT (as in Outlook's files): readpst
 * walks children by parent and would count them as items. */
static int write_table(struct pstw *w, struct pstw_tc *tc, uint32_t nid)
{
        uint64_t data, sub;
        int r;

        r = pstw_tc_finish(w, tc, &data, &sub);
        if (r < 0)
                return r;
        return pstw_node(w, nid, data, sub, 0);
}

static int empty_table(struct pstw *w, const uint32_t *cols, unsigned n, uint32_t nid)
{
        struct pstw_tc tc;
        int r;

        r = pstw_tc_init(&tc, cols, n);
        if (r < 0)
                return pstw_fail(w, r, "table 0x%x", nid);
        r = write_table(w, &tc, nid);
        pstw_tc_free(&tc);
        return r;
}

static int folder_cmp(const void *a, const void *b)
{
        const struct pstw_folder *x = *(struct pstw_folder *const *)a;
        const struct pstw_folder *y = *(struct pstw_folder *const *)b;

        if (x->parent != y->parent)
                return x->parent < y->parent ? -1 : 1;
        return x->nid < y->nid ? -1 : x->nid > y->nid;
}

static int write_folder(struct pstw *w, struct pstw_folder *f, struct pstw_folder **kids, size_t n)
{
        uint32_t idx = f->nid >> 5;
        struct pstw_vec subs = PSTW_VEC(struct pstw_sn);
        struct pstw_tc tc;
        struct pstw_pc pc;
        uint64_t data, sub;
        uint8_t one = 1, zero = 0;
        int r;

        /* Hierarchy table: a row per subfolder. */
        r = pstw_tc_init(&tc, hierarchy_cols, ELEMENTSOF(hierarchy_cols));
        if (r < 0)
                return pstw_fail(w, r, "hierarchy table");
        for (size_t i = 0; i < n && r >= 0; i++) {
                pstw_tc_row_begin(&tc, kids[i]->nid);
                r = cell_str(w, &tc, 0x3001, kids[i]->name);
                if (r >= 0)
                        r = cell_i4(w, &tc, 0x3602, kids[i]->n_msgs);
                if (r >= 0)
                        r = cell_i4(w, &tc, 0x3603, kids[i]->n_unread);
                if (r >= 0)
                        r = pstw_tc_cell(w, &tc, 0x360A, PST_PT_BOOLEAN,
                                         kids[i]->n_children ? &one : &zero, 1);
                if (r >= 0 && kids[i]->cls)
                        r = cell_str(w, &tc, 0x3613, kids[i]->cls);
                if (r >= 0)
                        r = cell_i4(w, &tc, 0x3617, kids[i]->n_fai);
                if (r >= 0)
                        r = pstw_tc_row_end(w, &tc);
        }
        if (r >= 0)
                r = write_table(w, &tc, pstw_nid(idx, NT_HIERARCHY_TABLE));
        pstw_tc_free(&tc);
        for (unsigned k = 0; k < 2 && r >= 0; k++) {
                uint32_t nid = pstw_nid(idx, k ? NT_ASSOC_CONTENTS_TABLE : NT_CONTENTS_TABLE);

                if (f->tc[k])
                        r = write_table(w, f->tc[k], nid);
                else
                        r = empty_table(w, contents_cols, ELEMENTSOF(contents_cols), nid);
        }
        if (r < 0)
                return r;
        /* The folder's PC. */
        r = pstw_pc_init(&pc, &subs);
        if (r < 0)
                return pstw_fail(w, r, "folder");
        r = add_str(w, &pc, 0x3001, f->name);
        if (r >= 0)
                r = add_i4(w, &pc, 0x3602, f->n_msgs);
        if (r >= 0)
                r = add_i4(w, &pc, 0x3603, f->n_unread);
        if (r >= 0)
                r = pstw_pc_add(w, &pc, 0x360A, PST_PT_BOOLEAN, n ? &one : &zero, 1);
        if (r >= 0 && f->cls)
                r = add_str(w, &pc, 0x3613, f->cls);
        if (r >= 0)
                r = add_i4(w, &pc, 0x3617, f->n_fai);
        if (r >= 0)
                r = pstw_pc_finish(w, &pc, &data);
        if (r >= 0)
                r = pstw_subtree(w, subs.p, subs.n, &sub);
        if (r >= 0)
                r = pstw_node(w, f->nid, data, sub, f->parent);
        pstw_pc_free(&pc);
        pstw_vec_free(&subs);
        return r;
}

static int write_folders(struct pstw *w)
{
        size_t n = w->folders.n;
        struct pstw_folder **sorted = malloc(n * sizeof(*sorted));
        int r = 0;

        if (!sorted)
                return pstw_fail(w, -ENOMEM, "folders");
        memcpy(sorted, w->folders.p, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), folder_cmp);
        for (size_t i = 0; i < n; i++)
                if (sorted[i]->nid != NID_ROOT)
                        folder_get(w, sorted[i]->parent)->n_children++;
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct pstw_folder *f = PSTW_AT(&w->folders, struct pstw_folder *, i);
                size_t lo = 0, hi = n;

                /* The children of f: the run of sorted with parent f->nid. */
                while (lo < hi) {
                        size_t mid = (lo + hi) / 2;

                        if (sorted[mid]->parent < f->nid)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                hi = lo;
                while (hi < n && sorted[hi]->parent == f->nid)
                        hi++;
                if (f->nid == NID_ROOT && lo < hi && sorted[lo]->nid == NID_ROOT)
                        lo++; /* the root is its own parent, not its own child */
                r = write_folder(w, f, sorted + lo, hi - lo);
        }
        free(sorted);
        return r;
}

static int write_store(struct pstw *w)
{
        struct pstw_vec subs = PSTW_VEC(struct pstw_sn);
        static const struct {
                uint16_t id;
                uint32_t idx;
        } eids[] = { { 0x35E0, IDX_IPM }, { 0x35E3, IDX_DELETED }, { 0x35E7, IDX_SEARCH_ROOT } };
        struct pstw_pc pc;
        uint64_t data, sub;
        int r;

        r = pstw_pc_init(&pc, &subs);
        if (r < 0)
                return pstw_fail(w, r, "message store");
        r = pstw_pc_add(w, &pc, 0x0FF9, PST_PT_BINARY, w->record_key, 16);
        if (r >= 0)
                r = add_str(w, &pc, 0x3001,
                            w->opts.display_name ? w->opts.display_name : "Personal Folders");
        /* Valid folders: IPM subtree, wastebasket, finder. */
        if (r >= 0)
                r = add_i4(w, &pc, 0x35DF, 0x89);
        for (unsigned i = 0; i < ELEMENTSOF(eids) && r >= 0; i++) {
                uint8_t eid[24] = {};

                memcpy(eid + 4, w->record_key, 16);
                put_le32(eid + 20, pstw_nid(eids[i].idx, NT_NORMAL_FOLDER));
                r = pstw_pc_add(w, &pc, eids[i].id, PST_PT_BINARY, eid, sizeof(eid));
        }
        if (r >= 0 && w->opts.has_password)
                r = add_i4(w, &pc, 0x67FF, w->opts.password_crc);
        if (r >= 0)
                r = pstw_pc_finish(w, &pc, &data);
        if (r >= 0)
                r = pstw_subtree(w, subs.p, subs.n, &sub);
        if (r >= 0)
                r = pstw_node(w, NID_STORE, data, sub, 0);
        pstw_pc_free(&pc);
        pstw_vec_free(&subs);
        return r;
}

static int write_templates(struct pstw *w)
{
        /* Search-related queues and lists Outlook keeps: present, empty. */
        static const uint32_t empty_nodes[] = { 0x1E1, 0x201, 0x261, 0x281, 0x2A1, 0x321 };
        int r = 0;

        if (r >= 0)
                r = empty_table(w, hierarchy_cols, ELEMENTSOF(hierarchy_cols), 0x60D);
        if (r >= 0)
                r = empty_table(w, contents_cols, ELEMENTSOF(contents_cols), 0x60E);
        if (r >= 0)
                r = empty_table(w, contents_cols, ELEMENTSOF(contents_cols), 0x60F);
        if (r >= 0)
                r = empty_table(w, contents_cols, ELEMENTSOF(contents_cols), 0x610);
        if (r >= 0)
                r = empty_table(w, attachment_cols, ELEMENTSOF(attachment_cols), 0x671);
        if (r >= 0)
                r = empty_table(w, recipient_cols, ELEMENTSOF(recipient_cols), 0x692);
        for (unsigned i = 0; i < ELEMENTSOF(empty_nodes) && r >= 0; i++)
                r = pstw_node(w, empty_nodes[i], 0, 0, 0);
        return r;
}

int pstw_close(struct pstw *w, struct pst_diag *diag)
{
        uint32_t rgnid[32];
        int r;

        if (!w)
                return -EINVAL;
        r = w->err;
        if (r == 0 && w->wbuf) {
                for (unsigned i = 0; i < 32; i++)
                        rgnid[i] = 0x400;
                rgnid[NT_SEARCH_FOLDER] = 0x4000;
                rgnid[NT_NORMAL_FOLDER] = rgnid[NT_HIERARCHY_TABLE] = rgnid[NT_CONTENTS_TABLE] =
                    rgnid[NT_ASSOC_CONTENTS_TABLE] = w->next_folder_index;
                rgnid[NT_NORMAL_MESSAGE] = rgnid[NT_ASSOC_MESSAGE] = w->next_message_index;
                r = write_folders(w);
                if (r >= 0)
                        r = write_store(w);
                if (r >= 0)
                        r = write_name_map(w);
                if (r >= 0)
                        r = write_templates(w);
                if (r >= 0)
                        r = pstw_ndb_finish(w, rgnid);
                if (r < 0 && w->err == 0)
                        pstw_fail(w, r, "closing");
        }
        if (r < 0 && diag)
                *diag = w->diag;
        for (size_t i = 0; i < w->folders.n; i++)
                folder_free(PSTW_AT(&w->folders, struct pstw_folder *, i));
        pstw_vec_free(&w->folders);
        if (w->named) {
                for (uint32_t i = 0; i < w->named->n; i++)
                        free(w->named->e[i].name);
                free(w->named->e);
                free(w->named);
        }
        free((char *)w->opts.display_name);
        pstw_ndb_free(w);
        free(w);
        return r;
}
