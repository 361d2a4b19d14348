/* fuzz_wire.c -- libFuzzer target for common/wire.c's decoder (rbuf_*), the
 * code that reads every byte a gateway sends the broker and back.
 *
 * The input is one nng message body. It is decoded the way the broker's
 * events loop (bk_events.c) and the gateway's fan-out loop (gw_link.c) do:
 * the header, then per kind the envelope fields, then records (u8 type,
 * u64 conn, the type's str/u64/i64 fields) until the end or the first bad
 * record. Invariants checked on every read:
 *   - a decoded string lies inside the input and has a NUL at [len];
 *   - after a failure every read returns 0 / "" with length 0, and the
 *     failure sticks;
 *   - everything decoded without failure, encoded again with wbuf_*, gives
 *     back exactly the input bytes consumed (the encoding is canonical).
 * libFuzzer's input buffer is exactly `size` bytes, so ASan catches any read
 * past its end. */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "wire.h"

typedef struct dec {
    rbuf r;
    wbuf w;                   /* re-encoding of what was read */
    const unsigned char *base; /* the input */
    size_t size;
} dec;

static void check_consumed(dec *d)
{
    size_t consumed = d->size - d->r.left;
    FUZZ_ASSERT(d->r.left <= d->size, "left grew past the input");
    FUZZ_ASSERT(d->r.p == d->base + consumed, "p and left disagree");
    if (!d->r.failed) {
        FUZZ_ASSERT(d->w.len == consumed, "re-encoded %zu bytes, read %zu",
                    d->w.len, consumed);
        FUZZ_ASSERT(consumed == 0 || memcmp(d->w.data, d->base, consumed) == 0,
                    "re-encoding differs from the input");
    }
}

static uint8_t u8(dec *d)
{
    bool was = d->r.failed;
    uint8_t v = rbuf_u8(&d->r);
    if (d->r.failed)
        FUZZ_ASSERT(v == 0, "failed u8 read gave %u", v);
    else
        wbuf_u8(&d->w, v);
    FUZZ_ASSERT(!was || d->r.failed, "failure did not stick");
    check_consumed(d);
    return v;
}

static uint64_t u64(dec *d)
{
    bool was = d->r.failed;
    uint64_t v = rbuf_u64(&d->r);
    if (d->r.failed)
        FUZZ_ASSERT(v == 0, "failed u64 read gave a value");
    else
        wbuf_u64(&d->w, v);
    FUZZ_ASSERT(!was || d->r.failed, "failure did not stick");
    check_consumed(d);
    return v;
}

static int64_t i64(dec *d)
{
    bool was = d->r.failed;
    int64_t v = rbuf_i64(&d->r);
    if (d->r.failed)
        FUZZ_ASSERT(v == 0, "failed i64 read gave a value");
    else
        wbuf_i64(&d->w, v);
    FUZZ_ASSERT(!was || d->r.failed, "failure did not stick");
    check_consumed(d);
    return v;
}

static const char *str(dec *d, size_t *out_len)
{
    bool was = d->r.failed;
    size_t len = 999;
    const char *s = rbuf_str(&d->r, &len);
    FUZZ_ASSERT(s != NULL, "rbuf_str returned NULL");
    if (d->r.failed) {
        FUZZ_ASSERT(len == 0 && s[0] == '\0', "failed str read gave text");
    } else {
        const unsigned char *u = (const unsigned char *)s;
        FUZZ_ASSERT(u >= d->base && u + len < d->base + d->size,
                    "string outside the input");
        FUZZ_ASSERT(s[len] == '\0', "string without its NUL");
        FUZZ_ASSERT(len <= WIRE_STR_MAX, "string over the cap");
        wbuf_str(&d->w, s, len);
        /* A NULL len pointer must work too: read the same again. */
        rbuf again;
        rbuf_init(&again, u - 4, len + 5);
        const char *t = rbuf_str(&again, NULL);
        FUZZ_ASSERT(t == s && !again.failed && again.left == 0,
                    "rbuf_str with NULL len disagrees");
    }
    FUZZ_ASSERT(!was || d->r.failed, "failure did not stick");
    check_consumed(d);
    if (out_len)
        *out_len = len;
    return s;
}

/* One events record, as bk_events.c handle_record reads it; false when the
 * record is malformed (the broker stops there). */
