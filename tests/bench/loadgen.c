/*
 * loadgen: the roomcast benchmark's load generator.
 *
 * A self-contained WebSocket client (RFC 6455: handshake with
 * Sec-WebSocket-Key and a checked Sec-WebSocket-Accept, masked client frames,
 * server frames with 7/16/64-bit lengths, fragments, ping/pong, close) driven
 * by epoll, that speaks roomcast's client protocol (docs/protocol.md).
 * It depends on nothing but libc and pthreads, so that it measures the server
 * and not a client library, and so that it can hold 10,000 sockets cheaply.
 *
 * Modes:
 *   fanout  N members per room enter the room, then one sender per room (a
 *           member too) posts messages at full speed with a bounded number in
 *           flight, or at a fixed rate; every member timestamps every copy.
 *   idle    N connections that only read their welcome and answer heartbeats,
 *           held until SIGTERM/SIGINT or --hold seconds.
 *   --binary B (with fanout): the sender posts binary messages (pictures)
 *           of B payload bytes instead of text; the benchmark's sequence
 *           number and send time travel in the header's `id`.
 *
 * Each scenario prints one `result key=value ...` line (for scripts) and a
 * small table (for people). See usage() for the flags.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 16
#define MAX_THREADS 16

/* ------------------------------------------------------------------ config */

struct target {
    struct sockaddr_in addr;
    char hostport[160]; /* Host header */
    char path[256];
};

enum mode { MODE_FANOUT, MODE_IDLE };

static struct {
    enum mode mode;
    struct target targets[MAX_TARGETS];
    int ntargets;
    int members, rooms, conns, threads, window, size, concurrency, uids;
    int shard, shards;   /* --shard I/N: this process runs the I-th of N parts */
    char sync_dir[256];  /* --sync DIR: how the parts meet (see sync_*) */
    double duration, rate, drain, hold, setup_timeout, connect_timeout;
    char room_prefix[40];
    char label[64];
    int server_pids[8];
    int nserver_pids;
    int binary; /* payload bytes of binary messages; 0: text messages */
} cfg = {
    .members = 100, .rooms = 1, .conns = 10000, .threads = 1, .window = 0, .size = 120,
    .concurrency = 256, .duration = 10, .rate = 0, .drain = 2, .hold = 0,
    .setup_timeout = 120, .connect_timeout = 20, .shards = 1,
};

/* ------------------------------------------------------------------ time */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
    nanosleep(&ts, NULL); /* an early return on a signal is fine: callers loop */
}

/* ------------------------------------------------------------------ SHA-1, base64 (handshake only) */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t b[64])
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (bb & c) | (~bb & d); k = 0x5A827999; }
        else if (i < 40) { f = bb ^ c ^ d; k = 0x6ED9EBA1; }
        else if (i < 60) { f = (bb & c) | (bb & d) | (c & d); k = 0x8F1BBCDC; }
        else { f = bb ^ c ^ d; k = 0xCA62C1D6; }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d; d = c; c = rol(bb, 30); bb = a; a = t;
    }
    h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e;
}

static void sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
    uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };
    uint8_t block[64];
    uint64_t bits = (uint64_t)len * 8;
    size_t total = ((len + 8) / 64 + 1) * 64; /* message + 0x80 + 64-bit length, padded */
    for (size_t off = 0; off < total; off += 64) {
        for (size_t j = 0; j < 64; j++) {
            size_t k = off + j;
            block[j] = k < len ? data[k] : k == len ? 0x80 : 0;
        }
        if (off + 64 == total)
            for (int j = 0; j < 8; j++)
                block[56 + j] = (uint8_t)(bits >> (56 - 8 * j));
        sha1_block(h, block);
    }
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

static void base64(const uint8_t *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = 0;
}

/* ------------------------------------------------------------------ latency histogram */

/* Log-linear buckets (64 per power of two, so under 1.6 % error) over
 * nanoseconds: constant memory however many deliveries a run records. */
#define HIST_BUCKETS (128 + 57 * 64)

struct hist {
    uint64_t count, max;
    uint64_t b[HIST_BUCKETS];
};

static int hist_index(uint64_t v)
{
    if (v < 128)
        return (int)v;
    int e = 63 - __builtin_clzll(v); /* >= 7 */
    uint64_t top = v >> (e - 6);     /* 64..127 */
    return 128 + (e - 7) * 64 + (int)(top - 64);
}

