/*
 * ima_schema.c - checks a value against a JSON Schema, both as msgpack:
 * the subset that structured LLM answers need (see ima_plugin.h), plus
 * $ref to a JSON pointer inside the schema ("#/$defs/gap").
 *
 * Schemas come from configuration and prompts, values from a model, so
 * neither is trusted: the walk follows the schema, one level per nested
 * subschema or $ref, and stops at SCHEMA_MAX_DEPTH with an error instead
 * of recursing on (a $ref cycle ends there too). A keyword of the wrong
 * shape ("minItems": "two") is an error, not a keyword ignored: a broken
 * schema should not pass every answer.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ima_core.h"

#define SCHEMA_MAX_DEPTH 32

/* One step of the path to the value at fault: a property or an index. */
struct schema_step {
	const char *key; /* NULL: an array index */
	size_t len;
	uint32_t index;
};

struct schema_walk {
	const msgpack_object *root; /* for $ref */
	char *why;
	size_t size;
	/* A step per level, and one more for the property named by required
	 * or refused by additionalProperties. */
	struct schema_step path[SCHEMA_MAX_DEPTH + 1];
	unsigned npath;
};

/* The keywords of one schema object, found in one pass over its map. */
struct schema_keywords {
	const msgpack_object *type, *properties, *required, *additional, *items,
		*min_items, *max_items, *enumeration, *constant, *min_length,
		*max_length, *minimum, *maximum, *ref;
};

static const struct {
	const char *name;
	size_t offset;
} schema_keyword_names[] = {
	{ "type", offsetof(struct schema_keywords, type) },
	{ "properties", offsetof(struct schema_keywords, properties) },
	{ "required", offsetof(struct schema_keywords, required) },
	{ "additionalProperties", offsetof(struct schema_keywords, additional) },
	{ "items", offsetof(struct schema_keywords, items) },
	{ "minItems", offsetof(struct schema_keywords, min_items) },
	{ "maxItems", offsetof(struct schema_keywords, max_items) },
	{ "enum", offsetof(struct schema_keywords, enumeration) },
	{ "const", offsetof(struct schema_keywords, constant) },
	{ "minLength", offsetof(struct schema_keywords, min_length) },
	{ "maxLength", offsetof(struct schema_keywords, max_length) },
	{ "minimum", offsetof(struct schema_keywords, minimum) },
	{ "maximum", offsetof(struct schema_keywords, maximum) },
	{ "$ref", offsetof(struct schema_keywords, ref) },
};

#define SCHEMA_NKEYWORDS (sizeof(schema_keyword_names) / sizeof(schema_keyword_names[0]))

static int schema_walk(struct schema_walk *w, const msgpack_object *schema,
		       const msgpack_object *value, unsigned depth);

