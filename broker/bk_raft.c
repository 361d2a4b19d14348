/* bk_raft.c -- see bk_raft.h.
 *
 * Why the leader rolls its round back and writes it again from the Raft
 * entry: then every member's database is the same function of the log (the
 * entries applied in order, each with its index, in one transaction), so a
 * snapshot is simply the database file, a restart re-applies exactly the
 * entries after the last index written, and the leader's own state is never
 * ahead of what a majority holds. The price is a second write of each row
 * on the leader.
 *
 * Snapshots: every raft_snapshot_rounds entries the Raft thread serializes
 * the whole database into memory (libraft keeps snapshots in memory while
 * it writes or sends them), so the database must fit a few times over in
 * memory; restore copies a received image into the database with SQLite's
 * backup API. */
#include "bk_raft.h"

#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <errno.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "log.h"

#define REPLICATE_WAIT_MS 5000 /* a round waits at most this for a majority */
#define TICK_MS 50
#define SNAPSHOT_TRAILING_MAX 1024 /* entries kept after a snapshot */
#define ENTRY_MAGIC 0x31434352u /* "RCC1": a round's changeset */
#define ENTRY_HEADER 8

struct pending {
    struct raft_apply req;
    struct bkraft *r;
    uint64_t gen;
};

struct bkraft {
    uint64_t id;
    char addr[256];
    char dir[CONFIG_STR_MAX];
    /* Raft thread only (set up before it starts). */
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t tick;
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct raft_fsm fsm;
    struct raft_barrier barrier;
    bool barrier_busy;
    uint64_t barrier_term;
    uint64_t ready_term; /* the term whose barrier is applied */
    bool was_leading;
    sqlite3 *db;         /* the Raft thread's connection */
    uint64_t db_applied; /* the last index written to db */
    pthread_t thread;
    bool running;
    /* Shared, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t done;
    bool stop;
    void *req_buf; /* a round's entry waiting to be proposed (raft_malloc) */
    size_t req_len;
    uint64_t req_gen;  /* generation of the last request */
    uint64_t done_gen; /* the newest finished one, and how */
    int done_status;
    bkraft_state st;
    /* Main thread only: the term it serves as leader in; 0 when not; the
     * names of the lag figures (link_stat_set keeps the pointer). */
    uint64_t main_term;
    char lag_name[BKRAFT_LAG_MAX][48];
};

static void finish(bkraft *r, uint64_t gen, int status)
{
    pthread_mutex_lock(&r->lock);
    if (gen >= r->done_gen) {
        r->done_gen = gen;
        r->done_status = status;
    }
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->lock);
}

/* ---- the state machine (Raft thread) ---- */

static int on_conflict(void *ctx, int type, sqlite3_changeset_iter *it)
{
    (void)ctx;
    (void)it;
    /* Only when an entry is written again over itself (never expected:
     * db_applied guards it): the entry's values win. */
    return type == SQLITE_CHANGESET_DATA || type == SQLITE_CHANGESET_CONFLICT
               ? SQLITE_CHANGESET_REPLACE
               : SQLITE_CHANGESET_OMIT;
}

