/* halfcall - serves call_get without call_put: the loader must refuse it. */
#include "ima_plugin.h"

static enum ima_rc halfcall_process(struct ima_req *req, void *state)
{
	(void)req;
	(void)state;
	return IMA_CONTINUE;
}

static int halfcall_get(struct ima_req *req, void *state, const msgpack_object *call,
			msgpack_sbuffer *result, double *cost_usd)
{
	(void)req;
	(void)state;
	(void)call;
	(void)result;
	(void)cost_usd;
	return 0;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_halfcall = {
	IMA_PLUGIN_HEADER,
	.name = "halfcall", .version = "0", .description = "call_get without call_put",
	.process = halfcall_process,
	.call_get = halfcall_get,
};
