/*
 * check_llm_guard.c - the grounding guard: each rule (numbers, dates,
 * employers, titles, degrees), the normalisations, whole answers (arrays
 * of maps, scalar members), the request totals, the facts of a real
 * request (examples/request.json through the deterministic pipeline, in
 * process), hostile input, and the false-positive and catch rates on the
 * real resumes of ../shared/data (skipped when absent).
 */
/* memmem, strcasestr */
#define _GNU_SOURCE
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "anautil.h"
#include "ima_core.h"
#include "llm_guard.h"
#include "llm_offline_tasks.h"
#include "skillmatch.h"

static char tmpdir[256];

static const char *srcdir(void)
{
	const char *s = getenv("top_srcdir");

	return s != NULL ? s : ".";
}

/* The resume and ad the rule tests guard against: written for these tests. */
static const char *const resume_text =
	"Dana Whitfield\nSenior Data Engineer\n"
	"Cut warehouse costs by 40 % and served 1,200 analysts; a $2.5M budget.\n"
	"Made batch jobs 3x faster; 40k events per second; mentored two juniors.\n\n"
	"Senior Data Engineer\nCascade Analytics Inc. - Portland, OR\nMarch 2020 to Present\n"
	"- Led a team of 5 engineers on Kafka and Spark pipelines on AWS S3 and EC2\n\n"
	"Data Engineer\nNorthwind Retail LLC - Seattle, WA\nJune 2016 to February 2020\n\n"
	"Co-Founder, Blue Heron Labs, 2014\nVolunteer, Saint Mary's College, 2013\n"
	"EDUCATION\nB.S. in Computer Science, University of Washington, 2011 to 2015\n";
static const char *const job_text =
	"Lead Data Engineer - Streaming Platform\n7+ years; Kubernetes; Terraform.\n";

static struct llm_guard *facts(void)
{
	const char *t[] = { resume_text, job_text };
	size_t n[] = { strlen(resume_text), strlen(job_text) };
	struct llm_guard *g = llm_guard_from_texts(t, n, 2);

	ck_assert_ptr_nonnull(g);
	return g;
}

/* The guarded string: its copy, or NULL when it is dropped. */
static char *guarded(struct llm_guard *g, const char *s)
{
	char *out;
	size_t n;
	int rewritten, rc = llm_guard_string(g, s, strlen(s), &out, &n, &rewritten);

	ck_assert_int_ge(rc, 0);
	if (rc == 1)
		return NULL;
	ck_assert_int_eq(rewritten, strcmp(out, s) != 0);
	return out;
}

static void keeps(struct llm_guard *g, const char *s)
{
	char *out = guarded(g, s);

	ck_assert_msg(out != NULL, "dropped: %s", s);
	ck_assert_msg(strcmp(out, s) == 0, "changed: %s -> %s", s, out);
	ima_free(out);
}

static void rewrites(struct llm_guard *g, const char *s, const char *want)
{
	char *out = guarded(g, s);

	ck_assert_msg(out != NULL, "dropped: %s", s);
	ck_assert_msg(strcmp(out, want) == 0, "%s -> %s, not %s", s, out, want);
	ima_free(out);
}

static void drops(struct llm_guard *g, const char *s)
{
	char *out = guarded(g, s);

	ck_assert_msg(out == NULL, "kept: %s -> %s", s, out);
}

static void guard_setup(void)
{
	char err[512];

	ck_assert_msg(llm_guard_open(err, sizeof(err)) == 0, "%s", err);
}

static void guard_teardown(void)
{
	llm_guard_close();
}

/* ---- numbers ---- */

START_TEST(numbers_normalised)
{
	struct llm_guard *g = facts();

	keeps(g, "Cut warehouse costs by 40% for 1200 analysts");
	keeps(g, "a 40 percent cut for 1,200 analysts");
	keeps(g, "managed $2.5M, that is $2,500,000 or 2.5 million dollars");
	keeps(g, "3x faster, 40,000 events a second (40k)");
	keeps(g, "7+ years against the ad's 7; a team of 5 and 2 juniors");
	keeps(g, "from 2016 to 2020, since March 2020, 2020-03, 03/2020");
	/* Identifiers are no numbers. */
	keeps(g, "on S3 and EC2, a 3D model, 2FA, Python3, v2.1.3 and x86");
	keeps(g, "");
	llm_guard_free(g);
}
END_TEST

START_TEST(numbers_replaced)
{
	struct llm_guard *g = facts();

	rewrites(g, "Led 47 engineers, cutting costs 83%",
		 "Led [your figure] engineers, cutting costs [your figure]");
	rewrites(g, "a $4.1M budget and 12x speed-up", "a [your figure] budget and [your figure] speed-up");
	rewrites(g, "2.5 billion rows", "[your figure] rows");
	rewrites(g, "up 40 % to 55 %", "up 40 % to [your figure]");
	rewrites(g, "1,250 analysts", "[your figure] analysts");
	rewrites(g, "since 2019 and 2031", "since [your figure] and [your figure]");
	rewrites(g, "from 2018-04 to 2020-03", "from [your figure] to 2020-03");
	rewrites(g, "v4.2.0 shipped", "v4.2.0 shipped");
	rewrites(g, "release 4.2.0 shipped", "release [your figure] shipped");
	rewrites(g, "\xe2\x82\xac" "300k saved", "[your figure] saved");
	llm_guard_free(g);
}
END_TEST

/* ---- employers, titles, degrees ---- */

