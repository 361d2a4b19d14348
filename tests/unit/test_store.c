/* test_store.c -- unit tests of broker/bk_store.c against a real SQLite
 * file in a fresh temporary directory (mkdtemp): appends inside an open
 * transaction are visible to reads before the commit and gone when the
 * store closes without one; store_room_seq; store_after and store_before
 * with their limits and `more` at the edges; store_find_cid within and
 * outside its time window; members put/update/del; retention by count and
 * by age, with the room's seq counter surviving it; text holding NUL; and
 * everything still there after a reopen. Single-threaded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bk_retention.h"
#include "bk_store.h"
#include "check.h"
#include "dbtest.h"
#include "log.h"

/* --- a temporary directory per test --------------------------------- */

static char tmp_dir[256];
static char db_path[320];

/* Makes a fresh directory; the database goes in a subdirectory of it that
 * does not exist yet (store_open creates it). */
static void tmp_setup(void)
{
    dbtest_mkdtemp(tmp_dir, sizeof tmp_dir, "store");
    snprintf(db_path, sizeof db_path, "%s/sub/dir/roomcast.db", tmp_dir);
}

static void tmp_cleanup(void)
{
    dbtest_remove(tmp_dir);
}

static store *open_store(void)
{
    return dbtest_open(db_path);
}

/* --- collecting rows ---------------------------------------------------- */

typedef struct row {
    char room[80];
    uint64_t seq;
    char uid[80];
    char name[160];
    char *text; /* owned, text_len bytes + NUL */
    size_t text_len;
    char cid[80];
    bool has_cid;
    int64_t ts;
} row;

typedef struct rows {
    row r[512];
    int n;
} rows;

static void collect(void *arg, const stored_msg *m)
{
    rows *rs = arg;
    if (rs->n == (int)(sizeof rs->r / sizeof rs->r[0]))
        return;
    row *r = &rs->r[rs->n++];
    snprintf(r->room, sizeof r->room, "%s", m->room ? m->room : "(null)");
    r->seq = m->seq;
    snprintf(r->uid, sizeof r->uid, "%s", m->uid ? m->uid : "(null)");
    snprintf(r->name, sizeof r->name, "%s", m->name ? m->name : "(null)");
    r->text = malloc(m->text_len + 1);
    memcpy(r->text, m->text, m->text_len);
    r->text[m->text_len] = 0;
    r->text_len = m->text_len;
    r->has_cid = m->cid != NULL;
    snprintf(r->cid, sizeof r->cid, "%s", m->cid ? m->cid : "");
    r->ts = m->ts;
}

static void rows_clear(rows *rs)
{
    for (int i = 0; i < rs->n; i++)
        free(rs->r[i].text);
    rs->n = 0;
}

/* Whether rs holds exactly the seqs first..last, in order. */
static int seqs_are(const rows *rs, uint64_t first, uint64_t last)
{
    if (last < first)
        return rs->n == 0;
    if (rs->n != (int)(last - first + 1))
        return 0;
    for (int i = 0; i < rs->n; i++)
        if (rs->r[i].seq != first + (uint64_t)i)
            return 0;
    return 1;
}

/* Appends message seq to room with text "msg <seq>" at ts, cid optional. */
static rc put_msg(store *s, const char *room, uint64_t seq, const char *uid,
                  const char *cid, int64_t ts)
{
    char text[64];
    int n = snprintf(text, sizeof text, "msg %llu", (unsigned long long)seq);
    stored_msg m = {
        .room = room, .seq = seq, .uid = uid, .name = "Name",
        .text = text, .text_len = (size_t)n, .cid = cid, .ts = ts,
    };
    return store_append(s, &m);
}

/* A fresh directory and store holding lobby's message 1, committed: where
 * the tests of commits and of a store that goes away start. */
static store *open_with_one_message(void)
{
    tmp_setup();
    store *s = open_store();
    CHECK(store_begin(s) == RC_OK);
    CHECK(put_msg(s, "lobby", 1, "alice", NULL, 1) == RC_OK);
    CHECK(store_commit(s) == RC_OK);
    return s;
}

