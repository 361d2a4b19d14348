/* test_binary.c -- unit tests of gateway/gw_binary.c (the layout of a
 * binary chat message) and the two field rules it uses from common/valid.c
 * (MIME type, file name). Single-threaded. */
#include <string.h>

#include "check.h"
#include "gw_binary.h"
#include "protocol.h"
#include "valid.h"

/* Builds length + header + payload into buf; returns the total length. */
static size_t make(char *buf, size_t cap, const char *header,
                   const char *payload, size_t payload_len)
{
    size_t n = strlen(header);
    if (4 + n + payload_len > cap)
        return 0;
    binary_length_put((unsigned char *)buf, n);
    memcpy(buf + 4, header, n);
    memcpy(buf + 4 + n, payload, payload_len);
    return 4 + n + payload_len;
}

/* Parses header + payload "xyz"; returns the rc, *why and the id. */
typedef struct parsed {
    rc r;
    const char *why;
    char id[80];
    char type[160];
    char filename[300];
    size_t payload_len;
} parsed;

static parsed parse_raw(const char *data, size_t len)
{
    parsed p;
    memset(&p, 0, sizeof p);
    binary_msg m;
    p.r = binary_parse(data, len, &m, &p.why);
    if (m.id)
        snprintf(p.id, sizeof p.id, "%s", m.id);
    if (p.r == RC_OK) {
        snprintf(p.type, sizeof p.type, "%.*s", (int)m.type_len, m.type);
        if (m.filename)
            snprintf(p.filename, sizeof p.filename, "%.*s",
                     (int)m.filename_len, m.filename);
        p.payload_len = m.payload_len;
    }
    binary_free(&m);
    return p;
}

static parsed parse(const char *header)
{
    char buf[8192];
    size_t n = make(buf, sizeof buf, header, "xyz", 3);
    return parse_raw(buf, n);
}

TEST(minimal_message_takes_defaults)
{
    char buf[256];
    size_t n = make(buf, sizeof buf, "{\"event\":\"message\",\"room\":\"r\"}",
                    "\x00\xff\x01", 3);
    binary_msg m;
    const char *why = NULL;
    CHECK_EQ_INT(binary_parse(buf, n, &m, &why), RC_OK);
    CHECK_STR(m.room, "r");
    CHECK(m.id == NULL);
    CHECK(m.filename == NULL);
    CHECK_EQ_INT(m.type_len, strlen(BINARY_DEFAULT_TYPE));
    CHECK(memcmp(m.type, "application/octet-stream", m.type_len) == 0);
    CHECK_EQ_INT(m.payload_len, 3);
    CHECK(m.payload == buf + n - 3);
    CHECK(memcmp(m.payload, "\x00\xff\x01", 3) == 0);
    binary_free(&m);
    binary_free(&m); /* twice is harmless */
    binary_free(NULL);
}

TEST(every_field)
{
    parsed p = parse("{\"event\":\"message\",\"room\":\"lobby\",\"id\":\"m1\","
                     "\"type\":\"image/png\",\"filename\":\"caf\xc3\xa9 1.png\","
                     "\"extra\":[1,2]}");
    CHECK_EQ_INT(p.r, RC_OK);
    CHECK_STR(p.id, "m1");
    CHECK_STR(p.type, "image/png");
    CHECK_STR(p.filename, "caf\xc3\xa9 1.png");
    CHECK_EQ_INT(p.payload_len, 3);
}