static bool db_load_applied(bkraft *r)
{
    sqlite3_stmt *s = NULL;
    bool ok = sqlite3_exec(r->db, "CREATE TABLE IF NOT EXISTS raft_applied("
                           "id INTEGER PRIMARY KEY, idx INTEGER NOT NULL)",
                           NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_prepare_v2(r->db, "SELECT idx FROM raft_applied "
                                 "WHERE id=1", -1, &s, NULL) == SQLITE_OK;
    r->db_applied = 0;
    if (ok && sqlite3_step(s) == SQLITE_ROW)
        r->db_applied = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return ok;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    bkraft *r = fsm->data;
    *result = NULL;
    /* libraft sets last_applied after apply returns. */
    uint64_t index = r->raft.last_applied + 1;
    uint32_t magic = 0, clen = 0;
    if (buf->len >= ENTRY_HEADER) {
        memcpy(&magic, buf->base, sizeof magic);
        memcpy(&clen, (char *)buf->base + 4, sizeof clen);
    }
    /* clen 0: an entry written before entries were padded */
    size_t changes_len = clen != 0 ? clen : buf->len - ENTRY_HEADER;
    if (magic != ENTRY_MAGIC || changes_len > buf->len - ENTRY_HEADER) {
        LOG(LOG_ERROR, "event=raft_bad_entry index=%llu len=%zu magic=%08x "
            "applied=%llu", (unsigned long long)index, buf->len, magic,
            (unsigned long long)r->db_applied);
        return 0;
    }
    if (index <= r->db_applied)
        return 0; /* written before a restart */
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO raft_applied(id,idx) "
             "VALUES(1,%llu)", (unsigned long long)index);
    if (sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3changeset_apply(r->db, (int)changes_len,
                               (char *)buf->base + ENTRY_HEADER, NULL,
                               on_conflict, NULL) != SQLITE_OK ||
        sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        LOG(LOG_ERROR, "event=raft_apply_failed index=%llu error=\"%s\"",
            (unsigned long long)index, sqlite3_errmsg(r->db));
        if (!sqlite3_get_autocommit(r->db))
            sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        return RAFT_IOERR;
    }
    r->db_applied = index;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n)
{
    bkraft *r = fsm->data;
    sqlite3_int64 size = 0;
    unsigned char *image = sqlite3_serialize(r->db, "main", &size, 0);
    if (image == NULL)
        return RAFT_NOMEM;
    *bufs = raft_malloc(sizeof **bufs);
    void *copy = raft_malloc((size_t)size);
    if (*bufs == NULL || copy == NULL) {
        raft_free(*bufs);
        raft_free(copy);
        sqlite3_free(image);
        return RAFT_NOMEM;
    }
    memcpy(copy, image, (size_t)size);
    sqlite3_free(image);
    (*bufs)[0].base = copy;
    (*bufs)[0].len = (size_t)size;
    *n = 1;
    LOG(LOG_INFO, "event=raft_snapshot bytes=%lld applied=%llu",
        (long long)size, (unsigned long long)r->db_applied);
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    bkraft *r = fsm->data;
    sqlite3 *mem = NULL;
    unsigned char *image = sqlite3_malloc64(buf->len);
    if (image == NULL || buf->len < 100 ||
        sqlite3_open(":memory:", &mem) != SQLITE_OK) {
        sqlite3_free(image);
        sqlite3_close(mem);
        return RAFT_NOMEM;
    }
    memcpy(image, buf->base, buf->len);
    image[18] = image[19] = 1; /* a WAL image opens in memory as legacy */
    int rc = sqlite3_deserialize(mem, "main", image, (sqlite3_int64)buf->len,
                                 (sqlite3_int64)buf->len,
                                 SQLITE_DESERIALIZE_FREEONCLOSE |
                                     SQLITE_DESERIALIZE_RESIZEABLE);
    sqlite3_backup *b = rc == SQLITE_OK
                            ? sqlite3_backup_init(r->db, "main", mem, "main")
                            : NULL;
    if (b != NULL) {
        rc = sqlite3_backup_step(b, -1);
        sqlite3_backup_finish(b);
    }
    sqlite3_close(mem);
    if (b == NULL || rc != SQLITE_DONE || !db_load_applied(r)) {
        LOG(LOG_ERROR, "event=raft_restore_failed error=\"%s\"",
            sqlite3_errmsg(r->db));
        return RAFT_IOERR;
    }
    LOG(LOG_INFO, "event=raft_restored bytes=%zu applied=%llu", buf->len,
        (unsigned long long)r->db_applied);
    raft_free(buf->base);
    return 0;
}

/* ---- the Raft thread's loop ---- */

static void on_barrier(struct raft_barrier *req, int status)
{
    bkraft *r = req->data;
    r->barrier_busy = false;
    if (status == 0 && raft_state(&r->raft) == RAFT_LEADER &&
        r->raft.current_term == r->barrier_term)
        r->ready_term = r->barrier_term;
}

