/* bk_delete.h -- deleting a message, by its author (the client's `delete`
 * event) or through the server API.
 *
 * The message's content is erased from storage (not hidden: the row's text
 * is overwritten and SQLite's secure_delete zeroes the freed bytes); its
 * seq, uid, name and ts stay, so catch-up and history show a placeholder
 * (`deleted: true`, no `message`). Every online member of the room gets
 * `{"event":"delete","room","seq","by"}`. Deleting again changes nothing.
 * Writes go into the store's open transaction, like every event's.
 * Broker main thread only. */
#ifndef BK_DELETE_H
#define BK_DELETE_H

#include <stdbool.h>
#include <stdint.h>

#include "bk_events.h"
#include "bk_rooms.h"

/* Deletes message seq of room (a valid room name, borrowed). `author`:
 * when non-NULL, only a message of that uid may go (else RC_FORBIDDEN).
 * `by` is the `by` of the event (the author's uid, or "server").
 * RC_NOT_FOUND: the room never had that seq. On RC_OK *fresh says whether
 * this call deleted it (false: deleted before, or removed by retention). */
rc delete_message(events *ev, const char *room, uint64_t seq,
                  const char *author, const char *by, bool *fresh);

/* The client's `delete` event from connection c: checks that c is in the
 * room, answers errors to c (echoing id, the client's; NULL or "" for
 * none). */
void delete_on_event(events *ev, bk_conn *c, const char *room, uint64_t seq,
                     const char *id);

#endif
