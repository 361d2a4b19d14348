/* bk_store_members.c -- the members table (who belongs to a room, with the
 * name and last seq they saw), and the walk over room names the server
 * API's listing makes. See bk_store.h; the statements are in bk_store.c.
 * Broker main thread only. */
#include <stdio.h>
#include <string.h>

#include "bk_store_impl.h"

rc store_members(store *s, const char *room, store_member_fn fn, void *arg)
{
    sqlite3_stmt *st = store_stmt(s, ST_MEMBERS);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        fn(arg, (const char *)sqlite3_column_text(st, 0),
           (const char *)sqlite3_column_text(st, 1),
           (uint64_t)sqlite3_column_int64(st, 2));
    sqlite3_reset(st);
    return r == SQLITE_DONE ? RC_OK : store_fail(s, "members");
}

rc store_member_put(store *s, const char *room, const char *uid,
                    const char *name, uint64_t last_seen)
{
    sqlite3_stmt *st = store_stmt(s, ST_MEMBER_PUT);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)last_seen);
    return store_write(s, st, "member_put");
}

rc store_member_del(store *s, const char *room, const char *uid)
{
    sqlite3_stmt *st = store_stmt(s, ST_MEMBER_DEL);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, uid, -1, SQLITE_STATIC);
    return store_write(s, st, "member_del");
}

rc store_member_count(store *s, const char *room, uint64_t *n)
{
    sqlite3_stmt *st = store_stmt(s, ST_MEMBER_COUNT);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        return store_fail(s, "member_count");
    *n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return RC_OK;
}

rc store_members_page(store *s, const char *room, const char *after,
                      long limit, store_member_fn fn, void *arg)
{
    sqlite3_stmt *st = store_stmt(s, ST_MEMBERS_PAGE);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, after, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        fn(arg, (const char *)sqlite3_column_text(st, 0),
           (const char *)sqlite3_column_text(st, 1),
           (uint64_t)sqlite3_column_int64(st, 2));
    sqlite3_reset(st);
    return r == SQLITE_DONE ? RC_OK : store_fail(s, "members_page");
}

/* The first room name of one table that is >= from and > after. */
static rc store_next_in(store *s, int which, const char *from,
                        const char *after, char *out, size_t cap, bool *found)
{
    sqlite3_stmt *st = store_stmt(s, which);
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, after, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    *found = r == SQLITE_ROW;
    if (*found) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        snprintf(out, cap, "%s", t ? t : "");
    }
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? RC_OK
                                               : store_fail(s, "next_room");
}

rc store_next_room(store *s, const char *from, const char *after, char *out,
                   size_t cap, bool *found)
{
    char a[256] = "", b[256] = "";
    bool fa, fb;
    rc r = store_next_in(s, ST_NEXT_ROOM_MSG, from, after, a, sizeof a, &fa);
    if (r == RC_OK)
        r = store_next_in(s, ST_NEXT_ROOM_MEMBER, from, after, b, sizeof b,
                          &fb);
    if (r != RC_OK)
        return r;
    *found = fa || fb;
    if (*found)
        snprintf(out, cap, "%s", !fb || (fa && strcmp(a, b) < 0) ? a : b);
    return RC_OK;
}
