/* test_rooms.c -- unit tests of broker/bk_rooms.c: rooms, members,
 * connections and presence. `num` (room->online) counts distinct uids with
 * a present connection; a uid with two connections goes offline only with
 * the last; each room counts its present connections per gateway and drops
 * a gateway at zero; rooms_conns_of returns exactly one gateway's
 * connections; everything is freed by rooms_conn_del / rooms_free (ASan's
 * leak check is the assertion there). The `gateway *` values are addresses
 * of distinct local variables cast: bk_rooms only compares them.
 * Single-threaded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bk_rooms.h"
#include "check.h"

static char gw_a_, gw_b_, gw_c_;
#define GW_A ((gateway *)(void *)&gw_a_)
#define GW_B ((gateway *)(void *)&gw_b_)
#define GW_C ((gateway *)(void *)&gw_c_)

/* The count room rm keeps for gw, or -1 when gw has no entry. */
static int gw_count(const room *rm, gateway *gw)
{
    int found = -1, entries = 0;
    for (size_t i = 0; i < rm->ngws; i++)
        if (rm->gws[i].gw == gw) {
            found = rm->gws[i].conns;
            entries++;
        }
    return entries > 1 ? -2 : found; /* -2: listed twice, a bug */
}

/* Helpers that abort the test binary on allocation failure: the tests are
 * about the bookkeeping, not about memory. */
static room *add_room(rooms *r, const char *name)
{
    room *rm = NULL;
    if (rooms_add(r, name, &rm) != RC_OK)
        abort();
    return rm;
}
static member *add_member(room *rm, const char *uid)
{
    member *m = NULL;
    if (room_member_add(rm, uid, uid, 0, &m) != RC_OK)
        abort();
    return m;
}
static bk_conn *add_conn(rooms *r, gateway *gw, uint64_t id)
{
    bk_conn *c = NULL;
    if (rooms_conn_add(r, gw, id, &c) != RC_OK)
        abort();
    return c;
}
/* presence_add, returning *first as 1/0 (or -1 on error). */
static int enter(bk_conn *c, room *rm, member *m)
{
    bool first = false;
    if (presence_add(c, rm, m, &first) != RC_OK)
        return -1;
    return first;
}

TEST(new_and_free)
{
    rooms *r = rooms_new();
    CHECK(r != NULL);
    CHECK_EQ_INT(rooms_count(r), 0);
    CHECK(rooms_find(r, "lobby") == NULL);
    rooms_free(r);
    rooms_free(NULL);
}

TEST(rooms_add_find_count)
{
    rooms *r = rooms_new();
    room *a = add_room(r, "lobby");
    room *b = add_room(r, "dev");
    CHECK_EQ_INT(rooms_count(r), 2);
    CHECK(rooms_find(r, "lobby") == a);
    CHECK(rooms_find(r, "dev") == b);
    CHECK(rooms_find(r, "lobb") == NULL);
    CHECK_STR(a->name, "lobby");
    CHECK_EQ_INT(a->last_seq, 0);
    CHECK_EQ_INT(a->online, 0);
    CHECK_EQ_INT(a->ngws, 0);
    CHECK_EQ_INT(map_count(a->members), 0);
    rooms_free(r);
}

TEST(members_add_find_del)
{
    rooms *r = rooms_new();
    room *rm = add_room(r, "lobby");
    member *m = NULL;
    CHECK(room_member_add(rm, "alice", "Alice A", 17, &m) == RC_OK);
    CHECK(m != NULL);
    CHECK_STR(m->uid, "alice");
    CHECK_STR(m->name, "Alice A");
    CHECK_EQ_INT(m->last_seen, 17);
    CHECK_EQ_INT(m->conns, 0);
    CHECK(m->presences == NULL);
    CHECK(room_member(rm, "alice") == m);
    CHECK(room_member(rm, "bob") == NULL);
    member *b = add_member(rm, "bob");
    CHECK_EQ_INT(map_count(rm->members), 2);
    room_member_del(rm, m);
    CHECK(room_member(rm, "alice") == NULL);
    CHECK(room_member(rm, "bob") == b);
    CHECK_EQ_INT(map_count(rm->members), 1);
    CHECK_EQ_INT(rm->online, 0); /* members are not online by themselves */
    rooms_free(r);
}

