/* bk_hooks.h -- webhooks: the durable outbox and its sender thread
 * (docs/protocol.md, "Webhooks").
 *
 * When `webhook_url` is set, every room event members see (`message`,
 * `enter`, `out`, `leave`, `delete`, the kinds listed in `webhook_events`)
 * is also written to the outbox table, a row in the SAME SQLite transaction
 * as the change that caused it: the broker's round commits both or neither,
 * and no copy reaches a member before that commit. A sender thread, beside
 * the chat and never inside the round, reads the outbox oldest first with
 * its own SQLite connection (read only), POSTs `{"events":[...]}` batches of
 * at most 100 signed with HMAC-SHA256 (libcurl, 5 s per request, one
 * keep-alive connection reused), and retries a failed batch with growing
 * delays (1 s to 60 s, jitter) forever. Events leave in outbox order, one
 * batch at a time, so a room's events reach the backend in the order its
 * members saw them, across retries and restarts.
 *
 * Threads: hooks_open, hooks_add, hooks_round, hooks_committed and
 * hooks_close are the broker main thread's; the sender thread only reads
 * the outbox and reports through atomics (what it had acknowledged, its
 * counters), which the main thread turns into deletes (it stays the only
 * writer of the database, so the round never waits for the sender) and into
 * figures (link_stat_set). `lock` guards the sender's wake-up and stop. */
#ifndef BK_HOOKS_H
#define BK_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bk_link.h"
#include "bk_store.h"
#include "config.h"
#include "rc.h"

typedef struct hooks hooks;

#define HOOKS_BATCH_MAX 100          /* events per request (docs/protocol.md) */
#define HOOKS_TIMEOUT_MS 5000        /* no answer within this: a failure */
#define HOOKS_RETRY_MIN_MS 1000      /* delays between failed attempts ... */
#define HOOKS_RETRY_MAX_MS 60000     /* ... grow from this to this */
#define HOOKS_SIGNATURE_LEN 71       /* "sha256=" + 64 hex digits */

/* Creates the outbox table in st's database (when missing) and, when
 * cfg->webhook_url is set, starts the sender thread, which opens its own
 * connection to cfg->db. With no webhook_url nothing is written or sent
 * (rows left from an earlier run stay). Borrows cfg and st, which must
 * outlive the hooks. On RC_OK *out is owned (close with hooks_close). */
rc hooks_open(const config *cfg, store *st, hooks **out);

/* Stops the sender (an HTTP request under way is aborted at once; its rows
 * stay and are sent after the next start) and frees everything. Call it
 * before store_close. NULL ok. */
void hooks_close(hooks *h);

/* Appends one event to the outbox, in the store's open transaction (begun
 * here when none is): call it where the event is rendered for the room's
 * members, right beside the link_out_room calls, so the outbox order is
 * the members' order. `kind` is the event's name ("message", "enter",
 * "out", "leave", "delete"); a kind not in webhook_events, or hooks that
 * are off (h NULL included), is ignored with RC_OK. `json` is the event
 * object exactly as members get it (a binary message: its JSON header,
 * with `type` and `size`, without the payload), ending with '}'; the sender
 * adds `hook_id` to it. Borrows everything. RC_BAD_REQUEST when json is
 * not an object's text, RC_UNAVAILABLE when storage refuses writes (the
 * event is counted as dropped; logged at most every 10 s), RC_DB when
 * SQLite failed (logged). */
rc hooks_add(hooks *h, const char *room, const char *kind, const char *json,
             size_t len);

/* In the round, before the commit: deletes the rows the backend has
 * acknowledged and, past webhook_max_pending, drops the oldest (counted).
 * NULL ok. */
void hooks_round(hooks *h);

/* After the commit: when it failed (store_ok false: the round was rolled
 * back), takes the outbox's counts again from storage; when rows were
 * added, wakes the sender. Sets the
 * figures (webhook_pending, webhook_delivered_total, webhook_failed_total,
 * webhook_dropped_total, webhook_oldest_pending_seconds) on the link.
 * NULL ok. */
void hooks_committed(hooks *h, bk_link *l, int64_t now_wall_ms);

/* "sha256=" and the lowercase hex HMAC-SHA256 of body[0..len) keyed with
 * secret[0..secret_len), NUL-terminated, into out. Any thread. */
rc hooks_sign(const char *secret, size_t secret_len, const char *body,
              size_t len, char out[HOOKS_SIGNATURE_LEN + 1]);

#endif
