/* SPDX-License-Identifier: MIT
 *
 * walk.c - messaging layer: the folder tree from the root folder (NID
 * 0x122) through the hierarchy tables, each folder's contents and FAI
 * tables, and for each message its PC, recipient and attachment tables and
 * attachments, through embedded messages ([MS-PST] 2.4).
 *
 * Every pst_walk_next() is one restartable step (one folder, or one
 * message): it computes into locals and changes the walk only when it
 * finishes, so an -EAGAIN leaves the walk as it was.  A node that cannot be
 * read becomes a problem item and the walk goes on without it.
 */
#include "pst/pst-internal.h"

#define NID_ROOT_FOLDER 0x122u
#define NID_TYPE_MASK 0x1Fu
#define NID_TYPE_NORMAL_FOLDER 0x02u
#define NID_TYPE_SEARCH_FOLDER 0x03u
#define NID_TYPE_NORMAL_MESSAGE 0x04u
#define NID_TYPE_ASSOC_MESSAGE 0x08u
#define NID_TYPE_HIERARCHY_TABLE 0x0Du
#define NID_TYPE_CONTENTS_TABLE 0x0Eu
#define NID_TYPE_ASSOC_CONTENTS_TABLE 0x0Fu
#define NID_RECIPIENT_TABLE 0x692u
#define NID_ATTACHMENT_TABLE 0x671u

#define PID_MESSAGE_CLASS 0x001Au
#define PID_SUBJECT 0x0037u
#define PID_IPM_SUBTREE_ENTRYID 0x35E0u
#define PID_ATTACH_DATA 0x3701u
#define PID_ATTACH_METHOD 0x3705u
#define ATTACH_EMBEDDED_MSG 5u

/* Embedded messages inside embedded messages: real files nest 3 deep. */
#define MAX_NESTING 32u
/* Attachments of one message counted through all its embedded messages:
 * a forged file can make every embedded message reuse its parent's
 * subnodes, which without a cap costs (attachments)^MAX_NESTING reads. */
#define MAX_MESSAGE_ATTACHMENTS (1u << 16)
/* Folders waiting to be walked: a forged file could list millions in
 * every hierarchy table; real mailboxes have a few thousand in all. */
#define MAX_PENDING (1u << 20)
/* Problems one step may report; more are summed up in the last one. */
#define MAX_STEP_PROBLEMS 8u

struct pending {
        uint32_t nid;
        uint32_t parent;
        unsigned depth;
};

struct pst_walk {
        struct pst_file *f;
        struct pst_walk_opts o;
        bool started;
        uint32_t ipm_nid;       /* from the store; 0 when it has none */
        uint32_t root_mailbox;  /* OSTs: "Root - Mailbox" below the root */

        struct pending *stack;
        size_t n_stack, cap_stack;

        uint32_t *seen; /* open addressing, 0 = empty */
        size_t n_seen, cap_seen;

        /* Messages of the folder last walked. */
        uint32_t folder;
        uint32_t *msgs;
        uint32_t n_msgs, n_contents, i_msg;

        struct pst_problem probs[MAX_STEP_PROBLEMS];
        uint32_t n_probs, i_probs, n_dropped;
};

/* ---- the step's problems --------------------------------------------- */

static void problem(struct pst_walk *w, uint32_t nid, int error, const struct pst_diag *d)
{
        if (w->n_probs == MAX_STEP_PROBLEMS) {
                w->n_dropped++;
                return;
        }
        w->probs[w->n_probs++] = (struct pst_problem){ .nid = nid, .error = error, .diag = *d };
}

/* Errors that end the step without a result: retried or fatal. */
static bool step_error(int r)
{
        return r == -EAGAIN || r == -ENOMEM || r == -EIO;
}

/* ---- the set of folders met ------------------------------------------- */

static size_t seen_slot(const struct pst_walk *w, uint32_t nid)
{
        size_t i = (nid * 2654435761u) & (w->cap_seen - 1);

        while (w->seen[i] != 0 && w->seen[i] != nid)
                i = (i + 1) & (w->cap_seen - 1);
        return i;
}

