/* test_frame.c -- unit tests of gateway/gw_frame.c, the RFC 6455 state
 * machine for client frames: unfragmented and fragmented data messages,
 * UTF-8 checked across fragments (1007), RSV bits, reserved opcodes, bad
 * control frames, stray continuations and nested starts (1002), the message
 * size cap (1009), close frame bodies and codes (RFC 6455 section 7.4), and
 * frame_header's three length forms. Single-threaded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gw_frame.h"

#define FIN 0x80
enum { CONT = 0, TEXT = 1, BIN = 2, CLOSE = 8, PING = 9, PONG = 10 };

/* The result of one frame_in_feed. */
typedef struct fed {
    enum frame_action a;
    const char *msg;
    size_t len;
    uint16_t code;
} fed;

static fed feed(frame_in *fi, int bits, const char *data, size_t len)
{
    fed f = {FA_NONE, NULL, 0, 0xbeef};
    /* Pass the payload in an exact-size heap block: ASan sees any read
     * beyond it. */
    char *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    f.a = frame_in_feed(fi, bits, copy, len, &f.msg, &f.len, &f.code);
    /* A message returned in place of the payload must be copied before the
     * payload goes; keep a copy that outlives it. */
    static char keep[1 << 17];
    if ((f.a == FA_TEXT || f.a == FA_BINARY) && f.len <= sizeof keep) {
        memcpy(keep, f.msg, f.len);
        f.msg = keep;
    }
    free(copy);
    return f;
}
/* feed() with a string literal (which may hold NUL). */
#define FEED(fi, bits, lit) feed(fi, bits, lit, sizeof lit - 1)

/* Whether f is a complete message of kind a with exactly the bytes lit. */
#define IS_MSG(f, a_, lit)                                                     \
    ((f).a == (a_) && (f).len == sizeof lit - 1 &&                             \
     memcmp((f).msg, lit, sizeof lit - 1) == 0)

/* Whether f failed the connection with close code c. */
#define IS_FAIL(f, c) ((f).a == FA_FAIL && (f).code == (c))

TEST(init_and_free)
{
    frame_in fi;
    frame_in_init(&fi, 100);
    CHECK_EQ_INT(fi.max, 100);
    CHECK_EQ_INT(fi.opcode, 0);
    frame_in_free(&fi);
    frame_in_free(NULL);
}

TEST(unfragmented_text_and_binary)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    fed f = FEED(&fi, FIN | TEXT, "{\"event\":\"who\"}");
    CHECK(IS_MSG(f, FA_TEXT, "{\"event\":\"who\"}"));
    f = FEED(&fi, FIN | TEXT, "h\xc3\xa9llo \xf0\x9f\x98\x80");
    CHECK(IS_MSG(f, FA_TEXT, "h\xc3\xa9llo \xf0\x9f\x98\x80"));
    f = FEED(&fi, FIN | TEXT, "");
    CHECK(IS_MSG(f, FA_TEXT, ""));
    f = FEED(&fi, FIN | TEXT, "nul\0ok"); /* U+0000 is valid UTF-8 */
    CHECK(IS_MSG(f, FA_TEXT, "nul\0ok"));
    /* Binary is not UTF-8 checked. */
    f = FEED(&fi, FIN | BIN, "\xff\xfe\x00\x80");
    CHECK(IS_MSG(f, FA_BINARY, "\xff\xfe\x00\x80"));
    f = FEED(&fi, FIN | BIN, "");
    CHECK(IS_MSG(f, FA_BINARY, ""));
    CHECK_EQ_INT(fi.opcode, 0);
    frame_in_free(&fi);
}

