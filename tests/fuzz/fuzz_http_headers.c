/*
 * fuzz_http_headers.c - HTTP header values, in and out: Content-Type and
 * Accept as the routes read them, the path and request id, response
 * headers from stages, CONTENT_LENGTH (fcgi/routes.c, compiled in here for
 * its static functions), and on the LLM side the status and error body
 * classified, Retry-After (as seconds, what curl hands over) against the
 * backoff, and the header, label, base URL and model list checks of the
 * provider (plugins/llm_openrouter/openrouter_util.c).
 *
 * Input: fields separated by NUL bytes, in this order: Accept,
 * Content-Type, REQUEST_URI, X-Request-Id, a header name, its value,
 * CONTENT_LENGTH, Retry-After, an HTTP status, a model, a base URL, a
 * model list, an error body. Missing fields are empty.
 */
#include "../../fcgi/routes.c"

#include <math.h>

#include "fuzz.h"
#include "openrouter.h"

#define FUZZ_FIELDS 13

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + FUZZ_FIELDS + 1), *f[FUZZ_FIELDS];
	size_t n = 0, at = 0;
	enum ima_format fmt;
	struct fcgi_params p;
	char path[256], why[256];
	size_t clen;
	double retry;
	char *end;
	bool openrouter;
	char *ids[8];
	int nids;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	memset(buf + size, 0, FUZZ_FIELDS + 1);
	for (size_t i = 0; n < FUZZ_FIELDS; i++) {
		if (i >= size) {
			f[n++] = buf + size; /* "" */
			continue;
		}
		if (buf[i] == '\0') {
			f[n++] = buf + at;
			at = i + 1;
		}
	}

	FUZZ_CHECK(fcgi_out_format(f[0]) == IMA_FMT_JSON ||
		   fcgi_out_format(f[0]) == IMA_FMT_MSGPACK);
	if (fcgi_in_format(f[1], &fmt) == 0)
		FUZZ_CHECK(fmt == IMA_FMT_JSON || fmt == IMA_FMT_MSGPACK);
	memset(&p, 0, sizeof(p));
	p.uri = f[2];
	p.script_name = f[3];
	p.path_info = f[2];
	fcgi_path(&p, path, sizeof(path));
	FUZZ_CHECK(strlen(path) < sizeof(path));
	fcgi_route(path);
	p.uri = NULL;
	fcgi_path(&p, path, sizeof(path));
	fcgi_route(path);
	if (fcgi_id_sane(f[3]))
		FUZZ_CHECK(strlen(f[3]) > 0 && strlen(f[3]) <= IMA_FCGI_ID_MAX);
	if (fcgi_header_ok(f[4], f[5]))
		FUZZ_CHECK(strpbrk(f[4], ":\r\n ") == NULL && strpbrk(f[5], "\r\n") == NULL);
	if (ima_fcgi_parse_length(f[6], &clen) == 0)
		FUZZ_CHECK(f[6][0] >= '0' && f[6][0] <= '9');

	/* Retry-After in seconds, as curl reads delay-seconds. */
	retry = strtod(f[7], &end);
	if (end == f[7] || !isfinite(retry))
		retry = -1;
	for (int r = 1; r <= 12; r++) {
		int64_t ms = openrouter_backoff_ms(500, 30000, r, retry,
						   (uint64_t)size * 0x9e3779b97f4a7c15ULL);

		FUZZ_CHECK(ms >= 0);
	}
	openrouter_classify_status(strtol(f[8], NULL, 10), f[12], f[9]);
	openrouter_header_safe(f[5]);
	openrouter_label_safe(f[9]);
	if (openrouter_base_url_check(f[10], &openrouter, why, sizeof(why)) != 0)
		FUZZ_CHECK(strlen(why) < sizeof(why));
	nids = openrouter_split_models(f[11], ids, 8);
	for (int i = 0; i < nids; i++) {
		FUZZ_CHECK(ids[i] != NULL && ids[i][0] != '\0');
		ima_free(ids[i]);
	}
	free(buf);
	return 0;
}