/* Appends to why, cutting at its size; why stays NUL-terminated. */
static void why_append(struct schema_walk *w, size_t *pos, const char *s, size_t len)
{
	for (size_t i = 0; i < len && *pos + 1 < w->size; i++) {
		unsigned char c = (unsigned char)s[i];

		/* The reason lands in logs and error messages: one line. */
		w->why[(*pos)++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (w->size > 0)
		w->why[*pos < w->size ? *pos : w->size - 1] = '\0';
}

/* "critical_gaps.0.severity: <reason>"; "(root): ..." for the value itself.
 * Always returns -1. */
static int IMA_PRINTF(2, 3) schema_fail(struct schema_walk *w, const char *fmt, ...)
{
	char reason[256], index[16];
	size_t pos = 0;
	va_list ap;

	if (w->size == 0)
		return -1;
	if (w->npath == 0)
		why_append(w, &pos, "(root)", 6);
	for (unsigned i = 0; i < w->npath; i++) {
		const struct schema_step *st = &w->path[i];

		if (i > 0)
			why_append(w, &pos, ".", 1);
		if (st->key != NULL) {
			why_append(w, &pos, st->key, st->len);
		} else {
			snprintf(index, sizeof(index), "%" PRIu32, st->index);
			why_append(w, &pos, index, strlen(index));
		}
	}
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	why_append(w, &pos, ": ", 2);
	why_append(w, &pos, reason, strlen(reason));
	return -1;
}

static bool schema_str_is(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

static bool schema_is_number(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	       o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
	       o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64;
}

static bool schema_is_int(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	       o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static double schema_double(const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (double)o->via.u64;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return (double)o->via.i64;
	return o->via.f64;
}

/*
 * a <=> b for two numbers: -1, 0 or 1, and 2 when unordered (NaN).
 * Integers compare exactly: 2^63 + 1 is no double.
 */
static int schema_num_cmp(const msgpack_object *a, const msgpack_object *b)
{
	double x, y;

	if (schema_is_int(a) && schema_is_int(b)) {
		bool an = a->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && a->via.i64 < 0;
		bool bn = b->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && b->via.i64 < 0;

		if (an != bn)
			return an ? -1 : 1;
		if (an)
			return a->via.i64 < b->via.i64 ? -1 : a->via.i64 > b->via.i64;
		return a->via.u64 < b->via.u64 ? -1 : a->via.u64 > b->via.u64;
	}
	x = schema_double(a);
	y = schema_double(b);
	if (isnan(x) || isnan(y))
		return 2;
	return x < y ? -1 : x > y;
}

/* JSON's integer: also 3.0, as the spec has it since draft 6. */
static bool schema_is_integer(const msgpack_object *o)
{
	if (schema_is_int(o))
		return true;
	return (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64) &&
	       isfinite(o->via.f64) && o->via.f64 == trunc(o->via.f64);
}

static const char *schema_type_of(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return "null";
	case MSGPACK_OBJECT_BOOLEAN:
		return "boolean";
	case MSGPACK_OBJECT_STR:
		return "string";
	case MSGPACK_OBJECT_ARRAY:
		return "array";
	case MSGPACK_OBJECT_MAP:
		return "object";
	default:
		if (schema_is_number(o))
			return schema_is_integer(o) ? "integer" : "number";
		return "binary";
	}
}

/* -1 for an unknown type name, else whether o is of that type. */
static int schema_type_match(const msgpack_object *name, const msgpack_object *o)
{
	static const char *const names[] = { "null", "boolean", "string", "array",
					     "object", "number", "integer" };
	const char *actual = schema_type_of(o);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!schema_str_is(name, names[i]))
			continue;
		if (i == 5)
			return schema_is_number(o);
		return strcmp(actual, names[i]) == 0;
	}
	return -1;
}

/* JSON equality for enum and const: 1 == 1.0, objects in any key order.
 * -1 when nested too deep to tell. */
static int schema_equal(const msgpack_object *a, const msgpack_object *b, unsigned depth)
{
	if (depth > SCHEMA_MAX_DEPTH)
		return -1;
	if (schema_is_number(a) && schema_is_number(b))
		return schema_num_cmp(a, b) == 0;
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case MSGPACK_OBJECT_NIL:
		return 1;
	case MSGPACK_OBJECT_BOOLEAN:
		return a->via.boolean == b->via.boolean;
	case MSGPACK_OBJECT_STR:
	case MSGPACK_OBJECT_BIN:
		return a->via.str.size == b->via.str.size &&
		       (a->via.str.size == 0 ||
			memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0);
	case MSGPACK_OBJECT_ARRAY:
		if (a->via.array.size != b->via.array.size)
			return 0;
		for (uint32_t i = 0; i < a->via.array.size; i++) {
			int eq = schema_equal(&a->via.array.ptr[i],
					      &b->via.array.ptr[i], depth + 1);

			if (eq != 1)
				return eq;
		}
		return 1;
	case MSGPACK_OBJECT_MAP:
		if (a->via.map.size != b->via.map.size)
			return 0;
		for (uint32_t i = 0; i < a->via.map.size; i++) {
			int eq = 0;

			for (uint32_t j = 0; j < b->via.map.size && eq == 0; j++)
				if (schema_equal(&a->via.map.ptr[i].key, &b->via.map.ptr[j].key,
						 depth + 1) == 1)
					eq = schema_equal(&a->via.map.ptr[i].val,
							  &b->via.map.ptr[j].val, depth + 1);
			if (eq != 1)
				return eq;
		}
		return 1;
	default:
		return 0;
	}
}

/* A count keyword (minItems...): a non-negative integer. */
static int schema_count(struct schema_walk *w, const msgpack_object *o,
			const char *keyword, uint64_t *count)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		*count = o->via.u64;
		return 0;
	}
	if ((o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64) &&
	    o->via.f64 >= 0 && o->via.f64 < 1.8e19 && o->via.f64 == trunc(o->via.f64)) {
		*count = (uint64_t)o->via.f64;
		return 0;
	}
	return schema_fail(w, "%s in the schema is not a non-negative integer", keyword);
}

