/* bk_rooms.h -- rooms, members, connections and presence, in memory.
 *
 * A member is a uid in a room (durable: mirrored in bk_store by the caller).
 * A connection (gateway + connection id) is present in the rooms it entered;
 * a member is online while at least one of its connections is present.
 * `num` = room->online, `total` = number of members. Each room also counts
 * its present connections per gateway, which is where fan-out goes.
 * Broker main thread only; no locking. */
#ifndef BK_ROOMS_H
#define BK_ROOMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bk_jwt.h"
#include "map.h"
#include "rc.h"
#include "valid.h"

typedef struct gateway gateway; /* bk_link.h */
typedef struct rooms rooms;
typedef struct room room;
typedef struct member member;
typedef struct bk_conn bk_conn;
typedef struct presence presence;

struct presence {
    room *room;
    member *member;
    bk_conn *conn;
    presence *next_in_conn;   /* the connection's presences */
    presence *next_in_member; /* the member's presences */
};

struct member {
    char uid[UID_MAX + 1];
    char name[NAME_MAX_BYTES + 1];
    uint64_t last_seen; /* room seq when its last connection went away */
    int conns;          /* present connections */
    presence *presences;
};

typedef struct room_gw {
    gateway *gw;
    int conns; /* this room's present connections on gw */
} room_gw;

struct room {
    char name[ROOM_MAX + 1];
    uint64_t last_seq; /* seq of the newest message (assigned, maybe uncommitted) */
    map *members;      /* uid -> member */
    size_t online;     /* members with conns > 0 */
    room_gw *gws;      /* gateways with present connections */
    size_t ngws;
    size_t capgws;
};

struct bk_conn {
    gateway *gw;
    uint64_t id;
    char uid[UID_MAX + 1];          /* none: gateway-given; jwt: the sub */
    bool authed;                    /* jwt mode: a token was accepted */
    jwt_claims claims;              /* valid when authed */
    presence *presences;
};

rooms *rooms_new(void); /* NULL without memory */
void rooms_free(rooms *r); /* NULL ok; frees everything */

/* Forgets every room, member, connection and presence (what storage holds
 * is loaded again on use; gateways register their connections again).
 * RC_NOMEM leaves everything as it was. */
rc rooms_clear(rooms *r);

room *rooms_find(rooms *r, const char *name);
/* Frees rm when no connection is present in it: storage has everything
 * (its seq and members), and it is loaded again on its next use. Returns
 * true when it was freed (rm is then invalid). */
bool rooms_evict(rooms *r, room *rm);
/* Adds an empty room (the caller fills last_seq and members). */
rc rooms_add(rooms *r, const char *name, room **out);
size_t rooms_count(rooms *r);

member *room_member(room *rm, const char *uid);
/* Adds a member; RC_OK with *out borrowed from the room. */
rc room_member_add(room *rm, const char *uid, const char *name,
                   uint64_t last_seen, member **out);
/* Removes a member that has no presences. */
void room_member_del(room *rm, member *m);

bk_conn *rooms_conn(rooms *r, gateway *gw, uint64_t id);
rc rooms_conn_add(rooms *r, gateway *gw, uint64_t id, bk_conn **out);
/* Every connection on gw (every connection when gw is NULL), as an owned array (free it) of borrowed
 * pointers; returns the count (0 with *out NULL when none or no memory). */
size_t rooms_conns_of(rooms *r, gateway *gw, bk_conn ***out);
/* Some connection on gw, or NULL: a walk of every connection, for when
 * there is no memory for rooms_conns_of's list. */
bk_conn *rooms_conn_on(rooms *r, gateway *gw);
/* Frees a connection that has no presences left. */
void rooms_conn_del(rooms *r, bk_conn *c);

presence *conn_presence(bk_conn *c, room *rm);
/* Makes c present in m's room. *first: m was offline before. */
rc presence_add(bk_conn *c, room *rm, member *m, bool *first);
/* Removes a presence. Returns true when its member went offline. */
bool presence_del(presence *p);

/* bk_rooms_check.c: walk rm (or c) and assert every rule about its counts;
 * always true (a broken rule aborts). For DEBUG_ASSERT. */
bool room_check(const room *rm);
bool conn_check(const bk_conn *c);

#endif