static uint64_t hist_value(int idx)
{
    if (idx < 128)
        return (uint64_t)idx;
    int e = 7 + (idx - 128) / 64;
    uint64_t top = 64 + (uint64_t)((idx - 128) % 64);
    uint64_t width = 1ull << (e - 6);
    return (top << (e - 6)) + width / 2;
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

static void hist_merge(struct hist *into, const struct hist *from)
{
    for (int i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    if (from->max > into->max)
        into->max = from->max;
}

static uint64_t hist_pct(const struct hist *h, double p)
{
    if (!h->count)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t acc = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        acc += h->b[i];
        if (acc >= rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ------------------------------------------------------------------ minimal JSON field scanner */

/* The server's frames are JSON objects; the benchmark needs a handful of
 * top-level fields. A full parser per delivery would cost more than the rest
 * of the client, so this scanner walks the object once, skipping values it
 * is not asked for (nested ones included), and tolerates any whitespace. */
struct jv {
    const char *p; /* a string's raw bytes (between the quotes), or the value's text */
    size_t n;
    char t;        /* 0 absent, 's' string, 'n' number, 'o' object, 'a' array, 't' true, 'f' false, 'z' null */
};

static const char *jws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *jstr_end(const char *p, const char *e)
{
    while (p < e) {
        if (*p == '\\') { p += 2; continue; }
        if (*p == '"') return p;
        p++;
    }
    return NULL;
}

static const char *jskip(const char *p, const char *e, struct jv *v)
{
    p = jws(p, e);
    if (p >= e)
        return NULL;
    const char *s = p;
    if (*p == '"') {
        const char *q = jstr_end(p + 1, e);
        if (!q)
            return NULL;
        *v = (struct jv){ p + 1, (size_t)(q - p - 1), 's' };
        return q + 1;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < e) {
            char c = *p;
            if (c == '"') {
                p = jstr_end(p + 1, e);
                if (!p)
                    return NULL;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                p++;
                *v = (struct jv){ s, (size_t)(p - s), *s == '{' ? 'o' : 'a' };
                return p;
            }
            p++;
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
        p++;
    *v = (struct jv){ s, (size_t)(p - s), *s == 't' ? 't' : *s == 'f' ? 'f' : *s == 'n' ? 'z' : 'n' };
    return p;
}

struct jkey { const char *k; size_t n; };
#define JK(s) { s, sizeof(s) - 1 }

static int jscan(const char *p, size_t n, const struct jkey *keys, int nk, struct jv *out)
{
    const char *e = p + n;
    for (int i = 0; i < nk; i++)
        out[i].t = 0;
    p = jws(p, e);
    if (p >= e || *p != '{')
        return -1;
    p = jws(p + 1, e);
    if (p < e && *p == '}')
        return 0;
    for (;;) {
        p = jws(p, e);
        if (p >= e || *p != '"')
            return -1;
        const char *ks = p + 1, *ke = jstr_end(ks, e);
        if (!ke)
            return -1;
        p = jws(ke + 1, e);
        if (p >= e || *p != ':')
            return -1;
        struct jv v;
        p = jskip(p + 1, e, &v);
        if (!p)
            return -1;
        for (int i = 0; i < nk; i++)
            if (keys[i].n == (size_t)(ke - ks) && !memcmp(keys[i].k, ks, keys[i].n))
                out[i] = v;
        p = jws(p, e);
        if (p >= e)
            return -1;
        if (*p == ',') { p++; continue; }
        return *p == '}' ? 0 : -1;
    }
}

static bool jeq(const struct jv *v, const char *s)
{
    size_t n = strlen(s);
    return v->t == 's' && v->n == n && !memcmp(v->p, s, n);
}

/* Parses leading decimal digits; *end gets the first other character. */
static uint64_t parse_u64(const char *p, const char *e, const char **end)
{
    uint64_t v = 0;
    while (p < e && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (end)
        *end = p;
    return v;
}

/* ------------------------------------------------------------------ shared state */

enum { PH_SETUP, PH_SEND, PH_DRAIN, PH_DONE };
static _Atomic int g_phase = PH_SETUP;
static volatile sig_atomic_t g_signal;

static _Atomic uint64_t g_open, g_welcomed, g_entered, g_settled, g_failed, g_server_closed;
static _Atomic int g_last_close_code;
static _Atomic uint64_t g_fail_connect, g_fail_http, g_fail_timeout, g_fail_early_close;
static _Atomic int g_errors_printed;

enum kind { K_CONN = 1, K_SENDER, K_WAKE };
enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED };

struct sender;
struct worker;

struct conn {
    int kind; /* K_CONN: epoll tags start with their kind */
    int fd;
    enum cstate state;
    int idx, room;
    struct target *tgt;
    struct worker *w;
    struct sender *sender; /* non-NULL for the room's sender */
    uint64_t t_start;
    char key[32];
    uint8_t *rbuf;
    size_t rlen, rcap;
    uint8_t *wbuf;
    size_t wlen, woff, wcap;
    uint8_t *frag; /* a fragmented message being reassembled */
    size_t fraglen, fragcap;
    bool in_frag, want_out, welcomed, entered, settled, close_sent;
    uint64_t rng;
    double rate_limit; /* welcome.limits.rate_per_s, 0 while unknown */
    uint64_t max_num;
    /* deliveries (fanout) */
    uint64_t *seen; /* bitmap of the benchmark sequence numbers received */
    size_t seen_words;
    uint64_t last_seq, last_server_seq, uniq, dups;
    bool order_bad;
};

struct sender {
    int kind; /* K_SENDER: its timerfd's epoll tag */
    struct conn *c;
    int tfd;
    uint64_t seq_sent, acked;
    _Atomic uint64_t sent_pub; /* seq_sent, readable by the main thread */
    uint64_t t0, first_ns, last_send_ns, last_ack_ns, window_stalls;
    double tokens;
    uint64_t tok_ns;
};

struct worker {
    int kind; /* K_WAKE: its eventfd's epoll tag */
    int id, ep, evfd;
    pthread_t th;
    struct conn **conns;
    int nconns, next_start, pending, cap;
    struct sender **senders;
    int nsenders;
    struct hist hist;
    _Atomic uint64_t delivered;
    _Atomic int stopped_sending;
    uint64_t errors, rate_limited, last_delivery_ns, last_sweep;
    int last_phase;
};

static struct conn *g_conns;
static int g_nconns;
static struct sender *g_senders;
static struct worker g_workers[MAX_THREADS];

static void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report_error(const char *fmt, ...)
{
    /* The first few failures are worth reading; 10,000 copies are not. */
    if (atomic_fetch_add(&g_errors_printed, 1) >= 10)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------------ connection I/O */

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

static void ep_mod(struct conn *c, bool out)
{
    if (c->want_out == out)
        return;
    struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static void conn_close(struct conn *c, bool failed)
{
    if (c->state == C_CLOSED)
        return;
    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
        c->w->pending--;
        failed = true;
    }
    /* A connection lost before it got where the setup wanted it (welcomed,
     * or entered in fanout) counts as failed, so the setup does not wait for it. */
    if (atomic_load(&g_phase) == PH_SETUP && !(cfg.mode == MODE_FANOUT ? c->entered : c->welcomed))
        failed = true;
    if (failed)
        atomic_fetch_add(&g_failed, 1);
    if (c->state == C_OPEN)
        atomic_fetch_sub(&g_open, 1);
    close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    c->state = C_CLOSED;
}

static void conn_flush(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ep_mod(c, true);
            return;
        }
        report_error("conn %d: write: %s", c->idx, strerror(errno));
        if (c->state == C_OPEN)
            atomic_fetch_add(&g_server_closed, 1);
        conn_close(c, false);
        return;
    }
    c->woff = c->wlen = 0;
    ep_mod(c, false);
}

static void wbuf_reserve(struct conn *c, size_t more)
{
    if (c->wlen + more <= c->wcap)
        return;
    if (c->woff) { /* reclaim what was already written */
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
        if (c->wlen + more <= c->wcap)
            return;
    }
    size_t cap = c->wcap ? c->wcap : 512;
    while (cap < c->wlen + more)
        cap *= 2;
    uint8_t *nb = realloc(c->wbuf, cap);
    if (!nb) {
        fputs("loadgen: out of memory\n", stderr);
        exit(1);
    }
    c->wbuf = nb;
    c->wcap = cap;
}

/* Appends one masked client frame (RFC 6455 5.2/5.3); the caller flushes. */
static void ws_frame(struct conn *c, int opcode, const void *data, size_t len)
{
    wbuf_reserve(c, len + 14);
    uint8_t *p = c->wbuf + c->wlen;
    size_t h = 0;
    p[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        p[h++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        p[h++] = 0x80 | 126;
        p[h++] = (uint8_t)(len >> 8);
        p[h++] = (uint8_t)len;
    } else {
        p[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            p[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint32_t m = (uint32_t)xorshift(&c->rng);
    uint8_t mask[4] = { (uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)(m >> 24) };
    memcpy(p + h, mask, 4);
    h += 4;
    const uint8_t *src = data;
    for (size_t i = 0; i < len; i++)
        p[h + i] = src[i] ^ mask[i & 3];
    c->wlen += h + len;
}

static void ws_text(struct conn *c, const char *s, size_t n)
{
    ws_frame(c, 0x1, s, n);
}

/* ------------------------------------------------------------------ the benchmark's protocol */

static void room_name(int room, char *out, size_t n)
{
    snprintf(out, n, "%s-%d", cfg.room_prefix, room);
}

/* The member's uid: its own, or with --uids N one of N per room, so that
 * connection i is one of the devices of user i % N. */
static int uid_of(const struct conn *c)
{
    if (cfg.uids <= 0 || cfg.uids >= cfg.members)
        return c->idx;
    return c->room * cfg.members + (c->idx % cfg.members) % cfg.uids;
}

/* Online members a room ends up with, as its `num` counts them. */
static uint64_t room_users(void)
{
    return (uint64_t)(cfg.uids > 0 && cfg.uids < cfg.members ? cfg.uids : cfg.members);
}

static void send_enter(struct conn *c)
{
    char room[64], buf[256];
    room_name(c->room, room, sizeof room);
    int n = snprintf(buf, sizeof buf, "{\"event\":\"enter\",\"room\":\"%s\",\"name\":\"m%d\",\"uid\":\"u%d\"}",
                     room, uid_of(c), uid_of(c));
    ws_text(c, buf, (size_t)n);
    conn_flush(c);
}

static void arm_timer(struct sender *s, uint64_t at)
{
    struct itimerspec its = { .it_value = { .tv_sec = (time_t)(at / 1000000000u), .tv_nsec = (long)(at % 1000000000u) } };
    if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
        its.it_value.tv_nsec = 1; /* zero would disarm it */
    timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* One chat message: "<seq> <send time ns> xxxx..." padded to cfg.size bytes.
 * The send time travels inside the message, so every copy carries it. */
static void send_message(struct sender *s)
{
    struct conn *c = s->c;
    char room[64], text[4200], buf[4400];
    uint64_t seq = s->seq_sent + 1;
    uint64_t t = now_ns();
    int n = snprintf(text, sizeof text, "%llu %llu ", (unsigned long long)seq, (unsigned long long)t);
    while (n < cfg.size && n < (int)sizeof text - 1)
        text[n++] = 'x';
    text[n] = 0;
    room_name(c->room, room, sizeof room);
    int len = snprintf(buf, sizeof buf, "{\"event\":\"message\",\"room\":\"%s\",\"message\":\"%s\"}", room, text);
    ws_text(c, buf, (size_t)len);
    s->seq_sent = seq;
    atomic_store_explicit(&s->sent_pub, seq, memory_order_relaxed);
    if (!s->first_ns)
        s->first_ns = t;
    s->last_send_ns = t;
}

/* ------------------------------------------------------------------ binary messages (--binary) */

static void seen_mark(struct conn *c, uint64_t seq, bool *dup);

/* One binary message (docs/protocol.md "Binary messages"): the 4-byte header
 * length, a header whose `id` is "<seq> <send time ns>", then cfg.binary
 * bytes of payload. */
static void send_binary_message(struct sender *s)
{
    static uint8_t *payload;
    if (!payload) {
        payload = malloc((size_t)cfg.binary);
        if (!payload) {
            fputs("loadgen: out of memory\n", stderr);
            exit(1);
        }
        for (int i = 0; i < cfg.binary; i++)
            payload[i] = (uint8_t)(i * 131 + 7);
    }
    struct conn *c = s->c;
    char room[64], hdr[256];
    uint64_t seq = s->seq_sent + 1;
    uint64_t t = now_ns();
    room_name(c->room, room, sizeof room);
    int n = snprintf(hdr + 4, sizeof hdr - 4,
                     "{\"event\":\"message\",\"room\":\"%s\",\"id\":\"%llu %llu\",\"type\":\"image/png\","
                     "\"filename\":\"bench.png\"}",
                     room, (unsigned long long)seq, (unsigned long long)t);
    hdr[0] = (char)(n >> 24), hdr[1] = (char)(n >> 16), hdr[2] = (char)(n >> 8), hdr[3] = (char)n;
    size_t len = 4 + (size_t)n + (size_t)cfg.binary;
    uint8_t *msg = malloc(len);
    if (!msg) {
        fputs("loadgen: out of memory\n", stderr);
        exit(1);
    }
    memcpy(msg, hdr, 4 + (size_t)n);
    memcpy(msg + 4 + n, payload, (size_t)cfg.binary);
    ws_frame(c, 0x2, msg, len);
    free(msg);
    s->seq_sent = seq;
    atomic_store_explicit(&s->sent_pub, seq, memory_order_relaxed);
    if (!s->first_ns)
        s->first_ns = t;
    s->last_send_ns = t;
}

/* A binary message from the server: counted as a delivery like a text one
 * (the sequence number and send time come from its `id`), and its payload
 * checked to be the one sent, whole. */
static void on_binary(struct conn *c, const uint8_t *p, size_t n, uint64_t t_recv)
{
    static const struct jkey bk[] = { JK("event"), JK("room"), JK("id"), JK("seq"), JK("size"), JK("replay") };
    struct jv f[6];
    size_t h = n >= 4 ? (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3] : 0;
    if (h == 0 || 4 + h > n || jscan((const char *)p + 4, h, bk, 6, f) < 0 || !jeq(&f[0], "message") ||
        f[2].t != 's') {
        c->w->errors++;
        report_error("conn %d: unparsable binary message", c->idx);
        return;
    }
    char room[64];
    room_name(c->room, room, sizeof room);
    if (cfg.mode != MODE_FANOUT || f[5].t == 't' || !jeq(&f[1], room))
        return;
    const char *e = f[2].p + f[2].n, *q;
    uint64_t seq = parse_u64(f[2].p, e, &q);
    uint64_t size = f[4].t == 'n' ? parse_u64(f[4].p, f[4].p + f[4].n, NULL) : 0;
    if (q >= e || *q != ' ' || !seq || size != (uint64_t)cfg.binary || n - 4 - h != size ||
        p[4 + h] != 7 || p[n - 1] != (uint8_t)((size - 1) * 131 + 7)) {
        c->w->errors++;
        report_error("conn %d: binary message not as sent", c->idx);
        return;
    }
    uint64_t sent = parse_u64(q + 1, e, NULL);
    bool dup;
    seen_mark(c, seq, &dup);
    if (dup) {
        c->dups++;
    } else {
        c->uniq++;
        atomic_fetch_add_explicit(&c->w->delivered, 1, memory_order_relaxed);
        hist_add(&c->w->hist, t_recv > sent ? t_recv - sent : 0);
        c->w->last_delivery_ns = t_recv;
        if (c->sender) {
            c->sender->acked++;
            c->sender->last_ack_ns = t_recv;
        }
    }
    uint64_t sseq = f[3].t == 'n' ? parse_u64(f[3].p, f[3].p + f[3].n, NULL) : 0;
    if (seq <= c->last_seq || sseq <= c->last_server_seq) {
        if (!c->order_bad)
            report_error("conn %d: out of order: binary message %llu (server seq %llu)", c->idx,
                         (unsigned long long)seq, (unsigned long long)sseq);
        c->order_bad = true;
    }
    c->last_seq = seq;
    c->last_server_seq = sseq;
}

/* Sends what the window, the target rate and the server's rate limit allow
 * now, and arms the sender's timer for when more will be allowed. */
static void sender_pump(struct sender *s)
{
    struct conn *c = s->c;
    if (atomic_load(&g_phase) != PH_SEND || c->state != C_OPEN)
        return;
    uint64_t now = now_ns();
    int burst = 0;
    for (;;) {
        if (s->seq_sent - s->acked >= (uint64_t)cfg.window) {
            s->window_stalls++;
            break; /* the next echo pumps again */
        }
        if (cfg.rate > 0) {
            uint64_t due = s->t0 + (uint64_t)((double)s->seq_sent * 1e9 / cfg.rate);
            if (due > now) {
                arm_timer(s, due);
                break;
            }
        }
        if (c->rate_limit > 0) {
            /* A little under the server's limit: copies can bunch up on the
             * way, and the server's bucket would then refuse the early one. */
            double rps = c->rate_limit * 0.95;
            s->tokens += (double)(now - s->tok_ns) * rps / 1e9;
            if (s->tokens > c->rate_limit - 1)
                s->tokens = c->rate_limit - 1;
            s->tok_ns = now;
            if (s->tokens < 1) {
                arm_timer(s, now + (uint64_t)((1 - s->tokens) * 1e9 / rps) + 1);
                break;
            }
            s->tokens -= 1;
        }
        if (cfg.binary > 0)
            send_binary_message(s);
        else
            send_message(s);
        if (++burst == 256) {
            /* Let the loop serve reads before sending the rest of a backlog. */
            arm_timer(s, now);
            break;
        }
    }
    conn_flush(c);
}

static void seen_mark(struct conn *c, uint64_t seq, bool *dup)
{
    size_t w = (size_t)(seq / 64);
    if (w >= c->seen_words) {
        size_t nw = c->seen_words ? c->seen_words : 64;
        while (nw <= w)
            nw *= 2;
        uint64_t *nb = realloc(c->seen, nw * sizeof *nb);
        if (!nb) {
            fputs("loadgen: out of memory\n", stderr);
            exit(1);
        }
        memset(nb + c->seen_words, 0, (nw - c->seen_words) * sizeof *nb);
        c->seen = nb;
        c->seen_words = nw;
    }
    uint64_t bit = 1ull << (seq % 64);
    *dup = (c->seen[w] & bit) != 0;
    c->seen[w] |= bit;
}

static const struct jkey KEYS[] = {
    JK("event"), JK("room"), JK("uid"), JK("message"), JK("seq"), JK("replay"), JK("limits"), JK("num"), JK("code"),
};
enum { F_EVENT, F_ROOM, F_UID, F_MESSAGE, F_SEQ, F_REPLAY, F_LIMITS, F_NUM, F_CODE, F_COUNT };

static void on_text(struct conn *c, const char *p, size_t n, uint64_t t_recv)
{
    struct jv f[F_COUNT];
    if (jscan(p, n, KEYS, F_COUNT, f) < 0 || f[F_EVENT].t != 's') {
        c->w->errors++;
        report_error("conn %d: unparsable frame: %.*s", c->idx, (int)(n > 200 ? 200 : n), p);
        return;
    }
    const struct jv *ev = &f[F_EVENT];
    char room[64];
    if (jeq(ev, "message")) {
        if (cfg.mode != MODE_FANOUT || f[F_REPLAY].t == 't' || f[F_MESSAGE].t != 's')
            return;
        room_name(c->room, room, sizeof room);
        if (!jeq(&f[F_ROOM], room))
            return;
        const char *e = f[F_MESSAGE].p + f[F_MESSAGE].n, *q;
        uint64_t seq = parse_u64(f[F_MESSAGE].p, e, &q);
        if (q >= e || *q != ' ' || !seq) {
            c->w->errors++;
            report_error("conn %d: foreign message in the benchmark room", c->idx);
            return;
        }
        uint64_t sent = parse_u64(q + 1, e, NULL);
        bool dup;
        seen_mark(c, seq, &dup);
        if (dup) {
            c->dups++;
        } else {
            c->uniq++;
            atomic_fetch_add_explicit(&c->w->delivered, 1, memory_order_relaxed);
            hist_add(&c->w->hist, t_recv > sent ? t_recv - sent : 0);
            c->w->last_delivery_ns = t_recv;
            if (c->sender) {
                c->sender->acked++;
                c->sender->last_ack_ns = t_recv;
            }
        }
        uint64_t sseq = f[F_SEQ].t == 'n' ? parse_u64(f[F_SEQ].p, f[F_SEQ].p + f[F_SEQ].n, NULL) : 0;
        if (seq <= c->last_seq || (f[F_SEQ].t == 'n' && sseq <= c->last_server_seq)) {
            if (!c->order_bad) /* the first one per member is evidence enough */
                report_error("conn %d: out of order: message %llu (server seq %llu) after %llu (server seq %llu)",
                             c->idx, (unsigned long long)seq, (unsigned long long)sseq,
                             (unsigned long long)c->last_seq, (unsigned long long)c->last_server_seq);
            c->order_bad = true;
        }
        c->last_seq = seq;
        c->last_server_seq = sseq;
        return;
    }
    if (jeq(ev, "heartbeat")) {
        if (jeq(&f[F_MESSAGE], "ping")) {
            static const char pong[] = "{\"event\":\"heartbeat\",\"message\":\"pong\"}";
            ws_text(c, pong, sizeof pong - 1);
            conn_flush(c);
        }
        return;
    }
    if (jeq(ev, "enter")) {
        room_name(c->room, room, sizeof room);
        if (cfg.mode != MODE_FANOUT || !jeq(&f[F_ROOM], room))
            return;
        char uid[24];
        snprintf(uid, sizeof uid, "u%d", uid_of(c));
        if (!c->entered && jeq(&f[F_UID], uid)) {
            c->entered = true;
            atomic_fetch_add(&g_entered, 1);
        }
        if (f[F_NUM].t == 'n') {
            uint64_t num = parse_u64(f[F_NUM].p, f[F_NUM].p + f[F_NUM].n, NULL);
            if (num > c->max_num)
                c->max_num = num;
        }
        /* Settled: this member has seen the enter of the room's last member,
         * so the join storm is behind it before messages start. */
        if (c->entered && !c->settled && c->max_num >= room_users()) {
            c->settled = true;
            atomic_fetch_add(&g_settled, 1);
        }
        return;
    }
    if (jeq(ev, "welcome")) {
        if (c->welcomed)
            return;
        c->welcomed = true;
        atomic_fetch_add(&g_welcomed, 1);
        if (f[F_LIMITS].t == 'o') {
            static const struct jkey lk[] = { JK("rate_per_s") };
            struct jv r;
            if (!jscan(f[F_LIMITS].p, f[F_LIMITS].n, lk, 1, &r) && r.t == 'n')
                c->rate_limit = (double)parse_u64(r.p, r.p + r.n, NULL);
        }
        if (c->sender) {
            c->sender->tokens = c->rate_limit - 1; /* the enter below takes one */
            c->sender->tok_ns = now_ns();
        }
        if (cfg.mode == MODE_FANOUT)
            send_enter(c);
        return;
    }
    if (jeq(ev, "error")) {
        c->w->errors++;
        if (jeq(&f[F_CODE], "rate_limited"))
            c->w->rate_limited++;
        report_error("conn %d: server error: %.*s", c->idx, (int)(n > 300 ? 300 : n), p);
        return;
    }
    /* out, leave, who, history, auth, noauth: nothing to do here. */
}

/* ------------------------------------------------------------------ frame parsing */

static void on_message(struct conn *c, int opcode, const uint8_t *p, size_t n, uint64_t t)
{
    if (opcode == 0x1)
        on_text(c, (const char *)p, n, t);
    else if (cfg.binary > 0)
        on_binary(c, p, n, t);
    else {
        c->w->errors++;
        report_error("conn %d: unexpected binary message", c->idx);
    }
}

static bool frag_append(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->fraglen + n > c->fragcap) {
        size_t cap = c->fragcap ? c->fragcap : 4096;
        while (cap < c->fraglen + n)
            cap *= 2;
        uint8_t *nb = realloc(c->frag, cap);
        if (!nb)
            return false;
        c->frag = nb;
        c->fragcap = cap;
    }
    memcpy(c->frag + c->fraglen, p, n);
    c->fraglen += n;
    return true;
}

/* Consumes every complete frame in rbuf. Returns false when the connection
 * was closed. */
static bool parse_frames(struct conn *c, uint64_t t)
{
    size_t off = 0;
    bool ok = true;
    while (ok && c->rlen - off >= 2) {
        uint8_t *p = c->rbuf + off;
        size_t avail = c->rlen - off;
        int fin = p[0] & 0x80, opcode = p[0] & 0x0f, masked = p[1] & 0x80;
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            h = 10;
        }
        if (masked)
            h += 4;
        if (len > (64u << 20)) {
            report_error("conn %d: server frame of %llu bytes", c->idx, (unsigned long long)len);
            conn_close(c, false);
            return false;
        }
        if (avail < h + len) {
            if (h + len > c->rcap) { /* grow so that the whole frame fits */
                size_t cap = c->rcap;
                while (cap < h + len)
                    cap *= 2;
                uint8_t *nb = realloc(c->rbuf, cap);
                if (!nb) {
                    fputs("loadgen: out of memory\n", stderr);
                    exit(1);
                }
                c->rbuf = nb;
                c->rcap = cap;
            }
            break;
        }
        uint8_t *pl = p + h;
        if (masked) /* servers must not mask (RFC 6455 5.1); unmask anyway */
            for (uint64_t i = 0; i < len; i++)
                pl[i] ^= p[h - 4 + (i & 3)];
        off += h + (size_t)len;
        switch (opcode) {
        case 0x0:
            if (!c->in_frag || !frag_append(c, pl, (size_t)len)) {
                report_error("conn %d: bad continuation frame", c->idx);
                c->w->errors++;
                break;
            }
            if (fin) {
                c->in_frag = false;
                on_message(c, 0x1, c->frag, c->fraglen, t);
                c->fraglen = 0;
            }
            break;
        case 0x1:
        case 0x2:
            if (fin) {
                on_message(c, opcode, pl, (size_t)len, t);
            } else {
                c->in_frag = true;
                c->fraglen = 0;
                frag_append(c, pl, (size_t)len);
            }
            break;
        case 0x8: { /* close: answer with the same code, then hang up */
            int code = len >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
            atomic_store(&g_last_close_code, code);
            if (c->state == C_OPEN)
                atomic_fetch_add(&g_server_closed, 1);
            report_error("conn %d: server closed the connection, code %d", c->idx, code);
            if (!c->close_sent) {
                ws_frame(c, 0x8, pl, len >= 2 ? 2 : 0);
                c->close_sent = true;
                conn_flush(c);
            }
            conn_close(c, false);
            return false;
        }
        case 0x9:
            ws_frame(c, 0xA, pl, (size_t)len);
            conn_flush(c);
            break;
        case 0xA:
            break;
        default:
            report_error("conn %d: reserved opcode %d", c->idx, opcode);
            c->w->errors++;
        }
        if (c->state == C_CLOSED)
            return false;
    }
    if (off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    return true;
}

/* ------------------------------------------------------------------ handshake */

static void conn_start(struct worker *w, struct conn *c)
{
    c->t_start = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        report_error("socket: %s", strerror(errno));
        c->state = C_CLOSED;
        atomic_fetch_add(&g_failed, 1);
        atomic_fetch_add(&g_fail_connect, 1);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = C_CONNECTING;
    w->pending++;
    if (connect(c->fd, (struct sockaddr *)&c->tgt->addr, sizeof c->tgt->addr) < 0 && errno != EINPROGRESS) {
        report_error("connect: %s", strerror(errno));
        atomic_fetch_add(&g_fail_connect, 1);
        conn_close(c, true);
        return;
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    c->want_out = true;
    epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void send_handshake(struct conn *c)
{
    uint8_t raw[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = xorshift(&c->rng);
        memcpy(raw + i, &r, 8);
    }
    base64(raw, 16, c->key);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     c->tgt->path, c->tgt->hostport, c->key);
    wbuf_reserve(c, (size_t)n);
    memcpy(c->wbuf + c->wlen, req, (size_t)n);
    c->wlen += (size_t)n;
    c->state = C_HANDSHAKE;
    conn_flush(c);
}

/* Checks the 101 answer and its Sec-WebSocket-Accept. Returns 1 when done,
 * 0 when more bytes are needed, -1 on failure. */
static int check_handshake(struct conn *c)
{
    char *hdr = (char *)c->rbuf;
    char *end = memmem(hdr, c->rlen, "\r\n\r\n", 4);
    if (!end)
        return c->rlen > 8192 ? -1 : 0;
    size_t hlen = (size_t)(end - hdr) + 4;
    if (c->rlen < 12 || memcmp(hdr, "HTTP/1.1 101", 12)) {
        atomic_fetch_add(&g_fail_http, 1);
        char *eol = memchr(hdr, '\r', hlen);
        report_error("conn %d: upgrade refused: %.*s", c->idx, (int)(eol ? eol - hdr : 40), hdr);
        return -1;
    }
    char cat[80];
    uint8_t dig[20];
    char expect[32];
    int cn = snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
    sha1((uint8_t *)cat, (size_t)cn, dig);
    base64(dig, 20, expect);
    bool good = false;
    for (char *line = memchr(hdr, '\n', hlen); line && line < end; line = memchr(line + 1, '\n', (size_t)(end - line))) {
        static const char name[] = "Sec-WebSocket-Accept:";
        char *l = line + 1;
        if ((size_t)(end - l) > sizeof name - 1 && !strncasecmp(l, name, sizeof name - 1)) {
            char *v = l + sizeof name - 1;
            while (*v == ' ' || *v == '\t')
                v++;
            good = !strncmp(v, expect, strlen(expect));
        }
    }
    if (!good) {
        atomic_fetch_add(&g_fail_http, 1);
        report_error("conn %d: wrong or missing Sec-WebSocket-Accept", c->idx);
        return -1;
    }
    memmove(c->rbuf, c->rbuf + hlen, c->rlen - hlen);
    c->rlen -= hlen;
    return 1;
}

/* ------------------------------------------------------------------ event loop */

static void on_readable(struct conn *c)
{
    if (c->rlen == c->rcap) {
        size_t cap = c->rcap * 2;
        uint8_t *nb = realloc(c->rbuf, cap);
        if (!nb) {
            fputs("loadgen: out of memory\n", stderr);
            exit(1);
        }
        c->rbuf = nb;
        c->rcap = cap;
    }
    ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (c->state == C_OPEN) {
            atomic_fetch_add(&g_server_closed, 1);
            report_error("conn %d: connection closed by the server without a close frame", c->idx);
        } else {
            atomic_fetch_add(&g_fail_early_close, 1);
            report_error("conn %d: connection closed during the handshake", c->idx);
        }
        conn_close(c, false);
        return;
    }
    uint64_t t = now_ns(); /* one receive time for everything this read brought */
    c->rlen += (size_t)n;
    if (c->state == C_HANDSHAKE) {
        int r = check_handshake(c);
        if (r < 0) {
            conn_close(c, true);
            return;
        }
        if (r == 0)
            return;
        c->state = C_OPEN;
        c->w->pending--;
        atomic_fetch_add(&g_open, 1);
    }
    uint64_t acked = c->sender ? c->sender->acked : 0;
    if (!parse_frames(c, t))
        return;
    if (c->sender && c->sender->acked != acked)
        sender_pump(c->sender);
}

static void on_writable(struct conn *c)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            atomic_fetch_add(&g_fail_connect, 1);
            report_error("conn %d: connect: %s", c->idx, strerror(err));
            conn_close(c, true);
            return;
        }
        send_handshake(c);
        return;
    }
    conn_flush(c);
}

static void worker_phase(struct worker *w, int ph)
{
    if (ph == PH_SEND) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < w->nsenders; i++) {
            w->senders[i]->t0 = t0;
            sender_pump(w->senders[i]);
        }
    } else if (ph == PH_DRAIN) {
        /* sender_pump checks the phase, so nothing more goes out from here. */
        atomic_store(&w->stopped_sending, 1);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];
    for (;;) {
        int ph = atomic_load(&g_phase);
        if (ph == PH_DONE)
            break;
        if (ph != w->last_phase) {
            w->last_phase = ph;
            worker_phase(w, ph);
        }
        while (w->pending < w->cap && w->next_start < w->nconns)
            conn_start(w, w->conns[w->next_start++]);
        int n = epoll_wait(w->ep, evs, 256, 50);
        for (int i = 0; i < n; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == K_WAKE) {
                uint64_t v;
                if (read(w->evfd, &v, sizeof v) < 0) { /* spurious wake-ups are harmless */ }
            } else if (kind == K_SENDER) {
                struct sender *s = evs[i].data.ptr;
                uint64_t v;
                if (read(s->tfd, &v, sizeof v) < 0) { /* a disarmed timer */ }
                sender_pump(s);
            } else {
                struct conn *c = evs[i].data.ptr;
                if (c->state == C_CLOSED)
                    continue;
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    on_writable(c);
                if (c->state != C_CLOSED && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                    on_readable(c);
            }
        }
        uint64_t now = now_ns();
        if (now - w->last_sweep > 200000000u) { /* handshakes that take too long fail */
            w->last_sweep = now;
            uint64_t limit = (uint64_t)(cfg.connect_timeout * 1e9);
            for (int i = 0; i < w->next_start; i++) {
                struct conn *c = w->conns[i];
                if ((c->state == C_CONNECTING || c->state == C_HANDSHAKE) && now - c->t_start > limit) {
                    atomic_fetch_add(&g_fail_timeout, 1);
                    report_error("conn %d: handshake timed out", c->idx);
                    conn_close(c, true);
                }
            }
        }
    }
    return NULL;
}

static void wake_workers(void)
{
    for (int i = 0; i < cfg.threads; i++) {
        uint64_t one = 1;
        if (write(g_workers[i].evfd, &one, sizeof one) < 0) { /* the counter is full: already woken */ }
    }
}

/* ------------------------------------------------------------------ setup and reports */

static int parse_url(const char *url, struct target *t)
{
    if (strncmp(url, "ws://", 5))
        return -1;
    const char *h = url + 5, *slash = strchr(h, '/');
    const char *colon = memchr(h, ':', slash ? (size_t)(slash - h) : strlen(h));
    if (!colon)
        return -1;
    char host[128], port[16];
    size_t hl = (size_t)(colon - h);
    size_t pl = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
    if (hl >= sizeof host || pl >= sizeof port || !pl)
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, pl);
    port[pl] = 0;
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
    if (getaddrinfo(host, port, &hints, &res))
        return -1;
    memcpy(&t->addr, res->ai_addr, sizeof t->addr);
    freeaddrinfo(res);
    snprintf(t->hostport, sizeof t->hostport, "%s:%s", host, port);
    snprintf(t->path, sizeof t->path, "%s", slash ? slash : "/");
    return 0;
}

/* CPU seconds used so far by the --server-pid processes (all their threads),
 * from /proc/PID/stat; -1 when one cannot be read. */
static double server_cpu_s(void)
{
    double total = 0;
    long tck = sysconf(_SC_CLK_TCK);
    for (int i = 0; i < cfg.nserver_pids; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", cfg.server_pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')'); /* the command name may hold spaces */
        unsigned long long ut, st;
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
            return -1;
        total += (double)(ut + st) / (double)tck;
    }
    return total;
}

static void on_signal(int sig)
{
    g_signal = sig;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)g_nconns + 64 + 4 * MAX_THREADS; /* + epoll, timers */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        /* Allowed with CAP_SYS_RESOURCE (root), up to fs.nr_open. */
        struct rlimit more = { want, want };
        setrlimit(RLIMIT_NOFILE, &more);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
        fprintf(stderr, "loadgen: warning: RLIMIT_NOFILE %llu is too low for %d connections\n",
                (unsigned long long)rl.rlim_cur, g_nconns);
}

static void usage(FILE *f)
{
    fputs("usage: loadgen fanout|idle --url ws://HOST:PORT/ws [--url ...] [options]\n"
          "  --label NAME        scenario name printed in the result line\n"
          "  --threads N         client threads (default 1)\n"
          "  --concurrency N     handshakes in progress at once (default 256)\n"
          "  --connect-timeout S one handshake's limit (default 20)\n"
          "  --setup-timeout S   limit for connecting and entering everyone (default 120)\n"
          "  --server-pid PID    report the CPU this process uses during the run (repeatable)\n"
          "fanout:\n"
          "  --members N         members per room, the sender included (default 100)\n"
          "  --rooms N           rooms, each with its own sender (default 1)\n"
          "  --duration S        sending time (default 10)\n"
          "  --rate R            messages/s per sender (default: full speed)\n"
          "  --window N          messages in flight per sender (default 128 at full speed, 100000 at a rate)\n"
          "  --size B            message text bytes (default 120)\n"
          "  --binary B          send binary messages of B payload bytes instead (1-8388608)\n"
          "  --drain S           lost = not received after S seconds without a delivery (default 2)\n"
          "  --room PREFIX       room name prefix (default bench-PID-TIME)\n"
          "  --shard I/N         run the I-th of N parts of the members (one room; with --sync)\n"
          "  --sync DIR          where the parts meet: ready.I and sent files\n"
          "  --uids N            N users per room, member i being a device of user i % N (default: one each)\n"
          "idle:\n"
          "  --conns N           connections (default 10000)\n"
          "  --hold S            hold them this long, 0: until SIGTERM/SIGINT (default 0)\n",
          f);
}

static double num_arg(const char *flag, const char *v)
{
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v || *end || d < 0) {
        fprintf(stderr, "loadgen: %s needs a number\n", flag);
        exit(2);
    }
    return d;
}