TEST(fragmented_text_three_fragments)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    fed f = FEED(&fi, TEXT, "Hel");
    CHECK_EQ_INT(f.a, FA_NONE);
    f = FEED(&fi, CONT, "lo, ");
    CHECK_EQ_INT(f.a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "world");
    CHECK(IS_MSG(f, FA_TEXT, "Hello, world"));
    /* The next message starts clean, unfragmented or not. */
    f = FEED(&fi, FIN | TEXT, "next");
    CHECK(IS_MSG(f, FA_TEXT, "next"));
    f = FEED(&fi, TEXT, "a");
    CHECK_EQ_INT(f.a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "b");
    CHECK(IS_MSG(f, FA_TEXT, "ab"));
    frame_in_free(&fi);
}

TEST(fragmented_binary)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, BIN, "\xff\x00").a, FA_NONE);
    CHECK_EQ_INT(FEED(&fi, CONT, "\x80").a, FA_NONE);
    fed f = FEED(&fi, FIN | CONT, "\xc3");
    CHECK(IS_MSG(f, FA_BINARY, "\xff\x00\x80\xc3"));
    frame_in_free(&fi);
}

TEST(fragments_that_are_empty)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    /* Empty first fragments, then the data. */
    CHECK_EQ_INT(FEED(&fi, TEXT, "").a, FA_NONE);
    CHECK_EQ_INT(FEED(&fi, CONT, "").a, FA_NONE);
    fed f = FEED(&fi, FIN | CONT, "abc");
    CHECK(IS_MSG(f, FA_TEXT, "abc"));
    /* Data, then an empty last fragment. */
    CHECK_EQ_INT(FEED(&fi, TEXT, "xy").a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "");
    CHECK(IS_MSG(f, FA_TEXT, "xy"));
    /* Nothing at all. */
    CHECK_EQ_INT(FEED(&fi, TEXT, "").a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "");
    CHECK(IS_MSG(f, FA_TEXT, ""));
    frame_in_free(&fi);
}

TEST(utf8_split_across_fragments_is_valid)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    /* The euro sign E2 82 AC one byte per fragment. */
    CHECK_EQ_INT(FEED(&fi, TEXT, "\xe2").a, FA_NONE);
    CHECK_EQ_INT(FEED(&fi, CONT, "\x82").a, FA_NONE);
    fed f = FEED(&fi, FIN | CONT, "\xac");
    CHECK(IS_MSG(f, FA_TEXT, "\xe2\x82\xac"));
    /* A 4-byte sequence split 1 + 3 and 3 + 1. */
    CHECK_EQ_INT(FEED(&fi, TEXT, "a\xf0").a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "\x9f\x98\x80z");
    CHECK(IS_MSG(f, FA_TEXT, "a\xf0\x9f\x98\x80z"));
    CHECK_EQ_INT(FEED(&fi, TEXT, "\xf0\x9f\x98").a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "\x80");
    CHECK(IS_MSG(f, FA_TEXT, "\xf0\x9f\x98\x80"));
    frame_in_free(&fi);
}

TEST(invalid_utf8_fails_1007)
{
    static const char *const bad[] = {
        "\xff", "\x80", "a\xc0\xafz", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xc3z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        frame_in fi;
        frame_in_init(&fi, 1000);
        fed f = feed(&fi, FIN | TEXT, bad[i], strlen(bad[i]));
        CHECK(IS_FAIL(f, 1007));
        frame_in_free(&fi);
    }
}

TEST(invalid_utf8_in_a_later_fragment_fails_1007)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, TEXT, "fine").a, FA_NONE);
    CHECK_EQ_INT(FEED(&fi, CONT, "still fine").a, FA_NONE);
    fed f = FEED(&fi, CONT, "bad \xff");
    CHECK(IS_FAIL(f, 1007));
    frame_in_free(&fi);

    /* In the last fragment. */
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, TEXT, "fine").a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "\xc0\x80");
    CHECK(IS_FAIL(f, 1007));
    frame_in_free(&fi);

    /* A sequence opened in one fragment and broken by the next. */
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, TEXT, "\xe2\x82").a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "z");
    CHECK(IS_FAIL(f, 1007));
    frame_in_free(&fi);

    /* A surrogate whose second byte arrives in the next fragment. */
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, TEXT, "\xed").a, FA_NONE);
    f = FEED(&fi, CONT, "\xa0");
    CHECK(IS_FAIL(f, 1007));
    frame_in_free(&fi);
}

