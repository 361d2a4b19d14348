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
#include <stdint.h>

#include "bk_rooms.h"
#include "bk_store.h"
#include "buf.h"

/* Opens an event object: `{"event":"NAME"` (the caller adds fields and
 * the closing brace). */
void render_open(wbuf *w, const char *event);

/* A `message` event for a stored message, with `"replay":true` when it is
 * delivered from storage. A binary message is given without its payload:
 * type, size, filename? instead of `message` (webhooks). A deleted one has
 * `"deleted":true` and none of these. */
void render_message(wbuf *w, const stored_msg *m, bool replay);

/* Whether m is a binary message with its payload (a deleted one has none
 * and is shown as a JSON `message` event). */
bool render_is_binary(const stored_msg *m);

/* A binary message as clients get it (docs/protocol.md "Binary messages"): the
 * 4-byte big-endian header length, the header (the `message` event with
 * type, size, filename? instead of `message`), then the payload. */
void render_binary(wbuf *w, const stored_msg *m, bool replay);

/* One message of a `history` answer: render_message for text, and for a
 * binary message an object with type, size, filename? and `data` (the
 * payload in standard base64) instead of `message`. */
void render_history_item(wbuf *w, const stored_msg *m);

/* enter / out / leave with the given counts; `seq` (the room's newest)
 * when with_seq, `"truncated":true` when truncated. Borrows everything. */
void render_counts(wbuf *w, const char *event, const room *rm,
                   const member *m, size_t num, size_t total, bool with_seq,
                   bool truncated);

/* The same with `"by":BY` (a `leave` the server API caused). */
void render_counts_by(wbuf *w, const char *event, const room *rm,
                      const member *m, size_t num, size_t total,
                      const char *by);

/* `{"event":"delete","room","seq","by"}`. */
void render_delete(wbuf *w, const char *room, uint64_t seq, const char *by);

/* `{"event":"error","code","message","id"?}` (id omitted when NULL or ""). */
void render_error(wbuf *w, rc r, const char *message, const char *id);

#endif