static void parse_args(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        exit(2);
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        exit(0);
    }
    if (!strcmp(argv[1], "fanout"))
        cfg.mode = MODE_FANOUT;
    else if (!strcmp(argv[1], "idle"))
        cfg.mode = MODE_IDLE;
    else {
        usage(stderr);
        exit(2);
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--url")) {
            if (!v || cfg.ntargets == MAX_TARGETS || parse_url(v, &cfg.targets[cfg.ntargets])) {
                fprintf(stderr, "loadgen: bad or too many --url (ws://HOST:PORT/PATH, at most %d)\n", MAX_TARGETS);
                exit(2);
            }
            cfg.ntargets++;
        } else if (!strcmp(a, "--label")) {
            snprintf(cfg.label, sizeof cfg.label, "%s", v ? v : "");
        } else if (!strcmp(a, "--room")) {
            snprintf(cfg.room_prefix, sizeof cfg.room_prefix, "%s", v ? v : "");
        } else if (!strcmp(a, "--threads")) cfg.threads = (int)num_arg(a, v);
        else if (!strcmp(a, "--concurrency")) cfg.concurrency = (int)num_arg(a, v);
        else if (!strcmp(a, "--connect-timeout")) cfg.connect_timeout = num_arg(a, v);
        else if (!strcmp(a, "--setup-timeout")) cfg.setup_timeout = num_arg(a, v);
        else if (!strcmp(a, "--members")) cfg.members = (int)num_arg(a, v);
        else if (!strcmp(a, "--rooms")) cfg.rooms = (int)num_arg(a, v);
        else if (!strcmp(a, "--duration")) cfg.duration = num_arg(a, v);
        else if (!strcmp(a, "--rate")) cfg.rate = num_arg(a, v);
        else if (!strcmp(a, "--window")) cfg.window = (int)num_arg(a, v);
        else if (!strcmp(a, "--size")) cfg.size = (int)num_arg(a, v);
        else if (!strcmp(a, "--binary")) cfg.binary = (int)num_arg(a, v);
        else if (!strcmp(a, "--drain")) cfg.drain = num_arg(a, v);
        else if (!strcmp(a, "--conns")) cfg.conns = (int)num_arg(a, v);
        else if (!strcmp(a, "--uids")) cfg.uids = (int)num_arg(a, v);
        else if (!strcmp(a, "--shard")) {
            if (!v || sscanf(v, "%d/%d", &cfg.shard, &cfg.shards) != 2 || cfg.shards < 1 || cfg.shard < 0 ||
                cfg.shard >= cfg.shards) {
                fputs("loadgen: --shard I/N with 0 <= I < N\n", stderr);
                exit(2);
            }
        } else if (!strcmp(a, "--sync"))
            snprintf(cfg.sync_dir, sizeof cfg.sync_dir, "%s", v ? v : "");
        else if (!strcmp(a, "--hold")) cfg.hold = num_arg(a, v);
        else if (!strcmp(a, "--server-pid")) {
            if (cfg.nserver_pids == 8) {
                fputs("loadgen: at most 8 --server-pid\n", stderr);
                exit(2);
            }
            cfg.server_pids[cfg.nserver_pids++] = (int)num_arg(a, v);
        }
        else {
            fprintf(stderr, "loadgen: unknown option %s\n", a);
            usage(stderr);
            exit(2);
        }
        i++;
    }
    if (!cfg.ntargets) {
        fputs("loadgen: at least one --url is needed\n", stderr);
        exit(2);
    }
    if (cfg.threads < 1 || cfg.threads > MAX_THREADS || cfg.members < 1 || cfg.rooms < 1 || cfg.conns < 1 ||
        cfg.concurrency < 1 || cfg.size < 40 || cfg.size > 4000 || cfg.binary < 0 || cfg.binary > (8 << 20)) {
        fputs("loadgen: --threads 1-16, --members/--rooms/--conns/--concurrency >= 1, --size 40-4000\n", stderr);
        exit(2);
    }
    if (cfg.shards > 1 && (cfg.mode != MODE_FANOUT || cfg.rooms != 1 || !cfg.sync_dir[0] || !cfg.room_prefix[0])) {
        fputs("loadgen: --shard is for fanout with one room, --sync DIR and the same --room in every part\n", stderr);
        exit(2);
    }
    if (!cfg.window)
        cfg.window = cfg.rate > 0 ? 100000 : 128;
    if (!cfg.room_prefix[0])
        snprintf(cfg.room_prefix, sizeof cfg.room_prefix, "bench-%d-%lld", (int)getpid(), (long long)time(NULL));
    if (!cfg.label[0])
        snprintf(cfg.label, sizeof cfg.label, "%s", argv[1]);
}

