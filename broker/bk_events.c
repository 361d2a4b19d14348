/* bk_events.c -- see bk_events.h.
 *
 * Every client-visible event is rendered here once, as JSON text, and the
 * same bytes go to every gateway that needs them. Order: a batch's records
 * are handled one by one, in the order gateways sent them; each stages its
 * output in that order, so every gateway sees a room's events in seq order
 * and a joining connection's catch-up lands before its `enter` and before
 * any later live message. */
#include "bk_events_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_history.h"
#include "bk_api.h"
#include "bk_delete.h"
#include "bk_render.h"
#include "jsonw.h"
#include "log.h"
#include "protocol.h"
#include "valid.h"
#include "wire.h"

rc events_new(const config *cfg, store *st, rooms *rm, events **out)
{
    events *ev = calloc(1, sizeof *ev);
    if (ev == NULL)
        return RC_NOMEM;
    ev->cfg = cfg;
    ev->st = st;
    ev->rooms = rm;
    ev->jwt = strcmp(cfg->auth, "jwt") == 0;
    *out = ev;
    return RC_OK;
}

void events_set_link(events *ev, bk_link *l)
{
    ev->link = l;
}

void events_set_hooks(events *ev, hooks *h)
{
    ev->hooks = h;
}

void events_free(events *ev)
{
    if (ev == NULL)
        return;
    wbuf_free(&ev->out);
    free(ev);
}

uint64_t events_messages_stored(const events *ev)
{
    return ev->stored;
}

/* Resets the scratch buffer and starts an event object in it. */
static wbuf *render_start(events *ev, const char *event)
{
    wbuf_reset(&ev->out);
    render_open(&ev->out, event);
    return &ev->out;
}

/* enter / out / leave, with the room's counts as they are now */
wbuf *render_presence(events *ev, const char *event, const room *rm,
                      const member *m, bool with_seq, bool truncated)
{
    wbuf_reset(&ev->out);
    render_counts(&ev->out, event, rm, m, rm->online, map_count(rm->members),
                  with_seq, truncated);
    return &ev->out;
}

/* --- sending ----------------------------------------------------------- */

void to_conn(bk_conn *c, const wbuf *w)
{
    link_out_conn(c->gw, c->id, w->data, w->len);
}

void to_room(room *rm, uint64_t except, uint64_t seq, const wbuf *w)
{
    for (size_t i = 0; i < rm->ngws; i++)
        link_out_room(rm->gws[i].gw, rm->name, except, seq, w->data, w->len);
}

/* The event as the room's members see it, into the webhook outbox, in the
 * round's transaction: call it right beside its to_room (same order). */
void to_hooks(events *ev, const room *rm, const char *kind,
              const wbuf *w)
{
    rc r = hooks_add(ev->hooks, rm->name, kind, w->data, w->len);
    if (r != RC_OK && r != RC_UNAVAILABLE) /* that one is counted there */
        LOG(LOG_ERROR, "event=webhook_outbox_failed room=%s kind=%s",
            rm->name, kind);
}

void send_error(events *ev, bk_conn *c, rc r, const char *message,
                const char *id)
{
    wbuf *w = render_start(ev, "error");
    jsonw_key(w, "code");
    jsonw_cstr(w, rc_code(r));
    jsonw_key(w, "message");
    jsonw_cstr(w, message);
    if ((id == NULL || id[0] == 0) && c == ev->req_conn)
        id = ev->req_id;
    if (id != NULL && id[0] != 0) {
        jsonw_key(w, "id");
        jsonw_cstr(w, id);
    }
    jsonw_raw(w, "}");
    to_conn(c, w);
}

static void send_noauth(events *ev, bk_conn *c, const char *why)
{
    wbuf *w = render_start(ev, "noauth");
    jsonw_key(w, "message");
    jsonw_cstr(w, why);
    jsonw_raw(w, "}");
    to_conn(c, w);
}

/* --- state helpers ----------------------------------------------------- */

