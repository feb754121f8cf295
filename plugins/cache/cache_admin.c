/*
 * cache_admin.c - the cache as operators see it: the invalidate command
 * (per user, by its generation counter), the Redis dependency in /health,
 * and the gauges of this worker's L1 and breaker.
 */
#include <stdio.h>
#include <string.h>

#include "cache_private.h"

int cache_command(void *state, const char *verb, const msgpack_object *args,
		  msgpack_packer *out, struct ima_error *err)
{
	struct cache_state *st = state;
	const char *tenant = "", *user = "";
	size_t tlen = 0, ulen = 0, klen;
	char buf[384], *key;
	long long gen;

	if (strcmp(verb, "invalidate") != 0)
		return 0;
	if (!st->allow_invalidate)
		return ima_error_set(err, 403, "forbidden", "", "stage %s does not allow invalidation (allow_invalidate = false)", st->name);
	/* The names as they are, whatever their length or bytes: the same
	 * identity the keys were made with, never a shortened one. */
	for (uint32_t i = 0; args && args->type == MSGPACK_OBJECT_MAP && i < args->via.map.size; i++) {
		const msgpack_object_kv *kv = &args->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR)
			continue;
		if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "user", 4) == 0) {
			user = kv->val.via.str.ptr;
			ulen = kv->val.via.str.size;
		} else if (kv->key.via.str.size == 6 && memcmp(kv->key.via.str.ptr, "tenant", 6) == 0) {
			tenant = kv->val.via.str.ptr;
			tlen = kv->val.via.str.size;
		}
	}
	if (ulen == 0)
		return ima_error_set(err, 422, "invalid_field", "user", "invalidate needs a user");
	if (st->l2 == NULL)
		return ima_error_set(err, 503, "no_redis", "", "per-user invalidation needs Redis (redis_url or IMAGINATOR_REDIS_URL)");
	key = cache_gen_key(st, tenant, tlen, user, ulen, buf, sizeof(buf), &klen);
	if (key == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	gen = cache_redis_incr(st->l2, key);
	if (gen >= 0) {
		/* This process forgets the old generations at once, and keeps
		 * the new one (also for when Redis stops answering). */
		pthread_mutex_lock(&st->lock);
		for (size_t i = 0; i < sizeof(st->gens) / sizeof(st->gens[0]); i++)
			st->gens[i].fetched_ms = 0;
		pthread_mutex_unlock(&st->lock);
		cache_generation_note(st, key, klen, gen);
	}
	if (key != buf)
		ima_free(key);
	if (gen < 0)
		return ima_error_set(err, 503, "redis_unavailable", "", "Redis did not answer; nothing was invalidated");
	ima_metric_add("imaginator_cache_invalidations_total", 1);
	msgpack_pack_map(out, 4);
	ima_pack_cstr(out, "stage");
	ima_pack_cstr(out, st->name);
	ima_pack_cstr(out, "tenant");
	ima_pack_strn(out, tenant, tlen);
	ima_pack_cstr(out, "user");
	ima_pack_strn(out, user, ulen);
	ima_pack_cstr(out, "generation");
	msgpack_pack_int64(out, gen);
	return 1;
}

/* /health: is Redis answering? Without L2 there is nothing to report. */
int cache_health(void *state, msgpack_packer *out)
{
	struct cache_state *st = state;
	char where[200], detail[300];
	bool open, up;

	if (st->l2 == NULL)
		return 0;
	open = cache_redis_breaker_open(st->l2);
	up = !open && cache_redis_ping(st->l2) == 0;
	msgpack_pack_map(out, 4);
	ima_pack_cstr(out, "name");
	ima_pack_cstr(out, "redis");
	ima_pack_cstr(out, "stage");
	ima_pack_cstr(out, st->name);
	ima_pack_cstr(out, "status");
	/* Redis down only degrades: answers are computed instead. */
	ima_pack_cstr(out, up ? "ok" : "degraded");
	ima_pack_cstr(out, "detail");
	cache_redis_describe(st->l2, where, sizeof(where));
	snprintf(detail, sizeof(detail), "%s%s%s%s",
		 up ? "answering PING" : open ? "circuit breaker open: cache reads as misses"
					      : "not answering: cache reads as misses",
		 where[0] ? " (" : "", where, where[0] ? ")" : "");
	ima_pack_cstr(out, detail);
	return 1;
}

void cache_report(struct cache_state *st)
{
	if (st->l1 != NULL) {
		size_t bytes, entries;
		uint64_t evictions;
		unsigned long long seen;

		cache_l1_stats(st->l1, &bytes, &entries, &evictions);
		ima_metric_set("imaginator_cache_l1_bytes", (double)bytes);
		ima_metric_set("imaginator_cache_l1_entries", (double)entries);
		/* The counter gets what is new since the last report: of
		 * threads reporting at once, the one that moves the mark adds. */
		seen = atomic_load(&st->evictions_reported);
		while (evictions > seen &&
		       !atomic_compare_exchange_weak(&st->evictions_reported, &seen, evictions))
			;
		if (evictions > seen)
			ima_metric_add("imaginator_cache_l1_evictions_total", (double)(evictions - seen));
	}
	if (st->l2 != NULL)
		ima_metric_set("imaginator_cache_breaker_open", cache_redis_breaker_open(st->l2));
}
