/* gw_ws.c -- see gw_ws.h. */
#include "gw_ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "gw_binary.h"
#include "gw_capacity.h"
#include "gw_conn.h"
#include "gw_index.h"
#include "gw_link.h"
#include "json.h"
#include "jsonw.h"
#include "log.h"
#include "map.h"
#include "protocol.h"
#include "valid.h"
#include "wire.h"


atomic_ullong ws_frames_in;
atomic_ullong ws_heartbeat_timeouts;
atomic_ullong ws_auth_timeouts;
atomic_ullong ws_rate_limited;
atomic_ullong ws_protocol_closes;
atomic_ullong ws_refused_origin;
atomic_ullong ws_refused_capacity;
atomic_ullong ws_refused_per_ip;

static struct {
    const config *cfg;
    bool jwt;
    long capacity;           /* most WebSockets: workers less a reserve */
    atomic_long open;        /* WebSockets open now */
    atomic_ullong next_id;
    pthread_mutex_t ip_lock; /* guards per_ip */
    map *per_ip;             /* address -> count (as a pointer-sized int) */
    int64_t last_ping_ms;
    outframe *ping;          /* the server heartbeat, framed once */
} ws_state = {.ip_lock = PTHREAD_MUTEX_INITIALIZER};

/* The address a connect handler worked out, for the ready handler, which
 * civetweb runs next on the same worker thread. */
static _Thread_local char pending_ip[64];

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

static void send_welcome(conn *c)
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
    wbuf_u8(&w, EV_ENTER);
    wbuf_u64(&w, q->c->id);
    wbuf_cstr(&w, room);
    /* jwt: the broker takes the uid from the token; a given one must match */
    wbuf_cstr(&w, has_uid || !ws_state.jwt ? uid : "");
    wbuf_str(&w, name, name_len);
    wbuf_i64(&w, has_since ? since : -1);
    wbuf_cstr(&w, q->id);
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
    wbuf_u8(&w, EV_MESSAGE);
    wbuf_u64(&w, q->c->id);
    wbuf_cstr(&w, room);
    wbuf_str(&w, text, len);
    wbuf_str(&w, id, id_len);
    forward(q->c, &w, q->id);
    wbuf_free(&w);
}

static void on_room_only(request *q, enum wire_event type)
{
    const char *room = req_room(q);
    if (room == NULL)
        return;
    wbuf w = {0};
    wbuf_u8(&w, (uint8_t)type);
    wbuf_u64(&w, q->c->id);
    wbuf_cstr(&w, room);
    wbuf_cstr(&w, q->id);
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
    wbuf_u8(&w, EV_HISTORY);
    wbuf_u64(&w, q->c->id);
    wbuf_cstr(&w, room);
    wbuf_i64(&w, has_before ? before : -1);
    wbuf_i64(&w, limit > HISTORY_MAX ? HISTORY_MAX : limit);
    wbuf_cstr(&w, q->id);
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
    wbuf_u8(&w, EV_DELETE);
    wbuf_u64(&w, q->c->id);
    wbuf_cstr(&w, room);
    wbuf_u64(&w, (uint64_t)seq);
    wbuf_cstr(&w, q->id);
    forward(q->c, &w, q->id);
    wbuf_free(&w);
}

static void send_auth(conn *c, const char *token, size_t len,
                      const char *id)
{
    pthread_mutex_lock(&c->lock);
    free(c->token);
    c->token = strndup(token, len);
    pthread_mutex_unlock(&c->lock);
    wbuf w = {0};
    wbuf_u8(&w, EV_AUTH);
    wbuf_u64(&w, c->id);
    wbuf_str(&w, token, len);
    wbuf_u8(&w, 0);
    wbuf_cstr(&w, id);
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
static void on_text(conn *c, const char *text, size_t len)
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
static void on_binary(conn *c, const char *data, size_t len)
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
static bool rate_ok(conn *c, int64_t now, const char *data, size_t len,
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

/* --- civetweb callbacks ------------------------------------------------ */

/* Whether `word` is an item of a comma- (or space-) separated list, as
 * trusted_proxies and allowed_origins are written. */
static bool list_has(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && memcmp(p, word, n) == 0)
            return true;
        p = e;
    }
    return false;
}