static void on_tick(uv_timer_t *t)
{
    bkraft *r = t->data;
    int state = raft_state(&r->raft);
    uint64_t term = r->raft.current_term;
    if (state == RAFT_LEADER && r->ready_term != term && !r->barrier_busy) {
        /* Every entry of earlier terms is written here before this member
         * serves as leader. */
        r->barrier.data = r;
        r->barrier_term = term;
        r->barrier_busy =
            raft_barrier(&r->raft, &r->barrier, on_barrier) == 0;
    }
    bool leading = state == RAFT_LEADER && r->ready_term == term;
    if (leading != r->was_leading)
        LOG(LOG_INFO, leading ? "event=raft_leader id=%llu term=%llu"
                              : "event=raft_step_down id=%llu term=%llu",
            (unsigned long long)r->id, (unsigned long long)term);
    r->was_leading = leading;
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(&r->raft, &lid, &laddr);
    /* Per-follower lag, read here because only the Raft thread may touch
     * the leader's progress array (indexed like configuration.servers). */
    unsigned nlag = 0;
    uint64_t lag_id[BKRAFT_LAG_MAX], lag[BKRAFT_LAG_MAX];
    if (state == RAFT_LEADER && r->raft.leader_state.progress != NULL) {
        raft_index last = raft_last_index(&r->raft);
        for (unsigned i = 0; i < r->raft.configuration.n &&
                             nlag < BKRAFT_LAG_MAX; i++) {
            raft_id sid = r->raft.configuration.servers[i].id;
            if (sid == r->id)
                continue;
            raft_index m = r->raft.leader_state.progress[i].match_index;
            lag_id[nlag] = sid;
            lag[nlag++] = m < last ? last - m : 0;
        }
    }
    pthread_mutex_lock(&r->lock);
    r->st.nlag = nlag;
    memcpy(r->st.lag_id, lag_id, nlag * sizeof *lag_id);
    memcpy(r->st.lag, lag, nlag * sizeof *lag);
    r->st.leading = leading;
    r->st.term = term;
    r->st.leader = lid;
    r->st.commit = r->raft.commit_index;
    r->st.applied = r->db_applied;
    pthread_mutex_unlock(&r->lock);
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
    (void)result;
    struct pending *p = req->data;
    finish(p->r, p->gen, status);
    free(p);
}

