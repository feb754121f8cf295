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
 */
#include <stdio.h>
#include <string.h>

#include "anautil.h"

struct seniority_state {
	double boundary_margin;
	double min_quantified_share;
	struct anautil_wordset lead, impact, uncounted;
};

static const struct ima_option seniority_options[] = {
	{ "boundary_margin", IMA_OPT_DOUBLE, "0.75",
	  "years from a level boundary within which job titles may move the level one step", 0 },
	{ "min_quantified_share", IMA_OPT_DOUBLE, "0.2",
	  "share of the statements in jobs that carry a figure below which quantifying is recommended (0-1)", 0 },
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

static int seniority_init(const struct ima_conf *conf, void **state,
			  struct ima_error *err)
{
	struct seniority_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->boundary_margin = ima_conf_double(conf, "boundary_margin");
	st->min_quantified_share = ima_conf_double(conf, "min_quantified_share");
	if (!(st->min_quantified_share >= 0 && st->min_quantified_share <= 1)) {
		ima_free(st);
		return ima_error_set(err, 500, "config", "min_quantified_share",
				     "min_quantified_share must be within 0-1");
	}
	anautil_wordset_init(&st->lead, seniority_lead_words);
	anautil_wordset_init(&st->impact, seniority_impact_words);
	anautil_wordset_init(&st->uncounted, seniority_uncounted_words);
	*state = st;
	return 0;
}

static void seniority_fini(void *state)
{
	ima_free(state);
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
};

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
				int lvl = anautil_level_from_title(t->via.str.ptr, t->via.str.size);

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
	if (anautil_ctx_str(ctx, "_input.resume_text", &text, &len) == 0) {
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
	bool near = false, known_years;
	char reasoning[768];
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
	snprintf(reasoning + n, sizeof(reasoning) - (size_t)n,
		 "; leadership language %zu times, figures in %zu of %zu statements about the work "
		 "(%zu quantified results), %zu skills. Level %s%s.",
		 f.lead_hits, f.said.quantified, f.said.statements, f.said.results, f.skills,
		 anautil_level_names[level],
		 near && known_years ? " (near a level boundary, so titles weighed in)" : "");

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
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
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