/* Opens the round's transaction; when storage refuses writes (it failed
 * and has not recovered yet) tells c `unavailable`, which the client may
 * retry with the same id. */
bool db_begin(events *ev, bk_conn *c, const char *id)
{
    if (store_begin(ev->st) == RC_OK)
        return true;
    if (c != NULL)
        send_error(ev, c, RC_UNAVAILABLE, STORAGE_DOWN, id);
    return false;
}

static void add_member_row(void *arg, const char *uid, const char *name,
                           uint64_t last_seen)
{
    member *m;
    if (room_member_add(arg, uid, name, last_seen, &m) != RC_OK)
        LOG(LOG_ERROR, "event=member_load reason=\"out of memory\"");
}

/* The room, loaded from storage on first use. A room whose load failed is
 * not kept: with last_seq 0 its next message would reuse a seq.
 * RC_NOMEM or RC_UNAVAILABLE (storage could not be read). */
rc room_get(events *ev, const char *name, room **out)
{
    room *rm = rooms_find(ev->rooms, name);
    if (rm != NULL) {
        *out = rm;
        return RC_OK;
    }
    if (rooms_add(ev->rooms, name, &rm) != RC_OK)
        return RC_NOMEM;
    if (store_room_seq(ev->st, name, &rm->last_seq) != RC_OK ||
        store_members(ev->st, name, add_member_row, rm) != RC_OK) {
        LOG(LOG_ERROR, "event=room_load room=%s", name);
        rooms_evict(ev->rooms, rm);
        return RC_UNAVAILABLE;
    }
    *out = rm;
    return RC_OK;
}

/* The room `name` if c is present in it, else answers not_in_room. */
presence *present_or_error(events *ev, bk_conn *c, const char *name,
                           const char *id)
{
    if (!valid_room(name, strlen(name))) {
        send_error(ev, c, RC_BAD_REQUEST, "room must be 1-64 characters of "
                   "A-Z a-z 0-9 _ . : -", id);
        return NULL;
    }
    room *rm = rooms_find(ev->rooms, name);
    presence *p = rm ? conn_presence(c, rm) : NULL;
    if (p == NULL)
        send_error(ev, c, RC_NOT_IN_ROOM, "enter the room first", id);
    return p;
}

/* Takes p offline; sends `out` when its member has no connection left. */
static void go_offline(events *ev, presence *p)
{
    room *rm = p->room;
    member *m = p->member;
    if (!presence_del(p))
        return;
    m->last_seen = rm->last_seq;
    /* Storage down: the closed connection still goes offline (memory
     * only; storage keeps an older last_seen, which replays a little more
     * later). A failed put fails the round's commit, which is handled
     * there (bk_outage.c). */
    if (db_begin(ev, NULL, NULL))
        (void)store_member_put(ev->st, rm->name, m->uid, m->name,
                               m->last_seen);
    to_room(rm, 0, 0, render_presence(ev, "out", rm, m, false, false));
    to_hooks(ev, rm, "out", &ev->out);
    rooms_evict(ev->rooms, rm); /* memory holds only rooms in use */
}

static void conn_close(events *ev, bk_conn *c)
{
    while (c->presences != NULL)
        go_offline(ev, c->presences);
    rooms_conn_del(ev->rooms, c);
}

void events_gone(void *arg, gateway *gw)
{
    events *ev = arg;
    bk_conn **list = NULL;
    size_t n = rooms_conns_of(ev->rooms, gw, &list);
    for (size_t i = 0; i < n; i++)
        conn_close(ev, list[i]);
    free(list);
    /* Without memory for the list, one at a time: the caller frees gw
     * next, and a connection left behind would point at it. */
    for (bk_conn *c; (c = rooms_conn_on(ev->rooms, gw)) != NULL; n++)
        conn_close(ev, c);
    if (n > 0)
        LOG(LOG_INFO, "event=gateway_conns_offline id=%s conns=%zu",
            link_gateway_id(gw), n);
}

/* --- handlers ---------------------------------------------------------- */

