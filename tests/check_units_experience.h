/*
 * check_units_experience.h - hand-written resume snippets for the experience
 * parser, each with what it must yield (included by check_units.c).
 */
struct expect_entry {
    const char *title, *company;
    int start_year, start_month, end_year, end_month, present, months;
};

struct test_case {
    const char *name;
    const char *text;
    int ref_year, ref_month;
    size_t count;
    struct expect_entry entries[2];   /* the first (up to) two entries are checked */
    int merged;
    double stated;
};

static const struct test_case cases[] = {
    { "indeed layout, Month YYYY to Present",
      "WORK EXPERIENCE\n\nSenior Software Engineer\n\nAcme Technologies Pvt Ltd -  Pune, Maharashtra -\n\n"
      "January 2016 to Present\n\n\xe2\x80\xa2 Built billing services in Go\n",
      2019, 1, 1, { { "Senior Software Engineer", "Acme Technologies Pvt Ltd", 2016, 1, 2019, 1, 1, 37 } }, 37, -1 },
    { "Title at Company, Mon YYYY en-dash Present",
      "EXPERIENCE\nData Analyst at Globex Corp\nJan 2020 \xe2\x80\x93 Present\nBuilt dashboards.\n",
      2021, 6, 1, { { "Data Analyst", "Globex Corp", 2020, 1, 2021, 6, 1, 18 } }, 18, -1 },
    { "Title, Company; Month YYYY to Month YYYY",
      "Experience\n\nMarketing Manager, Initech Solutions\nJanuary 2017 to March 2018\n",
      2019, 1, 1, { { "Marketing Manager", "Initech Solutions", 2017, 1, 2018, 3, 0, 15 } }, 15, -1 },
    { "Title | Company; MM/YYYY - MM/YYYY",
      "PROFESSIONAL EXPERIENCE\nQuality Analyst | Umbrella Labs\n01/2019 - 03/2021\n",
      2021, 6, 1, { { "Quality Analyst", "Umbrella Labs", 2019, 1, 2021, 3, 0, 27 } }, 27, -1 },
    { "Title em-dash Company (YYYY en-dash YYYY) on one line",
      "Employment History\nResearch Engineer \xe2\x80\x94 Northwind Systems (2015\xe2\x80\x93" "2018)\n",
      2019, 1, 1, { { "Research Engineer", "Northwind Systems", 2015, 0, 2018, 0, 0, 36 } }, 36, -1 },
    { "YYYY - Current, no company",
      "WORK EXPERIENCE\nFreelance Developer\n2018 \xe2\x80\x93 Current\n",
      2019, 1, 1, { { "Freelance Developer", NULL, 2018, 0, 2019, 1, 1, 7 } }, 7, -1 },
    { "Sept YYYY - Now",
      "WORK EXPERIENCE\nSupport Engineer\nContoso Ltd\nSept 2017 - Now\n",
      2019, 1, 1, { { "Support Engineer", "Contoso Ltd", 2017, 9, 2019, 1, 1, 17 } }, 17, -1 },
    { "Month YYYY to till date",
      "WORK EXPERIENCE\nBranch Manager\nFabrikam Bank\nMarch 2015 to till date\n",
      2019, 1, 1, { { "Branch Manager", "Fabrikam Bank", 2015, 3, 2019, 1, 1, 47 } }, 47, -1 },
    { "Company | Title | dates",
      "EXPERIENCE\nWayne Enterprises | Operations Lead | Feb 2012 - Dec 2013\n",
      2019, 1, 1, { { "Operations Lead", "Wayne Enterprises", 2012, 2, 2013, 12, 0, 23 } }, 23, -1 },
    { "company line before title line",
      "EXPERIENCE\n\nStark Industries Inc\nProject Manager\nJune 2010 - May 2012\n",
      2019, 1, 1, { { "Project Manager", "Stark Industries Inc", 2010, 6, 2012, 5, 0, 24 } }, 24, -1 },
    { "overlapping jobs are merged, not added",
      "EXPERIENCE\n\nBackend Developer\nHooli Inc\nJan 2018 - Dec 2018\n\n"
      "Part-time Instructor\nCode Academy Trust\nJul 2018 - Jun 2019\n",
      2019, 6, 2, { { "Backend Developer", "Hooli Inc", 2018, 1, 2018, 12, 0, 12 },
                    { "Part-time Instructor", "Code Academy Trust", 2018, 7, 2019, 6, 0, 12 } }, 18, -1 },
    { "education section is not a job",
      "WORK EXPERIENCE\n\nNetwork Engineer\nVandelay Networks -\nMay 2014 to Present\n\nEDUCATION\n\n"
      "B.Tech in Computer Science\nSunrise Institute of Technology\n2010 to 2014\n",
      2019, 1, 1, { { "Network Engineer", "Vandelay Networks", 2014, 5, 2019, 1, 1, 57 } }, 57, -1 },
    { "no heading; degree line is not a job",
      "Jane Doe\nAccountant, Blue Yonder Ltd, 2012 - 2014\nBachelor of Commerce, City College, 2008 - 2011\n",
      2019, 1, 1, { { "Accountant", "Blue Yonder Ltd", 2012, 0, 2014, 0, 0, 24 } }, 24, -1 },
    { "phone numbers and versions are not year ranges",
      "John Roe\nCall +1-2019-2021 or 555 2019-2021-44\nPython v2.2019-2021 build\n",
      2021, 6, 0, { { NULL, NULL, 0, 0, 0, 0, 0, 0 } }, 0, -1 },
    { "stated: over N years of experience",
      "SUMMARY\nOver 8 years of experience in backend development.\n",
      2019, 1, 0, { { NULL, NULL, 0, 0, 0, 0, 0, 0 } }, 0, 8 },
    { "stated: N+ years",
      "Profile: 8+ years in retail banking experience\n",
      2019, 1, 0, { { NULL, NULL, 0, 0, 0, 0, 0, 0 } }, 0, 8 },
    { "stated: N.N yrs of experience",
      "Summary: 6.5 yrs of experience as a tester\n",
      2019, 1, 0, { { NULL, NULL, 0, 0, 0, 0, 0, 0 } }, 0, 6.5 },
    { "stated: N months of experience",
      "Fresher with 15 months of experience in support\n",
      2019, 1, 0, { { NULL, NULL, 0, 0, 0, 0, 0, 0 } }, 0, 1.25 },
    { "one-letter lines (C, R) around a job",
      "EXPERIENCE\n\nC\n\nFirmware Engineer\nAcme Corp -\nMar 2016 - Feb 2017\nC\nC++\nR\n",
      2019, 1, 1, { { "Firmware Engineer", "Acme Corp", 2016, 3, 2017, 2, 0, 12 } }, 12, -1 },
    { "non-English text yields nothing, no crash",
      "Berufserfahrung\nSoftwareentwickler bei Beispiel GmbH\nJanuar 2018 - M\xc3\xa4rz 2020\n"
      "\xe5\xb7\xa5\xe4\xbd\x9c\xe7\xbb\x8f\xe5\x8e\x86\n\xe8\xbd\xaf\xe4\xbb\xb6 2018\xe5\xb9\xb4" "3\xe6\x9c\x88 - 2020\xe5\xb9\xb4" "5\xe6\x9c\x88\n",
      2021, 6, 0, { { NULL, NULL, 0, 0, 0, 0, 0, 0 } }, 0, -1 },
    { "empty input", "", 2019, 1, 0, { { NULL, NULL, 0, 0, 0, 0, 0, 0 } }, 0, -1 },
    { "no newline at all",
      "Software Engineer at Foo Inc, Jan 2015 - Dec 2016",
      2019, 1, 1, { { "Software Engineer", "Foo Inc", 2015, 1, 2016, 12, 0, 24 } }, 24, -1 },
    { "ISO YYYY-MM to YYYY-MM",
      "EXPERIENCE\nConsultant\nPeriscope Consulting\n2019-03 to 2020-02\n",
      2021, 6, 1, { { "Consultant", "Periscope Consulting", 2019, 3, 2020, 2, 0, 12 } }, 12, -1 },
    { "two-digit years with apostrophes",
      "EXPERIENCE\nTeam Lead\nInitrode LLC\nJan '17 - Dec '18\n",
      2019, 1, 1, { { "Team Lead", "Initrode LLC", 2017, 1, 2018, 12, 0, 24 } }, 24, -1 },
    { "projects section dates are not jobs",
      "WORK EXPERIENCE\nMobile Developer\nPied Piper Inc\nJan 2016 - Dec 2017\n\nPROJECTS\nInventory App\nJan 2019 - Mar 2019\n",
      2019, 6, 1, { { "Mobile Developer", "Pied Piper Inc", 2016, 1, 2017, 12, 0, 24 } }, 24, -1 },
    { "lone dash for an empty company, URL footer inside the header",
      "WORK EXPERIENCE\n\nSales Manager\n\n-\n\nhttps://example.com/r/footer\n\nSeptember 2008 to April 2017\n",
      2019, 1, 1, { { "Sales Manager", NULL, 2008, 9, 2017, 4, 0, 104 } }, 104, -1 },
    { "mixed-case sub-heading under an ALL CAPS section; undated job",
      "WORK EXPERIENCE\n\nRegional Sales Manager\n\nNorthwind Traders Ltd -  Pune, Maharashtra -\n\nJune 2015 to Present\n\n"
      "Key Achievements\n\xe2\x80\xa2 Grew revenue\n\nData Entry Operator\n\nGlobex Corp -\n\nEDUCATION\n\nB.Com\n",
      2019, 1, 2, { { "Regional Sales Manager", "Northwind Traders Ltd", 2015, 6, 2019, 1, 1, 44 },
                    { "Data Entry Operator", "Globex Corp", 0, 0, 0, 0, 0, 0 } }, 44, -1 },
    { "bracketed qualifier is not the company; Sr.Manager is two words",
      "EXPERIENCE\nSr.Manager (Media Marketing) - Initech Media Ltd\nJan 2015 - Dec 2016\n",
      2019, 1, 1, { { "Sr.Manager", "Initech Media Ltd", 2015, 1, 2016, 12, 0, 24 } }, 24, -1 },
    { "Company as a Title",
      "EXPERIENCE\nGlobex Group as a Test Analyst\nMarch 2014 - May 2016\n",
      2019, 1, 1, { { "Test Analyst", "Globex Group", 2014, 3, 2016, 5, 0, 27 } }, 27, -1 },
    { "glued qualifier after a title; bracket inside a company name",
      "EXPERIENCE\nNational Head-Postpaid\nUmbrella Telecom (India) Pvt Ltd\n2012 - 2014\n",
      2019, 1, 1, { { "National Head", "Umbrella Telecom (India) Pvt Ltd", 2012, 0, 2014, 0, 0, 24 } }, 24, -1 },
    { "full-width hyphen between company and city, and as a range dash",
      "EXPERIENCE\nSous Chef\nHarbor Grill Inc \xef\xbc\x8d Portland , OR\n03/2015 \xef\xbc\x8d 06/2018\n",
      2019, 1, 1, { { "Sous Chef", "Harbor Grill Inc", 2015, 3, 2018, 6, 0, 40 } }, 40, -1 },
    { "text from a PDF: no blank lines, ranges broken over lines",
      "CHARGE NURSE\nSummary\nNurse with ten years on medical and surgical floors.\nSkills\nTelemetry\n"
      "Work History\nMarch 2014\nto\nCurrent\nCharge Nurse\nMercy General Hospital\n"
      "Supervised six nurses on a 30-bed unit.\nJune 2009 -\nFebruary 2014\nStaff Nurse\nSt. Anne Clinic\n"
      "Education\nBachelor of Science : Nursing , 2009\n",
      2019, 1, 2, { { "Charge Nurse", "Mercy General Hospital", 2014, 3, 2019, 1, 1, 59 },
                    { "Staff Nurse", "St. Anne Clinic", 2009, 6, 2014, 2, 0, 57 } }, 116, -1 },
    { "a field's own experience heading after education",
      "ART TEACHER\nEducation\nBachelor of Fine Arts , 2010\nState University\nTeaching Experience\n"
      "08/2012 to 06/2018\nArt Teacher\nLincoln Middle School\n",
      2019, 1, 1, { { "Art Teacher", "Lincoln Middle School", 2012, 8, 2018, 6, 0, 71 } }, 71, -1 },
    { "fields joined on one line: title, dates, employer, \"City , State\"",
      "EXECUTIVE CHEF\nExperience\nExecutive Chef 11/2016 to Current Company Name City , State\n"
      "Planned seasonal menus for a 120-seat dining room.\n"
      "Company Name City , State Line Cook 05/2012 to 10/2016\nPrepared sauces and stocks.\n",
      2019, 1, 2, { { "Executive Chef", "Company Name", 2016, 11, 2019, 1, 1, 27 },
                    { "Line Cook", "Company Name", 2012, 5, 2016, 10, 0, 54 } }, 81, -1 },
    { "title glued to its employer; two-word city and state",
      "Work History\n06/2010 to 04/2012\nPrep Cook Harbor View Hotel \xef\xbc\x8d Salem , Oregon\nCut vegetables.\n"
      "05/2012 to 10/2016\nCharge Nurse Mercy General Hospital New York , New York\n",
      2019, 1, 2, { { "Prep Cook", "Harbor View Hotel", 2010, 6, 2012, 4, 0, 23 },
                    { "Charge Nurse", "Mercy General Hospital", 2012, 5, 2016, 10, 0, 54 } }, 77, -1 },
    { "\"Title , dates\" over the employer line, not the previous job's last line",
      "Experience\nServer , 03/2015 to 06/2016\nCompany Name \xef\xbc\x8d City , State\n"
      "Took orders and served a 40-table floor\nand trained new hires on the point of sale\n"
      "Barista , 07/2016 to Current\nCompany Name \xef\xbc\x8d City , State\nMade espresso drinks.\n",
      2019, 1, 2, { { "Server", "Company Name", 2015, 3, 2016, 6, 0, 16 },
                    { "Barista", "Company Name", 2016, 7, 2019, 1, 1, 31 } }, 47, -1 },
    { "season ranges",
      "EXPERIENCE\nCamp Counselor\nPine Lake Camp\nSummer 2016 - Fall 2017\n",
      2019, 1, 1, { { "Camp Counselor", "Pine Lake Camp", 2016, 6, 2017, 9, 0, 16 } }, 16, -1 },
    { "indeed layout, title line naming the employer after at/in",
      "EXPERIENCE\n\nQA Analyst at Globex\n\nGlobex Ltd - Austin, TX -\n\nMay 2015 to May 2017\n\n"
      "HR Executive in Initech\n\nInitech Corp -\n\nJune 2017 to Present\n",
      2019, 1, 2, { { "QA Analyst", "Globex Ltd", 2015, 5, 2017, 5, 0, 25 },
                    { "HR Executive", "Initech Corp", 2017, 6, 2019, 1, 1, 20 } }, 45, -1 },
    { "indeed layout, employer before \"as a\", title glued to \"@\"",
      "EXPERIENCE\n\nInitech as a Test Analyst\n\nInitech Ltd - Pune, Maharashtra -\n\nMay 2015 to May 2017\n\n"
      "Process Associate@ Globex\n\nGlobex Corp -\n\nJune 2017 to Present\n",
      2019, 1, 2, { { "Test Analyst", "Initech Ltd", 2015, 5, 2017, 5, 0, 25 },
                    { "Process Associate", "Globex Corp", 2017, 6, 2019, 1, 1, 20 } }, 45, -1 },
    { "a dated sentence of the description is no job",
      "WORK EXPERIENCE\n\nSales Officer\nContoso Ltd\nJan 2010 - Dec 2012\n"
      "and increased the market share by 10% in 2011 - 2012\n",
      2019, 1, 1, { { "Sales Officer", "Contoso Ltd", 2010, 1, 2012, 12, 0, 36 } }, 36, -1 },
    { "prose over a company line names no title",
      "EXPERIENCE\n\nStore Manager\nFabrikam Retail Pvt Ltd\nJan 2013 - Dec 2014\n\n"
      "focused on team work and cost control\nHarbor Foods Ltd\nMar 2015 - Feb 2016\n",
      2019, 1, 2, { { "Store Manager", "Fabrikam Retail Pvt Ltd", 2013, 1, 2014, 12, 0, 24 },
                    { NULL, "Harbor Foods Ltd", 2015, 3, 2016, 2, 0, 12 } }, 36, -1 },
    { "lower-case words and numbers are no company or title",
      "EXPERIENCE\n\nDeveloper, my responsibility\nJan 2013 - Dec 2014\n\n"
      "Team Size 12\nNorthwind Traders\nMar 2015 - Feb 2016\n",
      2019, 1, 2, { { "Developer", NULL, 2013, 1, 2014, 12, 0, 24 },
                    { NULL, "Northwind Traders", 2015, 3, 2016, 2, 0, 12 } }, 36, -1 },
    { "words before the employer's name are no part of it; \"X of India Ltd\" is",
      "EXPERIENCE\n\nTest Engineer\n\nTraining in Initech Ltd -\n\nMay 2015 to May 2017\n\n"
      "Service Engineer\n\nContoso of India Ltd -\n\nJune 2017 to Present\n",
      2019, 1, 2, { { "Test Engineer", "Initech Ltd", 2015, 5, 2017, 5, 0, 25 },
                    { "Service Engineer", "Contoso of India Ltd", 2017, 6, 2019, 1, 1, 20 } }, 45, -1 },
    { "page break with blank lines around the footer URL inside a job header",
      "WORK EXPERIENCE\n\nSales Executive\n\n-\n\nhttps://example.com/r/footer\n\n\n"
      "October 2014 to March 2015\n\n- Opened new accounts\n",
      2019, 1, 1, { { "Sales Executive", NULL, 2014, 10, 2015, 3, 0, 6 } }, 6, -1 },
    { "undated job with labelled fields",
      "WORK EXPERIENCE\n\nPosition: Technical Support Engineer\n\nCompany: Contoso Corporation -\n\n"
      "- Resolved tickets\n",
      2019, 1, 1, { { "Technical Support Engineer", "Contoso Corporation", 0, 0, 0, 0, 0, 0 } }, 0, -1 },
    { "undated job under a bare employer name, after a dated one",
      "WORK EXPERIENCE\n\nStore Manager\n\nNorthwind Traders -\n\nMay 2015 to Present\n\n"
      "- Ran a team of 12\n\nQA Analyst\n\nGlobex\n\nTested billing releases by hand.\n",
      2019, 1, 2, { { "Store Manager", "Northwind Traders", 2015, 5, 2019, 1, 1, 45 },
                    { "QA Analyst", "Globex", 0, 0, 0, 0, 0, 0 } }, 45, -1 },
    { "a duty or a period under a title is no employer",
      "WORK EXPERIENCE\n\nSales Manager\n\nSales marketing\n\n"
      "Branch Manager\n\n+1 year\n\nEDUCATION\n\nB.Com\n",
      2019, 1, 0, { { NULL } }, 0, -1 },
};


