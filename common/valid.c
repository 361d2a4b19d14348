/* valid.c -- UTF-8 and the field rules of docs/protocol.md; see valid.h.
 *
 * Pure functions of their arguments with no static state, so any thread may
 * call any of them at any time. The gateway runs them on every client frame
 * and the broker runs them again on every event it gets from a gateway (it
 * never trusts a gateway's input), so they are written to be cheap: one pass,
 * no allocation.
 *
 * UTF-8 is checked by one small state machine (valid_utf8_feed) that both
 * the one-shot check and the fragmented WebSocket check share, so the two can
 * never disagree about what is valid. */
#include "valid.h"

#include <stdint.h>

#define CODE_POINT_MAX 0x10FFFFu
#define SURROGATE_FIRST 0xD800u
#define SURROGATE_LAST 0xDFFFu

/* Whether the open sequence in c can still end in a valid code point. With
 * c->state continuation bytes to come, the finished code point lies in
 * [low, high]; it must be able to reach c->min (else it is overlong), stay
 * at or below U+10FFFF and not be a surrogate. Checking after every byte,
 * rather than only at the end, is what makes a WebSocket message fail on the
 * first fragment that holds a bad byte (RFC 6455 section 8.1 wants the
 * connection failed as soon as the text is known to be invalid). Surrogates
 * are 2048-aligned and every range tested here after a continuation byte is
 * at most 4096 wide and aligned to its width, so the range is either wholly
 * inside the surrogates or wholly outside. */
static bool utf8_open_sequence_ok(const utf8_check *c)
{
    unsigned shift = 6 * c->state;
    uint32_t low = (uint32_t)c->cp << shift;
    uint32_t high = low | ((1u << shift) - 1);
    if (high < c->min || low > CODE_POINT_MAX)
        return false;
    if (low >= SURROGATE_FIRST && high <= SURROGATE_LAST)
        return false;
    return true;
}

bool valid_utf8_feed(utf8_check *c, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned b = s[i];
        if (c->state == 0) {
            if (b < 0x80)
                continue;
            /* Lead bytes: C0 and C1 can only start overlong forms, F5..FF
             * only code points above U+10FFFF, 80..BF are continuations. */
            if (b >= 0xC2 && b <= 0xDF) {
                c->state = 1;
                c->cp = b & 0x1F;
                c->min = 0x80;
            } else if (b >= 0xE0 && b <= 0xEF) {
                c->state = 2;
                c->cp = b & 0x0F;
                c->min = 0x800;
            } else if (b >= 0xF0 && b <= 0xF4) {
                c->state = 3;
                c->cp = b & 0x07;
                c->min = 0x10000;
            } else {
                return false;
            }
            continue;
        }
        if ((b & 0xC0) != 0x80)
            return false;
        c->cp = (c->cp << 6) | (b & 0x3F);
        c->state--;
        if (!utf8_open_sequence_ok(c))
            return false;
    }
    return true;
}

bool valid_utf8(const char *s, size_t len)
{
    utf8_check c = {0, 0, 0};
    return valid_utf8_feed(&c, (const unsigned char *)s, len) && c.state == 0;
}

/* Decodes the code point at s[*i] (s already known to be valid UTF-8) and
 * moves *i past it. */
static uint32_t utf8_next(const unsigned char *s, size_t *i)
{
    uint32_t b = s[(*i)++];
    if (b < 0x80)
        return b;
    unsigned more = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : 1;
    uint32_t cp = b & (0x3Fu >> more);
    while (more-- > 0)
        cp = (cp << 6) | (s[(*i)++] & 0x3Fu);
    return cp;
}

/* Unicode general category Cc: C0 controls, DEL and the C1 controls. */
static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* Counts the code points of valid UTF-8 s[0..len), stopping early (and
 * returning a count above `max`) once there are more than `max` of them or
 * one is a control character, which both callers reject. */
static size_t count_chars_no_control(const char *s, size_t len, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (is_control(utf8_next(u, &i)) || ++n > max)
            return max + 1;
    }
    return n;
}

/* The byte sets of room and uid: ASCII letters, digits and `_.:-`, plus `@`
 * for uids (e-mail style ids). Plain comparisons rather than <ctype.h>,
 * whose answers depend on the locale. */
static bool is_room_byte(unsigned char b)
{
    return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
           (b >= '0' && b <= '9') || b == '_' || b == '.' || b == ':' ||
           b == '-';
}

bool valid_room(const char *s, size_t len)
{
    if (len < 1 || len > ROOM_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_room_byte((unsigned char)s[i]))
            return false;
    return true;
}

bool valid_uid(const char *s, size_t len)
{
    if (len < 1 || len > UID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_room_byte((unsigned char)s[i]) && s[i] != '@')
            return false;
    return true;
}

bool valid_name(const char *s, size_t len)
{
    /* The byte bound first, so a huge string is refused without a scan. */
    if (len < 1 || len > NAME_MAX_BYTES || !valid_utf8(s, len))
        return false;
    return count_chars_no_control(s, len, NAME_MAX_CHARS) <= NAME_MAX_CHARS;
}

bool valid_client_id(const char *s, size_t len)
{
    if (len < 1 || len > CLIENT_ID_MAX || !valid_utf8(s, len))
        return false;
    return count_chars_no_control(s, len, CLIENT_ID_MAX) <= CLIENT_ID_MAX;
}

static bool is_mime_byte(unsigned char b)
{
    return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
           (b >= '0' && b <= '9') || b == '!' || b == '#' || b == '$' ||
           b == '&' || b == '^' || b == '_' || b == '.' || b == '+' ||
           b == '-';
}

bool valid_mime_type(const char *s, size_t len)
{
    if (len < 3 || len > MIME_TYPE_MAX)
        return false;
    size_t slash = len;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b == '/' && slash == len)
            slash = i;
        else if (!is_mime_byte(b))
            return false; /* a second `/` included */
    }
    return slash > 0 && slash < len - 1;
}

bool valid_filename(const char *s, size_t len)
{
    if (len < 1 || len > FILENAME_MAX_BYTES || !valid_utf8(s, len))
        return false;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp = utf8_next(u, &i);
        if (is_control(cp) || cp == '/' || cp == '\\')
            return false;
    }
    return true;
}
