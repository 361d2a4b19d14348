/* bk_events.h -- what the broker does with each event from a gateway.
 *
 * Decodes an events message (wire.h), checks every field as docs/protocol.md
 * says (the broker trusts no gateway), updates rooms and storage, and
 * stages the answers and fan-out on the link. Writes go into the store's
 * open transaction; the caller commits, then publishes the link.
 * Broker main thread only. */
#ifndef BK_EVENTS_H
#define BK_EVENTS_H

#include <nng/nng.h>
#include <stdint.h>

#include "bk_hooks.h"
#include "bk_link.h"
#include "bk_rooms.h"
#include "bk_store.h"
#include "config.h"

typedef struct events events;

/* Borrows cfg, st, rm; the link is set later (it needs events_gone).
 * On RC_OK *out is owned (free with events_free). */
rc events_new(const config *cfg, store *st, rooms *rm, events **out);
void events_set_link(events *ev, bk_link *l);
/* Borrows h (NULL: no webhooks); set before the first events_handle. */
void events_set_hooks(events *ev, hooks *h);
void events_free(events *ev); /* NULL ok */

/* Handles one events message (borrowed). Returns the records handled. */
long events_handle(events *ev, nng_msg *msg, int64_t now_ms);

/* After the commit of the round that handled msg (borrowed) failed, and
 * before the epoch changes: every request in it is answered `unavailable`
 * with `why` (their other answers were dropped with the staged records). */
void events_refuse(events *ev, nng_msg *msg, const char *why);

/* link_gone_fn: every connection of gw goes offline (`out` events). */
void events_gone(void *ev, gateway *gw);

/* Metrics. */
uint64_t events_messages_stored(const events *ev);

/* For the modules that act on rooms beside client events (bk_api.c,
 * bk_delete.c). Broker main thread only; everything returned is borrowed. */
/* The room, loaded from storage on first use; NULL without memory. Call
 * rooms_evict() when done with a room nobody may be present in. */
room *events_room(events *ev, const char *name);
store *events_store(events *ev);
rooms *events_rooms(events *ev);
bk_link *events_link(events *ev);
const config *events_config(events *ev);
int64_t events_now(events *ev);      /* the batch's wall time, ms */
void events_count_stored(events *ev); /* one more message stored */
/* Stages w for every gateway with members of rm present. */
void events_to_room(room *rm, uint64_t except, uint64_t seq, const wbuf *w);
/* The same event (kind "message", "leave", "delete" ...) into the webhook
 * outbox; call it right beside its events_to_room. */
void events_to_hooks(events *ev, const room *rm, const char *kind,
                     const wbuf *w);

#endif
