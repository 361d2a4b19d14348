/* test_store_api.c -- unit tests of the storage the server API and message
 * deletion use (broker/bk_store.c): erasing a message keeps its row (seq,
 * uid, ts) with `deleted` set and no text, and the text is gone from the
 * database file (and its WAL, while the store is open); store_message_owner; members by page and count; the next
 * room with messages or members, by name, within a prefix; the `deleted`
 * column added to a database made before it existed. Single-threaded. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_store.h"
#include "check.h"
#include "dbtest.h"
#include "log.h"

static char tmp_dir[256];
static char db_path[320];

static void tmp_setup(void)
{
    dbtest_mkdtemp(tmp_dir, sizeof tmp_dir, "store-api");
    snprintf(db_path, sizeof db_path, "%s/roomcast.db", tmp_dir);
}

static void tmp_cleanup(void)
{
    dbtest_remove(tmp_dir);
}

static store *open_store(void)
{
    return dbtest_open(db_path);
}

static rc put(store *s, const char *room, uint64_t seq, const char *uid,
              const char *text)
{
    stored_msg m = {.room = room, .seq = seq, .uid = uid, .name = "N",
                    .text = text, .text_len = strlen(text), .ts = 1000};
    return store_append(s, &m);
}

typedef struct seen {
    int n;
    uint64_t seq[16];
    bool deleted[16];
    char text[16][64];
    char uid[16][16];
} seen;

static void collect(void *arg, const stored_msg *m)
{
    seen *s = arg;
    if (s->n == 16)
        return;
    s->seq[s->n] = m->seq;
    s->deleted[s->n] = m->deleted;
    snprintf(s->text[s->n], sizeof s->text[0], "%.*s", (int)m->text_len,
             m->text);
    snprintf(s->uid[s->n], sizeof s->uid[0], "%s", m->uid);
    s->n++;
}

/* Whether `needle` occurs anywhere in the file at path. */
static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = strlen(needle), cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    size_t r;
    bool found = false;
    while (!found && (r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        for (size_t i = 0; i + n <= len && !found; i++)
            found = memcmp(buf + i, needle, n) == 0;
        if (len > n) { /* keep the tail that may start a match */
            memmove(buf, buf + len - n, n);
            len = n;
        }
    }
    free(buf);
    fclose(f);
    return found;
}

TEST(erase_keeps_the_row_and_drops_the_text)
{
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    CHECK(put(s, "lobby", 1, "alice", "first words") == RC_OK);
    CHECK(put(s, "lobby", 2, "bob", "SECRET-TEXT-4711 to erase") == RC_OK);
    CHECK(put(s, "lobby", 3, "alice", "third") == RC_OK);
    CHECK(store_commit(s) == RC_OK);
    char uid[65];
    bool deleted = true, found = false;
    CHECK(store_message_owner(s, "lobby", 2, uid, sizeof uid, &deleted,
                              &found) == RC_OK);
    CHECK(found);
    CHECK(!deleted);
    CHECK_STR(uid, "bob");
    store_begin(s);
    CHECK(store_message_erase(s, "lobby", 2) == RC_OK);
    CHECK(store_commit(s) == RC_OK);
    CHECK(store_message_owner(s, "lobby", 2, uid, sizeof uid, &deleted,
                              &found) == RC_OK);
    CHECK(found && deleted);
    CHECK(store_message_owner(s, "lobby", 9, uid, sizeof uid, &deleted,
                              &found) == RC_OK);
    CHECK(!found);
    seen got = {0};
    CHECK(store_after(s, "lobby", 0, 10, collect, &got) == RC_OK);
    CHECK_EQ_INT(got.n, 3);
    CHECK(got.seq[1] == 2 && got.deleted[1]);
    CHECK_STR(got.text[1], "");
    CHECK_STR(got.uid[1], "bob");
    CHECK(!got.deleted[0] && !got.deleted[2]);
    CHECK_STR(got.text[2], "third");
    store_close(s); /* checkpoints the WAL into the file */
    char wal[400];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    CHECK(!file_has(db_path, "SECRET-TEXT-4711"));
    CHECK(!file_has(wal, "SECRET-TEXT-4711"));
    CHECK(file_has(db_path, "third")); /* the check can see text at all */
    tmp_cleanup();
}

