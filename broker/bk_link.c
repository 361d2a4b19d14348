/* bk_link.c -- see bk_link.h. */
#include "bk_link.h"

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

/* One receive in flight per socket: with several, nng may complete them
 * out of order, and a connection's events must be handled in the order it
 * sent them. nng's own receive buffer keeps the socket busy meanwhile. */
#define PULL_AIOS 1
#define REP_AIOS 1
#define EVENTS_QUEUE_MAX 4096 /* events messages taken in, not handled yet */
#define KEEPALIVE_MS 500 /* an idle gateway hears from us this often */
/* Behind this far: reset it. Replies carry at most REPLY_MAX_BYTES of it
 * at a time (whole records), so the queue may outgrow one nng message: a
 * round of catch-ups and history answers full of pictures drains over a
 * few polls instead of resetting the gateway. */
#define QUEUE_MAX_BYTES (512u << 20)
#define REPLY_MAX_BYTES (WIRE_MAX_MSG / 4)

typedef struct aio_ctx {
    struct bk_link *l;
    int which; /* 0: pull, 1: rep */
    nng_aio *aio;
} aio_ctx;

typedef struct msgq {
    nng_msg **items;
    size_t head, count, cap;
} msgq;

struct bk_link {
    nng_socket pull;
    nng_socket rep;
    aio_ctx aios[PULL_AIOS + REP_AIOS]; /* each re-arms itself */
    pthread_mutex_t lock; /* guards the two queues and `pull_paused` */
    pthread_cond_t wake;
    msgq events;
    msgq polls;
    bool pull_paused; /* events queue full: no receive is armed */
    uint64_t epoch;
    gateway *gateways;
    size_t ngateways;
    link_gone_fn gone;
    void *gone_arg;
    struct {
        const char *name; /* borrowed literal */
        uint8_t kind;
        uint64_t value;
    } stats[WIRE_STATS_MAX];
    size_t nstats;
};

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

