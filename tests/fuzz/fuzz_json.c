/* fuzz_json.c -- libFuzzer target for common/json.c (json_parse_strict and
 * the field getters), with common/jsonw.c as a second party.
 *
 * The input is one client frame's text. When json_parse_strict accepts it:
 * the text must be UTF-8 (independent validator, fuzz_util.h) and be one
 * object with nothing but white space around it; every getter the gateway
 * uses runs on it; every string value read back must be valid UTF-8 and,
 * written out again with jsonw_str, must parse strictly to the same bytes;
 * and integers read with json_get_int must survive jsonw_i64 the same way.
 * A rejected text must leave *out untouched; RC_BAD_REQUEST is only for
 * well-formed JSON that is not an object. */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "json.h"
#include "jsonw.h"

/* {"k":<s escaped>} parses strictly and gives s back, byte for byte. */
static void string_round_trip(const char *s, size_t n)
{
    wbuf w = {0};
    wbuf_bytes(&w, "{", 1);
    jsonw_key(&w, "k");
    jsonw_str(&w, s, n);
    wbuf_bytes(&w, "}", 1);
    FUZZ_ASSERT(!w.failed, "wbuf failed");
    json_object *o = NULL;
    rc r = json_parse_strict(w.data, w.len, &o);
    FUZZ_ASSERT(r == RC_OK, "jsonw output of a %zu-byte string refused: %.*s",
                n, (int)(w.len < 200 ? w.len : 200), w.data);
    const char *got = NULL;
    size_t len = 0;
    FUZZ_ASSERT(json_get_string(o, "k", true, &got, &len, NULL) == RC_OK,
                "k missing");
    FUZZ_ASSERT(len == n && memcmp(got, s, n) == 0,
                "string changed in a round trip (%zu -> %zu bytes)", n, len);
    json_object_put(o);
    wbuf_free(&w);
}

static void int_round_trip(int64_t v)
{
    wbuf w = {0};
    wbuf_bytes(&w, "{", 1);
    jsonw_key(&w, "n");
    jsonw_i64(&w, v);
    wbuf_bytes(&w, "}", 1);
    json_object *o = NULL;
    FUZZ_ASSERT(json_parse_strict(w.data, w.len, &o) == RC_OK,
                "jsonw_i64 output refused");
    int64_t got = 0;
    FUZZ_ASSERT(json_get_int(o, "n", true, &got, NULL) == RC_OK &&
                got == v, "integer changed in a round trip");
    json_object_put(o);
    wbuf_free(&w);
}

/* The fields the gateway reads, as strings and as integers. */
static const char *const STRING_KEYS[] = {"event", "room", "name", "message",
                                          "id",    "uid",  "token"};
static const char *const INT_KEYS[] = {"since", "before", "limit"};

static void getters(json_object *o)
{
    for (size_t i = 0; i < sizeof STRING_KEYS / sizeof STRING_KEYS[0]; i++) {
        const char *s = (const char *)1;
        size_t len = 12345;
        bool present = true;
        rc r = json_get_string(o, STRING_KEYS[i], false, &s, &len, &present);
        FUZZ_ASSERT(r == RC_OK || r == RC_BAD_REQUEST, "rc %d", r);
        if (r == RC_OK && present) {
            FUZZ_ASSERT(s != NULL && s[len] == '\0', "string not terminated");
            FUZZ_ASSERT(ref_utf8((const unsigned char *)s, len, false),
                        "getter returned invalid UTF-8 for %s",
                        STRING_KEYS[i]);
        }
        if (r == RC_OK && !present)
            FUZZ_ASSERT(s == (const char *)1 && len == 12345,
                        "out-params written for a missing key");
        /* Required: a missing key is bad_request. */
        rc q = json_get_string(o, STRING_KEYS[i], true, &s, NULL, NULL);
        FUZZ_ASSERT(q == (present || r != RC_OK ? r : RC_BAD_REQUEST),
                    "required/optional disagree");
    }
    for (size_t i = 0; i < sizeof INT_KEYS / sizeof INT_KEYS[0]; i++) {
        int64_t v = 77;
        bool present = true;
        rc r = json_get_int(o, INT_KEYS[i], false, &v, &present);
        FUZZ_ASSERT(r == RC_OK || r == RC_BAD_REQUEST, "rc %d", r);
        if (r == RC_OK && present)
            int_round_trip(v);
        if (r == RC_OK && !present)
            FUZZ_ASSERT(v == 77, "out-param written for a missing key");
    }
}

/* Every string anywhere in the tree (values and keys) round-trips. `depth`
 * counts containers: JSON_DEPTH_MAX of them may nest, and the scalars inside
 * the innermost sit one level further down. */
static void walk(json_object *o, int depth)
{
    json_type t = json_object_get_type(o);
    if (t == json_type_array || t == json_type_object)
        FUZZ_ASSERT(depth <= JSON_DEPTH_MAX, "containers nest deeper than "
                    "the limit");
    switch (t) {
    case json_type_string: {
        const char *s = json_object_get_string(o);
        size_t n = (size_t)json_object_get_string_len(o);
        FUZZ_ASSERT(ref_utf8((const unsigned char *)s, n, false),
                    "string value is not UTF-8");
        string_round_trip(s, n);
        break;
    }
    case json_type_int:
        int_round_trip(json_object_get_int64(o));
        break;
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            walk(json_object_array_get_idx(o, i), depth + 1);
        break;
    case json_type_object: {
        json_object_object_foreach(o, key, value) {
            FUZZ_ASSERT(ref_utf8((const unsigned char *)key, strlen(key),
                                 false), "key is not UTF-8");
            string_round_trip(key, strlen(key));
            walk(value, depth + 1);
        }
        break;
    }
    default:
        break;
    }
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *o = (json_object *)(uintptr_t)1;
    rc r = json_parse_strict((const char *)data, size, &o);
    size_t a = 0, b = size;
    while (a < size && is_ws(data[a]))
        a++;
    while (b > a && is_ws(data[b - 1]))
        b--;
    if (r != RC_OK) {
        FUZZ_ASSERT(r == RC_BAD_JSON || r == RC_BAD_REQUEST || r == RC_NOMEM,
                    "rc %d", r);
        FUZZ_ASSERT(o == (json_object *)(uintptr_t)1,
                    "*out written on failure");
        /* bad_request: well-formed JSON that is not an object. */
        if (r == RC_BAD_REQUEST)
            FUZZ_ASSERT(a < b && data[a] != '{' &&
                        ref_utf8(data, size, false),
                        "bad_request for text that is not valid non-object "
                        "JSON");
        return 0;
    }
    FUZZ_ASSERT(o != NULL && json_object_is_type(o, json_type_object),
                "not an object");
    FUZZ_ASSERT(ref_utf8(data, size, false), "accepted invalid UTF-8");
    FUZZ_ASSERT(b - a >= 2 && data[a] == '{' && data[b - 1] == '}',
                "accepted text that is not one object");
    getters(o);
    walk(o, 1);
    json_object_put(o);
    return 0;
}
