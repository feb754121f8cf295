/*
 * openrouter.h - the parts of the llm_openrouter provider that need no
 * request and no network: the key set, the retry policy, the request body
 * and the reading of a chat completion. tests/check_openrouter.c compiles
 * openrouter_util.c directly and tests these one by one.
 */
#ifndef OPENROUTER_H
#define OPENROUTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ima_core.h"

#define OPENROUTER_MAX_KEYS 16

/* ---- API keys ----------------------------------------------------------- */

/*
 * The API keys read from the environment at init: NAME, NAME_2 ... NAME_16
 * (unset and empty ones skipped, order kept). A key answered with 401, 402
 * or 403 is set aside until aside_until_ms; the set is shared by every
 * request of the process, hence atomics. The key text is never copied
 * anywhere but into the Authorization header.
 */
struct openrouter_keys {
	char *key[OPENROUTER_MAX_KEYS];
	size_t count;
	_Atomic int64_t aside_until_ms[OPENROUTER_MAX_KEYS];
};

/* Fills keys from the environment (getenv). Returns 0, or -1 when memory
 * ran out (keys then holds what was read; free it). */
int openrouter_keys_load(struct openrouter_keys *keys, const char *env_name);
/* Wipes and frees the key text. */
void openrouter_keys_free(struct openrouter_keys *keys);
/*
 * The first key, in order, that is not set aside at now_ms and whose bit is
 * not in skip (keys already refused within this call). Returns its index,
 * or -1 when there is none.
 */
int openrouter_keys_pick(struct openrouter_keys *keys, int64_t now_ms,
			 uint32_t skip);
/* Sets key i aside until now_ms + cooldown_ms. */
void openrouter_keys_set_aside(struct openrouter_keys *keys, size_t i,
			       int64_t now_ms, int64_t cooldown_ms);
/* How many keys are set aside at now_ms. */
size_t openrouter_keys_aside(struct openrouter_keys *keys, int64_t now_ms);

/* ---- the retry policy --------------------------------------------------- */

/* What an attempt's outcome asks for. */
enum openrouter_next {
	OPENROUTER_DONE = 0,      /* an answer: end the call */
	OPENROUTER_RETRY = 1,     /* again, after a backoff (same model) */
	OPENROUTER_NEXT_KEY = 2,  /* the key was refused: another key, now */
	OPENROUTER_NEXT_MODEL = 3, /* this model will not answer */
	OPENROUTER_FAIL = 4       /* nothing will help: end the call */
};

/*
 * What an HTTP status asks for: 2xx DONE; 408, 429, 500, 502, 503, 504
 * RETRY; 401, 402, 403 NEXT_KEY; 400 and 404 NEXT_MODEL when the error
 * body names the model (its id, or an error code about a model), else
 * FAIL; anything else FAIL.
 */
enum openrouter_next openrouter_classify_status(long status, const char *body,
						const char *model);

/*
 * The delay before retry number retry (1 for the first retry): full jitter
 * over an exponential ceiling, a random value in [0, min(max_ms,
 * base_ms * 2^(retry-1))], drawn from rnd. When the server asked for
 * retry_after seconds (>= 0), never less than that.
 */
int64_t openrouter_backoff_ms(int64_t base_ms, int64_t max_ms, int retry,
			      double retry_after, uint64_t rnd);
/* A fresh 64-bit random value (splitmix64 over a shared counter), for the
 * jitter only; openrouter_random_seed() starts the sequence (from init). */
uint64_t openrouter_random(void);
void openrouter_random_seed(uint64_t seed);

/* ---- configuration ------------------------------------------------------ */

/*
 * Checks a base URL: http:// or https://, a host, no whitespace or control
 * characters, no query or fragment. Sets *openrouter when the host is
 * openrouter.ai or one of its subdomains. Returns 0, or -1 with why.
 */
int openrouter_base_url_check(const char *url, bool *openrouter, char *why,
			      size_t why_size);
/* True when s is usable in a header value (no control characters). */
bool openrouter_header_safe(const char *s);
/* True when s is a usable metric label value: [A-Za-z0-9_.-]{1,32}. */
bool openrouter_label_safe(const char *s);

/* A model list from a comma-separated string ("a, b,c"): ids from
 * ima_malloc in ids[0..n), spaces trimmed, empties skipped. Returns n, or -1
 * when memory ran out or there are more than max. */
int openrouter_split_models(const char *list, char **ids, size_t max);

/* ---- the request body --------------------------------------------------- */

struct openrouter_body {
	const char *model;               /* "model" */
	const char *const *models;       /* "models" (server-side fallback), or
					  * NULL */
	size_t nmodels;
	const msgpack_object *messages;
	const msgpack_object *schema;    /* response_format, or NULL */
	const char *schema_name;
	double temperature;
	int max_tokens;
};

/* Appends the chat completions body as JSON to out. */
void openrouter_body_write(struct ima_buf *out, const struct openrouter_body *body);

/* ---- the response ------------------------------------------------------- */

enum openrouter_parse {
	OPENROUTER_PARSE_OK = 0,        /* content found */
	OPENROUTER_PARSE_MALFORMED = 1, /* not JSON, too deep, or truncated */
	OPENROUTER_PARSE_NO_CONTENT = 2, /* JSON, but no message content */
	OPENROUTER_PARSE_ERROR = 3      /* a 200 carrying an "error" object */
};

/* What a chat completion said. Strings are from ima_malloc (free with
 * openrouter_reply_free); numbers are -1 when absent. */
struct openrouter_reply {
	char *content;
	size_t content_len;
	char *finish_reason;
	char *model;
	int64_t prompt_tokens;
	int64_t completion_tokens;
	double cost;        /* usage.cost, or -1 */
	long error_code;    /* the error object's numeric code, or 0 */
	char why[160];      /* what was wrong, for anything but OK */
};

/* Reads body (NUL-terminated, len bytes). Nesting beyond 64 levels is
 * MALFORMED, before jansson sees it. */
enum openrouter_parse openrouter_reply_parse(const char *body, size_t len,
					     struct openrouter_reply *reply);
void openrouter_reply_free(struct openrouter_reply *reply);

/*
 * The message of an error body ({"error": {"message": ...}}), for a failure
 * report: at most size-1 bytes, control characters replaced, and every
 * "sk-..." token and every text of keys replaced by "[key]". "" when the
 * body has none.
 */
void openrouter_error_message(const char *body, size_t len,
			      const struct openrouter_keys *keys, char *out,
			      size_t size);
/* Replaces every occurrence of a key of keys and every "sk-..." token in s
 * (NUL-terminated, edited in place) by "[key]", shortening it. */
void openrouter_scrub(char *s, const struct openrouter_keys *keys);

#endif /* OPENROUTER_H */
