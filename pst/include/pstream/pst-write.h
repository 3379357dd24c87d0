/* SPDX-License-Identifier: MIT
 *
 * pst-write.h - writing Unicode PST files (wVer 23, [MS-PST]) from the item
 * model of pst.h: folders, messages with their recipients, attachments and
 * embedded messages.
 *
 * The writer streams: blocks are appended to the file as items arrive and
 * the B-trees, tables, allocation maps, density list and header are written
 * by pstw_close().  Memory stays bounded whatever the file size.  Like
 * pst/'s reader it keeps no global state; it does its own writes to the fd
 * it is given (pwrite), the one exception to "no I/O in pst/", because a
 * writer that hands every block back to the caller buys nothing.
 *
 *     struct pstw *w;
 *     uint32_t inbox;
 *     pstw_new(fd, &opts, &w, &diag);
 *     pstw_folder(w, 0, "Inbox", "IPF.Note", &inbox);
 *     pstw_message(w, inbox, &msg, NULL);
 *     pstw_close(w, &diag);          (frees w, even on error)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pstream/pst.h"

struct pstw_opts {
        enum pst_crypt crypt;     /* PST_CRYPT_NONE or PST_CRYPT_PERMUTE */
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

/* Finish the file and free w.  Returns the first error any call met. */
int pstw_close(struct pstw *w, struct pst_diag *diag);
