/*
 * llm_plan.h - the model plan that model_select writes into the context
 * (_llm_plan: task -> {"models": [{"id", "price_in", "price_out"}, ...],
 * "tier", "reason", "estimated_cost_usd", and "temperature" when the
 * creativity mode sets one}), read back by the LLM stages as the models
 * and the temperature of an ask.
 *
 * Compiled into each plugin that uses it (hidden symbols).
 */
#ifndef LLM_PLAN_H
#define LLM_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "ima_plugin.h"

/*
 * The planned models of task, best first, in request memory (valid until
 * the request ends). No plan for the task, or one without a usable model,
 * gives *models NULL and *n 0: the provider then uses its own list.
 * Entries without a string id are skipped; a missing or negative price is
 * 0 (unknown). Request thread only. Returns 0, or -1 when memory ran out.
 */
int llm_plan_models(struct ima_req *req, const char *task,
		    const struct ima_llm_model **models, size_t *n);

/*
 * The planned temperature of task (_llm_plan.<task>.temperature, which
 * model_select writes from creativity_mode): true with *t when there is
 * one from 0 to 2.
 */
bool llm_plan_temperature(struct ima_req *req, const char *task, double *t);

#endif
