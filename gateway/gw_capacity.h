/* gw_capacity.h -- what the operating system must grant a gateway so that
 * it holds `threads` WebSockets (one civetweb worker thread and one
 * descriptor each), checked and arranged once at start-up: the open-file
 * limit, the task limits, the process's futex hash and malloc's arenas.
 *
 * Threads: the main thread, before any other thread exists (the futex hash
 * and the arena count must be set before threads are created). */
#ifndef GW_CAPACITY_H
#define GW_CAPACITY_H

#include <stdbool.h>

#include "config.h"

/* Raises the descriptor limit, sizes the futex hash, and works out how
 * many workers the limits leave room for (cfg->threads or fewer), logging
 * a warning naming the figure for every limit that cuts them. Never
 * fails: a gateway on a smaller machine (or an older kernel) still starts.
 * Borrows cfg. */
void capacity_prepare(const config *cfg);

/* The civetweb workers to start (num_threads): cfg->threads unless a limit
 * cut them. After capacity_prepare. */
long capacity_workers(void);

/* For the civetweb log callback: notes "Cannot start worker thread N".
 * True when msg was that message. */
int capacity_note_civetweb(const char *msg);

/* Whether civetweb failed to start a worker during mg_start. Its master
 * thread then most likely failed too (civetweb does not check), so the
 * gateway must not go on. */
bool capacity_start_failed(void);

#endif
