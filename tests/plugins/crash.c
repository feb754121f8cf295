/*
 * crash - test plugin for the fault scripts: a stage that dies with SIGSEGV
 * in its process hook when the request's X-Request-Id starts with
 * "crash-", and does nothing otherwise. Stands for a plugin bug that kills
 * the worker in the middle of a request. Never in a real pipeline.
 */
#include <signal.h>
#include <string.h>

#include "ima_plugin.h"

static enum ima_rc crash_process(struct ima_req *req, void *state)
{
	const char *id = ima_req_meta(req, "request_id");

	(void)state;
	if (id != NULL && strncmp(id, "crash-", 6) == 0) {
		/* A real fault, as a stray pointer would make it; raise() is
		 * the fallback should the write not fault. */
		volatile int *volatile p = NULL;

		*p = 1;
		raise(SIGSEGV);
	}
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_crash = {
	IMA_PLUGIN_HEADER,
	.name = "crash", .version = "0",
	.description = "test: dies with SIGSEGV on requests whose X-Request-Id starts with crash-",
	.process = crash_process,
};