TEST(long_names_are_cut_not_overflowed)
{
    /* The fields are fixed-size; the broker validates before, but a name at
     * the limit must fit whole. */
    rooms *r = rooms_new();
    char name[ROOM_MAX + 1];
    memset(name, 'r', ROOM_MAX);
    name[ROOM_MAX] = 0;
    room *rm = add_room(r, name);
    CHECK_STR(rm->name, name);
    CHECK(rooms_find(r, name) == rm);
    char uid[UID_MAX + 1];
    memset(uid, 'u', UID_MAX);
    uid[UID_MAX] = 0;
    char nm[NAME_MAX_BYTES + 1];
    memset(nm, 'n', NAME_MAX_BYTES);
    nm[NAME_MAX_BYTES] = 0;
    member *m = NULL;
    CHECK(room_member_add(rm, uid, nm, 0, &m) == RC_OK);
    CHECK_STR(m->uid, uid);
    CHECK_STR(m->name, nm);
    CHECK(room_member(rm, uid) == m);
    rooms_free(r);
}

TEST(connections_keyed_by_gateway_and_id)
{
    rooms *r = rooms_new();
    bk_conn *a1 = add_conn(r, GW_A, 1);
    bk_conn *b1 = add_conn(r, GW_B, 1); /* same id, other gateway */
    bk_conn *a2 = add_conn(r, GW_A, 2);
    CHECK(a1 != b1 && a1 != a2);
    CHECK(rooms_conn(r, GW_A, 1) == a1);
    CHECK(rooms_conn(r, GW_B, 1) == b1);
    CHECK(rooms_conn(r, GW_A, 2) == a2);
    CHECK(rooms_conn(r, GW_B, 2) == NULL);
    CHECK(rooms_conn(r, GW_C, 1) == NULL);
    CHECK(a1->gw == GW_A);
    CHECK_EQ_INT(a1->id, 1);
    CHECK(!a1->authed);
    CHECK(a1->presences == NULL);
    /* An id with every bit set. */
    bk_conn *big = add_conn(r, GW_A, UINT64_MAX);
    CHECK(rooms_conn(r, GW_A, UINT64_MAX) == big);
    rooms_conn_del(r, b1);
    CHECK(rooms_conn(r, GW_B, 1) == NULL);
    CHECK(rooms_conn(r, GW_A, 1) == a1);
    rooms_free(r);
}

TEST(presence_counts_distinct_uids)
{
    rooms *r = rooms_new();
    room *rm = add_room(r, "lobby");
    member *alice = add_member(rm, "alice");
    member *bob = add_member(rm, "bob");
    member *carol = add_member(rm, "carol");
    bk_conn *c1 = add_conn(r, GW_A, 1);
    bk_conn *c2 = add_conn(r, GW_A, 2);
    CHECK_EQ_INT(enter(c1, rm, alice), 1);
    CHECK_EQ_INT(rm->online, 1);
    CHECK_EQ_INT(enter(c2, rm, bob), 1);
    CHECK_EQ_INT(rm->online, 2);
    CHECK_EQ_INT(alice->conns, 1);
    CHECK_EQ_INT(carol->conns, 0);
    CHECK_EQ_INT(map_count(rm->members), 3); /* total */
    presence *p = conn_presence(c1, rm);
    CHECK(p != NULL);
    CHECK(p->room == rm && p->member == alice && p->conn == c1);
    CHECK(presence_del(p));
    CHECK_EQ_INT(rm->online, 1);
    CHECK_EQ_INT(alice->conns, 0);
    CHECK(alice->presences == NULL);
    CHECK(c1->presences == NULL);
    CHECK(conn_presence(c1, rm) == NULL);
    CHECK(presence_del(conn_presence(c2, rm)));
    CHECK_EQ_INT(rm->online, 0);
    rooms_free(r);
}

