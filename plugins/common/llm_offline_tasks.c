/*
 * llm_offline_tasks.c - the offline answers of the LLM tasks.
 *
 * "gap" restates the gap stage's deterministic analysis in the shape an
 * LLM is asked for: each gap with a severity, the resume's evidence, its
 * impact and the ad's line that asks for it; strategies that name the held
 * skills they build on; a rationale for the alignment score. Nothing is
 * invented: every skill, number and quoted line comes from the context.
 *
 * "profile" describes the resume alone: implied skills with the line that
 * shows them, strengths, the kinds of work its bullets show (archetypes by
 * their verbs), and every figure it states. "suggestions" writes bullets
 * for each critical gap from the resume's own bullets that show a related
 * skill, and rewrites of bullets that hide their impact, with the visible
 * placeholder "[your figure]" where a number is wanted. "critic" tightens
 * the suggestions in the context: clichés out, a strong verb first. The
 * same rule holds for all: only skills, employers, titles, quotes and
 * numbers of the resume, the ad and the request reach the text.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "anautil.h"
#include "llm_offline_tasks.h"

#define GAP_MAX_ITEMS 16
#define GAP_MAX_STRATEGIES 10
#define GAP_QUOTE_MAX 180

typedef int (*llm_offline_fn)(struct ima_ctx *ctx, msgpack_packer *pk,
			      char *why, size_t size);

static int llm_offline_gap(struct ima_ctx *ctx, msgpack_packer *pk, char *why,
			   size_t size);
static int llm_offline_profile(struct ima_ctx *ctx, msgpack_packer *pk, char *why,
			       size_t size);
static int llm_offline_suggestions(struct ima_ctx *ctx, msgpack_packer *pk, char *why,
				   size_t size);
static int llm_offline_critic(struct ima_ctx *ctx, msgpack_packer *pk, char *why,
			      size_t size);

static const struct {
	const char *task;
	llm_offline_fn build;
} llm_offline_builders[] = {
	{ "gap", llm_offline_gap },
	{ "profile", llm_offline_profile },
	{ "suggestions", llm_offline_suggestions },
	{ "critic", llm_offline_critic },
};

#define LLM_OFFLINE_COUNT (sizeof(llm_offline_builders) / sizeof(llm_offline_builders[0]))

bool llm_offline_has(const char *task)
{
	for (size_t i = 0; task != NULL && i < LLM_OFFLINE_COUNT; i++)
		if (strcmp(task, llm_offline_builders[i].task) == 0)
			return true;
	return false;
}

const char *llm_offline_names(void)
{
	return "gap, profile, suggestions, critic";
}

int llm_offline_answer(struct ima_ctx *ctx, const char *task,
		       msgpack_packer *pk, char *why, size_t size)
{
	for (size_t i = 0; task != NULL && i < LLM_OFFLINE_COUNT; i++)
		if (strcmp(task, llm_offline_builders[i].task) == 0)
			return llm_offline_builders[i].build(ctx, pk, why, size);
	snprintf(why, size, "no offline answer for task '%s' (known: %s)",
		 task ? task : "", llm_offline_names());
	return -1;
}

/* ---- text helpers ---- */

/* Length of s[0..n) cut to at most max bytes on a UTF-8 boundary. */
static size_t offline_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* The line of text around offset off, without its bullet and the spaces
 * around it; 0 when off is outside the text. */
static size_t offline_line_at(const char *text, size_t len, size_t off,
			      const char **line)
{
	size_t start = off, end = off;

	if (off >= len)
		return 0;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	while (end < len && text[end] != '\n')
		end++;
	for (;;) {
		if (start < end && (isspace((unsigned char)text[start]) ||
				    text[start] == '-' || text[start] == '*')) {
			start++;
		} else if (end - start >= 3 && memcmp(text + start, "\xe2\x80\xa2", 3) == 0) {
			start += 3; /* a bullet: U+2022 */
		} else {
			break;
		}
	}
	while (end > start && isspace((unsigned char)text[end - 1]))
		end--;
	*line = text + start;
	return end - start;
}

/* The first offset at which hits (the skills stage's [{name, offsets}])
 * found the skill named name[0..n), or -1. */
static long offline_first_offset(const msgpack_object *hits, const char *name,
				 size_t n)
{
	for (uint32_t i = 0; hits && hits->type == MSGPACK_OBJECT_ARRAY && i < hits->via.array.size; i++) {
		const msgpack_object *e = &hits->via.array.ptr[i];
		const msgpack_object *offs = anautil_map_get(e, "offsets");
		const char *v;
		size_t vn;
		double off;

		if (!anautil_str(anautil_map_get(e, "name"), &v, &vn) || vn != n ||
		    strncasecmp(v, name, n) != 0)
			continue;
		if (offs && offs->type == MSGPACK_OBJECT_ARRAY && offs->via.array.size > 0 &&
		    anautil_number(&offs->via.array.ptr[0], &off) && off >= 0)
			return (long)off;
	}
	return -1;
}

/* Writes the quoted line of text that mentions the skill into buf, or ""
 * when it is not found. */
static void offline_quote(char *buf, size_t size, const msgpack_object *hits,
			  const char *text, size_t len, const char *name, size_t n)
{
	long off = offline_first_offset(hits, name, n);
	const char *line;
	size_t ln;

	buf[0] = '\0';
	if (off < 0 || (ln = offline_line_at(text, len, (size_t)off, &line)) == 0)
		return;
	snprintf(buf, size, "%.*s%s", (int)offline_cut(line, ln, GAP_QUOTE_MAX), line,
		 offline_cut(line, ln, GAP_QUOTE_MAX) < ln ? "..." : "");
}

/* The first line of the ad that states the years asked: it holds the
 * number and "year". */
static void offline_years_line(char *buf, size_t size, const char *ad, size_t len,
			       int years)
{
	char num[16];
	size_t nl = (size_t)snprintf(num, sizeof(num), "%d", years);

	buf[0] = '\0';
	for (size_t start = 0; start < len;) {
		size_t end = start;
		bool has_num = false, has_year = false;

		while (end < len && ad[end] != '\n')
			end++;
		for (size_t i = start; i < end; i++) {
			if (i + nl <= end && memcmp(ad + i, num, nl) == 0 &&
			    (i == start || !isdigit((unsigned char)ad[i - 1])) &&
			    (i + nl == end || !isdigit((unsigned char)ad[i + nl])))
				has_num = true;
			if (i + 4 <= end && strncasecmp(ad + i, "year", 4) == 0)
				has_year = true;
		}
		if (has_num && has_year) {
			const char *line;
			size_t ln = offline_line_at(ad, len, start, &line);

			snprintf(buf, size, "%.*s", (int)offline_cut(line, ln, GAP_QUOTE_MAX), line);
			return;
		}
		start = end + 1;
	}
}

