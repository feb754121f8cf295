/* check_request.c - the request stage: fields, aliases, limits. */
#include <math.h>

#include "ima_test.h"

static struct ima_engine *eng;

static void setup(void)
{
	struct ima_error err;

	eng = test_engine("pipeline = ({ name = \"request\"; plugin = \"request\";"
			  " options = { max_resume_bytes = 200; max_skills = 3; }; });", &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
}

static void teardown(void)
{
	ima_engine_free(eng);
}

static const struct {
	const char *body;
	int status;
	const char *field;
} rejects[] = {
	{ "{}", 422, "resume_text" },
	{ "{\"resume_text\": \"  \\n\\t \"}", 422, "resume_text" },
	{ "{\"resume_text\": 42}", 422, "resume_text" },
	{ "{\"resume_text\": \"x\", \"confidence_threshold\": 1.5}", 422, "confidence_threshold" },
	{ "{\"resume_text\": \"x\", \"confidence_threshold\": \"high\"}", 422, "confidence_threshold" },
	{ "{\"resume_text\": \"x\", \"job_ad\": \"a\", \"jobDescription\": \"b\"}", 422, "jobDescription" },
	{ "{\"resume_text\": \"x\", \"job_description\": [1]}", 422, "job_description" },
	{ "{\"resume_text\": \"x\", \"extracted_skills_json\": {\"skills\": [{\"skill\": \"c\"}, {\"confidence\": 0.9}]}}",
	  422, "extracted_skills_json.skills[1]" },
	{ "{\"resume_text\": \"x\", \"extracted_skills_json\": {\"skills\": [{\"skill\": \"c\", \"confidence\": 7}]}}",
	  422, "extracted_skills_json.skills[0].confidence" },
	{ "{\"resume_text\": \"x\", \"extracted_skills_json\": \"{not json\"}", 422, "extracted_skills_json" },
	{ "{\"resume_text\": \"x\", \"extracted_skills_json\": \"\"}", 422, "extracted_skills_json" },
	{ "{\"resume_text\": \"x\", \"job_ad\": \"a\", \"job_description\": null, \"jobDescription\": \"b\"}",
	  422, "jobDescription" },
	{ "{\"resume_text\": null, \"job_ad\": \"a\"}", 422, "resume_text" },
	{ "{\"resume_text\": \"x\", \"extracted_skills_json\": 3}", 422, "extracted_skills_json" },
	{ "{\"resume_text\": \"x\", \"extracted_skills_json\": {\"skills\": [\"a\",\"b\",\"c\",\"d\"]}}",
	  413, "extracted_skills_json.skills" },
	{ "{\"resume_text\": \"x\", \"domain_insights_json\": \"[1]\"}", 422, "domain_insights_json" },
	{ "{\"resume_text\": \"x\", \"creativity_mode\": \"wild\"}", 422, "creativity_mode" },
	{ "{\"resume_text\": \"x\", \"budget\": 1}", 422, "budget" },
	{ "{\"resume_text\": \"x\", \"reference_date\": \"2019-02-30\"}", 422, "reference_date" },
	{ "{\"resume_text\": \"x\", \"reference_date\": \"2019-02-29\"}", 422, "reference_date" },
	{ "{\"resume_text\": \"x\", \"reference_date\": \"1899-12-31\"}", 422, "reference_date" },
	{ "{\"resume_text\": \"x\", \"reference_date\": \"yesterday\"}", 422, "reference_date" },
	{ "{\"resume_text\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
	  413, "resume_text" },
};

START_TEST(request_rejects)
{
	struct ima_req *req;
	const struct ima_error *e;

	ck_assert_int_eq(test_run_json(eng, rejects[_i].body, &req), rejects[_i].status);
	e = ima_req_error(req);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->field, rejects[_i].field);
	ck_assert(e->message[0] != '\0');
	ima_req_free(req);
}
END_TEST

