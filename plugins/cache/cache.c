/*
 * cache - answers repeated analyses from memory (L1, this process) or Redis
 * (L2, shared), and stores new answers in its finish hook.
 *
 * Key: SHA-256 over a canonical encoding of the normalised request (_input:
 * map keys sorted, whitespace in texts collapsed, numbers canonical), the
 * month "Present" resolves to, the pipeline fingerprint (every stage, plugin
 * version and option), and the tenant and user with the user's generation
 * counter. Invalidating a user increments the counter: O(1), and every older
 * key of that user becomes unreachable.
 *
 * Concurrent identical misses run the pipeline once: threads of a process
 * wait for the first one (bounded), and processes and hosts take a short
 * Redis lock (SET NX PX) and poll L2 while another holds it, with a bounded
 * wait and then a fallback to computing.
 *
 * Every Redis problem reads as a miss: timeouts are short, and a breaker
 * stops calling Redis for a while after repeated failures.
 *
 * The same stores serve the call cache (ima_call_cache_get/put): one LLM
 * call cached by its own request, namespaced by tenant, user and generation
 * like answers; identical calls in flight are made once (in a process, and
 * across processes and hosts through a Redis lock).
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "cache_l1.h"
#include "cache_redis.h"
#include "ima_plugin.h"

#define CACHE_VALUE_VERSION 1
#define CACHE_CALL_VERSION 1
#define CACHE_TASK_CLAIMS 16
#define CACHE_COST_MAX 1e6 /* USD: any call priced above it is not kept */

/* What the cache keeps per request for the call cache (ima_req_task_*):
 * written in process, then read from the stages' threads. */
struct cache_task {
	char ident[400]; /* tenant, user and generation, as hashed into keys */
	bool lookup, store;
	atomic_uint hits, misses, stores;
	atomic_ullong saved_nusd; /* cost saved by call hits, 1e-9 USD */
	/* calls this request makes, others wait for them (under st->lock);
	 * token: of the Redis lock it holds on them, or "" */
	struct {
		unsigned char key[CACHE_KEY_BYTES];
		char token[CACHE_REDIS_TOKEN];
	} claimed[CACHE_TASK_CLAIMS];
	int nclaimed;
};

struct cache_inflight {
	unsigned char key[CACHE_KEY_BYTES];
	struct cache_inflight *next;
	bool done;
	int waiters;
};

struct cache_gen {
	char user[160];
	long long gen;
	long long fetched_ms;
};

struct cache_state {
	EVP_MD *sha256; /* fetched once: the per-call lookup costs more than a short hash */
	struct cache_l1 *raw; /* exact request bytes -> rendered JSON answer */
	char name[64];
	char fingerprint[65];
	struct cache_l1 *l1;
	struct cache_redis *l2;
	char prefix[64];
	int64_t ttl_high, ttl_medium, ttl_low;
	double conf_high, conf_medium;
	char conf_path[128];
	int64_t wait_ms, lock_ms, gen_cache_ms;
	int64_t call_ttl, call_wait_ms, call_lock_ms, call_max_bytes;
	bool call_cache;
	bool allow_invalidate;
	/* requests computing a key in this process right now */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cache_inflight *inflight;
	/* user generations read from Redis, kept briefly */
	struct cache_gen gens[64];
	atomic_ullong hits_l1, hits_l2, misses, bypass, coalesced, stores;
};

static const struct ima_option cache_options[] = {
	{ "l1_max_bytes", IMA_OPT_INT, "67108864",
	  "in-process cache size in bytes (keys, answers, bookkeeping); 0 turns L1 off", 0 },
	{ "replay_max_bytes", IMA_OPT_INT, "16777216",
	  "in-process cache of rendered answers to byte-identical anonymous requests, replayed before decoding; 0 turns it off", 0 },
	{ "redis_url", IMA_OPT_STRING, "",
	  "redis://host:port/db or unix:///path; \"\" uses $IMAGINATOR_REDIS_URL (no L2 when unset); \"none\": no L2", 0 },
	{ "redis_timeout_ms", IMA_OPT_INT, "50", "Redis connect and command timeout", 0 },
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

static long long cache_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cache_fini(void *state)
{
	struct cache_state *st = state;

	cache_l1_free(st->l1);
	cache_l1_free(st->raw);
	cache_redis_free(st->l2);
	EVP_MD_free(st->sha256);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	ima_free(st);
}

static int cache_init(const struct ima_conf *conf, void **state,
		      struct ima_error *err)
{
	struct cache_state *st = ima_calloc(1, sizeof(*st));
	const char *url = ima_conf_string(conf, "redis_url");
	int64_t l1_bytes = ima_conf_int(conf, "l1_max_bytes");
	pthread_condattr_t ca;
	char msg[256];

	if (st == NULL)
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
	if (st->ttl_high <= 0 || st->ttl_medium <= 0 || st->ttl_low <= 0 || l1_bytes < 0 ||
	    st->wait_ms < 0 || st->lock_ms <= 0 || st->call_ttl <= 0 || st->call_wait_ms < 0 ||
	    st->call_lock_ms <= 0 || st->call_max_bytes <= 0) {
		cache_fini(st);
		return ima_error_set(err, 500, "config", "", "TTLs and lock_ms must be positive, sizes and waits not negative");
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
					 (int)ima_conf_int(conf, "breaker_cooldown_ms"), msg, sizeof(msg));
		if (st->l2 == NULL) {
			cache_fini(st);
			return ima_error_set(err, 500, "config", "redis_url", "%s", msg);
		}
	}
	*state = st;
	return 0;
}

/* ---- the key ---- */

struct cache_hash {
	EVP_MD_CTX *md;
	bool ok;
	size_t len;
	unsigned char buf[8192];
};

/* Texts reach the hash word by word: buffer them, since every
 * EVP_DigestUpdate call costs far more than copying a word. */
static void cache_flush(struct cache_hash *h)
{
	if (h->ok && h->len > 0 && EVP_DigestUpdate(h->md, h->buf, h->len) != 1)
		h->ok = false;
	h->len = 0;
}

static void cache_feed(struct cache_hash *h, const void *p, size_t n)
{
	if (n > sizeof(h->buf) - h->len) {
		cache_flush(h);
		if (n > sizeof(h->buf)) {
			if (h->ok && EVP_DigestUpdate(h->md, p, n) != 1)
				h->ok = false;
			return;
		}
	}
	memcpy(h->buf + h->len, p, n);
	h->len += n;
}