TEST(unfinished_sequence_at_fin_fails_1007)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    fed f = FEED(&fi, FIN | TEXT, "a\xe2\x82");
    CHECK(IS_FAIL(f, 1007));
    frame_in_free(&fi);

    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, TEXT, "a\xf0").a, FA_NONE);
    CHECK_EQ_INT(FEED(&fi, CONT, "\x9f").a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "\x98");
    CHECK(IS_FAIL(f, 1007));
    frame_in_free(&fi);

    /* Open sequence, then an empty last fragment. */
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, TEXT, "\xc3").a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "");
    CHECK(IS_FAIL(f, 1007));
    frame_in_free(&fi);
}

TEST(rsv_bits_fail_1002)
{
    static const int rsv[] = {0x40, 0x20, 0x10, 0x70};
    static const int ops[] = {TEXT, BIN, PING, PONG, CLOSE};
    for (size_t i = 0; i < sizeof rsv / sizeof rsv[0]; i++) {
        for (size_t j = 0; j < sizeof ops / sizeof ops[0]; j++) {
            frame_in fi;
            frame_in_init(&fi, 1000);
            fed f = FEED(&fi, FIN | rsv[i] | ops[j], "x");
            CHECK(IS_FAIL(f, 1002));
            frame_in_free(&fi);
        }
        /* On a continuation too. */
        frame_in fi;
        frame_in_init(&fi, 1000);
        CHECK_EQ_INT(FEED(&fi, TEXT, "a").a, FA_NONE);
        fed f = FEED(&fi, FIN | rsv[i] | CONT, "b");
        CHECK(IS_FAIL(f, 1002));
        frame_in_free(&fi);
    }
}

TEST(reserved_opcodes_fail_1002)
{
    static const int ops[] = {3, 4, 5, 6, 7, 11, 12, 13, 14, 15};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        /* With bodies that would pass as a ping, a pong or a close. */
        frame_in fi;
        frame_in_init(&fi, 1000);
        fed f = FEED(&fi, FIN | ops[i], "x");
        CHECK(IS_FAIL(f, 1002));
        frame_in_free(&fi);
        frame_in_init(&fi, 1000);
        f = FEED(&fi, FIN | ops[i], "");
        CHECK(IS_FAIL(f, 1002));
        frame_in_free(&fi);
        frame_in_init(&fi, 1000);
        f = FEED(&fi, FIN | ops[i], "\x03\xe8");
        CHECK(IS_FAIL(f, 1002));
        frame_in_free(&fi);
        frame_in_init(&fi, 1000);
        f = FEED(&fi, ops[i], "");
        CHECK(IS_FAIL(f, 1002));
        frame_in_free(&fi);
        /* Inside a fragmented message as well. */
        frame_in_init(&fi, 1000);
        CHECK_EQ_INT(FEED(&fi, TEXT, "a").a, FA_NONE);
        f = FEED(&fi, FIN | ops[i], "x");
        CHECK(IS_FAIL(f, 1002));
        frame_in_free(&fi);
    }
}

TEST(control_frame_too_long_fails_1002)
{
    static char body[126];
    memset(body, 'p', sizeof body);
    body[0] = 0x03; /* a valid close code 1000 for the close frames */
    body[1] = (char)0xe8;
    static const int ops[] = {PING, PONG, CLOSE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        frame_in fi;
        frame_in_init(&fi, 1000);
        fed f = feed(&fi, FIN | ops[i], body, 126);
        CHECK(IS_FAIL(f, 1002));
        /* 125 bytes is the most a control frame may carry. */
        f = feed(&fi, FIN | ops[i], body, 125);
        CHECK(f.a != FA_FAIL);
        frame_in_free(&fi);
    }
    frame_in fi;
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(feed(&fi, FIN | PING, body, 125).a, FA_PING);
    CHECK_EQ_INT(feed(&fi, FIN | PONG, body, 125).a, FA_PONG);
    fed f = feed(&fi, FIN | CLOSE, body, 125);
    CHECK_EQ_INT(f.a, FA_CLOSE);
    CHECK_EQ_INT(f.code, 1000);
    frame_in_free(&fi);
}

