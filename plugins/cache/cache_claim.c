/*
 * cache_claim.c - who computes what, so that concurrent identical misses
 * (answers and calls alike) are computed once.
 *
 * In a process, the first request to miss a key claims it in the in-flight
 * table and the others wait for it (bounded) on one condition variable.
 * Across processes and hosts, the claimer also takes a short Redis lock
 * (SET NX PX, with a token of its own) and the others poll for its result
 * while it is held, with a bounded wait and then a fallback to computing.
 * A lock is only ever deleted by its holder (compare and delete), or by a
 * waiter once Redis says the holder's connection is gone: the token names
 * the holder's client id, and a process that dies closes its connections.
 * call_try never waits: it claims or locks what is free and otherwise has
 * the core ask again, for as long as call_get would have waited, counted
 * from the request's first try.
 */
#include <string.h>

#include "cache_private.h"

/* ---- in the process ---- */

/* With st->lock held: true when this request now owns the key (nobody
 * else computes it); false after waiting (the lock let go meanwhile) for
 * the owner to finish, or for the clock to pass until (at once when it
 * already has, CACHE_NO_WAIT included). */
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
	while (!f->done && ima_now_ms() < until)
		if (pthread_cond_timedwait(&st->cond, &st->lock, &deadline) != 0)
			break;
	/* The last waiter out frees an entry its owner already released. */
	if (--f->waiters == 0 && f->done)
		ima_free(f);
	return false;
}

bool cache_claim(struct cache_state *st, const unsigned char *key, int64_t wait_ms)
{
	bool owner;

	pthread_mutex_lock(&st->lock);
	owner = cache_claim_locked(st, key, ima_now_ms() + wait_ms);
	pthread_mutex_unlock(&st->lock);
	return owner;
}

void cache_release(struct cache_state *st, const unsigned char *key)
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

/* ---- across processes: an answer's Redis lock ---- */

enum cache_lock cache_lock_answer(struct cache_state *st, struct cache_task *t,
				  bool (*found)(void *arg), void *arg)
{
	char lkey[CACHE_RKEY_SIZE], token[CACHE_REDIS_TOKEN];
	int got;

	cache_redis_key(st, "lock", t->key, lkey);
	cache_redis_token(st->l2, token);
	got = cache_redis_lock(st->l2, lkey, (int)st->lock_ms, token);
	if (got == 0) {
		/* Another process or host computes it: poll L2, and every
		 * 100 ms whether the lock is still held by someone alive. An
		 * answer not to be stored (DEGRADED) lets it go with nothing
		 * in L2, and a worker that died holds it until it expires:
		 * either way waiting on would only cost time. */
		long long until = ima_now_ms() + st->wait_ms;

		for (int i = 1; got == 0 && ima_now_ms() < until; i++) {
			struct timespec pause = { 0, 10 * 1000000 };

			nanosleep(&pause, NULL);
			if (found(arg))
				return LOCK_FOUND;
			if (i % 10 == 0 && cache_redis_lock_orphaned(st->l2, lkey) == 1)
				got = cache_redis_lock(st->l2, lkey, (int)st->lock_ms, token);
		}
	}
	if (got != 1)
		return LOCK_NONE;
	/* The previous holder may have stored and unlocked between our L2
	 * miss and our lock: look once more now that we hold it. */
	if (found(arg)) {
		cache_redis_unlock(st->l2, lkey, token);
		return LOCK_FOUND;
	}
	memcpy(t->lock_token, token, sizeof(token));
	return LOCK_HELD;
}

/* ---- a request's claims on calls ---- */

/* With st->lock held: where key is among the task's n marks, or -1. */
static int cache_mark_find(const struct cache_call_mark *marks, int n, const unsigned char *key)
{
	for (int i = 0; i < n; i++)
		if (memcmp(marks[i].key, key, CACHE_KEY_BYTES) == 0)
			return i;
	return -1;
}

/*
 * Claims a call for this request, recorded in the task in the same hold of
 * st->lock, so that a sibling thread asking for it sees the claim and never
 * waits for its own request. CALL_UNCLAIMED: this request makes it already,
 * or has no room to record another (then nobody waits for it).
 */
