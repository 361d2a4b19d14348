/* test_oom_store.c -- allocation failures in broker/bk_store.c (oom.h),
 * SQLite's own allocations included: store_open (a new database and an
 * existing one), store_append inside a transaction, store_member_put,
 * store_room_seq, the reads (store_after, store_before, store_find_cid,
 * store_members, and history_render of bk_history.c) and retention_run
 * (bk_retention.c), each with every allocation failing in turn. A failed
 * call returns an error rc, leaves its out-params untouched, and leaves
 * nothing half-done: a failed write is not stored,
 * and a commit that reports success has kept every write of its
 * transaction that reported success (SQLite may roll a transaction back by
 * itself on SQLITE_NOMEM; then the commit must fail). A read that fails
 * may have called back for some rows first, but only for the right ones,
 * in order. Nothing leaks. Single-threaded, apart from the store's
 * checkpointer, whose allocations are never failed. */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_history.h"
#include "bk_retention.h"
#include "bk_store.h"
#include "check.h"
#include "dbtest.h"
#include "log.h"
#include "oom.h"

/* SQLite's allocator: the same counter, with the size kept in front. */
#define SQ_HEAD 16 /* keeps malloc's 16-byte alignment */
static void *sq_malloc(int n)
{
    if (oom_fail())
        return NULL;
    char *p = __real_malloc((size_t)n + SQ_HEAD);
    if (p == NULL)
        return NULL;
    *(size_t *)p = (size_t)n;
    return p + SQ_HEAD;
}
static void sq_free(void *p)
{
    if (p != NULL)
        free((char *)p - SQ_HEAD);
}
static void *sq_realloc(void *p, int n)
{
    if (oom_fail())
        return NULL;
    char *q = __real_realloc((char *)p - SQ_HEAD, (size_t)n + SQ_HEAD);
    if (q == NULL)
        return NULL;
    *(size_t *)q = (size_t)n;
    return q + SQ_HEAD;
}
static int sq_size(void *p)
{
    return p != NULL ? (int)*(size_t *)((char *)p - SQ_HEAD) : 0;
}
static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}
static int sq_init(void *arg)
{
    (void)arg;
    return SQLITE_OK;
}
static void sq_shutdown(void *arg)
{
    (void)arg;
}

static char tmp_dir[256];
static char base_path[320]; /* a database with ROOM's messages and members */
static long path_seq;

#define ROOM "hist"
#define NMSG 20
#define TEXT_LEN 3000 /* longer than a page: overflow pages to read */

static char text[TEXT_LEN];

static stored_msg msg(const char *room, uint64_t seq, const char *cid)
{
    return (stored_msg){.room = room, .seq = seq, .uid = "alice",
                        .name = "Alice", .text = text,
                        .text_len = sizeof text, .cid = cid,
                        .ts = 1000 * (int64_t)seq};
}

__attribute__((constructor)) static void store_setup(void)
{
    static const sqlite3_mem_methods methods = {
        sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init,
        sq_shutdown, NULL};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK) {
        fprintf(stderr, "test_oom_store: sqlite3_config failed\n");
        exit(2);
    }
    log_threshold = LOG_ERROR + 1; /* the failures are expected */
    memset(text, 't', sizeof text);
    /* In memory when there is a tmpfs: the runs create thousands of
     * databases, and a disk's syncs would double the time. */
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == 0)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s/roomcast-oom-XXXXXX", base);
    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(base_path, sizeof base_path, "%s/base/roomcast.db", tmp_dir);
    store *s = NULL;
    bool ok = store_open(base_path, false, &s) == RC_OK &&
              store_begin(s) == RC_OK;
    for (uint64_t i = 1; ok && i <= NMSG; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "c%llu", (unsigned long long)i);
        stored_msg m = msg(ROOM, i, cid);
        ok = store_append(s, &m) == RC_OK;
    }
    ok = ok && store_member_put(s, ROOM, "alice", "Alice", 3) == RC_OK &&
         store_member_put(s, ROOM, "bob", "Bob", 4) == RC_OK &&
         store_commit(s) == RC_OK;
    store_close(s);
    if (!ok) {
        fprintf(stderr, "test_oom_store: setup failed\n");
        exit(2);
    }
}

__attribute__((destructor)) static void store_cleanup(void)
{
    dbtest_remove(tmp_dir);
}

static store *open_base(void)
{
    store *s = NULL;
    if (store_open(base_path, false, &s) != RC_OK)
        abort();
    return s;
}

/* Rows seen by a read: their seqs, in order. */
typedef struct seen {
    uint64_t seq[NMSG + 1];
    int n;
    bool bad; /* a row that is not a stored message, whole */
} seen;

