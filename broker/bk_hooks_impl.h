/* bk_hooks_impl.h -- what bk_hooks.c (the outbox, main thread) and
 * bk_hooks_send.c (the sender thread) share: the hooks object. Not for
 * other modules: they use bk_hooks.h. Which thread owns which field is
 * said beside it; `lock` guards kick and idle. */
#ifndef BK_HOOKS_IMPL_H
#define BK_HOOKS_IMPL_H

#include <curl/curl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bk_hooks.h"
#include "buf.h"

#define HOOKS_INSTANCE_LEN 16

/* The main thread's prepared statements (bk_hooks.c). */
enum {
    HS_INSERT,
    HS_DELETE_ACKED,
    HS_DROP_OLDEST,
    HS_OLDEST_TS,
    HS__COUNT
};

struct hooks {
    /* set by hooks_open, read only afterwards (both threads) */
    const config *cfg;
    store *st;
    bool on;                      /* webhook_url is set */
    unsigned kinds;               /* bit i: kind i of KINDS is sent */
    char instance[HOOKS_INSTANCE_LEN + 1]; /* hook_id prefix */
    /* main thread only */
    sqlite3 *db;                  /* the store's connection, borrowed */
    sqlite3_stmt *st_[HS__COUNT];
    int64_t pending;              /* rows in the outbox */
    int64_t last_id;              /* the newest id given */
    uint64_t dropped;             /* rows dropped past max_pending */
    int64_t deleted_upto;         /* acknowledged rows already deleted */
    bool added;                   /* rows added since the last commit */
    bool dirty;                   /* the outbox changed in this round */
    uint64_t round_dropped;       /* dropped in this round */
    int64_t stats_ms;             /* when the figures were last set */
    int64_t refused_log_ms;       /* last log of events storage refused */
    int64_t drop_log_ms;          /* last log of drops past the bound */
    int64_t oldest_ts;            /* ts of the oldest pending row, or 0 */
    /* shared: written by the sender, read by the main thread */
    _Atomic int64_t acked;        /* last id of the last acknowledged batch */
    _Atomic uint64_t delivered;   /* events in acknowledged batches */
    _Atomic uint64_t failed;      /* failed attempts */
    _Atomic bool stop;
    pthread_mutex_t lock;         /* guards kick, idle (and stop, for the cond) */
    pthread_cond_t wake;          /* CLOCK_MONOTONIC */
    bool kick;                    /* rows were committed since the last read */
    bool idle;                    /* the sender waits for a kick */
    bool running;                 /* the thread was started */
    bool curl_ready;              /* curl_global_init succeeded */
    pthread_t thread;
    /* the sender thread's own */
    sqlite3 *rdb;                 /* read-only connection */
    sqlite3_stmt *select;
    CURLM *multi;                 /* keeps the keep-alive connection */
    CURL *easy;                   /* one handle, reused */
    wbuf body;                    /* the request body being sent */
    int64_t sent;                 /* last id acknowledged by the backend */
    uint64_t rng;                 /* jitter */
};

/* The sender's own SQLite connection and curl handles (bk_hooks_send.c);
 * main thread, before the thread starts. Undone by hooks_close. */
rc hooks_sender_open(hooks *h);
/* The sender thread's body; arg is the hooks. */
void *hooks_sender_main(void *arg);

#endif