/* Joins up to max strings of a msgpack array (or the key member of its
 * maps) with ", "; returns how many it joined. */
static size_t offline_join(char *buf, size_t size, const msgpack_object *arr,
			   const char *key, size_t max)
{
	size_t used = 0, n = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; arr && arr->type == MSGPACK_OBJECT_ARRAY && i < arr->via.array.size && n < max; i++) {
		const char *s;
		size_t sn;

		if (!anautil_elem_str(arr, i, key, &s, &sn))
			continue;
		if (used + sn + 3 >= size)
			break;
		used += (size_t)snprintf(buf + used, size - used, "%s%.*s", n ? ", " : "",
					 (int)sn, s);
		n++;
	}
	return n;
}

static size_t offline_count(const msgpack_object *arr)
{
	return arr && arr->type == MSGPACK_OBJECT_ARRAY ? arr->via.array.size : 0;
}

/* ---- gap ---- */

struct offline_gap_item {
	const char *skill;
	size_t slen;
	const char *severity;
	char evidence[GAP_QUOTE_MAX * 2 + 160];
	char impact[320];
	char requirement[GAP_QUOTE_MAX + 8];
};

struct offline_strategy {
	const char *gap;
	size_t glen;
	char strategy[400];
	const msgpack_object *leverages; /* array of strings, or NULL */
	size_t nleverages;
};

struct offline_gap {
	const msgpack_object *gap, *jobhits, *resumehits;
	const char *ad, *resume, *title;
	size_t adlen, rlen, tlen;
	struct offline_gap_item crit[GAP_MAX_ITEMS], nice[GAP_MAX_ITEMS];
	size_t ncrit, nnice;
	struct offline_strategy strat[GAP_MAX_STRATEGIES];
	size_t nstrat;
};

static void offline_pack_item(msgpack_packer *pk, const struct offline_gap_item *it)
{
	msgpack_pack_map(pk, 5);
	anautil_pack_kv_strn(pk, "skill", it->skill, it->slen);
	anautil_pack_kv_str(pk, "severity", it->severity);
	anautil_pack_kv_str(pk, "evidence", it->evidence);
	anautil_pack_kv_str(pk, "impact", it->impact);
	anautil_pack_kv_str(pk, "requirement", it->requirement);
}

static struct offline_strategy *offline_add_strategy(struct offline_gap *g,
						     const char *gap, size_t glen)
{
	struct offline_strategy *s;

	if (g->nstrat == GAP_MAX_STRATEGIES)
		return NULL;
	s = &g->strat[g->nstrat++];
	s->gap = gap;
	s->glen = glen;
	s->leverages = NULL;
	s->nleverages = 0;
	return s;
}

/* The required skills the resume lacks: high when nothing related is held,
 * medium when related skills make a bridge. */
static void offline_gap_skills(struct offline_gap *g)
{
	const msgpack_object *crit = anautil_map_get(g->gap, "critical_gaps");

	for (uint32_t i = 0; i < offline_count(crit) && g->ncrit < GAP_MAX_ITEMS; i++) {
		const msgpack_object *e = &crit->via.array.ptr[i];
		const msgpack_object *rel = anautil_map_get(e, "related_skills");
		struct offline_gap_item *it = &g->crit[g->ncrit];
		struct offline_strategy *s;
		char related[160], quote[GAP_QUOTE_MAX + 8];
		const char *first = "";
		size_t nrel, fn = 0;

		if (!anautil_str(anautil_map_get(e, "skill"), &it->skill, &it->slen) || it->slen == 0)
			continue;
		g->ncrit++;
		nrel = offline_join(related, sizeof(related), rel, NULL, 3);
		if (nrel > 0 && !anautil_str(&rel->via.array.ptr[0], &first, &fn))
			nrel = 0; /* not the gap stage's list of names */
		it->severity = nrel > 0 ? "medium" : "high";
		offline_quote(it->requirement, sizeof(it->requirement), g->jobhits, g->ad,
			      g->adlen, it->skill, it->slen);
		quote[0] = '\0';
		if (nrel > 0)
			offline_quote(quote, sizeof(quote), g->resumehits, g->resume, g->rlen,
				      first, fn);
		if (nrel == 0)
			snprintf(it->evidence, sizeof(it->evidence), "not found in the resume");
		else if (quote[0] != '\0')
			snprintf(it->evidence, sizeof(it->evidence),
				 "not found in the resume; related experience: %s (\"%s\")", related, quote);
		else
			snprintf(it->evidence, sizeof(it->evidence),
				 "not found in the resume; related experience: %s", related);
		if (nrel == 0)
			snprintf(it->impact, sizeof(it->impact),
				 "The ad requires %.*s and the resume shows nothing related: the gap most likely to screen the application out.",
				 (int)it->slen, it->skill);
		else
			snprintf(it->impact, sizeof(it->impact),
				 "The ad requires %.*s; related experience (%s) makes it bridgeable, but the resume must make the link explicit.",
				 (int)it->slen, it->skill, related);
		if ((s = offline_add_strategy(g, it->skill, it->slen)) == NULL)
			continue;
		if (nrel > 0) {
			snprintf(s->strategy, sizeof(s->strategy),
				 "Bridge %.*s from your %.*s experience: describe the overlap in the resume, then add a small project or course with %.*s that you can describe with a result.",
				 (int)it->slen, it->skill, (int)fn, first, (int)it->slen, it->skill);
			s->leverages = rel;
			s->nleverages = nrel;
		} else {
			snprintf(s->strategy, sizeof(s->strategy),
				 "Build evidence for %.*s: a project, certification or on-the-job task, described in the resume with what it achieved.",
				 (int)it->slen, it->skill);
		}
	}
}