static bool event_record(dec *d)
{
    uint8_t type = u8(d);
    u64(d);
    if (d->r.failed || type == EV_BYE)
        return false;
    switch (type) {
    case EV_OPEN:
        str(d, NULL);
        return !d->r.failed;
    case EV_CLOSE:
        return true;
    case EV_AUTH:
        str(d, NULL);
        u8(d);
        str(d, NULL); /* id */
        return !d->r.failed;
    case EV_ENTER:
    case EV_RESUME:
        str(d, NULL);
        str(d, NULL);
        str(d, NULL);
        i64(d);
        if (type == EV_ENTER)
            str(d, NULL); /* id */
        return !d->r.failed;
    default:
        break;
    }
    str(d, NULL); /* every other record starts with a room */
    if (type == EV_MESSAGE) {
        str(d, NULL);
        str(d, NULL);
    } else if (type == EV_BINARY) {
        str(d, NULL); /* id */
        str(d, NULL); /* type */
        str(d, NULL); /* filename */
        str(d, NULL); /* payload */
    } else if (type == EV_HISTORY) {
        i64(d);
        i64(d);
        str(d, NULL); /* id */
    } else if (type == EV_LEAVE || type == EV_WHO) {
        str(d, NULL); /* id */
    } else if (type == EV_DELETE) {
        u64(d);       /* seq */
        str(d, NULL); /* id */
    } else {
        return false;
    }
    return !d->r.failed;
}

/* One fan-out record, as gw_link.c apply_record reads it. */
static bool fanout_record(dec *d)
{
    uint8_t type = u8(d);
    switch (type) {
    case FO_ROOM:
    case FO_ROOM_BINARY:
        str(d, NULL);
        u64(d);
        u64(d);
        str(d, NULL);
        break;
    case FO_CONN:
    case FO_CONN_BINARY:
        u64(d);
        str(d, NULL);
        break;
    case FO_JOIN:
        u64(d);
        str(d, NULL);
        str(d, NULL);
        str(d, NULL);
        u64(d);
        break;
    case FO_PART:
        u64(d);
        str(d, NULL);
        break;
    case FO_AUTHED:
        u64(d);
        break;
    case FO_CLOSE:
        u64(d);
        u64(d);
        break;
    case FO_REPLY: /* request id, u16 status, body */
        u64(d);
        u8(d);
        u8(d);
        str(d, NULL);
        break;
    default:
        return false;
    }
    return !d->r.failed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dec d;
    memset(&d, 0, sizeof d);
    d.base = data;
    d.size = size;
    rbuf_init(&d.r, data, size);
    FUZZ_ASSERT(!d.r.failed && d.r.left == size, "rbuf_init");

    enum wire_kind kind = (enum wire_kind)0;
    rc hr = rbuf_header(&d.r, &kind);
    if (hr != RC_OK) {
        FUZZ_ASSERT(hr == RC_PROTO, "header rc %d", hr);
        FUZZ_ASSERT(kind == 0, "kind written on failure");
        FUZZ_ASSERT(size < 3 || data[0] != 'R' || data[1] != WIRE_VERSION,
                    "good header refused");
        wbuf_free(&d.w);
        return 0;
    }
    FUZZ_ASSERT(size >= 3 && data[0] == 'R' && data[1] == WIRE_VERSION &&
                (unsigned)kind == data[2], "bad header accepted");
    wbuf_header(&d.w, kind);
    check_consumed(&d);

    switch (kind) {
    case WIRE_EVENTS: {
        size_t idlen;
        str(&d, &idlen);
        u64(&d); /* gateway instance */
        u64(&d); /* broker epoch */
        if (d.r.failed || idlen == 0 || idlen >= 256)
            break;
        while (d.r.left > 0) {
            if (d.r.p[0] == EV_BYE)
                break;
            if (!event_record(&d))
                break;
        }
        break;
    }
    case WIRE_POLL:
        str(&d, NULL);
        u64(&d);
        u64(&d);
        u64(&d);
        break;
    case WIRE_FANOUT:
    case WIRE_RESET:
        u64(&d); /* epoch */
        u64(&d); /* first */
        u64(&d); /* last */
        u64(&d); /* gateways */
        for (unsigned i = 0, n = u8(&d); i < n && !d.r.failed; i++) {
            str(&d, NULL); /* a broker figure: name, kind, value */
            u8(&d);
            u64(&d);
        }
        if (d.r.failed || kind == WIRE_RESET)
            break;
        while (d.r.left > 0) {
            /* wire_fanout_skip (the broker's reply chunking) must step over
             * exactly the bytes this reader takes, or refuse. */
            rbuf skip = d.r;
            bool known = wire_fanout_skip(&skip);
            rbuf before = d.r;
            bool ok = fanout_record(&d);
            if (known)
                FUZZ_ASSERT(ok && skip.left == d.r.left,
                            "skip took %zu bytes, the reader %zu",
                            before.left - skip.left, before.left - d.r.left);
            if (!ok)
                break;
        }
        break;
    default:
        break;
    }

    /* Past the end (or after a failure), reads fail and return nothing. */
    if (d.r.left == 0 || d.r.failed) {
        u8(&d);
        FUZZ_ASSERT(d.r.failed, "read past the end did not fail");
        u64(&d);
        str(&d, NULL);
        FUZZ_ASSERT(rbuf_header(&d.r, &kind) == RC_PROTO,
                    "header after failure");
    }
    wbuf_free(&d.w);
    return 0;
}
