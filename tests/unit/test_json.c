/* test_json.c -- unit tests of common/json.c: what json_parse_strict takes
 * and refuses (json-c alone would take much of the refused text), and the
 * field readers. Single-threaded. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "json.h"

/* json_parse_strict on a C string; frees the object. */
static rc parse(const char *text)
{
    json_object *o = NULL;
    rc r = json_parse_strict(text, strlen(text), &o);
    json_object_put(o);
    return r;
}

#define OK(text) CHECK_EQ_INT(parse(text), RC_OK)
#define BAD(text) CHECK_EQ_INT(parse(text), RC_BAD_JSON)

/* `depth` containers nested inside the top-level object (depth counts it):
 * {"a":{"a":...1...}} or {"a":[[...1...]]}. */
static void nest(char *buf, int depth, int arrays)
{
    size_t at = 0;
    const char *open = arrays ? "[" : "{\"a\":";
    memcpy(buf + at, "{\"a\":", 5);
    at += 5;
    for (int i = 1; i < depth; i++) {
        memcpy(buf + at, open, strlen(open));
        at += strlen(open);
    }
    buf[at++] = '1';
    for (int i = 1; i < depth; i++)
        buf[at++] = arrays ? ']' : '}';
    buf[at++] = '}';
    buf[at] = '\0';
}

