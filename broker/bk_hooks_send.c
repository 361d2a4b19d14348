/* bk_hooks_send.c -- the webhook sender thread; see bk_hooks.h and the
 * top of bk_hooks.c.
 *
 * One thread, started by hooks_open when webhook_url is set. It reads the
 * outbox oldest first with its own read-only SQLite connection, POSTs one
 * batch at a time with libcurl and, on a 2xx, publishes the batch's last
 * id in h->acked (the main thread deletes up to it). Failures wait 1 s
 * doubling to 60 s, with jitter, and try again, forever. The transfer runs
 * through a multi handle so that hooks_close interrupts it at once
 * (curl_multi_wakeup); the one easy handle keeps its connection alive
 * between requests. Touches only its own fields of struct hooks, the
 * atomics, and kick/idle under the lock. */
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bk_hooks_impl.h"
#include "log.h"

#define HOOKS_BATCH_BYTES (8u << 20) /* a batch stops growing past this */
#define HOOKS_IDLE_POLL_MS 5000 /* a missed wake-up costs at most this */

static uint64_t sender_random(hooks *h)
{
    uint64_t x = h->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    h->rng = x;
    return x;
}

/* Delay before attempt `failures`+1: from 1 s doubling to 60 s, each
 * between half and all of its step ("equal jitter"), never under 1 s. */
static int64_t sender_backoff_ms(hooks *h, int failures)
{
    int64_t step = HOOKS_RETRY_MIN_MS;
    for (int i = 1; i < failures && step < HOOKS_RETRY_MAX_MS; i++)
        step *= 2;
    if (step > HOOKS_RETRY_MAX_MS)
        step = HOOKS_RETRY_MAX_MS;
    int64_t d = step / 2 + (int64_t)(sender_random(h) % (uint64_t)(step / 2 + 1));
    return d < HOOKS_RETRY_MIN_MS ? HOOKS_RETRY_MIN_MS : d;
}

/* Waits until ms have passed, or until woken (when wake_on_kick), or the
 * stop. Returns false on the stop. */
static bool sender_sleep(hooks *h, int64_t ms, bool wake_on_kick)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->lock);
    h->idle = wake_on_kick;
    while (!atomic_load(&h->stop) && !(wake_on_kick && h->kick))
        if (pthread_cond_timedwait(&h->wake, &h->lock, &until) != 0)
            break; /* timed out */
    h->idle = false;
    if (wake_on_kick)
        h->kick = false;
    pthread_mutex_unlock(&h->lock);
    return !atomic_load(&h->stop);
}

/* Reads the next batch into h->body: `{"events":[...]}`, each event with
 * its hook_id. Returns the events in it (0: the outbox is empty, -1: a
 * database error); *last is the id of its last event. */
static int sender_batch(hooks *h, int64_t *last)
{
    sqlite3_stmt *st = h->select;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, h->sent);
    sqlite3_bind_int(st, 2, HOOKS_BATCH_MAX);
    wbuf_reset(&h->body);
    wbuf_bytes(&h->body, "{\"events\":[", 11);
    int n = 0, r = SQLITE_DONE;
    while (h->body.len < HOOKS_BATCH_BYTES &&
           (r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *json = (const char *)sqlite3_column_text(st, 1);
        int len = sqlite3_column_bytes(st, 1);
        if (json == NULL || len < 2)
            continue; /* hooks_add never writes one */
        if (n++ > 0)
            wbuf_bytes(&h->body, ",", 1);
        char tail[64];
        int tl = snprintf(tail, sizeof tail, ",\"hook_id\":\"%s-%" PRId64
                          "\"}", h->instance, id);
        wbuf_bytes(&h->body, json, (size_t)len - 1);
        wbuf_bytes(&h->body, tail, (size_t)tl);
        *last = id;
    }
    bool failed = n == 0 && r != SQLITE_DONE;
    sqlite3_reset(st); /* ends the read transaction */
    wbuf_bytes(&h->body, "]}", 2);
    if (failed || h->body.failed) {
        LOG(LOG_ERROR, "event=webhook_read_failed error=\"%s\"",
            h->body.failed ? "out of memory" : sqlite3_errmsg(h->rdb));
        return -1;
    }
    return n;
}