static void setup(void)
{
    int total = cfg.mode == MODE_FANOUT ? cfg.members * cfg.rooms : cfg.conns;
    /* This part's members: global indexes lo..hi-1 (all of them unsharded). */
    int lo = (int)((long long)total * cfg.shard / cfg.shards);
    int hi = (int)((long long)total * (cfg.shard + 1) / cfg.shards);
    g_nconns = hi - lo;
    raise_nofile();
    g_conns = calloc((size_t)g_nconns, sizeof *g_conns);
    g_senders = calloc((size_t)cfg.rooms, sizeof *g_senders);
    if (!g_conns || !g_senders) {
        fputs("loadgen: out of memory\n", stderr);
        exit(1);
    }
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = now_ns();
    for (int t = 0; t < cfg.threads; t++) {
        struct worker *w = &g_workers[t];
        w->kind = K_WAKE;
        w->id = t;
        w->last_phase = -1;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->evfd, &ev);
        w->conns = calloc((size_t)(g_nconns / cfg.threads + 1), sizeof *w->conns);
        w->senders = calloc((size_t)(cfg.rooms / cfg.threads + 1), sizeof *w->senders);
        w->cap = cfg.concurrency / cfg.threads > 0 ? cfg.concurrency / cfg.threads : 1;
        if (!w->conns || !w->senders || w->ep < 0 || w->evfd < 0) {
            fputs("loadgen: cannot set up a worker\n", stderr);
            exit(1);
        }
    }
    /* Idle connections need a small buffer; fan-out members read a lot
     * (a buffer grows when a read fills it, so big runs start smaller). */
    size_t rcap = cfg.mode != MODE_FANOUT ? 2048 : g_nconns > 5000 ? 8192 : 65536;
    for (int i = 0; i < g_nconns; i++) {
        struct conn *c = &g_conns[i];
        struct worker *w = &g_workers[i % cfg.threads];
        c->kind = K_CONN;
        c->fd = -1;
        int g = lo + i; /* the member's index over all parts */
        c->idx = g;
        c->room = cfg.mode == MODE_FANOUT ? g / cfg.members : 0;
        c->tgt = &cfg.targets[g % cfg.ntargets];
        c->w = w;
        c->rng = seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(g + 1));
        if (!c->rng)
            c->rng = 1;
        c->rbuf = malloc(rcap);
        c->rcap = rcap;
        if (!c->rbuf) {
            fputs("loadgen: out of memory\n", stderr);
            exit(1);
        }
        w->conns[w->nconns++] = c;
        if (cfg.mode == MODE_FANOUT && g % cfg.members == 0) {
            struct sender *s = &g_senders[c->room];
            s->kind = K_SENDER;
            s->c = c;
            s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
            struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
            epoll_ctl(w->ep, EPOLL_CTL_ADD, s->tfd, &ev);
            c->sender = s;
            w->senders[w->nsenders++] = s;
        }
    }
}

