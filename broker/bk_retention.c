/* bk_retention.c -- see bk_retention.h.
 *
 * The age rule walks the messages_ts index oldest first, `budget` rows a
 * step. The count rule walks rooms by name from a cursor (one index seek
 * per room: the next name, its max and min seq), deleting a room's oldest
 * rows beyond `keep`, `budget` rows a step and at most RETENTION_STEP_ROOMS
 * rooms looked at. Statements are prepared per step: a step is rare next
 * to a round's work, and it keeps this file apart from bk_store.c. A
 * failed statement is rolled back by SQLite on its own; if SQLite rolled
 * the whole transaction back (a full disk), the round's commit fails and
 * bk_outage.c undoes the round. */
#include "bk_retention.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rooms the count rule looks at per step, when they have nothing to go. */
#define RETENTION_STEP_ROOMS 64

struct retention {
    store *st;
    sqlite3 *db;      /* the store's connection, borrowed */
    bool active;
    bool by_age_done;
    char cursor[128]; /* the last room the count rule finished */
    long keep;
    int64_t min_ts;
};

rc retention_new(store *st, retention **out)
{
    retention *r = calloc(1, sizeof *r);
    if (r == NULL)
        return RC_NOMEM;
    r->st = st;
    r->db = store_sqlite(st);
    *out = r;
    return RC_OK;
}

void retention_free(retention *r)
{
    free(r);
}

void retention_start(retention *r, long keep, int64_t min_ts)
{
    if (r->active)
        return;
    r->active = true;
    r->by_age_done = false;
    r->cursor[0] = 0;
    r->keep = keep;
    r->min_ts = min_ts;
}

bool retention_active(const retention *r)
{
    return r->active;
}

/* Runs one prepared-on-the-fly statement with up to three bindings
 * (text room, then integers); returns the rows it changed or -1. */
static long retention_exec(retention *s, const char *sql, const char *room,
                           int64_t a, int64_t b)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int i = 1;
    if (room != NULL)
        sqlite3_bind_text(st, i++, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, i++, a);
    sqlite3_bind_int64(st, i, b);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return -1;
    return (long)sqlite3_changes(s->db);
}

/* The age rule: the oldest rows past min_ts, at most `budget` of them; the
 * rooms they belong to remember their counter first. */
static long retention_by_age(retention *s, long budget)
{
    static const char keep_seq[] =
        "INSERT INTO rooms(room,last_seq) SELECT b.room,(SELECT max(seq) "
        "FROM messages m WHERE m.room=b.room) FROM (SELECT DISTINCT room FROM "
        "(SELECT room FROM messages WHERE ts<?1 ORDER BY ts LIMIT ?2)) b "
        "WHERE true ON CONFLICT(room) DO UPDATE SET "
        "last_seq=max(last_seq,excluded.last_seq)";
    static const char del[] =
        "DELETE FROM messages WHERE (room,seq) IN (SELECT room,seq FROM "
        "messages WHERE ts<?1 ORDER BY ts LIMIT ?2)";
    if (retention_exec(s, keep_seq, NULL, s->min_ts, budget) < 0)
        return -1;
    return retention_exec(s, del, NULL, s->min_ts, budget);
}

/* The count rule, room by room from the cursor: rows of a room beyond its
 * newest `keep`, at most `budget` rows in all. Returns the rows deleted, or
 * -1; sets *done when every room has been looked at. */
static long retention_by_count(retention *s, long budget, bool *done)
{
    static const char next_room[] =
        "SELECT room,max(seq) FROM messages WHERE room=(SELECT room FROM "
        "messages WHERE room>?1 ORDER BY room LIMIT 1)";
    static const char room_min[] =
        "SELECT min(seq) FROM messages WHERE room=?1";
    static const char keep_seq[] =
        "INSERT INTO rooms(room,last_seq) VALUES(?1,?2) ON CONFLICT(room) DO "
        "UPDATE SET last_seq=max(last_seq,?2)";
    static const char del[] =
        "DELETE FROM messages WHERE room=?1 AND seq IN (SELECT seq FROM "
        "messages WHERE room=?1 AND seq<=?2 ORDER BY seq LIMIT ?3)";
    long deleted = 0;
    *done = false;
    for (int rooms = 0; rooms < RETENTION_STEP_ROOMS && deleted < budget;
         rooms++) {
        sqlite3_stmt *st;
        char room[sizeof s->cursor];
        int64_t max_seq = 0, min_seq = 0;
        if (sqlite3_prepare_v2(s->db, next_room, -1, &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_text(st, 1, s->cursor, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        const unsigned char *name = r == SQLITE_ROW ? sqlite3_column_text(st, 0)
                                                    : NULL;
        if (name != NULL)
            snprintf(room, sizeof room, "%s", (const char *)name);
        max_seq = r == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
        sqlite3_finalize(st);
        if (r != SQLITE_ROW)
            return -1;
        if (name == NULL) {
            *done = true;
            return deleted;
        }
        if (sqlite3_prepare_v2(s->db, room_min, -1, &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            min_seq = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        int64_t upto = max_seq - s->keep;
        if (upto >= min_seq) {
            if (retention_exec(s, keep_seq, room, max_seq, 0) < 0)
                return -1;
            long want = budget - deleted;
            long n = retention_exec(s, del, room, upto, want);
            if (n < 0)
                return -1;
            deleted += n;
            if (n == want)
                return deleted; /* maybe more of this room: next step */
        }
        snprintf(s->cursor, sizeof s->cursor, "%s", room);
    }
    return deleted;
}

rc retention_step(retention *s, long budget, long *deleted)
{
    *deleted = 0;
    if (!s->active)
        return RC_OK;
    rc r = store_begin(s->st);
    if (r != RC_OK)
        return r;
    if (budget <= 0)
        budget = RETENTION_STEP_ROWS;
    long n;
    if (!s->by_age_done) {
        n = s->min_ts > 0 ? retention_by_age(s, budget) : 0;
        if (n < 0)
            return RC_DB;
        *deleted = n;
        if (n < budget)
            s->by_age_done = true;
        return RC_OK;
    }
    bool done;
    n = retention_by_count(s, budget, &done);
    if (n < 0)
        return RC_DB;
    *deleted = n;
    if (done)
        s->active = false;
    return RC_OK;
}

rc retention_run(store *st, long keep, int64_t min_ts, long budget)
{
    if (!sqlite3_get_autocommit(store_sqlite(st)))
        return RC_INTERNAL;
    retention *r;
    if (retention_new(st, &r) != RC_OK)
        return RC_NOMEM;
    retention_start(r, keep, min_ts);
    rc res = RC_OK;
    while (r->active && res == RC_OK) {
        long n;
        res = retention_step(r, budget, &n);
        rc c = store_commit(st); /* what the step did, failed or not */
        if (res == RC_OK)
            res = c;
    }
    retention_free(r);
    return res;
}