static void propose(bkraft *r, void *buf, size_t len, uint64_t gen)
{
    if (raft_state(&r->raft) != RAFT_LEADER ||
        r->ready_term != r->raft.current_term) {
        raft_free(buf);
        finish(r, gen, RAFT_NOTLEADER);
        return;
    }
    struct pending *p = malloc(sizeof *p);
    if (p == NULL) {
        raft_free(buf);
        finish(r, gen, RAFT_NOMEM);
        return;
    }
    p->req.data = p;
    p->r = r;
    p->gen = gen;
    struct raft_buffer b = {.base = buf, .len = len};
    int rv = raft_apply(&r->raft, &p->req, &b, 1, on_applied);
    if (rv != 0) {
        free(p);
        finish(r, gen, rv);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_raft_closed(struct raft *raft)
{
    bkraft *r = raft->data;
    raft_uv_close(&r->io);
    raft_uv_tcp_close(&r->transport);
    uv_close((uv_handle_t *)&r->tick, on_handle_closed);
    uv_close((uv_handle_t *)&r->wake, on_handle_closed);
}

static void on_wake(uv_async_t *h)
{
    bkraft *r = h->data;
    pthread_mutex_lock(&r->lock);
    bool stop = r->stop;
    void *buf = r->req_buf;
    size_t len = r->req_len;
    uint64_t gen = r->req_gen;
    r->req_buf = NULL;
    pthread_mutex_unlock(&r->lock);
    if (stop) {
        raft_free(buf);
        uv_timer_stop(&r->tick);
        raft_close(&r->raft, on_raft_closed);
        return;
    }
    if (buf != NULL)
        propose(r, buf, len, gen);
}

static void *raft_thread(void *arg)
{
    bkraft *r = arg;
    uv_run(&r->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- the broker's main thread ---- */

/* store_set_replicate's hook: proposes the round and waits for it. */
static rc replicate(void *arg, const void *changes, size_t len)
{
    bkraft *r = arg;
    /* Padded to 8 bytes, with the changeset's own length in the header:
     * libraft's batches of several entries (a follower catching up, a
     * restart reading its segments) decode an entry whose length is not a
     * multiple of 8 from the wrong offset. */
    if (len > UINT32_MAX - 2 * ENTRY_HEADER)
        return RC_NOMEM;
    size_t total = (len + ENTRY_HEADER + 7) & ~(size_t)7;
    unsigned char *buf = raft_malloc(total);
    if (buf == NULL)
        return RC_NOMEM;
    uint32_t magic = ENTRY_MAGIC, clen = (uint32_t)len;
    memcpy(buf, &magic, 4);
    memcpy(buf + 4, &clen, 4);
    memcpy(buf + ENTRY_HEADER, changes, len);
    memset(buf + ENTRY_HEADER + len, 0, total - ENTRY_HEADER - len);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += REPLICATE_WAIT_MS / 1000;
    pthread_mutex_lock(&r->lock);
    raft_free(r->req_buf); /* none: one round at a time */
    r->req_buf = buf;
    r->req_len = total;
    uint64_t gen = ++r->req_gen;
    pthread_mutex_unlock(&r->lock);
    uv_async_send(&r->wake);
    pthread_mutex_lock(&r->lock);
    int err = 0;
    while (r->done_gen < gen && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&r->done, &r->lock, &until);
    int status = r->done_gen == gen ? r->done_status : RAFT_CANCELED;
    pthread_mutex_unlock(&r->lock);
    if (status != 0)
        LOG(LOG_WARN, "event=raft_round_failed error=\"%s\"",
            raft_strerror(status));
    return status == 0 ? RC_OK : RC_UNAVAILABLE;
}

static rc mkdirs(const char *path)
{
    char p[CONFIG_STR_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return RC_IO;
        *s = '/';
    }
    return mkdir(p, 0700) != 0 && errno != EEXIST ? RC_IO : RC_OK;
}

/* Parses `peers` into conf, and this member's address into r->addr. */
static rc parse_peers(bkraft *r, const char *peers,
                      struct raft_configuration *conf)
{
    char list[CONFIG_STR_MAX];
    snprintf(list, sizeof list, "%s", peers);
    char *save = NULL;
    for (char *item = strtok_r(list, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        char *end = NULL;
        unsigned long id = eq != NULL ? strtoul(item, &end, 10) : 0;
        if (eq == NULL || end != eq || id == 0 || eq[1] == '\0' ||
            raft_configuration_add(conf, id, eq + 1, RAFT_VOTER) != 0) {
            LOG(LOG_ERROR, "event=bad_peers item=\"%s\"", item);
            return RC_CONFIG;
        }
        if (id == r->id)
            snprintf(r->addr, sizeof r->addr, "%s", eq + 1);
    }
    if (r->addr[0] == '\0') {
        LOG(LOG_ERROR, "event=bad_peers reason=\"node_id %llu is not in "
            "peers\"", (unsigned long long)r->id);
        return RC_CONFIG;
    }
    return RC_OK;
}

rc bkraft_open(const config *cfg, store *st, bkraft **out)
{
    bkraft *r = calloc(1, sizeof *r);
    if (r == NULL)
        return RC_NOMEM;
    r->id = (uint64_t)cfg->node_id;
    snprintf(r->dir, sizeof r->dir, "%s", cfg->raft_dir);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->done, NULL);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    rc res = parse_peers(r, cfg->peers, &conf);
    if (res == RC_OK && mkdirs(r->dir) != RC_OK) {
        LOG(LOG_ERROR, "event=raft_dir_failed dir=%s", r->dir);
        res = RC_IO;
    }
    if (res == RC_OK &&
        (sqlite3_open(cfg->db, &r->db) != SQLITE_OK ||
         sqlite3_busy_timeout(r->db, 5000) != SQLITE_OK ||
         /* as bk_store.c: a deleted message's text is erased, not hidden */
         sqlite3_exec(r->db, "PRAGMA secure_delete=ON", NULL, NULL,
                      NULL) != SQLITE_OK ||
         !db_load_applied(r))) {
        LOG(LOG_ERROR, "event=raft_db_failed error=\"%s\"",
            sqlite3_errmsg(r->db));
        res = RC_DB;
    }
    if (res == RC_OK && uv_loop_init(&r->loop) != 0)
        res = RC_INTERNAL;
    int rv = 0;
    if (res == RC_OK) {
        r->fsm.version = 1;
        r->fsm.data = r;
        r->fsm.apply = fsm_apply;
        r->fsm.snapshot = fsm_snapshot;
        r->fsm.restore = fsm_restore;
        if ((rv = raft_uv_tcp_init(&r->transport, &r->loop)) != 0 ||
            (rv = raft_uv_init(&r->io, &r->loop, r->dir, &r->transport)) != 0 ||
            (rv = raft_init(&r->raft, &r->io, &r->fsm, r->id, r->addr)) != 0)
            res = RC_IO;
    }
    if (res == RC_OK) {
        r->raft.data = r;
        rv = raft_bootstrap(&r->raft, &conf);
        if (rv != 0 && rv != RAFT_CANTBOOTSTRAP)
            res = RC_IO; /* CANTBOOTSTRAP: the group existed already */
        raft_set_election_timeout(&r->raft, 1000);
        raft_set_heartbeat_timeout(&r->raft, 100);
        raft_set_pre_vote(&r->raft, true);
        unsigned rounds = (unsigned)cfg->raft_snapshot_rounds;
        raft_set_snapshot_threshold(&r->raft, rounds);
        raft_set_snapshot_trailing(&r->raft, rounds / 4 < SNAPSHOT_TRAILING_MAX
                                                 ? rounds / 4
                                                 : SNAPSHOT_TRAILING_MAX);
    }
    if (res == RC_OK && (rv = raft_start(&r->raft)) != 0)
        res = RC_IO;
    raft_configuration_close(&conf);
    if (res == RC_OK) {
        uv_async_init(&r->loop, &r->wake, on_wake);
        r->wake.data = r;
        uv_timer_init(&r->loop, &r->tick);
        r->tick.data = r;
        uv_timer_start(&r->tick, on_tick, TICK_MS, TICK_MS);
        if (pthread_create(&r->thread, NULL, raft_thread, r) != 0)
            res = RC_INTERNAL;
        else
            r->running = true;
    }
    if (res != RC_OK) {
        LOG(LOG_ERROR, "event=raft_start_failed error=\"%s\"",
            rv != 0 ? raft_strerror(rv) : "see above");
        /* What was set up stays allocated: the broker exits now. */
        return res;
    }
    LOG(LOG_INFO, "event=raft_started id=%llu address=%s dir=%s applied=%llu",
        (unsigned long long)r->id, r->addr, r->dir,
        (unsigned long long)r->db_applied);
    store_set_replicate(st, replicate, r);
    *out = r;
    return RC_OK;
}

void bkraft_close(bkraft *r)
{
    if (r == NULL)
        return;
    if (r->running) {
        pthread_mutex_lock(&r->lock);
        r->stop = true;
        pthread_mutex_unlock(&r->lock);
        uv_async_send(&r->wake);
        pthread_join(r->thread, NULL);
        uv_loop_close(&r->loop);
    }
    sqlite3_close(r->db);
    pthread_cond_destroy(&r->done);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void bkraft_status(bkraft *r, bkraft_state *s)
{
    pthread_mutex_lock(&r->lock);
    *s = r->st;
    pthread_mutex_unlock(&r->lock);
}

bool bkraft_round(bkraft *r, bk_link *l, rooms *rm)
{
    bkraft_state s;
    bkraft_status(r, &s);
    link_stat_set(l, "broker_raft_leader", STAT_GAUGE, s.leader);
    link_stat_set(l, "broker_raft_term", STAT_GAUGE, s.term);
    link_stat_set(l, "broker_raft_commit_index", STAT_GAUGE, s.commit);
    link_stat_set(l, "broker_raft_applied_index", STAT_GAUGE, s.applied);
    for (unsigned i = 0; i < s.nlag; i++) {
        snprintf(r->lag_name[i], sizeof r->lag_name[i],
                 "broker_raft_follower_lag_%llu",
                 (unsigned long long)s.lag_id[i]);
        link_stat_set(l, r->lag_name[i], STAT_GAUGE, s.lag[i]);
    }
    if (s.leading && s.term == r->main_term)
        return true;
    if (s.leading) {
        /* Rooms and presence in memory may be stale: rebuild from the
         * database and from the gateways registering again. */
        if (rooms_clear(rm) != RC_OK)
            return false; /* no memory: try again next round */
        link_forget_staged(l);
        link_new_epoch(l);
        r->main_term = s.term;
        LOG(LOG_INFO, "event=serving_as_leader id=%llu term=%llu "
            "applied=%llu", (unsigned long long)r->id,
            (unsigned long long)s.term, (unsigned long long)s.applied);
        return true;
    }
    if (r->main_term != 0)
        LOG(LOG_INFO, "event=not_leader id=%llu leader=%llu term=%llu",
            (unsigned long long)r->id, (unsigned long long)s.leader,
            (unsigned long long)s.term);
    r->main_term = 0;
    link_wait(l, TICK_MS);
    link_refuse_all(l, s.leader == r->id ? 0 : s.leader);
    return false;
}
