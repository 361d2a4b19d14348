/* bk_api.h -- the broker's half of the server API (docs/protocol.md, "Server
 * API"): every answer is made here.
 *
 * A gateway turns each HTTP request under /api/v1/ into one EV_API record
 * (wire.h), carrying a request id of its own instead of a connection; this
 * module checks every field again (the broker trusts no gateway), acts on
 * rooms and storage exactly as client events do, and stages the answer as
 * an FO_REPLY record for that gateway. The reply travels in the gateway's
 * acknowledged fan-out stream, so it is released only after the round's
 * commit: a publish is answered once its message is stored.
 * Broker main thread only. */
#ifndef BK_API_H
#define BK_API_H

#include <stdbool.h>

#include "bk_events.h"
#include "bk_link.h"
#include "wire.h"

/* Answers one EV_API record from gw (borrowed). */
void api_handle(events *ev, gateway *gw, const wire_event_rec *rec);

/* Answers it 503 `unavailable` with `why` instead, doing nothing: it was
 * queued for an earlier broker, or its round's commit failed. */
void api_refuse(gateway *gw, const wire_event_rec *rec, const char *why);

#endif