static void collect(void *arg, const stored_msg *m)
{
    seen *sn = arg;
    if (sn->n == NMSG + 1 || strcmp(m->room, ROOM) != 0 ||
        m->text_len != TEXT_LEN || memcmp(m->text, text, TEXT_LEN) != 0 ||
        strcmp(m->uid, "alice") != 0 || strcmp(m->name, "Alice") != 0 ||
        m->ts != 1000 * (int64_t)m->seq) {
        sn->bad = true;
        return;
    }
    sn->seq[sn->n++] = m->seq;
}

/* Whether sn's seqs are first, first+1, ... (n of them, n <= want). */
static bool seen_run(const seen *sn, uint64_t first, int want, bool whole)
{
    if (sn->bad || sn->n > want || (whole && sn->n != want))
        return false;
    for (int i = 0; i < sn->n; i++)
        if (sn->seq[i] != first + (uint64_t)i)
            return false;
    return true;
}

/* --- open ------------------------------------------------------------- */

static void attempt_open_new(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/new%ld/sub/roomcast.db", tmp_dir,
             ++path_seq);
    store *s = (store *)&path_seq; /* a sentinel */
    oom_on();
    rc r = store_open(path, false, &s);
    oom_off();
    if (r != RC_OK) {
        CHECK(oom.failed > 0);
        CHECK(s == (store *)&path_seq);
        return;
    }
    uint64_t seq = 9;
    stored_msg m = msg("r", 1, NULL);
    CHECK(store_room_seq(s, "r", &seq) == RC_OK && seq == 0);
    CHECK(store_append(s, &m) == RC_OK);
    CHECK(store_room_seq(s, "r", &seq) == RC_OK && seq == 1);
    store_close(s);
}

TEST(store_open_new_fails_cleanly)
{
    oom_each("store_open (new database)", attempt_open_new);
}

static void attempt_open_existing(void)
{
    store *s = (store *)&path_seq;
    oom_on();
    rc r = store_open(base_path, false, &s);
    oom_off();
    if (r != RC_OK) {
        CHECK(oom.failed > 0);
        CHECK(s == (store *)&path_seq);
        return;
    }
    uint64_t seq = 0;
    CHECK(store_room_seq(s, ROOM, &seq) == RC_OK && seq == NMSG);
    store_close(s);
}

TEST(store_open_existing_fails_cleanly)
{
    oom_each("store_open (existing database)", attempt_open_existing);
}

/* --- writes ----------------------------------------------------------- */

/* In one transaction: an append that works, then the one under test, then
 * the commit. Each attempt writes to its own room. */
static void attempt_append(void)
{
    char room[32];
    snprintf(room, sizeof room, "w%ld", ++path_seq);
    store *s = open_base();
    stored_msg first = msg(room, 1, NULL), second = msg(room, 2, "x");
    CHECK(store_begin(s) == RC_OK && store_append(s, &first) == RC_OK);
    oom_on();
    rc r = store_append(s, &second);
    oom_off();
    CHECK(r == RC_OK || oom.failed > 0);
    rc c = store_commit(s);
    uint64_t seq = 99;
    CHECK(store_room_seq(s, room, &seq) == RC_OK);
    if (r == RC_OK)
        CHECK(c == RC_OK && seq == 2);
    else if (c == RC_OK)
        CHECK(seq == 1); /* the failed append left nothing */
    else
        CHECK(seq == 0); /* the whole transaction is gone, and said so */
    store_close(s);
}

TEST(store_append_fails_cleanly)
{
    oom_each("store_append (in a transaction)", attempt_append);
}

static void member_name(void *arg, const char *uid, const char *name,
                        uint64_t last_seen)
{
    if (strcmp(uid, "alice") == 0)
        snprintf(arg, 32, "%s/%llu", name, (unsigned long long)last_seen);
}

static void attempt_member_put(void)
{
    store *s = open_base();
    char name[32], now[32] = "";
    snprintf(name, sizeof name, "A%ld", ++path_seq);
    store_members(s, "mp", member_name, now);
    oom_on();
    rc r = store_member_put(s, "mp", "alice", name, 3);
    oom_off();
    char after[32] = "", want[40];
    CHECK(store_members(s, "mp", member_name, after) == RC_OK);
    snprintf(want, sizeof want, "%s/3", name);
    if (r != RC_OK) {
        CHECK(oom.failed > 0);
        CHECK_STR(after, now);
    } else {
        CHECK_STR(after, want);
    }
    store_close(s);
}

TEST(store_member_put_fails_cleanly)
{
    oom_each("store_member_put", attempt_member_put);
}

