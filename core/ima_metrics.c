/*
 * ima_metrics.c - process-wide counters, gauges and histograms for plugins
 * and the front end, rendered in the Prometheus text format.
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
 *
 * A histogram is made of ordinary counter slots, one per bucket and one
 * for the sum, named after the observed series with a suffix the
 * exposition never carries: "fam{a=\"1\"} 03" counts the observations of
 * bucket 3 alone (not cumulated), "fam{a=\"1\"} s" adds up their values.
 * Each observation is then two atomic adds, and the renderer makes the
 * buckets cumulative and the count out of them, so a reader racing an
 * observation never sees a bucket above the next one or a _count other
 * than the +Inf bucket. The bounds live in the family entry. Declaring a
 * histogram through ima_metric_declare() is refused: it has no bounds, and
 * a default set would only hide the mistake.
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
#define METRIC_BOUNDS 16 /* a histogram's finite bucket bounds at most */

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
	unsigned nbounds;         /* histograms: bucket upper bounds */
	double bounds[METRIC_BOUNDS];
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

static bool metric_ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len > n && memcmp(s + len - n, suffix, n) == 0;
}

/* The family's name says its type: a counter ends in _total, nothing else
 * does, and a histogram's name takes none of the suffixes of its series. */
static bool metric_family_name_ok(const char *family, size_t len, int type)
{
	if (!metric_name_ok(family, len) ||
	    (type == IMA_METRIC_COUNTER) != metric_ends_with(family, len, "_total"))
		return false;
	return type != IMA_METRIC_HISTOGRAM ||
	       (!metric_ends_with(family, len, "_bucket") &&
		!metric_ends_with(family, len, "_sum") &&
		!metric_ends_with(family, len, "_count"));
}

static int family_declare(const char *family, int type, const char *help,
			  const double *bounds, size_t nbounds)
{
	size_t len = family ? strlen(family) : 0;
	struct metric_family *f;

	if (!metric_family_name_ok(family, len, type) || help == NULL || help[0] == '\0')
		return -1;
	f = family_find(family, len, true);
	if (f == NULL)
		return -1;
	if (atomic_load_explicit(&f->entry.state, memory_order_acquire) == SLOT_READY)
		/* Declared before: fine when alike, bounds included. */
		return f->type == type && f->nbounds == nbounds &&
		       (nbounds == 0 || memcmp(f->bounds, bounds, nbounds * sizeof(*bounds)) == 0)
			       ? 0 : -1;
	f->type = type;
	f->nbounds = (unsigned)nbounds;
	if (nbounds > 0)
		memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
	snprintf(f->help, sizeof(f->help), "%s", help);
	/* HELP text is one line: the exposition format ends it at '\n'. */
	for (char *p = f->help; *p; p++)
		if (*p == '\n' || *p == '\\')
			*p = ' ';
	atomic_store_explicit(&f->entry.state, SLOT_READY, memory_order_release);
	return 0;
}

int ima_metric_declare(const char *family, enum ima_metric_type type,
		       const char *help)
{
	if (type != IMA_METRIC_COUNTER && type != IMA_METRIC_GAUGE &&
	    type != IMA_METRIC_GAUGE_SUM)
		return -1; /* histograms need their bounds: see the top */
	return family_declare(family, (int)type, help, NULL, 0);
}

int ima_metric_declare_histogram(const char *family, const char *help,
				 const double *bounds, size_t nbounds)
{
	if (nbounds > METRIC_BOUNDS || (nbounds > 0 && bounds == NULL))
		return -1;
	/* Finite and strictly increasing: the buckets are found in order and
	 * every le label differs from the next. */
	for (size_t i = 0; i < nbounds; i++)
		if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
			return -1;
	return family_declare(family, IMA_METRIC_HISTOGRAM, help, bounds, nbounds);
}

/* The family part of a series name, also of a histogram's slots (see the
 * top): no family name has a space. */
static size_t metric_family_len(const char *name)
{
	return strcspn(name, "{ ");
}

