/* gw_link.c -- see gw_link.h. */
#include "gw_link.h"
#include "gw_link_impl.h"

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "gw_index.h"
#include "gw_request.h"
#include "protocol.h"
#include "jsonw.h"
#include "log.h"

#define POLL_TIMEOUT_MS 2000 /* the broker answers within 500 ms when alive */
#define BATCH_MAX (4u << 20)
#define MEMBERS_MAX 9 /* replicated broker: URLs in events_url/fanout_url */

atomic_ullong gwlink_resyncs;
atomic_ullong gwlink_gateways;

static struct {
    const config *cfg;
    uint64_t instance;
    /* One pair per broker URL (several: a replicated broker group, in the
     * order of its members); `cur` is the one in use, changed by the
     * poller only: to the leader a member names, or to the next one. */
    nng_socket push[MEMBERS_MAX];
    nng_socket req[MEMBERS_MAX];
    size_t nmembers;
    atomic_size_t cur;
    atomic_bool up;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards batch, batch_epoch, registering */
    pthread_cond_t more;  /* the batch has records */
    pthread_cond_t taken; /* the sender took the batch */
    pthread_cond_t registered; /* registering went false */
    wbuf batch;
    uint64_t batch_epoch; /* the broker epoch its records were meant for */
    /* A register-again round is under way: client events wait until its
     * records are queued, or they would reach the broker before the
     * connection they come from (a spurious noauth or not_in_room). */
    bool registering;
    pthread_t sender, poller;
    _Atomic uint64_t epoch; /* written by the poller thread, under lock */
    uint64_t acked;         /* poller thread only */
} broker_link = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .more = PTHREAD_COND_INITIALIZER,
       .taken = PTHREAD_COND_INITIALIZER,
       .registered = PTHREAD_COND_INITIALIZER};

bool gwlink_up(void)
{
    return atomic_load(&broker_link.up);
}

uint64_t gwlink_leader(void)
{
    return broker_link.nmembers > 1 ? atomic_load(&broker_link.cur) + 1 : 0;
}

/* What is being queued (link_queue). */
enum link_kind {
    LINK_EVENT,    /* a client's event: refused while the broker is down or
                      the unsent batch is large; waits while a register-
                      again round is being queued */
    LINK_CONN,     /* EV_OPEN / EV_CLOSE: queued even while the broker
                      seems down (a poll timed out: it may only be slow),
                      so a close then is not lost; small, nobody waits */
    LINK_REGISTER, /* the poller's register-again round */
};

/* Queues records for the sender thread, and tail (when not NULL) as one
 * str after them; see enum link_kind. */
static rc link_queue(const wbuf *records, enum link_kind kind,
                     const char *tail, size_t tail_len, uint64_t *epoch_out)
{
    bool event = kind == LINK_EVENT;
    if (event && !atomic_load(&broker_link.up))
        return RC_UNAVAILABLE;
    pthread_mutex_lock(&broker_link.lock);
    /* A batch goes to one broker epoch: records queued before a broker
     * restart must not reach the new broker as if they came after this
     * gateway registered again (it refuses them with `unavailable`). */
    uint64_t epoch;
    for (;;) {
        epoch = atomic_load(&broker_link.epoch);
        if (atomic_load(&broker_link.stop))
            break;
        if (event && broker_link.registering)
            pthread_cond_wait(&broker_link.registered, &broker_link.lock);
        else if (broker_link.batch.len > 0 && broker_link.batch_epoch != epoch)
            pthread_cond_wait(&broker_link.taken, &broker_link.lock);
        else
            break;
    }
    if (event && broker_link.batch.len > BATCH_MAX) {
        /* The broker is not keeping up (its queue is full and nng's too):
         * refuse, rather than hold ever more here. */
        pthread_mutex_unlock(&broker_link.lock);
        return RC_UNAVAILABLE;
    }
    broker_link.batch_epoch = epoch;
    if (epoch_out != NULL)
        *epoch_out = epoch;
    size_t was = broker_link.batch.len;
    wbuf_bytes(&broker_link.batch, records->data, records->len);
    if (tail != NULL)
        wbuf_str(&broker_link.batch, tail, tail_len);
    bool failed = broker_link.batch.failed;
    if (failed) {
        /* Keep what was queued before; drop only this half-written one
         * (a large binary record is the likely one to fail). */
        broker_link.batch.len = was;
        broker_link.batch.failed = false;
    }
    pthread_cond_signal(&broker_link.more);
    pthread_mutex_unlock(&broker_link.lock);
    return failed ? RC_NOMEM : RC_OK;
}

