/* bk_render.h -- the JSON text of the events the broker sends to clients.
 *
 * Each client-visible event is rendered once, here, and the same bytes go
 * to every gateway that needs them (serialize once per gateway,
 * never per recipient). Functions append to a caller's wbuf; a failed
 * allocation shows as w->failed. Broker main thread only (no state). */
#ifndef BK_RENDER_H
#define BK_RENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "bk_rooms.h"
#include "bk_store.h"
#include "buf.h"

/* Opens an event object: `{"event":"NAME"` (the caller adds fields and
 * the closing brace). */
void render_open(wbuf *w, const char *event);

/* A `message` event for a stored message, with `"replay":true` when it is
 * delivered from storage. */
void render_message(wbuf *w, const stored_msg *m, bool replay);

/* enter / out / leave with the given counts; `seq` (the room's newest)
 * when with_seq, `"truncated":true` when truncated. Borrows everything. */
void render_counts(wbuf *w, const char *event, const room *rm,
                   const member *m, size_t num, size_t total, bool with_seq,
                   bool truncated);

#endif