static size_t sender_discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* POSTs h->body; true on a 2xx. The transfer is driven through the multi
 * handle so that hooks_close can interrupt it at once (curl_multi_wakeup). */
static bool sender_post(hooks *h, int events)
{
    char sig[HOOKS_SIGNATURE_LEN + 1];
    char header[HOOKS_SIGNATURE_LEN + 32];
    if (hooks_sign(h->cfg->webhook_secret, strlen(h->cfg->webhook_secret),
                   h->body.data, h->body.len, sig) != RC_OK)
        return false;
    snprintf(header, sizeof header, "X-Roomcast-Signature: %s", sig);
    struct curl_slist *headers = NULL, *tmp;
    const char *lines[] = {"Content-Type: application/json", header,
                           "Expect:"}; /* no 100-continue round trip */
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if ((tmp = curl_slist_append(headers, lines[i])) == NULL) {
            curl_slist_free_all(headers);
            return false;
        }
        headers = tmp;
    }
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, h->body.data);
    curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)h->body.len);
    CURLcode result = CURLE_ABORTED_BY_CALLBACK;
    if (curl_multi_add_handle(h->multi, h->easy) != CURLM_OK) {
        result = CURLE_FAILED_INIT;
    } else {
        int running = 1;
        while (!atomic_load(&h->stop)) {
            if (curl_multi_perform(h->multi, &running) != CURLM_OK) {
                result = CURLE_FAILED_INIT;
                break;
            }
            if (running == 0) {
                CURLMsg *m;
                int left;
                while ((m = curl_multi_info_read(h->multi, &left)) != NULL)
                    if (m->msg == CURLMSG_DONE)
                        result = m->data.result;
                break;
            }
            curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
        }
        curl_multi_remove_handle(h->multi, h->easy);
    }
    long status = 0;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (result == CURLE_OK && status >= 200 && status <= 299)
        return true;
    if (!atomic_load(&h->stop)) /* never the URL: it may hold credentials */
        LOG(LOG_WARN, "event=webhook_failed events=%d status=%ld "
            "error=\"%s\"", events, status,
            result == CURLE_OK ? "not a 2xx answer"
                               : curl_easy_strerror(result));
    return false;
}

void *hooks_sender_main(void *arg)
{
    hooks *h = arg;
    int failures = 0;
    while (!atomic_load(&h->stop)) {
        int64_t last = h->sent;
        int n = sender_batch(h, &last);
        if (n == 0) {
            sender_sleep(h, HOOKS_IDLE_POLL_MS, true);
            continue;
        }
        if (n > 0 && sender_post(h, n)) {
            h->sent = last;
            atomic_store(&h->acked, last);
            atomic_fetch_add(&h->delivered, (uint64_t)n);
            failures = 0;
            continue;
        }
        if (atomic_load(&h->stop))
            break;
        if (n > 0)
            atomic_fetch_add(&h->failed, 1);
        sender_sleep(h, sender_backoff_ms(h, ++failures), false);
    }
    return NULL;
}

rc hooks_sender_open(hooks *h)
{
    if (sqlite3_open_v2(h->cfg->db, &h->rdb, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(h->rdb, 5000) != SQLITE_OK ||
        sqlite3_prepare_v2(h->rdb,
                           "SELECT id,body FROM webhook_outbox WHERE id>? "
                           "ORDER BY id LIMIT ?",
                           -1, &h->select, NULL) != SQLITE_OK) {
        LOG(LOG_ERROR, "event=webhook_db_error op=open error=\"%s\"",
            h->rdb ? sqlite3_errmsg(h->rdb) : "out of memory");
        return RC_DB;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return RC_INTERNAL;
    h->curl_ready = true;
    if ((h->multi = curl_multi_init()) == NULL ||
        (h->easy = curl_easy_init()) == NULL)
        return RC_INTERNAL;
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, h->cfg->webhook_url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)HOOKS_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)HOOKS_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "roomcast/" ROOMCAST_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sender_discard);
    unsigned char seed[8];
    if (RAND_bytes(seed, sizeof seed) == 1)
        memcpy(&h->rng, seed, sizeof seed);
    h->rng |= 1; /* xorshift must not start at 0 */
    return RC_OK;
}
