/* bk_api.c -- see bk_api.h.
 *
 * Limits of the answers (docs/protocol.md): rooms 100 by default, at most 1000;
 * members 1000 by default, at most 10000; history as the client's. A limit
 * below 1 is bad_request; a larger one is capped. Counts (`num`) come from
 * memory, where presence lives; members and messages from storage, read
 * inside the round's open transaction, so they include this round's
 * changes. */
#include "bk_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_delete.h"
#include "bk_history.h"
#include "bk_render.h"
#include "jsonw.h"
#include "log.h"
#include "protocol.h"
#include "valid.h"

#define ROOMS_DEFAULT 100
#define ROOMS_MAX 1000
#define MEMBERS_DEFAULT 1000
#define MEMBERS_MAX 10000
#define API_TEXT_MAX (1u << 20) /* gateways enforce max_message_bytes */
#define SERVER_UID "server"

typedef struct api_req {
    events *ev;
    gateway *gw;
    const wire_event_rec *rec;
    wbuf body; /* the answer being built */
} api_req;

static unsigned api_status(rc r)
{
    switch (r) {
    case RC_BAD_JSON:
    case RC_BAD_REQUEST: return 400;
    case RC_UNAUTHORIZED: return 401;
    case RC_FORBIDDEN: return 403;
    case RC_NOT_FOUND: return 404;
    case RC_TOO_LARGE: return 413;
    case RC_UNAVAILABLE: return 503;
    default: return 500;
    }
}

static void reply(api_req *q, unsigned status, const wbuf *w)
{
    link_out_reply(q->gw, q->rec->conn_id, status, w->data, w->len);
}

static void reply_error(api_req *q, rc r, const char *message)
{
    wbuf w = {0};
    jsonw_raw(&w, "{\"error\":{\"code\":");
    jsonw_cstr(&w, rc_code(r));
    jsonw_key(&w, "message");
    jsonw_cstr(&w, message);
    jsonw_raw(&w, "}}");
    reply(q, api_status(r), &w);
    wbuf_free(&w);
}

/* A write refused or failed: 503 while storage is down (nothing stored;
 * the caller may retry), else 500. */
static void reply_storage(api_req *q, rc r)
{
    if (r == RC_UNAVAILABLE || r == RC_NOMEM)
        reply_error(q, RC_UNAVAILABLE, "storage cannot take writes right "
                    "now; nothing was stored");
    else
        reply_error(q, RC_INTERNAL, "storage failed");
}

/* Sends q->body with 200, or 500 when building it ran out of memory. */
static void reply_ok(api_req *q)
{
    if (q->body.failed)
        reply_error(q, RC_INTERNAL, "out of memory");
    else
        reply(q, 200, &q->body);
}

static bool check_room(api_req *q, const char *room)
{
    if (valid_room(room, strlen(room)))
        return true;
    reply_error(q, RC_BAD_REQUEST, "room must be 1-64 characters of A-Z a-z "
                "0-9 _ . : -");
    return false;
}

static bool check_uid(api_req *q, const char *uid)
{
    if (valid_uid(uid, strlen(uid)))
        return true;
    reply_error(q, RC_BAD_REQUEST, "uid must be 1-64 characters of A-Z a-z "
                "0-9 _ . : @ -");
    return false;
}

/* A limit: -1 gives def, below 1 is bad_request, above max is capped. */
static bool check_limit(api_req *q, int64_t *limit, int64_t def, int64_t max)
{
    if (*limit == -1)
        *limit = def;
    if (*limit < 1) {
        reply_error(q, RC_BAD_REQUEST, "limit must be an integer >= 1");
        return false;
    }
    if (*limit > max)
        *limit = max;
    return true;
}

/* --- publish ----------------------------------------------------------- */

typedef struct found_msg {
    char room[ROOM_MAX + 1];
    uint64_t seq;
    int64_t ts;
} found_msg;

static void keep_found(void *arg, const stored_msg *m)
{
    found_msg *f = arg;
    snprintf(f->room, sizeof f->room, "%s", m->room);
    f->seq = m->seq;
    f->ts = m->ts;
}

