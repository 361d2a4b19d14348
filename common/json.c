/* json.c -- strict JSON in, for frames from clients; see json.h.
 *
 * Any thread; no static state. A parsed json_object belongs to the thread
 * that parsed it (json-c reference counts are not atomic).
 *
 * json-c 0.16 is lax even with JSON_TOKENER_STRICT, measured with probes:
 * it still takes single-quoted strings ({'a':1}), raw control characters
 * inside strings, `1.` (no digit after the point), NaN, Infinity and
 * -Infinity, 1e400 (stored as inf), integers beyond int64 (saturated at
 * INT64_MIN, or at UINT64_MAX above 2^64), overlong and surrogate UTF-8
 * (JSON_TOKENER_VALIDATE_UTF8 only checks the byte pattern), and lone
 * surrogate escapes ("\ud800" becomes U+FFFD). Duplicate keys are merged (the
 * last wins) and a key holding \u0000 is cut at the NUL, so
 * {"room\u0000x":"b"} would read as {"room":"b"}. Its depth limit also
 * counts one level more than it lets through.
 *
 * So parsing is done in three steps:
 *   1. json_scan_*: our own RFC 8259 scanner walks the text once. It checks
 *      the grammar, strict UTF-8 (valid_utf8), escapes (surrogate pairs must
 *      pair up), the nesting depth, that no key holds \u0000, counts every
 *      object member it sees, and notes integers beyond int64.
 *   2. json-c builds the tree from exactly the scanned bytes -- or, when
 *      integers beyond int64 were seen, from a copy in which each of them
 *      is written as a double (json_mark_big), since json-c would saturate
 *      it to a wrong integer.
 *   3. json_walk checks that the tree holds as many members as the text
 *      did -- fewer means json-c merged duplicate keys.
 * Numbers are never bad_json when the grammar holds (RFC 8259 text is valid
 * whatever its magnitude): 1e400 becomes an infinite double and
 * -9223372036854775809 a double, and as no field reader takes a double for
 * an integer, a field holding one is a bad_request naming the field, while
 * an unknown field holding one is ignored like any other. NaN and Infinity
 * are not JSON and are refused by the grammar.
 * The scanner makes json-c's own checks redundant; they are kept as a second
 * opinion. */
#include "json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "valid.h"

typedef struct json_scan {
    const char *p;      /* next byte */
    const char *end;    /* one past the last byte */
    int depth;          /* containers open around p */
    size_t members;     /* object members seen so far */
    size_t nbig;        /* integers beyond int64 seen so far */
    const char *start;  /* the text's first byte */
    size_t *big_at;     /* NULL, or room for nbig offsets: where each of
                           those integers ends */
} json_scan;

