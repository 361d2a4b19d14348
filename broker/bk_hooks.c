/* bk_hooks.c -- webhooks: the outbox (broker main thread), start and stop;
 * the sender thread is bk_hooks_send.c. See bk_hooks.h.
 *
 * The outbox is a table of the broker's own database:
 *   webhook_outbox(id INTEGER PRIMARY KEY, room, kind, body, ts)
 * and hook_id is "<instance>-<id>". Ids are given here, in the order of
 * the members' events. Rows only ever go oldest first (acknowledged, or
 * dropped past the bound), so a non-empty outbox's newest id is the last
 * one ever given, and numbering goes on from it after a restart. An empty
 * outbox at start says nothing of the ids used before, so the broker then
 * draws a new random <instance> (webhook_meta): a hook_id is never given
 * twice, and a pending event keeps its hook_id across restarts. (Measured:
 * SQLite's AUTOINCREMENT would add a tenth to the cost of storing a
 * message with its outbox row.)
 *
 * Only the main thread writes. The sender reads `id > sent` with its own
 * read-only connection (WAL: a reader never blocks the writer, and sees
 * only committed rows, so nothing members have not seen can leave), and on
 * a 2xx publishes the last id of the batch in `acked`; the next round
 * deletes up to it in its transaction. So the round never waits for the
 * sender's lock, and a crash between the 2xx and that delete sends the
 * batch again (at least once: the backend deduplicates by hook_id).
 *
 * One batch at a time, oldest first, re-read from the outbox on every
 * attempt (so a retry carries the same first events, and more when the
 * batch was not full): per-room order holds across retries and restarts. */
#include "bk_hooks.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_hooks_impl.h"
#include "clock.h"
#include "log.h"

#define HOOKS_STATS_EVERY_MS 250

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS webhook_outbox(id INTEGER PRIMARY KEY, "
    "room TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, ts INTEGER "
    "NOT NULL);"
    "CREATE TABLE IF NOT EXISTS webhook_meta(instance TEXT NOT NULL);";

static const char *const HS_SQL[HS__COUNT] = {
    [HS_INSERT] = "INSERT INTO webhook_outbox(room,kind,body,ts,id) "
                  "VALUES(?,?,?,?,?)",
    [HS_DELETE_ACKED] = "DELETE FROM webhook_outbox WHERE id<=?",
    [HS_DROP_OLDEST] = "DELETE FROM webhook_outbox WHERE id IN (SELECT id "
                       "FROM webhook_outbox ORDER BY id LIMIT ?)",
    [HS_OLDEST_TS] = "SELECT ts FROM webhook_outbox ORDER BY id LIMIT 1",
};


static const char *const KINDS[] = {"message", "enter", "out", "leave",
                                    "delete"};
#define KIND_COUNT (sizeof KINDS / sizeof KINDS[0])

static int kind_index(const char *kind)
{
    for (size_t i = 0; i < KIND_COUNT; i++)
        if (strcmp(KINDS[i], kind) == 0)
            return (int)i;
    return -1;
}

/* The kinds of webhook_events (config_check has vetted the words). */
static unsigned kinds_parse(const char *list)
{
    unsigned bits = 0;
    char item[CONFIG_STR_MAX];
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ",");
        size_t a = 0, b = n;
        while (a < b && (p[a] == ' ' || p[a] == '\t'))
            a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
            b--;
        snprintf(item, sizeof item, "%.*s", (int)(b - a), p + a);
        int i = kind_index(item);
        if (i >= 0)
            bits |= 1u << i;
        p += n;
        if (*p == ',')
            p++;
    }
    return bits;
}

rc hooks_sign(const char *secret, size_t secret_len, const char *body,
              size_t len, char out[HOOKS_SIGNATURE_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    static const char hex[] = "0123456789abcdef";
    /* HMAC() takes a NULL key for an empty one badly: give it a byte. */
    static const unsigned char empty = 0;
    if (HMAC(EVP_sha256(), secret_len ? (const void *)secret : &empty,
             (int)secret_len, (const unsigned char *)body, len, mac,
             &mac_len) == NULL ||
        mac_len != 32)
        return RC_INTERNAL;
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < mac_len; i++) {
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[8 + 2 * i] = hex[mac[i] & 15];
    }
    out[HOOKS_SIGNATURE_LEN] = '\0';
    return RC_OK;
}

/* --- the outbox: main thread ------------------------------------------ */

static rc hooks_db_fail(hooks *h, const char *what)
{
    LOG(LOG_ERROR, "event=webhook_db_error op=%s error=\"%s\"", what,
        sqlite3_errmsg(h->db));
    return RC_DB;
}

/* The outbox's row count and newest id. */
static rc hooks_count(hooks *h)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h->db, "SELECT count(*), coalesce(max(id),0) "
                           "FROM webhook_outbox", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return hooks_db_fail(h, "count");
    }
    h->pending = sqlite3_column_int64(st, 0);
    h->last_id = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    return RC_OK;
}