/* Covered skills that the resume never names: a strategy, not a gap. */
static void offline_gap_implied(struct offline_gap *g)
{
	const msgpack_object *imp = anautil_map_get(g->gap, "implied");

	for (uint32_t i = 0; i < offline_count(imp); i++) {
		const msgpack_object *e = &imp->via.array.ptr[i];
		const msgpack_object *by = anautil_map_get(e, "implied_by");
		struct offline_strategy *s;
		const char *skill;
		size_t slen;
		char held[160];
		size_t nby;

		if (!anautil_str(anautil_map_get(e, "skill"), &skill, &slen) || slen == 0)
			continue;
		nby = offline_join(held, sizeof(held), by, NULL, 3);
		if ((s = offline_add_strategy(g, skill, slen)) == NULL)
			return;
		snprintf(s->strategy, sizeof(s->strategy),
			 "Name %.*s explicitly: it follows from your %s, but the resume never says it, and screening looks for the word.",
			 (int)slen, skill, nby ? held : "other skills");
		s->leverages = by;
		s->nleverages = nby;
	}
}

/* Years and level below what the ad asks, as gaps of their own. */
static void offline_gap_experience(struct offline_gap *g, struct ima_ctx *ctx)
{
	const msgpack_object *yg = anautil_map_get(g->gap, "years_gap");
	const msgpack_object *sg = anautil_map_get(g->gap, "seniority_gap");
	double required = 0, candidate = 0, gap = 0, levels = 0, conf = 0;
	const char *want, *have;
	size_t wn, hn;

	if (anautil_number(anautil_map_get(yg, "gap"), &gap) && gap > 0 &&
	    anautil_number(anautil_map_get(yg, "required"), &required) &&
	    g->ncrit < GAP_MAX_ITEMS) {
		struct offline_gap_item *it = &g->crit[g->ncrit++];
		struct offline_strategy *s;

		anautil_number(anautil_map_get(yg, "candidate"), &candidate);
		it->skill = "years of experience";
		it->slen = strlen(it->skill);
		it->severity = gap >= 3 || gap * 2 > required ? "high" : "medium";
		snprintf(it->evidence, sizeof(it->evidence),
			 "the resume shows %.1f years of experience", candidate);
		snprintf(it->impact, sizeof(it->impact),
			 "The ad asks for %.0f years and the resume shows %.1f: screening often filters on the number.",
			 required, candidate);
		offline_years_line(it->requirement, sizeof(it->requirement), g->ad, g->adlen,
				   (int)required);
		if ((s = offline_add_strategy(g, it->skill, it->slen)) != NULL)
			snprintf(s->strategy, sizeof(s->strategy),
				 "Count relevant internships, freelance and project work, and show scope that matches %.0f years: team size, systems owned, results.",
				 required);
	}
	if (anautil_number(anautil_map_get(sg, "gap_levels"), &levels) && levels > 0 &&
	    anautil_str(anautil_map_get(sg, "required"), &want, &wn) &&
	    anautil_str(anautil_map_get(sg, "candidate"), &have, &hn) &&
	    g->ncrit < GAP_MAX_ITEMS) {
		struct offline_gap_item *it = &g->crit[g->ncrit++];
		struct offline_strategy *s;
		const char *line = g->title;
		size_t ln = g->tlen;

		anautil_number(ima_ctx_get(ctx, "seniority_analysis.confidence"), &conf);
		it->skill = "seniority";
		it->slen = strlen(it->skill);
		it->severity = levels >= 2 ? "high" : "medium";
		snprintf(it->evidence, sizeof(it->evidence),
			 "the resume reads as %.*s level (confidence %.2f)", (int)hn, have, conf);
		snprintf(it->impact, sizeof(it->impact),
			 "The role is %.*s and the resume reads as %.*s: expect questions on scope, ownership and decisions.",
			 (int)wn, want, (int)hn, have);
		if (ln == 0)
			ln = offline_line_at(g->ad, g->adlen, 0, &line);
		snprintf(it->requirement, sizeof(it->requirement), "%.*s",
			 (int)offline_cut(line, ln, GAP_QUOTE_MAX), line);
		if ((s = offline_add_strategy(g, it->skill, it->slen)) != NULL)
			snprintf(s->strategy, sizeof(s->strategy),
				 "Lead with ownership, mentoring and decisions that show %.*s scope, each with its result.",
				 (int)wn, want);
	}
}

static void offline_gap_nice(struct offline_gap *g)
{
	const msgpack_object *nice = anautil_map_get(g->gap, "nice_to_have_gaps");

	for (uint32_t i = 0; i < offline_count(nice) && g->nnice < GAP_MAX_ITEMS; i++) {
		struct offline_gap_item *it = &g->nice[g->nnice];
		struct offline_strategy *s;

		if (!anautil_str(&nice->via.array.ptr[i], &it->skill, &it->slen) || it->slen == 0)
			continue;
		g->nnice++;
		it->severity = "low";
		snprintf(it->evidence, sizeof(it->evidence), "not found in the resume");
		snprintf(it->impact, sizeof(it->impact),
			 "Preferred, not required: %.*s would strengthen the application, and its absence does not block it.",
			 (int)it->slen, it->skill);
		offline_quote(it->requirement, sizeof(it->requirement), g->jobhits, g->ad,
			      g->adlen, it->skill, it->slen);
		/* Only the first two: strategies for every extra would bury
		 * the ones that matter. */
		if (g->nnice <= 2 && (s = offline_add_strategy(g, it->skill, it->slen)) != NULL)
			snprintf(s->strategy, sizeof(s->strategy),
				 "Mention any exposure to %.*s you have; otherwise a short course or side project is enough for a preferred skill.",
				 (int)it->slen, it->skill);
	}
}

