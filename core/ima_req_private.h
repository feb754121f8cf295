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
};

#endif /* IMA_REQ_PRIVATE_H */
