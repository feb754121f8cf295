/*
 * cache_private.h - what the parts of the cache stage share: the stage's
 * state, what it keeps per request, and the functions one part offers the
 * others. Not installed.
 *
 *   cache.c        the descriptor, options, init / fini, and the process
 *                  and finish hooks that tie the parts together
 *   cache_key.c    canonical hashing of inputs, calls and raw bodies
 *   cache_claim.c  who computes what: claims in the process, Redis locks
 *                  across processes
 *   cache_answer.c reading and storing answers, byte-exact replay
 *   cache_call.c   the call cache (call_get / call_try / call_put)
 *   cache_admin.c  invalidation and health
 *   cache_l1.c     the in-process LRU; cache_redis.c the Redis level
 */
#ifndef CACHE_PRIVATE_H
#define CACHE_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "cache_l1.h"
#include "cache_redis.h"
#include "ima_plugin.h"

#define CACHE_VALUE_VERSION 1
#define CACHE_CALL_VERSION 1
#define CACHE_TASK_CLAIMS 16
#define CACHE_COST_MAX 1e6 /* USD: any call priced above it is not kept */
#define CACHE_HEX_SIZE (2 * CACHE_KEY_BYTES + 1)
#define CACHE_RKEY_SIZE 256

enum cache_status { ST_MISS = 0, ST_HIT_L1, ST_HIT_L2, ST_BYPASS };

struct cache_inflight {
	unsigned char key[CACHE_KEY_BYTES];
	struct cache_inflight *next;
	bool done;
	int waiters;
};

/* A user's generation as this process last read it, under its Redis key
 * (ima_malloc'd: identities have no length limit here). */
struct cache_gen {
	char *key;
	size_t len;
	long long gen;
	long long fetched_ms;
};

/*
 * The identity an auth stage wrote into _auth, as the keys use it: tenant
 * and user are borrowed from the context (valid until the request ends),
 * "" when absent, and may hold any bytes. present: _auth exists at all.
 */
struct cache_who {
	bool present;
	const char *tenant, *user;
	size_t tenant_len, user_len;
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
	/* L1 evictions already added to the counter (this worker's L1) */
	atomic_ullong evictions_reported;
};

/* A call a request claimed (token: of the Redis lock it holds on it, or
 * "") or was told by call_try to ask for again (since_ms: its first try,
 * which the wait for the twin counts from). */
struct cache_call_mark {
	unsigned char key[CACHE_KEY_BYTES];
	char token[CACHE_REDIS_TOKEN];
	long long since_ms;
};

/*
 * What the stage keeps per request (ima_req_task_*, owned by its state),
 * out of the context, where any later stage could read or forge it.
 *
 * The answer's part belongs to the request thread: written by prefetch
 * and process, read by finish. The call cache's part is written by
 * process before the later stages run, then read from their threads: the
 * counters are atomic, the claims change under st->lock only.
 */
struct cache_task {
	enum cache_status status;
	unsigned char key[CACHE_KEY_BYTES];
	char hex[CACHE_HEX_SIZE]; /* "" until the key is known, and when bypassed */
	bool store;       /* finish stores the answer under key */
	bool owner;       /* this request holds key in the process's in-flight table */
	char lock_token[CACHE_REDIS_TOKEN]; /* of the Redis lock it holds on key, or "" */
	bool coalesced;
	double cost;      /* the stored answer's cost, on a hit */
	bool replay;      /* the exact bytes missed: finish keeps their answer */
	unsigned char replay_key[CACHE_KEY_BYTES];
	struct cache_who replay_who; /* the identity in replay_key */

	bool calls;       /* the call cache serves this request (and stores) */
	bool call_lookup; /* false with Cache-Control: no-cache */
	const char *ident; /* tenant, user and generation as hashed into keys (arena) */
	size_t ident_len;
	atomic_uint hits, misses, stores;
	atomic_ullong saved_nusd; /* cost saved by call hits, 1e-9 USD */
	/* calls this request makes, others wait for them (under st->lock) */
	struct cache_call_mark claimed[CACHE_TASK_CLAIMS];
	int nclaimed;
	/* calls call_try told this request to ask for again (under st->lock) */
	struct cache_call_mark tries[CACHE_TASK_CLAIMS];
	int ntries;
};