int cache_call_claim(struct cache_state *st, struct cache_task *t,
		     const unsigned char *key, long long until)
{
	int rc = CALL_UNCLAIMED;

	pthread_mutex_lock(&st->lock);
	if (cache_mark_find(t->claimed, t->nclaimed, key) >= 0 || t->nclaimed == CACHE_TASK_CLAIMS)
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

/* Takes the call's Redis lock, or waits for the process that holds it,
 * looking for its result between tries that back off from 10 to 100 ms
 * (CACHE_NO_WAIT: one try, one look). */
enum cache_lock cache_lock_call(struct cache_state *st, struct cache_task *t,
				const unsigned char *key, long long until,
				bool (*found)(void *arg), void *arg)
{
	char lkey[CACHE_RKEY_SIZE], token[CACHE_REDIS_TOKEN];
	long pause_ms = 10;
	int i, tries = 0;

	cache_redis_key(st, "clock", key, lkey);
	cache_redis_token(st->l2, token);
	for (;;) {
		int got = cache_redis_lock(st->l2, lkey, (int)st->call_lock_ms, token);

		/* Held by a worker that died: free it and try again at once.
		 * A wait looks from its fifth try (150 ms on: the holder had
		 * time); call_try on each, since the core asks it again. */
		if (got == 0 && (until == CACHE_NO_WAIT || ++tries > 4) &&
		    cache_redis_lock_orphaned(st->l2, lkey) == 1)
			got = cache_redis_lock(st->l2, lkey, (int)st->call_lock_ms, token);

		if (got < 0)
			return LOCK_NONE;
		/* Held now, or stored and unlocked since our miss: look again. */
		if (found(arg)) {
			if (got == 1)
				cache_redis_unlock(st->l2, lkey, token);
			return LOCK_FOUND;
		}
		if (got == 1)
			break;
		if (until == CACHE_NO_WAIT)
			return LOCK_BUSY;
		if (ima_now_ms() >= until)
			return LOCK_NONE;
		{
			struct timespec d = { 0, pause_ms * 1000000 };

			nanosleep(&d, NULL);
		}
		if (pause_ms < 100)
			pause_ms *= 2;
	}
	pthread_mutex_lock(&st->lock);
	if ((i = cache_mark_find(t->claimed, t->nclaimed, key)) >= 0)
		memcpy(t->claimed[i].token, token, sizeof(token));
	pthread_mutex_unlock(&st->lock);
	return LOCK_HELD;
}

bool cache_call_may_retry(struct cache_state *st, struct cache_task *t,
			  const unsigned char *key)
{
	long long now = ima_now_ms(), since = now;
	int i;

	pthread_mutex_lock(&st->lock);
	if ((i = cache_mark_find(t->tries, t->ntries, key)) >= 0) {
		since = t->tries[i].since_ms;
	} else if (t->ntries < CACHE_TASK_CLAIMS) {
		memcpy(t->tries[t->ntries].key, key, CACHE_KEY_BYTES);
		t->tries[t->ntries].since_ms = now;
		t->ntries++;
	} else {
		/* With nowhere to keep the first try, the wait could not be
		 * bounded: none at all. */
		since = now - st->call_wait_ms;
	}
	pthread_mutex_unlock(&st->lock);
	return now < since + st->call_wait_ms;
}

bool cache_call_tried(struct cache_state *st, struct cache_task *t,
		      const unsigned char *key)
{
	int i;

	pthread_mutex_lock(&st->lock);
	if ((i = cache_mark_find(t->tries, t->ntries, key)) >= 0)
		t->tries[i] = t->tries[--t->ntries];
	pthread_mutex_unlock(&st->lock);
	return i >= 0;
}

void cache_call_release(struct cache_state *st, struct cache_task *t,
			const unsigned char *key)
{
	char token[CACHE_REDIS_TOKEN] = "";
	bool found = false;
	int i;

	pthread_mutex_lock(&st->lock);
	if ((i = cache_mark_find(t->claimed, t->nclaimed, key)) >= 0) {
		memcpy(token, t->claimed[i].token, sizeof(token));
		t->claimed[i] = t->claimed[t->nclaimed - 1];
		t->nclaimed--;
		found = true;
	}
	pthread_mutex_unlock(&st->lock);
	if (!found)
		return;
	if (token[0] != '\0' && st->l2 != NULL) {
		char lkey[CACHE_RKEY_SIZE];

		cache_redis_key(st, "clock", key, lkey);
		cache_redis_unlock(st->l2, lkey, token);
	}
	cache_release(st, key);
}

void cache_call_release_all(struct cache_state *st, struct cache_task *t)
{
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
}
