/*
 * openrouter_util.c - the llm_openrouter provider's pure parts: keys, retry
 * policy, configuration checks, the request body and the response. Nothing
 * here touches a request or the network, so the unit tests run it as is.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "openrouter.h"

/* Deeper responses are refused before jansson sees them: its free and
 * dump recurse without a limit (see PITFALLS). A chat completion is about
 * five levels deep. */
#define OPENROUTER_MAX_DEPTH 64

static char *openrouter_strndup(const char *s, size_t n)
{
	char *d = ima_malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* ---- API keys ----------------------------------------------------------- */

static char *openrouter_key_dup(const char *v)
{
	size_t n;
	char *k;

	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	/* A key pasted from a file often ends in a newline. */
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\n' ||
			 v[n - 1] == '\r'))
		n--;
	k = ima_malloc(n + 1);
	if (k != NULL) {
		memcpy(k, v, n);
		k[n] = '\0';
	}
	return k;
}

int openrouter_keys_load(struct openrouter_keys *keys, const char *env_name)
{
	memset(keys, 0, sizeof(*keys));
	for (int i = 1; i <= OPENROUTER_MAX_KEYS; i++) {
		char name[160];
		const char *v;
		char *k;

		if (i == 1)
			snprintf(name, sizeof(name), "%s", env_name);
		else
			snprintf(name, sizeof(name), "%s_%d", env_name, i);
		v = getenv(name);
		if (v == NULL || v[0] == '\0')
			continue;
		k = openrouter_key_dup(v);
		if (k == NULL)
			return -1;
		/* A control character would end the Authorization header and
		 * start another one. The value itself is never logged. */
		if (k[0] == '\0' || !openrouter_header_safe(k) || strchr(k, ' ') != NULL) {
			ima_log(IMA_LOG_WARN, "llm_openrouter: %s holds no usable key "
				"(empty, or spaces or control characters): ignored", name);
			ima_free(k);
			continue;
		}
		keys->key[keys->count] = k;
		atomic_init(&keys->aside_until_ms[keys->count], 0);
		keys->count++;
	}
	return 0;
}

void openrouter_keys_free(struct openrouter_keys *keys)
{
	for (size_t i = 0; i < keys->count; i++) {
		if (keys->key[i] != NULL) {
			/* volatile: the wipe must not be optimised away. */
			volatile char *p = keys->key[i];

			while (*p)
				*p++ = '\0';
			ima_free(keys->key[i]);
			keys->key[i] = NULL;
		}
	}
	keys->count = 0;
}

int openrouter_keys_pick(struct openrouter_keys *keys, int64_t now_ms,
			 uint32_t skip)
{
	for (size_t i = 0; i < keys->count; i++) {
		if (skip & (1u << i))
			continue;
		if (atomic_load_explicit(&keys->aside_until_ms[i], memory_order_relaxed) > now_ms)
			continue;
		return (int)i;
	}
	return -1;
}

void openrouter_keys_set_aside(struct openrouter_keys *keys, size_t i,
			       int64_t now_ms, int64_t cooldown_ms)
{
	if (i < keys->count)
		atomic_store_explicit(&keys->aside_until_ms[i], now_ms + cooldown_ms,
				      memory_order_relaxed);
}

size_t openrouter_keys_aside(struct openrouter_keys *keys, int64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; i < keys->count; i++)
		n += atomic_load_explicit(&keys->aside_until_ms[i], memory_order_relaxed) > now_ms;
	return n;
}

/* ---- the retry policy --------------------------------------------------- */

static bool openrouter_names_model(const char *body, const char *model)
{
	if (body == NULL)
		return false;
	if (model != NULL && model[0] != '\0' && strstr(body, model) != NULL)
		return true;
	return strstr(body, "model_not_found") != NULL ||
	       strstr(body, "invalid_model") != NULL;
}

enum openrouter_next openrouter_classify_status(long status, const char *body,
						const char *model)
{
	if (status >= 200 && status < 300)
		return OPENROUTER_DONE;
	switch (status) {
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return OPENROUTER_RETRY;
	case 401:
	case 402:
	case 403:
		return OPENROUTER_NEXT_KEY;
	case 400:
	case 404:
		return openrouter_names_model(body, model) ? OPENROUTER_NEXT_MODEL
							   : OPENROUTER_FAIL;
	default:
		return OPENROUTER_FAIL;
	}
}

