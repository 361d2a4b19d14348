/* gw_capacity.c -- see gw_capacity.h.
 *
 * Why each step (measured on a 2-core VM, kernel 6.18, threads = 10240):
 *
 * - Descriptors: one per WebSocket. The soft limit is raised to the hard
 *   one (and the hard one too when the process may); a limit still too low
 *   caps the connections, with a warning naming it, instead of failing
 *   accept() in civetweb's master thread.
 * - Tasks: civetweb starts every worker at mg_start, so pid_max,
 *   threads-max, RLIMIT_NPROC, the cgroup's pids.max (systemd's TasksMax)
 *   and vm.max_map_count (two mappings per thread stack) must all fit them.
 *   When a worker cannot start, civetweb goes on with fewer and then fails
 *   to start its master thread without a word: a gateway that never
 *   answers. So the workers are sized here to what the limits leave (with
 *   a warning naming the limit), and a worker that still fails to start
 *   makes the gateway exit (capacity_start_failed).
 * - Futex hash: since Linux 6.17 a process gets a private futex hash sized
 *   from the online CPUs (16 buckets on 2 CPUs). Every idle civetweb worker
 *   waits on the same condition variable, so one bucket holds thousands of
 *   waiters and every unrelated wake hashed to it walks them all (67% of a
 *   loaded gateway's CPU in futex_wake). A hash sized from the thread count
 *   makes that rare: 100 members at 1,000 msg/s with 10,240 workers, p99
 *   9-115 ms with the default hash, 3.4-3.8 ms with 32768 slots, 5-7.6 ms
 *   with 0 (the system's global hash, 512 buckets here), 3.7-4.2 ms with
 *   1,024 workers. Older kernels answer EINVAL: nothing to do there, the
 *   global hash is used.
 * - Start-up: every civetweb worker, first thing, sets SIGPIPE to SIG_IGN,
 *   and the kernel then walks every thread of the process to drop pending
 *   SIGPIPEs: quadratic in the workers, 62% of a 10,240-worker start-up
 *   (perf). SIGPIPE is ignored already (proc_start), so the sigaction
 *   below answers that one call without the system call: the same outcome,
 *   since an ignored signal is never pending. Start-up to /healthz went
 *   from 1.7-4 s to 0.3 s (10,240 workers, 2 cores).
 * - malloc arenas: left as they are. MALLOC_ARENA_MAX=2 changed neither
 *   the resident memory at start nor with 10,000 connections (within 1%);
 *   what a connection costs is mostly the pages of its worker's stack that
 *   civetweb's request and WebSocket code touch (see README, "Capacity"). */
#include "gw_capacity.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

/* linux/prctl.h of Linux 6.17; Debian 12's headers predate it. */
#ifndef PR_FUTEX_HASH
#define PR_FUTEX_HASH 78
#define PR_FUTEX_HASH_SET_SLOTS 1
#define PR_FUTEX_HASH_GET_SLOTS 2
#endif

/* Descriptors that are not WebSockets: the listener, nng's sockets and
 * pipes, files civetweb serves, stdio. */
#define FD_SPARE 64
/* Tasks that are not workers: civetweb's master, writers, nng's task
 * pool, the link's threads, main. */
#define TASK_SPARE 64

static long workers = -1;       /* what civetweb is asked to start */
static long threads_wanted;     /* cfg->threads */
static int start_failed;        /* civetweb could not start a worker */

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
static _Atomic(sigaction_fn) real_sigaction;

static sigaction_fn get_real_sigaction(void)
{
    sigaction_fn f = atomic_load(&real_sigaction);
    if (f == NULL) {
        /* dlsym returns an object pointer; POSIX guarantees the cast. */
        void *p = dlsym(RTLD_NEXT, "sigaction");
        memcpy(&f, &p, sizeof f);
        atomic_store(&real_sigaction, f);
    }
    return f;
}

/* Takes the place of libc's sigaction for the whole process (civetweb's
 * calls included: the executable's symbols come first). Only "SIGPIPE to
 * SIG_IGN while it is SIG_IGN already" is answered here; everything else
 * goes to libc. Any thread. */
int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    sigaction_fn real = get_real_sigaction();
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (sig == SIGPIPE && act != NULL && old == NULL &&
        !(act->sa_flags & SA_SIGINFO) && act->sa_handler == SIG_IGN) {
        struct sigaction now;
        if (real(sig, NULL, &now) == 0 && !(now.sa_flags & SA_SIGINFO) &&
            now.sa_handler == SIG_IGN)
            return 0;
    }
    return real(sig, act, old);
}

/* A number from a one-line /proc or /sys file; -1 when absent or "max". */
static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[64] = "";
    long v = -1;
    if (fgets(line, sizeof line, f) != NULL) {
        char *end;
        errno = 0;
        long x = strtol(line, &end, 10);
        if (errno == 0 && end != line && x >= 0)
            v = x;
    }
    fclose(f);
    return v;
}

static void warn_limit(const char *what, long value, long needed,
                       const char *hint)
{
    LOG(LOG_WARN,
        "event=capacity_limit limit=%s value=%ld needed=%ld threads=%ld "
        "hint=\"%s\"",
        what, value, needed, threads_wanted, hint);
}

