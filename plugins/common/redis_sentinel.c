/*
 * redis_sentinel.c - following the primary of a Redis master through
 * Sentinel.
 *
 * The primary's address can change under the threads: it is published as
 * a pointer to an address that is never freed before the stage (readers
 * copy it without a lock, and no lock can be left held across a fork), and
 * each change bumps an epoch that tells every thread to drop its
 * connection before its next command. Only a watcher thread per process
 * talks to the Sentinels: request threads never wait for them.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redis_sentinel.h"
#include "ima_plugin.h"

struct redis_addr {
	char host[256];
	int port;
	struct redis_addr *older; /* kept until the stage goes: readers copy without a lock */
};

struct redis_sentinel {
	struct redis_sentinel_url sentinels;
	struct timeval timeout;
	char who[64];
	char switch_metric[96];    /* "" for none */
	struct redis_sentinel_hooks hooks;
	_Atomic(struct redis_addr *) primary; /* NULL while none is known */
	atomic_uint epoch;         /* bumped when primary changes */
	atomic_int reask;          /* a thread saw an error: ask the Sentinels again */
	atomic_int answered;       /* the Sentinel that answered last, asked first */
	atomic_int stop;
	atomic_int watcher_pid;    /* the process that started (or starts) a watcher */
	atomic_int watcher_running; /* pid whose watcher thread is to be joined, or 0 */
	pthread_t watcher;
	atomic_ullong switches;
};

/* Publishes host:port as the primary when it is a new address: the
 * threads reconnect. Called by one thread at a time (init, then the
 * watcher). */
static void sentinel_set_primary(struct redis_sentinel *s, const char *host, int port)
{
	struct redis_addr *cur = atomic_load(&s->primary), *a;

	if (cur != NULL && cur->port == port && strcmp(cur->host, host) == 0)
		return;
	if ((a = ima_calloc(1, sizeof(*a))) == NULL)
		return;
	snprintf(a->host, sizeof(a->host), "%s", host);
	a->port = port;
	/* Every address ever published stays on the chain: a thread may be
	 * copying the one it just loaded. */
	a->older = cur;
	atomic_store(&s->primary, a);
	atomic_fetch_add(&s->epoch, 1);
	if (s->hooks.switched != NULL)
		s->hooks.switched(s->hooks.arg);
	if (cur != NULL) {
		atomic_fetch_add(&s->switches, 1);
		if (s->switch_metric[0] != '\0')
			ima_metric_add(s->switch_metric, 1);
	}
	ima_log(IMA_LOG_INFO, "%s: Redis primary of %s is %s:%d (from Sentinel)",
		s->who, s->sentinels.master, host, port);
}