TEST(two_connections_of_one_uid)
{
    rooms *r = rooms_new();
    room *rm = add_room(r, "lobby");
    member *alice = add_member(rm, "alice");
    bk_conn *phone = add_conn(r, GW_A, 1);
    bk_conn *laptop = add_conn(r, GW_B, 7);
    CHECK_EQ_INT(enter(phone, rm, alice), 1);  /* first: `enter` goes out */
    CHECK_EQ_INT(enter(laptop, rm, alice), 0); /* already online */
    CHECK_EQ_INT(rm->online, 1);
    CHECK_EQ_INT(alice->conns, 2);
    /* Only the last presence takes the member offline. */
    CHECK(!presence_del(conn_presence(phone, rm)));
    CHECK_EQ_INT(rm->online, 1);
    CHECK_EQ_INT(alice->conns, 1);
    CHECK(alice->presences != NULL && alice->presences->conn == laptop);
    CHECK(presence_del(conn_presence(laptop, rm)));
    CHECK_EQ_INT(rm->online, 0);
    CHECK_EQ_INT(alice->conns, 0);
    CHECK(alice->presences == NULL);
    /* The other order, and back online after going offline. */
    CHECK_EQ_INT(enter(phone, rm, alice), 1);
    CHECK_EQ_INT(enter(laptop, rm, alice), 0);
    CHECK(!presence_del(conn_presence(laptop, rm)));
    CHECK(presence_del(conn_presence(phone, rm)));
    CHECK_EQ_INT(enter(laptop, rm, alice), 1);
    CHECK_EQ_INT(rm->online, 1);
    rooms_free(r);
}

TEST(three_connections_removed_from_the_middle)
{
    /* Unlinking from the middle of both lists. */
    rooms *r = rooms_new();
    room *rm = add_room(r, "lobby");
    member *alice = add_member(rm, "alice");
    bk_conn *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = add_conn(r, GW_A, (uint64_t)i + 1);
        CHECK_EQ_INT(enter(c[i], rm, alice), i == 0);
    }
    CHECK(!presence_del(conn_presence(c[1], rm)));
    int n = 0;
    for (presence *p = alice->presences; p != NULL; p = p->next_in_member) {
        CHECK(p->conn == c[0] || p->conn == c[2]);
        n++;
    }
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(gw_count(rm, GW_A), 2);
    CHECK(!presence_del(conn_presence(c[0], rm)));
    CHECK(presence_del(conn_presence(c[2], rm)));
    CHECK_EQ_INT(rm->online, 0);
    CHECK_EQ_INT(gw_count(rm, GW_A), -1);
    rooms_free(r);
}

TEST(one_connection_in_several_rooms)
{
    rooms *r = rooms_new();
    room *a = add_room(r, "a");
    room *b = add_room(r, "b");
    room *c = add_room(r, "c");
    member *ma = add_member(a, "alice");
    member *mb = add_member(b, "alice");
    member *mc = add_member(c, "alice");
    bk_conn *conn = add_conn(r, GW_A, 1);
    CHECK_EQ_INT(enter(conn, a, ma), 1);
    CHECK_EQ_INT(enter(conn, b, mb), 1);
    CHECK_EQ_INT(enter(conn, c, mc), 1);
    CHECK(conn_presence(conn, a)->member == ma);
    CHECK(conn_presence(conn, b)->member == mb);
    CHECK(conn_presence(conn, c)->member == mc);
    CHECK(presence_del(conn_presence(conn, b)));
    CHECK(conn_presence(conn, b) == NULL);
    CHECK(conn_presence(conn, a) != NULL);
    CHECK(conn_presence(conn, c) != NULL);
    CHECK_EQ_INT(a->online, 1);
    CHECK_EQ_INT(b->online, 0);
    CHECK_EQ_INT(c->online, 1);
    /* Closing the way bk_events does: every presence, then the conn. */
    while (conn->presences != NULL)
        presence_del(conn->presences);
    CHECK_EQ_INT(a->online, 0);
    CHECK_EQ_INT(c->online, 0);
    rooms_conn_del(r, conn);
    CHECK(rooms_conn(r, GW_A, 1) == NULL);
    rooms_free(r);
}

