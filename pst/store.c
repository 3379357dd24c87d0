/* SPDX-License-Identifier: MIT
 *
 * store.c - messaging layer, first piece: the message store (NID 0x21, a
 * property context, [MS-PST] 2.4.3) for inventory: password CRC and name
 * (a long name lives in a subnode).
 */
#include "pst/pst-internal.h"

static int store_read(struct pst_file *f, struct pst_store_info *ret, struct pst_want *want,
                      struct pst_diag *diag)
{
        struct pst_store_info info = {};
        _cleanup_(pst_data_done) struct pst_data d = {};
        _cleanup_(pst_data_done) struct pst_data name = {};
        struct pst_nbt_entry e;
        struct pst_node node;
        struct pst_rawprop prop;
        struct pst_pc pc;
        int r;

        r = pst_node_data(f, PST_NID_MESSAGE_STORE, PST_MAX_HEAP_BYTES, &e, &d, want, diag);
        if (r == -ENOENT)
                return pst_diag_set(diag, -EBADMSG, f->hdr.nbt_ib,
                                    "message store (NID 0x21) missing from the NBT");
        if (r < 0)
                return r;
        node = (struct pst_node){ .nid = e.nid, .bid_data = e.bid_data, .bid_sub = e.bid_sub };
        r = pst_pc_init(&pc, &d, PST_NID_MESSAGE_STORE, diag);
        if (r < 0)
                return r;

        r = pst_pc_get(&pc, PST_PID_PST_PASSWORD, &prop, diag);
        if (r == 0) {
                if (prop.type != PST_PT_I4)
                        return pst_diag_set(diag, -EBADMSG, d.blk[0].ib,
                                            "message store: PidTagPstPassword has type 0x%04x, not Integer32",
                                            prop.type);
                info.password_crc = get_le32(prop.p);
                /* OSTs store 0xFFFFFFFF: no password. */
                info.has_password = info.password_crc != 0 && info.password_crc != UINT32_MAX;
        } else if (r != -ENOENT) {
                return r;
        }

        r = pst_pc_get(&pc, PST_PID_DISPLAY_NAME, &prop, diag);
        if (r == 0)
                r = pst_prop_resolve(f, &node, &prop, PST_MAX_STRING_BYTES, &name, want, diag);
        if (r == 0) {
                if (pst_prop_string(&prop, info.display_name, sizeof(info.display_name)) < 0)
                        return pst_diag_set(diag, -EBADMSG, d.blk[0].ib,
                                            "message store: PidTagDisplayName has type 0x%04x, not a string",
                                            prop.type);
        } else if (r != -ENOENT) {
                return r;
        }

        *ret = info;
        return 0;
}

int pst_store_info(struct pst_file *f, struct pst_store_info *ret, struct pst_want *want,
                   struct pst_diag *diag)
{
        int r;

        r = pst_op_begin(f, diag);
        if (r < 0)
                return r;
        r = store_read(f, ret, want, diag);
        return pst_op_end(f, r, want, diag);
}
