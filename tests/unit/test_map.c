/* test_map.c -- unit tests of common/map.c: put, get, del and replace;
 * growth past thousands of keys with every key still found; binary keys
 * holding NUL bytes (and the empty key) kept apart from their prefixes;
 * iteration visiting every key exactly once; map_free calling free_value
 * once per value. Single-threaded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "map.h"

/* Distinct addresses used as values. */
static int vals[8];

TEST(new_is_empty_and_free_accepts_null)
{
    map *m = map_new();
    CHECK(m != NULL);
    CHECK_EQ_INT(map_count(m), 0);
    CHECK(map_get(m, "a", 1) == NULL);
    CHECK(map_del(m, "a", 1) == NULL);
    map_iter it = {0};
    CHECK(!map_next(m, &it, NULL, NULL, NULL));
    map_free(m, NULL);
    map_free(NULL, NULL);
    map_free(NULL, free);
}

TEST(put_get_del_replace)
{
    map *m = map_new();
    CHECK(map_put(m, "alice", 5, &vals[0]) == RC_OK);
    CHECK(map_put(m, "bob", 3, &vals[1]) == RC_OK);
    CHECK_EQ_INT(map_count(m), 2);
    CHECK(map_get(m, "alice", 5) == &vals[0]);
    CHECK(map_get(m, "bob", 3) == &vals[1]);
    CHECK(map_get(m, "carol", 5) == NULL);
    CHECK(map_get(m, "alic", 4) == NULL);   /* a prefix is another key */
    CHECK(map_get(m, "alicex", 6) == NULL); /* so is an extension */
    /* Replace: same count, new value. */
    CHECK(map_put(m, "alice", 5, &vals[2]) == RC_OK);
    CHECK_EQ_INT(map_count(m), 2);
    CHECK(map_get(m, "alice", 5) == &vals[2]);
    /* Delete returns the value once. */
    CHECK(map_del(m, "alice", 5) == &vals[2]);
    CHECK(map_del(m, "alice", 5) == NULL);
    CHECK(map_get(m, "alice", 5) == NULL);
    CHECK_EQ_INT(map_count(m), 1);
    CHECK(map_get(m, "bob", 3) == &vals[1]);
    /* And a deleted key can come back. */
    CHECK(map_put(m, "alice", 5, &vals[3]) == RC_OK);
    CHECK(map_get(m, "alice", 5) == &vals[3]);
    CHECK_EQ_INT(map_count(m), 2);
    map_free(m, NULL);
}

TEST(key_is_copied)
{
    map *m = map_new();
    char key[8] = "room1";
    CHECK(map_put(m, key, 5, &vals[0]) == RC_OK);
    memcpy(key, "XXXXX", 5); /* the caller's buffer changes */
    CHECK(map_get(m, "room1", 5) == &vals[0]);
    CHECK(map_get(m, "XXXXX", 5) == NULL);
    map_free(m, NULL);
}