rc gwlink_send(const wbuf *records)
{
    return link_queue(records, LINK_EVENT, NULL, 0, NULL);
}

rc gwlink_request(const wbuf *records, uint64_t *epoch)
{
    return link_queue(records, LINK_EVENT, NULL, 0, epoch);
}

rc gwlink_send_conn(const wbuf *records)
{
    return link_queue(records, LINK_CONN, NULL, 0, NULL);
}

rc gwlink_send_with(const wbuf *records, const char *tail, size_t tail_len)
{
    return link_queue(records, LINK_EVENT, tail, tail_len, NULL);
}

static void send_unavailable(uint64_t id, const char *cid)
{
    wbuf w = {0};
    jsonw_raw(&w, "{\"event\":\"error\",\"code\":\"unavailable\","
                  "\"message\":\"the broker cannot be reached; nothing was "
                  "stored\"");
    if (cid != NULL && cid[0] != 0) {
        jsonw_key(&w, "id");
        jsonw_cstr(&w, cid);
    }
    jsonw_raw(&w, "}");
    if (!w.failed)
        index_deliver_conn(id, w.data, w.len);
    wbuf_free(&w);
}

/* A batch could not be handed to the broker: tell each waiting client. */
static void fail_batch(const char *data, size_t len)
{
    rbuf r;
    wire_event_rec rec;
    rbuf_init(&r, data, len);
    while (r.left > 0 && wire_event_read(&r, &rec)) {
        switch (rec.type) {
        case EV_AUTH:
        case EV_ENTER:
        case EV_MESSAGE:
        case EV_BINARY:
        case EV_LEAVE:
        case EV_WHO:
        case EV_HISTORY:
        case EV_DELETE:
            send_unavailable(rec.conn_id, rec.id);
            break;
        case EV_API: /* rec.conn_id is a request id */
            request_fail(rec.conn_id);
            break;
        default:
            break; /* nobody waits for an answer to these */
        }
    }
}

static bool send_batch(const wbuf *records, uint64_t epoch)
{
    wbuf w = {0};
    wbuf_header(&w, WIRE_EVENTS);
    wbuf_cstr(&w, broker_link.cfg->id);
    wbuf_u64(&w, broker_link.instance);
    wbuf_u64(&w, epoch);
    nng_msg *m = NULL;
    bool ok = !w.failed && nng_msg_alloc(&m, 0) == 0 &&
              nng_msg_append(m, w.data, w.len) == 0 &&
              nng_msg_append(m, records->data, records->len) == 0;
    wbuf_free(&w);
    if (ok && nng_sendmsg(broker_link.push[atomic_load(&broker_link.cur)], m, 0) == 0)
        return true;
    if (m != NULL)
        nng_msg_free(m);
    return false;
}

static void *sender_main(void *arg)
{
    (void)arg;
    wbuf out = {0};
    for (;;) {
        pthread_mutex_lock(&broker_link.lock);
        while (broker_link.batch.len == 0 && !atomic_load(&broker_link.stop))
            pthread_cond_wait(&broker_link.more, &broker_link.lock);
        if (broker_link.batch.len == 0) {
            pthread_mutex_unlock(&broker_link.lock);
            break;
        }
        wbuf t = out; /* swap: workers fill a fresh buffer meanwhile */
        out = broker_link.batch;
        broker_link.batch = t;
        wbuf_reset(&broker_link.batch);
        uint64_t epoch = broker_link.batch_epoch;
        pthread_cond_broadcast(&broker_link.taken);
        pthread_mutex_unlock(&broker_link.lock);
        if (!send_batch(&out, epoch)) {
            LOG(LOG_WARN, "event=events_send_failed bytes=%zu", out.len);
            fail_batch(out.data, out.len);
        }
        wbuf_reset(&out);
        if (out.cap > BATCH_MAX)
            wbuf_free(&out);
    }
    wbuf_free(&out);
    return NULL;
}

