/* bk_link.c -- the broker's nng transport; see bk_link.h.
 *
 * Two listening sockets (events PULL, fan-out raw REP), one receive in
 * flight on each: nng's callback threads only queue what arrives (under
 * `lock`), and the broker main thread takes it (link_take_event,
 * link_serve). The link's epoch and the broker's figures live here; the
 * gateway records and their acknowledged streams are bk_link_gateways.c's. */
#include "bk_link_impl.h"

#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "invariant.h"
#include "log.h"
#include "protocol.h"

#define EVENTS_QUEUE_MAX 4096 /* events messages taken in, not handled yet */
#define KEEPALIVE_MS 500 /* an idle gateway hears from us this often */

static bool msgq_push(msgq *q, nng_msg *m)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        nng_msg **items = malloc(cap * sizeof *items);
        if (items == NULL)
            return false;
        for (size_t i = 0; i < q->count; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->head = 0;
        q->cap = cap;
    }
    q->items[(q->head + q->count++) % q->cap] = m;
    return true;
}

static nng_msg *msgq_pop(msgq *q)
{
    if (q->count == 0)
        return NULL;
    nng_msg *m = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return m;
}

static void msgq_free(msgq *q)
{
    nng_msg *m;
    while ((m = msgq_pop(q)) != NULL)
        nng_msg_free(m);
    free(q->items);
}

/* nng callback thread: queue what arrived and ask for more. */
static void link_arrived(bk_link *l, nng_aio *aio, nng_socket sock, msgq *q)
{
    int err = nng_aio_result(aio);
    if (err == NNG_ECLOSED || err == NNG_ECANCELED)
        return;
    bool rearm = true;
    if (err == 0) {
        nng_msg *m = nng_aio_get_msg(aio);
        pthread_mutex_lock(&l->lock);
        /* The events queue has room for EVENTS_QUEUE_MAX from the start
         * (link_open), so an events message is never dropped here. */
        bool ok = msgq_push(q, m);
        if (q == &l->events && q->count >= EVENTS_QUEUE_MAX) {
            /* The broker is behind: stop taking events, so nng's buffers
             * fill and the gateways feel it, rather than memory here. */
            l->pull_paused = true;
            rearm = false;
        }
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);
        if (!ok) {
            /* Only a poll can get here: its gateway times out and polls
             * again (POLL_TIMEOUT_MS); nothing it is owed is lost. */
            LOG(LOG_ERROR, "event=poll_dropped reason=\"out of memory\"");
            nng_msg_free(m);
        }
    }
    if (rearm)
        nng_recv_aio(sock, aio);
}

static void aio_cb(void *arg)
{
    aio_ctx *c = arg;
    if (c->which == 0)
        link_arrived(c->l, c->aio, c->l->pull, &c->l->events);
    else
        link_arrived(c->l, c->aio, c->l->rep, &c->l->polls);
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != sizeof v)
        v = (uint64_t)time(NULL) * 2654435761u;
    return v ? v : 1;
}

static rc link_listen(nng_socket s, const char *url, size_t maxsz)
{
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, maxsz);
    int err = nng_listen(s, url, NULL, 0);
    if (err != 0) {
        LOG(LOG_ERROR, "event=listen_failed url=%s error=\"%s\"", url,
            nng_strerror(err));
        return RC_IO;
    }
    LOG(LOG_INFO, "event=listening url=%s", url);
    return RC_OK;
}

rc link_open(const config *cfg, link_gone_fn gone, void *gone_arg,
             bk_link **out)
{
    bk_link *l = calloc(1, sizeof *l);
    if (l == NULL)
        return RC_NOMEM;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    l->epoch = random_u64();
    l->gone = gone;
    l->gone_arg = gone_arg;
    /* The whole events queue up front: a message taken from nng always has
     * a place (the queue stops receiving when full). */
    l->events.items = malloc(EVENTS_QUEUE_MAX * sizeof *l->events.items);
    if (l->events.items == NULL) {
        free(l);
        return RC_NOMEM;
    }
    l->events.cap = EVENTS_QUEUE_MAX;
    if (nng_pull0_open(&l->pull) != 0 || nng_rep0_open_raw(&l->rep) != 0) {
        free(l->events.items);
        free(l);
        return RC_IO;
    }
    nng_socket_set_int(l->pull, NNG_OPT_RECVBUF, 1024);
    /* Replies pass through the socket's send queue to the pipe's; with the
     * default (no) buffer a non-blocking send of a second reply in a row
     * fails, so: a buffer, and a bounded blocking send. */
    nng_socket_set_int(l->rep, NNG_OPT_SENDBUF, 1024);
    nng_socket_set_ms(l->rep, NNG_OPT_SENDTIMEO, 1000);
    if (link_listen(l->pull, cfg->events_url, WIRE_MAX_MSG) != RC_OK ||
        link_listen(l->rep, cfg->fanout_url, 4096) != RC_OK) {
        nng_close(l->pull);
        nng_close(l->rep);
        free(l->events.items);
        free(l);
        return RC_IO;
    }
    for (int i = 0; i < PULL_AIOS + REP_AIOS; i++) {
        aio_ctx *c = &l->aios[i];
        c->l = l;
        c->which = i < PULL_AIOS ? 0 : 1;
        if (nng_aio_alloc(&c->aio, aio_cb, c) != 0) {
            link_close(l);
            return RC_NOMEM;
        }
        nng_recv_aio(c->which == 0 ? l->pull : l->rep, c->aio);
    }
    *out = l;
    return RC_OK;
}

