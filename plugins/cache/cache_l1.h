/*
 * cache_l1.h - the in-process level of the cache: an LRU bounded by bytes,
 * split into shards with a lock each, so threads that hit different keys
 * never wait for each other and no lock is global.
 */
#ifndef CACHE_L1_H
#define CACHE_L1_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CACHE_KEY_BYTES 32

struct cache_l1;

/* max_bytes: keys, values and bookkeeping together. NULL when out of memory. */
struct cache_l1 *cache_l1_new(size_t max_bytes);
void cache_l1_free(struct cache_l1 *l1);
/*
 * Copies the value stored under key into *out (malloc'd, the caller frees)
 * when present and not expired at now. Returns 1 on a hit, 0 otherwise.
 */
int cache_l1_get(struct cache_l1 *l1, const unsigned char key[CACHE_KEY_BYTES],
		 time_t now, char **out, size_t *len);
/* Stores a copy; evicts least recently used entries of the shard to fit.
 * A value larger than a shard is not stored. */
void cache_l1_put(struct cache_l1 *l1, const unsigned char key[CACHE_KEY_BYTES],
		  const char *value, size_t len, time_t expires);
/* Drops every entry. */
void cache_l1_clear(struct cache_l1 *l1);
/* Bytes in use, entries, evictions so far. */
void cache_l1_stats(struct cache_l1 *l1, size_t *bytes, size_t *entries,
		    uint64_t *evictions);

#endif