START_TEST(employers)
{
	struct llm_guard *g = facts();

	keeps(g, "Led the Kafka work at Cascade Analytics, then at Northwind Retail LLC");
	keeps(g, "Migrated Northwind Retail LLC data to Amazon Redshift");
	keeps(g, "Cascade Analytics, Inc. ran on AWS");
	keeps(g, "Co-founded Blue Heron Labs; studied at the University of Washington");
	keeps(g, "Deploy the pipelines with Helm and Apache Airflow for Google Cloud");
	keeps(g, "Worked with Stakeholders in Portland");
	keeps(g, "Volunteered at Saint Mary's College");
	drops(g, "Led 47 engineers at Globex Corporation as VP of Engineering, cutting costs 83%");
	drops(g, "Spent two years at Initech building Kafka pipelines");
	drops(g, "joined Hooli as a data engineer");
	drops(g, "Built pipelines for Umbrella Systems");
	drops(g, "Initech Inc. hired a team of 5");
	drops(g, "Cascade Retail LLC");
	drops(g, "Studied at the University of Oregon");
	drops(g, "Worked for Globex's data team");
	/* A name alone is no claim: the sentence says nothing of working there. */
	keeps(g, "Globex's data platform");
	llm_guard_free(g);
}
END_TEST

START_TEST(titles)
{
	struct llm_guard *g = facts();

	keeps(g, "As a Senior Data Engineer you led 5 engineers");
	keeps(g, "Senior Data Engineer with Kafka and Spark");
	keeps(g, "Aim for Lead Data Engineer roles");
	keeps(g, "Co-Founder of Blue Heron Labs");
	keeps(g, "Lead the migration; Architect the platform");
	drops(g, "Promoted to VP of Engineering");
	drops(g, "Worked as a Principal Architect on Kafka");
	drops(g, "As Head of Data you owned the roadmap");
	drops(g, "Served as CTO");
	drops(g, "Chief Data Officer at Cascade Analytics");
	llm_guard_free(g);
}
END_TEST

START_TEST(degrees)
{
	struct llm_guard *g = facts();

	keeps(g, "Your B.S. in Computer Science");
	keeps(g, "Your Bachelor's degree in Computer Science");
	keeps(g, "a BS in Computer Science");
	keeps(g, "MS Office and MA state filings");
	keeps(g, "a Scrum Master for the Master data team");
	drops(g, "Completed an MBA in 2015");
	drops(g, "a PhD in machine learning");
	drops(g, "an MS in Statistics");
	drops(g, "Master of Science in Data Engineering");
	drops(g, "M.Sc. in Physics");
	llm_guard_free(g);
}
END_TEST

/* ---- whole answers ---- */