TEST(per_gateway_counts_up_down_and_gone_at_zero)
{
    rooms *r = rooms_new();
    room *rm = add_room(r, "lobby");
    member *alice = add_member(rm, "alice");
    member *bob = add_member(rm, "bob");
    bk_conn *a1 = add_conn(r, GW_A, 1);
    bk_conn *a2 = add_conn(r, GW_A, 2);
    bk_conn *b1 = add_conn(r, GW_B, 1);
    CHECK_EQ_INT(gw_count(rm, GW_A), -1);
    enter(a1, rm, alice);
    CHECK_EQ_INT(gw_count(rm, GW_A), 1);
    CHECK_EQ_INT(rm->ngws, 1);
    enter(a2, rm, bob);
    CHECK_EQ_INT(gw_count(rm, GW_A), 2);
    CHECK_EQ_INT(rm->ngws, 1);
    enter(b1, rm, alice); /* alice's second connection, another gateway */
    CHECK_EQ_INT(gw_count(rm, GW_A), 2);
    CHECK_EQ_INT(gw_count(rm, GW_B), 1);
    CHECK_EQ_INT(rm->ngws, 2);
    /* Down again. */
    presence_del(conn_presence(a1, rm));
    CHECK_EQ_INT(gw_count(rm, GW_A), 1);
    CHECK_EQ_INT(gw_count(rm, GW_B), 1);
    presence_del(conn_presence(a2, rm));
    CHECK_EQ_INT(gw_count(rm, GW_A), -1); /* the entry is gone */
    CHECK_EQ_INT(rm->ngws, 1);
    CHECK_EQ_INT(gw_count(rm, GW_B), 1);
    presence_del(conn_presence(b1, rm));
    CHECK_EQ_INT(rm->ngws, 0);
    CHECK_EQ_INT(rm->online, 0);
    /* And back up: a gateway reappears with a fresh count. */
    enter(b1, rm, bob);
    CHECK_EQ_INT(gw_count(rm, GW_B), 1);
    CHECK_EQ_INT(rm->ngws, 1);
    rooms_free(r);
}

TEST(per_gateway_counts_with_many_gateways)
{
    /* More gateways than the first allocation holds (4), added and removed
     * in an order that moves entries around. */
    enum { NGW = 13, PER = 3 };
    static char gws[NGW];
    rooms *r = rooms_new();
    room *rm = add_room(r, "lobby");
    member *m = add_member(rm, "u");
    bk_conn *conns[NGW][PER];
    for (int k = 0; k < PER; k++)
        for (int g = 0; g < NGW; g++) {
            conns[g][k] = add_conn(r, (gateway *)(void *)&gws[g],
                                   (uint64_t)k);
            enter(conns[g][k], rm, m);
        }
    CHECK_EQ_INT(rm->ngws, NGW);
    CHECK_EQ_INT(rm->online, 1);
    for (int g = 0; g < NGW; g++)
        CHECK_EQ_INT(gw_count(rm, (gateway *)(void *)&gws[g]), PER);
    /* Empty every third gateway, then take one from each of the rest. */
    for (int g = 0; g < NGW; g += 3)
        for (int k = 0; k < PER; k++)
            presence_del(conn_presence(conns[g][k], rm));
    for (int g = 0; g < NGW; g++)
        if (g % 3 != 0)
            presence_del(conn_presence(conns[g][0], rm));
    size_t want = 0;
    for (int g = 0; g < NGW; g++) {
        int c = gw_count(rm, (gateway *)(void *)&gws[g]);
        CHECK_EQ_INT(c, g % 3 == 0 ? -1 : PER - 1);
        want += g % 3 != 0;
    }
    CHECK_EQ_INT(rm->ngws, want);
    CHECK_EQ_INT(rm->online, 1);
    rooms_free(r);
}

static int contains(bk_conn **list, size_t n, bk_conn *c)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += list[i] == c;
    return k;
}

