/* gw_api.h -- the server API's HTTP endpoints under /api/v1/ (docs/protocol.md,
 * "Server API"), on every gateway when `api_key` is set; otherwise every
 * /api/ path answers 404.
 *
 * A request becomes one EV_API record to the broker, which owns every
 * answer; the gateway keeps no room state for it. Handlers run on civetweb
 * worker threads and block until the broker answers or API_TIMEOUT_MS
 * passes (503 `unavailable`). */
#ifndef GW_API_H
#define GW_API_H

#include <civetweb.h>
#include <stddef.h>

#include "config.h"

/* Registers the /api/ handlers on ctx. Borrows cfg for the process's life. */
void api_start(struct mg_context *ctx, const config *cfg);

/* Appends `roomcast_api_requests_total{path,status}` lines (requests by
 * route and HTTP status, only the series seen so far) to buf[*len..cap). */
void api_metrics(char *buf, size_t cap, size_t *len);

#endif