static bool cache_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Texts hash with whitespace runs as one space and no blanks at the ends,
 * so a resume pasted with other line breaks is the same resume. Runs of
 * other bytes go to the hash as they are; NULs are escaped so that the
 * terminator cannot be forged. */
static void cache_feed_text(struct cache_hash *h, const char *s, size_t n)
{
	static const char space = ' ', nul[2] = { 0, 1 }, end[2] = { 0, 0 };
	size_t i = 0;
	bool first = true;

	cache_feed(h, "s", 1);
	while (i < n) {
		size_t j = i, k;

		while (j < n && cache_space((unsigned char)s[j]))
			j++;
		if (j == n)
			break;
		if (j > i && !first)
			cache_feed(h, &space, 1);
		k = j;
		while (k < n && s[k] != '\0' && !cache_space((unsigned char)s[k]))
			k++;
		cache_feed(h, s + j, k - j);
		if (k < n && s[k] == '\0') {
			cache_feed(h, nul, 2);
			k++;
		}
		first = false;
		i = k;
	}
	cache_feed(h, end, 2);
}

static int cache_kv_cmp(const void *a, const void *b)
{
	const msgpack_object_kv *x = a, *y = b;
	size_t n;
	int c;

	if (x->key.type != MSGPACK_OBJECT_STR || y->key.type != MSGPACK_OBJECT_STR)
		return (int)x->key.type - (int)y->key.type;
	n = x->key.via.str.size < y->key.via.str.size ? x->key.via.str.size : y->key.via.str.size;
	c = memcmp(x->key.via.str.ptr, y->key.via.str.ptr, n);
	if (c != 0)
		return c;
	return x->key.via.str.size < y->key.via.str.size ? -1 : x->key.via.str.size > y->key.via.str.size;
}

static void cache_feed_object(struct cache_hash *h, const msgpack_object *o, int depth)
{
	char buf[64];
	int n;

	if (depth > 40) {
		h->ok = false;
		return;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		cache_feed(h, "n", 1);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		cache_feed(h, o->via.boolean ? "t" : "f", 1);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		n = snprintf(buf, sizeof(buf), "i%llu;", (unsigned long long)o->via.u64);
		cache_feed(h, buf, (size_t)n);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		n = snprintf(buf, sizeof(buf), "i%lld;", (long long)o->via.i64);
		cache_feed(h, buf, (size_t)n);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* 0.7 and 0.70 and 7e-1 are one number; 1.0 is the integer 1. */
		if (isfinite(o->via.f64) && o->via.f64 == floor(o->via.f64) && fabs(o->via.f64) < 9e15)
			n = snprintf(buf, sizeof(buf), "i%lld;", (long long)o->via.f64);
		else
			n = snprintf(buf, sizeof(buf), "d%.17g;", o->via.f64);
		cache_feed(h, buf, (size_t)n);
		break;
	case MSGPACK_OBJECT_STR:
		cache_feed_text(h, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		n = snprintf(buf, sizeof(buf), "a%u:", o->via.array.size);
		cache_feed(h, buf, (size_t)n);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			cache_feed_object(h, &o->via.array.ptr[i], depth + 1);
		break;
	case MSGPACK_OBJECT_MAP: {
		/* Field order is irrelevant: hash the pairs sorted by key. */
		uint32_t size = o->via.map.size;
		msgpack_object_kv *kv = ima_malloc((size ? size : 1) * sizeof(*kv));

		if (kv == NULL) {
			h->ok = false;
			return;
		}
		memcpy(kv, o->via.map.ptr, size * sizeof(*kv));
		qsort(kv, size, sizeof(*kv), cache_kv_cmp);
		n = snprintf(buf, sizeof(buf), "m%u:", size);
		cache_feed(h, buf, (size_t)n);
		for (uint32_t i = 0; i < size; i++) {
			cache_feed_object(h, &kv[i].key, depth + 1);
			cache_feed_object(h, &kv[i].val, depth + 1);
		}
		ima_free(kv);
		break;
	}
	default:
		/* bin and ext: hashed by their bytes. */
		n = snprintf(buf, sizeof(buf), "b%u:", o->via.bin.size);
		cache_feed(h, buf, (size_t)n);
		cache_feed(h, o->via.bin.ptr, o->via.bin.size);
		break;
	}
}

/* The tenant and user an auth stage put in the context, or "". */
static void cache_identity(struct ima_ctx *ctx, char *tenant, size_t tsize,
			   char *user, size_t usize)
{
	const char *s;
	size_t n;

	tenant[0] = user[0] = '\0';
	if (ima_ctx_get_str(ctx, "_auth.tenant", &s, &n) == 0)
		snprintf(tenant, tsize, "%.*s", (int)n, s);
	if (ima_ctx_get_str(ctx, "_auth.user", &s, &n) == 0)
		snprintf(user, usize, "%.*s", (int)n, s);
}

static void cache_gen_key(const struct cache_state *st, const char *tenant,
			  const char *user, char *buf, size_t size)
{
	snprintf(buf, size, "%sgen:%s:%s", st->prefix, tenant, user);
}

/* The user's generation, from Redis, reused for generation_cache_ms. */
static long long cache_generation(struct cache_state *st, const char *tenant,
				  const char *user)
{
	char key[400], id[160];
	long long now = cache_now_ms(), gen = 0;
	unsigned slot;

	if (user[0] == '\0' || st->l2 == NULL)
		return 0;
	snprintf(id, sizeof(id), "%s:%s", tenant, user);
	slot = 0;
	for (const char *p = id; *p; p++)
		slot = slot * 31 + (unsigned char)*p;
	slot %= sizeof(st->gens) / sizeof(st->gens[0]);
	pthread_mutex_lock(&st->lock);
	if (strcmp(st->gens[slot].user, id) == 0 &&
	    now - st->gens[slot].fetched_ms < st->gen_cache_ms) {
		gen = st->gens[slot].gen;
		pthread_mutex_unlock(&st->lock);
		return gen;
	}
	pthread_mutex_unlock(&st->lock);
	cache_gen_key(st, tenant, user, key, sizeof(key));
	/* Redis down: generation 0 still keys the answer to this user. */
	if (cache_redis_get_int(st->l2, key, &gen) != 0)
		return 0;
	pthread_mutex_lock(&st->lock);
	snprintf(st->gens[slot].user, sizeof(st->gens[slot].user), "%s", id);
	st->gens[slot].gen = gen;
	st->gens[slot].fetched_ms = now;
	pthread_mutex_unlock(&st->lock);
	return gen;
}

/* SHA-256 of head, then fingerprint (may be NULL), then the canonical
 * encoding of o: every key of the cache, answers and calls alike. */
static int cache_digest(const struct cache_state *st, const char *head, size_t n,
			const char *fingerprint, const msgpack_object *o,
			unsigned char key[CACHE_KEY_BYTES])
{
	struct cache_hash h = { EVP_MD_CTX_new(), true, 0, { 0 } };
	unsigned int len = 0;

	if (h.md == NULL)
		return -1;
	h.ok = EVP_DigestInit_ex(h.md, st->sha256, NULL) == 1;
	cache_feed(&h, head, n);
	if (fingerprint != NULL)
		cache_feed(&h, fingerprint, strlen(fingerprint));
	cache_feed_object(&h, o, 0);
	cache_flush(&h);
	if (h.ok)
		h.ok = EVP_DigestFinal_ex(h.md, key, &len) == 1 && len == CACHE_KEY_BYTES;
	EVP_MD_CTX_free(h.md);
	return h.ok ? 0 : -1;
}

static int cache_key(struct cache_state *st, struct ima_req *req,
		     unsigned char key[CACHE_KEY_BYTES], char *ident, size_t isize)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *input = ima_ctx_get(ctx, "_input");
	char tenant[128], user[128], buf[512];
	int y, m, d, n;

	if (input == NULL)
		return -1;
	cache_identity(ctx, tenant, sizeof(tenant), user, sizeof(user));
	ima_req_reference_date(req, &y, &m, &d);
	snprintf(ident, isize, "%zu:%s\036%zu:%s\036%lld\036", strlen(tenant), tenant,
		 strlen(user), user, cache_generation(st, tenant, user));
	n = snprintf(buf, sizeof(buf), "imaginator-cache-v%d\036%04d-%02d\036%s",
		     CACHE_VALUE_VERSION, y, m, ident);
	return cache_digest(st, buf, (size_t)n, st->fingerprint, input, key);
}

