/* fuzz_frame.c -- libFuzzer target for gateway/gw_frame.c, the RFC 6455
 * state machine for client frames.
 *
 * Input: byte 0 picks the message size caps (bits 0-2 text, 3-5 binary); then frames, each one byte of
 * header bits (FIN, RSV1-3, opcode, as on the wire), a length byte (255:
 * the next two bytes, little-endian, are the length) and that many payload
 * bytes (fewer when the input ends). Every frame goes to frame_in_feed, and
 * its answer is checked against a reference model written here from RFC
 * 6455 (and an independent UTF-8 validator, fuzz_util.h): the action, the
 * close code, and the bytes of every reassembled message. After FA_FAIL or
 * FA_CLOSE the connection would end, so both start afresh. A second pass
 * feeds the same frames to a state machine that is never reset, for memory
 * safety only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gw_frame.h"

static const size_t CAPS[8] = {0, 1, 3, 4, 16, 125, 126, 65536};

/* The reference model's state: one connection. */
typedef struct model {
    int open;           /* opcode of the open fragmented message, or 0 */
    unsigned char *buf; /* its bytes so far */
    size_t len, cap;
    size_t max;
    size_t max_binary;
} model;

static void model_reset(model *m)
{
    m->open = 0;
    m->len = 0;
}

static void model_append(model *m, const unsigned char *p, size_t n)
{
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 64;
        while (cap < m->len + n)
            cap *= 2;
        m->buf = realloc(m->buf, cap);
        if (m->buf == NULL)
            abort();
        m->cap = cap;
    }
    if (n)
        memcpy(m->buf + m->len, p, n);
    m->len += n;
}

static bool close_code_ok(unsigned c)
{
    /* RFC 6455 7.4.1 and the IANA registry (1012-1014 registered later);
     * 1004 is reserved, 1005, 1006 and 1015 must never be on the wire. */
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
           (c >= 3000 && c <= 4999);
}

/* What the model expects for one frame; for FA_TEXT and FA_BINARY the
 * message is m->buf[0..*out_len). */
static enum frame_action model_feed(model *m, int bits, const unsigned char *d,
                                    size_t len, uint16_t *code,
                                    size_t *out_len)
{
    bool fin = bits & 0x80;
    int op = bits & 0x0f;
    if (bits & 0x70)
        return *code = 1002, FA_FAIL;
    if (op >= 8) {
        if (op > 10 || !fin || len > 125)
            return *code = 1002, FA_FAIL;
        if (op == 9)
            return FA_PING;
        if (op == 10)
            return FA_PONG;
        if (len == 0)
            return *code = 0, FA_CLOSE;
        if (len == 1)
            return *code = 1002, FA_FAIL;
        unsigned c = (unsigned)d[0] << 8 | d[1];
        if (!close_code_ok(c))
            return *code = 1002, FA_FAIL;
        if (!ref_utf8(d + 2, len - 2, false))
            return *code = 1007, FA_FAIL;
        return *code = (uint16_t)c, FA_CLOSE;
    }
    if (op > 2)
        return *code = 1002, FA_FAIL;
    if ((op == 0) != (m->open != 0))
        return *code = 1002, FA_FAIL;
    if (op != 0) {
        m->open = op;
        m->len = 0;
    }
    if (m->len + len > (m->open == 2 ? m->max_binary : m->max))
        return *code = 1009, FA_FAIL;
    model_append(m, d, len);
    if (m->open == 1 && !ref_utf8(m->buf, m->len, true))
        return *code = 1007, FA_FAIL;
    if (!fin)
        return FA_NONE;
    int kind = m->open;
    m->open = 0;
    if (kind == 1 && !ref_utf8(m->buf, m->len, false))
        return *code = 1007, FA_FAIL;
    *out_len = m->len;
    return kind == 1 ? FA_TEXT : FA_BINARY;
}

/* Splits the input into frames; calls fn for each. */
typedef void (*frame_fn)(void *arg, int bits, const unsigned char *p,
                         size_t n);

