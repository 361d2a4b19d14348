/* invariant.h -- assertions for rules that must never break.
 *
 *   ASSERT(cond)        a cheap check (a compare or two), on in every build
 *   DEBUG_ASSERT(cond)  a check that costs a walk (a room's members, a
 *                       queue), only where ROOMCAST_ASSERT is defined: the
 *                       unit tests and `make debug` (build/debug/bin/)
 *   ASSERT_LOCKED(m)    the calling thread holds mutex m; ROOMCAST_ASSERT
 *                       only (the check reads the owner glibc records)
 *   ASSERT_WRLOCKED(l)  the calling thread holds rwlock l for writing;
 *                       ROOMCAST_ASSERT only
 *
 * A failed assertion logs one line, `event=assert_failed file=F line=L
 * cond="..."`, and aborts: a broken count means the process's picture of
 * rooms or queues is wrong, and carrying on would send fan-out to the wrong
 * places or lose track of memory. Why the cheap ones stay on in release
 * (as Redis's serverAssert does, where nng's NNI_ASSERT does not): they
 * cost nothing measurable, and both processes are built to be restarted
 * (gateways register again with a restarted broker, clients catch up by
 * seq), so a crash that names the broken rule is recoverable while silent
 * drift is not. The walks would turn O(1) updates into O(n) ones, so they
 * are for tests and debug builds only. Without ROOMCAST_ASSERT the
 * debug-only conditions are compiled (so they keep building) but never
 * evaluated.
 *
 * Any thread. */
#ifndef INVARIANT_H
#define INVARIANT_H

#include <pthread.h>
#include <stdbool.h>

/* Logs the failed condition and aborts. */
_Noreturn void invariant_fail(const char *file, int line, const char *cond);
/* Whether the calling thread holds m (a default or error-checking mutex). */
bool invariant_locked(const pthread_mutex_t *m);
/* Whether the calling thread holds l for writing. */
bool invariant_wrlocked(const pthread_rwlock_t *l);

#define ASSERT(cond)                                                           \
    (__builtin_expect(!!(cond), 1)                                             \
         ? (void)0                                                             \
         : invariant_fail(__FILE__, __LINE__, #cond))

#ifdef ROOMCAST_ASSERT
#define DEBUG_ASSERT(cond) ASSERT(cond)
#define ASSERT_LOCKED(m) ASSERT(invariant_locked(m))
#define ASSERT_WRLOCKED(l) ASSERT(invariant_wrlocked(l))
#else
#define DEBUG_ASSERT(cond) ((void)sizeof(!(cond)))
#define ASSERT_LOCKED(m) ((void)sizeof(m))
#define ASSERT_WRLOCKED(l) ((void)sizeof(l))
#endif

#endif
