/*
 * identity - test plugin standing where an auth stage will: copies
 * "test_tenant" and "test_user" from the request body into _auth, so the
 * cache's per-user keys and invalidation can be tested before auth exists.
 * Never installed.
 */
#include <string.h>

#include "ima_plugin.h"

static enum ima_rc identity_process(struct ima_req *req, void *state)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const char *tenant = "", *user = "";
	size_t tl = 0, ul = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	ima_ctx_get_str(ctx, "_request.test_tenant", &tenant, &tl);
	ima_ctx_get_str(ctx, "_request.test_user", &user, &ul);
	if (ul == 0)
		return IMA_CONTINUE;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	ima_pack_cstr(&pk, "tenant");
	ima_pack_strn(&pk, tenant, tl);
	ima_pack_cstr(&pk, "user");
	ima_pack_strn(&pk, user, ul);
	rc = ima_ctx_put_sbuffer(ctx, "_auth", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? IMA_CONTINUE : ima_req_fail(req, 500, "internal", "", "out of memory");
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_identity = {
	IMA_PLUGIN_HEADER,
	.name = "identity", .version = "0", .description = "test identity from the body",
	.process = identity_process,
};
