/* check_request.c - the request stage: fields, aliases, limits. */
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
	  422, "extracted_skills_json.skills[0]" },
	{ "{\"resume_text\": \"x\", \"extracted_skills_json\": \"{not json\"}", 422, "extracted_skills_json" },
	{ "{\"resume_text\": \"x\", \"extracted_skills_json\": 3}", 422, "extracted_skills_json" },
	{ "{\"resume_text\": \"x\", \"extracted_skills_json\": {\"skills\": [\"a\",\"b\",\"c\",\"d\"]}}",
	  413, "extracted_skills_json.skills" },
	{ "{\"resume_text\": \"x\", \"domain_insights_json\": \"[1]\"}", 422, "domain_insights_json" },
	{ "{\"resume_text\": \"x\", \"creativity_mode\": \"wild\"}", 422, "creativity_mode" },
	{ "{\"resume_text\": \"x\", \"budget\": 1}", 422, "budget" },
	{ "{\"resume_text\": \"x\", \"reference_date\": \"2019-02-30\"}", 422, "reference_date" },
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

Suite *request_suite(void)
{
	Suite *s = suite_create("request");
	TCase *tc = tcase_create("request");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, request_rejects, 0, (int)(sizeof(rejects) / sizeof(rejects[0])));
	tcase_add_test(tc, request_normalises);
	suite_add_tcase(s, tc);
	return s;
}
