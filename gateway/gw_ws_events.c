/* gw_ws_events.c -- what each message a WebSocket client sends means: a
 * text message is strict JSON with an `event` (docs/protocol.md), checked
 * field by field and turned into one events record for the broker (or
 * answered with an error naming the client's id); a binary message is a
 * picture or a file (gw_binary.c). Also the `welcome`, the replies the
 * gateway makes itself (heartbeat, noauth) and the rate limit.
 *
 * Threads: the connection's civetweb worker thread (gw_ws.c's ws_data and
 * ws_ready call in). */
#include "gw_ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_binary.h"
#include "gw_conn.h"
#include "gw_link.h"
#include "gw_records.h"
#include "gw_rate.h"
#include "gw_ws_impl.h"
#include "json.h"
#include "jsonw.h"
#include "log.h"
#include "protocol.h"
#include "valid.h"
#include "wire.h"

/* --- answers ----------------------------------------------------------- */

static void send_error(conn *c, rc r, const char *message, const char *id)
{
    wbuf w = {0};
    jsonw_raw(&w, "{\"event\":\"error\"");
    jsonw_key(&w, "code");
    jsonw_cstr(&w, rc_code(r));
    jsonw_key(&w, "message");
    jsonw_cstr(&w, message);
    if (id != NULL) {
        jsonw_key(&w, "id");
        jsonw_cstr(&w, id);
    }
    jsonw_raw(&w, "}");
    if (!w.failed)
        conn_send_text(c, w.data, w.len);
    wbuf_free(&w);
}

static void send_literal(conn *c, const char *json)
{
    conn_send_text(c, json, strlen(json));
}

void send_welcome(conn *c)
{
    const config *cfg = ws_state.cfg;
    char conn_name[CONFIG_STR_MAX + 24];
    snprintf(conn_name, sizeof conn_name, "%s:%llu", cfg->id,
             (unsigned long long)c->id);
    wbuf w = {0};
    jsonw_raw(&w, "{\"event\":\"welcome\"");
    jsonw_key(&w, "conn");
    jsonw_cstr(&w, conn_name);
    jsonw_raw(&w, ",\"protocol\":");
    jsonw_i64(&w, PROTOCOL_VERSION);
    jsonw_key(&w, "auth");
    jsonw_cstr(&w, ws_state.jwt ? "jwt" : "none");
    if (!ws_state.jwt) {
        jsonw_key(&w, "uid");
        jsonw_cstr(&w, c->uid);
    }
    jsonw_key(&w, "heartbeat_ms");
    jsonw_i64(&w, cfg->heartbeat_ms);
    jsonw_raw(&w, ",\"limits\":{\"max_frame_bytes\":");
    jsonw_i64(&w, cfg->max_frame_bytes);
    jsonw_key(&w, "max_message_bytes");
    jsonw_i64(&w, cfg->max_message_bytes);
    jsonw_key(&w, "max_binary_bytes");
    jsonw_i64(&w, cfg->max_binary_bytes);
    jsonw_key(&w, "rate_per_s");
    jsonw_i64(&w, cfg->rate_per_s);
    jsonw_raw(&w, "}}");
    if (!w.failed)
        conn_send_text(c, w.data, w.len);
    wbuf_free(&w);
}

/* Hands records to the broker, or answers `unavailable`. */
static void forward(conn *c, wbuf *rec, const char *id)
{
    rc r = rec->failed ? RC_NOMEM : gwlink_send(rec);
    if (r == RC_UNAVAILABLE)
        send_error(c, r, "the broker cannot be reached; nothing was stored",
                   id);
    else if (r != RC_OK)
        send_error(c, RC_INTERNAL, "out of memory", id);
}

/* --- client events ----------------------------------------------------- */

typedef struct request {
    conn *c;
    json_object *obj;
    const char *id; /* the client's `id` when it is a string, for errors */
} request;

/* Reads the `room` field; answers bad_request itself when it is wrong. */
static const char *req_room(request *q)
{
    const char *room;
    size_t len;
    if (json_get_string(q->obj, "room", true, &room, &len, NULL) != RC_OK ||
        !valid_room(room, len)) {
        send_error(q->c, RC_BAD_REQUEST, "room must be 1-64 characters of "
                   "A-Z a-z 0-9 _ . : -", q->id);
        return NULL;
    }
    return room;
}