static bool seen_has(const struct pst_walk *w, uint32_t nid)
{
        return w->cap_seen > 0 && w->seen[seen_slot(w, nid)] == nid;
}

static int seen_add(struct pst_walk *w, uint32_t nid)
{
        if (2 * (w->n_seen + 1) > w->cap_seen) {
                size_t ncap = w->cap_seen ? 2 * w->cap_seen : 64;
                uint32_t *old = w->seen, *n = calloc(ncap, sizeof(*n));
                size_t ocap = w->cap_seen;

                if (!n)
                        return -ENOMEM;
                w->seen = n;
                w->cap_seen = ncap;
                for (size_t i = 0; i < ocap; i++)
                        if (old[i] != 0)
                                w->seen[seen_slot(w, old[i])] = old[i];
                free(old);
        }
        w->seen[seen_slot(w, nid)] = nid;
        w->n_seen++;
        return 0;
}

/* ---- reading nodes ----------------------------------------------------- */

/* A node's PC; *d holds its heap. */
static int pc_read(struct pst_file *f, const struct pst_node *n, struct pst_data *d,
                   struct pst_pc *pc, struct pst_want *want, struct pst_diag *diag)
{
        int r;

        r = pst_data_read(f, n->bid_data, PST_MAX_HEAP_BYTES, d, want, diag);
        if (r < 0)
                return r;
        return pst_pc_init(pc, d, n->nid, diag);
}

struct table {
        struct pst_data heap;
        struct pst_data rows;
        struct pst_tc tc;
};

static void table_done(struct table *t)
{
        pst_data_done(&t->heap);
        pst_data_done(&t->rows);
}

/* The table of node n, row matrix included. */
static int table_read(struct pst_file *f, const struct pst_node *n, struct table *t,
                      struct pst_want *want, struct pst_diag *diag)
{
        struct pst_node sub;
        int r;

        r = pst_data_read(f, n->bid_data, PST_MAX_HEAP_BYTES, &t->heap, want, diag);
        if (r < 0)
                return r;
        r = pst_tc_init(&t->tc, &t->heap, n->nid, diag);
        if (r < 0 || !pst_tc_rows_in_subnode(&t->tc))
                return r;
        r = pst_subnode_lookup(f, n->bid_sub, t->tc.hnid_rows, &sub, want, diag);
        if (r == -ENOENT)
                return pst_diag_set(diag, -EBADMSG, t->heap.blk[0].ib,
                                    "TC of node 0x%" PRIx32 ": row matrix subnode 0x%" PRIx32
                                    " missing from its subnode tree",
                                    n->nid, t->tc.hnid_rows);
        if (r < 0)
                return r;
        r = pst_data_read(f, sub.bid_data, PST_MAX_TC_MATRIX_BYTES, &t->rows, want, diag);
        if (r < 0)
                return r;
        return pst_tc_set_rows(&t->tc, &t->rows, diag);
}

/* The row IDs of table nid (a top-level node) in *ret (malloc'd).  A table
 * absent from the NBT has no rows when absent_ok. */
static int table_row_ids(struct pst_file *f, uint32_t nid, bool absent_ok, uint32_t **ret,
                         uint32_t *ret_n, struct pst_want *want, struct pst_diag *diag)
{
        _cleanup_(table_done) struct table t = {};
        struct pst_node n;
        uint32_t *ids;
        int r;

        r = pst_node_lookup(f, NULL, nid, &n, want, diag);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                if (absent_ok)
                        return 0;
                return pst_diag_set(diag, -ENOENT, 0, "table 0x%" PRIx32 ": not in the NBT", nid);
        }
        if (r < 0)
                return r;
        r = table_read(f, &n, &t, want, diag);
        if (r < 0)
                return r;
        ids = malloc(MAX(t.tc.n_rows, 1u) * sizeof(*ids));
        if (!ids)
                return -ENOMEM;
        for (uint32_t i = 0; i < t.tc.n_rows; i++)
                ids[i] = get_le32(pst_tc_row(&t.tc, i));
        *ret = ids;
        *ret_n = t.tc.n_rows;
        return 0;
}

