/* test_rate.c -- unit tests of gateway/gw_rate.c, the per-connection token
 * bucket (docs/protocol.md "Limits": rate_per_s events a second, burst of the
 * same size): a full bucket at start, refill in proportion to the time
 * passed, never above the burst, and a clock that goes backwards neither
 * refills nor breaks anything. Single-threaded. */
#include <stdint.h>

#include "check.h"
#include "gw_rate.h"

/* How many rate_take calls in a row succeed at now_ms (stops at limit). */
static int drain(rate *r, double per_s, double burst, int64_t now_ms,
                 int limit)
{
    int n = 0;
    while (n < limit && rate_take(r, per_s, burst, now_ms))
        n++;
    return n;
}

TEST(full_bucket_at_start)
{
    rate r;
    rate_init(&r, 50, 1000);
    CHECK_EQ_INT(drain(&r, 50, 50, 1000, 1000), 50);
    CHECK(!rate_take(&r, 50, 50, 1000)); /* empty stays empty */
    CHECK(!rate_take(&r, 50, 50, 1000));
}

TEST(refill_in_proportion_to_time)
{
    rate r;
    rate_init(&r, 50, 0);
    CHECK_EQ_INT(drain(&r, 50, 50, 0, 1000), 50);
    /* 50 a second: one token every 20 ms. */
    CHECK(!rate_take(&r, 50, 50, 10));
    CHECK(rate_take(&r, 50, 50, 20));
    CHECK(!rate_take(&r, 50, 50, 20));
    CHECK_EQ_INT(drain(&r, 50, 50, 120, 1000), 5);
    /* Half a second: 25 tokens. */
    CHECK_EQ_INT(drain(&r, 50, 50, 620, 1000), 25);
}

TEST(partial_tokens_accumulate)
{
    rate r;
    rate_init(&r, 1, 0);
    CHECK(rate_take(&r, 1, 1, 0));
    /* 1 a second, asked every 300 ms: a token at 1000 ms, not before. */
    CHECK(!rate_take(&r, 1, 1, 300));
    CHECK(!rate_take(&r, 1, 1, 600));
    CHECK(!rate_take(&r, 1, 1, 900));
    CHECK(rate_take(&r, 1, 1, 1200));
    CHECK(!rate_take(&r, 1, 1, 1500));
    /* Failed takes do not eat the fraction that has built up. */
    CHECK(rate_take(&r, 1, 1, 2200));
}

TEST(never_above_burst)
{
    rate r;
    rate_init(&r, 10, 0);
    CHECK_EQ_INT(drain(&r, 10, 10, 0, 1000), 10);
    /* An hour idle refills to the burst, no more. */
    CHECK_EQ_INT(drain(&r, 10, 10, 3600 * 1000, 1000), 10);
    /* Idle with a full bucket: still the burst. */
    CHECK_EQ_INT(drain(&r, 10, 10, 7200 * 1000, 1000), 10);
}

TEST(steady_rate_over_time)
{
    /* Asking every millisecond for 10 s at 50/s with burst 50: 50 at once,
     * then 50 a second, so 550 in all. */
    rate r;
    rate_init(&r, 50, 0);
    int got = 0;
    for (int64_t t = 0; t < 10000; t++)
        got += drain(&r, 50, 50, t, 1000);
    CHECK(got >= 549 && got <= 550);
}

TEST(clock_going_backwards)
{
    rate r;
    rate_init(&r, 5, 10000);
    CHECK_EQ_INT(drain(&r, 5, 5, 10000, 100), 5);
    /* Earlier times give nothing and do not move the clock back... */
    CHECK(!rate_take(&r, 5, 5, 5000));
    CHECK(!rate_take(&r, 5, 5, 0));
    CHECK(!rate_take(&r, 5, 5, -100000));
    CHECK_EQ_INT(r.last_ms, 10000);
    /* ...so the refill counts from the latest time seen. */
    CHECK_EQ_INT(drain(&r, 5, 5, 10200, 100), 1);
    CHECK_EQ_INT(drain(&r, 5, 5, 11200, 100), 5);
}

TEST(init_sets_fields)
{
    rate r;
    rate_init(&r, 7.5, 123);
    CHECK(r.tokens == 7.5);
    CHECK_EQ_INT(r.last_ms, 123);
    /* A fractional burst gives whole takes only. */
    CHECK_EQ_INT(drain(&r, 0, 7.5, 123, 100), 7);
}

TEST(zero_rate_never_refills)
{
    rate r;
    rate_init(&r, 3, 0);
    CHECK_EQ_INT(drain(&r, 0, 3, 0, 100), 3);
    CHECK_EQ_INT(drain(&r, 0, 3, 1000000, 100), 0);
}

RUN_TESTS(rate)
