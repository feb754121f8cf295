/*
 * check_openrouter.c - the llm_openrouter provider's pure parts, without a
 * request or a network: keys from the environment and their set-aside
 * times, the status classification and the backoff, the base URL check
 * and ${VAR:-default} expansion, the request body, the reading of chat
 * completions (good, malformed, truncated, deep, error bodies) and the
 * scrubbing of key text from error messages. Then the plugin in a real
 * pipeline (request, asker, llm_openrouter) against a canned HTTP server on
 * a loopback thread: its metrics and its /health entry.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ima_core.h"
#include "openrouter.h"

/* ---- keys ---- */

START_TEST(keys_from_environment)
{
	struct openrouter_keys keys;

	setenv("ORTEST_KEY", " sk-one\n", 1);
	unsetenv("ORTEST_KEY_2");
	setenv("ORTEST_KEY_3", "sk-three", 1);
	setenv("ORTEST_KEY_4", "", 1);
	setenv("ORTEST_KEY_5", "sk-bad\r\nX-Evil: 1", 1);
	setenv("ORTEST_KEY_16", "sk-sixteen", 1);
	setenv("ORTEST_KEY_17", "sk-seventeen", 1);
	ck_assert_int_eq(openrouter_keys_load(&keys, "ORTEST_KEY"), 0);
	/* Gaps and empties skipped, a header-breaking value refused, the
	 * 17th never read, the newline of a pasted key trimmed. */
	ck_assert_uint_eq(keys.count, 3);
	ck_assert_str_eq(keys.key[0], "sk-one");
	ck_assert_str_eq(keys.key[1], "sk-three");
	ck_assert_str_eq(keys.key[2], "sk-sixteen");
	openrouter_keys_free(&keys);
	ck_assert_uint_eq(keys.count, 0);

	unsetenv("ORTEST_NONE");
	ck_assert_int_eq(openrouter_keys_load(&keys, "ORTEST_NONE"), 0);
	ck_assert_uint_eq(keys.count, 0);
	ck_assert_int_eq(openrouter_keys_pick(&keys, 0, 0), -1);
	openrouter_keys_free(&keys);
}
END_TEST

START_TEST(keys_set_aside_and_back)
{
	struct openrouter_keys keys;

	setenv("ORTEST2", "a", 1);
	setenv("ORTEST2_2", "b", 1);
	setenv("ORTEST2_3", "c", 1);
	ck_assert_int_eq(openrouter_keys_load(&keys, "ORTEST2"), 0);
	ck_assert_uint_eq(keys.count, 3);
	ck_assert_int_eq(openrouter_keys_pick(&keys, 1000, 0), 0);
	openrouter_keys_set_aside(&keys, 0, 1000, 500);
	ck_assert_uint_eq(openrouter_keys_aside(&keys, 1000), 1);
	/* The next key, in order, while the first is aside. */
	ck_assert_int_eq(openrouter_keys_pick(&keys, 1000, 0), 1);
	ck_assert_int_eq(openrouter_keys_pick(&keys, 1499, 0), 1);
	/* A key refused within the call is skipped even with no cooldown. */
	ck_assert_int_eq(openrouter_keys_pick(&keys, 1000, 1u << 1), 2);
	ck_assert_int_eq(openrouter_keys_pick(&keys, 1000, (1u << 1) | (1u << 2)), -1);
	/* The cooldown ends. */
	ck_assert_int_eq(openrouter_keys_pick(&keys, 1500, 0), 0);
	ck_assert_uint_eq(openrouter_keys_aside(&keys, 1500), 0);
	openrouter_keys_set_aside(&keys, 1, 1000, 10000);
	openrouter_keys_set_aside(&keys, 2, 1000, 10000);
	openrouter_keys_set_aside(&keys, 0, 1000, 10000);
	ck_assert_uint_eq(openrouter_keys_aside(&keys, 2000), 3);
	ck_assert_int_eq(openrouter_keys_pick(&keys, 2000, 0), -1);
	/* Out of range: ignored. */
	openrouter_keys_set_aside(&keys, 7, 1000, 10000);
	openrouter_keys_free(&keys);
}
END_TEST

/* ---- retry policy ---- */

