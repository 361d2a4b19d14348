/* gw_conn.c -- see gw_conn.h. */
#include "gw_conn.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "invariant.h"
#include "log.h"
#include "protocol.h"

#define WRITE_CHUNK (256 * 1024) /* most bytes a writer takes in one turn */

atomic_ullong conn_frames_out;
atomic_ullong conn_slow_closes;
atomic_ullong conn_queue_drops;

static struct {
    const config *cfg;
    pthread_mutex_t lock; /* guards the run queue and `stop` */
    pthread_cond_t ready;
    pthread_cond_t idle; /* a write finished: conn_gone may go on */
    conn **runq;
    size_t head, count, cap;
    bool stop;
    pthread_t *threads;
    long nthreads;
} writers = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .ready = PTHREAD_COND_INITIALIZER,
       .idle = PTHREAD_COND_INITIALIZER};

outframe *outframe_new(int opcode, const char *payload, size_t len)
{
    unsigned char hdr[10];
    size_t h = frame_header(hdr, opcode, len);
    outframe *f = malloc(sizeof *f + h + len);
    if (f == NULL)
        return NULL;
    atomic_init(&f->refs, 1);
    f->len = h + len;
    memcpy(f->data, hdr, h);
    if (len > 0)
        memcpy(f->data + h, payload, len);
    return f;
}

void outframe_unref(outframe *f)
{
    int was = f != NULL ? atomic_fetch_sub(&f->refs, 1) : 0;
    ASSERT(f == NULL || was > 0);
    if (was == 1)
        free(f);
}

conn *conn_new(uint64_t id, struct mg_connection *mg, const config *cfg,
               int64_t now_ms)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->id = id;
    c->mg = mg;
    c->opened_ms = now_ms;
    atomic_init(&c->last_rx_ms, now_ms);
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    frame_in_init(&c->fin, (size_t)cfg->max_frame_bytes);
    c->fin.max_binary = (size_t)cfg->max_binary_bytes;
    double per_s = (double)cfg->rate_per_s;
    rate_init(&c->bucket, per_s, now_ms);
    rate_init(&c->abuse, rate_abuse_burst(per_s), now_ms);
    return c;
}

void conn_ref(conn *c)
{
    int was = atomic_fetch_add(&c->refs, 1);
    ASSERT(was > 0); /* a reference is taken only from a live one */
}

