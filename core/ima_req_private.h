/* ima_req_private.h - the request structure, shared by the core's files. */
#ifndef IMA_REQ_PRIVATE_H
#define IMA_REQ_PRIVATE_H

#include "ima_core.h"

struct arena_chunk;

struct req_pair {
	const char *name;
	const char *value;
};

#define IMA_REQ_TASKS 16
#define IMA_REQ_METRICS 32

enum req_metric_kind { REQ_METRIC_ADD = 1, REQ_METRIC_PUT, REQ_METRIC_APPEND };

/* One contribution to run_metrics (ima_req_metric_*). */
struct req_metric {
	char key[64];
	enum req_metric_kind kind;
	double sum;          /* REQ_METRIC_ADD */
	struct ima_buf data; /* PUT: one value; APPEND: the elements */
	size_t count;        /* APPEND: how many elements */
};

struct req_task {
	const void *owner;
	void *value;
};

struct ima_req {
	struct ima_ctx *ctx;
	struct arena_chunk *arena;
	struct req_pair *meta;
	size_t nmeta, capmeta;
	struct req_pair *headers;
	size_t nheaders, capheaders;
	struct ima_error error;
	bool has_error;
	bool degraded;
	char degraded_reason[128];
	double started;
	char *prerendered; /* JSON members from a prefetch hook, or NULL */
	size_t prerendered_len;
	double *stage_seconds; /* one per stage, -1 when not run */
	size_t nstages;
	/* per-request private data of stages: a fixed array, so that readers
	 * on other threads never see it move */
	struct req_task tasks[IMA_REQ_TASKS];
	size_t ntasks;
	/* the stage serving the call cache, set by the engine */
	const struct ima_plugin *call_plugin;
	void *call_state;
	struct req_metric metrics[IMA_REQ_METRICS];
	size_t nmetrics;
	msgpack_zone *metric_zone; /* what ima_req_metric_get() unpacked */
	int ref_year, ref_month, ref_day; /* 0: today */
	/* asynchronous calls (ima_calls.c), set up by the engine */
	struct req_calls *calls;
	long deadline_ms;
	const struct ima_plugin *llm_plugin; /* the pipeline's provider */
	void *llm_state;
	const char *llm_name;
	unsigned llm_flags;
	double *join_seconds; /* one per stage and one at the end; -1: none */
	/* ima_engine_authenticate ran the auth stages' prefetch hooks */
	bool auth_done;
	const struct ima_plugin *auth_by; /* the stage that wrote _auth, or NULL */
};

/* True when the bytes a call cache appended to result since before are
 * one well-formed value and cost a cost (ima_req.c). */
bool ima_req_call_result_ok(const msgpack_sbuffer *result, size_t before, double cost);
/* Packs one contribution's value (ima_req.c). */
int ima_req_metric_pack(const struct req_metric *m, msgpack_packer *pk);

#endif /* IMA_REQ_PRIVATE_H */