static void on_leave(events *ev, bk_conn *c, const char *room_name)
{
    presence *p = present_or_error(ev, c, room_name, NULL);
    if (p == NULL || !db_begin(ev, c, NULL))
        return;
    room *rm = p->room;
    member *m = p->member;
    if (store_member_del(ev->st, rm->name, m->uid) != RC_OK) {
        send_error(ev, c, RC_UNAVAILABLE, STORAGE_DOWN, NULL);
        return;
    }
    /* Counts as they are after the leave; the leaver hears it too. */
    wbuf_reset(&ev->out);
    render_counts(&ev->out, "leave", rm, m, rm->online - 1,
                  map_count(rm->members) - 1, false, false);
    to_room(rm, 0, 0, &ev->out);
    to_hooks(ev, rm, "leave", &ev->out);
    while (m->presences != NULL) {
        presence *q = m->presences;
        link_out_part(q->conn->gw, q->conn->id, rm->name);
        presence_del(q);
    }
    room_member_del(rm, m);
    rooms_evict(ev->rooms, rm);
}

static void on_who(events *ev, bk_conn *c, const char *room_name)
{
    presence *p = present_or_error(ev, c, room_name, NULL);
    if (p == NULL)
        return;
    wbuf *w = render_start(ev, "who");
    jsonw_key(w, "room");
    jsonw_cstr(w, p->room->name);
    jsonw_raw(w, ",\"members\":[");
    map_iter it = {0};
    void *v;
    int n = 0;
    while (n < WHO_MAX && map_next(p->room->members, &it, NULL, NULL, &v)) {
        member *m = v;
        jsonw_raw(w, n++ ? ",{\"uid\":" : "{\"uid\":");
        jsonw_cstr(w, m->uid);
        jsonw_key(w, "name");
        jsonw_cstr(w, m->name);
        jsonw_raw(w, m->conns > 0 ? ",\"online\":true}" : ",\"online\":false}");
    }
    jsonw_raw(w, "]}");
    to_conn(c, w);
}

static void on_history(events *ev, bk_conn *c, const char *room_name,
                       int64_t before, int64_t limit)
{
    presence *p = present_or_error(ev, c, room_name, NULL);
    if (p == NULL)
        return;
    if (limit < 1) {
        send_error(ev, c, RC_BAD_REQUEST, "limit must be at least 1", NULL);
        return;
    }
    if (limit > HISTORY_MAX)
        limit = HISTORY_MAX;
    if (link_backlog(c->gw) > LINK_BUSY_BYTES) {
        send_error(ev, c, RC_UNAVAILABLE, "too much is on its way to your "
                   "gateway; ask again in a moment", NULL);
        return;
    }
    uint64_t b = before < 0 ? UINT64_MAX >> 1 : (uint64_t)before;
    wbuf_reset(&ev->out);
    /* A little under 16 MiB: the gateway adds a frame header, and its
     * send queue must take the answer whole. */
    if (history_render(ev->st, p->room->name, b, (long)limit,
                       HISTORY_BYTES_MAX - 4096, &ev->out) != RC_OK) {
        send_error(ev, c, RC_INTERNAL, "storage failed", NULL);
        return;
    }
    to_conn(c, &ev->out);
}

static void on_auth(events *ev, bk_conn *c, const char *token, size_t len,
                    bool quiet)
{
    if (!ev->jwt) {
        send_error(ev, c, RC_UNSUPPORTED, "auth is off on this server", NULL);
        return;
    }
    jwt_claims claims;
    const char *why = "rejected";
    if (jwt_verify(token, len, ev->cfg->jwt_secret, ev->now / 1000, &claims,
                   &why) != RC_OK) {
        if (quiet) /* registering again, and the token has expired since */
            link_out_close(c->gw, c->id, CLOSE_NOAUTH);
        else
            send_noauth(ev, c, why);
        return;
    }
    if (c->authed && strcmp(c->claims.sub, claims.sub) != 0) {
        jwt_claims_free(&claims);
        send_error(ev, c, RC_FORBIDDEN, "already authenticated as another "
                   "user", NULL);
        return;
    }
    jwt_claims_free(&c->claims);
    c->claims = claims;
    c->authed = true;
    snprintf(c->uid, sizeof c->uid, "%s", claims.sub);
    link_out_authed(c->gw, c->id);
    if (quiet)
        return;
    wbuf *w = render_start(ev, "auth");
    jsonw_key(w, "uid");
    jsonw_cstr(w, claims.sub);
    if (claims.has_name) {
        jsonw_key(w, "name");
        jsonw_cstr(w, claims.name);
    }
    jsonw_raw(w, "}");
    to_conn(c, w);
}