static int llm_offline_gap(struct ima_ctx *ctx, msgpack_packer *pk, char *why,
			   size_t size)
{
	struct offline_gap *g = ima_calloc(1, sizeof(*g));
	const msgpack_object *reqs = ima_ctx_get(ctx, "job_requirements.skills_required");
	const msgpack_object *prefs = ima_ctx_get(ctx, "job_requirements.skills_preferred");
	const msgpack_object *gaps = ima_ctx_get(ctx, "_input.domain_insights.insights.gaps");
	const char *verdict, *reason = NULL, *level = "", *asked = "no level";
	size_t nreq, npref, nmatched, nmpref, nimplied, reasonlen = 0, ln = 0, an = 8;
	double score = -1, years = 0, minyears = 0;
	char summary[900], rationale[900], missing[200], market[240], yearsbuf[48];
	size_t used;

	if (g == NULL) {
		snprintf(why, size, "out of memory");
		return -1;
	}
	g->gap = ima_ctx_get(ctx, "gap_analysis");
	g->jobhits = ima_ctx_get(ctx, "_skills.job");
	g->resumehits = ima_ctx_get(ctx, "_skills.resume");
	g->ad = g->resume = g->title = "";
	anautil_ctx_str(ctx, "_input.job_ad", &g->ad, &g->adlen);
	anautil_ctx_str(ctx, "_input.resume_text", &g->resume, &g->rlen);
	anautil_ctx_str(ctx, "_input.job_title", &g->title, &g->tlen);

	offline_gap_skills(g);
	offline_gap_experience(g, ctx);
	offline_gap_implied(g);
	offline_gap_nice(g);

	nreq = offline_count(reqs);
	npref = offline_count(prefs);
	nmatched = offline_count(anautil_map_get(g->gap, "matched"));
	nmpref = offline_count(anautil_map_get(g->gap, "matched_preferred"));
	nimplied = offline_count(anautil_map_get(g->gap, "implied"));
	anautil_number(anautil_map_get(g->gap, "alignment_score"), &score);
	anautil_str(anautil_map_get(g->gap, "alignment_reason"), &reason, &reasonlen);
	anautil_number(ima_ctx_get(ctx, "seniority_analysis.total_years_experience"), &years);
	anautil_ctx_str(ctx, "seniority_analysis.level", &level, &ln);
	anautil_ctx_str(ctx, "job_requirements.seniority", &asked, &an);
	if (anautil_number(ima_ctx_get(ctx, "job_requirements.min_years"), &minyears) && minyears > 0)
		snprintf(yearsbuf, sizeof(yearsbuf), "a minimum of %.0f", minyears);
	else
		snprintf(yearsbuf, sizeof(yearsbuf), "no stated minimum");

	verdict = score >= 0.75 ? "Strong match" : score >= 0.5 ? "Partial match" :
		  score >= 0 ? "Weak match" : "No alignment score";
	used = 0;
	missing[0] = '\0';
	for (size_t i = 0; i < g->ncrit && i < 4; i++)
		used += (size_t)snprintf(missing + used, sizeof(missing) - used, "%s%.*s",
					 i ? ", " : "", (int)offline_cut(g->crit[i].skill, g->crit[i].slen, 40),
					 g->crit[i].skill);
	if (g->adlen == 0) {
		snprintf(summary, sizeof(summary),
			 "No job ad was given, so there is nothing to compare the resume against.");
		snprintf(rationale, sizeof(rationale), "There is no job ad, so no alignment.");
	} else {
		snprintf(summary, sizeof(summary),
			 "%s%s%.*s: the resume shows %zu of %zu required skills%s and %zu of %zu preferred. %s%s%s",
			 verdict, g->tlen ? " for " : "", (int)offline_cut(g->title, g->tlen, 80), g->title,
			 nmatched, nreq,
			 nimplied ? " (more follow from held skills without being named)" : "",
			 nmpref, npref,
			 g->ncrit ? "Critical gaps: " : "No required skill or experience is missing.",
			 missing, g->ncrit ? "." : "");
		if (score >= 0)
			used = (size_t)snprintf(rationale, sizeof(rationale),
						"Alignment %.2f weighs required skills most: %zu of %zu covered (%zu implied by held skills), %zu of %zu preferred; %.1f years of experience against %s; %.*s level against %.*s asked.",
						score, nmatched + nimplied, nreq, nimplied, nmpref, npref, years,
						yearsbuf, (int)ln, level, (int)an, asked);
		else
			used = (size_t)snprintf(rationale, sizeof(rationale),
						"No alignment score (%.*s): the ad names no skill this analysis recognises, so only %.1f years of experience against %s can be compared.",
						(int)reasonlen, reason ? reason : "", years, yearsbuf);
		if (offline_join(market, sizeof(market), gaps, NULL, 3) > 0 && used < sizeof(rationale))
			snprintf(rationale + used, sizeof(rationale) - used,
				 " The market analysis also names: %s.", market);
	}

	msgpack_pack_map(pk, 5);
	anautil_pack_kv_str(pk, "summary", summary);
	anautil_pack_key(pk, "critical_gaps");
	msgpack_pack_array(pk, g->ncrit);
	for (size_t i = 0; i < g->ncrit; i++)
		offline_pack_item(pk, &g->crit[i]);
	anautil_pack_key(pk, "nice_to_have_gaps");
	msgpack_pack_array(pk, g->nnice);
	for (size_t i = 0; i < g->nnice; i++)
		offline_pack_item(pk, &g->nice[i]);
	anautil_pack_key(pk, "bridging_strategies");
	msgpack_pack_array(pk, g->nstrat);
	for (size_t i = 0; i < g->nstrat; i++) {
		const struct offline_strategy *s = &g->strat[i];
		size_t k = 0;

		msgpack_pack_map(pk, 3);
		anautil_pack_kv_strn(pk, "gap", s->gap, s->glen);
		anautil_pack_kv_str(pk, "strategy", s->strategy);
		anautil_pack_key(pk, "leverages");
		msgpack_pack_array(pk, s->nleverages);
		for (uint32_t j = 0; s->leverages && j < s->leverages->via.array.size && k < s->nleverages; j++) {
			const char *v;
			size_t vn;

			if (anautil_str(&s->leverages->via.array.ptr[j], &v, &vn) && vn > 0) {
				ima_pack_strn(pk, v, vn);
				k++;
			}
		}
	}
	anautil_pack_kv_str(pk, "alignment_rationale", rationale);
	ima_free(g);
	return 0;
}

/* ---- the resume's bullets ---- */

#define OFFLINE_MAX_BULLETS 48
#define OFFLINE_BULLET_MAX 200

struct offline_bullet {
	const char *text;
	size_t len;
	long job;         /* index into experiences, -1 when outside every job */
	bool has_digit;
};

struct offline_resume {
	const char *text;
	size_t len;
	const msgpack_object *exps;  /* experiences[] */
	struct offline_bullet b[OFFLINE_MAX_BULLETS];
	size_t n;
};

static bool offline_has_digit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isdigit((unsigned char)s[i]))
			return true;
	return false;
}