TEST(bad_lengths_are_bad_json)
{
    char buf[64];
    /* fewer than 4 bytes */
    CHECK_EQ_INT(parse_raw("", 0).r, RC_BAD_JSON);
    CHECK_EQ_INT(parse_raw("\0\0\0", 3).r, RC_BAD_JSON);
    /* N = 0 */
    CHECK_EQ_INT(parse_raw("\0\0\0\0{}x", 7).r, RC_BAD_JSON);
    /* N past the end */
    memcpy(buf, "\0\0\0\x10{}", 6);
    CHECK_EQ_INT(parse_raw(buf, 6).r, RC_BAD_JSON);
    /* N over 4096 though the bytes are there */
    static char big[4 + 4097 + 1];
    binary_length_put((unsigned char *)big, 4097);
    memset(big + 4, ' ', 4097);
    big[4] = '{';
    big[4 + 4096] = '}';
    CHECK_EQ_INT(parse_raw(big, sizeof big).r, RC_BAD_JSON);
    /* N huge (high byte set) */
    CHECK_EQ_INT(parse_raw("\xff\xff\xff\xff{}xx", 8).r, RC_BAD_JSON);
    parsed p = parse_raw("\0\0\0\0", 4);
    CHECK(p.why != NULL && p.why[0] != 0);
    CHECK_STR(p.id, "");
}

TEST(header_of_exactly_4096_bytes)
{
    static char buf[4 + 4096 + 1];
    const char *h = "{\"event\":\"message\",\"room\":\"r\",\"pad\":\"";
    size_t hl = strlen(h);
    binary_length_put((unsigned char *)buf, 4096);
    memcpy(buf + 4, h, hl);
    memset(buf + 4 + hl, 'a', 4096 - hl - 2);
    memcpy(buf + 4 + 4096 - 2, "\"}", 2);
    buf[4 + 4096] = 'p';
    parsed p = parse_raw(buf, sizeof buf);
    CHECK_EQ_INT(p.r, RC_OK);
    CHECK_EQ_INT(p.payload_len, 1);
}

TEST(header_not_strict_json)
{
    CHECK_EQ_INT(parse("{\"event\":\"message\",\"room\":\"r\",}").r,
                 RC_BAD_JSON);
    CHECK_EQ_INT(parse("{'event':'message'}").r, RC_BAD_JSON);
    CHECK_EQ_INT(parse("{\"event\":\"message\"} x").r, RC_BAD_JSON);
    CHECK_EQ_INT(parse("{\"event\":\"message\",\"room\":\"r\",\"n\":NaN}").r,
                 RC_BAD_JSON);
    CHECK_EQ_INT(parse("{\"room\":\"a\",\"room\":\"b\",\"event\":\"message\"}")
                     .r, RC_BAD_JSON);
    CHECK_EQ_INT(parse("{\"event\":\"message\" /* c */}").r, RC_BAD_JSON);
    /* the header length cuts the JSON short */
    char buf[64];
    size_t n = make(buf, sizeof buf, "{\"event\":\"message\",\"room\":\"r\"}",
                    "x", 1);
    binary_length_put((unsigned char *)buf, 10);
    CHECK_EQ_INT(parse_raw(buf, n).r, RC_BAD_JSON);
    /* bad JSON carries no id, even if one shows */
    CHECK_STR(parse("{\"id\":\"m1\",}").id, "");
}

TEST(wrong_fields_are_bad_request_with_id)
{
    static const char *const bad[] = {
        "[1,2]",
        "\"message\"",
        "{\"room\":\"r\",\"id\":\"m1\"}",
        "{\"event\":\"enter\",\"room\":\"r\",\"id\":\"m1\"}",
        "{\"event\":1,\"room\":\"r\",\"id\":\"m1\"}",
        "{\"event\":\"message\",\"id\":\"m1\"}",
        "{\"event\":\"message\",\"room\":\"a b\",\"id\":\"m1\"}",
        "{\"event\":\"message\",\"room\":5,\"id\":\"m1\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\",\"type\":\"png\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\",\"type\":\"a/b/c\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\",\"type\":\"/b\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\",\"type\":\"a/\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\","
        "\"type\":\"text/plain; charset=utf-8\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\",\"type\":7}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\",\"filename\":\"\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\","
        "\"filename\":\"a/b\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\","
        "\"filename\":\"a\\\\b\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\","
        "\"filename\":\"a\\nb\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\","
        "\"filename\":\"a\\u0000b\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\","
        "\"filename\":\"a\\u0085b\"}",
        "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m1\",\"filename\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parsed p = parse(bad[i]);
        if (p.r != RC_BAD_REQUEST)
            fprintf(stderr, "header %zu: rc %d\n", i, p.r);
        CHECK_EQ_INT(p.r, RC_BAD_REQUEST);
        CHECK(p.why != NULL && p.why[0] != 0);
        if (i >= 2)
            CHECK_STR(p.id, "m1");
    }
}

