/*
 * check_units.c - the analysis building blocks on their own: the skills
 * matcher (dictionary, one-letter languages, aliases, word boundaries,
 * UTF-8), the stages' msgpack helpers (anautil) and the resume experience
 * parser (date forms, layouts, overlaps, education, stated years) and the
 * job-title matcher, with texts written for these tests.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anautil.h"
#include "exp_parse.h"
#include "ima_core.h"
#include "redis_url.h"
#include "roles.h"
#include "skillmatch.h"

static struct skillmatch_dict *dict;

static void dict_setup(void)
{
	char path[4096], err[512];

	ck_assert_int_eq(ima_data_path("skills.tsv", path, sizeof(path)), 0);
	dict = skillmatch_load(path, err, sizeof(err));
	ck_assert_msg(dict != NULL, "%s", err);
}

static void dict_teardown(void)
{
	skillmatch_free(dict);
}

struct collected {
	char buf[1024];
	size_t n;
};

static void collect(const struct skillmatch_hit *h, void *arg)
{
	struct collected *g = arg;

	g->n += (size_t)snprintf(g->buf + g->n, sizeof(g->buf) - g->n, "%s%s",
				 g->n ? "," : "", skillmatch_name(dict, h->skill_id));
}

static const struct {
	const char *text, *want;
} scans[] = {
	/* one-letter and ambiguous languages need a list context */
	{ "Languages: C, C++, Java", "C,C++,Java" },
	{ "Grade C student", "" },
	{ "R&D department", "" },
	{ "We need plan B, C", "" },
	{ "Skills: Python, R, SQL", "Python,R,SQL" },
	{ "C/C++ developer", "C,C++" },
	{ "the letter c, python", "Python" },
	{ "go to the office", "" },
	{ "Java, Go, Rust", "Java,Go,Rust" },
	{ "the rest of the team", "" },
	{ "REST APIs, GraphQL", "REST,GraphQL" },
	/* aliases */
	{ "We run k8s on AWS", "Kubernetes,AWS" },
	{ "Postgres and Redis", "PostgreSQL,Redis" },
	{ "node.js, nodejs or Node JS", "Node.js,Node.js,Node.js" },
	{ "Experience with C#/.NET", "C#,.NET" },
	{ "golang microservices", "Go,Microservices" },
	{ "CI/CD with Jenkins", "CI/CD,Jenkins" },
	{ "Logs in CloudWatch, queues on SQS, Istio", "Amazon CloudWatch,Amazon SQS,Istio" },
	{ "MSc or cand.polyt in physics", "Master's degree,Master's degree,Physics" },
	{ "you will excel at Excel", "Excel" },
	/* word boundaries, line breaks, UTF-8 */
	{ "javascript but not javascripting", "JavaScript" },
	{ "Pythonic Javaland", "" },
	{ "MySQL5", "" },
	{ "machine\n  learning", "Machine learning" },
	{ "\xe2\x80\xa2 Python \xe2\x80\xa2 Docker", "Python,Docker" },
	{ "Python\xc3\xad" "a", "" },
	{ "Profile: https://www.java.com/python docker", "Docker" },
	/* ordinary words that are also product names */
	{ "She gave her best, the fastest way to interact", "" },
	/* "teams" of people beside a methodology; the product is capitalised */
	{ "Agile teams and Scrum", "Agile,Scrum" },
	{ "Slack, Teams, Zoom", "Slack,Microsoft Teams,Zoom" },
	{ "", "" },
	{ "   \n\t ", "" },
	{ "C", "" },
};

START_TEST(skills_scan_cases)
{
	struct collected g = { "", 0 };

	ck_assert_int_eq(skillmatch_scan(dict, scans[_i].text, strlen(scans[_i].text),
					 collect, &g), 0);
	ck_assert_msg(strcmp(g.buf, scans[_i].want) == 0, "'%s': want [%s] got [%s]",
		      scans[_i].text, scans[_i].want, g.buf);
}
END_TEST

static const struct {
	const char *name, *want;
} lookups[] = {
	{ "python", "Python" }, { "k8s", "Kubernetes" }, { "Postgres", "PostgreSQL" },
	{ "Node JS", "Node.js" }, { " golang. ", "Go" }, { "c++", "C++" },
	{ "c#", "C#" }, { ".net", ".NET" }, { "reactjs", "React" },
	{ "no such skill", NULL }, { "", NULL },
};

START_TEST(skills_lookup_cases)
{
	int id = skillmatch_lookup(dict, lookups[_i].name, strlen(lookups[_i].name));

	if (lookups[_i].want == NULL) {
		ck_assert_int_lt(id, 0);
		return;
	}
	ck_assert_int_ge(id, 0);
	ck_assert_str_eq(skillmatch_name(dict, (unsigned)id), lookups[_i].want);
}
END_TEST

