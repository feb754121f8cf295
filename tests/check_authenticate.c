/*
 * check_authenticate.c - auth stages (ABI 1.5) and ima_engine_authenticate:
 * the identity and the scope a route needs, 401 with every stage's
 * challenge for an anonymous caller, 403 insufficient_scope with the RFC
 * 6750 challenge, a stage's own refusal standing and stopping the stages
 * after it, the hooks run once per request even when the body follows,
 * pipelines without an auth stage, a 1.4 plugin's stray flag ignored, an
 * auth stage without a prefetch hook refused, and the fcgi group's scopes
 * checked against the pipeline.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ima_core.h"
#include "front.h"

static char conf_dir[4096];

static struct ima_engine *engine(const char *text, struct ima_error *err)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/auth.conf", conf_dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return ima_engine_load(path, &ima_fcgi_front, err);
}

static struct ima_engine *engine_ok(const char *text)
{
	struct ima_error err = { 0 };
	struct ima_engine *eng = engine(text, &err);

	ck_assert_msg(eng != NULL, "%s", err.message);
	return eng;
}

/* The values of every WWW-Authenticate header, joined by '|'. */
static const char *challenges(const struct ima_req *req)
{
	static char buf[1024];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ima_req_header_count(req); i++) {
		const char *name, *value;

		ima_req_header(req, i, &name, &value);
		if (strcasecmp(name, "WWW-Authenticate") == 0)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "|" : "", value);
	}
	return buf;
}

static double prefetches(const char *stage)
{
	char name[128];

	snprintf(name, sizeof(name), "authsim_prefetch_total{stage=\"%s\"}", stage);
	return ima_metric_get(name);
}

/* status of ima_engine_authenticate on a fresh request; the request is
 * kept in *out when out is not NULL. */
static int auth(struct ima_engine *eng, const char *scope, struct ima_req **out)
{
	struct ima_req *req = ima_req_new();
	int status;

	ck_assert_ptr_nonnull(req);
	status = ima_engine_authenticate(eng, req, scope);
	if (out != NULL)
		*out = req;
	else
		ima_req_free(req);
	return status;
}