static void cache_hex(const unsigned char key[CACHE_KEY_BYTES], char out[2 * CACHE_KEY_BYTES + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < CACHE_KEY_BYTES; i++) {
		out[2 * i] = hex[key[i] >> 4];
		out[2 * i + 1] = hex[key[i] & 15];
	}
	out[2 * CACHE_KEY_BYTES] = '\0';
}

/* ---- coalescing within the process ---- */

/* With st->lock held: true when this request now owns the key (nobody
 * else computes it); false after waiting (the lock let go meanwhile) for
 * the owner to finish, or for the clock to pass until. */
static bool cache_claim_locked(struct cache_state *st, const unsigned char *key, long long until)
{
	struct cache_inflight *f;
	struct timespec deadline;

	for (f = st->inflight; f; f = f->next)
		if (memcmp(f->key, key, CACHE_KEY_BYTES) == 0)
			break;
	if (f == NULL) {
		f = ima_calloc(1, sizeof(*f));
		if (f != NULL) {
			memcpy(f->key, key, CACHE_KEY_BYTES);
			f->next = st->inflight;
			st->inflight = f;
		}
		return true;
	}
	f->waiters++;
	deadline.tv_sec = until / 1000;
	deadline.tv_nsec = (until % 1000) * 1000000;
	while (!f->done && cache_now_ms() < until)
		if (pthread_cond_timedwait(&st->cond, &st->lock, &deadline) != 0)
			break;
	/* The last waiter out frees an entry its owner already released. */
	if (--f->waiters == 0 && f->done)
		ima_free(f);
	return false;
}

static bool cache_claim(struct cache_state *st, const unsigned char *key, int64_t wait_ms)
{
	bool owner;

	pthread_mutex_lock(&st->lock);
	owner = cache_claim_locked(st, key, cache_now_ms() + wait_ms);
	pthread_mutex_unlock(&st->lock);
	return owner;
}

static void cache_release(struct cache_state *st, const unsigned char *key)
{
	struct cache_inflight **pp, *f;

	pthread_mutex_lock(&st->lock);
	for (pp = &st->inflight; (f = *pp) != NULL; pp = &f->next)
		if (memcmp(f->key, key, CACHE_KEY_BYTES) == 0)
			break;
	if (f != NULL) {
		*pp = f->next;
		f->done = true;
		if (f->waiters == 0)
			ima_free(f);
		pthread_cond_broadcast(&st->cond);
	}
	pthread_mutex_unlock(&st->lock);
}

/* ---- per-request bookkeeping, kept in the context ---- */

enum cache_status { ST_MISS = 0, ST_HIT_L1, ST_HIT_L2, ST_BYPASS };
static const char *const cache_status_names[] = { "MISS", "HIT-L1", "HIT-L2", "BYPASS" };

static enum ima_rc cache_note(struct ima_req *req, const char *hexkey,
			      enum cache_status status, bool store, bool owner,
			      const char *lock_token, bool coalesced, double cost, bool replay)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc = 0;

	ima_req_add_header(req, "X-Cache", cache_status_names[status]);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	/* For finish: a replayed answer (no stage ran) needs none of it. */
	if (replay)
		goto metrics;
	msgpack_pack_map(&pk, 5);
	ima_pack_cstr(&pk, "key");
	ima_pack_cstr(&pk, hexkey);
	ima_pack_cstr(&pk, "store");
	store ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	ima_pack_cstr(&pk, "owner");
	owner ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	ima_pack_cstr(&pk, "lock_token"); /* the Redis lock this request holds, or "" */
	ima_pack_cstr(&pk, lock_token);
	ima_pack_cstr(&pk, "status");
	msgpack_pack_int(&pk, status);
	rc = ima_ctx_put_sbuffer(ima_req_ctx(req), "_cache", &sb);
	msgpack_sbuffer_clear(&sb);