TEST(binary_keys_with_nul_bytes)
{
    map *m = map_new();
    CHECK(map_put(m, "a", 1, &vals[0]) == RC_OK);
    CHECK(map_put(m, "a\0", 2, &vals[1]) == RC_OK);
    CHECK(map_put(m, "a\0b", 3, &vals[2]) == RC_OK);
    CHECK(map_put(m, "a\0c", 3, &vals[3]) == RC_OK);
    CHECK(map_put(m, "\0\0\0\0", 4, &vals[4]) == RC_OK);
    CHECK(map_put(m, "", 0, &vals[5]) == RC_OK); /* the empty key */
    CHECK_EQ_INT(map_count(m), 6);
    CHECK(map_get(m, "a", 1) == &vals[0]);
    CHECK(map_get(m, "a\0", 2) == &vals[1]);
    CHECK(map_get(m, "a\0b", 3) == &vals[2]);
    CHECK(map_get(m, "a\0c", 3) == &vals[3]);
    CHECK(map_get(m, "\0\0\0\0", 4) == &vals[4]);
    CHECK(map_get(m, "\0\0\0", 3) == NULL);
    CHECK(map_get(m, "", 0) == &vals[5]);
    CHECK(map_del(m, "a\0b", 3) == &vals[2]);
    CHECK(map_get(m, "a\0c", 3) == &vals[3]);
    CHECK(map_get(m, "a\0", 2) == &vals[1]);
    CHECK(map_del(m, "", 0) == &vals[5]);
    CHECK(map_get(m, "", 0) == NULL);
    CHECK_EQ_INT(map_count(m), 4);

    /* Iteration reports the key bytes and the length, NULs included, and a
     * NUL after them. */
    int seen_a0c = 0;
    map_iter it = {0};
    const void *k;
    size_t kl;
    void *v;
    while (map_next(m, &it, &k, &kl, &v)) {
        if (v == &vals[3]) {
            seen_a0c++;
            CHECK_EQ_INT(kl, 3);
            CHECK(memcmp(k, "a\0c", 4) == 0);
        }
    }
    CHECK_EQ_INT(seen_a0c, 1);
    map_free(m, NULL);
}

