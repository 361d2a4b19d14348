/* bk_outage.h -- what the broker does when its storage fails, and how it
 * comes back.
 *
 * A round whose commit fails (a full disk, a read-only or removed database)
 * is undone as a whole: nothing of it was stored, so nothing of it may
 * leave. Its staged fan-out is dropped, every request it handled is
 * answered `unavailable` (the client resends with the same `id`; nothing
 * was stored, so that stores it once), and the broker's memory (rooms,
 * members, presence, last seqs) is dropped and rebuilt from storage: the
 * epoch changes and every gateway registers its connections again, as
 * after a restart. From then on, while storage refuses writes, events that
 * need one are refused up front and the rest (history, who, entering as an
 * existing member, going offline) are served; a one-row probe write each
 * second finds when storage works again, and writes resume by themselves.
 *
 * Figures (on the gateways' /metrics): roomcast_broker_storage_ok (0/1) and
 * roomcast_broker_storage_errors_total. Logs: one line when storage fails,
 * one when it is back.
 *
 * Broker main thread only. */
#ifndef BK_OUTAGE_H
#define BK_OUTAGE_H

#include <nng/nng.h>
#include <stdint.h>

#include "bk_events.h"
#include "bk_link.h"
#include "bk_rooms.h"
#include "bk_store.h"

typedef struct outage outage;

/* Borrows everything. On RC_OK *out is owned (free with outage_free). */
rc outage_new(store *st, rooms *rm, events *ev, bk_link *l, outage **out);
void outage_free(outage *o); /* NULL ok; frees messages still kept */

/* Takes msg, an events message handled in this round, until the round
 * ends (its requests are refused if the commit fails). When it cannot be
 * kept (no memory) it is freed at once. */
void outage_keep(outage *o, nng_msg *msg);

/* Ends the round: commits; on failure undoes the round as above. Frees
 * every kept message. Returns false only when the broker cannot go on
 * (no memory to rebuild its state). Call before link_publish. */
bool outage_commit(outage *o, int64_t mono_ms);

/* Each round, after publishing: probes storage while it is down (at most
 * once a second), and keeps the figures current. */
void outage_tick(outage *o, int64_t mono_ms, int64_t wall_ms);

#endif
