/*
 * auth_apikey - who is calling, from the X-API-Key header.
 *
 * Keys are configured as SHA-256 hashes (never the keys themselves), each
 * with a name, a tenant and scopes:
 *
 *     keys = "ci:9f86d0...0f00a08:acme:analyze admin;batch:6b86b2...:beta:analyze";
 *
 * A known key writes _auth {tenant, user (the key's name), scopes, method}
 * for the stages after it (the cache namespaces answers by tenant and user,
 * quota counts by them). An identity set by an earlier auth stage (auth_jwt)
 * is kept: either credential is accepted. A wrong key is always refused; a
 * missing one only when the stage is required.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ima_plugin.h"

/* Longer keys are refused before hashing: no client key is this long. */
#define APIKEY_MAX_LEN 256
#define APIKEY_MAX_SCOPES 16

struct apikey_entry {
	char name[64];
	char tenant[64];
	unsigned char hash[SHA256_DIGEST_LENGTH];
	char scopes[APIKEY_MAX_SCOPES][48];
	int nscopes;
};

struct apikey_state {
	struct apikey_entry *keys;
	size_t nkeys;
	bool required;
};

static const struct ima_option apikey_options[] = {
	{ "keys", IMA_OPT_STRING, "",
	  "name:sha256hex:tenant:scope1 scope2;... (hashes of the keys; ${VAR} works)",
	  IMA_OPT_SECRET },
	{ "required", IMA_OPT_BOOL, "true",
	  "refuse requests without X-API-Key unless an earlier stage set _auth", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct {
	const char *family;
	enum ima_metric_type type;
	const char *help;
} apikey_metrics[] = {
	{ "imaginator_auth_apikey_total", IMA_METRIC_COUNTER,
	  "X-API-Key checks by result (ok, missing, invalid, earlier)" },
};

/* Names and tenants go into cache and quota keys joined by ':': keep them
 * to characters that cannot split a key. */
static bool apikey_name_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len >= max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._@-", s[i]) == NULL)
			return false;
	return true;
}

static int apikey_hex(const char *s, size_t len, unsigned char *out)
{
	if (len != 2 * SHA256_DIGEST_LENGTH)
		return -1;
	for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++) {
			int c = tolower((unsigned char)s[2 * i + k]);

			if (c >= '0' && c <= '9')
				v = v * 16 + (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + (unsigned)(c - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* Trims spaces and tabs at both ends of [*s, *s + *len). */
static void apikey_trim(const char **s, size_t *len)
{
	while (*len > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

/* One "name:hash:tenant:scopes" entry; n is its position, for messages. */
static int apikey_parse_entry(const char *s, size_t len, size_t n,
			      struct apikey_entry *e, struct ima_error *err)
{
	const char *field[4] = { 0 };
	size_t flen[4] = { 0 }, nf = 0;
	const char *p = s, *end = s + len;

	while (nf < 4) {
		const char *colon = nf < 3 ? memchr(p, ':', (size_t)(end - p)) : NULL;

		field[nf] = p;
		flen[nf] = (size_t)((colon ? colon : end) - p);
		apikey_trim(&field[nf], &flen[nf]);
		nf++;
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	if (nf < 3)
		return ima_error_set(err, 500, "config", "keys",
				     "key %zu: want name:sha256hex:tenant[:scopes]", n + 1);
	if (!apikey_name_ok(field[0], flen[0], sizeof(e->name)))
		return ima_error_set(err, 500, "config", "keys",
				     "key %zu: the name must be 1-63 of A-Z a-z 0-9 . _ @ -", n + 1);
	memcpy(e->name, field[0], flen[0]);
	if (apikey_hex(field[1], flen[1], e->hash) != 0)
		return ima_error_set(err, 500, "config", "keys",
				     "key %s: the hash must be 64 hex digits (sha256sum of the key)", e->name);
	if (!apikey_name_ok(field[2], flen[2], sizeof(e->tenant)))
		return ima_error_set(err, 500, "config", "keys",
				     "key %s: the tenant must be 1-63 of A-Z a-z 0-9 . _ @ -", e->name);
	memcpy(e->tenant, field[2], flen[2]);
	for (size_t i = 0; nf == 4 && i < flen[3];) {
		size_t j = i;

		while (j < flen[3] && !isspace((unsigned char)field[3][j]))
			j++;
		if (j > i) {
			if (e->nscopes == APIKEY_MAX_SCOPES || j - i >= sizeof(e->scopes[0]))
				return ima_error_set(err, 500, "config", "keys",
						     "key %s: at most %d scopes of at most 47 bytes",
						     e->name, APIKEY_MAX_SCOPES);
			memcpy(e->scopes[e->nscopes++], field[3] + i, j - i);
		}
		i = j + 1;
	}
	return 0;
}

static int apikey_parse(struct apikey_state *st, const char *spec,
			struct ima_error *err)
{
	size_t cap = 1;

	for (const char *p = spec; *p; p++)
		cap += *p == ';';
	st->keys = ima_calloc(cap, sizeof(*st->keys));
	if (st->keys == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	for (const char *p = spec; *p;) {
		const char *semi = strchr(p, ';'), *s = p;
		size_t len = semi ? (size_t)(semi - p) : strlen(p);

		p = semi ? semi + 1 : p + len;
		apikey_trim(&s, &len);
		if (len == 0)
			continue;
		if (apikey_parse_entry(s, len, st->nkeys, &st->keys[st->nkeys], err) != 0)
			return -1;
		for (size_t i = 0; i < st->nkeys; i++) {
			if (strcmp(st->keys[i].name, st->keys[st->nkeys].name) == 0)
				return ima_error_set(err, 500, "config", "keys",
						     "key %s is named twice", st->keys[i].name);
			if (CRYPTO_memcmp(st->keys[i].hash, st->keys[st->nkeys].hash, SHA256_DIGEST_LENGTH) == 0)
				return ima_error_set(err, 500, "config", "keys",
						     "keys %s and %s have the same hash",
						     st->keys[i].name, st->keys[st->nkeys].name);
		}
		st->nkeys++;
	}
	return 0;
}

static void apikey_fini(void *state)
{
	struct apikey_state *st = state;

	if (st == NULL)
		return;
	ima_free(st->keys);
	ima_free(st);
}

static int apikey_init(const struct ima_conf *conf, void **state,
		       struct ima_error *err)
{
	struct apikey_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->required = ima_conf_bool(conf, "required");
	if (apikey_parse(st, ima_conf_string(conf, "keys"), err) != 0) {
		apikey_fini(st);
		return -1;
	}
	for (size_t i = 0; i < sizeof(apikey_metrics) / sizeof(apikey_metrics[0]); i++)
		ima_metric_declare(apikey_metrics[i].family, apikey_metrics[i].type,
				   apikey_metrics[i].help);
	if (st->nkeys == 0)
		ima_log(IMA_LOG_WARN, "stage %s: no API keys configured: every key is refused",
			ima_conf_stage_name(conf));
	*state = st;
	return 0;
}

/*
 * Every configured hash is compared, with CRYPTO_memcmp, whatever matched:
 * the time taken says nothing about which key, or how much of one, was
 * right.
 */
static const struct apikey_entry *apikey_find(const struct apikey_state *st,
					      const char *key, size_t len)
{
	unsigned char hash[SHA256_DIGEST_LENGTH];
	const struct apikey_entry *found = NULL;

	SHA256((const unsigned char *)key, len, hash);
	for (size_t i = 0; i < st->nkeys; i++)
		if (CRYPTO_memcmp(st->keys[i].hash, hash, sizeof(hash)) == 0)
			found = &st->keys[i];
	return found;
}

static enum ima_rc apikey_refuse(struct ima_req *req, const char *result,
				 const char *code, const char *msg)
{
	char name[96];

	snprintf(name, sizeof(name), "imaginator_auth_apikey_total{result=\"%s\"}", result);
	ima_metric_add(name, 1);
	ima_req_add_header(req, "WWW-Authenticate", "ApiKey realm=\"imaginator\"");
	return ima_req_fail(req, 401, code, "X-API-Key", "%s", msg);
}

static enum ima_rc apikey_run(struct ima_req *req, const struct apikey_state *st)
{
	static char done_marker;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const char *key = ima_req_meta(req, "x_api_key");
	const struct apikey_entry *e;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t len;
	int rc;

	/* Once per request: in prefetch, or in process when prefetch did not
	 * run (a body over the limit is refused before it). */
	if (ima_req_task_get(req, st) != NULL)
		return IMA_CONTINUE;
	if (ima_req_task_set(req, st, &done_marker) != 0)
		return ima_req_fail(req, 500, "internal", "", "too many stages keep request data");
	if (ima_ctx_get(ctx, "_auth") != NULL) {
		ima_metric_add("imaginator_auth_apikey_total{result=\"earlier\"}", 1);
		return IMA_CONTINUE;
	}
	if (key == NULL || key[0] == '\0') {
		if (!st->required)
			return IMA_CONTINUE;
		return apikey_refuse(req, "missing", "missing_credential",
				     "this service needs an X-API-Key header");
	}
	len = strlen(key);
	e = len <= APIKEY_MAX_LEN ? apikey_find(st, key, len) : NULL;
	if (e == NULL)
		return apikey_refuse(req, "invalid", "invalid_api_key",
				     "the X-API-Key is not known (or was revoked)");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	ima_pack_cstr(&pk, "tenant");
	ima_pack_cstr(&pk, e->tenant);
	ima_pack_cstr(&pk, "user");
	ima_pack_cstr(&pk, e->name);
	ima_pack_cstr(&pk, "scopes");
	msgpack_pack_array(&pk, (size_t)e->nscopes);
	for (int i = 0; i < e->nscopes; i++)
		ima_pack_cstr(&pk, e->scopes[i]);
	ima_pack_cstr(&pk, "method");
	ima_pack_cstr(&pk, "api_key");
	rc = ima_ctx_put_sbuffer(ctx, "_auth", &sb);
	msgpack_sbuffer_destroy(&sb);
	if (rc != 0)
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	ima_metric_add("imaginator_auth_apikey_total{result=\"ok\"}", 1);
	return IMA_CONTINUE;
}

/*
 * The check runs before the body is decoded, as auth_jwt's does, so that a
 * cache placed after both can replay a known caller's repeats.
 */
static enum ima_rc apikey_prefetch(struct ima_req *req, void *state, const char *body,
				   size_t len, int in_format)
{
	(void)body;
	(void)len;
	(void)in_format;
	return apikey_run(req, state);
}

static enum ima_rc apikey_process(struct ima_req *req, void *state)
{
	return apikey_run(req, state);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_auth_apikey = {
	IMA_PLUGIN_HEADER,
	.name = "auth_apikey",
	.version = "1.0",
	.description = "identity (tenant, user, scopes) from a hashed X-API-Key",
	.options = apikey_options,
	.init = apikey_init,
	.process = apikey_process,
	.fini = apikey_fini,
	.prefetch = apikey_prefetch,
	/* The admin routes authenticate with the prefetch hook alone. */
	.flags = IMA_PLUGIN_AUTH,
	.challenge = "ApiKey realm=\"imaginator\"",
};