static void count_hit(const struct skillmatch_hit *h, void *arg)
{
	(void)h;
	(*(size_t *)arg)++;
}

START_TEST(skills_large_text)
{
	/* 1 MB of prose with two skills in every sentence: all found. */
	static const char chunk[] = "We ship Python services on Kubernetes with care. ";
	size_t n = (1 << 20) / (sizeof(chunk) - 1), hits = 0;
	char *text = malloc(n * (sizeof(chunk) - 1));

	ck_assert_ptr_nonnull(text);
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * (sizeof(chunk) - 1), chunk, sizeof(chunk) - 1);
	ck_assert_int_eq(skillmatch_scan(dict, text, n * (sizeof(chunk) - 1), count_hit, &hits), 0);
	ck_assert_uint_eq(hits, 2 * n);
	free(text);
}
END_TEST

START_TEST(skills_kinds_roles_adjacency)
{
	char path[4096], err[512];
	struct skillmatch_roles *roles;
	struct skillmatch_adjacency *adj;
	int k8 = skillmatch_find(dict, "Kubernetes", 10);
	int django = skillmatch_find(dict, "Django", 6);
	int python = skillmatch_find(dict, "Python", 6);
	const unsigned *ids;
	size_t n;
	bool implied = false;

	ck_assert_int_ge(k8, 0);
	ck_assert_str_eq(skillmatch_kind(dict, (unsigned)k8), "knowledge");
	ck_assert_ptr_null(skillmatch_kind(dict, 1u << 30));
	ck_assert_int_eq(ima_data_path("roles.tsv", path, sizeof(path)), 0);
	roles = skillmatch_roles_load(path, dict, err, sizeof(err));
	ck_assert_msg(roles != NULL, "%s", err);
	ck_assert_uint_gt(skillmatch_roles_count(roles), 500);
	skillmatch_roles_free(roles);
	ck_assert_int_eq(ima_data_path("adjacency.tsv", path, sizeof(path)), 0);
	adj = skillmatch_adjacency_load(path, dict, err, sizeof(err));
	ck_assert_msg(adj != NULL, "%s", err);
	n = skillmatch_adjacency_implied(adj, (unsigned)django, &ids);
	for (size_t i = 0; i < n; i++)
		implied |= ids[i] == (unsigned)python;
	ck_assert(implied);
	skillmatch_adjacency_free(adj);
	ck_assert_ptr_null(skillmatch_load("/nonexistent/skills.tsv", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/skills.tsv"));
}
END_TEST

/* ---- anautil: what the analysis stages read from unpacked msgpack ---- */

/* msgpack-c unpacks an empty string with a NULL pointer; the helpers hand
 * out a real one, so offsets and memcmp on it are defined. */
START_TEST(anautil_empty_string_pointer)
{
	msgpack_object empty = { .type = MSGPACK_OBJECT_STR };
	msgpack_object_kv kv = { .key = empty, .val = empty };
	msgpack_object map = { .type = MSGPACK_OBJECT_MAP };
	const char *s = NULL;
	size_t n = 7;

	ck_assert_ptr_null(empty.via.str.ptr);
	ck_assert(anautil_str(&empty, &s, &n));
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(n, 0);
	ck_assert(anautil_str_is(&empty, ""));
	ck_assert(!anautil_str_is(&empty, "x"));
	map.via.map.size = 1;
	map.via.map.ptr = &kv;
	ck_assert_ptr_eq(anautil_map_get(&map, ""), &kv.val);
	ck_assert_ptr_null(anautil_map_get(&map, "a"));
}
END_TEST

START_TEST(anautil_number_finite_only)
{
	static const double bad[] = { NAN, INFINITY, -INFINITY };
	msgpack_object o = { .type = MSGPACK_OBJECT_FLOAT64 };
	double d = 0.25;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.type = i % 2 ? MSGPACK_OBJECT_FLOAT32 : MSGPACK_OBJECT_FLOAT64;
		o.via.f64 = bad[i];
		ck_assert(!anautil_number(&o, &d));
		ck_assert_double_eq(d, 0.25);
	}
	o.via.f64 = 0.5;
	ck_assert(anautil_number(&o, &d));
	ck_assert_double_eq(d, 0.5);
}
END_TEST

/* A value whose array header promises more entries than follow is a
 * packing fault, not a lack of memory: the error says which. */
START_TEST(anautil_put_names_malformed_value)
{
	struct ima_req *req = ima_req_new();
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const struct ima_error *e;

	ck_assert_ptr_nonnull(req);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 2);
	ima_pack_cstr(&pk, "only one");
	ck_assert_int_eq(anautil_put(req, "processed_skills", &sb), IMA_ERROR);
	e = ima_req_error(req);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->status, 500);
	ck_assert_ptr_nonnull(strstr(e->message, "processed_skills"));
	ck_assert_ptr_nonnull(strstr(e->message, "malformed"));
	ck_assert_ptr_null(strstr(e->message, "memory"));
	ima_req_free(req);

	req = ima_req_new();
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1);
	ima_pack_cstr(&pk, "");
	ck_assert_int_eq(anautil_put(req, "k", &sb), IMA_CONTINUE);
	ck_assert_ptr_nonnull(ima_ctx_get(ima_req_ctx(req), "k.0"));
	ima_req_free(req);
}
END_TEST

