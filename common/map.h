/* map.h -- a hash map from byte-string keys to pointers.
 *
 * Keys are copied in; values are borrowed (the map never frees them unless
 * map_free is given a function to). Chained, grows at load factor 1.
 * Not thread-safe: the owner of a map guards it. */
#ifndef MAP_H
#define MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

typedef struct map map;

/* Returns an owned empty map (free with map_free), or NULL without memory. */
map *map_new(void);
/* NULL ok. Calls free_value (when non-NULL) on every value. */
void map_free(map *m, void (*free_value)(void *));

void *map_get(const map *m, const void *key, size_t klen);
/* Sets key to value, replacing any old value. RC_NOMEM leaves m unchanged. */
rc map_put(map *m, const void *key, size_t klen, void *value);
/* Removes key; returns its value, or NULL when absent. */
void *map_del(map *m, const void *key, size_t klen);
size_t map_count(const map *m);

/* Iteration: start with it = {0}; map_next returns false at the end. The
 * map must not change during the walk. */
typedef struct map_iter {
    size_t bucket;
    void *entry;
} map_iter;
bool map_next(const map *m, map_iter *it, const void **key, size_t *klen,
              void **value);

#endif