/* ---- cache.c ---- */

/* The request's task, made (zeroed, from the request's arena) on first use;
 * NULL when memory or the request's task slots ran out. Request thread. */
struct cache_task *cache_task_of(struct cache_state *st, struct ima_req *req);
/* Records the request's status in t, sets X-Cache and run_metrics.cache. */
enum ima_rc cache_note(struct ima_req *req, struct cache_task *t,
		       enum cache_status status, bool coalesced, double cost);

/* ---- cache_key.c ---- */

void cache_hex(const unsigned char key[CACHE_KEY_BYTES], char out[CACHE_HEX_SIZE]);
/* The identity in the request's context now. */
void cache_who_of(struct ima_ctx *ctx, struct cache_who *who);
bool cache_who_equal(const struct cache_who *a, const struct cache_who *b);
/* The user's generation, reused for generation_cache_ms: 0 without a
 * user or without Redis. false when Redis did not answer: *gen is then
 * the last one this process saw, or 0. */
bool cache_generation(struct cache_state *st, const struct cache_who *who, long long *gen);
/* What the identity adds to every key: tenant and user, each after its
 * length, and the generation. In the request's arena; 0 or -1. */
int cache_ident(struct ima_req *req, const struct cache_who *who, long long gen,
		const char **ident, size_t *len);
/* The answer's key, and the identity (tenant, user, generation) that went
 * into it, for the call keys. 0 or -1. */
int cache_key(struct cache_state *st, struct ima_req *req,
	      unsigned char key[CACHE_KEY_BYTES], const char **ident, size_t *ilen);
int cache_call_key(const struct cache_state *st, const struct cache_task *t,
		   const msgpack_object *call, unsigned char key[CACHE_KEY_BYTES]);
/* The key of a request's exact bytes and formats, for replay, after the
 * identity (ident NULL: anonymous). 0 or -1. */
int cache_raw_key(const struct cache_state *st, const char *body, size_t len,
		  int in_format, const char *out_format, const char *ident, size_t ilen,
		  unsigned char key[CACHE_KEY_BYTES]);
/* "<prefix><kind>:<hex of key>", a Redis key. */
void cache_redis_key(const struct cache_state *st, const char *kind,
		     const unsigned char key[CACHE_KEY_BYTES], char buf[CACHE_RKEY_SIZE]);
/*
 * The Redis key of a user's generation, "<prefix>gen:<tenant>:<user>" with
 * '%', ':' and control bytes written %XX, so that no two identities share
 * one. In buf when it fits in size, else in memory from ima_malloc (the
 * caller frees what is not buf); NULL when memory ran out. *len: its length.
 */
char *cache_gen_key(const struct cache_state *st, const char *tenant, size_t tlen,
		    const char *user, size_t ulen, char *buf, size_t size, size_t *len);
/* Records a generation just read or set for the user of that key. */
void cache_generation_note(struct cache_state *st, const char *key, size_t len, long long gen);

/* ---- cache_claim.c ---- */

/* Owns key in this process (true), or waited up to wait_ms for its owner. */
bool cache_claim(struct cache_state *st, const unsigned char *key, int64_t wait_ms);
void cache_release(struct cache_state *st, const unsigned char *key);

/*
 * The Redis locks: found(arg) is the lookup they poll, true when the
 * holder's result is there. LOCK_HELD: this request holds the lock;
 * LOCK_FOUND: the result appeared (a lock taken meanwhile is let go);
 * LOCK_NONE: make it without a lock (Redis failing, or the wait ran out);
 * LOCK_BUSY: another holds it and its result is not there yet (only when
 * asked not to wait).
 */
