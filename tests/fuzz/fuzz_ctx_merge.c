/*
 * fuzz_ctx_merge.c - ima_ctx_merge, which takes a msgpack map from outside
 * (a cache entry) into a request's context, then every read a later stage
 * or the renderer makes of the merged keys.
 */
#include <msgpack.h>

#include "fuzz.h"
#include "ima_core.h"
#include "ima_plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ima_ctx *ctx = ima_ctx_new();
	struct ima_error err = { 0 };
	static const char base[] = "\xa3" "old"; /* "old" */

	if (ctx == NULL)
		return 0;
	ima_ctx_put(ctx, "_input", base, sizeof(base) - 1);
	ima_ctx_put(ctx, "skills", base, sizeof(base) - 1);
	if (ima_ctx_merge(ctx, data, size, &err) == 0) {
		msgpack_sbuffer sb;
		const char *s;
		size_t slen, jlen = 0;
		double d;
		int64_t n;
		int b;
		char *json;

		for (size_t i = 0; i < ima_ctx_count(ctx); i++) {
			const void *v;
			size_t vlen;
			const char *k = ima_ctx_key(ctx, i, &v, &vlen);

			FUZZ_CHECK(k != NULL && k[0] != '\0');
			FUZZ_CHECK(ima_ctx_value(ctx, i) != NULL);
			ima_ctx_get(ctx, k);
		}
		ima_ctx_get_str(ctx, "skills", &s, &slen);
		ima_ctx_get_double(ctx, "_cache_cost", &d);
		ima_ctx_get_int(ctx, "_cache_version", &n);
		ima_ctx_get_bool(ctx, "degraded", &b);
		ima_ctx_get(ctx, "experience.total_years");
		msgpack_sbuffer_init(&sb);
		FUZZ_CHECK(ima_ctx_encode(ctx, &sb, false) == 0);
		FUZZ_CHECK(ima_msgpack_check(sb.data, sb.size, &err) == 0);
		msgpack_sbuffer_destroy(&sb);
		json = ima_ctx_public_json(ctx, &jlen);
		ima_free(json);
	} else {
		FUZZ_CHECK(err.code[0] != '\0');
	}
	ima_ctx_free(ctx);
	return 0;
}