/* The client's address: the peer, or the last X-Forwarded-For hop when the
 * peer is a trusted proxy. */
static void client_ip(struct mg_connection *mg, char *out, size_t cap)
{
    const struct mg_request_info *ri = mg_get_request_info(mg);
    snprintf(out, cap, "%s", ri->remote_addr);
    const char *xff = mg_get_header(mg, "X-Forwarded-For");
    if (xff == NULL ||
        !list_has(ws_state.cfg->trusted_proxies, ri->remote_addr))
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ')
        last++;
    size_t n = strcspn(last, " ");
    if (n > 0 && n < cap) {
        memcpy(out, last, n);
        out[n] = 0;
    }
}

static bool origin_allowed(struct mg_connection *mg)
{
    const char *list = ws_state.cfg->allowed_origins;
    if (list[0] == 0)
        return true;
    const char *origin = mg_get_header(mg, "Origin");
    return origin != NULL && list_has(list, origin);
}

static long ip_count(const char *ip, long delta)
{
    pthread_mutex_lock(&ws_state.ip_lock);
    long n = (long)(intptr_t)map_get(ws_state.per_ip, ip, strlen(ip)) + delta;
    if (delta != 0) {
        if (n <= 0)
            map_del(ws_state.per_ip, ip, strlen(ip));
        else
            map_put(ws_state.per_ip, ip, strlen(ip), (void *)(intptr_t)n);
    }
    pthread_mutex_unlock(&ws_state.ip_lock);
    return n;
}

/* Refuses an upgrade with a plain HTTP answer. (mg_send_http_error writes
 * no status line once civetweb has started a WebSocket handshake.) */
static int refuse(struct mg_connection *mg, int status, const char *reason,
                  const char *text)
{
    mg_printf(mg,
              "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
              status, reason, strlen(text), text);
    return 1;
}

static int ws_connect(const struct mg_connection *cmg, void *cbdata)
{
    struct mg_connection *mg = (struct mg_connection *)cmg;
    (void)cbdata;
    const struct mg_request_info *ri = mg_get_request_info(mg);
    if (strcmp(ri->local_uri, "/ws") != 0)
        return refuse(mg, 404, "Not Found", "the WebSocket endpoint is /ws\n");
    if (!origin_allowed(mg)) {
        atomic_fetch_add(&ws_refused_origin, 1);
        return refuse(mg, 403, "Forbidden", "Origin not allowed\n");
    }
    if (atomic_load(&ws_state.open) >= ws_state.capacity) {
        /* Refused while workers remain for static files and /healthz. */
        atomic_fetch_add(&ws_refused_capacity, 1);
        return refuse(mg, 503, "Service Unavailable", "gateway at capacity\n");
    }
    client_ip(mg, pending_ip, sizeof pending_ip);
    if (ws_state.cfg->max_conns_per_ip > 0 &&
        ip_count(pending_ip, 0) >= ws_state.cfg->max_conns_per_ip) {
        atomic_fetch_add(&ws_refused_per_ip, 1);
        return refuse(mg, 429, "Too Many Requests",
                      "too many connections from your address\n");
    }
    return 0;
}

static void new_uid(char *out, size_t cap)
{
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != sizeof b)
        memset(b, 0, sizeof b);
    snprintf(out, cap, "u-%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7]);
}

