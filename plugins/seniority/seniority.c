/*
 * seniority - the candidate's level (junior, mid-level, senior, principal)
 * with its confidence, four component scores, the reasoning behind them and
 * recommendations.
 *
 * Years of experience decide the level (merged date ranges, or the resume's
 * own statement; see the experience stage); titles only move it one step
 * when years measured from dates sit near a boundary, or decide it when
 * years are unknown, because titles inflate and deflate between companies
 * while years do not.
 *
 * The field is the context: the candidate's titles name an O*NET occupation
 * (data/titles.tsv), whose Job Zone and usual related experience the
 * reasoning states. Where work has a ladder of individual contributors up
 * to principal (computing, engineering, science, business and management
 * occupations of Job Zone 4-5), years reach it; elsewhere principal is a
 * rank that titles name (director of nursing, chef de cuisine, school
 * principal): years alone stop at senior there, and such a title with the
 * years of a senior gives principal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anautil.h"
#include "roles.h"
#include "skillmatch_data.h"

struct seniority_state {
	double boundary_margin;
	double min_quantified_share;
	struct anautil_wordset lead, impact, uncounted;
	const struct skillmatch_titles *titles; /* shared data; NULL: no field context */
	bool ladder_group[100]; /* SOC major groups with a principal ladder */
	int64_t ladder_zone;
};

static const struct ima_option seniority_options[] = {
	{ "boundary_margin", IMA_OPT_DOUBLE, "0.75",
	  "years from a level boundary within which job titles may move the level one step", 0 },
	{ "min_quantified_share", IMA_OPT_DOUBLE, "0.2",
	  "share of the statements in jobs that carry a figure below which quantifying is recommended (0-1)", 0 },
	{ "titles", IMA_OPT_STRING, "titles.tsv",
	  "job titles and the O*NET occupations they name, for the field (\"\" turns it off)", 0 },
	{ "occupations", IMA_OPT_STRING, "occupations.tsv", "O*NET occupations", 0 },
	{ "ladder_groups", IMA_OPT_STRING, "11,13,15,17,19",
	  "SOC major groups whose occupations years of experience lead up to principal", 0 },
	{ "ladder_zone", IMA_OPT_INT, "4",
	  "lowest Job Zone of those occupations with such a ladder (1-5)", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const char *const seniority_lead_words[] = {
	"led", "lead", "leading", "managed", "manage", "managing", "mentored",
	"mentoring", "mentor", "supervised", "supervising", "coached",
	"headed", "directed", "oversaw", "owned", "hired", "team of",
	"cross-functional", "stakeholders", "spearheaded", "ran", NULL
};

static const char *const seniority_impact_words[] = {
	"reduced", "increased", "improved", "saved", "cut", "grew", "launched",
	"scaled", "migrated", "architected", "designed", "delivered", "built",
	"automated", "optimized", "optimised", "accelerated", "doubled",
	"tripled", "generated", "won", NULL
};

/* Words after a number that do not make it a count of something: "Python
 * 3 and Django", "from 2 to 5", "March 15 to ..." */
static const char *const seniority_uncounted_words[] = {
	"and", "or", "to", "of", "in", "the", "a", "an", "with", "for", "on", "at",
	"by", "from", "through", "till", "until", "present", "current", "now",
	"is", "was", "are", "were", "as", "into", "per", "than", "jan", "january",
	"feb", "february", "mar", "march", "apr", "april", "may", "jun", "june",
	"jul", "july", "aug", "august", "sep", "sept", "september", "oct",
	"october", "nov", "november", "dec", "december", NULL
};

static void seniority_fini(void *state)
{
	struct seniority_state *st = state;

	ima_data_release(st->titles);
	ima_free(st);
}

/* "11,13,15": two-digit SOC major groups. */
static int seniority_groups(struct seniority_state *st, const char *list)
{
	const char *p = list;

	while (*p != '\0') {
		char *end;
		long g = strtol(p, &end, 10);

		if (end == p || g < 10 || g > 99 || (*end != ',' && *end != '\0'))
			return -1;
		st->ladder_group[g] = true;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static int seniority_init(const struct ima_conf *conf, void **state,
			  struct ima_error *err)
{
	struct seniority_state *st = ima_calloc(1, sizeof(*st));
	char path[4096], occ_path[4096], msg[256];

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->boundary_margin = ima_conf_double(conf, "boundary_margin");
	st->min_quantified_share = ima_conf_double(conf, "min_quantified_share");
	st->ladder_zone = ima_conf_int(conf, "ladder_zone");
	if (!(st->min_quantified_share >= 0 && st->min_quantified_share <= 1)) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "min_quantified_share",
				     "min_quantified_share must be within 0-1");
	}
	if (seniority_groups(st, ima_conf_string(conf, "ladder_groups")) != 0 ||
	    st->ladder_zone < 1 || st->ladder_zone > 5) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "ladder_groups",
				     "ladder_groups must be two-digit SOC major groups separated by commas, ladder_zone 1-5");
	}
	/* Either file missing names the file; a format error its line. */
	snprintf(msg, sizeof(msg), "%s", ima_conf_string(conf, "titles"));
	if (ima_conf_string(conf, "titles")[0] != '\0' &&
	    (ima_data_path(ima_conf_string(conf, "titles"), path, sizeof(path)) != 0 ||
	     ima_data_path(ima_conf_string(conf, "occupations"), occ_path, sizeof(occ_path)) != 0 ||
	     (st->titles = skillmatch_titles_acquire(path, occ_path, msg, sizeof(msg))) == NULL)) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "titles", "cannot load %s", msg);
	}
	anautil_wordset_init(&st->lead, seniority_lead_words);
	anautil_wordset_init(&st->impact, seniority_impact_words);
	anautil_wordset_init(&st->uncounted, seniority_uncounted_words);
	*state = st;
	return 0;
}