/* A string property of pc (owned by node n) into out; "" when absent. */
static int pc_string(struct pst_file *f, const struct pst_node *n, const struct pst_pc *pc,
                     uint16_t id, char *out, size_t outsz, struct pst_want *want,
                     struct pst_diag *diag)
{
        _cleanup_(pst_data_done) struct pst_data hold = {};
        struct pst_rawprop prop;
        int r;

        out[0] = '\0';
        r = pst_pc_get(pc, id, &prop, diag);
        if (r == -ENOENT)
                return 0;
        if (r == 0)
                r = pst_prop_resolve(f, n, &prop, PST_MAX_STRING_BYTES, &hold, want, diag);
        if (r < 0)
                return r;
        if (pst_prop_string(&prop, out, outsz) < 0)
                return pst_diag_set(diag, -EBADMSG, pc->hn.d->blk[0].ib,
                                    "node 0x%" PRIx32 ": property 0x%04x has type 0x%04x, not a string",
                                    n->nid, id, prop.type);
        return 0;
}

/* ---- messages ---------------------------------------------------------- */

static int message_body(struct pst_walk *w, const struct pst_node *n, unsigned level,
                        struct pst_message *m, struct pst_want *want, struct pst_diag *diag);

/* One attachment (subnode anid of message msg). */
static int attachment_read(struct pst_walk *w, const struct pst_node *msg, uint32_t top_nid,
                           uint32_t anid, unsigned level, struct pst_message *m,
                           struct pst_want *want, struct pst_diag *diag)
{
        _cleanup_(pst_data_done) struct pst_data d = {};
        struct pst_node an, sub;
        struct pst_rawprop prop;
        struct pst_pc pc;
        uint64_t size;
        uint32_t method = 0;
        int r;

        r = pst_node_lookup(w->f, msg, anid, &an, want, diag);
        if (r == -ENOENT)
                return pst_diag_set(diag, -EBADMSG, 0,
                                    "message 0x%" PRIx32 ": attachment 0x%" PRIx32
                                    " listed in its attachment table but not a subnode",
                                    msg->nid, anid);
        if (r < 0)
                return r;
        r = pc_read(w->f, &an, &d, &pc, want, diag);
        if (r < 0)
                return r;
        r = pst_pc_get(&pc, PID_ATTACH_METHOD, &prop, diag);
        if (r == 0 && prop.type == PST_PT_I4)
                method = get_le32(prop.p);
        else if (r < 0 && r != -ENOENT)
                return r;
        if (method == ATTACH_EMBEDDED_MSG) {
                m->n_embedded_all++;
                if (level == 0)
                        m->n_embedded++;
        }

        r = pst_pc_get(&pc, PID_ATTACH_DATA, &prop, diag);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (prop.type == PST_PT_BINARY) {
                if (!prop.in_subnode) {
                        m->attach_bytes += prop.len;
                        return 0;
                }
                r = pst_subnode_lookup(w->f, an.bid_sub, prop.hnid, &sub, want, diag);
                if (r == -ENOENT)
                        return pst_diag_set(diag, -EBADMSG, 0,
                                            "attachment 0x%" PRIx32 " of message 0x%" PRIx32
                                            ": data subnode 0x%" PRIx32 " missing",
                                            anid, top_nid, prop.hnid);
                if (r < 0)
                        return r;
                r = pst_data_size(w->f, sub.bid_data, &size, want, diag);
                if (r < 0)
                        return r;
                m->attach_bytes += size;
                return 0;
        }
        if (prop.type != PST_PT_OBJECT || method != ATTACH_EMBEDDED_MSG)
                return 0;
        /* The embedded message is a subnode of the attachment. */
        r = pst_subnode_lookup(w->f, an.bid_sub, get_le32(prop.p), &sub, want, diag);
        if (r == -ENOENT)
                return pst_diag_set(diag, -EBADMSG, 0,
                                    "attachment 0x%" PRIx32 " of message 0x%" PRIx32
                                    ": embedded message subnode 0x%" PRIx32 " missing",
                                    anid, top_nid, get_le32(prop.p));
        if (r < 0)
                return r;
        if (level + 1 >= MAX_NESTING)
                return pst_diag_set(diag, -EBADMSG, 0,
                                    "message 0x%" PRIx32 ": embedded messages nested more than %u deep",
                                    top_nid, MAX_NESTING);
        return message_body(w, &sub, level + 1, m, want, diag);
}

