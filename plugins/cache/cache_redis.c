/*
 * cache_redis.c - hiredis with the traps of version 0.14 handled: the
 * command timeout is set again after every (re)connect (it is silently lost
 * otherwise), a context that saw any error is thrown away, contexts are per
 * thread and per process (never used across fork).
 *
 * With Sentinel (redis_sentinel.c) the primary's address can change under
 * the threads: each change bumps an epoch that makes every thread drop its
 * connection before its next command, and while no primary is known the
 * cache reads as misses.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cache_redis.h"
#include "redis_sentinel.h"
#include "redis_url.h"
#include "ima_plugin.h"

struct cache_redis {
	char host[256];
	int port;
	char path[256]; /* unix socket, or "" */
	int db;
	struct timeval timeout;
	int breaker_failures;
	int breaker_cooldown_ms;
	atomic_int failures;        /* consecutive */
	atomic_llong open_until_ms; /* breaker open until then */
	atomic_ullong errors;
	atomic_int no_client_list; /* CLIENT LIST refused: no orphan checks */
	pthread_key_t tls;

	struct redis_sentinel *sentinel; /* NULL: a fixed address */
};

struct redis_conn {
	redisContext *c;
	pid_t pid;
	unsigned epoch;      /* of the primary c is connected to */
	long long client_id; /* CLIENT ID of c; 0: unknown */
};

static void redis_conn_free(void *p)
{
	struct redis_conn *rc = p;

	if (rc == NULL)
		return;
	if (rc->c != NULL)
		redisFree(rc->c);
	ima_free(rc);
}

static int redis_parse_url(struct cache_redis *r, const char *url,
			   struct redis_sentinel_url *sentinels, char *err, size_t errlen)
{
	struct redis_url u;

	if (redis_url_is_sentinel(url)) {
		if (redis_sentinel_url_parse(url, sentinels, err, errlen) != 0)
			return -1;
		r->db = sentinels->db;
		return 0;
	}
	if (redis_url_parse(url, &u, err, errlen) != 0)
		return -1;
	memcpy(r->host, u.host, sizeof(r->host));
	memcpy(r->path, u.path, sizeof(r->path));
	r->port = u.port;
	r->db = u.db;
	return 0;
}