static void start_workers(void)
{
    for (int t = 0; t < cfg.threads; t++)
        if (pthread_create(&g_workers[t].th, NULL, worker_main, &g_workers[t])) {
            fputs("loadgen: pthread_create failed\n", stderr);
            exit(1);
        }
}

static void stop_workers(void)
{
    atomic_store(&g_phase, PH_DONE);
    wake_workers();
    for (int t = 0; t < cfg.threads; t++)
        pthread_join(g_workers[t].th, NULL);
}

static void failures_line(char *out, size_t n)
{
    snprintf(out, n, "connect_failed=%llu fail_tcp=%llu fail_http=%llu fail_timeout=%llu fail_closed=%llu",
             (unsigned long long)atomic_load(&g_failed), (unsigned long long)atomic_load(&g_fail_connect),
             (unsigned long long)atomic_load(&g_fail_http), (unsigned long long)atomic_load(&g_fail_timeout),
             (unsigned long long)atomic_load(&g_fail_early_close));
}

/* Waits until every connection has either reached the wanted state (counted
 * by *done) or failed, the setup timeout, or a signal. */
static bool wait_for(const char *what, _Atomic uint64_t *done, uint64_t want, double timeout, bool count_failed)
{
    uint64_t t0 = now_ns(), last_note = t0;
    while (!g_signal) {
        uint64_t d = atomic_load(done), f = count_failed ? atomic_load(&g_failed) : 0;
        if (d + f >= want)
            return d >= want;
        uint64_t now = now_ns();
        if (now - t0 > (uint64_t)(timeout * 1e9))
            return false;
        if (now - last_note > 5000000000u) {
            fprintf(stderr, "loadgen: %s: %llu/%llu %s so far, %llu failed\n", cfg.label, (unsigned long long)d,
                    (unsigned long long)want, what, (unsigned long long)atomic_load(&g_failed));
            last_note = now;
        }
        sleep_ns(5000000);
    }
    return false;
}