static bool json_scan_value(json_scan *s);

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void json_scan_ws(json_scan *s)
{
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

static bool json_scan_byte(json_scan *s, char c)
{
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* Four hex digits after \u; the value goes to *v. */
static bool json_scan_hex4(json_scan *s, unsigned *v)
{
    if (s->end - s->p < 4)
        return false;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *s->p++;
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        *v = (*v << 4) | d;
    }
    return true;
}

/* A \u escape, s->p just past the `u`. A high surrogate must be followed by
 * a \u low surrogate and a low one must not stand alone: a lone surrogate
 * has no UTF-8 form, and json-c would silently turn it into U+FFFD. A key
 * must not hold U+0000 (json-c keys are C strings). */
static bool json_scan_unicode_escape(json_scan *s, bool is_key)
{
    unsigned v;
    if (!json_scan_hex4(s, &v))
        return false;
    if (v == 0 && is_key)
        return false;
    if (v >= 0xDC00 && v <= 0xDFFF)
        return false;
    if (v >= 0xD800 && v <= 0xDBFF) {
        unsigned low;
        if (!json_scan_byte(s, '\\') || !json_scan_byte(s, 'u') ||
            !json_scan_hex4(s, &low) || low < 0xDC00 || low > 0xDFFF)
            return false;
    }
    return true;
}

/* A string, s->p on the opening quote. Raw bytes below 0x20 must be escaped
 * (RFC 8259 section 7). Multi-byte UTF-8 never holds a byte below 0x80, so
 * looking for `"` and `\` byte by byte is safe, and the raw bytes between
 * the quotes are checked as UTF-8 in one go at the end. */
static bool json_scan_string(json_scan *s, bool is_key)
{
    if (!json_scan_byte(s, '"'))
        return false;
    const char *start = s->p;
    for (;;) {
        if (s->p >= s->end)
            return false;
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (s->p >= s->end)
            return false;
        switch (*s->p++) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n':
        case 'r': case 't':
            break;
        case 'u':
            if (!json_scan_unicode_escape(s, is_key))
                return false;
            break;
        default:
            return false;
        }
    }
    return valid_utf8(start, (size_t)(s->p - 1 - start));
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. One without a
 * fraction or exponent becomes an int64 in json-c, which saturates one
 * beyond int64 silently: such integers are noted (see json_parse_strict).
 * The others become doubles (1e400: infinity), which no field reader
 * takes. */
static bool json_scan_number(json_scan *s)
{
    bool negative = json_scan_byte(s, '-');
    if (s->p >= s->end || !is_digit(*s->p))
        return false;
    /* Magnitude limit: INT64_MAX, or one more for a negative number. */
    uint64_t limit = (uint64_t)INT64_MAX + (negative ? 1u : 0u);
    uint64_t magnitude = 0;
    bool overflow = false;
    if (*s->p == '0') {
        s->p++;
    } else {
        while (s->p < s->end && is_digit(*s->p)) {
            unsigned d = (unsigned)(*s->p++ - '0');
            if (magnitude > (limit - d) / 10)
                overflow = true;
            else
                magnitude = magnitude * 10 + d;
        }
    }
    bool integer = true;
    if (json_scan_byte(s, '.')) {
        integer = false;
        if (s->p >= s->end || !is_digit(*s->p))
            return false;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        integer = false;
        s->p++;
        if (!json_scan_byte(s, '+'))
            json_scan_byte(s, '-');
        if (s->p >= s->end || !is_digit(*s->p))
            return false;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (integer && overflow) {
        if (s->big_at != NULL)
            s->big_at[s->nbig] = (size_t)(s->p - s->start);
        s->nbig++;
    }
    return true;
}

static bool json_scan_literal(json_scan *s, const char *word, size_t len)
{
    if ((size_t)(s->end - s->p) < len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s->p[i] != word[i])
            return false;
    s->p += len;
    return true;
}

/* Entering a container: the top-level object is depth 1, and
 * JSON_DEPTH_MAX levels are allowed. The recursion is bounded by it. */
static bool json_scan_open(json_scan *s, char c)
{
    if (!json_scan_byte(s, c) || ++s->depth > JSON_DEPTH_MAX)
        return false;
    json_scan_ws(s);
    return true;
}

static bool json_scan_object(json_scan *s)
{
    if (!json_scan_open(s, '{'))
        return false;
    if (!json_scan_byte(s, '}')) {
        do {
            json_scan_ws(s);
            if (!json_scan_string(s, true))
                return false;
            json_scan_ws(s);
            if (!json_scan_byte(s, ':') || !json_scan_value(s))
                return false;
            s->members++;
        } while (json_scan_byte(s, ','));
        if (!json_scan_byte(s, '}'))
            return false;
    }
    s->depth--;
    return true;
}

static bool json_scan_array(json_scan *s)
{
    if (!json_scan_open(s, '['))
        return false;
    if (!json_scan_byte(s, ']')) {
        do {
            if (!json_scan_value(s))
                return false;
        } while (json_scan_byte(s, ','));
        if (!json_scan_byte(s, ']'))
            return false;
    }
    s->depth--;
    return true;
}

/* A value with the white space around it. */
static bool json_scan_value(json_scan *s)
{
    bool ok;
    json_scan_ws(s);
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '{': ok = json_scan_object(s); break;
    case '[': ok = json_scan_array(s); break;
    case '"': ok = json_scan_string(s, false); break;
    case 't': ok = json_scan_literal(s, "true", 4); break;
    case 'f': ok = json_scan_literal(s, "false", 5); break;
    case 'n': ok = json_scan_literal(s, "null", 4); break;
    default: ok = json_scan_number(s); break;
    }
    json_scan_ws(s);
    return ok;
}

/* Step 3 (see the top): adds up the members json-c kept. The tree is at
 * most JSON_DEPTH_MAX deep, which bounds the recursion. */
static bool json_walk(json_object *o, size_t *members)
{
    switch (json_object_get_type(o)) {
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            if (!json_walk(json_object_array_get_idx(o, i), members))
                return false;
        return true;
    }
    case json_type_object: {
        *members += (size_t)json_object_object_length(o);
        json_object_object_foreach(o, key, value) {
            (void)key;
            if (!json_walk(value, members))
                return false;
        }
        return true;
    }
    default:
        return true;
    }
}

/* The text json-c is given when integers beyond int64 were seen: a copy in
 * which each of them is followed by ".0", so that json-c makes it a double
 * (which no field reader takes: json_get_int answers bad_request, and the
 * caller names the field) instead of saturating it to a wrong integer.
 * Rare, so a second scan to find them costs nothing in the common case.
 * Returns an owned buffer (free), or NULL without memory. */
