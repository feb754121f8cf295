/*
 * cache_redis.h - the shared level of the cache: Redis through hiredis, one
 * connection per thread, bounded timeouts and a circuit breaker. Every
 * failure reads as a miss to the caller; the breaker stops trying for a
 * while after repeated failures, so a dead Redis costs nothing per request.
 */
#ifndef CACHE_REDIS_H
#define CACHE_REDIS_H

#include <stddef.h>
#include <stdint.h>

struct cache_redis;

/*
 * url: "redis://host:port/db" or "unix:///path/to/socket" (an optional
 * "?db=N" selects a database), or
 * "redis-sentinel://host:port[,host:port...]/master-name[/db]": the
 * primary is asked of those Sentinels (once here, bounded by
 * sentinel_timeout_ms per Sentinel), then followed by a watcher thread per
 * process through failovers; while none is known every command fails (a
 * miss). Connects lazily. NULL with a message in err when the URL does not
 * parse or memory ran out.
 */
struct cache_redis *cache_redis_new(const char *url, int timeout_ms,
				    int breaker_failures, int breaker_cooldown_ms,
				    int sentinel_timeout_ms, char *err, size_t errlen);
void cache_redis_free(struct cache_redis *r);

/* GET: 1 and *val (malloc'd) on a hit, 0 on a miss, -1 on an error. */
int cache_redis_get(struct cache_redis *r, const char *key, char **val,
		    size_t *len);
/* SET key val EX ttl: 0 or -1. */
int cache_redis_set(struct cache_redis *r, const char *key, const char *val,
		    size_t len, int ttl_seconds);
#define CACHE_REDIS_TOKEN 48
/* A token no other lock holder has: the CLIENT ID of this thread's
 * connection (which takes the lock), the pid, a counter, the time. */
void cache_redis_token(struct cache_redis *r, char token[CACHE_REDIS_TOKEN]);
/* SET key token NX PX ms: 1 acquired, 0 held by another, -1 error. */
int cache_redis_lock(struct cache_redis *r, const char *key, int ms, const char *token);
/* Deletes key if it still holds token (compare and delete, in Lua): 0 or
 * -1 on error. */
int cache_redis_unlock(struct cache_redis *r, const char *key, const char *token);
/* Whether the lock at key is free now: 1 when nobody holds it or its
 * holder's connection is gone (the lock is then deleted: a process that
 * died holding it), 0 while it is held by a connected or unknown holder,
 * -1 on an error. */
int cache_redis_lock_orphaned(struct cache_redis *r, const char *key);
/* DEL key: 0 or -1. */
int cache_redis_del(struct cache_redis *r, const char *key);
/* GET of an integer (0 when absent): 0 or -1. */
int cache_redis_get_int(struct cache_redis *r, const char *key, long long *out);
/* INCR: the new value, or -1. */
long long cache_redis_incr(struct cache_redis *r, const char *key);

/* PING: 0 when Redis answers, -1 otherwise (breaker open included). */
int cache_redis_ping(struct cache_redis *r);
/* 1 while the breaker is open (Redis is being left alone). */
int cache_redis_breaker_open(struct cache_redis *r);
/* Errors and timeouts so far (this process). */
uint64_t cache_redis_errors(struct cache_redis *r);
/* For /health: "", or whether Sentinel named a primary (no address). */
int cache_redis_describe(struct cache_redis *r, char *buf, size_t len);
/* Changes of primary Sentinel announced to this process. */
uint64_t cache_redis_switches(struct cache_redis *r);

#endif
