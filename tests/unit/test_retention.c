/* test_retention.c -- unit tests of broker/bk_retention.c against a real
 * SQLite file: every step stays within its row budget whatever the
 * database holds (the round never waits for a whole sweep), a pass ends
 * with the newest `keep` of every room and nothing past the age limit,
 * room seq counters survive, and steps run inside a transaction that also
 * holds new messages (as in the broker's round). Single-threaded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_retention.h"
#include "bk_store.h"
#include "check.h"

static char tmp_dir[256];
static char db_path[320];

static store *open_fresh(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/roomcast-ret-XXXXXX",
             base != NULL && *base ? base : "/tmp");
    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(db_path, sizeof db_path, "%s/r.db", tmp_dir);
    store *s = NULL;
    if (store_open(db_path, false, &s) != RC_OK) {
        fprintf(stderr, "store_open failed\n");
        exit(2);
    }
    return s;
}

static void close_and_remove(store *s)
{
    store_close(s);
    char p[400];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
        unlink(p);
    }
    rmdir(tmp_dir);
}

static void put(store *s, const char *room, uint64_t seq, int64_t ts)
{
    stored_msg m = {.room = room, .seq = seq, .uid = "u", .name = "N",
                    .text = "t", .text_len = 1, .ts = ts};
    CHECK(store_append(s, &m) == RC_OK);
}

static void count_row(void *arg, const stored_msg *m)
{
    (void)m;
    (*(long *)arg)++;
}

static long count(store *s, const char *room)
{
    long n = 0;
    CHECK(store_after(s, room, 0, 1000000, count_row, &n) == RC_OK);
    return n;
}

typedef struct first_ctx {
    uint64_t first;
} first_ctx;

static void first_row(void *arg, const stored_msg *m)
{
    first_ctx *f = arg;
    if (f->first == 0)
        f->first = m->seq;
}

static uint64_t first_seq(store *s, const char *room)
{
    first_ctx f = {0};
    CHECK(store_after(s, room, 0, 1, first_row, &f) == RC_OK);
    return f.first;
}

TEST(count_rule_steps_stay_within_budget)
{
    store *s = open_fresh();
    char room[16];
    CHECK(store_begin(s) == RC_OK);
    for (int r = 0; r < 30; r++) {
        snprintf(room, sizeof room, "room%02d", r);
        for (uint64_t q = 1; q <= 50; q++)
            put(s, room, q, 1000);
    }
    CHECK(store_commit(s) == RC_OK);
    retention *ret = NULL;
    CHECK(retention_new(s, &ret) == RC_OK);
    retention_start(ret, 10, 0);
    long total = 0, steps = 0, over = 0;
    while (retention_active(ret) && steps < 10000) {
        long n = -1;
        CHECK(retention_step(ret, 7, &n) == RC_OK);
        CHECK(store_commit(s) == RC_OK);
        if (n > 7)
            over++;
        total += n;
        steps++;
    }
    CHECK_EQ_INT(over, 0);
    CHECK_EQ_INT(total, 30 * 40);
    CHECK(steps >= 30 * 40 / 7);
    for (int r = 0; r < 30; r++) {
        snprintf(room, sizeof room, "room%02d", r);
        CHECK_EQ_INT(count(s, room), 10);
        CHECK_EQ_INT(first_seq(s, room), 41);
        uint64_t seq = 0;
        CHECK(store_room_seq(s, room, &seq) == RC_OK);
        CHECK_EQ_INT(seq, 50);
    }
    /* A pass that finds nothing to do ends. */
    retention_start(ret, 10, 0);
    steps = 0;
    while (retention_active(ret) && steps < 100) {
        long n = -1;
        CHECK(retention_step(ret, 7, &n) == RC_OK);
        CHECK_EQ_INT(n, 0);
        store_commit(s);
        steps++;
    }
    CHECK(!retention_active(ret));
    retention_free(ret);
    close_and_remove(s);
}

TEST(age_rule_steps_stay_within_budget_and_keep_the_counter)
{
    store *s = open_fresh();
    CHECK(store_begin(s) == RC_OK);
    for (uint64_t q = 1; q <= 200; q++)
        put(s, "old", q, 100 + (int64_t)q); /* ts 101..300 */
    for (uint64_t q = 1; q <= 5; q++)
        put(s, "new", q, 5000);
    CHECK(store_commit(s) == RC_OK);
    retention *ret = NULL;
    CHECK(retention_new(s, &ret) == RC_OK);
    retention_start(ret, 1000, 1000); /* everything before ts 1000 goes */
    long total = 0, steps = 0;
    while (retention_active(ret) && steps < 1000) {
        long n = -1;
        CHECK(retention_step(ret, 25, &n) == RC_OK);
        CHECK(n <= 25);
        total += n;
        CHECK(store_commit(s) == RC_OK);
        steps++;
    }
    CHECK_EQ_INT(total, 200);
    CHECK_EQ_INT(count(s, "old"), 0);
    CHECK_EQ_INT(count(s, "new"), 5);
    uint64_t seq = 0;
    CHECK(store_room_seq(s, "old", &seq) == RC_OK);
    CHECK_EQ_INT(seq, 200); /* the next message is 201, never a reused seq */
    retention_free(ret);
    close_and_remove(s);
}

TEST(steps_share_the_round_transaction_with_new_messages)
{
    store *s = open_fresh();
    retention *ret = NULL;
    CHECK(retention_new(s, &ret) == RC_OK);
    retention_start(ret, 3, 0);
    uint64_t q = 0;
    for (int round = 0; round < 40; round++) {
        CHECK(store_begin(s) == RC_OK);
        put(s, "r", ++q, 1000); /* the round's messages ... */
        put(s, "r", ++q, 1000);
        long n;
        if (!retention_active(ret))
            retention_start(ret, 3, 0);
        CHECK(retention_step(ret, 2, &n) == RC_OK); /* ... and a step */
        CHECK(n <= 2);
        CHECK(store_commit(s) == RC_OK);
    }
    long left = count(s, "r");
    CHECK(left >= 3 && left <= 3 + 4); /* kept up with 2 new per round */
    uint64_t seq = 0;
    CHECK(store_room_seq(s, "r", &seq) == RC_OK);
    CHECK_EQ_INT(seq, q);
    retention_free(ret);
    close_and_remove(s);
}

TEST(run_refuses_inside_a_transaction)
{
    store *s = open_fresh();
    CHECK(store_begin(s) == RC_OK);
    put(s, "r", 1, 1);
    CHECK(retention_run(s, 1, 0, 0) == RC_INTERNAL);
    CHECK(store_commit(s) == RC_OK);
    CHECK(retention_run(s, 1, 0, 0) == RC_OK);
    close_and_remove(s);
}

RUN_TESTS(retention)
