/* gw_request.h -- requests to the broker that are not connections (the
 * server API), with their answers matched to them, and a timeout.
 *
 * A caller (an HTTP worker thread of gw_api.c) registers a request on its
 * own stack, ships an EV_API record carrying the request id, and waits on
 * the request's condition variable. The poll thread (gw_link.c) hands each
 * FO_REPLY to request_answer, which wakes the caller. A request fails (the
 * caller gets RC_UNAVAILABLE, which the API answers with 503) when no answer
 * comes within the timeout, when its batch could not be handed to the
 * broker, when the broker goes down, or when a broker of another epoch (a
 * restart, a reset) answers polls: that broker never saw it, or refused it.
 *
 * Threads: any. One mutex guards the table of waiting requests; each
 * request is written by the answering thread only while it is in the table,
 * and read by its caller after request_wait has taken it out. */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "rc.h"

typedef struct gw_request {
    uint64_t id;       /* unique in this process, never 0 */
    uint64_t epoch;    /* broker epoch its record was queued for, 0: not yet */
    bool done;         /* answered or failed */
    bool failed;       /* no answer will come */
    unsigned status;   /* the answer's HTTP status */
    wbuf body;         /* the answer's body (owned by the request) */
    pthread_cond_t cond;
    struct gw_request *next; /* in the table */
} gw_request;

/* Initialises q (on the caller's stack), gives it an id and puts it in the
 * table: from now on an answer with its id is kept. */
void request_begin(gw_request *q);
/* Records the broker epoch the request's record was queued for. */
void request_sent(gw_request *q, uint64_t epoch);
/* Waits until q is answered or failed, or timeout_ms passed; takes it out
 * of the table. RC_OK: q->status and q->body hold the answer; otherwise
 * RC_UNAVAILABLE (nothing will come). */
rc request_wait(gw_request *q, int64_t timeout_ms);
/* Frees what q holds (after request_wait, or instead of it when the record
 * could not be sent: then it takes q out of the table too). */
void request_end(gw_request *q);

/* The poll thread: an answer arrived (body borrowed, copied). An unknown
 * id (a request that timed out meanwhile) is ignored. */
void request_answer(uint64_t id, unsigned status, const char *body,
                    size_t len);
/* Fails request id (its record could not be handed to the broker). */
void request_fail(uint64_t id);
/* Fails every request queued for a broker epoch other than `epoch` (0:
 * every request): that broker is gone. */
void request_fail_epoch(uint64_t epoch);

/* Requests waiting now (for tests and /metrics). */
unsigned request_waiting(void);

#endif
