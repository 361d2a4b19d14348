/* test_oom_frame.c -- allocation failures in gateway/gw_frame.c (oom.h):
 * reassembling a fragmented text message, with each allocation failing,
 * ends in FA_FAIL with 1009 (the connection is closed as for a message too
 * big) and the message out-params untouched, else the whole message; an
 * unfragmented frame allocates nothing. Single-threaded. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gw_frame.h"
#include "oom.h"
#include "protocol.h"

static char sentinel_;
#define SENTINEL ((void *)&sentinel_)

/* --- frame reassembly ------------------------------------------------- */

static char frag[3][20000];
static const size_t frag_len[3] = {300, 5000, 20000};

static void attempt_frame_reassembly(void)
{
    frame_in fi;
    frame_in_init(&fi, 1 << 20);
    static const int bits[3] = {0x01, 0x00, 0x80}; /* text, cont, cont+FIN */
    enum frame_action a = FA_NONE;
    const char *msg = SENTINEL;
    size_t msg_len = 12345;
    uint16_t code = 0;
    int i;
    oom_on();
    for (i = 0; i < 3; i++) {
        a = frame_in_feed(&fi, bits[i], frag[i], frag_len[i], &msg, &msg_len,
                          &code);
        if (a == FA_FAIL)
            break;
    }
    oom_off();
    if (oom.failed > 0) {
        /* Out of memory closes the connection as too big; the message
         * out-params are untouched. */
        CHECK(a == FA_FAIL && code == CLOSE_TOO_BIG);
        CHECK(msg == SENTINEL && msg_len == 12345);
    } else {
        CHECK(a == FA_TEXT);
        CHECK(msg_len == frag_len[0] + frag_len[1] + frag_len[2]);
        CHECK(msg_len == 25300 && memcmp(msg, frag[0], 300) == 0 &&
              memcmp(msg + 300, frag[1], 5000) == 0 &&
              memcmp(msg + 5300, frag[2], 20000) == 0);
    }
    frame_in_free(&fi);
}

TEST(frame_reassembly_fails_cleanly)
{
    for (int i = 0; i < 3; i++)
        memset(frag[i], 'a' + i, sizeof frag[i]);
    oom_each("frame_in_feed (three fragments)", attempt_frame_reassembly);
}

TEST(unfragmented_frame_allocates_nothing)
{
    frame_in fi;
    frame_in_init(&fi, 1 << 20);
    const char *msg = NULL;
    size_t len = 0;
    uint16_t code = 0;
    oom_n = 0;
    oom_persistent = true;
    oom_on();
    enum frame_action a = frame_in_feed(&fi, 0x81, "hello", 5, &msg, &len,
                                        &code);
    oom_off();
    CHECK(a == FA_TEXT && len == 5 && memcmp(msg, "hello", 5) == 0);
    CHECK_EQ_INT(oom.seen, 0);
    frame_in_free(&fi);
}

RUN_TESTS(oom_frame)