/* Poller thread: a register-again round begins, for broker epoch `epoch`.
 * From here until register_end, client events wait (link_queue). */
static void register_begin(uint64_t epoch)
{
    pthread_mutex_lock(&broker_link.lock);
    atomic_store(&broker_link.epoch, epoch);
    broker_link.registering = true;
    pthread_mutex_unlock(&broker_link.lock);
}

static void register_end(void)
{
    pthread_mutex_lock(&broker_link.lock);
    broker_link.registering = false;
    pthread_cond_broadcast(&broker_link.registered);
    pthread_mutex_unlock(&broker_link.lock);
}

/* Called by index_register_all with the index still locked. */
static void register_queue(const wbuf *w, void *arg)
{
    (void)arg;
    if (w->failed)
        LOG(LOG_ERROR, "event=register_failed reason=\"out of memory\"");
    else if (w->len > 0)
        link_queue(w, LINK_REGISTER, NULL, 0, NULL);
}

/* Registers every connection and room again with the broker, then lets
 * client events through (register_begin came first). */
static void resync(const char *why)
{
    if (index_count() > 0) { /* none: a gateway's first contact */
        atomic_fetch_add(&gwlink_resyncs, 1);
        LOG(LOG_INFO, "event=register_again reason=%s conns=%zu", why,
            index_count());
        index_register_all(register_queue, NULL);
    }
    register_end();
}

/* Applies one fanout record; false when it is malformed. */
static bool apply_record(rbuf *r)
{
    uint8_t type = rbuf_u8(r);
    uint64_t id, except, seq;
    const char *room, *payload, *uid, *name;
    size_t len;
    switch (type) {
    case FO_ROOM:
        room = rbuf_str(r, NULL);
        except = rbuf_u64(r);
        seq = rbuf_u64(r);
        payload = rbuf_str(r, &len);
        if (!r->failed)
            index_deliver_room(room, except, seq, payload, len);
        break;
    case FO_CONN:
        id = rbuf_u64(r);
        payload = rbuf_str(r, &len);
        if (!r->failed)
            index_deliver_conn(id, payload, len);
        break;
    case FO_ROOM_BINARY:
        room = rbuf_str(r, NULL);
        except = rbuf_u64(r);
        seq = rbuf_u64(r);
        payload = rbuf_str(r, &len);
        if (!r->failed)
            index_deliver_room_binary(room, except, seq, payload, len);
        break;
    case FO_CONN_BINARY:
        id = rbuf_u64(r);
        payload = rbuf_str(r, &len);
        if (!r->failed)
            index_deliver_conn_binary(id, payload, len);
        break;
    case FO_JOIN:
        id = rbuf_u64(r);
        room = rbuf_str(r, NULL);
        uid = rbuf_str(r, NULL);
        name = rbuf_str(r, NULL);
        seq = rbuf_u64(r);
        if (!r->failed)
            index_join(id, room, uid, name, seq);
        break;
    case FO_PART:
        id = rbuf_u64(r);
        room = rbuf_str(r, NULL);
        if (!r->failed)
            index_part(id, room);
        break;
    case FO_AUTHED:
    case FO_CLOSE: {
        id = rbuf_u64(r);
        uint64_t code = type == FO_CLOSE ? rbuf_u64(r) : 0;
        conn *c = r->failed ? NULL : index_get(id);
        if (c != NULL && type == FO_AUTHED)
            atomic_store(&c->authed, true);
        else if (c != NULL)
            conn_close(c, (uint16_t)code,
                       code == CLOSE_DISCONNECTED ? "disconnected by the "
                                                    "server"
                                                  : "token expired");
        conn_unref(c);
        break;
    }
    case FO_REPLY: {
        id = rbuf_u64(r);
        unsigned status = rbuf_u8(r);
        status |= (unsigned)rbuf_u8(r) << 8;
        payload = rbuf_str(r, &len);
        if (!r->failed)
            request_answer(id, status, payload, len);
        break;
    }
    default:
        return false;
    }
    return !r->failed;
}

