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

/* The abuse bucket: rate-limit errors a connection may collect before it
 * is closed with 1008. A burst over the limit now and then is tolerated;
 * flooding (errors faster than rate_abuse_refill) empties it. */
double rate_abuse_burst(double per_s);  /* max(30, 2 x per_s) */
double rate_abuse_refill(double per_s); /* per_s / 2 a second */

#endif
