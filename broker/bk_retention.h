/* bk_retention.h -- deleting old messages, a bounded step at a time.
 *
 * A pass deletes the messages beyond the newest `keep` of each room, and
 * those older than min_ts. The broker starts one every minute and runs one
 * step per round, inside the round's transaction (its commit carries the
 * deletes), each step touching at most `budget` rows (default 500): no
 * round waits for a sweep of the whole database, however large it grows.
 * A room's seq counter survives the deletion of its newest messages
 * (rooms.last_seq), so no seq is given twice.
 *
 * Broker main thread only (it writes through the store's connection). */
#ifndef BK_RETENTION_H
#define BK_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "bk_store.h"

#define RETENTION_STEP_ROWS 500 /* default budget of a step */

typedef struct retention retention;

/* Borrows st, which must outlive it. On RC_OK *out is owned (free with
 * retention_free). */
rc retention_new(store *st, retention **out);
void retention_free(retention *r); /* NULL ok */

/* Begins a pass, unless one is running. min_ts 0: no age limit. */
void retention_start(retention *r, long keep, int64_t min_ts);
bool retention_active(const retention *r);

/* One step of the running pass (none: RC_OK, nothing done), at most
 * `budget` rows (0: RETENTION_STEP_ROWS), in the store's transaction
 * (begun when none is open; RC_UNAVAILABLE when storage refuses writes).
 * *deleted: messages deleted by this step. */
rc retention_step(retention *r, long budget, long *deleted);

/* A whole pass at once, committing after each step. Outside a
 * transaction (else RC_INTERNAL). For tests and tools. */
rc retention_run(store *st, long keep, int64_t min_ts, long budget);

#endif
