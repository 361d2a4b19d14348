/* test_wire.c -- unit tests of common/wire.c: every encoder round-trips
 * through its decoder, the byte layout is the one wire.h documents, and the
 * decoder fails cleanly (failed set, zero values, never a read past the end)
 * on truncated buffers, oversized and unterminated strings and bad headers.
 * Buffers handed to the decoder are malloc'd to their exact length so that
 * ASan catches any read beyond them. Single-threaded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wire.h"

/* A heap copy of exactly n bytes of p (at least 1 byte is allocated so the
 * pointer is valid; ASan still flags reads at p[n] and beyond). */
static unsigned char *exact_copy(const void *p, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

TEST(wbuf_free_accepts_null_and_empties)
{
    wbuf_free(NULL);
    wbuf w = {0};
    wbuf_u8(&w, 1);
    CHECK(w.data != NULL);
    wbuf_free(&w);
    CHECK(w.data == NULL);
    CHECK_EQ_INT(w.len, 0);
    CHECK_EQ_INT(w.cap, 0);
    CHECK(!w.failed);
    wbuf_free(&w); /* a second free is harmless */
}

TEST(wbuf_reset_keeps_memory)
{
    wbuf w = {0};
    wbuf_bytes(&w, "hello", 5);
    char *data = w.data;
    size_t cap = w.cap;
    wbuf_reset(&w);
    CHECK_EQ_INT(w.len, 0);
    CHECK(w.data == data);
    CHECK_EQ_INT(w.cap, cap);
    wbuf_bytes(&w, "ab", 2);
    CHECK_EQ_INT(w.len, 2);
    CHECK(memcmp(w.data, "ab", 2) == 0);
    wbuf_free(&w);
}

TEST(wbuf_grows_across_many_appends)
{
    wbuf w = {0};
    for (int i = 0; i < 100000; i++)
        wbuf_u8(&w, (uint8_t)i);
    CHECK(!w.failed);
    CHECK_EQ_INT(w.len, 100000);
    CHECK(w.cap >= w.len);
    int bad = 0;
    for (int i = 0; i < 100000; i++)
        if ((unsigned char)w.data[i] != (uint8_t)i)
            bad++;
    CHECK_EQ_INT(bad, 0);
    wbuf_bytes(&w, NULL, 0); /* zero bytes: nothing, not even a read */
    CHECK_EQ_INT(w.len, 100000);
    wbuf_free(&w);
}

TEST(integer_layout_is_little_endian)
{
    wbuf w = {0};
    wbuf_u8(&w, 0xab);
    wbuf_u64(&w, 0x0102030405060708ull);
    wbuf_i64(&w, -2);
    static const unsigned char want[] = {
        0xab,
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    };
    CHECK_EQ_INT(w.len, sizeof want);
    CHECK(memcmp(w.data, want, sizeof want) == 0);
    wbuf_free(&w);
}

TEST(string_layout_is_len_bytes_nul)
{
    wbuf w = {0};
    wbuf_str(&w, "abc", 3);
    wbuf_cstr(&w, NULL); /* "" */
    static const unsigned char want[] = {
        3, 0, 0, 0, 'a', 'b', 'c', 0,
        0, 0, 0, 0, 0,
    };
    CHECK_EQ_INT(w.len, sizeof want);
    CHECK(memcmp(w.data, want, sizeof want) == 0);
    wbuf_free(&w);
}

TEST(header_layout)
{
    wbuf w = {0};
    wbuf_header(&w, WIRE_FANOUT);
    CHECK_EQ_INT(w.len, 3);
    CHECK_EQ_INT(w.data[0], 'R');
    CHECK_EQ_INT(w.data[1], WIRE_VERSION);
    CHECK_EQ_INT(w.data[2], WIRE_FANOUT);
    wbuf_free(&w);
}

TEST(round_trip_u8)
{
    wbuf w = {0};
    for (int v = 0; v < 256; v++)
        wbuf_u8(&w, (uint8_t)v);
    rbuf r;
    rbuf_init(&r, w.data, w.len);
    int bad = 0;
    for (int v = 0; v < 256; v++)
        if (rbuf_u8(&r) != (uint8_t)v)
            bad++;
    CHECK_EQ_INT(bad, 0);
    CHECK(!r.failed);
    CHECK_EQ_INT(r.left, 0);
    wbuf_free(&w);
}

TEST(round_trip_u64_and_i64)
{
    static const uint64_t u[] = {0, 1, 0xff, 0x100, 0xffffffffull,
                                 0x100000000ull, 0x8000000000000000ull,
                                 0x0123456789abcdefull, UINT64_MAX};
    static const int64_t s[] = {0, 1, -1, 127, -128, INT32_MIN, INT32_MAX,
                                INT64_MIN, INT64_MAX, -1234567890123ll};
    wbuf w = {0};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        wbuf_u64(&w, u[i]);
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        wbuf_i64(&w, s[i]);
    rbuf r;
    rbuf_init(&r, w.data, w.len);
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        CHECK(rbuf_u64(&r) == u[i]);
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        CHECK(rbuf_i64(&r) == s[i]);
    CHECK(!r.failed);
    CHECK_EQ_INT(r.left, 0);
    wbuf_free(&w);
}

TEST(round_trip_strings)
{
    size_t big_len = 200000;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 7 + 1);
    big[1000] = 0; /* a NUL in the middle too */
    wbuf w = {0};
    wbuf_str(&w, "", 0);
    wbuf_str(&w, "a", 1);
    wbuf_str(&w, "nul\0inside", 10);
    wbuf_cstr(&w, "h\xc3\xa9llo \xf0\x9f\x98\x80");
    wbuf_cstr(&w, NULL);
    wbuf_str(&w, big, big_len);
    CHECK(!w.failed);

    unsigned char *copy = exact_copy(w.data, w.len);
    rbuf r;
    rbuf_init(&r, copy, w.len);
    size_t n = 99;
    const char *p = rbuf_str(&r, &n);
    CHECK_EQ_INT(n, 0);
    CHECK_STR(p, "");
    p = rbuf_str(&r, &n);
    CHECK_EQ_INT(n, 1);
    CHECK_STR(p, "a");
    p = rbuf_str(&r, &n);
    CHECK_EQ_INT(n, 10);
    CHECK(memcmp(p, "nul\0inside", 11) == 0); /* with its NUL after */
    p = rbuf_str(&r, NULL); /* len may be NULL */
    CHECK_STR(p, "h\xc3\xa9llo \xf0\x9f\x98\x80");
    p = rbuf_str(&r, &n);
    CHECK_EQ_INT(n, 0);
    CHECK_STR(p, "");
    p = rbuf_str(&r, &n);
    CHECK_EQ_INT(n, big_len);
    CHECK(memcmp(p, big, big_len) == 0);
    CHECK_EQ_INT(p[big_len], 0);
    /* The decoded string points into the buffer, no copy. */
    CHECK((const unsigned char *)p >= copy &&
          (const unsigned char *)p < copy + w.len);
    CHECK(!r.failed);
    CHECK_EQ_INT(r.left, 0);
    free(copy);
    free(big);
    wbuf_free(&w);
}

