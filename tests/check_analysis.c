/*
 * check_analysis.c - the analysis stages through the real pipeline
 * (request, experience, skills, seniority, roles, gap) on resumes and job
 * ads written for these tests.
 */
#include <math.h>
#include <unistd.h>

#include "ima_test.h"

static struct ima_engine *eng;

static void setup(void)
{
	const char *src = getenv("top_srcdir");
	char path[4096], stages[8192], conf[9000];
	struct ima_error err;
	size_t n;
	FILE *f;

	/* The shipped stage list (libconfig 1.5 resolves every @include
	 * against the including file's directory, so it is copied in). */
	snprintf(path, sizeof(path), "%s/conf/analysis.conf", src ? src : ".");
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(stages, 1, sizeof(stages) - 1, f);
	fclose(f);
	stages[n] = '\0';
	snprintf(conf, sizeof(conf),
		 "imaginator = { max_body_bytes = 3000000; };\npipeline = (\n"
		 "{ name = \"request\"; plugin = \"request\"; },\n%s\n);\n", stages);
	eng = test_engine(conf, &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
}

static void teardown(void)
{
	ima_engine_free(eng);
}

/* Builds a JSON request from its parts (texts escaped). */
static char *request_json(const char *resume, const char *job, const char *extra)
{
	struct ima_buf b = { 0 };

	ima_buf_append(&b, "{\"resume_text\":", 15);
	ima_json_write_str(&b, resume, strlen(resume));
	ima_buf_append(&b, ",\"job_ad\":", 10);
	ima_json_write_str(&b, job, strlen(job));
	ima_buf_printf(&b, ",\"reference_date\":\"2024-06-01\"%s%s}", extra ? "," : "",
		       extra ? extra : "");
	ck_assert(!b.failed);
	return b.data;
}

static struct ima_req *run(const char *resume, const char *job, const char *extra)
{
	char *json = request_json(resume, job, extra);
	struct ima_req *req;
	int status = test_run_json(eng, json, &req);

	ck_assert_msg(status == 200, "status %d: %s", status,
		      ima_req_error(req) ? ima_req_error(req)->message : "");
	ima_free(json);
	return req;
}

static bool list_has(struct ima_req *req, const char *path, const char *key,
		     const char *want)
{
	const msgpack_object *o = ima_ctx_get(ima_req_ctx(req), path);

	for (uint32_t i = 0; o && o->type == MSGPACK_OBJECT_ARRAY && i < o->via.array.size; i++) {
		const msgpack_object *e = &o->via.array.ptr[i];

		if (key != NULL) {
			e = NULL;
			for (uint32_t k = 0; o->via.array.ptr[i].type == MSGPACK_OBJECT_MAP &&
					     k < o->via.array.ptr[i].via.map.size; k++) {
				const msgpack_object_kv *kv = &o->via.array.ptr[i].via.map.ptr[k];

				if (kv->key.via.str.size == strlen(key) &&
				    memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0)
					e = &kv->val;
			}
		}
		if (e && e->type == MSGPACK_OBJECT_STR && e->via.str.size == strlen(want) &&
		    strncasecmp(e->via.str.ptr, want, e->via.str.size) == 0)
			return true;
	}
	return false;
}

static const char *str_at(struct ima_req *req, const char *path)
{
	const char *s;
	size_t n;

	if (ima_ctx_get_str(ima_req_ctx(req), path, &s, &n) != 0)
		return NULL;
	return ima_req_strndup(req, s, n);
}

static double num_at(struct ima_req *req, const char *path)
{
	double d = -12345;

	ck_assert_msg(ima_ctx_get_double(ima_req_ctx(req), path, &d) == 0, "%s missing", path);
	return d;
}

static const char resume_senior[] =
	"Morgan Lee\nBackend Engineer\n\nSUMMARY\nBackend engineer with over 9 years of experience.\n\n"
	"EXPERIENCE\n\nSenior Backend Engineer\nQuillstone Software Inc - Austin, TX\nApril 2019 to Present\n"
	"- Led a team of 4 building Go and PostgreSQL services on Kubernetes\n"
	"- Reduced p99 latency by 45% and saved $120K a year in AWS costs\n\n"
	"Backend Developer\nHarbor Freight Systems LLC - Dallas, TX\nJanuary 2015 to March 2019\n"
	"- Built REST APIs in Python and Django; migrated MySQL to PostgreSQL\n"
	"- Mentored 3 junior developers\n\n"
	"EDUCATION\n\nB.S. Computer Science\nUniversity of Texas - Austin, TX\n2010 to 2014\n\n"
	"SKILLS\nPython, Go, PostgreSQL, Docker, Kubernetes, AWS, Redis\n";

static const char job_backend[] =
	"Staff Backend Engineer\n\nAbout us\nWe build payments infrastructure.\n\n"
	"Requirements:\n- 8+ years of experience building backend services\n"
	"- Go or Python, PostgreSQL, Kafka\n- Kubernetes and Terraform\n\n"
	"Nice to have:\n- Rust\n- Experience with GraphQL\n\nBenefits\n- Python lunch club\n";

START_TEST(analysis_fills_every_field)
{
	struct ima_req *req = run(resume_senior, job_backend, NULL);
	struct ima_buf out = { 0 };
	static const char *const keys[] = {
		"experiences", "aggregate_skills", "processed_skills",
		"seniority_analysis", "role_suggestions", "job_requirements",
		"gap_analysis", "domain_insights", "run_metrics"
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(ima_ctx_get(ima_req_ctx(req), keys[i]) != NULL, "%s missing", keys[i]);
	ck_assert_str_eq(str_at(req, "experiences.0.title"), "Senior Backend Engineer");
	ck_assert_str_eq(str_at(req, "experiences.0.end"), "Present");
	ck_assert_str_eq(str_at(req, "experiences.1.start"), "2015-01");
	ck_assert(list_has(req, "experiences.0.skills", NULL, "Kubernetes"));
	ck_assert(list_has(req, "experiences.1.skills", NULL, "Django"));
	ck_assert(!list_has(req, "experiences.1.skills", NULL, "Kubernetes"));
	/* Education is not a job. */
	ck_assert_ptr_null(ima_ctx_get(ima_req_ctx(req), "experiences.2"));
	ck_assert(list_has(req, "aggregate_skills", NULL, "PostgreSQL"));
	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "senior");
	ck_assert(num_at(req, "seniority_analysis.leadership_score") > 0.3);
	ck_assert(num_at(req, "seniority_analysis.achievement_complexity_score") > 0);
	ck_assert_ptr_nonnull(str_at(req, "seniority_analysis.reasoning"));
	ck_assert_ptr_nonnull(str_at(req, "role_suggestions.0.full_role_title"));
	ck_assert(num_at(req, "role_suggestions.0.score") > 0);
	ck_assert_int_eq((int)num_at(req, "job_requirements.min_years"), 8);
	ck_assert_str_eq(str_at(req, "job_requirements.seniority"), "principal");
	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "Apache Kafka"));
	ck_assert(list_has(req, "job_requirements.skills_preferred", NULL, "GraphQL"));
	ck_assert(!list_has(req, "job_requirements.skills_required", NULL, "GraphQL"));
	/* "Python lunch club" under Benefits is not a requirement, but Python
	 * is required through the requirements line. */
	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "Python"));
	ck_assert(list_has(req, "gap_analysis.critical_gaps", "skill", "Apache Kafka"));
	ck_assert(list_has(req, "gap_analysis.matched", NULL, "PostgreSQL"));
	ck_assert(list_has(req, "gap_analysis.nice_to_have_gaps", NULL, "GraphQL"));
	ck_assert(num_at(req, "gap_analysis.alignment_score") > 0.2);
	ck_assert(num_at(req, "gap_analysis.alignment_score") < 1.0);
	ck_assert_int_eq((int)num_at(req, "gap_analysis.seniority_gap.gap_levels"), 1);
	ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
	ck_assert_ptr_null(strstr(out.data, "\"_"));
	ima_buf_free(&out);
	ima_req_free(req);
}
END_TEST