/* Returns the WebSockets the descriptor limit allows. */
static long prepare_nofile(long needed)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return needed;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)needed) {
        /* Allowed with CAP_SYS_RESOURCE (root), up to fs.nr_open. */
        struct rlimit want = {(rlim_t)needed, (rlim_t)needed};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    long limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 100000000
                     ? 100000000
                     : (long)rl.rlim_cur;
    if (limit < needed)
        warn_limit("open_files", limit, needed,
                   "raise the hard limit (ulimit -Hn, LimitNOFILE=, "
                   "limits.conf); workers are cut to fit");
    return limit - FD_SPARE;
}

/* pids.max of this process's cgroup (systemd's TasksMax): v2, or the v1
 * pids controller; -1 when there is none or it is "max". */
static long cgroup_pids_max(long *current)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f == NULL)
        return -1;
    char line[512], path[640] = "";
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "0::", 3) == 0 && path[0] == '\0')
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/pids.max", line + 3);
        char *c = strstr(line, ":pids:");
        if (c != NULL)
            snprintf(path, sizeof path, "/sys/fs/cgroup/pids%s/pids.max",
                     c + 6);
    }
    fclose(f);
    if (path[0] == '\0')
        return -1;
    long max = read_long(path);
    if (max < 0 || current == NULL)
        return max;
    memcpy(strrchr(path, '/'), "/pids.current", sizeof "/pids.current");
    *current = read_long(path);
    return max;
}

/* Tasks on the whole system now (the 4th field of /proc/loadavg). */
static long tasks_now(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (f == NULL)
        return -1;
    long total = -1;
    if (fscanf(f, "%*s %*s %*s %*d/%ld", &total) != 1)
        total = -1;
    fclose(f);
    return total;
}

/* Lowers *budget to what a limit of `max` tasks leaves when `used` are
 * taken, and names the limit when that is short of `needed`. */
static void task_limit(const char *what, long max, long used, long needed,
                       const char *hint, long *budget)
{
    if (max < 0)
        return;
    long left = max - (used > 0 ? used : 0) - TASK_SPARE;
    if (left < *budget) {
        *budget = left;
        warn_limit(what, max, needed + (used > 0 ? used : 0), hint);
    }
}

/* Returns the workers the task limits leave room for. */
static long check_tasks(long needed)
{
    long budget = needed;
    long used = tasks_now();
    task_limit("kernel.pid_max", read_long("/proc/sys/kernel/pid_max"), used,
               needed, "sysctl kernel.pid_max=4194304 (systemd's default)",
               &budget);
    task_limit("kernel.threads-max", read_long("/proc/sys/kernel/threads-max"),
               used, needed, "sysctl kernel.threads-max", &budget);
    long current = -1;
    long max = cgroup_pids_max(&current);
    task_limit("cgroup_pids_max", max, current, needed,
               "TasksMax= of the unit", &budget);
    struct rlimit rl;
    if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &rl) == 0 &&
        rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)needed)
        task_limit("nproc", (long)rl.rlim_cur, 0, needed,
                   "ulimit -u counts every thread of the user", &budget);
    long maps = read_long("/proc/sys/vm/max_map_count");
    if (maps >= 0 && maps < 2 * needed + 1024) {
        warn_limit("vm.max_map_count", maps, 2 * needed + 1024,
                   "two mappings per thread stack: sysctl vm.max_map_count");
        if ((maps - 1024) / 2 < budget)
            budget = (maps - 1024) / 2;
    }
    return budget;
}

/* The smallest power of two >= 2 x threads, within the kernel's range: a
 * bucket per waiter or so. */
static unsigned long futex_slots_for(long threads)
{
    unsigned long slots = 16;
    while (slots < 2ul * (unsigned long)threads && slots < (1ul << 17))
        slots <<= 1;
    return slots;
}

static void prepare_futex_hash(long threads)
{
    unsigned long slots = futex_slots_for(threads);
    if (prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS, slots, 0, 0) != 0) {
        LOG(LOG_DEBUG, "event=futex_hash result=unsupported errno=%d", errno);
        return;
    }
    int got = prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_GET_SLOTS, 0, 0, 0);
    LOG(LOG_INFO, "event=futex_hash slots=%d asked=%lu", got, slots);
}

void capacity_prepare(const config *cfg)
{
    threads_wanted = cfg->threads;
    long w = cfg->threads;
    long fds = prepare_nofile(cfg->threads + FD_SPARE);
    if (fds < w)
        w = fds;
    long tasks = check_tasks(cfg->threads);
    if (tasks < w)
        w = tasks;
    workers = w < 8 ? 8 : w; /* civetweb needs a few; fewer fails loudly */
    prepare_futex_hash(workers);
}

int capacity_note_civetweb(const char *msg)
{
    int n;
    if (sscanf(msg, "Cannot start worker thread %d", &n) != 1)
        return 0;
    start_failed = 1;
    return 1;
}

long capacity_workers(void)
{
    return workers >= 0 ? workers : threads_wanted;
}

bool capacity_start_failed(void)
{
    return start_failed != 0;
}