/* Count the recipient and attachment tables of message n (top level: level
 * 0) into m; failures of single attachments are problems of m->nid. */
static int message_body(struct pst_walk *w, const struct pst_node *n, unsigned level,
                        struct pst_message *m, struct pst_want *want, struct pst_diag *diag)
{
        _cleanup_(table_done) struct table att = {};
        struct pst_node tn;
        int r;

        r = pst_node_lookup(w->f, n, NID_RECIPIENT_TABLE, &tn, want, diag);
        if (r == 0) {
                _cleanup_(table_done) struct table rcp = {};

                r = table_read(w->f, &tn, &rcp, want, diag);
                if (r == 0 && level == 0)
                        m->n_recipients = rcp.tc.n_rows;
        }
        if (step_error(r))
                return r;
        if (r < 0 && r != -ENOENT)
                problem(w, m->nid, r, diag);

        r = pst_node_lookup(w->f, n, NID_ATTACHMENT_TABLE, &tn, want, diag);
        if (r == -ENOENT)
                return 0;
        if (r == 0)
                r = table_read(w->f, &tn, &att, want, diag);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < att.tc.n_rows; i++) {
                uint32_t anid = get_le32(pst_tc_row(&att.tc, i));

                if (m->n_attachments_all >= MAX_MESSAGE_ATTACHMENTS)
                        return pst_diag_set(diag, -EFBIG, 0,
                                            "message 0x%" PRIx32 ": more than %u attachments through"
                                            " its embedded messages; the rest not counted",
                                            m->nid, MAX_MESSAGE_ATTACHMENTS);
                m->n_attachments_all++;
                if (level == 0)
                        m->n_attachments++;
                r = attachment_read(w, n, m->nid, anid, level, m, want, diag);
                /* Past the cap, every level would say so again: once is enough. */
                if (step_error(r) || (r < 0 && m->n_attachments_all >= MAX_MESSAGE_ATTACHMENTS))
                        return r;
                if (r < 0)
                        problem(w, m->nid, r, diag);
        }
        return 0;
}

static int message_read(struct pst_walk *w, uint32_t nid, bool fai, struct pst_message *ret,
                        struct pst_want *want, struct pst_diag *diag)
{
        _cleanup_(pst_data_done) struct pst_data d = {};
        struct pst_message m = { .nid = nid, .folder_nid = w->folder, .fai = fai };
        char subject[sizeof(m.subject)];
        struct pst_node n;
        struct pst_pc pc;
        int r;

        r = pst_node_lookup(w->f, NULL, nid, &n, want, diag);
        if (r == -ENOENT)
                return pst_diag_set(diag, -ENOENT, 0,
                                    "message 0x%" PRIx32 " listed by folder 0x%" PRIx32
                                    " is not in the NBT",
                                    nid, w->folder);
        if (r < 0)
                return r;
        r = pc_read(w->f, &n, &d, &pc, want, diag);
        if (r < 0)
                return r;
        r = pc_string(w->f, &n, &pc, PID_MESSAGE_CLASS, m.message_class, sizeof(m.message_class),
                      want, diag);
        if (step_error(r))
                return r;
        if (r < 0)
                problem(w, nid, r, diag);
        r = pc_string(w->f, &n, &pc, PID_SUBJECT, subject, sizeof(subject), want, diag);
        if (step_error(r))
                return r;
        if (r < 0)
                problem(w, nid, r, diag);
        /* A subject may start with the pair 0x01 n (prefix marker). */
        if (subject[0] == 0x01 && subject[1] != '\0')
                memcpy(m.subject, subject + 2, strlen(subject + 2) + 1);
        else
                memcpy(m.subject, subject, sizeof(m.subject));

