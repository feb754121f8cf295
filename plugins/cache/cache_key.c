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

void cache_who_of(struct ima_ctx *ctx, struct cache_who *who)
{
	who->present = ima_ctx_get(ctx, "_auth") != NULL;
	who->tenant = who->user = "";
	who->tenant_len = who->user_len = 0;
	if (!who->present)
		return;
	if (ima_ctx_get_str(ctx, "_auth.tenant", &who->tenant, &who->tenant_len) != 0) {
		who->tenant = "";
		who->tenant_len = 0;
	}
	if (ima_ctx_get_str(ctx, "_auth.user", &who->user, &who->user_len) != 0) {
		who->user = "";
		who->user_len = 0;
	}
}

bool cache_who_equal(const struct cache_who *a, const struct cache_who *b)
{
	return a->present == b->present && a->tenant_len == b->tenant_len &&
	       a->user_len == b->user_len && memcmp(a->tenant, b->tenant, a->tenant_len) == 0 &&
	       memcmp(a->user, b->user, a->user_len) == 0;
}

/* Bytes a generation key spells as %XX: the separator, the escape itself,
 * and what would cut or garble the key (NUL, control bytes). */
static bool cache_gen_escaped(unsigned char c)
{
	return c == ':' || c == '%' || c < 0x20 || c == 0x7f;
}

static bool cache_who_escaped(const struct cache_who *who)
{
	for (size_t i = 0; i < who->tenant_len; i++)
		if (cache_gen_escaped((unsigned char)who->tenant[i]))
			return true;
	for (size_t i = 0; i < who->user_len; i++)
		if (cache_gen_escaped((unsigned char)who->user[i]))
			return true;
	return false;
}

