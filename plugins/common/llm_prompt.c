/* llm_prompt.c - prompt files: loading, checking, rendering. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anautil.h"
#include "llm_prompt.h"

/* A prompt file is small; anything larger is a wrong file. */
#define LLM_PROMPT_MAX_BYTES (256 * 1024)
#define LLM_PLACEHOLDER_MAX 48

const char *const llm_prompt_markers[] = {
	"resume", "job_ad", "job_title", "domain_insights", "profile", "suggestions", NULL
};

/* ---- text buffer ---- */

static void llm_text_reserve(struct llm_text *t, size_t more)
{
	size_t cap;
	char *p;

	if (t->failed || t->len + more + 1 <= t->cap)
		return;
	cap = t->cap ? t->cap : 256;
	while (cap < t->len + more + 1)
		cap *= 2;
	p = ima_realloc(t->data, cap);
	if (p == NULL) {
		t->failed = true;
		return;
	}
	t->data = p;
	t->cap = cap;
}

void llm_text_append(struct llm_text *t, const char *s, size_t n)
{
	llm_text_reserve(t, n);
	if (t->failed)
		return;
	if (n > 0)
		memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

void llm_text_printf(struct llm_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	llm_text_reserve(t, (size_t)n);
	if (t->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(t->data + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

const char *llm_text_str(const struct llm_text *t)
{
	return t->data != NULL ? t->data : "";
}

void llm_text_free(struct llm_text *t)
{
	ima_free(t->data);
	memset(t, 0, sizeof(*t));
}

/* ---- rendering ---- */

/* Whether the '<' at s[0] opens one of the markers ("</ resume",
 * "<JOB_AD"): a stray "<" in a resume ("<5 years") stays as it is. */
static bool llm_opens_marker(const char *s, size_t n)
{
	size_t i = 1;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '/'))
		i++;
	for (const char *const *m = llm_prompt_markers; *m; m++) {
		size_t ml = strlen(*m);

		if (n - i >= ml && strncasecmp(s + i, *m, ml) == 0)
			return true;
	}
	return false;
}

static void llm_append_neutral(struct llm_text *t, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '<' || !llm_opens_marker(s + i, n - i))
			continue;
		llm_text_append(t, s + run, i - run);
		llm_text_append(t, "&lt;", 4);
		run = i + 1;
	}
	llm_text_append(t, s + run, n - run);
}

/* The placeholder at s ("{{name}}"): its name and total length, or 0. */
static size_t llm_placeholder(const char *s, const char **name, size_t *nlen)
{
	size_t i = 2;

	if (s[0] != '{' || s[1] != '{')
		return 0;
	while (s[i] == '_' || isalnum((unsigned char)s[i]))
		i++;
	if (i == 2 || i - 2 > LLM_PLACEHOLDER_MAX || s[i] != '}' || s[i + 1] != '}')
		return 0;
	*name = s + 2;
	*nlen = i - 2;
	return i + 2;
}

char *llm_prompt_render(const char *tmpl, const struct llm_prompt_var *vars,
			size_t nvars, size_t *len)
{
	struct llm_text t = { 0 };
	size_t run = 0, i = 0;

	while (tmpl[i] != '\0') {
		const char *name;
		size_t nlen, total = llm_placeholder(tmpl + i, &name, &nlen);
		const struct llm_prompt_var *v = NULL;

		if (total == 0) {
			i++;
			continue;
		}
		llm_text_append(&t, tmpl + run, i - run);
		for (size_t k = 0; k < nvars && v == NULL; k++)
			if (strlen(vars[k].name) == nlen && memcmp(vars[k].name, name, nlen) == 0)
				v = &vars[k];
		if (v != NULL && v->delimit)
			llm_text_printf(&t, "<%s>\n", v->name);
		if (v != NULL && v->value != NULL)
			llm_append_neutral(&t, v->value, v->len);
		if (v != NULL && v->delimit)
			llm_text_printf(&t, "\n</%s>", v->name);
		i += total;
		run = i;
	}
	llm_text_append(&t, tmpl + run, i - run);
	if (t.failed) {
		llm_text_free(&t);
		return NULL;
	}
	*len = t.len;
	return t.data;
}

/* ---- loading ---- */

static bool llm_in(const char *const *list, const char *s, size_t n)
{
	for (; list && *list; list++)
		if (strlen(*list) == n && memcmp(*list, s, n) == 0)
			return true;
	return false;
}

static const char *const llm_schema_types[] = {
	"object", "array", "string", "number", "integer", "boolean", "null", NULL
};

/* A schema node the checker and the endpoints can use: a map, its type a
 * known name (or a list of them), its properties and items schemas too,
 * and every required name among the properties. */