/* Whether the line at s opens with a bullet mark ("-", "*", U+2022). */
static bool offline_is_bullet(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < n && (s[i] == '-' || s[i] == '*'))
		return true;
	return n - i >= 3 && memcmp(s + i, "\xe2\x80\xa2", 3) == 0;
}

/* The bullets of every job's block (_experience.spans), in order, with
 * trailing punctuation cut. */
static void offline_resume_bullets(struct ima_ctx *ctx, struct offline_resume *r)
{
	const msgpack_object *spans = ima_ctx_get(ctx, "_experience.spans");

	memset(r, 0, sizeof(*r));
	r->text = "";
	anautil_ctx_str(ctx, "_input.resume_text", &r->text, &r->len);
	r->exps = ima_ctx_get(ctx, "experiences");
	for (uint32_t j = 0; j < offline_count(spans) && r->n < OFFLINE_MAX_BULLETS; j++) {
		const msgpack_object *sp = &spans->via.array.ptr[j];
		double a, b;
		size_t pos, end;

		if (sp->type != MSGPACK_OBJECT_ARRAY || sp->via.array.size != 2 ||
		    !anautil_number(&sp->via.array.ptr[0], &a) ||
		    !anautil_number(&sp->via.array.ptr[1], &b) || a < 0 || b < a)
			continue;
		pos = (size_t)a;
		end = (size_t)b < r->len ? (size_t)b : r->len;
		while (pos < end && r->n < OFFLINE_MAX_BULLETS) {
			size_t eol = pos, ln;
			const char *line;

			while (eol < end && r->text[eol] != '\n')
				eol++;
			if (offline_is_bullet(r->text + pos, eol - pos) &&
			    (ln = offline_line_at(r->text, r->len, pos, &line)) > 0) {
				while (ln > 0 && (line[ln - 1] == '.' || line[ln - 1] == ';' ||
						  line[ln - 1] == ','))
					ln--;
				if (ln > 0) {
					struct offline_bullet *bl = &r->b[r->n++];

					bl->text = line;
					bl->len = offline_cut(line, ln, OFFLINE_BULLET_MAX);
					bl->job = (long)j;
					bl->has_digit = offline_has_digit(line, ln);
				}
			}
			pos = eol + 1;
		}
	}
}

/* Member key of experiences[job] as a string; "" when absent. */
static const char *offline_job_str(const struct offline_resume *r, long job, const char *key,
				   size_t *n)
{
	const char *s = "";

	*n = 0;
	if (job >= 0 && (size_t)job < offline_count(r->exps) &&
	    anautil_str(anautil_map_get(&r->exps->via.array.ptr[job], key), &s, n))
		return s;
	*n = 0;
	return "";
}

/* Case-insensitive search for word as a whole word in s[0..n). */
static bool offline_has_word(const char *s, size_t n, const char *word, size_t wn)
{
	for (size_t i = 0; wn > 0 && i + wn <= n; i++)
		if (strncasecmp(s + i, word, wn) == 0 &&
		    (i == 0 || !isalnum((unsigned char)s[i - 1])) &&
		    (i + wn == n || !isalnum((unsigned char)s[i + wn])))
			return true;
	return false;
}

/* Whether a word of s[0..n) starts with one of the stems. */
static bool offline_has_stem(const char *s, size_t n, const char *const *stems)
{
	for (const char *const *st = stems; *st; st++) {
		size_t sl = strlen(*st);

		for (size_t i = 0; i + sl <= n; i++)
			if ((i == 0 || !isalpha((unsigned char)s[i - 1])) &&
			    strncasecmp(s + i, *st, sl) == 0)
				return true;
	}
	return false;
}

/* The first bullet that names the skill, or NULL. */
static const struct offline_bullet *offline_bullet_naming(const struct offline_resume *r,
							   const char *skill, size_t n,
							   const struct offline_bullet *not)
{
	/* The skills stage names "Apache Kafka" what the resume calls
	 * "Kafka": try the last word too. */
	const char *last = skill;
	size_t ln = n;

	for (size_t i = n; i > 0; i--)
		if (skill[i - 1] == ' ') {
			last = skill + i;
			ln = n - i;
			break;
		}
	for (size_t i = 0; i < r->n; i++)
		if (&r->b[i] != not && (offline_has_word(r->b[i].text, r->b[i].len, skill, n) ||
					(ln >= 3 && offline_has_word(r->b[i].text, r->b[i].len, last, ln))))
			return &r->b[i];
	return NULL;
}

/* ---- profile ---- */

static const char *const offline_archetypes[] = {
	"migration", "greenfield build", "scaling", "turnaround", "maintenance"
};
static const char *const offline_stems[][12] = {
	{ "migrat", "moved", "port", "replatform", "re-platform", "transition", NULL },
	{ "built", "build", "designed", "introduced", "launched", "created", "founded",
	  "greenfield", "wrote", NULL },
	{ "scal", "grew", "throughput", "expanded", "growth", NULL },
	{ "turnaround", "turned around", "rescu", "stabilis", "stabiliz", "recover", "reviv",
	  "overhaul", NULL },
	{ "maintain", "maintenance", "support", "on-call", "upgrad", "patch", NULL },
};
static const char *const offline_lead_stems[] = {
	"led", "lead", "mentor", "managed", "coached", "supervis", NULL
};

#define PROFILE_MAX_METRICS 15

struct offline_metric {
	const char *num;
	size_t nlen;
	const char *line;
	size_t llen;
};

/* A figure of the line at s: digits (with "," and "."), then "%" or "+",
 * or a space and the word that follows ("40 TB", "5 engineers"). Years
 * (1900-2099) and digits inside words ("S3") are not figures. */
static size_t offline_figure(const char *line, size_t n, size_t i)
{
	size_t j = i, digits;

	if (i > 0 && (isalnum((unsigned char)line[i - 1]) || line[i - 1] == '.' ||
		      line[i - 1] == '/'))
		return 0;
	while (j < n && (isdigit((unsigned char)line[j]) ||
			 ((line[j] == ',' || line[j] == '.') && j + 1 < n &&
			  isdigit((unsigned char)line[j + 1]))))
		j++;
	digits = j - i;
	if (digits == 0 || (j < n && isalpha((unsigned char)line[j])))
		return 0;
	if (digits == 4 && (memcmp(line + i, "19", 2) == 0 || memcmp(line + i, "20", 2) == 0))
		return 0;
	if (j < n && (line[j] == '%' || line[j] == '+'))
		return j + 1 - i;
	if (j + 1 < n && line[j] == ' ' && isalpha((unsigned char)line[j + 1])) {
		size_t k = j + 1;

		while (k < n && isalpha((unsigned char)line[k]))
			k++;
		if (k - j - 1 <= 12)
			return k - i;
	}
	return j - i;
}