static void redis_timeval(struct timeval *tv, int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* A new primary: the breaker, which guarded the old address, closes. */
static void cache_redis_switched(void *arg)
{
	struct cache_redis *r = arg;

	atomic_store(&r->failures, 0);
	atomic_store(&r->open_until_ms, 0);
}

static bool cache_redis_stalled(void *arg)
{
	return cache_redis_breaker_open(arg);
}

/* ---- the cache's level ---- */

struct cache_redis *cache_redis_new(const char *url, int timeout_ms,
				    int breaker_failures, int breaker_cooldown_ms,
				    int sentinel_timeout_ms, char *err, size_t errlen)
{
	struct cache_redis *r = ima_calloc(1, sizeof(*r));
	struct redis_sentinel_url sentinels = { 0 };
	const struct redis_sentinel_hooks hooks = {
		cache_redis_switched, cache_redis_stalled, r
	};

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (redis_parse_url(r, url, &sentinels, err, errlen) != 0 ||
	    pthread_key_create(&r->tls, redis_conn_free) != 0) {
		ima_free(r);
		return NULL;
	}
	redis_timeval(&r->timeout, timeout_ms);
	r->breaker_failures = breaker_failures > 0 ? breaker_failures : 1;
	r->breaker_cooldown_ms = breaker_cooldown_ms;
	if (sentinels.count > 0 &&
	    (r->sentinel = redis_sentinel_new(&sentinels, sentinel_timeout_ms, "cache",
					      "imaginator_cache_redis_primary_switches_total",
					      &hooks)) == NULL) {
		snprintf(err, errlen, "out of memory");
		pthread_key_delete(r->tls);
		ima_free(r);
		return NULL;
	}
	return r;
}

void cache_redis_free(struct cache_redis *r)
{
	if (r == NULL)
		return;
	redis_sentinel_free(r->sentinel);
	redis_conn_free(pthread_getspecific(r->tls));
	pthread_setspecific(r->tls, NULL);
	pthread_key_delete(r->tls);
	ima_free(r);
}

int cache_redis_breaker_open(struct cache_redis *r)
{
	return ima_now_ms() < atomic_load(&r->open_until_ms);
}

uint64_t cache_redis_errors(struct cache_redis *r)
{
	return atomic_load(&r->errors);
}

static void redis_failed(struct cache_redis *r, struct redis_conn *rc)
{
	atomic_fetch_add(&r->errors, 1);
	ima_metric_add("imaginator_cache_redis_errors_total", 1);
	if (rc != NULL && rc->c != NULL) {
		/* A context that saw an error is unusable: start over. */
		redisFree(rc->c);
		rc->c = NULL;
	}
	if (r->sentinel != NULL) {
		/* The primary may have moved. A command to the one before the
		 * last switch says nothing about the new one: not counted. */
		redis_sentinel_reask(r->sentinel);
		if (rc != NULL && rc->epoch != redis_sentinel_epoch(r->sentinel))
			return;
	}
	if (atomic_fetch_add(&r->failures, 1) + 1 >= r->breaker_failures)
		atomic_store(&r->open_until_ms, ima_now_ms() + r->breaker_cooldown_ms);
}

/* The connection's CLIENT ID, which goes into the tokens of the locks
 * taken on it (cache_redis_token): a waiter tells by it whether the holder
 * is still connected. 0 when Redis does not say (before 5.0, or refused
 * by an ACL): locks then only end by their holder or their expiry. */
static long long redis_client_id(redisContext *c)
{
	redisReply *rep = redisCommand(c, "CLIENT ID");
	long long id = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;

	if (rep != NULL)
		freeReplyObject(rep);
	return id > 0 ? id : 0;
}

/* The calling thread's connection, connected; NULL when Redis is not to be
 * used now (breaker open) or cannot be reached. */
static struct redis_conn *redis_conn(struct cache_redis *r)
{
	struct redis_conn *rc = pthread_getspecific(r->tls);
	char host[256];
	int port = r->port;
	unsigned epoch = 0;

	if (r->sentinel != NULL) {
		if (redis_sentinel_primary(r->sentinel, host, &port, &epoch) != 0)
			return NULL;
	} else {
		snprintf(host, sizeof(host), "%s", r->host);
	}
	if (cache_redis_breaker_open(r))
		return NULL;
	if (rc != NULL && rc->pid != getpid()) {
		/* Inherited across fork: the socket is the parent's. */
		if (rc->c != NULL)
			redisFree(rc->c);
		rc->c = NULL;
		rc->pid = getpid();
	}
	if (rc == NULL) {
		rc = ima_calloc(1, sizeof(*rc));
		if (rc == NULL || pthread_setspecific(r->tls, rc) != 0) {
			ima_free(rc);
			return NULL;
		}
		rc->pid = getpid();
	}
	if (rc->c != NULL && rc->epoch != epoch) {
		/* The primary moved: this connection goes to the old one. */
		redisFree(rc->c);
		rc->c = NULL;
	}
	if (rc->c == NULL) {
		rc->epoch = epoch;
		rc->c = r->path[0] ? redisConnectUnixWithTimeout(r->path, r->timeout)
				   : redisConnectWithTimeout(host, port, r->timeout);
		if (rc->c == NULL || rc->c->err ||
		    redisSetTimeout(rc->c, r->timeout) != REDIS_OK) {
			redis_failed(r, rc);
			return NULL;
		}
		if (r->sentinel != NULL && !redis_sentinel_is_primary(rc->c)) {
			/* Sentinel's word is checked: a demoted primary that came
			 * back, or one not yet promoted, takes no writes. */
			redis_failed(r, rc);
			return NULL;
		}
		if (r->db != 0) {
			redisReply *rep = redisCommand(rc->c, "SELECT %d", r->db);
			int ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;

			if (rep)
				freeReplyObject(rep);
			if (!ok) {
				redis_failed(r, rc);
				return NULL;
			}
		}
		rc->client_id = redis_client_id(rc->c);
	}
	return rc;
}

/* Runs one command; NULL (and the failure counted) on any error. */
static redisReply *redis_command(struct cache_redis *r, int argc,
				 const char **argv, const size_t *lens)
{
	struct redis_conn *rc = redis_conn(r);
	redisReply *rep;

	if (rc == NULL)
		return NULL;
	rep = redisCommandArgv(rc->c, argc, argv, lens);
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		if (rep)
			freeReplyObject(rep);
		redis_failed(r, rc);
		return NULL;
	}
	atomic_store(&r->failures, 0);
	return rep;
}

