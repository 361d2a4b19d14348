/* wire.h -- the internal envelope between gateways and the broker.
 *
 * Binary, little-endian, length-prefixed, decoded with bounds checks on
 * every read: the broker never trusts a gateway's bytes and the gateway
 * checks the broker's. An nng message is a header followed by records.
 *
 *   events  (gateway -> broker, PUSH/PULL on events_url):
 *       u8 'R', u8 WIRE_VERSION, u8 WIRE_EVENTS, str gateway_id,
 *       u64 gateway_instance, u64 broker_epoch (the broker incarnation the
 *       gateway had registered with when it queued these records), then
 *       records: u8 type, u64 conn, fields.
 *   poll    (gateway -> broker, REQ/REP on fanout_url):
 *       u8 'R', u8 WIRE_VERSION, u8 WIRE_POLL, str gateway_id,
 *       u64 gateway_instance, u64 broker_epoch, u64 acked
 *   fanout  (broker -> gateway, the reply to a poll):
 *       u8 'R', u8 WIRE_VERSION, u8 WIRE_FANOUT, u64 broker_epoch,
 *       u64 first, u64 last, u64 gateways (attached to the broker, for
 *       metrics), u8 nstats, nstats x (str name, u8 enum wire_stat_kind,
 *       u64 value) (the broker's own figures, which it has no HTTP port
 *       to show: the gateways print them on /metrics), then records (stream positions first..last;
 *       first > last when empty); or u8 WIRE_RESET: the broker has lost
 *       this gateway's stream and the gateway must register again.
 *
 * A str is u32 length, the bytes, then a NUL (checked on read), so a
 * decoded string can be used as a C string; its length is still reported
 * because client text may hold U+0000.
 *
 * Any thread; a wbuf or rbuf belongs to one thread at a time. */
#ifndef WIRE_H
#define WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rc.h"

#define WIRE_VERSION 1
#define WIRE_MAX_MSG (128u << 20) /* nng RECVMAXSZ on both sides: room for
                                     a few 16 MiB history answers at once */
#define WIRE_STR_MAX (16u << 20)

enum wire_kind {
    WIRE_EVENTS = 1,
    WIRE_POLL = 2,
    WIRE_FANOUT = 3,
    WIRE_RESET = 4,
    WIRE_NOTLEADER = 5, /* replicated broker, to a poll: u64 leader id
                           (0: unknown); this member serves no gateway */
};

/* The broker's figures travel in every fanout header (at most WIRE_STATS_MAX,
 * names of at most WIRE_STAT_NAME_MAX bytes of [a-z0-9_]). */
#define WIRE_STATS_MAX 32
#define WIRE_STAT_NAME_MAX 63
enum wire_stat_kind { STAT_GAUGE = 0, STAT_COUNTER = 1 };

/* Records in an events message, gateway -> broker. `str id` is the
 * client's `id` of the event ("" for none), which every error answering it
 * echoes (the gateway sends only valid ones). */
enum wire_event {
    EV_OPEN = 1, /* a connection opened: str uid (none mode: server-given) */
    EV_AUTH,     /* str token, u8 quiet (1: registering again, no reply),
                    str id */
    EV_ENTER,    /* str room, str uid, str name, i64 since (-1: none),
                    str id */
    EV_MESSAGE,  /* str room, str text, str id ("" : none) */
    EV_LEAVE,    /* str room, str id */
    EV_WHO,      /* str room, str id */
    EV_HISTORY,  /* str room, i64 before (-1: newest), i64 limit, str id */
    EV_CLOSE,    /* the connection is gone */
    EV_RESUME,   /* after a broker restart: str room, str uid, str name,
                    i64 since (the gateway's last delivered seq) */
    EV_BYE,      /* conn 0: the gateway stops; all its connections go */
    EV_BINARY,   /* str room, str id ("": none), str type, str filename
                    ("": none), str payload (at least 1 byte) */
    EV_DELETE,   /* str room, u64 seq, str id: delete one of the sender's
                    messages */
    EV_API,      /* in the conn slot: u64 request id (not a connection);
                    then u8 op (enum api_op), str room, str uid, str name,
                    str id, str text (message text, or binary payload:
                    read into data/data_len),
                    u8 binary, str type, str filename, str prefix,
                    str after, i64 before (-1: none), i64 limit (-1: the
                    default), u64 seq. Answered with FO_REPLY. */
};