/* Every figure the resume states, with its line: lines with an address or
 * a "|" (contact lines) are left out. */
static size_t offline_metrics(const char *text, size_t len, struct offline_metric *m,
			      size_t max)
{
	size_t n = 0;

	for (size_t start = 0; start < len && n < max;) {
		size_t end = start;
		const char *line;
		size_t ln;

		while (end < len && text[end] != '\n')
			end++;
		ln = offline_line_at(text, len, start, &line);
		if (ln > 0 && memchr(line, '@', ln) == NULL && memchr(line, '|', ln) == NULL)
			for (size_t i = 0; i < ln && n < max; i++) {
				size_t f = isdigit((unsigned char)line[i]) ? offline_figure(line, ln, i) : 0;

				if (f == 0)
					continue;
				m[n].num = line + i;
				m[n].nlen = f;
				m[n].line = line;
				m[n].llen = offline_cut(line, ln, GAP_QUOTE_MAX);
				n++;
				i += f;
			}
		start = end + 1;
	}
	return n;
}

static int llm_offline_profile(struct ima_ctx *ctx, msgpack_packer *pk, char *why,
			       size_t size)
{
	struct offline_resume *r = ima_calloc(1, sizeof(*r));
	struct offline_metric metrics[PROFILE_MAX_METRICS];
	const msgpack_object *inferred = ima_ctx_get(ctx, "processed_skills.inferred_skills");
	const msgpack_object *high = ima_ctx_get(ctx, "processed_skills.high_confidence");
	const msgpack_object *hits = ima_ctx_get(ctx, "_skills.resume");
	const struct offline_bullet *arch[5] = { NULL };
	const struct offline_bullet *lead = NULL, *figure = NULL;
	char summary[700], skills[200], strengths[3][OFFLINE_BULLET_MAX + 40];
	size_t nstr = 0, nimp = 0, narch = 0, nmet, used, nskills;

	if (r == NULL) {
		snprintf(why, size, "out of memory");
		return -1;
	}
	offline_resume_bullets(ctx, r);
	nskills = offline_join(skills, sizeof(skills), high, "skill", 3);

	/* Who: the jobs, most recent first, as the resume names them. */
	used = 0;
	summary[0] = '\0';
	for (long j = 0; j < (long)offline_count(r->exps) && j < 3; j++) {
		size_t tn, cn;
		const char *t = offline_job_str(r, j, "title", &tn);
		const char *c = offline_job_str(r, j, "company", &cn);

		if (tn == 0 || used >= sizeof(summary))
			continue;
		used += (size_t)snprintf(summary + used, sizeof(summary) - used, "%s%.*s%s%.*s",
					 used == 0 ? "" : j == 1 ? ", previously " : " and ",
					 (int)offline_cut(t, tn, 80), t, cn ? " at " : "",
					 (int)offline_cut(c, cn, 80), c);
	}
	if (used == 0)
		used = (size_t)snprintf(summary, sizeof(summary), "The resume names no job with a title");
	if (used < sizeof(summary))
		snprintf(summary + used, sizeof(summary) - used, nskills ? "; strongest in %s." : ".",
			 skills);

	for (size_t i = 0; i < r->n; i++) {
		const struct offline_bullet *b = &r->b[i];

		if (lead == NULL && offline_has_stem(b->text, b->len, offline_lead_stems))
			lead = b;
		if (figure == NULL && b->has_digit && b != lead)
			figure = b;
		for (size_t a = 0; a < 5; a++)
			if (arch[a] == NULL && offline_has_stem(b->text, b->len, offline_stems[a])) {
				arch[a] = b;
				narch++;
			}
	}
	if (nskills > 0)
		snprintf(strengths[nstr++], sizeof(strengths[0]), "Depth in %s", skills);
	if (lead != NULL)
		snprintf(strengths[nstr++], sizeof(strengths[0]), "Leadership: %.*s", (int)lead->len,
			 lead->text);
	if (figure != NULL)
		snprintf(strengths[nstr++], sizeof(strengths[0]), "Measurable results: %.*s",
			 (int)figure->len, figure->text);
	nmet = offline_metrics(r->text, r->len, metrics, PROFILE_MAX_METRICS);
	for (uint32_t i = 0; i < offline_count(inferred) && nimp < 15; i++)
		nimp += anautil_elem_str(inferred, i, "skill", &(const char *){ NULL }, &(size_t){ 0 });

	msgpack_pack_map(pk, 5);
	anautil_pack_kv_str(pk, "summary", summary);
	anautil_pack_key(pk, "implied_skills");
	msgpack_pack_array(pk, nimp);
	for (uint32_t i = 0, k = 0; i < offline_count(inferred) && k < nimp; i++) {
		const msgpack_object *e = &inferred->via.array.ptr[i];
		const msgpack_object *by = anautil_map_get(e, "implied_by");
		char quote[GAP_QUOTE_MAX + 8], from[160], evidence[GAP_QUOTE_MAX + 200];
		const char *skill, *first;
		size_t sn, fn;

		if (!anautil_elem_str(inferred, i, "skill", &skill, &sn))
			continue;
		k++;
		quote[0] = '\0';
		offline_join(from, sizeof(from), by, NULL, 3);
		if (anautil_elem_str(by, 0, NULL, &first, &fn))
			offline_quote(quote, sizeof(quote), hits, r->text, r->len, first, fn);
		if (quote[0] != '\0')
			snprintf(evidence, sizeof(evidence), "%s", quote);
		else
			snprintf(evidence, sizeof(evidence), "follows from %s", from[0] ? from : "held skills");
		msgpack_pack_map(pk, 2);
		anautil_pack_kv_strn(pk, "skill", skill, sn);
		anautil_pack_kv_str(pk, "evidence", evidence);
	}
	anautil_pack_key(pk, "strengths");
	msgpack_pack_array(pk, nstr);
	for (size_t i = 0; i < nstr; i++)
		ima_pack_cstr(pk, strengths[i]);
	anautil_pack_key(pk, "archetypes");
	msgpack_pack_array(pk, narch);
	for (size_t a = 0; a < 5; a++) {
		if (arch[a] == NULL)
			continue;
		msgpack_pack_map(pk, 2);
		anautil_pack_kv_str(pk, "archetype", offline_archetypes[a]);
		anautil_pack_kv_strn(pk, "evidence", arch[a]->text, arch[a]->len);
	}
	anautil_pack_key(pk, "stated_metrics");
	msgpack_pack_array(pk, nmet);
	for (size_t i = 0; i < nmet; i++) {
		msgpack_pack_map(pk, 2);
		anautil_pack_kv_strn(pk, "metric", metrics[i].num, metrics[i].nlen);
		anautil_pack_kv_strn(pk, "context", metrics[i].line, metrics[i].llen);
	}
	ima_free(r);
	return 0;
}

