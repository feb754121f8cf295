/*
 * cache_call.c - the call cache: the call_get / call_put hooks behind
 * ima_call_cache_get / ima_call_cache_put, and call_try (call_get without
 * waiting) behind ima_call_cache_lookup. One expensive call (an LLM
 * completion) is cached by its own request, namespaced by tenant, user and
 * generation like answers, in the same L1 and Redis; identical calls in
 * flight are made once (cache_claim.c).
 *
 * The hooks run on the stages' own threads: they never touch the context,
 * only the request's task, whose counters are atomic. What they counted
 * reaches run_metrics.cache from the finish hook, on the request thread.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cache_private.h"

void cache_calls_start(struct cache_state *st, struct cache_task *t, bool lookup)
{
	t->calls = st->call_cache && (st->l1 != NULL || st->l2 != NULL);
	t->call_lookup = lookup;
}

/* A stored call {"v": 1, "cost": c, "result": value}: its result packed
 * into out. False when it does not validate. */
static bool cache_call_decode(const char *val, size_t len, msgpack_sbuffer *out, double *cost)
{
	struct ima_error err;
	msgpack_zone zone;
	msgpack_object o;
	const msgpack_object *result = NULL;
	size_t off = 0;
	int64_t version = 0;
	bool ok = false;

	if (ima_msgpack_check(val, len, &err) != 0 || !msgpack_zone_init(&zone, 1024))
		return false;
	if (msgpack_unpack(val, len, &off, &zone, &o) == MSGPACK_UNPACK_SUCCESS &&
	    o.type == MSGPACK_OBJECT_MAP) {
		*cost = -1;
		for (uint32_t i = 0; i < o.via.map.size; i++) {
			const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;

			if (k->type != MSGPACK_OBJECT_STR)
				continue;
			if (k->via.str.size == 1 && k->via.str.ptr[0] == 'v' &&
			    v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				version = (int64_t)v->via.u64;
			else if (k->via.str.size == 4 && memcmp(k->via.str.ptr, "cost", 4) == 0 &&
				 (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32))
				*cost = v->via.f64;
			else if (k->via.str.size == 6 && memcmp(k->via.str.ptr, "result", 6) == 0)
				result = v;
		}
		if (version == CACHE_CALL_VERSION && result != NULL && *cost >= 0 &&
		    *cost <= CACHE_COST_MAX) {
			msgpack_packer pk;

			msgpack_packer_init(&pk, out, ima_sbuffer_write);
			ok = msgpack_pack_object(&pk, *result) == 0;
		}
	}
	msgpack_zone_destroy(&zone);
	return ok;
}

static void cache_call_hit(struct cache_task *t, enum cache_status level, double cost)
{
	atomic_fetch_add(&t->hits, 1);
	atomic_fetch_add(&t->saved_nusd, (unsigned long long)llround(cost * 1e9));
	ima_metric_add(level == ST_HIT_L1 ? "imaginator_cache_call_hits_total{level=\"l1\"}"
					  : "imaginator_cache_call_hits_total{level=\"l2\"}", 1);
	ima_metric_add("imaginator_cache_call_cost_saved_usd_total", cost);
	ima_metric_add("imaginator_cache_cost_saved_usd_total", cost);
}

/* One lookup of a call: where it looks, and where a hit goes. */
struct cache_call_lookup {
	struct cache_state *st;
	struct cache_task *t;
	const unsigned char *key;
	msgpack_sbuffer *result;
	double *cost;
};

/* True when the call was found in L1 or L2 (L2 fills L1). */
static bool cache_call_found(void *arg)
{
	struct cache_call_lookup *q = arg;
	struct cache_state *st = q->st;
	size_t before = q->result->size;
	char rkey[CACHE_RKEY_SIZE], *val;
	size_t len;

	if (st->l1 != NULL && cache_l1_get(st->l1, q->key, time(NULL), &val, &len)) {
		bool ok = cache_call_decode(val, len, q->result, q->cost);

		ima_free(val);
		if (ok) {
			cache_call_hit(q->t, ST_HIT_L1, *q->cost);
			return true;
		}
		q->result->size = before;
	}
	cache_redis_key(st, "c", q->key, rkey);
	if (st->l2 != NULL && cache_redis_get(st->l2, rkey, &val, &len) == 1) {
		bool ok = len <= (size_t)st->call_max_bytes &&
			  cache_call_decode(val, len, q->result, q->cost);

		/* The entry's own TTL is not known here: the call TTL. */
		if (ok && st->l1 != NULL)
			cache_l1_put(st->l1, q->key, val, len, time(NULL) + st->call_ttl);
		if (!ok) {
			ima_log(IMA_LOG_WARN, "stage %s: dropping a cached call that does not validate",
				st->name);
			ima_metric_add("imaginator_cache_corrupt_total", 1);
			cache_redis_del(st->l2, rkey);
		}
		ima_free(val);
		if (ok) {
			cache_call_hit(q->t, ST_HIT_L2, *q->cost);
			return true;
		}
		q->result->size = before;
	}
	return false;
}

/* A result made by another request (or process) that this one waited,
 * or was told to ask again, for. */
static int cache_call_coalesced(struct cache_state *st, struct cache_task *t,
				const unsigned char *key)
{
	cache_call_tried(st, t, key);
	ima_metric_add("imaginator_cache_call_coalesced_total", 1);
	return 1;
}

/*
 * The lookup and claim behind call_get (blocking) and call_try: 1 found,
 * 0 a miss this request makes (its claim and Redis lock taken when it
 * could), or, not blocking only, 2 while the call is made elsewhere, with
 * nothing claimed.
 */
static int cache_call_ask(struct ima_req *req, struct cache_state *st,
			  const msgpack_object *call, msgpack_sbuffer *result,
			  double *cost, bool blocking)
{
	struct cache_task *t = ima_req_task_get(req, st);
	unsigned char key[CACHE_KEY_BYTES];
	struct cache_call_lookup q = { st, t, key, result, cost };
	long long until = CACHE_NO_WAIT;

	if (t == NULL || !t->calls || !t->call_lookup || cache_call_key(st, t, call, key) != 0)
		return 0;
	if (cache_call_found(&q))
		/* A try told to come back: its twin made it. */
		return !blocking && cache_call_tried(st, t, key) ? cache_call_coalesced(st, t, key) : 1;
	/* One deadline for every wait of this lookup. */
	if (blocking)
		until = ima_now_ms() + st->call_wait_ms;
	for (;;) {
		int c = cache_call_claim(st, t, key, until);

		if (c == CALL_OWNER)
			break;
		if (c == CALL_UNCLAIMED)
			goto miss;
		if (!blocking)
			goto elsewhere;
		/* Another request here made it: its result, if it got one;
		 * else try to take it over. */
		if (cache_call_found(&q))
			return cache_call_coalesced(st, t, key);
		if (ima_now_ms() >= until)
			goto miss;
	}
	/* Owned in this process; across processes and hosts, a Redis lock. */
	if (st->l2 != NULL) {
		enum cache_lock l = cache_lock_call(st, t, key, until, cache_call_found, &q);

		if (l == LOCK_FOUND) {
			cache_call_release(st, t, key);
			return cache_call_coalesced(st, t, key);
		}
		if (l == LOCK_BUSY)
			goto elsewhere;
	}
miss:
	cache_call_tried(st, t, key);
	atomic_fetch_add(&t->misses, 1);
	ima_metric_add("imaginator_cache_call_misses_total", 1);
	return 0;
elsewhere:
	/* Past the wait a try makes the call itself, as call_get would,
	 * keeping the claim in this process if it got it. */
	if (!cache_call_may_retry(st, t, key))
		goto miss;
	cache_call_release(st, t, key);
	return 2;
}

int cache_call_get(struct ima_req *req, void *state, const msgpack_object *call,
		   msgpack_sbuffer *result, double *cost)
{
	return cache_call_ask(req, state, call, result, cost, true);
}

/* call_get without waiting: the core asks again while it answers 2. */
int cache_call_try(struct ima_req *req, void *state, const msgpack_object *call,
		   msgpack_sbuffer *result, double *cost)
{
	return cache_call_ask(req, state, call, result, cost, false);
}

void cache_call_put(struct ima_req *req, void *state, const msgpack_object *call,
		    const void *result, size_t len, double cost)
{
	struct cache_state *st = state;
	struct cache_task *t = ima_req_task_get(req, st);
	unsigned char key[CACHE_KEY_BYTES];
	char rkey[CACHE_RKEY_SIZE];
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (t == NULL || !t->calls || cache_call_key(st, t, call, key) != 0)
		return;
	/* result NULL: the call failed, only the claim ends. */
	if (result != NULL && cost >= 0 && cost <= CACHE_COST_MAX &&
	    len + 32 <= (size_t)st->call_max_bytes) {
		cache_redis_key(st, "c", key, rkey);
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
		msgpack_pack_map(&pk, 3);
		ima_pack_cstr(&pk, "v");
		msgpack_pack_int(&pk, CACHE_CALL_VERSION);
		ima_pack_cstr(&pk, "cost");
		msgpack_pack_double(&pk, cost);
		ima_pack_cstr(&pk, "result");
		if (ima_sbuffer_write(&sb, result, len) == 0 && sb.data != NULL) {
			if (st->l1 != NULL)
				cache_l1_put(st->l1, key, sb.data, sb.size, time(NULL) + st->call_ttl);
			if (st->l2 != NULL)
				cache_redis_set(st->l2, rkey, sb.data, sb.size, (int)st->call_ttl);
			atomic_fetch_add(&t->stores, 1);
			ima_metric_add("imaginator_cache_call_stores_total", 1);
		}
		msgpack_sbuffer_destroy(&sb);
	}
	cache_call_release(st, t, key);
}