int64_t openrouter_backoff_ms(int64_t base_ms, int64_t max_ms, int retry,
			      double retry_after, uint64_t rnd)
{
	int64_t ceiling = base_ms > 0 ? base_ms : 0, delay;

	if (max_ms < 0)
		max_ms = 0;
	for (int i = 1; i < retry && ceiling < max_ms; i++)
		ceiling = ceiling > INT64_MAX / 2 ? max_ms : ceiling * 2;
	if (ceiling > max_ms)
		ceiling = max_ms;
	/* Full jitter: callers that failed together spread out. */
	delay = (int64_t)(rnd % (uint64_t)(ceiling + 1));
	if (retry_after >= 0 && isfinite(retry_after)) {
		double asked = ceil(retry_after * 1000.0);

		if (asked > 9e15)
			asked = 9e15;
		if ((int64_t)asked > delay)
			delay = (int64_t)asked;
	}
	return delay;
}

static _Atomic uint64_t openrouter_random_state = 0x9e3779b97f4a7c15ULL;

void openrouter_random_seed(uint64_t seed)
{
	atomic_store(&openrouter_random_state, seed);
}

uint64_t openrouter_random(void)
{
	uint64_t z = atomic_fetch_add(&openrouter_random_state, 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- configuration ------------------------------------------------------ */

bool openrouter_header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

bool openrouter_label_safe(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

int openrouter_base_url_check(const char *url, bool *openrouter, char *why,
			      size_t why_size)
{
	const char *host, *end, *colon;
	size_t n;

	*openrouter = false;
	if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else {
		snprintf(why, why_size, "must start with http:// or https://");
		return -1;
	}
	for (const char *p = url; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) {
			snprintf(why, why_size, "holds a space or a control character");
			return -1;
		}
		if (*p == '?' || *p == '#') {
			snprintf(why, why_size, "must not have a query or a fragment");
			return -1;
		}
	}
	end = host + strcspn(host, "/");
	/* Credentials in the URL would show wherever the URL is shown. */
	if (memchr(host, '@', (size_t)(end - host)) != NULL) {
		snprintf(why, why_size, "must not hold credentials (the key comes from the environment)");
		return -1;
	}
	colon = memchr(host, ':', (size_t)(end - host));
	n = (size_t)((colon ? colon : end) - host);
	if (n == 0) {
		snprintf(why, why_size, "has no host");
		return -1;
	}
	if ((n == 13 && strncasecmp(host, "openrouter.ai", 13) == 0) ||
	    (n > 14 && strncasecmp(host + n - 14, ".openrouter.ai", 14) == 0))
		*openrouter = true;
	return 0;
}

int openrouter_split_models(const char *list, char **ids, size_t max)
{
	size_t n = 0;
	const char *p = list;

	while (*p) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *a = p, *b = end;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a) {
			if (n == max)
				goto fail;
			ids[n] = openrouter_strndup(a, (size_t)(b - a));
			if (ids[n] == NULL)
				goto fail;
			n++;
		}
		p = comma ? comma + 1 : end;
	}
	return (int)n;
fail:
	while (n > 0)
		ima_free(ids[--n]);
	return -1;
}

/* ---- the request body --------------------------------------------------- */

/* OpenAI wants ^[a-zA-Z0-9_-]{1,64}$ as the schema's name. */
static void openrouter_write_schema_name(struct ima_buf *out, const char *name)
{
	char clean[65];
	size_t n = 0;

	for (; name != NULL && *name && n < 64; name++)
		clean[n++] = isalnum((unsigned char)*name) || *name == '-' ? *name : '_';
	if (n == 0)
		n = (size_t)snprintf(clean, sizeof(clean), "answer");
	ima_json_write_str(out, clean, n);
}