static void on_enter(request *q)
{
    const char *room = req_room(q), *name = "", *uid = q->c->uid;
    size_t name_len = 0, uid_len = strlen(uid);
    bool has_name = false, has_uid = false, has_since = false;
    int64_t since = -1;
    if (room == NULL)
        return;
    if (json_get_string(q->obj, "name", false, &name, &name_len,
                        &has_name) != RC_OK ||
        (has_name && !valid_name(name, name_len)) ||
        (!has_name && !ws_state.jwt)) {
        send_error(q->c, RC_BAD_REQUEST, "name must be 1-32 characters, no "
                   "control characters", q->id);
        return;
    }
    if (json_get_string(q->obj, "uid", false, &uid, &uid_len, &has_uid) !=
            RC_OK ||
        (has_uid && !valid_uid(uid, uid_len))) {
        send_error(q->c, RC_BAD_REQUEST, "uid must be 1-64 characters of "
                   "A-Z a-z 0-9 _ . : @ -", q->id);
        return;
    }
    if (json_get_int(q->obj, "since", false, &since, &has_since) != RC_OK ||
        (has_since && since < 0)) {
        send_error(q->c, RC_BAD_REQUEST, "since must be a seq (an integer "
                   ">= 0)", q->id);
        return;
    }
    wbuf w = {0};
    /* jwt: the broker takes the uid from the token; a given one must match */
    record_enter(&w, q->c->id, room, has_uid || !ws_state.jwt ? uid : "",
                 name, name_len, has_since ? since : -1, q->id);
    forward(q->c, &w, q->id);
    wbuf_free(&w);
}

static void on_message(request *q)
{
    const char *room = req_room(q), *text, *id = "";
    size_t len, id_len = 0;
    bool has_id = false;
    if (room == NULL)
        return;
    if (json_get_string(q->obj, "message", true, &text, &len, NULL) !=
        RC_OK) {
        send_error(q->c, RC_BAD_REQUEST, "message must be a string", q->id);
        return;
    }
    if (len > (size_t)ws_state.cfg->max_message_bytes) {
        send_error(q->c, RC_TOO_LARGE, "message is over max_message_bytes",
                   q->id);
        return;
    }
    if (json_get_string(q->obj, "id", false, &id, &id_len, &has_id) !=
            RC_OK ||
        (has_id && !valid_client_id(id, id_len))) {
        send_error(q->c, RC_BAD_REQUEST, "id must be a string of 1-64 bytes",
                   q->id);
        return;
    }
    wbuf w = {0};
    record_message(&w, q->c->id, room, text, len, id, id_len);
    forward(q->c, &w, q->id);
    wbuf_free(&w);
}

static void on_room_only(request *q, enum wire_event type)
{
    const char *room = req_room(q);
    if (room == NULL)
        return;
    wbuf w = {0};
    record_room(&w, type, q->c->id, room, q->id);
    forward(q->c, &w, q->id);
    wbuf_free(&w);
}

static void on_history(request *q)
{
    const char *room = req_room(q);
    int64_t before = -1, limit = 50;
    bool has_before = false;
    if (room == NULL)
        return;
    if (json_get_int(q->obj, "before", false, &before, &has_before) !=
            RC_OK ||
        (has_before && before < 0)) {
        send_error(q->c, RC_BAD_REQUEST, "before must be a seq (an integer "
                   ">= 0)", q->id);
        return;
    }
    if (json_get_int(q->obj, "limit", false, &limit, NULL) != RC_OK ||
        limit < 1) {
        send_error(q->c, RC_BAD_REQUEST, "limit must be an integer >= 1",
                   q->id);
        return;
    }
    wbuf w = {0};
    record_history(&w, q->c->id, room, has_before ? before : -1,
                   limit > HISTORY_MAX ? HISTORY_MAX : limit, q->id);
    forward(q->c, &w, q->id);
    wbuf_free(&w);
}

