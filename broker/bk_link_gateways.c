/* bk_link_gateways.c -- the gateway registry and what the broker owes each
 * gateway: records staged during a round (link_out_*), made visible at
 * link_publish, sent in chunks as replies to the gateway's poll, dropped
 * when acknowledged; a gateway that asks for a position the broker no
 * longer holds, restarted, fell silent or fell too far behind is reset or
 * forgotten (the gone callback). The poll's states and messages are drawn
 * in docs/internals.md. The nng sockets are bk_link.c's. Broker main
 * thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_link_impl.h"
#include "invariant.h"
#include "log.h"
#include "protocol.h"

/* Behind this far: reset it. Replies carry at most REPLY_MAX_BYTES of it
 * at a time (whole records), so the queue may outgrow one nng message: a
 * round of catch-ups and history answers full of pictures drains over a
 * few polls instead of resetting the gateway. */
#define QUEUE_MAX_BYTES (512u << 20)
#define REPLY_MAX_BYTES (WIRE_MAX_MSG / 4)

void gateway_free(gateway *gw)
{
    wbuf_free(&gw->staged);
    wbuf_free(&gw->out);
    if (gw->parked != NULL)
        nng_msg_free(gw->parked);
    free(gw);
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

const char *link_gateway_id(const gateway *gw)
{
    return gw->id;
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

static void link_out_conn_as(gateway *gw, uint8_t type, uint64_t conn_id,
                             const char *payload, size_t len)
{
    wbuf_u8(&gw->staged, type);
    wbuf_u64(&gw->staged, conn_id);
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

void link_out_conn(gateway *gw, uint64_t conn_id, const char *payload,
                   size_t len)
{
    link_out_conn_as(gw, FO_CONN, conn_id, payload, len);
}

void link_out_conn_binary(gateway *gw, uint64_t conn_id, const char *payload,
                          size_t len)
{
    link_out_conn_as(gw, FO_CONN_BINARY, conn_id, payload, len);
}

static void link_out_conn_room(gateway *gw, uint8_t type, uint64_t conn_id,
                               const char *room)
{
    wbuf_u8(&gw->staged, type);
    wbuf_u64(&gw->staged, conn_id);
    wbuf_cstr(&gw->staged, room);
    gw->staged_n++;
}

void link_out_join(gateway *gw, uint64_t conn_id, const char *room,
                   const char *uid, const char *name, uint64_t seq)
{
    link_out_conn_room(gw, FO_JOIN, conn_id, room);
    wbuf_cstr(&gw->staged, uid);
    wbuf_cstr(&gw->staged, name);
    wbuf_u64(&gw->staged, seq);
}

void link_out_part(gateway *gw, uint64_t conn_id, const char *room)
{
    link_out_conn_room(gw, FO_PART, conn_id, room);
}

void link_out_authed(gateway *gw, uint64_t conn_id)
{
    wbuf_u8(&gw->staged, FO_AUTHED);
    wbuf_u64(&gw->staged, conn_id);
    gw->staged_n++;
}

void link_out_close(gateway *gw, uint64_t conn_id, uint64_t code)
{
    wbuf_u8(&gw->staged, FO_CLOSE);
    wbuf_u64(&gw->staged, conn_id);
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

void link_reply_parked(bk_link *l, gateway *gw)
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

void link_poll(bk_link *l, nng_msg *req, int64_t now)
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
