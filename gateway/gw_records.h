/* gw_records.h -- the events records the gateway sends the broker, one
 * encoder per client event (their layout is in wire.h; the broker reads
 * them with wire_event_read). They take a connection id, not a WebSocket
 * connection, so every part of the gateway that speaks for a connection
 * builds them the same way: the WebSocket events (gw_ws_events.c), a
 * connection's start and end (gw_ws.c) and the register-again round
 * (gw_index.c).
 *
 * Each appends one record to w; a failed allocation sets w->failed (the
 * caller checks it before sending). Strings are borrowed and copied into
 * w; "" stands for a missing id. Any thread. */
#ifndef GW_RECORDS_H
#define GW_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "wire.h"

void record_open(wbuf *w, uint64_t conn_id, const char *uid);
void record_close(wbuf *w, uint64_t conn_id);
/* quiet: registering again (the client already has its `auth`). */
void record_auth(wbuf *w, uint64_t conn_id, const char *token, size_t len,
                 bool quiet, const char *id);
/* since: -1 for none. uid "" in jwt mode: the broker takes the token's. */
void record_enter(wbuf *w, uint64_t conn_id, const char *room,
                  const char *uid, const char *name, size_t name_len,
                  int64_t since, const char *id);
void record_resume(wbuf *w, uint64_t conn_id, const char *room,
                   const char *uid, const char *name, int64_t since);
void record_message(wbuf *w, uint64_t conn_id, const char *room,
                    const char *text, size_t len, const char *id,
                    size_t id_len);
/* EV_LEAVE or EV_WHO: a room and the client's id. */
void record_room(wbuf *w, enum wire_event type, uint64_t conn_id,
                 const char *room, const char *id);
/* before: -1 for the newest. */
void record_history(wbuf *w, uint64_t conn_id, const char *room,
                    int64_t before, int64_t limit, const char *id);
void record_delete(wbuf *w, uint64_t conn_id, const char *room, uint64_t seq,
                   const char *id);

#endif