        r = message_body(w, &n, 0, &m, want, diag);
        if (step_error(r))
                return r;
        if (r < 0)
                problem(w, nid, r, diag);
        *ret = m;
        return 0;
}

/* ---- folders ----------------------------------------------------------- */

static uint32_t table_nid(uint32_t folder, uint32_t type)
{
        return (folder & ~NID_TYPE_MASK) | type;
}

/* The IPM subtree's NID from the store's PidTagIpmSubTreeEntryId (an
 * EntryID: flags(4), provider UID(16), NID(4)); 0 when there is none (OSTs). */
static int ipm_subtree_nid(struct pst_file *f, uint32_t *ret, struct pst_want *want,
                           struct pst_diag *diag)
{
        _cleanup_(pst_data_done) struct pst_data d = {};
        _cleanup_(pst_data_done) struct pst_data hold = {};
        struct pst_rawprop prop;
        struct pst_node n;
        struct pst_pc pc;
        int r;

        *ret = 0;
        r = pst_node_lookup(f, NULL, PST_NID_MESSAGE_STORE, &n, want, diag);
        if (r == -ENOENT)
                return pst_diag_set(diag, -EBADMSG, 0, "message store (NID 0x21) missing from the NBT");
        if (r < 0)
                return r;
        r = pc_read(f, &n, &d, &pc, want, diag);
        if (r < 0)
                return r;
        r = pst_pc_get(&pc, PID_IPM_SUBTREE_ENTRYID, &prop, diag);
        if (r == -ENOENT)
                return 0;
        if (r == 0)
                r = pst_prop_resolve(f, &n, &prop, PST_MAX_STRING_BYTES, &hold, want, diag);
        if (r < 0)
                return r;
        if (prop.type != PST_PT_BINARY || prop.len != 24)
                return pst_diag_set(diag, -EBADMSG, d.blk[0].ib,
                                    "message store: PidTagIpmSubTreeEntryId of type 0x%04x and %" PRIu32
                                    " bytes is not an EntryID",
                                    prop.type, prop.len);
        *ret = get_le32(prop.p + 20);
        return 0;
}

struct folder_step {
        struct pst_folder info;
        uint32_t *children;
        uint32_t n_children;
        uint32_t *msgs;       /* contents rows, then FAI rows */
        uint32_t n_contents;
};

static void folder_step_done(struct folder_step *s)
{
        free(s->children);
        free(s->msgs);
}

static int folder_read(struct pst_walk *w, const struct pending *p, struct folder_step *s,
                       struct pst_want *want, struct pst_diag *diag)
{
        _cleanup_(pst_data_done) struct pst_data d = {};
        uint32_t *contents = NULL, *fai = NULL, n_contents = 0, n_fai = 0;
        struct pst_node n;
        struct pst_pc pc;
        int r;

        s->info = (struct pst_folder){
                .nid = p->nid,
                .parent_nid = p->parent,
                .depth = p->depth,
                .search = (p->nid & NID_TYPE_MASK) == NID_TYPE_SEARCH_FOLDER,
        };
        r = pst_node_lookup(w->f, NULL, p->nid, &n, want, diag);
        if (r == -ENOENT && p->depth == 0)
                return pst_diag_set(diag, -ENOENT, 0, "root folder 0x%" PRIx32 " is not in the NBT",
                                    p->nid);
        if (r == -ENOENT)
                return pst_diag_set(diag, -ENOENT, 0,
                                    "folder 0x%" PRIx32 " listed by folder 0x%" PRIx32
                                    " is not in the NBT",
                                    p->nid, p->parent);
        if (r < 0)
                return r;
        r = pc_read(w->f, &n, &d, &pc, want, diag);
        if (r < 0)
                return r;
        r = pc_string(w->f, &n, &pc, PST_PID_DISPLAY_NAME, s->info.name, sizeof(s->info.name),
                      want, diag);
        if (step_error(r))
                return r;
        if (r < 0)
                problem(w, p->nid, r, diag);
        if (s->info.search)
                return 0;