static void apply_reply(nng_msg *m)
{
    rbuf r;
    enum wire_kind kind;
    rbuf_init(&r, nng_msg_body(m), nng_msg_len(m));
    if (rbuf_header(&r, &kind) != RC_OK ||
        (kind != WIRE_FANOUT && kind != WIRE_RESET &&
         kind != WIRE_NOTLEADER))
        goto bad;
    if (kind == WIRE_NOTLEADER) {
        /* A replicated broker's member that does not lead: go to the one
         * it names, or try the next (an election is under way). */
        uint64_t leader = rbuf_u64(&r);
        size_t n = broker_link.nmembers, cur = atomic_load(&broker_link.cur);
        size_t next = leader >= 1 && leader <= n && !r.failed
                          ? (size_t)(leader - 1)
                          : (cur + 1) % n;
        if (atomic_exchange(&broker_link.up, false))
            LOG(LOG_WARN, "event=broker_down reason=not_leader member=%zu",
                cur + 1);
        if (next != cur)
            LOG(LOG_INFO, "event=broker_member member=%zu", next + 1);
        atomic_store(&broker_link.cur, next);
        request_fail_epoch(0); /* no answer will come from this member */
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    uint64_t epoch = rbuf_u64(&r);
    uint64_t first = rbuf_u64(&r);
    uint64_t last = rbuf_u64(&r);
    atomic_store(&gwlink_gateways, rbuf_u64(&r));
    if (r.failed || !read_stats(&r))
        goto bad;
    if (kind == WIRE_RESET) {
        /* The broker lost our stream: answers to waiting requests with it. */
        request_fail_epoch(0);
        register_begin(epoch);
        if (!atomic_exchange(&broker_link.up, true))
            LOG(LOG_INFO, "event=broker_up");
        broker_link.acked = 0;
        resync("reset");
        return;
    }
    const char *again = NULL;
    if (epoch != atomic_load(&broker_link.epoch)) {
        /* First contact, or a restarted broker that knows nothing of ours:
         * register every connection (none at first contact, usually). */
        again = "new_broker_epoch";
        request_fail_epoch(epoch); /* that broker never saw them */
    } else if (first != broker_link.acked + 1) {
        again = "gap"; /* never expected, but never silent */
    }
    /* Events wait from the moment the link is up with this epoch until
     * the registrations are queued, so none can overtake them. */
    if (again != NULL)
        register_begin(epoch);
    if (!atomic_exchange(&broker_link.up, true))
        LOG(LOG_INFO, "event=broker_up");
    /* Acknowledge only what was applied: a malformed record in the middle
     * of a reply must not take the records after it with it. Acknowledging
     * part of a reply makes the broker reset this gateway's stream (it
     * registers again and its clients catch up from storage); nothing
     * applied, the broker sends the same records again. */
    uint64_t applied = 0;
    bool ok = true;
    while (r.left > 0 && (ok = apply_record(&r)))
        applied++;
    if (ok)
        broker_link.acked = last;
    else if (applied > 0)
        broker_link.acked = first + applied - 1;
    if (again != NULL)
        resync(again);
    if (ok)
        return;
bad:
    LOG(LOG_WARN, "event=bad_fanout reason=\"malformed reply\"");
}

static void *poller_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&broker_link.stop)) {
        wbuf w = {0};
        wbuf_header(&w, WIRE_POLL);
        wbuf_cstr(&w, broker_link.cfg->id);
        wbuf_u64(&w, broker_link.instance);
        wbuf_u64(&w, atomic_load(&broker_link.epoch));
        wbuf_u64(&w, broker_link.acked);
        nng_socket req = broker_link.req[atomic_load(&broker_link.cur)];
        int err = w.failed ? NNG_ENOMEM : nng_send(req, w.data, w.len, 0);
        wbuf_free(&w);
        nng_msg *m = NULL;
        if (err == 0)
            err = nng_recvmsg(req, &m, 0);
        if (err == 0) {
            apply_reply(m);
            nng_msg_free(m);
            continue;
        }
        if (atomic_exchange(&broker_link.up, false) &&
            !atomic_load(&broker_link.stop))
            LOG(LOG_WARN, "event=broker_down error=\"%s\"", nng_strerror(err));
        request_fail_epoch(0); /* no answer will come from it */
        if (broker_link.nmembers > 1 && err != NNG_ECLOSED) /* try the next */
            atomic_store(&broker_link.cur,
                         (atomic_load(&broker_link.cur) + 1) %
                             broker_link.nmembers);
        if (err != NNG_ECLOSED) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static rc dial(nng_socket s, const char *url)
{
    nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 100);
    nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, WIRE_MAX_MSG);
    /* NONBLOCK: a broker that is not up yet is retried forever. */
    int err = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK);
    if (err != 0) {
        LOG(LOG_ERROR, "event=dial_failed url=%s error=\"%s\"", url,
            nng_strerror(err));
        return RC_CONFIG;
    }
    return RC_OK;
}