static void ws_ready(struct mg_connection *mg, void *cbdata)
{
    (void)cbdata;
    uint64_t id = atomic_fetch_add(&ws_state.next_id, 1) + 1;
    conn *c = conn_new(id, mg, ws_state.cfg, clock_mono_ms());
    if (c != NULL) {
        /* Filled in before the index has it: the poller's register-again
         * round reads uid from any connection in the index. */
        snprintf(c->ip, sizeof c->ip, "%s", pending_ip);
        const struct mg_request_info *ri = mg_get_request_info(mg);
        snprintf(c->peer, sizeof c->peer, "%s", ri->remote_addr);
        c->peer_port = ri->remote_port;
        c->local_port = ri->server_port;
        new_uid(c->uid, sizeof c->uid);
    }
    if (c == NULL || index_add(c) != RC_OK) {
        conn_unref(c);
        mg_disable_connection_keep_alive(mg);
        LOG(LOG_ERROR, "event=conn_failed reason=\"out of memory\"");
        return;
    }
    atomic_fetch_add(&ws_state.open, 1);
    ip_count(c->ip, 1);
    mg_set_user_connection_data(mg, c);
    send_welcome(c);
    wbuf w = {0};
    wbuf_u8(&w, EV_OPEN);
    wbuf_u64(&w, c->id);
    wbuf_cstr(&w, c->uid);
    if (!w.failed)
        gwlink_send_conn(&w);
    wbuf_free(&w);
    char token[TOKEN_MAX + 1];
    const char *qs = mg_get_request_info(mg)->query_string;
    int n = qs ? mg_get_var(qs, strlen(qs), "token", token, sizeof token) : -1;
    if (n > 0 && ws_state.jwt)
        send_auth(c, token, (size_t)n, NULL);
    LOG(LOG_DEBUG, "event=open conn=%llu ip=%s", (unsigned long long)id,
        c->ip);
}

