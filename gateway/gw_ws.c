/* gw_ws.c -- civetweb's /ws callbacks; see gw_ws.h.
 *
 * The checks before an upgrade (origin, capacity, per-address limit), a
 * connection's start (welcome, EV_OPEN) and end (EV_CLOSE), frames in,
 * and the housekeeping of every connection (pings, timeouts). What a
 * client's message means is gw_ws_events.c's. Threads: the connection's
 * civetweb worker; ws_housekeeping on the housekeeping thread. */
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
#include "gw_records.h"
#include "gw_ws_impl.h"
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

struct ws_state ws_state = {.ip_lock = PTHREAD_MUTEX_INITIALIZER};

/* The address a connect handler worked out, for the ready handler, which
 * civetweb runs next on the same worker thread. */
static _Thread_local char pending_ip[64];

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
    record_open(&w, c->id, c->uid);
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
    record_close(&w, id);
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
