/* test_oom_rooms.c -- allocation failures in broker/bk_rooms.c (oom.h):
 * rooms_new, rooms_add, room_member_add, rooms_conn_add and presence_add,
 * each into maps (and a gateway array) that are full, so the call grows
 * them. A failed call returns RC_NOMEM (rooms_new: NULL), leaves its
 * out-params and every count as they were (room_check walks them), and
 * leaks nothing. Single-threaded. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_rooms.h"
#include "check.h"
#include "oom.h"

/* --- rooms ------------------------------------------------------------ */

static char gw_[6];
#define GW(i) ((gateway *)(void *)&gw_[i])
#define SENTINEL ((void *)&gw_[5])

static void attempt_rooms_new(void)
{
    oom_on();
    rooms *r = rooms_new();
    oom_off();
    CHECK(r != NULL || oom.failed > 0); /* NULL is its failure value */
    if (r != NULL)
        CHECK_EQ_INT(rooms_count(r), 0);
    rooms_free(r);
}

TEST(rooms_new_fails_cleanly)
{
    oom_each("rooms_new", attempt_rooms_new);
}

/* Setup shared by the rooms attempts: a rooms with 8 rooms, the first of
 * which has 8 members and, through connections on 4 gateways, presences,
 * and 8 connections: every map is full, so one more entry grows it, and
 * the room's gateway array is full too. */
static rooms *R;
static room *RM;
static member *M0;
static bk_conn *C[8];

static void rooms_setup(void)
{
    char name[16];
    bool first;
    R = rooms_new();
    for (int i = 0; i < 8; i++) {
        room *rm;
        snprintf(name, sizeof name, "room%d", i);
        if (R == NULL || rooms_add(R, name, &rm) != RC_OK)
            abort();
        if (i == 0)
            RM = rm;
    }
    for (int i = 0; i < 8; i++) {
        member *m;
        snprintf(name, sizeof name, "uid%d", i);
        if (room_member_add(RM, name, name, 0, &m) != RC_OK ||
            rooms_conn_add(R, GW(i % 4), (uint64_t)i + 1, &C[i]) != RC_OK)
            abort();
        if (i == 0)
            M0 = m;
        if (i < 4 && presence_add(C[i], RM, m, &first) != RC_OK)
            abort();
    }
}

static void attempt_rooms_add(void)
{
    rooms_setup();
    room *out = SENTINEL;
    oom_on();
    rc r = rooms_add(R, "new", &out);
    oom_off();
    if (r != RC_OK) {
        CHECK(r == RC_NOMEM && oom.failed > 0);
        CHECK(out == SENTINEL);
        CHECK_EQ_INT(rooms_count(R), 8);
        CHECK(rooms_find(R, "new") == NULL);
    } else {
        CHECK(out != SENTINEL && rooms_find(R, "new") == out);
        CHECK_EQ_INT(rooms_count(R), 9);
        CHECK_STR(out->name, "new");
    }
    rooms_free(R);
}

TEST(rooms_add_fails_cleanly)
{
    oom_each("rooms_add", attempt_rooms_add);
}

static void attempt_room_member_add(void)
{
    rooms_setup();
    member *out = SENTINEL;
    oom_on();
    rc r = room_member_add(RM, "newcomer", "Newcomer", 5, &out);
    oom_off();
    if (r != RC_OK) {
        CHECK(r == RC_NOMEM && oom.failed > 0);
        CHECK(out == SENTINEL);
        CHECK_EQ_INT(map_count(RM->members), 8);
        CHECK(room_member(RM, "newcomer") == NULL);
    } else {
        CHECK(out != SENTINEL && room_member(RM, "newcomer") == out);
        CHECK_EQ_INT(map_count(RM->members), 9);
        CHECK(out->last_seen == 5 && out->conns == 0);
    }
    room_check(RM);
    rooms_free(R);
}

TEST(room_member_add_fails_cleanly)
{
    oom_each("room_member_add", attempt_room_member_add);
}

static void attempt_rooms_conn_add(void)
{
    rooms_setup();
    bk_conn *out = SENTINEL;
    oom_on();
    rc r = rooms_conn_add(R, GW(0), 99, &out);
    oom_off();
    if (r != RC_OK) {
        CHECK(r == RC_NOMEM && oom.failed > 0);
        CHECK(out == SENTINEL);
        CHECK(rooms_conn(R, GW(0), 99) == NULL);
    } else {
        CHECK(out != SENTINEL && rooms_conn(R, GW(0), 99) == out);
        CHECK(out->gw == GW(0) && out->id == 99 && out->presences == NULL);
    }
    rooms_free(R);
}

TEST(rooms_conn_add_fails_cleanly)
{
    oom_each("rooms_conn_add", attempt_rooms_conn_add);
}

/* presence_add of connection C[k] (on gateway k % 4, or 4: a fifth) for
 * member M0, who is online already (through C[0]). */
static int presence_conn;
static gateway *presence_gw;

static void attempt_presence_add(void)
{
    rooms_setup();
    bk_conn *c = C[presence_conn];
    if (presence_gw != NULL)
        c->gw = presence_gw; /* not in the map under this key: never looked up */
    size_t online = RM->online, ngws = RM->ngws;
    int conns = M0->conns;
    presence *cp = c->presences, *mp = M0->presences;
    bool first = true;
    oom_on();
    rc r = presence_add(c, RM, M0, &first);
    oom_off();
    if (r != RC_OK) {
        CHECK(r == RC_NOMEM && oom.failed > 0);
        CHECK(first); /* untouched */
        CHECK(RM->online == online && RM->ngws == ngws);
        CHECK(M0->conns == conns);
        CHECK(c->presences == cp && M0->presences == mp);
        CHECK(conn_presence(c, RM) == NULL);
    } else {
        CHECK(!first); /* M0 was online */
        CHECK(RM->online == online && M0->conns == conns + 1);
        CHECK(conn_presence(c, RM) != NULL);
    }
    room_check(RM);
    conn_check(c);
    c->gw = GW(presence_conn % 4);
    rooms_free(R);
}

TEST(presence_add_fails_cleanly)
{
    presence_conn = 5; /* gateway 1, already counted in the room */
    oom_each("presence_add (gateway already there)", attempt_presence_add);
    presence_conn = 4;
    presence_gw = GW(4); /* a fifth gateway: the room's array grows */
    oom_each("presence_add (new gateway)", attempt_presence_add);
    presence_gw = NULL;
}

RUN_TESTS(oom_rooms)
