/*
 * fuzz_request.c - request bodies: the JSON decoder (duplicate keys,
 * UTF-8, depth, errors with line and column) and the msgpack path, then
 * the decoded map into a context and back out as JSON, as a request's
 * body goes. The same bytes are tried as both formats.
 */
#include <msgpack.h>

#include "fuzz.h"
#include "ima_core.h"

static void fuzz_body(const char *body, size_t len, enum ima_format fmt)
{
	static const struct ima_limits limits = { IMA_DEFAULT_MAX_BODY, IMA_DEFAULT_MAX_DEPTH };
	struct ima_error err = { 0 };
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	if (ima_body_decode(body, len, fmt, &limits, &sb, &err) == 0) {
		struct ima_ctx *ctx = ima_ctx_new();
		struct ima_error err2 = { 0 };

		/* What the decoder accepts is one valid map. */
		FUZZ_CHECK(sb.size > 0);
		FUZZ_CHECK(ima_mp_validate(sb.data, sb.size, SIZE_MAX, IMA_DEFAULT_MAX_DEPTH + 1,
				       true, &err2) == 0);
		if (ctx != NULL && ima_ctx_decode(ctx, sb.data, sb.size, &limits, &err2) == 0) {
			size_t jlen = 0;
			char *json = ima_ctx_public_json(ctx, &jlen);

			ima_free(json);
		}
		ima_ctx_free(ctx);
	} else {
		FUZZ_CHECK(err.status >= 400 && err.code[0] != '\0');
	}
	msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_body((const char *)data, size, IMA_FMT_JSON);
	fuzz_body((const char *)data, size, IMA_FMT_MSGPACK);
	return 0;
}
