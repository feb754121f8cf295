/* abi16 - a plugin built against ABI 1.6, before ima_sbuffer_write: its own
 * buffers grow through msgpack_sbuffer_write, and it still loads. */
#include "ima_plugin.h"

static enum ima_rc abi16_process(struct ima_req *req, void *state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc = ima_pack_cstr(&pk, "abi16");
	if (rc == 0)
		rc = ima_ctx_put_sbuffer(ima_req_ctx(req), "abi16", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? IMA_CONTINUE
		       : ima_req_fail(req, 500, "internal", "", "abi16: out of memory");
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_abi16 = {
	.abi_major = 1, .abi_minor = 6,
	/* 1.7 appended no member: the descriptor is the same size. */
	.struct_size = sizeof(struct ima_plugin),
	.name = "abi16", .version = "0", .description = "ABI 1.6 plugin",
	.process = abi16_process,
};
