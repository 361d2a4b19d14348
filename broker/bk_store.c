/* bk_store.c -- SQLite storage; see bk_store.h.
 *
 * Messages are keyed (room, seq) in a WITHOUT ROWID table so a room's range
 * is one index walk. rooms.last_seq keeps a room's seq counter alive when
 * retention deletes its newest messages. Statements are prepared once.
 *
 * Checkpoints: SQLite's automatic WAL checkpoint runs inside a commit and
 * syncs the database file, stalling the broker's round for milliseconds to
 * tens of them. So it is off, and a checkpointer thread with its own
 * connection runs passive checkpoints beside the writer; with
 * synchronous=NORMAL the broker's commits then never wait for a disk sync.
 * A crash of the process still loses no committed transaction (the WAL is
 * written before COMMIT returns); `full_sync` also survives power loss. */
/* Debian's libsqlite3 has the session extension (replication, bk_raft.c);
 * these declare it, so they come before the first sqlite3.h. */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include "bk_store_impl.h"

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

/* The columns every message query returns, in store_rows' order. */
#define MSG_COLS \
    "room,seq,uid,name,body,cid,ts,type,size,filename,data,deleted"

static const char *const SQL[ST__COUNT] = {
    [ST_APPEND] = "INSERT INTO messages(room,seq,uid,name,body,cid,ts,"
                  "type,size,filename,data) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
    [ST_ROOM_SEQ] = "SELECT max(coalesce((SELECT last_seq FROM rooms WHERE "
                    "room=?1),0), coalesce((SELECT max(seq) FROM messages "
                    "WHERE room=?1),0))",
    [ST_ROOM_SET] = "INSERT INTO rooms(room,last_seq) VALUES(?1,?2) ON "
                    "CONFLICT(room) DO UPDATE SET last_seq=max(last_seq,?2)",
    [ST_FIND_CID] = "SELECT " MSG_COLS " FROM messages "
                    "WHERE uid=? AND cid=? AND ts>=? ORDER BY ts DESC LIMIT 1",
    [ST_AFTER] = "SELECT " MSG_COLS " FROM messages "
                 "WHERE room=? AND seq>? ORDER BY seq LIMIT ?",
    [ST_BEFORE] = "SELECT * FROM (SELECT " MSG_COLS " FROM "
                  "messages WHERE room=? AND seq<? ORDER BY seq DESC LIMIT ?)"
                  " ORDER BY seq",
    [ST_HAS_BEFORE] = "SELECT 1 FROM messages WHERE room=? AND seq<? LIMIT 1",
    [ST_SIZES] = "SELECT seq, length(CAST(body AS BLOB)) + coalesce(length(data),0) "
                 "FROM messages WHERE room=? AND seq>? ORDER BY seq DESC LIMIT ?",
    [ST_NEWEST] = "SELECT " MSG_COLS " FROM messages WHERE room=? AND seq<? "
                  "ORDER BY seq DESC LIMIT ?",
    [ST_MEMBERS] = "SELECT uid,name,last_seen FROM members WHERE room=?",
    [ST_MEMBER_PUT] = "INSERT INTO members(room,uid,name,last_seen) "
                      "VALUES(?1,?2,?3,?4) ON CONFLICT(room,uid) DO UPDATE "
                      "SET name=?3, last_seen=?4",
    [ST_MEMBER_DEL] = "DELETE FROM members WHERE room=? AND uid=?",
    [ST_MSG_OWNER] = "SELECT uid,deleted FROM messages WHERE room=? AND seq=?",
    /* Erased, not hidden: the text, payload and file name go (secure_delete
     * zeroes the freed bytes in the file); the row keeps its place (seq,
     * uid, name, ts). */
    [ST_MSG_ERASE] = "UPDATE messages SET body='', data=NULL, filename=NULL, "
                     "deleted=1 WHERE room=? AND seq=?",
    [ST_MEMBER_COUNT] = "SELECT count(*) FROM members WHERE room=?",
    [ST_MEMBERS_PAGE] = "SELECT uid,name,last_seen FROM members WHERE room=? "
                        "AND uid>? ORDER BY uid LIMIT ?",
    /* One index seek each: the next room name at or after a point. */
    [ST_NEXT_ROOM_MSG] = "SELECT room FROM messages WHERE room>=?1 AND "
                         "room>?2 ORDER BY room LIMIT 1",
    [ST_NEXT_ROOM_MEMBER] = "SELECT room FROM members WHERE room>=?1 AND "
                            "room>?2 ORDER BY room LIMIT 1",
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS messages(room TEXT NOT NULL, seq INTEGER "
    "NOT NULL, uid TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, "
    "cid TEXT, ts INTEGER NOT NULL, type TEXT, size INTEGER, filename TEXT, "
    "data BLOB, PRIMARY KEY(room,seq)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS messages_cid ON messages(uid,cid) "
    "WHERE cid IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS messages_ts ON messages(ts);"
    "CREATE TABLE IF NOT EXISTS members(room TEXT NOT NULL, uid TEXT NOT "
    "NULL, name TEXT NOT NULL, last_seen INTEGER NOT NULL, "
    "PRIMARY KEY(room,uid)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rooms(room TEXT PRIMARY KEY, last_seq "
    "INTEGER NOT NULL) WITHOUT ROWID;";

/* Columns added since the first schema: a database made before them gets
 * them at open (ALTER TABLE ... ADD COLUMN when missing). */
static const struct {
    const char *table, *column, *decl;
} MIGRATIONS[] = {
    /* binary messages: type NULL for text; data NULL once deleted */
    {"messages", "type", "TEXT"},
    {"messages", "size", "INTEGER"},
    {"messages", "filename", "TEXT"},
    {"messages", "data", "BLOB"},
    /* deletion: the row stays, its content is erased */
    {"messages", "deleted", "INTEGER NOT NULL DEFAULT 0"},
};

#define CHECKPOINT_EVERY_MS 200
/* The row a probe writes to learn whether storage takes writes again. */
static const char PROBE_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS probe(id INTEGER PRIMARY KEY, ts INTEGER "
    "NOT NULL);";

struct store;
static bool store_identity(struct store *s, bool record);

static void *checkpointer(void *arg)
{
    store *s = arg;
    bool failing = false;
    pthread_mutex_lock(&s->ckpt_lock);
    while (!s->ckpt_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CHECKPOINT_EVERY_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->ckpt_wake, &s->ckpt_lock, &ts);
        if (s->ckpt_stop)
            break;
        /* After an erase the WAL still holds the old page with the text:
         * a TRUNCATE checkpoint empties it (it waits for the writer's
         * round to end, so it is kept for erases, which are rare). */
        bool truncate = s->ckpt_truncate;
        s->ckpt_truncate = false;
        pthread_mutex_unlock(&s->ckpt_lock);
        int log = 0, done = 0;
        int r = sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL,
                                          truncate ? SQLITE_CHECKPOINT_TRUNCATE
                                                   : SQLITE_CHECKPOINT_PASSIVE,
                                          &log, &done);
        /* One line when checkpoints start failing (a full disk fails every
         * one of them), one when they work again. */
        if (r != SQLITE_OK && !(truncate && r == SQLITE_BUSY)) {
            if (!failing)
                LOG(LOG_WARN, "event=checkpoint_failed error=\"%s\"",
                    sqlite3_errmsg(s->ckpt_db));
            failing = true;
        } else if (r == SQLITE_OK && failing) {
            LOG(LOG_INFO, "event=checkpoint_ok");
            failing = false;
        }
        pthread_mutex_lock(&s->ckpt_lock);
        if (truncate && r != SQLITE_OK)
            s->ckpt_truncate = true; /* try again next time */
    }
    pthread_mutex_unlock(&s->ckpt_lock);
    return NULL;
}

static rc store_start_checkpointer(store *s, const char *path)
{
    if (sqlite3_open(path, &s->ckpt_db) != SQLITE_OK)
        return RC_DB;
    sqlite3_busy_timeout(s->ckpt_db, 5000);
    /* A connection that has never read the database has not opened its
     * WAL, and its checkpoints silently do nothing (SQLite 3.40): the WAL
     * then grows for as long as the broker runs. One read opens it. */
    if (sqlite3_exec(s->ckpt_db, "SELECT 1 FROM sqlite_master LIMIT 1", NULL,
                     NULL, NULL) != SQLITE_OK)
        return RC_DB;
    pthread_mutex_init(&s->ckpt_lock, NULL);
    pthread_cond_init(&s->ckpt_wake, NULL);
    if (pthread_create(&s->ckpt_thread, NULL, checkpointer, s) != 0)
        return RC_INTERNAL;
    s->ckpt_running = true;
    return RC_OK;
}

static void store_stop_checkpointer(store *s)
{
    if (s->ckpt_running) {
        pthread_mutex_lock(&s->ckpt_lock);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_wake);
        pthread_mutex_unlock(&s->ckpt_lock);
        pthread_join(s->ckpt_thread, NULL);
        pthread_mutex_destroy(&s->ckpt_lock);
        pthread_cond_destroy(&s->ckpt_wake);
        s->ckpt_running = false;
    }
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
}

