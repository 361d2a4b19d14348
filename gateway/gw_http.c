/* gw_http.c -- see gw_http.h. */
#include "gw_http.h"

#include <stdio.h>
#include <string.h>

#include "gw_api.h"
#include "gw_conn.h"
#include "gw_index.h"
#include "gw_link.h"
#include "gw_ws.h"

static int healthz(struct mg_connection *mg, void *cbdata)
{
    (void)cbdata;
    bool up = gwlink_up();
    uint64_t leader = gwlink_leader();
    char body[96];
    snprintf(body, sizeof body, "{\"status\":\"%s\",\"broker\":\"%s\"%s",
             up ? "ok" : "degraded", up ? "up" : "down", leader ? "," : "}");
    if (leader != 0) /* a replicated broker: the member it uses */
        snprintf(body + strlen(body), sizeof body - strlen(body),
                 "\"leader\":%llu}", (unsigned long long)leader);
    mg_printf(mg,
              "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
              "Cache-Control: no-store\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n%s",
              up ? "200 OK" : "503 Service Unavailable", strlen(body), body);
    return up ? 200 : 503;
}

static void metric(char *buf, size_t cap, size_t *len, const char *name,
                   const char *type, const char *help, unsigned long long v)
{
    if (*len >= cap)
        return;
    int n = snprintf(buf + *len, cap - *len,
                     "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help,
                     name, type, name, v);
    if (n > 0)
        *len += (size_t)n;
}

typedef struct metrics_buf {
    char *buf;
    size_t cap;
    size_t *len;
} metrics_buf;

static void broker_stat(void *arg, const char *name, enum wire_stat_kind kind,
                        uint64_t value)
{
    metrics_buf *m = arg;
    char full[WIRE_STAT_NAME_MAX + 16];
    snprintf(full, sizeof full, "roomcast_%s", name);
    metric(m->buf, m->cap, m->len, full,
           kind == STAT_COUNTER ? "counter" : "gauge",
           "Reported by the broker (its last answer).", value);
}

static int metrics(struct mg_connection *mg, void *cbdata)
{
    (void)cbdata;
    char buf[16384];
    size_t n = 0, cap = sizeof buf;
    metric(buf, cap, &n, "roomcast_connections", "gauge",
           "Open WebSocket connections.", index_count());
    metric(buf, cap, &n, "roomcast_connections_max", "gauge",
           "Open WebSockets past which upgrades get 503.",
           (unsigned long long)ws_capacity());
    metric(buf, cap, &n, "roomcast_rooms", "gauge",
           "Rooms with a connection on this gateway.", index_rooms());
    metric(buf, cap, &n, "roomcast_broker_up", "gauge",
           "1 while the broker answers.", gwlink_up());
    metric(buf, cap, &n, "roomcast_gateways_attached", "gauge",
           "Gateways attached to the broker (its last answer).",
           gwlink_gateways);
    metric(buf, cap, &n, "roomcast_frames_in_total", "counter",
           "WebSocket frames received.", ws_frames_in);
    metric(buf, cap, &n, "roomcast_frames_out_total", "counter",
           "WebSocket frames written.", conn_frames_out);
    metric(buf, cap, &n, "roomcast_queue_drops_total", "counter",
           "Frames refused because a connection's queue was full.",
           conn_queue_drops);
    metric(buf, cap, &n, "roomcast_slow_consumer_closes_total", "counter",
           "Connections closed for not reading.", conn_slow_closes);
    metric(buf, cap, &n, "roomcast_heartbeat_timeouts_total", "counter",
           "Connections closed with 4000.", ws_heartbeat_timeouts);
    metric(buf, cap, &n, "roomcast_auth_timeouts_total", "counter",
           "Connections closed with 4001.", ws_auth_timeouts);
    metric(buf, cap, &n, "roomcast_rate_limited_total", "counter",
           "Events refused by the rate limit.", ws_rate_limited);
    metric(buf, cap, &n, "roomcast_protocol_closes_total", "counter",
           "Connections closed for breaking RFC 6455.", ws_protocol_closes);
    metric(buf, cap, &n, "roomcast_upgrades_refused_origin_total", "counter",
           "Upgrades refused for their Origin.", ws_refused_origin);
    metric(buf, cap, &n, "roomcast_upgrades_refused_capacity_total",
           "counter", "Upgrades refused at capacity.", ws_refused_capacity);
    metric(buf, cap, &n, "roomcast_upgrades_refused_per_ip_total", "counter",
           "Upgrades refused by max_conns_per_ip.", ws_refused_per_ip);
    metric(buf, cap, &n, "roomcast_broker_resyncs_total", "counter",
           "Times this gateway registered its connections again.",
           gwlink_resyncs);
    api_metrics(buf, cap, &n);
    metrics_buf mb = {buf, cap, &n};
    gwlink_each_stat(broker_stat, &mb);
    if (n > cap)
        n = cap;
    mg_printf(mg,
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
              "Cache-Control: no-store\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n",
              n);
    mg_write(mg, buf, n);
    return 200;
}

void http_start(struct mg_context *ctx)
{
    mg_set_request_handler(ctx, "/healthz$", healthz, NULL);
    mg_set_request_handler(ctx, "/metrics$", metrics, NULL);
}