static int ws_data(struct mg_connection *mg, int bits, char *data,
                   size_t len, void *cbdata)
{
    (void)cbdata;
    conn *c = mg_get_user_connection_data(mg);
    if (c == NULL)
        return 0;
    int64_t now = clock_mono_ms();
    atomic_store(&c->last_rx_ms, now);
    atomic_fetch_add(&ws_frames_in, 1);
    /* After a close the server started, the client's frames are read and
     * dropped until its own close frame: the socket is not closed under a
     * client still sending (the kernel would reset the connection and the
     * close frame could be lost), for a bounded time (gw_conn.h). */
    switch (conn_drain(c, now)) {
    case CONN_OPEN:
        break;
    case CONN_DRAINING:
        if ((bits & 0x0f) != MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
            return 1;
        conn_close_now(c, 0); /* our close frame, if still queued */
        return 0;
    case CONN_DRAINED:
        return 0;
    }
    const char *msg = NULL;
    size_t msg_len = 0;
    uint16_t code = 0;
    bool close = false;
    switch (frame_in_feed(&c->fin, bits, data, len, &msg, &msg_len, &code)) {
    case FA_NONE:
    case FA_PONG:
        return 1;
    case FA_PING: {
        outframe *f = outframe_new(MG_WEBSOCKET_OPCODE_PONG, data, len);
        if (f != NULL)
            conn_send(c, f);
        outframe_unref(f);
        return 1;
    }
    case FA_TEXT:
        if (rate_ok(c, now, msg, msg_len, false, &close))
            on_text(c, msg, msg_len);
        break;
    case FA_BINARY:
        if (rate_ok(c, now, msg, msg_len, true, &close))
            on_binary(c, msg, msg_len);
        break;
    case FA_CLOSE:
        conn_close_now(c, code);
        return 0;
    case FA_FAIL:
        atomic_fetch_add(&ws_protocol_closes, 1);
        conn_close_now(c, code);
        return 1; /* reads on until the client's close (conn_drain) */
    }
    if (close) {
        LOG(LOG_INFO, "event=abuse_close conn=%llu ip=%s",
            (unsigned long long)c->id, c->ip);
        conn_close_now(c, CLOSE_POLICY);
    }
    return 1;
}

static void ws_close(const struct mg_connection *cmg, void *cbdata)
{
    struct mg_connection *mg = (struct mg_connection *)cmg;
    (void)cbdata;
    conn *c = mg_get_user_connection_data(mg);
    if (c == NULL)
        return;
    mg_set_user_connection_data(mg, NULL);
    conn_gone(c);
    uint64_t id = c->id;
    ip_count(c->ip, -1);
    atomic_fetch_sub(&ws_state.open, 1);
    /* Out of the index before the broker hears of the close: a register-
     * again round builds and queues its records under the index lock, so
     * it either has this connection and goes out before EV_CLOSE, or does
     * not have it. The other order could register it after its close,
     * online for good. */
    index_remove(c); /* drops the table's reference: c may be freed */
    wbuf w = {0};
    wbuf_u8(&w, EV_CLOSE);
    wbuf_u64(&w, id);
    if (!w.failed)
        gwlink_send_conn(&w);
    wbuf_free(&w);
    LOG(LOG_DEBUG, "event=close conn=%llu", (unsigned long long)id);
}

rc ws_start(struct mg_context *ctx, const config *cfg)
{
    ws_state.cfg = cfg;
    ws_state.jwt = strcmp(cfg->auth, "jwt") == 0;
    /* Workers kept for static files and /healthz: 5%, at least 4, at
     * most 64 (a big pool needs no more than that for plain HTTP). */
    long workers = capacity_workers(); /* cfg->threads, or fewer (limits) */
    long reserve = workers / 20;
    reserve = reserve < 4 ? 4 : reserve > 64 ? 64 : reserve;
    ws_state.capacity = workers > reserve ? workers - reserve : 0;
    ws_state.per_ip = map_new();
    static const char PING[] = "{\"event\":\"heartbeat\",\"message\":\"ping\"}";
    ws_state.ping =
        outframe_new(MG_WEBSOCKET_OPCODE_TEXT, PING, sizeof PING - 1);
    if (ws_state.per_ip == NULL || ws_state.ping == NULL)
        return RC_NOMEM;
    ws_state.last_ping_ms = clock_mono_ms();
    /* Every path, so an upgrade anywhere but /ws gets a proper 404. */
    mg_set_websocket_handler(ctx, "/**", ws_connect, ws_ready, ws_data,
                             ws_close, NULL);
    return RC_OK;
}

long ws_capacity(void)
{
    return ws_state.capacity;
}

static void check_conn(void *arg, conn *c)
{
    int64_t now = *(int64_t *)arg;
    const config *cfg = ws_state.cfg;
    conn_check_close(c, now);
    pthread_mutex_lock(&c->lock);
    bool closing = c->closing;
    pthread_mutex_unlock(&c->lock);
    if (closing)
        return;
    if (now - atomic_load(&c->last_rx_ms) > 2 * cfg->heartbeat_ms) {
        atomic_fetch_add(&ws_heartbeat_timeouts, 1);
        conn_close(c, CLOSE_HEARTBEAT, "heartbeat timeout");
    } else if (ws_state.jwt && !atomic_load(&c->authed) &&
               now - c->opened_ms > cfg->auth_timeout_ms) {
        atomic_fetch_add(&ws_auth_timeouts, 1);
        conn_close(c, CLOSE_NOAUTH, "not authenticated in time");
    }
}

static void ping_conn(void *arg, conn *c)
{
    conn_send(c, arg);
}

void ws_housekeeping(int64_t now)
{
    index_each(check_conn, &now);
    if (now - ws_state.last_ping_ms >= ws_state.cfg->heartbeat_ms) {
        ws_state.last_ping_ms = now;
        index_each(ping_conn, ws_state.ping);
    }
}

static void close_going_away(void *arg, conn *c)
{
    (void)arg;
    conn_close(c, CLOSE_GOING_AWAY, "gateway shutting down");
}

void ws_close_all(void)
{
    index_each(close_going_away, NULL);
}
