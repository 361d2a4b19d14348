/* test_oom_wire.c -- allocation failures in the wire envelope (oom.h):
 * encoding an events message into a wbuf that has to grow, with each of
 * its allocations failing, always ends with `failed` set and nothing
 * leaked, else with the exact bytes; decoding allocates nothing at all.
 * Single-threaded. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "oom.h"
#include "wire.h"

/* --- wire ------------------------------------------------------------- */

static char big[6000]; /* a message text that makes the buffer grow */

static void encode_events(wbuf *w)
{
    wbuf_header(w, WIRE_EVENTS);
    wbuf_cstr(w, "gw-a");
    wbuf_u64(w, 7);
    wbuf_u64(w, 9);
    wbuf_u8(w, EV_ENTER);
    wbuf_u64(w, 42);
    wbuf_cstr(w, "lobby");
    wbuf_cstr(w, "alice");
    wbuf_cstr(w, "Alice");
    wbuf_i64(w, -1);
    wbuf_cstr(w, "");
    wbuf_u8(w, EV_MESSAGE);
    wbuf_u64(w, 42);
    wbuf_cstr(w, "lobby");
    wbuf_str(w, big, sizeof big);
    wbuf_cstr(w, "m1");
}

static wbuf wire_ref;

static void attempt_wire_encode(void)
{
    wbuf w = {0};
    oom_on();
    encode_events(&w);
    oom_off();
    if (oom.failed > 0) {
        CHECK(w.failed); /* the one flag the caller checks */
    } else {
        CHECK(!w.failed);
        CHECK(w.len == wire_ref.len &&
              memcmp(w.data, wire_ref.data, w.len) == 0);
    }
    wbuf_free(&w);
}

TEST(wire_encode_fails_cleanly)
{
    memset(big, 'x', sizeof big);
    encode_events(&wire_ref);
    CHECK(!wire_ref.failed);
    oom_each("wire encode", attempt_wire_encode);
}

TEST(wire_decode_allocates_nothing)
{
    oom_n = 0;
    oom_persistent = true;
    rbuf r;
    enum wire_kind kind = 0;
    wire_event_rec a, b;
    rbuf_init(&r, wire_ref.data, wire_ref.len);
    oom_on();
    rc hr = rbuf_header(&r, &kind);
    const char *gw = rbuf_str(&r, NULL);
    uint64_t inst = rbuf_u64(&r), epoch = rbuf_u64(&r);
    bool ok_a = wire_event_read(&r, &a), ok_b = wire_event_read(&r, &b);
    oom_off();
    CHECK_EQ_INT(oom.seen, 0);
    CHECK(hr == RC_OK && kind == WIRE_EVENTS);
    CHECK_STR(gw, "gw-a");
    CHECK(inst == 7 && epoch == 9);
    CHECK(ok_a && a.type == EV_ENTER && a.since == -1);
    CHECK_STR(a.uid, "alice");
    CHECK(ok_b && b.type == EV_MESSAGE && b.text_len == sizeof big);
    CHECK_STR(b.id, "m1");
    CHECK_EQ_INT(r.left, 0);
    wbuf_free(&wire_ref);
}

RUN_TESTS(oom_wire)