static int llm_schema_ok(const msgpack_object *s, const char *path, char *why,
			 size_t size, int depth)
{
	const msgpack_object *type, *props, *items, *req;
	char sub[160];

	if (depth > 16)
		return snprintf(why, size, "%s: nested too deep", path), -1;
	if (s->type != MSGPACK_OBJECT_MAP)
		return snprintf(why, size, "%s: a schema must be an object", path), -1;
	type = anautil_map_get(s, "type");
	if (type != NULL) {
		uint32_t n = type->type == MSGPACK_OBJECT_ARRAY ? type->via.array.size : 1;

		for (uint32_t i = 0; i < n; i++) {
			const msgpack_object *t = type->type == MSGPACK_OBJECT_ARRAY ?
							  &type->via.array.ptr[i] : type;

			if (t->type != MSGPACK_OBJECT_STR ||
			    !llm_in(llm_schema_types, t->via.str.ptr, t->via.str.size))
				return snprintf(why, size, "%s: unknown type", path), -1;
		}
	}
	props = anautil_map_get(s, "properties");
	if (props != NULL) {
		if (props->type != MSGPACK_OBJECT_MAP)
			return snprintf(why, size, "%s.properties: must be an object", path), -1;
		for (uint32_t i = 0; i < props->via.map.size; i++) {
			const msgpack_object *k = &props->via.map.ptr[i].key;

			if (k->type != MSGPACK_OBJECT_STR)
				return snprintf(why, size, "%s.properties: a key is not a string", path), -1;
			snprintf(sub, sizeof(sub), "%s.%.*s", path, (int)k->via.str.size, k->via.str.ptr);
			if (llm_schema_ok(&props->via.map.ptr[i].val, sub, why, size, depth + 1) != 0)
				return -1;
		}
	}
	req = anautil_map_get(s, "required");
	if (req != NULL) {
		if (req->type != MSGPACK_OBJECT_ARRAY)
			return snprintf(why, size, "%s.required: must be a list", path), -1;
		for (uint32_t i = 0; i < req->via.array.size; i++) {
			const msgpack_object *r = &req->via.array.ptr[i];
			bool found = false;

			if (r->type != MSGPACK_OBJECT_STR)
				return snprintf(why, size, "%s.required: names must be strings", path), -1;
			for (uint32_t k = 0; props && k < props->via.map.size && !found; k++) {
				const msgpack_object *key = &props->via.map.ptr[k].key;

				found = key->via.str.size == r->via.str.size &&
					memcmp(key->via.str.ptr, r->via.str.ptr, r->via.str.size) == 0;
			}
			if (!found)
				return snprintf(why, size, "%s.required: '%.*s' is not among the properties",
						path, (int)r->via.str.size, r->via.str.ptr), -1;
		}
	}
	items = anautil_map_get(s, "items");
	if (items != NULL) {
		snprintf(sub, sizeof(sub), "%s.items", path);
		if (llm_schema_ok(items, sub, why, size, depth + 1) != 0)
			return -1;
	}
	return 0;
}

/* A non-empty string member, copied. */
static char *llm_member_str(const msgpack_object *doc, const char *key)
{
	const char *s;
	size_t n;
	char *out;

	if (!anautil_str(anautil_map_get(doc, key), &s, &n) || n == 0)
		return NULL;
	out = ima_malloc(n + 1);
	if (out != NULL) {
		memcpy(out, s, n);
		out[n] = '\0';
	}
	return out;
}

static int llm_check_template(const char *tmpl, const char *const *known,
			      const char *const *required, char *why, size_t size)
{
	for (const char *p = tmpl; *p; p++) {
		const char *name;
		size_t nlen;

		if (p[0] == '{' && p[1] == '{' && llm_placeholder(p, &name, &nlen) == 0)
			return snprintf(why, size, "user: a '{{' that opens no {{name}} placeholder at \"%.20s\"",
					p), -1;
		if (llm_placeholder(p, &name, &nlen) > 0 && !llm_in(known, name, nlen))
			return snprintf(why, size, "user: unknown placeholder {{%.*s}}", (int)nlen, name), -1;
	}
	for (; required && *required; required++) {
		char want[LLM_PLACEHOLDER_MAX + 8];

		snprintf(want, sizeof(want), "{{%s}}", *required);
		if (strstr(tmpl, want) == NULL)
			return snprintf(why, size, "user: the template lacks the placeholder %s", want), -1;
	}
	return 0;
}

