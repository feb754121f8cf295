/* authnopre - an auth stage (IMA_PLUGIN_AUTH) without a prefetch hook:
 * refused by the loader, since nothing could authenticate with it. */
#include "ima_plugin.h"

static enum ima_rc authnopre_process(struct ima_req *req, void *state)
{
	(void)req;
	(void)state;
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_authnopre = {
	IMA_PLUGIN_HEADER,
	.name = "authnopre", .version = "0", .description = "auth stage without prefetch",
	.process = authnopre_process,
	.flags = IMA_PLUGIN_AUTH,
};