/* --- parts (--shard, --sync): one room's members over several processes,
 * when one process may not hold them all (its open-file limit). The part
 * with the room's sender starts sending once every part has written
 * DIR/ready.I (its members settled), and writes DIR/sent (messages sent)
 * when it stops; the other parts read that to know what every member
 * should have got. Send times travel in the messages (CLOCK_MONOTONIC),
 * so every part measures latency alike. */

static uint64_t g_remote_sent; /* DIR/sent, in a part without the sender */

/* Messages the room's sender sent: here, or in another part. */
static uint64_t room_sent(int room)
{
    if (g_senders[room].c != NULL)
        return atomic_load(&g_senders[room].sent_pub);
    return g_remote_sent;
}

static void sync_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", cfg.sync_dir, name);
}

/* Writes DIR/name with text, whole (rename), so a reader never sees half. */
static void sync_write(const char *name, const char *text)
{
    char path[320], tmp[330];
    sync_path(path, sizeof path, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
        fprintf(stderr, "loadgen: cannot write %s\n", path);
}

/* Waits (bounded) until DIR/name exists; reads its number into *v. */
static bool sync_wait(const char *name, double timeout, uint64_t *v)
{
    char path[320];
    sync_path(path, sizeof path, name);
    uint64_t end = now_ns() + (uint64_t)(timeout * 1e9);
    while (!g_signal && now_ns() < end) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            unsigned long long x = 0;
            int ok = fscanf(f, "%llu", &x);
            fclose(f);
            if (v != NULL)
                *v = ok == 1 ? x : 0;
            return true;
        }
        sleep_ns(5000000);
    }
    fprintf(stderr, "loadgen: %s: no %s after %.0f s\n", cfg.label, path, timeout);
    return false;
}