        r = table_row_ids(w->f, table_nid(p->nid, NID_TYPE_HIERARCHY_TABLE), false,
                          &s->children, &s->n_children, want, diag);
        if (step_error(r))
                return r;
        if (r < 0)
                problem(w, p->nid, r, diag);
        r = table_row_ids(w->f, table_nid(p->nid, NID_TYPE_CONTENTS_TABLE), false, &contents,
                          &n_contents, want, diag);
        if (step_error(r))
                return r;
        if (r < 0)
                problem(w, p->nid, r, diag);
        r = table_row_ids(w->f, table_nid(p->nid, NID_TYPE_ASSOC_CONTENTS_TABLE), true, &fai,
                          &n_fai, want, diag);
        if (step_error(r)) {
                free(contents);
                return r;
        }
        if (r < 0)
                problem(w, p->nid, r, diag);

        s->info.n_subfolders = s->n_children;
        s->info.n_messages = n_contents;
        s->info.n_fai = n_fai;
        if (w->o.messages && n_contents + (uint64_t)n_fai > 0) {
                s->msgs = malloc(((size_t)n_contents + n_fai) * sizeof(*s->msgs));
                if (!s->msgs) {
                        free(contents);
                        free(fai);
                        return -ENOMEM;
                }
                if (n_contents > 0)
                        memcpy(s->msgs, contents, n_contents * sizeof(*s->msgs));
                if (n_fai > 0)
                        memcpy(s->msgs + n_contents, fai, n_fai * sizeof(*s->msgs));
                s->n_contents = n_contents;
        }
        free(contents);
        free(fai);
        return 0;
}

static bool is_ipm_subtree(const struct pst_walk *w, const struct pst_folder *fo)
{
        if (w->ipm_nid != 0)
                return fo->nid == w->ipm_nid;
        /* OSTs: Root - Mailbox/IPM_SUBTREE; PSTs without the EntryID: by name. */
        if (fo->depth == 1)
                return !strcmp(fo->name, "Top of Outlook data file") ||
                       !strcmp(fo->name, "Top of Personal Folders");
        return fo->depth == 2 && fo->parent_nid == w->root_mailbox && w->root_mailbox != 0 &&
               !strcmp(fo->name, "IPM_SUBTREE");
}