static void on_delete(request *q)
{
    const char *room = req_room(q);
    int64_t seq = -1;
    if (room == NULL)
        return;
    if (json_get_int(q->obj, "seq", true, &seq, NULL) != RC_OK || seq < 1) {
        send_error(q->c, RC_BAD_REQUEST, "seq must be the seq of a message "
                   "(an integer >= 1)", q->id);
        return;
    }
    wbuf w = {0};
    record_delete(&w, q->c->id, room, (uint64_t)seq, q->id);
    forward(q->c, &w, q->id);
    wbuf_free(&w);
}

void send_auth(conn *c, const char *token, size_t len, const char *id)
{
    pthread_mutex_lock(&c->lock);
    free(c->token);
    c->token = strndup(token, len);
    pthread_mutex_unlock(&c->lock);
    wbuf w = {0};
    record_auth(&w, c->id, token, len, false, id);
    forward(c, &w, id);
    wbuf_free(&w);
}

static void on_auth(request *q)
{
    const char *token;
    size_t len;
    if (!ws_state.jwt) {
        send_error(q->c, RC_UNSUPPORTED, "auth is off on this server (auth "
                   "= none)", q->id);
        return;
    }
    if (json_get_string(q->obj, "token", true, &token, &len, NULL) !=
        RC_OK) {
        send_error(q->c, RC_BAD_REQUEST, "token must be a string", q->id);
        return;
    }
    if (len == 0 || len > TOKEN_MAX) {
        /* A bad token, as one the broker refuses: the client may retry. */
        send_literal(q->c, "{\"event\":\"noauth\",\"message\":"
                           "\"malformed token\"}");
        return;
    }
    send_auth(q->c, token, len, q->id);
}

static void on_heartbeat(request *q)
{
    const char *m;
    size_t len;
    if (json_get_string(q->obj, "message", true, &m, &len, NULL) == RC_OK &&
        len == 4 && memcmp(m, "ping", 4) == 0)
        send_literal(q->c, "{\"event\":\"heartbeat\",\"message\":\"pong\"}");
    else if (!(json_get_string(q->obj, "message", true, &m, &len, NULL) ==
                   RC_OK &&
               len == 4 && memcmp(m, "pong", 4) == 0))
        send_error(q->c, RC_BAD_REQUEST, "heartbeat message must be \"ping\" "
                   "or \"pong\"", q->id);
}

static void dispatch(request *q, const char *event)
{
    static const struct {
        const char *name;
        void (*fn)(request *q);
        enum wire_event type; /* for events that only carry a room */
    } EVENTS[] = {
        {"message", on_message, 0}, {"enter", on_enter, 0},
        {"heartbeat", on_heartbeat, 0}, {"who", NULL, EV_WHO},
        {"leave", NULL, EV_LEAVE}, {"history", on_history, 0},
        {"auth", on_auth, 0}, {"delete", on_delete, 0},
    };
    /* Before auth (jwt), everything but auth and heartbeat gets noauth, an
     * unknown event (or none) too: docs/protocol.md. */
    bool open = !ws_state.jwt || atomic_load(&q->c->authed) || q->c->token;
    if (!open && (event == NULL || (strcmp(event, "auth") != 0 &&
                                    strcmp(event, "heartbeat") != 0))) {
        send_literal(q->c, "{\"event\":\"noauth\",\"message\":"
                           "\"authenticate first\"}");
        return;
    }
    if (event == NULL) {
        send_error(q->c, RC_BAD_REQUEST, "event must be a string", q->id);
        return;
    }
    for (size_t i = 0; i < sizeof EVENTS / sizeof EVENTS[0]; i++) {
        if (strcmp(event, EVENTS[i].name) != 0)
            continue;
        if (EVENTS[i].fn != NULL)
            EVENTS[i].fn(q);
        else
            on_room_only(q, EVENTS[i].type);
        return;
    }
    send_error(q->c, RC_UNKNOWN_EVENT, "unknown event", q->id);
}

/* The client's `id` in obj when it is a valid one (echoed in errors), else
 * NULL. Borrowed from obj. */