/* The value at a JSON pointer into the root ("#", "#/$defs/gap"), or NULL. */
static const msgpack_object *schema_resolve(const msgpack_object *root,
					    const msgpack_object *ref)
{
	const char *p = ref->via.str.ptr, *end = p + ref->via.str.size;
	const msgpack_object *at = root;
	char token[256];

	if (ref->via.str.size == 0 || p[0] != '#')
		return NULL;
	p++;
	while (p < end) {
		size_t n = 0;
		const msgpack_object *next = NULL;

		if (*p++ != '/')
			return NULL;
		/* One reference token, ~1 for '/' and ~0 for '~' (RFC 6901). */
		for (; p < end && *p != '/'; p++) {
			char c = *p;

			if (c == '~') {
				if (p + 1 >= end || (p[1] != '0' && p[1] != '1'))
					return NULL;
				c = *++p == '0' ? '~' : '/';
			}
			if (n + 1 >= sizeof(token))
				return NULL;
			token[n++] = c;
		}
		token[n] = '\0';
		if (at->type == MSGPACK_OBJECT_MAP) {
			for (uint32_t i = 0; i < at->via.map.size && next == NULL; i++) {
				const msgpack_object *k = &at->via.map.ptr[i].key;

				if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
				    (n == 0 || memcmp(k->via.str.ptr, token, n) == 0))
					next = &at->via.map.ptr[i].val;
			}
		} else if (at->type == MSGPACK_OBJECT_ARRAY && n > 0 && n < 10 &&
			   strspn(token, "0123456789") == n) {
			unsigned long i = strtoul(token, NULL, 10);

			if (i < at->via.array.size)
				next = &at->via.array.ptr[i];
		}
		if (next == NULL)
			return NULL;
		at = next;
	}
	return at;
}

/* Checks a subschema one path step down: the step is pushed meanwhile. */
static int schema_walk_at(struct schema_walk *w, const msgpack_object *schema,
			  const msgpack_object *value, unsigned depth,
			  const msgpack_object *key, uint32_t index)
{
	int rc;

	if (w->npath >= sizeof(w->path) / sizeof(w->path[0]))
		return schema_fail(w, "nested deeper than %d levels", SCHEMA_MAX_DEPTH);
	w->path[w->npath].key = key ? key->via.str.ptr : NULL;
	w->path[w->npath].len = key ? key->via.str.size : 0;
	w->path[w->npath].index = index;
	w->npath++;
	rc = schema_walk(w, schema, value, depth + 1);
	if (rc == 0)
		w->npath--; /* on failure the path stays: it names the culprit */
	return rc;
}

static const msgpack_object *schema_property(const msgpack_object *map,
					     const msgpack_object *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (map->via.map.ptr[i].key.type == MSGPACK_OBJECT_STR &&
		    map->via.map.ptr[i].key.via.str.size == key->via.str.size &&
		    (key->via.str.size == 0 ||
		     memcmp(map->via.map.ptr[i].key.via.str.ptr, key->via.str.ptr,
			    key->via.str.size) == 0))
			return &map->via.map.ptr[i].val;
	return NULL;
}

static int schema_check_type(struct schema_walk *w, const msgpack_object *type,
			     const msgpack_object *value)
{
	char expected[128] = "";
	size_t n = 0;
	const msgpack_object *names = type;
	uint32_t count = 1;

	if (type->type == MSGPACK_OBJECT_ARRAY) {
		names = type->via.array.ptr;
		count = type->via.array.size;
	}
	for (uint32_t i = 0; i < count; i++) {
		int m = schema_type_match(&names[i], value);

		if (m < 0)
			return schema_fail(w, "type in the schema names no JSON type");
		if (m == 1)
			return 0;
		/* n stays inside expected: a long list is cut, not overrun. */
		n += (size_t)snprintf(expected + n, sizeof(expected) - n, "%s%.*s",
				      i == 0 ? "" : i + 1 == count ? " or " : ", ",
				      (int)names[i].via.str.size, names[i].via.str.ptr);
		if (n >= sizeof(expected))
			n = sizeof(expected) - 1;
	}
	if (count == 0)
		return schema_fail(w, "type in the schema is an empty list");
	return schema_fail(w, "expected %s, got %s", expected, schema_type_of(value));
}