metrics:
	msgpack_pack_map(&pk, 8);
	ima_pack_cstr(&pk, "status");
	ima_pack_cstr(&pk, cache_status_names[status]);
	ima_pack_cstr(&pk, "key");
	/* A short prefix identifies the entry in logs; "" when bypassed. */
	ima_pack_strn(&pk, hexkey, strnlen(hexkey, 16));
	ima_pack_cstr(&pk, "coalesced");
	coalesced ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	ima_pack_cstr(&pk, "cost_saved_usd");
	msgpack_pack_double(&pk, status == ST_HIT_L1 || status == ST_HIT_L2 ? cost : 0.0);
	/* The call cache's share; cache_task_finish fills it in. */
	ima_pack_cstr(&pk, "calls_hit");
	msgpack_pack_int(&pk, 0);
	ima_pack_cstr(&pk, "calls_missed");
	msgpack_pack_int(&pk, 0);
	ima_pack_cstr(&pk, "calls_stored");
	msgpack_pack_int(&pk, 0);
	ima_pack_cstr(&pk, "call_cost_saved_usd");
	msgpack_pack_double(&pk, 0.0);
	rc |= ima_ctx_put_sbuffer(ima_req_ctx(req), "_metrics.cache", &sb);
	msgpack_sbuffer_destroy(&sb);
	if (rc != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	return IMA_CONTINUE;
}

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

/* Hits over lookups so far, over every worker, as a gauge. */
static void cache_hit_ratio(void)
{
	double hits = ima_metric_get("imaginator_cache_hits_total{level=\"l1\"}") +
		      ima_metric_get("imaginator_cache_hits_total{level=\"l2\"}");
	double all = hits + ima_metric_get("imaginator_cache_misses_total");

	if (all > 0)
		ima_metric_set("imaginator_cache_hit_ratio", hits / all);
}

static enum ima_rc cache_hit(struct cache_state *st, struct ima_req *req,
			     const char *hexkey, enum cache_status level,
			     bool coalesced, double cost, bool replay)
{
	enum ima_rc rc;

	atomic_fetch_add(level == ST_HIT_L1 ? &st->hits_l1 : &st->hits_l2, 1);
	ima_metric_add(level == ST_HIT_L1 ? "imaginator_cache_hits_total{level=\"l1\"}"
					  : "imaginator_cache_hits_total{level=\"l2\"}", 1);
	ima_metric_add("imaginator_cache_cost_saved_usd_total", cost);
	if (coalesced)
		ima_metric_add("imaginator_cache_coalesced_total", 1);
	cache_hit_ratio();
	rc = cache_note(req, hexkey, level, false, false, "", coalesced, cost, replay);
	return rc == IMA_CONTINUE ? IMA_DONE : rc;
}

