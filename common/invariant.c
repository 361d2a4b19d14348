/* invariant.c -- what a failed assertion does, and the lock-owner check;
 * see invariant.h. Any thread. */
#include "invariant.h"

#include <stdlib.h>
#include <unistd.h>

#include "log.h"

void invariant_fail(const char *file, int line, const char *cond)
{
    /* log_line, not LOG: a broken invariant is reported at any threshold. */
    log_line(LOG_ERROR, "event=assert_failed file=%s line=%d cond=\"%s\"",
             file, line, cond);
    abort();
}

bool invariant_locked(const pthread_mutex_t *m)
{
#ifdef __GLIBC__
    /* glibc records the owner's thread id in every mutex it locks (unless
     * lock elision is switched on, which it is not by default). Reading it
     * is exact: only the owner can see its own id there. */
    return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) == gettid();
#else
    /* Elsewhere: at least someone holds it (a default mutex cannot be taken
     * again, even by its owner). */
    pthread_mutex_t *mm = (pthread_mutex_t *)m;
    if (pthread_mutex_trylock(mm) != 0)
        return true;
    pthread_mutex_unlock(mm);
    return false;
#endif
}

bool invariant_wrlocked(const pthread_rwlock_t *l)
{
#ifdef __GLIBC__
    /* glibc records the writer's thread id, as for mutexes. */
    return __atomic_load_n(&l->__data.__cur_writer, __ATOMIC_RELAXED) ==
           gettid();
#else
    pthread_rwlock_t *ll = (pthread_rwlock_t *)l;
    if (pthread_rwlock_tryrdlock(ll) != 0)
        return true; /* someone writes */
    pthread_rwlock_unlock(ll);
    return false;
#endif
}
