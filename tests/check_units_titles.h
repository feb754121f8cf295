/*
 * check_units_titles.h - the job-title matcher and the occupations table
 * (plugins/common/roles.c) against data/titles.tsv and data/occupations.tsv
 * (included by check_units.c).
 */
static struct skillmatch_titles *titles_load_data(void)
{
	char path[4096], occ[4096], err[512];
	struct skillmatch_titles *t;

	ck_assert_int_eq(ima_data_path("titles.tsv", path, sizeof(path)), 0);
	ck_assert_int_eq(ima_data_path("occupations.tsv", occ, sizeof(occ)), 0);
	t = skillmatch_titles_load(path, occ, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	return t;
}

/* Does a match of title name the occupation code? */
static bool titles_names(const struct skillmatch_titles *t, const char *title,
			 const char *code)
{
	struct skillmatch_title_match m[4];
	size_t n = skillmatch_titles_match(t, title, strlen(title), m, 4);
	int want = skillmatch_occupation_find(t, code);

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < m[i].noccupations; k++)
			if ((int)m[i].occupations[k] == want)
				return true;
	return false;
}

START_TEST(titles_occupations_table)
{
	struct skillmatch_titles *t = titles_load_data();
	int rn = skillmatch_occupation_find(t, "29-1141.00");
	const struct skillmatch_occupation *o;

	ck_assert_uint_gt(skillmatch_occupations_count(t), 1000);
	ck_assert_int_ge(rn, 0);
	o = skillmatch_occupation_get(t, (size_t)rn);
	ck_assert_str_eq(o->title, "Registered Nurses");
	ck_assert_int_eq(o->job_zone, 4);
	ck_assert_int_eq(o->experience_min, 12);
	ck_assert_int_eq(o->experience_max, 24);
	ck_assert_uint_gt(o->nrelated, 0);
	ck_assert_int_eq(skillmatch_occupation_find(t, "29-1141"), -1);
	ck_assert_int_eq(skillmatch_occupation_find(t, "99-9999.99"), -1);
	ck_assert_ptr_null(skillmatch_occupation_get(t, skillmatch_occupations_count(t)));
	skillmatch_titles_free(t);
}
END_TEST

START_TEST(titles_match_parts)
{
	struct skillmatch_titles *t = titles_load_data();
	struct skillmatch_title_match m[4];
	const char *prose = "one two three four five six seven eight nine ten eleven "
			    "twelve thirteen fourteen fifteen sixteen nurse";
	size_t n;

	/* Level words are dropped, the whole part is the known title. */
	n = skillmatch_titles_match(t, "Senior Data Engineer", 20, m, 4);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(m[0].words, 2);
	ck_assert_uint_eq(m[0].part_words, 2);
	ck_assert(titles_names(t, "Senior Data Engineer", "15-1243.00"));
	ck_assert(titles_names(t, "SR. DATA ENGINEERS", "15-2051.00"));
	/* Parts at "/", " - " and " at "; the head of a longer title. */
	n = skillmatch_titles_match(t, "RN / Charge Nurse - ICU", 23, m, 4);
	ck_assert_uint_ge(n, 2);
	ck_assert(titles_names(t, "RN / Charge Nurse - ICU", "29-1141.00"));
	ck_assert(titles_names(t, "Executive Chef at Company Name", "35-1011.00"));
	ck_assert(titles_names(t, "Chef & Owner", "35-1011.00"));
	n = skillmatch_titles_match(t, "Pastry Cook , 05/2014 to Current", 32, m, 4);
	ck_assert_uint_ge(n, 1);
	ck_assert_uint_eq(m[0].start, 0);
	ck_assert_uint_eq(m[0].len, 11);
	/* No title, prose and empty input name nothing. */
	ck_assert_uint_eq(skillmatch_titles_match(t, "Company Name", 12, m, 4), 0);
	ck_assert_uint_eq(skillmatch_titles_match(t, prose, strlen(prose), m, 4), 0);
	ck_assert_uint_eq(skillmatch_titles_match(t, "", 0, m, 4), 0);
	ck_assert_uint_eq(skillmatch_titles_match(t, "Nurse", 5, m, 0), 0);
	skillmatch_titles_free(t);
}
END_TEST