static char *cache_gen_put(char *p, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (cache_gen_escaped(c)) {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	return p;
}

char *cache_gen_key(const struct cache_state *st, const char *tenant, size_t tlen,
		    const char *user, size_t ulen, char *buf, size_t size, size_t *len)
{
	size_t plen = strlen(st->prefix), need = plen + 4 + 1 + 1;
	char *p, *out = buf;

	for (size_t i = 0; i < tlen; i++)
		need += cache_gen_escaped((unsigned char)tenant[i]) ? 3 : 1;
	for (size_t i = 0; i < ulen; i++)
		need += cache_gen_escaped((unsigned char)user[i]) ? 3 : 1;
	if (need > size && (out = ima_malloc(need)) == NULL)
		return NULL;
	memcpy(out, st->prefix, plen);
	memcpy(out + plen, "gen:", 4);
	p = cache_gen_put(out + plen + 4, tenant, tlen);
	*p++ = ':';
	p = cache_gen_put(p, user, ulen);
	*p = '\0';
	*len = (size_t)(p - out);
	return out;
}

static unsigned cache_gen_slot(const struct cache_state *st, const char *key, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return h % (sizeof(st->gens) / sizeof(st->gens[0]));
}

void cache_generation_note(struct cache_state *st, const char *key, size_t len, long long gen)
{
	struct cache_gen *g = &st->gens[cache_gen_slot(st, key, len)];
	char *copy = ima_malloc(len + 1), *old = NULL;

	pthread_mutex_lock(&st->lock);
	if (g->key == NULL || g->len != len || memcmp(g->key, key, len) != 0) {
		if (copy == NULL) {
			/* No room to remember it: at least forget the user it
			 * would have replaced, whose slot this is now. */
			g->fetched_ms = 0;
			pthread_mutex_unlock(&st->lock);
			return;
		}
		memcpy(copy, key, len + 1);
		old = g->key;
		g->key = copy;
		g->len = len;
		copy = NULL;
	}
	g->gen = gen;
	g->fetched_ms = ima_now_ms();
	pthread_mutex_unlock(&st->lock);
	ima_free(old);
	ima_free(copy);
}

bool cache_generation(struct cache_state *st, const struct cache_who *who, long long *gen)
{
	char buf[384], *key;
	struct cache_gen *g;
	long long now = ima_now_ms(), last = 0;
	bool known = false;
	size_t len;

	*gen = 0;
	if (who->user_len == 0 || st->l2 == NULL)
		return true;
	key = cache_gen_key(st, who->tenant, who->tenant_len, who->user, who->user_len,
			    buf, sizeof(buf), &len);
	if (key == NULL)
		return false;
	g = &st->gens[cache_gen_slot(st, key, len)];
	pthread_mutex_lock(&st->lock);
	if (g->key != NULL && g->len == len && memcmp(g->key, key, len) == 0) {
		known = true;
		last = g->gen;
		if (now - g->fetched_ms < st->gen_cache_ms) {
			pthread_mutex_unlock(&st->lock);
			if (key != buf)
				ima_free(key);
			*gen = last;
			return true;
		}
	}
	pthread_mutex_unlock(&st->lock);
	/* Redis down: the last generation seen, else 0, still keys the
	 * answer to this user. */
	if (cache_redis_get_int(st->l2, key, gen) != 0) {
		*gen = last;
	} else {
		cache_generation_note(st, key, len, *gen);
		known = true;
	}
	if (key != buf)
		ima_free(key);
	return known;
}

/* Writes v in decimal at p; returns the end. Every request that carries an
 * identity writes three of these: snprintf costs more than the rest of
 * the identity together. */
static char *cache_put_num(char *p, unsigned long long v)
{
	char tmp[24];
	size_t n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

int cache_ident(struct ima_req *req, const struct cache_who *who, long long gen,
		const char **ident, size_t *len)
{
	size_t size = who->tenant_len + who->user_len + 3 * 24;
	char *p = ima_req_alloc(req, size), *q;

	if (p == NULL)
		return -1;
	/* Each name after its length: no two identities give the same
	 * bytes, whatever they contain. An identity whose generation key is
	 * spelled with escapes since it stopped being ambiguous gets keys of
	 * its own, so that no answer kept under its old counter comes back.
	 * The bytes are those of "%zu:%s\036%zu:%s\036%lld\036". */
	q = cache_put_num(p, who->tenant_len);
	*q++ = ':';
	memcpy(q, who->tenant, who->tenant_len);
	q += who->tenant_len;
	*q++ = '\036';
	q = cache_put_num(q, who->user_len);
	*q++ = ':';
	memcpy(q, who->user, who->user_len);
	q += who->user_len;
	*q++ = '\036';
	if (gen < 0) {
		*q++ = '-';
		q = cache_put_num(q, 0ULL - (unsigned long long)gen);
	} else {
		q = cache_put_num(q, (unsigned long long)gen);
	}
	if (cache_who_escaped(who))
		*q++ = 'e';
	*q++ = '\036';
	*ident = p;
	*len = (size_t)(q - p);
	return 0;
}

/* SHA-256 of head, then ident, then fingerprint (may be NULL), then the
 * canonical encoding of o: every key of the cache, answers and calls alike. */
static int cache_digest(const struct cache_state *st, const char *head, size_t n,
			const char *ident, size_t ilen, const char *fingerprint,
			const msgpack_object *o, unsigned char key[CACHE_KEY_BYTES])
{
	struct cache_hash h = { EVP_MD_CTX_new(), true, 0, { 0 } };
	unsigned int len = 0;

	if (h.md == NULL)
		return -1;
	h.ok = EVP_DigestInit_ex(h.md, st->sha256, NULL) == 1;
	cache_feed(&h, head, n);
	cache_feed(&h, ident, ilen);
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
	      unsigned char key[CACHE_KEY_BYTES], const char **ident, size_t *ilen)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *input = ima_ctx_get(ctx, "_input");
	struct cache_who who;
	long long gen;
	char head[96];
	int y, m, d, n;

	if (input == NULL)
		return -1;
	cache_who_of(ctx, &who);
	cache_generation(st, &who, &gen);
	if (cache_ident(req, &who, gen, ident, ilen) != 0)
		return -1;
	ima_req_reference_date(req, &y, &m, &d);
	n = snprintf(head, sizeof(head), "imaginator-cache-v%d\036%04d-%02d\036",
		     CACHE_VALUE_VERSION, y, m);
	return cache_digest(st, head, (size_t)n, *ident, *ilen, st->fingerprint, input, key);
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
	char head[64];
	int n = snprintf(head, sizeof(head), "imaginator-call-v%d\036", CACHE_CALL_VERSION);

	return cache_digest(st, head, (size_t)n, t->ident, t->ident_len, NULL, call, key);
}

/* The replay key: the request's exact bytes and formats, the month
 * "Present" means, the pipeline fingerprint, and the identity when there
 * is one (anonymous and identified entries never meet). */
int cache_raw_key(const struct cache_state *st, const char *body, size_t len,
		  int in_format, const char *out_format, const char *ident, size_t ilen,
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
	n = snprintf(head, sizeof(head), "imaginator-replay-v%d\036%d\036%zu:%.32s\036%04d-%02d\036%c",
		     CACHE_VALUE_VERSION + 1, in_format, strnlen(out_format, 32), out_format,
		     tm.tm_year + 1900, tm.tm_mon + 1, ident != NULL ? 'u' : 'a');
	ok = EVP_DigestInit_ex(md, st->sha256, NULL) == 1 &&
	     EVP_DigestUpdate(md, head, (size_t)n) == 1 &&
	     (ident == NULL || EVP_DigestUpdate(md, ident, ilen) == 1) &&
	     EVP_DigestUpdate(md, st->fingerprint, strlen(st->fingerprint)) == 1 &&
	     EVP_DigestUpdate(md, body, len) == 1 &&
	     EVP_DigestFinal_ex(md, key, &klen) == 1 && klen == CACHE_KEY_BYTES;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}