TEST(round_trip_header_every_kind)
{
    static const enum wire_kind kinds[] = {WIRE_EVENTS, WIRE_POLL,
                                           WIRE_FANOUT, WIRE_RESET};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        wbuf w = {0};
        wbuf_header(&w, kinds[i]);
        rbuf r;
        rbuf_init(&r, w.data, w.len);
        enum wire_kind k = 0;
        CHECK(rbuf_header(&r, &k) == RC_OK);
        CHECK_EQ_INT(k, kinds[i]);
        CHECK_EQ_INT(r.left, 0);
        CHECK(!r.failed);
        wbuf_free(&w);
    }
}

/* A realistic events message (wire.h): header, gateway id and instance,
 * then one record of each event type with its fields. */
static void build_events(wbuf *w)
{
    wbuf_header(w, WIRE_EVENTS);
    wbuf_cstr(w, "gw-1");
    wbuf_u64(w, 77);
    wbuf_u8(w, EV_OPEN);
    wbuf_u64(w, 1);
    wbuf_cstr(w, "u1");
    wbuf_u8(w, EV_AUTH);
    wbuf_u64(w, 1);
    wbuf_cstr(w, "tok.en.sig");
    wbuf_u8(w, 1);
    wbuf_cstr(w, "");
    wbuf_u8(w, EV_ENTER);
    wbuf_u64(w, 1);
    wbuf_cstr(w, "lobby");
    wbuf_cstr(w, "u1");
    wbuf_cstr(w, "Alice");
    wbuf_i64(w, -1);
    wbuf_cstr(w, "e-1");
    wbuf_u8(w, EV_MESSAGE);
    wbuf_u64(w, 1);
    wbuf_cstr(w, "lobby");
    wbuf_str(w, "hi\0there", 8);
    wbuf_cstr(w, "");
    wbuf_u8(w, EV_HISTORY);
    wbuf_u64(w, UINT64_MAX);
    wbuf_cstr(w, "lobby");
    wbuf_i64(w, INT64_MIN);
    wbuf_i64(w, 50);
    wbuf_cstr(w, "h-1");
    wbuf_u8(w, EV_CLOSE);
    wbuf_u64(w, 1);
}