TEST(conns_of_one_gateway)
{
    rooms *r = rooms_new();
    bk_conn **list = (bk_conn **)(uintptr_t)1; /* must be overwritten */
    CHECK_EQ_INT(rooms_conns_of(r, GW_A, &list), 0);
    CHECK(list == NULL);

    enum { N = 150 }; /* past the first allocation of 64 */
    bk_conn *a[N], *b[N / 2];
    for (int i = 0; i < N; i++)
        a[i] = add_conn(r, GW_A, (uint64_t)i);
    for (int i = 0; i < N / 2; i++)
        b[i] = add_conn(r, GW_B, (uint64_t)i);

    size_t n = rooms_conns_of(r, GW_A, &list);
    CHECK_EQ_INT(n, N);
    int wrong = 0;
    for (int i = 0; i < N; i++)
        wrong += contains(list, n, a[i]) != 1;
    for (size_t i = 0; i < n; i++)
        wrong += list[i]->gw != GW_A;
    CHECK_EQ_INT(wrong, 0);
    free(list);

    n = rooms_conns_of(r, GW_B, &list);
    CHECK_EQ_INT(n, N / 2);
    wrong = 0;
    for (int i = 0; i < N / 2; i++)
        wrong += contains(list, n, b[i]) != 1;
    CHECK_EQ_INT(wrong, 0);
    free(list);

    CHECK_EQ_INT(rooms_conns_of(r, GW_C, &list), 0);
    CHECK(list == NULL);

    /* What bk_events does when a gateway is gone: delete each listed. */
    n = rooms_conns_of(r, GW_B, &list);
    for (size_t i = 0; i < n; i++)
        rooms_conn_del(r, list[i]);
    free(list);
    CHECK_EQ_INT(rooms_conns_of(r, GW_B, &list), 0);
    free(list);
    n = rooms_conns_of(r, GW_A, &list);
    CHECK_EQ_INT(n, N);
    free(list);
    rooms_free(r);
}

TEST(conn_del_frees_claims)
{
    rooms *r = rooms_new();
    bk_conn *c = add_conn(r, GW_A, 1);
    c->authed = true;
    c->claims.nrooms = 2;
    c->claims.rooms = calloc(2, sizeof *c->claims.rooms);
    c->claims.rooms[0] = strdup("team-*");
    c->claims.rooms[1] = strdup("lobby");
    c->claims.has_rooms = true;
    rooms_conn_del(r, c); /* ASan: no leak of the rooms claim */
    /* And at rooms_free for a connection still there. */
    bk_conn *d = add_conn(r, GW_A, 2);
    d->claims.nrooms = 1;
    d->claims.rooms = calloc(1, sizeof *d->claims.rooms);
    d->claims.rooms[0] = strdup("*");
    rooms_free(r);
}

TEST(free_with_everything_in_place)
{
    /* Rooms, members, connections and presences all still linked: one
     * rooms_free releases every one of them (ASan's leak check). */
    rooms *r = rooms_new();
    char name[16];
    bk_conn *conns[20];
    for (int i = 0; i < 20; i++)
        conns[i] = add_conn(r, i % 2 ? GW_A : GW_B, (uint64_t)i);
    for (int k = 0; k < 10; k++) {
        snprintf(name, sizeof name, "room-%d", k);
        room *rm = add_room(r, name);
        for (int u = 0; u < 5; u++) {
            char uid[16];
            snprintf(uid, sizeof uid, "u%d", u);
            member *m = add_member(rm, uid);
            enter(conns[(k + u) % 20], rm, m);
            enter(conns[(k + u + 7) % 20], rm, m);
        }
        CHECK_EQ_INT(rm->online, 5);
    }
    CHECK_EQ_INT(rooms_count(r), 10);
    rooms_free(r);
}

TEST(evict_only_rooms_without_presence)
{
    rooms *r = rooms_new();
    room *rm = add_room(r, "lobby");
    member *m = add_member(rm, "alice");
    bk_conn *c = add_conn(r, GW_A, 1);
    CHECK_EQ_INT(enter(c, rm, m), 1);
    CHECK(!rooms_evict(r, rm)); /* someone is present: it stays */
    CHECK(rooms_find(r, "lobby") == rm);
    CHECK(presence_del(conn_presence(c, rm)));
    CHECK(rooms_evict(r, rm)); /* members stay in storage, not memory */
    CHECK(rooms_find(r, "lobby") == NULL);
    CHECK_EQ_INT(rooms_count(r), 0);
    rooms_free(r);
}

RUN_TESTS(rooms)
