/*
 * ima_metrics.c - process-wide counters and gauges for plugins and the
 * front end, rendered in the Prometheus text format.
 *
 * A fixed table of slots, found by hashing the series name. Registration
 * takes a mutex once per series; after that an update is one atomic add.
 * Before the FastCGI supervisor forks its workers it moves the table into a
 * MAP_SHARED mapping, so every worker adds to the same numbers and /metrics
 * on any worker shows the total. Values are kept in millionths so that
 * money and seconds add up exactly with integer atomics.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ima_core.h"

#define METRIC_SLOTS 512
#define METRIC_NAME 120
#define METRIC_SCALE 1000000.0

struct metric_slot {
	atomic_int state; /* 0 free, 1 being written, 2 ready */
	char name[METRIC_NAME];
	atomic_llong value; /* millionths */
};

struct metric_table {
	pthread_mutex_t lock;
	struct metric_slot slots[METRIC_SLOTS];
};

static struct metric_table local_table = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct metric_table *table = &local_table;

int ima_metrics_share(void)
{
	struct metric_table *shared;
	pthread_mutexattr_t attr;

	if (table != &local_table)
		return 0;
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return -1;
	memcpy(shared->slots, local_table.slots, sizeof(shared->slots));
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&shared->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	table = shared;
	return 0;
}

static unsigned metric_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct metric_slot *metric_find(const char *name, bool create)
{
	unsigned h = metric_hash(name) % METRIC_SLOTS;

	if (strlen(name) >= METRIC_NAME)
		return NULL;
	for (unsigned probe = 0; probe < METRIC_SLOTS; probe++) {
		struct metric_slot *s = &table->slots[(h + probe) % METRIC_SLOTS];
		int state = atomic_load_explicit(&s->state, memory_order_acquire);

		if (state == 2 && strcmp(s->name, name) == 0)
			return s;
		if (state == 0) {
			struct metric_slot *found = NULL;

			if (!create)
				return NULL;
			/* Registration is rare: a mutex keeps two writers from
			 * claiming the same free slot for different names. */
			pthread_mutex_lock(&table->lock);
			for (unsigned q = 0; q < METRIC_SLOTS && found == NULL; q++) {
				struct metric_slot *t = &table->slots[(h + q) % METRIC_SLOTS];
				int st = atomic_load(&t->state);

				if (st == 2 && strcmp(t->name, name) == 0)
					found = t;
				else if (st == 0) {
					atomic_store(&t->state, 1);
					strcpy(t->name, name);
					atomic_store_explicit(&t->state, 2, memory_order_release);
					found = t;
				}
			}
			pthread_mutex_unlock(&table->lock);
			return found;
		}
	}
	return NULL;
}

void ima_metric_add(const char *name, double delta)
{
	struct metric_slot *s;

	/* Only what the fixed-point counter can hold (about 9e12). */
	if (!(fabs(delta) < 9e12) || (s = metric_find(name, true)) == NULL)
		return;
	atomic_fetch_add_explicit(&s->value, llround(delta * METRIC_SCALE),
				  memory_order_relaxed);
}

void ima_metric_set(const char *name, double value)
{
	struct metric_slot *s;

	if (!(fabs(value) < 9e12) || (s = metric_find(name, true)) == NULL)
		return;
	atomic_store_explicit(&s->value, llround(value * METRIC_SCALE),
			      memory_order_relaxed);
}

double ima_metric_get(const char *name)
{
	struct metric_slot *s = metric_find(name, false);

	return s ? (double)atomic_load(&s->value) / METRIC_SCALE : 0.0;
}

static int metric_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void ima_metrics_render(struct ima_buf *out)
{
	const char *names[METRIC_SLOTS] = { 0 };
	size_t n = 0;
	char family[METRIC_NAME] = "";

	for (unsigned i = 0; i < METRIC_SLOTS; i++)
		if (atomic_load(&table->slots[i].state) == 2)
			names[n++] = table->slots[i].name;
	qsort(names, n, sizeof(names[0]), metric_cmp);
	for (size_t i = 0; i < n; i++) {
		size_t flen = strcspn(names[i], "{");
		double v = ima_metric_get(names[i]);

		/* One TYPE line per family, before its first series. */
		if (strlen(family) != flen || strncmp(family, names[i], flen) != 0) {
			snprintf(family, sizeof(family), "%.*s", (int)flen, names[i]);
			ima_buf_printf(out, "# TYPE %s %s\n", family,
				       flen > 6 && strncmp(names[i] + flen - 6, "_total", 6) == 0
					       ? "counter" : "gauge");
		}
		if (v == floor(v) && fabs(v) < 1e15)
			ima_buf_printf(out, "%s %.0f\n", names[i], v);
		else
			ima_buf_printf(out, "%s %.6f\n", names[i], v);
	}
}