START_TEST(classify_statuses)
{
	static const long retry[] = { 408, 429, 500, 502, 503, 504 };
	static const long fail[] = { 405, 409, 413, 422, 501, 505, 302, 0 };

	ck_assert_int_eq(openrouter_classify_status(200, "", "m"), OPENROUTER_DONE);
	for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		ck_assert_int_eq(openrouter_classify_status(retry[i], "", "m"), OPENROUTER_RETRY);
	for (size_t i = 0; i < sizeof(fail) / sizeof(fail[0]); i++)
		ck_assert_int_eq(openrouter_classify_status(fail[i], "", "m"), OPENROUTER_FAIL);
	ck_assert_int_eq(openrouter_classify_status(401, "", "m"), OPENROUTER_NEXT_KEY);
	ck_assert_int_eq(openrouter_classify_status(402, "", "m"), OPENROUTER_NEXT_KEY);
	ck_assert_int_eq(openrouter_classify_status(403, "", "m"), OPENROUTER_NEXT_KEY);
	ck_assert_int_eq(openrouter_classify_status(400,
		"{\"error\":{\"message\":\"vendor/x-1 is not a valid model ID\"}}", "vendor/x-1"),
		OPENROUTER_NEXT_MODEL);
	ck_assert_int_eq(openrouter_classify_status(404,
		"{\"error\":{\"code\":\"model_not_found\"}}", "m"), OPENROUTER_NEXT_MODEL);
	/* A 400 about something else is the request's fault: no fallback. */
	ck_assert_int_eq(openrouter_classify_status(400,
		"{\"error\":{\"message\":\"messages: required\"}}", "vendor/x-1"), OPENROUTER_FAIL);
	ck_assert_int_eq(openrouter_classify_status(404, NULL, "m"), OPENROUTER_FAIL);
}
END_TEST

START_TEST(backoff_full_jitter)
{
	/* The ceiling doubles from the base and stops at the cap. */
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 1, -1, 100), 100);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 2, -1, 200), 200);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 3, -1, 400), 400);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 4, -1, 800), 800);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 5, -1, 1000), 1000);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 30, -1, 1000), 1000);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 200, -1, 1001), 0);
	/* Full jitter: anything from 0 to the ceiling. */
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 1, -1, 0), 0);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 1, -1, 101), 0);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 1, -1, 150), 49);
	for (int i = 0; i < 1000; i++) {
		int64_t d = openrouter_backoff_ms(250, 4000, 1 + i % 8, -1, openrouter_random());

		ck_assert(d >= 0 && d <= 4000);
		if (i % 8 == 0)
			ck_assert(d <= 250);
	}
	/* Retry-After is a floor, also above the cap; fractions round up. */
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 1, 2, 0), 2000);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 1, 0.0004, 0), 1);
	ck_assert_int_eq(openrouter_backoff_ms(100, 1000, 5, 0.2, 999), 999);
	ck_assert_int_eq(openrouter_backoff_ms(0, 0, 1, -1, 12345), 0);
}
END_TEST

START_TEST(random_differs)
{
	uint64_t a = openrouter_random(), b = openrouter_random();

	ck_assert(a != b);
}
END_TEST

/* ---- configuration ---- */

START_TEST(base_url)
{
	char why[160];
	bool orr;

	ck_assert_int_eq(openrouter_base_url_check("https://openrouter.ai/api/v1", &orr, why,
						   sizeof(why)), 0);
	ck_assert(orr);
	ck_assert_int_eq(openrouter_base_url_check("https://eu.OpenRouter.ai:443/api/v1", &orr, why,
						   sizeof(why)), 0);
	ck_assert(orr);
	ck_assert_int_eq(openrouter_base_url_check("http://127.0.0.1:8080/v1", &orr, why,
						   sizeof(why)), 0);
	ck_assert(!orr);
	ck_assert_int_eq(openrouter_base_url_check("https://notopenrouter.ai/v1", &orr, why,
						   sizeof(why)), 0);
	ck_assert(!orr);
	ck_assert_int_eq(openrouter_base_url_check("ftp://x/v1", &orr, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "http://"));
	ck_assert_int_eq(openrouter_base_url_check("openrouter.ai/api", &orr, why, sizeof(why)), -1);
	ck_assert_int_eq(openrouter_base_url_check("https:///v1", &orr, why, sizeof(why)), -1);
	ck_assert_int_eq(openrouter_base_url_check("https://a b/v1", &orr, why, sizeof(why)), -1);
	ck_assert_int_eq(openrouter_base_url_check("https://u:p@host/v1", &orr, why, sizeof(why)), -1);
	ck_assert_int_eq(openrouter_base_url_check("https://host/v1?x=1", &orr, why, sizeof(why)), -1);
	ck_assert_int_eq(openrouter_base_url_check("${UNSET:-x}", &orr, why, sizeof(why)), -1);
}
END_TEST