TEST(bad_id_is_bad_request_without_id)
{
    parsed p = parse("{\"event\":\"message\",\"room\":\"r\",\"id\":\"\"}");
    CHECK_EQ_INT(p.r, RC_BAD_REQUEST);
    CHECK_STR(p.id, "");
    p = parse("{\"event\":\"message\",\"room\":\"r\",\"id\":5}");
    CHECK_EQ_INT(p.r, RC_BAD_REQUEST);
    char h[200];
    snprintf(h, sizeof h, "{\"event\":\"message\",\"room\":\"r\",\"id\":\"%065d\"}",
             0);
    p = parse(h);
    CHECK_EQ_INT(p.r, RC_BAD_REQUEST);
    CHECK_STR(p.id, "");
}

TEST(empty_payload_is_bad_request_with_id)
{
    char buf[128];
    size_t n = make(buf, sizeof buf,
                    "{\"event\":\"message\",\"room\":\"r\",\"id\":\"m9\"}", "",
                    0);
    parsed p = parse_raw(buf, n);
    CHECK_EQ_INT(p.r, RC_BAD_REQUEST);
    CHECK_STR(p.id, "m9");
    CHECK_CONTAINS(p.why, "payload");
}

TEST(mime_type_rule)
{
    CHECK(valid_mime_type("a/b", 3));
    CHECK(valid_mime_type("image/svg+xml", 13));
    CHECK(valid_mime_type("application/vnd.ms-excel", 24));
    CHECK(valid_mime_type("A!#$&^_.+-/Z9", 13));
    CHECK(!valid_mime_type("", 0));
    CHECK(!valid_mime_type("ab", 2));
    CHECK(!valid_mime_type("/ab", 3));
    CHECK(!valid_mime_type("ab/", 3));
    CHECK(!valid_mime_type("a//b", 4));
    CHECK(!valid_mime_type("a b/c", 5));
    CHECK(!valid_mime_type("a/b\0", 4));
    CHECK(!valid_mime_type("a/\xc3\xa9", 4));
    char t[200];
    memset(t, 'x', sizeof t);
    t[1] = '/';
    CHECK(valid_mime_type(t, MIME_TYPE_MAX));
    CHECK(!valid_mime_type(t, MIME_TYPE_MAX + 1));
}

TEST(filename_rule)
{
    CHECK(valid_filename("a", 1));
    CHECK(valid_filename("photo 1.jpeg", 12));
    CHECK(valid_filename("\xe2\x82\xac.txt", 7));
    CHECK(valid_filename("..", 2)); /* only a name: there is no path */
    CHECK(!valid_filename("", 0));
    CHECK(!valid_filename("a/b", 3));
    CHECK(!valid_filename("a\\b", 3));
    CHECK(!valid_filename("a\tb", 3));
    CHECK(!valid_filename("a\x7f", 2));
    CHECK(!valid_filename("a\xc2\x9f", 3)); /* C1 control */
    CHECK(!valid_filename("a\xff", 2));
    CHECK(!valid_filename("a\xc0\xaf", 3)); /* an overlong '/' */
    char n[300];
    memset(n, 'n', sizeof n);
    CHECK(valid_filename(n, FILENAME_MAX_BYTES));
    CHECK(!valid_filename(n, FILENAME_MAX_BYTES + 1));
}

TEST(length_put_is_big_endian)
{
    unsigned char p[4];
    binary_length_put(p, 0x01020304);
    CHECK(p[0] == 1 && p[1] == 2 && p[2] == 3 && p[3] == 4);
    binary_length_put(p, 4096);
    CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0x10 && p[3] == 0);
}

RUN_TESTS(binary)
