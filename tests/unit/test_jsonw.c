/* test_jsonw.c -- unit tests of common/jsonw.c: RFC 8259 escaping of
 * quotes, backslash, control characters and U+0000; multi-byte UTF-8 and
 * the other printable bytes copied untouched; keys, integers and raw text;
 * and that everything written parses back with json_parse_strict
 * (common/json.h) to the very same bytes. Single-threaded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"
#include "jsonw.h"

/* jsonw_str(s, n) as a NUL-terminated heap string (free it). */
static char *esc(const char *s, size_t n)
{
    wbuf w = {0};
    jsonw_str(&w, s, n);
    wbuf_u8(&w, 0);
    char *out = strdup(w.failed ? "(failed)" : w.data);
    wbuf_free(&w);
    return out;
}
#define ESC_IS(lit, want)                                                      \
    do {                                                                       \
        char *e_ = esc(lit, sizeof lit - 1);                                   \
        CHECK_STR(e_, want);                                                   \
        free(e_);                                                              \
    } while (0)

/* Whether {"k": jsonw_str(s, n)} parses strictly and "k" reads back as
 * exactly s[0..n). */
static int round_trips(const char *s, size_t n)
{
    wbuf w = {0};
    wbuf_u8(&w, '{');
    jsonw_key(&w, "k");
    jsonw_str(&w, s, n);
    wbuf_u8(&w, '}');
    json_object *o = NULL;
    int ok = 0;
    if (!w.failed && json_parse_strict(w.data, w.len, &o) == RC_OK) {
        const char *got = NULL;
        size_t len = 0;
        bool present = false;
        ok = json_get_string(o, "k", true, &got, &len, &present) == RC_OK &&
             present && len == n && memcmp(got, s, n) == 0;
        json_object_put(o);
    }
    wbuf_free(&w);
    return ok;
}
#define ROUND_TRIPS(lit) round_trips(lit, sizeof lit - 1)

TEST(plain_text_is_quoted_only)
{
    ESC_IS("", "\"\"");
    ESC_IS("hello, world", "\"hello, world\"");
    ESC_IS("/ slash stays", "\"/ slash stays\"");
    ESC_IS("\x7f", "\"\x7f\""); /* DEL needs no escape in JSON */
    ESC_IS("'single' {}[]:,", "\"'single' {}[]:,\"");
}

TEST(quotes_and_backslash)
{
    ESC_IS("\"", "\"\\\"\"");
    ESC_IS("\\", "\"\\\\\"");
    ESC_IS("a\"b\\c", "\"a\\\"b\\\\c\"");
    ESC_IS("\\\"\\\"", "\"\\\\\\\"\\\\\\\"\"");
    ESC_IS("\\u0041", "\"\\\\u0041\""); /* not an escape: stays text */
}

TEST(control_characters)
{
    ESC_IS("\n", "\"\\n\"");
    ESC_IS("\r", "\"\\r\"");
    ESC_IS("\t", "\"\\t\"");
    ESC_IS("\x01", "\"\\u0001\"");
    ESC_IS("\b", "\"\\u0008\"");
    ESC_IS("\f", "\"\\u000c\"");
    ESC_IS("\x1f", "\"\\u001f\"");
    ESC_IS("\x10", "\"\\u0010\"");
    ESC_IS("a\x1b[0m", "\"a\\u001b[0m\"");
    ESC_IS(" ", "\" \""); /* 0x20 is the first byte left as is */
}

TEST(nul_becomes_u0000)
{
    ESC_IS("\0", "\"\\u0000\"");
    ESC_IS("a\0b", "\"a\\u0000b\"");
    ESC_IS("\0\0", "\"\\u0000\\u0000\"");
    ESC_IS("end\0", "\"end\\u0000\"");
}

