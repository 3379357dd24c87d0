/* SPDX-License-Identifier: MIT
 *
 * state.c - the SQLite run journal.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/base/macro.h"
#include "state.h"

#define SCHEMA_VERSION 2

struct state {
        sqlite3 *db;
        sqlite3_stmt *lookup;
        sqlite3_stmt *insert;
        sqlite3_stmt *blob_get;
        sqlite3_stmt *blob_put;
        sqlite3_stmt *staged_get;
        sqlite3_stmt *staged_put;
        sqlite3_stmt *forget_blob;
        sqlite3_stmt *forget_staged;
};

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS committed ("
        "  dest TEXT NOT NULL,"
        "  blob TEXT NOT NULL,"
        "  path TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  mtime_ns INTEGER NOT NULL,"
        "  ino INTEGER NOT NULL,"
        "  xxh3 TEXT,"
        "  committed_at INTEGER NOT NULL,"
        "  PRIMARY KEY (dest, blob)) WITHOUT ROWID;"
        /* a blob being staged: its source and its block plan */
        "CREATE TABLE IF NOT EXISTS staging ("
        "  dest TEXT NOT NULL,"
        "  blob TEXT NOT NULL,"
        "  path TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  mtime_ns INTEGER NOT NULL,"
        "  ino INTEGER NOT NULL,"
        "  block_size INTEGER NOT NULL,"
        "  nblocks INTEGER NOT NULL,"
        "  PRIMARY KEY (dest, blob)) WITHOUT ROWID;"
        /* its blocks the service acknowledged */
        "CREATE TABLE IF NOT EXISTS staged ("
        "  dest TEXT NOT NULL,"
        "  blob TEXT NOT NULL,"
        "  idx INTEGER NOT NULL,"
        "  staged_at INTEGER NOT NULL,"
        "  PRIMARY KEY (dest, blob, idx)) WITHOUT ROWID;";

static int db_error(sqlite3 *db, const char *what, char *msg, size_t msglen)
{
        snprintf(msg, msglen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
        return -EIO;
}

/* PRAGMA integrity_check and the schema version: anything off means the
 * journal can't be trusted. */
static bool journal_sane(sqlite3 *db, char *why, size_t len)
{
        sqlite3_stmt *st = NULL;
        bool ok = false;

        if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
                snprintf(why, len, "%s", sqlite3_errmsg(db));
                return false;
        }
        if (sqlite3_step(st) == SQLITE_ROW) {
                const char *res = (const char *)sqlite3_column_text(st, 0);
                ok = res && !strcmp(res, "ok");
                if (!ok)
                        snprintf(why, len, "integrity check: %.120s", res ? res : "?");
        } else {
                snprintf(why, len, "%s", sqlite3_errmsg(db));
        }
        sqlite3_finalize(st);
        if (!ok)
                return false;

        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
                return false;
        int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_finalize(st);
        /* Version 1 journals (no block tables) are upgraded in place. */
        if (v != 0 && v != 1 && v != SCHEMA_VERSION) {
                snprintf(why, len, "schema version %d, expected %d", v, SCHEMA_VERSION);
                return false;
        }
        return true;
}

static int open_db(const char *path, sqlite3 **ret, char *msg, size_t msglen)
{
        sqlite3 *db = NULL;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK) {
                int r = db_error(db, path, msg, msglen);
                sqlite3_close(db);
                return r;
        }
        sqlite3_busy_timeout(db, 5000);
        *ret = db;
        return 0;
}

/* Without a write when it is current: a journal on a full disk still opens. */
static int journal_version(sqlite3 *db)
{
        sqlite3_stmt *st = NULL;
        int v = -1;

        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return v;
}

