/*
 * model_select - chooses the model of each LLM task of a request before any
 * call is made, from a table of models with their prices, tiers and
 * context windows (data/models.tsv), the request's budget and creativity
 * mode, the size of its texts and the gaps the deterministic analysis
 * found, per task: a task may sit a tier above or below the budget's
 * (task_tiers), a task whose prompt holds only the resume (resume_only:
 * the profile) is sized on the resume alone, and creativity_mode picks
 * each task's temperature (temperatures). Writes _llm_plan (task ->
 * {models, tier, reason, estimated_cost_usd, temperature,
 * creativity_mode}), which the LLM stages read through
 * plugins/common/llm_plan.c, and the same under run_metrics.model_select,
 * keyed by the task names the stages use in run_metrics.calls.
 *
 * Needs the request stage before it; place it after gap so that the gaps
 * count.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anautil.h"
#include "msel.h"

#define MSEL_MAX_TASKS 8

struct msel_task {
	char name[32];
	long output_tokens;
	int shift;              /* task_tiers */
	bool resume_only;       /* sized on the resume alone, no gaps */
	bool has_temperature;
	double temperature[3];  /* conservative, balanced, bold */
};

static const char *const model_select_modes[3] = { "conservative", "balanced", "bold" };

struct model_select_state {
	struct msel_table *table;
	struct msel_task tasks[MSEL_MAX_TASKS];
	size_t ntasks;
	enum msel_tier budget;
	double max_cost_usd;
	long overhead_tokens;
	long default_output_tokens;
	long complex_gaps;
	long large_tokens;
	long tiny_tokens;
	long fallbacks;
};