TEST(accepts_plain_objects)
{
    OK("{}");
    OK("{\"event\":\"enter\",\"room\":\"lobby\",\"name\":\"Al\"}");
    OK(" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \t\r\n");
    OK("{\"a\":true,\"b\":false,\"c\":null,\"d\":[],\"e\":\"\"}");
    OK("{\"\":1}"); /* an empty key is valid JSON */
    OK("{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\"}");
    OK("{\"a\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
    OK("{\"a\":\"\\ud83d\\ude00\"}"); /* a surrogate pair */
}

TEST(refuses_what_json_c_lets_through)
{
    BAD("{'a':1}");               /* single quotes: json-c strict takes it */
    BAD("{\"a\":'x'}");
    BAD("{\"a\":NaN}");
    BAD("{\"a\":Infinity}");
    BAD("{\"a\":-Infinity}");
    BAD("{\"a\":nan}");
    BAD("{\"a\":inf}");
    BAD("{\"a\":1.}");            /* json-c strict takes it */
    BAD("{\"a\":\"tab\there\"}"); /* raw control character */
    BAD("{\"a\":\"nl\nhere\"}");
    BAD("{\"a\":\"\x7f\x01\"}");
}

TEST(refuses_comments_trailing_commas_and_garbage)
{
    BAD("{/* c */\"a\":1}");
    BAD("{\"a\":1 /* c */}");
    BAD("{\"a\":1}// c");
    BAD("# c\n{\"a\":1}");
    BAD("{\"a\":1,}");
    BAD("{\"a\":[1,2,]}");
    BAD("{,}");
    BAD("{\"a\":[,1]}");
    BAD("{\"a\":1}x");
    BAD("{\"a\":1} {}");
    BAD("{\"a\":1}}");
    BAD("{\"a\":1}\f");            /* \f is not JSON white space */
    BAD("\xef\xbb\xbf{\"a\":1}");  /* a byte order mark */
    BAD("{\"a\" 1}");
    BAD("{\"a\":1 \"b\":2}");
    BAD("{a:1}");
    BAD("{\"a\":tru}");
    BAD("{\"a\":True}");
    BAD("{\"a\":nul}");
    BAD("{\"a\":undefined}");
}

TEST(refuses_truncated_and_empty_input)
{
    BAD("");
    BAD("   ");
    BAD("{");
    BAD("{\"a\"");
    BAD("{\"a\":");
    BAD("{\"a\":1");
    BAD("{\"a\":\"x");
    BAD("{\"a\":[1,2");
    BAD("{\"a\":\"\\");
    BAD("{\"a\":\"\\u12");
}

/* Strict JSON that is not an object: a bad request (no `event` field). */
#define NOT_OBJECT(text)                                                       \
    do {                                                                       \
        json_object *o_ = NULL;                                                \
        CHECK_EQ_INT(json_parse_strict(text, strlen(text), &o_),               \
                     RC_BAD_REQUEST);                                          \
        CHECK(o_ == NULL);                                                     \
    } while (0)

TEST(refuses_everything_but_an_object)
{
    NOT_OBJECT("[]");
    NOT_OBJECT("[{\"a\":1}]");
    NOT_OBJECT("\"x\"");
    NOT_OBJECT("1");
    NOT_OBJECT(" true ");
    NOT_OBJECT("null");
    BAD("[1,]");
    BAD("nul");
    BAD("[] x");
}

TEST(nesting_limit_is_16)
{
    char buf[256];
    nest(buf, 1, 0);
    OK(buf);
    nest(buf, JSON_DEPTH_MAX, 0);
    OK(buf);
    nest(buf, JSON_DEPTH_MAX + 1, 0);
    BAD(buf);
    nest(buf, JSON_DEPTH_MAX, 1);
    OK(buf);
    nest(buf, JSON_DEPTH_MAX + 1, 1);
    BAD(buf);
    nest(buf, 40, 1);
    BAD(buf);
    /* Depth is nesting, not the number of containers. */
    OK("{\"a\":[],\"b\":[],\"c\":{},\"d\":{\"e\":[[]]}}");
}

TEST(refuses_duplicate_keys)
{
    BAD("{\"a\":1,\"a\":2}");
    BAD("{\"room\":\"x\",\"b\":1,\"room\":\"y\"}");
    BAD("{\"a\":1,\"\\u0061\":2}"); /* the same key, escaped */
    BAD("{\"o\":{\"a\":1,\"a\":1}}");
    BAD("{\"l\":[{\"a\":1,\"a\":1}]}");
    OK("{\"a\":{\"a\":1},\"b\":{\"a\":2}}"); /* same key, other objects */
}

TEST(strings_with_nul)
{
    /* \u0000 in a value is kept, with its length. */
    json_object *o = NULL;
    const char *text = "{\"a\":\"x\\u0000y\"}";
    CHECK_EQ_INT(json_parse_strict(text, strlen(text), &o), RC_OK);
    const char *s = NULL;
    size_t len = 0;
    CHECK_EQ_INT(json_get_string(o, "a", true, &s, &len, NULL), RC_OK);
    CHECK_EQ_INT(len, 3);
    CHECK(s != NULL && memcmp(s, "x\0y", 3) == 0);
    json_object_put(o);
    /* In a key it is refused: json-c would cut the key at the NUL, and
     * "room\u0000x" would be read as "room". */
    BAD("{\"room\\u0000x\":\"b\"}");
    BAD("{\"room\":\"a\",\"room\\u0000\":\"b\"}");
    /* A raw NUL byte is never JSON, in a string or after the object. */
    CHECK_EQ_INT(json_parse_strict("{\"a\":\"x\0y\"}", 11, &o), RC_BAD_JSON);
    CHECK_EQ_INT(json_parse_strict("{\"a\":1}\0", 8, &o), RC_BAD_JSON);
    CHECK_EQ_INT(json_parse_strict("\0{\"a\":1}", 8, &o), RC_BAD_JSON);
}

TEST(refuses_bad_escapes_and_lone_surrogates)
{
    BAD("{\"a\":\"\\x41\"}");
    BAD("{\"a\":\"\\a\"}");
    BAD("{\"a\":\"\\'\"}");
    BAD("{\"a\":\"\\u12g4\"}");
    BAD("{\"a\":\"\\U0041\"}");
    BAD("{\"a\":\"\\ud800\"}");           /* json-c: U+FFFD */
    BAD("{\"a\":\"\\udc00\"}");
    BAD("{\"a\":\"\\ud800x\"}");
    BAD("{\"a\":\"\\ud800\\u0041\"}");
    BAD("{\"a\":\"\\ud800\\ud800\"}");
    BAD("{\"a\":\"\\udc00\\ud800\"}");
    BAD("{\"\\ud800\":1}");
    OK("{\"a\":\"\\uDBFF\\uDFFF\"}");      /* U+10FFFF */
}

TEST(refuses_invalid_utf8)
{
    BAD("{\"a\":\"\xc0\xaf\"}");          /* overlong: json-c takes it */
    BAD("{\"a\":\"\xed\xa0\x80\"}");      /* surrogate: json-c takes it */
    BAD("{\"a\":\"\xf4\x90\x80\x80\"}");  /* U+110000: json-c takes it */
    BAD("{\"a\":\"\xc3\"}");
    BAD("{\"a\":\"\x80\"}");
    BAD("{\"a\xff\":1}");
    BAD("{\"a\":1,\xc3\xa9:1}");           /* non-ASCII outside a string */
    OK("{\"a\":\"\xf4\x8f\xbf\xbf\"}");
}

TEST(number_grammar)
{
    OK("{\"a\":0}");
    OK("{\"a\":-0}");
    OK("{\"a\":123}");
    OK("{\"a\":-1.5e-3}");
    OK("{\"a\":1E+5}");
    OK("{\"a\":1e5}");
    OK("{\"a\":0.5}");
    OK("{\"a\":1e-400}"); /* underflow to 0 is not overflow */
    BAD("{\"a\":01}");
    BAD("{\"a\":-01}");
    BAD("{\"a\":-}");
    BAD("{\"a\":.5}");
    BAD("{\"a\":+1}");
    BAD("{\"a\":0x10}");
    BAD("{\"a\":1e}");
    BAD("{\"a\":1e+}");
    BAD("{\"a\":1.e5}");
    BAD("{\"a\":- 1}");
    BAD("{\"a\":1_000}");
}

/* Valid JSON is never bad_json, whatever a number's magnitude (RFC 8259
 * grammar): integers beyond int64 and doubles beyond a double parse, and
 * json_get_int refuses them (bad_request: the caller names the field). */
TEST(number_ranges)
{
    OK("{\"a\":9223372036854775807}");
    OK("{\"a\":-9223372036854775808}");
    OK("{\"a\":9223372036854775808}");      /* json-c alone: a uint64 */
    OK("{\"a\":-9223372036854775809}");     /* json-c alone: saturates */
    OK("{\"a\":18446744073709551615}");
    OK("{\"a\":18446744073709551616}");
    OK("{\"a\":99999999999999999999999999}");
    OK("{\"a\":1.7976931348623157e308}");    /* DBL_MAX */
    OK("{\"a\":1.8e308}");
    OK("{\"a\":99999999999999999999999999.0}");
    OK("{\"a\":1e308}");
    OK("{\"a\":{\"b\":[0,1e309]}}");
    OK("{\"a\":1e400}");
    OK("{\"a\":-1e400}");
    OK("{\"a\":[1,2,1e999]}");
    /* Still refused: what the grammar refuses, big or not. */
    BAD("{\"a\":-99999999999999999999x}");
    BAD("{\"a\":099999999999999999999}");
    BAD("{\"a\":99999999999999999999.}");
}

/* The integer fields read as the text says, or are refused: never a
 * saturated, wrong value. */
TEST(get_int_out_of_range)
{
    const char *text =
        "{\"neg\":-9223372036854775809,\"pos\":9223372036854775808,"
        "\"u\":18446744073709551615,\"huge\":1234567890123456789012345678901"
        "2345678901234567890,\"inf\":1e400,\"ninf\":-1e999,"
        "\"min\":-9223372036854775808,\"max\":9223372036854775807,"
        "\"in\":[99999999999999999999,{\"x\":-99999999999999999999}],"
        "\"s\":\"99999999999999999999\",\"after\":7}";
    json_object *o = NULL;
    CHECK_EQ_INT(json_parse_strict(text, strlen(text), &o), RC_OK);
    int64_t v = 5;
    const char *const refused[] = {"neg", "pos", "u", "huge", "inf", "ninf"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        CHECK_EQ_INT(json_get_int(o, refused[i], true, &v, NULL),
                     RC_BAD_REQUEST);
        CHECK_EQ_INT(v, 5);
    }
    CHECK_EQ_INT(json_get_int(o, "min", true, &v, NULL), RC_OK);
    CHECK(v == INT64_MIN);
    CHECK_EQ_INT(json_get_int(o, "max", true, &v, NULL), RC_OK);
    CHECK(v == INT64_MAX);
    CHECK_EQ_INT(json_get_int(o, "after", true, &v, NULL), RC_OK);
    CHECK_EQ_INT(v, 7);
    /* A string that looks like a big number is a string, unchanged. */
    const char *s = NULL;
    size_t len = 0;
    CHECK_EQ_INT(json_get_string(o, "s", true, &s, &len, NULL), RC_OK);
    CHECK_STR(s, "99999999999999999999");
    json_object_put(o);
    /* The request the protocol names: valid JSON, limit out of range. */
    const char *h = "{\"event\":\"history\",\"room\":\"r\","
                    "\"limit\":-9223372036854775809}";
    CHECK_EQ_INT(json_parse_strict(h, strlen(h), &o), RC_OK);
    CHECK_EQ_INT(json_get_string(o, "room", true, &s, &len, NULL), RC_OK);
    CHECK_STR(s, "r");
    CHECK_EQ_INT(json_get_int(o, "limit", false, &v, NULL), RC_BAD_REQUEST);
    json_object_put(o);
    /* Not NUL-terminated, the big integer last before the brace. */
    const char buf[] = "{\"a\":-99999999999999999999}99";
    CHECK_EQ_INT(json_parse_strict(buf, sizeof buf - 3, &o), RC_OK);
    CHECK_EQ_INT(json_get_int(o, "a", true, &v, NULL), RC_BAD_REQUEST);
    json_object_put(o);
}

TEST(input_need_not_be_nul_terminated)
{
    /* Only the first len bytes count: what follows is not looked at. */
    const char buf[] = "{\"a\":\"b\"}garbage";
    json_object *o = NULL;
    CHECK_EQ_INT(json_parse_strict(buf, 9, &o), RC_OK);
    json_object_put(o);
    o = NULL;
    CHECK_EQ_INT(json_parse_strict(buf, 8, &o), RC_BAD_JSON);
    CHECK(o == NULL);
    const char num[] = "{\"a\":12}34";
    CHECK_EQ_INT(json_parse_strict(num, 8, &o), RC_OK);
    int64_t v = 0;
    CHECK_EQ_INT(json_get_int(o, "a", true, &v, NULL), RC_OK);
    CHECK_EQ_INT(v, 12);
    json_object_put(o);
}

TEST(out_untouched_on_error)
{
    json_object *sentinel = (json_object *)&sentinel;
    json_object *o = sentinel;
    CHECK_EQ_INT(json_parse_strict("{\"a\":NaN}", 9, &o), RC_BAD_JSON);
    CHECK(o == sentinel);
    CHECK_EQ_INT(json_parse_strict("[]", 2, &o), RC_BAD_REQUEST);
    CHECK(o == sentinel);
}

/* Parses text, which the test knows to be good. */
static json_object *obj(const char *text)
{
    json_object *o = NULL;
    if (json_parse_strict(text, strlen(text), &o) != RC_OK)
        return NULL;
    return o;
}

TEST(get_string)
{
    json_object *o =
        obj("{\"s\":\"hi\",\"n\":1,\"z\":null,\"o\":{},\"e\":\"\"}");
    CHECK(o != NULL);
    const char *s = "preset";
    size_t len = 99;
    bool present = false;
    CHECK_EQ_INT(json_get_string(o, "s", true, &s, &len, &present), RC_OK);
    CHECK_STR(s, "hi");
    CHECK_EQ_INT(len, 2);
    CHECK(present);
    CHECK_EQ_INT(json_get_string(o, "e", true, &s, &len, &present), RC_OK);
    CHECK_STR(s, "");
    CHECK_EQ_INT(len, 0);
    /* Missing: optional is fine and leaves the preset value. */
    s = "preset";
    len = 6;
    CHECK_EQ_INT(json_get_string(o, "x", false, &s, &len, &present), RC_OK);
    CHECK(!present);
    CHECK_STR(s, "preset");
    CHECK_EQ_INT(len, 6);
    CHECK_EQ_INT(json_get_string(o, "x", false, &s, &len, NULL), RC_OK);
    CHECK_EQ_INT(json_get_string(o, "x", true, &s, &len, &present),
                 RC_BAD_REQUEST);
    /* Present with another type, required or not: bad request. */
    CHECK_EQ_INT(json_get_string(o, "n", false, &s, &len, &present),
                 RC_BAD_REQUEST);
    CHECK_EQ_INT(json_get_string(o, "z", false, &s, &len, &present),
                 RC_BAD_REQUEST);
    CHECK_EQ_INT(json_get_string(o, "o", true, &s, &len, &present),
                 RC_BAD_REQUEST);
    CHECK_STR(s, "preset"); /* untouched by the errors */
    /* Not an object at all: every key is missing. */
    CHECK_EQ_INT(json_get_string(NULL, "s", true, &s, &len, NULL),
                 RC_BAD_REQUEST);
    CHECK_EQ_INT(json_get_string(NULL, "s", false, &s, &len, &present), RC_OK);
    CHECK(!present);
    json_object_put(o);
}

TEST(get_int)
{
    json_object *o = obj("{\"i\":42,\"neg\":-7,\"max\":9223372036854775807,"
                         "\"min\":-9223372036854775808,\"f\":1.5,\"g\":3.0,"
                         "\"e\":1e2,\"s\":\"3\",\"b\":true,\"z\":null}");
    CHECK(o != NULL);
    int64_t v = -1;
    bool present = false;
    CHECK_EQ_INT(json_get_int(o, "i", true, &v, &present), RC_OK);
    CHECK_EQ_INT(v, 42);
    CHECK(present);
    CHECK_EQ_INT(json_get_int(o, "neg", true, &v, NULL), RC_OK);
    CHECK_EQ_INT(v, -7);
    CHECK_EQ_INT(json_get_int(o, "max", true, &v, NULL), RC_OK);
    CHECK(v == INT64_MAX);
    CHECK_EQ_INT(json_get_int(o, "min", true, &v, NULL), RC_OK);
    CHECK(v == INT64_MIN);
    /* Only JSON integers: no fractions, not even 3.0 or 1e2. */
    v = 5;
    CHECK_EQ_INT(json_get_int(o, "f", true, &v, NULL), RC_BAD_REQUEST);
    CHECK_EQ_INT(json_get_int(o, "g", true, &v, NULL), RC_BAD_REQUEST);
    CHECK_EQ_INT(json_get_int(o, "e", true, &v, NULL), RC_BAD_REQUEST);
    CHECK_EQ_INT(json_get_int(o, "s", false, &v, NULL), RC_BAD_REQUEST);
    CHECK_EQ_INT(json_get_int(o, "b", false, &v, NULL), RC_BAD_REQUEST);
    CHECK_EQ_INT(json_get_int(o, "z", false, &v, NULL), RC_BAD_REQUEST);
    CHECK_EQ_INT(v, 5);
    CHECK_EQ_INT(json_get_int(o, "x", false, &v, &present), RC_OK);
    CHECK(!present);
    CHECK_EQ_INT(v, 5); /* a preset default survives */
    CHECK_EQ_INT(json_get_int(o, "x", true, &v, &present), RC_BAD_REQUEST);
    json_object_put(o);
}

TEST(get_int_refuses_uint64_beyond_int64)
{
    /* Objects built in code (not by json_parse_strict) can hold a uint64. */
    json_object *o = json_object_new_object();
    json_object_object_add(o, "u", json_object_new_uint64(UINT64_MAX));
    json_object_object_add(o, "m",
                           json_object_new_uint64((uint64_t)INT64_MAX));
    int64_t v = 0;
    CHECK_EQ_INT(json_get_int(o, "u", true, &v, NULL), RC_BAD_REQUEST);
    CHECK_EQ_INT(json_get_int(o, "m", true, &v, NULL), RC_OK);
    CHECK(v == INT64_MAX);
    json_object_put(o);
}

RUN_TESTS(json)
