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
	struct anautil_wordset lead, impact;
};

static const struct ima_option seniority_options[] = {
	{ "boundary_margin", IMA_OPT_DOUBLE, "0.75",
	  "years from a level boundary within which job titles may move the level one step", 0 },
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

static int seniority_init(const struct ima_conf *conf, void **state,
			  struct ima_error *err)
{
	struct seniority_state *st = ima_calloc(1, sizeof(*st));

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->boundary_margin = ima_conf_double(conf, "boundary_margin");
	anautil_wordset_init(&st->lead, seniority_lead_words);
	anautil_wordset_init(&st->impact, seniority_impact_words);
	*state = st;
	return 0;
}

static void seniority_fini(void *state)
{
	ima_free(state);
}

/* Lines of the resume that state a result with a number: "cut cost by 38%",
 * "saved $120K", "grew revenue 3x". */
static size_t seniority_metric_lines(const struct seniority_state *st,
				     const char *text, size_t len)
{
	size_t count = 0;

	for (size_t start = 0; start < len;) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - text) : len;
		bool unit = false;

		for (size_t k = start; k < end && !unit; k++) {
			char c = text[k];

			/* A percentage or money anywhere, or a digit glued to a
			 * multiplier. */
			if (c == '%' || c == '$' || (unsigned char)c == 0xe2 /* euro, pound */ ||
			    (k > start && text[k - 1] >= '0' && text[k - 1] <= '9' &&
			     (c == 'x' || c == 'K' || c == 'k' || c == 'M')))
				unit = true;
		}
		if (unit && anautil_wordset_count(&st->impact, text + start, end - start) > 0)
			count++;
		start = end + 1;
	}
	return count;
}

struct seniority_facts {
	double years, stated;
	int64_t merged_months;
	uint32_t jobs, dated_jobs;
	double avg_tenure;
	int title_level; /* highest level named by a recent title, -1 none */
	const char *recent_title;
	size_t recent_title_len;
	size_t lead_hits, impact_hits, metric_lines;
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
			if (i < 3 && t && t->type == MSGPACK_OBJECT_STR) {
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
	if (ima_ctx_get_str(ctx, "_input.resume_text", &text, &len) == 0) {
		f->lead_hits = anautil_wordset_count(&st->lead, text, len);
		f->impact_hits = anautil_wordset_count(&st->impact, text, len);
		f->metric_lines = seniority_metric_lines(st, text, len);
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
	achievement = 0.6 * anautil_clamp01(f.metric_lines / 6.0) +
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
		 "; leadership language %zu times, %zu quantified results, %zu skills. Level %s%s.",
		 f.lead_hits, f.metric_lines, f.skills, anautil_level_names[level],
		 near && known_years ? " (near a level boundary, so titles weighed in)" : "");

	if (!known_years)
		recs[nrecs++] = "Add start and end dates (month and year) to every job so experience can be measured";
	if (achievement < 0.5)
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
