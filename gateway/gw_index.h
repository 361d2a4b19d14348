/* gw_index.h -- this gateway's connections by id, and which of them get
 * each room's fan-out.
 *
 * A connection joins a room's local list only when the broker says so
 * (FO_JOIN), after its catch-up was queued, so live messages can never
 * overtake the catch-up. Each room remembers the newest message seq
 * delivered here: a message at or below it is a duplicate and is dropped,
 * and after a broker restart the gateway asks for what came after it.
 *
 * Threads: one rwlock guards the table and the rooms. The fan-out thread
 * (gw_link) takes it to deliver; worker threads take it to add and remove
 * their connection; the housekeeping thread to walk all connections. */
#ifndef GW_INDEX_H
#define GW_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "gw_conn.h"
#include "wire.h"

rc index_init(void);
void index_free(void);

/* Registers c (the table takes a reference). */
rc index_add(conn *c);
/* Unregisters c: out of the table and every room (drops the reference). */
void index_remove(conn *c);
/* The connection with that id, with a reference the caller drops; or NULL. */
conn *index_get(uint64_t id);
size_t index_count(void);
size_t index_rooms(void);

/* Fan-out from the broker. Payloads are borrowed and framed once. */
void index_deliver_room(const char *room, uint64_t except, uint64_t seq,
                        const char *payload, size_t len);
void index_deliver_conn(uint64_t id, const char *payload, size_t len);
/* The same for binary messages: framed once as a binary WebSocket message,
 * a reference queued per recipient. */
void index_deliver_room_binary(const char *room, uint64_t except,
                               uint64_t seq, const char *payload, size_t len);
void index_deliver_conn_binary(uint64_t id, const char *payload, size_t len);
void index_join(uint64_t id, const char *room, const char *uid,
                const char *name, uint64_t seq);
void index_part(uint64_t id, const char *room);

/* Calls fn for every connection, with the index read-locked: fn may send
 * and close but must not call other index_ functions. */
void index_each(void (*fn)(void *arg, conn *c), void *arg);

/* Builds EV_OPEN/EV_AUTH/EV_RESUME records registering every connection
 * and its rooms again (after a broker restart) and calls queue(w, arg)
 * (w borrowed, possibly w->failed) before it releases the index lock. A
 * closing connection's worker takes it out of the index (write lock)
 * before it queues EV_CLOSE, so the broker never gets a connection's
 * registration after its close. */
void index_register_all(void (*queue)(const wbuf *w, void *arg), void *arg);

#endif
