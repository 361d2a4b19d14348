/* bk_link.h -- the broker's end of the nng links, and what it owes each
 * gateway.
 *
 * events_url: a PULL socket; gateways PUSH batches of events (wire.h).
 * fanout_url: a raw REP socket; each gateway keeps one poll (REQ) parked
 * here and gets, as the reply, every fan-out record queued for it since the
 * position it acknowledged. Nothing is dropped on the way: a lost reply is
 * sent again when the gateway polls with the old position, and a gateway
 * that asks for a position the broker no longer holds is told to register
 * again (WIRE_RESET). A poll also shows the gateway is alive.
 *
 * Records are staged (link_out_*) while a batch of events is handled and
 * become visible only at link_publish, which the broker calls after the
 * batch's SQLite commit: no copy leaves before the message is stored.
 *
 * Threads: nng's callback threads only queue what arrives (under the link's
 * mutex); everything else is the broker main thread's. */
#ifndef BK_LINK_H
#define BK_LINK_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "protocol.h"
#include "rc.h"
#include "wire.h"

typedef struct bk_link bk_link;
typedef struct gateway gateway; /* opaque: bk_link_impl.h */


/* Called when a gateway's connections must go offline: it restarted,
 * fell silent, or fell too far behind. The record stays valid during it. */
typedef void (*link_gone_fn)(void *arg, gateway *gw);

/* Listens on both URLs. On RC_OK *out is owned (close with link_close). */
rc link_open(const config *cfg, link_gone_fn gone, void *gone_arg,
             bk_link **out);
void link_close(bk_link *l); /* NULL ok */

/* The broker's incarnation; a gateway that sees it change registers again. */
uint64_t link_epoch(const bk_link *l);

/* Waits up to timeout_ms for an events message or a poll to arrive. */
void link_wait(bk_link *l, int timeout_ms);

/* The next events message, owned by the caller (nng_msg_free), or NULL. */
nng_msg *link_take_event(bk_link *l);

/* The gateway record for (id, instance), created when new (*created says).
 * A record with that id but another instance is a restarted gateway: its
 * connections go (the gone callback) and the record is replaced. */
rc link_gateway(bk_link *l, const char *id, uint64_t instance, int64_t now,
                gateway **out, bool *created);
/* The gateway's id (what it polls with), borrowed for the record's life. */
const char *link_gateway_id(const gateway *gw);
/* Forgets a gateway; its next poll gets a reset. */
void link_drop(bk_link *l, gateway *gw);
/* A gateway silent for longer than timeout_ms, or NULL. */
gateway *link_expired(bk_link *l, int64_t now, int64_t timeout_ms);

/* Stage records for gw (visible at link_publish). Payloads are copied. */
void link_out_room(gateway *gw, const char *room, uint64_t except,
                   uint64_t seq, const char *payload, size_t len);
void link_out_conn(gateway *gw, uint64_t conn_id, const char *payload,
                   size_t len);
/* The same for a binary message (render_binary's bytes): the gateway sends
 * it as a binary WebSocket message. */
void link_out_room_binary(gateway *gw, const char *room, uint64_t except,
                          uint64_t seq, const char *payload, size_t len);
void link_out_conn_binary(gateway *gw, uint64_t conn_id, const char *payload,
                          size_t len);
void link_out_join(gateway *gw, uint64_t conn_id, const char *room,
                   const char *uid, const char *name, uint64_t seq);
void link_out_part(gateway *gw, uint64_t conn_id, const char *room);
void link_out_authed(gateway *gw, uint64_t conn_id);
void link_out_close(gateway *gw, uint64_t conn_id, uint64_t code);
/* The answer to gw's server API request `request` (FO_REPLY). */
void link_out_reply(gateway *gw, uint64_t request, unsigned status,
                    const char *body, size_t len);

/* Bytes of records queued for gw and not yet acknowledged (staged too). */
size_t link_backlog(const gateway *gw);
/* Over this backlog a gateway gets no more history answers for now (they
 * are answered `unavailable`): a burst of requests for pages full of
 * pictures cannot fill its queue to the reset. */
#define LINK_BUSY_BYTES (128u << 20)

/* Sets one of the broker's figures, sent to every gateway with each fanout
 * reply and shown on its /metrics as roomcast_NAME. name is a literal of
 * [a-z0-9_] (borrowed for the link's life); at most WIRE_STATS_MAX. */
void link_stat_set(bk_link *l, const char *name, enum wire_stat_kind kind,
                   uint64_t value);

/* An events message is waiting (link_take_event would give one). */
bool link_has_events(bk_link *l);
/* The gateway record for (id, instance), or NULL; never creates one. */
gateway *link_find_gateway(bk_link *l, const char *id, uint64_t instance);

/* After a failed commit: drops every gateway's staged records (nothing of
 * that round may leave), ... */
void link_forget_staged(bk_link *l);
/* ... and changes the epoch, so every gateway registers its connections
 * again (the broker's memory starts over from storage) while events it
 * sent before learning the new epoch are refused with `unavailable`.
 * Records already published stay queued and are delivered first. */
void link_new_epoch(bk_link *l);

/* Replicated broker, while this member does not lead: drops the events
 * that arrived (nothing may be stored here; clients resend by id) and
 * answers every poll, parked ones too, WIRE_NOTLEADER(leader) so gateways
 * go to the leader (leader 0: not known yet). */
void link_refuse_all(bk_link *l, uint64_t leader);

/* Makes staged records visible and answers parked polls. */
void link_publish(bk_link *l);
/* Takes the polls that arrived and answers or parks them; answers parked
 * polls older than the keepalive with an empty reply. */
void link_serve(bk_link *l, int64_t now);

#endif
