/* test_request.c -- unit tests of gateway/gw_request.c, the table of server
 * API requests waiting for the broker: an answer wakes the waiter (also from
 * another thread, as the poll thread does), a late or unknown answer is
 * ignored, a timeout gives RC_UNAVAILABLE, and failing by id or by broker
 * epoch fails exactly the requests it should. The checks run on the main
 * thread; a helper thread only answers. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gw_request.h"

TEST(answer_before_wait)
{
    gw_request q;
    request_begin(&q);
    CHECK(q.id != 0);
    request_sent(&q, 7);
    request_answer(q.id, 200, "{\"ok\":1}", 8);
    CHECK(request_wait(&q, 1000) == RC_OK);
    CHECK_EQ_INT(q.status, 200);
    CHECK(q.body.len == 8 && memcmp(q.body.data, "{\"ok\":1}", 8) == 0);
    request_end(&q);
    CHECK_EQ_INT(request_waiting(), 0);
}

typedef struct answerer {
    uint64_t id;
} answerer;

static void *answer_later(void *arg)
{
    answerer *a = arg;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    request_answer(a->id + 1000, 500, "x", 1); /* nobody waits for it */
    request_answer(a->id, 404, "{}", 2);
    return NULL;
}

TEST(answer_from_another_thread_wakes_the_waiter)
{
    gw_request q;
    request_begin(&q);
    request_sent(&q, 1);
    answerer a = {q.id};
    pthread_t t;
    pthread_create(&t, NULL, answer_later, &a);
    CHECK(request_wait(&q, 5000) == RC_OK);
    CHECK_EQ_INT(q.status, 404);
    pthread_join(t, NULL);
    request_end(&q);
}

TEST(timeout_then_late_answer_is_ignored)
{
    gw_request q;
    request_begin(&q);
    request_sent(&q, 1);
    uint64_t id = q.id;
    CHECK(request_wait(&q, 30) == RC_UNAVAILABLE);
    CHECK_EQ_INT(request_waiting(), 0);
    request_end(&q);
    request_answer(id, 200, "late", 4); /* must not touch freed memory */
    CHECK_EQ_INT(request_waiting(), 0);
}

TEST(fail_by_id)
{
    gw_request q, other;
    request_begin(&q);
    request_begin(&other);
    CHECK(q.id != other.id);
    request_sent(&q, 1);
    request_sent(&other, 1);
    request_fail(q.id);
    CHECK(request_wait(&q, 1000) == RC_UNAVAILABLE);
    CHECK(!other.done);
    request_answer(other.id, 200, "", 0);
    CHECK(request_wait(&other, 1000) == RC_OK);
    request_end(&q);
    request_end(&other);
}

TEST(fail_by_epoch)
{
    gw_request old, cur, unsent;
    request_begin(&old);
    request_begin(&cur);
    request_begin(&unsent);
    request_sent(&old, 5);
    request_sent(&cur, 6);
    request_fail_epoch(6); /* a broker of epoch 6 answers: 5 is gone */
    CHECK(old.done && old.failed);
    CHECK(!cur.done);
    CHECK(!unsent.done); /* not queued yet: its epoch is still to come */
    request_fail_epoch(0); /* the broker is down: every queued one fails */
    CHECK(cur.done && cur.failed);
    CHECK(request_wait(&old, 10) == RC_UNAVAILABLE);
    CHECK(request_wait(&cur, 10) == RC_UNAVAILABLE);
    CHECK(request_wait(&unsent, 10) == RC_UNAVAILABLE); /* timed out */
    request_end(&old);
    request_end(&cur);
    request_end(&unsent);
    CHECK_EQ_INT(request_waiting(), 0);
}

TEST(end_without_wait_leaves_the_table)
{
    gw_request q;
    request_begin(&q);
    CHECK_EQ_INT(request_waiting(), 1);
    request_end(&q); /* the record could not be sent */
    CHECK_EQ_INT(request_waiting(), 0);
}

RUN_TESTS(request)
