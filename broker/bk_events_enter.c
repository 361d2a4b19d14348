/* bk_events_enter.c -- a connection entering a room (enter) or coming back
 * to it after a register-again round (resume): who the user is, the
 * membership row, presence, and the catch-up (replay) of what the
 * connection missed, staged before its `enter` so it lands first.
 * Broker main thread only (events_handle, bk_events.c's run_record). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_events_impl.h"
#include "bk_history.h"
#include "bk_render.h"
#include "jsonw.h"
#include "log.h"
#include "protocol.h"
#include "valid.h"

/* --- catch-up ---------------------------------------------------------- */

typedef struct replay_ctx {
    events *ev;
    bk_conn *to_conn; /* replay to one connection ... */
    gateway *to_gw;   /* ... or to every local member on a gateway */
    wbuf buf;
    long rows;
} replay_ctx;

static void replay_row(void *arg, const stored_msg *m)
{
    replay_ctx *replaying = arg;
    wbuf_reset(&replaying->buf);
    /* Binary messages replay as binary WebSocket messages, in seq order
     * among the text ones. */
    bool bin = render_is_binary(m);
    if (bin)
        render_binary(&replaying->buf, m, true);
    else
        render_message(&replaying->buf, m, true);
    if (replaying->to_conn != NULL)
        (bin ? link_out_conn_binary : link_out_conn)(
            replaying->to_conn->gw, replaying->to_conn->id,
            replaying->buf.data, replaying->buf.len);
    else
        (bin ? link_out_room_binary : link_out_room)(
            replaying->to_gw, m->room, 0, m->seq, replaying->buf.data,
            replaying->buf.len);
    replaying->rows++;
}

/* Replays rm's messages after `from`, at most offline_max of the newest.
 * Returns true when unseen messages were left out (cap or retention). */
static bool replay(events *ev, room *rm, uint64_t from, bk_conn *c,
                   gateway *gw)
{
    if (from >= rm->last_seq)
        return false;
    uint64_t start = from;
    uint64_t cap = (uint64_t)ev->cfg->offline_max;
    if (rm->last_seq - from > cap)
        start = rm->last_seq - cap;
    /* Pictures make a catch-up large: keep the newest that fit in its byte
     * budget (a read failure keeps the count cap alone). */
    uint64_t within = start;
    if (start < rm->last_seq &&
        store_newest_within(ev->st, rm->name, start,
                            (long)(rm->last_seq - start), REPLAY_BYTES_MAX,
                            &within) == RC_OK)
        start = within;
    replay_ctx ctx = {.ev = ev, .to_conn = c, .to_gw = gw};
    if (start < rm->last_seq &&
        store_after(ev->st, rm->name, start, (long)(rm->last_seq - start),
                    replay_row, &ctx) != RC_OK)
        ctx.rows = 0; /* a read failed: say `truncated`, history has it */
    wbuf_free(&ctx.buf);
    return start > from || (uint64_t)ctx.rows < rm->last_seq - start;
}

/* --- handlers ---------------------------------------------------------- */

/* Who the entering user is: checks uid and name under the auth mode. */
static bool enter_identity(events *ev, bk_conn *c, enter_req *q)
{
    if (ev->jwt) {
        if (q->uid[0] != 0 && strcmp(q->uid, c->claims.sub) != 0) {
            send_error(ev, c, RC_FORBIDDEN, "uid differs from the token's "
                       "sub", NULL);
            return false;
        }
        q->uid = c->claims.sub;
        if (c->claims.has_name)
            q->name = c->claims.name;
        if (!jwt_room_allowed(&c->claims, q->room)) {
            send_error(ev, c, RC_FORBIDDEN, "the token does not allow this "
                       "room", NULL);
            return false;
        }
    } else if (q->uid[0] == 0) {
        q->uid = c->uid;
    }
    if (!valid_uid(q->uid, strlen(q->uid))) {
        send_error(ev, c, RC_BAD_REQUEST, "uid must be 1-64 characters of "
                   "A-Z a-z 0-9 _ . : @ -", NULL);
        return false;
    }
    if (!valid_name(q->name, strlen(q->name))) {
        send_error(ev, c, RC_BAD_REQUEST, "name must be 1-32 characters, "
                   "no control characters", NULL);
        return false;
    }
    return true;
}

/* The member q->uid of rm, created or renamed as needed. Errors go to
 * `tell` (NULL: registering again, where nobody asked; an existing member
 * then keeps its stored name when storage refuses writes). */