static int schema_check_object(struct schema_walk *w, const struct schema_keywords *kw,
			       const msgpack_object *value, unsigned depth)
{
	const msgpack_object *props = kw->properties, *add = kw->additional;

	if (props != NULL && props->type != MSGPACK_OBJECT_MAP)
		return schema_fail(w, "properties in the schema is not an object");
	if (add != NULL && add->type != MSGPACK_OBJECT_BOOLEAN && add->type != MSGPACK_OBJECT_MAP)
		return schema_fail(w, "additionalProperties in the schema is "
				      "neither a boolean nor a schema");
	if (kw->required != NULL) {
		if (kw->required->type != MSGPACK_OBJECT_ARRAY)
			return schema_fail(w, "required in the schema is not a list");
		for (uint32_t i = 0; i < kw->required->via.array.size; i++) {
			const msgpack_object *name = &kw->required->via.array.ptr[i];

			if (name->type != MSGPACK_OBJECT_STR)
				return schema_fail(w, "required in the schema lists a non-string");
			if (schema_property(value, name) == NULL) {
				/* The path names the missing property itself. */
				w->path[w->npath].key = name->via.str.ptr;
				w->path[w->npath].len = name->via.str.size;
				w->npath++;
				return schema_fail(w, "required property missing");
			}
		}
	}
	for (uint32_t i = 0; i < value->via.map.size; i++) {
		const msgpack_object *key = &value->via.map.ptr[i].key;
		const msgpack_object *val = &value->via.map.ptr[i].val;
		const msgpack_object *sub;

		if (key->type != MSGPACK_OBJECT_STR)
			return schema_fail(w, "object key is not a string");
		sub = props != NULL ? schema_property(props, key) : NULL;
		if (sub == NULL && add != NULL) {
			if (add->type == MSGPACK_OBJECT_BOOLEAN && !add->via.boolean) {
				w->path[w->npath].key = key->via.str.ptr;
				w->path[w->npath].len = key->via.str.size;
				w->npath++;
				return schema_fail(w, "property not allowed");
			}
			if (add->type == MSGPACK_OBJECT_MAP)
				sub = add;
		}
		if (sub != NULL && schema_walk_at(w, sub, val, depth, key, 0) != 0)
			return -1;
	}
	return 0;
}

static int schema_check_array(struct schema_walk *w, const struct schema_keywords *kw,
			      const msgpack_object *value, unsigned depth)
{
	uint32_t size = value->via.array.size;
	uint64_t bound;

	if (kw->min_items != NULL) {
		if (schema_count(w, kw->min_items, "minItems", &bound) != 0)
			return -1;
		if (size < bound)
			return schema_fail(w, "fewer than %" PRIu64 " items", bound);
	}
	if (kw->max_items != NULL) {
		if (schema_count(w, kw->max_items, "maxItems", &bound) != 0)
			return -1;
		if (size > bound)
			return schema_fail(w, "more than %" PRIu64 " items", bound);
	}
	if (kw->items == NULL)
		return 0;
	if (kw->items->type != MSGPACK_OBJECT_MAP && kw->items->type != MSGPACK_OBJECT_BOOLEAN &&
	    kw->items->type != MSGPACK_OBJECT_ARRAY)
		return schema_fail(w, "items in the schema is not a schema");
	for (uint32_t i = 0; i < size; i++) {
		const msgpack_object *sub = kw->items;

		/* The tuple form (drafts 4 to 2019-09): one schema per place,
		 * the places beyond it free. */
		if (sub->type == MSGPACK_OBJECT_ARRAY) {
			if (i >= sub->via.array.size)
				break;
			sub = &sub->via.array.ptr[i];
		}
		if (schema_walk_at(w, sub, &value->via.array.ptr[i], depth, NULL, i) != 0)
			return -1;
	}
	return 0;
}

static int schema_check_string(struct schema_walk *w, const struct schema_keywords *kw,
			       const msgpack_object *value)
{
	uint64_t chars = 0, bound;

	/* Code points, not bytes: every byte but a continuation byte. */
	for (uint32_t i = 0; i < value->via.str.size; i++)
		chars += ((unsigned char)value->via.str.ptr[i] & 0xc0) != 0x80;
	if (kw->min_length != NULL) {
		if (schema_count(w, kw->min_length, "minLength", &bound) != 0)
			return -1;
		if (chars < bound)
			return schema_fail(w, "shorter than %" PRIu64 " characters", bound);
	}
	if (kw->max_length != NULL) {
		if (schema_count(w, kw->max_length, "maxLength", &bound) != 0)
			return -1;
		if (chars > bound)
			return schema_fail(w, "longer than %" PRIu64 " characters", bound);
	}
	return 0;
}