/* --- decoding ---------------------------------------------------------- */

/* Runs one decoded record from gw. */
static void run_record(events *ev, gateway *gw, const wire_event_rec *rec)
{
    bk_conn *c = rooms_conn(ev->rooms, gw, rec->conn_id);
    if (c == NULL && rec->type == EV_CLOSE)
        return;
    if (c == NULL && rooms_conn_add(ev->rooms, gw, rec->conn_id, &c) != RC_OK) {
        LOG(LOG_ERROR, "event=conn_failed reason=\"out of memory\"");
        return;
    }
    ev->req_conn = c;
    enter_req q = {rec->room, rec->uid, rec->name, rec->since};
    switch (rec->type) {
    case EV_OPEN:
        if (valid_uid(rec->uid, strlen(rec->uid)))
            snprintf(c->uid, sizeof c->uid, "%s", rec->uid);
        return;
    case EV_CLOSE:
        conn_close(ev, c);
        return;
    case EV_AUTH:
        on_auth(ev, c, rec->text, rec->text_len, rec->quiet);
        return;
    case EV_RESUME:
        on_resume(ev, c, &q);
        return;
    default:
        break;
    }
    if (ev->jwt && !c->authed) {
        send_noauth(ev, c, "authenticate first");
        return;
    }
    switch (rec->type) {
    case EV_ENTER: on_enter(ev, c, &q); break;
    case EV_MESSAGE:
        on_message(ev, c, rec->room, rec->text, rec->text_len, rec->id);
        break;
    case EV_BINARY: on_binary(ev, c, rec); break;
    case EV_LEAVE: on_leave(ev, c, rec->room); break;
    case EV_WHO: on_who(ev, c, rec->room); break;
    case EV_HISTORY:
        on_history(ev, c, rec->room, rec->before, rec->limit);
        break;
    case EV_DELETE:
        delete_on_event(ev, c, rec->room, rec->seq, ev->req_id);
        break;
    default: break;
    }
}

/* A record queued for an earlier broker (this gateway had not registered
 * with this one yet), or handled in a round whose commit failed: the
 * client hears `unavailable`, nothing is done. */
static void refuse_record(events *ev, gateway *gw, const wire_event_rec *rec,
                          const char *why)
{
    switch (rec->type) {
    case EV_AUTH:
    case EV_ENTER:
    case EV_MESSAGE:
    case EV_BINARY:
    case EV_LEAVE:
    case EV_WHO:
    case EV_HISTORY:
    case EV_DELETE: {
        bk_conn tmp = {.gw = gw, .id = rec->conn_id};
        send_error(ev, &tmp, RC_UNAVAILABLE, why,
                   valid_client_id(rec->id, strlen(rec->id)) ? rec->id
                                                             : NULL);
        break;
    }
    case EV_API: /* rec->conn_id is the gateway's request id */
        api_refuse(gw, rec, why);
        break;
    default:
        break; /* registering again after the restart covers the rest */
    }
}