int state_open(const char *dir, struct state **ret, char *msg, size_t msglen)
{
        _cleanup_free_ char *path = NULL;
        struct state *s;
        sqlite3 *db = NULL;
        char why[160] = "";
        int r, set_aside = 0;

        if (asprintf(&path, "%s/journal.db", dir) < 0)
                return -ENOMEM;
        r = open_db(path, &db, msg, msglen);
        if (r < 0)
                return r;
        if (!journal_sane(db, why, sizeof(why))) {
                char aside[4096];
                sqlite3_close(db);
                db = NULL;
                snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, (long long)time(NULL));
                if (rename(path, aside) < 0) {
                        snprintf(msg, msglen, "journal %s is unusable (%s) and can't be set aside: %s",
                                 path, why, strerror(errno));
                        return -EIO;
                }
                /* Its WAL and shared memory belong to the old file. */
                for (const char *suf = "-wal"; suf; suf = strcmp(suf, "-wal") ? NULL : "-shm") {
                        char side[4096];
                        snprintf(side, sizeof(side), "%s%s", path, suf);
                        char side_aside[4200];
                        snprintf(side_aside, sizeof(side_aside), "%s%s", aside, suf);
                        (void)rename(side, side_aside);
                }
                snprintf(msg, msglen, "journal %s was unusable (%s); set aside as %s, starting a "
                         "new one (files are uploaded again)", path, why, aside);
                set_aside = 1;
                r = open_db(path, &db, msg + strlen(msg), msglen - strlen(msg));
                if (r < 0)
                        return r;
        }
        if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                         NULL) != SQLITE_OK ||
            sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK ||
            (journal_version(db) != SCHEMA_VERSION &&
             sqlite3_exec(db, "PRAGMA user_version=2", NULL, NULL, NULL) != SQLITE_OK)) {
                r = db_error(db, path, msg, msglen);
                sqlite3_close(db);
                return r;
        }
        s = calloc(1, sizeof(*s));
        if (!s) {
                sqlite3_close(db);
                return -ENOMEM;
        }
        s->db = db;
        if (sqlite3_prepare_v2(db,
                               "SELECT 1 FROM committed WHERE dest=?1 AND blob=?2 AND path=?3 AND "
                               "size=?4 AND mtime_ns=?5 AND ino=?6",
                               -1, &s->lookup, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "INSERT OR REPLACE INTO committed VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                               -1, &s->insert, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT 1 FROM staging WHERE dest=?1 AND blob=?2 AND path=?3 AND "
                               "size=?4 AND mtime_ns=?5 AND ino=?6 AND block_size=?7 AND nblocks=?8",
                               -1, &s->blob_get, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "INSERT OR REPLACE INTO staging VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                               -1, &s->blob_put, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT idx FROM staged WHERE dest=?1 AND blob=?2 AND staged_at>=?3",
                               -1, &s->staged_get, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO staged VALUES (?1,?2,?3,?4)", -1,
                               &s->staged_put, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "DELETE FROM staging WHERE dest=?1 AND blob=?2", -1,
                               &s->forget_blob, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "DELETE FROM staged WHERE dest=?1 AND blob=?2", -1,
                               &s->forget_staged, NULL) != SQLITE_OK) {
                r = db_error(db, path, msg, msglen);
                state_close(s);
                return r;
        }
        *ret = s;
        return set_aside;
}

struct state *state_close(struct state *s)
{
        if (!s)
                return NULL;
        sqlite3_finalize(s->lookup);
        sqlite3_finalize(s->insert);
        sqlite3_finalize(s->blob_get);
        sqlite3_finalize(s->blob_put);
        sqlite3_finalize(s->staged_get);
        sqlite3_finalize(s->staged_put);
        sqlite3_finalize(s->forget_blob);
        sqlite3_finalize(s->forget_staged);
        /* Fold the WAL back so it can't grow across weeks of runs. */
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close(s->db);
        free(s);
        return NULL;
}

static void bind_file(sqlite3_stmt *st, const struct state_file *f)
{
        sqlite3_bind_text(st, 1, f->dest, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, f->blob, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, f->path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)f->size);
        sqlite3_bind_int64(st, 5, f->mtime_ns);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)f->ino);
}

