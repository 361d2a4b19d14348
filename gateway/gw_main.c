/* gw_main.c -- roomcast-gateway: start-up, housekeeping, shutdown.
 *
 * Threads (see README "Threads of a gateway"): civetweb's workers, one per
 * open WebSocket plus those serving HTTP; `writers` writer threads that
 * drain outbound queues (gw_conn); the link's sender and poller (gw_link);
 * and this main thread, which does housekeeping every 100 ms until a
 * signal asks it to stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "gw_api.h"
#include "gw_capacity.h"
#include "gw_conn.h"
#include "gw_http.h"
#include "gw_index.h"
#include "gw_link.h"
#include "gw_ws.h"
#include "log.h"
#include "proc.h"

static int on_civetweb_log(const struct mg_connection *mg, const char *msg)
{
    (void)mg;
    capacity_note_civetweb(msg);
    LOG(LOG_WARN, "event=civetweb message=\"%s\"", msg);
    return 1;
}

static struct mg_context *start_http(const config *cfg)
{
    char threads[32], timeout[32];
    snprintf(threads, sizeof threads, "%ld", capacity_workers());
    snprintf(timeout, sizeof timeout, "%ld", cfg->write_timeout_ms);
    const char *options[] = {
        "listening_ports", cfg->listen,
        "document_root", cfg->www,
        "num_threads", threads,
        /* how long a blocked write may take before it fails */
        "request_timeout_ms", timeout,
        /* how often an idle WebSocket's worker wakes to notice a close */
        "websocket_timeout_ms", "1000",
        /* pings are answered here, so control-frame rules can be enforced */
        "enable_websocket_ping_pong", "no",
        /* Nagle + the client's delayed ACK held small frames for 40 ms */
        "tcp_nodelay", "1",
        "static_file_cache_control", "no-cache",
        "additional_header", "X-Content-Type-Options: nosniff",
        NULL,
    };
    struct mg_callbacks cb = {.log_message = on_civetweb_log};
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    if (ctx == NULL)
        LOG(LOG_ERROR, "event=http_start_failed listen=%s www=%s",
            cfg->listen, cfg->www);
    return ctx;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    config cfg;
    int code = proc_start(&cfg, CONFIG_GATEWAY, "gateway", "roomcast-gateway", ROOMCAST_VERSION,
                          argc, argv);
    if (code >= 0)
        return code;
    /* Before any thread exists: the futex hash and arenas are set here. */
    capacity_prepare(&cfg);
    mg_init_library(0);

    if (index_init() != RC_OK || conns_start(&cfg) != RC_OK ||
        gwlink_start(&cfg) != RC_OK)
        return 1;
    struct mg_context *ctx = start_http(&cfg);
    if (ctx != NULL && capacity_start_failed()) {
        /* No mg_stop: it would wait for a master thread that may not be. */
        LOG(LOG_ERROR, "event=http_start_failed reason=\"civetweb could not "
            "start every worker thread (a task limit); lower threads\"");
        return 1;
    }
    if (ctx == NULL || ws_start(ctx, &cfg) != RC_OK)
        return 1;
    http_start(ctx);
    api_start(ctx, &cfg);
    LOG(LOG_INFO,
        "event=ready id=%s listen=%s www=%s threads=%ld websockets_max=%ld "
        "auth=%s",
        cfg.id, cfg.listen, cfg.www, capacity_workers(), ws_capacity(),
        cfg.auth);

    while (!proc_stopping) {
        sleep_ms(100);
        ws_housekeeping(clock_mono_ms());
    }

    /* Graceful stop: clients hear 1001, the broker takes every connection
     * offline at once (EV_BYE), then the rest winds down. */
    LOG(LOG_INFO, "event=stopping conns=%zu", index_count());
    ws_close_all();
    for (int i = 0; i < 20 && index_count() > 0; i++)
        sleep_ms(100);
    gwlink_stop();
    mg_stop(ctx);
    conns_stop();
    index_free();
    mg_exit_library();
    return 0;
}
