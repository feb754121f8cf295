/*
 * racy - test plugin for tests/e2e/tsan.test: a stage whose process hook
 * counts its requests in a plain static, unlocked, from every thread at
 * once. A data race on purpose, so the test proves that a race in a
 * worker's threads reaches the report files it reads. Never in a real
 * pipeline.
 */
#include "ima_plugin.h"

static long racy_count;

static enum ima_rc racy_process(struct ima_req *req, void *state)
{
	(void)req;
	(void)state;
	/* Read as well as written, so the compiler keeps the count. */
	return racy_count++ >= 0 ? IMA_CONTINUE : IMA_ERROR;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_racy = {
	IMA_PLUGIN_HEADER,
	.name = "racy", .version = "0",
	.description = "test: counts requests in an unlocked static (a data race on purpose)",
	.process = racy_process,
};
