/*
 * cache - answers repeated analyses from memory (L1, this process) or Redis
 * (L2, shared), and stores new answers in its finish hook. The same stores
 * serve the call cache (ima_call_cache_get/put): one LLM call cached by its
 * own request.
 *
 * This file holds the descriptor, the options, init / fini, and the
 * process and finish hooks that tie the parts together (their list is in
 * cache_private.h). What a request's lookup found, the key it computes and
 * the claims and locks it holds are kept in the request's task, never in
 * the context: a later stage can neither read nor forge them.
 *
 * Every Redis problem reads as a miss: timeouts are short, and a breaker
 * stops calling Redis for a while after repeated failures.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_private.h"

static const struct ima_option cache_options[] = {
	{ "l1_max_bytes", IMA_OPT_INT, "67108864",
	  "in-process cache size in bytes (keys, answers, bookkeeping); 0 turns L1 off", 0 },
	{ "replay_max_bytes", IMA_OPT_INT, "16777216",
	  "in-process cache of rendered answers to byte-identical repeats (anonymous, or of the same user identified before the cache), replayed before decoding; 0 turns it off", 0 },
	{ "redis_url", IMA_OPT_STRING, "",
	  "redis://host:port/db, unix:///path, or redis-sentinel://host:port[,host:port...]/master-name[/db] (the primary found through Sentinel and followed through failovers); \"\" uses $IMAGINATOR_REDIS_URL (no L2 when unset); \"none\": no L2", 0 },
	{ "redis_timeout_ms", IMA_OPT_INT, "50", "Redis connect and command timeout", 0 },
	{ "sentinel_timeout_ms", IMA_OPT_INT, "250",
	  "connect and command timeout per Sentinel (asked by a background thread, never by a request)", 0 },
	{ "breaker_failures", IMA_OPT_INT, "3", "consecutive Redis failures that open the breaker", 0 },
	{ "breaker_cooldown_ms", IMA_OPT_INT, "5000", "how long the open breaker leaves Redis alone", 0 },
	{ "key_prefix", IMA_OPT_STRING, "ima:", "prefix of every Redis key", 0 },
	{ "confidence_path", IMA_OPT_STRING, "seniority_analysis.confidence",
	  "context path of the answer's confidence, which picks the TTL", 0 },
	{ "ttl_high", IMA_OPT_INT, "172800", "TTL in seconds when confidence > confidence_high", 0 },
	{ "ttl_medium", IMA_OPT_INT, "86400", "TTL in seconds when confidence > confidence_medium", 0 },
	{ "ttl_low", IMA_OPT_INT, "21600", "TTL in seconds otherwise", 0 },
	{ "confidence_high", IMA_OPT_DOUBLE, "0.8", "see ttl_high", 0 },
	{ "confidence_medium", IMA_OPT_DOUBLE, "0.5", "see ttl_medium", 0 },
	{ "coalesce_wait_ms", IMA_OPT_INT, "2000",
	  "longest wait for an identical request in flight before computing anyway", 0 },
	{ "lock_ms", IMA_OPT_INT, "5000", "lifetime of the cross-process compute lock in Redis", 0 },
	{ "generation_cache_ms", IMA_OPT_INT, "1000",
	  "how long a user's generation counter is reused (invalidation takes effect within this)", 0 },
	{ "call_cache", IMA_OPT_BOOL, "true",
	  "serve the call cache (ima_call_cache_get/put): LLM calls cached by their own request", 0 },
	{ "call_ttl", IMA_OPT_INT, "86400", "TTL in seconds of a cached call", 0 },
	{ "call_wait_ms", IMA_OPT_INT, "20000",
	  "longest wait for an identical call in flight (this process or another) before making it anyway", 0 },
	{ "call_max_bytes", IMA_OPT_INT, "4194304",
	  "largest cached call kept or read back (a longer result is not cached)", 0 },
	{ "call_lock_ms", IMA_OPT_INT, "30000",
	  "lifetime of the Redis lock on a call being made (longer than a slow LLM call)", 0 },
	{ "allow_invalidate", IMA_OPT_BOOL, "true",
	  "accept the invalidate command (CLI, POST /v1/cache/invalidate)", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

/* Options with a lower bound: TTLs and lock lifetimes must be positive,
 * sizes and waits may be 0. */
