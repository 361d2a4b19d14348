/* oom.h -- the allocation-failure harness of the test_oom_* unit tests.
 *
 *     #include "check.h"
 *     #include "oom.h"
 *     static void attempt(void) { ... oom_on(); r = call(); oom_off(); ... }
 *     TEST(call_fails_cleanly) { oom_each("call", attempt); }
 *
 * oom_each runs attempt with the Nth allocation failing, for N = 0, 1, 2
 * ... until a run sees no failure (so every allocation the call makes has
 * failed once), twice over: once failing only the Nth allocation, once the
 * Nth and every later one; then it asks LeakSanitizer whether anything
 * leaked. An attempt sets up unarmed, arms the counter (oom_on) right
 * before the call under test and disarms it (oom_off) right after, then
 * checks what rc.h promises: an error (or the call's documented failure
 * value) only when oom.failed > 0, out-params untouched and nothing
 * half-done on an error, a whole result on success.
 *
 * How allocations fail: the test_oom_* binaries alone are linked with
 * -Wl,--wrap=malloc,--wrap=calloc,... (Makefile), so the project's own
 * calls to the malloc family come to the __wrap_ functions here, which
 * forward to the real ones unless the counter says fail. Libraries'
 * allocations are not counted (SQLite gets the counter through its own
 * hook: test_oom_store.c). Only the allocations of the thread that armed
 * the counter count, so a helper thread (the store's checkpointer) cannot
 * make two runs differ.
 *
 * Include it in exactly one file per binary (it defines the wrappers).
 * Single-threaded use; the wrappers may be called from any thread. */
#ifndef OOM_H
#define OOM_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define OOM_LEAKS_FOUND() __lsan_do_recoverable_leak_check()
#else
#define OOM_LEAKS_FOUND() 0
#endif

/* --- the counting allocator ------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

static struct {
    atomic_bool armed;
    pthread_t thread;  /* only its allocations count */
    long countdown;    /* allocations that succeed before one fails */
    bool persistent;   /* after the first failure every one fails */
    long seen;         /* allocations counted since armed */
    long failed;       /* failures injected since armed */
} oom;

/* Whether this allocation is to fail (and counts it). */
static inline bool oom_fail(void)
{
    if (!atomic_load(&oom.armed) ||
        !pthread_equal(pthread_self(), oom.thread))
        return false;
    oom.seen++;
    if ((oom.persistent && oom.failed > 0) || oom.countdown-- == 0) {
        oom.failed++;
        errno = ENOMEM;
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    return oom_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size)
{
    return oom_fail() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n)
{
    return oom_fail() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s)
{
    return oom_fail() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n)
{
    return oom_fail() ? NULL : __real_strndup(s, n);
}

/* --- the driver ------------------------------------------------------- */

#define OOM_RUNS_MAX 20000 /* a call that allocates more is a bug here */

static long oom_n;
static bool oom_persistent;

/* Arm right before the call under test, disarm right after. */
static inline void oom_on(void)
{
    oom.thread = pthread_self();
    oom.countdown = oom_n;
    oom.persistent = oom_persistent;
    oom.seen = oom.failed = 0;
    atomic_store(&oom.armed, true);
}
static inline void oom_off(void)
{
    atomic_store(&oom.armed, false);
}

/* Runs attempt with N = 0, 1, 2 ... in both modes until a run has no
 * failure; then asks LeakSanitizer. Prints how many allocations the call
 * made. */
static inline void oom_each(const char *what, void (*attempt)(void))
{
    long allocs = 0;
    for (int mode = 0; mode < 2; mode++) {
        long n;
        oom_persistent = mode == 1;
        for (n = 0; n < OOM_RUNS_MAX; n++) {
            oom_n = n;
            attempt();
            if (oom.failed == 0)
                break;
        }
        if (n == OOM_RUNS_MAX) {
            fprintf(stderr, "%s: still failing after %d runs\n", what,
                    OOM_RUNS_MAX);
            CHECK(n < OOM_RUNS_MAX);
        }
        allocs = n;
    }
    printf("oom: %s: %ld allocations, each failed alone and onwards\n",
           what, allocs);
    CHECK(OOM_LEAKS_FOUND() == 0);
}

#endif