int cache_redis_get(struct cache_redis *r, const char *key, char **val,
		    size_t *len)
{
	const char *argv[] = { "GET", key };
	size_t lens[] = { 3, strlen(key) };
	redisReply *rep = redis_command(r, 2, argv, lens);
	int hit = 0;

	if (rep == NULL)
		return -1;
	if (rep->type == REDIS_REPLY_STRING) {
		*val = ima_malloc(rep->len ? rep->len : 1);
		if (*val != NULL) {
			memcpy(*val, rep->str, rep->len);
			*len = rep->len;
			hit = 1;
		}
	}
	freeReplyObject(rep);
	return hit;
}

int cache_redis_set(struct cache_redis *r, const char *key, const char *val,
		    size_t len, int ttl_seconds)
{
	char ttl[24];
	const char *argv[] = { "SET", key, val, "EX", ttl };
	size_t lens[5];
	redisReply *rep;

	snprintf(ttl, sizeof(ttl), "%d", ttl_seconds > 0 ? ttl_seconds : 1);
	lens[0] = 3;
	lens[1] = strlen(key);
	lens[2] = len;
	lens[3] = 2;
	lens[4] = strlen(ttl);
	rep = redis_command(r, 5, argv, lens);
	if (rep == NULL)
		return -1;
	freeReplyObject(rep);
	return 0;
}

void cache_redis_token(struct cache_redis *r, char token[CACHE_REDIS_TOKEN])
{
	static atomic_ullong counter;
	struct redis_conn *rc = redis_conn(r);
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(token, CACHE_REDIS_TOKEN, "c%lld.%x.%llx.%lx", rc != NULL ? rc->client_id : 0,
		 (unsigned)getpid(),
		 (unsigned long long)atomic_fetch_add(&counter, 1) ^
			 ((unsigned long long)ts.tv_sec << 20),
		 (long)ts.tv_nsec);
}

int cache_redis_lock(struct cache_redis *r, const char *key, int ms, const char *token)
{
	char px[24];
	const char *argv[] = { "SET", key, token, "NX", "PX", px };
	size_t lens[6];
	redisReply *rep;
	int got;

	snprintf(px, sizeof(px), "%d", ms);
	lens[0] = 3;
	lens[1] = strlen(key);
	lens[2] = strlen(token);
	lens[3] = 2;
	lens[4] = 2;
	lens[5] = strlen(px);
	rep = redis_command(r, 6, argv, lens);
	if (rep == NULL)
		return -1;
	got = rep->type == REDIS_REPLY_STATUS;
	freeReplyObject(rep);
	return got;
}

int cache_redis_unlock(struct cache_redis *r, const char *key, const char *token)
{
	/* Only the holder's own lock: one that expired and was taken by
	 * another request stays. */
	static const char script[] =
		"if redis.call('get', KEYS[1]) == ARGV[1] then "
		"return redis.call('del', KEYS[1]) else return 0 end";
	const char *argv[] = { "EVAL", script, "1", key, token };
	size_t lens[] = { 4, sizeof(script) - 1, 1, strlen(key), strlen(token) };
	redisReply *rep = redis_command(r, 5, argv, lens);

	if (rep == NULL)
		return -1;
	freeReplyObject(rep);
	return 0;
}