TEST(erased_text_leaves_the_files_while_the_store_is_open)
{
    /* The checkpointer thread copies the WAL into the file and, after an
     * erase, empties the WAL: no copy of the text is left anywhere. */
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    CHECK(put(s, "lobby", 1, "bob", "LIVE-SECRET-9191") == RC_OK);
    CHECK(put(s, "lobby", 2, "bob", "stays") == RC_OK);
    CHECK(store_commit(s) == RC_OK);
    store_begin(s);
    CHECK(store_message_erase(s, "lobby", 1) == RC_OK);
    CHECK(store_commit(s) == RC_OK);
    char wal[400];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) { /* up to 5 s */
        usleep(50 * 1000);
        gone = !file_has(db_path, "LIVE-SECRET-9191") &&
               !file_has(wal, "LIVE-SECRET-9191") && file_has(db_path, "stays");
    }
    CHECK(gone);
    store_close(s);
    tmp_cleanup();
}

static int nmembers;
static char member_uids[8][16];

static void member_row(void *arg, const char *uid, const char *name,
                       uint64_t last_seen)
{
    (void)arg;
    (void)name;
    (void)last_seen;
    if (nmembers < 8)
        snprintf(member_uids[nmembers], 16, "%s", uid);
    nmembers++;
}

TEST(members_by_page_and_count)
{
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    const char *uids[] = {"dave", "alice", "carol", "bob"};
    for (int i = 0; i < 4; i++)
        store_member_put(s, "lobby", uids[i], "N", 0);
    store_member_put(s, "other", "zed", "N", 0);
    uint64_t n = 0;
    CHECK(store_member_count(s, "lobby", &n) == RC_OK);
    CHECK_EQ_INT(n, 4);
    CHECK(store_member_count(s, "empty", &n) == RC_OK);
    CHECK_EQ_INT(n, 0);
    nmembers = 0;
    CHECK(store_members_page(s, "lobby", "", 2, member_row, NULL) == RC_OK);
    CHECK_EQ_INT(nmembers, 2);
    CHECK_STR(member_uids[0], "alice");
    CHECK_STR(member_uids[1], "bob");
    nmembers = 0;
    CHECK(store_members_page(s, "lobby", "bob", 10, member_row, NULL) ==
          RC_OK);
    CHECK_EQ_INT(nmembers, 2);
    CHECK_STR(member_uids[0], "carol");
    CHECK_STR(member_uids[1], "dave");
    store_close(s);
    tmp_cleanup();
}

TEST(next_room_walks_messages_and_members_by_name)
{
    tmp_setup();
    store *s = open_store();
    store_begin(s);
    put(s, "b-room", 1, "u", "x");
    put(s, "b-room", 2, "u", "y");
    put(s, "d-room", 1, "u", "x");
    store_member_put(s, "a-room", "u", "N", 0);
    store_member_put(s, "c-room", "u", "N", 0);
    store_member_put(s, "d-room", "u", "N", 0);
    const char *want[] = {"a-room", "b-room", "c-room", "d-room"};
    char cur[65] = "", name[65];
    bool found;
    for (int i = 0; i < 4; i++) {
        CHECK(store_next_room(s, "", cur, name, sizeof name, &found) ==
              RC_OK);
        CHECK(found);
        CHECK_STR(name, want[i]);
        snprintf(cur, sizeof cur, "%s", name);
    }
    CHECK(store_next_room(s, "", cur, name, sizeof name, &found) == RC_OK);
    CHECK(!found);
    /* from a prefix: the first name at or after it */
    CHECK(store_next_room(s, "c", "", name, sizeof name, &found) == RC_OK);
    CHECK(found);
    CHECK_STR(name, "c-room");
    CHECK(store_next_room(s, "b-room", "", name, sizeof name, &found) ==
          RC_OK);
    CHECK_STR(name, "b-room");
    store_close(s);
    tmp_cleanup();
}

TEST(old_database_gets_the_deleted_column)
{
    tmp_setup();
    sqlite3 *db;
    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "CREATE TABLE messages(room TEXT NOT NULL, seq INTEGER"
                       " NOT NULL, uid TEXT NOT NULL, name TEXT NOT NULL, body"
                       " TEXT NOT NULL, cid TEXT, ts INTEGER NOT NULL, "
                       "PRIMARY KEY(room,seq)) WITHOUT ROWID;"
                       "INSERT INTO messages VALUES('r',1,'u','N','old',NULL,"
                       "5);",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    store *s = open_store();
    seen got = {0};
    CHECK(store_after(s, "r", 0, 10, collect, &got) == RC_OK);
    CHECK_EQ_INT(got.n, 1);
    CHECK(!got.deleted[0]);
    store_begin(s);
    CHECK(store_message_erase(s, "r", 1) == RC_OK);
    store_commit(s);
    got.n = 0;
    CHECK(store_after(s, "r", 0, 10, collect, &got) == RC_OK);
    CHECK(got.n == 1 && got.deleted[0]);
    store_close(s);
    s = open_store(); /* and opening again adds nothing twice */
    store_close(s);
    tmp_cleanup();
}

RUN_TESTS(store_api)