static int exp_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

START_TEST(experience_cases)
{
	const struct test_case *tc = &cases[_i];
	struct experience_result res;
	size_t len = strlen(tc->text);
	/* An exact-size copy without a NUL: ASan sees any read past the end. */
	char *copy = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, tc->text, len);
	ck_assert_int_eq(experience_parse(copy, len, tc->ref_year, tc->ref_month, &res), 0);
	ck_assert_msg(res.count == tc->count, "%s: %zu jobs, want %zu", tc->name, res.count, tc->count);
	for (size_t k = 0; k < res.count && k < 2; k++) {
		const struct experience_entry *en = &res.entries[k];
		const struct expect_entry *ex = &tc->entries[k];

		ck_assert_msg(exp_same(en->title, ex->title), "%s: title [%s] want [%s]", tc->name,
			      en->title ? en->title : "(null)", ex->title ? ex->title : "(null)");
		ck_assert_msg(exp_same(en->company, ex->company), "%s: company [%s] want [%s]", tc->name,
			      en->company ? en->company : "(null)", ex->company ? ex->company : "(null)");
		ck_assert_msg(en->start_year == ex->start_year && en->start_month == ex->start_month,
			      "%s: start %d-%d", tc->name, en->start_year, en->start_month);
		ck_assert_msg(en->end_year == ex->end_year && en->end_month == ex->end_month &&
			      en->end_present == ex->present, "%s: end %d-%d", tc->name, en->end_year,
			      en->end_month);
		ck_assert_msg(en->duration_months == ex->months, "%s: %d months, want %d", tc->name,
			      en->duration_months, ex->months);
		ck_assert(en->text_start <= en->text_end && en->text_end <= len);
	}
	ck_assert_msg(res.merged_months == tc->merged, "%s: merged %d want %d", tc->name,
		      res.merged_months, tc->merged);
	ck_assert_msg((res.stated_years < 0 && tc->stated < 0) ||
		      (res.stated_years - tc->stated < 0.01 && tc->stated - res.stated_years < 0.01),
		      "%s: stated %.2f want %.2f", tc->name, res.stated_years, tc->stated);
	experience_result_free(&res);
	free(copy);
}
END_TEST

START_TEST(experience_hostile_bytes)
{
	/* Random bytes, a megabyte without newlines, NULs: no crash, sane spans. */
	size_t len = 1 << 20;
	char *buf = malloc(len);
	struct experience_result res;
	unsigned seed = 12345;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (char)(seed >> 16);
	}
	ck_assert_int_eq(experience_parse(buf, len, 2019, 1, &res), 0);
	for (size_t k = 0; k < res.count; k++)
		ck_assert(res.entries[k].text_end <= len && res.entries[k].duration_months >= 0);
	experience_result_free(&res);
	memset(buf, 'a', len);
	ck_assert_int_eq(experience_parse(buf, len, 2019, 1, &res), 0);
	experience_result_free(&res);
	free(buf);
}
END_TEST

static TCase *experience_tcase(void)
{
	TCase *tc = tcase_create("experience");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, experience_cases, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, experience_hostile_bytes);
	return tc;
}