static int run_fanout(void)
{
    uint64_t t_setup = now_ns();
    start_workers();
    bool all = wait_for("entered", &g_entered, (uint64_t)g_nconns, cfg.setup_timeout, true);
    uint64_t entered = atomic_load(&g_entered);
    if (!all)
        fprintf(stderr, "loadgen: %s: only %llu of %d members entered\n", cfg.label, (unsigned long long)entered,
                g_nconns);
    /* Let the enter broadcasts finish, so the join storm does not sit in front
     * of the first messages; bounded, since a failed member never settles. */
    wait_for("saw the room's last enter", &g_settled, entered, all ? 30 : 3, false);
    double setup_s = (double)(now_ns() - t_setup) / 1e9;
    if (!entered || g_signal) {
        stop_workers();
        char fl[256];
        failures_line(fl, sizeof fl);
        printf("result scenario=%s mode=fanout error=setup members=%d rooms=%d entered=%llu %s\n", cfg.label,
               cfg.members, cfg.rooms, (unsigned long long)entered, fl);
        return 1;
    }

    bool sender_here = g_senders[0].c != NULL;
    if (cfg.sync_dir[0]) {
        char name[32];
        snprintf(name, sizeof name, "ready.%d", cfg.shard);
        sync_write(name, "1\n");
        for (int i = 0; sender_here && i < cfg.shards; i++) {
            snprintf(name, sizeof name, "ready.%d", i);
            sync_wait(name, cfg.setup_timeout, NULL);
        }
    }

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double srv0 = server_cpu_s();
    uint64_t t0 = now_ns();
    atomic_store(&g_phase, PH_SEND);
    wake_workers();
    if (cfg.sync_dir[0] && !sender_here) {
        /* Receive until the sender's part says how many it sent. */
        sync_wait("sent", cfg.duration + cfg.setup_timeout + 60, &g_remote_sent);
    } else {
        uint64_t t_end = t0 + (uint64_t)(cfg.duration * 1e9);
        while (!g_signal && now_ns() < t_end)
            sleep_ns(10000000);
    }
    atomic_store(&g_phase, PH_DRAIN);
    uint64_t t1 = now_ns();
    wake_workers();
    for (int t = 0; t < cfg.threads; t++)
        while (!atomic_load(&g_workers[t].stopped_sending))
            sleep_ns(1000000);
    if (cfg.sync_dir[0] && sender_here) {
        char text[32];
        snprintf(text, sizeof text, "%llu\n", (unsigned long long)room_sent(0));
        sync_write("sent", text);
    }

    /* Every entered member should get every message of its room. */
    uint64_t expected = 0;
    for (int i = 0; i < g_nconns; i++)
        if (g_conns[i].entered)
            expected += room_sent(g_conns[i].room);
    /* Drain: copies still arriving are late, not lost, so wait while they
     * keep coming; what has not come after cfg.drain seconds of silence (or
     * by a hard cap, for a server that trickles forever) is lost. */
    uint64_t quiet = (uint64_t)(cfg.drain * 1e9), t_drain = now_ns();
    uint64_t cap = t_drain + quiet + (uint64_t)((cfg.duration > 10 ? cfg.duration : 10) * 2e9);
    uint64_t got_before = UINT64_MAX, t_progress = t_drain;
    for (;;) {
        uint64_t got = 0, now = now_ns();
        for (int t = 0; t < cfg.threads; t++)
            got += atomic_load(&g_workers[t].delivered);
        if (got != got_before) {
            got_before = got;
            t_progress = now;
        }
        if (got >= expected || now - t_progress > quiet || now > cap || g_signal)
            break;
        sleep_ns(2000000);
    }
    uint64_t t_done = now_ns();
    double drain_s = (double)(t_done - t_drain) / 1e9;
    getrusage(RUSAGE_SELF, &ru1);
    double srv1 = server_cpu_s();
    stop_workers();
    /* The load generator's own CPU use, in cores: near 1.0 per thread means
     * the client, not the server, may be what limits a full-speed run. */
    double cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                   (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double lg_cores = cpu_s / ((double)(t_done - t0) / 1e9);
    double srv_cores = srv0 >= 0 && srv1 >= 0 ? (srv1 - srv0) / ((double)(t_done - t0) / 1e9) : -1;
    char srv[48] = "";
    if (cfg.nserver_pids && srv_cores >= 0)
        snprintf(srv, sizeof srv, "server_cores=%.2f ", srv_cores);

    struct hist h = { 0 };
    uint64_t deliveries = 0, dups = 0, lost = 0, errors = 0, rate_limited = 0, last_delivery = t0;
    uint64_t sent = 0, acked = 0, last_ack = t0, stalls = 0;
    bool order_ok = true;
    for (int t = 0; t < cfg.threads; t++) {
        struct worker *w = &g_workers[t];
        hist_merge(&h, &w->hist);
        errors += w->errors;
        rate_limited += w->rate_limited;
        if (w->last_delivery_ns > last_delivery)
            last_delivery = w->last_delivery_ns;
    }
    for (int i = 0; i < g_nconns; i++) {
        struct conn *c = &g_conns[i];
        if (!c->entered)
            continue;
        uint64_t want = room_sent(c->room);
        deliveries += c->uniq;
        dups += c->dups;
        lost += want > c->uniq ? want - c->uniq : 0;
        if (c->order_bad)
            order_ok = false;
    }
    for (int r = 0; r < cfg.rooms; r++) {
        struct sender *s = &g_senders[r];
        sent += s->seq_sent;
        acked += s->acked;
        stalls += s->window_stalls;
        if (s->last_ack_ns > last_ack)
            last_ack = s->last_ack_ns;
    }
    double send_s = (double)(t1 - t0) / 1e9;
    double deliv_s = (double)(last_delivery - t0) / 1e9;
    double ack_s = (double)(last_ack - t0) / 1e9;
    double sent_ps = send_s > 0 ? (double)sent / send_s : 0;
    double acked_ps = ack_s > 0 ? (double)acked / ack_s : 0;
    double deliv_ps = deliv_s > 0 ? (double)deliveries / deliv_s : 0;
    double p50 = (double)hist_pct(&h, 0.50) / 1e6, p99 = (double)hist_pct(&h, 0.99) / 1e6,
           pmax = (double)h.max / 1e6;
    char rate[32], fl[256];
    if (cfg.rate > 0)
        snprintf(rate, sizeof rate, "%.0f", cfg.rate);
    else
        snprintf(rate, sizeof rate, "full");
    failures_line(fl, sizeof fl);
    printf("result scenario=%s mode=fanout members=%d rooms=%d users=%llu entered=%llu rate=%s window=%d size=%d duration_s=%.2f "
           "setup_s=%.2f drain_s=%.2f sent=%llu sent_per_s=%.0f acked=%llu acked_per_s=%.0f deliveries=%llu deliveries_per_s=%.0f "
           "expected=%llu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f lost=%llu dup=%llu order=%s errors=%llu "
           "rate_limited=%llu server_closed=%llu last_close_code=%d loadgen_cores=%.2f %s%s\n",
           cfg.label, cfg.members, cfg.rooms, (unsigned long long)room_users(), (unsigned long long)entered, rate, cfg.window, cfg.size, send_s,
           setup_s, drain_s, (unsigned long long)sent, sent_ps, (unsigned long long)acked, acked_ps,
           (unsigned long long)deliveries, deliv_ps, (unsigned long long)expected, p50, p99, pmax,
           (unsigned long long)lost, (unsigned long long)dups, order_ok ? "ok" : "bad", (unsigned long long)errors,
           (unsigned long long)rate_limited, (unsigned long long)atomic_load(&g_server_closed),
           atomic_load(&g_last_close_code), lg_cores, srv, fl);
    printf("  %-14s %d room(s) x %d members, %s, %.1f s (setup %.1f s, drain %.1f s)\n", cfg.label, cfg.rooms,
           cfg.members, cfg.rate > 0 ? "fixed rate" : "full speed", send_s, setup_s, drain_s);
    if (cfg.rate > 0)
        printf("  %-14s target %.0f msg/s per sender, window stalls %llu\n", "", cfg.rate,
               (unsigned long long)stalls);
    printf("  %-14s %12.0f msg/s   (%llu messages)\n", "sent", sent_ps, (unsigned long long)sent);
    printf("  %-14s %12.0f msg/s   (echoed back to the senders)\n", "acknowledged", acked_ps);
    printf("  %-14s %12.0f /s      (%llu of %llu expected)\n", "deliveries", deliv_ps, (unsigned long long)deliveries,
           (unsigned long long)expected);
    printf("  %-14s p50 %.3f  p99 %.3f  max %.3f\n", "latency ms", p50, p99, pmax);
    printf("  %-14s lost %llu  duplicated %llu  order %s  errors %llu  server closes %llu\n", "checks",
           (unsigned long long)lost, (unsigned long long)dups, order_ok ? "ok" : "BAD", (unsigned long long)errors,
           (unsigned long long)atomic_load(&g_server_closed));
    printf("  %-14s load generator %.2f cores (%d thread%s)", "cpu", lg_cores, cfg.threads, cfg.threads > 1 ? "s" : "");
    if (cfg.nserver_pids && srv_cores >= 0)
        printf(", server %.2f cores", srv_cores);
    printf("\n");
    fflush(stdout);
    return entered == (uint64_t)g_nconns ? 0 : 1;
}

static int run_idle(void)
{
    uint64_t t0 = now_ns();
    start_workers();
    wait_for("welcomed", &g_welcomed, (uint64_t)g_nconns, cfg.setup_timeout, true);
    double secs = (double)(now_ns() - t0) / 1e9;
    char fl[256];
    failures_line(fl, sizeof fl);
    uint64_t welcomed = atomic_load(&g_welcomed);
    printf("result scenario=%s mode=idle conns=%d welcomed=%llu open=%llu connect_s=%.2f %s\n", cfg.label,
           g_nconns, (unsigned long long)welcomed, (unsigned long long)atomic_load(&g_open), secs, fl);
    printf("  %-14s %llu of %d connections welcomed in %.1f s; holding\n", cfg.label, (unsigned long long)welcomed,
           g_nconns, secs);
    fflush(stdout);
    uint64_t end = cfg.hold > 0 ? now_ns() + (uint64_t)(cfg.hold * 1e9) : UINT64_MAX;
    while (!g_signal && now_ns() < end)
        sleep_ns(50000000);
    uint64_t open = atomic_load(&g_open);
    stop_workers();
    printf("result scenario=%s-end mode=idle conns=%d still_open=%llu server_closed=%llu last_close_code=%d\n",
           cfg.label, g_nconns, (unsigned long long)open, (unsigned long long)atomic_load(&g_server_closed),
           atomic_load(&g_last_close_code));
    fflush(stdout);
    return welcomed == (uint64_t)g_nconns ? 0 : 1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    setup();
    return cfg.mode == MODE_FANOUT ? run_fanout() : run_idle();
}
