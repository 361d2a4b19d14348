/* gw_link.h -- the gateway's end of the nng links to the broker.
 *
 * Events go out on a PUSH socket (events_url), batched: workers append
 * records to a shared buffer and one sender thread ships whatever has
 * gathered as one nng message. Fan-out comes back by polling (REQ on
 * fanout_url): the poll thread asks for everything after the last position
 * it received, delivers each record through gw_index, and asks again. A
 * gap, a broker restart (new epoch) or a reset makes it register every
 * connection and room again (EV_RESUME with the last seq delivered here),
 * so the broker's counts are right again and missed messages are replayed.
 *
 * The broker is "up" while polls are answered; while it is down, events
 * that need it are refused at once with `unavailable`. */
#ifndef GW_LINK_H
#define GW_LINK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "rc.h"
#include "wire.h"

/* Dials both URLs (retrying forever) and starts the two threads. Borrows
 * cfg for the life of the process. */
rc gwlink_start(const config *cfg);
/* Sends EV_BYE (the broker takes every connection offline at once), then
 * stops the threads and closes the sockets. */
void gwlink_stop(void);

bool gwlink_up(void);
/* Replicated broker (several URLs): the node id (1-based place in the URL
 * lists) of the member in use; 0 with one broker. */
uint64_t gwlink_leader(void);

/* Queues encoded records (borrowed, copied). RC_UNAVAILABLE when the broker
 * is down: nothing was queued. */
rc gwlink_send(const wbuf *records);
/* Queues EV_OPEN / EV_CLOSE records, even while the broker seems down: a
 * poll that timed out may only mean a slow or frozen broker, which would
 * otherwise keep a closed connection online. (A restarted broker refuses
 * records meant for its predecessor; registering again covers it.) */
rc gwlink_send_conn(const wbuf *records);
/* The same, then `tail` as one wire str (the last field of the last
 * record): a binary message's payload is copied once, into the batch. */
rc gwlink_send_with(const wbuf *records, const char *tail, size_t tail_len);
/* The same for an EV_API record; *epoch gets the broker epoch it was
 * queued for (gw_request.h). */
rc gwlink_request(const wbuf *records, uint64_t *epoch);

/* Calls fn for each figure the broker sent with its last answer (name
 * without the roomcast_ prefix, borrowed for the call). Any thread. */
typedef void (*gwlink_stat_fn)(void *arg, const char *name,
                               enum wire_stat_kind kind, uint64_t value);
void gwlink_each_stat(gwlink_stat_fn fn, void *arg);

/* Counters for /metrics. */
extern atomic_ullong gwlink_resyncs;
extern atomic_ullong gwlink_gateways; /* attached to the broker, as it said */

#endif
