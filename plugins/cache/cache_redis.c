/*
 * cache_redis.c - hiredis with the traps of version 0.14 handled: the
 * command timeout is set again after every (re)connect (it is silently lost
 * otherwise), a context that saw any error is thrown away, contexts are per
 * thread and per process (never used across fork).
 *
 * With Sentinel the primary's address can change under the threads: it is
 * published as a pointer to an address that is never freed before the
 * cache (readers copy it without a lock, and no lock can be left held
 * across a fork), and each change bumps an epoch that makes every thread
 * drop its connection before its next command. Only a watcher thread per
 * process talks to the Sentinels: request threads never wait for them, and
 * while no primary is known the cache reads as misses.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cache_redis.h"
#include "redis_url.h"
#include "ima_plugin.h"

struct redis_addr {
	char host[256];
	int port;
	struct redis_addr *older; /* kept until the cache goes: readers copy without a lock */
};

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

	/* Sentinel: NULL primary while none is known */
	bool sentinel;
	struct redis_sentinel_url sentinels;
	struct timeval sentinel_timeout;
	_Atomic(struct redis_addr *) primary;
	atomic_uint epoch;         /* bumped when primary changes */
	atomic_int reask;          /* a thread saw an error: ask the Sentinels again */
	atomic_int answered;       /* the Sentinel that answered last, asked first */
	atomic_int stop;
	atomic_int watcher_pid;    /* the process that started (or starts) a watcher */
	atomic_int watcher_running; /* pid whose watcher thread is to be joined, or 0 */
	pthread_t watcher;
	atomic_ullong switches;
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