/* What an EV_API record asks (docs/protocol.md, "Server API"). */
enum api_op {
    API_PUBLISH = 1,   /* room, uid, name, id, text | binary payload */
    API_ROOM,          /* room */
    API_ROOMS,         /* prefix, after, limit */
    API_MEMBERS,       /* room, after, limit */
    API_HISTORY,       /* room, before, limit */
    API_DELETE,        /* room, seq */
    API_REMOVE,        /* room, uid */
    API_DISCONNECT,    /* uid */
    API__COUNT
};

/* Records in a fanout message, broker -> gateway. */
enum wire_fanout {
    FO_ROOM = 1, /* str room, u64 except_conn (0: none), u64 seq (a
                    message's seq, else 0), str payload: deliver to every
                    local connection in room */
    FO_CONN,     /* u64 conn, str payload: deliver to one connection */
    FO_JOIN,     /* u64 conn, str room, str uid, str name, u64 seq (the
                    room's newest): conn now gets room's fan-out */
    FO_PART,     /* u64 conn, str room: conn no longer does */
    FO_AUTHED,   /* u64 conn: the connection is authenticated */
    FO_CLOSE,    /* u64 conn, u64 close code: close the connection */
    FO_ROOM_BINARY, /* as FO_ROOM, but the payload is a binary message
                       (length, header, payload: docs/protocol.md) to send as
                       a binary WebSocket message */
    FO_CONN_BINARY, /* as FO_CONN, likewise */
    FO_REPLY,    /* u64 request id, u16 HTTP status, str body (JSON): the
                    answer to an EV_API record of this gateway */
};

void wbuf_str(wbuf *w, const char *s, size_t n);
void wbuf_cstr(wbuf *w, const char *s); /* NULL is written as "" */
/* Writes the common header: 'R', version, kind. */
void wbuf_header(wbuf *w, enum wire_kind kind);

typedef struct rbuf {
    const unsigned char *p; /* borrowed */
    size_t left;
    bool failed; /* a read ran past the end or met a bad string */
} rbuf;

void rbuf_init(rbuf *r, const void *p, size_t n);
uint8_t rbuf_u8(rbuf *r);
uint64_t rbuf_u64(rbuf *r);
int64_t rbuf_i64(rbuf *r);
/* Returns a pointer into the buffer (NUL-terminated), or "" on failure. */
const char *rbuf_str(rbuf *r, size_t *len);
/* Reads the header; RC_PROTO unless it is 'R', WIRE_VERSION. */
rc rbuf_header(rbuf *r, enum wire_kind *kind);

/* One decoded events record. Strings point into the message (borrowed). */
typedef struct wire_event_rec {
    uint8_t type;        /* enum wire_event */
    uint64_t conn_id;     /* the gateway's connection id (API: request id) */
    const char *room;    /* ENTER RESUME MESSAGE LEAVE WHO HISTORY DELETE
                            API */
    const char *uid;     /* OPEN ENTER RESUME */
    const char *name;    /* ENTER RESUME */
    const char *text;    /* MESSAGE: the text; AUTH: the token */
    size_t text_len;
    const char *id;      /* AUTH ENTER MESSAGE LEAVE WHO HISTORY BINARY
                            DELETE: client id, "" for none */
    const char *mime;     /* BINARY: the MIME type */
    const char *filename; /* BINARY: "" for none */
    const char *data;     /* BINARY: the payload */
    size_t data_len;
    int64_t since;       /* ENTER RESUME: -1 none */
    int64_t before;      /* HISTORY: -1 newest */
    int64_t limit;       /* HISTORY */
    bool quiet;          /* AUTH */
    uint64_t seq;        /* DELETE API */
    /* API only (conn_id holds the request id; uid, name, id, text, room,
     * mime, filename, before and limit are used as above; a binary
     * payload is in data/data_len) */
    uint8_t op;          /* enum api_op */
    bool binary;         /* a binary message: data holds the payload */
    const char *prefix;
    const char *after;
} wire_event_rec;

/* Writes an EV_API record from rec (conn: the request id; op, room, uid,
 * name, id, text/text_len or, when binary, data/data_len, mime, filename,
 * prefix, after, before, limit, seq). Borrows rec. */
void wire_api_write(wbuf *w, const wire_event_rec *rec);

/* Reads one events record; false when it is malformed or of an unknown
 * type (the rest of the message cannot be trusted then). */
bool wire_event_read(rbuf *r, wire_event_rec *rec);

/* Steps over one fanout record; false when it is malformed or of a type
 * this function does not know (the broker then sends the rest whole). */
bool wire_fanout_skip(rbuf *r);

#endif
