/* test_oom_events.c -- allocation failures in broker/bk_events.c (oom.h):
 * events_gone, which takes every connection of a gateway that restarted,
 * fell silent or fell behind offline, must leave none of them behind
 * whatever allocation fails: the broker frees that gateway's record right
 * after (link_drop), so a connection left in the rooms would point at
 * freed memory and fan-out would be staged to it. The rooms' counts stay
 * right (room_check) and nothing leaks. Gateways here are bare records
 * (no link): events_gone only stages records on the others. Single-
 * threaded, apart from the store's checkpointer. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_events.h"
#include "bk_link_impl.h" /* fabricated gateway records */
#include "bk_rooms.h"
#include "bk_store.h"
#include "check.h"
#include "config.h"
#include "dbtest.h"
#include "log.h"
#include "oom.h"

static char tmp_dir[256], db_path[320];
static config cfg;
static store *st;

__attribute__((constructor)) static void setup(void)
{
    log_threshold = LOG_ERROR + 1; /* the failures are expected */
    /* In memory when there is a tmpfs: the runs create thousands of
     * databases, and a disk's syncs would double the time. */
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == 0)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s/roomcast-oomev-XXXXXX", base);
    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(db_path, sizeof db_path, "%s/roomcast.db", tmp_dir);
    config_defaults(&cfg);
}

__attribute__((destructor)) static void cleanup(void)
{
    dbtest_remove(tmp_dir);
}

#define NCONN 40 /* connections on the gateway that goes */

static gateway *gw_a, *gw_b; /* a goes; b has members in the same rooms */
static rooms *R;
static events *EV;

/* Rooms r0..r3; uid u<i> present through connection i on gateway a, and
 * every fourth one also through a connection on gateway b. */
static void world_setup(void)
{
    gw_a = calloc(1, sizeof *gw_a);
    gw_b = calloc(1, sizeof *gw_b);
    if (gw_a == NULL || gw_b == NULL || (R = rooms_new()) == NULL ||
        (st == NULL && store_open(db_path, false, &st) != RC_OK) ||
        events_new(&cfg, st, R, &EV) != RC_OK)
        abort();
    snprintf(gw_a->id, sizeof gw_a->id, "gw-a");
    snprintf(gw_b->id, sizeof gw_b->id, "gw-b");
    room *rm[4];
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "r%d", i);
        if (rooms_add(R, name, &rm[i]) != RC_OK)
            abort();
    }
    for (int i = 0; i < NCONN; i++) {
        char uid[8];
        member *m;
        bk_conn *c;
        bool first;
        snprintf(uid, sizeof uid, "u%d", i);
        if (room_member_add(rm[i % 4], uid, uid, 0, &m) != RC_OK ||
            rooms_conn_add(R, gw_a, (uint64_t)i + 1, &c) != RC_OK ||
            presence_add(c, rm[i % 4], m, &first) != RC_OK)
            abort();
        if (i % 4 == 0 &&
            (rooms_conn_add(R, gw_b, (uint64_t)i + 1, &c) != RC_OK ||
             presence_add(c, rm[i % 4], m, &first) != RC_OK))
            abort();
    }
}

static void world_free(void)
{
    store_commit(st);
    events_free(EV);
    rooms_free(R);
    wbuf_free(&gw_a->staged);
    wbuf_free(&gw_a->out);
    wbuf_free(&gw_b->staged);
    wbuf_free(&gw_b->out);
    free(gw_a);
    free(gw_b);
}

static void check_rooms(void)
{
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "r%d", i);
        room *rm = rooms_find(R, name);
        if (rm != NULL)
            room_check(rm);
    }
}

static void attempt_gone(void)
{
    world_setup();
    oom_on();
    events_gone(EV, gw_a);
    oom_off();
    bk_conn **left = NULL;
    size_t n = rooms_conns_of(R, gw_a, &left);
    CHECK_EQ_INT(n, 0); /* none of gateway a's connections is left */
    free(left);
    n = rooms_conns_of(R, gw_b, &left);
    CHECK_EQ_INT(n, NCONN / 4); /* gateway b's are all there */
    free(left);
    check_rooms();
    world_free();
}

TEST(events_gone_leaves_no_connection_behind)
{
    oom_each("events_gone", attempt_gone);
    store_close(st);
}

RUN_TESTS(oom_events)