/* Decodes what build_events wrote, as far as r allows. Returns how many
 * values came out equal to what was written; the caller compares that with
 * the reads that fit in the buffer. */
static int decode_events(rbuf *r, rc *hdr)
{
    int ok = 0;
    size_t n;
    enum wire_kind k = 0;
    *hdr = rbuf_header(r, &k);
    ok += *hdr == RC_OK && k == WIRE_EVENTS;
    ok += strcmp(rbuf_str(r, &n), "gw-1") == 0 && n == 4;
    ok += rbuf_u64(r) == 77;
    ok += rbuf_u8(r) == EV_OPEN;
    ok += rbuf_u64(r) == 1;
    ok += strcmp(rbuf_str(r, NULL), "u1") == 0;
    ok += rbuf_u8(r) == EV_AUTH;
    ok += rbuf_u64(r) == 1;
    ok += strcmp(rbuf_str(r, NULL), "tok.en.sig") == 0;
    ok += rbuf_u8(r) == 1;
    ok += strcmp(rbuf_str(r, NULL), "") == 0;
    ok += rbuf_u8(r) == EV_ENTER;
    ok += rbuf_u64(r) == 1;
    ok += strcmp(rbuf_str(r, NULL), "lobby") == 0;
    ok += strcmp(rbuf_str(r, NULL), "u1") == 0;
    ok += strcmp(rbuf_str(r, NULL), "Alice") == 0;
    ok += rbuf_i64(r) == -1;
    ok += strcmp(rbuf_str(r, NULL), "e-1") == 0;
    ok += rbuf_u8(r) == EV_MESSAGE;
    ok += rbuf_u64(r) == 1;
    ok += strcmp(rbuf_str(r, NULL), "lobby") == 0;
    const char *t = rbuf_str(r, &n);
    ok += n == 8 && memcmp(t, "hi\0there", 9) == 0;
    ok += strcmp(rbuf_str(r, &n), "") == 0 && n == 0 && !r->failed;
    ok += rbuf_u8(r) == EV_HISTORY;
    ok += rbuf_u64(r) == UINT64_MAX;
    ok += strcmp(rbuf_str(r, NULL), "lobby") == 0;
    ok += rbuf_i64(r) == INT64_MIN;
    ok += rbuf_i64(r) == 50;
    ok += strcmp(rbuf_str(r, NULL), "h-1") == 0;
    ok += rbuf_u8(r) == EV_CLOSE;
    ok += rbuf_u64(r) == 1;
    return ok;
}
#define EVENTS_VALUES 31

TEST(round_trip_events_message)
{
    wbuf w = {0};
    build_events(&w);
    CHECK(!w.failed);
    unsigned char *copy = exact_copy(w.data, w.len);
    rbuf r;
    rbuf_init(&r, copy, w.len);
    rc hdr;
    CHECK_EQ_INT(decode_events(&r, &hdr), EVENTS_VALUES);
    CHECK(!r.failed);
    CHECK_EQ_INT(r.left, 0);
    /* Reading past the end now fails, and the failure sticks. */
    CHECK_EQ_INT(rbuf_u8(&r), 0);
    CHECK(r.failed);
    free(copy);
    wbuf_free(&w);
}

TEST(truncated_at_every_length_fails_cleanly)
{
    wbuf w = {0};
    build_events(&w);
    int not_failed = 0, too_many_ok = 0, went_down = 0, prev_ok = 0;
    for (size_t cut = 0; cut < w.len; cut++) {
        unsigned char *copy = exact_copy(w.data, cut);
        rbuf r;
        rbuf_init(&r, copy, cut);
        rc hdr;
        int ok = decode_events(&r, &hdr);
        if (!r.failed)
            not_failed++;
        if (ok >= EVENTS_VALUES)
            too_many_ok++;
        /* A longer prefix never decodes fewer values correctly. */
        if (ok < prev_ok)
            went_down++;
        prev_ok = ok;
        if (cut < 3)
            CHECK(hdr == RC_PROTO);
        free(copy);
    }
    CHECK_EQ_INT(not_failed, 0);
    CHECK_EQ_INT(too_many_ok, 0);
    CHECK_EQ_INT(went_down, 0);
    CHECK(prev_ok > 0);
    wbuf_free(&w);
}

