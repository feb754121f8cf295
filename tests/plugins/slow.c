/*
 * slow - test plugin that stands for an expensive stage: counts its runs
 * (process-wide) and takes delay_ms, then writes "runs" (the count after its
 * own run) into the answer. Lets tests see how many times the pipeline ran.
 */
#include <stdatomic.h>
#include <time.h>

#include "ima_plugin.h"

static atomic_long slow_runs;

static const struct ima_option slow_options[] = {
	{ "delay_ms", IMA_OPT_INT, "100", "time each run takes", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int slow_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	*state = (void *)(intptr_t)ima_conf_int(conf, "delay_ms");
	return 0;
}

static enum ima_rc slow_process(struct ima_req *req, void *state)
{
	long ms = (long)(intptr_t)state;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	long runs = atomic_fetch_add(&slow_runs, 1) + 1;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	/* The work being measured, not a wait for another thread. */
	nanosleep(&ts, NULL);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_long(&pk, runs);
	rc = ima_ctx_put_sbuffer(ima_req_ctx(req), "runs", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? IMA_CONTINUE : ima_req_fail(req, 500, "internal", "", "out of memory");
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_slow = {
	IMA_PLUGIN_HEADER,
	.name = "slow", .version = "0", .description = "test: a slow stage that counts its runs",
	.options = slow_options,
	.init = slow_init,
	.process = slow_process,
};