static void attempt_retention(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/ret%ld/roomcast.db", tmp_dir, ++path_seq);
    store *s = NULL;
    if (store_open(path, false, &s) != RC_OK)
        abort();
    for (uint64_t i = 1; i <= 10; i++) {
        stored_msg m = msg(ROOM, i, NULL);
        CHECK(store_append(s, &m) == RC_OK);
    }
    oom_on();
    rc r = retention_run(s, 4, 0, 0);
    oom_off();
    CHECK(r == RC_OK || oom.failed > 0);
    seen sn = {0};
    CHECK(store_after(s, ROOM, 0, 100, collect, &sn) == RC_OK);
    if (r == RC_OK)
        CHECK(seen_run(&sn, 7, 4, true));
    uint64_t seq = 0;
    CHECK(store_room_seq(s, ROOM, &seq) == RC_OK && seq == 10);
    store_close(s);
}

TEST(retention_run_fails_cleanly)
{
    oom_each("retention_run", attempt_retention);
}

/* --- reads ------------------------------------------------------------ */

static store *S; /* the base database, open for the reads */

static void attempt_room_seq(void)
{
    uint64_t seq = 777;
    oom_on();
    rc r = store_room_seq(S, ROOM, &seq);
    oom_off();
    if (r != RC_OK)
        CHECK(oom.failed > 0 && seq == 777);
    else
        CHECK(seq == NMSG);
}

static void attempt_after(void)
{
    seen sn = {0};
    oom_on();
    rc r = store_after(S, ROOM, 5, 10, collect, &sn);
    oom_off();
    CHECK(r == RC_OK || oom.failed > 0);
    CHECK(seen_run(&sn, 6, 10, r == RC_OK));
}

static void attempt_before(void)
{
    seen sn = {0};
    bool more = true;
    oom_on();
    rc r = store_before(S, ROOM, 11, 4, collect, &sn, &more);
    oom_off();
    CHECK(r == RC_OK || oom.failed > 0);
    CHECK(seen_run(&sn, 7, 4, r == RC_OK));
    if (r == RC_OK) {
        CHECK(more);
    } else {
        CHECK(more); /* untouched */
        more = false;
    }
}

static void attempt_find_cid(void)
{
    seen sn = {0};
    bool found = false;
    oom_on();
    rc r = store_find_cid(S, "alice", "c12", 0, collect, &sn, &found);
    oom_off();
    CHECK(r == RC_OK || oom.failed > 0);
    CHECK(seen_run(&sn, 12, 1, r == RC_OK));
    if (r == RC_OK)
        CHECK(found);
    else
        CHECK(!found); /* untouched */
}

static void attempt_find_cid_none(void)
{
    seen sn = {0};
    bool found = true;
    oom_on();
    rc r = store_find_cid(S, "alice", "nope", 0, collect, &sn, &found);
    oom_off();
    CHECK(r == RC_OK || oom.failed > 0);
    CHECK(sn.n == 0 && !sn.bad);
    CHECK(r == RC_OK ? !found : found); /* on an error, untouched */
}

/* history_render (bk_history.c): on RC_OK the whole answer. */
static void attempt_history(void)
{
    wbuf w = {0};
    oom_on();
    rc r = history_render(S, ROOM, 11, 4, 1 << 20, &w);
    oom_off();
    CHECK(r == RC_OK || oom.failed > 0);
    if (r == RC_OK) {
        CHECK(!w.failed);
        wbuf_u8(&w, 0);
        CHECK(!w.failed && strncmp(w.data, "{\"event\":\"history\"", 18) == 0);
        CHECK_CONTAINS(w.data, "\"seq\":7,");
        CHECK_CONTAINS(w.data, "\"seq\":10,");
        CHECK_CONTAINS(w.data, "],\"more\":true}");
    }
    wbuf_free(&w);
}

static void count_member(void *arg, const char *uid, const char *name,
                         uint64_t last_seen)
{
    int *n = arg;
    bool alice = strcmp(uid, "alice") == 0 && strcmp(name, "Alice") == 0 &&
                 last_seen == 3;
    bool bob = strcmp(uid, "bob") == 0 && strcmp(name, "Bob") == 0 &&
               last_seen == 4;
    *n += alice ? 1 : bob ? 10 : 100;
}

static void attempt_members(void)
{
    int n = 0;
    oom_on();
    rc r = store_members(S, ROOM, count_member, &n);
    oom_off();
    CHECK(r == RC_OK || oom.failed > 0);
    CHECK(r == RC_OK ? n == 11 : (n == 0 || n == 1 || n == 10));
}

TEST(store_reads_fail_cleanly)
{
    S = open_base();
    oom_each("store_room_seq", attempt_room_seq);
    oom_each("store_after", attempt_after);
    oom_each("store_before", attempt_before);
    oom_each("store_find_cid", attempt_find_cid);
    oom_each("store_find_cid (none)", attempt_find_cid_none);
    oom_each("store_members", attempt_members);
    oom_each("history_render", attempt_history);
    store_close(S);
}

RUN_TESTS(oom_store)
