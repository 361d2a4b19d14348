/* bk_rooms_check.c -- the invariants of bk_rooms' counts, checked by
 * walking a room (tests and debug builds: bk_rooms.c calls these through
 * DEBUG_ASSERT, so a release build never runs them).
 *
 * The rules, which `num`, `total` and the choice of fan-out targets rely on:
 *   - a member's `conns` is the length of its presence list, and every
 *     presence on that list names the member and its room;
 *   - room->online is the number of members with conns > 0;
 *   - every gateway entry of a room has conns > 0 and appears once, and
 *     the entries add up to the room's presences; every present
 *     connection's gateway has an entry;
 *   - a connection is present in a room at most once.
 * Broker main thread only, like bk_rooms. */
#include "bk_rooms.h"
#include "invariant.h"

static int room_gw_conns(const room *rm, const gateway *gw)
{
    int found = 0;
    for (size_t i = 0; i < rm->ngws; i++)
        if (rm->gws[i].gw == gw) {
            ASSERT(found == 0); /* listed once */
            found = rm->gws[i].conns;
        }
    return found;
}

bool room_check(const room *rm)
{
    size_t online = 0;
    long presences = 0, gw_total = 0;
    map_iter it = {0};
    void *v;
    while (map_next(rm->members, &it, NULL, NULL, &v)) {
        const member *m = v;
        int n = 0;
        ASSERT(m->conns >= 0);
        for (const presence *p = m->presences; p != NULL;
             p = p->next_in_member) {
            ASSERT(p->member == m && p->room == rm);
            ASSERT(room_gw_conns(rm, p->conn->gw) > 0);
            n++;
        }
        ASSERT(n == m->conns);
        online += m->conns > 0;
        presences += m->conns;
    }
    ASSERT(online == rm->online);
    ASSERT(rm->ngws <= rm->capgws);
    for (size_t i = 0; i < rm->ngws; i++) {
        ASSERT(rm->gws[i].conns > 0);
        room_gw_conns(rm, rm->gws[i].gw);
        gw_total += rm->gws[i].conns;
    }
    ASSERT(gw_total == presences);
    return true;
}

bool conn_check(const bk_conn *c)
{
    for (const presence *p = c->presences; p != NULL; p = p->next_in_conn) {
        ASSERT(p->conn == c);
        for (const presence *q = p->next_in_conn; q != NULL;
             q = q->next_in_conn)
            ASSERT(q->room != p->room);
    }
    return true;
}