rc store_fail(store *s, const char *what)
{
    s->errors++;
    snprintf(s->last_error, sizeof s->last_error, "%s", sqlite3_errmsg(s->db));
    LOG(LOG_ERROR, "event=db_error op=%s error=\"%s\"", what, s->last_error);
    return RC_DB;
}

/* A write of the open transaction failed: the whole transaction is lost
 * (SQLite may already have rolled it back, and later statements would then
 * run outside any transaction), so every later write of it is refused and
 * store_commit rolls back. Logged once per outage by the caller of
 * store_commit, not here: a full disk fails every write. */
static rc store_write_failed(store *s, const char *what)
{
    s->errors++;
    s->txn_failed = s->in_txn;
    snprintf(s->last_error, sizeof s->last_error, "%s: %s", what,
             sqlite3_errmsg(s->db));
    return RC_DB;
}

static rc store_mkdir_parent(const char *path)
{
    char dir[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof dir)
        return RC_CONFIG;
    memcpy(dir, path, n + 1);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(dir, 0750) != 0 && errno != EEXIST)
            return RC_IO;
        *p = '/';
    }
    return RC_OK;
}

/* Whether table has column (PRAGMA table_info). */
static bool store_has_column(sqlite3 *db, const char *table,
                             const char *column)
{
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    while (!found && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        found = name != NULL && strcmp(name, column) == 0;
    }
    sqlite3_finalize(st);
    return found;
}