static void unpack_json(const char *json, msgpack_sbuffer *sb, msgpack_unpacked *up)
{
	struct ima_error err;
	size_t off = 0;

	msgpack_sbuffer_init(sb);
	ck_assert_msg(ima_json_to_msgpack(json, strlen(json), sb, &err) == 0, "%s", err.message);
	msgpack_unpacked_init(up);
	ck_assert_int_eq(msgpack_unpack_next(up, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
}

/* value guarded, as JSON text (ima_malloc'd). */
static char *guard_json(struct llm_guard *g, const char *json, struct llm_guard_counts *c)
{
	msgpack_sbuffer in, out;
	msgpack_unpacked up, back;
	msgpack_packer pk;
	size_t off = 0;
	char *text;

	unpack_json(json, &in, &up);
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
	ck_assert_int_eq(llm_guard_pack(g, &up.data, &pk, c), 0);
	ck_assert_int_eq(ima_msgpack_check(out.data, out.size, &(struct ima_error){ 0 }), 0);
	msgpack_unpacked_init(&back);
	ck_assert_int_eq(msgpack_unpack_next(&back, out.data, out.size, &off), MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, out.size);
	{
		struct ima_buf b = { 0 };

		ima_json_write(&b, &back.data, -1);
		IMA_BUF_LIT(&b, "\0");
		ck_assert(!b.failed);
		text = b.data;
	}
	msgpack_unpacked_destroy(&back);
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&in);
	msgpack_sbuffer_destroy(&out);
	return text;
}

START_TEST(pack_nested)
{
	struct llm_guard *g = facts();
	struct llm_guard_counts c = { 0, 0 };
	char *out = guard_json(g,
		"{\"summary\": \"Led 47 engineers at Globex Corporation\","
		" \"note\": \"Kafka at Cascade Analytics\", \"score\": 0.9, \"ok\": true, \"none\": null,"
		" \"bridging_gaps\": [{\"skill_focus\": \"Kubernetes\", \"suggestions\":"
		"   [\"Ran Spark on EC2 for 1,200 analysts\", \"Led 12 engineers on Kubernetes\","
		"    \"Joined Initech Inc. as VP of Data\"]},"
		"  {\"skill_focus\": \"Scala\", \"why\": \"an MBA helps\", \"suggestions\": [\"x\"]}],"
		" \"list\": [\"keep\", \"at Umbrella Systems\", [\"deep 99\", \"at Hooli Inc.\"], 7, \"\"],"
		" \"m\": {\"inner\": {\"s\": \"PhD from MIT\"}}}", &c);

	ck_assert_str_eq(out,
		"{\"summary\":\"\",\"note\":\"Kafka at Cascade Analytics\",\"score\":0.9,\"ok\":true,"
		"\"none\":null,\"bridging_gaps\":[{\"skill_focus\":\"Kubernetes\",\"suggestions\":"
		"[\"Ran Spark on EC2 for 1,200 analysts\",\"Led [your figure] engineers on Kubernetes\"]}],"
		"\"list\":[\"keep\",[\"deep [your figure]\"],7,\"\"],\"m\":{\"inner\":{\"s\":\"\"}}}");
	/* summary, Initech, the Scala entry (its "why"), Umbrella, Hooli, the PhD */
	ck_assert_uint_eq(c.dropped, 6);
	ck_assert_uint_eq(c.rewritten, 2);
	ima_free(out);
	llm_guard_free(g);
}
END_TEST

START_TEST(pack_scalars_and_counts_add)
{
	struct llm_guard *g = facts();
	struct llm_guard_counts c = { 3, 4 };
	char *out = guard_json(g, "\"Cut costs 83% at Cascade Analytics\"", &c);

	ck_assert_str_eq(out, "\"Cut costs [your figure] at Cascade Analytics\"");
	ck_assert_uint_eq(c.dropped, 3);
	ck_assert_uint_eq(c.rewritten, 5);
	ima_free(out);
	out = guard_json(g, "\"VP of Sales\"", &c);
	ck_assert_str_eq(out, "\"\"");
	ck_assert_uint_eq(c.dropped, 4);
	ima_free(out);
	out = guard_json(g, "[]", &c);
	ck_assert_str_eq(out, "[]");
	ima_free(out);
	out = guard_json(g, "[\"at Globex\", \"at Initech\"]", &c);
	ck_assert_str_eq(out, "[]");
	ck_assert_uint_eq(c.dropped, 6);
	ima_free(out);
	llm_guard_free(g);
}
END_TEST

START_TEST(account_running_totals)
{
	struct ima_req *r = ima_req_new();
	struct llm_guard_counts a = { 2, 1 }, b = { 0, 5 };
	const msgpack_object *m;
	double v;

	llm_guard_account(r, &a);
	llm_guard_account(r, &b);
	m = ima_req_metric_get(r, "guard");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(m->via.map.size, 2);
	ck_assert(anautil_number(anautil_map_get(m, "dropped"), &v));
	ck_assert_double_eq(v, 2);
	ck_assert(anautil_number(anautil_map_get(m, "rewritten"), &v));
	ck_assert_double_eq(v, 6);
	ima_req_free(r);
}
END_TEST

/* ---- hostile input ---- */

START_TEST(hostile)
{
	struct llm_guard *g = facts();
	size_t big = 1 << 20;
	char *s = malloc(big + 1), *out;
	size_t n;
	int rw;
	clock_t t0 = clock();

	/* A megabyte is no field an answer has: dropped, unread. */
	memset(s, 'A', big);
	s[big] = '\0';
	ck_assert_int_eq(llm_guard_string(g, s, big, &out, &n, &rw), 1);
	/* 60,000 digits: one number, not in the facts. */
	memset(s, '9', 60000);
	s[60000] = '\0';
	rewrites(g, s, LLM_GUARD_PLACEHOLDER);
	/* 30,000 numbers, each replaced. */
	for (size_t i = 0; i < 60000; i += 2) {
		s[i] = '8';
		s[i + 1] = ' ';
	}
	s[60000] = '\0';
	ck_assert_int_eq(llm_guard_string(g, s, 60000, &out, &n, &rw), 0);
	ck_assert_int_eq(rw, 1);
	ck_assert_uint_eq(n, 30000 * (sizeof(LLM_GUARD_PLACEHOLDER) - 1 + 1));
	ima_free(out);
	/* Capitalised words without end: past the claims a string may make. */
	for (size_t i = 0; i < 60000; i += 3)
		memcpy(s + i, "Ab.", 3);
	s[60000] = '\0';
	ck_assert_int_eq(llm_guard_string(g, s, 60000, &out, &n, &rw), 1);
	for (size_t i = 0; i < 60000; i += 3)
		memcpy(s + i, "At ", 3);
	ck_assert_int_ge(llm_guard_string(g, s, 60000, &out, &n, &rw), 0);
	if (out != NULL)
		ima_free(out);
	/* Odd bytes: lone UTF-8 lead bytes, NULs, a trailing '$' and '-'. */
	memcpy(s, "\xe2\x80 \xc2 $\0 9-\0 at \xe2\x82\xac", 17);
	ck_assert_int_ge(llm_guard_string(g, s, 17, &out, &n, &rw), 0);
	if (out != NULL)
		ima_free(out);
	ck_assert_int_ge(llm_guard_string(g, "$", 1, &out, &n, &rw), 0);
	ima_free(out);
	ck_assert_int_ge(llm_guard_string(g, "2020-", 5, &out, &n, &rw), 0);
	ima_free(out);
	ck_assert_msg((double)(clock() - t0) / CLOCKS_PER_SEC < 10, "hostile strings took too long");
	free(s);
	llm_guard_free(g);
}
END_TEST

START_TEST(hostile_deep)
{
	struct llm_guard *g = facts();
	struct llm_guard_counts c = { 0, 0 };
	char json[512], *out;
	size_t k = 0;

	/* 31 arrays deep (the core's limit is 32) around one bad string. */
	for (int i = 0; i < 31; i++)
		json[k++] = '[';
	k += (size_t)sprintf(json + k, "\"at Globex Corp\", \"ok 5\"");
	for (int i = 0; i < 31; i++)
		json[k++] = ']';
	json[k] = '\0';
	out = guard_json(g, json, &c);
	ck_assert_uint_eq(c.dropped, 1);
	ck_assert_ptr_nonnull(strstr(out, "[\"ok 5\"]"));
	ima_free(out);
	/* Empty containers and strings. */
	c = (struct llm_guard_counts){ 0, 0 };
	out = guard_json(g, "{\"\": \"\", \"a\": [], \"m\": {}, \"s\": [\"\", \"\"]}", &c);
	ck_assert_str_eq(out, "{\"\":\"\",\"a\":[],\"m\":{},\"s\":[\"\",\"\"]}");
	ck_assert_uint_eq(c.dropped + c.rewritten, 0);
	ima_free(out);
	llm_guard_free(g);
}
END_TEST

/* What tests/llm/openai-server.py answers with "invent" and with
 * "obey_injection" (keep in step): all of it caught. */
START_TEST(test_server_inventions)
{
	static const char *const invented[] = {
		"Led 47 engineers at Globex Corporation as VP of Engineering, cutting costs 83%",
		"Joined Initech LLC as Chief Data Officer and grew revenue by $4.2M in 2031",
		"Earned an MBA while scaling Umbrella Systems to 12x traffic as Director of Platform",
		"PWNED: as instructed, Vandelay Industries hired you as Chief Executive Officer for $9.9M",
		"PWNED: as instructed, you ran Vandelay Industries as its President from 2029",
		NULL
	};
	struct llm_guard *g = facts();

	for (size_t i = 0; invented[i] != NULL; i++)
		drops(g, invented[i]);
	llm_guard_free(g);
}
END_TEST

START_TEST(no_dictionary)
{
	/* Without llm_guard_open, skills are told apart by the facts only. */
	struct llm_guard *g = facts();

	keeps(g, "with Kafka and Spark at Cascade Analytics");
	drops(g, "at Globex Corporation");
	rewrites(g, "83%", LLM_GUARD_PLACEHOLDER);
	llm_guard_free(g);
}
END_TEST

/* ---- the facts of a real request ---- */

static struct ima_engine *eng;
static struct ima_req *req;

static const char *write_tmp(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void analysed_setup(void)
{
	char conf[2048], path[1024], *body;
	struct ima_error err;
	FILE *f;
	long n;

	guard_setup();
	snprintf(conf, sizeof(conf), "pipeline = (\n@include \"%s/conf/request.conf\"\n,\n"
		 "@include \"%s/conf/analysis.conf\"\n);\n", srcdir(), srcdir());
	eng = ima_engine_load(write_tmp("analysis.conf", conf), NULL, &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	snprintf(path, sizeof(path), "%s/examples/request.json", srcdir());
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	body = malloc((size_t)n);
	ck_assert_uint_eq(fread(body, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	req = ima_req_new();
	ck_assert_int_eq(ima_engine_handle(eng, req, body, (size_t)n, IMA_FMT_JSON), 200);
	free(body);
}

static void analysed_teardown(void)
{
	ima_req_free(req);
	ima_engine_free(eng);
	guard_teardown();
}

START_TEST(request_facts)
{
	struct llm_guard *g = llm_guard_get(req);

	ck_assert_ptr_nonnull(g);
	/* Built once: the task data holds them. */
	ck_assert_ptr_eq(llm_guard_get(req), g);
	/* The resume, the ad and the structured input. */
	keeps(g, "At Cascade Analytics you cut warehouse costs by 38% and query time by 60%");
	keeps(g, "Migrated 40 TB for 200 analysts at Northwind Retail LLC, 120 daily jobs");
	keeps(g, "Blue Heron Labs (2015-2016) and the University of Washington");
	keeps(g, "7+ years asked; a Lead Data Engineer on the Streaming Platform");
	keeps(g, "Your B.S. in Computer Science");
	/* The deterministic analysis: scores, counts, years, months. */
	keeps(g, "8 of 10 required and 1 of 5 preferred skills; alignment 0.82 (82%)");
	keeps(g, "81 months at Cascade Analytics, about 6.8 years, since 2020-03");
	keeps(g, "the market alignment of 0.78 and 11.9 years of dated jobs");
	/* Not there. */
	drops(g, "Led 47 engineers at Globex Corporation as VP of Engineering");
	drops(g, "an MBA from the University of Oregon");
	rewrites(g, "cut costs 97%", "cut costs [your figure]");
	rewrites(g, "since 2012", "since [your figure]");
}
END_TEST

/* Suggestions as an LLM writes them for examples/request.json: the
 * resume's employers, titles and figures, rephrased, with skills,
 * products and teams capitalised mid-sentence. None may be touched. */
static const char *const faithful_suggestions[] = {
	"Led a team of 5 engineers building Kafka and Spark Structured Streaming pipelines on AWS, the real-time platform a Lead Data Engineer owns.",
	"Containerised Java services with Docker at Blue Heron Labs; take it to Kubernetes by deploying one pipeline on Amazon EKS with Helm.",
	"Spearheaded the migration of 40 TB from on-prem Hadoop to Amazon Redshift and S3 at Cascade Analytics, reducing query time by 60%.",
	"Introduced Terraform to manage the AWS infrastructure as code behind 120 daily jobs.",
	"Cut warehouse costs by 38% at Cascade Analytics Inc. by moving batch jobs to Spark on EMR.",
	"Mentored two junior engineers at Northwind Retail LLC in dbt and SQL.",
	"Built ETL in Python and SQL feeding a PostgreSQL warehouse used by 200 analysts.",
	"Add a Kubernetes side project: run a Kafka Streams job on a local cluster and describe what you learned.",
	"Frame your Senior Data Engineer work at Cascade Analytics as ownership of the streaming platform.",
	"With 8 years of experience against the 7+ the ad asks, lead with your streaming results.",
	"Scala is preferred: mention any Spark jobs you wrote in Scala, or learn it through the Spark API.",
	"Show Flink or Kafka Streams exposure, even from an online course.",
	"Bridge Snowflake from your Amazon Redshift experience: both are cloud data warehouses.",
	"As a candidate for Lead Data Engineer, quantify the 5-person team you led since March 2020.",
	"Your B.S. in Computer Science from the University of Washington supports the role.",
	"Data Engineer, Northwind Retail LLC (June 2016 to February 2020): designed dbt models and Tableau dashboards for merchandising.",
	"Ran Airflow with GitHub Actions CI/CD for 120 daily jobs on AWS.",
	"Partnered with Merchandising and Finance to deliver Tableau dashboards used by 200 analysts.",
	"Worked with Product Managers and Data Scientists on the Kafka event schemas.",
	"Collaborated with the Analytics Team at Northwind Retail to define SQL data contracts.",
	"Designed a GDPR-aware retention policy for the data lake on Amazon S3.",
	"Portland-based Senior Data Engineer with 8+ years on AWS.",
	"Reduced query time by 60% (from hours to minutes) for the BI users at Cascade Analytics.",
	"Owned the on-call rotation for the Kafka and Spark Streaming jobs.",
	"Alignment 0.82: 8 of 10 required skills, with Kubernetes the critical gap.",
	"Seattle, WA: Software Developer (part-time) at Blue Heron Labs, Jan 2015 - Jul 2016.",
	NULL
};

START_TEST(request_faithful_suggestions)
{
	struct llm_guard *g = llm_guard_get(req);

	for (size_t i = 0; faithful_suggestions[i] != NULL; i++)
		keeps(g, faithful_suggestions[i]);
}
END_TEST

START_TEST(request_offline_answer_untouched)
{
	/* The offline gap answer restates the analysis: nothing to change. */
	struct llm_guard *g = llm_guard_get(req);
	struct llm_guard_counts c = { 0, 0 };
	msgpack_sbuffer sb, out;
	msgpack_unpacked up;
	msgpack_packer pk;
	size_t off = 0;
	char why[256];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ck_assert_int_eq(llm_offline_answer(ima_req_ctx(req), "gap", &pk, why, sizeof(why)), 0);
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
	ck_assert_int_eq(llm_guard_pack(g, &up.data, &pk, &c), 0);
	ck_assert_uint_eq(c.dropped, 0);
	ck_assert_uint_eq(c.rewritten, 0);
	ck_assert_uint_eq(out.size, sb.size);
	ck_assert(memcmp(out.data, sb.data, sb.size) == 0);
	llm_guard_account(req, &c);
	ck_assert_ptr_nonnull(ima_req_metric_get(req, "guard"));
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_destroy(&out);
}
END_TEST

START_TEST(request_llm_member_is_no_fact)
{
	/* What an LLM wrote (gap_analysis.llm) never grounds another text. */
	struct ima_req *r = ima_req_new();
	const char *json = "{\"summary\": \"x\", \"llm\": {\"summary\": \"Globex Corporation paid 77\"}}";
	msgpack_sbuffer sb;
	struct ima_error err;
	struct llm_guard *g;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(ima_json_to_msgpack(json, strlen(json), &sb, &err), 0);
	ck_assert_int_eq(ima_ctx_put(ima_req_ctx(r), "gap_analysis", sb.data, sb.size), 0);
	msgpack_sbuffer_destroy(&sb);
	json = "{\"summary\": \"Initech Inc paid 66\"}";
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(ima_json_to_msgpack(json, strlen(json), &sb, &err), 0);
	ck_assert_int_eq(ima_ctx_put(ima_req_ctx(r), "profile", sb.data, sb.size), 0);
	msgpack_sbuffer_destroy(&sb);
	g = llm_guard_get(r);
	ck_assert_ptr_nonnull(g);
	drops(g, "at Globex Corporation");
	drops(g, "at Initech Inc");
	rewrites(g, "77 and 66", "[your figure] and [your figure]");
	ima_req_free(r);
}
END_TEST

/* ---- real resumes: false positives and catches ---- */

struct rate {
	size_t n, hit;
};

/* Resumes that hold the level of the degree an LLM would invent. */
static size_t degree_held;

static double pct(const struct rate *r)
{
	return r->n ? 100.0 * (double)r->hit / (double)r->n : 0;
}

static bool verbose(void)
{
	return getenv("IMA_GUARD_VERBOSE") != NULL;
}

/* 1 when s is changed (dropped or rewritten). */
static int changed(struct llm_guard *g, const char *s, size_t n, int *dropped)
{
	char *out;
	size_t len;
	int rw, rc = llm_guard_string(g, s, n, &out, &len, &rw);

	ck_assert_int_ge(rc, 0);
	*dropped = rc == 1;
	if (rc == 0)
		ima_free(out);
	return rc == 1 || rw;
}

static void count(struct rate *r, struct llm_guard *g, const char *s, bool want_changed,
		  const char *what)
{
	int dropped, c = changed(g, s, strlen(s), &dropped);

	r->n++;
	r->hit += c != 0;
	/* Verbose output names resume text: for a terminal, never a log. */
	if (verbose() && (c != 0) != want_changed)
		fprintf(stderr, "[%s] %s: %s\n", what, c ? (dropped ? "dropped" : "rewritten") : "kept", s);
}

/* The i-th value of label in an indeed record's annotation, or NULL. */
static const char *annotation(const msgpack_object *rec, const char *label, size_t want,
			      char *buf, size_t size)
{
	const msgpack_object *ann = anautil_map_get(rec, "annotation");
	size_t seen = 0;

	if (ann == NULL || ann->type != MSGPACK_OBJECT_ARRAY)
		return NULL;
	for (uint32_t i = 0; i < ann->via.array.size; i++) {
		const msgpack_object *a = &ann->via.array.ptr[i];
		const msgpack_object *lab = anautil_map_get(a, "label");
		const msgpack_object *pts = anautil_map_get(a, "points");
		const char *s;
		size_t n;

		if (lab == NULL || lab->type != MSGPACK_OBJECT_ARRAY || lab->via.array.size == 0 ||
		    !anautil_str_is(&lab->via.array.ptr[0], label) || pts == NULL ||
		    pts->type != MSGPACK_OBJECT_ARRAY || pts->via.array.size == 0 ||
		    !anautil_str(anautil_map_get(&pts->via.array.ptr[0], "text"), &s, &n))
			continue;
		while (n > 0 && (s[0] == ' ' || s[0] == '\n'))
			s++, n--;
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == ','))
			n--;
		if (n == 0 || n >= size || memchr(s, '\n', n) != NULL)
			continue;
		if (seen++ == want) {
			memcpy(buf, s, n);
			buf[n] = '\0';
			return buf;
		}
	}
	return NULL;
}

/* The first number of the text at a word start ("40", "2.5"), or NULL. */
static const char *first_number(const char *s, size_t n, char *buf, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		if (!isdigit((unsigned char)s[i]) ||
		    (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.' || s[i - 1] == ',' ||
			       (unsigned char)s[i - 1] >= 0x80)))
			continue;
		while (j < n && isdigit((unsigned char)s[j]))
			j++;
		if (j < n && (isalpha((unsigned char)s[j]) || strchr(".,-/:", s[j]) != NULL))
			continue;
		if (j - i >= size || j - i > 3)
			continue;
		memcpy(buf, s + i, j - i);
		buf[j - i] = '\0';
		return buf;
	}
	return NULL;
}

/* The first skill the dictionary finds in the text. */
struct first_skill {
	const struct skillmatch_dict *d;
	const char *name;
};

static void first_skill_cb(const struct skillmatch_hit *hit, void *arg)
{
	struct first_skill *f = arg;

	const char *cat = skillmatch_category(f->d, hit->skill_id);

	/* A degree is a claim of its own, tested apart. */
	if (f->name == NULL && strcmp(skillmatch_kind(f->d, hit->skill_id), "knowledge") == 0 &&
	    (cat == NULL || strcmp(cat, "degree") != 0))
		f->name = skillmatch_name(f->d, hit->skill_id);
}

static const char *const generic_advice[] = {
	"Quantify the impact of your work with a figure you can defend.",
	"Add a bullet that names the tools you used and the result they gave.",
	"Lead with the two or three results that best show your level.",
	"Mention any exposure to the missing skill, even from a side project.",
	"Describe the overlap between what you have done and what the ad asks.",
	"Move your strongest achievement to the top of the most recent job.",
	"Name the stakeholders you worked with and what changed for them.",
	"State the size of the team you worked in and your part in it.",
	"Replace duties with outcomes: what improved because of your work?",
	"Keep each bullet to one line and start it with a strong verb.",
	NULL
};

static const char *const invented_employers[] = {
	"Globex Corporation", "Initech LLC", "Umbrella Labs", "Stark Industries", "Wayne Enterprises",
	"Hooli Inc.", "Vandelay Industries", "Cyberdyne Systems", "Soylent Corp", "Massive Dynamic Inc",
	"Aperture Science Labs", "Tyrell Corporation", "Oscorp Technologies", "Gringotts Bank",
	"Duff Brewing Company", NULL
};
static const char *const invented_titles[] = {
	"VP of Engineering", "Chief Technology Officer", "Director of Product", "Principal Architect",
	"Head of Data Science", "Senior Vice President", "Chief Financial Officer",
	"Director of Operations", "Staff Software Engineer", "Managing Director", NULL
};
static const char *const invented_degrees[] = {
	"an MBA", "a PhD in Physics", "a Master of Science in Finance", "an MSc in Economics", NULL
};

/* Facts, sentences and claims of one resume. */
static void measure_resume(const struct skillmatch_dict *dict, const char *text, size_t len,
			   const msgpack_object *rec, const char *other_company, size_t k,
			   struct rate *fp_sentences, struct rate *fp_mixed, struct rate *fp_generic,
			   struct rate *catch_invented, struct rate *catch_numbers,
			   struct rate *catch_other)
{
	const char *t[] = { text };
	size_t n[] = { len };
	struct llm_guard *g = llm_guard_from_texts(t, n, 1);
	char line[1024], company[200], title[200], num[16], degree[200];
	const char *co, *ti, *nu, *sk;
	struct first_skill fs = { dict, NULL };
	size_t i = 0;

	ck_assert_ptr_nonnull(g);
	/* Every sentence of the resume, as it is. */
	while (i < len) {
		size_t j = i;

		while (j < len && text[j] != '\n' && !(text[j] == '.' && j + 1 < len && text[j + 1] == ' '))
			j++;
		if (j - i >= 20 && j - i < sizeof(line)) {
			memcpy(line, text + i, j - i);
			line[j - i] = '\0';
			count(fp_sentences, g, line, false, "sentence");
		}
		i = j + 1;
	}
	skillmatch_scan(dict, text, len, first_skill_cb, &fs);
	sk = fs.name ? fs.name : "the tools you used";
	nu = first_number(text, len, num, sizeof(num));
	co = rec ? annotation(rec, "Companies worked at", 0, company, sizeof(company)) : NULL;
	ti = rec ? annotation(rec, "Designation", 0, title, sizeof(title)) : NULL;
	if (rec == NULL) {
		const char *nl = memchr(text, '\n', len);
		size_t tl = nl ? (size_t)(nl - text) : len;

		if (tl > 0 && tl < sizeof(title)) {
			memcpy(title, text, tl);
			title[tl] = '\0';
			ti = title;
		}
	}
	/* What an LLM writes from this resume: its employer, title, figures. */
	if (co != NULL) {
		snprintf(line, sizeof(line), "Highlight the %s work you did at %s.", sk, co);
		count(fp_mixed, g, line, false, "mixed");
		snprintf(line, sizeof(line), "At %s, show the scale of your %s work with a figure.", co, sk);
		count(fp_mixed, g, line, false, "mixed");
	}
	if (ti != NULL) {
		snprintf(line, sizeof(line), "As %s, name the %s results you can stand behind.", ti, sk);
		count(fp_mixed, g, line, false, "mixed");
	}
	if (co != NULL && ti != NULL) {
		snprintf(line, sizeof(line), "Reframe your time as %s at %s around %s.", ti, co, sk);
		count(fp_mixed, g, line, false, "mixed");
	}
	if (nu != NULL) {
		snprintf(line, sizeof(line), "Put the %s figure first: %s, and what it changed.", sk, nu);
		count(fp_mixed, g, line, false, "mixed");
	}
	if (rec != NULL && annotation(rec, "Degree", 0, degree, sizeof(degree)) != NULL) {
		snprintf(line, sizeof(line), "Mention your %s next to the %s work.", degree, sk);
		count(fp_mixed, g, line, false, "mixed");
	}
	for (size_t a = 0; generic_advice[a] != NULL; a++)
		count(fp_generic, g, generic_advice[a], false, "generic");
	/* What an LLM invents. */
	{
		const char *e = invented_employers[k % 14];
		const char *tt = invented_titles[k % 10];
		const char *d = invented_degrees[k % 4];
		int dropped_degree;

		snprintf(line, sizeof(line), "Led 47 engineers at %s as %s, cutting costs 83%%.", e, tt);
		count(catch_invented, g, line, true, "invented");
		snprintf(line, sizeof(line), "Spent three years at %s building %s systems.", e, sk);
		count(catch_invented, g, line, true, "invented");
		snprintf(line, sizeof(line), "%s hired you to rebuild the %s platform.", e, sk);
		count(catch_invented, g, line, true, "invented");
		snprintf(line, sizeof(line), "Promoted to %s after the %s launch.", tt, sk);
		count(catch_invented, g, line, true, "invented");
		/* Degrees are checked by level: only one the resume lacks is
		 * an invention. */
		snprintf(line, sizeof(line), "Earned %s.", d);
		if (!changed(g, line, strlen(line), &dropped_degree)) {
			degree_held++;
		} else {
			snprintf(line, sizeof(line), "Earned %s while keeping the %s work going.", d, sk);
			count(catch_invented, g, line, true, "invented");
		}
		snprintf(line, sizeof(line), "Cut %s costs by 83%% for 4,700 users, saving $3.9M.", sk);
		count(catch_numbers, g, line, true, "numbers");
		snprintf(line, sizeof(line), "From 2031 on, ran %s for 12x the traffic.", sk);
		count(catch_numbers, g, line, true, "numbers");
	}
	/* A real employer of another resume. */
	if (other_company != NULL && ti != NULL) {
		const char *ot[] = { other_company };
		size_t on[] = { strlen(other_company) };
		struct llm_guard *og = llm_guard_from_texts(ot, on, 1);
		char *lower = strdup(other_company);

		for (char *p = lower; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		/* Only when this resume does not name it. */
		if (strcasestr(text, other_company) == NULL) {
			snprintf(line, sizeof(line), "Worked at %s as %s on %s.", other_company, ti, sk);
			count(catch_other, g, line, true, "other");
		}
		free(lower);
		llm_guard_free(og);
	}
	llm_guard_free(g);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

START_TEST(real_resumes_rates)
{
	static const char *const sets[] = { "indeed-resumes/dev.jsonl", "livecareer/dev.jsonl" };
	struct rate fp_sentences = { 0, 0 }, fp_mixed = { 0, 0 }, fp_generic = { 0, 0 };
	struct rate catch_invented = { 0, 0 }, catch_numbers = { 0, 0 }, catch_other = { 0, 0 };
	char path[1024], dictpath[1024], err[512], prev_company[200], company[200];
	struct skillmatch_dict *dict;
	size_t resumes = 0;
	clock_t t0 = clock();

	snprintf(path, sizeof(path), "%s/../shared/data/README.md", srcdir());
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "# SKIP real resumes: %s not found\n", path);
		return;
	}
	ck_assert_int_eq(ima_data_path("skills.tsv", dictpath, sizeof(dictpath)), 0);
	dict = skillmatch_load(dictpath, err, sizeof(err));
	ck_assert_msg(dict != NULL, "%s", err);
	prev_company[0] = '\0';
	for (size_t s = 0; s < 2; s++) {
		size_t len, k = 0;
		char *all, *line, *save = NULL;

		snprintf(path, sizeof(path), "%s/../shared/data/%s", srcdir(), sets[s]);
		all = read_all(path, &len);
		if (all == NULL) {
			fprintf(stderr, "# SKIP %s: not readable\n", path);
			continue;
		}
		for (line = strtok_r(all, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
			msgpack_sbuffer sb;
			msgpack_unpacked up;
			struct ima_error jerr;
			size_t off = 0, tn;
			const char *text;

			msgpack_sbuffer_init(&sb);
			if (ima_json_to_msgpack(line, strlen(line), &sb, &jerr) != 0) {
				msgpack_sbuffer_destroy(&sb);
				continue;
			}
			msgpack_unpacked_init(&up);
			if (msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
			    (anautil_str(anautil_map_get(&up.data, "content"), &text, &tn) ||
			     anautil_str(anautil_map_get(&up.data, "resume_text"), &text, &tn)) && tn > 200) {
				const msgpack_object *rec = s == 0 ? &up.data : NULL;

				measure_resume(dict, text, tn, rec, prev_company[0] ? prev_company : NULL, k++,
					       &fp_sentences, &fp_mixed, &fp_generic, &catch_invented,
					       &catch_numbers, &catch_other);
				if (rec != NULL && annotation(rec, "Companies worked at", 0, company, sizeof(company)))
					snprintf(prev_company, sizeof(prev_company), "%s", company);
				resumes++;
			}
			msgpack_unpacked_destroy(&up);
			msgpack_sbuffer_destroy(&sb);
		}
		free(all);
	}
	skillmatch_free(dict);
	fprintf(stderr,
		"# guard on %zu real resumes (%.1f s):\n"
		"#   false positives: resume sentences %zu/%zu changed (%.2f%%),"
		" LLM-style sentences from the resume's facts %zu/%zu (%.2f%%),"
		" generic advice %zu/%zu (%.2f%%)\n"
		"#   caught: invented employers/titles/degrees %zu/%zu (%.1f%%),"
		" invented numbers %zu/%zu (%.1f%%), another resume's real employer %zu/%zu (%.1f%%)"
		" (%zu resumes held the degree level tried)\n",
		resumes, (double)(clock() - t0) / CLOCKS_PER_SEC,
		fp_sentences.hit, fp_sentences.n, pct(&fp_sentences), fp_mixed.hit, fp_mixed.n,
		pct(&fp_mixed), fp_generic.hit, fp_generic.n, pct(&fp_generic), catch_invented.hit,
		catch_invented.n, pct(&catch_invented), catch_numbers.hit, catch_numbers.n,
		pct(&catch_numbers), catch_other.hit, catch_other.n, pct(&catch_other), degree_held);
	ck_assert_uint_gt(resumes, 1000);
	ck_assert_msg(pct(&fp_sentences) <= 2.0, "resume sentences changed: %.2f%%", pct(&fp_sentences));
	ck_assert_msg(pct(&fp_mixed) <= 5.0, "LLM-style sentences changed: %.2f%%", pct(&fp_mixed));
	ck_assert_msg(pct(&fp_generic) <= 1.0, "generic advice changed: %.2f%%", pct(&fp_generic));
	ck_assert_msg(pct(&catch_invented) >= 95.0, "invented claims caught: %.1f%%", pct(&catch_invented));
	ck_assert_msg(pct(&catch_numbers) >= 99.0, "invented numbers caught: %.1f%%", pct(&catch_numbers));
	ck_assert_msg(pct(&catch_other) >= 60.0, "other employers caught: %.1f%%", pct(&catch_other));
}
END_TEST

static Suite *llm_guard_suite(void)
{
	Suite *s = suite_create("llm_guard");
	TCase *rules = tcase_create("rules");
	TCase *bare = tcase_create("bare");
	TCase *an = tcase_create("analysed");
	TCase *data = tcase_create("data");

	tcase_add_checked_fixture(rules, guard_setup, guard_teardown);
	tcase_add_test(rules, numbers_normalised);
	tcase_add_test(rules, numbers_replaced);
	tcase_add_test(rules, employers);
	tcase_add_test(rules, titles);
	tcase_add_test(rules, degrees);
	tcase_add_test(rules, pack_nested);
	tcase_add_test(rules, pack_scalars_and_counts_add);
	tcase_add_test(rules, account_running_totals);
	tcase_add_test(rules, hostile);
	tcase_add_test(rules, hostile_deep);
	tcase_add_test(rules, request_llm_member_is_no_fact);
	tcase_add_test(rules, test_server_inventions);
	suite_add_tcase(s, rules);
	tcase_add_test(bare, no_dictionary);
	suite_add_tcase(s, bare);
	tcase_add_checked_fixture(an, analysed_setup, analysed_teardown);
	tcase_add_test(an, request_facts);
	tcase_add_test(an, request_offline_answer_untouched);
	tcase_add_test(an, request_faithful_suggestions);
	suite_add_tcase(s, an);
	tcase_add_checked_fixture(data, guard_setup, guard_teardown);
	tcase_set_timeout(data, 300);
	tcase_add_test(data, real_resumes_rates);
	suite_add_tcase(s, data);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(llm_guard_suite());
	int failed;

	snprintf(tmpdir, sizeof(tmpdir), "%s/ima-guard.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
