/* map.c -- see map.h. FNV-1a hashing, separate chaining. */
#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    void *value;
    uint64_t hash;
    size_t klen;
    char key[]; /* klen bytes, then a NUL so string keys print */
} entry;

struct map {
    entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

static uint64_t map_hash(const void *key, size_t klen)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

map *map_new(void)
{
    map *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->nbuckets = 8;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (m->buckets == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void map_free(map *m, void (*free_value)(void *))
{
    if (m == NULL)
        return;
    for (size_t b = 0; b < m->nbuckets; b++) {
        entry *e = m->buckets[b];
        while (e != NULL) {
            entry *next = e->next;
            if (free_value != NULL)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static entry **map_slot(const map *m, const void *key, size_t klen,
                        uint64_t h)
{
    entry **pe = &m->buckets[h & (m->nbuckets - 1)];
    while (*pe != NULL && !((*pe)->hash == h && (*pe)->klen == klen &&
                            memcmp((*pe)->key, key, klen) == 0))
        pe = &(*pe)->next;
    return pe;
}

void *map_get(const map *m, const void *key, size_t klen)
{
    entry *e = *map_slot(m, key, klen, map_hash(key, klen));
    return e ? e->value : NULL;
}

static void map_grow(map *m)
{
    size_t n = m->nbuckets * 2;
    entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return; /* a fuller table still works */
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e != NULL) {
            entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

rc map_put(map *m, const void *key, size_t klen, void *value)
{
    uint64_t h = map_hash(key, klen);
    entry **pe = map_slot(m, key, klen, h);
    if (*pe != NULL) {
        (*pe)->value = value;
        return RC_OK;
    }
    entry *e = malloc(sizeof *e + klen + 1);
    if (e == NULL)
        return RC_NOMEM;
    e->next = NULL;
    e->value = value;
    e->hash = h;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->key[klen] = 0;
    *pe = e;
    if (++m->count > m->nbuckets)
        map_grow(m);
    return RC_OK;
}

void *map_del(map *m, const void *key, size_t klen)
{
    entry **pe = map_slot(m, key, klen, map_hash(key, klen));
    entry *e = *pe;
    if (e == NULL)
        return NULL;
    void *v = e->value;
    *pe = e->next;
    free(e);
    m->count--;
    return v;
}

size_t map_count(const map *m)
{
    return m->count;
}

bool map_next(const map *m, map_iter *it, const void **key, size_t *klen,
              void **value)
{
    entry *e = it->entry ? ((entry *)it->entry)->next : NULL;
    while (e == NULL && it->bucket < m->nbuckets)
        e = m->buckets[it->bucket++];
    it->entry = e;
    if (e == NULL)
        return false;
    if (key)
        *key = e->key;
    if (klen)
        *klen = e->klen;
    if (value)
        *value = e->value;
    return true;
}
