/* bk_outage.c -- see bk_outage.h.
 *
 * Why rebuild rather than undo: a round changes rooms, members, presence
 * and last seqs in many places; recording an undo for each would be a
 * second copy of every handler. Memory is a cache of storage plus the
 * presence the gateways know, and both can be had again: storage by
 * loading rooms on use (bk_events.c room_get), presence by the gateways'
 * register-again round (the same path a broker restart takes, and tested
 * there). What that costs: `out` notices of connections that closed in the
 * failed round are not sent (their rooms' counts are right again at the
 * next presence change), and the failed round's requests are refused. */
#include "bk_outage.h"

#include <stdlib.h>

#include "log.h"

#define PROBE_EVERY_MS 1000

struct outage {
    store *st;
    rooms *rooms;
    events *ev;
    bk_link *link;
    nng_msg **kept; /* the round's events messages */
    size_t nkept, capkept;
    int64_t last_probe; /* mono ms */
    int64_t down_since; /* mono ms; 0 while storage works */
    uint64_t rounds_failed;
};

rc outage_new(store *st, rooms *rm, events *ev, bk_link *l, outage **out)
{
    outage *o = calloc(1, sizeof *o);
    if (o == NULL)
        return RC_NOMEM;
    o->st = st;
    o->rooms = rm;
    o->ev = ev;
    o->link = l;
    *out = o;
    return RC_OK;
}

static void outage_release(outage *o)
{
    for (size_t i = 0; i < o->nkept; i++)
        nng_msg_free(o->kept[i]);
    o->nkept = 0;
}

void outage_free(outage *o)
{
    if (o == NULL)
        return;
    outage_release(o);
    free(o->kept);
    free(o);
}

void outage_keep(outage *o, nng_msg *msg)
{
    if (o->nkept == o->capkept) {
        size_t cap = o->capkept ? o->capkept * 2 : 64;
        nng_msg **k = realloc(o->kept, cap * sizeof *k);
        if (k == NULL) {
            /* Should this round fail, these clients get no answer and
             * resend after their own timeout; nothing is stored twice. */
            nng_msg_free(msg);
            return;
        }
        o->kept = k;
        o->capkept = cap;
    }
    o->kept[o->nkept++] = msg;
}

bool outage_commit(outage *o, int64_t mono_ms)
{
    rc c = store_commit(o->st);
    if (c == RC_OK) {
        outage_release(o);
        return true;
    }
    o->rounds_failed++;
    if (c == RC_UNAVAILABLE) { /* replicated: no majority took the round */
        LOG(LOG_WARN, "event=round_not_replicated action=\"refuse its "
            "requests with unavailable, start over from storage\"");
    } else if (o->down_since == 0) {
        LOG(LOG_ERROR, "event=storage_failed error=\"%s\" action=\"refuse "
            "writes with unavailable until storage takes them again\"",
            store_last_error(o->st));
        o->down_since = mono_ms;
    }
    link_forget_staged(o->link);
    for (size_t i = 0; i < o->nkept; i++)
        events_refuse(o->ev, o->kept[i], c == RC_UNAVAILABLE ?
                      "the broker group lost its leader; send it again" :
                      "storage failed; nothing was stored, send it again");
    outage_release(o);
    if (rooms_clear(o->rooms) != RC_OK) {
        LOG(LOG_ERROR, "event=storage_failed action=exit reason=\"out of "
            "memory\"");
        return false;
    }
    link_new_epoch(o->link);
    o->last_probe = mono_ms; /* the first probe a second later */
    return true;
}

void outage_tick(outage *o, int64_t mono_ms, int64_t wall_ms)
{
    if (!store_ok(o->st) && mono_ms - o->last_probe >= PROBE_EVERY_MS) {
        o->last_probe = mono_ms;
        if (store_probe(o->st, wall_ms) == RC_OK) {
            LOG(LOG_INFO, "event=storage_recovered down_ms=%lld",
                (long long)(mono_ms - o->down_since));
            o->down_since = 0;
        }
    }
    link_stat_set(o->link, "broker_storage_ok", STAT_GAUGE,
                  store_ok(o->st) ? 1 : 0);
    link_stat_set(o->link, "broker_storage_errors_total", STAT_COUNTER,
                  store_errors(o->st));
}