TEST(control_frame_without_fin_fails_1002)
{
    static const int ops[] = {PING, PONG, CLOSE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        frame_in fi;
        frame_in_init(&fi, 1000);
        fed f = FEED(&fi, ops[i], "");
        CHECK(IS_FAIL(f, 1002));
        frame_in_free(&fi);
    }
}

TEST(continuation_without_start_fails_1002)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    fed f = FEED(&fi, FIN | CONT, "x");
    CHECK(IS_FAIL(f, 1002));
    frame_in_free(&fi);
    frame_in_init(&fi, 1000);
    f = FEED(&fi, CONT, "x");
    CHECK(IS_FAIL(f, 1002));
    frame_in_free(&fi);
    /* And after a message has been completed. */
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, TEXT, "a").a, FA_NONE);
    CHECK_EQ_INT(FEED(&fi, FIN | CONT, "b").a, FA_TEXT);
    f = FEED(&fi, FIN | CONT, "c");
    CHECK(IS_FAIL(f, 1002));
    frame_in_free(&fi);
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, FIN | TEXT, "a").a, FA_TEXT);
    f = FEED(&fi, CONT, "c");
    CHECK(IS_FAIL(f, 1002));
    frame_in_free(&fi);
}

TEST(new_data_frame_inside_fragmented_message_fails_1002)
{
    static const int starts[] = {TEXT, BIN};
    static const int news[] = {FIN | TEXT, TEXT, FIN | BIN, BIN};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 4; j++) {
            frame_in fi;
            frame_in_init(&fi, 1000);
            CHECK_EQ_INT(FEED(&fi, starts[i], "a").a, FA_NONE);
            fed f = FEED(&fi, news[j], "b");
            CHECK(IS_FAIL(f, 1002));
            frame_in_free(&fi);
        }
    }
}

TEST(control_frames_interleaved_in_fragmented_message)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    CHECK_EQ_INT(FEED(&fi, TEXT, "fr").a, FA_NONE);
    CHECK_EQ_INT(FEED(&fi, FIN | PING, "are you there").a, FA_PING);
    CHECK_EQ_INT(FEED(&fi, CONT, "ag").a, FA_NONE);
    CHECK_EQ_INT(FEED(&fi, FIN | PONG, "").a, FA_PONG);
    CHECK_EQ_INT(FEED(&fi, FIN | PING, "").a, FA_PING);
    fed f = FEED(&fi, FIN | CONT, "ments");
    CHECK(IS_MSG(f, FA_TEXT, "fragments"));
    /* A UTF-8 sequence open across the ping. */
    CHECK_EQ_INT(FEED(&fi, TEXT, "\xe2\x82").a, FA_NONE);
    CHECK_EQ_INT(FEED(&fi, FIN | PING, "\xff").a, FA_PING);
    f = FEED(&fi, FIN | CONT, "\xac");
    CHECK(IS_MSG(f, FA_TEXT, "\xe2\x82\xac"));
    /* A close in the middle of a message is answered (RFC 6455 5.4). */
    CHECK_EQ_INT(FEED(&fi, BIN, "x").a, FA_NONE);
    f = FEED(&fi, FIN | CLOSE, "\x03\xe8");
    CHECK_EQ_INT(f.a, FA_CLOSE);
    CHECK_EQ_INT(f.code, 1000);
    frame_in_free(&fi);
}