/* The hook_id prefix: the stored one while events wait, a new one when
 * the outbox is empty (see the top of the file). */
static rc hooks_instance(hooks *h)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h->db, "SELECT instance FROM webhook_meta LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return hooks_db_fail(h, "meta");
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && h->pending > 0)
        snprintf(h->instance, sizeof h->instance, "%s",
                 (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return hooks_db_fail(h, "meta");
    if (h->instance[0] != '\0')
        return RC_OK;
    unsigned char raw[HOOKS_INSTANCE_LEN / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return RC_INTERNAL;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(h->instance + 2 * i, 3, "%02x", raw[i]);
    char sql[160];
    snprintf(sql, sizeof sql,
             "BEGIN; DELETE FROM webhook_meta; INSERT INTO "
             "webhook_meta(instance) VALUES('%s'); COMMIT;",
             h->instance);
    if (sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc r = hooks_db_fail(h, "meta_insert");
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    return RC_OK;
}

static sqlite3_stmt *hooks_stmt(hooks *h, int which)
{
    sqlite3_stmt *st = h->st_[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

rc hooks_add(hooks *h, const char *room, const char *kind, const char *json,
             size_t len)
{
    if (h == NULL || !h->on)
        return RC_OK;
    int k = kind_index(kind);
    if (k < 0 || (h->kinds & (1u << k)) == 0)
        return RC_OK;
    if (len < 2 || json[0] != '{' || json[len - 1] != '}' ||
        len > INT32_MAX)
        return RC_BAD_REQUEST;
    if (store_begin(h->st) != RC_OK) {
        /* Storage refuses writes (bk_outage.c): an event that needed none
         * (a member going offline) reached members, but cannot be kept.
         * Counted with the dropped; one log line per 10 s at most. */
        h->dropped++;
        int64_t now = clock_mono_ms();
        if (h->refused_log_ms == 0 || now - h->refused_log_ms >= 10000) {
            h->refused_log_ms = now;
            LOG(LOG_WARN, "event=webhook_dropped reason=\"storage refuses "
                "writes\" dropped_total=%" PRIu64, h->dropped);
        }
        return RC_UNAVAILABLE;
    }
    sqlite3_stmt *st = hooks_stmt(h, HS_INSERT);
    sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, KINDS[k], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, json, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, clock_wall_ms());
    sqlite3_bind_int64(st, 5, h->last_id + 1);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return hooks_db_fail(h, "insert");
    h->last_id++;
    h->pending++;
    h->added = true;
    h->dirty = true;
    return RC_OK;
}

void hooks_round(hooks *h)
{
    if (h == NULL || !h->on)
        return;
    int64_t acked = atomic_load(&h->acked);
    if (acked > h->deleted_upto && store_begin(h->st) == RC_OK) {
        sqlite3_stmt *st = hooks_stmt(h, HS_DELETE_ACKED);
        sqlite3_bind_int64(st, 1, acked);
        if (sqlite3_step(st) == SQLITE_DONE) {
            h->pending -= sqlite3_changes(h->db);
            h->deleted_upto = acked;
            h->dirty = true;
        } else {
            hooks_db_fail(h, "delete_acked");
        }
        sqlite3_reset(st);
    }
    int64_t over = h->pending - h->cfg->webhook_max_pending;
    if (over > 0 && store_begin(h->st) == RC_OK) {
        sqlite3_stmt *st = hooks_stmt(h, HS_DROP_OLDEST);
        sqlite3_bind_int64(st, 1, over);
        if (sqlite3_step(st) == SQLITE_DONE) {
            int n = sqlite3_changes(h->db);
            h->pending -= n;
            h->dropped += (uint64_t)n;
            h->round_dropped += (uint64_t)n;
            h->dirty = true;
            /* An outbox at its bound drops every round: log each 10 s. */
            int64_t now = clock_mono_ms();
            if (h->drop_log_ms == 0 || now - h->drop_log_ms >= 10000) {
                h->drop_log_ms = now;
                LOG(LOG_WARN, "event=webhook_dropped reason=\"over "
                    "webhook_max_pending\" max_pending=%ld dropped_total=%"
                    PRIu64, h->cfg->webhook_max_pending, h->dropped);
            }
        } else {
            hooks_db_fail(h, "drop");
        }
        sqlite3_reset(st);
    }
}

/* The ts of the oldest pending row (0: none), read at most every
 * HOOKS_STATS_EVERY_MS. */
static void hooks_oldest(hooks *h)
{
    h->oldest_ts = 0;
    if (h->pending <= 0)
        return;
    sqlite3_stmt *st = hooks_stmt(h, HS_OLDEST_TS);
    if (sqlite3_step(st) == SQLITE_ROW)
        h->oldest_ts = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
}

/* After a commit that failed: the round's rows, deletes and drops were
 * rolled back (bk_outage.c), so the counts are read again from the
 * outbox. Ids go on from the highest given: the rolled-back ones were
 * never sent. */
static void hooks_undo_round(hooks *h)
{
    int64_t last = h->last_id;
    h->added = false;
    h->dropped -= h->round_dropped;
    h->deleted_upto = 0; /* the next round deletes the acknowledged again */
    if (hooks_count(h) != RC_OK)
        LOG(LOG_WARN, "event=webhook_recount_failed");
    if (h->last_id < last)
        h->last_id = last;
}

void hooks_committed(hooks *h, bk_link *l, int64_t now_wall_ms)
{
    if (h == NULL)
        return;
    /* store_ok turns false only when this round's commit failed. */
    if (h->dirty && !store_ok(h->st))
        hooks_undo_round(h);
    h->dirty = false;
    h->round_dropped = 0;
    if (h->added) {
        h->added = false;
        pthread_mutex_lock(&h->lock);
        h->kick = true;
        if (h->idle) /* not in a backoff or a request: no wake-up per round */
            pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
    }
    if (l == NULL || (now_wall_ms - h->stats_ms < HOOKS_STATS_EVERY_MS &&
                      now_wall_ms >= h->stats_ms))
        return;
    h->stats_ms = now_wall_ms;
    if (h->on)
        hooks_oldest(h);
    int64_t age = h->oldest_ts > 0 && now_wall_ms > h->oldest_ts
                      ? (now_wall_ms - h->oldest_ts) / 1000
                      : 0;
    link_stat_set(l, "webhook_pending", STAT_GAUGE,
                  h->pending > 0 ? (uint64_t)h->pending : 0);
    link_stat_set(l, "webhook_delivered_total", STAT_COUNTER,
                  atomic_load(&h->delivered));
    link_stat_set(l, "webhook_failed_total", STAT_COUNTER,
                  atomic_load(&h->failed));
    link_stat_set(l, "webhook_dropped_total", STAT_COUNTER, h->dropped);
    link_stat_set(l, "webhook_oldest_pending_seconds", STAT_GAUGE,
                  (uint64_t)age);
}
/* --- open and close ---------------------------------------------------- */

rc hooks_open(const config *cfg, store *st, hooks **out)
{
    hooks *h = calloc(1, sizeof *h);
    if (h == NULL)
        return RC_NOMEM;
    h->cfg = cfg;
    h->st = st;
    h->db = store_sqlite(st);
    h->on = cfg->webhook_url[0] != '\0';
    h->kinds = kinds_parse(cfg->webhook_events);
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wake, &ca);
    pthread_condattr_destroy(&ca);
    rc r = RC_DB;
    if (sqlite3_exec(h->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        hooks_db_fail(h, "schema");
        goto fail;
    }
    if (!h->on) {
        *out = h;
        return RC_OK;
    }
    for (int i = 0; i < HS__COUNT; i++)
        if (sqlite3_prepare_v3(h->db, HS_SQL[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &h->st_[i],
                               NULL) != SQLITE_OK) {
            hooks_db_fail(h, "prepare");
            goto fail;
        }
    if ((r = hooks_count(h)) != RC_OK || (r = hooks_instance(h)) != RC_OK ||
        (r = hooks_sender_open(h)) != RC_OK)
        goto fail;
    if (pthread_create(&h->thread, NULL, hooks_sender_main, h) != 0) {
        r = RC_INTERNAL;
        goto fail;
    }
    h->running = true;
    if (cfg->webhook_secret[0] == '\0')
        LOG(LOG_WARN, "event=webhook_unsigned reason=\"webhook_secret is "
            "empty: anyone can forge these requests\"");
    LOG(LOG_INFO, "event=webhooks_on pending=%" PRId64 " events=%s",
        h->pending, cfg->webhook_events);
    *out = h;
    return RC_OK;
fail:
    hooks_close(h);
    return r;
}

void hooks_close(hooks *h)
{
    if (h == NULL)
        return;
    if (h->running) {
        pthread_mutex_lock(&h->lock);
        atomic_store(&h->stop, true);
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        curl_multi_wakeup(h->multi); /* out of curl_multi_poll at once */
        pthread_join(h->thread, NULL);
    }
    if (h->easy != NULL)
        curl_easy_cleanup(h->easy);
    if (h->multi != NULL)
        curl_multi_cleanup(h->multi);
    if (h->curl_ready)
        curl_global_cleanup();
    sqlite3_finalize(h->select);
    sqlite3_close(h->rdb);
    for (int i = 0; i < HS__COUNT; i++)
        sqlite3_finalize(h->st_[i]);
    wbuf_free(&h->body);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