static redisContext *sentinel_connect(struct redis_sentinel *s, int i)
{
	redisContext *c = redisConnectWithTimeout(s->sentinels.addr[i].host,
						  s->sentinels.addr[i].port, s->timeout);

	if (c != NULL && (c->err || redisSetTimeout(c, s->timeout) != REDIS_OK)) {
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
static int sentinel_ask(struct redis_sentinel *s)
{
	int n = s->sentinels.count, first = atomic_load(&s->answered);

	for (int k = 0; k < n; k++) {
		int i = (first + k) % n;
		redisContext *c = sentinel_connect(s, i);
		redisReply *rep;
		int ok = 0;

		if (c == NULL)
			continue;
		rep = redisCommand(c, "SENTINEL get-master-addr-by-name %s", s->sentinels.master);
		if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
		    rep->element[0]->type == REDIS_REPLY_STRING &&
		    rep->element[1]->type == REDIS_REPLY_STRING) {
			int port = atoi(rep->element[1]->str);

			if (port > 0 && port <= 65535 && rep->element[0]->len < 256) {
				sentinel_set_primary(s, rep->element[0]->str, port);
				atomic_store(&s->answered, i);
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
static redisContext *sentinel_subscribe(struct redis_sentinel *s, int *next)
{
	for (int k = 0; k < s->sentinels.count; k++) {
		int i = (*next + k) % s->sentinels.count;
		redisContext *c = sentinel_connect(s, i);
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
static void sentinel_message(struct redis_sentinel *s, const redisReply *rep)
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
	    strcmp(name, s->sentinels.master) == 0 && port > 0 && port <= 65535)
		sentinel_set_primary(s, host, port);
}

#define SENTINEL_TICK_MS 100
#define SENTINEL_REFRESH_MS 10000
#define SENTINEL_STALLED_ASK_MS 500

/*
 * The watcher: subscribed to +switch-master on one Sentinel, it moves the
 * stage to a new primary the moment the Sentinels announce it; it asks
 * them again when a thread saw Redis fail or the user is stalled, after
 * (re)subscribing (a switch may have gone by unheard) and every
 * SENTINEL_REFRESH_MS. Every wait is bounded by a tick, so free stops it
 * within a tick and the timeouts.
 */
static void *sentinel_watch(void *arg)
{
	struct redis_sentinel *s = arg;
	redisContext *sub = NULL;
	long long asked = 0;
	int next = 0;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd;
		long long now = ima_now_ms();
		/* An open breaker stops the commands that would ask for this:
		 * while it is open, the Sentinels are asked twice a second. */
		bool stalled = s->hooks.stalled != NULL && s->hooks.stalled(s->hooks.arg);

		if (atomic_exchange(&s->reask, 0) || now - asked >= SENTINEL_REFRESH_MS ||
		    (stalled && now - asked >= SENTINEL_STALLED_ASK_MS)) {
			sentinel_ask(s);
			asked = now;
		}
		if (sub == NULL && (sub = sentinel_subscribe(s, &next)) != NULL) {
			sentinel_ask(s);
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
				sentinel_message(s, rep);
				freeReplyObject(rep);
				rep = NULL;
			}
		}
		if (sub->err) {
			/* That Sentinel went away: the next one, and ask again. */
			redisFree(sub);
			sub = NULL;
			next++;
			atomic_store(&s->reask, 1);
		}
	}
	if (sub != NULL)
		redisFree(sub);
	return NULL;
}

/* Starts this process's watcher, once per process (threads do not survive
 * fork, so a worker starts its own on its first command). */
static void sentinel_watch_start(struct redis_sentinel *s)
{
	int pid = (int)getpid(), seen = atomic_load(&s->watcher_pid);
	sigset_t all, old;

	if (seen == pid || !atomic_compare_exchange_strong(&s->watcher_pid, &seen, pid))
		return;
	atomic_store(&s->stop, 0);
	/* Signals stay with the threads that take them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&s->watcher, NULL, sentinel_watch, s) == 0)
		atomic_store(&s->watcher_running, pid);
	else
		ima_log(IMA_LOG_ERROR, "%s: cannot start the Sentinel watcher: the "
			"primary is not followed after a failover", s->who);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void sentinel_watch_stop(struct redis_sentinel *s)
{
	if (atomic_load(&s->watcher_running) != (int)getpid())
		return;
	atomic_store(&s->stop, 1);
	pthread_join(s->watcher, NULL);
	atomic_store(&s->watcher_running, 0);
}

struct redis_sentinel *redis_sentinel_new(const struct redis_sentinel_url *u,
					  int timeout_ms, const char *who,
					  const char *switch_metric,
					  const struct redis_sentinel_hooks *hooks)
{
	struct redis_sentinel *s = ima_calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->sentinels = *u;
	if (timeout_ms <= 0)
		timeout_ms = 1;
	s->timeout.tv_sec = timeout_ms / 1000;
	s->timeout.tv_usec = (timeout_ms % 1000) * 1000;
	snprintf(s->who, sizeof(s->who), "%s", who);
	snprintf(s->switch_metric, sizeof(s->switch_metric), "%s",
		 switch_metric != NULL ? switch_metric : "");
	if (hooks != NULL)
		s->hooks = *hooks;
	/* Asked once here, where waiting costs no request: the workers start
	 * with the address. None answering only degrades (the watcher keeps
	 * asking). */
	if (sentinel_ask(s) != 0)
		ima_log(IMA_LOG_WARN, "%s: no Sentinel knows the primary of %s yet: "
			"Redis is taken as down until one does", s->who, s->sentinels.master);
	return s;
}

void redis_sentinel_free(struct redis_sentinel *s)
{
	struct redis_addr *a;

	if (s == NULL)
		return;
	sentinel_watch_stop(s);
	a = atomic_load(&s->primary);
	while (a != NULL) {
		struct redis_addr *older = a->older;

		ima_free(a);
		a = older;
	}
	ima_free(s);
}

int redis_sentinel_primary(struct redis_sentinel *s, char *host, int *port,
			   unsigned *epoch)
{
	struct redis_addr *a;

	sentinel_watch_start(s);
	/* The epoch first: a newer address with an older epoch only costs
	 * one more reconnect. */
	*epoch = atomic_load(&s->epoch);
	if ((a = atomic_load(&s->primary)) == NULL) {
		atomic_store(&s->reask, 1);
		return -1;
	}
	snprintf(host, sizeof(a->host), "%s", a->host);
	*port = a->port;
	return 0;
}

unsigned redis_sentinel_epoch(struct redis_sentinel *s)
{
	return atomic_load(&s->epoch);
}

void redis_sentinel_reask(struct redis_sentinel *s)
{
	atomic_store(&s->reask, 1);
}

bool redis_sentinel_known(struct redis_sentinel *s)
{
	return atomic_load(&s->primary) != NULL;
}

const char *redis_sentinel_master(const struct redis_sentinel *s)
{
	return s->sentinels.master;
}

uint64_t redis_sentinel_switches(struct redis_sentinel *s)
{
	return atomic_load(&s->switches);
}

bool redis_sentinel_is_primary(redisContext *c)
{
	redisReply *rep = redisCommand(c, "ROLE");
	bool ok = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
		  rep->element[0]->type == REDIS_REPLY_STRING &&
		  strcmp(rep->element[0]->str, "master") == 0;

	if (rep != NULL)
		freeReplyObject(rep);
	return ok;
}