/* n bytes of 'a' */
static char *as(size_t n)
{
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    s[n] = 0;
    return s;
}

TEST(size_cap_unfragmented)
{
    frame_in fi;
    frame_in_init(&fi, 100);
    char *s = as(101);
    fed f = feed(&fi, FIN | TEXT, s, 100);
    CHECK_EQ_INT(f.a, FA_TEXT);
    CHECK_EQ_INT(f.len, 100);
    f = feed(&fi, FIN | BIN, s, 100);
    CHECK_EQ_INT(f.a, FA_BINARY);
    f = feed(&fi, FIN | TEXT, s, 101);
    CHECK(IS_FAIL(f, 1009));
    frame_in_free(&fi);
    frame_in_init(&fi, 100);
    f = feed(&fi, FIN | BIN, s, 101);
    CHECK(IS_FAIL(f, 1009));
    frame_in_free(&fi);
    free(s);
}

TEST(size_cap_fragmented)
{
    char *s = as(100);
    frame_in fi;
    /* Exactly max over three fragments. */
    frame_in_init(&fi, 100);
    CHECK_EQ_INT(feed(&fi, TEXT, s, 40).a, FA_NONE);
    CHECK_EQ_INT(feed(&fi, CONT, s, 40).a, FA_NONE);
    fed f = feed(&fi, FIN | CONT, s, 20);
    CHECK_EQ_INT(f.a, FA_TEXT);
    CHECK_EQ_INT(f.len, 100);
    /* max + 1, crossed by the last fragment. */
    CHECK_EQ_INT(feed(&fi, TEXT, s, 40).a, FA_NONE);
    CHECK_EQ_INT(feed(&fi, CONT, s, 40).a, FA_NONE);
    f = feed(&fi, FIN | CONT, s, 21);
    CHECK(IS_FAIL(f, 1009));
    frame_in_free(&fi);
    /* Crossed by a middle fragment (no FIN yet). */
    frame_in_init(&fi, 100);
    CHECK_EQ_INT(feed(&fi, BIN, s, 60).a, FA_NONE);
    f = feed(&fi, CONT, s, 41);
    CHECK(IS_FAIL(f, 1009));
    frame_in_free(&fi);
    /* The first fragment alone too big. */
    frame_in_init(&fi, 100);
    f = FEED(&fi, TEXT, ""); /* an empty start is fine */
    CHECK_EQ_INT(f.a, FA_NONE);
    frame_in_free(&fi);
    frame_in_init(&fi, 99);
    f = feed(&fi, TEXT, s, 100);
    CHECK(IS_FAIL(f, 1009));
    frame_in_free(&fi);
    /* Control frames do not count toward the message. */
    frame_in_init(&fi, 100);
    CHECK_EQ_INT(feed(&fi, TEXT, s, 50).a, FA_NONE);
    CHECK_EQ_INT(feed(&fi, FIN | PING, s, 100).a, FA_PING);
    f = feed(&fi, FIN | CONT, s, 50);
    CHECK_EQ_INT(f.a, FA_TEXT);
    CHECK_EQ_INT(f.len, 100);
    frame_in_free(&fi);
    free(s);
}