static void each_frame(const uint8_t *data, size_t size, frame_fn fn,
                       void *arg)
{
    size_t at = 1;
    while (at < size) {
        int bits = data[at++];
        size_t len = 0;
        if (at < size) {
            len = data[at++];
            if (len == 255 && at + 2 <= size) {
                len = (size_t)data[at] | (size_t)data[at + 1] << 8;
                at += 2;
            }
        }
        if (len > size - at)
            len = size - at;
        /* The payload in its own exact-size block: ASan sees overreads. */
        unsigned char *p = malloc(len ? len : 1);
        if (p == NULL)
            abort();
        memcpy(p, data + at, len);
        fn(arg, bits, p, len);
        free(p);
        at += len;
    }
}

typedef struct checked {
    frame_in fi;
    model m;
    size_t n; /* frames so far */
} checked;

static void check_frame(void *arg, int bits, const unsigned char *p, size_t n)
{
    checked *c = arg;
    const char *msg = NULL;
    size_t msg_len = 0, want_len = 0;
    uint16_t code = 0xbeef, want_code = 0xbeef;
    enum frame_action a = frame_in_feed(&c->fi, bits, (const char *)p, n,
                                        &msg, &msg_len, &code);
    enum frame_action want = model_feed(&c->m, bits, p, n, &want_code,
                                        &want_len);
    FUZZ_ASSERT(a == want, "frame %zu bits 0x%02x len %zu: action %d, "
                "model says %d (code %u, model %u)", c->n, bits, n, a, want,
                code, want_code);
    if (a == FA_CLOSE || a == FA_FAIL)
        FUZZ_ASSERT(code == want_code, "frame %zu bits 0x%02x: code %u, "
                    "model says %u", c->n, bits, code, want_code);
    if (a == FA_FAIL)
        FUZZ_ASSERT(code == 1002 || code == 1007 || code == 1009,
                    "fail code %u", code);
    if (a == FA_TEXT || a == FA_BINARY) {
        FUZZ_ASSERT(msg_len == want_len, "frame %zu: message of %zu bytes, "
                    "model says %zu", c->n, msg_len, want_len);
        FUZZ_ASSERT(msg_len <= (a == FA_TEXT ? c->fi.max : c->fi.max_binary),
                    "message over the cap");
        FUZZ_ASSERT(msg_len == 0 || memcmp(msg, c->m.buf, msg_len) == 0,
                    "frame %zu: message bytes differ from the model", c->n);
        if (a == FA_TEXT)
            FUZZ_ASSERT(ref_utf8((const unsigned char *)msg, msg_len, false),
                        "FA_TEXT with invalid UTF-8");
    }
    if (a == FA_FAIL || a == FA_CLOSE) {
        /* The connection ends; a new one starts from scratch. */
        size_t max = c->fi.max, max_binary = c->fi.max_binary;
        frame_in_free(&c->fi);
        frame_in_init(&c->fi, max);
        c->fi.max_binary = max_binary;
        model_reset(&c->m);
    }
    c->n++;
}

static void blind_frame(void *arg, int bits, const unsigned char *p, size_t n)
{
    frame_in *fi = arg;
    const char *msg = NULL;
    size_t msg_len = 0;
    uint16_t code = 0;
    enum frame_action a = frame_in_feed(fi, bits, (const char *)p, n, &msg,
                                        &msg_len, &code);
    if (a == FA_TEXT || a == FA_BINARY) {
        /* Touch every byte: ASan checks the pointer is good. */
        volatile unsigned char sum = 0;
        for (size_t i = 0; i < msg_len; i++)
            sum ^= (unsigned char)msg[i];
        (void)sum;
        FUZZ_ASSERT(msg_len <= (a == FA_TEXT ? fi->max : fi->max_binary),
                    "message over the cap");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t max = CAPS[data[0] & 7], max_binary = CAPS[(data[0] >> 3) & 7];

    checked c;
    memset(&c, 0, sizeof c);
    frame_in_init(&c.fi, max);
    c.fi.max_binary = max_binary;
    c.m.max = max;
    c.m.max_binary = max_binary;
    each_frame(data, size, check_frame, &c);
    frame_in_free(&c.fi);
    free(c.m.buf);

    frame_in fi;
    frame_in_init(&fi, max);
    fi.max_binary = max_binary;
    each_frame(data, size, blind_frame, &fi);
    frame_in_free(&fi);
    return 0;
}
