/* badabi - a descriptor from a future major ABI: must be refused unread. */
#include "ima_plugin.h"

static enum ima_rc badabi_process(struct ima_req *req, void *state)
{
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_badabi = {
	.abi_major = IMA_ABI_MAJOR + 1, .abi_minor = 0,
	.struct_size = sizeof(struct ima_plugin),
	.name = "badabi", .version = "0", .description = "wrong major",
	.process = badabi_process,
};
