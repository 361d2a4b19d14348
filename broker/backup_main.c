/* backup_main.c -- bin/roomcast-backup, a consistent copy of a running
 * broker's database, taken without stopping it.
 *
 *   roomcast-backup [-c FILE] [-o key=value]... [--pages N] DEST
 *
 * Reads `db` from the same configuration the broker reads (-c, then -o in
 * order; broker keys are checked, gateway keys ignored) and copies that
 * database to DEST with SQLite's online backup API, N pages a step
 * (default 1000), retrying a step that meets a lock. The source is opened
 * read only and a read transaction is held for the whole copy: in WAL
 * mode that pins one snapshot (the last commit before the copy began), so
 * every step copies the same state while the broker goes on committing
 * (a reader never blocks the WAL writer; the broker's checkpoints only
 * stop short of that snapshot until the copy ends). The copy is written to
 * DEST.tmp-PID beside DEST, checked with PRAGMA integrity_check, synced,
 * and renamed to DEST, so DEST is either a whole, checked backup or absent.
 * An existing DEST is never overwritten.
 *
 * Exit status: 0 done (one summary line on stdout), 1 the copy failed, 2 a
 * usage or configuration error. Single-threaded. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#ifndef ROOMCAST_VERSION
#define ROOMCAST_VERSION "unknown"
#endif

#define PROG "roomcast-backup"
#define PAGES_DEFAULT 1000
#define BUSY_RETRY_MS 10
#define BUSY_GIVE_UP_MS 60000

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [-c FILE] [-o key=value]... [--pages N] DEST\n"
            "\n"
            "Copies the broker's database (the `db` key) to DEST while the broker\n"
            "runs: one consistent snapshot, checked with PRAGMA integrity_check.\n"
            "DEST must not exist. To restore: stop the broker, remove the `db`\n"
            "file and its -wal and -shm files, copy DEST to `db`, start it.\n"
            "\n"
            "  -c FILE            configuration file (the broker's)\n"
            "  -o key=value       set a configuration key (after the file)\n"
            "  --pages N          pages copied per step (default %d)\n"
            "  --help, --version\n",
            PAGES_DEFAULT);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* fsync a file (or directory) by path; false on failure. */
static bool sync_path(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

/* Runs PRAGMA integrity_check on the copy and counts what it holds. */
static bool check_copy(const char *path, long long *messages, long long *rooms)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    bool ok = false;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto out;
    const char *verdict = (const char *)sqlite3_column_text(st, 0);
    if (verdict == NULL || strcmp(verdict, "ok") != 0) {
        fprintf(stderr, PROG ": the copy fails integrity_check: %s\n",
                verdict ? verdict : "(no answer)");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM messages), "
                           "(SELECT count(DISTINCT room) FROM messages)",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto out;
    *messages = sqlite3_column_int64(st, 0);
    *rooms = sqlite3_column_int64(st, 1);
    ok = true;
out:
    if (!ok && db != NULL && st == NULL)
        fprintf(stderr, PROG ": cannot check the copy: %s\n",
                sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db); /* the last connection: folds its WAL into the file */
    return ok;
}

/* Copies src_path to tmp_path. Returns the steps taken, or -1. */
static long copy(const char *src_path, const char *tmp_path, int pages)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b = NULL;
    long steps = 0;
    bool ok = false;
    if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, PROG ": cannot open the database '%s': %s\n",
                src_path, src ? sqlite3_errmsg(src) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(src, 5000);
    /* One snapshot for the whole copy: without this read transaction each
     * step would see the broker's newest commit, and SQLite restarts a
     * backup whose source changed between steps (forever, on a busy
     * broker). */
    if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_schema;", NULL,
                     NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, PROG ": cannot read '%s': %s\n", src_path,
                sqlite3_errmsg(src));
        goto out;
    }
    if (sqlite3_open_v2(tmp_path, &dst, SQLITE_OPEN_READWRITE |
                        SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, PROG ": cannot create '%s': %s\n", tmp_path,
                dst ? sqlite3_errmsg(dst) : "out of memory");
        goto out;
    }
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        fprintf(stderr, PROG ": cannot start the backup: %s\n",
                sqlite3_errmsg(dst));
        goto out;
    }
    long waited = 0;
    for (;;) {
        int r = sqlite3_backup_step(b, pages);
        steps++;
        if (r == SQLITE_DONE)
            break;
        if (r == SQLITE_OK) {
            waited = 0;
            continue;
        }
        if ((r == SQLITE_BUSY || r == SQLITE_LOCKED) &&
            waited < BUSY_GIVE_UP_MS) {
            sleep_ms(BUSY_RETRY_MS);
            waited += BUSY_RETRY_MS;
            continue;
        }
        fprintf(stderr, PROG ": backup step failed: %s\n", sqlite3_errstr(r));
        goto out;
    }
    ok = true;
