/*
 * crash - test plugin for the fault scripts: a stage that dies in its
 * process hook when the request's X-Request-Id starts with "crash-", and
 * does nothing otherwise. Stands for a plugin bug that kills the worker in
 * the middle of a request: a stray pointer (SIGSEGV), or with
 * "crash-abort-" a failed assertion (abort(), SIGABRT), or with
 * "crash-stack-" runaway recursion (a stack overflow, SIGSEGV on a stack
 * that has no room left). Never in a real pipeline.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ima_plugin.h"

/* The end the recursion never reaches (the compiler cannot know). */
static volatile int crash_never = -1;

/* Recurses until the stack runs out; the volatile array keeps every
 * frame (and the call) from being optimised away. */
static int crash_deeper(int n)
{
	volatile char frame[4096];

	if (n == crash_never)
		return 0;
	frame[n % sizeof(frame)] = (char)n;
	return crash_deeper(n + 1) + frame[(n + 1) % sizeof(frame)];
}

static enum ima_rc crash_process(struct ima_req *req, void *state)
{
	const char *id = ima_req_meta(req, "request_id");
	/* A real fault, as a stray pointer would make it. Not NULL itself:
	 * UBSan would report that and exit, and no signal would come. */
	volatile int *volatile p = (volatile int *)(uintptr_t)64;

	(void)state;
	if (id == NULL || strncmp(id, "crash-", 6) != 0)
		return IMA_CONTINUE;
	if (strncmp(id, "crash-abort-", 12) == 0)
		abort();
	if (strncmp(id, "crash-stack-", 12) == 0)
		return crash_deeper(0) ? IMA_CONTINUE : IMA_CONTINUE;
	*p = 1;
	raise(SIGSEGV); /* should the write not fault */
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_crash = {
	IMA_PLUGIN_HEADER,
	.name = "crash", .version = "0",
	.description = "test: dies (SIGSEGV, abort, stack overflow) on requests whose X-Request-Id starts with crash-",
	.process = crash_process,
};