START_TEST(split_models_and_labels)
{
	char *ids[3];

	ck_assert_int_eq(openrouter_split_models(" a/b , c:free,,d ", ids, 3), 3);
	ck_assert_str_eq(ids[0], "a/b");
	ck_assert_str_eq(ids[1], "c:free");
	ck_assert_str_eq(ids[2], "d");
	for (int i = 0; i < 3; i++)
		ima_free(ids[i]);
	ck_assert_int_eq(openrouter_split_models("", ids, 3), 0);
	ck_assert_int_eq(openrouter_split_models("a,b,c,d", ids, 3), -1);
	ck_assert(openrouter_label_safe("openrouter"));
	ck_assert(openrouter_label_safe("my-llm_2.0"));
	ck_assert(!openrouter_label_safe(""));
	ck_assert(!openrouter_label_safe("a\"b"));
	ck_assert(!openrouter_label_safe("a}b"));
	ck_assert(openrouter_header_safe("Imaginator test"));
	ck_assert(!openrouter_header_safe("a\r\nX-Evil: 1"));
}
END_TEST

/* ---- request body ---- */

static void unpack_json(const char *json, msgpack_sbuffer *sb, msgpack_zone *zone,
			msgpack_object *out)
{
	struct ima_error err;
	size_t off = 0;

	msgpack_sbuffer_init(sb);
	ck_assert_int_eq(ima_json_to_msgpack(json, strlen(json), sb, &err), 0);
	ck_assert_int_eq(msgpack_unpack(sb->data, sb->size, &off, zone, out),
			 MSGPACK_UNPACK_SUCCESS);
}

START_TEST(body_plain_and_schema)
{
	msgpack_sbuffer msb, ssb;
	msgpack_zone zone;
	msgpack_object messages, schema;
	const char *models[] = { "a/one", "b/two" };
	struct openrouter_body body = { 0 };
	struct ima_buf b = { 0 };
	json_t *root, *rf, *schema_a;

	msgpack_zone_init(&zone, 1024);
	unpack_json("[{\"role\":\"system\",\"content\":\"be \\\"terse\\\"\"},"
		    "{\"role\":\"user\",\"content\":\"hi\"}]", &msb, &zone, &messages);
	unpack_json("{\"type\":\"object\",\"required\":[\"a\"],"
		    "\"properties\":{\"a\":{\"type\":\"integer\"}}}", &ssb, &zone, &schema);

	body.model = "a/one";
	body.messages = &messages;
	body.temperature = 0.2;
	body.max_tokens = 300;
	openrouter_body_write(&b, &body);
	ck_assert(!b.failed);
	root = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
	ck_assert_ptr_nonnull(root);
	ck_assert_str_eq(json_string_value(json_object_get(root, "model")), "a/one");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(root, "messages"), 0), "content")), "be \"terse\"");
	ck_assert(json_number_value(json_object_get(root, "temperature")) > 0.199 &&
		  json_number_value(json_object_get(root, "temperature")) < 0.201);
	ck_assert_int_eq(json_integer_value(json_object_get(root, "max_tokens")), 300);
	ck_assert_ptr_null(json_object_get(root, "response_format"));
	ck_assert_ptr_null(json_object_get(root, "models"));
	json_decref(root);
	ima_buf_free(&b);

	memset(&b, 0, sizeof(b));
	body.schema = &schema;
	body.schema_name = "gap analysis/v1!";
	body.models = models;
	body.nmodels = 2;
	body.max_tokens = 0;
	body.temperature = -1;
	openrouter_body_write(&b, &body);
	root = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
	ck_assert_ptr_nonnull(root);
	rf = json_object_get(root, "response_format");
	ck_assert_str_eq(json_string_value(json_object_get(rf, "type")), "json_schema");
	/* The name made fit for ^[a-zA-Z0-9_-]{1,64}$. */
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rf, "json_schema"),
							   "name")), "gap_analysis_v1_");
	ck_assert(json_is_true(json_object_get(json_object_get(rf, "json_schema"), "strict")));
	schema_a = json_object_get(json_object_get(json_object_get(
		json_object_get(rf, "json_schema"), "schema"), "properties"), "a");
	ck_assert_str_eq(json_string_value(json_object_get(schema_a, "type")), "integer");
	ck_assert_int_eq(json_array_size(json_object_get(root, "models")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(root, "models"), 1)),
			 "b/two");
	ck_assert_ptr_null(json_object_get(root, "max_tokens"));
	ck_assert(json_number_value(json_object_get(root, "temperature")) == 0);
	json_decref(root);
	ima_buf_free(&b);

	memset(&b, 0, sizeof(b));
	body.schema_name = NULL;
	openrouter_body_write(&b, &body);
	ck_assert_ptr_nonnull(strstr(b.data, "\"name\":\"answer\""));
	ima_buf_free(&b);

	msgpack_sbuffer_destroy(&msb);
	msgpack_sbuffer_destroy(&ssb);
	msgpack_zone_destroy(&zone);
}
END_TEST

