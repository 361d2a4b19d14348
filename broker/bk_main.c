/* bk_main.c -- roomcast-broker: start-up, the main loop, shutdown.
 *
 * One thread does all the broker's work, in rounds: take every events
 * message that has arrived (up to commit_batch records), handle them into
 * one open SQLite transaction, commit, and only then publish the staged
 * fan-out to the gateways' polls. Group commit keeps storage ahead of load
 * (SQLite's single-row commits top out near 20k/s) without ever letting a
 * copy out before its message is stored. A commit that fails undoes its
 * round and the broker carries on (bk_outage.c). Retention runs a bounded
 * step inside each round's transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_events.h"
#include "bk_hooks.h"
#include "bk_link.h"
#include "bk_outage.h"
#include "bk_raft.h"
#include "bk_retention.h"
#include "bk_rooms.h"
#include "bk_store.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "proc.h"

#define RETENTION_EVERY_MS (60 * 1000)
#define ROUND_WAIT_MS 100
#define STOP_DRAIN_MS 2000 /* finishing what arrived before a stop */

static void retention_begin(const config *cfg, retention *ret)
{
    int64_t min_ts = 0;
    if (cfg->retention_days > 0)
        min_ts = clock_wall_ms() - cfg->retention_days * 86400000LL;
    retention_start(ret, cfg->retention_messages, min_ts);
}

/* One round; false when the broker must stop (no memory to go on). */
static bool round_once(const config *cfg, events *ev, store *st, bk_link *l,
                       hooks *h, outage *o, retention *ret)
{
    link_wait(l, ROUND_WAIT_MS);
    int64_t wall = clock_wall_ms(), mono = clock_mono_ms();
    long records = 0;
    nng_msg *m;
    while (records < cfg->commit_batch && (m = link_take_event(l)) != NULL) {
        records += events_handle(ev, m, wall);
        outage_keep(o, m);
    }
    gateway *gw;
    while ((gw = link_expired(l, mono, cfg->gateway_timeout_ms)) != NULL) {
        LOG(LOG_WARN, "event=gateway_timeout id=%s", link_gateway_id(gw));
        events_gone(ev, gw);
        link_drop(l, gw);
    }
    long deleted;
    if (store_ok(st) && retention_active(ret) &&
        retention_step(ret, 0, &deleted) != RC_OK)
        LOG(LOG_DEBUG, "event=retention_step_failed");
    hooks_round(h); /* webhook acks and drops, in this transaction */
    if (!outage_commit(o, mono))
        return false;
    link_publish(l);
    link_stat_set(l, "broker_messages_stored_total", STAT_COUNTER,
                  events_messages_stored(ev));
    hooks_committed(h, l, wall);
    link_serve(l, mono);
    outage_tick(o, clock_mono_ms(), wall);
    return true;
}

/* A round of whatever this member is: with node_id, a member that does not
 * lead only sends gateways to the leader (bk_raft.c). */
static bool round_any(const config *cfg, bkraft *raft, rooms *rm, events *ev,
                      store *st, bk_link *l, hooks *h, outage *o,
                      retention *ret)
{
    if (raft != NULL && !bkraft_round(raft, l, rm))
        return true;
    return round_once(cfg, ev, st, l, h, o, ret);
}

int main(int argc, char **argv)
{
    config cfg;
    int code = proc_start(&cfg, CONFIG_BROKER, "broker", "roomcast-broker", ROOMCAST_VERSION,
                          argc, argv);
    if (code >= 0)
        return code;

    store *st = NULL;
    rooms *rm = rooms_new();
    events *ev = NULL;
    bk_link *l = NULL;
    hooks *h = NULL;
    outage *o = NULL;
    retention *ret = NULL;
    bkraft *raft = NULL;
    int status = 1;
    if (rm == NULL || store_open(cfg.db, strcmp(cfg.db_sync, "full") == 0, &st) != RC_OK)
        goto done;
    if (hooks_open(&cfg, st, &h) != RC_OK ||
        events_new(&cfg, st, rm, &ev) != RC_OK ||
        link_open(&cfg, events_gone, ev, &l) != RC_OK)
        goto done;
    events_set_link(ev, l);
    events_set_hooks(ev, h);
    if (outage_new(st, rm, ev, l, &o) != RC_OK ||
        retention_new(st, &ret) != RC_OK)
        goto done;
    if (cfg.node_id > 0 && bkraft_open(&cfg, st, &raft) != RC_OK)
        goto done;
    LOG(LOG_INFO, "event=ready db=%s events_url=%s fanout_url=%s auth=%s",
        cfg.db, cfg.events_url, cfg.fanout_url, cfg.auth);
    retention_begin(&cfg, ret);
    int64_t last_retention = clock_mono_ms();
    status = 0;
    while (!proc_stopping) {
        if (!round_any(&cfg, raft, rm, ev, st, l, h, o, ret)) {
            status = 1;
            break;
        }
        if (clock_mono_ms() - last_retention > RETENTION_EVERY_MS) {
            retention_begin(&cfg, ret);
            last_retention = clock_mono_ms();
        }
    }
    if (status == 0) {
        /* Finish what has arrived (bounded: gateways may still be
         * sending), then close the database cleanly. */
        int64_t until = clock_mono_ms() + STOP_DRAIN_MS;
        while (link_has_events(l) && clock_mono_ms() < until)
            if (!round_any(&cfg, raft, rm, ev, st, l, h, o, ret))
                break;
        LOG(LOG_INFO, "event=stopping stored=%llu",
            (unsigned long long)events_messages_stored(ev));
    }
done:
    bkraft_close(raft);
    retention_free(ret);
    outage_free(o);
    hooks_close(h); /* before store_close: it uses the store's connection */
    link_close(l);
    events_free(ev);
    store_close(st);
    rooms_free(rm);
    return status;
}