static const char *client_id(json_object *obj)
{
    const char *id;
    size_t id_len;
    bool has_id = false;
    if (json_get_string(obj, "id", false, &id, &id_len, &has_id) == RC_OK &&
        has_id && valid_client_id(id, id_len))
        return id;
    return NULL;
}

/* One complete text message from the client. */
void on_text(conn *c, const char *text, size_t len)
{
    request q = {.c = c};
    rc r = json_parse_strict(text, len, &q.obj);
    if (r != RC_OK) {
        send_error(c, r, r == RC_BAD_REQUEST
                             ? "a message must be a JSON object with a "
                               "string field event"
                             : "not strict JSON (RFC 8259)", NULL);
        return;
    }
    const char *event;
    q.id = client_id(q.obj);
    if (json_get_string(q.obj, "event", true, &event, NULL, NULL) != RC_OK)
        event = NULL;
    dispatch(&q, event);
    json_object_put(q.obj);
}

/* One complete binary message from the client: a picture or a file
 * (gw_binary.c checks the layout). The payload goes into the broker's
 * batch with one copy. */
void on_binary(conn *c, const char *data, size_t len)
{
    if (ws_state.jwt && !atomic_load(&c->authed) && c->token == NULL) {
        send_literal(c, "{\"event\":\"noauth\",\"message\":"
                        "\"authenticate first\"}");
        return;
    }
    binary_msg m;
    const char *why = NULL;
    rc r = binary_parse(data, len, &m, &why);
    if (r != RC_OK) {
        send_error(c, r == RC_NOMEM ? RC_INTERNAL : r, why, m.id);
        binary_free(&m);
        return;
    }
    wbuf w = {0};
    wbuf_u8(&w, EV_BINARY);
    wbuf_u64(&w, c->id);
    wbuf_cstr(&w, m.room);
    wbuf_str(&w, m.id ? m.id : "", m.id_len);
    wbuf_str(&w, m.type, m.type_len);
    wbuf_str(&w, m.filename ? m.filename : "", m.filename_len);
    r = w.failed ? RC_NOMEM
                 : gwlink_send_with(&w, m.payload, m.payload_len);
    if (r == RC_UNAVAILABLE)
        send_error(c, r, "the broker cannot be reached; nothing was stored",
                   m.id);
    else if (r != RC_OK)
        send_error(c, RC_INTERNAL, "out of memory", m.id);
    wbuf_free(&w);
    binary_free(&m);
}

/* `rate_limited` for a refused message, with its `id` when it has a valid
 * one. That costs a strict parse of the text (or of a binary message's
 * header), as the event would have cost had it been let through; the abuse
 * bucket bounds how many a flood gets (rate_abuse_refill(rate_per_s) a
 * second, half the allowed rate, so a flood costs at most 1.5x the parsing
 * of an allowed client) before 1008. A cheaper scan for "id" could be
 * fooled by the same key nested or escaped; the parse gives exactly the id
 * the event would have echoed. */
static void send_rate_limited(conn *c, const char *data, size_t len,
                              bool binary)
{
    json_object *obj = NULL;
    binary_msg m = {0};
    const char *id = NULL;
    if (binary) {
        const char *why;
        binary_parse(data, len, &m, &why);
        id = m.id;
    } else if (json_parse_strict(data, len, &obj) == RC_OK) {
        id = client_id(obj);
    }
    send_error(c, RC_RATE_LIMITED, "too many events; slow down", id);
    json_object_put(obj);
    binary_free(&m);
}

/* Token bucket; false when the event must not be processed. data/len: the
 * refused message (text, or binary when `binary`), for the error's id. */
bool rate_ok(conn *c, int64_t now, const char *data, size_t len,
             bool binary, bool *close)
{
    double per_s = (double)ws_state.cfg->rate_per_s;
    *close = false;
    if (rate_take(&c->bucket, per_s, per_s, now))
        return true;
    atomic_fetch_add(&ws_rate_limited, 1);
    /* Sustained abuse: a second bucket of rate-limit errors runs dry. */
    if (!rate_take(&c->abuse, rate_abuse_refill(per_s),
                   rate_abuse_burst(per_s), now)) {
        *close = true;
        return false;
    }
    send_rate_limited(c, data, len, binary);
    return false;
}
