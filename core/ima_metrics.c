/*
 * ima_metrics.c - process-wide counters and gauges for plugins and the
 * front end, rendered in the Prometheus text format.
 *
 * A fixed table of series, found by hashing the name, and a table of
 * families (type and HELP text). Before the FastCGI supervisor forks its
 * workers it moves both into one MAP_SHARED mapping, so every worker adds
 * to the same numbers and /metrics on any worker shows the total.
 *
 * Nothing in the mapping is ever locked: a worker can be killed at any
 * instruction, and a lock it held would wedge every other worker. A slot is
 * claimed with a compare-and-swap (free -> claimed by this pid), its name
 * written, then published (ready). Whoever meets a claimed slot waits a
 * little; if the claimer has died meanwhile, the slot is marked abandoned
 * and skipped for good by everyone. A registrant of the same name that
 * gave up waiting takes another slot, and the renderer adds up series that
 * share a name, so no update is ever lost or shown twice.
 *
 * Values are kept in millionths so that money and seconds add up exactly
 * with integer atomics. Counters and plain gauges have one value; a
 * per-worker gauge (IMA_METRIC_GAUGE_SUM: bytes held in a worker's memory)
 * has one column per worker, written only by that worker and summed when
 * read.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ima_core.h"

#define METRIC_SLOTS 512
#define METRIC_FAMILIES 128
#define METRIC_NAME 120
#define METRIC_HELP 200
#define METRIC_SCALE 1000000.0
#define METRIC_CLAIM_SPINS 1000 /* a registrant in progress is this close */

/* A slot's state: free, ready, abandoned, or claimed by the process whose
 * pid is state - SLOT_CLAIMED. */
enum { SLOT_FREE = 0, SLOT_READY = 2, SLOT_DEAD = 3, SLOT_CLAIMED = 16 };

/* A named entry of an open-addressed table: a series or a family. */
struct metric_slot {
	atomic_int state;
	char name[METRIC_NAME];
};

struct metric_family {
	struct metric_slot entry; /* first: found like a series */
	int type;                 /* enum ima_metric_type */
	char help[METRIC_HELP];
};

/*
 * The series values live apart from the names: values[slot * columns +
 * column]. Column 0 holds counters and plain gauges; columns 1.. are the
 * workers' own (per-worker gauges).
 */
struct metric_table {
	unsigned columns;
	struct metric_family families[METRIC_FAMILIES];
	struct metric_slot slots[METRIC_SLOTS];
	atomic_llong values[];
};

static struct {
	struct metric_table table;
	atomic_llong values[METRIC_SLOTS]; /* one column before sharing */
} local_table = { .table = { .columns = 1 } };
static struct metric_table *table = &local_table.table;
static size_t table_bytes;
static unsigned my_column; /* this process's column; 0 outside workers */
void (*ima_metrics_claim_hook)(void);

static size_t metric_table_size(unsigned columns)
{
	return sizeof(struct metric_table) +
	       (size_t)METRIC_SLOTS * columns * sizeof(atomic_llong);
}

int ima_metrics_share(unsigned workers)
{
	struct metric_table *shared;
	unsigned columns = workers + 1;
	size_t bytes = metric_table_size(columns);

	if (table != &local_table.table)
		return 0;
	shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return -1;
	/* Single-threaded here (before any fork or thread): plain copies. */
	memcpy(shared->families, local_table.table.families, sizeof(shared->families));
	memcpy(shared->slots, local_table.table.slots, sizeof(shared->slots));
	shared->columns = columns;
	for (unsigned i = 0; i < METRIC_SLOTS; i++)
		atomic_init(&shared->values[(size_t)i * columns],
			    atomic_load(&local_table.values[i]));
	table = shared;
	table_bytes = bytes;
	return 0;
}

void ima_metrics_unshare(void)
{
	if (table == &local_table.table)
		return;
	munmap(table, table_bytes);
	table = &local_table.table;
}

static void metric_column_zero(unsigned column)
{
	for (unsigned i = 0; i < METRIC_SLOTS; i++)
		atomic_store_explicit(&table->values[(size_t)i * table->columns + column],
				      0, memory_order_relaxed);
}

void ima_metrics_set_worker(unsigned column)
{
	if (column >= table->columns)
		column = 0;
	my_column = column;
	if (column > 0)
		metric_column_zero(column);
}

void ima_metrics_worker_gone(unsigned column)
{
	if (column > 0 && column < table->columns)
		metric_column_zero(column);
}