static bool seniority_in(const char *w, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(w, *words) == 0)
			return true;
	return false;
}

/*
 * The level a job title names, in the words of any field; -1 when none.
 * Principal: director, chief, head of, dean, president, partner, chef de
 * cuisine, executive chef, head chef or teacher, a school's principal, and
 * "staff" in engineering ladders only (a staff nurse is a nurse). Senior:
 * senior, lead, manager, supervisor, charge (charge nurse), foreman, sous
 * chef, superintendent, head (head nurse, head cashier), architect.
 * Junior: junior, intern, trainee, apprentice, graduate, entry level, and
 * assistant or associate before a job ("Assistant Systems Engineer");
 * before a rank they name the step below it ("Assistant Manager" is
 * mid-level, "Associate Director" senior); after a job they are the job
 * ("Medical Assistant", "Sales Associate": no level). Roman numerals: II
 * mid-level, III and IV senior.
 */
static int seniority_title_level(const char *title, size_t len)
{
	static const char *const principal[] = {
		"principal", "director", "chief", "dean", "president", "vp", "svp", "evp",
		"cto", "ceo", "cfo", "coo", "cio", "cmo", "cno", "partner", "distinguished",
		"headmaster", "headmistress", NULL
	};
	static const char *const senior[] = {
		"senior", "sr", "lead", "manager", "supervisor", "supervising", "charge",
		"foreman", "forewoman", "foreperson", "superintendent", "architect", "avp",
		"iii", "iv", NULL
	};
	static const char *const junior[] = {
		"junior", "jr", "intern", "internship", "trainee", "apprentice", "graduate",
		"fresher", "extern", "student", NULL
	};
	static const char *const staff_ladder[] = {
		"engineer", "software", "data", "scientist", "developer", "architect",
		"researcher", "designer", "product", "machine", "security", NULL
	};
	static const char *const head_rank[] = { "of", "chef", "teacher", "coach", NULL };
	char w[16][24];
	size_t n = 0;
	int level = -1;

	for (size_t i = 0; i < len && n < 16;) {
		size_t k = 0;

		while (i < len && !anautil_wordch((unsigned char)title[i]))
			i++;
		while (i < len && anautil_wordch((unsigned char)title[i])) {
			char c = title[i++];

			if (k + 1 < sizeof(w[0]))
				w[n][k++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		w[n][k] = '\0';
		n += k > 0;
	}
	for (size_t i = 0; i < n; i++) {
		const char *next = i + 1 < n ? w[i + 1] : "";
		int l = -1;

		if (seniority_in(w[i], principal) ||
		    (strcmp(w[i], "staff") == 0 && seniority_in(next, staff_ladder)) ||
		    (strcmp(w[i], "head") == 0 && seniority_in(next, head_rank)) ||
		    (strcmp(w[i], "executive") == 0 && strcmp(next, "chef") == 0) ||
		    (strcmp(w[i], "chef") == 0 && strcmp(next, "de") == 0 && i + 2 < n &&
		     strcmp(w[i + 2], "cuisine") == 0))
			l = LEVEL_PRINCIPAL;
		else if (seniority_in(w[i], senior) || strcmp(w[i], "head") == 0 ||
			 (strcmp(w[i], "sous") == 0 && strcmp(next, "chef") == 0))
			l = LEVEL_SENIOR;
		else if (strcmp(w[i], "ii") == 0)
			l = LEVEL_MID;
		else if (seniority_in(w[i], junior) ||
			 (strcmp(w[i], "entry") == 0 && strcmp(next, "level") == 0))
			l = LEVEL_JUNIOR;
		else if ((strcmp(w[i], "assistant") == 0 || strcmp(w[i], "associate") == 0 ||
			  strcmp(w[i], "deputy") == 0) && i + 1 < n) {
			int rank = seniority_in(next, principal) ? LEVEL_PRINCIPAL
				 : seniority_in(next, senior) || strcmp(next, "head") == 0 ? LEVEL_SENIOR
				 : -1;

			if (rank >= 0) {
				l = rank - 1;
				i++;
			} else if (w[i][0] == 'a') {
				l = LEVEL_JUNIOR;
			}
		}
		if (l > level)
			level = l;
	}
	return level;
}

static bool seniority_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool seniority_letter(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Currency signs in UTF-8: $, pound and yen (C2 A3, C2 A5) and the
 * currency block U+20A0-U+20CF (euro, rupee). True when one ends at i. */
static bool seniority_currency_before(const unsigned char *s, size_t start, size_t i)
{
	if (i > start && s[i - 1] == '$')
		return true;
	if (i >= start + 2 && s[i - 2] == 0xc2 && (s[i - 1] == 0xa3 || s[i - 1] == 0xa5))
		return true;
	return i >= start + 3 && s[i - 3] == 0xe2 &&
	       ((s[i - 2] == 0x82 && s[i - 1] >= 0xa0) || (s[i - 2] == 0x83 && s[i - 1] <= 0x8f));
}

/* Letters glued to a number that make it a quantity: magnitudes and units
 * ("120K", "2M", "40TB", "200ms", "3x"); not ordinals ("4th"). */
static bool seniority_glued_unit(const char *w, size_t n)
{
	static const char *const units[] = {
		"k", "m", "b", "bn", "mm", "x", "tb", "gb", "mb", "pb", "kb",
		"ms", "hrs", "yrs", "kg", "km", "mi", "lbs", "sqft", NULL
	};

	for (const char *const *u = units; *u; u++)
		if (anautil_eq_ci(w, n, *u))
			return true;
	return false;
}

/*
 * Does the line state a figure: a percentage, money, a multiplier ("3x"),
 * or a number with a unit or a counted noun ("40 TB", "120 jobs", "200
 * analysts", "6 patients")? Years, dates and numbers inside names ("S3",
 * "Log4j") are not figures; neither is a number followed by a function word
 * or a month ("Python 3 and", "15 March").
 */
static bool seniority_has_figure(const struct seniority_state *st,
				 const char *text, size_t start, size_t end)
{
	const unsigned char *s = (const unsigned char *)text;

	for (size_t i = start; i < end; i++) {
		size_t k = i, digits = 0, w;
		bool year;

		if (!seniority_digit(s[i]))
			continue;
		/* Before the test of a glued word: a currency's last UTF-8
		 * byte counts as a word byte. */
		if (seniority_currency_before(s, start, i))
			return true;
		if (i > start && (anautil_wordch(s[i - 1]) || s[i - 1] == '/' ||
				  s[i - 1] == '.' || s[i - 1] == ':'))
			continue;
		/* 1,200 and 3.5 are one number. */
		while (k < end && (seniority_digit(s[k]) ||
				   ((s[k] == ',' || s[k] == '.') && k + 1 < end &&
				    seniority_digit(s[k + 1]) && k > i))) {
			digits += seniority_digit(s[k]);
			k++;
		}
		year = digits == 4 && k - i == 4 && ((s[i] == '1' && s[i + 1] == '9') ||
						     (s[i] == '2' && s[i + 1] == '0'));
		/* 38%, and 200+ ("200+ vendors", "a base of 200+") */
		if (k < end && (s[k] == '%' || s[k] == '+'))
			return true;
		/* A date or a time: 01/2019, 2019-03, 9:30. */
		if (k < end && (s[k] == '/' || s[k] == ':' ||
				(year && s[k] == '-')))
			goto next;
		/* A range "3-5 engineers" counts by what follows it. */
		if (k + 1 < end && s[k] == '-' && seniority_digit(s[k + 1])) {
			k++;
			while (k < end && seniority_digit(s[k]))
				k++;
		}
		if (year)
			goto next;
		for (w = k; w < end && seniority_letter(s[w]); w++)
			;
		if (w > k) {
			/* Glued letters: a unit ("40TB") or a name ("3D"). */
			if ((w == end || !anautil_wordch(s[w])) &&
			    seniority_glued_unit(text + k, w - k))
				return true;
			goto next;
		}
		/* "3×" (U+00D7) */
		if (k + 1 < end && s[k] == 0xc3 && s[k + 1] == 0x97)
			return true;
		if (k < end && s[k] == ')')
			k++;
		if (k < end && s[k] == ' ') {
			size_t a = k + 1;
			bool lower = true, upper = true;

			for (w = a; w < end && seniority_letter(s[w]); w++) {
				lower &= s[w] >= 'a' || w > a;
				upper &= s[w] < 'a';
			}
			/*
			 * "20 percent", "120 jobs", "40 TB": a lower-case or
			 * all-capitals word that is not a function word or a
			 * month. A capitalised one continues a name ("Series
			 * 6000 Basic", "Wave 2 Rollout").
			 */
			if (w - a >= 2 && (w == end || !anautil_wordch(s[w])) && (lower || upper) &&
			    anautil_wordset_count(&st->uncounted, text + a, w - a) == 0)
				return true;
		}
next:
		i = k;
	}
	return false;
}

/* A bullet: the line starts with -, *, + or > or with a symbol (U+00B7,
 * U+2000-U+2BFF: punctuation, arrows, shapes, dingbats; U+F000-U+F8FF, the
 * private-use bullets of PDF converters). */
static bool seniority_bullet(const unsigned char *s, size_t n)
{
	if (n == 0)
		return false;
	if (s[0] == '-' || s[0] == '*' || s[0] == '+' || s[0] == '>')
		return true;
	if (n >= 2 && s[0] == 0xc2 && s[1] == 0xb7)
		return true;
	return n >= 3 && ((s[0] == 0xe2 && s[1] >= 0x80 && s[1] <= 0xaf) ||
			  (s[0] == 0xef && s[1] >= 0x80 && s[1] <= 0xa3));
}

struct seniority_statements {
	size_t statements; /* bullets and sentence-like lines */
	size_t quantified; /* of them, with a figure */
	size_t results;    /* of them, with a figure and an impact verb */
};

/*
 * Statements in text[start, end): lines that are bullets of at least three
 * words, or read as sentences: six words or more, two of them in lower case
 * (titles, company, place and date lines are shorter or Title Case).
 * A line that starts in lower case after a statement left open (no final
 * punctuation) continues it: text from PDFs wraps sentences.
 */
static void seniority_count_statements(const struct seniority_state *st,
				       const char *text, size_t start, size_t end,
				       struct seniority_statements *out)
{
	const unsigned char *s = (const unsigned char *)text;
	bool open = false, figure = false, impact = false, result = false;

	while (start < end) {
		const char *nl = memchr(text + start, '\n', end - start);
		size_t e = nl ? (size_t)(nl - text) : end, a = start, z, words = 0, lower = 0;
		bool more;

		while (a < e && (s[a] == ' ' || s[a] == '\t'))
			a++;
		z = e;
		while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t' || s[z - 1] == '\r'))
			z--;
		for (size_t k = a; k < e;) {
			bool letters = false;

			while (k < e && !anautil_wordch(s[k]))
				k++;
			lower += k < e && s[k] >= 'a' && s[k] <= 'z';
			while (k < e && anautil_wordch(s[k]))
				letters |= !seniority_digit(s[k++]);
			words += letters;
		}
		more = open && a < e && s[a] >= 'a' && s[a] <= 'z';
		if (more || (words >= 6 && lower >= 2) ||
		    (words >= 3 && seniority_bullet(s + a, e - a))) {
			if (!more) {
				out->statements++;
				figure = impact = result = false;
			}
			if (!figure && seniority_has_figure(st, text, a, e)) {
				figure = true;
				out->quantified++;
			}
			impact |= anautil_wordset_count(&st->impact, text + a, e - a) > 0;
			if (figure && impact && !result) {
				result = true;
				out->results++;
			}
			open = z > a && strchr(".!?;:", s[z - 1]) == NULL;
		} else {
			open = false;
		}
		start = e + 1;
	}
}

/* The statements inside the jobs found (their byte spans), or in the whole
 * resume when none was. */
static void seniority_statements(const struct seniority_state *st,
				 const char *text, size_t len,
				 const msgpack_object *spans,
				 struct seniority_statements *out)
{
	bool any = false;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; spans && spans->type == MSGPACK_OBJECT_ARRAY && i < spans->via.array.size; i++) {
		const msgpack_object *sp = &spans->via.array.ptr[i];
		double a, b;

		if (sp->type != MSGPACK_OBJECT_ARRAY || sp->via.array.size != 2 ||
		    !anautil_number(&sp->via.array.ptr[0], &a) ||
		    !anautil_number(&sp->via.array.ptr[1], &b) ||
		    a < 0 || b > (double)len || a >= b)
			continue;
		seniority_count_statements(st, text, (size_t)a, (size_t)b, out);
		any = true;
	}
	if (!any)
		seniority_count_statements(st, text, 0, len, out);
}

struct seniority_facts {
	double years, stated;
	int64_t merged_months;
	uint32_t jobs, dated_jobs;
	double avg_tenure;
	int title_level; /* highest level named by a recent title, -1 none */
	const char *recent_title;
	size_t recent_title_len;
	size_t lead_hits, impact_hits;
	struct seniority_statements said;
	size_t skills, skills_in_jobs;
	const struct skillmatch_occupation *occupation; /* named by the titles */
	bool ladder; /* years lead up to principal in its field */
};

/*
 * The occupation the candidate's own titles name most surely: the title
 * line and the three most recent jobs, each title's weight shared among
 * the occupations it names (as in the roles stage).
 */
static const struct skillmatch_occupation *seniority_occupation(const struct seniority_state *st,
								struct ima_req *req)
{
	static const double place[4] = { 1.0, 0.9, 0.75, 0.6 };
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *exps = ima_ctx_get(ctx, "experiences");
	size_t nocc = skillmatch_occupations_count(st->titles), nt = 0, best = 0;
	float *score = ima_req_alloc(req, (nocc + 1) * sizeof(*score));
	const char *text[4], *resume;
	size_t tlen[4], len;

	if (score == NULL)
		return NULL;
	memset(score, 0, (nocc + 1) * sizeof(*score));
	if (anautil_ctx_str(ctx, "_input.resume_text", &resume, &len) == 0 &&
	    skillmatch_titles_heading(st->titles, resume, len, &text[nt], &tlen[nt]))
		nt++;
	for (uint32_t i = 0; exps && exps->type == MSGPACK_OBJECT_ARRAY &&
			     i < exps->via.array.size && nt < 4; i++)
		if (anautil_str(anautil_map_get(&exps->via.array.ptr[i], "title"), &text[nt], &tlen[nt]) &&
		    tlen[nt] > 0)
			nt++;
	for (size_t i = 0; i < nt; i++) {
		struct skillmatch_title_match m[4];
		size_t nm = skillmatch_titles_match(st->titles, text[i], tlen[i], m, 4);

		for (size_t k = 0; k < nm; k++) {
			double e = place[i] * (double)m[k].words / (double)m[k].part_words /
				   (1.0 + 0.25 * (double)(m[k].noccupations - 1));

			if (3 * m[k].words < m[k].part_words)
				continue;
			for (size_t o = 0; o < m[k].noccupations; o++)
				score[m[k].occupations[o]] += (float)e;
		}
	}
	for (size_t o = 1; o < nocc; o++)
		if (score[o] > score[best])
			best = o;
	return nocc > 0 && score[best] > 0 ? skillmatch_occupation_get(st->titles, best) : NULL;
}

static void seniority_gather(const struct seniority_state *st,
			     struct ima_req *req, struct seniority_facts *f)
{
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *exps = ima_ctx_get(ctx, "experiences");
	const msgpack_object *cand = ima_ctx_get(ctx, "_skills.candidate");
	const char *text;
	size_t len;
	double total_months = 0;

	memset(f, 0, sizeof(*f));
	f->title_level = -1;
	f->stated = -1;
	ima_ctx_get_double(ctx, "_experience.total_years", &f->years);
	ima_ctx_get_double(ctx, "_experience.stated_years", &f->stated);
	ima_ctx_get_int(ctx, "_experience.merged_months", &f->merged_months);
	if (exps != NULL && exps->type == MSGPACK_OBJECT_ARRAY) {
		f->jobs = exps->via.array.size;
		for (uint32_t i = 0; i < exps->via.array.size; i++) {
			const msgpack_object *e = &exps->via.array.ptr[i];
			const msgpack_object *t = anautil_map_get(e, "title");
			const msgpack_object *skills = anautil_map_get(e, "skills");
			double months = 0;

			if (anautil_number(anautil_map_get(e, "duration_months"), &months) &&
			    months > 0) {
				f->dated_jobs++;
				total_months += months;
			}
			if (skills && skills->type == MSGPACK_OBJECT_ARRAY)
				f->skills_in_jobs += skills->via.array.size;
			/* The first three jobs as written are the recent ones. */
			if (i < 3 && t && t->type == MSGPACK_OBJECT_STR && t->via.str.size > 0) {
				int lvl = seniority_title_level(t->via.str.ptr, t->via.str.size);

				if (f->recent_title == NULL) {
					f->recent_title = t->via.str.ptr;
					f->recent_title_len = t->via.str.size;
				}
				if (lvl > f->title_level)
					f->title_level = lvl;
			}
		}
	}
	f->avg_tenure = f->dated_jobs ? total_months / f->dated_jobs : 0;
	if (cand != NULL && cand->type == MSGPACK_OBJECT_ARRAY)
		f->skills = cand->via.array.size;
	f->ladder = true;
	if (st->titles != NULL && (f->occupation = seniority_occupation(st, req)) != NULL) {
		int group = atoi(f->occupation->soc_code);

		/* O*NET gives no Job Zone for the "All Other" occupations: the
		 * group alone decides there. Job Zone 5 (physicians, lawyers,
		 * professors) has its ladder in every field. */
		f->ladder = f->occupation->job_zone == 5 ||
			    (group >= 10 && group <= 99 && st->ladder_group[group] &&
			     (f->occupation->job_zone >= st->ladder_zone || f->occupation->job_zone == 0));
	}
	if (anautil_ctx_str(ctx, "_input.resume_text", &text, &len) == 0) {
		const char *line;
		size_t n;

		/* The resume's own title line ("CHARGE NURSE") is a recent title. */
		if (st->titles != NULL && skillmatch_titles_heading(st->titles, text, len, &line, &n)) {
			int lvl = seniority_title_level(line, n);

			if (lvl > f->title_level)
				f->title_level = lvl;
			if (f->recent_title == NULL) {
				f->recent_title = line;
				f->recent_title_len = n;
			}
		}
		f->lead_hits = anautil_wordset_count(&st->lead, text, len);
		f->impact_hits = anautil_wordset_count(&st->impact, text, len);
		seniority_statements(st, text, len, ima_ctx_get(ctx, "_experience.spans"),
				     &f->said);
	}
}

static enum ima_rc seniority_process(struct ima_req *req, void *state)
{
	const struct seniority_state *st = state;
	struct seniority_facts f;
	enum anautil_level level;
	double confidence, quality, leadership, depth, achievement;
	static const double bounds[] = { 2, 5, 10 };
	bool near = false, known_years, capped = false;
	char reasoning[1280];
	const char *recs[6];
	size_t nrecs = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int n;

	seniority_gather(st, req, &f);
	known_years = f.years > 0;
	level = anautil_level_from_years(f.years);
	/* Years the resume states outright are the candidate's own count: only
	 * years pieced together from dates are uncertain enough near a boundary
	 * for titles to move the level. */
	for (int i = 0; i < 3 && f.stated <= 0; i++)
		if (f.years > bounds[i] - st->boundary_margin &&
		    f.years < bounds[i] + st->boundary_margin)
			near = true;
	confidence = known_years ? 0.7 : 0.35;
	if (f.title_level >= 0) {
		int diff = f.title_level - (int)level;

		if (diff == 0)
			confidence += 0.2;
		else if (!known_years)
			level = (enum anautil_level)f.title_level;
		else if (near)
			level = (enum anautil_level)((int)level + (diff > 0 ? 1 : -1));
		else
			confidence -= 0.1 * (diff > 0 ? diff : -diff);
	}
	/* Outside ladders principal is a rank: a title names it, years do not. */
	if (!f.ladder && level == LEVEL_PRINCIPAL && f.title_level < LEVEL_PRINCIPAL) {
		level = LEVEL_SENIOR;
		capped = true;
	}
	if (f.stated > 0 && f.merged_months > 0) {
		double dated = (double)f.merged_months / 12.0;
		double gap = f.stated > dated ? f.stated - dated : dated - f.stated;

		/* Dates and the resume's own statement agree: more certain. */
		confidence += gap < 1.5 ? 0.1 : -0.05;
	}
	if (near)
		confidence -= 0.1;
	confidence = anautil_clamp01(confidence);

	quality = 0.4 * anautil_clamp01(f.avg_tenure / 36.0) +
		  0.3 * (f.jobs ? (double)f.dated_jobs / f.jobs : 0) +
		  0.3 * anautil_clamp01(f.years / 10.0);
	leadership = anautil_clamp01(f.lead_hits / 8.0 +
				     (f.title_level >= LEVEL_SENIOR ? 0.2 : 0) +
				     (f.title_level == LEVEL_PRINCIPAL ? 0.2 : 0));
	depth = 0.6 * anautil_clamp01(f.skills / 25.0) +
		0.4 * anautil_clamp01(f.skills_in_jobs / 15.0);
	achievement = 0.6 * anautil_clamp01(f.said.results / 6.0) +
		      0.4 * anautil_clamp01(f.impact_hits / 12.0);

	n = snprintf(reasoning, sizeof(reasoning),
		     "%.1f years of experience", f.years);
	if (f.stated > 0)
		n += snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
			      " (the resume states %.1f; dated jobs cover %.1f)",
			      f.stated, (double)f.merged_months / 12.0);
	n += snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
		      " across %u jobs, %u with dates", f.jobs, f.dated_jobs);
	if (f.recent_title != NULL)
		n += snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
			      "; most recent title \"%.*s\"",
			      (int)(f.recent_title_len > 80 ? 80 : f.recent_title_len),
			      f.recent_title);
	if (f.occupation != NULL) {
		const struct skillmatch_occupation *o = f.occupation;

		n += snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
			      "; the titles name %s (O*NET %s", o->title, o->soc_code);
		if (o->job_zone > 0)
			n += snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
				      ", Job Zone %d", o->job_zone);
		if (o->experience_min == 0 && o->experience_max == 0)
			n += snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
				      ", usually no related experience needed");
		else if (o->experience_min > 0 && o->experience_max == 0)
			n += snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
				      ", usually over %d years of related experience",
				      o->experience_min / 12);
		else if (o->experience_max > 0)
			n += snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
				      ", usually %d-%d %s of related experience",
				      o->experience_max >= 24 ? o->experience_min / 12 : o->experience_min,
				      o->experience_max >= 24 ? o->experience_max / 12 : o->experience_max,
				      o->experience_max >= 24 ? "years" : "months");
		n += snprintf(reasoning + n, sizeof(reasoning) - (size_t)n, ")");
	}
	snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
		 "; leadership language %zu times, figures in %zu of %zu statements about the work "
		 "(%zu quantified results), %zu skills. Level %s%s%s.",
		 f.lead_hits, f.said.quantified, f.said.statements, f.said.results, f.skills,
		 anautil_level_names[level],
		 near && known_years ? " (near a level boundary, so titles weighed in)" : "",
		 capped ? " (in this field principal is a rank that a title names, such as director "
			  "or head of a unit, not a number of years)" : "");

	if (!known_years)
		recs[nrecs++] = "Add start and end dates (month and year) to every job so experience can be measured";
	/* Measured against the statements the resume makes, so a resume whose
	 * bullets carry figures is not told to add them. */
	if (f.said.quantified == 0 ||
	    (double)f.said.quantified < st->min_quantified_share * (double)f.said.statements)
		recs[nrecs++] = "Quantify results in your bullets: percentages, money, time saved, users or volume";
	if (leadership < 0.4 && level >= LEVEL_SENIOR)
		recs[nrecs++] = "Describe what you led or mentored: team size, scope, decisions you owned";
	if (depth < 0.5)
		recs[nrecs++] = "Name the tools and technologies you used inside each job, not only in a skills list";
	if (quality < 0.5 && f.jobs > 1)
		recs[nrecs++] = "Group short engagements and explain gaps so tenure reads as deliberate";
	if (nrecs == 0)
		recs[nrecs++] = "Lead with the two or three results that best show your level for the target role";

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, 9);
	anautil_pack_kv_str(&pk, "level", anautil_level_names[level]);
	anautil_pack_key(&pk, "confidence");
	anautil_pack_score(&pk, confidence);
	anautil_pack_key(&pk, "total_years_experience");
	msgpack_pack_double(&pk, anautil_years(f.years));
	anautil_pack_key(&pk, "experience_quality_score");
	anautil_pack_score(&pk, quality);
	anautil_pack_key(&pk, "leadership_score");
	anautil_pack_score(&pk, leadership);
	anautil_pack_key(&pk, "skill_depth_score");
	anautil_pack_score(&pk, depth);
	anautil_pack_key(&pk, "achievement_complexity_score");
	anautil_pack_score(&pk, achievement);
	anautil_pack_kv_str(&pk, "reasoning", reasoning);
	anautil_pack_key(&pk, "recommendations");
	msgpack_pack_array(&pk, nrecs);
	for (size_t i = 0; i < nrecs; i++)
		ima_pack_cstr(&pk, recs[i]);
	return anautil_put(req, "seniority_analysis", &sb);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_seniority = {
	IMA_PLUGIN_HEADER,
	.name = "seniority",
	.version = "1.0.0",
	.description = "seniority level, confidence, component scores, reasoning and recommendations",
	.options = seniority_options,
	.init = seniority_init,
	.process = seniority_process,
	.fini = seniority_fini,
};
