/* bk_store_impl.h -- what the storage module's files share: the store
 * object, its prepared statements and the helpers that run them. bk_store.c
 * (open, transactions, failures, checkpointer), bk_store_messages.c (the
 * messages table) and bk_store_members.c (the members table, room names).
 * Not for other modules: they use bk_store.h. Broker main thread only,
 * except the ckpt_* fields (the checkpointer thread, under ckpt_lock). */
#ifndef BK_STORE_IMPL_H
#define BK_STORE_IMPL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bk_store.h"

enum {
    ST_APPEND,
    ST_ROOM_SEQ,
    ST_ROOM_SET,
    ST_FIND_CID,
    ST_AFTER,
    ST_BEFORE,
    ST_HAS_BEFORE,
    ST_NEWEST,
    ST_SIZES,
    ST_MEMBERS,
    ST_MEMBER_PUT,
    ST_MEMBER_DEL,
    ST_MSG_OWNER,
    ST_MSG_ERASE,
    ST_MEMBER_COUNT,
    ST_MEMBERS_PAGE,
    ST_NEXT_ROOM_MSG,
    ST_NEXT_ROOM_MEMBER,
    ST__COUNT
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    bool in_txn;
    /* Storage health (bk_store.c, "storage failures"). */
    char *path;
    dev_t dev;        /* the database file's identity at open */
    ino_t ino;
    bool down;        /* a commit failed; writes are refused until a probe */
    bool txn_failed;  /* a write of the open transaction failed */
    uint64_t errors;  /* failed storage operations */
    char last_error[160];
    /* the checkpointer thread */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_running;
    pthread_mutex_t ckpt_lock; /* guards ckpt_stop and ckpt_truncate */
    pthread_cond_t ckpt_wake;
    bool ckpt_stop;
    bool ckpt_truncate; /* a message was erased: empty the WAL next time */
    /* Replicated broker (store_set_replicate): the round's changes. */
    store_replicate_fn replicate;
    void *replicate_arg;
    struct sqlite3_session *session;
};

/* bk_store.c: the statement `which`, reset and unbound. */
sqlite3_stmt *store_stmt(store *s, int which);
/* Runs a write (see bk_store.c). */
rc store_write(store *s, sqlite3_stmt *st, const char *what);
/* Counts and logs a failed read; returns RC_DB. */
rc store_fail(store *s, const char *what);

#endif
