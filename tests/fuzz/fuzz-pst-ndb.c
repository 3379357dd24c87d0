/* SPDX-License-Identifier: MIT
 *
 * fuzz-pst-ndb.c - the input is a whole file: the NDB layer alone, with the
 * daemon's pull loop over each operation.  The well-known NIDs (message
 * store, name-to-id map, root folder and its tables) and the first NIDs the
 * file's NBT root page lists are looked up in the NBT; for each found, its
 * data tree is read and sized, its blocks looked up in the BBT, and the
 * usual subnodes (recipient and attachment tables) looked up in its subnode
 * tree, whose data is read too.  Reaches BT pages of every level, blocks
 * (trailers, CRCs, encodings, zlib), XBLOCK/XXBLOCK and SLBLOCK/SIBLOCK
 * trees.  The custom mutator repairs CRCs after each mutation.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pst/pst-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#include "pst-mutator.h"

/* Bytes one data read may produce: small, so forged sizes hit the cap. */
#define MAX_DATA (1u << 20)

enum op { OP_NBT, OP_BBT, OP_DATA, OP_SIZE, OP_SUB };

struct call {
        enum op op;
        uint32_t nid;
        uint64_t bid;
        struct pst_nbt_entry nbt;
        struct pst_bbt_entry bbt;
        struct pst_node node;
        struct pst_data d;
        uint64_t size;
};

static int op_once(struct pst_file *f, struct call *c, struct pst_want *want, struct pst_diag *diag)
{
        switch (c->op) {
        case OP_NBT:
                return pst_nbt_lookup(f, c->nid, &c->nbt, want, diag);
        case OP_BBT:
                return pst_bbt_lookup(f, c->bid, &c->bbt, want, diag);
        case OP_DATA:
                return pst_data_read(f, c->bid, MAX_DATA, &c->d, want, diag);
        case OP_SIZE:
                return pst_data_size(f, c->bid, &c->size, want, diag);
        case OP_SUB:
                return pst_subnode_lookup(f, c->bid, c->nid, &c->node, want, diag);
        }
        return -EINVAL;
}

/* One operation to completion, feeding exactly what it asks for. */
static int pull(struct pst_file *f, const uint8_t *data, size_t size, struct call *c)
{
        struct pst_diag diag = {};
        struct pst_want want;
        unsigned rounds = 0;
        int r;

        for (;;) {
                r = pst_op_begin(f, &diag);
                if (r >= 0)
                        r = op_once(f, c, &want, &diag);
                r = pst_op_end(f, r, &want, &diag);
                if (r != -EAGAIN)
                        break;
                assert(want.len > 0 && want.offset < size && want.len <= size - want.offset);
                (void)pst_file_feed(f, want.offset, data + want.offset, want.len);
                assert(++rounds <= (1u << 20) / 64 + 2);
        }
        assert(r >= 0 || r == -ENOENT || r == -EBADMSG || r == -EFBIG || r == -EIO ||
               r == -ENOMEM || r == -ENOTSUP);
        if (r < 0 && r != -ENOENT)
                assert(memchr(diag.msg, '\0', sizeof(diag.msg)) != NULL);
        return r;
}

static void data_tree(struct pst_file *f, const uint8_t *data, size_t size, uint64_t bid)
{
        struct call c = { .op = OP_DATA, .bid = bid };

        if (pst_bid_clean(bid) == 0)
                return;
        if (pull(f, data, size, &c) == 0) {
                uint64_t sum = 0;

                for (uint32_t i = 0; i < c.d.n; i++)
                        sum += c.d.blk[i].len;
                assert(sum == c.d.size && c.d.size <= MAX_DATA);
                pst_data_done(&c.d);
        }
        c = (struct call){ .op = OP_SIZE, .bid = bid };
        (void)pull(f, data, size, &c);
        c = (struct call){ .op = OP_BBT, .bid = bid };
        if (pull(f, data, size, &c) == 0)
                assert(pst_bid_clean(c.bbt.bid) == pst_bid_clean(bid));
}

static void node(struct pst_file *f, const uint8_t *data, size_t size, uint32_t nid)
{
        static const uint32_t subs[] = { 0x692, 0x671 };
        struct call c = { .op = OP_NBT, .nid = nid };

        if (pull(f, data, size, &c) != 0)
                return;
        assert(c.nbt.nid == nid);
        data_tree(f, data, size, c.nbt.bid_data);
        if (pst_bid_clean(c.nbt.bid_sub) == 0)
                return;
        for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
                struct call s = { .op = OP_SUB, .bid = c.nbt.bid_sub, .nid = subs[i] };

                if (pull(f, data, size, &s) == 0) {
                        assert(s.node.nid == subs[i]);
                        data_tree(f, data, size, s.node.bid_data);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint32_t nids[] = { 0x21, 0x61, 0x122, 0x12D, 0x12E, 0x12F, 0x8022 };
        const struct pst_limits lim = { .max_cache_bytes = 1u << 20, .max_depth = 16 };
        struct pst_diag diag;
        struct pst_file *f;

        if (pst_file_new(data, size < PST_HEADER_SIZE ? size : PST_HEADER_SIZE, size, &lim, &f,
                         &diag) < 0)
                return 0;
        for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++)
                node(f, data, size, nids[i]);
        /* NIDs the NBT root page lists, whatever they are (its first
         * entries' keys, read straight from the input). */
        {
                const struct pst_header *h = pst_file_header(f);
                uint32_t id = h->format == PST_FORMAT_ANSI ? 4 : 8;
                uint32_t page = h->format == PST_FORMAT_UNICODE4K ? 4096 : 512;

                if (h->nbt_ib < size && page <= size - h->nbt_ib)
                        for (uint32_t k = 0; k < 4; k++)
                                node(f, data, size, get_le32(data + h->nbt_ib + k * 3 * id));
        }
        pst_file_free(f);
        return 0;
}