/* ---- suggestions ---- */

#define SUGG_MAX_GAPS 10
#define SUGG_MAX_REWRITES 5
#define SUGG_TEXT_MAX 600

struct offline_sugg {
	const char *focus;
	size_t flen;
	char text[3][SUGG_TEXT_MAX];
	size_t n;
};

/* Bullets for one gap from the resume's bullets that name its related
 * skills; a project to add when nothing related is held. */
static void offline_bridge(const struct offline_resume *r, const msgpack_object *rel,
			   struct offline_sugg *s)
{
	const struct offline_bullet *first = NULL;
	const char *r1 = NULL;
	size_t r1n = 0;

	for (uint32_t i = 0; i < offline_count(rel) && s->n < 2; i++) {
		const struct offline_bullet *b;
		const char *rs;
		size_t rn;

		if (!anautil_elem_str(rel, i, NULL, &rs, &rn) ||
		    (b = offline_bullet_naming(r, rs, rn, first)) == NULL)
			continue;
		snprintf(s->text[s->n++], SUGG_TEXT_MAX, "%.*s - %.*s experience that carries over to %.*s",
			 (int)b->len, b->text, (int)rn, rs, (int)s->flen, s->focus);
		if (first == NULL) {
			first = b;
			r1 = rs;
			r1n = rn;
		}
	}
	if (first != NULL) {
		snprintf(s->text[s->n++], SUGG_TEXT_MAX,
			 "Add a project that runs your %.*s work on %.*s, with what it ran and its result ([your figure])",
			 (int)r1n, r1, (int)s->flen, s->focus);
		return;
	}
	snprintf(s->text[s->n++], SUGG_TEXT_MAX,
		 "Add a project or course that uses %.*s, described with its result ([your figure])",
		 (int)s->flen, s->focus);
	if (offline_count(r->exps) > 0) {
		size_t tn, cn;
		const char *t = offline_job_str(r, 0, "title", &tn);
		const char *c = offline_job_str(r, 0, "company", &cn);

		snprintf(s->text[s->n++], SUGG_TEXT_MAX,
			 "Name any exposure to %.*s in your work as %.*s%s%.*s, with its scope ([your figure])",
			 (int)s->flen, s->focus, (int)offline_cut(t, tn, 80), t, cn ? " at " : "",
			 (int)offline_cut(c, cn, 80), c);
	} else {
		snprintf(s->text[s->n++], SUGG_TEXT_MAX,
			 "Name any exposure to %.*s you already have, with its scope ([your figure])",
			 (int)s->flen, s->focus);
	}
}

/* Rewrites of a bullet that surface its impact: a bullet with a result
 * after ";" leads with it; one without a figure asks for the result and
 * the scale. */
static void offline_rewrite(const struct offline_bullet *b, struct offline_sugg *s)
{
	const char *semi = memchr(b->text, ';', b->len);

	s->focus = b->text;
	s->flen = b->len;
	if (semi != NULL && b->has_digit) {
		const char *res = semi + 1;
		size_t rn = b->len - (size_t)(res - b->text), hn = (size_t)(semi - b->text);

		while (rn > 0 && *res == ' ') {
			res++;
			rn--;
		}
		if (rn > 0 && hn > 0) {
			snprintf(s->text[s->n++], SUGG_TEXT_MAX, "%c%.*s: %c%.*s",
				 toupper((unsigned char)res[0]), (int)rn - 1, res + 1,
				 tolower((unsigned char)b->text[0]), (int)hn - 1, b->text + 1);
			return;
		}
	}
	snprintf(s->text[s->n++], SUGG_TEXT_MAX,
		 "%.*s, cutting time or cost by [your figure]", (int)b->len, b->text);
	snprintf(s->text[s->n++], SUGG_TEXT_MAX,
		 "%.*s, serving [your figure] users, teams or systems", (int)b->len, b->text);
}

static void offline_pack_suggs(msgpack_packer *pk, const char *key, const char *field,
			       const struct offline_sugg *s, size_t n)
{
	anautil_pack_key(pk, key);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_map(pk, 2);
		anautil_pack_kv_strn(pk, field, s[i].focus, s[i].flen);
		anautil_pack_key(pk, "suggestions");
		msgpack_pack_array(pk, s[i].n);
		for (size_t k = 0; k < s[i].n; k++)
			ima_pack_cstr(pk, s[i].text[k]);
	}
}

struct offline_suggestions {
	struct offline_resume r;
	struct offline_sugg gaps[SUGG_MAX_GAPS], rewrites[SUGG_MAX_REWRITES];
};