START_TEST(analysis_confidence_buckets)
{
	static const char skills[] =
		"\"confidence_threshold\": 0.8, \"extracted_skills_json\": {\"skills\": ["
		"{\"skill\": \"python\", \"confidence\": 0.9},"
		"{\"skill\": \"k8s\", \"confidence\": 0.6},"
		"{\"skill\": \"cobol\", \"confidence\": 0.3},"
		"{\"skill\": \"Underwater basket weaving\", \"confidence\": 0.85}]}";
	struct ima_req *req = run("Engineer\nI write software.\n", "", skills);

	ck_assert(list_has(req, "processed_skills.high_confidence", "skill", "Python"));
	ck_assert(list_has(req, "processed_skills.high_confidence", "skill", "Underwater basket weaving"));
	ck_assert(list_has(req, "processed_skills.medium_confidence", "skill", "Kubernetes"));
	ck_assert(list_has(req, "processed_skills.low_confidence", "skill", "COBOL"));
	ck_assert(!list_has(req, "processed_skills.high_confidence", "skill", "Kubernetes"));
	/* Aggregate skills come sorted by confidence. */
	ck_assert_str_eq(str_at(req, "aggregate_skills.0"), "Python");
	ck_assert(list_has(req, "processed_skills.inferred_skills", "skill", "Docker") ||
		  list_has(req, "processed_skills.inferred_skills", "skill", "Containers"));
	ima_req_free(req);
}
END_TEST

