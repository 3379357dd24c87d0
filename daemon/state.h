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

/* Record a commit durably (returns after fsync); forgets the blob's staged
 * blocks. */
int state_record_commit(struct state *s, const struct state_file *f);

/* Block-level progress of a blob being staged: after a crash, a rerun sends
 * only the blocks the service has not acknowledged.  The service discards
 * uncommitted blocks 7 days after the last Put Block, so older records are
 * not trusted. */
#define STATE_STAGED_MAX_AGE_S (6 * 24 * 3600)

/* Start (or resume) staging f with blocks of block_size, nblocks of them.
 * When the journal has the same blob from the same source with the same
 * plan (*known = true: an earlier run began staging it), marks the blocks
 * it staged within max_age_s in staged[] (nblocks bools) and returns how
 * many; otherwise forgets what it had for the blob and returns 0.  -errno
 * on failure (-ENOSPC: the disk under the journal is full). */
int state_blob_begin(struct state *s, const struct state_file *f, uint64_t block_size,
                     uint32_t nblocks, int64_t max_age_s, bool *staged, bool *known);

/* Block index of blob was acknowledged (201) by the service.  Durable. */
int state_block_staged(struct state *s, const char *dest, const char *blob, uint32_t index);

/* The blob's staged blocks can't be trusted (its commit was refused):
 * forget them, so the next run sends everything again. */
int state_blob_forget(struct state *s, const char *dest, const char *blob);