static int schema_check_number(struct schema_walk *w, const struct schema_keywords *kw,
			       const msgpack_object *value)
{
	/* NaN is outside any range: unordered fails both. */
	if (kw->minimum != NULL) {
		int c;

		if (!schema_is_number(kw->minimum))
			return schema_fail(w, "minimum in the schema is not a number");
		c = schema_num_cmp(value, kw->minimum);
		if (c == -1 || c == 2)
			return schema_fail(w, "less than the minimum %.15g",
					   schema_double(kw->minimum));
	}
	if (kw->maximum != NULL) {
		if (!schema_is_number(kw->maximum))
			return schema_fail(w, "maximum in the schema is not a number");
		if (schema_num_cmp(value, kw->maximum) >= 1)
			return schema_fail(w, "greater than the maximum %.15g",
					   schema_double(kw->maximum));
	}
	return 0;
}

static int schema_walk(struct schema_walk *w, const msgpack_object *schema,
		       const msgpack_object *value, unsigned depth)
{
	struct schema_keywords kw = { 0 };

	if (depth > SCHEMA_MAX_DEPTH)
		return schema_fail(w, "nested deeper than %d levels", SCHEMA_MAX_DEPTH);
	/* true and false are schemas too (draft 6 on). */
	if (schema->type == MSGPACK_OBJECT_BOOLEAN)
		return schema->via.boolean ? 0 : schema_fail(w, "not allowed by the schema");
	if (schema->type != MSGPACK_OBJECT_MAP)
		return schema_fail(w, "the schema is not an object");
	for (uint32_t i = 0; i < schema->via.map.size; i++) {
		const msgpack_object *key = &schema->via.map.ptr[i].key;

		for (size_t k = 0; k < SCHEMA_NKEYWORDS; k++)
			if (schema_str_is(key, schema_keyword_names[k].name)) {
				char *slot = (char *)&kw + schema_keyword_names[k].offset;

				*(const msgpack_object **)(void *)slot =
					&schema->via.map.ptr[i].val;
				break;
			}
	}
	if (kw.ref != NULL) {
		const msgpack_object *target;

		if (kw.ref->type != MSGPACK_OBJECT_STR)
			return schema_fail(w, "$ref in the schema is not a string");
		target = schema_resolve(w->root, kw.ref);
		if (target == NULL)
			return schema_fail(w, "$ref %.*s is not a pointer into the schema",
					   (int)(kw.ref->via.str.size > 100 ? 100
									 : kw.ref->via.str.size),
					   kw.ref->via.str.ptr);
		/* Its siblings apply as well (2019-09 on). */
		if (schema_walk(w, target, value, depth + 1) != 0)
			return -1;
	}
	if (kw.type != NULL) {
		if (kw.type->type != MSGPACK_OBJECT_STR && kw.type->type != MSGPACK_OBJECT_ARRAY)
			return schema_fail(w, "type in the schema is neither a string nor a list");
		if (schema_check_type(w, kw.type, value) != 0)
			return -1;
	}
	if (kw.constant != NULL) {
		int eq = schema_equal(value, kw.constant, 0);

		if (eq < 0)
			return schema_fail(w, "nested deeper than %d levels", SCHEMA_MAX_DEPTH);
		if (eq == 0)
			return schema_fail(w, "not the const value");
	}
	if (kw.enumeration != NULL) {
		int eq = 0;

		if (kw.enumeration->type != MSGPACK_OBJECT_ARRAY)
			return schema_fail(w, "enum in the schema is not a list");
		for (uint32_t i = 0; i < kw.enumeration->via.array.size && eq == 0; i++)
			eq = schema_equal(value, &kw.enumeration->via.array.ptr[i], 0);
		if (eq < 0)
			return schema_fail(w, "nested deeper than %d levels", SCHEMA_MAX_DEPTH);
		if (eq == 0)
			return schema_fail(w, "not one of the enum values");
	}
	/* The other keywords apply to their own type only. */
	switch (value->type) {
	case MSGPACK_OBJECT_MAP:
		return schema_check_object(w, &kw, value, depth);
	case MSGPACK_OBJECT_ARRAY:
		return schema_check_array(w, &kw, value, depth);
	case MSGPACK_OBJECT_STR:
		return schema_check_string(w, &kw, value);
	default:
		return schema_is_number(value) ? schema_check_number(w, &kw, value) : 0;
	}
}

int ima_json_schema_check(const msgpack_object *schema,
			  const msgpack_object *value, char *why, size_t size)
{
	struct schema_walk w = { .root = schema, .why = why, .size = why ? size : 0 };

	if (w.size > 0)
		why[0] = '\0';
	if (schema == NULL || value == NULL)
		return schema_fail(&w, "no %s to check", schema == NULL ? "schema" : "value");
	return schema_walk(&w, schema, value, 0);
}
