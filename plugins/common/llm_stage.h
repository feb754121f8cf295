/*
 * llm_stage.h - what every LLM stage shares: the options (prompt file and
 * version, temperature, max_tokens, task, repair), loading and checking
 * the prompt, the call (the plan's models and temperature, the prompt's
 * schema and version), one repair when an answer breaks the schema, the
 * offline answer with the request marked degraded when the calls fail,
 * and writing the answer through the stage's own callback.
 *
 * A stage keeps a struct llm_stage in its state, fills it in init with
 * llm_stage_init, renders its user message in process and hands it to
 * llm_stage_ask. The answer arrives in a later join (the stage has
 * returned by then) and reaches the stage's write callback, after the
 * grounding guard (llm_guard.h) for every online answer.
 *
 * Compiled into each plugin that uses it (hidden symbols).
 */
#ifndef LLM_STAGE_H
#define LLM_STAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "ima_plugin.h"
#include "llm_prompt.h"

/*
 * The option entries every LLM stage has, for its option table:
 * prompt, prompt_version, temperature, max_tokens, task, repair.
 */
#define LLM_STAGE_OPTIONS(prompt, version, task)                                            \
	{ "prompt", IMA_OPT_STRING, prompt,                                                 \
	  "prompt file (a data file): version, temperature, system, user template, answer schema", 0 }, \
	{ "prompt_version", IMA_OPT_STRING, version,                                        \
	  "the version the prompt file must state: in the pipeline fingerprint, so answers cached under another prompt are never served", 0 }, \
	{ "temperature", IMA_OPT_DOUBLE, "-1",                                              \
	  "sampling temperature 0-2; -1: the prompt file's (a model plan's per-task temperature wins)", 0 }, \
	{ "max_tokens", IMA_OPT_INT, "0",                                                   \
	  "completion token limit; 0: the prompt file's, else the provider's default", 0 }, \
	{ "task", IMA_OPT_STRING, task,                                                     \
	  "task name: run_metrics.calls, the model plan and the offline answer", 0 },      \
	{ "repair", IMA_OPT_BOOL, "true",                                                   \
	  "ask once more, with the validation error, when an answer breaks the schema", 0 }

struct llm_stage;

/* One answer as the stage writes it. */
struct llm_stage_answer {
	const char *source;   /* "llm", or "offline" (the offline provider or the fallback) */
	const char *provider; /* the provider's name, "offline" for the fallback */
	const char *model;    /* the model that answered */
	const msgpack_object *json; /* a map that satisfies the prompt's schema */
	bool fallback;        /* the offline answer standing in for failed calls */
};

/*
 * Writes the answer into the context (request thread, inside a join).
 * Returns 0, or -1 when it cannot (memory): the stage then falls back to
 * the offline answer, which is written with the same callback.
 */
typedef int (*llm_stage_write_fn)(struct ima_req *req, const struct llm_stage *st,
				  const struct llm_stage_answer *ans);


struct llm_stage {
	struct llm_prompt *prompt;
	char *task;
	char *stage;          /* the stage's name, for messages */
	const char *schema_name; /* response_format's name: the stage's, static */
	double temperature;   /* the option's, else the prompt file's */
	int max_tokens;
	bool repair;
	llm_stage_write_fn write;
	bool guard_open;      /* llm_guard_open() succeeded */
	void *data;           /* the stage's own, for its callbacks */
};

/*
 * A stage whose state is its struct llm_stage alone: allocates it and
 * fills it as llm_stage_init does, for the init hook; llm_stage_free is
 * the fini hook.
 */
int llm_stage_new(const struct ima_conf *conf, void **state, const char *const *known,
		  const char *const *required, const char *schema_name,
		  llm_stage_write_fn write, struct ima_error *err);
void llm_stage_free(void *state);

/* Renders the stage's user message: from ima_malloc, NULL when memory ran
 * out. */
typedef char *(*llm_stage_render_fn)(struct ima_req *req, const struct llm_stage *st,
				     size_t *len);
/*
 * The process hook of a stage that compares the resume with the job ad:
 * needs the gap stage's gap_analysis before it, makes no call without an
 * ad (nothing to pay for), else renders with render and asks.
 */
enum ima_rc llm_stage_process_pair(struct ima_req *req, const struct llm_stage *st,
				   llm_stage_render_fn render);

/*
 * Fills st from the options of conf (LLM_STAGE_OPTIONS): loads and checks
 * the prompt with the placeholders known and required (NULL-terminated),
 * checks that its version is the option prompt_version and that the task
 * has an offline answer to fall back to. write is the stage's callback,
 * schema_name a static string. Returns 0, or -1 with err set (st then
 * needs llm_stage_fini all the same).
 */
int llm_stage_init(struct llm_stage *st, const struct ima_conf *conf,
		   const char *const *known, const char *const *required,
		   const char *schema_name, llm_stage_write_fn write,
		   struct ima_error *err);
/* Frees what llm_stage_init allocated (not st itself). */
void llm_stage_fini(struct llm_stage *st);

/*
 * Submits the call with the rendered user message (copied to request
 * memory): the system prompt and user, the plan's models for the task,
 * the schema, the prompt's version, the plan's temperature for the task
 * when there is one (else st->temperature), max_tokens. Returns at once;
 * the answer is written in a later join. When the call cannot even be
 * submitted, the offline answer is written now and the request marked
 * degraded. Returns 0, or -1 when request memory ran out.
 */
int llm_stage_ask(struct ima_req *req, const struct llm_stage *st, const char *user,
		  size_t ulen);

/*
 * Writes the offline answer for the task with the request marked degraded
 * ("<stage>: <what>: <error>; the offline answer was used").
 */
void llm_stage_fallback(struct ima_req *req, const struct llm_stage *st, const char *what,
			const char *error);

/*
 * The temperature a call of st uses now: the plan's for the task when
 * model_select wrote one (_llm_plan.<task>.temperature), else
 * st->temperature.
 */
double llm_stage_temperature(struct ima_req *req, const struct llm_stage *st);

/*
 * The members of an LLM part of the answer: {source, provider, model,
 * prompt_version}, then every member of ans->json except those four.
 * llm_stage_members counts them, for the map header packed before
 * llm_stage_pack_members packs them.
 */
uint32_t llm_stage_members(const msgpack_object *json);
void llm_stage_pack_members(msgpack_packer *pk, const struct llm_stage *st,
			    const struct llm_stage_answer *ans);

/* ---- rendering helpers for the stages' user messages ---- */

/* Strings of a list (or the key member of its maps), ", "-separated;
 * "none" for an empty list. */
void llm_stage_list(struct llm_text *t, const msgpack_object *arr, const char *key);

/*
 * The resume profile (_profile, written by profile_llm) as lines of text
 * for a prompt: summary, implied skills with their evidence, strengths,
 * work archetypes, stated metrics. When the context holds none (no
 * profile stage, or its call has not answered yet: the stages do not wait
 * for it) a sentence that says so.
 */
void llm_stage_profile(struct llm_text *t, struct ima_ctx *ctx);

/* Text the profile placeholder holds when there is no profile. */
extern const char llm_stage_no_profile[];

#endif