/* Adds the columns a database made by an older broker lacks. */
static bool store_migrate(sqlite3 *db)
{
    for (size_t i = 0; i < sizeof MIGRATIONS / sizeof MIGRATIONS[0]; i++) {
        if (store_has_column(db, MIGRATIONS[i].table, MIGRATIONS[i].column))
            continue;
        char sql[256];
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s",
                 MIGRATIONS[i].table, MIGRATIONS[i].column,
                 MIGRATIONS[i].decl);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return false;
        LOG(LOG_INFO, "event=db_migrated table=%s column=%s",
            MIGRATIONS[i].table, MIGRATIONS[i].column);
    }
    return true;
}

rc store_open(const char *path, bool full_sync, store **out)
{
    if (store_mkdir_parent(path) != RC_OK) {
        LOG(LOG_ERROR, "event=db_open path=%s error=\"cannot create its "
            "directory\"", path);
        return RC_IO;
    }
    store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return RC_NOMEM;
    if (sqlite3_open(path, &s->db) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(s->db, 5000);
    const char *pragmas = full_sync
        ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
          "PRAGMA wal_autocheckpoint=0;"
        : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
          "PRAGMA wal_autocheckpoint=0;";
    /* Freed bytes are zeroed, so an erased message's text does not linger
     * in the file (bk_delete.c). */
    if (sqlite3_exec(s->db, "PRAGMA secure_delete=ON", NULL, NULL, NULL) !=
        SQLITE_OK)
        goto fail;
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        !store_migrate(s->db))
        goto fail;
    for (int i = 0; i < ST__COUNT; i++)
        if (sqlite3_prepare_v3(s->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &s->st[i], NULL) != SQLITE_OK)
            goto fail;
    if (sqlite3_exec(s->db, PROBE_SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        (s->path = strdup(path)) == NULL || !store_identity(s, true))
        goto fail;
    if (store_start_checkpointer(s, path) != RC_OK)
        goto fail;
    *out = s;
    return RC_OK;
fail:
    LOG(LOG_ERROR, "event=db_open path=%s error=\"%s\"", path,
        s->db ? sqlite3_errmsg(s->db) : "out of memory");
    store_close(s);
    return RC_DB;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    store_stop_checkpointer(s);
    if (s->in_txn)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db != NULL) {
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                  NULL, NULL);
        sqlite3_close(s->db);
    }
    free(s->path);
    free(s);
}