static const struct {
	const char *name;
	int64_t min;
} cache_bounds[] = {
	{ "l1_max_bytes", 0 }, { "replay_max_bytes", 0 }, { "ttl_high", 1 },
	{ "ttl_medium", 1 }, { "ttl_low", 1 }, { "coalesce_wait_ms", 0 },
	{ "lock_ms", 1 }, { "call_ttl", 1 }, { "call_wait_ms", 0 },
	{ "call_max_bytes", 1 }, { "call_lock_ms", 1 }, { "sentinel_timeout_ms", 1 },
};

static const struct {
	const char *family;
	enum ima_metric_type type;
	const char *help;
} cache_metrics[] = {
	{ "imaginator_cache_hits_total", IMA_METRIC_COUNTER,
	  "Answers served by the cache, by level: l1 this worker's memory (replays included), l2 Redis." },
	{ "imaginator_cache_misses_total", IMA_METRIC_COUNTER,
	  "Answer lookups that found nothing, so the pipeline ran." },
	{ "imaginator_cache_bypass_total", IMA_METRIC_COUNTER,
	  "Requests whose Cache-Control (no-store, no-cache) skipped the answer lookup." },
	{ "imaginator_cache_stores_total", IMA_METRIC_COUNTER, "Answers stored in the cache." },
	{ "imaginator_cache_coalesced_total", IMA_METRIC_COUNTER,
	  "Answers served after waiting for an identical request that computed them." },
	{ "imaginator_cache_corrupt_total", IMA_METRIC_COUNTER,
	  "Cached answers and calls dropped because they did not validate when read back." },
	{ "imaginator_cache_redis_errors_total", IMA_METRIC_COUNTER,
	  "Redis commands that failed or timed out (each read as a miss)." },
	{ "imaginator_cache_invalidations_total", IMA_METRIC_COUNTER,
	  "Per-user invalidations (increments of a user's generation counter)." },
	{ "imaginator_cache_cost_saved_usd_total", IMA_METRIC_COUNTER,
	  "LLM cost in USD not spent thanks to the cache, answers and calls." },
	{ "imaginator_cache_call_hits_total", IMA_METRIC_COUNTER,
	  "LLM calls served by the call cache, by level: l1 this worker's memory, l2 Redis." },
	{ "imaginator_cache_call_misses_total", IMA_METRIC_COUNTER,
	  "LLM call lookups that found nothing, so the call was made." },
	{ "imaginator_cache_call_stores_total", IMA_METRIC_COUNTER,
	  "LLM call results stored in the call cache." },
	{ "imaginator_cache_call_coalesced_total", IMA_METRIC_COUNTER,
	  "LLM call results served after waiting for another request making the same call." },
	{ "imaginator_cache_call_cost_saved_usd_total", IMA_METRIC_COUNTER,
	  "LLM cost in USD not spent thanks to call cache hits." },
	{ "imaginator_cache_hit_ratio", IMA_METRIC_GAUGE,
	  "Answer hits over answer lookups since start, over all workers." },
	{ "imaginator_cache_l1_bytes", IMA_METRIC_GAUGE_SUM,
	  "Bytes held by the in-process cache of answers and calls, summed over workers." },
	{ "imaginator_cache_l1_entries", IMA_METRIC_GAUGE_SUM,
	  "Entries in the in-process cache of answers and calls, summed over workers." },
	{ "imaginator_cache_l1_evictions_total", IMA_METRIC_COUNTER,
	  "Entries evicted from the in-process cache to make room for new ones." },
	{ "imaginator_cache_redis_primary_switches_total", IMA_METRIC_COUNTER,
	  "Changes of the Redis primary announced by Sentinel, summed over the workers that saw them." },
	{ "imaginator_cache_breaker_open", IMA_METRIC_GAUGE_SUM,
	  "Number of workers whose Redis circuit breaker is open (Redis left alone, reads as misses)." },
};

