/* gw_link_stats.c -- the broker's figures (link_stat_set on the broker),
 * as the last fan-out reply carried them, for this gateway's /metrics as
 * roomcast_NAME. Threads: the poller thread writes them (read_stats), the
 * /metrics handler's worker reads them (gwlink_each_stat); stats_lock
 * guards both. */
#include <pthread.h>
#include <string.h>

#include "gw_link.h"
#include "gw_link_impl.h"
#include "wire.h"

/* The broker's figures from its last answer; guarded by stats_lock. */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[WIRE_STAT_NAME_MAX + 1];
    uint8_t kind;
    uint64_t value;
} stats[WIRE_STATS_MAX];
static size_t nstats;

static bool stat_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > WIRE_STAT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return false;
    return true;
}

/* Reads the broker's figures; false when they are malformed. */
bool read_stats(rbuf *r)
{
    unsigned n = rbuf_u8(r);
    if (n > WIRE_STATS_MAX)
        return false;
    pthread_mutex_lock(&stats_lock);
    nstats = 0;
    for (unsigned i = 0; i < n && !r->failed; i++) {
        size_t len;
        const char *name = rbuf_str(r, &len);
        uint8_t kind = rbuf_u8(r);
        uint64_t value = rbuf_u64(r);
        if (r->failed || !stat_name_ok(name, len) || kind > STAT_COUNTER)
            continue;
        memcpy(stats[nstats].name, name, len + 1);
        stats[nstats].kind = kind;
        stats[nstats].value = value;
        nstats++;
    }
    pthread_mutex_unlock(&stats_lock);
    return !r->failed;
}

void gwlink_each_stat(gwlink_stat_fn fn, void *arg)
{
    pthread_mutex_lock(&stats_lock);
    for (size_t i = 0; i < nstats; i++)
        fn(arg, stats[i].name, (enum wire_stat_kind)stats[i].kind,
           stats[i].value);
    pthread_mutex_unlock(&stats_lock);
}
