/* gw_ws.h -- the WebSocket side of the gateway: civetweb's callbacks for
 * /ws, the checks before an upgrade, what each client frame means, and the
 * housekeeping (heartbeats, timeouts) of every connection.
 *
 * Threads: the callbacks run on the connection's civetweb worker thread;
 * ws_housekeeping on the gateway's housekeeping thread. */
#ifndef GW_WS_H
#define GW_WS_H

#include <civetweb.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "rc.h"

/* Registers the /ws handlers on ctx. Borrows cfg. */
rc ws_start(struct mg_context *ctx, const config *cfg);

/* The most WebSockets open at once; upgrades past it get 503. */
long ws_capacity(void);

/* Pings every connection when due; closes silent (4000) and, in jwt mode,
 * unauthenticated (4001) connections. Call every ~100 ms. */
void ws_housekeeping(int64_t now_ms);

/* Closes every connection with 1001 (the gateway is stopping). */
void ws_close_all(void);

/* Counters for /metrics. */
extern atomic_ullong ws_frames_in;
extern atomic_ullong ws_heartbeat_timeouts;
extern atomic_ullong ws_auth_timeouts;
extern atomic_ullong ws_rate_limited;
extern atomic_ullong ws_protocol_closes;
extern atomic_ullong ws_refused_origin;
extern atomic_ullong ws_refused_capacity;
extern atomic_ullong ws_refused_per_ip;

#endif