TEST(keys_of_struct_bytes)
{
    /* What bk_rooms does: a 16-byte key of a pointer and an id, mostly 0. */
    map *m = map_new();
    for (uint64_t id = 0; id < 300; id++) {
        unsigned char key[16] = {0};
        memcpy(key + 8, &id, 8);
        CHECK(map_put(m, key, sizeof key, (void *)(uintptr_t)(id + 1)) ==
              RC_OK);
    }
    int bad = 0;
    for (uint64_t id = 0; id < 300; id++) {
        unsigned char key[16] = {0};
        memcpy(key + 8, &id, 8);
        if (map_get(m, key, sizeof key) != (void *)(uintptr_t)(id + 1))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    map_free(m, NULL);
}

#define MANY 20000

static int key_of(char *buf, int i)
{
    return snprintf(buf, 32, "key-%d", i);
}

TEST(growth_past_thousands_of_keys)
{
    map *m = map_new();
    char k[32];
    int put_failed = 0;
    for (int i = 0; i < MANY; i++) {
        int n = key_of(k, i);
        if (map_put(m, k, (size_t)n, (void *)(intptr_t)(i + 1)) != RC_OK)
            put_failed++;
    }
    CHECK_EQ_INT(put_failed, 0);
    CHECK_EQ_INT(map_count(m), MANY);
    int missing = 0;
    for (int i = 0; i < MANY; i++) {
        int n = key_of(k, i);
        if (map_get(m, k, (size_t)n) != (void *)(intptr_t)(i + 1))
            missing++;
    }
    CHECK_EQ_INT(missing, 0);
    CHECK(map_get(m, "key-20000", 9) == NULL);

    /* Delete every odd key; the even ones stay, the odd ones are gone. */
    int wrong = 0;
    for (int i = 1; i < MANY; i += 2) {
        int n = key_of(k, i);
        if (map_del(m, k, (size_t)n) != (void *)(intptr_t)(i + 1))
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(map_count(m), MANY / 2);
    for (int i = 0; i < MANY; i++) {
        int n = key_of(k, i);
        void *want = i % 2 ? NULL : (void *)(intptr_t)(i + 1);
        if (map_get(m, k, (size_t)n) != want)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);

    /* Replacing every key after the growth keeps the count. */
    for (int i = 0; i < MANY; i += 2) {
        int n = key_of(k, i);
        map_put(m, k, (size_t)n, (void *)(intptr_t)(-i - 1));
    }
    CHECK_EQ_INT(map_count(m), MANY / 2);
    CHECK(map_get(m, "key-0", 5) == (void *)(intptr_t)-1);
    map_free(m, NULL);
}

/* Walks m and marks seen[i] for the value i + 1; returns the number of
 * steps; *bad counts values out of range. */
static int walk(map *m, int *seen, int n, int *bad)
{
    map_iter it = {0};
    const void *k;
    size_t kl;
    void *v;
    int steps = 0;
    *bad = 0;
    while (map_next(m, &it, &k, &kl, &v)) {
        intptr_t i = (intptr_t)v - 1;
        steps++;
        if (i < 0 || i >= n) {
            (*bad)++;
            continue;
        }
        /* The key handed out is the key stored for that value. */
        char want[32];
        int wl = key_of(want, (int)i);
        if (kl != (size_t)wl || memcmp(k, want, kl) != 0)
            (*bad)++;
        seen[i]++;
    }
    /* After the end, map_next keeps saying so. */
    if (map_next(m, &it, NULL, NULL, NULL))
        (*bad)++;
    return steps;
}

TEST(iteration_visits_every_key_once)
{
    static int seen[MANY];
    char k[32];
    map *m = map_new();
    for (int i = 0; i < MANY; i++) {
        int n = key_of(k, i);
        map_put(m, k, (size_t)n, (void *)(intptr_t)(i + 1));
    }
    memset(seen, 0, sizeof seen);
    int bad;
    CHECK_EQ_INT(walk(m, seen, MANY, &bad), MANY);
    CHECK_EQ_INT(bad, 0);
    int not_once = 0;
    for (int i = 0; i < MANY; i++)
        if (seen[i] != 1)
            not_once++;
    CHECK_EQ_INT(not_once, 0);

    /* After deletions: the survivors once each, the deleted never. */
    for (int i = 0; i < MANY; i += 3) {
        int n = key_of(k, i);
        map_del(m, k, (size_t)n);
    }
    memset(seen, 0, sizeof seen);
    int steps = walk(m, seen, MANY, &bad);
    CHECK_EQ_INT(steps, (int)map_count(m));
    CHECK_EQ_INT(bad, 0);
    not_once = 0;
    for (int i = 0; i < MANY; i++)
        if (seen[i] != (i % 3 ? 1 : 0))
            not_once++;
    CHECK_EQ_INT(not_once, 0);

    /* NULL out-params are allowed. */
    map_iter it = {0};
    int n = 0;
    while (map_next(m, &it, NULL, NULL, NULL))
        n++;
    CHECK_EQ_INT(n, (int)map_count(m));
    map_free(m, NULL);
}

TEST(iteration_small_maps)
{
    /* One key, and keys sharing a bucket (fewer than the 8 first buckets
     * would suggest): each visited once. */
    for (int count = 1; count <= 40; count++) {
        static int seen[40];
        memset(seen, 0, sizeof seen);
        map *m = map_new();
        char k[32];
        for (int i = 0; i < count; i++) {
            int n = key_of(k, i);
            map_put(m, k, (size_t)n, (void *)(intptr_t)(i + 1));
        }
        int bad;
        CHECK_EQ_INT(walk(m, seen, count, &bad), count);
        CHECK_EQ_INT(bad, 0);
        for (int i = 0; i < count; i++)
            CHECK_EQ_INT(seen[i], 1);
        map_free(m, NULL);
    }
}

static int freed;
static void count_free(void *p)
{
    freed++;
    free(p);
}

TEST(free_calls_free_value_once_per_value)
{
    map *m = map_new();
    char k[32];
    for (int i = 0; i < 1000; i++) {
        int n = key_of(k, i);
        map_put(m, k, (size_t)n, malloc(16));
    }
    /* A replaced value is the caller's: free it here, not in the map. */
    void *old = map_get(m, "key-5", 5);
    map_put(m, "key-5", 5, malloc(16));
    free(old);
    free(map_del(m, "key-6", 5));
    freed = 0;
    map_free(m, count_free); /* ASan reports any leak or double free */
    CHECK_EQ_INT(freed, 999);
}

RUN_TESTS(map)