static int metric_type(const char *name)
{
	size_t flen = metric_family_len(name);
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
	/* A counter never goes down: Prometheus would read a reset. A
	 * histogram's series are its buckets, only ima_metric_observe's. */
	if ((type == IMA_METRIC_COUNTER && delta < 0) || type == IMA_METRIC_HISTOGRAM)
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

	int type;

	if (!(fabs(value) < 9e12) || !metric_series_ok(name) ||
	    (type = metric_type(name)) == IMA_METRIC_HISTOGRAM ||
	    (s = metric_find(name, true)) == NULL)
		return;
	column = type == IMA_METRIC_GAUGE_SUM ? my_column : 0;
	atomic_store_explicit(metric_value(s, column), llround(value * METRIC_SCALE),
			      memory_order_relaxed);
}

/* A histogram's labels may not name le: the buckets' label. */
static bool histogram_labels_ok(const char *labels)
{
	return strncmp(labels, "{le=", 4) != 0 && strstr(labels, ",le=") == NULL;
}

void ima_metric_observe(const char *name, double value)
{
	const struct metric_family *f;
	char slot[METRIC_NAME];
	struct metric_slot *s;
	unsigned bucket = 0;
	size_t flen;

	/* The slot names add 3 bytes to the series (see the top). */
	if (!(fabs(value) < 9e12) || !metric_series_ok(name) ||
	    strlen(name) + 3 >= METRIC_NAME)
		return;
	flen = metric_family_len(name);
	f = family_find(name, flen, false);
	if (f == NULL || f->type != IMA_METRIC_HISTOGRAM || !histogram_labels_ok(name + flen))
		return;
	while (bucket < f->nbounds && !(value <= f->bounds[bucket]))
		bucket++;
	snprintf(slot, sizeof(slot), "%s %02u", name, bucket);
	if ((s = metric_find(slot, true)) != NULL)
		atomic_fetch_add_explicit(metric_value(s, 0), (long long)METRIC_SCALE,
					  memory_order_relaxed);
	snprintf(slot, sizeof(slot), "%s s", name);
	if ((s = metric_find(slot, true)) != NULL)
		atomic_fetch_add_explicit(metric_value(s, 0), llround(value * METRIC_SCALE),
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
	size_t xl = metric_family_len(x->name), yl = metric_family_len(y->name);
	int c = strncmp(x->name, y->name, xl < yl ? xl : yl);

	if (c != 0 || xl != yl)
		return c != 0 ? c : (xl < yl ? -1 : 1);
	return strcmp(x->name, y->name);
}

static const char *metric_type_name(int type)
{
	return type == IMA_METRIC_COUNTER	? "counter"
	       : type == IMA_METRIC_HISTOGRAM ? "histogram"
					      : "gauge";
}

static void metric_print_value(struct ima_buf *out, long long raw)
{
	if (raw % 1000000 == 0) {
		if (raw < 0)
			ima_buf_append(out, "-", 1);
		ima_buf_append_uint(out, (uint64_t)llabs(raw / 1000000));
	} else {
		ima_buf_append_fixed(out, (double)raw / METRIC_SCALE, 6);
	}
	ima_buf_append(out, "\n", 1);
}

/*
 * Splits a histogram slot's name (see the top) into the series, slen bytes
 * long, and what it counts: a bucket number, or -1 for the sum. -2 for a
 * name of another shape (a plain series made before the declaration).
 */
static int histogram_slot(const char *name, size_t flen, size_t *slen)
{
	const char *sep = strrchr(name, ' ');

	if (sep == NULL || (size_t)(sep - name) < flen ||
	    ((size_t)(sep - name) > flen && sep[-1] != '}'))
		return -2;
	*slen = (size_t)(sep - name);
	if (strcmp(sep, " s") == 0)
		return -1;
	if (sep[1] >= '0' && sep[1] <= '9' && sep[2] >= '0' && sep[2] <= '9' && sep[3] == '\0')
		return (sep[1] - '0') * 10 + (sep[2] - '0');
	return -2;
}

/* The shortest text that reads back as v: le="0.1", not
 * le="0.10000000000000001"; from 6 digits on, as %g strips trailing zeros
 * and 60 stays "60" rather than "6e+01" (Prometheus' own clients alike). */
static void histogram_bound_text(double v, char *text, size_t size)
{
	for (int digits = 6; digits <= 17; digits++) {
		snprintf(text, size, "%.*g", digits, v);
		if (strtod(text, NULL) == v)
			break;
	}
}

/* "fam_bucket{a=\"1\",le=\"0.5\"} ": the series' labels, and le if given. */
static void histogram_series(struct ima_buf *out, const char *series, size_t flen,
			     size_t slen, const char *suffix, const char *le)
{
	size_t llen = slen > flen + 2 ? slen - flen - 2 : 0; /* inside the {} */

	ima_buf_append(out, series, flen);
	ima_buf_append(out, suffix, strlen(suffix));
	if (llen > 0 || le != NULL) {
		ima_buf_append(out, "{", 1);
		ima_buf_append(out, series + flen + 1, llen);
		if (le != NULL)
			ima_buf_printf(out, "%sle=\"%s\"", llen > 0 ? "," : "", le);
		ima_buf_append(out, "}", 1);
	}
	ima_buf_append(out, " ", 1);
}

/*
 * The sorted slots of histogram family f from ready[i] on, flen the length
 * of its name: for each label set its cumulative buckets, _sum and _count.
 * Returns the index of the next family's first slot.
 */
static size_t histogram_render(struct ima_buf *out, const struct metric_family *f,
			       const struct metric_slot *const *ready, size_t n,
			       size_t i, size_t flen)
{
	const char *family = ready[i]->name;

	while (i < n && metric_family_len(ready[i]->name) == flen &&
	       strncmp(ready[i]->name, family, flen) == 0) {
		const char *series = ready[i]->name;
		long long counts[METRIC_BOUNDS + 1] = { 0 }, sum = 0, total = 0;
		char le[32];
		size_t slen, len;

		if (histogram_slot(series, flen, &slen) == -2) {
			i++;
			continue;
		}
		/* Sorted: the series' slots (and any twins, see the top) are
		 * next to each other. */
		for (; i < n && strncmp(ready[i]->name, series, slen) == 0 &&
		       ready[i]->name[slen] == ' '; i++) {
			int what = histogram_slot(ready[i]->name, flen, &len);

			if (what == -1)
				sum += metric_slot_sum(ready[i]);
			else if (what >= 0 && what <= (int)f->nbounds)
				counts[what] += metric_slot_sum(ready[i]);
		}
		for (unsigned b = 0; b <= f->nbounds; b++) {
			if (b < f->nbounds)
				histogram_bound_text(f->bounds[b], le, sizeof(le));
			else
				snprintf(le, sizeof(le), "+Inf");
			total += counts[b];
			histogram_series(out, series, flen, slen, "_bucket", le);
			metric_print_value(out, total);
		}
		histogram_series(out, series, flen, slen, "_sum", NULL);
		metric_print_value(out, sum);
		histogram_series(out, series, flen, slen, "_count", NULL);
		metric_print_value(out, total);
	}
	return i;
}

void ima_metrics_render(struct ima_buf *out)
{
	const struct metric_slot *ready[METRIC_SLOTS] = { 0 };
	size_t n = 0, i = 0;
	char family[METRIC_NAME] = "";

	for (unsigned s = 0; s < METRIC_SLOTS; s++)
		if (atomic_load_explicit(&table->slots[s].state, memory_order_acquire) == SLOT_READY)
			ready[n++] = &table->slots[s];
	qsort(ready, n, sizeof(ready[0]), metric_cmp);
	while (i < n) {
		const char *name = ready[i]->name;
		size_t flen = metric_family_len(name);
		long long raw;

		/* One HELP and TYPE per family, before its first series. */
		if (strlen(family) != flen || strncmp(family, name, flen) != 0) {
			const struct metric_family *f = family_find(name, flen, false);

			snprintf(family, sizeof(family), "%.*s", (int)flen, name);
			ima_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", family,
				       f ? f->help : "Not described by the stage that reports it.",
				       family, metric_type_name(f ? f->type : metric_type(name)));
			if (f != NULL && f->type == IMA_METRIC_HISTOGRAM) {
				i = histogram_render(out, f, ready, n, i, flen);
				continue;
			}
		}
		/* A histogram's slot outside its family cannot be shown. */
		if (name[flen] == ' ') {
			i++;
			continue;
		}
		raw = metric_slot_sum(ready[i]);
		/* The same series in two slots (see the top): one line. */
		while (i + 1 < n && strcmp(ready[i + 1]->name, name) == 0)
			raw += metric_slot_sum(ready[++i]);
		ima_buf_append(out, name, strlen(name));
		ima_buf_append(out, " ", 1);
		metric_print_value(out, raw);
		i++;
	}
}
