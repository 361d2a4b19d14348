/* gw_index.c -- see gw_index.h. */
#include "gw_index.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_records.h"
#include "invariant.h"
#include "log.h"
#include "map.h"
#include "valid.h"

typedef struct lroom {
    char name[ROOM_MAX + 1];
    uint64_t last_seq; /* newest message seq delivered here */
    conn **conns;
    size_t n, cap;
} lroom;

struct membership {
    lroom *room;
    char uid[UID_MAX + 1];
    char name[NAME_MAX_BYTES + 1];
    membership *next;
};

static struct {
    pthread_rwlock_t lock;
    map *conns; /* id -> conn */
    map *rooms; /* name -> lroom */
} local_index = {.lock = PTHREAD_RWLOCK_INITIALIZER};

rc index_init(void)
{
    local_index.conns = map_new();
    local_index.rooms = map_new();
    return local_index.conns && local_index.rooms ? RC_OK : RC_NOMEM;
}

static void lroom_free(void *p)
{
    lroom *r = p;
    free(r->conns);
    free(r);
}

void index_free(void)
{
    map_free(local_index.conns, NULL);
    map_free(local_index.rooms, lroom_free);
}

rc index_add(conn *c)
{
    pthread_rwlock_wrlock(&local_index.lock);
    rc r = map_put(local_index.conns, &c->id, sizeof c->id, c);
    pthread_rwlock_unlock(&local_index.lock);
    return r;
}

/* With the write lock: takes c out of room r's list. */
static void lroom_remove(lroom *r, conn *c)
{
    ASSERT_WRLOCKED(&local_index.lock);
    for (size_t i = 0; i < r->n; i++)
        if (r->conns[i] == c) {
            r->conns[i] = r->conns[--r->n];
            break;
        }
    if (r->n == 0) {
        map_del(local_index.rooms, r->name, strlen(r->name));
        lroom_free(r);
    }
}

void index_remove(conn *c)
{
    pthread_rwlock_wrlock(&local_index.lock);
    bool was = map_del(local_index.conns, &c->id, sizeof c->id) != NULL;
    while (c->rooms != NULL) {
        membership *m = c->rooms;
        c->rooms = m->next;
        lroom_remove(m->room, c);
        free(m);
    }
    pthread_rwlock_unlock(&local_index.lock);
    if (was)
        conn_unref(c);
}

conn *index_get(uint64_t id)
{
    pthread_rwlock_rdlock(&local_index.lock);
    conn *c = map_get(local_index.conns, &id, sizeof id);
    if (c != NULL)
        conn_ref(c);
    pthread_rwlock_unlock(&local_index.lock);
    return c;
}

size_t index_count(void)
{
    pthread_rwlock_rdlock(&local_index.lock);
    size_t n = map_count(local_index.conns);
    pthread_rwlock_unlock(&local_index.lock);
    return n;
}

size_t index_rooms(void)
{
    pthread_rwlock_rdlock(&local_index.lock);
    size_t n = map_count(local_index.rooms);
    pthread_rwlock_unlock(&local_index.lock);
    return n;
}

static void deliver_room(const char *room, uint64_t except, uint64_t seq,
                         int opcode, const char *payload, size_t len)
{
    /* last_seq is written only by the fan-out thread, the only caller. */
    pthread_rwlock_rdlock(&local_index.lock);
    lroom *r = map_get(local_index.rooms, room, strlen(room));
    if (r == NULL || (seq != 0 && seq <= r->last_seq)) {
        pthread_rwlock_unlock(&local_index.lock);
        return;
    }
    if (seq != 0)
        r->last_seq = seq;
    outframe *f = outframe_new(opcode, payload, len);
    if (f == NULL)
        LOG(LOG_ERROR, "event=deliver_failed room=%s reason=\"out of "
            "memory\"", room);
    for (size_t i = 0; f != NULL && i < r->n; i++)
        if (r->conns[i]->id != except)
            conn_send(r->conns[i], f);
    pthread_rwlock_unlock(&local_index.lock);
    outframe_unref(f);
}

void index_deliver_room(const char *room, uint64_t except, uint64_t seq,
                        const char *payload, size_t len)
{
    deliver_room(room, except, seq, MG_WEBSOCKET_OPCODE_TEXT, payload, len);
}

void index_deliver_room_binary(const char *room, uint64_t except,
                               uint64_t seq, const char *payload, size_t len)
{
    deliver_room(room, except, seq, MG_WEBSOCKET_OPCODE_BINARY, payload, len);
}

