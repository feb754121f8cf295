/*
 * cache_answer.c - answers in the cache: reading them back from L1 or
 * Redis into the context (validated first), counting hits and misses,
 * storing a new answer for a TTL picked by its confidence, and replaying
 * the rendered answer of byte-identical requests before their body is
 * even decoded: anonymous ones, and those whose user an auth stage before
 * the cache has identified by then.
 */
#include <stdio.h>
#include <string.h>

#include "cache_private.h"

/* Puts a cached answer into the context; false when it does not validate. */
static bool cache_apply(struct cache_state *st, struct ima_req *req,
			const char *val, size_t len, double *cost)
{
	struct ima_error err;
	int64_t version = 0;

	if (ima_ctx_merge(ima_req_ctx(req), val, len, &err) != 0 ||
	    ima_ctx_get_int(ima_req_ctx(req), "_cache_version", &version) != 0 ||
	    version != CACHE_VALUE_VERSION) {
		ima_log(IMA_LOG_WARN, "stage %s: dropping a cache entry that does not validate: %s",
			st->name, err.message);
		ima_metric_add("imaginator_cache_corrupt_total", 1);
		return false;
	}
	*cost = 0;
	ima_ctx_get_double(ima_req_ctx(req), "_cache_cost", cost);
	return true;
}

int cache_lookup_l1(struct cache_state *st, struct ima_req *req,
		    const unsigned char *key, double *cost)
{
	char *val;
	size_t len;
	bool ok;

	if (st->l1 == NULL || !cache_l1_get(st->l1, key, time(NULL), &val, &len))
		return 0;
	ok = cache_apply(st, req, val, len, cost);
	ima_free(val);
	return ok;
}

int cache_lookup_l2(struct cache_state *st, struct ima_req *req,
		    const unsigned char *key, double *cost)
{
	char rkey[CACHE_RKEY_SIZE], *val;
	size_t len;
	bool ok;

	if (st->l2 == NULL)
		return 0;
	cache_redis_key(st, "a", key, rkey);
	if (cache_redis_get(st->l2, rkey, &val, &len) != 1)
		return 0;
	ok = cache_apply(st, req, val, len, cost);
	if (ok && st->l1 != NULL)
		/* An L2 hit fills L1 for the shortest TTL: the entry's own
		 * TTL is not known here, and L1 must not outlive L2 much. */
		cache_l1_put(st->l1, key, val, len, time(NULL) + st->ttl_low);
	if (!ok)
		cache_redis_del(st->l2, rkey);
	ima_free(val);
	return ok;
}

/* Hits over lookups so far, over every worker, as a gauge. */
static void cache_hit_ratio(void)
{
	double hits = ima_metric_get("imaginator_cache_hits_total{level=\"l1\"}") +
		      ima_metric_get("imaginator_cache_hits_total{level=\"l2\"}");
	double all = hits + ima_metric_get("imaginator_cache_misses_total");

	if (all > 0)
		ima_metric_set("imaginator_cache_hit_ratio", hits / all);
}

enum ima_rc cache_hit(struct cache_state *st, struct ima_req *req, struct cache_task *t,
		      enum cache_status level, bool coalesced, double cost)
{
	enum ima_rc rc;

	atomic_fetch_add(level == ST_HIT_L1 ? &st->hits_l1 : &st->hits_l2, 1);
	ima_metric_add(level == ST_HIT_L1 ? "imaginator_cache_hits_total{level=\"l1\"}"
					  : "imaginator_cache_hits_total{level=\"l2\"}", 1);
	ima_metric_add("imaginator_cache_cost_saved_usd_total", cost);
	if (coalesced)
		ima_metric_add("imaginator_cache_coalesced_total", 1);
	cache_hit_ratio();
	rc = cache_note(req, t, level, coalesced, cost);
	return rc == IMA_CONTINUE ? IMA_DONE : rc;
}

void cache_count_miss(struct cache_state *st)
{
	atomic_fetch_add(&st->misses, 1);
	ima_metric_add("imaginator_cache_misses_total", 1);
	cache_hit_ratio();
}

static int64_t cache_ttl(const struct cache_state *st, struct ima_req *req)
{
	double c = 0;

	if (ima_ctx_get_double(ima_req_ctx(req), st->conf_path, &c) != 0)
		return st->ttl_low;
	return c > st->conf_high ? st->ttl_high : c > st->conf_medium ? st->ttl_medium : st->ttl_low;
}

