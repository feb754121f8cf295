/*
 * llm_offline_tasks.c - the offline answers of the LLM tasks.
 *
 * "gap" restates the gap stage's deterministic analysis in the shape an
 * LLM is asked for: each gap with a severity, the resume's evidence, its
 * impact and the ad's line that asks for it; strategies that name the held
 * skills they build on; a rationale for the alignment score. Nothing is
 * invented: every skill, number and quoted line comes from the context.
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

static const struct {
	const char *task;
	llm_offline_fn build;
} llm_offline_builders[] = {
	{ "gap", llm_offline_gap },
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
	return "gap";
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