START_TEST(request_normalises)
{
	struct ima_req *req;
	struct ima_ctx *ctx;
	const char *s;
	size_t n;
	double d;
	int y, m, day;

	ck_assert_int_eq(test_run_json(eng,
		"{\"resume_text\": \"Engineer\", \"jobDescription\": \"We need C\","
		" \"extracted_skills_json\": \"{\\\"skills\\\": [{\\\"skill\\\": \\\"python\\\", \\\"confidence\\\": 0.95}, \\\"sql\\\"]}\","
		" \"domain_insights_json\": {\"domain\": \"tech\"}, \"reference_date\": \"2019-01-01\","
		" \"unknown_extra\": 1}", &req), 200);
	ctx = ima_req_ctx(req);
	ck_assert_int_eq(ima_ctx_get_str(ctx, "_input.job_ad", &s, &n), 0);
	ck_assert_int_eq(memcmp(s, "We need C", n), 0);
	ck_assert_int_eq(ima_ctx_get_double(ctx, "_input.confidence_threshold", &d), 0);
	ck_assert_double_eq(d, 0.7);
	ck_assert_int_eq(ima_ctx_get_str(ctx, "_input.extracted_skills.skills.1.skill", &s, &n), 0);
	ck_assert_int_eq(memcmp(s, "sql", n), 0);
	ck_assert_int_eq(ima_ctx_get_double(ctx, "_input.extracted_skills.skills.0.confidence", &d), 0);
	ck_assert_double_eq(d, 0.95);
	ck_assert_int_eq(ima_ctx_get_str(ctx, "_input.domain_insights.domain", &s, &n), 0);
	ck_assert_int_eq(ima_ctx_get_str(ctx, "_input.creativity_mode", &s, &n), 0);
	ima_req_reference_date(req, &y, &m, &day);
	ck_assert_int_eq(y, 2019);
	ck_assert_int_eq(m, 1);
	ima_req_free(req);
}
END_TEST

/* Packs a request map from (key, kind, value) triples: kind 's' a string,
 * 'd' a double, 'f' a float, 'n' nil, 'k' a skills list with one skill of confidence
 * value, 'o' an extracted_skills_json with overall_confidence value, 'i'
 * domain insights {"insights": {"market_alignment": value, "tags": [value]}}. */
struct mp_field {
	const char *key;
	char kind;
	const char *s;
	double d;
};

static int run_msgpack(const struct mp_field *f, size_t n, struct ima_req **out)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int status;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	for (size_t i = 0; i < n; i++) {
		ima_pack_cstr(&pk, f[i].key);
		switch (f[i].kind) {
		case 's': ima_pack_cstr(&pk, f[i].s); break;
		case 'd': msgpack_pack_double(&pk, f[i].d); break;
		case 'f': msgpack_pack_float(&pk, (float)f[i].d); break;
		case 'k':
			msgpack_pack_map(&pk, 1);
			ima_pack_cstr(&pk, "skills");
			msgpack_pack_array(&pk, 2);
			msgpack_pack_map(&pk, 2);
			ima_pack_cstr(&pk, "skill");
			ima_pack_cstr(&pk, "Python");
			ima_pack_cstr(&pk, "confidence");
			msgpack_pack_double(&pk, 0.9);
			msgpack_pack_map(&pk, 2);
			ima_pack_cstr(&pk, "skill");
			ima_pack_cstr(&pk, "SQL");
			ima_pack_cstr(&pk, "confidence");
			msgpack_pack_double(&pk, f[i].d);
			break;
		case 'o':
			msgpack_pack_map(&pk, 1);
			ima_pack_cstr(&pk, "overall_confidence");
			msgpack_pack_double(&pk, f[i].d);
			break;
		case 'i':
			msgpack_pack_map(&pk, 2);
			ima_pack_cstr(&pk, "domain");
			ima_pack_cstr(&pk, "tech");
			ima_pack_cstr(&pk, "insights");
			msgpack_pack_map(&pk, 2);
			ima_pack_cstr(&pk, "market_alignment");
			msgpack_pack_double(&pk, f[i].d);
			ima_pack_cstr(&pk, "tags");
			msgpack_pack_array(&pk, 2);
			msgpack_pack_double(&pk, f[i].d);
			msgpack_pack_int(&pk, 3);
			break;
		default: msgpack_pack_nil(&pk); break;
		}
	}
	*out = ima_req_new();
	ck_assert_ptr_nonnull(*out);
	status = ima_engine_handle(eng, *out, sb.data, sb.size, IMA_FMT_MSGPACK);
	msgpack_sbuffer_destroy(&sb);
	return status;
}

/*
 * Only msgpack carries NaN and infinities. Numbers the stages compute with
 * are refused with the field at fault: range checks are all false for a
 * NaN, so it would pass them and end in a bucket that is counted in no
 * list but written to one.
 */
