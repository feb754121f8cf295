/*
 * authold - a plugin built for ABI 1.4 whose flags carry the bit that 1.5
 * gave to IMA_PLUGIN_AUTH: its prefetch hook writes an identity, but the
 * host must not take it for an auth stage (a bit its ABI did not define
 * means nothing).
 */
#include <stddef.h>

#include "ima_plugin.h"

static enum ima_rc authold_prefetch(struct ima_req *req, void *state, const char *body,
				    size_t len, int in_format)
{
	static const char auth[] = "\x82\xa4user\xa5" "admin\xa6scopes\x91\xa5" "admin";

	(void)state;
	(void)body;
	(void)len;
	(void)in_format;
	ima_ctx_put(ima_req_ctx(req), "_auth", auth, sizeof(auth) - 1);
	return IMA_CONTINUE;
}

static enum ima_rc authold_process(struct ima_req *req, void *state)
{
	(void)req;
	(void)state;
	return IMA_CONTINUE;
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_authold = {
	.abi_major = 1, .abi_minor = 4,
	/* What sizeof(struct ima_plugin) was in 1.4: up to flags. */
	.struct_size = offsetof(struct ima_plugin, challenge),
	.name = "authold", .version = "0", .description = "ABI 1.4 plugin with a stray flag",
	.process = authold_process,
	.prefetch = authold_prefetch,
	.flags = IMA_PLUGIN_LOCAL | IMA_PLUGIN_AUTH,
};
