/* test_store_replicate.c -- unit tests of the replicated broker's seam in
 * broker/bk_store.c (store_set_replicate): a round's writes leave as one
 * SQLite changeset and are rolled back locally; the changeset written into
 * another member's database (as bk_raft.c's Raft thread does) gives the
 * same rows and seq there; a round the hook refuses is not stored, does not
 * mark storage down, and the next round works. Real SQLite files in a
 * fresh temporary directory. Single-threaded. */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bk_store.h"
#include "check.h"
#include "dbtest.h"

static char tmp_dir[256];

static store *open_at(const char *name)
{
    if (tmp_dir[0] == '\0') {
        snprintf(tmp_dir, sizeof tmp_dir, "/tmp/roomcast-repl-XXXXXX");
        if (mkdtemp(tmp_dir) == NULL)
            exit(2);
    }
    char path[400];
    snprintf(path, sizeof path, "%s/%s.db", tmp_dir, name);
    store *s = NULL;
    if (store_open(path, false, &s) != RC_OK)
        exit(2);
    return s;
}

/* The hook: keeps the last changeset; answers `answer`. */
static struct {
    void *data;
    size_t len;
    int calls;
    rc answer;
} H;

static rc hook(void *arg, const void *changes, size_t len)
{
    (void)arg;
    free(H.data);
    H.data = malloc(len);
    memcpy(H.data, changes, len);
    H.len = len;
    H.calls++;
    return H.answer;
}

static rc put(store *s, uint64_t seq, const char *text)
{
    stored_msg m = {.room = "r", .seq = seq, .uid = "u", .name = "N",
                    .text = text, .text_len = strlen(text), .cid = "c1",
                    .ts = 1000 + (int64_t)seq};
    rc r = store_begin(s);
    return r == RC_OK ? store_append(s, &m) : r;
}

static int count(void *arg, const stored_msg *m)
{
    (void)m;
    return ++*(int *)arg;
}

static void count_row(void *arg, const stored_msg *m)
{
    count(arg, m);
}

static int rows_in(store *s)
{
    int n = 0;
    CHECK(store_after(s, "r", 0, 100, count_row, &n) == RC_OK);
    return n;
}

static void apply_to(store *s)
{
    CHECK(sqlite3changeset_apply(store_sqlite(s), (int)H.len, H.data, NULL,
                                 NULL, NULL) == SQLITE_OK);
}

TEST(a_round_leaves_as_one_changeset_and_applies_alike)
{
    store *leader = open_at("leader"), *follower = open_at("follower");
    store_set_replicate(leader, hook, NULL);
    H.answer = RC_OK;
    H.calls = 0;
    CHECK(put(leader, 1, "one") == RC_OK);
    CHECK(put(leader, 2, "two") == RC_OK);
    CHECK(store_commit(leader) == RC_OK);
    CHECK_EQ_INT(H.calls, 1); /* one entry per round */
    CHECK(H.len > 0);
    CHECK_EQ_INT(rows_in(leader), 0); /* rolled back: the entry writes it */
    apply_to(leader);
    apply_to(follower);
    CHECK_EQ_INT(rows_in(leader), 2);
    CHECK_EQ_INT(rows_in(follower), 2);
    uint64_t a = 0, b = 0;
    CHECK(store_room_seq(leader, "r", &a) == RC_OK);
    CHECK(store_room_seq(follower, "r", &b) == RC_OK);
    CHECK_EQ_INT(a, 2);
    CHECK_EQ_INT(b, 2);
    /* A round that writes nothing replicates nothing. */
    CHECK(store_begin(leader) == RC_OK);
    CHECK(store_commit(leader) == RC_OK);
    CHECK_EQ_INT(H.calls, 1);
    store_close(leader);
    store_close(follower);
}

TEST(a_round_without_a_majority_is_not_stored_and_storage_stays_up)
{
    store *s = open_at("refused");
    store_set_replicate(s, hook, NULL);
    H.answer = RC_UNAVAILABLE;
    CHECK(put(s, 1, "lost") == RC_OK);
    CHECK_EQ_INT(store_commit(s), RC_UNAVAILABLE);
    CHECK(store_ok(s));
    CHECK_EQ_INT(rows_in(s), 0);
    H.answer = RC_OK;
    CHECK(put(s, 1, "again") == RC_OK);
    CHECK(store_commit(s) == RC_OK);
    apply_to(s);
    CHECK_EQ_INT(rows_in(s), 1);
    store_close(s);
    free(H.data);
    H.data = NULL;
    dbtest_remove(tmp_dir);
}

RUN_TESTS(store_replicate)