static const struct ima_option model_select_options[] = {
	{ "models", IMA_OPT_STRING, "models.tsv",
	  "table of models: id, tier, USD per million tokens in and out, context (a data file)", 0 },
	{ "budget", IMA_OPT_STRING, "balanced",
	  "tier when the request names no budget: low, balanced or premium", 0 },
	{ "max_cost_usd", IMA_OPT_DOUBLE, "0.05",
	  "estimated cost ceiling of one request's LLM calls, all tasks together (0: none)", 0 },
	{ "tasks", IMA_OPT_STRING, "gap", "the LLM tasks to plan, comma-separated", 0 },
	{ "output_tokens", IMA_OPT_STRING, "gap:1800",
	  "expected completion tokens per task, \"task:n,...\" (others: default_output_tokens)", 0 },
	{ "default_output_tokens", IMA_OPT_INT, "1000",
	  "expected completion tokens of a task output_tokens does not name", 0 },
	{ "overhead_tokens", IMA_OPT_INT, "1200",
	  "tokens of the prompt around the texts (instructions, analysis, schema)", 0 },
	{ "complex_gaps", IMA_OPT_INT, "5", "this many critical gaps or more raise the tier one step", 0 },
	{ "large_tokens", IMA_OPT_INT, "12000", "texts of this many tokens or more raise the tier one step", 0 },
	{ "tiny_tokens", IMA_OPT_INT, "400", "texts under this many tokens lower the tier one step", 0 },
	{ "fallbacks", IMA_OPT_INT, "2", "models to try after the chosen one (0-4)", 0 },
	{ "task_tiers", IMA_OPT_STRING, "",
	  "a task's own step from the budget's tier, \"task:-1,...\" (-2 to +2): e.g. \"profile:-1,suggestions:+1\"", 0 },
	{ "temperatures", IMA_OPT_STRING, "",
	  "temperature per task for creativity_mode conservative/balanced/bold, \"gap:0.2/0.3/0.5,...\" (others: the stage's)", 0 },
	{ "resume_only", IMA_OPT_STRING, "profile",
	  "tasks whose prompt holds only the resume: sized on it alone, not raised by gaps or creativity, so their model (and call-cache key) is the same for every job ad", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static void model_select_fini(void *state)
{
	struct model_select_state *st = state;

	if (st == NULL)
		return;
	msel_free(st->table);
	ima_free(st);
}

/* "gap, profile" into st->tasks. */
static int model_select_parse_tasks(struct model_select_state *st, const char *list,
				    struct ima_error *err)
{
	const char *p = list;

	while (*p != '\0') {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if (n == 0)
			break;
		if (st->ntasks == MSEL_MAX_TASKS)
			return ima_error_set(err, 500, "config", "tasks", "at most %d tasks", MSEL_MAX_TASKS);
		for (size_t i = 0; i < n; i++)
			if (!islower((unsigned char)p[i]) && !isdigit((unsigned char)p[i]) && p[i] != '_')
				return ima_error_set(err, 500, "config", "tasks",
						     "task names are lower-case words: '%.*s'", (int)n, p);
		if (n >= sizeof(st->tasks[0].name))
			return ima_error_set(err, 500, "config", "tasks", "task name '%.*s' is too long",
					     (int)n, p);
		memcpy(st->tasks[st->ntasks].name, p, n);
		st->tasks[st->ntasks].name[n] = '\0';
		st->tasks[st->ntasks++].output_tokens = st->default_output_tokens;
		p += n;
	}
	if (st->ntasks == 0)
		return ima_error_set(err, 500, "config", "tasks", "name at least one task");
	return 0;
}

/* The task named p[0..n), or NULL. */
static struct msel_task *model_select_task(struct model_select_state *st, const char *p, size_t n)
{
	for (size_t i = 0; i < st->ntasks; i++)
		if (strlen(st->tasks[i].name) == n && memcmp(st->tasks[i].name, p, n) == 0)
			return &st->tasks[i];
	return NULL;
}

/*
 * Reads one value at p into t (or only checks it when t is NULL): returns
 * where the value ends, or NULL when it is not one.
 */
typedef const char *(*model_select_value_fn)(struct msel_task *t, const char *p);

/*
 * Walks "task:value,task:value" of option: each value is read by fn onto
 * its task, which must be one of tasks. Errors name the option, show
 * example and say what a value must be (must).
 */
static int model_select_pairs(struct model_select_state *st, const char *list,
			      const char *option, const char *example, const char *must,
			      model_select_value_fn fn, struct ima_error *err)
{
	const char *p = list, *end;

	while (*p != '\0') {
		struct msel_task *t;
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, ":, ");
		if (p[n] != ':')
			return ima_error_set(err, 500, "config", option,
					     "want task:value pairs, e.g. \"%s\"; found '%.*s'",
					     example, (int)strcspn(p, ", "), p);
		if ((end = fn(NULL, p + n + 1)) == NULL ||
		    (*end != '\0' && *end != ',' && *end != ' '))
			return ima_error_set(err, 500, "config", option,
					     "the value of '%.*s' must be %s", (int)n, p, must);
		if ((t = model_select_task(st, p, n)) == NULL)
			return ima_error_set(err, 500, "config", option,
					     "task '%.*s' is not one of tasks", (int)n, p);
		p = fn(t, p + n + 1);
	}
	return 0;
}

/* "gap:1800": the completion tokens a task is expected to take. */
static const char *model_select_output(struct msel_task *t, const char *p)
{
	char *end;
	long v = strtol(p, &end, 10);

	if (end == p || v < 1 || v > 1000000)
		return NULL;
	if (t != NULL)
		t->output_tokens = v;
	return end;
}

/* "profile:-1": a tier step from the budget's. */
static const char *model_select_tier(struct msel_task *t, const char *p)
{
	char *end;
	long v = strtol(p, &end, 10);

	if (end == p || v < -2 || v > 2)
		return NULL;
	if (t != NULL)
		t->shift = (int)v;
	return end;
}

/* "gap:0.2/0.3/0.5": a temperature per creativity mode. */
static const char *model_select_temperature(struct msel_task *t, const char *p)
{
	double v[3];
	char *end = NULL;

	for (int k = 0; k < 3; k++) {
		v[k] = strtod(p, &end);
		if (end == p || !(v[k] >= 0 && v[k] <= 2) || (k < 2 && *end != '/'))
			return NULL;
		p = end + 1;
	}
	if (t != NULL) {
		memcpy(t->temperature, v, sizeof(v));
		t->has_temperature = true;
	}
	return end;
}

/* "profile" onto the tasks; names that are not tasks are left alone (the
 * default names profile whether it is planned or not). */
static void model_select_parse_resume_only(struct model_select_state *st, const char *list)
{
	const char *p = list;

	while (*p != '\0') {
		struct msel_task *t;
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if (n == 0)
			break;
		if ((t = model_select_task(st, p, n)) != NULL)
			t->resume_only = true;
		p += n;
	}
}

static int model_select_init(const struct ima_conf *conf, void **state,
			     struct ima_error *err)
{
	struct model_select_state *st = ima_calloc(1, sizeof(*st));
	const char *budget = ima_conf_string(conf, "budget");
	char path[4096], why[512];
	int tier;

	if (st == NULL)
		return ima_error_set(err, 500, "internal", "", "out of memory");
	st->max_cost_usd = ima_conf_double(conf, "max_cost_usd");
	st->overhead_tokens = (long)ima_conf_int(conf, "overhead_tokens");
	st->default_output_tokens = (long)ima_conf_int(conf, "default_output_tokens");
	st->complex_gaps = (long)ima_conf_int(conf, "complex_gaps");
	st->large_tokens = (long)ima_conf_int(conf, "large_tokens");
	st->tiny_tokens = (long)ima_conf_int(conf, "tiny_tokens");
	st->fallbacks = (long)ima_conf_int(conf, "fallbacks");
	if ((tier = msel_tier_parse(budget, strlen(budget))) < 0) {
		ima_error_set(err, 500, "config", "budget", "budget '%s' is not low, balanced or premium",
			      budget);
		goto fail;
	}
	st->budget = (enum msel_tier)tier;
	if (!(st->max_cost_usd >= 0 && st->max_cost_usd < 1000)) {
		ima_error_set(err, 500, "config", "max_cost_usd", "max_cost_usd must be from 0 to 1000");
		goto fail;
	}
	if (st->fallbacks < 0 || st->fallbacks > MSEL_MAX_MODELS - 1) {
		ima_error_set(err, 500, "config", "fallbacks", "fallbacks must be from 0 to %d",
			      MSEL_MAX_MODELS - 1);
		goto fail;
	}
	if (st->overhead_tokens < 0 || st->default_output_tokens < 1 || st->complex_gaps < 0 ||
	    st->large_tokens < 0 || st->tiny_tokens < 0) {
		ima_error_set(err, 500, "config", "", "token counts must be 0 or more (default_output_tokens 1 or more)");
		goto fail;
	}
	if (model_select_parse_tasks(st, ima_conf_string(conf, "tasks"), err) != 0 ||
	    model_select_pairs(st, ima_conf_string(conf, "output_tokens"), "output_tokens",
			       "gap:1800", "a number of tokens from 1 to 1000000",
			       model_select_output, err) != 0 ||
	    model_select_pairs(st, ima_conf_string(conf, "task_tiers"), "task_tiers",
			       "profile:-1", "a step from -2 to +2", model_select_tier, err) != 0 ||
	    model_select_pairs(st, ima_conf_string(conf, "temperatures"), "temperatures",
			       "gap:0.2/0.3/0.5",
			       "three numbers from 0 to 2 (conservative/balanced/bold), e.g. 0.2/0.3/0.5",
			       model_select_temperature, err) != 0)
		goto fail;
	model_select_parse_resume_only(st, ima_conf_string(conf, "resume_only"));
	if (ima_data_path(ima_conf_string(conf, "models"), path, sizeof(path)) != 0) {
		ima_error_set(err, 500, "config", "models", "models table %s not found (looked for %s)",
			      ima_conf_string(conf, "models"), path);
		goto fail;
	}
	if ((st->table = msel_load(path, why, sizeof(why))) == NULL) {
		ima_error_set(err, 500, "config", "models", "%s", why);
		goto fail;
	}
	*state = st;
	return 0;
fail:
	model_select_fini(st);
	return -1;
}

/* One task's plan: the models, tier, reason and estimate, and the
 * temperature of the request's creativity mode when the task has one. */
static void model_select_pack_choice(msgpack_packer *pk, const struct msel_choice *c,
				     const struct msel_task *t, int mode)
{
	msgpack_pack_map(pk, t->has_temperature ? 6 : 4);
	anautil_pack_key(pk, "models");
	msgpack_pack_array(pk, c->n);
	for (size_t i = 0; i < c->n; i++) {
		msgpack_pack_map(pk, 3);
		anautil_pack_kv_str(pk, "id", c->models[i]->id);
		anautil_pack_kv_double(pk, "price_in", c->models[i]->price_in);
		anautil_pack_kv_double(pk, "price_out", c->models[i]->price_out);
	}
	anautil_pack_kv_str(pk, "tier", msel_tier_names[c->tier]);
	anautil_pack_kv_str(pk, "reason", c->reason);
	anautil_pack_kv_double(pk, "estimated_cost_usd", c->estimated_usd);
	if (t->has_temperature) {
		anautil_pack_kv_double(pk, "temperature", t->temperature[mode]);
		anautil_pack_kv_str(pk, "creativity_mode", model_select_modes[mode]);
	}
}

static enum ima_rc model_select_process(struct ima_req *req, void *state)
{
	const struct model_select_state *st = state;
	struct ima_ctx *ctx = ima_req_ctx(req);
	const msgpack_object *gaps = ima_ctx_get(ctx, "gap_analysis.critical_gaps");
	const char *resume, *ad = "", *budget, *mode;
	size_t rlen, adlen = 0, blen, mlen;
	struct msel_params params;
	double spent = 0;
	int modei = 1;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int tier;

	if (anautil_ctx_str(ctx, "_input.resume_text", &resume, &rlen) != 0)
		return ima_req_fail(req, 500, "pipeline_order", "",
				    "model_select needs the request stage before it");
	anautil_ctx_str(ctx, "_input.job_ad", &ad, &adlen);
	memset(&params, 0, sizeof(params));
	params.budget = st->budget;
	if (anautil_ctx_str(ctx, "_input.budget", &budget, &blen) == 0 &&
	    (tier = msel_tier_parse(budget, blen)) >= 0)
		params.budget = (enum msel_tier)tier;
	if (anautil_ctx_str(ctx, "_input.creativity_mode", &mode, &mlen) == 0)
		for (int k = 0; k < 3; k++)
			if (anautil_eq_ci(mode, mlen, model_select_modes[k]))
				modei = k;
	params.bold = modei == 2;
	/* About four bytes a token for English text: an estimate that only
	 * has to pick a tier and keep clear of the context window. */
	params.text_tokens = (long)((rlen + adlen + 3) / 4);
	params.overhead_tokens = st->overhead_tokens;
	params.gaps = gaps && gaps->type == MSGPACK_OBJECT_ARRAY ? gaps->via.array.size : 0;
	params.complex_gaps = (size_t)st->complex_gaps;
	params.large_tokens = st->large_tokens;
	params.tiny_tokens = st->tiny_tokens;
	params.fallbacks = (size_t)st->fallbacks;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	msgpack_pack_map(&pk, st->ntasks);
	/* Resume-only tasks first: their ceiling is then the whole request's
	 * and never depends on what the ad's tasks are expected to cost, so
	 * their choice is the same against every ad. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < st->ntasks; i++) {
			const struct msel_task *t = &st->tasks[i];
			struct msel_params tp = params;
			struct msel_choice c;

			if (t->resume_only != (pass == 0))
				continue;
			tp.output_tokens = t->output_tokens;
			tp.shift = t->shift;
			if (t->resume_only) {
				tp.text_tokens = (long)((rlen + 3) / 4);
				tp.gaps = 0;
				tp.bold = false;
			}
			/* The ceiling is the request's: what earlier tasks are
			 * expected to cost leaves less for the later ones. */
			tp.ceiling_usd = 0;
			if (st->max_cost_usd > 0)
				tp.ceiling_usd = st->max_cost_usd - spent > 1e-9 ? st->max_cost_usd - spent : 1e-9;
			msel_choose(st->table, &tp, &c);
			spent += c.estimated_usd;
			ima_pack_cstr(&pk, t->name);
			model_select_pack_choice(&pk, &c, t, modei);
		}
	if (ima_req_metric_put(req, "model_select", sb.data, sb.size) != 0) {
		msgpack_sbuffer_destroy(&sb);
		return ima_req_fail(req, 500, "internal", "", "out of memory");
	}
	return anautil_put(req, "_llm_plan", &sb);
}

IMA_PLUGIN_EXPORT const struct ima_plugin ima_plugin_model_select = {
	IMA_PLUGIN_HEADER,
	.name = "model_select",
	.version = "1.0.0",
	.description = "chooses each LLM task's model and fallbacks by budget, input size, gaps and a cost ceiling (_llm_plan)",
	.options = model_select_options,
	.init = model_select_init,
	.process = model_select_process,
	.fini = model_select_fini,
};