static char *json_mark_big(const char *text, size_t object_end, size_t nbig,
                           size_t *out_len)
{
    size_t *at = malloc(nbig * sizeof *at);
    char *copy = malloc(object_end + 2 * nbig);
    if (at == NULL || copy == NULL) {
        free(at);
        free(copy);
        return NULL;
    }
    json_scan s = {.p = text, .end = text + object_end, .start = text,
                   .big_at = at};
    json_scan_ws(&s);
    json_scan_object(&s); /* the same bytes as the first scan: succeeds */
    size_t from = 0, n = 0;
    for (size_t i = 0; i < s.nbig; i++) {
        memcpy(copy + n, text + from, at[i] - from);
        n += at[i] - from;
        memcpy(copy + n, ".0", 2);
        n += 2;
        from = at[i];
    }
    memcpy(copy + n, text + from, object_end - from);
    *out_len = n + object_end - from;
    free(at);
    return copy;
}

rc json_parse_strict(const char *text, size_t len, json_object **out)
{
    /* json-c takes an int length (and ".0" may be added: see below). */
    if (len == 0 || len > INT_MAX / 4)
        return RC_BAD_JSON;
    json_scan s = {.p = text, .end = text + len, .start = text};
    json_scan_ws(&s);
    if (s.p < s.end && *s.p != '{') {
        /* Well-formed JSON that is not an object lacks the `event` field:
         * a bad request, not bad JSON. */
        bool valid = json_scan_value(&s);
        json_scan_ws(&s);
        return valid && s.p == s.end ? RC_BAD_REQUEST : RC_BAD_JSON;
    }
    if (s.p >= s.end || !json_scan_object(&s))
        return RC_BAD_JSON;
    size_t object_end = (size_t)(s.p - text);
    json_scan_ws(&s);
    if (s.p != s.end)
        return RC_BAD_JSON;

    /* Integers beyond int64 are valid JSON (never bad_json), but json-c
     * would saturate them: it gets a copy where they are doubles. */
    char *marked = NULL;
    if (s.nbig > 0) {
        marked = json_mark_big(text, object_end, s.nbig, &object_end);
        if (marked == NULL)
            return RC_NOMEM;
        text = marked;
    }

    /* json-c counts one level more than it lets through (new_ex(16) refuses
     * 16 nested objects); our scanner has already enforced the limit. */
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH_MAX + 1);
    if (tok == NULL) {
        free(marked);
        return RC_NOMEM;
    }
    json_tokener_set_flags(tok,
                           JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* An object ends at its `}`, so json-c needs no terminating NUL here. */
    json_object *obj = json_tokener_parse_ex(tok, text, (int)object_end);
    bool ok = obj != NULL &&
              json_tokener_get_error(tok) == json_tokener_success &&
              json_tokener_get_parse_end(tok) == object_end &&
              json_object_is_type(obj, json_type_object);
    json_tokener_free(tok);
    free(marked);
    size_t members = 0;
    if (!ok || !json_walk(obj, &members) || members != s.members) {
        json_object_put(obj);
        return RC_BAD_JSON;
    }
    *out = obj;
    return RC_OK;
}

/* Looks key up; a JSON null is present (json-c stores it as a NULL value). */
static bool json_lookup(json_object *obj, const char *key, json_object **v)
{
    return json_object_is_type(obj, json_type_object) &&
           json_object_object_get_ex(obj, key, v);
}

/* When the key is missing and optional, the value out-params are left as
 * they are, so a caller may preset a default:
 *     int64_t limit = 50;
 *     rc r = json_get_int(o, "limit", false, &limit, NULL); */
rc json_get_string(json_object *obj, const char *key, bool required,
                   const char **s, size_t *len, bool *present)
{
    json_object *v = NULL;
    if (!json_lookup(obj, key, &v)) {
        if (required)
            return RC_BAD_REQUEST;
        if (present != NULL)
            *present = false;
        return RC_OK;
    }
    if (!json_object_is_type(v, json_type_string))
        return RC_BAD_REQUEST;
    /* The length, not strlen: a string may hold \u0000. */
    int n = json_object_get_string_len(v);
    if (n < 0)
        return RC_BAD_REQUEST;
    *s = json_object_get_string(v);
    if (len != NULL)
        *len = (size_t)n;
    if (present != NULL)
        *present = true;
    return RC_OK;
}

rc json_get_int(json_object *obj, const char *key, bool required, int64_t *v,
                bool *present)
{
    json_object *f = NULL;
    if (!json_lookup(obj, key, &f)) {
        if (required)
            return RC_BAD_REQUEST;
        if (present != NULL)
            *present = false;
        return RC_OK;
    }
    /* Only integers: 1.5, 3.0, "3", true and null are all refused, so a
     * client cannot slip a fraction past a seq or a limit. */
    if (!json_object_is_type(f, json_type_int))
        return RC_BAD_REQUEST;
    int64_t i = json_object_get_int64(f);
    /* An object not made by json_parse_strict may hold a uint64 above
     * INT64_MAX, which json_object_get_int64 saturates. */
    if (i == INT64_MAX && json_object_get_uint64(f) != (uint64_t)INT64_MAX)
        return RC_BAD_REQUEST;
    *v = i;
    if (present != NULL)
        *present = true;
    return RC_OK;
}
