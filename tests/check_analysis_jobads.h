/*
 * check_analysis_jobads.h - what job_requirements takes from a job ad, through
 * the real pipeline: which sections of the ad hold requirements, and which
 * mentions of a skill are no requirement at all. Ads written for these tests
 * in the layouts of job boards. Included by check_analysis.c.
 */

static bool jobads_listed(struct ima_req *req, const char *skill)
{
	return list_has(req, "job_requirements.skills_required", NULL, skill) ||
	       list_has(req, "job_requirements.skills_preferred", NULL, skill);
}

/* A job board's fact block ("Compensation:" and its value) ends at the next
 * heading of the job; "Who we are looking for" opens the requirements (it
 * is no "Who we are"); a skill named only under the benefits is neither
 * asked for nor a gap. */
START_TEST(jobads_sections)
{
	static const char ad[] =
		"Backend Developer\n"
		"Compensation:\n"
		"EUR 50k - 65k\n"
		"Job description\n"
		"We build payment services in Java.\n"
		"Who we are looking for\n"
		"- Kubernetes and PostgreSQL\n"
		"Job benefits:\n"
		"- Free Docker workshops\n";
	struct ima_req *req = run("Engineer\nI write software.\n", ad, NULL);

	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "Kubernetes"));
	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "PostgreSQL"));
	/* Outside the requirements of an ad that has them: preferred. */
	ck_assert(list_has(req, "job_requirements.skills_preferred", NULL, "Java"));
	ck_assert(!jobads_listed(req, "Docker"));
	ck_assert(!list_has(req, "gap_analysis.nice_to_have_gaps", NULL, "Docker"));
	ck_assert(!list_has(req, "gap_analysis.critical_gaps", "skill", "Docker"));
	ima_req_free(req);
}
END_TEST

/* Knowledge areas an ad names beside its technologies (data/areas.tsv). */
START_TEST(jobads_knowledge_areas)
{
	static const char ad[] =
		"Embedded Engineer\n"
		"Requirements\n"
		"- Firmware development for ARM and device drivers on the Linux kernel\n"
		"- Sound system architecture and communication protocols\n"
		"- Scripting languages\n";
	struct ima_req *req = run("Engineer\nI write software.\n", ad, NULL);

	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "Firmware development"));
	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "Device drivers"));
	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "Linux kernel"));
	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "System architecture"));
	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "Communication protocols"));
	ck_assert(list_has(req, "job_requirements.skills_required", NULL, "Scripting languages"));
	ima_req_free(req);
}
END_TEST

static TCase *jobads_tcase(void)
{
	TCase *tc = tcase_create("jobads");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, jobads_sections);
	tcase_add_test(tc, jobads_knowledge_areas);
	return tc;
}