START_TEST(analysis_seniority_extremes)
{
	struct ima_req *req = run(
		"EXPERIENCE\n\nSoftware Engineering Intern\nAcme Labs Inc\nJune 2023 to August 2023\n"
		"- Fixed bugs in a Java service\n", "", NULL);

	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "junior");
	ck_assert(num_at(req, "seniority_analysis.total_years_experience") < 1);
	ima_req_free(req);
	req = run("PROFILE\nEngineering director with 15 years of experience.\n\nEXPERIENCE\n\n"
		  "Director of Engineering\nGlobex Corporation\nJan 2012 to Present\n"
		  "- Managed 6 teams building Java services on AWS with SQL and Python; hired 40 engineers, grew revenue 3x\n", "", NULL);
	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "principal");
	ck_assert_str_eq(str_at(req, "role_suggestions.0.seniority_level"), "principal");
	ima_req_free(req);
}
END_TEST

START_TEST(analysis_overlapping_jobs_not_double_counted)
{
	struct ima_req *req = run(
		"EXPERIENCE\n\nData Analyst\nInitech LLC\nJan 2018 to Dec 2019\n\n"
		"Teaching Assistant (part-time)\nState University\nJan 2018 to Dec 2019\n", "", NULL);
	double years = num_at(req, "seniority_analysis.total_years_experience");

	ck_assert_msg(years > 1.8 && years < 2.2, "years %f", years);
	ima_req_free(req);
}
END_TEST

START_TEST(analysis_without_job_ad)
{
	struct ima_req *req = run(resume_senior, "", NULL);
	const msgpack_object *o = ima_ctx_get(ima_req_ctx(req), "gap_analysis.alignment_score");

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_NIL);
	ck_assert_ptr_null(ima_ctx_get(ima_req_ctx(req), "job_requirements.skills_required.0"));
	ima_req_free(req);
}
END_TEST

START_TEST(analysis_non_english_and_odd_text)
{
	struct ima_req *req = run(
		"Berufserfahrung\nSoftwareentwickler bei Beispiel GmbH\nJanuar 2018 - M\xc3\xa4rz 2020\n"
		"\xe5\xb7\xa5\xe4\xbd\x9c\xe7\xbb\x8f\xe5\x8e\x86\n\xe8\xbd\xaf\xe4\xbb\xb6 2018 - 2020\n",
		"Wir suchen Entwickler mit Python-Kenntnissen.", NULL);

	ck_assert_ptr_nonnull(ima_ctx_get(ima_req_ctx(req), "seniority_analysis.level"));
	ima_req_free(req);
}
END_TEST

