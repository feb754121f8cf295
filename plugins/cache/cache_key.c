/*
 * cache_key.c - the cache's keys: SHA-256 over a canonical encoding of what
 * changes the result, so that equal requests and calls meet in one entry
 * and different ones never do.
 *
 * An answer's key covers the normalised request (_input: map keys sorted,
 * whitespace in texts collapsed, numbers canonical), the month "Present"
 * resolves to, the pipeline fingerprint (every stage, plugin version and
 * option), and the tenant and user with the user's generation counter.
 * Invalidating a user increments the counter: O(1), and every older key of
 * that user becomes unreachable. A call's key covers the call, hashed the
 * same way, after the same identity; a replay key the raw bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_private.h"

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

void cache_gen_key(const struct cache_state *st, const char *tenant,
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

int cache_key(struct cache_state *st, struct ima_req *req,
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

void cache_hex(const unsigned char key[CACHE_KEY_BYTES], char out[CACHE_HEX_SIZE])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < CACHE_KEY_BYTES; i++) {
		out[2 * i] = hex[key[i] >> 4];
		out[2 * i + 1] = hex[key[i] & 15];
	}
	out[2 * CACHE_KEY_BYTES] = '\0';
}

void cache_redis_key(const struct cache_state *st, const char *kind,
		     const unsigned char key[CACHE_KEY_BYTES], char buf[CACHE_RKEY_SIZE])
{
	char hex[CACHE_HEX_SIZE];

	cache_hex(key, hex);
	snprintf(buf, CACHE_RKEY_SIZE, "%s%s:%s", st->prefix, kind, hex);
}

int cache_call_key(const struct cache_state *st, const struct cache_task *t,
		   const msgpack_object *call, unsigned char key[CACHE_KEY_BYTES])
{
	char head[512];
	int n = snprintf(head, sizeof(head), "imaginator-call-v%d\036%s", CACHE_CALL_VERSION, t->ident);

	return cache_digest(st, head, (size_t)n, NULL, call, key);
}

/* The replay key: the request's exact bytes and format, the month "Present"
 * means, the pipeline fingerprint. */
int cache_raw_key(const struct cache_state *st, const char *body, size_t len,
		  int in_format, unsigned char key[CACHE_KEY_BYTES])
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
	ok = EVP_DigestInit_ex(md, st->sha256, NULL) == 1 &&
	     EVP_DigestUpdate(md, head, (size_t)n) == 1 &&
	     EVP_DigestUpdate(md, st->fingerprint, strlen(st->fingerprint)) == 1 &&
	     EVP_DigestUpdate(md, body, len) == 1 &&
	     EVP_DigestFinal_ex(md, key, &klen) == 1 && klen == CACHE_KEY_BYTES;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}