/* Splits a comma-separated URL list into out[0..*n). */
static rc split_urls(const char *list, char out[][CONFIG_STR_MAX], size_t *n)
{
    char copy[CONFIG_STR_MAX];
    snprintf(copy, sizeof copy, "%s", list);
    char *save = NULL;
    *n = 0;
    for (char *u = strtok_r(copy, ",", &save); u != NULL;
         u = strtok_r(NULL, ",", &save)) {
        if (*n == MEMBERS_MAX)
            return RC_CONFIG;
        snprintf(out[(*n)++], CONFIG_STR_MAX, "%s", u);
    }
    return *n > 0 ? RC_OK : RC_CONFIG;
}

rc gwlink_start(const config *cfg)
{
    broker_link.cfg = cfg;
    if (getrandom(&broker_link.instance, sizeof broker_link.instance, 0) !=
        sizeof broker_link.instance)
        broker_link.instance = (uint64_t)time(NULL);
    static char ev[MEMBERS_MAX][CONFIG_STR_MAX];
    static char fo[MEMBERS_MAX][CONFIG_STR_MAX];
    size_t nev, nfo;
    if (split_urls(cfg->events_url, ev, &nev) != RC_OK ||
        split_urls(cfg->fanout_url, fo, &nfo) != RC_OK || nev != nfo) {
        LOG(LOG_ERROR, "event=bad_config reason=\"events_url and fanout_url "
            "must list as many URLs (1 to %d), in the same order\"",
            MEMBERS_MAX);
        return RC_CONFIG;
    }
    broker_link.nmembers = nev;
    for (size_t i = 0; i < nev; i++) {
        nng_socket *push = &broker_link.push[i], *req = &broker_link.req[i];
        if (nng_push0_open(push) != 0 || nng_req0_open(req) != 0)
            return RC_IO;
        nng_socket_set_int(*push, NNG_OPT_SENDBUF, 1024);
        nng_socket_set_ms(*push, NNG_OPT_SENDTIMEO, 1000);
        nng_socket_set_ms(*req, NNG_OPT_SENDTIMEO, 1000);
        nng_socket_set_ms(*req, NNG_OPT_RECVTIMEO, POLL_TIMEOUT_MS);
        nng_socket_set_ms(*req, NNG_OPT_REQ_RESENDTIME, 60000);
        if (dial(*push, ev[i]) != RC_OK || dial(*req, fo[i]) != RC_OK)
            return RC_CONFIG;
    }
    if (pthread_create(&broker_link.sender, NULL, sender_main, NULL) != 0 ||
        pthread_create(&broker_link.poller, NULL, poller_main, NULL) != 0)
        return RC_INTERNAL;
    return RC_OK;
}

void gwlink_stop(void)
{
    if (atomic_load(&broker_link.up)) {
        wbuf w = {0};
        wbuf_u8(&w, EV_BYE);
        wbuf_u64(&w, 0);
        gwlink_send(&w);
        wbuf_free(&w);
    }
    atomic_store(&broker_link.stop, true);
    pthread_mutex_lock(&broker_link.lock);
    pthread_cond_signal(&broker_link.more);
    pthread_cond_broadcast(&broker_link.taken);
    pthread_cond_broadcast(&broker_link.registered);
    pthread_mutex_unlock(&broker_link.lock);
    pthread_join(broker_link.sender, NULL); /* sends what is queued, BYE last */
    for (size_t i = 0; i < broker_link.nmembers; i++)
        nng_close(broker_link.req[i]);
    pthread_join(broker_link.poller, NULL);
    /* nng 1.5 does not linger on close: give the queued BYE a moment. */
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    for (size_t i = 0; i < broker_link.nmembers; i++)
        nng_close(broker_link.push[i]);
    wbuf_free(&broker_link.batch);
}