static int redis_parse_url(struct cache_redis *r, const char *url, char *err,
			   size_t errlen)
{
	struct redis_url u;

	if (redis_url_is_sentinel(url)) {
		r->sentinel = true;
		if (redis_sentinel_url_parse(url, &r->sentinels, err, errlen) != 0)
			return -1;
		r->db = r->sentinels.db;
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

/* ---- Sentinel ---- */

static void redis_timeval(struct timeval *tv, int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* Publishes host:port as the primary when it is a new address: the
 * threads reconnect, and the breaker, which guarded the old address,
 * closes. Called by one thread at a time (init, then the watcher). */
static void sentinel_set_primary(struct cache_redis *r, const char *host, int port)
{
	struct redis_addr *cur = atomic_load(&r->primary), *a;

	if (cur != NULL && cur->port == port && strcmp(cur->host, host) == 0)
		return;
	if ((a = ima_calloc(1, sizeof(*a))) == NULL)
		return;
	snprintf(a->host, sizeof(a->host), "%s", host);
	a->port = port;
	/* Every address ever published stays on the chain: a thread may be
	 * copying the one it just loaded. */
	a->older = cur;
	atomic_store(&r->primary, a);
	atomic_fetch_add(&r->epoch, 1);
	atomic_store(&r->failures, 0);
	atomic_store(&r->open_until_ms, 0);
	if (cur != NULL) {
		atomic_fetch_add(&r->switches, 1);
		ima_metric_add("imaginator_cache_redis_primary_switches_total", 1);
	}
	ima_log(IMA_LOG_INFO, "cache: Redis primary of %s is %s:%d (from Sentinel)",
		r->sentinels.master, host, port);
}

static redisContext *sentinel_connect(struct cache_redis *r, int i)
{
	redisContext *c = redisConnectWithTimeout(r->sentinels.addr[i].host,
						  r->sentinels.addr[i].port,
						  r->sentinel_timeout);

	if (c != NULL && (c->err || redisSetTimeout(c, r->sentinel_timeout) != REDIS_OK)) {
		redisFree(c);
		c = NULL;
	}
	return c;
}

/*
 * Asks the Sentinels in turn, the one that answered last first, for the
 * primary's address, and publishes it. 0 when one knew the master, -1
 * when none did (the address known so far is kept: a Sentinel that cannot
 * be reached says nothing about the primary).
 */
static int sentinel_ask(struct cache_redis *r)
{
	int n = r->sentinels.count, first = atomic_load(&r->answered);

	for (int k = 0; k < n; k++) {
		int i = (first + k) % n;
		redisContext *c = sentinel_connect(r, i);
		redisReply *rep;
		int ok = 0;

		if (c == NULL)
			continue;
		rep = redisCommand(c, "SENTINEL get-master-addr-by-name %s", r->sentinels.master);
		if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
		    rep->element[0]->type == REDIS_REPLY_STRING &&
		    rep->element[1]->type == REDIS_REPLY_STRING) {
			int port = atoi(rep->element[1]->str);

			if (port > 0 && port <= 65535 && rep->element[0]->len < 256) {
				sentinel_set_primary(r, rep->element[0]->str, port);
				atomic_store(&r->answered, i);
				ok = 1;
			}
		}
		if (rep != NULL)
			freeReplyObject(rep);
		redisFree(c);
		if (ok)
			return 0;
	}
	return -1;
}

/* A SUBSCRIBE +switch-master on the next Sentinel that answers, or NULL. */
static redisContext *sentinel_subscribe(struct cache_redis *r, int *next)
{
	for (int k = 0; k < r->sentinels.count; k++) {
		int i = (*next + k) % r->sentinels.count;
		redisContext *c = sentinel_connect(r, i);
		redisReply *rep;

		if (c == NULL)
			continue;
		rep = redisCommand(c, "SUBSCRIBE +switch-master");
		if (rep != NULL && rep->type == REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			*next = i;
			return c;
		}
		if (rep != NULL)
			freeReplyObject(rep);
		redisFree(c);
	}
	return NULL;
}

/* "+switch-master <name> <old ip> <old port> <new ip> <new port>" */
static void sentinel_message(struct cache_redis *r, const redisReply *rep)
{
	char name[128], oldhost[256], host[256];
	int oldport, port;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(rep->element[0]->str, "message") != 0 ||
	    rep->element[2]->type != REDIS_REPLY_STRING)
		return;
	if (sscanf(rep->element[2]->str, "%127s %255s %d %255s %d", name, oldhost, &oldport,
		   host, &port) == 5 &&
	    strcmp(name, r->sentinels.master) == 0 && port > 0 && port <= 65535)
		sentinel_set_primary(r, host, port);
}

#define SENTINEL_TICK_MS 100
#define SENTINEL_REFRESH_MS 10000
#define SENTINEL_BREAKER_ASK_MS 500

/*
 * The watcher: subscribed to +switch-master on one Sentinel, it moves the
 * cache to a new primary the moment the Sentinels announce it; it asks
 * them again when a thread saw Redis fail or the breaker is open, after
 * (re)subscribing (a switch
 * may have gone by unheard) and every SENTINEL_REFRESH_MS. Every wait is
 * bounded by a tick, so fini stops it within a tick and the timeouts.
 */
static void *sentinel_watch(void *arg)
{
	struct cache_redis *r = arg;
	redisContext *sub = NULL;
	long long asked = 0;
	int next = 0;

	while (!atomic_load(&r->stop)) {
		struct pollfd pfd;
		long long now = ima_now_ms();

		/* The open breaker stops the commands that would ask for this:
		 * while it is open, the Sentinels are asked twice a second. */
		if (atomic_exchange(&r->reask, 0) || now - asked >= SENTINEL_REFRESH_MS ||
		    (cache_redis_breaker_open(r) && now - asked >= SENTINEL_BREAKER_ASK_MS)) {
			sentinel_ask(r);
			asked = now;
		}
		if (sub == NULL && (sub = sentinel_subscribe(r, &next)) != NULL) {
			sentinel_ask(r);
			asked = ima_now_ms();
		}
		if (sub == NULL) {
			struct timespec ts = { 0, SENTINEL_TICK_MS * 1000000L };

			nanosleep(&ts, NULL);
			continue;
		}
		pfd.fd = sub->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, SENTINEL_TICK_MS) <= 0)
			continue;
		if (redisBufferRead(sub) == REDIS_OK) {
			void *rep = NULL;

			while (redisGetReplyFromReader(sub, &rep) == REDIS_OK && rep != NULL) {
				sentinel_message(r, rep);
				freeReplyObject(rep);
				rep = NULL;
			}
		}
		if (sub->err) {
			/* That Sentinel went away: the next one, and ask again. */
			redisFree(sub);
			sub = NULL;
			next++;
			atomic_store(&r->reask, 1);
		}
	}
	if (sub != NULL)
		redisFree(sub);
	return NULL;
}

/* Starts this process's watcher, once per process (threads do not survive
 * fork, so a worker starts its own on its first command). */
