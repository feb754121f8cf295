/* newminor - built against a newer minor ABI than the host's: refused. */
#include "ima_plugin.h"

static enum ima_rc newminor_process(struct ima_req *req, void *state)
{
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_newminor = {
	.abi_major = IMA_ABI_MAJOR, .abi_minor = IMA_ABI_MINOR + 1,
	.struct_size = sizeof(struct ima_plugin),
	.name = "newminor", .version = "0", .description = "newer minor",
	.process = newminor_process,
};
