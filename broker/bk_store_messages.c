/* bk_store_messages.c -- the messages table (and a room's seq counter in
 * rooms.last_seq): appends, the reads catch-up and history make, a
 * message's owner and its erasure. See bk_store.h; the statements are in
 * bk_store.c. Broker main thread only. */
#include <stdio.h>

#include "bk_store_impl.h"

rc store_room_seq(store *s, const char *room, uint64_t *seq)
{
    sqlite3_stmt *st = store_stmt(s, ST_ROOM_SEQ);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        return store_fail(s, "room_seq");
    *seq = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return RC_OK;
}

rc store_append(store *s, const stored_msg *m)
{
    sqlite3_stmt *st = store_stmt(s, ST_APPEND);
    sqlite3_bind_text(st, 1, m->room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)m->seq);
    sqlite3_bind_text(st, 3, m->uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, m->text, (int)m->text_len, SQLITE_STATIC);
    if (m->cid != NULL)
        sqlite3_bind_text(st, 6, m->cid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, m->ts);
    if (m->type != NULL) {
        sqlite3_bind_text(st, 8, m->type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)m->size);
        if (m->filename != NULL)
            sqlite3_bind_text(st, 10, m->filename, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 11, m->data, m->size, SQLITE_STATIC);
    }
    return store_write(s, st, "append");
}

/* Steps through rows of the message columns (MSG_COLS), calling fn (or
 * until, which may stop the walk) for each. */
static rc store_rows_until(store *s, sqlite3_stmt *st, store_msg_fn fn,
                           store_msg_until_fn until, void *arg, long *rows,
                           const char *what)
{
    int r;
    long n = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        stored_msg m = {
            .room = (const char *)sqlite3_column_text(st, 0),
            .seq = (uint64_t)sqlite3_column_int64(st, 1),
            .uid = (const char *)sqlite3_column_text(st, 2),
            .name = (const char *)sqlite3_column_text(st, 3),
            .text = (const char *)sqlite3_column_text(st, 4),
            .text_len = (size_t)sqlite3_column_bytes(st, 4),
            .cid = (const char *)sqlite3_column_text(st, 5),
            .ts = sqlite3_column_int64(st, 6),
        };
        if (m.text == NULL)
            m.text = "";
        m.type = (const char *)sqlite3_column_text(st, 7);
        if (m.type != NULL) {
            m.size = (size_t)sqlite3_column_int64(st, 8);
            m.filename = (const char *)sqlite3_column_text(st, 9);
            m.data = sqlite3_column_blob(st, 10);
            if (m.data != NULL)
                m.size = (size_t)sqlite3_column_bytes(st, 10);
        }
        m.deleted = sqlite3_column_int(st, 11) != 0;
        n++;
        if (until != NULL && !until(arg, &m)) {
            r = SQLITE_DONE;
            break;
        }
        if (fn != NULL)
            fn(arg, &m);
    }
    sqlite3_reset(st);
    if (rows)
        *rows = n;
    return r == SQLITE_DONE ? RC_OK : store_fail(s, what);
}

static rc store_rows(store *s, sqlite3_stmt *st, store_msg_fn fn, void *arg,
                     long *rows, const char *what)
{
    return store_rows_until(s, st, fn, NULL, arg, rows, what);
}

rc store_find_cid(store *s, const char *uid, const char *cid, int64_t min_ts,
                  store_msg_fn fn, void *arg, bool *found)
{
    sqlite3_stmt *st = store_stmt(s, ST_FIND_CID);
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, min_ts);
    long rows = 0;
    rc r = store_rows(s, st, fn, arg, &rows, "find_cid");
    if (r == RC_OK)
        *found = rows > 0;
    return r;
}

rc store_after(store *s, const char *room, uint64_t after, long limit,
               store_msg_fn fn, void *arg)
{
    sqlite3_stmt *st = store_stmt(s, ST_AFTER);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
    sqlite3_bind_int64(st, 3, limit);
    return store_rows(s, st, fn, arg, NULL, "after");
}

struct before_wrap {
    store_msg_fn fn;
    void *arg;
    uint64_t oldest; /* the first row's seq: rows come oldest first */
    bool any;
};

static void store_before_row(void *arg, const stored_msg *m)
{
    struct before_wrap *w = arg;
    if (!w->any)
        w->oldest = m->seq;
    w->any = true;
    w->fn(w->arg, m);
}

rc store_before(store *s, const char *room, uint64_t before, long limit,
                store_msg_fn fn, void *arg, bool *more)
{
    sqlite3_stmt *st = store_stmt(s, ST_BEFORE);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)before);
    sqlite3_bind_int64(st, 3, limit);
    struct before_wrap w = {fn, arg, 0, false};
    rc r = store_rows(s, st, store_before_row, &w, NULL, "before");
    if (r != RC_OK)
        return r;
    if (!w.any) {
        *more = false;
        return RC_OK;
    }
    sqlite3_stmt *h = store_stmt(s, ST_HAS_BEFORE);
    sqlite3_bind_text(h, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(h, 2, (sqlite3_int64)w.oldest);
    int step = sqlite3_step(h);
    sqlite3_reset(h);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return store_fail(s, "has_before");
    *more = step == SQLITE_ROW;
    return RC_OK;
}

rc store_newest(store *s, const char *room, uint64_t before, long limit,
                store_msg_until_fn fn, void *arg)
{
    sqlite3_stmt *st = store_stmt(s, ST_NEWEST);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)before);
    sqlite3_bind_int64(st, 3, limit);
    return store_rows_until(s, st, NULL, fn, arg, NULL, "newest");
}

rc store_newest_within(store *s, const char *room, uint64_t after, long limit,
                       size_t budget, uint64_t *from)
{
    sqlite3_stmt *st = store_stmt(s, ST_SIZES);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
    sqlite3_bind_int64(st, 3, limit);
    size_t bytes = 0;
    uint64_t start = after;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        bytes += (size_t)sqlite3_column_int64(st, 1);
        if (bytes > budget) {
            start = seq; /* this one and older ones do not fit */
            r = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return store_fail(s, "sizes");
    *from = start;
    return RC_OK;
}

rc store_has_before(store *s, const char *room, uint64_t before, bool *yes)
{
    sqlite3_stmt *h = store_stmt(s, ST_HAS_BEFORE);
    sqlite3_bind_text(h, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(h, 2, (sqlite3_int64)before);
    int step = sqlite3_step(h);
    sqlite3_reset(h);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return store_fail(s, "has_before");
    *yes = step == SQLITE_ROW;
    return RC_OK;
}

rc store_message_owner(store *s, const char *room, uint64_t seq, char *uid,
                       size_t cap, bool *deleted, bool *found)
{
    sqlite3_stmt *st = store_stmt(s, ST_MSG_OWNER);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
    int r = sqlite3_step(st);
    *found = r == SQLITE_ROW;
    if (*found) {
        const char *u = (const char *)sqlite3_column_text(st, 0);
        snprintf(uid, cap, "%s", u ? u : "");
        *deleted = sqlite3_column_int(st, 1) != 0;
    }
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? RC_OK
                                               : store_fail(s, "msg_owner");
}

rc store_message_erase(store *s, const char *room, uint64_t seq)
{
    sqlite3_stmt *st = store_stmt(s, ST_MSG_ERASE);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
    rc r = store_write(s, st, "msg_erase");
    if (r == RC_OK && s->ckpt_running) {
        pthread_mutex_lock(&s->ckpt_lock);
        s->ckpt_truncate = true;
        pthread_mutex_unlock(&s->ckpt_lock);
    }
    return r;
}
