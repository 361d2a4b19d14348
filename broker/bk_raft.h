/* bk_raft.h -- the replicated broker: a Raft group of brokers (node_id > 0).
 *
 * Consensus is Canonical's C Raft (libraft, with its libuv I/O) on a thread
 * of its own. What is replicated is the effect of each round: the rows it
 * wrote, as one SQLite changeset (bk_store.c store_set_replicate), one Raft
 * entry per round. The round's transaction is rolled back on the leader;
 * once a majority holds the entry, the Raft thread writes the changeset on
 * every member alike (the leader too) with the entry's index, in one SQLite
 * transaction, and only then does the leader's round publish. A follower
 * writes nothing else: its main thread only refuses polls (WIRE_NOTLEADER,
 * with the leader's id) and drops events.
 *
 * Threads: bkraft_open/bkraft_close/bkraft_status/the replicate hook from the
 * broker's main thread; everything else on the Raft thread, which owns the
 * libuv loop, the struct raft and a second SQLite connection. They meet
 * under one mutex. */
#ifndef BK_RAFT_H
#define BK_RAFT_H

#include <stdbool.h>
#include <stdint.h>

#include "bk_link.h"
#include "bk_rooms.h"
#include "bk_store.h"
#include "config.h"
#include "rc.h"

typedef struct bkraft bkraft;

#define BKRAFT_LAG_MAX 8 /* followers whose lag is shown on /metrics */

typedef struct bkraft_state {
    bool leading;     /* leader, and every earlier entry is applied here */
    uint64_t term;    /* the term it leads in (when leading), else the last */
    uint64_t leader;  /* the leader's node id as this member knows it; 0 */
    uint64_t commit;  /* commit index */
    uint64_t applied; /* last entry written to this member's database */
    /* When leading: each other member's id and how many entries its match
     * index is behind the leader's last index. */
    unsigned nlag;
    uint64_t lag_id[BKRAFT_LAG_MAX];
    uint64_t lag[BKRAFT_LAG_MAX];
} bkraft_state;

/* Starts the member: opens raft_dir (bootstrapping the group from `peers`
 * when it is empty), a second connection to cfg->db, and the Raft thread;
 * hooks st so each round is replicated. Borrows cfg and st. */
rc bkraft_open(const config *cfg, store *st, bkraft **out);
void bkraft_close(bkraft *r); /* NULL ok; stops the Raft thread */
void bkraft_status(bkraft *r, bkraft_state *s);

/* Main thread, at each round: true when this member leads (the caller runs
 * a normal round). On becoming leader it drops the memory of rooms (the
 * database changed under it) and takes a new epoch, so gateways register
 * their connections again. Otherwise it runs a follower's round (waits a
 * little, link_refuse_all) and returns false. Sets the figures
 * broker_raft_leader, broker_raft_term, broker_raft_commit_index and
 * broker_raft_applied_index either way, and on the leader
 * broker_raft_follower_lag_N for each other member N. */
bool bkraft_round(bkraft *r, bk_link *l, rooms *rm);

#endif