static void cache_fini(void *state)
{
	struct cache_state *st = state;

	cache_l1_free(st->l1);
	cache_l1_free(st->raw);
	cache_redis_free(st->l2);
	for (size_t i = 0; i < sizeof(st->gens) / sizeof(st->gens[0]); i++)
		ima_free(st->gens[i].key);
	EVP_MD_free(st->sha256);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	ima_free(st);
}

static int cache_init(const struct ima_conf *conf, void **state,
		      struct ima_error *err)
{
	struct cache_state *st;
	const char *url = ima_conf_string(conf, "redis_url");
	int64_t l1_bytes = ima_conf_int(conf, "l1_max_bytes");
	pthread_condattr_t ca;
	char msg[256];

	for (size_t i = 0; i < sizeof(cache_bounds) / sizeof(cache_bounds[0]); i++) {
		int64_t v = ima_conf_int(conf, cache_bounds[i].name);

		if (v < cache_bounds[i].min)
			return ima_error_set(err, 500, "config", cache_bounds[i].name,
					     "%s = %" PRId64 ": must be %s", cache_bounds[i].name, v,
					     cache_bounds[i].min > 0 ? "more than 0" : "0 or more");
	}
	for (size_t i = 0; i < sizeof(cache_metrics) / sizeof(cache_metrics[0]); i++)
		if (ima_metric_declare(cache_metrics[i].family, cache_metrics[i].type,
				       cache_metrics[i].help) != 0)
			ima_log(IMA_LOG_WARN, "stage %s: cannot declare the metric %s",
				ima_conf_stage_name(conf), cache_metrics[i].family);
	if ((st = ima_calloc(1, sizeof(*st))) == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	snprintf(st->name, sizeof(st->name), "%s", ima_conf_stage_name(conf));
	snprintf(st->fingerprint, sizeof(st->fingerprint), "%s",
		 ima_conf_pipeline_fingerprint(conf));
	snprintf(st->prefix, sizeof(st->prefix), "%s", ima_conf_string(conf, "key_prefix"));
	snprintf(st->conf_path, sizeof(st->conf_path), "%s", ima_conf_string(conf, "confidence_path"));
	st->ttl_high = ima_conf_int(conf, "ttl_high");
	st->ttl_medium = ima_conf_int(conf, "ttl_medium");
	st->ttl_low = ima_conf_int(conf, "ttl_low");
	st->conf_high = ima_conf_double(conf, "confidence_high");
	st->conf_medium = ima_conf_double(conf, "confidence_medium");
	st->wait_ms = ima_conf_int(conf, "coalesce_wait_ms");
	st->lock_ms = ima_conf_int(conf, "lock_ms");
	st->gen_cache_ms = ima_conf_int(conf, "generation_cache_ms");
	st->allow_invalidate = ima_conf_bool(conf, "allow_invalidate");
	st->call_cache = ima_conf_bool(conf, "call_cache");
	st->call_ttl = ima_conf_int(conf, "call_ttl");
	st->call_wait_ms = ima_conf_int(conf, "call_wait_ms");
	st->call_lock_ms = ima_conf_int(conf, "call_lock_ms");
	st->call_max_bytes = ima_conf_int(conf, "call_max_bytes");
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((st->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		cache_fini(st);
		return ima_error_set(err, 500, "internal", "", "OpenSSL has no SHA-256");
	}
	if (ima_conf_int(conf, "replay_max_bytes") > 0 &&
	    (st->raw = cache_l1_new((size_t)ima_conf_int(conf, "replay_max_bytes"))) == NULL) {
		cache_fini(st);
		return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	if (l1_bytes > 0 && (st->l1 = cache_l1_new((size_t)l1_bytes)) == NULL) {
		cache_fini(st);
		return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	if (url[0] == '\0' && getenv("IMAGINATOR_REDIS_URL") != NULL)
		url = getenv("IMAGINATOR_REDIS_URL");
	if (url[0] != '\0' && strcmp(url, "none") != 0) {
		struct sigaction old;

		/* hiredis writes with write(): a Redis that died would kill the
		 * whole process with SIGPIPE. Ignore it unless the host already
		 * handles it. */
		if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			signal(SIGPIPE, SIG_IGN);
		st->l2 = cache_redis_new(url, (int)ima_conf_int(conf, "redis_timeout_ms"),
					 (int)ima_conf_int(conf, "breaker_failures"),
					 (int)ima_conf_int(conf, "breaker_cooldown_ms"),
					 (int)ima_conf_int(conf, "sentinel_timeout_ms"), msg, sizeof(msg));
		if (st->l2 == NULL) {
			cache_fini(st);
			return ima_error_set(err, 500, "config", "redis_url", "%s", msg);
		}
	}
	*state = st;
	return 0;
}

/* ---- the request's task ---- */

struct cache_task *cache_task_of(struct cache_state *st, struct ima_req *req)
{
	struct cache_task *t = ima_req_task_get(req, st);

	if (t != NULL)
		return t;
	/* Made by prefetch or process, before any later stage (or thread of
	 * one) can look for it. */
	if ((t = ima_req_alloc(req, sizeof(*t))) == NULL)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->status = ST_MISS;
	atomic_init(&t->hits, 0);
	atomic_init(&t->misses, 0);
	atomic_init(&t->stores, 0);
	atomic_init(&t->saved_nusd, 0);
	return ima_req_task_set(req, st, t) == 0 ? t : NULL;
}

static const char *const cache_status_names[] = { "MISS", "HIT-L1", "HIT-L2", "BYPASS" };

/* run_metrics.cache, from the task: the answer's part and what the call
 * cache counted so far. */
static int cache_metrics_put(struct ima_req *req, const struct cache_task *t)
{
	double saved = (double)atomic_load(&t->saved_nusd) / 1e9;
	bool hit = t->status == ST_HIT_L1 || t->status == ST_HIT_L2;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 8);
	ima_pack_cstr(&pk, "status");
	ima_pack_cstr(&pk, cache_status_names[t->status]);
	ima_pack_cstr(&pk, "key");
	/* A short prefix identifies the entry in logs; "" when bypassed. */
	ima_pack_strn(&pk, t->hex, strnlen(t->hex, 16));
	ima_pack_cstr(&pk, "coalesced");
	t->coalesced ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	ima_pack_cstr(&pk, "cost_saved_usd");
	msgpack_pack_double(&pk, (hit ? t->cost : 0.0) + saved);
	ima_pack_cstr(&pk, "calls_hit");
	msgpack_pack_unsigned_int(&pk, atomic_load(&t->hits));
	ima_pack_cstr(&pk, "calls_missed");
	msgpack_pack_unsigned_int(&pk, atomic_load(&t->misses));
	ima_pack_cstr(&pk, "calls_stored");
	msgpack_pack_unsigned_int(&pk, atomic_load(&t->stores));
	ima_pack_cstr(&pk, "call_cost_saved_usd");
	msgpack_pack_double(&pk, saved);
	rc = sb.data != NULL ? ima_req_metric_put(req, "cache", sb.data, sb.size) : -1;
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

enum ima_rc cache_note(struct ima_req *req, struct cache_task *t,
		       enum cache_status status, bool coalesced, double cost)
{
	t->status = status;
	t->coalesced = coalesced;
	t->cost = cost;
	ima_req_add_header(req, "X-Cache", cache_status_names[status]);
	if (cache_metrics_put(req, t) != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	return IMA_CONTINUE;
}

static void cache_count_bypass(struct cache_state *st)
{
	atomic_fetch_add(&st->bypass, 1);
	ima_metric_add("imaginator_cache_bypass_total", 1);
}

/* ---- the hooks ---- */

struct cache_answer_lookup {
	struct cache_state *st;
	struct ima_req *req;
	const unsigned char *key;
	double *cost;
};

/* What the answer's Redis lock polls: the holder's answer in L2. */
static bool cache_answer_found(void *arg)
{
	struct cache_answer_lookup *q = arg;

	return cache_lookup_l2(q->st, q->req, q->key, q->cost);
}

static enum ima_rc cache_process(struct ima_req *req, void *state)
{
	struct cache_state *st = state;
	const char *cc = ima_req_meta(req, "cache_control");
	bool no_store = cc != NULL && strstr(cc, "no-store") != NULL;
	bool no_cache = cc != NULL && strstr(cc, "no-cache") != NULL;
	struct cache_task *t;
	bool owner;
	double cost = 0;

	if (ima_ctx_get(ima_req_ctx(req), "_input") == NULL)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "stage %s needs the request stage before it", st->name);
	if ((t = cache_task_of(st, req)) == NULL)
		return ima_req_fail(req, 500, "internal", "",
				    "stage %s cannot keep its per-request data", st->name);
	if (no_store) {
		cache_count_bypass(st);
		return cache_note(req, t, ST_BYPASS, false, 0);
	}
	if (cache_key(st, req, t->key, &t->ident, &t->ident_len) != 0)
		return ima_req_fail(req, 500, "internal", "", "cannot compute the cache key");
	cache_hex(t->key, t->hex);
	if (no_cache) {
		/* Skip the lookup, still store the fresh answer. */
		cache_count_bypass(st);
		t->owner = cache_claim(st, t->key, st->wait_ms);
		t->store = true;
		cache_calls_start(st, t, false);
		return cache_note(req, t, ST_BYPASS, false, 0);
	}
	if (cache_lookup_l1(st, req, t->key, &cost))
		return cache_hit(st, req, t, ST_HIT_L1, false, cost);
	if (cache_lookup_l2(st, req, t->key, &cost))
		return cache_hit(st, req, t, ST_HIT_L2, false, cost);

	owner = cache_claim(st, t->key, st->wait_ms);
	if (!owner) {
		/* Another thread computed it meanwhile, or gave up. */
		if (cache_lookup_l1(st, req, t->key, &cost))
			return cache_hit(st, req, t, ST_HIT_L1, true, cost);
		owner = cache_claim(st, t->key, st->wait_ms);
	}
	/* The previous owner may have stored and released between our L1
	 * miss and our claim: look once more now that we hold the key. */
	if (owner && cache_lookup_l1(st, req, t->key, &cost)) {
		cache_release(st, t->key);
		return cache_hit(st, req, t, ST_HIT_L1, true, cost);
	}
	if (owner && st->l2 != NULL) {
		struct cache_answer_lookup q = { st, req, t->key, &cost };

		if (cache_lock_answer(st, t, cache_answer_found, &q) == LOCK_FOUND) {
			cache_release(st, t->key);
			return cache_hit(st, req, t, ST_HIT_L2, true, cost);
		}
	}
	t->owner = owner;
	t->store = true;
	cache_count_miss(st);
	cache_calls_start(st, t, true);
	return cache_note(req, t, ST_MISS, false, 0);
}

static void cache_finish(struct ima_req *req, void *state)
{
	struct cache_state *st = state;
	struct cache_task *t = ima_req_task_get(req, st);

	if (t == NULL)
		return;
	/* Calls never put (they failed) let their waiters go now; the calls'
	 * figures join run_metrics.cache. */
	cache_call_release_all(st, t);
	if (atomic_load(&t->hits) + atomic_load(&t->misses) + atomic_load(&t->stores) != 0)
		cache_metrics_put(req, t);
	if (!t->owner && !t->store) {
		/* A hit through the canonical key: replay these exact bytes next
		 * time (for the shortest TTL, the entry's own is not known). */
		if (t->status == ST_HIT_L1 || t->status == ST_HIT_L2)
			cache_store_replay(st, req, t, st->ttl_low);
		return;
	}
	if (t->store)
		cache_store_answer(st, req, t);
	if (st->l2 != NULL && t->lock_token[0] != '\0') {
		char lkey[CACHE_RKEY_SIZE];

		cache_redis_key(st, "lock", t->key, lkey);
		cache_redis_unlock(st->l2, lkey, t->lock_token);
	}
	if (t->owner)
		cache_release(st, t->key);
	cache_report(st);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_cache = {
	IMA_PLUGIN_HEADER,
	.name = "cache",
	.version = "1.1.0",
	.description = "answer and LLM-call cache: in-process LRU and Redis, canonical keys, TTL by confidence, per-user invalidation, coalescing",
	.options = cache_options,
	.init = cache_init,
	.process = cache_process,
	.finish = cache_finish,
	.fini = cache_fini,
	.command = cache_command,
	.health = cache_health,
	.prefetch = cache_prefetch,
	.call_get = cache_call_get,
	.call_put = cache_call_put,
	.call_try = cache_call_try,
};