void cache_store_answer(struct cache_state *st, struct ima_req *req, struct cache_task *t)
{
	static const char *const also[] = { "_cache_cost", "_cache_version", NULL };
	struct ima_ctx *ctx = ima_req_ctx(req);
	char rkey[CACHE_RKEY_SIZE], version = (char)CACHE_VALUE_VERSION; /* a positive fixint */
	msgpack_sbuffer sb;
	msgpack_packer pk;
	double cost = 0;
	int64_t ttl;
	int no_store = 0;

	ima_ctx_get_bool(ctx, "_no_store", &no_store);
	/* Errors, degraded answers and answers marked no-store are never kept. */
	if (ima_req_error(req) != NULL || ima_req_is_degraded(req) || no_store)
		return;
	ima_ctx_get_double(ctx, "_cost_usd", &cost);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_double(&pk, cost);
	ima_ctx_put(ctx, "_cache_cost", sb.data, sb.size);
	msgpack_sbuffer_clear(&sb);
	ima_ctx_put(ctx, "_cache_version", &version, 1);
	if (ima_ctx_encode_public(ctx, &sb, also) == 0) {
		ttl = cache_ttl(st, req);
		cache_redis_key(st, "a", t->key, rkey);
		if (st->l1 != NULL)
			cache_l1_put(st->l1, t->key, sb.data, sb.size, time(NULL) + ttl);
		if (st->l2 != NULL)
			cache_redis_set(st->l2, rkey, sb.data, sb.size, (int)ttl);
		atomic_fetch_add(&st->stores, 1);
		ima_metric_add("imaginator_cache_stores_total", 1);
		cache_store_replay(st, req, t, ttl);
	}
	msgpack_sbuffer_destroy(&sb);
}

/* ---- replaying exact repeats before decoding ---- */

/*
 * Only JSON answers are replayed (that is what is kept), and never past
 * Cache-Control: no-store or no-cache.
 */
static bool cache_replayable(struct ima_req *req)
{
	const char *cc = ima_req_meta(req, "cache_control");
	const char *out = ima_req_meta(req, "output");

	return out != NULL && strcmp(out, "json") == 0 &&
	       (cc == NULL || (strstr(cc, "no-store") == NULL && strstr(cc, "no-cache") == NULL));
}

/* The rendered answer for byte-identical repeats of the identity that
 * prefetch keyed it with: the answer's LLM cost (a double, native order:
 * the entry never leaves the process) followed by the JSON members. */
void cache_store_replay(struct cache_state *st, struct ima_req *req,
			const struct cache_task *t, int64_t ttl)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	struct cache_who who;
	size_t len;
	char *json, *val;
	double cost = 0;

	if (st->raw == NULL || !t->replay)
		return;
	/* An identity found after prefetch (or changed since) is not the
	 * one in the replay key: its answer must not go there. */
	cache_who_of(ctx, &who);
	if (!cache_who_equal(&who, &t->replay_who))
		return;
	if (ima_ctx_get_double(ctx, "_cache_cost", &cost) != 0)
		ima_ctx_get_double(ctx, "_cost_usd", &cost);
	json = ima_ctx_public_json(ctx, &len);
	if (json != NULL && (val = ima_malloc(sizeof(cost) + len)) != NULL) {
		memcpy(val, &cost, sizeof(cost));
		memcpy(val + sizeof(cost), json, len);
		cache_l1_put(st->raw, t->replay_key, val, sizeof(cost) + len, time(NULL) + ttl);
		ima_free(val);
	}
	ima_free(json);
}

/*
 * The replay key of a request, after its identity: none (anonymous), or
 * the user an earlier stage's prefetch wrote into _auth, with the user's
 * generation, so that invalidation takes effect here as in the lookups.
 * false when it must not be replayed: a credential came but no stage
 * before the cache identified it (the stage checking it has not run yet,
 * so a replay would skip it), an identity without a user, or a
 * generation Redis could not tell.
 */
static bool cache_replay_key(struct cache_state *st, struct ima_req *req, const char *body,
			     size_t len, int in_format, struct cache_who *who,
			     unsigned char key[CACHE_KEY_BYTES])
{
	const char *ident = NULL;
	size_t ilen = 0;
	long long gen;

	cache_who_of(ima_req_ctx(req), who);
	if (!who->present) {
		if (ima_req_meta(req, "authorization") != NULL || ima_req_meta(req, "x_api_key") != NULL)
			return false;
	} else if (who->user_len == 0 || !cache_generation(st, who, &gen) ||
		   cache_ident(req, who, gen, &ident, &ilen) != 0) {
		return false;
	}
	return cache_raw_key(st, body, len, in_format, ima_req_meta(req, "output"), ident, ilen,
			     key) == 0;
}

enum ima_rc cache_prefetch(struct ima_req *req, void *state, const char *body,
			   size_t len, int in_format)
{
	struct cache_state *st = state;
	unsigned char key[CACHE_KEY_BYTES];
	struct cache_who who;
	struct cache_task *t;
	char *val;
	size_t vlen;
	double cost;

	if (st->raw == NULL || !cache_replayable(req) ||
	    !cache_replay_key(st, req, body, len, in_format, &who, key) ||
	    (t = cache_task_of(st, req)) == NULL)
		return IMA_CONTINUE;
	if (!cache_l1_get(st->raw, key, time(NULL), &val, &vlen)) {
		/* Remembered so that finish can store this request's answer. */
		memcpy(t->replay_key, key, CACHE_KEY_BYTES);
		t->replay_who = who;
		t->replay = true;
		return IMA_CONTINUE;
	}
	if (vlen < sizeof(cost) ||
	    ima_req_set_prerendered(req, val + sizeof(cost), vlen - sizeof(cost)) != 0) {
		ima_free(val);
		return IMA_CONTINUE;
	}
	memcpy(&cost, val, sizeof(cost));
	ima_free(val);
	cache_hex(key, t->hex);
	return cache_hit(st, req, t, ST_HIT_L1, false, cost);
}
