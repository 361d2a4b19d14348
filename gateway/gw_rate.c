/* gw_rate.c -- see gw_rate.h. */
#include "gw_rate.h"

void rate_init(rate *r, double burst, int64_t now_ms)
{
    r->tokens = burst;
    r->last_ms = now_ms;
}

bool rate_take(rate *r, double per_s, double burst, int64_t now_ms)
{
    if (now_ms > r->last_ms) {
        r->tokens += (double)(now_ms - r->last_ms) * per_s / 1000.0;
        if (r->tokens > burst)
            r->tokens = burst;
        r->last_ms = now_ms;
    }
    if (r->tokens < 1.0)
        return false;
    r->tokens -= 1.0;
    return true;
}

double rate_abuse_burst(double per_s)
{
    return per_s * 2 < 30 ? 30 : per_s * 2;
}

double rate_abuse_refill(double per_s)
{
    return per_s / 2;
}