enum cache_lock { LOCK_HELD, LOCK_FOUND, LOCK_NONE, LOCK_BUSY };
/* The answer's lock on t->key, its token kept in t->lock_token. */
enum cache_lock cache_lock_answer(struct cache_state *st, struct cache_task *t,
				  bool (*found)(void *arg), void *arg);

/* The waits below end when the clock passes until; until CACHE_NO_WAIT
 * asks once, without waiting. */
#define CACHE_NO_WAIT 0LL
enum { CALL_OWNER, CALL_WAITED, CALL_UNCLAIMED };
/* Claims a call for the request (see cache_claim.c). CALL_WAITED: another
 * request held it (and, waiting, finished or ran out of time). */
int cache_call_claim(struct cache_state *st, struct cache_task *t,
		     const unsigned char *key, long long until);
/* A call's lock, for the request that claimed it (the token is kept in
 * its claim). */
enum cache_lock cache_lock_call(struct cache_state *st, struct cache_task *t,
				const unsigned char *key, long long until,
				bool (*found)(void *arg), void *arg);
/* call_try: true while the request may ask again for a call in flight
 * elsewhere, call_wait_ms from its first try (recorded here); false once
 * that passed, or when there is no room to record it. */
bool cache_call_may_retry(struct cache_state *st, struct cache_task *t,
			  const unsigned char *key);
/* Forgets the request's first try of a call (it got its answer); true
 * when it had been told to ask again. */
bool cache_call_tried(struct cache_state *st, struct cache_task *t,
		      const unsigned char *key);
/* Ends the request's claim on a call (and its Redis lock), if it has one. */
void cache_call_release(struct cache_state *st, struct cache_task *t,
			const unsigned char *key);
/* Ends every claim the request still has (its calls that were never put). */
void cache_call_release_all(struct cache_state *st, struct cache_task *t);

/* ---- cache_answer.c ---- */

int cache_lookup_l1(struct cache_state *st, struct ima_req *req,
		    const unsigned char *key, double *cost);
int cache_lookup_l2(struct cache_state *st, struct ima_req *req,
		    const unsigned char *key, double *cost);
/* Counts a hit and notes it: IMA_DONE, or IMA_ERROR. */
enum ima_rc cache_hit(struct cache_state *st, struct ima_req *req, struct cache_task *t,
		      enum cache_status level, bool coalesced, double cost);
/* Counts a miss and updates the hit ratio. */
void cache_count_miss(struct cache_state *st);
/* The answer of a request that missed (t->store), kept in L1, L2 and for
 * replay unless it must never be cached. */
void cache_store_answer(struct cache_state *st, struct ima_req *req, struct cache_task *t);
/* The rendered answer for byte-identical repeats, kept for ttl seconds. */
void cache_store_replay(struct cache_state *st, struct ima_req *req,
			const struct cache_task *t, int64_t ttl);
enum ima_rc cache_prefetch(struct ima_req *req, void *state, const char *body,
			   size_t len, int in_format);

/* ---- cache_call.c ---- */

/* Makes the call cache available to the stages after this one (lookup
 * false: they store, but never find). */
void cache_calls_start(struct cache_state *st, struct cache_task *t, bool lookup);

int cache_call_get(struct ima_req *req, void *state, const msgpack_object *call,
		   msgpack_sbuffer *result, double *cost);
int cache_call_try(struct ima_req *req, void *state, const msgpack_object *call,
		   msgpack_sbuffer *result, double *cost);
void cache_call_put(struct ima_req *req, void *state, const msgpack_object *call,
		    const void *result, size_t len, double cost);

/* ---- cache_admin.c ---- */

int cache_command(void *state, const char *verb, const msgpack_object *args,
		  msgpack_packer *out, struct ima_error *err);
int cache_health(void *state, msgpack_packer *out);
/* Sets the per-worker gauges and adds the L1's new evictions. */
void cache_report(struct cache_state *st);

#endif