TEST(multibyte_utf8_untouched)
{
    ESC_IS("h\xc3\xa9llo", "\"h\xc3\xa9llo\"");
    ESC_IS("\xe2\x82\xac", "\"\xe2\x82\xac\"");
    ESC_IS("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
    ESC_IS("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");
    ESC_IS("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");
    ESC_IS("\xc2\x85", "\"\xc2\x85\""); /* C1 controls are not JSON's */
    ESC_IS("\xe2\x80\xa8", "\"\xe2\x80\xa8\""); /* U+2028 is valid JSON */
    ESC_IS("\xc3\xa9\"\xc3\xa9", "\"\xc3\xa9\\\"\xc3\xa9\"");
}

TEST(mixed_runs)
{
    /* Escapes at the start, the middle and the end of runs of plain text. */
    ESC_IS("\"abc\"", "\"\\\"abc\\\"\"");
    ESC_IS("ab\ncd\tef", "\"ab\\ncd\\tef\"");
    ESC_IS("\n\n", "\"\\n\\n\"");
    ESC_IS("x\\", "\"x\\\\\"");
}

TEST(every_ascii_byte_round_trips)
{
    int bad = 0;
    for (int c = 0; c < 0x80; c++) {
        char s[3] = {'a', (char)c, 'z'};
        if (!round_trips(s, 3))
            bad++;
        if (!round_trips(s + 1, 1))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* All 128 in one string. */
    char all[128];
    for (int c = 0; c < 128; c++)
        all[c] = (char)c;
    CHECK(round_trips(all, sizeof all));
}

TEST(strings_round_trip_through_strict_parser)
{
    CHECK(ROUND_TRIPS(""));
    CHECK(ROUND_TRIPS("plain"));
    CHECK(ROUND_TRIPS("\"quoted\" and \\back\\slashed\\"));
    CHECK(ROUND_TRIPS("nul\0inside"));
    CHECK(ROUND_TRIPS("\0"));
    CHECK(ROUND_TRIPS("tab\tnl\ncr\rbs\bff\f\x01\x1f"));
    CHECK(ROUND_TRIPS("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
    CHECK(ROUND_TRIPS("\xe2\x80\xa8\xe2\x80\xa9"));
    CHECK(ROUND_TRIPS("</script>"));
}

/* Appends the shortest UTF-8 form of cp (a scalar value) to s. */
static size_t put_utf8(unsigned cp, char *s)
{
    if (cp < 0x80) {
        s[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        s[0] = (char)(0xc0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        s[0] = (char)(0xe0 | (cp >> 12));
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    s[0] = (char)(0xf0 | (cp >> 18));
    s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    s[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

TEST(random_utf8_round_trips)
{
    /* A fixed pseudo-random sequence of code points from every range,
     * controls and U+0000 included, 500 strings of up to 64 of them. */
    uint32_t x = 12345;
    int bad = 0;
    for (int t = 0; t < 500; t++) {
        char s[64 * 4];
        size_t n = 0;
        x = x * 1103515245u + 12345u;
        int count = (int)(x >> 16) % 65;
        for (int i = 0; i < count; i++) {
            x = x * 1103515245u + 12345u;
            unsigned r = x >> 8, cp;
            switch (r % 5) {
            case 0: cp = r % 0x20; break;           /* controls, NUL */
            case 1: cp = 0x20 + r % 0x60; break;    /* printable ASCII */
            case 2: cp = 0x80 + r % 0x780; break;   /* 2-byte */
            case 3: cp = 0x800 + r % 0xf800; break; /* 3-byte */
            default: cp = 0x10000 + r % 0x100000; break;
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd;
            n += put_utf8(cp, s + n);
        }
        if (!round_trips(s, n))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(cstr_and_raw)
{
    wbuf w = {0};
    jsonw_cstr(&w, "a\"b");
    jsonw_raw(&w, "[1,2]");
    jsonw_raw(&w, "");
    wbuf_u8(&w, 0);
    CHECK_STR(w.data, "\"a\\\"b\"[1,2]");
    wbuf_free(&w);
}

TEST(integers)
{
    static const struct {
        int64_t v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {1, "1"},
        {-1, "-1"},
        {1234567890123, "1234567890123"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wbuf w = {0};
        jsonw_i64(&w, cases[i].v);
        wbuf_u8(&w, 0);
        CHECK_STR(w.data, cases[i].text);
        wbuf_free(&w);

        /* And through the strict parser. */
        wbuf o = {0};
        wbuf_u8(&o, '{');
        jsonw_key(&o, "n");
        jsonw_i64(&o, cases[i].v);
        wbuf_u8(&o, '}');
        json_object *obj = NULL;
        CHECK(json_parse_strict(o.data, o.len, &obj) == RC_OK);
        int64_t got = 0;
        CHECK(json_get_int(obj, "n", true, &got, NULL) == RC_OK);
        CHECK(got == cases[i].v);
        json_object_put(obj);
        wbuf_free(&o);
    }
}

TEST(keys_and_commas)
{
    /* An event the way the broker renders one. */
    wbuf w = {0};
    wbuf_u8(&w, '{');
    jsonw_key(&w, "event");
    jsonw_cstr(&w, "message");
    jsonw_key(&w, "room");
    jsonw_cstr(&w, "lobby");
    jsonw_key(&w, "seq");
    jsonw_i64(&w, 42);
    jsonw_key(&w, "user");
    wbuf_u8(&w, '{');
    jsonw_key(&w, "uid"); /* first key of a nested object: no comma */
    jsonw_cstr(&w, "u1");
    wbuf_u8(&w, '}');
    jsonw_key(&w, "text");
    jsonw_str(&w, "a\0\"b\n", 5);
    wbuf_u8(&w, '}');
    wbuf_u8(&w, 0);
    CHECK_STR(w.data, "{\"event\":\"message\",\"room\":\"lobby\",\"seq\":42,"
                      "\"user\":{\"uid\":\"u1\"},\"text\":\"a\\u0000\\\"b\\n\"}");
    json_object *o = NULL;
    CHECK(json_parse_strict(w.data, w.len - 1, &o) == RC_OK);
    const char *s = NULL;
    size_t n = 0;
    CHECK(json_get_string(o, "text", true, &s, &n, NULL) == RC_OK);
    CHECK_EQ_INT(n, 5);
    CHECK(s != NULL && memcmp(s, "a\0\"b\n", 5) == 0);
    CHECK(json_get_string(o, "event", true, &s, &n, NULL) == RC_OK);
    CHECK_STR(s, "message");
    json_object_put(o);
    wbuf_free(&w);

    /* A key as the very first bytes of an empty wbuf gets no comma. */
    wbuf k = {0};
    jsonw_key(&k, "a");
    wbuf_u8(&k, 0);
    CHECK_STR(k.data, "\"a\":");
    wbuf_free(&k);
}

RUN_TESTS(jsonw)