static void publish_answer(api_req *q, const char *room, uint64_t seq,
                           int64_t ts, const char *id)
{
    jsonw_raw(&q->body, "{\"room\":");
    jsonw_cstr(&q->body, room);
    jsonw_key(&q->body, "seq");
    jsonw_i64(&q->body, (int64_t)seq);
    jsonw_key(&q->body, "ts");
    jsonw_i64(&q->body, ts);
    if (id[0] != 0) {
        jsonw_key(&q->body, "id");
        jsonw_cstr(&q->body, id);
    }
    jsonw_raw(&q->body, "}");
    reply_ok(q);
}

static void on_publish(api_req *q)
{
    const wire_event_rec *rec = q->rec;
    const char *uid = rec->uid[0] ? rec->uid : SERVER_UID;
    const char *name = rec->name[0] ? rec->name : SERVER_UID;
    if (!check_room(q, rec->room) || !check_uid(q, uid))
        return;
    if (!valid_name(name, strlen(name))) {
        reply_error(q, RC_BAD_REQUEST, "name must be 1-32 characters, no "
                    "control characters");
        return;
    }
    if (rec->id[0] != 0 && !valid_client_id(rec->id, strlen(rec->id))) {
        reply_error(q, RC_BAD_REQUEST, "id must be 1-64 bytes");
        return;
    }
    if (rec->binary &&
        (!valid_mime_type(rec->mime, strlen(rec->mime)) ||
         (rec->filename[0] != 0 &&
          !valid_filename(rec->filename, strlen(rec->filename))) ||
         rec->data_len == 0 || rec->data_len > BINARY_MAX_BYTES)) {
        reply_error(q, RC_BAD_REQUEST, "data must be 1 byte or more, with a "
                    "MIME type and a valid filename");
        return;
    }
    if (!rec->binary && (rec->text_len > API_TEXT_MAX ||
                         !valid_utf8(rec->text, rec->text_len))) {
        reply_error(q, RC_BAD_REQUEST, "message must be UTF-8 text");
        return;
    }
    store *st = events_store(q->ev);
    rc r = store_begin(st);
    if (r != RC_OK) {
        reply_storage(q, r);
        return;
    }
    int64_t now = events_now(q->ev);
    if (rec->id[0] != 0) { /* the same (uid, id) within 10 minutes */
        found_msg f = {0};
        bool found = false;
        r = store_find_cid(st, uid, rec->id, now - IDEMPOTENCY_MS, keep_found,
                           &f, &found);
        if (r != RC_OK) { /* refuse rather than risk storing it twice */
            reply_error(q, RC_UNAVAILABLE, "storage cannot be read right "
                        "now; nothing was stored");
            return;
        }
        if (found) {
            publish_answer(q, f.room, f.seq, f.ts, rec->id);
            return;
        }
    }
    room *rm = events_room(q->ev, rec->room);
    if (rm == NULL) {
        reply_error(q, RC_UNAVAILABLE, "the room could not be loaded; nothing "
                    "was stored");
        return;
    }
    stored_msg sm = {
        .room = rm->name,
        .seq = rm->last_seq + 1,
        .uid = uid,
        .name = name,
        .text = rec->binary ? "" : rec->text,
        .text_len = rec->binary ? 0 : rec->text_len,
        .cid = rec->id[0] ? rec->id : NULL,
        .ts = now,
    };
    if (rec->binary) {
        sm.type = rec->mime;
        sm.data = rec->data;
        sm.size = rec->data_len;
        sm.filename = rec->filename[0] ? rec->filename : NULL;
    }
    if ((r = store_append(st, &sm)) != RC_OK) {
        reply_storage(q, r);
    } else {
        rm->last_seq = sm.seq;
        events_count_stored(q->ev);
        /* Exactly as a member's message: rendered once, to every gateway
         * with members present (binary as binary), and to the webhooks
         * (a binary one without its payload). */
        wbuf w = {0};
        bool binary = render_is_binary(&sm);
        if (binary)
            render_binary(&w, &sm, false);
        else
            render_message(&w, &sm, false);
        for (size_t i = 0; i < rm->ngws && !w.failed; i++)
            (binary ? link_out_room_binary : link_out_room)(
                rm->gws[i].gw, rm->name, 0, sm.seq, w.data, w.len);
        if (binary) {
            wbuf_reset(&w);
            render_message(&w, &sm, false);
        }
        if (!w.failed)
            events_to_hooks(q->ev, rm, "message", &w);
        wbuf_free(&w);
        publish_answer(q, rm->name, sm.seq, sm.ts, rec->id);
    }
    rooms_evict(events_rooms(q->ev), rm);
}

