/*
 * authsim - a test auth stage (ABI 1.5, IMA_PLUGIN_AUTH): its prefetch hook
 * writes _auth {tenant, user, scopes, method} from its options, refuses
 * with 401 (refuse = true), or lets the request on anonymous (user = "").
 * It counts its prefetch calls in authsim_prefetch_total{stage="..."}, so a
 * test can tell how often the core offered it a request.
 */
#include <stdio.h>
#include <string.h>

#include "ima_plugin.h"

struct authsim_state {
	char name[64];
	char user[64];
	char scopes[256];
	int refuse;
};

static const struct ima_option authsim_options[] = {
	{ "user", IMA_OPT_STRING, "", "user of the identity (\"\": anonymous)", 0 },
	{ "scopes", IMA_OPT_STRING, "", "scopes of the identity, space-separated", 0 },
	{ "refuse", IMA_OPT_BOOL, "false", "refuse every request with 401", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int authsim_init(const struct ima_conf *conf, void **state, struct ima_error *err)
{
	struct authsim_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	snprintf(st->name, sizeof(st->name), "%s", ima_conf_stage_name(conf));
	snprintf(st->user, sizeof(st->user), "%s", ima_conf_string(conf, "user"));
	snprintf(st->scopes, sizeof(st->scopes), "%s", ima_conf_string(conf, "scopes"));
	st->refuse = ima_conf_bool(conf, "refuse");
	*state = st;
	return 0;
}

static enum ima_rc authsim_prefetch(struct ima_req *req, void *state, const char *body,
				    size_t len, int in_format)
{
	struct authsim_state *st = state;
	char metric[128];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 0;
	int rc;

	(void)body;
	(void)len;
	(void)in_format;
	snprintf(metric, sizeof(metric), "authsim_prefetch_total{stage=\"%s\"}", st->name);
	ima_metric_add(metric, 1);
	if (st->refuse) {
		ima_req_add_header(req, "WWW-Authenticate", "Sim error=\"refused\"");
		return ima_req_fail(req, 401, "refused", "authorization", "authsim refuses");
	}
	if (st->user[0] == '\0' || ima_ctx_get(ima_req_ctx(req), "_auth") != NULL)
		return IMA_CONTINUE;
	for (const char *p = st->scopes; *p; p++)
		n += *p != ' ' && (p == st->scopes || p[-1] == ' ');
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	ima_pack_cstr(&pk, "tenant");
	ima_pack_cstr(&pk, "test");
	ima_pack_cstr(&pk, "user");
	ima_pack_cstr(&pk, st->user);
	ima_pack_cstr(&pk, "scopes");
	msgpack_pack_array(&pk, n);
	for (const char *p = st->scopes; *p;) {
		size_t k = strcspn(p, " ");

		if (k > 0)
			ima_pack_strn(&pk, p, k);
		p += k + (p[k] == ' ');
	}
	ima_pack_cstr(&pk, "method");
	ima_pack_cstr(&pk, "sim");
	rc = ima_ctx_put_sbuffer(ima_req_ctx(req), "_auth", &sb);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? IMA_CONTINUE : ima_req_fail(req, 500, "internal", "", "out of memory");
}

static enum ima_rc authsim_process(struct ima_req *req, void *state)
{
	(void)req;
	(void)state;
	return IMA_CONTINUE;
}

static void authsim_fini(void *state)
{
	ima_free(state);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_authsim = {
	IMA_PLUGIN_HEADER,
	.name = "authsim",
	.version = "1",
	.description = "test auth stage",
	.options = authsim_options,
	.init = authsim_init,
	.process = authsim_process,
	.fini = authsim_fini,
	.prefetch = authsim_prefetch,
	.flags = IMA_PLUGIN_AUTH,
	.challenge = "Bearer realm=\"sim\"",
};