int cache_redis_lock_orphaned(struct cache_redis *r, const char *key)
{
	const char *argv[] = { "GET", key };
	size_t lens[] = { 3, strlen(key) };
	redisReply *rep = redis_command(r, 2, argv, lens);
	struct redis_conn *rc;
	char token[CACHE_REDIS_TOKEN], *end = token;
	long long id;
	bool gone;

	if (rep == NULL)
		return -1;
	if (rep->type != REDIS_REPLY_STRING) {
		freeReplyObject(rep);
		return 1; /* let go meanwhile */
	}
	snprintf(token, sizeof(token), "%.*s", (int)rep->len, rep->str);
	freeReplyObject(rep);
	id = token[0] == 'c' ? strtoll(token + 1, &end, 10) : 0;
	if (id <= 0 || *end != '.' || atomic_load(&r->no_client_list))
		return 0;
	/* Not through redis_command: a refusal (an ACL without CLIENT, a
	 * Redis before 6.2) is no Redis failure, only no answer here. */
	if ((rc = redis_conn(r)) == NULL)
		return -1;
	rep = redisCommand(rc->c, "CLIENT LIST ID %lld", id);
	if (rep == NULL) {
		redis_failed(r, rc);
		return -1;
	}
	if (rep->type != REDIS_REPLY_STRING) {
		atomic_store(&r->no_client_list, 1);
		freeReplyObject(rep);
		return 0;
	}
	/* The holder's connection is closed: its process died (or lost
	 * Redis) with the lock held. */
	gone = rep->len == 0;
	freeReplyObject(rep);
	if (!gone)
		return 0;
	return cache_redis_unlock(r, key, token) == 0 ? 1 : -1;
}

int cache_redis_del(struct cache_redis *r, const char *key)
{
	const char *argv[] = { "DEL", key };
	size_t lens[] = { 3, strlen(key) };
	redisReply *rep = redis_command(r, 2, argv, lens);

	if (rep == NULL)
		return -1;
	freeReplyObject(rep);
	return 0;
}

int cache_redis_get_int(struct cache_redis *r, const char *key, long long *out)
{
	const char *argv[] = { "GET", key };
	size_t lens[] = { 3, strlen(key) };
	redisReply *rep = redis_command(r, 2, argv, lens);

	if (rep == NULL)
		return -1;
	*out = rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : 0;
	freeReplyObject(rep);
	return 0;
}

long long cache_redis_incr(struct cache_redis *r, const char *key)
{
	const char *argv[] = { "INCR", key };
	size_t lens[] = { 4, strlen(key) };
	redisReply *rep = redis_command(r, 2, argv, lens);
	long long v;

	if (rep == NULL)
		return -1;
	v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
	freeReplyObject(rep);
	return v;
}

int cache_redis_ping(struct cache_redis *r)
{
	const char *argv[] = { "PING" };
	size_t lens[] = { 4 };
	redisReply *rep = redis_command(r, 1, argv, lens);

	if (rep == NULL)
		return -1;
	freeReplyObject(rep);
	return 0;
}

int cache_redis_describe(struct cache_redis *r, char *buf, size_t len)
{
	/* No address: /health may be seen by more than the operators. */
	if (r->sentinel == NULL)
		return snprintf(buf, len, "%s", "");
	if (!redis_sentinel_known(r->sentinel))
		return snprintf(buf, len, "no primary of %s known to Sentinel",
				redis_sentinel_master(r->sentinel));
	return snprintf(buf, len, "primary of %s through Sentinel", redis_sentinel_master(r->sentinel));
}

uint64_t cache_redis_switches(struct cache_redis *r)
{
	return r->sentinel != NULL ? redis_sentinel_switches(r->sentinel) : 0;
}
