/* bk_store.h -- durable storage of messages and memberships (SQLite, WAL).
 *
 * Writes go into one open transaction (store_begin ... store_commit): the
 * broker groups every event it has in hand into one commit, and releases no
 * copy of a message before that commit returns. Reads made inside the
 * transaction see its uncommitted rows, so catch-up is exact at any moment.
 * Broker main thread only. */
#ifndef BK_STORE_H
#define BK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"

typedef struct store store;

/* A stored message; every pointer is borrowed for the callback's duration. */
typedef struct stored_msg {
    const char *room;
    uint64_t seq;
    const char *uid;
    const char *name;
    const char *text;
    size_t text_len;
    const char *cid; /* client id, or NULL */
    int64_t ts;      /* ms since epoch */
    /* A binary message has a type (text is then "" and unused); its payload
     * is data[0..size), NULL once deleted. filename may be NULL. */
    const char *type;
    const void *data;
    size_t size;
    const char *filename;
    bool deleted;    /* erased: text is "" and clients see the placeholder */
} stored_msg;

typedef void (*store_msg_fn)(void *arg, const stored_msg *m);
/* The same, returning false to stop at this row. */
typedef bool (*store_msg_until_fn)(void *arg, const stored_msg *m);
typedef void (*store_member_fn)(void *arg, const char *uid, const char *name,
                                uint64_t last_seen);

/* Opens (creating) the database at path, its directory too. `full_sync`
 * makes commits survive power loss, not just a crash of the process. On
 * RC_OK *out is owned (close with store_close). */
rc store_open(const char *path, bool full_sync, store **out);
/* NULL ok. Rolls back an open transaction, checkpoints, closes. */
void store_close(store *s);

/* The SQLite connection, borrowed, for a module that keeps its own table
 * in the same transactions (bk_hooks.c's webhook outbox). Main thread. */
struct sqlite3 *store_sqlite(store *s);

rc store_begin(store *s);  /* no-op when a transaction is open */

/* Replicated broker (bk_raft.c): from now on each transaction records its
 * changes (SQLite session), and store_commit hands them to fn as one
 * changeset and rolls the transaction back: fn returns RC_OK once they are
 * written (by the Raft thread, after a majority holds them), else the round
 * was not stored and store_commit returns RC_UNAVAILABLE (storage is not
 * marked down). */
typedef rc (*store_replicate_fn)(void *arg, const void *changes, size_t len);
void store_set_replicate(store *s, store_replicate_fn fn, void *arg);
rc store_commit(store *s); /* no-op when none is */

/* The room's last assigned seq (0 for a room never used). */
rc store_room_seq(store *s, const char *room, uint64_t *seq);
rc store_append(store *s, const stored_msg *m);
/* The message (uid, cid) stored at or after min_ts, if any: *found says. */
rc store_find_cid(store *s, const char *uid, const char *cid, int64_t min_ts,
                  store_msg_fn fn, void *arg, bool *found);
/* Messages with seq > after, oldest first, at most limit. */
rc store_after(store *s, const char *room, uint64_t after, long limit,
               store_msg_fn fn, void *arg);
/* The newest `limit` messages with seq < before, oldest first; *more says
 * whether older ones exist. */
rc store_before(store *s, const char *room, uint64_t before, long limit,
                store_msg_fn fn, void *arg, bool *more);

/* Messages with seq < before, newest first, at most limit, until fn
 * returns false (history under a byte budget). */
rc store_newest(store *s, const char *room, uint64_t before, long limit,
                store_msg_until_fn fn, void *arg);
/* Of the newest `limit` messages with seq > after, the ones that fit in
 * `budget` bytes (text plus payload): *from is the seq after which they
 * all are (`after` when every one fits). Reads sizes, not payloads. */
rc store_newest_within(store *s, const char *room, uint64_t after, long limit,
                       size_t budget, uint64_t *from);
/* Whether the room holds a message with seq < before. */
rc store_has_before(store *s, const char *room, uint64_t before, bool *yes);

rc store_members(store *s, const char *room, store_member_fn fn, void *arg);
rc store_member_put(store *s, const char *room, const char *uid,
                    const char *name, uint64_t last_seen);
rc store_member_del(store *s, const char *room, const char *uid);

/* Deletion (bk_delete.c). The author of message (room, seq): *found says
 * whether the row exists (retention may have removed it), *deleted whether
 * it was erased already; uid gets at most cap-1 bytes. */
rc store_message_owner(store *s, const char *room, uint64_t seq, char *uid,
                       size_t cap, bool *deleted, bool *found);
/* Erases the message's content and marks it deleted; the row stays. */
rc store_message_erase(store *s, const char *room, uint64_t seq);

/* Server API (bk_api.c). Members of a room in storage. */
rc store_member_count(store *s, const char *room, uint64_t *n);
/* Members with uid > after, by uid, at most limit. */
rc store_members_page(store *s, const char *room, const char *after,
                      long limit, store_member_fn fn, void *arg);
/* The first room with messages or members whose name is >= from and
 * > after, into out (cap bytes); *found says whether there is one. */
rc store_next_room(store *s, const char *from, const char *after, char *out,
                   size_t cap, bool *found);

/* Storage failures. A failed write fails its whole transaction: later
 * writes of it return RC_UNAVAILABLE and store_commit rolls it back and
 * returns an error. A failed commit (a full disk, an I/O or read-only
 * error, the database file removed or replaced under the broker) marks the
 * store down: store_begin then returns RC_UNAVAILABLE (reads still work)
 * until store_probe, a one-row write, succeeds. */
bool store_ok(const store *s);
rc store_probe(store *s, int64_t now_ms); /* RC_OK: writes work (again) */
uint64_t store_errors(const store *s);     /* failed operations so far */
/* What failed last, for the log line; borrowed until the next failure. */
const char *store_last_error(const store *s);

#endif
