/*
 * whoami - test plugin that writes the identity an auth stage found into
 * the answer, as the public member "computed_for": "tenant/user" ("" when
 * anonymous). Placed after the cache it becomes part of every answer the
 * cache keeps, so a test can see whose computation an answer is, even when
 * it was replayed or served by another worker process. Never installed.
 */
#include <stdio.h>

#include "ima_plugin.h"

static enum ima_rc whoami_process(struct ima_req *req, void *state)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const char *tenant = "", *user = "";
	size_t tl = 0, ul = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char who[300] = "";
	int n, rc;

	(void)state;
	ima_ctx_get_str(ctx, "_auth.tenant", &tenant, &tl);
	ima_ctx_get_str(ctx, "_auth.user", &user, &ul);
	n = ul == 0 ? 0 : snprintf(who, sizeof(who), "%.*s/%.*s", (int)tl, tenant, (int)ul, user);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ima_pack_strn(&pk, who, n < (int)sizeof(who) ? (size_t)n : sizeof(who) - 1);
	rc = ima_ctx_put_sbuffer(ctx, "computed_for", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? IMA_CONTINUE : ima_req_fail(req, 500, "internal", "", "out of memory");
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_whoami = {
	IMA_PLUGIN_HEADER,
	.name = "whoami",
	.version = "0",
	.description = "test plugin writing the caller's identity into the answer",
	.process = whoami_process,
};