/* --- rooms ------------------------------------------------------------- */

/* `{"room","num","total","seq"}` of one room: counts from memory when the
 * room is in use, else from storage (nobody is online then). */
static rc room_counts(api_req *q, const char *name)
{
    room *rm = rooms_find(events_rooms(q->ev), name);
    uint64_t num = 0, total = 0, seq = 0;
    store *st = events_store(q->ev);
    if (rm != NULL) {
        num = rm->online;
        total = map_count(rm->members);
        seq = rm->last_seq;
    } else if (store_room_seq(st, name, &seq) != RC_OK ||
               store_member_count(st, name, &total) != RC_OK) {
        return RC_DB;
    }
    jsonw_raw(&q->body, "{\"room\":");
    jsonw_cstr(&q->body, name);
    jsonw_key(&q->body, "num");
    jsonw_i64(&q->body, (int64_t)num);
    jsonw_key(&q->body, "total");
    jsonw_i64(&q->body, (int64_t)total);
    jsonw_key(&q->body, "seq");
    jsonw_i64(&q->body, (int64_t)seq);
    jsonw_raw(&q->body, "}");
    return RC_OK;
}

static void on_room(api_req *q)
{
    if (!check_room(q, q->rec->room))
        return;
    if (room_counts(q, q->rec->room) != RC_OK)
        reply_error(q, RC_INTERNAL, "storage failed");
    else
        reply_ok(q);
}

/* A prefix or `after` of room characters, at most ROOM_MAX bytes. */
static bool room_chars(const char *s)
{
    size_t n = strlen(s);
    return n == 0 || valid_room(s, n);
}

static void on_rooms(api_req *q)
{
    const wire_event_rec *rec = q->rec;
    int64_t limit = rec->limit;
    if (!room_chars(rec->prefix) || !room_chars(rec->after)) {
        reply_error(q, RC_BAD_REQUEST, "prefix and after must be up to 64 "
                    "characters of A-Z a-z 0-9 _ . : -");
        return;
    }
    if (!check_limit(q, &limit, ROOMS_DEFAULT, ROOMS_MAX))
        return;
    store *st = events_store(q->ev);
    size_t plen = strlen(rec->prefix);
    char cursor[ROOM_MAX + 1], name[ROOM_MAX + 1];
    snprintf(cursor, sizeof cursor, "%s", rec->after);
    jsonw_raw(&q->body, "{\"rooms\":[");
    bool found = false, more = false;
    for (int64_t n = 0;; n++) {
        if (store_next_room(st, rec->prefix, cursor, name, sizeof name,
                            &found) != RC_OK) {
            reply_error(q, RC_INTERNAL, "storage failed");
            return;
        }
        if (!found || strncmp(name, rec->prefix, plen) != 0)
            break;
        if (n == limit) {
            more = true;
            break;
        }
        if (n > 0)
            jsonw_raw(&q->body, ",");
        if (room_counts(q, name) != RC_OK) {
            reply_error(q, RC_INTERNAL, "storage failed");
            return;
        }
        memcpy(cursor, name, sizeof cursor);
    }
    jsonw_raw(&q->body, more ? "],\"more\":true}" : "],\"more\":false}");
    reply_ok(q);
}

/* --- members ----------------------------------------------------------- */

