/* dbtest.h -- the temporary-directory set-up the storage unit tests share
 * (test_store.c, test_store_api.c, test_hooks.c, test_history.c; the
 * test_oom_* files and test_store_replicate.c, which make their directories
 * their own way, use dbtest_remove):
 *
 *     dbtest_mkdtemp(tmp_dir, sizeof tmp_dir, "store");  ... /roomcast-store-XXXXXX
 *     store *s = dbtest_open(db_path);                   exits 2 if it fails
 *     dbtest_remove(tmp_dir);                            the directory, whole
 *
 * The directory goes under $TMPDIR, or /tmp when that is unset or empty.
 * A failure to set up exits with status 2 (the test cannot run at all),
 * unlike a failed CHECK. Static inline, so each test binary has its own
 * copy and the Makefile links nothing more. Single-threaded: the tests'
 * main thread. */
#ifndef DBTEST_H
#define DBTEST_H

#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "bk_store.h"

static inline int dbtest_rm_entry(const char *path, const struct stat *st,
                                  int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Makes a fresh directory $TMPDIR/roomcast-NAME-XXXXXX into dir (n bytes). */
static inline void dbtest_mkdtemp(char *dir, size_t n, const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, n, "%s/roomcast-%s-XXXXXX",
             base != NULL && *base ? base : "/tmp", name);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

/* Removes dir and everything below it. */
static inline void dbtest_remove(const char *dir)
{
    nftw(dir, dbtest_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The store at path; the caller closes it. */
static inline store *dbtest_open(const char *path)
{
    store *s = NULL;
    if (store_open(path, false, &s) != RC_OK || s == NULL) {
        fprintf(stderr, "store_open %s failed\n", path);
        exit(2);
    }
    return s;
}

#endif