int state_is_committed(struct state *s, const struct state_file *f)
{
        int rc;

        sqlite3_reset(s->lookup);
        bind_file(s->lookup, f);
        rc = sqlite3_step(s->lookup);
        sqlite3_reset(s->lookup);
        if (rc == SQLITE_ROW)
                return 1;
        return rc == SQLITE_DONE ? 0 : -EIO;
}

/* A failed write: -ENOSPC when the disk is full (SQLITE_FULL, or an I/O
 * error whose errno says so: the caller waits for space), else -EIO.  The
 * statement was rolled back either way: the journal stays consistent. */
static int write_error(struct state *s)
{
        if (sqlite3_errcode(s->db) == SQLITE_FULL || sqlite3_system_errno(s->db) == ENOSPC)
                return -ENOSPC;
        return -EIO;
}

int state_record_commit(struct state *s, const struct state_file *f)
{
        int rc;

        sqlite3_reset(s->insert);
        bind_file(s->insert, f);
        if (f->xxh3)
                sqlite3_bind_text(s->insert, 7, f->xxh3, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(s->insert, 7);
        sqlite3_bind_int64(s->insert, 8, (sqlite3_int64)time(NULL));
        rc = sqlite3_step(s->insert);
        sqlite3_reset(s->insert);
        if (rc != SQLITE_DONE)
                return write_error(s);
        return state_blob_forget(s, f->dest, f->blob);
}

static int step_done(struct state *s, sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);

        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
                return 0;
        return write_error(s);
}

int state_blob_forget(struct state *s, const char *dest, const char *blob)
{
        int r;

        sqlite3_bind_text(s->forget_blob, 1, dest, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->forget_blob, 2, blob, -1, SQLITE_STATIC);
        r = step_done(s, s->forget_blob);
        if (r < 0)
                return r;
        sqlite3_bind_text(s->forget_staged, 1, dest, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->forget_staged, 2, blob, -1, SQLITE_STATIC);
        return step_done(s, s->forget_staged);
}

int state_blob_begin(struct state *s, const struct state_file *f, uint64_t block_size,
                     uint32_t nblocks, int64_t max_age_s, bool *staged, bool *known)
{
        int rc, n = 0;

        *known = false;
        memset(staged, 0, nblocks * sizeof(*staged));
        sqlite3_reset(s->blob_get);
        bind_file(s->blob_get, f);
        sqlite3_bind_int64(s->blob_get, 7, (sqlite3_int64)block_size);
        sqlite3_bind_int64(s->blob_get, 8, nblocks);
        rc = sqlite3_step(s->blob_get);
        sqlite3_reset(s->blob_get);
        if (rc == SQLITE_DONE) {
                /* New, or from another source or plan: start clean. */
                int r = state_blob_forget(s, f->dest, f->blob);
                if (r < 0)
                        return r;
                bind_file(s->blob_put, f);
                sqlite3_bind_int64(s->blob_put, 7, (sqlite3_int64)block_size);
                sqlite3_bind_int64(s->blob_put, 8, nblocks);
                return step_done(s, s->blob_put);
        }
        if (rc != SQLITE_ROW)
                return -EIO;
        *known = true;

        sqlite3_bind_text(s->staged_get, 1, f->dest, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->staged_get, 2, f->blob, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->staged_get, 3, (sqlite3_int64)time(NULL) - max_age_s);
        while ((rc = sqlite3_step(s->staged_get)) == SQLITE_ROW) {
                sqlite3_int64 idx = sqlite3_column_int64(s->staged_get, 0);
                /* The journal is checked, not trusted: an index outside the
                 * plan is ignored. */
                if (idx >= 0 && idx < nblocks && !staged[idx]) {
                        staged[idx] = true;
                        n++;
                }
        }
        sqlite3_reset(s->staged_get);
        return rc == SQLITE_DONE ? n : -EIO;
}

int state_block_staged(struct state *s, const char *dest, const char *blob, uint32_t index)
{
        sqlite3_bind_text(s->staged_put, 1, dest, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->staged_put, 2, blob, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->staged_put, 3, index);
        sqlite3_bind_int64(s->staged_put, 4, (sqlite3_int64)time(NULL));
        return step_done(s, s->staged_put);
}
