/*
 * fcgi.h - what the parts of imaginator-fcgi share: the supervisor
 * (imaginator-fcgi.c), the worker process (worker.c, with receive.c,
 * stream.c and routes.c behind worker_private.h) and the metrics kept in
 * memory shared by every worker (metrics.c).
 */
#ifndef IMA_FCGI_H
#define IMA_FCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "front.h"
#include "ima_core.h"

/* Routes the metrics count separately; IMA_ROUTE_OTHER is every 404. */
enum ima_fcgi_route {
	IMA_ROUTE_ANALYZE_V1 = 0,
	IMA_ROUTE_ANALYZE,
	IMA_ROUTE_HEALTH,
	IMA_ROUTE_METRICS,
	IMA_ROUTE_PIPELINE,
	IMA_ROUTE_INVALIDATE,
	IMA_ROUTE_CACHE_ME,
	IMA_ROUTE_HEALTH_LIVE,
	IMA_ROUTE_HEALTH_READY,
	IMA_ROUTE_OTHER,
	IMA_ROUTE_COUNT
};

/* The version of the HTTP API (info.version of docs/openapi.yaml), sent
 * as Imaginator-Api-Version on every answer: the major is the /v1 of the
 * paths, the minor grows with additions a client may ignore. */
#define IMA_FCGI_API_VERSION "1.0"

#define IMA_FCGI_STATUS_SLOTS 16 /* the statuses we answer, plus "other" */
#define IMA_FCGI_BUCKETS 14      /* latency histogram buckets, +Inf last */
#define IMA_FCGI_MAX_STAGES 64   /* distinct stage names over all reloads */
/* The supervisor (0), then one per worker slot: two generations at a reload. */
#define IMA_FCGI_PROC_SLOTS (2 * IMA_FCGI_MAX_WORKERS + 1)

/*
 * Counters shared by the supervisor and every worker: one MAP_SHARED
 * anonymous mapping created before the first fork. Every field is only
 * touched with __atomic builtins, so no lock crosses process boundaries
 * (a worker killed while holding a lock would wedge all the others).
 */
struct ima_fcgi_stage_stat {
	char name[64]; /* written by the supervisor before forking readers */
	uint64_t count;
	uint64_t sum_ns;
	uint64_t bucket[IMA_FCGI_BUCKETS];
};

/* What Prometheus clients export as process_*, for one process, written by
 * that process from /proc/self; pid 0: the slot is free. */
struct ima_fcgi_proc {
	uint64_t pid;
	uint64_t start_ms; /* Unix time */
	uint64_t cpu_ns;
	uint64_t rss_bytes;
	uint64_t vm_bytes;
	uint64_t open_fds;
	uint64_t max_fds;
};

struct ima_fcgi_shm {
	uint64_t requests[IMA_ROUTE_COUNT][IMA_FCGI_STATUS_SLOTS];
	uint64_t bucket[IMA_ROUTE_COUNT][IMA_FCGI_BUCKETS];
	uint64_t sum_ns[IMA_ROUTE_COUNT];
	uint64_t in_flight;
	uint64_t worker_restarts;
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	uint64_t workers_running;
	uint64_t started_unix;
	uint64_t nstages;
	struct ima_fcgi_stage_stat stages[IMA_FCGI_MAX_STAGES];
	struct ima_fcgi_proc proc[IMA_FCGI_PROC_SLOTS];
};

/* Seconds on the monotonic clock: deadlines and ages in every part. */
static inline double ima_fcgi_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Options the supervisor hands to each worker. */
struct ima_fcgi_opts {
	int listen_fd;
	int threads;
	double drain_seconds;  /* SIGTERM: longest wait for in-flight requests */
	int io_timeout;        /* seconds a peer may stall a write of an answer */
	int receive_timeout;   /* seconds a peer has to send a whole request */
	bool tcp;              /* listen_fd is AF_INET: check FCGI_WEB_SERVER_ADDRS */
	bool access_log;       /* one log line per request */
	bool admin_routes;     /* no auth stage: serve POST /v1/cache/invalidate */
	const char *web_server_addrs;
};

/* ---- metrics.c ---- */

/* Maps the shared counters; NULL when mmap fails. */
struct ima_fcgi_shm *ima_fcgi_shm_create(void);
void ima_fcgi_shm_destroy(struct ima_fcgi_shm *shm);
/* Slot for a stage name, adding it (supervisor only, before forking). */
int ima_fcgi_shm_stage_slot(struct ima_fcgi_shm *shm, const char *name);
/* Counts one request: route, HTTP status, duration and stage timings
 * (stage_slot[i] < 0 or seconds[i] < 0: not counted). */
void ima_fcgi_shm_record(struct ima_fcgi_shm *shm, enum ima_fcgi_route route,
			 int status, double seconds, const int *stage_slot,
			 const double *stage_seconds, size_t nstages);
/* Refreshes the calling process's figures in proc[slot] from /proc/self
 * (which ProtectProc=invisible and ProcSubset=pid leave readable). */
void ima_fcgi_proc_update(struct ima_fcgi_shm *shm, int slot);
/* The process of proc[slot] is gone: its series disappear. */
void ima_fcgi_proc_clear(struct ima_fcgi_shm *shm, int slot);
/* Prometheus text exposition of every counter. */
void ima_fcgi_shm_render(const struct ima_fcgi_shm *shm, struct ima_buf *out);
const char *ima_fcgi_route_label(enum ima_fcgi_route route);

/* ---- worker.c ---- */

/*
 * Runs one worker process until SIGTERM (or SIGINT) and returns its exit
 * status: runs the worker_init hooks, starts a receiving thread and
 * opts->threads handler threads, writes one byte to ready_fd once they
 * run, and drains in-flight requests for at most opts->drain_seconds when
 * told to stop. slot (1..) is its place among the workers (process
 * metrics). The engine is the copy inherited from the supervisor; the
 * worker frees it.
 */
int ima_fcgi_worker_run(struct ima_engine *eng, struct ima_fcgi_shm *shm,
			const struct ima_fcgi_opts *opts, int ready_fd, int slot);

#endif /* IMA_FCGI_H */