START_TEST(analysis_one_megabyte_resume)
{
	static const char job[] = "Python developer, 3+ years of experience";
	size_t block = sizeof(resume_senior) - 1, n = (1 << 20) / block + 1;
	char *big = ima_malloc(n * block + 1), *json;
	struct ima_req *req;
	char conf[8192];
	struct ima_engine *big_eng;
	struct ima_error err;

	snprintf(conf, sizeof(conf),
		 "imaginator = { max_body_bytes = 4000000; };\n"
		 "pipeline = ({ name = \"request\"; plugin = \"request\"; options = { max_resume_bytes = 2000000; }; },\n"
		 "{ name = \"experience\"; plugin = \"experience\"; }, { name = \"skills\"; plugin = \"skills\"; },\n"
		 "{ name = \"seniority\"; plugin = \"seniority\"; }, { name = \"roles\"; plugin = \"roles\"; },\n"
		 "{ name = \"gap\"; plugin = \"gap\"; });\n");
	big_eng = test_engine(conf, &err);
	ck_assert_msg(big_eng != NULL, "%s", err.message);
	for (size_t i = 0; i < n; i++)
		memcpy(big + i * block, resume_senior, block);
	big[n * block] = '\0';
	json = request_json(big, job, NULL);
	ck_assert_int_eq(test_run_json(big_eng, json, &req), 200);
	ck_assert_ptr_nonnull(ima_ctx_get(ima_req_ctx(req), "experiences.0"));
	ck_assert_ptr_nonnull(ima_ctx_get(ima_req_ctx(req), "gap_analysis.summary"));
	ima_req_free(req);
	/* The default limit refuses the same resume with 413. */
	ck_assert_int_eq(test_run_json(eng, json, &req), 413);
	ck_assert_str_eq(ima_req_error(req)->field, "resume_text");
	ima_req_free(req);
	ima_free(json);
	ima_free(big);
	ima_engine_free(big_eng);
}
END_TEST

static bool has_prefix_in(struct ima_req *req, const char *path, const char *prefix)
{
	const msgpack_object *o = ima_ctx_get(ima_req_ctx(req), path);

	for (uint32_t i = 0; o && o->type == MSGPACK_OBJECT_ARRAY && i < o->via.array.size; i++) {
		const msgpack_object *e = &o->via.array.ptr[i];

		if (e->type == MSGPACK_OBJECT_STR && e->via.str.size >= strlen(prefix) &&
		    memcmp(e->via.str.ptr, prefix, strlen(prefix)) == 0)
			return true;
	}
	return false;
}

static const char resume_nurse[] =
	"Jordan Avery\nRegistered Nurse\n\nEXPERIENCE\n\nRegistered Nurse\n"
	"St. Mary Hospital - Springfield, IL\nMarch 2017 to Present\n"
	"- Provided bedside care on a medical-surgical unit\n"
	"- Administered medications and monitored vital signs\n"
	"- Educated patients and families on discharge plans\n\n"
	"EDUCATION\nBachelor of Science in Nursing\nState University\n2013 to 2017\n";

/* An ad whose requirements name no skill the analysis knows gets no score,
 * and says why: covering "0 of 0" is not a perfect fit. */
START_TEST(analysis_no_recognised_skills_no_score)
{
	struct ima_req *req = run(resume_nurse,
		"Night Nurse - Riverside Hospital\n\nRequirements:\n"
		"- Willing to work nights and weekends\n"
		"- 2+ years of acute care experience\n- Compassionate bedside manner\n", NULL);
	const msgpack_object *o = ima_ctx_get(ima_req_ctx(req), "gap_analysis.alignment_score");
	const char *summary = str_at(req, "gap_analysis.summary");

	ck_assert_ptr_null(ima_ctx_get(ima_req_ctx(req), "job_requirements.skills_required.0"));
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_NIL);
	ck_assert_str_eq(str_at(req, "gap_analysis.alignment_reason"), "no_recognised_skills");
	ck_assert_ptr_null(strstr(summary, "0 of 0"));
	ck_assert_ptr_nonnull(strstr(summary, "no alignment score"));
	/* What the ad does state is still compared. */
	ck_assert_int_eq((int)num_at(req, "gap_analysis.years_gap.required"), 2);
	ima_req_free(req);

	/* With a job ad that names skills there is a score and no reason. */
	req = run(resume_senior, job_backend, NULL);
	o = ima_ctx_get(ima_req_ctx(req), "gap_analysis.alignment_reason");
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_NIL);
	ima_req_free(req);
	req = run(resume_senior, "", NULL);
	ck_assert_str_eq(str_at(req, "gap_analysis.alignment_reason"), "no_job_ad");
	ima_req_free(req);
}
END_TEST

