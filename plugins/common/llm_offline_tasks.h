/*
 * llm_offline_tasks.h - deterministic answers to the LLM tasks, built from
 * what the analysis stages wrote into the context, with no network and at
 * no cost. Each answer satisfies the JSON Schema of its task's prompt
 * (data/prompts/<task>.v1.json), so a stage can use it wherever the
 * online answer would go: the llm_offline provider answers every call
 * with it, and an LLM stage falls back to it when its calls failed.
 *
 * Compiled into each plugin that uses it (hidden symbols).
 */
#ifndef LLM_OFFLINE_TASKS_H
#define LLM_OFFLINE_TASKS_H

#include <stdbool.h>
#include <stddef.h>

#include "ima_plugin.h"

/* True when task has an offline builder. */
bool llm_offline_has(const char *task);

/* The task names with a builder, ", "-separated, for messages ("gap"). */
const char *llm_offline_names(void);

/*
 * Packs the offline answer of task (one msgpack map) into pk, reading the
 * request's context. Request thread only (it reads the context). Returns
 * 0, or -1 with the reason in why when task has no builder or memory ran
 * out (pk may then hold a partial value: pack into a buffer of its own).
 */
int llm_offline_answer(struct ima_ctx *ctx, const char *task,
		       msgpack_packer *pk, char *why, size_t size);

#endif