static void conn_drop_queue(conn *c)
{
    while (c->qcount > 0) {
        outframe_unref(c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qcount--;
    }
    c->qbytes = 0;
    free(c->q);
    c->q = NULL;
    c->qhead = c->qcap = 0;
}

void conn_unref(conn *c)
{
    int was = c != NULL ? atomic_fetch_sub(&c->refs, 1) : 0;
    ASSERT(c == NULL || was > 0);
    if (was != 1)
        return;
    conn_drop_queue(c);
    frame_in_free(&c->fin);
    free(c->token);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* With c->lock held: from now on c takes no more frames. */
static void conn_mark_closing(conn *c)
{
    ASSERT_LOCKED(&c->lock);
    if (!c->closing)
        c->closing_ms = clock_mono_ms();
    c->closing = true;
}

/* With writers.lock held. */
static bool runq_push(conn *c)
{
    ASSERT_LOCKED(&writers.lock);
    if (writers.count == writers.cap) {
        size_t cap = writers.cap ? writers.cap * 2 : 256;
        conn **q = malloc(cap * sizeof *q);
        if (q == NULL)
            return false;
        for (size_t i = 0; i < writers.count; i++)
            q[i] = writers.runq[(writers.head + i) % writers.cap];
        free(writers.runq);
        writers.runq = q;
        writers.head = 0;
        writers.cap = cap;
    }
    writers.runq[(writers.head + writers.count++) % writers.cap] = c;
    pthread_cond_signal(&writers.ready);
    return true;
}

/* With c->lock held: puts c on the run queue unless it is there. */
static void conn_schedule(conn *c)
{
    ASSERT_LOCKED(&c->lock);
    if (c->scheduled || c->writing)
        return;
    conn_ref(c);
    pthread_mutex_lock(&writers.lock);
    bool ok = runq_push(c);
    pthread_mutex_unlock(&writers.lock);
    if (ok)
        c->scheduled = true;
    else
        atomic_fetch_sub(&c->refs, 1); /* never the last: the caller has one */
}

static outframe *close_frame(uint16_t code, const char *reason);
static bool conn_append(conn *c, outframe *f);

/* With c->lock held: c cannot keep up. Drop what it has and end it. The
 * queue holds whole frames only, so the stream is at a frame boundary and
 * a close frame (1008) can still go out to a client that reads at all; its
 * worker reads on until the client answers it (conn_drain). */
static void conn_overflow(conn *c)
{
    ASSERT_LOCKED(&c->lock);
    bool was_closing = c->closing;
    conn_drop_queue(c);
    conn_mark_closing(c);
    atomic_fetch_add(&conn_slow_closes, 1);
    LOG(LOG_INFO, "event=slow_consumer conn=%llu ip=%s action=close",
        (unsigned long long)c->id, c->ip);
    if (c->gone)
        return;
    outframe *f = was_closing ? NULL : close_frame(CLOSE_POLICY,
                                                   "slow consumer");
    if (f != NULL && conn_append(c, f))
        conn_schedule(c);
    else
        mg_disable_connection_keep_alive(c->mg); /* leaves the read loop */
    outframe_unref(f);
}

/* With c->lock held: whether c's queue is over its limits `times` over. */
static bool conn_over(const conn *c, size_t more, unsigned times)
{
    const config *cfg = writers.cfg;
    ASSERT_LOCKED(&c->lock);
    return c->qcount >= (unsigned)cfg->send_queue_frames * times ||
           c->qbytes + more > (size_t)cfg->send_queue_bytes * times;
}

/* With c->lock held: appends f (taking a reference); false without
 * memory, and then nothing changed. */
static bool conn_append(conn *c, outframe *f)
{
    ASSERT_LOCKED(&c->lock);
    if (c->qcount == c->qcap) {
        unsigned cap = c->qcap ? c->qcap * 2 : 8;
        outframe **q = malloc(cap * sizeof *q);
        if (q == NULL)
            return false;
        for (unsigned i = 0; i < c->qcount; i++)
            q[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = q;
        c->qhead = 0;
        c->qcap = cap;
    }
    atomic_fetch_add(&f->refs, 1);
    c->q[(c->qhead + c->qcount++) % c->qcap] = f;
    c->qbytes += f->len;
    ASSERT(c->qcount <= c->qcap);
    return true;
}

static bool conn_push(conn *c, outframe *f, bool bounded)
{
    ASSERT_LOCKED(&c->lock);
    if (bounded && conn_over(c, f->len, 1)) {
        int64_t now = clock_mono_ms();
        if (c->over_since == 0)
            c->over_since = now;
        /* A frame over the byte limit on its own (a picture, a big history
         * answer) says nothing about the reader: only what was queued
         * before it counts toward the instant close; the grace still
         * applies while it waits to be written. */
        size_t more =
            f->len > (size_t)writers.cfg->send_queue_bytes ? 0 : f->len;
        if (conn_over(c, more, 4) ||
            now - c->over_since > writers.cfg->write_timeout_ms) {
            atomic_fetch_add(&conn_queue_drops, 1);
            conn_overflow(c);
            return false;
        }
    }
    if (!conn_append(c, f)) {
        conn_overflow(c);
        return false;
    }
    conn_schedule(c);
    return true;
}

bool conn_send(conn *c, outframe *f)
{
    pthread_mutex_lock(&c->lock);
    bool ok = !c->closing && !c->gone && conn_push(c, f, true);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

bool conn_send_text(conn *c, const char *json, size_t len)
{
    outframe *f = outframe_new(MG_WEBSOCKET_OPCODE_TEXT, json, len);
    if (f == NULL)
        return false;
    bool ok = conn_send(c, f);
    outframe_unref(f);
    return ok;
}

static outframe *close_frame(uint16_t code, const char *reason)
{
    char body[125];
    size_t n = 0;
    if (code != 0) {
        body[0] = (char)(code >> 8);
        body[1] = (char)(code & 0xff);
        n = 2;
        size_t r = reason ? strlen(reason) : 0;
        if (r > sizeof body - 2)
            r = sizeof body - 2;
        if (r > 0) /* memcpy from NULL is undefined even for 0 bytes */
            memcpy(body + 2, reason, r);
        n += r;
    }
    return outframe_new(MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, body, n);
}

void conn_close(conn *c, uint16_t code, const char *reason)
{
    outframe *f = close_frame(code, reason);
    pthread_mutex_lock(&c->lock);
    if (!c->closing && !c->gone) {
        if (f == NULL)
            conn_overflow(c);
        else
            conn_push(c, f, false); /* on failure it ended c itself */
        conn_mark_closing(c);
        LOG(LOG_DEBUG, "event=close_start conn=%llu code=%u",
            (unsigned long long)c->id, (unsigned)code);
    }
    pthread_mutex_unlock(&c->lock);
    outframe_unref(f);
}

/* With c->lock held: waits until no writer is inside mg_write on c. */
static void conn_wait_write(conn *c)
{
    ASSERT_LOCKED(&c->lock);
    while (c->writing) {
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_lock(&writers.lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&writers.idle, &writers.lock, &ts);
        pthread_mutex_unlock(&writers.lock);
        pthread_mutex_lock(&c->lock);
    }
}

static size_t conn_gather(conn *c, wbuf *buf, bool *close_after,
                          unsigned *frames);

void conn_close_now(conn *c, uint16_t code)
{
    wbuf buf = {0};
    bool close_after, first;
    unsigned frames;
    pthread_mutex_lock(&c->lock);
    first = !c->closing;
    conn_mark_closing(c);
    conn_wait_write(c);
    /* What is queued (answers to the client's last events, an error that
     * explains the close) goes out first, then the close frame. */
    conn_gather(c, &buf, &close_after, &frames);
    conn_drop_queue(c);
    pthread_mutex_unlock(&c->lock);
    outframe *f = first && !close_after ? close_frame(code, NULL) : NULL;
    if (f != NULL)
        wbuf_bytes(&buf, f->data, f->len);
    if (buf.len > 0 && !buf.failed) {
        mg_lock_connection(c->mg);
        mg_write(c->mg, buf.data, buf.len);
        mg_unlock_connection(c->mg);
    }
    outframe_unref(f);
    wbuf_free(&buf);
}

void conn_gone(conn *c)
{
    pthread_mutex_lock(&c->lock);
    conn_mark_closing(c);
    conn_wait_write(c);
    conn_drop_queue(c);
    c->gone = true;
    c->mg = NULL;
    pthread_mutex_unlock(&c->lock);
}

/* Gathers up to WRITE_CHUNK bytes of c's queue into buf (with c->lock
 * held). Sets *close_after when the batch ends with a close frame. */
static size_t conn_gather(conn *c, wbuf *buf, bool *close_after,
                          unsigned *frames)
{
    ASSERT_LOCKED(&c->lock);
    wbuf_reset(buf);
    *close_after = false;
    *frames = 0;
    while (c->qcount > 0 && (buf->len == 0 || buf->len < WRITE_CHUNK)) {
        outframe *f = c->q[c->qhead];
        wbuf_bytes(buf, f->data, f->len);
        if (((unsigned char)f->data[0] & 0x0f) ==
            MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
            *close_after = true;
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qcount--;
        ASSERT(c->qbytes >= f->len); /* qbytes is the sum of the queue's lengths */
        c->qbytes -= f->len;
        outframe_unref(f);
        (*frames)++;
    }
    ASSERT(c->qcount > 0 || c->qbytes == 0);
    return buf->len;
}

/* One writer's turn on c: write what is queued, once. */
static void writer_turn(conn *c, wbuf *buf)
{
    bool close_after;
    unsigned frames;
    pthread_mutex_lock(&c->lock);
    c->scheduled = false;
    if (c->gone || c->qcount == 0) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    conn_gather(c, buf, &close_after, &frames);
    if (!conn_over(c, 0, 1))
        c->over_since = 0; /* it keeps up */
    c->writing = true;
    struct mg_connection *mg = c->mg;
    pthread_mutex_unlock(&c->lock);

    int n = -1;
    if (!buf->failed) {
        mg_lock_connection(mg);
        n = mg_write(mg, buf->data, buf->len);
        mg_unlock_connection(mg);
    }

    pthread_mutex_lock(&c->lock);
    c->writing = false;
    if (n != (int)buf->len) {
        /* A short write leaves half a frame on the wire: the stream is
         * unusable, so the connection ends here. */
        if (!c->closing) {
            LOG(LOG_INFO, "event=write_failed conn=%llu ip=%s",
                (unsigned long long)c->id, c->ip);
            atomic_fetch_add(&conn_slow_closes, 1);
        }
        conn_drop_queue(c);
        conn_mark_closing(c);
        mg_disable_connection_keep_alive(mg);
    } else {
        atomic_fetch_add(&conn_frames_out, frames);
        /* After a close frame the worker reads on until the client's
         * close (conn_drain): leaving now could reset the connection
         * under a client still sending, and lose the close frame. */
        if (!close_after && c->qcount > 0)
            conn_schedule(c);
    }
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&writers.lock);
    pthread_cond_broadcast(&writers.idle);
    pthread_mutex_unlock(&writers.lock);
}

static void *writer_main(void *arg)
{
    (void)arg;
    wbuf buf = {0};
    pthread_setname_np(pthread_self(), "writer");
    for (;;) {
        pthread_mutex_lock(&writers.lock);
        while (writers.count == 0 && !writers.stop)
            pthread_cond_wait(&writers.ready, &writers.lock);
        if (writers.count == 0) {
            pthread_mutex_unlock(&writers.lock);
            break;
        }
        conn *c = writers.runq[writers.head];
        writers.head = (writers.head + 1) % writers.cap;
        writers.count--;
        pthread_mutex_unlock(&writers.lock);
        writer_turn(c, &buf);
        conn_unref(c);
    }
    wbuf_free(&buf);
    return NULL;
}

rc conns_start(const config *cfg)
{
    writers.cfg = cfg;
    writers.nthreads = cfg->writers;
    writers.threads = calloc((size_t)writers.nthreads, sizeof *writers.threads);
    if (writers.threads == NULL)
        return RC_NOMEM;
    for (long i = 0; i < writers.nthreads; i++)
        if (pthread_create(&writers.threads[i], NULL, writer_main, NULL) != 0)
            return RC_INTERNAL;
    return RC_OK;
}

void conns_stop(void)
{
    pthread_mutex_lock(&writers.lock);
    writers.stop = true;
    pthread_cond_broadcast(&writers.ready);
    pthread_mutex_unlock(&writers.lock);
    for (long i = 0; i < writers.nthreads; i++)
        pthread_join(writers.threads[i], NULL);
    free(writers.threads);
    free(writers.runq);
    writers.runq = NULL;
}

static int64_t close_wait_ms(void)
{
    return CONN_CLOSE_WAIT_MS + writers.cfg->write_timeout_ms;
}

enum conn_drain conn_drain(conn *c, int64_t now_ms)
{
    pthread_mutex_lock(&c->lock);
    enum conn_drain d = CONN_OPEN;
    if (c->closing)
        d = c->ended || now_ms - c->closing_ms > close_wait_ms()
                ? CONN_DRAINED
                : CONN_DRAINING;
    pthread_mutex_unlock(&c->lock);
    return d;
}

static int sockaddr_port(const struct sockaddr_storage *sa)
{
    return sa->ss_family == AF_INET
               ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
               : ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* With c->lock held and c not gone: finds c's socket and shuts it down.
 * civetweb exposes no descriptor, so /proc/self/fd is searched (rare: only
 * for stuck closes), for the socket with c's peer address and port and the
 * listening port it came in on. While c is not gone civetweb has not
 * closed that socket (it does so after the close handler, which marks c
 * gone under this lock), so that TCP 4-tuple names exactly one open
 * socket, c's: behind the front proxy every peer is 127.0.0.1, and a
 * search done after the socket was closed could find another client on a
 * reused port. Searching at every connect instead would cost a pass over
 * every descriptor per connection (10,000 of them at full load). */
static void conn_shutdown_socket(conn *c)
{
    ASSERT_LOCKED(&c->lock);
    ASSERT(!c->gone);
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        struct sockaddr_storage sa, la;
        socklen_t len = sizeof sa, llen = sizeof la;
        char host[64];
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d) ||
            getpeername(fd, (struct sockaddr *)&sa, &len) != 0 ||
            sockaddr_port(&sa) != c->peer_port ||
            getsockname(fd, (struct sockaddr *)&la, &llen) != 0 ||
            sockaddr_port(&la) != c->local_port ||
            getnameinfo((struct sockaddr *)&sa, len, host, sizeof host, NULL,
                        0, NI_NUMERICHOST) != 0 ||
            strcmp(host, c->peer) != 0)
            continue;
        shutdown(fd, SHUT_RDWR); /* civetweb still owns and closes it */
        break;
    }
    closedir(d);
}

void conn_check_close(conn *c, int64_t now_ms)
{
    pthread_mutex_lock(&c->lock);
    int64_t age = now_ms - c->closing_ms;
    if (c->closing && !c->gone && age > close_wait_ms() && !c->ended) {
        /* The client has not answered the close: its worker leaves the
         * read loop at its next read timeout or frame. */
        c->ended = true;
        mg_disable_connection_keep_alive(c->mg);
    }
    if (c->closing && !c->gone && age > close_wait_ms() + CONN_STUCK_MS &&
        !c->forced) {
        c->forced = true;
        LOG(LOG_INFO, "event=stuck_close conn=%llu ip=%s action=shutdown",
            (unsigned long long)c->id, c->ip);
        conn_shutdown_socket(c);
    }
    pthread_mutex_unlock(&c->lock);
}