typedef struct members_ctx {
    api_req *q;
    room *rm; /* in memory, or NULL: nobody is online */
    int64_t limit;
    int64_t n;
} members_ctx;

static void member_row(void *arg, const char *uid, const char *name,
                       uint64_t last_seen)
{
    (void)last_seen;
    members_ctx *m = arg;
    if (m->n++ >= m->limit)
        return; /* the extra row only says that there are more */
    member *mem = m->rm ? room_member(m->rm, uid) : NULL;
    wbuf *w = &m->q->body;
    jsonw_raw(w, m->n > 1 ? ",{\"uid\":" : "{\"uid\":");
    jsonw_cstr(w, uid);
    jsonw_key(w, "name");
    jsonw_cstr(w, name);
    jsonw_raw(w, mem && mem->conns > 0 ? ",\"online\":true}"
                                       : ",\"online\":false}");
}

static void on_members(api_req *q)
{
    const wire_event_rec *rec = q->rec;
    int64_t limit = rec->limit;
    if (!check_room(q, rec->room))
        return;
    if (rec->after[0] != 0 && !valid_uid(rec->after, strlen(rec->after))) {
        reply_error(q, RC_BAD_REQUEST, "after must be a uid");
        return;
    }
    if (!check_limit(q, &limit, MEMBERS_DEFAULT, MEMBERS_MAX))
        return;
    members_ctx m = {q, rooms_find(events_rooms(q->ev), rec->room), limit, 0};
    jsonw_raw(&q->body, "{\"room\":");
    jsonw_cstr(&q->body, rec->room);
    jsonw_raw(&q->body, ",\"members\":[");
    if (store_members_page(events_store(q->ev), rec->room, rec->after,
                           (long)limit + 1, member_row, &m) != RC_OK) {
        reply_error(q, RC_INTERNAL, "storage failed");
        return;
    }
    jsonw_raw(&q->body, m.n > limit ? "],\"more\":true}" : "],\"more\":false}");
    reply_ok(q);
}

/* --- history ----------------------------------------------------------- */

static void on_history(api_req *q)
{
    const wire_event_rec *rec = q->rec;
    int64_t limit = rec->limit;
    if (!check_room(q, rec->room))
        return;
    if (rec->before < -1) {
        reply_error(q, RC_BAD_REQUEST, "before must be a seq (an integer "
                    ">= 0)");
        return;
    }
    if (!check_limit(q, &limit, HISTORY_DEFAULT, HISTORY_MAX))
        return;
    if (link_backlog(q->gw) > LINK_BUSY_BYTES) { /* as the client's */
        reply_error(q, RC_UNAVAILABLE, "too many answers waiting for this "
                    "gateway; try again");
        return;
    }
    uint64_t b = rec->before < 0 ? UINT64_MAX >> 1 : (uint64_t)rec->before;
    if (history_render(events_store(q->ev), rec->room, b, (long)limit,
                       HISTORY_BYTES_MAX, &q->body) != RC_OK) {
        reply_error(q, RC_INTERNAL, "storage failed");
        return;
    }
    reply_ok(q);
}

/* --- moderation -------------------------------------------------------- */

static void on_delete(api_req *q)
{
    const wire_event_rec *rec = q->rec;
    if (!check_room(q, rec->room))
        return;
    bool fresh;
    rc r = delete_message(q->ev, rec->room, rec->seq, NULL, SERVER_UID,
                          &fresh);
    if (r == RC_NOT_FOUND) {
        reply_error(q, RC_NOT_FOUND, "this room has no message with that "
                    "seq");
        return;
    }
    if (r != RC_OK) {
        reply_storage(q, r);
        return;
    }
    jsonw_raw(&q->body, "{\"room\":");
    jsonw_cstr(&q->body, rec->room);
    jsonw_key(&q->body, "seq");
    jsonw_i64(&q->body, (int64_t)rec->seq);
    jsonw_raw(&q->body, "}");
    reply_ok(q);
}