/* A part of the score the ad says nothing about drops out instead of
 * counting as met: an ad that asks only for a missing "nice to have" skill
 * (no requirements, no years, no level) scores 0. */
START_TEST(analysis_unstated_parts_not_counted_as_met)
{
	struct ima_req *req = run(resume_nurse, "Nice to have:\n- Rust\n", NULL);

	ck_assert(list_has(req, "job_requirements.skills_preferred", NULL, "Rust"));
	ck_assert_ptr_null(ima_ctx_get(ima_req_ctx(req), "job_requirements.skills_required.0"));
	ck_assert_double_eq(num_at(req, "gap_analysis.alignment_score"), 0);
	ima_req_free(req);
}
END_TEST

/* An ad that states requirements of which none is recognised gets no
 * score, even when a preferred skill is recognised and held: the score
 * would rest on the nice-to-haves alone. */
START_TEST(analysis_unrecognised_requirements_no_score)
{
	struct ima_req *req = run(resume_nurse,
		"Night Nurse\n\nRequirements:\n- Willing to work nights and weekends\n"
		"- Compassionate bedside manner\n\nPreferred:\n- Vital signs monitoring\n", NULL);
	const msgpack_object *o = ima_ctx_get(ima_req_ctx(req), "gap_analysis.alignment_score");

	ck_assert(list_has(req, "job_requirements.skills_preferred", NULL, "Vital signs"));
	ck_assert(list_has(req, "gap_analysis.matched_preferred", NULL, "Vital signs"));
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_NIL);
	ck_assert_str_eq(str_at(req, "gap_analysis.alignment_reason"), "no_recognised_requirements");
	ck_assert_ptr_nonnull(strstr(str_at(req, "gap_analysis.summary"), "no alignment score"));
	ima_req_free(req);
}
END_TEST

static const char resume_terraform[] =
	"Sam Rivera\nDevOps Engineer\n\nEXPERIENCE\n\nDevOps Engineer\n"
	"Northwind Traders Inc - Denver, CO\nMay 2018 to Present\n"
	"- Wrote Terraform modules for 40 AWS accounts\n\nSKILLS\nTerraform, AWS\n";

/* A required skill implied by one the candidate names (Terraform implies
 * infrastructure as code) is covered: not a critical gap, listed as implied
 * with advice to name it, and counted as covered in the score. */
START_TEST(analysis_implied_skill_not_a_gap)
{
	struct ima_req *req = run(resume_terraform,
		"Requirements:\n- Infrastructure as code\n- AWS\n", NULL);

	ck_assert(list_has(req, "processed_skills.inferred_skills", "skill", "Infrastructure as code"));
	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "Infrastructure as code"));
	ck_assert(!list_has(req, "gap_analysis.critical_gaps", "skill", "Infrastructure as code"));
	ck_assert(!list_has(req, "gap_analysis.matched", NULL, "Infrastructure as code"));
	ck_assert(list_has(req, "gap_analysis.implied", "skill", "Infrastructure as code"));
	ck_assert_str_eq(str_at(req, "gap_analysis.implied.0.implied_by.0"), "Terraform");
	ck_assert(has_prefix_in(req, "gap_analysis.bridging_strategies",
				"Name Infrastructure as code explicitly"));
	ck_assert_double_eq(num_at(req, "gap_analysis.alignment_score"), 1);
	ck_assert_ptr_nonnull(strstr(str_at(req, "gap_analysis.summary"), "1 more implied"));
	ima_req_free(req);
}
END_TEST

/* Preferred skills the resume names are listed, so a score earned on the
 * preferred part alone shows what earned it. */
START_TEST(analysis_matched_preferred_listed)
{
	struct ima_req *req = run(resume_terraform, "Nice to have:\n- AWS\n- Rust\n", NULL);

	ck_assert(list_has(req, "gap_analysis.matched_preferred", NULL, "AWS"));
	ck_assert(!list_has(req, "gap_analysis.matched_preferred", NULL, "Rust"));
	ck_assert(list_has(req, "gap_analysis.nice_to_have_gaps", NULL, "Rust"));
	ima_req_free(req);
}
END_TEST

