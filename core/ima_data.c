/*
 * ima_data.c - data files parsed once per process and shared by the stages
 * (ABI 1.6), and the monotonic clock.
 *
 * An entry is found by its key: the loader's kind, then for every file its
 * real path, device, inode, size, mtime and ctime, then the serial of the
 * base entry it was built against. A file replaced or rewritten on disk
 * therefore gives a new key, and the engine a SIGHUP builds reads it again
 * while the old engine keeps the old entry until it has drained; an entry
 * is freed with its last reference, so nothing outlives the engines that
 * use it.
 *
 * The release function of an entry is code of the plugin that loaded it,
 * but the entry may be shared with other plugins and outlive that plugin's
 * engine (a reload whose pipeline no longer has the loader's stage). The
 * entry therefore holds a reference of its own on the shared object that
 * holds the release function (dladdr, then dlopen with RTLD_NOLOAD), and
 * drops it only after the release function has run: the code stays mapped
 * as long as an object it must free exists. A release function in core
 * could not free a structure only the plugin knows.
 *
 * One lock guards the table; loading runs outside it, so a loader may
 * acquire other data, and acquirers of the same key wait for the one
 * that loads instead of loading twice.
 */
/* dladdr */
#define _GNU_SOURCE
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ima_core.h"

/* A file rewritten while it was read is read again, this many times. */
#define DATA_ATTEMPTS 3

struct data_entry {
	struct data_entry *next;
	char *key;
	uint64_t serial;
	void *object;       /* NULL while loading */
	bool loading;
	unsigned refs;
	ima_data_free_fn release;
	void *code;         /* dlopen handle on release's shared object */
	struct data_entry *base;
};

static pthread_mutex_t data_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t data_loaded = PTHREAD_COND_INITIALIZER;
static struct data_entry *data_entries;
static uint64_t data_serial;
static uint64_t data_loads; /* calls of a loader, for the tests */

int64_t ima_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under data_lock. */
static struct data_entry *data_find_object(const void *object)
{
	for (struct data_entry *e = data_entries; e != NULL; e = e->next)
		if (e->object == object && object != NULL)
			return e;
	return NULL;
}

