/* test_history.c -- unit tests of binary messages in the broker's storage
 * (broker/bk_store.c: the BLOB columns, and their migration into a database
 * made before them) and of broker/bk_history.c (the history answer with
 * base64 `data`, kept under its byte budget with `more`), against a real
 * SQLite file in a fresh temporary directory. Single-threaded. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_history.h"
#include "bk_render.h"
#include "bk_store.h"
#include "check.h"
#include "dbtest.h"
#include "json.h"

static char tmp_dir[256];
static char db_path[320];

static store *setup(void)
{
    dbtest_mkdtemp(tmp_dir, sizeof tmp_dir, "history");
    snprintf(db_path, sizeof db_path, "%s/roomcast.db", tmp_dir);
    return dbtest_open(db_path);
}

static void cleanup(store *s)
{
    store_close(s);
    dbtest_remove(tmp_dir);
}

static void put_text(store *s, uint64_t seq, const char *text)
{
    stored_msg m = {.room = "r", .seq = seq, .uid = "u", .name = "U",
                    .text = text, .text_len = strlen(text), .ts = 1000};
    if (store_append(s, &m) != RC_OK)
        exit(2);
}

static void put_binary(store *s, uint64_t seq, const void *data, size_t n,
                       const char *filename)
{
    stored_msg m = {.room = "r", .seq = seq, .uid = "u", .name = "U",
                    .text = "", .ts = 1000, .type = "image/png",
                    .data = data, .size = n, .filename = filename};
    if (store_append(s, &m) != RC_OK)
        exit(2);
}

typedef struct got {
    int n;
    uint64_t seq[16];
    bool binary[16];
    size_t size[16];
    unsigned char first[16];
    char filename[16][32];
} got;

static void collect(void *arg, const stored_msg *m)
{
    got *g = arg;
    if (g->n == 16)
        return;
    g->seq[g->n] = m->seq;
    g->binary[g->n] = render_is_binary(m);
    g->size[g->n] = m->size;
    g->first[g->n] = m->data ? ((const unsigned char *)m->data)[0] : 0;
    snprintf(g->filename[g->n], 32, "%s", m->filename ? m->filename : "");
    g->n++;
}

TEST(binary_round_trips_among_text)
{
    store *s = setup();
    unsigned char blob[3000];
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (unsigned char)(i * 7);
    blob[0] = 0;
    put_text(s, 1, "one");
    put_binary(s, 2, blob, sizeof blob, "a.png");
    put_text(s, 3, "three");
    put_binary(s, 4, "\xff", 1, NULL);
    got g = {0};
    CHECK_EQ_INT(store_after(s, "r", 0, 10, collect, &g), RC_OK);
    CHECK_EQ_INT(g.n, 4);
    CHECK(!g.binary[0] && g.binary[1] && !g.binary[2] && g.binary[3]);
    CHECK_EQ_INT(g.size[1], sizeof blob);
    CHECK_STR(g.filename[1], "a.png");
    CHECK_STR(g.filename[3], "");
    CHECK_EQ_INT(g.first[3], 0xff);
    cleanup(s);
}

TEST(old_database_gets_the_new_columns)
{
    dbtest_mkdtemp(tmp_dir, sizeof tmp_dir, "history");
    snprintf(db_path, sizeof db_path, "%s/old.db", tmp_dir);
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open(db_path, &db), SQLITE_OK);
    /* The schema of the first brokers, with a row in it. */
    CHECK_EQ_INT(sqlite3_exec(db,
        "CREATE TABLE messages(room TEXT NOT NULL, seq INTEGER NOT NULL, uid "
        "TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, cid TEXT, ts "
        "INTEGER NOT NULL, PRIMARY KEY(room,seq)) WITHOUT ROWID;"
        "INSERT INTO messages VALUES('r',1,'u','U','old',NULL,5);",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store *s = NULL;
    CHECK_EQ_INT(store_open(db_path, false, &s), RC_OK);
    if (s == NULL)
        return;
    put_binary(s, 2, "zz", 2, "f");
    got g = {0};
    CHECK_EQ_INT(store_after(s, "r", 0, 10, collect, &g), RC_OK);
    CHECK_EQ_INT(g.n, 2);
    CHECK(!g.binary[0] && g.binary[1]);
    store_close(s);
    /* Opening again migrates nothing twice. */
    CHECK_EQ_INT(store_open(db_path, false, &s), RC_OK);
    cleanup(s);
}

/* Renders history and parses it back. */
static json_object *history(store *s, uint64_t before, long limit,
                            size_t budget, size_t *len)
{
    wbuf w = {0};
    CHECK_EQ_INT(history_render(s, "r", before, limit, budget, &w), RC_OK);
    *len = w.len;
    json_object *o = NULL;
    CHECK_EQ_INT(json_parse_strict(w.data, w.len, &o), RC_OK);
    wbuf_free(&w);
    return o;
}

static const char *str_of(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
                                                 : NULL;
}

static int64_t int_of(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v)
                                                 : -1;
}