static void gateway_free(gateway *gw)
{
    wbuf_free(&gw->staged);
    wbuf_free(&gw->out);
    if (gw->parked != NULL)
        nng_msg_free(gw->parked);
    free(gw);
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

static gateway *link_find(bk_link *l, const char *id)
{
    for (gateway *gw = l->gateways; gw != NULL; gw = gw->next_gw)
        if (strcmp(gw->id, id) == 0)
            return gw;
    return NULL;
}

void link_drop(bk_link *l, gateway *gw)
{
    for (gateway **p = &l->gateways; *p != NULL; p = &(*p)->next_gw)
        if (*p == gw) {
            *p = gw->next_gw;
            l->ngateways--;
            LOG(LOG_INFO, "event=gateway_detached id=%s", gw->id);
            gateway_free(gw);
            return;
        }
}

rc link_gateway(bk_link *l, const char *id, uint64_t instance, int64_t now,
                gateway **out, bool *created)
{
    gateway *gw = link_find(l, id);
    *created = false;
    if (gw != NULL && gw->instance == instance) {
        *out = gw;
        return RC_OK;
    }
    if (gw != NULL) {
        /* The same id came back as a new process: its old connections are
         * gone, and must not linger online. */
        LOG(LOG_INFO, "event=gateway_restarted id=%s", id);
        l->gone(l->gone_arg, gw);
        link_drop(l, gw);
    }
    gw = calloc(1, sizeof *gw);
    if (gw == NULL)
        return RC_NOMEM;
    snprintf(gw->id, sizeof gw->id, "%s", id);
    gw->instance = instance;
    gw->last_poll_ms = now;
    gw->next_gw = l->gateways;
    l->gateways = gw;
    l->ngateways++;
    LOG(LOG_INFO, "event=gateway_attached id=%s", id);
    *created = true;
    *out = gw;
    return RC_OK;
}

gateway *link_expired(bk_link *l, int64_t now, int64_t timeout_ms)
{
    for (gateway *gw = l->gateways; gw != NULL; gw = gw->next_gw)
        if (now - gw->last_poll_ms > timeout_ms)
            return gw;
    return NULL;
}

static void link_out_room_as(gateway *gw, uint8_t type, const char *room,
                             uint64_t except, uint64_t seq,
                             const char *payload, size_t len)
{
    wbuf_u8(&gw->staged, type);
    wbuf_cstr(&gw->staged, room);
    wbuf_u64(&gw->staged, except);
    wbuf_u64(&gw->staged, seq);
    wbuf_str(&gw->staged, payload, len);
    gw->staged_n++;
}

static void link_out_conn_as(gateway *gw, uint8_t type, uint64_t conn,
                             const char *payload, size_t len)
{
    wbuf_u8(&gw->staged, type);
    wbuf_u64(&gw->staged, conn);
    wbuf_str(&gw->staged, payload, len);
    gw->staged_n++;
}

void link_out_room(gateway *gw, const char *room, uint64_t except,
                   uint64_t seq, const char *payload, size_t len)
{
    link_out_room_as(gw, FO_ROOM, room, except, seq, payload, len);
}

void link_out_room_binary(gateway *gw, const char *room, uint64_t except,
                          uint64_t seq, const char *payload, size_t len)
{
    link_out_room_as(gw, FO_ROOM_BINARY, room, except, seq, payload, len);
}

void link_out_conn(gateway *gw, uint64_t conn, const char *payload,
                   size_t len)
{
    link_out_conn_as(gw, FO_CONN, conn, payload, len);
}

void link_out_conn_binary(gateway *gw, uint64_t conn, const char *payload,
                          size_t len)
{
    link_out_conn_as(gw, FO_CONN_BINARY, conn, payload, len);
}

static void link_out_conn_room(gateway *gw, uint8_t type, uint64_t conn,
                               const char *room)
{
    wbuf_u8(&gw->staged, type);
    wbuf_u64(&gw->staged, conn);
    wbuf_cstr(&gw->staged, room);
    gw->staged_n++;
}

void link_out_join(gateway *gw, uint64_t conn, const char *room,
                   const char *uid, const char *name, uint64_t seq)
{
    link_out_conn_room(gw, FO_JOIN, conn, room);
    wbuf_cstr(&gw->staged, uid);
    wbuf_cstr(&gw->staged, name);
    wbuf_u64(&gw->staged, seq);
}

void link_out_part(gateway *gw, uint64_t conn, const char *room)
{
    link_out_conn_room(gw, FO_PART, conn, room);
}

void link_out_authed(gateway *gw, uint64_t conn)
{
    wbuf_u8(&gw->staged, FO_AUTHED);
    wbuf_u64(&gw->staged, conn);
    gw->staged_n++;
}

void link_out_close(gateway *gw, uint64_t conn, uint64_t code)
{
    wbuf_u8(&gw->staged, FO_CLOSE);
    wbuf_u64(&gw->staged, conn);
    wbuf_u64(&gw->staged, code);
    gw->staged_n++;
}

void link_out_reply(gateway *gw, uint64_t request, unsigned status,
                    const char *body, size_t len)
{
    wbuf_u8(&gw->staged, FO_REPLY);
    wbuf_u64(&gw->staged, request);
    wbuf_u8(&gw->staged, (uint8_t)(status & 0xff));
    wbuf_u8(&gw->staged, (uint8_t)(status >> 8));
    wbuf_str(&gw->staged, body, len);
    gw->staged_n++;
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

/* How much of gw's visible records one reply carries: whole records up to
 * REPLY_MAX_BYTES (at least one). *upto is the position of the last. */
static size_t link_chunk(const gateway *gw, uint64_t *upto)
{
    *upto = gw->next;
    if (gw->out.len <= REPLY_MAX_BYTES)
        return gw->out.len;
    rbuf r;
    rbuf_init(&r, gw->out.data, gw->out.len);
    size_t bytes = 0;
    uint64_t n = 0;
    while (r.left > 0) {
        if (!wire_fanout_skip(&r))
            return gw->out.len; /* a record it cannot read: all of it */
        size_t end = gw->out.len - r.left;
        if (n > 0 && end > REPLY_MAX_BYTES)
            break;
        bytes = end;
        n++;
    }
    *upto = gw->base + n;
    return bytes;
}

size_t link_backlog(const gateway *gw)
{
    return gw->out.len + gw->staged.len;
}

/* Replies to `req` (which it frees) with kind and gw's visible records (as
 * many as one reply carries). */
static void link_reply(bk_link *l, gateway *gw, nng_msg *req,
                       enum wire_kind kind)
{
    uint64_t upto = gw->base;
    size_t bytes = kind == WIRE_FANOUT ? link_chunk(gw, &upto) : 0;
    wbuf w = {0};
    wbuf_header(&w, kind);
    wbuf_u64(&w, l->epoch);
    wbuf_u64(&w, gw->base + 1);
    wbuf_u64(&w, upto);
    wbuf_u64(&w, l->ngateways);
    wbuf_u8(&w, (uint8_t)l->nstats);
    for (size_t i = 0; i < l->nstats; i++) {
        wbuf_cstr(&w, l->stats[i].name);
        wbuf_u8(&w, l->stats[i].kind);
        wbuf_u64(&w, l->stats[i].value);
    }
    nng_msg *rep = NULL;
    if (w.failed || nng_msg_alloc(&rep, 0) != 0 ||
        nng_msg_header_append(rep, nng_msg_header(req),
                              nng_msg_header_len(req)) != 0 ||
        nng_msg_append(rep, w.data, w.len) != 0 ||
        (kind == WIRE_FANOUT &&
         nng_msg_append(rep, gw->out.data, bytes) != 0)) {
        LOG(LOG_ERROR, "event=reply_failed gateway=%s reason=\"out of "
            "memory\"", gw->id);
        if (rep != NULL)
            nng_msg_free(rep);
    } else if (nng_sendmsg(l->rep, rep, 0) != 0) {
        nng_msg_free(rep); /* the gateway polls again; nothing is lost */
    }
    gw->tell_epoch = false;
    if (kind == WIRE_FANOUT) {
        gw->sent_upto = upto;
        gw->sent_bytes = bytes;
    }
    wbuf_free(&w);
    nng_msg_free(req);
}

static void link_reply_parked(bk_link *l, gateway *gw)
{
    nng_msg *req = gw->parked;
    gw->parked = NULL;
    link_reply(l, gw, req, WIRE_FANOUT);
}

/* Forgets gw's stream: it is told to register its connections again. */
static void link_reset(bk_link *l, gateway *gw, nng_msg *req)
{
    LOG(LOG_WARN, "event=gateway_reset id=%s", gw->id);
    l->gone(l->gone_arg, gw);
    wbuf_reset(&gw->staged);
    wbuf_reset(&gw->out);
    gw->staged_n = gw->base = gw->next = gw->sent_upto = 0;
    gw->sent_bytes = 0;
    link_reply(l, gw, req, WIRE_RESET);
}

/* The gateway has everything up to sent_upto: drop it from out. */
static void link_ack(gateway *gw)
{
    ASSERT(gw->sent_bytes <= gw->out.len); /* else the memmove overruns */
    DEBUG_ASSERT(gw->base <= gw->sent_upto && gw->sent_upto <= gw->next);
    memmove(gw->out.data, gw->out.data + gw->sent_bytes,
            gw->out.len - gw->sent_bytes);
    gw->out.len -= gw->sent_bytes;
    gw->base = gw->sent_upto;
    gw->sent_bytes = 0;
}

static void link_poll(bk_link *l, nng_msg *req, int64_t now)
{
    rbuf r;
    enum wire_kind kind;
    rbuf_init(&r, nng_msg_body(req), nng_msg_len(req));
    if (rbuf_header(&r, &kind) != RC_OK || kind != WIRE_POLL)
        goto bad;
    size_t idlen;
    const char *id = rbuf_str(&r, &idlen);
    uint64_t instance = rbuf_u64(&r);
    uint64_t epoch = rbuf_u64(&r);
    uint64_t acked = rbuf_u64(&r);
    if (!r.failed && idlen > GATEWAY_ID_MAX) {
        static bool logged; /* once: such a gateway polls all the time */
        if (!logged)
            LOG(LOG_WARN, "event=bad_poll reason=\"gateway id over %d "
                "bytes\" id_bytes=%zu", GATEWAY_ID_MAX, idlen);
        logged = true;
        nng_msg_free(req);
        return;
    }
    if (r.failed || r.left != 0 || idlen == 0)
        goto bad;
    gateway *gw;
    bool created;
    if (link_gateway(l, id, instance, now, &gw, &created) != RC_OK) {
        nng_msg_free(req);
        return;
    }
    gw->last_poll_ms = now;
    if (gw->parked != NULL) /* a newer poll supersedes it */
        nng_msg_free(gw->parked);
    gw->parked = NULL;
    if (epoch == l->epoch) {
        /* A gateway this broker forgot (silent too long, or too far
         * behind) must register its connections again. */
        if (created || (acked != gw->base && acked != gw->sent_upto)) {
            link_reset(l, gw, req);
            return;
        }
        if (acked == gw->sent_upto && acked > gw->base)
            link_ack(gw);
    } else {
        /* First contact, or a gateway of an earlier broker (or of this
         * one before link_new_epoch): answer at once so it learns this
         * epoch (and registers again if it had one). A record this broker
         * keeps took its acknowledgement in this same stream: take it, or
         * the reply would repeat what the gateway already applied. */
        if (!created && acked == gw->sent_upto && acked > gw->base)
            link_ack(gw);
        link_reply(l, gw, req, WIRE_FANOUT);
        return;
    }
    if (gw->next > gw->base) {
        link_reply(l, gw, req, WIRE_FANOUT);
        return;
    }
    gw->parked = req;
    gw->parked_ms = now;
    return;
bad:
    LOG(LOG_WARN, "event=bad_poll reason=\"malformed\"");
    nng_msg_free(req);
}

void link_publish(bk_link *l)
{
    for (gateway *gw = l->gateways; gw != NULL;) {
        gateway *next = gw->next_gw;
        if (gw->staged_n > 0) {
            wbuf_bytes(&gw->out, gw->staged.data, gw->staged.len);
            gw->next += gw->staged_n;
            gw->staged_n = 0;
            wbuf_reset(&gw->staged);
            if (gw->out.failed || gw->out.len > QUEUE_MAX_BYTES) {
                /* Too far behind to catch up from memory: it must register
                 * again and its clients catch up from storage. */
                LOG(LOG_WARN, "event=gateway_behind id=%s bytes=%zu", gw->id,
                    gw->out.len);
                l->gone(l->gone_arg, gw);
                link_drop(l, gw);
                gw = next;
                continue;
            }
        }
        if (gw->parked != NULL && (gw->next > gw->base || gw->tell_epoch))
            link_reply_parked(l, gw);
        gw = next;
    }
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

gateway *link_find_gateway(bk_link *l, const char *id, uint64_t instance)
{
    gateway *gw = link_find(l, id);
    return gw != NULL && gw->instance == instance ? gw : NULL;
}

void link_forget_staged(bk_link *l)
{
    for (gateway *gw = l->gateways; gw != NULL; gw = gw->next_gw) {
        wbuf_reset(&gw->staged);
        gw->staged_n = 0;
    }
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