static int llm_offline_suggestions(struct ima_ctx *ctx, msgpack_packer *pk, char *why,
				   size_t size)
{
	struct offline_suggestions *o = ima_calloc(1, sizeof(*o));
	const msgpack_object *crit = ima_ctx_get(ctx, "gap_analysis.critical_gaps");
	size_t ngaps = 0, nrw = 0;

	if (o == NULL) {
		snprintf(why, size, "out of memory");
		return -1;
	}
	offline_resume_bullets(ctx, &o->r);
	for (uint32_t i = 0; i < offline_count(crit) && ngaps < SUGG_MAX_GAPS; i++) {
		const msgpack_object *e = &crit->via.array.ptr[i];
		struct offline_sugg *s = &o->gaps[ngaps];

		if (!anautil_str(anautil_map_get(e, "skill"), &s->focus, &s->flen) || s->flen == 0)
			continue;
		ngaps++;
		offline_bridge(&o->r, anautil_map_get(e, "related_skills"), s);
	}
	/* Bullets without a figure first: they hide their impact most. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < o->r.n && nrw < SUGG_MAX_REWRITES; i++) {
			const struct offline_bullet *b = &o->r.b[i];

			if (b->has_digit != (pass == 1) ||
			    (pass == 1 && memchr(b->text, ';', b->len) == NULL && nrw >= 2))
				continue;
			offline_rewrite(b, &o->rewrites[nrw++]);
		}
	msgpack_pack_map(pk, 2);
	offline_pack_suggs(pk, "bridging_gaps", "skill_focus", o->gaps, ngaps);
	offline_pack_suggs(pk, "metric_improvements", "original", o->rewrites, nrw);
	ima_free(o);
	return 0;
}

/* ---- critic ---- */

/* Openings that say little, and the verb that replaces them. */
static const char *const offline_weak[][2] = {
	{ "responsible for ", "Owned " },
	{ "was responsible for ", "Owned " },
	{ "helped with ", "Supported " },
	{ "helped to ", "" },
	{ "helped ", "Supported " },
	{ "worked on ", "Delivered " },
	{ "was involved in ", "Contributed to " },
	{ "involved in ", "Contributed to " },
	{ "participated in ", "Contributed to " },
	{ "assisted with ", "Supported " },
	{ "tasked with ", "" },
	{ NULL, NULL }
};
/* Filler anywhere in a bullet. */
static const char *const offline_filler[] = {
	" successfully", " effectively", " various", " very", " really",
	" in order to", " a number of", " team player", " synergy", NULL
};

/* The tightened version of s into out: the opening replaced, filler cut
 * (" in order to" becomes " to"), spaces collapsed, the first letter a
 * capital, no trailing period. */
static void offline_tighten(const char *s, size_t n, char *out, size_t size)
{
	char first[SUGG_TEXT_MAX + 32], tmp[SUGG_TEXT_MAX + 32];
	size_t o = 0, fn;

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	fn = (size_t)snprintf(first, sizeof(first), "%.*s", (int)offline_cut(s, n, SUGG_TEXT_MAX), s);
	for (size_t w = 0; offline_weak[w][0]; w++) {
		size_t wl = strlen(offline_weak[w][0]);

		if (n > wl && strncasecmp(s, offline_weak[w][0], wl) == 0) {
			fn = (size_t)snprintf(first, sizeof(first), "%s%.*s", offline_weak[w][1],
					      (int)offline_cut(s + wl, n - wl, SUGG_TEXT_MAX), s + wl);
			break;
		}
	}
	if (fn >= sizeof(first))
		fn = sizeof(first) - 1;
	/* A space in front, so that filler opening the text matches too. */
	memmove(first + 1, first, fn + 1 < sizeof(first) ? fn + 1 : sizeof(first) - 1);
	first[0] = ' ';
	fn = strlen(first);
	for (size_t i = 0; i < fn && o + 1 < sizeof(tmp);) {
		bool cut = false;

		for (const char *const *f = offline_filler; *f && !cut; f++) {
			size_t fl = strlen(*f);

			if (fn - i >= fl && strncasecmp(first + i, *f, fl) == 0 &&
			    (i + fl == fn || !isalpha((unsigned char)first[i + fl]))) {
				if (strcmp(*f, " in order to") == 0 && o + 4 < sizeof(tmp)) {
					memcpy(tmp + o, " to", 3);
					o += 3;
				}
				i += fl;
				cut = true;
			}
		}
		if (cut)
			continue;
		if (!(first[i] == ' ' && (o == 0 || tmp[o - 1] == ' ')))
			tmp[o++] = first[i];
		i++;
	}
	while (o > 0 && (tmp[o - 1] == ' ' || tmp[o - 1] == '.'))
		o--;
	tmp[o] = '\0';
	if (o > 0)
		tmp[0] = (char)toupper((unsigned char)tmp[0]);
	o = offline_cut(tmp, o, size - 1);
	memcpy(out, tmp, o);
	out[o] = '\0';
}

static void offline_critic_list(msgpack_packer *pk, const msgpack_object *list,
				const char *key, const char *field)
{
	size_t n = 0;

	for (uint32_t i = 0; i < offline_count(list); i++)
		n += anautil_elem_str(list, i, field, &(const char *){ NULL }, &(size_t){ 0 });
	anautil_pack_key(pk, key);
	msgpack_pack_array(pk, n);
	for (uint32_t i = 0; i < offline_count(list); i++) {
		const msgpack_object *e = &list->via.array.ptr[i];
		const msgpack_object *sugg = anautil_map_get(e, "suggestions");
		const char *f;
		size_t fn, m = 0;

		if (!anautil_elem_str(list, i, field, &f, &fn))
			continue;
		for (uint32_t k = 0; k < offline_count(sugg) && m < 3; k++)
			m += anautil_elem_str(sugg, k, NULL, &(const char *){ NULL }, &(size_t){ 0 });
		msgpack_pack_map(pk, 2);
		anautil_pack_kv_strn(pk, field, f, fn);
		anautil_pack_key(pk, "refined_suggestions");
		msgpack_pack_array(pk, m);
		for (uint32_t k = 0, done = 0; k < offline_count(sugg) && done < m; k++) {
			char out[SUGG_TEXT_MAX];
			const char *s;
			size_t sn;

			if (!anautil_elem_str(sugg, k, NULL, &s, &sn))
				continue;
			offline_tighten(s, sn, out, sizeof(out));
			/* A suggestion that was nothing but filler keeps its words. */
			if (out[0] == '\0')
				snprintf(out, sizeof(out), "%.*s", (int)offline_cut(s, sn, SUGG_TEXT_MAX - 1), s);
			ima_pack_cstr(pk, out);
			done++;
		}
	}
}

static int llm_offline_critic(struct ima_ctx *ctx, msgpack_packer *pk, char *why,
			      size_t size)
{
	const msgpack_object *se = ima_ctx_get(ctx, "suggested_experiences");

	(void)why;
	(void)size;
	msgpack_pack_map(pk, 2);
	offline_critic_list(pk, anautil_map_get(se, "bridging_gaps"), "bridging_gaps", "skill_focus");
	offline_critic_list(pk, anautil_map_get(se, "metric_improvements"), "metric_improvements",
			    "original");
	return 0;
}
