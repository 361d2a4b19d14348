/* gw_conn.h -- a client connection, its bounded outbound queue, and the
 * writer threads that drain the queues.
 *
 * Why writers: mg_websocket_write blocks until the kernel takes the bytes
 * (civetweb 1.15), so a client that stops reading would stall whoever writes to
 * it. Nothing but the writer threads ever writes to a socket (apart from a
 * worker answering its own client's close). Fan-out enqueues a reference
 * to one shared, pre-framed buffer per recipient; a writer takes a
 * connection off the run queue, gathers its queued frames into one buffer
 * and writes them with one mg_write. A queue over its limits (frames or
 * bytes) for longer than write_timeout_ms, or over four times them, means a
 * client that does not keep up: it is closed, and nobody else waits. The
 * grace lets a reader that keeps up absorb a burst (one broker round can
 * fan out up to commit_batch messages at once).
 *
 * Lifetime: a conn is reference-counted. The table (gw_index) holds one
 * reference from conn_new until conn_gone; the run queue holds one while
 * the conn is scheduled. `mg` is valid until conn_gone, which the civetweb
 * close handler calls and which waits for a write in progress to finish.
 *
 * Threads: any thread may call conn_send and conn_close; the worker thread
 * of the connection owns the inbound fields (fin, bucket, abuse). `lock`
 * guards the queue and the flags. */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <civetweb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "gw_frame.h"
#include "gw_rate.h"
#include "valid.h"

/* A complete server frame (header and payload), shared by recipients. */
typedef struct outframe {
    atomic_int refs;
    size_t len;
    char data[];
} outframe;

/* Returns an owned frame (refs 1), or NULL without memory. */
outframe *outframe_new(int opcode, const char *payload, size_t len);
void outframe_unref(outframe *f); /* NULL ok */

typedef struct membership membership; /* gw_index.c */

typedef struct conn {
    uint64_t id;
    struct mg_connection *mg; /* valid until conn_gone */
    char ip[64];              /* the client's address (X-Forwarded-For) */
    char peer[64];            /* the TCP peer's address and port */
    int peer_port;
    int local_port;           /* the listening port it came in on */
    char uid[UID_MAX + 1];    /* server-given uid (auth none) */
    char *token;              /* jwt: kept to register again; owned */
    int64_t opened_ms;
    _Atomic int64_t last_rx_ms; /* any frame from the client */
    atomic_bool authed;
    atomic_int refs;
    /* worker thread only */
    frame_in fin;
    rate bucket; /* rate_per_s */
    rate abuse;  /* rate-limit errors; empty -> close 1008 */
    /* guarded by lock */
    pthread_mutex_t lock;
    outframe **q;
    unsigned qhead, qcount, qcap;
    size_t qbytes;
    bool scheduled; /* on the run queue */
    bool writing;   /* a writer is inside mg_write */
    bool closing;   /* a close is queued or done: take no more frames */
    bool gone;      /* the close handler ran; mg is invalid */
    int64_t over_since; /* when the queue went over its limits, or 0 */
    int64_t closing_ms; /* when closing began */
    bool ended;         /* the wait for the client's close is over */
    bool forced;        /* its socket was shut down (conn_check_close) */
    /* guarded by the index lock (gw_index.c) */
    membership *rooms;
} conn;

/* Starts cfg->writers writer threads. Borrows cfg. */
rc conns_start(const config *cfg);
/* Stops them (after conns are gone). */
void conns_stop(void);

/* A new connection with refs 1, or NULL without memory. */
conn *conn_new(uint64_t id, struct mg_connection *mg, const config *cfg,
               int64_t now_ms);
void conn_ref(conn *c);
void conn_unref(conn *c); /* NULL ok; frees at zero */

/* Queues f for c (takes a reference of its own; the caller keeps its).
 * Returns false when c is closing or its queue overflowed (then c is being
 * closed as a slow consumer). */
bool conn_send(conn *c, outframe *f);
/* Frames and queues one text message. */
bool conn_send_text(conn *c, const char *json, size_t len);
/* Queues a close frame with code after what is queued; c takes no more
 * frames. Its worker keeps reading (and discarding) the client's frames
 * until the client's close frame, the end of the connection, or the
 * bounded wait of conn_check_close (see conn_drain). */
void conn_close(conn *c, uint16_t code, const char *reason);
/* From c's own worker thread: writes what is queued and then a close frame
 * with code (unless one is queued or was sent already), now. code 0 writes
 * a close frame with no body. */
void conn_close_now(conn *c, uint16_t code);

/* Where c's close handshake stands, for its worker (docs/protocol.md: every
 * close the server starts can be read by the client, even while it is
 * still sending). Closing a socket with unread bytes makes the kernel send
 * an RST, which can destroy the close frame on its way, so after its close
 * frame the server reads on until the client's own close frame. */
enum conn_drain {
    CONN_OPEN,     /* no close started: handle the frame */
    CONN_DRAINING, /* a close was started: discard the frame (a close
                      frame from the client ends the connection) */
    CONN_DRAINED,  /* the wait is over: end the connection now */
};
enum conn_drain conn_drain(conn *c, int64_t now_ms);
/* From the close handler: waits for a write in progress, drops the queue,
 * marks c gone. Does not drop the table's reference. */
void conn_gone(conn *c);

/* The bounded wait for the client's close frame. CONN_CLOSE_WAIT_MS after
 * the close began (plus write_timeout_ms, what writing the close frame may
 * take), the worker is told to leave its read loop (it notices within
 * civetweb's websocket_timeout_ms when the client is silent; ws_data ends
 * it at the next frame otherwise). civetweb's reader does not notice that
 * while it waits for the rest of a frame (a slow or lying payload
 * holds the worker), so CONN_STUCK_MS later a conn still open has its
 * socket shut down, which ends the read. Housekeeping thread. */
#define CONN_CLOSE_WAIT_MS 2000
#define CONN_STUCK_MS 3000
void conn_check_close(conn *c, int64_t now_ms);

/* Counters for /metrics. */
extern atomic_ullong conn_frames_out;
extern atomic_ullong conn_slow_closes;
extern atomic_ullong conn_queue_drops;

#endif