static void sentinel_watch_start(struct cache_redis *r)
{
	int pid = (int)getpid(), seen = atomic_load(&r->watcher_pid);
	sigset_t all, old;

	if (seen == pid || !atomic_compare_exchange_strong(&r->watcher_pid, &seen, pid))
		return;
	atomic_store(&r->stop, 0);
	/* Signals stay with the threads that take them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&r->watcher, NULL, sentinel_watch, r) == 0)
		atomic_store(&r->watcher_running, pid);
	else
		ima_log(IMA_LOG_ERROR, "cache: cannot start the Sentinel watcher: the "
			"primary is not followed after a failover");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void sentinel_watch_stop(struct cache_redis *r)
{
	if (atomic_load(&r->watcher_running) != (int)getpid())
		return;
	atomic_store(&r->stop, 1);
	pthread_join(r->watcher, NULL);
	atomic_store(&r->watcher_running, 0);
}

/* ---- the cache's level ---- */

struct cache_redis *cache_redis_new(const char *url, int timeout_ms,
				    int breaker_failures, int breaker_cooldown_ms,
				    int sentinel_timeout_ms, char *err, size_t errlen)
{
	struct cache_redis *r = ima_calloc(1, sizeof(*r));

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (redis_parse_url(r, url, err, errlen) != 0 ||
	    pthread_key_create(&r->tls, redis_conn_free) != 0) {
		ima_free(r);
		return NULL;
	}
	redis_timeval(&r->timeout, timeout_ms);
	redis_timeval(&r->sentinel_timeout, sentinel_timeout_ms > 0 ? sentinel_timeout_ms : 1);
	r->breaker_failures = breaker_failures > 0 ? breaker_failures : 1;
	r->breaker_cooldown_ms = breaker_cooldown_ms;
	/* Asked once here, where waiting costs no request: the workers start
	 * with the address. None answering only degrades (the watcher keeps
	 * asking). */
	if (r->sentinel && sentinel_ask(r) != 0)
		ima_log(IMA_LOG_WARN, "cache: no Sentinel of %s knows the primary of %s yet: "
			"the cache reads as misses until one does", url, r->sentinels.master);
	return r;
}

void cache_redis_free(struct cache_redis *r)
{
	struct redis_addr *a;

	if (r == NULL)
		return;
	sentinel_watch_stop(r);
	redis_conn_free(pthread_getspecific(r->tls));
	pthread_setspecific(r->tls, NULL);
	pthread_key_delete(r->tls);
	a = atomic_load(&r->primary);
	while (a != NULL) {
		struct redis_addr *older = a->older;

		ima_free(a);
		a = older;
	}
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
	if (r->sentinel) {
		/* The primary may have moved. A command to the one before the
		 * last switch says nothing about the new one: not counted. */
		atomic_store(&r->reask, 1);
		if (rc != NULL && rc->epoch != atomic_load(&r->epoch))
			return;
	}
	if (atomic_fetch_add(&r->failures, 1) + 1 >= r->breaker_failures)
		atomic_store(&r->open_until_ms, ima_now_ms() + r->breaker_cooldown_ms);
}

/* ROLE says "master": what a client of Sentinel checks on every connect. */
static bool redis_is_primary(redisContext *c)
{
	redisReply *rep = redisCommand(c, "ROLE");
	bool ok = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
		  rep->element[0]->type == REDIS_REPLY_STRING &&
		  strcmp(rep->element[0]->str, "master") == 0;

	if (rep != NULL)
		freeReplyObject(rep);
	return ok;
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

	if (r->sentinel) {
		struct redis_addr *a;

		sentinel_watch_start(r);
		/* The epoch first: a newer address with an older epoch only
		 * costs one more reconnect. */
		epoch = atomic_load(&r->epoch);
		if ((a = atomic_load(&r->primary)) == NULL) {
			atomic_store(&r->reask, 1);
			return NULL;
		}
		snprintf(host, sizeof(host), "%s", a->host);
		port = a->port;
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
		if (r->sentinel && !redis_is_primary(rc->c)) {
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
	if (!r->sentinel)
		return snprintf(buf, len, "%s", "");
	if (atomic_load(&r->primary) == NULL)
		return snprintf(buf, len, "no primary of %s known to Sentinel", r->sentinels.master);
	return snprintf(buf, len, "primary of %s through Sentinel", r->sentinels.master);
}

uint64_t cache_redis_switches(struct cache_redis *r)
{
	return atomic_load(&r->switches);
}
