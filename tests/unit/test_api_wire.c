/* test_api_wire.c -- unit tests of the server API's records in
 * common/wire.c: EV_API written by wire_api_write and read back by
 * wire_event_read field for field (a binary payload holding NUL too), and
 * EV_DELETE; every truncation of an EV_API record is refused. */
#include <string.h>

#include "check.h"
#include "wire.h"

static void api_rec(wire_event_rec *in)
{
    memset(in, 0, sizeof *in);
    in->conn_id = 0x1122334455667788ull;
    in->op = API_PUBLISH;
    in->room = "lobby";
    in->uid = "bot";
    in->name = "Bot";
    in->id = "m-1";
    in->data = "bi\0nary";
    in->data_len = 7;
    in->binary = true;
    in->mime = "image/png";
    in->filename = "a.png";
    in->prefix = "lo";
    in->after = "alice";
    in->before = -1;
    in->limit = 1000;
    in->seq = 42;
}

TEST(api_record_round_trip)
{
    wire_event_rec in, out;
    api_rec(&in);
    wbuf w = {0};
    wire_api_write(&w, &in);
    CHECK(!w.failed);
    rbuf r;
    rbuf_init(&r, w.data, w.len);
    CHECK(wire_event_read(&r, &out));
    CHECK_EQ_INT(out.type, EV_API);
    CHECK(out.conn_id == in.conn_id);
    CHECK_EQ_INT(out.op, API_PUBLISH);
    CHECK_STR(out.room, "lobby");
    CHECK_STR(out.uid, "bot");
    CHECK_STR(out.name, "Bot");
    CHECK_STR(out.id, "m-1");
    CHECK(out.data_len == 7 && memcmp(out.data, "bi\0nary", 7) == 0);
    CHECK(out.text_len == 0);
    CHECK(out.binary);
    CHECK_STR(out.mime, "image/png");
    CHECK_STR(out.filename, "a.png");
    CHECK_STR(out.prefix, "lo");
    CHECK_STR(out.after, "alice");
    CHECK(out.before == -1 && out.limit == 1000 && out.seq == 42);
    CHECK_EQ_INT(r.left, 0);
    wbuf_free(&w);
}

TEST(api_record_truncated_is_refused)
{
    wire_event_rec in, out;
    api_rec(&in);
    wbuf w = {0};
    wire_api_write(&w, &in);
    for (size_t n = 0; n < w.len; n++) {
        rbuf r;
        rbuf_init(&r, w.data, n);
        CHECK(!wire_event_read(&r, &out));
    }
    wbuf_free(&w);
}

TEST(delete_record)
{
    wbuf w = {0};
    wbuf_u8(&w, EV_DELETE);
    wbuf_u64(&w, 9);
    wbuf_cstr(&w, "lobby");
    wbuf_u64(&w, 3);
    wbuf_cstr(&w, "d-1");
    rbuf r;
    wire_event_rec out;
    rbuf_init(&r, w.data, w.len);
    CHECK(wire_event_read(&r, &out));
    CHECK_EQ_INT(out.type, EV_DELETE);
    CHECK(out.conn_id == 9 && out.seq == 3);
    CHECK_STR(out.room, "lobby");
    CHECK_STR(out.id, "d-1");
    wbuf_free(&w);
}


TEST(api_text_record_keeps_text)
{
    wire_event_rec in, out;
    api_rec(&in);
    in.binary = false;
    in.text = "hello";
    in.text_len = 5;
    wbuf w = {0};
    wire_api_write(&w, &in);
    rbuf r;
    rbuf_init(&r, w.data, w.len);
    CHECK(wire_event_read(&r, &out));
    CHECK(!out.binary);
    CHECK(out.text_len == 5 && memcmp(out.text, "hello", 5) == 0);
    CHECK_EQ_INT(out.data_len, 0);
    wbuf_free(&w);
}

RUN_TESTS(api_wire)