/* Ends uid's membership as its own `leave` would, with "by":"server". */
static void on_remove(api_req *q)
{
    const wire_event_rec *rec = q->rec;
    if (!check_room(q, rec->room) || !check_uid(q, rec->uid))
        return;
    rooms *rs = events_rooms(q->ev);
    room *rm = events_room(q->ev, rec->room);
    if (rm == NULL) {
        reply_error(q, RC_UNAVAILABLE, "the room could not be loaded");
        return;
    }
    member *m = room_member(rm, rec->uid);
    store *st = events_store(q->ev);
    rc r = RC_OK;
    if (m == NULL) {
        reply_error(q, RC_NOT_FOUND, "that uid is not a member of the room");
    } else if ((r = store_begin(st)) != RC_OK ||
               (r = store_member_del(st, rm->name, m->uid)) != RC_OK) {
        reply_storage(q, r);
    } else {
        /* Counts as they are after the leave; its connections hear it. */
        wbuf w = {0};
        render_counts_by(&w, "leave", rm, m, rm->online - (m->conns > 0),
                         map_count(rm->members) - 1, SERVER_UID);
        if (!w.failed) {
            events_to_room(rm, 0, 0, &w);
            events_to_hooks(q->ev, rm, "leave", &w);
        }
        wbuf_free(&w);
        while (m->presences != NULL) {
            presence *p = m->presences;
            link_out_part(p->conn->gw, p->conn->id, rm->name);
            presence_del(p);
        }
        LOG(LOG_INFO, "event=member_removed room=%s uid=%s", rm->name,
            m->uid);
        room_member_del(rm, m);
        jsonw_raw(&q->body, "{\"room\":");
        jsonw_cstr(&q->body, rm->name);
        jsonw_key(&q->body, "uid");
        jsonw_cstr(&q->body, rec->uid);
        jsonw_raw(&q->body, "}");
        reply_ok(q);
    }
    rooms_evict(rs, rm);
}

/* Whether connection c belongs to uid: its own uid (jwt: the token's sub;
 * none: the server-given one), or the uid it entered a room with. */
static bool conn_is(const bk_conn *c, const char *uid)
{
    if (strcmp(c->uid, uid) == 0)
        return true;
    for (const presence *p = c->presences; p != NULL; p = p->next_in_conn)
        if (strcmp(p->member->uid, uid) == 0)
            return true;
    return false;
}

static void on_disconnect(api_req *q)
{
    const wire_event_rec *rec = q->rec;
    if (!check_uid(q, rec->uid))
        return;
    bk_conn **list = NULL;
    size_t n = rooms_conns_of(events_rooms(q->ev), NULL, &list), closed = 0;
    for (size_t i = 0; i < n; i++)
        if (conn_is(list[i], rec->uid)) {
            link_out_close(list[i]->gw, list[i]->id, CLOSE_DISCONNECTED);
            closed++;
        }
    free(list);
    LOG(LOG_INFO, "event=uid_disconnected uid=%s conns=%zu", rec->uid,
        closed);
    jsonw_raw(&q->body, "{\"uid\":");
    jsonw_cstr(&q->body, rec->uid);
    jsonw_raw(&q->body, "}");
    reply_ok(q);
}

void api_refuse(gateway *gw, const wire_event_rec *rec, const char *why)
{
    api_req q = {.gw = gw, .rec = rec};
    reply_error(&q, RC_UNAVAILABLE, why);
}

void api_handle(events *ev, gateway *gw, const wire_event_rec *rec)
{
    api_req q = {.ev = ev, .gw = gw, .rec = rec};
    switch (rec->op) {
    case API_PUBLISH: on_publish(&q); break;
    case API_ROOM: on_room(&q); break;
    case API_ROOMS: on_rooms(&q); break;
    case API_MEMBERS: on_members(&q); break;
    case API_HISTORY: on_history(&q); break;
    case API_DELETE: on_delete(&q); break;
    case API_REMOVE: on_remove(&q); break;
    case API_DISCONNECT: on_disconnect(&q); break;
    default: reply_error(&q, RC_NOT_FOUND, "unknown request"); break;
    }
    wbuf_free(&q.body);
}