static member *enter_member(events *ev, bk_conn *tell, room *rm,
                            const enter_req *q, bool *is_new)
{
    member *m = room_member(rm, q->uid);
    *is_new = m == NULL;
    if (m != NULL && strcmp(m->name, q->name) == 0)
        return m;
    if (!db_begin(ev, tell, NULL))
        return tell == NULL ? m : NULL;
    if (store_member_put(ev->st, rm->name, q->uid, q->name,
                         m != NULL ? m->last_seen : rm->last_seq) != RC_OK) {
        if (tell != NULL)
            send_error(ev, tell, RC_UNAVAILABLE, STORAGE_DOWN, NULL);
        return NULL;
    }
    if (m == NULL && room_member_add(rm, q->uid, q->name, rm->last_seq,
                                     &m) != RC_OK) {
        if (tell != NULL)
            send_error(ev, tell, RC_INTERNAL, "out of memory", NULL);
        return NULL;
    }
    snprintf(m->name, sizeof m->name, "%s", q->name);
    return m;
}

void on_enter(events *ev, bk_conn *c, enter_req *q)
{
    if (!valid_room(q->room, strlen(q->room))) {
        send_error(ev, c, RC_BAD_REQUEST, "room must be 1-64 characters of "
                   "A-Z a-z 0-9 _ . : -", NULL);
        return;
    }
    if (!enter_identity(ev, c, q))
        return;
    room *rm;
    rc r = room_get(ev, q->room, &rm);
    if (r != RC_OK) {
        send_error(ev, c, r, r == RC_NOMEM ? "out of memory"
                   : "storage cannot be read now", NULL);
        return;
    }
    presence *p = conn_presence(c, rm);
    if (p != NULL && strcmp(p->member->uid, q->uid) != 0) {
        send_error(ev, c, RC_BAD_REQUEST, "this connection is in the room "
                   "under another uid", NULL);
        return;
    }
    bool is_new;
    member *m = enter_member(ev, c, rm, q, &is_new);
    if (m == NULL)
        return;
    /* What this connection has not seen (docs/protocol.md, catch-up). */
    uint64_t from = rm->last_seq;
    if (q->since >= 0)
        from = (uint64_t)q->since < rm->last_seq ? (uint64_t)q->since
                                                  : rm->last_seq;
    else if (!is_new && m->conns == 0)
        from = m->last_seen;
    bool truncated = replay(ev, rm, from, c, NULL);
    bool first = false;
    if (p == NULL) {
        if (presence_add(c, rm, m, &first) != RC_OK) {
            send_error(ev, c, RC_INTERNAL, "out of memory", NULL);
            return;
        }
        link_out_join(c->gw, c->id, rm->name, m->uid, m->name, rm->last_seq);
    }
    if (first && !truncated) {
        to_room(rm, 0, 0, render_presence(ev, "enter", rm, m, true, false));
        to_hooks(ev, rm, "enter", &ev->out);
        return;
    }
    if (first) {
        to_room(rm, c->id, 0, render_presence(ev, "enter", rm, m, true,
                                              false));
        to_hooks(ev, rm, "enter", &ev->out);
    }
    to_conn(c, render_presence(ev, "enter", rm, m, true, truncated));
}

/* After a broker restart a gateway registers its connections again:
 * presence without notices, and the room's messages it missed. */
void on_resume(events *ev, bk_conn *c, enter_req *q)
{
    if (!valid_room(q->room, strlen(q->room)) ||
        !valid_uid(q->uid, strlen(q->uid)) ||
        !valid_name(q->name, strlen(q->name)) || q->since < 0)
        return;
    room *rm;
    if (room_get(ev, q->room, &rm) != RC_OK || conn_presence(c, rm) != NULL)
        return;
    if (ev->jwt && (!c->authed || strcmp(c->claims.sub, q->uid) != 0))
        return;
    bool gw_new = true;
    for (size_t i = 0; i < rm->ngws; i++)
        gw_new = gw_new && rm->gws[i].gw != c->gw;
    bool is_new, first;
    member *m = enter_member(ev, NULL, rm, q, &is_new);
    if (m == NULL || presence_add(c, rm, m, &first) != RC_OK)
        return;
    if (gw_new)
        replay(ev, rm, (uint64_t)q->since, NULL, c->gw);
}
