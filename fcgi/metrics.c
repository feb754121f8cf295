/*
 * metrics.c - request counters shared by all worker processes, rendered in
 * the Prometheus text format by whichever worker answers GET /metrics.
 */
#define _GNU_SOURCE /* mmap flags, snprintf under -std=gnu11 */
#include "config.h"

#include <dirent.h>
#include <inttypes.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"

static const int fcgi_statuses[IMA_FCGI_STATUS_SLOTS - 1] = {
	200, 400, 401, 403, 404, 405, 411, 413, 415, 422, 429, 500, 502, 503, 504
};

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double fcgi_bounds[IMA_FCGI_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 10
};

static const char *const fcgi_route_labels[IMA_ROUTE_COUNT] = {
	"/v1/analyze", "/analyze", "/health", "/metrics", "/v1/pipeline",
	"/v1/cache/invalidate", "/v1/cache/me", "/health/live", "/health/ready", "other"
};

const char *ima_fcgi_route_label(enum ima_fcgi_route route)
{
	return fcgi_route_labels[route];
}

struct ima_fcgi_shm *ima_fcgi_shm_create(void)
{
	struct ima_fcgi_shm *shm = mmap(NULL, sizeof(*shm),
					PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (shm == MAP_FAILED)
		return NULL;
	/* Anonymous mappings come zeroed. */
	shm->started_unix = (uint64_t)time(NULL);
	return shm;
}

void ima_fcgi_shm_destroy(struct ima_fcgi_shm *shm)
{
	if (shm != NULL)
		munmap(shm, sizeof(*shm));
}

int ima_fcgi_shm_stage_slot(struct ima_fcgi_shm *shm, const char *name)
{
	uint64_t n = __atomic_load_n(&shm->nstages, __ATOMIC_ACQUIRE);

	for (uint64_t i = 0; i < n; i++)
		if (strcmp(shm->stages[i].name, name) == 0)
			return (int)i;
	if (n >= IMA_FCGI_MAX_STAGES)
		return -1;
	snprintf(shm->stages[n].name, sizeof(shm->stages[n].name), "%s", name);
	/* Publish the name before the count, for workers rendering /metrics. */
	__atomic_store_n(&shm->nstages, n + 1, __ATOMIC_RELEASE);
	return (int)n;
}

static int fcgi_status_slot(int status)
{
	for (int i = 0; i < IMA_FCGI_STATUS_SLOTS - 1; i++)
		if (fcgi_statuses[i] == status)
			return i;
	return IMA_FCGI_STATUS_SLOTS - 1;
}

static int fcgi_bucket(double seconds)
{
	int i = 0;

	while (i < IMA_FCGI_BUCKETS - 1 && seconds > fcgi_bounds[i])
		i++;
	return i;
}

static void fcgi_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static uint64_t fcgi_load(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void ima_fcgi_shm_record(struct ima_fcgi_shm *shm, enum ima_fcgi_route route,
			 int status, double seconds, const int *stage_slot,
			 const double *stage_seconds, size_t nstages)
{
	fcgi_add(&shm->requests[route][fcgi_status_slot(status)], 1);
	fcgi_add(&shm->bucket[route][fcgi_bucket(seconds)], 1);
	fcgi_add(&shm->sum_ns[route], (uint64_t)(seconds * 1e9));
	for (size_t i = 0; i < nstages; i++) {
		struct ima_fcgi_stage_stat *st;

		if (stage_slot[i] < 0 || stage_seconds[i] < 0)
			continue;
		st = &shm->stages[stage_slot[i]];
		fcgi_add(&st->count, 1);
		fcgi_add(&st->sum_ns, (uint64_t)(stage_seconds[i] * 1e9));
		fcgi_add(&st->bucket[fcgi_bucket(stage_seconds[i])], 1);
	}
}

/* ---- process metrics ------------------------------------------------ */

static void fcgi_store(uint64_t *field, uint64_t v)
{
	__atomic_store_n(field, v, __ATOMIC_RELAXED);
}

/* Fields 22-24 of /proc/self/stat (after the command, which may hold
 * spaces and parentheses): start time in clock ticks after boot, virtual
 * size in bytes, resident pages. 0 or -1. */
static int fcgi_proc_stat(uint64_t *start_ticks, uint64_t *vm, uint64_t *rss_pages)
{
	char buf[1024];
	const char *p;
	ssize_t n;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	/* p + 2 is field 3 (the state); field k is 19 fields after that for 22. */
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return -1;
		p++;
	}
	return sscanf(p, "%" SCNu64 " %" SCNu64 " %" SCNu64, start_ticks, vm, rss_pages) == 3 ?
		0 : -1;
}

/* Entries of /proc/self/fd, less the one reading it. */
static uint64_t fcgi_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;
}