static int cache_lookup_l1(struct cache_state *st, struct ima_req *req,
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

static int cache_lookup_l2(struct cache_state *st, struct ima_req *req,
			   const unsigned char *key, const char *rkey, double *cost,
			   int64_t ttl_hint)
{
	char *val;
	size_t len;
	bool ok;

	if (st->l2 == NULL || cache_redis_get(st->l2, rkey, &val, &len) != 1)
		return 0;
	ok = cache_apply(st, req, val, len, cost);
	if (ok && st->l1 != NULL)
		/* An L2 hit fills L1 for the shortest TTL: the entry's own
		 * TTL is not known here, and L1 must not outlive L2 much. */
		cache_l1_put(st->l1, key, val, len, time(NULL) + ttl_hint);
	if (!ok)
		cache_redis_del(st->l2, rkey);
	ima_free(val);
	return ok;
}

/* ---- replaying exact repeats before decoding ---- */

/*
 * The replay key: the request's exact bytes and format, the month "Present"
 * means, the pipeline fingerprint. Only anonymous requests (no
 * Authorization, no identity found by any stage) are replayed, so per-user
 * keys and invalidation are never bypassed.
 */
static int cache_raw_key(struct cache_state *st, struct ima_req *req,
			 const char *body, size_t len, int in_format,
			 unsigned char key[CACHE_KEY_BYTES])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int klen = 0;
	char head[160];
	time_t t = time(NULL);
	struct tm tm;
	int n, ok;

	if (md == NULL)
		return -1;
	gmtime_r(&t, &tm);
	n = snprintf(head, sizeof(head), "imaginator-replay-v%d\036%d\036%04d-%02d\036",
		     CACHE_VALUE_VERSION, in_format, tm.tm_year + 1900, tm.tm_mon + 1);
	(void)req;
	ok = EVP_DigestInit_ex(md, st->sha256, NULL) == 1 &&
	     EVP_DigestUpdate(md, head, (size_t)n) == 1 &&
	     EVP_DigestUpdate(md, st->fingerprint, strlen(st->fingerprint)) == 1 &&
	     EVP_DigestUpdate(md, body, len) == 1 &&
	     EVP_DigestFinal_ex(md, key, &klen) == 1 && klen == CACHE_KEY_BYTES;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static bool cache_replayable(struct ima_req *req)
{
	const char *cc = ima_req_meta(req, "cache_control");
	const char *out = ima_req_meta(req, "output");

	return out != NULL && strcmp(out, "json") == 0 &&
	       ima_req_meta(req, "authorization") == NULL &&
	       (cc == NULL || (strstr(cc, "no-store") == NULL && strstr(cc, "no-cache") == NULL));
}

static enum ima_rc cache_prefetch(struct ima_req *req, void *state,
				  const char *body, size_t len, int in_format)
{
	struct cache_state *st = state;
	unsigned char key[CACHE_KEY_BYTES];
	char hex[2 * CACHE_KEY_BYTES + 1];
	char *val;
	size_t vlen;
	double cost;

	if (st->raw == NULL || !cache_replayable(req) ||
	    cache_raw_key(st, req, body, len, in_format, key) != 0)
		return IMA_CONTINUE;
	cache_hex(key, hex);
	if (!cache_l1_get(st->raw, key, time(NULL), &val, &vlen)) {
		/* Remembered so that finish can store this request's answer. */
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		ima_pack_cstr(&pk, hex);
		ima_ctx_put_sbuffer(ima_req_ctx(req), "_cache_replay", &sb);
		msgpack_sbuffer_destroy(&sb);
		return IMA_CONTINUE;
	}
	if (vlen < sizeof(cost) ||
	    ima_req_set_prerendered(req, val + sizeof(cost), vlen - sizeof(cost)) != 0) {
		ima_free(val);
		return IMA_CONTINUE;
	}
	memcpy(&cost, val, sizeof(cost));
	ima_free(val);
	return cache_hit(st, req, hex, ST_HIT_L1, false, cost, true);
}

/* ---- the call cache ---- */

/* Makes the call cache available to the stages after this one. A failure
 * only means their calls miss. */
static void cache_task_start(struct cache_state *st, struct ima_req *req,
			     const char *ident, bool lookup)
{
	struct cache_task *t;

	if (!st->call_cache || (st->l1 == NULL && st->l2 == NULL) ||
	    (t = ima_req_alloc(req, sizeof(*t))) == NULL)
		return;
	memset(t, 0, sizeof(*t));
	snprintf(t->ident, sizeof(t->ident), "%s", ident);
	t->lookup = lookup;
	t->store = true;
	atomic_init(&t->hits, 0);
	atomic_init(&t->misses, 0);
	atomic_init(&t->stores, 0);
	atomic_init(&t->saved_nusd, 0);
	ima_req_task_set(req, st, t);
}

static int cache_call_key(const struct cache_state *st, const struct cache_task *t,
			  const msgpack_object *call, unsigned char key[CACHE_KEY_BYTES])
{
	char head[512];
	int n = snprintf(head, sizeof(head), "imaginator-call-v%d\036%s", CACHE_CALL_VERSION, t->ident);

	return cache_digest(st, head, (size_t)n, NULL, call, key);
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

			msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
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

/* 1 when the call was found in L1 or L2 (L2 fills L1). */
static int cache_call_lookup(struct cache_state *st, struct cache_task *t,
			     const unsigned char *key, const char *rkey,
			     msgpack_sbuffer *result, double *cost)
{
	size_t before = result->size;
	char *val;
	size_t len;

	if (st->l1 != NULL && cache_l1_get(st->l1, key, time(NULL), &val, &len)) {
		bool ok = cache_call_decode(val, len, result, cost);

		ima_free(val);
		if (ok) {
			cache_call_hit(t, ST_HIT_L1, *cost);
			return 1;
		}
		result->size = before;
	}
	if (st->l2 != NULL && cache_redis_get(st->l2, rkey, &val, &len) == 1) {
		bool ok = len <= (size_t)st->call_max_bytes &&
			  cache_call_decode(val, len, result, cost);

		/* The entry's own TTL is not known here: the call TTL. */
		if (ok && st->l1 != NULL)
			cache_l1_put(st->l1, key, val, len, time(NULL) + st->call_ttl);
		if (!ok) {
			ima_log(IMA_LOG_WARN, "stage %s: dropping a cached call that does not validate",
				st->name);
			ima_metric_add("imaginator_cache_corrupt_total", 1);
			cache_redis_del(st->l2, rkey);
		}
		ima_free(val);
		if (ok) {
			cache_call_hit(t, ST_HIT_L2, *cost);
			return 1;
		}
		result->size = before;
	}
	return 0;
}

enum { CALL_OWNER, CALL_WAITED, CALL_UNCLAIMED };

/* With st->lock held: where the task records its claim on key, or -1. */
static int cache_task_find(const struct cache_task *t, const unsigned char *key)
{
	for (int i = 0; i < t->nclaimed; i++)
		if (memcmp(t->claimed[i].key, key, CACHE_KEY_BYTES) == 0)
			return i;
	return -1;
}

/*
 * Claims a call for this request, recorded in the task in the same hold of
 * st->lock, so that a sibling thread asking for it sees the claim and never
 * waits for its own request. CALL_UNCLAIMED: this request makes it already,
 * or has no room to record another (then nobody waits for it).
 */
static int cache_call_claim(struct cache_state *st, struct cache_task *t,
			    const unsigned char *key, long long until)
{
	int rc = CALL_UNCLAIMED;

	pthread_mutex_lock(&st->lock);
	if (cache_task_find(t, key) >= 0 || t->nclaimed == CACHE_TASK_CLAIMS)
		goto out;
	/* Owned without waiting, so the lock was held all along. */
	if (cache_claim_locked(st, key, until)) {
		memcpy(t->claimed[t->nclaimed].key, key, CACHE_KEY_BYTES);
		t->claimed[t->nclaimed].token[0] = '\0';
		t->nclaimed++;
		rc = CALL_OWNER;
	} else {
		rc = CALL_WAITED;
	}
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static void cache_call_lock_key(const struct cache_state *st, const unsigned char *key,
				char *buf, size_t size)
{
	char hex[2 * CACHE_KEY_BYTES + 1];

	cache_hex(key, hex);
	snprintf(buf, size, "%sclock:%s", st->prefix, hex);
}

/*
 * Takes the Redis lock on a call, or waits for the process that holds it
 * (until the clock passes until): 1 when its result appeared meanwhile, 0
 * when this request now holds the lock (with token), -1 when it makes the
 * call without one (Redis failing, or the wait ran out).
 */
static int cache_call_lock(struct cache_state *st, struct cache_task *t,
			   const unsigned char *key, const char *rkey, const char *token,
			   long long until, msgpack_sbuffer *result, double *cost)
{
	char lkey[256];
	long pause_ms = 10;

	cache_call_lock_key(st, key, lkey, sizeof(lkey));
	for (;;) {
		int got = cache_redis_lock(st->l2, lkey, (int)st->call_lock_ms, token);

		if (got < 0)
			return -1;
		/* Held now, or stored and unlocked since our miss: look again. */
		if (cache_call_lookup(st, t, key, rkey, result, cost)) {
			if (got == 1)
				cache_redis_unlock(st->l2, lkey, token);
			return 1;
		}
		if (got == 1)
			return 0;
		if (cache_now_ms() >= until)
			return -1;
		{
			struct timespec d = { 0, pause_ms * 1000000 };

			nanosleep(&d, NULL);
		}
		if (pause_ms < 100)
			pause_ms *= 2;
	}
}

/* Lets go of a call this request claimed (and of its Redis lock); false
 * when it claimed none. */
static bool cache_call_release(struct cache_state *st, struct cache_task *t,
			       const unsigned char *key)
{
	char token[CACHE_REDIS_TOKEN] = "";
	bool found = false;
	int i;

	pthread_mutex_lock(&st->lock);
	if ((i = cache_task_find(t, key)) >= 0) {
		memcpy(token, t->claimed[i].token, sizeof(token));
		t->claimed[i] = t->claimed[t->nclaimed - 1];
		t->nclaimed--;
		found = true;
	}
	pthread_mutex_unlock(&st->lock);
	if (!found)
		return false;
	if (token[0] != '\0' && st->l2 != NULL) {
		char lkey[256];

		cache_call_lock_key(st, key, lkey, sizeof(lkey));
		cache_redis_unlock(st->l2, lkey, token);
	}
	cache_release(st, key);
	return true;
}

static int cache_call_get(struct ima_req *req, void *state, const msgpack_object *call,
			  msgpack_sbuffer *result, double *cost)
{
	struct cache_state *st = state;
	struct cache_task *t = ima_req_task_get(req, st);
	unsigned char key[CACHE_KEY_BYTES];
	char hex[2 * CACHE_KEY_BYTES + 1], rkey[256], token[CACHE_REDIS_TOKEN];
	long long until;

	if (t == NULL || !t->lookup || cache_call_key(st, t, call, key) != 0)
		return 0;
	cache_hex(key, hex);
	snprintf(rkey, sizeof(rkey), "%sc:%s", st->prefix, hex);
	if (cache_call_lookup(st, t, key, rkey, result, cost))
		return 1;
	/* One deadline for every wait of this lookup. */
	until = cache_now_ms() + st->call_wait_ms;
	for (;;) {
		int c = cache_call_claim(st, t, key, until);

		if (c == CALL_OWNER)
			break;
		if (c == CALL_UNCLAIMED)
			goto miss;
		/* Another request here made it: its result, if it got one;
		 * else try to take it over. */
		if (cache_call_lookup(st, t, key, rkey, result, cost)) {
			ima_metric_add("imaginator_cache_call_coalesced_total", 1);
			return 1;
		}
		if (cache_now_ms() >= until)
			goto miss;
	}
	/* Owned in this process; across processes and hosts, a Redis lock. */
	if (st->l2 != NULL) {
		cache_redis_token(token);
		switch (cache_call_lock(st, t, key, rkey, token, until, result, cost)) {
		case 1:
			cache_call_release(st, t, key);
			ima_metric_add("imaginator_cache_call_coalesced_total", 1);
			return 1;
		case 0: {
			int i;

			pthread_mutex_lock(&st->lock);
			if ((i = cache_task_find(t, key)) >= 0)
				memcpy(t->claimed[i].token, token, sizeof(token));
			pthread_mutex_unlock(&st->lock);
			break;
		}
		default:
			break;
		}
	}
miss:
	atomic_fetch_add(&t->misses, 1);
	ima_metric_add("imaginator_cache_call_misses_total", 1);
	return 0;
}

static void cache_call_put(struct ima_req *req, void *state, const msgpack_object *call,
			   const void *result, size_t len, double cost)
{
	struct cache_state *st = state;
	struct cache_task *t = ima_req_task_get(req, st);
	unsigned char key[CACHE_KEY_BYTES];
	char hex[2 * CACHE_KEY_BYTES + 1], rkey[256];
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (t == NULL || cache_call_key(st, t, call, key) != 0)
		return;
	/* result NULL: the call failed, only the claim ends. */
	if (t->store && result != NULL && cost >= 0 && cost <= CACHE_COST_MAX &&
	    len + 32 <= (size_t)st->call_max_bytes) {
		cache_hex(key, hex);
		snprintf(rkey, sizeof(rkey), "%sc:%s", st->prefix, hex);
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 3);
		ima_pack_cstr(&pk, "v");
		msgpack_pack_int(&pk, CACHE_CALL_VERSION);
		ima_pack_cstr(&pk, "cost");
		msgpack_pack_double(&pk, cost);
		ima_pack_cstr(&pk, "result");
		if (msgpack_sbuffer_write(&sb, result, len) == 0 && sb.data != NULL) {
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

static bool cache_call_field(const msgpack_object *k)
{
	static const char *const names[] = { "calls_hit", "calls_missed", "calls_stored",
					     "call_cost_saved_usd", "cost_saved_usd", NULL };

	for (int i = 0; k->type == MSGPACK_OBJECT_STR && names[i]; i++)
		if (k->via.str.size == strlen(names[i]) &&
		    memcmp(k->via.str.ptr, names[i], k->via.str.size) == 0)
			return true;
	return false;
}

/* End of the request: lets go of calls never stored (they failed), and
 * adds the call cache's figures to run_metrics.cache. */
static void cache_task_finish(struct cache_state *st, struct ima_req *req)
{
	struct cache_task *t = ima_req_task_get(req, st);
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *m;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	unsigned hits, misses, stores;
	double saved, answer_saved = 0;
	uint32_t keep = 0;

	if (t == NULL)
		return;
	for (;;) {
		unsigned char key[CACHE_KEY_BYTES];

		pthread_mutex_lock(&st->lock);
		if (t->nclaimed == 0) {
			pthread_mutex_unlock(&st->lock);
			break;
		}
		memcpy(key, t->claimed[t->nclaimed - 1].key, CACHE_KEY_BYTES);
		pthread_mutex_unlock(&st->lock);
		cache_call_release(st, t, key);
	}
	hits = atomic_load(&t->hits);
	misses = atomic_load(&t->misses);
	stores = atomic_load(&t->stores);
	saved = (double)atomic_load(&t->saved_nusd) / 1e9;
	if (hits + misses + stores == 0 || (m = ima_ctx_get(ctx, "_metrics.cache")) == NULL ||
	    m->type != MSGPACK_OBJECT_MAP)
		return;
	ima_ctx_get_double(ctx, "_metrics.cache.cost_saved_usd", &answer_saved);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (uint32_t i = 0; i < m->via.map.size; i++)
		keep += !cache_call_field(&m->via.map.ptr[i].key);
	msgpack_pack_map(&pk, keep + 5);
	for (uint32_t i = 0; i < m->via.map.size; i++)
		if (!cache_call_field(&m->via.map.ptr[i].key)) {
			msgpack_pack_object(&pk, m->via.map.ptr[i].key);
			msgpack_pack_object(&pk, m->via.map.ptr[i].val);
		}
	ima_pack_cstr(&pk, "calls_hit");
	msgpack_pack_unsigned_int(&pk, hits);
	ima_pack_cstr(&pk, "calls_missed");
	msgpack_pack_unsigned_int(&pk, misses);
	ima_pack_cstr(&pk, "calls_stored");
	msgpack_pack_unsigned_int(&pk, stores);
	ima_pack_cstr(&pk, "call_cost_saved_usd");
	msgpack_pack_double(&pk, saved);
	ima_pack_cstr(&pk, "cost_saved_usd");
	msgpack_pack_double(&pk, answer_saved + saved);
	ima_ctx_put_sbuffer(ctx, "_metrics.cache", &sb);
	msgpack_sbuffer_destroy(&sb);
}

static enum ima_rc cache_process(struct ima_req *req, void *state)
{
	struct cache_state *st = state;
	const char *cc = ima_req_meta(req, "cache_control");
	bool no_store = cc != NULL && strstr(cc, "no-store") != NULL;
	bool no_cache = cc != NULL && strstr(cc, "no-cache") != NULL;
	unsigned char key[CACHE_KEY_BYTES];
	char hexkey[2 * CACHE_KEY_BYTES + 1], rkey[256], lkey[256], ident[400];
	char token[CACHE_REDIS_TOKEN];
	bool owner, redis_lock = false;
	double cost = 0;

	if (ima_ctx_get(ima_req_ctx(req), "_input") == NULL)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "stage %s needs the request stage before it", st->name);
	if (no_store) {
		atomic_fetch_add(&st->bypass, 1);
		ima_metric_add("imaginator_cache_bypass_total", 1);
		return cache_note(req, "", ST_BYPASS, false, false, "", false, 0, false);
	}
	if (cache_key(st, req, key, ident, sizeof(ident)) != 0)
		return ima_req_fail(req, 500, "internal", "", "cannot compute the cache key");
	cache_hex(key, hexkey);
	snprintf(rkey, sizeof(rkey), "%sa:%s", st->prefix, hexkey);
	snprintf(lkey, sizeof(lkey), "%slock:%s", st->prefix, hexkey);
	if (no_cache) {
		/* Skip the lookup, still store the fresh answer. */
		atomic_fetch_add(&st->bypass, 1);
		ima_metric_add("imaginator_cache_bypass_total", 1);
		owner = cache_claim(st, key, st->wait_ms);
		cache_task_start(st, req, ident, false);
		return cache_note(req, hexkey, ST_BYPASS, true, owner, "", false, 0, false);
	}
	if (cache_lookup_l1(st, req, key, &cost))
		return cache_hit(st, req, hexkey, ST_HIT_L1, false, cost, false);
	if (cache_lookup_l2(st, req, key, rkey, &cost, st->ttl_low))
		return cache_hit(st, req, hexkey, ST_HIT_L2, false, cost, false);

	owner = cache_claim(st, key, st->wait_ms);
	if (!owner) {
		/* Another thread computed it meanwhile, or gave up. */
		if (cache_lookup_l1(st, req, key, &cost))
			return cache_hit(st, req, hexkey, ST_HIT_L1, true, cost, false);
		owner = cache_claim(st, key, st->wait_ms);
	}
	/* The previous owner may have stored and released between our L1
	 * miss and our claim: look once more now that we hold the key. */
	if (owner && cache_lookup_l1(st, req, key, &cost)) {
		cache_release(st, key);
		return cache_hit(st, req, hexkey, ST_HIT_L1, true, cost, false);
	}
	if (owner && st->l2 != NULL) {
		int got;

		cache_redis_token(token);
		got = cache_redis_lock(st->l2, lkey, (int)st->lock_ms, token);

		if (got == 0) {
			/* Another process or host computes it: poll L2. */
			long long until = cache_now_ms() + st->wait_ms;

			while (cache_now_ms() < until) {
				struct timespec pause = { 0, 10 * 1000000 };

				nanosleep(&pause, NULL);
				if (cache_lookup_l2(st, req, key, rkey, &cost, st->ttl_low)) {
					cache_release(st, key);
					return cache_hit(st, req, hexkey, ST_HIT_L2, true, cost, false);
				}
			}
		}
		redis_lock = got == 1;
		/* The previous holder may have stored and unlocked between our
		 * L2 miss and our lock: look once more now that we hold it. */
		if (redis_lock && cache_lookup_l2(st, req, key, rkey, &cost, st->ttl_low)) {
			cache_redis_unlock(st->l2, lkey, token);
			cache_release(st, key);
			return cache_hit(st, req, hexkey, ST_HIT_L2, true, cost, false);
		}
	}
	atomic_fetch_add(&st->misses, 1);
	ima_metric_add("imaginator_cache_misses_total", 1);
	cache_hit_ratio();
	cache_task_start(st, req, ident, true);
	return cache_note(req, hexkey, ST_MISS, true, owner, redis_lock ? token : "", false, 0, false);
}

static int64_t cache_ttl(const struct cache_state *st, struct ima_req *req)
{
	double c = 0;

	if (ima_ctx_get_double(ima_req_ctx(req), st->conf_path, &c) != 0)
		return st->ttl_low;
	return c > st->conf_high ? st->ttl_high : c > st->conf_medium ? st->ttl_medium : st->ttl_low;
}

static bool cache_note_bool(struct ima_ctx *ctx, const char *path)
{
	int b = 0;

	return ima_ctx_get_bool(ctx, path, &b) == 0 && b;
}

/* A hex key this stage put in the context, decoded; false when absent or
 * not 64 hex digits. */
static bool cache_ctx_key(struct ima_ctx *ctx, const char *path,
			  unsigned char key[CACHE_KEY_BYTES], const char **hex)
{
	size_t len;

	if (ima_ctx_get_str(ctx, path, hex, &len) != 0 || len != 2 * CACHE_KEY_BYTES)
		return false;
	for (int i = 0; i < 2 * CACHE_KEY_BYTES; i++) {
		char c = (*hex)[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return false;
		if (i % 2 == 0)
			key[i / 2] = (unsigned char)(v << 4);
		else
			key[i / 2] |= (unsigned char)v;
	}
	return true;
}

/* The rendered answer of an anonymous request, for byte-identical repeats:
 * the answer's LLM cost (a double, native order: the entry never leaves
 * the process) followed by the JSON members. */
static void cache_store_replay(struct cache_state *st, struct ima_req *req, int64_t ttl)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const char *hex;
	size_t len;
	unsigned char key[CACHE_KEY_BYTES];
	char *json, *val;
	double cost = 0;

	if (st->raw == NULL || !cache_ctx_key(ctx, "_cache_replay", key, &hex) ||
	    ima_ctx_get(ctx, "_auth") != NULL)
		return;
	if (ima_ctx_get_double(ctx, "_cache_cost", &cost) != 0)
		ima_ctx_get_double(ctx, "_cost_usd", &cost);
	json = ima_ctx_public_json(ctx, &len);
	if (json != NULL && (val = ima_malloc(sizeof(cost) + len)) != NULL) {
		memcpy(val, &cost, sizeof(cost));
		memcpy(val + sizeof(cost), json, len);
		cache_l1_put(st->raw, key, val, sizeof(cost) + len, time(NULL) + ttl);
		ima_free(val);
	}
	ima_free(json);
}

static void cache_finish(struct ima_req *req, void *state)
{
	static const char *const also[] = { "_cache_cost", "_cache_version", NULL };
	struct cache_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const char *hexkey;
	unsigned char key[CACHE_KEY_BYTES];
	char rkey[256], lkey[256];
	msgpack_sbuffer sb;
	double cost = 0;
	int64_t ttl;
	int no_store = 0;

	cache_task_finish(st, req);
	if (!cache_note_bool(ctx, "_cache.owner") && !cache_note_bool(ctx, "_cache.store")) {
		int64_t status = 0;

		/* A hit through the canonical key: replay these exact bytes next
		 * time (for the shortest TTL, the entry's own is not known). */
		if (ima_ctx_get_int(ctx, "_cache.status", &status) == 0 &&
		    (status == ST_HIT_L1 || status == ST_HIT_L2))
			cache_store_replay(st, req, st->ttl_low);
		return;
	}
	if (!cache_ctx_key(ctx, "_cache.key", key, &hexkey))
		return;
	snprintf(rkey, sizeof(rkey), "%sa:%.*s", st->prefix, 2 * CACHE_KEY_BYTES, hexkey);
	snprintf(lkey, sizeof(lkey), "%slock:%.*s", st->prefix, 2 * CACHE_KEY_BYTES, hexkey);
	ima_ctx_get_bool(ctx, "_no_store", &no_store);
	/* Errors, degraded answers and answers marked no-store are never kept. */
	if (cache_note_bool(ctx, "_cache.store") && ima_req_error(req) == NULL &&
	    !ima_req_is_degraded(req) && !no_store) {
		char num[16];

		ima_ctx_get_double(ctx, "_cost_usd", &cost);
		msgpack_sbuffer_init(&sb);
		{
			msgpack_packer pk;

			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_double(&pk, cost);
		}
		ima_ctx_put(ctx, "_cache_cost", sb.data, sb.size);
		msgpack_sbuffer_clear(&sb);
		num[0] = (char)CACHE_VALUE_VERSION; /* positive fixint */
		ima_ctx_put(ctx, "_cache_version", num, 1);
		if (ima_ctx_encode_public(ctx, &sb, also) == 0) {
			ttl = cache_ttl(st, req);
			if (st->l1 != NULL)
				cache_l1_put(st->l1, key, sb.data, sb.size, time(NULL) + ttl);
			if (st->l2 != NULL)
				cache_redis_set(st->l2, rkey, sb.data, sb.size, (int)ttl);
			atomic_fetch_add(&st->stores, 1);
			ima_metric_add("imaginator_cache_stores_total", 1);
			cache_store_replay(st, req, ttl);
		}
		msgpack_sbuffer_destroy(&sb);
	}
	{
		const char *tok;
		size_t tlen;

		if (st->l2 != NULL && ima_ctx_get_str(ctx, "_cache.lock_token", &tok, &tlen) == 0 &&
		    tlen > 0 && tlen < CACHE_REDIS_TOKEN) {
			char t[CACHE_REDIS_TOKEN];

			memcpy(t, tok, tlen);
			t[tlen] = '\0';
			cache_redis_unlock(st->l2, lkey, t);
		}
	}
	if (cache_note_bool(ctx, "_cache.owner"))
		cache_release(st, key);
	if (st->l1 != NULL) {
		size_t bytes, entries;
		uint64_t evictions;

		cache_l1_stats(st->l1, &bytes, &entries, &evictions);
		ima_metric_set("imaginator_cache_l1_bytes", (double)bytes);
		ima_metric_set("imaginator_cache_l1_entries", (double)entries);
		ima_metric_set("imaginator_cache_l1_evictions", (double)evictions);
	}
	if (st->l2 != NULL)
		ima_metric_set("imaginator_cache_breaker_open", cache_redis_breaker_open(st->l2));
}

/* ---- administration ---- */

static int cache_command(void *state, const char *verb, const msgpack_object *args,
			 msgpack_packer *out, struct ima_error *err)
{
	struct cache_state *st = state;
	char tenant[128] = "", user[128] = "", key[400];
	long long gen;

	if (strcmp(verb, "invalidate") != 0)
		return 0;
	if (!st->allow_invalidate)
		return ima_error_set(err, 403, "forbidden", "", "stage %s does not allow invalidation (allow_invalidate = false)", st->name);
	for (uint32_t i = 0; args && args->type == MSGPACK_OBJECT_MAP && i < args->via.map.size; i++) {
		const msgpack_object_kv *kv = &args->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR)
			continue;
		if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "user", 4) == 0)
			snprintf(user, sizeof(user), "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
		else if (kv->key.via.str.size == 6 && memcmp(kv->key.via.str.ptr, "tenant", 6) == 0)
			snprintf(tenant, sizeof(tenant), "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
	}
	if (user[0] == '\0')
		return ima_error_set(err, 422, "invalid_field", "user", "invalidate needs a user");
	if (st->l2 == NULL)
		return ima_error_set(err, 503, "no_redis", "", "per-user invalidation needs Redis (redis_url or IMAGINATOR_REDIS_URL)");
	cache_gen_key(st, tenant, user, key, sizeof(key));
	gen = cache_redis_incr(st->l2, key);
	if (gen < 0)
		return ima_error_set(err, 503, "redis_unavailable", "", "Redis did not answer; nothing was invalidated");
	/* This process forgets the old generation at once. */
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < sizeof(st->gens) / sizeof(st->gens[0]); i++)
		st->gens[i].fetched_ms = 0;
	pthread_mutex_unlock(&st->lock);
	ima_metric_add("imaginator_cache_invalidations_total", 1);
	msgpack_pack_map(out, 4);
	ima_pack_cstr(out, "stage");
	ima_pack_cstr(out, st->name);
	ima_pack_cstr(out, "tenant");
	ima_pack_cstr(out, tenant);
	ima_pack_cstr(out, "user");
	ima_pack_cstr(out, user);
	ima_pack_cstr(out, "generation");
	msgpack_pack_int64(out, gen);
	return 1;
}

/* /health: is Redis answering? Without L2 there is nothing to report. */
static int cache_health(void *state, msgpack_packer *out)
{
	struct cache_state *st = state;
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
	ima_pack_cstr(out, up ? "answering PING" : open ? "circuit breaker open: cache reads as misses"
						       : "not answering: cache reads as misses");
	return 1;
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
};