/* ---- response ---- */

static enum openrouter_parse parse_str(const char *body, struct openrouter_reply *r)
{
	return openrouter_reply_parse(body, strlen(body), r);
}

static void error_str(const char *body, const struct openrouter_keys *keys, char *out,
		      size_t size)
{
	openrouter_error_message(body, strlen(body), keys, out, size);
}

START_TEST(reply_good)
{
	static const char body[] =
		"{\"id\":\"x\",\"model\":\"test/model-b\",\"choices\":[{\"index\":0,"
		"\"message\":{\"role\":\"assistant\",\"content\":\"{\\\"a\\\": 1}\"},"
		"\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":12,"
		"\"completion_tokens\":7,\"total_tokens\":19,\"cost\":0.00042}}";
	struct openrouter_reply r;

	ck_assert_int_eq(openrouter_reply_parse(body, strlen(body), &r), OPENROUTER_PARSE_OK);
	ck_assert_str_eq(r.content, "{\"a\": 1}");
	ck_assert_uint_eq(r.content_len, 8);
	ck_assert_str_eq(r.model, "test/model-b");
	ck_assert_str_eq(r.finish_reason, "length");
	ck_assert_int_eq(r.prompt_tokens, 12);
	ck_assert_int_eq(r.completion_tokens, 7);
	ck_assert(r.cost > 0.000419 && r.cost < 0.000421);
	openrouter_reply_free(&r);
}
END_TEST

START_TEST(reply_parts_and_no_usage)
{
	static const char body[] =
		"{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"he\"},"
		"{\"type\":\"text\",\"text\":\"llo\"}]}}]}";
	struct openrouter_reply r;

	ck_assert_int_eq(openrouter_reply_parse(body, strlen(body), &r), OPENROUTER_PARSE_OK);
	ck_assert_str_eq(r.content, "hello");
	ck_assert_ptr_null(r.model);
	ck_assert_ptr_null(r.finish_reason);
	ck_assert_int_eq(r.prompt_tokens, -1);
	ck_assert_int_eq(r.completion_tokens, -1);
	ck_assert(r.cost < 0);
	openrouter_reply_free(&r);
}
END_TEST