/* store_after into a fresh rows. */
static void after(store *s, const char *room, uint64_t a, long limit,
                  rows *rs)
{
    rows_clear(rs);
    CHECK(store_after(s, room, a, limit, collect, rs) == RC_OK);
}

/* store_before into a fresh rows; returns `more` (or -1 on error). */
static int before(store *s, const char *room, uint64_t b, long limit,
                  rows *rs)
{
    rows_clear(rs);
    bool more = true;
    if (store_before(s, room, b, limit, collect, rs, &more) != RC_OK)
        return -1;
    return more;
}

static uint64_t room_seq(store *s, const char *room)
{
    uint64_t seq = 12345;
    CHECK(store_room_seq(s, room, &seq) == RC_OK);
    return seq;
}

static rows R; /* big: not on the stack */

/* --- tests ------------------------------------------------------------- */

TEST(open_creates_directories_and_empty_database)
{
    tmp_setup();
    store *s = open_store();
    CHECK(access(db_path, F_OK) == 0);
    CHECK_EQ_INT(room_seq(s, "lobby"), 0);
    after(s, "lobby", 0, 100, &R);
    CHECK_EQ_INT(R.n, 0);
    CHECK_EQ_INT(before(s, "lobby", UINT64_MAX >> 1, 50, &R), 0);
    CHECK_EQ_INT(R.n, 0);
    store_close(s);
    store_close(NULL);
    tmp_cleanup();
}