TEST(failed_reads_return_zero_and_stick)
{
    static const unsigned char three[] = {1, 2, 3};
    unsigned char *copy = exact_copy(three, 3);
    rbuf r;
    rbuf_init(&r, copy, 3);
    CHECK(rbuf_u64(&r) == 0); /* 8 bytes wanted, 3 there */
    CHECK(r.failed);
    /* Everything after a failure fails too, even what would fit. */
    CHECK_EQ_INT(rbuf_u8(&r), 0);
    CHECK(rbuf_i64(&r) == 0);
    size_t n = 99;
    CHECK_STR(rbuf_str(&r, &n), "");
    CHECK_EQ_INT(n, 0);
    enum wire_kind k = WIRE_POLL;
    CHECK(rbuf_header(&r, &k) == RC_PROTO);
    CHECK_EQ_INT(k, WIRE_POLL); /* untouched */
    CHECK(r.failed);
    free(copy);

    /* An empty buffer (NULL pointer) fails without touching it. */
    rbuf_init(&r, NULL, 0);
    CHECK_EQ_INT(rbuf_u8(&r), 0);
    CHECK(r.failed);
    rbuf_init(&r, NULL, 0);
    CHECK_STR(rbuf_str(&r, &n), "");
    CHECK(r.failed);
}

TEST(rbuf_init_clears_failed)
{
    unsigned char b[1] = {9};
    rbuf r;
    rbuf_init(&r, b, 0);
    rbuf_u8(&r);
    CHECK(r.failed);
    rbuf_init(&r, b, 1);
    CHECK(!r.failed);
    CHECK_EQ_INT(rbuf_u8(&r), 9);
}

/* A str with the given length field followed by `have` bytes of content
 * (then nothing): exactly 4 + have bytes. */
static void str_with_len(uint32_t len_field, size_t have, const char *fill,
                         size_t *out_len, unsigned char **out)
{
    unsigned char *b = malloc(4 + have + 1);
    b[0] = (unsigned char)len_field;
    b[1] = (unsigned char)(len_field >> 8);
    b[2] = (unsigned char)(len_field >> 16);
    b[3] = (unsigned char)(len_field >> 24);
    memcpy(b + 4, fill, have);
    *out = exact_copy(b, 4 + have);
    *out_len = 4 + have;
    free(b);
}