static void deliver_conn(uint64_t id, int opcode, const char *payload,
                         size_t len)
{
    conn *c = index_get(id);
    if (c == NULL)
        return; /* it closed meanwhile */
    outframe *f = outframe_new(opcode, payload, len);
    if (f != NULL)
        conn_send(c, f);
    outframe_unref(f);
    conn_unref(c);
}

void index_deliver_conn(uint64_t id, const char *payload, size_t len)
{
    deliver_conn(id, MG_WEBSOCKET_OPCODE_TEXT, payload, len);
}

void index_deliver_conn_binary(uint64_t id, const char *payload, size_t len)
{
    deliver_conn(id, MG_WEBSOCKET_OPCODE_BINARY, payload, len);
}

static membership *find_membership(conn *c, const char *room)
{
    for (membership *m = c->rooms; m != NULL; m = m->next)
        if (strcmp(m->room->name, room) == 0)
            return m;
    return NULL;
}

void index_join(uint64_t id, const char *room, const char *uid,
                const char *name, uint64_t seq)
{
    pthread_rwlock_wrlock(&local_index.lock);
    conn *c = map_get(local_index.conns, &id, sizeof id);
    if (c == NULL || find_membership(c, room) != NULL)
        goto done;
    lroom *r = map_get(local_index.rooms, room, strlen(room));
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            goto nomem;
        snprintf(r->name, sizeof r->name, "%s", room);
        r->last_seq = seq;
        if (map_put(local_index.rooms, room, strlen(room), r) != RC_OK) {
            free(r);
            goto nomem;
        }
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        conn **l = realloc(r->conns, cap * sizeof *l);
        if (l == NULL)
            goto nomem;
        r->conns = l;
        r->cap = cap;
    }
    membership *m = calloc(1, sizeof *m);
    if (m == NULL)
        goto nomem;
    m->room = r;
    snprintf(m->uid, sizeof m->uid, "%s", uid);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->next = c->rooms;
    c->rooms = m;
    r->conns[r->n++] = c;
    if (seq > r->last_seq)
        r->last_seq = seq;
    goto done;
nomem:
    LOG(LOG_ERROR, "event=join_failed conn=%llu room=%s reason=\"out of "
        "memory\"", (unsigned long long)id, room);
    conn_close(c, 1011, "out of memory");
done:
    pthread_rwlock_unlock(&local_index.lock);
}

void index_part(uint64_t id, const char *room)
{
    pthread_rwlock_wrlock(&local_index.lock);
    conn *c = map_get(local_index.conns, &id, sizeof id);
    for (membership **p = c ? &c->rooms : NULL; p && *p; p = &(*p)->next)
        if (strcmp((*p)->room->name, room) == 0) {
            membership *m = *p;
            *p = m->next;
            lroom_remove(m->room, c);
            free(m);
            break;
        }
    pthread_rwlock_unlock(&local_index.lock);
}

void index_each(void (*fn)(void *arg, conn *c), void *arg)
{
    pthread_rwlock_rdlock(&local_index.lock);
    map_iter it = {0};
    void *v;
    while (map_next(local_index.conns, &it, NULL, NULL, &v))
        fn(arg, v);
    pthread_rwlock_unlock(&local_index.lock);
}

void index_register_all(void (*queue)(const wbuf *w, void *arg), void *arg)
{
    wbuf w = {0};
    pthread_rwlock_rdlock(&local_index.lock);
    map_iter it = {0};
    void *v;
    while (map_next(local_index.conns, &it, NULL, NULL, &v)) {
        conn *c = v;
        pthread_mutex_lock(&c->lock);
        bool gone = c->gone; /* its EV_CLOSE follows index_remove */
        bool authed = !gone && c->token != NULL && atomic_load(&c->authed);
        if (!gone) {
            record_open(&w, c->id, c->uid);
        }
        if (authed) {
            /* quiet: the client already has its `auth` */
            record_auth(&w, c->id, c->token, strlen(c->token), true, "");
        }
        pthread_mutex_unlock(&c->lock);
        for (membership *m = gone ? NULL : c->rooms; m != NULL; m = m->next) {
            record_resume(&w, c->id, m->room->name, m->uid, m->name,
                          (int64_t)m->room->last_seq);
        }
    }
    /* Queued before the lock is released: see gw_index.h. */
    queue(&w, arg);
    pthread_rwlock_unlock(&local_index.lock);
    wbuf_free(&w);
}
