/* SPDX-License-Identifier: MIT
 *
 * state.h - the run journal in --state DIR: an SQLite database (WAL,
 * synchronous=FULL) of the files committed to each destination, so a rerun
 * uploads only what is new or changed.  Checked at open; a corrupt journal
 * is set aside (renamed) and never trusted.  No secret is ever stored: a
 * destination is recorded as account/container, without its SAS.
 *
 * One thread at a time.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct state;

/* Open (create) DIR/journal.db.  Returns 0, or 1 when an unusable journal
 * was set aside and a new one started (what happened in msg), or -errno
 * with msg. */
int state_open(const char *dir, struct state **ret, char *msg, size_t msglen);
struct state *state_close(struct state *s);

struct state_file {
        const char *dest;   /* "account/container" */
        const char *blob;   /* full blob name */
        const char *path;   /* source path */
        uint64_t size;
        int64_t mtime_ns;
        uint64_t ino;
        const char *xxh3;   /* hex digest, or NULL */
};

/* 1 when the journal says this blob was committed from a source with the
 * same path, size, mtime and inode; 0 when not; -errno on failure. */
int state_is_committed(struct state *s, const struct state_file *f);

/* Record a commit durably (returns after fsync). */
int state_record_commit(struct state *s, const struct state_file *f);