void link_close(bk_link *l)
{
    if (l == NULL)
        return;
    nng_close(l->pull);
    nng_close(l->rep);
    for (int i = 0; i < PULL_AIOS + REP_AIOS; i++)
        nng_aio_free(l->aios[i].aio); /* NULL ok; waits for its callback */
    msgq_free(&l->events);
    msgq_free(&l->polls);
    while (l->gateways != NULL) {
        gateway *next = l->gateways->next_gw;
        gateway_free(l->gateways);
        l->gateways = next;
    }
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l);
}

uint64_t link_epoch(const bk_link *l)
{
    return l->epoch;
}

void link_wait(bk_link *l, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->lock);
    while (l->events.count == 0 && l->polls.count == 0)
        if (pthread_cond_timedwait(&l->wake, &l->lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&l->lock);
}

nng_msg *link_take_event(bk_link *l)
{
    pthread_mutex_lock(&l->lock);
    nng_msg *m = msgq_pop(&l->events);
    bool resume = l->pull_paused && l->events.count < EVENTS_QUEUE_MAX / 2;
    if (resume)
        l->pull_paused = false;
    pthread_mutex_unlock(&l->lock);
    if (resume)
        nng_recv_aio(l->pull, l->aios[0].aio);
    return m;
}

void link_stat_set(bk_link *l, const char *name, enum wire_stat_kind kind,
                   uint64_t value)
{
    size_t i = 0;
    while (i < l->nstats && strcmp(l->stats[i].name, name) != 0)
        i++;
    if (i == WIRE_STATS_MAX)
        return;
    if (i == l->nstats)
        l->nstats++;
    l->stats[i].name = name;
    l->stats[i].kind = (uint8_t)kind;
    l->stats[i].value = value;
}

void link_serve(bk_link *l, int64_t now)
{
    for (;;) {
        pthread_mutex_lock(&l->lock);
        nng_msg *req = msgq_pop(&l->polls);
        pthread_mutex_unlock(&l->lock);
        if (req == NULL)
            break;
        link_poll(l, req, now);
    }
    for (gateway *gw = l->gateways; gw != NULL; gw = gw->next_gw)
        if (gw->parked != NULL && now - gw->parked_ms >= KEEPALIVE_MS)
            link_reply_parked(l, gw);
}

bool link_has_events(bk_link *l)
{
    pthread_mutex_lock(&l->lock);
    bool any = l->events.count > 0;
    pthread_mutex_unlock(&l->lock);
    return any;
}

void link_new_epoch(bk_link *l)
{
    uint64_t e;
    do
        e = random_u64();
    while (e == l->epoch);
    l->epoch = e;
    for (gateway *gw = l->gateways; gw != NULL; gw = gw->next_gw)
        gw->tell_epoch = true;
}

/* Replies WIRE_NOTLEADER(leader) to req, which it frees. */
static void link_not_leader(bk_link *l, nng_msg *req, uint64_t leader)
{
    wbuf w = {0};
    wbuf_header(&w, WIRE_NOTLEADER);
    wbuf_u64(&w, leader);
    nng_msg *rep = NULL;
    if (!w.failed && nng_msg_alloc(&rep, 0) == 0 &&
        nng_msg_header_append(rep, nng_msg_header(req),
                              nng_msg_header_len(req)) == 0 &&
        nng_msg_append(rep, w.data, w.len) == 0 &&
        nng_sendmsg(l->rep, rep, 0) == 0)
        rep = NULL;
    if (rep != NULL)
        nng_msg_free(rep);
    nng_msg_free(req);
    wbuf_free(&w);
}

void link_refuse_all(bk_link *l, uint64_t leader)
{
    nng_msg *m;
    while ((m = link_take_event(l)) != NULL)
        nng_msg_free(m);
    for (;;) {
        pthread_mutex_lock(&l->lock);
        nng_msg *req = msgq_pop(&l->polls);
        pthread_mutex_unlock(&l->lock);
        if (req == NULL)
            break;
        link_not_leader(l, req, leader);
    }
    for (gateway *gw = l->gateways; gw != NULL; gw = gw->next_gw)
        if (gw->parked != NULL) {
            link_not_leader(l, gw->parked, leader);
            gw->parked = NULL;
        }
}