TEST(append_in_transaction_visible_before_commit)
{
    tmp_setup();
    store *s = open_store();
    CHECK(store_begin(s) == RC_OK);
    CHECK(store_begin(s) == RC_OK); /* no-op when open */
    for (uint64_t q = 1; q <= 3; q++)
        CHECK(put_msg(s, "lobby", q, "alice", NULL, 1000 + (int64_t)q) ==
              RC_OK);
    /* Reads inside the open transaction see the uncommitted rows. */
    CHECK_EQ_INT(room_seq(s, "lobby"), 3);
    after(s, "lobby", 0, 100, &R);
    CHECK(seqs_are(&R, 1, 3));
    CHECK_STR(R.r[0].room, "lobby");
    CHECK_STR(R.r[0].uid, "alice");
    CHECK_STR(R.r[0].name, "Name");
    CHECK_STR(R.r[0].text, "msg 1");
    CHECK(!R.r[0].has_cid);
    CHECK_EQ_INT(R.r[2].ts, 1003);
    CHECK_EQ_INT(before(s, "lobby", 100, 2, &R), 1);
    CHECK(seqs_are(&R, 2, 3));
    CHECK(store_commit(s) == RC_OK);
    CHECK(store_commit(s) == RC_OK); /* no-op when none is open */
    after(s, "lobby", 0, 100, &R);
    CHECK(seqs_are(&R, 1, 3));
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(appends_outside_a_transaction_autocommit)
{
    tmp_setup();
    store *s = open_store();
    CHECK(put_msg(s, "lobby", 1, "alice", NULL, 1) == RC_OK);
    store_close(s);
    s = open_store();
    CHECK_EQ_INT(room_seq(s, "lobby"), 1);
    store_close(s);
    tmp_cleanup();
}

/* The checkpointer copies committed pages into the database file while the
 * store is open (it did nothing before, and the WAL grew without end). */
TEST(checkpointer_backfills_the_database_file)
{
    tmp_setup();
    store *s = open_store();
    struct stat st0, st;
    CHECK(stat(db_path, &st0) == 0);
    CHECK(store_begin(s) == RC_OK);
    for (uint64_t q = 1; q <= 300; q++)
        CHECK(put_msg(s, "lobby", q, "alice", NULL, (int64_t)q) == RC_OK);
    CHECK(store_commit(s) == RC_OK);
    st = st0;
    for (int i = 0; i < 200 && st.st_size <= st0.st_size; i++) {
        usleep(50 * 1000); /* checkpoints run every 200 ms */
        if (stat(db_path, &st) != 0)
            break;
    }
    CHECK(st.st_size > st0.st_size);
    store_close(s);
    tmp_cleanup();
}

TEST(close_without_commit_rolls_back)
{
    store *s = open_with_one_message();
    CHECK(store_begin(s) == RC_OK);
    CHECK(put_msg(s, "lobby", 2, "alice", NULL, 2) == RC_OK);
    CHECK(store_member_put(s, "lobby", "alice", "Alice", 2) == RC_OK);
    store_close(s); /* the open transaction is rolled back */
    s = open_store();
    CHECK_EQ_INT(room_seq(s, "lobby"), 1);
    after(s, "lobby", 0, 100, &R);
    CHECK(seqs_are(&R, 1, 1));
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(duplicate_seq_is_refused)
{
    tmp_setup();
    store *s = open_store();
    int saved = log_threshold;
    log_threshold = LOG_ERROR + 1; /* the expected db_error line */
    CHECK(put_msg(s, "lobby", 1, "alice", NULL, 1) == RC_OK);
    CHECK(put_msg(s, "lobby", 1, "bob", NULL, 2) == RC_DB);
    CHECK(put_msg(s, "other", 1, "bob", NULL, 2) == RC_OK);
    log_threshold = saved;
    after(s, "lobby", 0, 10, &R);
    CHECK(seqs_are(&R, 1, 1));
    CHECK_STR(R.r[0].uid, "alice");
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(room_seq_per_room)
{
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    for (uint64_t q = 1; q <= 5; q++)
        put_msg(s, "a", q, "u", NULL, 1);
    for (uint64_t q = 1; q <= 2; q++)
        put_msg(s, "b", q, "u", NULL, 1);
    store_commit(s);
    CHECK_EQ_INT(room_seq(s, "a"), 5);
    CHECK_EQ_INT(room_seq(s, "b"), 2);
    CHECK_EQ_INT(room_seq(s, "c"), 0);
    CHECK_EQ_INT(room_seq(s, "A"), 0); /* names are case-sensitive */
    store_close(s);
    tmp_cleanup();
}

TEST(after_with_limits)
{
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    for (uint64_t q = 1; q <= 10; q++)
        put_msg(s, "lobby", q, "u", NULL, (int64_t)q);
    put_msg(s, "other", 1, "u", NULL, 1);
    store_commit(s);
    after(s, "lobby", 0, 100, &R);
    CHECK(seqs_are(&R, 1, 10));
    after(s, "lobby", 3, 4, &R); /* oldest first, at most limit */
    CHECK(seqs_are(&R, 4, 7));
    after(s, "lobby", 7, 100, &R);
    CHECK(seqs_are(&R, 8, 10));
    after(s, "lobby", 9, 1, &R);
    CHECK(seqs_are(&R, 10, 10));
    after(s, "lobby", 10, 100, &R); /* nothing after the newest */
    CHECK_EQ_INT(R.n, 0);
    after(s, "lobby", 0, 0, &R); /* limit 0: nothing */
    CHECK_EQ_INT(R.n, 0);
    after(s, "lobby", 0, 10, &R); /* exactly all */
    CHECK(seqs_are(&R, 1, 10));
    after(s, "nobody", 0, 100, &R);
    CHECK_EQ_INT(R.n, 0);
    after(s, "other", 0, 100, &R); /* rooms do not mix */
    CHECK(seqs_are(&R, 1, 1));
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(before_newest_n_oldest_first_and_more_at_edges)
{
    tmp_setup();
    store *s = open_store();
    const uint64_t NEWEST = UINT64_MAX >> 1; /* what bk_events passes */
    /* No rows at all. */
    CHECK_EQ_INT(before(s, "lobby", NEWEST, 5, &R), 0);
    CHECK_EQ_INT(R.n, 0);
    /* Exactly N rows, asking for N: all of them, no more. */
    store_begin(s);
    for (uint64_t q = 1; q <= 5; q++)
        put_msg(s, "lobby", q, "u", NULL, (int64_t)q);
    store_commit(s);
    CHECK_EQ_INT(before(s, "lobby", NEWEST, 5, &R), 0);
    CHECK(seqs_are(&R, 1, 5));
    CHECK_EQ_INT(before(s, "lobby", 6, 5, &R), 0);
    CHECK(seqs_are(&R, 1, 5));
    /* N + 1 rows, asking for N: the newest N, and more. */
    put_msg(s, "lobby", 6, "u", NULL, 6);
    CHECK_EQ_INT(before(s, "lobby", NEWEST, 5, &R), 1);
    CHECK(seqs_are(&R, 2, 6));
    /* seq < before, strictly. */
    CHECK_EQ_INT(before(s, "lobby", 6, 5, &R), 0);
    CHECK(seqs_are(&R, 1, 5));
    CHECK_EQ_INT(before(s, "lobby", 6, 4, &R), 1);
    CHECK(seqs_are(&R, 2, 5));
    CHECK_EQ_INT(before(s, "lobby", 3, 5, &R), 0);
    CHECK(seqs_are(&R, 1, 2));
    CHECK_EQ_INT(before(s, "lobby", 3, 1, &R), 1);
    CHECK(seqs_are(&R, 2, 2));
    CHECK_EQ_INT(before(s, "lobby", 2, 1, &R), 0);
    CHECK(seqs_are(&R, 1, 1));
    /* Nothing before the first. */
    CHECK_EQ_INT(before(s, "lobby", 1, 5, &R), 0);
    CHECK_EQ_INT(R.n, 0);
    CHECK_EQ_INT(before(s, "lobby", 0, 5, &R), 0);
    CHECK_EQ_INT(R.n, 0);
    /* Another room's rows never count toward `more`. */
    put_msg(s, "aaa", 1, "u", NULL, 1);
    CHECK_EQ_INT(before(s, "lobby", 2, 1, &R), 0);
    CHECK(seqs_are(&R, 1, 1));
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(before_with_gaps_from_retention)
{
    /* When retention has removed the oldest rows, `more` says whether rows
     * older than the page are still stored, not whether seqs below exist. */
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    for (uint64_t q = 1; q <= 10; q++)
        put_msg(s, "lobby", q, "u", NULL, (int64_t)q);
    store_commit(s);
    CHECK(retention_run(s, 4, 0, 0) == RC_OK); /* keeps 7..10 */
    CHECK_EQ_INT(before(s, "lobby", UINT64_MAX >> 1, 4, &R), 0);
    CHECK(seqs_are(&R, 7, 10));
    CHECK_EQ_INT(before(s, "lobby", UINT64_MAX >> 1, 3, &R), 1);
    CHECK(seqs_are(&R, 8, 10));
    CHECK_EQ_INT(before(s, "lobby", 7, 50, &R), 0);
    CHECK_EQ_INT(R.n, 0);
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

typedef struct found_one {
    int calls;
    uint64_t seq;
    char room[80];
} found_one;

static void found_fn(void *arg, const stored_msg *m)
{
    found_one *f = arg;
    f->calls++;
    f->seq = m->seq;
    snprintf(f->room, sizeof f->room, "%s", m->room);
}

/* store_find_cid: returns found (1/0), the seq in *seq. */
static int find(store *s, const char *uid, const char *cid, int64_t min_ts,
                uint64_t *seq)
{
    found_one f = {0, 0, ""};
    bool found = false;
    CHECK(store_find_cid(s, uid, cid, min_ts, found_fn, &f, &found) ==
          RC_OK);
    CHECK_EQ_INT(f.calls, found ? 1 : 0);
    if (seq)
        *seq = f.seq;
    return found;
}

TEST(find_cid_within_and_outside_window)
{
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    put_msg(s, "lobby", 1, "alice", "c-1", 10000);
    put_msg(s, "lobby", 2, "alice", NULL, 10001);
    put_msg(s, "lobby", 3, "bob", "c-1", 10002); /* same cid, other uid */
    put_msg(s, "dev", 1, "alice", "c-2", 20000);
    /* Still uncommitted: found all the same. */
    uint64_t seq = 0;
    CHECK(find(s, "alice", "c-1", 0, &seq));
    CHECK_EQ_INT(seq, 1);
    store_commit(s);
    CHECK(find(s, "alice", "c-1", 9999, &seq));
    CHECK_EQ_INT(seq, 1);
    CHECK(find(s, "alice", "c-1", 10000, &seq)); /* at min_ts: inside */
    CHECK(!find(s, "alice", "c-1", 10001, NULL)); /* just outside */
    CHECK(find(s, "bob", "c-1", 10000, &seq));
    CHECK_EQ_INT(seq, 3);
    CHECK(!find(s, "carol", "c-1", 0, NULL));
    CHECK(!find(s, "alice", "c-9", 0, NULL));
    CHECK(!find(s, "alice", "", 0, NULL)); /* no cid never matches */
    /* Any room: a cid is the uid's, across rooms. */
    found_one f = {0, 0, ""};
    bool found = false;
    CHECK(store_find_cid(s, "alice", "c-2", 0, found_fn, &f, &found) ==
          RC_OK);
    CHECK(found);
    CHECK_STR(f.room, "dev");
    /* A reused cid: the newest within the window. */
    put_msg(s, "lobby", 4, "alice", "c-1", 30000);
    CHECK(find(s, "alice", "c-1", 0, &seq));
    CHECK_EQ_INT(seq, 4);
    CHECK(find(s, "alice", "c-1", 25000, &seq));
    CHECK_EQ_INT(seq, 4);
    store_close(s);
    tmp_cleanup();
}

TEST(cid_round_trips)
{
    tmp_setup();
    store *s = open_store();
    put_msg(s, "lobby", 1, "alice", "id-\xc3\xa9", 5);
    put_msg(s, "lobby", 2, "alice", NULL, 6);
    after(s, "lobby", 0, 10, &R);
    CHECK_EQ_INT(R.n, 2);
    CHECK(R.r[0].has_cid);
    CHECK_STR(R.r[0].cid, "id-\xc3\xa9");
    CHECK(!R.r[1].has_cid);
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

typedef struct mrow {
    char uid[80];
    char name[160];
    uint64_t last_seen;
} mrow;
typedef struct mrows {
    mrow m[64];
    int n;
} mrows;

static void member_fn(void *arg, const char *uid, const char *name,
                      uint64_t last_seen)
{
    mrows *ms = arg;
    if (ms->n == 64)
        return;
    mrow *m = &ms->m[ms->n++];
    snprintf(m->uid, sizeof m->uid, "%s", uid);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->last_seen = last_seen;
}

static const mrow *member_of(const mrows *ms, const char *uid)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].uid, uid) == 0)
            return &ms->m[i];
    return NULL;
}

static mrows members(store *s, const char *room)
{
    mrows ms = {.n = 0};
    CHECK(store_members(s, room, member_fn, &ms) == RC_OK);
    return ms;
}

TEST(members_put_update_del)
{
    tmp_setup();
    store *s = open_store();
    mrows ms = members(s, "lobby");
    CHECK_EQ_INT(ms.n, 0);
    store_begin(s);
    CHECK(store_member_put(s, "lobby", "alice", "Alice", 0) == RC_OK);
    CHECK(store_member_put(s, "lobby", "bob", "Bob", 7) == RC_OK);
    CHECK(store_member_put(s, "dev", "alice", "Alice (dev)", 3) == RC_OK);
    ms = members(s, "lobby"); /* visible inside the transaction */
    CHECK_EQ_INT(ms.n, 2);
    store_commit(s);
    ms = members(s, "lobby");
    CHECK_EQ_INT(ms.n, 2);
    const mrow *a = member_of(&ms, "alice");
    CHECK(a != NULL && strcmp(a->name, "Alice") == 0 && a->last_seen == 0);
    const mrow *b = member_of(&ms, "bob");
    CHECK(b != NULL && strcmp(b->name, "Bob") == 0 && b->last_seen == 7);
    /* Update: same row, new name and last_seen. */
    CHECK(store_member_put(s, "lobby", "alice", "Alice \xc3\x89", 42) ==
          RC_OK);
    ms = members(s, "lobby");
    CHECK_EQ_INT(ms.n, 2);
    a = member_of(&ms, "alice");
    CHECK(a != NULL && strcmp(a->name, "Alice \xc3\x89") == 0 &&
          a->last_seen == 42);
    /* The other room's row is untouched. */
    ms = members(s, "dev");
    CHECK_EQ_INT(ms.n, 1);
    CHECK_STR(ms.m[0].name, "Alice (dev)");
    CHECK_EQ_INT(ms.m[0].last_seen, 3);
    /* Delete. */
    CHECK(store_member_del(s, "lobby", "alice") == RC_OK);
    ms = members(s, "lobby");
    CHECK_EQ_INT(ms.n, 1);
    CHECK(member_of(&ms, "alice") == NULL);
    CHECK(member_of(&ms, "bob") != NULL);
    CHECK(store_member_del(s, "lobby", "nobody") == RC_OK); /* harmless */
    CHECK_EQ_INT(members(s, "dev").n, 1);
    /* Large last_seen values survive. */
    CHECK(store_member_put(s, "lobby", "big", "Big", (uint64_t)INT64_MAX) ==
          RC_OK);
    ms = members(s, "lobby");
    const mrow *g = member_of(&ms, "big");
    CHECK(g != NULL && g->last_seen == (uint64_t)INT64_MAX);
    store_close(s);
    tmp_cleanup();
}

TEST(retention_by_count_keeps_newest_per_room)
{
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    for (uint64_t q = 1; q <= 10; q++)
        put_msg(s, "a", q, "u", NULL, 1000);
    for (uint64_t q = 1; q <= 3; q++)
        put_msg(s, "b", q, "u", NULL, 1000);
    put_msg(s, "c", 1, "u", NULL, 1000);
    store_commit(s);
    /* Refused inside a transaction. */
    store_begin(s);
    CHECK(retention_run(s, 4, 0, 0) == RC_INTERNAL);
    store_commit(s);
    CHECK(retention_run(s, 4, 0, 0) == RC_OK);
    after(s, "a", 0, 100, &R);
    CHECK(seqs_are(&R, 7, 10));
    after(s, "b", 0, 100, &R);
    CHECK(seqs_are(&R, 1, 3)); /* fewer than keep: all stay */
    after(s, "c", 0, 100, &R);
    CHECK(seqs_are(&R, 1, 1));
    CHECK_EQ_INT(room_seq(s, "a"), 10);
    /* Running it again changes nothing. */
    CHECK(retention_run(s, 4, 0, 0) == RC_OK);
    after(s, "a", 0, 100, &R);
    CHECK(seqs_are(&R, 7, 10));
    /* keep 1 */
    CHECK(retention_run(s, 1, 0, 0) == RC_OK);
    after(s, "a", 0, 100, &R);
    CHECK(seqs_are(&R, 10, 10));
    after(s, "b", 0, 100, &R);
    CHECK(seqs_are(&R, 3, 3));
    /* New messages continue the counter; the count applies to them. */
    for (uint64_t q = 11; q <= 13; q++)
        put_msg(s, "a", q, "u", NULL, 1000);
    CHECK(retention_run(s, 2, 0, 0) == RC_OK);
    after(s, "a", 0, 100, &R);
    CHECK(seqs_are(&R, 12, 13));
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(retention_by_age_keeps_room_seq)
{
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    for (uint64_t q = 1; q <= 5; q++)
        put_msg(s, "a", q, "u", NULL, 1000 + (int64_t)q); /* 1001..1005 */
    for (uint64_t q = 1; q <= 3; q++)
        put_msg(s, "b", q, "u", NULL, 500);
    store_commit(s);
    /* Older than 1003 goes, whatever the count allows. */
    CHECK(retention_run(s, 1000, 1003, 0) == RC_OK);
    after(s, "a", 0, 100, &R);
    CHECK(seqs_are(&R, 3, 5));
    after(s, "b", 0, 100, &R);
    CHECK_EQ_INT(R.n, 0);
    CHECK_EQ_INT(room_seq(s, "b"), 3); /* emptied, counter kept */
    /* Everything deleted by age: the counters survive. */
    CHECK(retention_run(s, 1000, 1000000, 0) == RC_OK);
    after(s, "a", 0, 100, &R);
    CHECK_EQ_INT(R.n, 0);
    CHECK_EQ_INT(room_seq(s, "a"), 5);
    CHECK_EQ_INT(room_seq(s, "b"), 3);
    CHECK_EQ_INT(before(s, "a", UINT64_MAX >> 1, 10, &R), 0);
    CHECK_EQ_INT(R.n, 0);
    /* ... and after a reopen. */
    store_close(s);
    s = open_store();
    CHECK_EQ_INT(room_seq(s, "a"), 5);
    CHECK_EQ_INT(room_seq(s, "b"), 3);
    /* The room goes on from there. */
    CHECK(put_msg(s, "a", 6, "u", NULL, 2000000) == RC_OK);
    CHECK_EQ_INT(room_seq(s, "a"), 6);
    /* min_ts 0 is "no age limit". */
    CHECK(retention_run(s, 1000, 0, 0) == RC_OK);
    after(s, "a", 0, 100, &R);
    CHECK(seqs_are(&R, 6, 6));
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(text_with_nul_round_trips)
{
    tmp_setup();
    store *s = open_store();
    static const char text[] = "before\0after \xc3\xa9\0";
    size_t len = sizeof text - 1; /* 15: both NULs count */
    stored_msg m = {.room = "lobby", .seq = 1, .uid = "u", .name = "N",
                    .text = text, .text_len = len, .cid = NULL, .ts = 1};
    CHECK(store_append(s, &m) == RC_OK);
    stored_msg e = {.room = "lobby", .seq = 2, .uid = "u", .name = "N",
                    .text = "", .text_len = 0, .cid = NULL, .ts = 2};
    CHECK(store_append(s, &e) == RC_OK);
    stored_msg z = {.room = "lobby", .seq = 3, .uid = "u", .name = "N",
                    .text = "\0", .text_len = 1, .cid = NULL, .ts = 3};
    CHECK(store_append(s, &z) == RC_OK);
    after(s, "lobby", 0, 10, &R);
    CHECK_EQ_INT(R.n, 3);
    CHECK_EQ_INT(R.r[0].text_len, len);
    CHECK(memcmp(R.r[0].text, text, len) == 0);
    CHECK_EQ_INT(R.r[1].text_len, 0);
    CHECK_EQ_INT(R.r[2].text_len, 1);
    CHECK_EQ_INT(R.r[2].text[0], 0);
    /* Through store_before and store_find_cid the same. */
    CHECK_EQ_INT(before(s, "lobby", 2, 1, &R), 0);
    CHECK_EQ_INT(R.n, 1);
    CHECK_EQ_INT(R.r[0].text_len, len);
    CHECK(memcmp(R.r[0].text, text, len) == 0);
    /* And after a reopen. */
    store_close(s);
    s = open_store();
    after(s, "lobby", 0, 1, &R);
    CHECK_EQ_INT(R.n, 1);
    CHECK_EQ_INT(R.r[0].text_len, len);
    CHECK(memcmp(R.r[0].text, text, len) == 0);
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(reopen_keeps_everything)
{
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    for (uint64_t q = 1; q <= 20; q++)
        put_msg(s, "lobby", q, q % 2 ? "alice" : "bob",
                q == 7 ? "cid-7" : NULL, 100 + (int64_t)q);
    store_member_put(s, "lobby", "alice", "Alice", 20);
    store_member_put(s, "lobby", "bob", "Bob", 11);
    store_commit(s);
    CHECK(retention_run(s, 15, 0, 0) == RC_OK); /* keeps 6..20 */
    store_close(s);

    s = open_store();
    CHECK_EQ_INT(room_seq(s, "lobby"), 20);
    after(s, "lobby", 0, 100, &R);
    CHECK(seqs_are(&R, 6, 20));
    CHECK_STR(R.r[0].uid, "bob");
    CHECK_STR(R.r[0].text, "msg 6");
    CHECK_EQ_INT(R.r[0].ts, 106);
    uint64_t seq = 0;
    CHECK(find(s, "alice", "cid-7", 0, &seq));
    CHECK_EQ_INT(seq, 7);
    mrows ms = members(s, "lobby");
    CHECK_EQ_INT(ms.n, 2);
    const mrow *b = member_of(&ms, "bob");
    CHECK(b != NULL && b->last_seen == 11);
    /* A second store on the same file (full_sync this time) agrees. */
    store *t = NULL;
    CHECK(store_open(db_path, true, &t) == RC_OK);
    uint64_t q = 0;
    CHECK(store_room_seq(t, "lobby", &q) == RC_OK);
    CHECK_EQ_INT(q, 20);
    store_close(t);
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(open_fails_cleanly_on_bad_path)
{
    /* A path whose parent is a regular file: RC_IO, *out untouched. */
    tmp_setup();
    char file[400], path[420];
    snprintf(file, sizeof file, "%s/plain", tmp_dir);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f != NULL)
        fclose(f);
    snprintf(path, sizeof path, "%s/sub/db", file);
    int saved = log_threshold;
    log_threshold = LOG_ERROR + 1;
    store *s = (store *)(uintptr_t)1;
    rc r = store_open(path, false, &s);
    log_threshold = saved;
    CHECK(r != RC_OK);
    CHECK(s == (store *)(uintptr_t)1);
    tmp_cleanup();
}

/* --- storage failures (bk_outage.c builds on these) ------------------- */

TEST(a_failed_write_fails_its_whole_transaction)
{
    store *s = open_with_one_message();
    CHECK(store_begin(s) == RC_OK);
    CHECK(put_msg(s, "lobby", 2, "alice", NULL, 2) == RC_OK);
    CHECK(put_msg(s, "lobby", 1, "bob", NULL, 3) == RC_DB); /* fails */
    /* Later writes of it are refused, and nothing of it is committed. */
    CHECK(put_msg(s, "lobby", 3, "alice", NULL, 4) == RC_UNAVAILABLE);
    CHECK(store_member_put(s, "lobby", "alice", "A", 0) == RC_UNAVAILABLE);
    CHECK(store_begin(s) == RC_UNAVAILABLE);
    CHECK(store_commit(s) == RC_DB);
    CHECK(!store_ok(s));
    CHECK(store_errors(s) >= 1);
    after(s, "lobby", 0, 10, &R);
    CHECK(seqs_are(&R, 1, 1));
    /* Down: writes refused up front, reads served, until a probe. */
    CHECK(store_begin(s) == RC_UNAVAILABLE);
    CHECK(put_msg(s, "lobby", 2, "alice", NULL, 2) == RC_UNAVAILABLE);
    CHECK_EQ_INT(room_seq(s, "lobby"), 1);
    CHECK(store_probe(s, 5) == RC_OK);
    CHECK(store_ok(s));
    CHECK(store_begin(s) == RC_OK);
    CHECK(put_msg(s, "lobby", 2, "alice", NULL, 2) == RC_OK);
    CHECK(store_commit(s) == RC_OK);
    after(s, "lobby", 0, 10, &R);
    CHECK(seqs_are(&R, 1, 2));
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

TEST(a_database_file_moved_away_fails_the_commit_until_it_is_back)
{
    store *s = open_with_one_message();
    char away[400];
    snprintf(away, sizeof away, "%s.away", db_path);
    CHECK(rename(db_path, away) == 0);
    /* SQLite would commit into the moved file; the store refuses. */
    CHECK(store_begin(s) == RC_OK);
    CHECK(put_msg(s, "lobby", 2, "alice", NULL, 2) == RC_OK);
    CHECK(store_commit(s) == RC_DB);
    CHECK(!store_ok(s));
    CHECK_CONTAINS(store_last_error(s), "removed or replaced");
    after(s, "lobby", 0, 10, &R); /* reads still work */
    CHECK(seqs_are(&R, 1, 1));
    CHECK(store_probe(s, 5) == RC_UNAVAILABLE);
    CHECK(rename(away, db_path) == 0);
    CHECK(store_probe(s, 6) == RC_OK);
    CHECK(store_begin(s) == RC_OK);
    CHECK(put_msg(s, "lobby", 2, "alice", NULL, 2) == RC_OK);
    CHECK(store_commit(s) == RC_OK);
    store_close(s);
    s = open_store(); /* what was committed is in the file */
    after(s, "lobby", 0, 10, &R);
    CHECK(seqs_are(&R, 1, 2));
    rows_clear(&R);
    store_close(s);
    tmp_cleanup();
}

RUN_TESTS(store)
