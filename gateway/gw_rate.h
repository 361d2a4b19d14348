/* gw_rate.h -- token buckets: the per-connection event rate limit, and the
 * abuse counter that closes a connection which keeps hitting it.
 * A rate belongs to its connection's worker thread. */
#ifndef GW_RATE_H
#define GW_RATE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rate {
    double tokens;
    int64_t last_ms;
} rate;

/* A full bucket of `burst` tokens at now_ms. */
void rate_init(rate *r, double burst, int64_t now_ms);

/* Refills at per_s tokens a second up to burst, then takes one token if
 * there is one. */
bool rate_take(rate *r, double per_s, double burst, int64_t now_ms);

#endif
