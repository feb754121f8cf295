/* llm_plan.c - reading _llm_plan.<task>.models and .temperature. */
#include <stdio.h>
#include <string.h>

#include "anautil.h"
#include "llm_plan.h"

/* The plan is written by one of our stages, but any stage could have
 * forged it: bound what an ask carries. */
#define LLM_PLAN_MAX_MODELS 8

int llm_plan_models(struct ima_req *req, const char *task,
		    const struct ima_llm_model **models, size_t *n)
{
	const msgpack_object *list;
	struct ima_llm_model *out;
	char path[96];
	size_t k = 0;

	*models = NULL;
	*n = 0;
	if (task == NULL || (size_t)snprintf(path, sizeof(path), "_llm_plan.%s.models", task) >= sizeof(path) ||
	    strchr(task, '.') != NULL)
		return 0;
	list = ima_ctx_get(ima_req_ctx(req), path);
	if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY || list->via.array.size == 0)
		return 0;
	out = ima_req_alloc(req, LLM_PLAN_MAX_MODELS * sizeof(*out));
	if (out == NULL)
		return -1;
	for (uint32_t i = 0; i < list->via.array.size && k < LLM_PLAN_MAX_MODELS; i++) {
		const msgpack_object *e = &list->via.array.ptr[i];
		const char *id;
		size_t idlen;
		double in = 0, outp = 0;

		if (!anautil_str(anautil_map_get(e, "id"), &id, &idlen) || idlen == 0)
			continue;
		out[k].id = ima_req_strndup(req, id, idlen);
		if (out[k].id == NULL)
			return -1;
		if (!anautil_number(anautil_map_get(e, "price_in"), &in) || in < 0)
			in = 0;
		if (!anautil_number(anautil_map_get(e, "price_out"), &outp) || outp < 0)
			outp = 0;
		out[k].price_in = in;
		out[k].price_out = outp;
		k++;
	}
	if (k > 0) {
		*models = out;
		*n = k;
	}
	return 0;
}

bool llm_plan_temperature(struct ima_req *req, const char *task, double *t)
{
	char path[96];
	double v;

	if (task == NULL || strchr(task, '.') != NULL ||
	    (size_t)snprintf(path, sizeof(path), "_llm_plan.%s.temperature", task) >= sizeof(path))
		return false;
	if (!anautil_number(ima_ctx_get(ima_req_ctx(req), path), &v) || v < 0 || v > 2)
		return false;
	*t = v;
	return true;
}
