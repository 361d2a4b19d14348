/* rc.h -- the one error type of roomcast.
 *
 * Every function that can fail returns an rc; RC_OK (0) is success. When a
 * function returns an error it has done nothing half-way: out-params are
 * untouched and nothing it was given is kept. rc_code() maps an rc to the
 * client protocol's error code (docs/protocol.md, "Errors"). Any thread. */
#ifndef RC_H
#define RC_H

typedef enum rc {
    RC_OK = 0,
    RC_NOMEM,         /* allocation failed */
    RC_BAD_JSON,      /* not strict RFC 8259 JSON, or not an object */
    RC_BAD_REQUEST,   /* a field missing or invalid */
    RC_UNKNOWN_EVENT, /* `event` names nothing we know */
    RC_UNSUPPORTED,   /* binary frame, or an event this mode does not take */
    RC_TOO_LARGE,     /* over a size limit */
    RC_RATE_LIMITED,  /* token bucket empty */
    RC_NOT_IN_ROOM,   /* the connection has not entered that room */
    RC_FORBIDDEN,     /* auth forbids it */
    RC_UNAVAILABLE,   /* the broker cannot be reached; nothing stored */
    RC_INTERNAL,      /* a bug or a resource failure on our side */
    RC_NOAUTH,        /* jwt mode, not (yet) authenticated */
    RC_CONFIG,        /* bad configuration */
    RC_IO,            /* a file or socket failed */
    RC_PROTO,         /* a malformed internal envelope (gateway <-> broker) */
    RC_DB,            /* SQLite failed */
    RC_AGAIN,         /* would block; try later */
    RC_NOT_FOUND,     /* server API: no such path, message or member */
    RC_UNAUTHORIZED,  /* server API: missing or wrong key */
    RC__COUNT
} rc;

/* A short English description, for logs. Never NULL. */
const char *rc_str(rc r);

/* The protocol error code ("bad_json", "not_in_room", ...); rcs that have no
 * protocol meaning map to "internal". Never NULL. */
const char *rc_code(rc r);

#endif