long events_handle(events *ev, nng_msg *msg, int64_t now_ms)
{
    rbuf r;
    enum wire_kind kind;
    ev->now = now_ms;
    rbuf_init(&r, nng_msg_body(msg), nng_msg_len(msg));
    if (rbuf_header(&r, &kind) != RC_OK || kind != WIRE_EVENTS) {
        LOG(LOG_WARN, "event=bad_envelope reason=\"not an events message\"");
        return 0;
    }
    size_t idlen;
    const char *gw_id = rbuf_str(&r, &idlen);
    uint64_t instance = rbuf_u64(&r);
    uint64_t epoch = rbuf_u64(&r);
    if (r.failed || idlen == 0 || idlen > GATEWAY_ID_MAX) {
        static bool logged; /* once: such a gateway sends all the time */
        if (!logged)
            LOG(LOG_WARN, "event=bad_envelope reason=\"bad gateway id\" "
                "id_bytes=%zu max=%d", idlen, GATEWAY_ID_MAX);
        logged = true;
        return 0;
    }
    gateway *gw;
    bool created;
    if (link_gateway(ev->link, gw_id, instance, now_ms, &gw, &created) !=
        RC_OK)
        return 0;
    bool current = epoch == link_epoch(ev->link);
    long n = 0;
    wire_event_rec rec;
    while (r.left > 0) {
        if (!wire_event_read(&r, &rec)) {
            LOG(LOG_WARN, "event=bad_envelope gateway=%s record=%ld",
                link_gateway_id(gw), n);
            break;
        }
        n++;
        if (rec.type == EV_BYE) { /* the gateway stops: forget it now */
            LOG(LOG_INFO, "event=gateway_stopped id=%s", link_gateway_id(gw));
            events_gone(ev, gw);
            link_drop(ev->link, gw);
            return n;
        }
        if (current && rec.type == EV_API) { /* a request, not a conn */
            api_handle(ev, gw, &rec);
        } else if (current) {
            /* A gateway sends only valid ids; another may not. */
            ev->req_id = valid_client_id(rec.id, strlen(rec.id)) ? rec.id
                                                                 : NULL;
            run_record(ev, gw, &rec);
            ev->req_conn = NULL;
            ev->req_id = NULL;
        } else {
            refuse_record(ev, gw, &rec, "the broker started over (a restart "
                          "or a storage failure); nothing was stored");
        }
    }
    return n;
}

void events_refuse(events *ev, nng_msg *msg, const char *why)
{
    rbuf r;
    enum wire_kind kind;
    rbuf_init(&r, nng_msg_body(msg), nng_msg_len(msg));
    if (rbuf_header(&r, &kind) != RC_OK || kind != WIRE_EVENTS)
        return;
    size_t idlen;
    const char *gw_id = rbuf_str(&r, &idlen);
    uint64_t instance = rbuf_u64(&r);
    uint64_t epoch = rbuf_u64(&r);
    if (r.failed || idlen == 0 || idlen > GATEWAY_ID_MAX)
        return;
    (void)epoch; /* records of an earlier epoch were refused, and those
                  * answers were dropped with the rest: refuse them again */
    gateway *gw = link_find_gateway(ev->link, gw_id, instance);
    if (gw == NULL)
        return; /* it left during the round: nobody to tell */
    wire_event_rec rec;
    while (r.left > 0 && wire_event_read(&r, &rec))
        refuse_record(ev, gw, &rec, why);
}

/* --- the seam for bk_api.c and bk_delete.c ----------------------------- */

room *events_room(events *ev, const char *name)
{
    room *rm = NULL;
    return room_get(ev, name, &rm) == RC_OK ? rm : NULL;
}

store *events_store(events *ev)
{
    return ev->st;
}

rooms *events_rooms(events *ev)
{
    return ev->rooms;
}

bk_link *events_link(events *ev)
{
    return ev->link;
}

const config *events_config(events *ev)
{
    return ev->cfg;
}

int64_t events_now(events *ev)
{
    return ev->now;
}

void events_count_stored(events *ev)
{
    ev->stored++;
}

void events_to_room(room *rm, uint64_t except, uint64_t seq, const wbuf *w)
{
    to_room(rm, except, seq, w);
}

void events_to_hooks(events *ev, const room *rm, const char *kind,
                     const wbuf *w)
{
    to_hooks(ev, rm, kind, w);
}
