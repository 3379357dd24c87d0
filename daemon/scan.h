/* SPDX-License-Identifier: MIT
 *
 * scan.h - discovery: walk share roots and recognise PST/OST files by their
 * header (magic, version), never by extension.  Symlinks are not followed
 * (a share's links may point outside the migration root); unreadable
 * entries, links and non-PST files are reported, never fatal.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>

#include "pstream/pst.h"

#define SCAN_MAX_DEPTH 256

struct scan_entry {
        char *path;       /* as reachable from the cwd: root + "/" + rel */
        char *rel;        /* relative to its root; a root that is a file: its base name */
        unsigned root;    /* index of the root it was found under */
        uint64_t size;
        int64_t mtime_ns;
        uint64_t dev, ino;
        bool header_ok;   /* header parsed (kind, format, crypt valid) */
        struct pst_header hdr;
        bool store_ok;    /* message store read (password, name valid) */
        struct pst_store_info store;
        char problem[320]; /* damage found, "" if none */
};

enum scan_skip_kind {
        SCAN_SKIP_NOT_PST,   /* readable, but no PST header: expected on a share */
        SCAN_SKIP_SYMLINK,
        SCAN_SKIP_SPECIAL,   /* fifo, socket, device */
        SCAN_SKIP_ERROR,     /* could not be read: permissions, I/O, vanished */
};

struct scan_skip {
        char *path;
        enum scan_skip_kind kind;
        bool named_like_pst; /* not a PST, yet named *.pst / *.ost: likely a damaged one */
        char reason[160];
};

struct scan_result {
        struct scan_entry *files;
        size_t nfiles;
        struct scan_skip *skips;
        size_t nskips;
        size_t nerrors; /* skips of kind SCAN_SKIP_ERROR */
};

struct scan_opts {
        bool read_store; /* also read the message store (password, display name) */
        bool all_files;  /* every regular file is an entry, PST or not (ingest --all-files) */
        /* when non-NULL and set (by a signal handler), the walk ends with -ECANCELED */
        const volatile sig_atomic_t *cancel;
};

/* Walk every root.  Fails only on allocation failure; everything about the
 * share itself lands in ret->skips. */
int scan_roots(char *const *roots, size_t nroots, const struct scan_opts *opts,
               struct scan_result *ret);
void scan_result_done(struct scan_result *r);

/* Classify one open file (header, and the store when read_store).  Fills
 * *e's header/store/problem fields.  Returns 1 when it is a PST/OST, 0 when
 * not (reason in skip_reason), -errno on read failure. */
int scan_classify_fd(int fd, uint64_t size, bool read_store, struct scan_entry *e,
                     char *skip_reason, size_t reason_len);

const char *scan_skip_kind_name(enum scan_skip_kind k);
