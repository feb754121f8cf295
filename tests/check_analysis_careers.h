/*
 * check_analysis_careers.h - roles and seniority beyond software, through
 * the real pipeline: resumes written for these tests in the layout of
 * resume-builder PDFs (title line, "Title , MM/YYYY to Current", "Company
 * Name - City , State"). Included by check_analysis.c.
 */

/* A charge nurse with 13 years: no technology a software resume has. */
static const char resume_charge_nurse[] =
	"CHARGE NURSE\n"
	"Summary\n"
	"Registered nurse with 13 years of experience in acute medical-surgical care, "
	"the last six as charge nurse of a 32-bed unit.\n"
	"Highlights\n"
	"Patient assessment, IV therapy, phlebotomy, wound care, BLS and ACLS certified, Epic charting\n"
	"Experience\n"
	"Charge Nurse , 06/2018 to Current\n"
	"Company Name \xef\xbc\x8d City , State\n"
	"Coordinated patient assignments and staffing for 8 nurses per shift.\n"
	"Precepted new graduate nurses and supervised nursing assistants.\n"
	"Registered Nurse , 05/2014 to 05/2018\n"
	"Company Name \xef\xbc\x8d City , State\n"
	"Administered medications and IV therapy to 6 patients per shift.\n"
	"Staff Nurse , 03/2011 to 04/2014\n"
	"Company Name \xef\xbc\x8d City , State\n"
	"Monitored post-operative patients and educated families on discharge care.\n"
	"Education\n"
	"Bachelor of Science : Nursing , 2010\n"
	"State University \xef\xbc\x8d City , State\n";

static const char resume_data_engineer[] =
	"Senior Data Engineer\n"
	"Summary\n"
	"Data engineer with 7 years of experience building batch and streaming pipelines.\n"
	"Skills\n"
	"Python, SQL, Apache Spark, Apache Kafka, Airflow, Amazon Redshift, PostgreSQL, dbt\n"
	"Experience\n"
	"Senior Data Engineer , 03/2020 to Current\n"
	"Company Name \xef\xbc\x8d City , State\n"
	"Built Kafka and Spark streaming pipelines into Amazon Redshift for 40 TB of events.\n"
	"Data Engineer , 06/2017 to 02/2020\n"
	"Company Name \xef\xbc\x8d City , State\n"
	"Wrote Airflow jobs in Python and SQL loading PostgreSQL into the warehouse.\n";

/* Index of the first of the first n role suggestions whose soc_code
 * starts with prefix, or -1. */
static int role_rank(struct ima_req *req, const char *prefix, int n)
{
	char path[64];

	for (int i = 0; i < n; i++) {
		const char *code;

		snprintf(path, sizeof(path), "role_suggestions.%d.soc_code", i);
		code = str_at(req, path);
		if (code != NULL && strncmp(code, prefix, strlen(prefix)) == 0)
			return i;
	}
	return -1;
}

START_TEST(careers_charge_nurse)
{
	struct ima_req *req = run(resume_charge_nurse, "", NULL);
	int rn = role_rank(req, "29-1141", 3), managers = role_rank(req, "11-9111", 3);
	char path[64];

	/* Registered Nurses (or nursing management) in the top three, from
	 * her titles. */
	ck_assert_msg(rn >= 0 || managers >= 0, "no nursing role in the top 3: %s",
		      str_at(req, "role_suggestions.0.soc_code"));
	snprintf(path, sizeof(path), "role_suggestions.%d.evidence", rn >= 0 ? rn : managers);
	ck_assert(list_has(req, path, NULL, "title"));
	snprintf(path, sizeof(path), "role_suggestions.%d.matched_titles", rn >= 0 ? rn : managers);
	ck_assert(list_has(req, path, NULL, "Charge Nurse") || list_has(req, path, NULL, "CHARGE NURSE"));
	/* 13 years as a nurse, charge nurse now: senior, not principal. */
	ck_assert(num_at(req, "seniority_analysis.total_years_experience") > 12);
	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "senior");
	ck_assert_str_eq(str_at(req, "role_suggestions.0.seniority_level"), "senior");
	ck_assert_ptr_nonnull(strstr(str_at(req, "seniority_analysis.reasoning"), "Registered Nurses"));
	ck_assert_ptr_nonnull(strstr(str_at(req, "seniority_analysis.reasoning"), "Job Zone"));
	ima_req_free(req);
}
END_TEST

