/* test_invariant.c -- unit tests of common/invariant.h: a failed ASSERT
 * logs `event=assert_failed file=F line=L cond="..."` and aborts; a true
 * one does nothing; this (sanitizer) build has the debug-only checks on;
 * ASSERT_LOCKED / ASSERT_WRLOCKED know whether the calling thread holds
 * the lock (not just whether anyone does); and bk_rooms' room_check and
 * conn_check catch broken counts. Each failing case runs in a forked child
 * whose stderr is read back. Single-threaded, apart from the thread that
 * holds a lock in lock_held_by_another_thread_is_not_ours. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bk_rooms.h"
#include "check.h"
#include "invariant.h"

/* Runs fn in a child; returns the signal that ended it (0 when it exited)
 * and its stderr in err. */
static int in_child(void (*fn)(void), char *err, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], err + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* Fails an ASSERT when really is set; returns that ASSERT's line. */
static int assert_plain(int really)
{
    int two = 2;
    if (really)
        ASSERT(two + 2 == 5);
    return __LINE__ - 1;
}

static void fail_plain(void)
{
    assert_plain(1);
}

TEST(failed_assert_logs_file_line_condition_and_aborts)
{
    char err[4096], want[128];
    CHECK_EQ_INT(in_child(fail_plain, err, sizeof err), SIGABRT);
    CHECK_CONTAINS(err, "event=assert_failed file=tests/unit/test_invariant.c");
    snprintf(want, sizeof want, "line=%d", assert_plain(0));
    CHECK_CONTAINS(err, want);
    CHECK_CONTAINS(err, "cond=\"two + 2 == 5\"");
}

static void pass_plain(void)
{
    int two = 2;
    ASSERT(two + 2 == 4);
    DEBUG_ASSERT(two == 2);
}

TEST(true_assert_does_nothing)
{
    char err[4096];
    CHECK_EQ_INT(in_child(pass_plain, err, sizeof err), 0);
    CHECK_STR(err, "");
}

static void fail_debug(void)
{
    DEBUG_ASSERT(sizeof(int) == 0);
}

TEST(debug_assert_is_on_in_the_test_build)
{
    char err[4096];
    CHECK_EQ_INT(in_child(fail_debug, err, sizeof err), SIGABRT);
    CHECK_CONTAINS(err, "cond=\"sizeof(int) == 0\"");
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;

static void locked_ok(void)
{
    pthread_mutex_lock(&mu);
    ASSERT_LOCKED(&mu);
    pthread_mutex_unlock(&mu);
    pthread_rwlock_wrlock(&rw);
    ASSERT_WRLOCKED(&rw);
    pthread_rwlock_unlock(&rw);
}

static void mutex_not_held(void)
{
    ASSERT_LOCKED(&mu);
}

static void rwlock_read_only(void)
{
    pthread_rwlock_rdlock(&rw);
    ASSERT_WRLOCKED(&rw);
}

TEST(lock_ownership)
{
    char err[4096];
    CHECK_EQ_INT(in_child(locked_ok, err, sizeof err), 0);
    CHECK_EQ_INT(in_child(mutex_not_held, err, sizeof err), SIGABRT);
    CHECK_CONTAINS(err, "invariant_locked(&mu)");
    CHECK_EQ_INT(in_child(rwlock_read_only, err, sizeof err), SIGABRT);
    CHECK_CONTAINS(err, "invariant_wrlocked(&rw)");
}

static pthread_mutex_t other_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t other_go = PTHREAD_MUTEX_INITIALIZER;

static void *hold_other(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&other_mu);
    pthread_mutex_lock(&other_go); /* until the main thread has checked */
    pthread_mutex_unlock(&other_go);
    pthread_mutex_unlock(&other_mu);
    return NULL;
}

TEST(lock_held_by_another_thread_is_not_ours)
{
    pthread_t t;
    pthread_mutex_lock(&other_go);
    pthread_create(&t, NULL, hold_other, NULL);
    while (pthread_mutex_trylock(&other_mu) == 0) /* wait until it holds it */
        pthread_mutex_unlock(&other_mu);
    CHECK(!invariant_locked(&other_mu));
    pthread_mutex_unlock(&other_go);
    pthread_join(t, NULL);
    pthread_mutex_lock(&other_mu);
    CHECK(invariant_locked(&other_mu));
    pthread_mutex_unlock(&other_mu);
    CHECK(!invariant_locked(&other_mu));
}

/* --- bk_rooms' walks ------------------------------------------------- */

static char gw_a_;
#define GW_A ((gateway *)(void *)&gw_a_)

static rooms *R;
static room *RM;
static member *M;
static bk_conn *C;

/* A room with one member present through one connection. */
static void rooms_setup(void)
{
    bool first;
    R = rooms_new();
    if (R == NULL || rooms_add(R, "lobby", &RM) != RC_OK ||
        room_member_add(RM, "alice", "Alice", 0, &M) != RC_OK ||
        rooms_conn_add(R, GW_A, 1, &C) != RC_OK ||
        presence_add(C, RM, M, &first) != RC_OK)
        abort();
}

static void online_off(void)
{
    rooms_setup();
    RM->online = 2;
    room_check(RM);
}

static void member_conns_off(void)
{
    rooms_setup();
    M->conns = 2;
    room_check(RM);
}

static void gateway_count_off(void)
{
    rooms_setup();
    RM->gws[0].conns = 3;
    room_check(RM);
}

static void gateway_gone(void)
{
    rooms_setup();
    RM->ngws = 0;
    presence_del(C->presences); /* its gateway is not counted */
}

static void member_deleted_while_present(void)
{
    rooms_setup();
    room_member_del(RM, M);
}

static void conn_deleted_while_present(void)
{
    rooms_setup();
    rooms_conn_del(R, C);
}

static void consistent(void)
{
    rooms_setup();
    room_check(RM);
    conn_check(C);
    presence_del(C->presences);
    room_check(RM);
    rooms_conn_del(R, C);
    rooms_free(R);
}

TEST(rooms_walks_catch_broken_counts)
{
    char err[8192];
    CHECK_EQ_INT(in_child(consistent, err, sizeof err), 0);
    CHECK_EQ_INT(in_child(online_off, err, sizeof err), SIGABRT);
    CHECK_CONTAINS(err, "cond=\"online == rm->online\"");
    CHECK_EQ_INT(in_child(member_conns_off, err, sizeof err), SIGABRT);
    CHECK_CONTAINS(err, "cond=\"n == m->conns\"");
    CHECK_EQ_INT(in_child(gateway_count_off, err, sizeof err), SIGABRT);
    CHECK_CONTAINS(err, "cond=\"gw_total == presences\"");
    CHECK_EQ_INT(in_child(gateway_gone, err, sizeof err), SIGABRT);
    CHECK_CONTAINS(err, "is counted in its room");
    CHECK_EQ_INT(in_child(member_deleted_while_present, err, sizeof err),
                 SIGABRT);
    CHECK_CONTAINS(err, "m->presences == NULL");
    CHECK_EQ_INT(in_child(conn_deleted_while_present, err, sizeof err),
                 SIGABRT);
    CHECK_CONTAINS(err, "c->presences == NULL");
}

RUN_TESTS(invariant)