static const char resume_figures[] =
	"Alex Kim\nData Engineer\n\nEXPERIENCE\n\nSenior Data Engineer\n"
	"Brightline Analytics Inc - Chicago, IL\nJanuary 2019 to Present\n"
	"- Cut the nightly warehouse load time by 38% by moving batch jobs to Spark\n"
	"- Moved 40 TB of event data from Hadoop to S3 without downtime\n"
	"- Scheduled and monitored 120 jobs across three Airflow environments\n"
	"- Built self-service dashboards used by 200 analysts every week\n"
	"- Wrote the on-call runbook and reviewed pull requests for the team\n\n"
	"Data Engineer\nHarbor Freight Systems LLC - Dallas, TX\nJune 2015 to December 2018\n"
	"- Reduced report latency by 60% with incremental models in dbt\n"
	"- Maintained the ingestion services for the marketing data pipeline\n\n"
	"SKILLS\nPython, SQL, Spark, Airflow, AWS\n";

static const char resume_no_figures[] =
	"Alex Kim\nData Engineer\n\nEXPERIENCE\n\nSenior Data Engineer\n"
	"Brightline Analytics Inc - Chicago, IL\nJanuary 2019 to Present\n"
	"- Cut the nightly warehouse load time by moving batch jobs to Spark\n"
	"- Moved our event data from Hadoop to S3 without downtime\n"
	"- Scheduled and monitored jobs across the Airflow environments\n"
	"- Built self-service dashboards used by analysts every week\n"
	"- Wrote the on-call runbook and reviewed pull requests for the team\n\n"
	"Data Engineer\nHarbor Freight Systems LLC - Dallas, TX\nJune 2015 to December 2018\n"
	"- Reduced report latency with incremental models in dbt\n"
	"- Maintained the ingestion services for the marketing data pipeline\n\n"
	"SKILLS\nPython, SQL, Spark, Airflow, AWS\n";

/* Quantifying is recommended when the statements in the jobs lack
 * figures, not for a resume whose bullets carry them (percentages, sizes,
 * counts of things), whatever verbs they use. */
START_TEST(analysis_quantify_only_when_lacking)
{
	struct ima_req *req = run(resume_figures, "", NULL);

	ck_assert(!has_prefix_in(req, "seniority_analysis.recommendations", "Quantify"));
	ck_assert_ptr_nonnull(strstr(str_at(req, "seniority_analysis.reasoning"),
				     "figures in 5 of 7 statements"));
	ima_req_free(req);
	req = run(resume_no_figures, "", NULL);
	ck_assert(has_prefix_in(req, "seniority_analysis.recommendations", "Quantify"));
	ck_assert_ptr_nonnull(strstr(str_at(req, "seniority_analysis.reasoning"),
				     "figures in 0 of 7 statements"));
	ima_req_free(req);
}
END_TEST

/* A NaN skill confidence in a msgpack request is refused by the request
 * stage with the field at fault, not left to fail a later stage with a
 * 500 (a bucket whose count and entries disagree). */
START_TEST(analysis_non_finite_confidence_refused)
{
	static const double bad[] = { NAN, INFINITY, -INFINITY };

	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		struct ima_req *req = ima_req_new();
		const struct ima_error *e;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 2);
		ima_pack_cstr(&pk, "resume_text");
		ima_pack_cstr(&pk, resume_senior);
		ima_pack_cstr(&pk, "extracted_skills_json");
		msgpack_pack_map(&pk, 1);
		ima_pack_cstr(&pk, "skills");
		msgpack_pack_array(&pk, 1);
		msgpack_pack_map(&pk, 2);
		ima_pack_cstr(&pk, "skill");
		ima_pack_cstr(&pk, "Python");
		ima_pack_cstr(&pk, "confidence");
		msgpack_pack_double(&pk, bad[b]);
		ck_assert_int_eq(ima_engine_handle(eng, req, sb.data, sb.size, IMA_FMT_MSGPACK), 422);
		e = ima_req_error(req);
		ck_assert_str_eq(e->field, "extracted_skills_json.skills[0].confidence");
		ck_assert_ptr_null(strstr(e->message, "memory"));
		ima_req_free(req);
		msgpack_sbuffer_destroy(&sb);
	}
}
END_TEST