START_TEST(careers_data_engineer)
{
	struct ima_req *req = run(resume_data_engineer, "", NULL);
	const char *first = str_at(req, "role_suggestions.0.soc_code");

	/* Data occupations first: O*NET's "Data Engineer" names Database
	 * Architects, Data Scientists and Statisticians. */
	ck_assert_ptr_nonnull(first);
	ck_assert_msg(strcmp(first, "15-1243.00") == 0 || strcmp(first, "15-2051.00") == 0 ||
		      strcmp(first, "15-2041.00") == 0, "first role %s", first);
	ck_assert(list_has(req, "role_suggestions.0.evidence", NULL, "title"));
	ck_assert(list_has(req, "role_suggestions.0.evidence", NULL, "skills"));
	ck_assert(list_has(req, "role_suggestions.0.matched_titles", NULL, "Senior Data Engineer"));
	ck_assert(num_at(req, "role_suggestions.0.title_score") > 0.5);
	ck_assert(num_at(req, "role_suggestions.0.skill_score") > 0);
	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "senior");
	ima_req_free(req);
}
END_TEST

/*
 * No title line: the most recent job says what the candidate does now, and
 * "Teacher" still says it although it names 24 occupations (nearly all in
 * the teachers' SOC minor groups), ahead of an older, narrower title.
 */
START_TEST(careers_recent_broad_title)
{
	struct ima_req *req = run(
		"Summary\nPatient and organised, with a calm classroom manner.\n"
		"Experience\nTeacher , 08/2016 to Current\nCompany Name \xef\xbc\x8d City , State\n"
		"Planned lessons for 28 pupils and met parents every term.\n"
		"Cashier , 06/2012 to 07/2016\nCompany Name \xef\xbc\x8d City , State\n"
		"Handled cash and card payments.\n", "", NULL);
	int teacher = role_rank(req, "25-", 3);

	ck_assert_msg(teacher >= 0, "no teaching role in the top 3: %s",
		      str_at(req, "role_suggestions.0.soc_code"));
	ck_assert_msg(role_rank(req, "41-2011", 1) < 0, "the older job ranks first");
	ima_req_free(req);
}
END_TEST

/* Field words set the level from titles: a staff nurse is not a staff
 * engineer, a school principal is a principal. */
START_TEST(careers_title_levels)
{
	struct ima_req *req = run(
		"Staff Nurse\nExperience\nStaff Nurse , 01/2022 to Current\nCompany Name \xef\xbc\x8d City , State\n",
		"", NULL);

	/* 2.4 years from dates, near the junior/mid-level boundary: a
	 * title of rank would move it, "staff" here is none. */
	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "mid-level");
	ima_req_free(req);
	req = run("Principal\nExperience\nPrincipal , 08/2009 to Current\nCompany Name \xef\xbc\x8d City , State\n"
		  "Led a school of 600 students and 45 teachers.\n"
		  "Teacher , 08/2001 to 06/2009\nCompany Name \xef\xbc\x8d City , State\n", "", NULL);
	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "principal");
	ck_assert(role_rank(req, "11-9032", 3) >= 0 || role_rank(req, "11-9039", 3) >= 0);
	ima_req_free(req);
	/* A chef de cuisine with 7 years: the years decide below principal. */
	req = run("Chef de Cuisine\nExperience\nChef de Cuisine , 03/2019 to Current\n"
		  "Company Name \xef\xbc\x8d City , State\nSous Chef , 01/2017 to 02/2019\n"
		  "Company Name \xef\xbc\x8d City , State\n", "", NULL);
	ck_assert(role_rank(req, "35-1011", 3) >= 0);
	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "senior");
	ima_req_free(req);
	/* ... and from 13 years a chef de cuisine is principal, a cook is not. */
	req = run("Chef de Cuisine\nExperience\nChef de Cuisine , 03/2017 to Current\n"
		  "Company Name \xef\xbc\x8d City , State\nLine Cook , 01/2011 to 02/2017\n"
		  "Company Name \xef\xbc\x8d City , State\n", "", NULL);
	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "principal");
	ima_req_free(req);
	req = run("Line Cook\nExperience\nLine Cook , 01/2011 to Current\n"
		  "Company Name \xef\xbc\x8d City , State\n", "", NULL);
	ck_assert_str_eq(str_at(req, "seniority_analysis.level"), "senior");
	ima_req_free(req);
}
END_TEST

static TCase *careers_tcase(void)
{
	TCase *tc = tcase_create("careers");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, careers_charge_nurse);
	tcase_add_test(tc, careers_data_engineer);
	tcase_add_test(tc, careers_title_levels);
	tcase_add_test(tc, careers_recent_broad_title);
	return tc;
}
