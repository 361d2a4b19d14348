/* test_valid.c -- unit tests of common/valid.c: strict UTF-8 (one-shot and
 * fed in pieces) and the field rules of docs/protocol.md. Single-threaded. */
#include <string.h>

#include "check.h"
#include "valid.h"

/* valid_utf8 on a string literal (which may hold \0 via sizeof). */
#define UTF8(lit) valid_utf8(lit, sizeof lit - 1)

/* The one-shot check and the incremental one fed the same bytes split at
 * every possible point (and byte by byte) must agree. */
static int utf8_split_agrees(const char *s, size_t len)
{
    int whole = valid_utf8(s, len);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t cut = 0; cut <= len; cut++) {
        utf8_check c = {0, 0, 0};
        int ok = valid_utf8_feed(&c, u, cut) &&
                 valid_utf8_feed(&c, u + cut, len - cut) && c.state == 0;
        if (ok != whole)
            return 0;
    }
    utf8_check c = {0, 0, 0};
    int ok = 1;
    for (size_t i = 0; i < len && ok; i++)
        ok = valid_utf8_feed(&c, u + i, 1);
    return (ok && c.state == 0) == whole;
}

TEST(utf8_ascii_and_empty)
{
    CHECK(valid_utf8("", 0));
    CHECK(UTF8("hello, world"));
    CHECK(UTF8("nul\0inside")); /* U+0000 is valid UTF-8 */
    CHECK(UTF8("\x7f"));
}

