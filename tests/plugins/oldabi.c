/* oldabi - a plugin built against ABI 1.0 (no command hook): still loads. */
#include <stddef.h>

#include "ima_plugin.h"

static enum ima_rc oldabi_process(struct ima_req *req, void *state)
{
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_oldabi = {
	.abi_major = 1, .abi_minor = 0,
	/* What sizeof(struct ima_plugin) was in 1.0: up to fini. */
	.struct_size = offsetof(struct ima_plugin, command),
	.name = "oldabi", .version = "0", .description = "ABI 1.0 plugin",
	.process = oldabi_process,
	/* Past struct_size: the host must not read this. */
	.command = (int (*)(void *, const char *, const msgpack_object *,
			    msgpack_packer *, struct ima_error *))1,
};
