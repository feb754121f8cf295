/*
 * redis_sentinel.h - the primary of a Redis master under Sentinel, for
 * every stage that talks to Redis (the cache, quota): asked of the
 * Sentinels once at start-up, then followed by one watcher thread per
 * process (subscribed to +switch-master, asking again on errors), so that
 * a request thread only ever reads the address and never waits for a
 * Sentinel.
 */
#ifndef IMA_REDIS_SENTINEL_H
#define IMA_REDIS_SENTINEL_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "redis_url.h"

struct redis_sentinel;

/* What the user of the primary does when Sentinel moves it. */
struct redis_sentinel_hooks {
	/* Called (by init or the watcher) when a new primary is published,
	 * e.g. to close a breaker that guarded the old address. May be NULL. */
	void (*switched)(void *arg);
	/* True while the user leaves Redis alone (a breaker is open), so no
	 * error asks the Sentinels: they are then asked twice a second. May
	 * be NULL. */
	bool (*stalled)(void *arg);
	void *arg;
};

/*
 * Asks the Sentinels of u (copied) for the primary, each bounded by
 * timeout_ms; none answering is no error (the watcher keeps asking, and
 * a warning naming who is logged). who names the user in the log lines
 * ("cache", "quota stage rpm"); switch_metric, a counter the caller
 * declared, counts the changes of primary (NULL: none). hooks may be NULL.
 * Returns NULL when memory ran out.
 */
struct redis_sentinel *redis_sentinel_new(const struct redis_sentinel_url *u,
					  int timeout_ms, const char *who,
					  const char *switch_metric,
					  const struct redis_sentinel_hooks *hooks);
/* Stops this process's watcher (joined) and frees s. NULL is fine. */
void redis_sentinel_free(struct redis_sentinel *s);

/*
 * The primary known now, copied into host (256 bytes) and *port, and the
 * epoch of that address: a connection made for an older epoch goes to a
 * former primary. Starts this process's watcher on the first call in the
 * process (threads do not survive fork). Never waits for a Sentinel.
 * Returns 0, or -1 while no primary is known (the Sentinels are then
 * asked again).
 */
int redis_sentinel_primary(struct redis_sentinel *s, char *host, int *port,
			   unsigned *epoch);
/* The current epoch, bumped at each change of primary. */
unsigned redis_sentinel_epoch(struct redis_sentinel *s);
/* A command to the primary failed: the watcher asks the Sentinels again
 * at its next tick. Never waits. */
void redis_sentinel_reask(struct redis_sentinel *s);
/* True once a primary is known. */
bool redis_sentinel_known(struct redis_sentinel *s);
/* The master name Sentinel monitors (from the URL). */
const char *redis_sentinel_master(const struct redis_sentinel *s);
/* Changes of primary seen by this process. */
uint64_t redis_sentinel_switches(struct redis_sentinel *s);

/* ROLE says "master": what a client of Sentinel checks on every connect,
 * as a demoted primary that came back takes no writes. */
bool redis_sentinel_is_primary(redisContext *c);

#endif