TEST(history_has_base64_data_for_binary)
{
    store *s = setup();
    put_text(s, 1, "hi");
    put_binary(s, 2, "\x00\xfb\xff", 3, "x.bin");
    put_binary(s, 3, "abcd", 4, NULL);
    size_t len;
    json_object *o = history(s, UINT64_MAX >> 1, 50, 1 << 20, &len);
    CHECK_STR(str_of(o, "event"), "history");
    json_object *msgs, *more;
    CHECK(json_object_object_get_ex(o, "messages", &msgs));
    CHECK(json_object_object_get_ex(o, "more", &more));
    CHECK(!json_object_get_boolean(more));
    CHECK_EQ_INT(json_object_array_length(msgs), 3);
    json_object *m1 = json_object_array_get_idx(msgs, 0);
    json_object *m2 = json_object_array_get_idx(msgs, 1);
    json_object *m3 = json_object_array_get_idx(msgs, 2);
    CHECK_STR(str_of(m1, "message"), "hi");
    CHECK(str_of(m2, "message") == NULL);
    CHECK_STR(str_of(m2, "data"), "APv/");
    CHECK_STR(str_of(m2, "type"), "image/png");
    CHECK_STR(str_of(m2, "filename"), "x.bin");
    CHECK_EQ_INT(int_of(m2, "size"), 3);
    CHECK_EQ_INT(int_of(m2, "seq"), 2);
    CHECK_STR(str_of(m3, "data"), "YWJjZA==");
    CHECK(str_of(m3, "filename") == NULL);
    json_object_put(o);
    cleanup(s);
}

TEST(history_stops_under_the_budget_newest_kept)
{
    store *s = setup();
    static unsigned char blob[30000];
    memset(blob, 'q', sizeof blob);
    for (uint64_t seq = 1; seq <= 10; seq++)
        put_binary(s, seq, blob, sizeof blob, NULL);
    /* Each item is about 40,000 bytes of base64: a 100,000-byte budget
     * holds two. */
    size_t len;
    json_object *o = history(s, UINT64_MAX >> 1, 50, 100000, &len);
    CHECK(len <= 100000);
    json_object *msgs, *more;
    CHECK(json_object_object_get_ex(o, "messages", &msgs));
    CHECK(json_object_object_get_ex(o, "more", &more));
    CHECK_EQ_INT(json_object_array_length(msgs), 2);
    CHECK_EQ_INT(int_of(json_object_array_get_idx(msgs, 0), "seq"), 9);
    CHECK_EQ_INT(int_of(json_object_array_get_idx(msgs, 1), "seq"), 10);
    CHECK(json_object_get_boolean(more));
    json_object_put(o);
    /* Paging on from the oldest one given, to the start. */
    o = history(s, 3, 50, 100000, &len);
    CHECK(json_object_object_get_ex(o, "messages", &msgs));
    CHECK(json_object_object_get_ex(o, "more", &more));
    CHECK_EQ_INT(json_object_array_length(msgs), 2);
    CHECK_EQ_INT(int_of(json_object_array_get_idx(msgs, 0), "seq"), 1);
    CHECK(!json_object_get_boolean(more));
    json_object_put(o);
    /* Nothing before seq 1. */
    o = history(s, 1, 50, 100000, &len);
    CHECK(json_object_object_get_ex(o, "messages", &msgs));
    CHECK_EQ_INT(json_object_array_length(msgs), 0);
    CHECK(json_object_object_get_ex(o, "more", &more));
    CHECK(!json_object_get_boolean(more));
    json_object_put(o);
    cleanup(s);
}

TEST(history_limit_still_applies)
{
    store *s = setup();
    for (uint64_t seq = 1; seq <= 5; seq++)
        put_text(s, seq, "t");
    size_t len;
    json_object *o = history(s, UINT64_MAX >> 1, 2, 1 << 20, &len);
    json_object *msgs, *more;
    CHECK(json_object_object_get_ex(o, "messages", &msgs));
    CHECK(json_object_object_get_ex(o, "more", &more));
    CHECK_EQ_INT(json_object_array_length(msgs), 2);
    CHECK_EQ_INT(int_of(json_object_array_get_idx(msgs, 0), "seq"), 4);
    CHECK(json_object_get_boolean(more));
    json_object_put(o);
    cleanup(s);
}

TEST(render_binary_layout)
{
    stored_msg m = {.room = "r", .seq = 7, .uid = "u", .name = "N\"",
                    .text = "", .cid = "c1", .ts = 99, .type = "a/b",
                    .data = "\x01\x02", .size = 2, .filename = "f.txt"};
    wbuf w = {0};
    render_binary(&w, &m, true);
    CHECK(!w.failed && w.len > 6);
    size_t n = (size_t)(unsigned char)w.data[0] << 24 |
               (size_t)(unsigned char)w.data[1] << 16 |
               (size_t)(unsigned char)w.data[2] << 8 |
               (unsigned char)w.data[3];
    CHECK_EQ_INT(4 + n + 2, w.len);
    CHECK(memcmp(w.data + w.len - 2, "\x01\x02", 2) == 0);
    json_object *o = NULL;
    CHECK_EQ_INT(json_parse_strict(w.data + 4, n, &o), RC_OK);
    CHECK_STR(str_of(o, "event"), "message");
    CHECK_STR(str_of(o, "name"), "N\"");
    CHECK_STR(str_of(o, "type"), "a/b");
    CHECK_STR(str_of(o, "filename"), "f.txt");
    CHECK_STR(str_of(o, "id"), "c1");
    CHECK_EQ_INT(int_of(o, "size"), 2);
    CHECK_EQ_INT(int_of(o, "seq"), 7);
    CHECK_EQ_INT(int_of(o, "ts"), 99);
    CHECK(str_of(o, "message") == NULL);
    json_object *replay;
    CHECK(json_object_object_get_ex(o, "replay", &replay) &&
          json_object_get_boolean(replay));
    json_object_put(o);
    wbuf_free(&w);
}

RUN_TESTS(history)