static int push(struct pst_walk *w, uint32_t nid, uint32_t parent, unsigned depth)
{
        if (w->n_stack == w->cap_stack) {
                size_t ncap = w->cap_stack ? 2 * w->cap_stack : 16;
                struct pending *n = realloc(w->stack, ncap * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                w->stack = n;
                w->cap_stack = ncap;
        }
        w->stack[w->n_stack++] = (struct pending){ .nid = nid, .parent = parent, .depth = depth };
        return 0;
}

/* Walk the folder on top of the stack: 1 with *ret, 0 if it only produced
 * problems. */
static int folder_step(struct pst_walk *w, struct pst_walk_item *ret, struct pst_want *want,
                       struct pst_diag *diag)
{
        _cleanup_(folder_step_done) struct folder_step s = {};
        const struct pending p = w->stack[w->n_stack - 1];
        struct pst_diag d;
        int r;

        if (seen_has(w, p.nid)) {
                w->n_stack--;
                (void)pst_diag_set(&d, -EBADMSG, 0,
                                   "folder 0x%" PRIx32 " listed again by folder 0x%" PRIx32
                                   " (a cycle or a second parent): not walked twice",
                                   p.nid, p.parent);
                problem(w, p.nid, -EBADMSG, &d);
                return 0;
        }
        r = folder_read(w, &p, &s, want, diag);
        if (step_error(r))
                return r;
        w->n_stack--;
        if (r < 0) {
                problem(w, p.nid, r, diag);
                return seen_add(w, p.nid);
        }
        r = seen_add(w, p.nid);
        if (r < 0)
                return r;
        s.info.ipm_subtree = is_ipm_subtree(w, &s.info);
        if (s.info.depth == 1 && !strcmp(s.info.name, "Root - Mailbox"))
                w->root_mailbox = s.info.nid;

        for (uint32_t i = s.n_children; i-- > 0;) {
                uint32_t c = s.children[i], t = c & NID_TYPE_MASK;

                if (t != NID_TYPE_NORMAL_FOLDER && t != NID_TYPE_SEARCH_FOLDER) {
                        (void)pst_diag_set(&d, -EBADMSG, 0,
                                           "folder 0x%" PRIx32 ": hierarchy row 0x%" PRIx32
                                           " is not a folder NID",
                                           p.nid, c);
                        problem(w, p.nid, -EBADMSG, &d);
                        continue;
                }
                if (w->n_stack >= MAX_PENDING) {
                        (void)pst_diag_set(&d, -EFBIG, 0,
                                           "folder 0x%" PRIx32 ": more than %u folders waiting to be walked;"
                                           " the rest of its subfolders not walked",
                                           p.nid, MAX_PENDING);
                        problem(w, p.nid, -EFBIG, &d);
                        break;
                }
                if (p.depth + 1 > PST_WALK_MAX_DEPTH) {
                        (void)pst_diag_set(&d, -EFBIG, 0,
                                           "folder 0x%" PRIx32 ": subfolders deeper than %u levels not walked",
                                           p.nid, PST_WALK_MAX_DEPTH);
                        problem(w, p.nid, -EFBIG, &d);
                        break;
                }
                r = push(w, c, p.nid, p.depth + 1);
                if (r < 0)
                        return r;
        }
        free(w->msgs);
        w->folder = p.nid;
        w->msgs = s.msgs;
        s.msgs = NULL;
        w->n_msgs = w->o.messages ? s.info.n_messages + s.info.n_fai : 0;
        w->n_contents = s.n_contents;
        w->i_msg = 0;
        ret->kind = PST_WALK_FOLDER;
        ret->folder = s.info;
        return 1;
}

/* ---- the walk ---------------------------------------------------------- */

int pst_walk_new(struct pst_file *f, const struct pst_walk_opts *opts, struct pst_walk **ret)
{
        struct pst_walk *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->f = f;
        if (opts)
                w->o = *opts;
        *ret = w;
        return 0;
}

struct pst_walk *pst_walk_free(struct pst_walk *w)
{
        if (w) {
                free(w->stack);
                free(w->seen);
                free(w->msgs);
                free(w);
        }
        return NULL;
}

static int walk_step(struct pst_walk *w, struct pst_walk_item *ret, struct pst_want *want,
                     struct pst_diag *diag)
{
        int r;

        if (!w->started) {
                const struct pst_header *h = &w->f->hdr;
                struct pst_diag d;

                r = ipm_subtree_nid(w->f, &w->ipm_nid, want, diag);
                if (step_error(r))
                        return r;
                /* A truncated copy, or bytes appended: said once, up front. */
                if (h->file_eof != w->f->file_size) {
                        (void)pst_diag_set(&d, -EBADMSG, h->format == PST_FORMAT_ANSI ? 168 : 184,
                                           "header: ibFileEof %" PRIu64 " differs from the file size %" PRIu64
                                           " (%s)",
                                           h->file_eof, w->f->file_size,
                                           h->file_eof > w->f->file_size ? "truncated" : "bytes appended");
                        problem(w, 0, -EBADMSG, &d);
                }
                if (r < 0)
                        problem(w, PST_NID_MESSAGE_STORE, r, diag);
                r = push(w, NID_ROOT_FOLDER, 0, 0);
                if (r < 0)
                        return r;
                w->started = true;
                return 0;
        }
        if (w->i_msg < w->n_msgs) {
                uint32_t i = w->i_msg, t = w->msgs[i] & NID_TYPE_MASK;

                /* A folder or table NID read as a message would pass for one. */
                if (t != NID_TYPE_NORMAL_MESSAGE && t != NID_TYPE_ASSOC_MESSAGE) {
                        (void)pst_diag_set(diag, -EBADMSG, 0,
                                           "contents row 0x%" PRIx32 " of folder 0x%" PRIx32
                                           " is not a message NID (type 0x%02" PRIx32 ")",
                                           w->msgs[i], w->folder, t);
                        problem(w, w->msgs[i], -EBADMSG, diag);
                        w->i_msg++;
                        return 0;
                }
                if (w->o.message_ids) {
                        ret->kind = PST_WALK_MESSAGE;
                        ret->message = (struct pst_message){
                                .nid = w->msgs[i],
                                .folder_nid = w->folder,
                                .fai = i >= w->n_contents,
                        };
                        w->i_msg++;
                        return 1;
                }

                r = message_read(w, w->msgs[i], i >= w->n_contents, &ret->message, want, diag);
                if (step_error(r))
                        return r;
                w->i_msg++;
                if (r < 0) {
                        problem(w, w->msgs[i], r, diag);
                        return 0;
                }
                ret->kind = PST_WALK_MESSAGE;
                return 1;
        }
        if (w->n_stack > 0)
                return folder_step(w, ret, want, diag);
        return 0;
}

int pst_walk_next(struct pst_walk *w, struct pst_walk_item *ret, struct pst_want *want,
                  struct pst_diag *diag)
{
        struct pst_walk_item item;
        struct pst_diag d = {};
        int r;

        for (;;) {
                if (w->i_probs < w->n_probs) {
                        ret->kind = PST_WALK_PROBLEM;
                        ret->problem = w->probs[w->i_probs++];
                        if (w->i_probs == w->n_probs && w->n_dropped > 0)
                                (void)pst_diag_set(&ret->problem.diag, ret->problem.error,
                                                   ret->problem.diag.offset,
                                                   "%.180s (and %" PRIu32 " more problems)",
                                                   w->probs[w->i_probs - 1].diag.msg, w->n_dropped);
                        return 1;
                }
                w->n_probs = w->i_probs = w->n_dropped = 0;
                if (w->started && w->i_msg >= w->n_msgs && w->n_stack == 0)
                        return 0;

                r = pst_op_begin(w->f, &d);
                if (r < 0) {
                        /* The step needs more than the cache holds: skip what it reads. */
                        uint32_t nid = !w->started            ? PST_NID_MESSAGE_STORE
                                       : w->i_msg < w->n_msgs ? w->msgs[w->i_msg]
                                       : w->n_stack > 0       ? w->stack[w->n_stack - 1].nid
                                                              : 0;

                        problem(w, nid, r, &d);
                        if (!w->started) {
                                r = push(w, NID_ROOT_FOLDER, 0, 0);
                                if (r < 0)
                                        return r;
                                w->started = true;
                        } else if (w->i_msg < w->n_msgs) {
                                w->i_msg++;
                        } else if (w->n_stack > 0) {
                                w->n_stack--;
                        }
                        continue;
                }
                r = walk_step(w, &item, want, &d);
                r = pst_op_end(w->f, r, want, &d);
                /* A step that did not finish reports nothing: it runs again. */
                if (r < 0)
                        w->n_probs = w->n_dropped = 0;
                if (r == 1) {
                        /* The step's problems follow its item. */
                        *ret = item;
                        return 1;
                }
                if (r < 0) {
                        if (diag)
                                *diag = d;
                        return r;
                }
        }
}