TEST(utf8_each_length_and_boundaries)
{
    CHECK(UTF8("\xc2\x80"));         /* U+0080, smallest 2-byte */
    CHECK(UTF8("\xdf\xbf"));         /* U+07FF */
    CHECK(UTF8("\xe0\xa0\x80"));     /* U+0800, smallest 3-byte */
    CHECK(UTF8("\xed\x9f\xbf"));     /* U+D7FF, just below surrogates */
    CHECK(UTF8("\xee\x80\x80"));     /* U+E000, just above */
    CHECK(UTF8("\xef\xbf\xbf"));     /* U+FFFF */
    CHECK(UTF8("\xf0\x90\x80\x80")); /* U+10000, smallest 4-byte */
    CHECK(UTF8("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the last code point */
    CHECK(UTF8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
}

TEST(utf8_overlong_forms_refused)
{
    CHECK(!UTF8("\xc0\x80"));         /* U+0000 in two bytes */
    CHECK(!UTF8("\xc0\xaf"));         /* '/' in two bytes */
    CHECK(!UTF8("\xc1\xbf"));
    CHECK(!UTF8("\xe0\x80\xaf"));     /* '/' in three */
    CHECK(!UTF8("\xe0\x9f\xbf"));     /* U+07FF in three */
    CHECK(!UTF8("\xf0\x80\x80\xaf")); /* '/' in four */
    CHECK(!UTF8("\xf0\x8f\xbf\xbf")); /* U+FFFF in four */
}

TEST(utf8_surrogates_refused)
{
    CHECK(!UTF8("\xed\xa0\x80")); /* U+D800 */
    CHECK(!UTF8("\xed\xaf\xbf")); /* U+DBFF */
    CHECK(!UTF8("\xed\xb0\x80")); /* U+DC00 */
    CHECK(!UTF8("\xed\xbf\xbf")); /* U+DFFF */
    CHECK(!UTF8("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair */
}

TEST(utf8_above_10ffff_refused)
{
    CHECK(!UTF8("\xf4\x90\x80\x80")); /* U+110000 */
    CHECK(!UTF8("\xf7\xbf\xbf\xbf"));
    CHECK(!UTF8("\xf5\x80\x80\x80"));
    CHECK(!UTF8("\xf8\x88\x80\x80\x80")); /* old 5-byte form */
    CHECK(!UTF8("\xfc\x84\x80\x80\x80\x80"));
    CHECK(!UTF8("\xfe"));
    CHECK(!UTF8("\xff"));
}

TEST(utf8_broken_sequences_refused)
{
    CHECK(!UTF8("\x80"));               /* lone continuation */
    CHECK(!UTF8("\xbf"));
    CHECK(!UTF8("a\x80z"));
    CHECK(!UTF8("\xc3"));               /* truncated at the end */
    CHECK(!UTF8("\xe2\x82"));
    CHECK(!UTF8("\xf0\x9f\x98"));
    CHECK(!UTF8("\xc3z"));              /* continuation missing */
    CHECK(!UTF8("\xe2\x82z"));
    CHECK(!UTF8("\xc3\xa9\xa9"));       /* one continuation too many */
    CHECK(!UTF8("\xe2\x82\xac\x80"));
}

TEST(utf8_feed_agrees_with_one_shot_at_every_split)
{
    static const char *const cases[] = {
        "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80",
        "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xed\x9f\xbf", "\xed\xa0\x80",
        "\xe0\x80\xaf", "\xf0\x8f\xbf\xbf", "\xc3", "\xf0\x9f\x98", "\x80",
        "\xc3\xa9\xa9", "\xc0\x80", "plain ascii",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(utf8_split_agrees(cases[i], strlen(cases[i])));
}

TEST(utf8_feed_sequence_open_across_fragments)
{
    /* A euro sign split over three WebSocket fragments: each feed is fine
     * and the state says a sequence is still open until the last byte. */
    utf8_check c = {0, 0, 0};
    CHECK(valid_utf8_feed(&c, (const unsigned char *)"ab\xe2", 3));
    CHECK(c.state == 2);
    CHECK(valid_utf8_feed(&c, (const unsigned char *)"\x82", 1));
    CHECK(c.state == 1);
    CHECK(valid_utf8_feed(&c, (const unsigned char *)"\xac!", 2));
    CHECK(c.state == 0);
    /* A message that ends inside a sequence: every feed accepted, but the
     * state is not back to 0, so the message is invalid. */
    utf8_check d = {0, 0, 0};
    CHECK(valid_utf8_feed(&d, (const unsigned char *)"\xf0\x9f", 2));
    CHECK(valid_utf8_feed(&d, (const unsigned char *)"\x98", 1));
    CHECK(d.state != 0);
    /* An empty fragment changes nothing. */
    CHECK(valid_utf8_feed(&d, (const unsigned char *)"", 0));
    CHECK(d.state == 1);
}

TEST(utf8_feed_fails_as_soon_as_the_prefix_is_bad)
{
    /* Bad from the second byte on: no need to wait for the rest. */
    utf8_check c = {0, 0, 0};
    CHECK(!valid_utf8_feed(&c, (const unsigned char *)"\xe0\x80", 2));
    c = (utf8_check){0, 0, 0};
    CHECK(!valid_utf8_feed(&c, (const unsigned char *)"\xed\xa0", 2));
    c = (utf8_check){0, 0, 0};
    CHECK(!valid_utf8_feed(&c, (const unsigned char *)"\xf4\x90", 2));
    c = (utf8_check){0, 0, 0};
    CHECK(!valid_utf8_feed(&c, (const unsigned char *)"\xf0\x8f", 2));
    /* And from the lead byte for bytes that never start anything. */
    static const unsigned char leads[] = {0x80, 0xbf, 0xc0, 0xc1, 0xf5, 0xff};
    for (size_t i = 0; i < sizeof leads; i++) {
        c = (utf8_check){0, 0, 0};
        CHECK(!valid_utf8_feed(&c, &leads[i], 1));
    }
    /* A good prefix of each kind is accepted. */
    c = (utf8_check){0, 0, 0};
    CHECK(valid_utf8_feed(&c, (const unsigned char *)"\xf4\x8f", 2));
    c = (utf8_check){0, 0, 0};
    CHECK(valid_utf8_feed(&c, (const unsigned char *)"\xed\x9f", 2));
}

/* RFC 3629 section 4, the allowed second byte after each lead byte;
 * {0, 0} for a byte that cannot lead a multi-byte sequence. */
static void rfc3629_second(unsigned lead, unsigned *lo, unsigned *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (lead < 0xc2 || lead > 0xf4)
        *lo = *hi = 0;
    else if (lead == 0xe0)
        *lo = 0xa0;
    else if (lead == 0xed)
        *hi = 0x9f;
    else if (lead == 0xf0)
        *lo = 0x90;
    else if (lead == 0xf4)
        *hi = 0x8f;
}

TEST(utf8_every_two_byte_prefix_matches_rfc3629)
{
    int mismatches = 0;
    for (unsigned a = 0x80; a <= 0xff; a++) {
        for (unsigned b = 0; b <= 0xff; b++) {
            unsigned lo, hi;
            rfc3629_second(a, &lo, &hi);
            int want = lo != 0 && b >= lo && b <= hi;
            unsigned char s[2] = {(unsigned char)a, (unsigned char)b};
            utf8_check c = {0, 0, 0};
            if (valid_utf8_feed(&c, s, 2) != want)
                mismatches++;
        }
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* Encodes cp in the shortest form (4 bytes for anything above U+FFFF, even
 * above U+10FFFF); returns the length. */
static size_t encode(unsigned cp, unsigned char *s)
{
    if (cp < 0x80) {
        s[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        s[0] = (unsigned char)(0xc0 | (cp >> 6));
        s[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        s[0] = (unsigned char)(0xe0 | (cp >> 12));
        s[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    s[0] = (unsigned char)(0xf0 | (cp >> 18));
    s[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    s[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    s[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

TEST(utf8_every_code_point)
{
    /* Every scalar value is valid; surrogates and everything from U+110000
     * up to the top of the 4-byte form are not. */
    int mismatches = 0;
    for (unsigned cp = 0; cp <= 0x1fffff; cp++) {
        unsigned char s[4];
        size_t n = encode(cp, s);
        int want = cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
        if (valid_utf8((const char *)s, n) != want)
            mismatches++;
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* n copies of byte b */
static const char *repeat(char *buf, char b, size_t n)
{
    memset(buf, b, n);
    buf[n] = '\0';
    return buf;
}

TEST(room_rules)
{
    char buf[80];
    CHECK(valid_room("a", 1));
    CHECK(valid_room("Lobby_1.en:main-2", 17));
    CHECK(valid_room(repeat(buf, 'r', 64), 64));
    CHECK(!valid_room(repeat(buf, 'r', 65), 65));
    CHECK(!valid_room("", 0));
    CHECK(!valid_room("a b", 3));
    CHECK(!valid_room("a@b", 3)); /* @ is for uids only */
    CHECK(!valid_room("a/b", 3));
    CHECK(!valid_room("a*", 2));
    CHECK(!valid_room("a\0b", 3));
    CHECK(!valid_room("caf\xc3\xa9", 5));
    CHECK(!valid_room("a\n", 2));
}

TEST(uid_rules)
{
    char buf[80];
    CHECK(valid_uid("u", 1));
    CHECK(valid_uid("alice@example.com", 17));
    CHECK(valid_uid("u:1_2.3-4", 9));
    CHECK(valid_uid(repeat(buf, 'u', 64), 64));
    CHECK(!valid_uid(repeat(buf, 'u', 65), 65));
    CHECK(!valid_uid("", 0));
    CHECK(!valid_uid("a b", 3));
    CHECK(!valid_uid("a+b", 3));
    CHECK(!valid_uid("a\0", 2));
    CHECK(!valid_uid("\xc3\xa9", 2));
}

/* n copies of the UTF-8 text `ch` */
static size_t repeat_str(char *buf, const char *ch, size_t n)
{
    size_t len = strlen(ch), at = 0;
    for (size_t i = 0; i < n; i++, at += len)
        memcpy(buf + at, ch, len);
    buf[at] = '\0';
    return at;
}

TEST(name_rules)
{
    char buf[256];
    size_t n;
    CHECK(valid_name("a", 1));
    CHECK(valid_name("Alice Smith", 11));
    CHECK(valid_name(" ", 1));
    n = repeat_str(buf, "a", 32);
    CHECK(valid_name(buf, n));
    n = repeat_str(buf, "a", 33);
    CHECK(!valid_name(buf, n));
    /* 32 four-byte characters are 128 bytes: the limit counts characters. */
    n = repeat_str(buf, "\xf0\x9f\x98\x80", 32);
    CHECK_EQ_INT(n, 128);
    CHECK(valid_name(buf, n));
    n = repeat_str(buf, "\xf0\x9f\x98\x80", 33);
    CHECK(!valid_name(buf, n));
    n = repeat_str(buf, "\xc3\xa9", 32);
    CHECK(valid_name(buf, n));
    n = repeat_str(buf, "\xc3\xa9", 33);
    CHECK(!valid_name(buf, n));
    n = repeat_str(buf, "\xe2\x82\xac", 32);
    CHECK(valid_name(buf, n));
    n = repeat_str(buf, "\xe2\x82\xac", 33);
    CHECK(!valid_name(buf, n));
    CHECK(!valid_name("", 0));
}

TEST(name_refuses_control_characters_and_bad_utf8)
{
    CHECK(!valid_name("a\0b", 3));
    CHECK(!valid_name("a\tb", 3));
    CHECK(!valid_name("a\nb", 3));
    CHECK(!valid_name("\x1f", 1));
    CHECK(!valid_name("a\x7f", 2));         /* DEL */
    CHECK(!valid_name("a\xc2\x80", 3));     /* U+0080, first C1 */
    CHECK(!valid_name("a\xc2\x9f", 3));     /* U+009F, last C1 */
    CHECK(valid_name("a\xc2\xa0", 3));      /* U+00A0 is not a control */
    CHECK(valid_name("\x20\x7e", 2));
    CHECK(!valid_name("\xc3", 1));
    CHECK(!valid_name("\xc0\xaf", 2));
    CHECK(!valid_name("\xed\xa0\x80", 3));
}

TEST(client_id_rules)
{
    char buf[256];
    size_t n;
    CHECK(valid_client_id("1", 1));
    CHECK(valid_client_id("msg-\xc3\xa9-42", sizeof "msg-\xc3\xa9-42" - 1));
    CHECK(valid_client_id(repeat(buf, 'x', 64), 64));
    CHECK(!valid_client_id(repeat(buf, 'x', 65), 65));
    /* The limit is bytes: 16 four-byte characters fit, 17 do not. */
    n = repeat_str(buf, "\xf0\x9f\x98\x80", 16);
    CHECK(valid_client_id(buf, n));
    n = repeat_str(buf, "\xf0\x9f\x98\x80", 17);
    CHECK(!valid_client_id(buf, n));
    CHECK(!valid_client_id("", 0));
    CHECK(!valid_client_id("a\0", 2));
    CHECK(!valid_client_id("a\n", 2));
    CHECK(!valid_client_id("\xc2\x85", 2)); /* NEL, a C1 control */
    CHECK(!valid_client_id("\xff", 1));
}

RUN_TESTS(valid)
