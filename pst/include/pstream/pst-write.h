/* SPDX-License-Identifier: MIT
 *
 * pst-write.h - writing Unicode PST files (wVer 23, [MS-PST]) from the item
 * model of pst.h: folders, messages with their recipients, attachments and
 * embedded messages.
 *
 * The writer streams: each message's blocks are appended to the file when
 * it is given, and so are B-tree leaf pages, heap and row blocks of the
 * folders' tables and allocation map pages as they fill; pstw_close()
 * writes the folders, the upper B-tree levels, the density list and the
 * header (last, so a file cut short has no valid header).  What is kept
 * until then: 24 bytes per written B-tree leaf (15 messages or 20 blocks),
 * 16 bytes per 8 KiB block of a table or of the value being written, up
 * to ~40 KiB of open table per folder holding messages, the folder list
 * and the named-property map: a few bytes per message.
 *
 * Limits (-EFBIG beyond, and the file is not finished): 64,508 folders,
 * 134 million messages, values under 4 GiB, 32,767 named properties,
 * 173,400 subnodes (attachments, large values) per message.  Like pst/'s
 * reader it keeps no global state; it does its own writes to the fd it is
 * given (pwrite, ftruncate), the one exception to "no I/O in pst/",
 * because a writer that hands every block back to the caller buys
 * nothing.
 *
 *     struct pstw *w;
 *     uint32_t inbox;
 *     pstw_new(fd, &opts, &w, &diag);
 *     pstw_folder(w, 0, "Inbox", "IPF.Note", &inbox);
 *     pstw_message(w, inbox, false, &msg, NULL);
 *     pstw_close(w, &diag);          (frees w, even on error)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pstream/pst.h"

struct pstw_opts {
        enum pst_crypt crypt;     /* PST_CRYPT_NONE, PST_CRYPT_PERMUTE or PST_CRYPT_CYCLIC */
        const char *display_name; /* the store's name (UTF-8); NULL: "Personal Folders" */
        bool has_password;        /* write PidTagPstPassword = password_crc */
        uint32_t password_crc;
        /* The store's 16-byte UID (PidTagRecordKey, in every entry ID):
         * stores opened together in Outlook need different ones.  NULL:
         * derived from display_name, so the same input gives the same file. */
        const uint8_t *record_key;
};

struct pstw;

/* Start a PST on fd (empty, seekable, open for writing). */
int pstw_new(int fd, const struct pstw_opts *opts, struct pstw **ret, struct pst_diag *diag);

/* Add a folder under parent_nid (0: the IPM subtree, "Top of Personal
 * Folders").  container_class may be NULL ("IPF.Note").  *ret_nid is the
 * new folder's NID. */
int pstw_folder(struct pstw *w, uint32_t parent_nid, const char *name, const char *container_class,
                uint32_t *ret_nid);

/* Add a message to a folder (fai: to its FAI contents table).  m is
 * borrowed for the call only.  ret_nid may be NULL. */
int pstw_message(struct pstw *w, uint32_t folder_nid, bool fai, const struct pst_msg *m,
                 uint32_t *ret_nid);

/* Finish the file and free w.  Returns the first error any call met (the
 * file then has no valid header); errors stick: after one, every call
 * returns it. */
int pstw_close(struct pstw *w, struct pst_diag *diag);