/* The Redis address forms the cache and quota share. */
START_TEST(redis_url_forms)
{
	struct redis_url u;
	char err[512];

	ck_assert_int_eq(redis_url_parse("redis://cache.internal:6380/3", &u, err, sizeof(err)), 0);
	ck_assert_str_eq(u.host, "cache.internal");
	ck_assert_int_eq(u.port, 6380);
	ck_assert_int_eq(u.db, 3);
	ck_assert(u.host_given);
	ck_assert_str_eq(u.path, "");
	ck_assert_int_eq(redis_url_parse("redis://:6379", &u, err, sizeof(err)), 0);
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert(!u.host_given);
	ck_assert_int_eq(redis_url_parse("redis://h", &u, err, sizeof(err)), 0);
	ck_assert_int_eq(u.port, 6379);
	ck_assert_int_eq(u.db, 0);
	ck_assert_int_eq(redis_url_parse("unix:///run/redis.sock?db=2", &u, err, sizeof(err)), 0);
	ck_assert_str_eq(u.path, "/run/redis.sock");
	ck_assert_int_eq(u.db, 2);
	ck_assert_int_eq(redis_url_parse("redis://h:99999", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "bad port"));
	ck_assert_int_eq(redis_url_parse("unix:///s?db=x", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "?db=N"));
	ck_assert_int_eq(redis_url_parse("unix://", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(redis_url_parse("unix:/run/redis.sock", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(redis_url_parse("", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "use redis://"));
	/* A Sentinel address where only redis:// is read says so. */
	ck_assert_int_eq(redis_url_parse("redis-sentinel://h/m", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "Sentinel address"));
}
END_TEST

START_TEST(redis_sentinel_url_forms)
{
	struct redis_sentinel_url u;
	char err[512];

	ck_assert(redis_url_is_sentinel("redis-sentinel://h/m"));
	ck_assert(!redis_url_is_sentinel("redis://h/1"));
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://10.0.0.1:5000,s2,s3:26380/cache-main/2",
						  &u, err, sizeof(err)), 0);
	ck_assert_int_eq(u.count, 3);
	ck_assert_str_eq(u.addr[0].host, "10.0.0.1");
	ck_assert_int_eq(u.addr[0].port, 5000);
	ck_assert_str_eq(u.addr[1].host, "s2");
	ck_assert_int_eq(u.addr[1].port, 26379);
	ck_assert_int_eq(u.addr[2].port, 26380);
	ck_assert_str_eq(u.master, "cache-main");
	ck_assert_int_eq(u.db, 2);
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://h/m", &u, err, sizeof(err)), 0);
	ck_assert_int_eq(u.count, 1);
	ck_assert_int_eq(u.db, 0);
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://h", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "master-name"));
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel:///m", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://h,/m", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://h:0/m", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "port"));
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://h:1x/m", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://h/", &u, err, sizeof(err)), -1);
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://h/a b", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "master name"));
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://h/m/x", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "database"));
	ck_assert_int_eq(redis_sentinel_url_parse("redis-sentinel://a,b,c,d,e,f,g,h,i/m", &u, err,
						  sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than 8"));
	ck_assert_int_eq(redis_sentinel_url_parse("redis://h/m", &u, err, sizeof(err)), -1);
}
END_TEST

#include "check_units_experience.h"
#include "check_units_titles.h"

int main(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("skills");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, dict_setup, dict_teardown);
	tcase_add_loop_test(tc, skills_scan_cases, 0, (int)(sizeof(scans) / sizeof(scans[0])));
	tcase_add_loop_test(tc, skills_lookup_cases, 0, (int)(sizeof(lookups) / sizeof(lookups[0])));
	tcase_add_test(tc, skills_large_text);
	tcase_add_test(tc, skills_kinds_roles_adjacency);
	suite_add_tcase(s, tc);
	tc = tcase_create("anautil");
	tcase_add_test(tc, anautil_empty_string_pointer);
	tcase_add_test(tc, anautil_number_finite_only);
	tcase_add_test(tc, anautil_put_names_malformed_value);
	suite_add_tcase(s, tc);
	tc = tcase_create("redis_url");
	tcase_add_test(tc, redis_url_forms);
	tcase_add_test(tc, redis_sentinel_url_forms);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, experience_tcase());
	suite_add_tcase(s, titles_tcase());
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
