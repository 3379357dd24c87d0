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

#define SCHEMA_VERSION 1

struct state {
        sqlite3 *db;
        sqlite3_stmt *lookup;
        sqlite3_stmt *insert;
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
        "  PRIMARY KEY (dest, blob)) WITHOUT ROWID;";

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
        if (v != 0 && v != SCHEMA_VERSION) {
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
            sqlite3_exec(db, "PRAGMA user_version=1", NULL, NULL, NULL) != SQLITE_OK) {
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
                               -1, &s->insert, NULL) != SQLITE_OK) {
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
                return sqlite3_errcode(s->db) == SQLITE_FULL ? -ENOSPC : -EIO;
        return 0;
}
