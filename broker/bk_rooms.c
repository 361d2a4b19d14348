/* bk_rooms.c -- see bk_rooms.h. */
#include "bk_rooms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invariant.h"

struct rooms {
    map *rooms; /* name -> room */
    map *conns; /* (gateway pointer, conn id) -> bk_conn */
};

static void room_free(void *p)
{
    room *rm = p;
    map_free(rm->members, free);
    free(rm->gws);
    free(rm);
}

rooms *rooms_new(void)
{
    rooms *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->rooms = map_new();
    r->conns = map_new();
    if (r->rooms == NULL || r->conns == NULL) {
        rooms_free(r);
        return NULL;
    }
    return r;
}

static void conn_free(void *p)
{
    bk_conn *c = p;
    presence *pr = c->presences;
    while (pr != NULL) {
        presence *next = pr->next_in_conn;
        free(pr);
        pr = next;
    }
    jwt_claims_free(&c->claims);
    free(c);
}

void rooms_free(rooms *r)
{
    if (r == NULL)
        return;
    map_free(r->conns, conn_free);
    map_free(r->rooms, room_free);
    free(r);
}

rc rooms_clear(rooms *r)
{
    map *rooms_map = map_new(), *conns_map = map_new();
    if (rooms_map == NULL || conns_map == NULL) {
        map_free(rooms_map, NULL);
        map_free(conns_map, NULL);
        return RC_NOMEM;
    }
    map_free(r->conns, conn_free);
    map_free(r->rooms, room_free);
    r->rooms = rooms_map;
    r->conns = conns_map;
    return RC_OK;
}

room *rooms_find(rooms *r, const char *name)
{
    return map_get(r->rooms, name, strlen(name));
}

bool rooms_evict(rooms *r, room *rm)
{
    if (rm->ngws > 0)
        return false;
    ASSERT(rm->online == 0);
    map_del(r->rooms, rm->name, strlen(rm->name));
    room_free(rm);
    return true;
}

rc rooms_add(rooms *r, const char *name, room **out)
{
    room *rm = calloc(1, sizeof *rm);
    if (rm == NULL || (rm->members = map_new()) == NULL)
        goto fail;
    snprintf(rm->name, sizeof rm->name, "%s", name);
    if (map_put(r->rooms, name, strlen(name), rm) != RC_OK)
        goto fail;
    *out = rm;
    return RC_OK;
fail:
    if (rm != NULL)
        room_free(rm);
    return RC_NOMEM;
}

size_t rooms_count(rooms *r)
{
    return map_count(r->rooms);
}

member *room_member(room *rm, const char *uid)
{
    return map_get(rm->members, uid, strlen(uid));
}

rc room_member_add(room *rm, const char *uid, const char *name,
                   uint64_t last_seen, member **out)
{
    member *m = calloc(1, sizeof *m);
    if (m == NULL)
        return RC_NOMEM;
    snprintf(m->uid, sizeof m->uid, "%s", uid);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->last_seen = last_seen;
    if (map_put(rm->members, uid, strlen(uid), m) != RC_OK) {
        free(m);
        return RC_NOMEM;
    }
    *out = m;
    return RC_OK;
}

void room_member_del(room *rm, member *m)
{
    ASSERT(m->presences == NULL && m->conns == 0);
    map_del(rm->members, m->uid, strlen(m->uid));
    free(m);
}

static void conn_key(gateway *gw, uint64_t id, unsigned char key[16])
{
    memcpy(key, &gw, sizeof gw < 8 ? sizeof gw : 8);
    memcpy(key + 8, &id, 8);
}

bk_conn *rooms_conn(rooms *r, gateway *gw, uint64_t id)
{
    unsigned char key[16] = {0};
    conn_key(gw, id, key);
    return map_get(r->conns, key, sizeof key);
}

rc rooms_conn_add(rooms *r, gateway *gw, uint64_t id, bk_conn **out)
{
    unsigned char key[16] = {0};
    conn_key(gw, id, key);
    bk_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return RC_NOMEM;
    c->gw = gw;
    c->id = id;
    if (map_put(r->conns, key, sizeof key, c) != RC_OK) {
        free(c);
        return RC_NOMEM;
    }
    *out = c;
    return RC_OK;
}

