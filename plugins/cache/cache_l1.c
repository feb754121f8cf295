/* cache_l1.c - sharded, byte-bounded LRU. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache_l1.h"
#include "ima_plugin.h"

#define L1_SHARDS 16

struct l1_entry {
	unsigned char key[CACHE_KEY_BYTES];
	struct l1_entry *hnext;            /* hash chain */
	struct l1_entry *prev, *next;      /* LRU list, most recent first */
	time_t expires;
	size_t len;
	char value[];
};

struct l1_shard {
	pthread_mutex_t lock;
	struct l1_entry **buckets;
	size_t nbuckets;
	struct l1_entry *head, *tail;
	size_t bytes, max_bytes, entries;
	uint64_t evictions;
};

struct cache_l1 {
	struct l1_shard shards[L1_SHARDS];
};

static size_t l1_cost(size_t len)
{
	return sizeof(struct l1_entry) + len;
}

struct cache_l1 *cache_l1_new(size_t max_bytes)
{
	struct cache_l1 *l1 = ima_calloc(1, sizeof(*l1));

	if (l1 == NULL)
		return NULL;
	for (int i = 0; i < L1_SHARDS; i++) {
		struct l1_shard *s = &l1->shards[i];

		pthread_mutex_init(&s->lock, NULL);
		s->max_bytes = max_bytes / L1_SHARDS;
		s->nbuckets = 256;
		s->buckets = ima_calloc(s->nbuckets, sizeof(*s->buckets));
		if (s->buckets == NULL) {
			cache_l1_free(l1);
			return NULL;
		}
	}
	return l1;
}

static void l1_shard_clear(struct l1_shard *s)
{
	struct l1_entry *e = s->head;

	while (e != NULL) {
		struct l1_entry *next = e->next;

		ima_free(e);
		e = next;
	}
	s->head = s->tail = NULL;
	s->bytes = s->entries = 0;
	if (s->buckets)
		memset(s->buckets, 0, s->nbuckets * sizeof(*s->buckets));
}

void cache_l1_free(struct cache_l1 *l1)
{
	if (l1 == NULL)
		return;
	for (int i = 0; i < L1_SHARDS; i++) {
		l1_shard_clear(&l1->shards[i]);
		ima_free(l1->shards[i].buckets);
		pthread_mutex_destroy(&l1->shards[i].lock);
	}
	ima_free(l1);
}

void cache_l1_clear(struct cache_l1 *l1)
{
	for (int i = 0; i < L1_SHARDS; i++) {
		pthread_mutex_lock(&l1->shards[i].lock);
		l1_shard_clear(&l1->shards[i]);
		pthread_mutex_unlock(&l1->shards[i].lock);
	}
}

/* The key is a SHA-256: its bytes are already uniform. */
static struct l1_shard *l1_shard(struct cache_l1 *l1, const unsigned char *key)
{
	return &l1->shards[key[0] % L1_SHARDS];
}

static size_t l1_bucket(const struct l1_shard *s, const unsigned char *key)
{
	uint32_t h;

	memcpy(&h, key + 4, sizeof(h));
	return h & (s->nbuckets - 1);
}

static void l1_unlink(struct l1_shard *s, struct l1_entry *e)
{
	struct l1_entry **pp = &s->buckets[l1_bucket(s, e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	s->bytes -= l1_cost(e->len);
	s->entries--;
}

static void l1_push_front(struct l1_shard *s, struct l1_entry *e)
{
	e->prev = NULL;
	e->next = s->head;
	if (s->head)
		s->head->prev = e;
	s->head = e;
	if (s->tail == NULL)
		s->tail = e;
}

static struct l1_entry *l1_find(struct l1_shard *s, const unsigned char *key)
{
	for (struct l1_entry *e = s->buckets[l1_bucket(s, key)]; e; e = e->hnext)
		if (memcmp(e->key, key, CACHE_KEY_BYTES) == 0)
			return e;
	return NULL;
}

/* Doubles the table when chains grow; failure only costs speed. */
static void l1_grow(struct l1_shard *s)
{
	size_t n = s->nbuckets * 2;
	struct l1_entry **b = ima_calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (struct l1_entry *e = s->head; e; e = e->next) {
		uint32_t h;

		memcpy(&h, e->key + 4, sizeof(h));
		e->hnext = b[h & (n - 1)];
		b[h & (n - 1)] = e;
	}
	ima_free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

int cache_l1_get(struct cache_l1 *l1, const unsigned char key[CACHE_KEY_BYTES],
		 time_t now, char **out, size_t *len)
{
	struct l1_shard *s = l1_shard(l1, key);
	struct l1_entry *e;
	int hit = 0;

	pthread_mutex_lock(&s->lock);
	e = l1_find(s, key);
	if (e != NULL && e->expires <= now) {
		l1_unlink(s, e);
		ima_free(e);
		e = NULL;
	}
	if (e != NULL) {
		*out = ima_malloc(e->len);
		if (*out != NULL) {
			memcpy(*out, e->value, e->len);
			*len = e->len;
			hit = 1;
			/* Most recently used first. */
			if (s->head != e) {
				e->prev->next = e->next;
				if (e->next)
					e->next->prev = e->prev;
				else
					s->tail = e->prev;
				l1_push_front(s, e);
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

void cache_l1_put(struct cache_l1 *l1, const unsigned char key[CACHE_KEY_BYTES],
		  const char *value, size_t len, time_t expires)
{
	struct l1_shard *s = l1_shard(l1, key);
	struct l1_entry *e, *old;
	size_t b;

	if (l1_cost(len) > s->max_bytes)
		return;
	e = ima_malloc(sizeof(*e) + len);
	if (e == NULL)
		return;
	memcpy(e->key, key, CACHE_KEY_BYTES);
	memcpy(e->value, value, len);
	e->len = len;
	e->expires = expires;
	pthread_mutex_lock(&s->lock);
	old = l1_find(s, key);
	if (old != NULL) {
		l1_unlink(s, old);
		ima_free(old);
	}
	while (s->tail != NULL && s->bytes + l1_cost(len) > s->max_bytes) {
		struct l1_entry *victim = s->tail;

		l1_unlink(s, victim);
		ima_free(victim);
		s->evictions++;
	}
	if (s->entries + 1 > s->nbuckets * 2)
		l1_grow(s);
	b = l1_bucket(s, key);
	e->hnext = s->buckets[b];
	s->buckets[b] = e;
	l1_push_front(s, e);
	s->bytes += l1_cost(len);
	s->entries++;
	pthread_mutex_unlock(&s->lock);
}

void cache_l1_stats(struct cache_l1 *l1, size_t *bytes, size_t *entries,
		    uint64_t *evictions)
{
	*bytes = *entries = 0;
	*evictions = 0;
	for (int i = 0; i < L1_SHARDS; i++) {
		pthread_mutex_lock(&l1->shards[i].lock);
		*bytes += l1->shards[i].bytes;
		*entries += l1->shards[i].entries;
		*evictions += l1->shards[i].evictions;
		pthread_mutex_unlock(&l1->shards[i].lock);
	}
}