TEST(cap_counts_each_message_afresh)
{
    /* Many messages of max bytes in a row, fragmented and not: the count
     * starts again with every message. */
    char *s = as(64);
    frame_in fi;
    frame_in_init(&fi, 64);
    int bad = 0;
    for (int i = 0; i < 50; i++) {
        if (feed(&fi, TEXT, s, 32).a != FA_NONE)
            bad++;
        fed f = feed(&fi, FIN | CONT, s, 32);
        if (f.a != FA_TEXT || f.len != 64)
            bad++;
        f = feed(&fi, FIN | TEXT, s, 64);
        if (f.a != FA_TEXT || f.len != 64)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    frame_in_free(&fi);
    free(s);
}

TEST(binary_cap_apart_from_text_cap)
{
    /* Text is held to max, binary to max_binary, each over all fragments. */
    char *s = as(300);
    frame_in fi;
    frame_in_init(&fi, 100);
    fi.max_binary = 250;
    CHECK_EQ_INT(feed(&fi, BIN, s, 200).a, FA_NONE);
    fed f = feed(&fi, FIN | CONT, s, 50);
    CHECK_EQ_INT(f.a, FA_BINARY);
    CHECK_EQ_INT(f.len, 250);
    f = feed(&fi, FIN | TEXT, s, 101);
    CHECK_EQ_INT(f.a, FA_FAIL);
    CHECK_EQ_INT(f.code, 1009);
    frame_in_free(&fi);
    frame_in_init(&fi, 100);
    fi.max_binary = 250;
    CHECK_EQ_INT(feed(&fi, BIN, s, 200).a, FA_NONE);
    f = feed(&fi, FIN | CONT, s, 51);
    CHECK_EQ_INT(f.a, FA_FAIL);
    CHECK_EQ_INT(f.code, 1009);
    frame_in_free(&fi);
    frame_in_init(&fi, 100);
    fi.max_binary = 250;
    f = feed(&fi, FIN | BIN, s, 251);
    CHECK_EQ_INT(f.a, FA_FAIL);
    CHECK_EQ_INT(f.code, 1009);
    frame_in_free(&fi);
    free(s);
}

TEST(large_fragmented_message_then_small)
{
    /* Over 64 KiB reassembled (the buffer is then dropped at the next
     * start), then small messages still work. */
    size_t big = 200000;
    char *s = as(big);
    frame_in fi;
    frame_in_init(&fi, big);
    for (size_t at = 0; at < big - 1000; at += 1000)
        CHECK_EQ_INT(feed(&fi, at ? CONT : TEXT, s, 1000).a, FA_NONE);
    fed f = feed(&fi, FIN | CONT, s, 1000);
    CHECK_EQ_INT(f.a, FA_TEXT);
    CHECK_EQ_INT(f.len, big);
    CHECK_EQ_INT(FEED(&fi, TEXT, "sm").a, FA_NONE);
    f = FEED(&fi, FIN | CONT, "all");
    CHECK(IS_MSG(f, FA_TEXT, "small"));
    frame_in_free(&fi);
    free(s);
}

TEST(ping_and_pong)
{
    frame_in fi;
    frame_in_init(&fi, 10);
    CHECK_EQ_INT(FEED(&fi, FIN | PING, "").a, FA_PING);
    CHECK_EQ_INT(FEED(&fi, FIN | PING, "payload\xff").a, FA_PING);
    CHECK_EQ_INT(FEED(&fi, FIN | PONG, "").a, FA_PONG);
    CHECK_EQ_INT(FEED(&fi, FIN | PONG, "unsolicited").a, FA_PONG);
    frame_in_free(&fi);
}

/* A close frame with code c and reason r; returns the result. */
static fed close_with(int c, const char *reason, size_t rlen)
{
    char body[128];
    body[0] = (char)(c >> 8);
    body[1] = (char)c;
    memcpy(body + 2, reason, rlen);
    frame_in fi;
    frame_in_init(&fi, 1000);
    fed f = feed(&fi, FIN | CLOSE, body, 2 + rlen);
    frame_in_free(&fi);
    return f;
}

TEST(close_empty_body)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    fed f = FEED(&fi, FIN | CLOSE, "");
    CHECK_EQ_INT(f.a, FA_CLOSE);
    CHECK_EQ_INT(f.code, 0);
    frame_in_free(&fi);
}

TEST(close_one_byte_body_fails_1002)
{
    frame_in fi;
    frame_in_init(&fi, 1000);
    fed f = FEED(&fi, FIN | CLOSE, "\x03");
    CHECK(IS_FAIL(f, 1002));
    frame_in_free(&fi);
}

