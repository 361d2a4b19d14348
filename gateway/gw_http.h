/* gw_http.h -- the plain HTTP endpoints: /healthz and /metrics.
 * (Static files from `www` are served by civetweb itself.)
 * Handlers run on civetweb worker threads and only read counters. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <civetweb.h>

void http_start(struct mg_context *ctx);

#endif