size_t rooms_conns_of(rooms *r, gateway *gw, bk_conn ***out)
{
    size_t n = 0, cap = 0;
    bk_conn **list = NULL;
    map_iter it = {0};
    void *v;
    *out = NULL;
    while (map_next(r->conns, &it, NULL, NULL, &v)) {
        bk_conn *c = v;
        if (gw != NULL && c->gw != gw)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            bk_conn **l = realloc(list, cap * sizeof *l);
            if (l == NULL) {
                free(list);
                return 0;
            }
            list = l;
        }
        list[n++] = c;
    }
    *out = list;
    return n;
}

bk_conn *rooms_conn_on(rooms *r, gateway *gw)
{
    map_iter it = {0};
    void *v;
    while (map_next(r->conns, &it, NULL, NULL, &v))
        if (((bk_conn *)v)->gw == gw)
            return v;
    return NULL;
}

void rooms_conn_del(rooms *r, bk_conn *c)
{
    unsigned char key[16] = {0};
    ASSERT(c->presences == NULL);
    conn_key(c->gw, c->id, key);
    map_del(r->conns, key, sizeof key);
    conn_free(c);
}

presence *conn_presence(bk_conn *c, room *rm)
{
    for (presence *p = c->presences; p != NULL; p = p->next_in_conn)
        if (p->room == rm)
            return p;
    return NULL;
}

static rc room_gw_inc(room *rm, gateway *gw)
{
    for (size_t i = 0; i < rm->ngws; i++)
        if (rm->gws[i].gw == gw) {
            rm->gws[i].conns++;
            return RC_OK;
        }
    if (rm->ngws == rm->capgws) {
        size_t cap = rm->capgws ? rm->capgws * 2 : 4;
        room_gw *g = realloc(rm->gws, cap * sizeof *g);
        if (g == NULL)
            return RC_NOMEM;
        rm->gws = g;
        rm->capgws = cap;
    }
    rm->gws[rm->ngws++] = (room_gw){gw, 1};
    return RC_OK;
}

static void room_gw_dec(room *rm, gateway *gw)
{
    for (size_t i = 0; i < rm->ngws; i++)
        if (rm->gws[i].gw == gw) {
            ASSERT(rm->gws[i].conns > 0);
            if (--rm->gws[i].conns == 0)
                rm->gws[i] = rm->gws[--rm->ngws];
            return;
        }
    ASSERT(!"a present connection's gateway is counted in its room");
}

rc presence_add(bk_conn *c, room *rm, member *m, bool *first)
{
    presence *p = calloc(1, sizeof *p);
    if (p == NULL || room_gw_inc(rm, c->gw) != RC_OK) {
        free(p);
        return RC_NOMEM;
    }
    p->room = rm;
    p->member = m;
    p->conn = c;
    p->next_in_conn = c->presences;
    c->presences = p;
    p->next_in_member = m->presences;
    m->presences = p;
    *first = m->conns++ == 0;
    if (*first)
        rm->online++;
    DEBUG_ASSERT(room_check(rm) && conn_check(c));
    return RC_OK;
}

static void unlink_presence(presence **head, presence *p, bool by_conn)
{
    while (*head != NULL && *head != p)
        head = by_conn ? &(*head)->next_in_conn : &(*head)->next_in_member;
    if (*head == p)
        *head = by_conn ? p->next_in_conn : p->next_in_member;
}

bool presence_del(presence *p)
{
    member *m = p->member;
    room *rm = p->room;
    unlink_presence(&p->conn->presences, p, true);
    unlink_presence(&m->presences, p, false);
    room_gw_dec(rm, p->conn->gw);
    free(p);
    ASSERT(m->conns > 0 && rm->online > 0);
    bool last = --m->conns == 0;
    if (last)
        rm->online--;
    DEBUG_ASSERT(room_check(rm));
    return last;
}