struct sqlite3 *store_sqlite(store *s)
{
    return s->db;
}

rc store_begin(store *s)
{
    if (s->in_txn) {
        /* A write elsewhere (bk_hooks.c) may have failed and SQLite rolled
         * the transaction back: what follows must not autocommit. */
        if (sqlite3_get_autocommit(s->db))
            s->txn_failed = true;
        return s->txn_failed ? RC_UNAVAILABLE : RC_OK;
    }
    if (s->down)
        return RC_UNAVAILABLE;
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(s, "begin");
    s->in_txn = true;
    if (s->replicate != NULL &&
        (sqlite3session_create(s->db, "main", &s->session) != SQLITE_OK ||
         sqlite3session_attach(s->session, NULL) != SQLITE_OK))
        s->txn_failed = true; /* no memory: the round is refused */
    return RC_OK;
}

void store_set_replicate(store *s, store_replicate_fn fn, void *arg)
{
    s->replicate = fn;
    s->replicate_arg = arg;
}

/* Replicated broker: the round's changes leave as one changeset and are
 * rolled back here; the Raft thread writes them, once a majority holds
 * them, on every member alike (this one included) before this returns. */
static rc store_commit_replicated(store *s)
{
    int n = 0;
    void *p = NULL;
    bool ok = !s->txn_failed &&
              sqlite3session_changeset(s->session, &n, &p) == SQLITE_OK;
    sqlite3session_delete(s->session);
    s->session = NULL;
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = false;
    s->txn_failed = false;
    rc r = !ok ? RC_UNAVAILABLE
           : n > 0 ? s->replicate(s->replicate_arg, p, (size_t)n) : RC_OK;
    sqlite3_free(p);
    return r == RC_OK ? RC_OK : RC_UNAVAILABLE;
}

rc store_commit(store *s)
{
    if (!s->in_txn)
        return RC_OK;
    if (s->session != NULL)
        return store_commit_replicated(s);
    bool ok = !s->txn_failed;
    if (ok && !store_identity(s, false)) {
        /* SQLite in WAL mode goes on writing to a file that was removed
         * or replaced: those commits would vanish at the next start. */
        s->errors++;
        snprintf(s->last_error, sizeof s->last_error,
                 "commit: the database file was removed or replaced");
        ok = false;
    }
    if (ok && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        s->errors++;
        snprintf(s->last_error, sizeof s->last_error, "commit: %s",
                 sqlite3_errmsg(s->db));
        ok = false;
    }
    if (!ok) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_txn = false;
        s->txn_failed = false;
        s->down = true;
        return RC_DB;
    }
    s->in_txn = false;
    return RC_OK;
}

sqlite3_stmt *store_stmt(store *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Runs a write: in the open transaction unless it failed, or on its own
 * (autocommit, tests) unless the store is down. */
rc store_write(store *s, sqlite3_stmt *st, const char *what)
{
    if (s->in_txn && sqlite3_get_autocommit(s->db))
        s->txn_failed = true; /* SQLite rolled it back after an error */
    if (s->txn_failed || (!s->in_txn && s->down))
        return RC_UNAVAILABLE;
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? RC_OK : store_write_failed(s, what);
}

/* --- storage failures ----------------------------------------------- */

/* Is the file at s->path still the one opened? With record, remembers it. */
static bool store_identity(store *s, bool record)
{
    struct stat st;
    if (stat(s->path, &st) != 0)
        return false;
    if (record) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    return st.st_dev == s->dev && st.st_ino == s->ino;
}

bool store_ok(const store *s)
{
    return !s->down;
}

uint64_t store_errors(const store *s)
{
    return s->errors;
}

const char *store_last_error(const store *s)
{
    return s->last_error;
}

rc store_probe(store *s, int64_t now_ms)
{
    if (!s->down)
        return RC_OK;
    if (s->in_txn || !store_identity(s, false))
        return RC_UNAVAILABLE;
    char sql[128];
    snprintf(sql, sizeof sql, "BEGIN; INSERT OR REPLACE INTO probe(id,ts) "
             "VALUES(1,%lld); COMMIT;", (long long)now_ms);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return RC_UNAVAILABLE;
    }
    s->down = false;
    return RC_OK;
}