START_TEST(auth_identity_and_scopes)
{
	struct ima_engine *eng = engine_ok(
		"pipeline = ( { name = \"who\"; plugin = \"authsim\"; options = { user = \"alice\"; scopes = \"analyze ops\"; }; },\n"
		"             { name = \"p\"; plugin = \"probe\"; } );\n");
	struct ima_req *req;
	const char *user;
	size_t len;

	ck_assert_uint_eq(ima_engine_auth_stages(eng), 1);
	ck_assert_int_eq(auth(eng, NULL, NULL), 0);
	ck_assert_int_eq(auth(eng, "", NULL), 0);
	ck_assert_int_eq(auth(eng, "ops", &req), 0);
	ck_assert_int_eq(ima_ctx_get_str(ima_req_ctx(req), "_auth.user", &user, &len), 0);
	ck_assert_int_eq((int)len, 5);
	ck_assert_int_eq(memcmp(user, "alice", 5), 0);
	ck_assert_str_eq(challenges(req), "");
	ima_req_free(req);

	/* A scope is matched whole, not as a prefix or a substring. */
	ck_assert_int_eq(auth(eng, "op", NULL), 403);
	ck_assert_int_eq(auth(eng, "admin", &req), 403);
	ck_assert_int_eq(ima_req_error(req)->status, 403);
	ck_assert_str_eq(ima_req_error(req)->code, "insufficient_scope");
	ck_assert_str_eq(ima_req_error(req)->field, "scope");
	ck_assert_ptr_nonnull(strstr(ima_req_error(req)->message, "'admin'"));
	ck_assert_str_eq(challenges(req), "Bearer error=\"insufficient_scope\", scope=\"admin\"");
	ima_req_free(req);

	/* A scope that cannot be quoted in a header is never held, and not
	 * echoed. */
	ck_assert_int_eq(auth(eng, "a\"b", &req), 403);
	ck_assert_str_eq(challenges(req), "");
	ck_assert_ptr_null(strstr(ima_req_error(req)->message, "a\"b"));
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

START_TEST(auth_anonymous_gets_every_challenge)
{
	struct ima_engine *eng = engine_ok(
		"pipeline = ( { name = \"a1\"; plugin = \"authsim\"; },\n"
		"             { name = \"a2\"; plugin = \"authsim\"; },\n"
		"             { name = \"p\"; plugin = \"probe\"; } );\n");
	struct ima_req *req;

	ck_assert_uint_eq(ima_engine_auth_stages(eng), 2);
	ck_assert_int_eq(auth(eng, NULL, NULL), 0);
	ck_assert_int_eq(auth(eng, "", &req), 401);
	ck_assert_str_eq(ima_req_error(req)->code, "missing_credential");
	ck_assert_str_eq(challenges(req), "Bearer realm=\"sim\"|Bearer realm=\"sim\"");
	ima_req_free(req);
	ck_assert_int_eq(auth(eng, "admin", &req), 401);
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

START_TEST(auth_refusal_stands_and_stops)
{
	struct ima_engine *eng = engine_ok(
		"pipeline = ( { name = \"no1\"; plugin = \"authsim\"; options = { refuse = true; }; },\n"
		"             { name = \"never1\"; plugin = \"authsim\"; options = { user = \"x\"; }; },\n"
		"             { name = \"p\"; plugin = \"probe\"; } );\n");
	double before = prefetches("never1");
	struct ima_req *req;

	/* Even a route that needs nothing: the stage refused. */
	ck_assert_int_eq(auth(eng, NULL, &req), 401);
	ck_assert_str_eq(ima_req_error(req)->code, "refused");
	ck_assert_str_eq(challenges(req), "Sim error=\"refused\"");
	ima_req_free(req);
	ck_assert_int_eq(auth(eng, "admin", NULL), 401);
	ck_assert(prefetches("never1") == before);
	ima_engine_free(eng);
}
END_TEST

START_TEST(auth_once_per_request)
{
	static const char body[] = "{\"resume_text\": \"x\"}";
	struct ima_engine *eng = engine_ok(
		"pipeline = ( { name = \"once\"; plugin = \"authsim\"; options = { user = \"bob\"; scopes = \"analyze\"; }; },\n"
		"             { name = \"p\"; plugin = \"probe\"; } );\n");
	double before = prefetches("once");
	struct ima_req *req = ima_req_new();
	const msgpack_object *trace;

	ck_assert_int_eq(ima_engine_authenticate(eng, req, "analyze"), 0);
	ck_assert(prefetches("once") == before + 1);
	/* Asked again: the first stage's identity still decides. */
	ck_assert_int_eq(ima_engine_authenticate(eng, req, "admin"), 403);
	ck_assert_str_eq(challenges(req), "Bearer error=\"insufficient_scope\", scope=\"admin\"");
	ck_assert(prefetches("once") == before + 1);
	ima_req_free(req);

	req = ima_req_new();
	ck_assert_int_eq(ima_engine_authenticate(eng, req, "analyze"), 0);
	ck_assert_int_eq(ima_engine_handle(eng, req, body, sizeof(body) - 1, IMA_FMT_JSON), 200);
	ck_assert(prefetches("once") == before + 2);
	trace = ima_ctx_get(ima_req_ctx(req), "trace");
	ck_assert_ptr_nonnull(trace);
	ck_assert_int_eq(trace->type, MSGPACK_OBJECT_ARRAY);
	ima_req_free(req);

	/* Without ima_engine_authenticate, the body's prefetch runs them. */
	req = ima_req_new();
	ck_assert_int_eq(ima_engine_handle(eng, req, body, sizeof(body) - 1, IMA_FMT_JSON), 200);
	ck_assert(prefetches("once") == before + 3);
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

START_TEST(auth_without_auth_stage)
{
	struct ima_engine *eng = engine_ok("pipeline = ( { name = \"p\"; plugin = \"probe\"; } );\n");
	struct ima_req *req;

	ck_assert_uint_eq(ima_engine_auth_stages(eng), 0);
	ck_assert_int_eq(auth(eng, NULL, NULL), 0);
	ck_assert_int_eq(auth(eng, "", &req), 403);
	ck_assert_str_eq(ima_req_error(req)->code, "no_auth_stage");
	ima_req_free(req);
	ima_engine_free(eng);
}
END_TEST

START_TEST(auth_old_plugin_stray_flag_ignored)
{
	struct ima_engine *eng = engine_ok(
		"pipeline = ( { name = \"old\"; plugin = \"authold\"; },\n"
		"             { name = \"p\"; plugin = \"probe\"; } );\n");

	ck_assert_uint_eq(ima_engine_auth_stages(eng), 0);
	ck_assert_uint_eq(ima_engine_stage_plugin(eng, 0)->flags, IMA_PLUGIN_LOCAL);
	ck_assert_ptr_null(ima_engine_stage_plugin(eng, 0)->challenge);
	ck_assert_int_eq(auth(eng, "admin", NULL), 403);
	ima_engine_free(eng);
}
END_TEST

START_TEST(auth_stage_without_prefetch_refused)
{
	struct ima_error err = { 0 };

	ck_assert_ptr_null(engine("pipeline = ( { name = \"a\"; plugin = \"authnopre\"; } );\n", &err));
	ck_assert_msg(strstr(err.message, "auth stage (IMA_PLUGIN_AUTH) without a prefetch hook") != NULL,
		      "%s", err.message);
}
END_TEST

START_TEST(auth_front_scopes_need_an_auth_stage)
{
	struct ima_error err = { 0 };
	struct ima_engine *eng;

	ck_assert_ptr_null(engine("fcgi = {\n  pipeline_scope = \"ops\";\n};\n"
				  "pipeline = ( { name = \"p\"; plugin = \"probe\"; } );\n", &err));
	ck_assert_msg(strstr(err.message, "auth.conf:2: fcgi.pipeline_scope = \"ops\" needs an auth stage") != NULL,
		      "%s", err.message);
	ck_assert_ptr_null(engine("fcgi = { admin_scope = \"\"; };\n"
				  "pipeline = ( { name = \"p\"; plugin = \"probe\"; } );\n", &err));
	ck_assert_msg(strstr(err.message, "fcgi.admin_scope = \"\": must be one scope") != NULL, "%s",
		      err.message);
	/* admin_scope alone needs no auth stage: without one, admin_routes
	 * decides. */
	eng = engine_ok("fcgi = { admin_scope = \"root\"; metrics_scope = \"ops\"; };\n"
			"pipeline = ( { name = \"a\"; plugin = \"authsim\"; },\n"
			"             { name = \"p\"; plugin = \"probe\"; } );\n");
	ck_assert_str_eq(ima_conf_string(ima_engine_front_conf(eng), "metrics_scope"), "ops");
	ima_engine_free(eng);
	eng = engine_ok("fcgi = { admin_scope = \"root\"; };\n"
			"pipeline = ( { name = \"p\"; plugin = \"probe\"; } );\n");
	ima_engine_free(eng);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("authenticate");
	TCase *tc = tcase_create("authenticate");
	const char *plugins = getenv("IMAGINATOR_PLUGIN_DIR");
	const char *tests = getenv("IMA_TEST_PLUGIN_DIR");
	const char *t = getenv("TMPDIR");
	char path[8192];
	SRunner *sr;
	int failed;

	/* Made here, not in a test: each test runs in a child of its own. */
	snprintf(conf_dir, sizeof(conf_dir), "%s/ima-auth-XXXXXX", t ? t : "/tmp");
	if (mkdtemp(conf_dir) == NULL) {
		perror(conf_dir);
		return EXIT_FAILURE;
	}

	snprintf(path, sizeof(path), "%s:%s", plugins ? plugins : "plugins/.libs",
		 tests ? tests : "tests/plugins/.libs");
	setenv("IMAGINATOR_PLUGIN_DIR", path, 1);
	tcase_add_test(tc, auth_identity_and_scopes);
	tcase_add_test(tc, auth_anonymous_gets_every_challenge);
	tcase_add_test(tc, auth_refusal_stands_and_stops);
	tcase_add_test(tc, auth_once_per_request);
	tcase_add_test(tc, auth_without_auth_stage);
	tcase_add_test(tc, auth_old_plugin_stray_flag_ignored);
	tcase_add_test(tc, auth_stage_without_prefetch_refused);
	tcase_add_test(tc, auth_front_scopes_need_an_auth_stage);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(path, sizeof(path), "%s/auth.conf", conf_dir);
	unlink(path);
	rmdir(conf_dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