TEST(string_length_beyond_buffer)
{
    static const struct {
        uint32_t len_field;
        size_t have;
    } cases[] = {
        {1, 0},            /* not even the NUL */
        {5, 5},            /* the bytes but no room for the NUL */
        {100, 10},         /* far past the end */
        {0xffffffffu, 10}, /* n + 1 must not wrap */
        {0xfffffffeu, 10},
        {WIRE_STR_MAX + 1, 10}, /* over the cap, whatever the buffer */
        {WIRE_STR_MAX, 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *b;
        size_t blen;
        str_with_len(cases[i].len_field, cases[i].have,
                     "xxxxxxxxxxxxxxxx", &blen, &b);
        rbuf r;
        rbuf_init(&r, b, blen);
        size_t n = 99;
        const char *p = rbuf_str(&r, &n);
        CHECK(r.failed);
        CHECK_STR(p, "");
        CHECK_EQ_INT(n, 0);
        free(b);
    }
}

TEST(string_over_cap_refused_even_when_present)
{
    /* A string of WIRE_STR_MAX + 1 bytes, all there and terminated: the
     * cap refuses it; one of exactly WIRE_STR_MAX is fine. */
    size_t n = WIRE_STR_MAX + 1;
    unsigned char *b = calloc(1, 4 + n + 1);
    b[0] = (unsigned char)n;
    b[1] = (unsigned char)(n >> 8);
    b[2] = (unsigned char)(n >> 16);
    b[3] = (unsigned char)(n >> 24);
    memset(b + 4, 'a', n);
    rbuf r;
    rbuf_init(&r, b, 4 + n + 1);
    rbuf_str(&r, NULL);
    CHECK(r.failed);

    n = WIRE_STR_MAX;
    b[0] = (unsigned char)n;
    b[1] = (unsigned char)(n >> 8);
    b[2] = (unsigned char)(n >> 16);
    b[3] = (unsigned char)(n >> 24);
    b[4 + n] = 0;
    rbuf_init(&r, b, 4 + n + 2); /* one byte to spare after the NUL */
    size_t got = 0;
    rbuf_str(&r, &got);
    CHECK(!r.failed);
    CHECK_EQ_INT(got, WIRE_STR_MAX);
    CHECK_EQ_INT(r.left, 1);
    free(b);
}

TEST(wbuf_str_over_cap_sets_failed)
{
    wbuf w = {0};
    static const char one[1] = {'x'};
    /* n is checked before s is read, so a short buffer is safe here. */
    wbuf_str(&w, one, (size_t)WIRE_STR_MAX + 1);
    CHECK(w.failed);
    CHECK_EQ_INT(w.len, 0);
    /* A failed wbuf takes nothing more. */
    wbuf_u8(&w, 1);
    CHECK_EQ_INT(w.len, 0);
    wbuf_free(&w);
}

TEST(string_missing_nul)
{
    /* "abc" with its length, then 'X' where the NUL should be. */
    static const unsigned char b[] = {3, 0, 0, 0, 'a', 'b', 'c', 'X'};
    unsigned char *copy = exact_copy(b, sizeof b);
    rbuf r;
    rbuf_init(&r, copy, sizeof b);
    size_t n = 99;
    const char *p = rbuf_str(&r, &n);
    CHECK(r.failed);
    CHECK_STR(p, "");
    CHECK_EQ_INT(n, 0);
    free(copy);

    /* Same with the empty string: length 0 and a non-NUL byte. */
    static const unsigned char e[] = {0, 0, 0, 0, '!'};
    copy = exact_copy(e, sizeof e);
    rbuf_init(&r, copy, sizeof e);
    p = rbuf_str(&r, &n);
    CHECK(r.failed);
    CHECK_STR(p, "");
    free(copy);
}

TEST(bad_header)
{
    static const struct {
        unsigned char b[3];
        size_t n;
    } cases[] = {
        {{'X', WIRE_VERSION, WIRE_EVENTS}, 3},     /* bad magic */
        {{'r', WIRE_VERSION, WIRE_EVENTS}, 3},     /* magic is case-sensitive */
        {{'R', WIRE_VERSION + 1, WIRE_EVENTS}, 3}, /* newer version */
        {{'R', 0, WIRE_EVENTS}, 3},                /* version 0 */
        {{'R', WIRE_VERSION, 0}, 2},               /* no kind byte */
        {{'R', 0, 0}, 1},
        {{0, 0, 0}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *copy = exact_copy(cases[i].b, cases[i].n);
        rbuf r;
        rbuf_init(&r, copy, cases[i].n);
        enum wire_kind k = WIRE_RESET;
        CHECK(rbuf_header(&r, &k) == RC_PROTO);
        CHECK_EQ_INT(k, WIRE_RESET);
        free(copy);
    }
    /* An unknown kind is the caller's business: the header itself is fine. */
    static const unsigned char odd[] = {'R', WIRE_VERSION, 200};
    rbuf r;
    rbuf_init(&r, odd, sizeof odd);
    enum wire_kind k = 0;
    CHECK(rbuf_header(&r, &k) == RC_OK);
    CHECK_EQ_INT(k, 200);
}

TEST(fanout_skip_steps_over_each_known_record)
{
    wbuf w = {0};
    wbuf_u8(&w, FO_ROOM_BINARY);
    wbuf_cstr(&w, "room");
    wbuf_u64(&w, 0);
    wbuf_u64(&w, 7);
    wbuf_str(&w, "\0\0\0\2{}xy", 8);
    wbuf_u8(&w, FO_CONN);
    wbuf_u64(&w, 3);
    wbuf_cstr(&w, "{}");
    wbuf_u8(&w, FO_JOIN);
    wbuf_u64(&w, 3);
    wbuf_cstr(&w, "r");
    wbuf_cstr(&w, "u");
    wbuf_cstr(&w, "n");
    wbuf_u64(&w, 9);
    wbuf_u8(&w, FO_CLOSE);
    wbuf_u64(&w, 3);
    wbuf_u64(&w, 4000);
    wbuf_u8(&w, FO_REPLY);
    wbuf_u64(&w, 11);
    wbuf_u8(&w, 404 & 0xff);
    wbuf_u8(&w, 404 >> 8);
    wbuf_cstr(&w, "{\"error\":{}}");
    size_t whole = w.len;
    wbuf_u8(&w, 200); /* a type it does not know */
    rbuf r;
    rbuf_init(&r, w.data, w.len);
    int n = 0;
    while (r.left > 1 && wire_fanout_skip(&r))
        n++;
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(w.len - r.left, whole);
    CHECK(!wire_fanout_skip(&r));
    rbuf_init(&r, w.data, 5); /* cut short */
    CHECK(!wire_fanout_skip(&r));
    wbuf_free(&w);
}

RUN_TESTS(wire)