static unsigned metric_hash(const char *s, size_t len)
{
	unsigned h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/*
 * The state of a slot once any claim on it settled: waits a little for a
 * registrant at work, and marks the slot abandoned when its claimer died.
 * May still return a claim (a live but slow claimer): skip the slot then.
 */
static int metric_settle(atomic_int *state)
{
	int st = atomic_load_explicit(state, memory_order_acquire);

	for (int spin = 0; spin < METRIC_CLAIM_SPINS && st >= SLOT_CLAIMED; spin++) {
		sched_yield();
		st = atomic_load_explicit(state, memory_order_acquire);
	}
	if (st >= SLOT_CLAIMED && kill((pid_t)(st - SLOT_CLAIMED), 0) != 0 &&
	    errno == ESRCH && atomic_compare_exchange_strong(state, &st, SLOT_DEAD))
		st = SLOT_DEAD;
	return st;
}

static int metric_claim(atomic_int *state, int *seen)
{
	return atomic_compare_exchange_strong(state, seen, SLOT_CLAIMED + (int)getpid());
}

/*
 * The entry called name (len bytes) among the n entries of stride bytes at
 * base, claiming a free one when create is set. A claimed entry is
 * published at once when publish is set; otherwise the caller fills the
 * rest and publishes it. Lock-free; see the top of the file.
 */
static struct metric_slot *metric_probe(void *base, size_t stride, unsigned n,
					const char *name, size_t len, bool create,
					bool publish)
{
	unsigned h;

	if (len == 0 || len >= METRIC_NAME)
		return NULL;
	h = metric_hash(name, len) % n;
	for (unsigned probe = 0; probe < n; probe++) {
		struct metric_slot *e = (void *)((char *)base + (size_t)((h + probe) % n) * stride);
		int st = metric_settle(&e->state);

		if (st == SLOT_READY) {
			if (strncmp(e->name, name, len) == 0 && e->name[len] == '\0')
				return e;
			continue;
		}
		if (st != SLOT_FREE)
			continue;
		if (!create)
			return NULL;
		if (!metric_claim(&e->state, &st)) {
			probe--; /* taken meanwhile: look at the same entry again */
			continue;
		}
		if (ima_metrics_claim_hook != NULL)
			ima_metrics_claim_hook();
		memcpy(e->name, name, len);
		e->name[len] = '\0';
		if (publish)
			atomic_store_explicit(&e->state, SLOT_READY, memory_order_release);
		return e;
	}
	return NULL;
}

static struct metric_slot *metric_find(const char *name, bool create)
{
	return metric_probe(table->slots, sizeof(table->slots[0]), METRIC_SLOTS,
			    name, strlen(name), create, true);
}

static struct metric_family *family_find(const char *name, size_t len,
					 bool create)
{
	/* The entry is the first member: the cast is back to its family. */
	return (struct metric_family *)(void *)metric_probe(
		table->families, sizeof(table->families[0]), METRIC_FAMILIES, name,
		len, create, false);
}

/* Family names: [a-zA-Z_:][a-zA-Z0-9_:]*, as Prometheus wants them. */
static bool metric_name_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      c == ':' || (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return len > 0;
}

int ima_metric_declare(const char *family, enum ima_metric_type type,
		       const char *help)
{
	size_t len = family ? strlen(family) : 0;
	struct metric_family *f;

	if (!metric_name_ok(family, len) || help == NULL || help[0] == '\0' ||
	    (type != IMA_METRIC_COUNTER && type != IMA_METRIC_GAUGE &&
	     type != IMA_METRIC_GAUGE_SUM) ||
	    (type == IMA_METRIC_COUNTER) != (len > 6 && strcmp(family + len - 6, "_total") == 0))
		return -1;
	f = family_find(family, len, true);
	if (f == NULL)
		return -1;
	if (atomic_load_explicit(&f->entry.state, memory_order_acquire) == SLOT_READY)
		return f->type == (int)type ? 0 : -1; /* declared before */
	f->type = (int)type;
	snprintf(f->help, sizeof(f->help), "%s", help);
	/* HELP text is one line: the exposition format ends it at '\n'. */
	for (char *p = f->help; *p; p++)
		if (*p == '\n' || *p == '\\')
			*p = ' ';
	atomic_store_explicit(&f->entry.state, SLOT_READY, memory_order_release);
	return 0;
}

static int metric_type(const char *name)
{
	size_t flen = strcspn(name, "{");
	const struct metric_family *f = family_find(name, flen, false);

	if (f != NULL)
		return f->type;
	return flen > 6 && strncmp(name + flen - 6, "_total", 6) == 0
		       ? IMA_METRIC_COUNTER : IMA_METRIC_GAUGE;
}

static atomic_llong *metric_value(const struct metric_slot *s, unsigned column)
{
	size_t i = (size_t)(s - table->slots);

	return &table->values[i * table->columns + column];
}

/*
 * A series name the exposition format can carry: a family name, then
 * optionally one {...} of labels at the end, with no control character
 * anywhere (a newline would end the line of the sample).
 */
static bool metric_series_ok(const char *name)
{
	size_t flen = strcspn(name, "{");

	if (!metric_name_ok(name, flen))
		return false;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return name[flen] == '\0' || name[strlen(name) - 1] == '}';
}

void ima_metric_add(const char *name, double delta)
{
	struct metric_slot *s;
	unsigned column;
	int type;

	/* Only what the fixed-point counter can hold (about 9e12). */
	if (!(fabs(delta) < 9e12) || !metric_series_ok(name))
		return;
	type = metric_type(name);
	/* A counter never goes down: Prometheus would read a reset. */
	if (type == IMA_METRIC_COUNTER && delta < 0)
		return;
	if ((s = metric_find(name, true)) == NULL)
		return;
	column = type == IMA_METRIC_GAUGE_SUM ? my_column : 0;
	atomic_fetch_add_explicit(metric_value(s, column), llround(delta * METRIC_SCALE),
				  memory_order_relaxed);
}

void ima_metric_set(const char *name, double value)
{
	struct metric_slot *s;
	unsigned column;

	if (!(fabs(value) < 9e12) || !metric_series_ok(name) ||
	    (s = metric_find(name, true)) == NULL)
		return;
	column = metric_type(name) == IMA_METRIC_GAUGE_SUM ? my_column : 0;
	atomic_store_explicit(metric_value(s, column), llround(value * METRIC_SCALE),
			      memory_order_relaxed);
}

static long long metric_slot_sum(const struct metric_slot *s)
{
	long long sum = 0;

	for (unsigned c = 0; c < table->columns; c++)
		sum += atomic_load_explicit(metric_value(s, c), memory_order_relaxed);
	return sum;
}

double ima_metric_get(const char *name)
{
	struct metric_slot *s = metric_find(name, false);

	return s ? (double)metric_slot_sum(s) / METRIC_SCALE : 0.0;
}

/* By family first: "x_y" sorts between "x" and "x{a=\"1\"}" by name, and
 * would split family x in two, each with its own HELP and TYPE. */
static int metric_cmp(const void *a, const void *b)
{
	const struct metric_slot *x = *(const struct metric_slot *const *)a;
	const struct metric_slot *y = *(const struct metric_slot *const *)b;
	size_t xl = strcspn(x->name, "{"), yl = strcspn(y->name, "{");
	int c = strncmp(x->name, y->name, xl < yl ? xl : yl);

	if (c != 0 || xl != yl)
		return c != 0 ? c : (xl < yl ? -1 : 1);
	return strcmp(x->name, y->name);
}

static const char *metric_type_name(int type)
{
	return type == IMA_METRIC_COUNTER ? "counter" : "gauge";
}

void ima_metrics_render(struct ima_buf *out)
{
	const struct metric_slot *ready[METRIC_SLOTS] = { 0 };
	size_t n = 0;
	char family[METRIC_NAME] = "";

	for (unsigned i = 0; i < METRIC_SLOTS; i++)
		if (atomic_load_explicit(&table->slots[i].state, memory_order_acquire) == SLOT_READY)
			ready[n++] = &table->slots[i];
	qsort(ready, n, sizeof(ready[0]), metric_cmp);
	for (size_t i = 0; i < n; i++) {
		const char *name = ready[i]->name;
		size_t flen = strcspn(name, "{");
		long long raw = metric_slot_sum(ready[i]);
		double v;

		/* The same series in two slots (see the top): one line. */
		while (i + 1 < n && strcmp(ready[i + 1]->name, name) == 0)
			raw += metric_slot_sum(ready[++i]);
		v = (double)raw / METRIC_SCALE;
		/* One HELP and TYPE per family, before its first series. */
		if (strlen(family) != flen || strncmp(family, name, flen) != 0) {
			const struct metric_family *f = family_find(name, flen, false);

			snprintf(family, sizeof(family), "%.*s", (int)flen, name);
			ima_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", family,
				       f ? f->help : "Not described by the stage that reports it.",
				       family, metric_type_name(metric_type(name)));
		}
		ima_buf_append(out, name, strlen(name));
		ima_buf_append(out, " ", 1);
		if (raw % 1000000 == 0) {
			if (raw < 0)
				ima_buf_append(out, "-", 1);
			ima_buf_append_uint(out, (uint64_t)llabs(raw / 1000000));
		} else {
			ima_buf_append_fixed(out, v, 6);
		}
		ima_buf_append(out, "\n", 1);
	}
}
