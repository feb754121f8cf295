/*
 * ima_admin.c - what the front ends ask of the whole pipeline outside a
 * request: administrative verbs fanned out to the stages' command hooks,
 * the dependencies' health, and the description of the stages and their
 * options.
 */
#include "config.h"

#include <string.h>

#include "ima_engine_private.h"

int ima_engine_command(struct ima_engine *eng, const char *verb,
		       const msgpack_object *args, msgpack_sbuffer *out,
		       struct ima_error *err)
{
	msgpack_sbuffer items;
	msgpack_packer pk, opk;
	int handled = 0;

	msgpack_sbuffer_init(&items);
	msgpack_packer_init(&pk, &items, ima_sbuffer_write);
	for (size_t i = 0; i < eng->nstages; i++) {
		const struct ima_stage *st = &eng->stages[i];
		int rc;

		if (st->plugin->desc.command == NULL)
			continue;
		memset(err, 0, sizeof(*err));
		rc = st->plugin->desc.command(st->state, verb, args, &pk, err);
		if (rc < 0) {
			msgpack_sbuffer_destroy(&items);
			if (err->status == 0)
				ima_error_set(err, 500, "command_failed", "",
					      "stage %s failed on '%s'", st->conf.stage_name, verb);
			return -1;
		}
		handled += rc > 0;
	}
	/* A stage's items cut short would read as what it did. */
	msgpack_packer_init(&opk, out, ima_sbuffer_write);
	if (ima_sbuffer_failed(&items) || msgpack_pack_array(&opk, (size_t)handled) != 0 ||
	    ima_sbuffer_write(out, items.data, items.size) != 0) {
		msgpack_sbuffer_destroy(&items);
		return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	msgpack_sbuffer_destroy(&items);
	return handled;
}

/* A dependency's status as the plugin wrote it; anything but "ok" and
 * "down" counts as degraded, so an unknown word never reads as healthy. */
static const char *admin_status(const msgpack_object *v)
{
	if (v->via.str.size == 2 && memcmp(v->via.str.ptr, "ok", 2) == 0)
		return "ok";
	if (v->via.str.size == 4 && memcmp(v->via.str.ptr, "down", 4) == 0)
		return "down";
	return "degraded";
}

int ima_engine_health(struct ima_engine *eng, struct ima_buf *out)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	size_t off = 0, total = 0;
	int worst = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, ima_sbuffer_write);
	for (size_t i = 0; i < eng->nstages; i++) {
		const struct ima_stage *st = &eng->stages[i];
		int n;

		if (st->plugin->desc.health == NULL)
			continue;
		n = st->plugin->desc.health(st->state, &pk);
		if (n > 0)
			total += (size_t)n;
	}
	ima_buf_append(out, "[", 1);
	/* Out of memory asking: nothing to list, and not known to be well. */
	if (ima_sbuffer_failed(&sb) || !msgpack_zone_init(&zone, 1024)) {
		ima_buf_append(out, "]", 1);
		msgpack_sbuffer_destroy(&sb);
		return 1;
	}
	for (size_t i = 0; i < total; i++) {
		msgpack_object o;
		const char *status = NULL;

		if (msgpack_unpack(sb.data, sb.size, &off, &zone, &o) != MSGPACK_UNPACK_SUCCESS)
			break;
		if (i)
			ima_buf_append(out, ",", 1);
		ima_json_write(out, &o, -1);
		for (uint32_t k = 0; o.type == MSGPACK_OBJECT_MAP && k < o.via.map.size; k++) {
			const msgpack_object_kv *kv = &o.via.map.ptr[k];

			if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 6 &&
			    memcmp(kv->key.via.str.ptr, "status", 6) == 0 &&
			    kv->val.type == MSGPACK_OBJECT_STR)
				status = admin_status(&kv->val);
		}
		if (status != NULL && strcmp(status, "down") == 0)
			worst = 2;
		else if (status != NULL && strcmp(status, "degraded") == 0 && worst < 1)
			worst = 1;
	}
	ima_buf_append(out, "]", 1);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
	return worst;
}

void ima_engine_describe_json(const struct ima_engine *eng, struct ima_buf *b,
			      int indent)
{
	(void)indent;
	ima_buf_append(b, "{\"config\":", 10);
	ima_json_write_str(b, eng->source, strlen(eng->source));
	ima_buf_printf(b, ",\"abi\":\"%d.%d\",\"stages\":[", IMA_ABI_MAJOR,
		       IMA_ABI_MINOR);
	for (size_t i = 0; i < eng->nstages; i++) {
		const struct ima_stage *st = &eng->stages[i];
		const struct ima_plugin *p = &st->plugin->desc;

		if (i)
			ima_buf_append(b, ",", 1);
		ima_buf_append(b, "{\"name\":", 8);
		ima_json_write_str(b, st->conf.stage_name, strlen(st->conf.stage_name));
		ima_buf_append(b, ",\"plugin\":", 10);
		ima_json_write_str(b, p->name, strlen(p->name));
		ima_buf_append(b, ",\"version\":", 11);
		ima_json_write_str(b, p->version ? p->version : "",
				   p->version ? strlen(p->version) : 0);
		ima_buf_append(b, ",\"options\":", 11);
		ima_conf_write_json(&st->conf, b);
		/* A "join" entry before the stage: it sees the calls' results. */
		if (eng->join_before[i])
			ima_buf_append(b, ",\"join_before\":true", 19);
		if (eng->llm_stage == st)
			ima_buf_append(b, ",\"llm_provider\":true", 20);
		ima_buf_append(b, "}", 1);
	}
	ima_buf_printf(b, "],\"deadline_ms\":%ld}", eng->deadline_ms);
}