static char *llm_read_file(const char *path, size_t *len, char *why, size_t size)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		snprintf(why, size, "%s", strerror(errno));
		return NULL;
	}
	buf = ima_malloc(LLM_PROMPT_MAX_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		snprintf(why, size, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, LLM_PROMPT_MAX_BYTES + 1, f);
	if (ferror(f) || n > LLM_PROMPT_MAX_BYTES) {
		snprintf(why, size, ferror(f) ? "read error" : "larger than %d bytes",
			 LLM_PROMPT_MAX_BYTES);
		fclose(f);
		ima_free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

void llm_prompt_free(struct llm_prompt *p)
{
	if (p == NULL)
		return;
	ima_free(p->path);
	ima_free(p->version);
	ima_free(p->system);
	ima_free(p->user);
	msgpack_unpacked_destroy(&p->schema_unpacked);
	msgpack_sbuffer_destroy(&p->schema_buf);
	ima_free(p);
}

struct llm_prompt *llm_prompt_load(const char *name, const char *const *known,
				   const char *const *required, char *err,
				   size_t size)
{
	struct llm_prompt *p = ima_calloc(1, sizeof(*p));
	char path[4096], why[256] = "";
	const msgpack_object *doc, *schema = NULL, *mt = NULL;
	struct ima_error jerr;
	msgpack_sbuffer sb;
	size_t off = 0, len;
	char *text;
	double temp = -1;

	if (p == NULL) {
		snprintf(err, size, "out of memory");
		return NULL;
	}
	msgpack_sbuffer_init(&p->schema_buf);
	msgpack_unpacked_init(&p->schema_unpacked);
	msgpack_sbuffer_init(&sb);
	if (ima_data_path(name, path, sizeof(path)) != 0) {
		snprintf(err, size, "prompt file %s: not found (looked for %s)", name, path);
		goto fail;
	}
	p->path = ima_strdup(path);
	text = llm_read_file(path, &len, why, sizeof(why));
	if (text == NULL || p->path == NULL) {
		ima_free(text);
		snprintf(err, size, "prompt file %s: %s", path, why[0] ? why : "out of memory");
		goto fail;
	}
	if (ima_json_to_msgpack(text, len, &sb, &jerr) != 0) {
		ima_free(text);
		snprintf(err, size, "prompt file %s: %s", path, jerr.message);
		goto fail;
	}
	ima_free(text);
	/* The schema is kept as its own buffer: an ask borrows it. */
	{
		msgpack_unpacked all;

		msgpack_unpacked_init(&all);
		if (msgpack_unpack_next(&all, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS) {
			msgpack_unpacked_destroy(&all);
			snprintf(err, size, "prompt file %s: out of memory", path);
			goto fail;
		}
		doc = &all.data;
		if (doc->type != MSGPACK_OBJECT_MAP)
			snprintf(why, sizeof(why), "must be a JSON object");
		else if ((p->version = llm_member_str(doc, "version")) == NULL)
			snprintf(why, sizeof(why), "\"version\" must be a non-empty string");
		else if ((p->system = llm_member_str(doc, "system")) == NULL)
			snprintf(why, sizeof(why), "\"system\" must be a non-empty string");
		else if ((p->user = llm_member_str(doc, "user")) == NULL)
			snprintf(why, sizeof(why), "\"user\" must be a non-empty string");
		else if (!anautil_number(anautil_map_get(doc, "temperature"), &temp) ||
			 temp < 0 || temp > 2)
			snprintf(why, sizeof(why), "\"temperature\" must be a number from 0 to 2");
		else if ((mt = anautil_map_get(doc, "max_tokens")) != NULL &&
			 (mt->type != MSGPACK_OBJECT_POSITIVE_INTEGER || mt->via.u64 > 1000000))
			snprintf(why, sizeof(why), "\"max_tokens\" must be an integer from 1 to 1000000");
		else if ((schema = anautil_map_get(doc, "schema")) == NULL)
			snprintf(why, sizeof(why), "\"schema\" is missing");
		else if (llm_schema_ok(schema, "schema", why, sizeof(why), 0) == 0) {
			if (!anautil_str_is(anautil_map_get(schema, "type"), "object") ||
			    anautil_map_get(schema, "properties") == NULL)
				snprintf(why, sizeof(why), "schema: the answer must be an object with properties");
			else if (llm_check_template(p->user, known, required, why, sizeof(why)) == 0) {
				msgpack_packer pk;

				p->temperature = temp;
				p->max_tokens = mt != NULL ? (int)mt->via.u64 : 0;
				msgpack_packer_init(&pk, &p->schema_buf, ima_sbuffer_write);
				msgpack_pack_object(&pk, *schema);
			}
		}
		msgpack_unpacked_destroy(&all);
	}
	if (why[0] != '\0') {
		snprintf(err, size, "prompt file %s: %s", path, why);
		goto fail;
	}
	off = 0;
	if (p->schema_buf.size == 0 ||
	    msgpack_unpack_next(&p->schema_unpacked, p->schema_buf.data, p->schema_buf.size,
				&off) != MSGPACK_UNPACK_SUCCESS) {
		snprintf(err, size, "prompt file %s: out of memory", path);
		goto fail;
	}
	p->schema = &p->schema_unpacked.data;
	msgpack_sbuffer_destroy(&sb);
	return p;
fail:
	msgpack_sbuffer_destroy(&sb);
	llm_prompt_free(p);
	return NULL;
}
