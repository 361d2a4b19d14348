/* test_records.c -- unit tests of gateway/gw_records.c: every encoder's
 * record reads back through the broker's decoder (wire_event_read) with
 * the same fields, and several records in one buffer read back in order
 * to the end (the register-again round queues them so). Single-threaded. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gw_records.h"
#include "wire.h"

/* Reads the one record of w; the whole buffer must be used. */
static wire_event_rec read_one(const wbuf *w)
{
    rbuf r;
    wire_event_rec rec;
    rbuf_init(&r, w->data, w->len);
    CHECK(!w->failed);
    CHECK(wire_event_read(&r, &rec));
    CHECK(!r.failed && r.left == 0);
    return rec;
}

TEST(open_close_auth_read_back)
{
    wbuf w = {0};
    record_open(&w, 7, "u-1");
    wire_event_rec rec = read_one(&w);
    CHECK(rec.type == EV_OPEN && rec.conn_id == 7);
    CHECK_STR(rec.uid, "u-1");
    wbuf_reset(&w);
    record_close(&w, 8);
    rec = read_one(&w);
    CHECK(rec.type == EV_CLOSE && rec.conn_id == 8);
    wbuf_reset(&w);
    record_auth(&w, 9, "tok.en.x", 5, true, "a1");
    rec = read_one(&w);
    CHECK(rec.type == EV_AUTH && rec.conn_id == 9 && rec.quiet);
    CHECK(rec.text_len == 5 && memcmp(rec.text, "tok.e", 5) == 0);
    CHECK_STR(rec.id, "a1");
    wbuf_reset(&w);
    record_auth(&w, 9, "t", 1, false, NULL); /* NULL id goes as "" */
    rec = read_one(&w);
    CHECK(!rec.quiet);
    CHECK_STR(rec.id, "");
    wbuf_free(&w);
}

TEST(room_events_read_back)
{
    wbuf w = {0};
    record_enter(&w, 1, "lobby", "", "Alice!", 5, -1, "e1");
    wire_event_rec rec = read_one(&w);
    CHECK(rec.type == EV_ENTER && rec.conn_id == 1 && rec.since == -1);
    CHECK_STR(rec.room, "lobby");
    CHECK_STR(rec.uid, "");
    CHECK_STR(rec.name, "Alice");
    CHECK_STR(rec.id, "e1");
    wbuf_reset(&w);
    record_message(&w, 2, "lobby", "hi there", 2, "m1xyz", 2);
    rec = read_one(&w);
    CHECK(rec.type == EV_MESSAGE && rec.text_len == 2);
    CHECK(memcmp(rec.text, "hi", 2) == 0);
    CHECK_STR(rec.id, "m1");
    wbuf_reset(&w);
    record_room(&w, EV_WHO, 3, "r", "w1");
    rec = read_one(&w);
    CHECK(rec.type == EV_WHO && rec.conn_id == 3);
    CHECK_STR(rec.room, "r");
    CHECK_STR(rec.id, "w1");
    wbuf_reset(&w);
    record_history(&w, 4, "r", 17, 50, "");
    rec = read_one(&w);
    CHECK(rec.type == EV_HISTORY && rec.before == 17 && rec.limit == 50);
    wbuf_reset(&w);
    record_delete(&w, 5, "r", 42, "d1");
    rec = read_one(&w);
    CHECK(rec.type == EV_DELETE && rec.seq == 42);
    CHECK_STR(rec.id, "d1");
    wbuf_free(&w);
}

TEST(register_again_round_reads_back_in_order)
{
    wbuf w = {0};
    record_open(&w, 11, "bob");
    record_auth(&w, 11, "tok", 3, true, "");
    record_resume(&w, 11, "lobby", "bob", "Bob", 99);
    rbuf r;
    wire_event_rec rec;
    rbuf_init(&r, w.data, w.len);
    CHECK(wire_event_read(&r, &rec) && rec.type == EV_OPEN);
    CHECK(wire_event_read(&r, &rec) && rec.type == EV_AUTH && rec.quiet);
    CHECK(wire_event_read(&r, &rec) && rec.type == EV_RESUME);
    CHECK(rec.conn_id == 11 && rec.since == 99);
    CHECK_STR(rec.room, "lobby");
    CHECK_STR(rec.name, "Bob");
    CHECK(!r.failed && r.left == 0);
    wbuf_free(&w);
}

RUN_TESTS(records)