void openrouter_body_write(struct ima_buf *out, const struct openrouter_body *body)
{
	double t = body->temperature;

	IMA_BUF_LIT(out, "{\"model\":");
	ima_json_write_str(out, body->model, strlen(body->model));
	if (body->models != NULL && body->nmodels > 0) {
		IMA_BUF_LIT(out, ",\"models\":[");
		for (size_t i = 0; i < body->nmodels; i++) {
			if (i)
				IMA_BUF_LIT(out, ",");
			ima_json_write_str(out, body->models[i], strlen(body->models[i]));
		}
		IMA_BUF_LIT(out, "]");
	}
	IMA_BUF_LIT(out, ",\"messages\":");
	ima_json_write(out, body->messages, -1);
	if (!isfinite(t) || t < 0)
		t = 0;
	IMA_BUF_LIT(out, ",\"temperature\":");
	ima_buf_append_fixed(out, t, 3);
	if (body->max_tokens > 0) {
		IMA_BUF_LIT(out, ",\"max_tokens\":");
		ima_buf_append_uint(out, (uint64_t)body->max_tokens);
	}
	if (body->schema != NULL) {
		IMA_BUF_LIT(out, ",\"response_format\":{\"type\":\"json_schema\","
				 "\"json_schema\":{\"name\":");
		openrouter_write_schema_name(out, body->schema_name);
		IMA_BUF_LIT(out, ",\"strict\":true,\"schema\":");
		ima_json_write(out, body->schema, -1);
		IMA_BUF_LIT(out, "}}");
	}
	IMA_BUF_LIT(out, "}");
}

/* ---- the response ------------------------------------------------------- */

static bool openrouter_depth_ok(const char *s, size_t len, int max)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

static char *openrouter_json_strdup(const json_t *v, size_t *len)
{
	if (!json_is_string(v))
		return NULL;
	if (len != NULL)
		*len = json_string_length(v);
	return openrouter_strndup(json_string_value(v), json_string_length(v));
}

static int64_t openrouter_json_count(const json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return (int64_t)json_integer_value(v);
	if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 9e15)
		return (int64_t)json_real_value(v);
	return -1;
}

/* The text of a content that is a list of parts ([{"type": "text",
 * "text": ...}]), as some endpoints send it. */
static char *openrouter_parts_text(const json_t *parts, size_t *len)
{
	struct ima_buf b = { 0 };
	size_t i;
	json_t *part;

	ima_buf_append(&b, "", 0);
	json_array_foreach(parts, i, part) {
		json_t *text = json_object_get(part, "text");

		if (json_is_string(text))
			ima_buf_append(&b, json_string_value(text), json_string_length(text));
	}
	if (b.failed) {
		ima_buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return b.data;
}

static void openrouter_error_of(const json_t *error, struct openrouter_reply *reply)
{
	const json_t *code = json_object_get(error, "code");
	const json_t *msg = json_object_get(error, "message");

	if (json_is_integer(code))
		reply->error_code = (long)json_integer_value(code);
	snprintf(reply->why, sizeof(reply->why), "error in the response: %s",
		 json_is_string(msg) ? json_string_value(msg) : "no message");
}

enum openrouter_parse openrouter_reply_parse(const char *body, size_t len,
					     struct openrouter_reply *reply)
{
	json_error_t jerr;
	json_t *root, *choice, *message, *content, *usage;
	enum openrouter_parse rc = OPENROUTER_PARSE_OK;

	memset(reply, 0, sizeof(*reply));
	reply->prompt_tokens = -1;
	reply->completion_tokens = -1;
	reply->cost = -1;
	if (!openrouter_depth_ok(body, len, OPENROUTER_MAX_DEPTH)) {
		snprintf(reply->why, sizeof(reply->why), "response nested deeper than %d levels",
			 OPENROUTER_MAX_DEPTH);
		return OPENROUTER_PARSE_MALFORMED;
	}
	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL) {
		snprintf(reply->why, sizeof(reply->why),
			 "response is not JSON (malformed or truncated): %.80s at byte %d",
			 jerr.text, jerr.position);
		return OPENROUTER_PARSE_MALFORMED;
	}
	if (!json_is_object(root)) {
		snprintf(reply->why, sizeof(reply->why), "response is not a JSON object");
		json_decref(root);
		return OPENROUTER_PARSE_MALFORMED;
	}
	reply->model = openrouter_json_strdup(json_object_get(root, "model"), NULL);
	usage = json_object_get(root, "usage");
	if (json_is_object(usage)) {
		const json_t *cost = json_object_get(usage, "cost");

		reply->prompt_tokens = openrouter_json_count(json_object_get(usage, "prompt_tokens"));
		reply->completion_tokens =
			openrouter_json_count(json_object_get(usage, "completion_tokens"));
		if (json_is_number(cost) && json_number_value(cost) >= 0 &&
		    json_number_value(cost) < 1e6)
			reply->cost = json_number_value(cost);
	}
	if (json_is_object(json_object_get(root, "error"))) {
		openrouter_error_of(json_object_get(root, "error"), reply);
		json_decref(root);
		return OPENROUTER_PARSE_ERROR;
	}
	choice = json_array_get(json_object_get(root, "choices"), 0);
	if (json_is_object(json_object_get(choice, "error"))) {
		openrouter_error_of(json_object_get(choice, "error"), reply);
		json_decref(root);
		return OPENROUTER_PARSE_ERROR;
	}
	reply->finish_reason = openrouter_json_strdup(json_object_get(choice, "finish_reason"),
						      NULL);
	message = json_object_get(choice, "message");
	content = json_object_get(message, "content");
	if (json_is_string(content)) {
		reply->content = openrouter_json_strdup(content, &reply->content_len);
	} else if (json_is_array(content)) {
		reply->content = openrouter_parts_text(content, &reply->content_len);
	} else {
		const json_t *refusal = json_object_get(message, "refusal");

		if (json_is_string(refusal))
			snprintf(reply->why, sizeof(reply->why), "the model refused: %s",
				 json_string_value(refusal));
		else if (choice == NULL)
			snprintf(reply->why, sizeof(reply->why), "response has no choices[0]");
		else
			snprintf(reply->why, sizeof(reply->why),
				 "response has no choices[0].message.content");
		rc = OPENROUTER_PARSE_NO_CONTENT;
	}
	if (rc == OPENROUTER_PARSE_OK && reply->content == NULL) {
		snprintf(reply->why, sizeof(reply->why), "out of memory");
		rc = OPENROUTER_PARSE_MALFORMED;
	}
	json_decref(root);
	return rc;
}