START_TEST(reply_bad)
{
	static const char *const malformed[] = {
		"{\"id\": \"chatcmpl-malformed\", \"choices\": [{\"message\": {\"content\": \"x}]}, oops",
		"{\"choices\":[{\"message\":{\"content\":\"cut here",
		"",
		"[1,2]",
		"\"text\"",
	};
	struct openrouter_reply r;
	char deep[400];

	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		ck_assert_int_eq(openrouter_reply_parse(malformed[i], strlen(malformed[i]), &r),
				 OPENROUTER_PARSE_MALFORMED);
		ck_assert(r.why[0] != '\0');
		openrouter_reply_free(&r);
	}
	/* Deep nesting refused before jansson: 100 levels. */
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	deep[200] = '\0';
	ck_assert_int_eq(openrouter_reply_parse(deep, 200, &r), OPENROUTER_PARSE_MALFORMED);
	ck_assert_ptr_nonnull(strstr(r.why, "deeper"));
	openrouter_reply_free(&r);

	ck_assert_int_eq(parse_str("{\"choices\":[]}", &r),
			 OPENROUTER_PARSE_NO_CONTENT);
	openrouter_reply_free(&r);
	ck_assert_int_eq(parse_str(
		"{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"no\"}}],"
		"\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}", &r),
		OPENROUTER_PARSE_NO_CONTENT);
	ck_assert_ptr_nonnull(strstr(r.why, "refused"));
	/* Tokens of an answer without content are still counted. */
	ck_assert_int_eq(r.prompt_tokens, 3);
	openrouter_reply_free(&r);
	ck_assert_int_eq(parse_str(
		"{\"error\":{\"code\":502,\"message\":\"upstream down\"}}", &r),
		OPENROUTER_PARSE_ERROR);
	ck_assert_int_eq(r.error_code, 502);
	ck_assert_ptr_nonnull(strstr(r.why, "upstream down"));
	openrouter_reply_free(&r);
	ck_assert_int_eq(parse_str(
		"{\"choices\":[{\"error\":{\"message\":\"mid-stream\"},\"finish_reason\":\"error\"}]}",
		&r), OPENROUTER_PARSE_ERROR);
	openrouter_reply_free(&r);
}
END_TEST

START_TEST(error_messages_never_show_keys)
{
	struct openrouter_keys keys;
	char out[200];
	char s[128];

	setenv("ORTEST3", "secret-abcdef-123", 1);
	ck_assert_int_eq(openrouter_keys_load(&keys, "ORTEST3"), 0);
	error_str("{\"error\":{\"message\":\"Incorrect API key provided: "
				 "sk-proj-ab***yz9. See\\nhttps://x\"}}", &keys, out,
				 sizeof(out));
	ck_assert_ptr_null(strstr(out, "sk-proj"));
	ck_assert_ptr_null(strchr(out, '\n'));
	ck_assert_ptr_nonnull(strstr(out, "Incorrect API key provided: [key] See"));
	snprintf(s, sizeof(s), "bad key secret-abcdef-123 here; and sk-x");
	openrouter_scrub(s, &keys);
	ck_assert_str_eq(s, "bad key [key] here; and [key");
	error_str("not json", &keys, out, sizeof(out));
	ck_assert_str_eq(out, "");
	error_str("{\"error\":{\"message\":\"rate limited\"}}", NULL, out, 5);
	ck_assert_str_eq(out, "rate");
	openrouter_keys_free(&keys);
}
END_TEST


/* ---- the plugin in a pipeline, against canned answers ---- */

#define MINI_MAX 8

/* A loopback HTTP/1.1 server answering the responses in order, keeping
 * connections open, and noting each request's Authorization header. */
struct mini {
	int fd;
	int port;
	const char *responses[MINI_MAX];
	size_t n;
	size_t served;
	int connections;
	char auth[MINI_MAX][96];
	pthread_t thread;
};

static bool mini_wait(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* One request from c: false at EOF, error or after 5 s of silence. */
static bool mini_read(struct mini *m, int c, char *buf, size_t size)
{
	size_t used = 0, need = 0;
	char *end = NULL;

	for (;;) {
		ssize_t r;

		if (end != NULL && used >= need)
			break;
		if (used + 1 >= size || !mini_wait(c, 5000))
			return false;
		r = read(c, buf + used, size - used - 1);
		if (r <= 0)
			return false;
		used += (size_t)r;
		buf[used] = '\0';
		if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");

			need = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
		}
	}
	{
		const char *a = strcasestr(buf, "\r\nAuthorization: ");
		size_t i = m->served;

		if (a != NULL && i < MINI_MAX)
			snprintf(m->auth[i], sizeof(m->auth[i]), "%.*s",
				 (int)strcspn(a + 17, "\r\n"), a + 17);
	}
	return true;
}

static void *mini_main(void *arg)
{
	struct mini *m = arg;
	static char buf[1 << 16];

	while (m->served < m->n && mini_wait(m->fd, 10000)) {
		int c = accept(m->fd, NULL, NULL);

		if (c < 0)
			break;
		m->connections++;
		while (m->served < m->n && mini_read(m, c, buf, sizeof(buf))) {
			const char *r = m->responses[m->served++];

			if (write(c, r, strlen(r)) < 0)
				break;
		}
		close(c);
	}
	return NULL;
}

