/* test_hooks.c -- unit tests of broker/bk_hooks.c: the X-Roomcast-Signature
 * value against RFC 4231's HMAC-SHA256 test vectors; the outbox with the
 * sender running against a port nobody listens on (so nothing is ever
 * acknowledged): kinds outside webhook_events are not written, a text that
 * is not an object is refused, rows are in the store's transaction (gone
 * without a commit), webhook_max_pending drops the oldest; hook ids go on
 * across restarts while events wait and get a new prefix once the outbox
 * was empty; hooks that are off write nothing; NULL is accepted everywhere. Main thread, plus the
 * sender thread hooks_open starts. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_hooks.h"
#include "bk_store.h"
#include "check.h"
#include "config.h"
#include "dbtest.h"

static char tmp_dir[256];
static char db_path[320];

static void tmp_setup(void)
{
    dbtest_mkdtemp(tmp_dir, sizeof tmp_dir, "hooks");
    snprintf(db_path, sizeof db_path, "%s/roomcast.db", tmp_dir);
}

static void tmp_cleanup(void)
{
    dbtest_remove(tmp_dir);
}

static void sig_is(const char *key, size_t key_len, const char *data,
                   const char *hex)
{
    char out[HOOKS_SIGNATURE_LEN + 1];
    char want[HOOKS_SIGNATURE_LEN + 1];
    snprintf(want, sizeof want, "sha256=%s", hex);
    CHECK_EQ_INT(hooks_sign(key, key_len, data, strlen(data), out), RC_OK);
    CHECK_STR(out, want);
}

TEST(signature_rfc4231)
{
    char key[131];
    /* Test case 1: a 20-byte key of 0x0b. */
    memset(key, 0x0b, 20);
    sig_is(key, 20, "Hi There",
           "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* Test case 2: a key shorter than the hash. */
    sig_is("Jefe", 4, "what do ya want for nothing?",
           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 6: a key larger than the block size. */
    memset(key, 0xaa, 131);
    sig_is(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
           "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(signature_empty_key)
{
    /* An empty webhook_secret still signs (with the empty key), as
     * `openssl dgst -sha256 -hmac ''` does. */
    sig_is("", 0, "{\"events\":[]}",
           "1d4bb05748163f0d436bb86d78f5cf6acf5e88beeef39d675fcded7e525785c3");
}

/* Rows in the outbox as seen by another connection: committed ones only. */
static long committed_rows(const char *where)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long n = -1;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM webhook_outbox %s",
             where);
    if (sqlite3_open(db_path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static const char EV[] = "{\"event\":\"message\",\"room\":\"r\"}";

TEST(outbox_filter_transaction_and_bound)
{
    tmp_setup();
    config cfg;
    config_defaults(&cfg);
    snprintf(cfg.db, sizeof cfg.db, "%s", db_path);
    snprintf(cfg.webhook_url, sizeof cfg.webhook_url,
             "http://127.0.0.1:1/never");
    snprintf(cfg.webhook_events, sizeof cfg.webhook_events,
             "message, leave");
    cfg.webhook_max_pending = 3;
    store *st = NULL;
    hooks *h = NULL;
    CHECK_EQ_INT(store_open(db_path, false, &st), RC_OK);
    CHECK_EQ_INT(hooks_open(&cfg, st, &h), RC_OK);
    if (h == NULL) {
        store_close(st);
        tmp_cleanup();
        return;
    }
    CHECK_EQ_INT(hooks_add(h, "r", "message", EV, strlen(EV)), RC_OK);
    CHECK_EQ_INT(hooks_add(h, "r", "enter", EV, strlen(EV)), RC_OK);
    CHECK_EQ_INT(hooks_add(h, "r", "bogus", EV, strlen(EV)), RC_OK);
    CHECK_EQ_INT(hooks_add(h, "r", "leave", "not json", 8), RC_BAD_REQUEST);
    CHECK_EQ_INT(hooks_add(h, "r", "leave", "{", 1), RC_BAD_REQUEST);
    CHECK_EQ_INT(committed_rows(""), 0); /* not committed yet */
    hooks_round(h);
    CHECK_EQ_INT(store_commit(st), RC_OK);
    hooks_committed(h, NULL, 0);
    CHECK_EQ_INT(committed_rows(""), 1);
    CHECK_EQ_INT(committed_rows("WHERE kind='enter'"), 0);

    /* Five more: past the bound of 3, the oldest three go. */
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(hooks_add(h, "r", i % 2 ? "leave" : "message", EV,
                               strlen(EV)), RC_OK);
    hooks_round(h);
    CHECK_EQ_INT(store_commit(st), RC_OK);
    CHECK_EQ_INT(committed_rows(""), 3);
    CHECK_EQ_INT(committed_rows("WHERE id >= 4"), 3); /* the newest */

    /* A round that is not committed leaves nothing behind. */
    CHECK_EQ_INT(hooks_add(h, "r", "message", EV, strlen(EV)), RC_OK);
    hooks_close(h); /* stops the sender, which never got a 2xx */
    store_close(st); /* rolls the open transaction back */
    CHECK_EQ_INT(committed_rows(""), 3);
    tmp_cleanup();
}

/* The hook_id prefix stored in webhook_meta, into out. */
static void meta_instance(char *out, size_t size)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_open(db_path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT instance FROM webhook_meta", -1, &st,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(out, size, "%s", sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

static void run_sql(const char *sql)
{
    sqlite3 *db;
    if (sqlite3_open(db_path, &db) == SQLITE_OK)
        CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Opens hooks on a fresh store, adds n events, commits, closes both. */
static void add_events(config *cfg, int n)
{
    store *st = NULL;
    hooks *h = NULL;
    CHECK_EQ_INT(store_open(db_path, false, &st), RC_OK);
    CHECK_EQ_INT(hooks_open(cfg, st, &h), RC_OK);
    for (int i = 0; i < n; i++)
        CHECK_EQ_INT(hooks_add(h, "r", "message", EV, strlen(EV)), RC_OK);
    hooks_round(h);
    CHECK_EQ_INT(store_commit(st), RC_OK);
    hooks_close(h);
    store_close(st);
}

TEST(hook_ids_never_repeat_across_restarts)
{
    tmp_setup();
    config cfg;
    config_defaults(&cfg);
    snprintf(cfg.db, sizeof cfg.db, "%s", db_path);
    snprintf(cfg.webhook_url, sizeof cfg.webhook_url,
             "http://127.0.0.1:1/never");
    char first[64], again[64], fresh[64];
    add_events(&cfg, 2);
    meta_instance(first, sizeof first);
    CHECK_EQ_INT(strlen(first), 16);
    /* Events wait: same prefix, ids go on from the newest. */
    add_events(&cfg, 1);
    meta_instance(again, sizeof again);
    CHECK_STR(again, first);
    CHECK_EQ_INT(committed_rows("WHERE id = 3"), 1);
    /* Everything delivered (the outbox empty): numbering starts again, so
     * the prefix changes. */
    run_sql("DELETE FROM webhook_outbox");
    add_events(&cfg, 1);
    meta_instance(fresh, sizeof fresh);
    CHECK_EQ_INT(strlen(fresh), 16);
    CHECK(strcmp(fresh, first) != 0);
    CHECK_EQ_INT(committed_rows("WHERE id = 1"), 1);
    tmp_cleanup();
}

TEST(outbox_off_writes_nothing)
{
    tmp_setup();
    config cfg;
    config_defaults(&cfg);
    snprintf(cfg.db, sizeof cfg.db, "%s", db_path);
    store *st = NULL;
    hooks *h = NULL;
    CHECK_EQ_INT(store_open(db_path, false, &st), RC_OK);
    CHECK_EQ_INT(hooks_open(&cfg, st, &h), RC_OK);
    CHECK_EQ_INT(hooks_add(h, "r", "message", EV, strlen(EV)), RC_OK);
    hooks_round(h);
    CHECK_EQ_INT(store_commit(st), RC_OK);
    hooks_committed(h, NULL, 0);
    CHECK_EQ_INT(committed_rows(""), 0);
    hooks_close(h);
    store_close(st);
    /* NULL everywhere. */
    CHECK_EQ_INT(hooks_add(NULL, "r", "message", EV, strlen(EV)), RC_OK);
    hooks_round(NULL);
    hooks_committed(NULL, NULL, 0);
    hooks_close(NULL);
    tmp_cleanup();
}

RUN_TESTS(hooks)