/*
 * Mutated requests through the whole pipeline, JSON and msgpack: byte
 * flips, truncations, duplicated spans. Every answer is an answer or an
 * error object, never a crash (ASan and UBSan watch in CI). Deterministic:
 * the seed is fixed, so a failure replays.
 */
START_TEST(analysis_survives_mutated_bodies)
{
	struct ima_req *req;
	char *base = request_json(resume_senior, job_backend,
				  "\"extracted_skills_json\": \"{\\\"skills\\\": [{\\\"skill\\\": \\\"go\\\", \\\"confidence\\\": 0.9}]}\"");
	size_t blen = strlen(base);
	msgpack_sbuffer mp;
	struct ima_error err;
	unsigned long seed = 20261125;
	char *buf = ima_malloc(2 * blen + 64);

	ck_assert_ptr_nonnull(buf);
	msgpack_sbuffer_init(&mp);
	ck_assert_int_eq(ima_body_decode(base, blen, IMA_FMT_JSON, ima_engine_limits(eng), &mp, &err), 0);
	for (int i = 0; i < 600; i++) {
		bool msgpack = i % 2 == 1;
		const char *src = msgpack ? mp.data : base;
		size_t n = msgpack ? mp.size : blen, len = n;
		struct ima_buf out = { 0 };
		int status, edits;

		memcpy(buf, src, n);
		seed = seed * 6364136223846793005ul + 1442695040888963407ul;
		edits = 1 + (int)((seed >> 40) % 8);
		for (int e = 0; e < edits; e++) {
			size_t at, span;

			seed = seed * 6364136223846793005ul + 1442695040888963407ul;
			at = len ? (size_t)(seed >> 33) % len : 0;
			switch ((seed >> 20) % 4) {
			case 0: /* flip a byte */
				if (len)
					buf[at] = (char)(seed >> 8);
				break;
			case 1: /* truncate */
				len = at;
				break;
			case 2: /* duplicate a span */
				span = (size_t)(seed >> 12) % 32;
				if (at + span <= len && len + span <= 2 * blen + 32) {
					memmove(buf + at + span, buf + at, len - at);
					len += span;
				}
				break;
			default: /* a byte of every kind */
				if (len)
					buf[at] = (char)(0x80 | (seed >> 5));
				break;
			}
		}
		req = ima_req_new();
		ck_assert_ptr_nonnull(req);
		status = ima_engine_handle(eng, req, buf, len, msgpack ? IMA_FMT_MSGPACK : IMA_FMT_JSON);
		ck_assert_msg(status == 200 || status == 400 || status == 413 || status == 422,
			      "mutation %d gave status %d", i, status);
		ck_assert_int_eq(ima_req_render(req, IMA_FMT_JSON, &out), 0);
		ck_assert_ptr_nonnull(out.data);
		ima_buf_free(&out);
		ima_req_free(req);
	}
	msgpack_sbuffer_destroy(&mp);
	ima_free(buf);
	ima_free(base);
}
END_TEST

#include "check_analysis_careers.h"
#include "check_analysis_jobads.h"

Suite *analysis_suite(void)
{
	Suite *s = suite_create("analysis");
	TCase *tc = tcase_create("analysis");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, analysis_fills_every_field);
	tcase_add_test(tc, analysis_confidence_buckets);
	tcase_add_test(tc, analysis_seniority_extremes);
	tcase_add_test(tc, analysis_overlapping_jobs_not_double_counted);
	tcase_add_test(tc, analysis_without_job_ad);
	tcase_add_test(tc, analysis_non_english_and_odd_text);
	tcase_add_test(tc, analysis_one_megabyte_resume);
	tcase_add_test(tc, analysis_survives_mutated_bodies);
	tcase_add_test(tc, analysis_no_recognised_skills_no_score);
	tcase_add_test(tc, analysis_unrecognised_requirements_no_score);
	tcase_add_test(tc, analysis_unstated_parts_not_counted_as_met);
	tcase_add_test(tc, analysis_implied_skill_not_a_gap);
	tcase_add_test(tc, analysis_matched_preferred_listed);
	tcase_add_test(tc, analysis_quantify_only_when_lacking);
	tcase_add_test(tc, analysis_non_finite_confidence_refused);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, careers_tcase());
	suite_add_tcase(s, jobads_tcase());
	return s;
}