static void mini_start(struct mini *m)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(m->fd, 0);
	ck_assert_int_eq(bind(m->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(m->fd, 8), 0);
	ck_assert_int_eq(getsockname(m->fd, (struct sockaddr *)&a, &len), 0);
	m->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&m->thread, NULL, mini_main, m), 0);
}

static void mini_stop(struct mini *m)
{
	pthread_join(m->thread, NULL);
	close(m->fd);
}

/* A whole HTTP response with the body's length. */
static const char *mini_response(int status, const char *extra, const char *body)
{
	static char slots[MINI_MAX][1024];
	static int slot;
	char *r = slots[slot++ % MINI_MAX];

	snprintf(r, sizeof(slots[0]),
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
		 status, strlen(body), extra, body);
	return r;
}

#define MINI_OK "{\"model\":\"m/a\",\"choices\":[{\"message\":{\"content\":\"hi\"}," \
		"\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}"

static struct ima_engine *engine_for(const struct mini *m, const char *provider,
				     const char *models)
{
	char conf[2048], path[256];
	struct ima_error err = { 0 };
	struct ima_engine *eng;
	FILE *f;

	snprintf(path, sizeof(path), "%s/ortest-%d.conf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 (int)getpid());
	snprintf(conf, sizeof(conf),
		 "pipeline = (\n"
		 " { name = \"request\"; plugin = \"request\"; },\n"
		 " { name = \"asker\"; plugin = \"asker\"; options = { models = \"%s\"; }; },\n"
		 " { name = \"llm\"; plugin = \"llm_openrouter\"; options = {\n"
		 "   base_url = \"http://127.0.0.1:%d/v1\"; provider_name = \"%s\";\n"
		 "   key_env = \"ORTEST_ENGINE_KEY\"; backoff_base_ms = 1; backoff_max_ms = 2; }; }\n"
		 ");\n", models, m->port, provider);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(conf, f);
	fclose(f);
	eng = ima_engine_load(path, NULL, &err);
	unlink(path);
	ck_assert_msg(eng != NULL, "%s", err.message);
	return eng;
}

static char *run_one(struct ima_engine *eng)
{
	static const char body[] = "{\"resume_text\": \"Data engineer, Python.\", "
				   "\"job_ad\": \"Data engineer wanted: Python, Kafka.\"}";
	struct ima_req *req = ima_req_new();
	struct ima_buf out = { 0 };

	ck_assert_ptr_nonnull(req);
	ck_assert_int_eq(ima_engine_handle(eng, req, body, sizeof(body) - 1, IMA_FMT_JSON), 200);
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	ima_req_free(req);
	return out.data;
}

START_TEST(engine_keys_retries_health)
{
	struct mini m = { .n = 4 };
	struct ima_engine *eng;
	struct ima_buf health = { 0 };
	char *answer;

	m.responses[0] = mini_response(401, "", "{\"error\":{\"message\":\"Incorrect API key "
						"provided: sk-ortest-one\"}}");
	m.responses[1] = mini_response(503, "", "{\"error\":{\"message\":\"overloaded\"}}");
	m.responses[2] = mini_response(200, "", MINI_OK);
	m.responses[3] = mini_response(200, "", MINI_OK);
	setenv("ORTEST_ENGINE_KEY", "sk-ortest-one", 1);
	setenv("ORTEST_ENGINE_KEY_2", "sk-ortest-two", 1);
	mini_start(&m);
	eng = engine_for(&m, "ortest", "m/a");

	ck_assert_int_eq(ima_engine_health(eng, &health), 0);
	ck_assert_ptr_nonnull(strstr(health.data, "\"2 API keys, 0 set aside after 401/402/403\""));
	ima_buf_free(&health);

	answer = run_one(eng);
	ck_assert_msg(strstr(answer, "\"status\":\"ok\"") != NULL, "%s", answer);
	ck_assert_msg(strstr(answer, "\"attempts\":3") != NULL, "%s", answer);
	ck_assert_ptr_null(strstr(answer, "sk-ortest"));
	free(answer);
	ck_assert(ima_metric_get("imaginator_llm_keys_set_aside_total{provider=\"ortest\"}") == 1);
	ck_assert(ima_metric_get("imaginator_llm_retries_total{provider=\"ortest\"}") == 1);
	ck_assert(ima_metric_get("imaginator_llm_fallbacks_total{provider=\"ortest\"}") == 0);

	memset(&health, 0, sizeof(health));
	ck_assert_int_eq(ima_engine_health(eng, &health), 0);
	ck_assert_msg(strstr(health.data, "\"2 API keys, 1 set aside after 401/402/403\"") != NULL,
		      "%s", health.data);
	ck_assert_ptr_nonnull(strstr(health.data, "\"status\":\"ok\""));
	ck_assert_ptr_null(strstr(health.data, "sk-ortest"));
	ima_buf_free(&health);

	/* The next request goes straight to the second key. */
	answer = run_one(eng);
	ck_assert_msg(strstr(answer, "\"attempts\":1") != NULL, "%s", answer);
	free(answer);
	mini_stop(&m);
	ck_assert_str_eq(m.auth[0], "Bearer sk-ortest-one");
	ck_assert_str_eq(m.auth[1], "Bearer sk-ortest-two");
	ck_assert_str_eq(m.auth[2], "Bearer sk-ortest-two");
	ck_assert_str_eq(m.auth[3], "Bearer sk-ortest-two");
	/* Both requests of the process over one connection. */
	ck_assert_int_eq(m.connections, 1);
	ima_engine_free(eng);
}
END_TEST

START_TEST(engine_fallback_and_no_key)
{
	struct mini m = { .n = 2 };
	struct ima_engine *eng;
	struct ima_buf health = { 0 };
	char *answer;

	m.responses[0] = mini_response(404, "", "{\"error\":{\"message\":\"model m/x not found\"}}");
	m.responses[1] = mini_response(200, "", MINI_OK);
	setenv("ORTEST_ENGINE_KEY", "sk-ortest-one", 1);
	unsetenv("ORTEST_ENGINE_KEY_2");
	mini_start(&m);
	eng = engine_for(&m, "ortest2", "m/x, m/y");
	answer = run_one(eng);
	ck_assert_msg(strstr(answer, "\"model_used\":\"m/a\"") != NULL, "%s", answer);
	free(answer);
	mini_stop(&m);
	ck_assert(ima_metric_get("imaginator_llm_fallbacks_total{provider=\"ortest2\"}") == 1);
	ck_assert(ima_metric_get("imaginator_llm_retries_total{provider=\"ortest2\"}") == 0);
	ima_engine_free(eng);

	/* Without a key: degraded, saying what to set; not an init error. */
	unsetenv("ORTEST_ENGINE_KEY");
	eng = engine_for(&m, "ortest3", "m/a");
	ck_assert_int_eq(ima_engine_health(eng, &health), 1);
	ck_assert_ptr_nonnull(strstr(health.data, "no API key: set ORTEST_ENGINE_KEY"));
	ima_buf_free(&health);
	ima_engine_free(eng);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("openrouter");
	TCase *tc = tcase_create("keys");
	SRunner *sr;
	const char *plugins = getenv("IMAGINATOR_PLUGIN_DIR");
	const char *test_plugins = getenv("IMA_TEST_PLUGIN_DIR");
	char path[8192];
	int failed;

	/* The real plugins and the asker test stage, found by name. */
	snprintf(path, sizeof(path), "%s:%s", plugins ? plugins : "plugins/.libs",
		 test_plugins ? test_plugins : "tests/plugins/.libs");
	setenv("IMAGINATOR_PLUGIN_DIR", path, 1);

	tcase_add_test(tc, keys_from_environment);
	tcase_add_test(tc, keys_set_aside_and_back);
	suite_add_tcase(s, tc);
	tc = tcase_create("policy");
	tcase_add_test(tc, classify_statuses);
	tcase_add_test(tc, backoff_full_jitter);
	tcase_add_test(tc, random_differs);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, base_url);
	tcase_add_test(tc, split_models_and_labels);
	suite_add_tcase(s, tc);
	tc = tcase_create("wire");
	tcase_add_test(tc, body_plain_and_schema);
	tcase_add_test(tc, reply_good);
	tcase_add_test(tc, reply_parts_and_no_usage);
	tcase_add_test(tc, reply_bad);
	tcase_add_test(tc, error_messages_never_show_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("engine");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, engine_keys_retries_health);
	tcase_add_test(tc, engine_fallback_and_no_key);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