START_TEST(request_rejects_non_finite_numbers)
{
	static const double bad[] = { NAN, INFINITY, -INFINITY };
	static const struct {
		const char *key;
		char kind;
		const char *field;
	} where[] = {
		{ "confidence_threshold", 'd', "confidence_threshold" },
		{ "confidence_threshold", 'f', "confidence_threshold" },
		{ "extracted_skills_json", 'k', "extracted_skills_json.skills[1].confidence" },
		{ "extracted_skills_json", 'o', "extracted_skills_json.overall_confidence" },
	};

	for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++)
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			struct mp_field f[] = {
				{ "resume_text", 's', "Engineer", 0 },
				{ where[w].key, where[w].kind, NULL, bad[b] },
			};
			struct ima_req *req;
			const struct ima_error *e;

			ck_assert_int_eq(run_msgpack(f, 2, &req), 422);
			e = ima_req_error(req);
			ck_assert_str_eq(e->code, "invalid_field");
			ck_assert_str_eq(e->field, where[w].field);
			ck_assert_ptr_nonnull(strstr(e->message, "finite"));
			ima_req_free(req);
		}
}
END_TEST

/* The market insights are advice passed through: a NaN in them becomes
 * null and the request goes on. */
START_TEST(request_advisory_non_finite_becomes_null)
{
	struct mp_field f[] = {
		{ "resume_text", 's', "Engineer", 0 },
		{ "domain_insights_json", 'i', NULL, NAN },
	};
	struct ima_req *req;
	const msgpack_object *o;
	int64_t v;

	ck_assert_int_eq(run_msgpack(f, 2, &req), 200);
	o = ima_ctx_get(ima_req_ctx(req), "_input.domain_insights.insights.market_alignment");
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_NIL);
	o = ima_ctx_get(ima_req_ctx(req), "_input.domain_insights.insights.tags.0");
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_NIL);
	ck_assert_int_eq(ima_ctx_get_int(ima_req_ctx(req), "_input.domain_insights.insights.tags.1", &v), 0);
	ck_assert_int_eq(v, 3);
	ima_req_free(req);
}
END_TEST

/* An explicit null is absent for every alias group, whichever alias holds
 * the value and in whichever order they come. */
START_TEST(request_null_alias_is_absent)
{
	static const char *const aliases[] = { "job_ad", "job_description", "jobDescription" };

	for (int with_null = 0; with_null < 3; with_null++)
		for (int with_value = 0; with_value < 3; with_value++) {
			struct mp_field f[] = {
				{ "resume_text", 's', "Engineer", 0 },
				{ aliases[with_null], 'n', NULL, 0 },
				{ aliases[with_value], 's', "We need SQL", 0 },
			};
			struct ima_req *req;
			const char *s;
			size_t n;

			if (with_null == with_value)
				continue;
			for (int order = 0; order < 2; order++) {
				if (order == 1) {
					struct mp_field t = f[1];

					f[1] = f[2];
					f[2] = t;
				}
				ck_assert_msg(run_msgpack(f, 3, &req) == 200, "%s null, %s given: %s",
					      aliases[with_null], aliases[with_value],
					      ima_req_error(req) ? ima_req_error(req)->message : "");
				ck_assert_int_eq(ima_ctx_get_str(ima_req_ctx(req), "_input.job_ad", &s, &n), 0);
				ck_assert_uint_eq(n, 11);
				ck_assert_int_eq(memcmp(s, "We need SQL", n), 0);
				ima_req_free(req);
			}
		}
}
END_TEST

/* The same in JSON; both aliases null is no job ad at all. */
START_TEST(request_null_alias_is_absent_json)
{
	struct ima_req *req;
	const char *s;
	size_t n;

	ck_assert_int_eq(test_run_json(eng, "{\"resume_text\": \"x\", \"job_ad\": null,"
				       " \"job_description\": \"We need SQL\"}", &req), 200);
	ck_assert_int_eq(ima_ctx_get_str(ima_req_ctx(req), "_input.job_ad", &s, &n), 0);
	ck_assert_uint_eq(n, 11);
	ima_req_free(req);
	ck_assert_int_eq(test_run_json(eng, "{\"resume_text\": \"x\", \"jobDescription\": null,"
				       " \"job_ad\": null}", &req), 200);
	ck_assert_int_eq(ima_ctx_get_str(ima_req_ctx(req), "_input.job_ad", &s, &n), 0);
	ck_assert_uint_eq(n, 0);
	ima_req_free(req);
}
END_TEST

Suite *request_suite(void)
{
	Suite *s = suite_create("request");
	TCase *tc = tcase_create("request");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, request_rejects, 0, (int)(sizeof(rejects) / sizeof(rejects[0])));
	tcase_add_test(tc, request_normalises);
	tcase_add_test(tc, request_rejects_non_finite_numbers);
	tcase_add_test(tc, request_advisory_non_finite_becomes_null);
	tcase_add_test(tc, request_null_alias_is_absent);
	tcase_add_test(tc, request_null_alias_is_absent_json);
	suite_add_tcase(s, tc);
	return s;
}