static struct data_entry *data_find_key(const char *key)
{
	for (struct data_entry *e = data_entries; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void data_unlink(struct data_entry *e)
{
	for (struct data_entry **p = &data_entries; *p != NULL; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			return;
		}
}

/*
 * Drops one reference of e and, for each entry that loses its last, of its
 * base; unlinks what nobody holds any more and returns it as a list (through
 * next) to be freed outside the lock. Under data_lock.
 */
static struct data_entry *data_unref(struct data_entry *e)
{
	struct data_entry *dead = NULL;

	while (e != NULL && --e->refs == 0) {
		struct data_entry *base = e->base;

		data_unlink(e);
		e->next = dead;
		dead = e;
		e = base;
	}
	return dead;
}

static void data_free_list(struct data_entry *dead)
{
	while (dead != NULL) {
		struct data_entry *next = dead->next;

		if (dead->object != NULL)
			dead->release(dead->object);
		/* Only now may the release function's code go. */
		if (dead->code != NULL)
			dlclose(dead->code);
		ima_free(dead->key);
		ima_free(dead);
		dead = next;
	}
}

/* The key of the files as they are now; NULL with err when one is
 * missing or memory ran out. */
static char *data_key(const char *kind, const char *const *paths, size_t npaths,
		      uint64_t base_serial, char *err, size_t errlen)
{
	struct ima_buf b = { 0 };

	ima_buf_append(&b, kind, strlen(kind));
	for (size_t i = 0; i < npaths; i++) {
		char real[PATH_MAX];
		struct stat sb;

		if (realpath(paths[i], real) == NULL || stat(real, &sb) != 0) {
			snprintf(err, errlen, "%s: %s", paths[i], strerror(errno));
			ima_buf_free(&b);
			return NULL;
		}
		/* \036 is in no kind or path a caller gives, so parts never run
		 * into each other. */
		ima_buf_printf(&b, "\036%s\036%ju:%ju:%jd:%jd.%09ld:%jd.%09ld", real,
			       (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino,
			       (intmax_t)sb.st_size, (intmax_t)sb.st_mtim.tv_sec,
			       sb.st_mtim.tv_nsec, (intmax_t)sb.st_ctim.tv_sec,
			       sb.st_ctim.tv_nsec);
	}
	ima_buf_printf(&b, "\036base:%" PRIu64, base_serial);
	ima_buf_append(&b, "", 1);
	if (b.failed) {
		snprintf(err, errlen, "out of memory");
		ima_buf_free(&b);
		return NULL;
	}
	return b.data;
}

/* A reference on the shared object that holds fn, or NULL when it is the
 * program itself or cannot be had (such code is never unmapped). */
static void *data_hold_code(ima_data_free_fn fn)
{
	Dl_info info;
	void *addr;

	/* dladdr takes the address as data. */
	memcpy(&addr, &fn, sizeof(addr));
	if (dladdr(addr, &info) == 0 || info.dli_fname == NULL ||
	    info.dli_fname[0] == '\0')
		return NULL;
	return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
}

/*
 * One attempt: the entry of key, loaded now or by another thread. Returns
 * the object; NULL with err when the load failed; NULL with *again set
 * when the files changed while they were read.
 */
static const void *data_get(const char *key, const char *kind,
			    const char *const *paths, size_t npaths,
			    struct data_entry *base, ima_data_load_fn load,
			    ima_data_free_fn release, bool *again, char *err,
			    size_t errlen)
{
	struct data_entry *e, *dead;
	int64_t started;
	void *object;
	char *now;

	pthread_mutex_lock(&data_lock);
	for (;;) {
		e = data_find_key(key);
		if (e == NULL || !e->loading)
			break;
		pthread_cond_wait(&data_loaded, &data_lock);
	}
	if (e != NULL) {
		e->refs++;
		pthread_mutex_unlock(&data_lock);
		return e->object;
	}
	e = ima_calloc(1, sizeof(*e));
	if (e == NULL || (e->key = ima_strdup(key)) == NULL) {
		pthread_mutex_unlock(&data_lock);
		ima_free(e);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->serial = ++data_serial;
	e->loading = true;
	e->refs = 1;
	e->release = release;
	e->base = base;
	if (base != NULL)
		base->refs++;
	e->next = data_entries;
	data_entries = e;
	pthread_mutex_unlock(&data_lock);

	err[0] = '\0';
	started = ima_now_ms();
	object = load(paths, base != NULL ? base->object : NULL, err, errlen);
	now = object != NULL ? data_key(kind, paths, npaths, base ? base->serial : 0,
					err, errlen)
			     : NULL;
	if (object != NULL && (now == NULL || strcmp(now, key) != 0)) {
		/* Read while it was being replaced: what was parsed may be
		 * neither version. */
		release(object);
		object = NULL;
		*again = now != NULL;
	}
	ima_free(now);
	if (object == NULL && err[0] == '\0' && !*again)
		snprintf(err, errlen, "%s: the loader failed without saying why",
			 paths[0]);

	pthread_mutex_lock(&data_lock);
	e->loading = false;
	data_loads++;
	dead = NULL;
	if (object != NULL) {
		e->object = object;
		e->code = data_hold_code(release);
	} else {
		/* Failures are not kept: the next acquirer tries again and
		 * gets its own message. */
		dead = data_unref(e);
	}
	pthread_cond_broadcast(&data_loaded);
	pthread_mutex_unlock(&data_lock);
	data_free_list(dead);
	if (object != NULL)
		ima_log(IMA_LOG_DEBUG, "data: %s parsed as %s in %" PRId64 " ms", paths[0],
			kind, ima_now_ms() - started);
	return object;
}

const void *ima_data_acquire(const char *kind, const char *const *paths,
			     size_t npaths, const void *base,
			     ima_data_load_fn load, ima_data_free_fn release,
			     char *err, size_t errlen)
{
	struct data_entry *b = NULL;
	const void *object = NULL;
	uint64_t base_serial = 0;

	if (kind == NULL || kind[0] == '\0' || paths == NULL || npaths == 0 ||
	    load == NULL || release == NULL) {
		snprintf(err, errlen, "ima_data_acquire: kind, paths, load and release are required");
		return NULL;
	}
	if (base != NULL) {
		pthread_mutex_lock(&data_lock);
		b = data_find_object(base);
		if (b != NULL) {
			/* Held while we work, so its serial stays its own. */
			b->refs++;
			base_serial = b->serial;
		}
		pthread_mutex_unlock(&data_lock);
		if (b == NULL) {
			snprintf(err, errlen, "ima_data_acquire: the base of %s is not shared data", kind);
			return NULL;
		}
	}
	for (int attempt = 0; attempt < DATA_ATTEMPTS && object == NULL; attempt++) {
		char *key = data_key(kind, paths, npaths, base_serial, err, errlen);
		bool again = false;

		if (key == NULL)
			break;
		object = data_get(key, kind, paths, npaths, b, load, release, &again,
				  err, errlen);
		ima_free(key);
		if (object == NULL && !again)
			break;
		if (object == NULL && attempt + 1 == DATA_ATTEMPTS)
			snprintf(err, errlen, "%s: changed on disk each time it was read",
				 paths[0]);
	}
	if (b != NULL) {
		struct data_entry *dead;

		pthread_mutex_lock(&data_lock);
		dead = data_unref(b);
		pthread_mutex_unlock(&data_lock);
		data_free_list(dead);
	}
	return object;
}

void ima_data_release(const void *object)
{
	struct data_entry *e, *dead = NULL;

	if (object == NULL)
		return;
	pthread_mutex_lock(&data_lock);
	e = data_find_object(object);
	if (e != NULL)
		dead = data_unref(e);
	pthread_mutex_unlock(&data_lock);
	if (e == NULL)
		ima_log(IMA_LOG_ERROR, "ima_data_release: %p is not shared data", object);
	data_free_list(dead);
}

void ima_data_stats(size_t *entries, uint64_t *loads)
{
	size_t n = 0;

	pthread_mutex_lock(&data_lock);
	for (struct data_entry *e = data_entries; e != NULL; e = e->next)
		n++;
	if (entries != NULL)
		*entries = n;
	if (loads != NULL)
		*loads = data_loads;
	pthread_mutex_unlock(&data_lock);
}