out:
    if (b != NULL && sqlite3_backup_finish(b) != SQLITE_OK && ok) {
        fprintf(stderr, PROG ": backup failed: %s\n", sqlite3_errmsg(dst));
        ok = false;
    }
    if (src != NULL)
        sqlite3_exec(src, "COMMIT", NULL, NULL, NULL); /* ends the read */
    sqlite3_close(src);
    sqlite3_close(dst);
    return ok ? steps : -1;
}

int main(int argc, char **argv)
{
    config cfg;
    const char *dest = NULL;
    long pages = PAGES_DEFAULT;
    char **cargv = calloc((size_t)argc + 1, sizeof *cargv);
    int cargc = 0, status = 2;
    char tmp[PATH_MAX];
    if (cargv == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return 2;
    }
    cargv[cargc++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            status = 0;
            goto done;
        } else if (strcmp(a, "--version") == 0) {
            printf(PROG " %s\n", ROOMCAST_VERSION);
            status = 0;
            goto done;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "-o") == 0) {
            cargv[cargc++] = argv[i];
            if (i + 1 < argc)
                cargv[cargc++] = argv[++i];
        } else if (strcmp(a, "--pages") == 0) {
            char *end;
            errno = 0;
            pages = i + 1 < argc ? strtol(argv[++i], &end, 10) : 0;
            if (errno != 0 || pages < 1 || pages > 1000000 || *end != 0) {
                fprintf(stderr, PROG ": --pages: a whole number 1..1000000\n");
                goto done;
            }
        } else if (a[0] == '-' || dest != NULL) {
            fprintf(stderr, PROG ": unexpected argument \"%s\" (see --help)\n",
                    a);
            goto done;
        } else {
            dest = a;
        }
    }
    int st = config_from_args(&cfg, CONFIG_BROKER, PROG, ROOMCAST_VERSION,
                              cargc, cargv, stdout, stderr);
    if (st >= 0) {
        status = st;
        goto done;
    }
    if (dest == NULL) {
        fprintf(stderr, PROG ": DEST is required (see --help)\n");
        goto done;
    }
    if (access(cfg.db, R_OK) != 0) {
        fprintf(stderr, PROG ": cannot read the database '%s': %s\n", cfg.db,
                strerror(errno));
        goto done;
    }
    if (access(dest, F_OK) == 0) {
        fprintf(stderr, PROG ": '%s' exists; it is never overwritten\n", dest);
        goto done;
    }
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dest,
                         (long)getpid()) >= sizeof tmp) {
        fprintf(stderr, PROG ": DEST is too long\n");
        goto done;
    }
    status = 1;
    long steps = copy(cfg.db, tmp, (int)pages);
    long long messages = 0, rooms = 0;
    if (steps < 0 || !check_copy(tmp, &messages, &rooms))
        goto fail;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", dest);
    if (!sync_path(tmp, O_RDONLY) || link(tmp, dest) != 0) {
        /* link, not rename: it fails if DEST appeared meanwhile */
        fprintf(stderr, PROG ": cannot write '%s': %s\n", dest,
                strerror(errno));
        goto fail;
    }
    unlink(tmp);
    sync_path(dirname(dir), O_RDONLY | O_DIRECTORY);
    printf(PROG ": %s -> %s: %lld messages in %lld rooms, %ld steps of %ld "
           "pages, integrity ok\n", cfg.db, dest, messages, rooms, steps,
           pages);
    status = 0;
    goto done;
fail:
    unlink(tmp);
    char side[PATH_MAX + 8];
    snprintf(side, sizeof side, "%s-wal", tmp);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", tmp);
    unlink(side);
done:
    free(cargv);
    return status;
}