START_TEST(titles_heading_line)
{
	struct skillmatch_titles *t = titles_load_data();
	const char *text, *line;
	size_t n;

	/* A name is not a title, even when it ends like one. */
	text = "John Baker\nSenior Data Engineer\nPortland, OR\n";
	ck_assert_int_eq(skillmatch_titles_heading(t, text, strlen(text), &line, &n), 1);
	ck_assert_uint_eq(n, 20);
	ck_assert_int_eq(strncmp(line, "Senior Data Engineer", n), 0);
	text = "\n  EXECUTIVE CHEF  \r\nSummary\n";
	ck_assert_int_eq(skillmatch_titles_heading(t, text, strlen(text), &line, &n), 1);
	ck_assert_int_eq(strncmp(line, "EXECUTIVE CHEF", n), 0);
	ck_assert_uint_eq(n, 14);
	/* Only the first three lines are looked at. */
	text = "Jane Roe\nPortland, OR\njane@example.com\nRegistered Nurse\n";
	ck_assert_int_eq(skillmatch_titles_heading(t, text, strlen(text), &line, &n), 0);
	ck_assert_int_eq(skillmatch_titles_heading(t, "", 0, &line, &n), 0);
	skillmatch_titles_free(t);
}
END_TEST

/* Writes s to a temporary file named into path. */
static void titles_tmp(char *path, size_t size, const char *name, const char *s)
{
	FILE *f;

	snprintf(path, size, "%s/%s.%ld", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name,
		 (long)getpid());
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(s, f);
	fclose(f);
}

START_TEST(titles_load_errors)
{
	char titles[512], occ[512], err[512];
	struct skillmatch_titles *t;
	struct skillmatch_title_match m[2];

	titles_tmp(titles, sizeof(titles), "titles", "# c\nnurse\t01-0001.00|99-0000.00\nbad line\n");
	titles_tmp(occ, sizeof(occ), "occ", "01-0001.00\tNurses\t9\t\t\n");
	ck_assert_ptr_null(skillmatch_titles_load(titles, occ, err, sizeof(err)));
	ck_assert_msg(strstr(err, ":1: job zone") != NULL, "%s", err);
	titles_tmp(occ, sizeof(occ), "occ", "02-0001.00\tB\t1\t\t\n01-0001.00\tA\t1\t\t\n");
	ck_assert_ptr_null(skillmatch_titles_load(titles, occ, err, sizeof(err)));
	ck_assert_msg(strstr(err, ":2: soc codes must be sorted") != NULL, "%s", err);
	titles_tmp(occ, sizeof(occ), "occ", "01-0001.00\tNurses\t3\t12-x\t\n");
	ck_assert_ptr_null(skillmatch_titles_load(titles, occ, err, sizeof(err)));
	ck_assert_msg(strstr(err, "experience") != NULL, "%s", err);
	titles_tmp(occ, sizeof(occ), "occ", "01-0001.00\tNurses\t3\t12-24\t99-0000.00\n");
	ck_assert_ptr_null(skillmatch_titles_load(titles, occ, err, sizeof(err)));
	ck_assert_msg(strstr(err, ":3: expected 2") != NULL, "%s", err);
	/* Unknown codes are skipped; a title naming none is left out. */
	titles_tmp(titles, sizeof(titles), "titles", "nurse\t01-0001.00|99-0000.00\nbaker\t99-0000.00\n");
	t = skillmatch_titles_load(titles, occ, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_uint_eq(skillmatch_titles_match(t, "Nurses", 6, m, 2), 1);
	ck_assert_uint_eq(m[0].noccupations, 1);
	ck_assert_uint_eq(skillmatch_occupation_get(t, 0)->nrelated, 0);
	ck_assert_uint_eq(skillmatch_titles_match(t, "Baker", 5, m, 2), 0);
	skillmatch_titles_free(t);
	ck_assert_ptr_null(skillmatch_titles_load("/nonexistent/t.tsv", occ, err, sizeof(err)));
	unlink(titles);
	unlink(occ);
}
END_TEST

static TCase *titles_tcase(void)
{
	TCase *tc = tcase_create("titles");

	tcase_add_test(tc, titles_occupations_table);
	tcase_add_test(tc, titles_match_parts);
	tcase_add_test(tc, titles_heading_line);
	tcase_add_test(tc, titles_load_errors);
	return tc;
}