TEST(close_invalid_codes_fail_1002)
{
    static const int bad[] = {0,    1,    999,  1004, 1005, 1006, 1015,
                              1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fed f = close_with(bad[i], "", 0);
        if (!IS_FAIL(f, 1002))
            fprintf(stderr, "close code %d: action %d code %u\n", bad[i],
                    f.a, f.code);
        CHECK(IS_FAIL(f, 1002));
    }
}

TEST(close_valid_codes_echoed)
{
    static const int good[] = {1000, 1001, 1002, 1003, 1007, 1008,
                               1009, 1010, 1011, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        fed f = close_with(good[i], "", 0);
        if (f.a != FA_CLOSE || f.code != good[i])
            fprintf(stderr, "close code %d: action %d code %u\n", good[i],
                    f.a, f.code);
        CHECK_EQ_INT(f.a, FA_CLOSE);
        CHECK_EQ_INT(f.code, good[i]);
    }
    /* With a reason, ASCII or multi-byte. */
    fed f = close_with(1001, "going away", 10);
    CHECK_EQ_INT(f.a, FA_CLOSE);
    CHECK_EQ_INT(f.code, 1001);
    f = close_with(4000, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", 11);
    CHECK_EQ_INT(f.a, FA_CLOSE);
    CHECK_EQ_INT(f.code, 4000);
}

TEST(close_invalid_utf8_reason_fails_1007)
{
    CHECK(IS_FAIL(close_with(1000, "\xff", 1), 1007));
    CHECK(IS_FAIL(close_with(1000, "ok\xe2\x82", 4), 1007)); /* cut short */
    CHECK(IS_FAIL(close_with(3000, "\xed\xa0\x80", 3), 1007));
    CHECK(IS_FAIL(close_with(1000, "\xc0\x80", 2), 1007));
    /* An invalid code wins over an invalid reason: 1002. */
    CHECK(IS_FAIL(close_with(1005, "\xff", 1), 1002));
}

TEST(frame_header_lengths)
{
    unsigned char h[10];
    memset(h, 0xee, sizeof h);
    CHECK_EQ_INT(frame_header(h, TEXT, 0), 2);
    CHECK_EQ_INT(h[0], 0x81);
    CHECK_EQ_INT(h[1], 0);

    CHECK_EQ_INT(frame_header(h, BIN, 125), 2);
    CHECK_EQ_INT(h[0], 0x82);
    CHECK_EQ_INT(h[1], 125);

    CHECK_EQ_INT(frame_header(h, TEXT, 126), 4);
    CHECK_EQ_INT(h[1], 126);
    CHECK_EQ_INT(h[2], 0);
    CHECK_EQ_INT(h[3], 126);

    CHECK_EQ_INT(frame_header(h, TEXT, 65535), 4);
    CHECK_EQ_INT(h[1], 126);
    CHECK_EQ_INT(h[2], 0xff);
    CHECK_EQ_INT(h[3], 0xff);

    CHECK_EQ_INT(frame_header(h, TEXT, 65536), 10);
    CHECK_EQ_INT(h[1], 127);
    static const unsigned char len64k[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    CHECK(memcmp(h + 2, len64k, 8) == 0);

    CHECK_EQ_INT(frame_header(h, BIN, (size_t)0x0102030405ull), 10);
    static const unsigned char lenbig[8] = {0, 0, 0, 1, 2, 3, 4, 5};
    CHECK(memcmp(h + 2, lenbig, 8) == 0);

    /* Control opcodes; the opcode is masked to 4 bits, FIN always set,
     * the mask bit never (a server does not mask). */
    CHECK_EQ_INT(frame_header(h, PONG, 5), 2);
    CHECK_EQ_INT(h[0], 0x8a);
    CHECK_EQ_INT(h[1], 5);
    CHECK_EQ_INT(frame_header(h, CLOSE, 2), 2);
    CHECK_EQ_INT(h[0], 0x88);
}

RUN_TESTS(frame)
