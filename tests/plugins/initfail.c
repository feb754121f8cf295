/* initfail - a plugin whose init always fails with a reason. */
#include "ima_plugin.h"

static int initfail_init(const struct ima_conf *conf, void **state,
			 struct ima_error *err)
{
	return ima_error_set(err, 500, "config", "", "cannot reach the moon");
}

static enum ima_rc initfail_process(struct ima_req *req, void *state)
{
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_initfail = {
	IMA_PLUGIN_HEADER,
	.name = "initfail", .version = "0", .description = "init fails",
	.init = initfail_init,
	.process = initfail_process,
};
