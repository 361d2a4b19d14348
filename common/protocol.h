/* protocol.h -- the client protocol's fixed numbers, in one place.
 *
 * Limits that are not configuration (docs/protocol.md gives them as constants),
 * the close codes the server uses, and internal caps both processes must
 * agree on. Configurable limits (max_frame_bytes ...) live in config.h. */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#define PROTOCOL_VERSION 1

/* history: default and largest `limit` */
#define HISTORY_DEFAULT 50
#define HISTORY_MAX 200
/* who: most members listed */
#define WHO_MAX 1000
/* a resend with the same (uid, id) within this is not stored again */
#define IDEMPOTENCY_MS (10 * 60 * 1000)
/* the longest token a client may present */
#define TOKEN_MAX 8192
/* a gateway `id`, in bytes (config and wire) */
#define GATEWAY_ID_MAX 255
/* a binary message's JSON header, in bytes */
#define BINARY_HEADER_MAX 4096
/* the largest max_binary_bytes may be set to: its base64 (4/3) must fit a
 * history answer (HISTORY_BYTES_MAX) with room to spare */
#define BINARY_MAX_BYTES (8L << 20)
/* a catch-up (replay on enter) holds at most this many bytes of text and
 * payload, the newest messages; older ones are left out (`truncated`).
 * Half the gateway's default slow-consumer limit (4 x send_queue_bytes):
 * one connection's queue takes a catch-up whole */
#define REPLAY_BYTES_MAX (8u << 20)
/* a history answer is kept under this many bytes */
#define HISTORY_BYTES_MAX (16u << 20)
/* a server API request body */
#define API_BODY_MAX (24u << 20)

/* Close codes the server sends (docs/protocol.md, "Close codes"). */
enum close_code {
    CLOSE_NORMAL = 1000,
    CLOSE_GOING_AWAY = 1001,   /* the gateway is shutting down */
    CLOSE_PROTOCOL = 1002,     /* RFC 6455 violation */
    CLOSE_BAD_DATA = 1007,     /* invalid UTF-8 */
    CLOSE_POLICY = 1008,       /* sustained abuse, slow consumer */
    CLOSE_TOO_BIG = 1009,      /* message over its size cap */
    CLOSE_HEARTBEAT = 4000,    /* heartbeat timeout */
    CLOSE_NOAUTH = 4001,       /* not authenticated in time */
    CLOSE_DISCONNECTED = 4003, /* through the server API */
};

#endif