void openrouter_reply_free(struct openrouter_reply *reply)
{
	ima_free(reply->content);
	ima_free(reply->finish_reason);
	ima_free(reply->model);
	reply->content = reply->finish_reason = reply->model = NULL;
}

void openrouter_error_message(const char *body, size_t len,
			      const struct openrouter_keys *keys, char *out,
			      size_t size)
{
	json_t *root = NULL, *msg;

	if (size == 0)
		return;
	out[0] = '\0';
	if (len > 0 && openrouter_depth_ok(body, len, OPENROUTER_MAX_DEPTH))
		root = json_loadb(body, len, 0, NULL);
	msg = json_object_get(json_object_get(root, "error"), "message");
	if (json_is_string(msg))
		snprintf(out, size, "%s", json_string_value(msg));
	json_decref(root);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = ' ';
	openrouter_scrub(out, keys);
}

static bool openrouter_key_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '*';
}

void openrouter_scrub(char *s, const struct openrouter_keys *keys)
{
	static const char mark[] = "[key]";
	size_t n = strlen(s), w = 0;
	char *out = ima_malloc(n + 1);

	if (out == NULL) {
		/* Without memory nothing is shown rather than a key. */
		s[0] = '\0';
		return;
	}
	for (size_t r = 0; r < n;) {
		size_t skip = 0;

		for (size_t k = 0; keys != NULL && k < keys->count && skip == 0; k++) {
			size_t kl = strlen(keys->key[k]);

			if (kl > 0 && kl <= n - r && memcmp(s + r, keys->key[k], kl) == 0)
				skip = kl;
		}
		if (skip == 0 && n - r >= 3 && memcmp(s + r, "sk-", 3) == 0) {
			skip = 3;
			while (r + skip < n && openrouter_key_char(s[r + skip]))
				skip++;
		}
		if (skip > 0) {
			/* The mark never makes the text longer than it was. */
			size_t m = sizeof(mark) - 1 < skip ? sizeof(mark) - 1 : skip;

			memcpy(out + w, mark, m);
			w += m;
			r += skip;
		} else {
			out[w++] = s[r++];
		}
	}
	out[w] = '\0';
	memcpy(s, out, w + 1);
	ima_free(out);
}
