/* gw_request.c -- see gw_request.h. */
#include "gw_request.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards table */
static gw_request *table;
static atomic_ullong next_id;

void request_begin(gw_request *q)
{
    memset(q, 0, sizeof *q);
    q->id = atomic_fetch_add(&next_id, 1) + 1;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_lock(&lock);
    q->next = table;
    table = q;
    pthread_mutex_unlock(&lock);
}

void request_sent(gw_request *q, uint64_t epoch)
{
    pthread_mutex_lock(&lock);
    q->epoch = epoch;
    pthread_mutex_unlock(&lock);
}

/* With lock held. */
static void request_unlink(gw_request *q)
{
    for (gw_request **p = &table; *p != NULL; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            q->next = NULL;
            return;
        }
}

/* With lock held. */
static void request_finish(gw_request *q, bool failed)
{
    q->done = true;
    q->failed = failed;
    pthread_cond_signal(&q->cond);
}

rc request_wait(gw_request *q, int64_t timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&lock);
    while (!q->done &&
           pthread_cond_timedwait(&q->cond, &lock, &until) == 0)
        ;
    request_unlink(q); /* no answer can touch q after this */
    bool ok = q->done && !q->failed;
    pthread_mutex_unlock(&lock);
    return ok ? RC_OK : RC_UNAVAILABLE;
}

void request_end(gw_request *q)
{
    pthread_mutex_lock(&lock);
    request_unlink(q);
    pthread_mutex_unlock(&lock);
    pthread_cond_destroy(&q->cond);
    wbuf_free(&q->body);
}

void request_answer(uint64_t id, unsigned status, const char *body,
                    size_t len)
{
    pthread_mutex_lock(&lock);
    for (gw_request *q = table; q != NULL; q = q->next) {
        if (q->id != id || q->done)
            continue;
        q->status = status;
        wbuf_bytes(&q->body, body, len);
        request_finish(q, q->body.failed);
        break;
    }
    pthread_mutex_unlock(&lock);
}

void request_fail(uint64_t id)
{
    pthread_mutex_lock(&lock);
    for (gw_request *q = table; q != NULL; q = q->next)
        if (q->id == id && !q->done)
            request_finish(q, true);
    pthread_mutex_unlock(&lock);
}

void request_fail_epoch(uint64_t epoch)
{
    pthread_mutex_lock(&lock);
    for (gw_request *q = table; q != NULL; q = q->next)
        if (!q->done && q->epoch != 0 && (epoch == 0 || q->epoch != epoch))
            request_finish(q, true);
    pthread_mutex_unlock(&lock);
}

unsigned request_waiting(void)
{
    unsigned n = 0;
    pthread_mutex_lock(&lock);
    for (gw_request *q = table; q != NULL; q = q->next)
        n++;
    pthread_mutex_unlock(&lock);
    return n;
}
