/* gw_ws_impl.h -- what gw_ws.c (civetweb's /ws callbacks, the checks
 * before an upgrade, housekeeping) and gw_ws_events.c (what each client
 * message means) share: the module's state and the calls between them.
 * Not for other modules: they use gw_ws.h. ws_state is set by ws_start
 * before any callback runs; ip_lock guards per_ip; open and next_id are
 * atomics; last_ping_ms and ping are the housekeeping thread's. */
#ifndef GW_WS_IMPL_H
#define GW_WS_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "gw_conn.h"
#include "map.h"

struct ws_state {
    const config *cfg;
    bool jwt;
    long capacity;           /* most WebSockets: workers less a reserve */
    atomic_long open;        /* WebSockets open now */
    atomic_ullong next_id;
    pthread_mutex_t ip_lock; /* guards per_ip */
    map *per_ip;             /* address -> count (as a pointer-sized int) */
    int64_t last_ping_ms;
    outframe *ping;          /* the server heartbeat, framed once */
};
extern struct ws_state ws_state;

/* gw_ws_events.c, called on the connection's worker thread: */
/* The `welcome` event, first thing a new connection gets. */
void send_welcome(conn *c);
/* Keeps the token (to register again) and sends EV_AUTH; id: the
 * client's event id, or NULL. */
void send_auth(conn *c, const char *token, size_t len, const char *id);
/* One complete text message from the client. */
void on_text(conn *c, const char *text, size_t len);
/* One complete binary message from the client. */
void on_binary(conn *c, const char *data, size_t len);
/* Token bucket; false when the event must not be processed (*close: the
 * abuse bucket ran dry, close with 1008). */
bool rate_ok(conn *c, int64_t now, const char *data, size_t len,
             bool binary, bool *close);

#endif