void ima_fcgi_proc_update(struct ima_fcgi_shm *shm, int slot)
{
	struct ima_fcgi_proc *pr;
	uint64_t start_ticks = 0, vm = 0, rss = 0;
	struct timespec cpu = { 0 };
	struct rlimit rl;

	if (slot < 0 || slot >= IMA_FCGI_PROC_SLOTS)
		return;
	pr = &shm->proc[slot];
	if (fcgi_proc_stat(&start_ticks, &vm, &rss) != 0)
		return;
	if (__atomic_load_n(&pr->pid, __ATOMIC_RELAXED) != (uint64_t)getpid()) {
		/* Boot time from the clocks: /proc/stat (btime) is hidden by
		 * ProcSubset=pid. */
		struct timespec now, up;
		double boot, start;
		long hz = sysconf(_SC_CLK_TCK);

		clock_gettime(CLOCK_REALTIME, &now);
		clock_gettime(CLOCK_BOOTTIME, &up);
		boot = (double)(now.tv_sec - up.tv_sec) + (double)(now.tv_nsec - up.tv_nsec) / 1e9;
		start = boot + (double)start_ticks / (double)(hz > 0 ? hz : 100);
		fcgi_store(&pr->start_ms, (uint64_t)(start * 1000.0));
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	fcgi_store(&pr->cpu_ns, (uint64_t)cpu.tv_sec * 1000000000u + (uint64_t)cpu.tv_nsec);
	fcgi_store(&pr->vm_bytes, vm);
	fcgi_store(&pr->rss_bytes, rss * (uint64_t)sysconf(_SC_PAGESIZE));
	fcgi_store(&pr->open_fds, fcgi_open_fds());
	fcgi_store(&pr->max_fds, getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		   rl.rlim_cur != RLIM_INFINITY ? (uint64_t)rl.rlim_cur : 0);
	/* The pid last: a reader skips a slot without one. */
	__atomic_store_n(&pr->pid, (uint64_t)getpid(), __ATOMIC_RELEASE);
}

void ima_fcgi_proc_clear(struct ima_fcgi_shm *shm, int slot)
{
	if (slot >= 0 && slot < IMA_FCGI_PROC_SLOTS)
		__atomic_store_n(&shm->proc[slot].pid, 0, __ATOMIC_RELEASE);
}

/*
 * One family, a series per live process labelled worker="supervisor" or
 * worker="N" (the slot, as in the log lines): Prometheus clients export
 * process metrics per process, and a sum would make the CPU counter go
 * back whenever a worker is replaced.
 */
static void fcgi_proc_family(struct ima_buf *out, const struct ima_fcgi_shm *shm,
			     const char *name, const char *type, const char *help,
			     size_t offset, double scale)
{
	ima_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (int i = 0; i < IMA_FCGI_PROC_SLOTS; i++) {
		const struct ima_fcgi_proc *pr = &shm->proc[i];
		const uint64_t *field = (const uint64_t *)((const char *)pr + offset);
		uint64_t v;

		if (__atomic_load_n(&pr->pid, __ATOMIC_ACQUIRE) == 0)
			continue;
		v = fcgi_load(field);
		if (i == 0)
			ima_buf_printf(out, "%s{worker=\"supervisor\"} ", name);
		else
			ima_buf_printf(out, "%s{worker=\"%d\"} ", name, i);
		if (scale == 1.0)
			ima_buf_append_uint(out, v);
		else
			ima_buf_append_fixed(out, (double)v * scale, 3);
		ima_buf_append(out, "\n", 1);
	}
}

static void fcgi_proc_render(const struct ima_fcgi_shm *shm, struct ima_buf *out)
{
	fcgi_proc_family(out, shm, "process_cpu_seconds_total", "counter",
			 "Total user and system CPU time spent in seconds, per process.",
			 offsetof(struct ima_fcgi_proc, cpu_ns), 1e-9);
	fcgi_proc_family(out, shm, "process_start_time_seconds", "gauge",
			 "Start time of the process since unix epoch in seconds.",
			 offsetof(struct ima_fcgi_proc, start_ms), 1e-3);
	fcgi_proc_family(out, shm, "process_resident_memory_bytes", "gauge",
			 "Resident memory size in bytes, per process.",
			 offsetof(struct ima_fcgi_proc, rss_bytes), 1.0);
	fcgi_proc_family(out, shm, "process_virtual_memory_bytes", "gauge",
			 "Virtual memory size in bytes, per process.",
			 offsetof(struct ima_fcgi_proc, vm_bytes), 1.0);
	fcgi_proc_family(out, shm, "process_open_fds", "gauge",
			 "Number of open file descriptors, per process.",
			 offsetof(struct ima_fcgi_proc, open_fds), 1.0);
	fcgi_proc_family(out, shm, "process_max_fds", "gauge",
			 "Maximum number of open file descriptors, per process.",
			 offsetof(struct ima_fcgi_proc, max_fds), 1.0);
}

/* One histogram series: cumulative buckets, then _sum and _count. */
static void fcgi_histogram(struct ima_buf *out, const char *metric,
			   const char *label, const char *value,
			   const uint64_t *bucket, uint64_t sum_ns)
{
	uint64_t total = 0;

	for (int b = 0; b < IMA_FCGI_BUCKETS; b++) {
		total += fcgi_load(&bucket[b]);
		if (b < IMA_FCGI_BUCKETS - 1)
			ima_buf_printf(out, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n",
				       metric, label, value, fcgi_bounds[b],
				       (unsigned long long)total);
		else
			ima_buf_printf(out, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n",
				       metric, label, value,
				       (unsigned long long)total);
	}
	ima_buf_printf(out, "%s_sum{%s=\"%s\"} %.9f\n%s_count{%s=\"%s\"} %llu\n",
		       metric, label, value, (double)sum_ns / 1e9, metric, label,
		       value, (unsigned long long)total);
}

void ima_fcgi_shm_render(const struct ima_fcgi_shm *shm, struct ima_buf *out)
{
	uint64_t nstages = __atomic_load_n(&shm->nstages, __ATOMIC_ACQUIRE);

	ima_buf_printf(out, "# HELP imaginator_build_info The running version and the plugin ABI it provides (always 1).\n"
		       "# TYPE imaginator_build_info gauge\n"
		       "imaginator_build_info{version=\"%s\",abi=\"%d.%d\"} 1\n",
		       PACKAGE_VERSION, IMA_ABI_MAJOR, IMA_ABI_MINOR);
	ima_buf_printf(out, "# HELP imaginator_requests_total Requests answered, by route and HTTP status.\n"
		       "# TYPE imaginator_requests_total counter\n");
	for (int r = 0; r < IMA_ROUTE_COUNT; r++)
		for (int s = 0; s < IMA_FCGI_STATUS_SLOTS; s++) {
			uint64_t v = fcgi_load(&shm->requests[r][s]);
			char status[16];

			if (v == 0)
				continue;
			if (s < IMA_FCGI_STATUS_SLOTS - 1)
				snprintf(status, sizeof(status), "%d", fcgi_statuses[s]);
			else
				snprintf(status, sizeof(status), "other");
			ima_buf_printf(out, "imaginator_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
				       fcgi_route_labels[r], status,
				       (unsigned long long)v);
		}
	ima_buf_printf(out, "# HELP imaginator_request_duration_seconds Time from the request's arrival to its answer.\n"
		       "# TYPE imaginator_request_duration_seconds histogram\n");
	for (int r = 0; r < IMA_ROUTE_COUNT; r++) {
		uint64_t any = 0;

		for (int b = 0; b < IMA_FCGI_BUCKETS; b++)
			any += fcgi_load(&shm->bucket[r][b]);
		if (any != 0)
			fcgi_histogram(out, "imaginator_request_duration_seconds",
				       "route", fcgi_route_labels[r],
				       shm->bucket[r], fcgi_load(&shm->sum_ns[r]));
	}
	ima_buf_printf(out, "# HELP imaginator_stage_duration_seconds Time spent in each pipeline stage.\n"
		       "# TYPE imaginator_stage_duration_seconds histogram\n");
	for (uint64_t i = 0; i < nstages; i++)
		fcgi_histogram(out, "imaginator_stage_duration_seconds", "stage",
			       shm->stages[i].name, shm->stages[i].bucket,
			       fcgi_load(&shm->stages[i].sum_ns));
	ima_buf_printf(out,
		       "# HELP imaginator_requests_in_flight Requests being answered now.\n"
		       "# TYPE imaginator_requests_in_flight gauge\n"
		       "imaginator_requests_in_flight %llu\n"
		       "# HELP imaginator_workers Worker processes running.\n"
		       "# TYPE imaginator_workers gauge\n"
		       "imaginator_workers %llu\n"
		       "# HELP imaginator_worker_restarts_total Workers replaced after dying.\n"
		       "# TYPE imaginator_worker_restarts_total counter\n"
		       "imaginator_worker_restarts_total %llu\n"
		       "# HELP imaginator_reloads_total Configuration reloads (SIGHUP) by result.\n"
		       "# TYPE imaginator_reloads_total counter\n"
		       "imaginator_reloads_total{result=\"ok\"} %llu\n"
		       "imaginator_reloads_total{result=\"failed\"} %llu\n"
		       "# HELP imaginator_start_time_seconds Start of the supervisor, Unix time.\n"
		       "# TYPE imaginator_start_time_seconds gauge\n"
		       "imaginator_start_time_seconds %llu\n",
		       (unsigned long long)fcgi_load(&shm->in_flight),
		       (unsigned long long)fcgi_load(&shm->workers_running),
		       (unsigned long long)fcgi_load(&shm->worker_restarts),
		       (unsigned long long)fcgi_load(&shm->reloads_ok),
		       (unsigned long long)fcgi_load(&shm->reloads_failed),
		       (unsigned long long)shm->started_unix);
	fcgi_proc_render(shm, out);
}
