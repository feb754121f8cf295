/*
 * check_schema.c - ima_json_schema_check: each keyword of the subset
 * passing and failing, the path to the value at fault, $ref, a why buffer
 * too small for the reason, and schemas and values nested far too deep
 * (built by hand: the JSON decoder and msgpack's unpacker stop at 32).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ima_core.h"

struct parsed {
	msgpack_sbuffer sb;
	msgpack_zone zone;
	msgpack_object obj;
};

static void parse(struct parsed *p, const char *json)
{
	struct ima_error err = { 0 };
	size_t off = 0;

	msgpack_sbuffer_init(&p->sb);
	ck_assert_msg(ima_json_to_msgpack(json, strlen(json), &p->sb, &err) == 0, "%s: %s",
		      json, err.message);
	msgpack_zone_init(&p->zone, 2048);
	ck_assert_int_eq(msgpack_unpack(p->sb.data, p->sb.size, &off, &p->zone, &p->obj),
			 MSGPACK_UNPACK_SUCCESS);
}

static void parsed_free(struct parsed *p)
{
	msgpack_zone_destroy(&p->zone);
	msgpack_sbuffer_destroy(&p->sb);
}

/* Checks value against schema (both JSON); rc and why as returned. */
static int check(const char *schema, const char *value, char *why, size_t size)
{
	struct parsed s, v;
	int rc;

	parse(&s, schema);
	parse(&v, value);
	rc = ima_json_schema_check(&s.obj, &v.obj, why, size);
	parsed_free(&s);
	parsed_free(&v);
	return rc;
}

/* A value and what the check says of it: NULL passes. */
static const struct {
	const char *schema, *value, *why;
} cases[] = {
	/* type, one or a list; 3.0 is an integer, every integer a number */
	{ "{\"type\":\"string\"}", "\"x\"", NULL },
	{ "{\"type\":\"string\"}", "5", "(root): expected string, got integer" },
	{ "{\"type\":\"integer\"}", "3", NULL },
	{ "{\"type\":\"integer\"}", "-3", NULL },
	{ "{\"type\":\"integer\"}", "3.0", NULL },
	{ "{\"type\":\"integer\"}", "3.5", "(root): expected integer, got number" },
	{ "{\"type\":\"number\"}", "3", NULL },
	{ "{\"type\":\"number\"}", "3.5", NULL },
	{ "{\"type\":\"number\"}", "\"3\"", "(root): expected number, got string" },
	{ "{\"type\":\"boolean\"}", "false", NULL },
	{ "{\"type\":\"null\"}", "false", "(root): expected null, got boolean" },
	{ "{\"type\":\"object\"}", "[]", "(root): expected object, got array" },
	{ "{\"type\":\"array\"}", "{}", "(root): expected array, got object" },
	{ "{\"type\":[\"string\",\"null\"]}", "null", NULL },
	{ "{\"type\":[\"string\",\"null\"]}", "1", "(root): expected string or null, got integer" },
	{ "{\"type\":[\"string\",\"null\",\"array\"]}", "{}",
	  "(root): expected string, null or array, got object" },
	{ "{\"type\":\"strung\"}", "1", "(root): type in the schema names no JSON type" },
	{ "{\"type\":[]}", "1", "(root): type in the schema is an empty list" },
	{ "{\"type\":5}", "1", "(root): type in the schema is neither a string nor a list" },
	/* properties: only those named, only on objects */
	{ "{\"properties\":{\"a\":{\"type\":\"string\"}}}", "{\"a\":\"x\",\"b\":1}", NULL },
	{ "{\"properties\":{\"a\":{\"type\":\"string\"}}}", "{\"a\":1}",
	  "a: expected string, got integer" },
	{ "{\"properties\":{\"a\":{\"type\":\"string\"}}}", "5", NULL },
	{ "{\"properties\":[]}", "{}", "(root): properties in the schema is not an object" },
	/* required: the path names the missing property */
	{ "{\"required\":[\"a\",\"b\"]}", "{\"a\":1,\"b\":null}", NULL },
	{ "{\"required\":[\"a\",\"b\"]}", "{\"a\":1}", "b: required property missing" },
	{ "{\"required\":[\"a\"]}", "[]", NULL },
	{ "{\"required\":\"a\"}", "{}", "(root): required in the schema is not a list" },
	{ "{\"required\":[1]}", "{}", "(root): required in the schema lists a non-string" },
	/* additionalProperties: false, a schema, or true */
	{ "{\"properties\":{\"a\":{}},\"additionalProperties\":false}", "{\"a\":1}", NULL },
	{ "{\"properties\":{\"a\":{}},\"additionalProperties\":false}", "{\"a\":1,\"c\":2}",
	  "c: property not allowed" },
	{ "{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x\":1}", NULL },
	{ "{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x\":\"1\"}",
	  "x: expected integer, got string" },
	{ "{\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":{\"type\":\"integer\"}}",
	  "{\"a\":\"s\",\"x\":2}", NULL },
	{ "{\"additionalProperties\":true}", "{\"x\":1}", NULL },
	{ "{\"additionalProperties\":1}", "{}",
	  "(root): additionalProperties in the schema is neither a boolean nor a schema" },
	/* items: one schema for all, or one per place */
	{ "{\"items\":{\"type\":\"integer\"}}", "[1,2]", NULL },
	{ "{\"items\":{\"type\":\"integer\"}}", "[1,\"a\"]", "1: expected integer, got string" },
	{ "{\"items\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "[\"a\",1,null]", NULL },
	{ "{\"items\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "[1]",
	  "0: expected string, got integer" },
	{ "{\"items\":\"x\"}", "[1]", "(root): items in the schema is not a schema" },
	/* minItems, maxItems */
	{ "{\"minItems\":1}", "[1]", NULL },
	{ "{\"minItems\":1}", "[]", "(root): fewer than 1 items" },
	{ "{\"maxItems\":2}", "[1,2]", NULL },
	{ "{\"maxItems\":2}", "[1,2,3]", "(root): more than 2 items" },
	{ "{\"maxItems\":2.0}", "[1,2,3]", "(root): more than 2 items" },
	{ "{\"minItems\":-1}", "[]", "(root): minItems in the schema is not a non-negative integer" },
	{ "{\"maxItems\":\"2\"}", "[]", "(root): maxItems in the schema is not a non-negative integer" },
	/* enum and const: JSON equality */
	{ "{\"enum\":[\"high\",\"low\",1]}", "\"low\"", NULL },
	{ "{\"enum\":[\"high\",\"low\",1]}", "1.0", NULL },
	{ "{\"enum\":[\"high\",\"low\",1]}", "\"mid\"", "(root): not one of the enum values" },
	{ "{\"enum\":[\"high\",\"low\",1]}", "true", "(root): not one of the enum values" },
	{ "{\"enum\":[{\"a\":[1,2],\"b\":null}]}", "{\"b\":null,\"a\":[1,2]}", NULL },
	{ "{\"enum\":[{\"a\":[1,2],\"b\":null}]}", "{\"a\":[1,2]}", "(root): not one of the enum values" },
	{ "{\"enum\":[{\"a\":[1,2],\"b\":null}]}", "{\"a\":[2,1],\"b\":null}",
	  "(root): not one of the enum values" },
	{ "{\"enum\":\"high\"}", "\"high\"", "(root): enum in the schema is not a list" },
	{ "{\"const\":{\"k\":\"v\"}}", "{\"k\":\"v\"}", NULL },
	{ "{\"const\":{\"k\":\"v\"}}", "{\"k\":\"w\"}", "(root): not the const value" },
	{ "{\"const\":null}", "null", NULL },
	{ "{\"const\":null}", "false", "(root): not the const value" },
	{ "{\"const\":\"\"}", "\"\"", NULL },
	/* minLength, maxLength: code points, not bytes */
	{ "{\"minLength\":2,\"maxLength\":3}", "\"\xc3\xa9\xe6\x97\xa5\"", NULL },
	{ "{\"minLength\":2,\"maxLength\":3}", "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" "x\"",
	  "(root): longer than 3 characters" },
	{ "{\"minLength\":2,\"maxLength\":3}", "\"\xc3\xa9\"", "(root): shorter than 2 characters" },
	{ "{\"minLength\":1}", "\"\"", "(root): shorter than 1 characters" },
	{ "{\"maxLength\":1}", "[1,2]", NULL },
	{ "{\"maxLength\":null}", "\"x\"", "(root): maxLength in the schema is not a non-negative integer" },
	/* minimum, maximum: inclusive; integers compared exactly */
	{ "{\"minimum\":0,\"maximum\":10}", "0", NULL },
	{ "{\"minimum\":0,\"maximum\":10}", "10", NULL },
	{ "{\"minimum\":0,\"maximum\":10}", "10.5", "(root): greater than the maximum 10" },
	{ "{\"minimum\":0,\"maximum\":10}", "-1", "(root): less than the minimum 0" },
	{ "{\"minimum\":0.5}", "0.25", "(root): less than the minimum 0.5" },
	{ "{\"minimum\":-2.5}", "-2", NULL },
	{ "{\"maximum\":9007199254740992}", "9007199254740992", NULL },
	{ "{\"maximum\":9007199254740992}", "9007199254740993",
	  "(root): greater than the maximum 9.00719925474099e+15" },
	{ "{\"minimum\":-9007199254740992}", "-9007199254740993",
	  "(root): less than the minimum -9.00719925474099e+15" },
	{ "{\"minimum\":5}", "\"x\"", NULL },
	{ "{\"minimum\":\"0\"}", "1", "(root): minimum in the schema is not a number" },
	/* true and false are schemas; a schema must be one */
	{ "true", "{\"any\":1}", NULL },
	{ "false", "1", "(root): not allowed by the schema" },
	{ "{\"properties\":{\"a\":false}}", "{\"a\":1}", "a: not allowed by the schema" },
	{ "5", "1", "(root): the schema is not an object" },
	{ "{\"items\":[5]}", "[1]", "0: the schema is not an object" },
	/* keywords outside the subset are ignored */
	{ "{\"pattern\":\"^x$\",\"format\":\"email\",\"anyOf\":[false],\"title\":\"t\"}", "\"y\"", NULL },
	/* $ref into the schema */
	{ "{\"$defs\":{\"gap\":{\"type\":\"object\",\"required\":[\"skill\"]}},"
	  "\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/gap\"}}", "[{\"skill\":\"x\"}]", NULL },
	{ "{\"$defs\":{\"gap\":{\"type\":\"object\",\"required\":[\"skill\"]}},"
	  "\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/gap\"}}", "[{\"skill\":\"x\"},{}]",
	  "1.skill: required property missing" },
	{ "{\"definitions\":{\"s\":{\"type\":\"string\"}},\"properties\":{\"a\":{\"$ref\":\"#/definitions/s\"}}}",
	  "{\"a\":1}", "a: expected string, got integer" },
	{ "{\"$defs\":{\"a/b~\":{\"const\":1}},\"$ref\":\"#/$defs/a~1b~0\"}", "1", NULL },
	{ "{\"$defs\":{\"a/b~\":{\"const\":1}},\"$ref\":\"#/$defs/a~1b~0\"}", "2", "(root): not the const value" },
	{ "{\"$defs\":{\"l\":[{\"type\":\"null\"}]},\"$ref\":\"#/$defs/l/0\"}", "1",
	  "(root): expected null, got integer" },
	{ "{\"$ref\":\"#/$defs/nope\"}", "1", "(root): $ref #/$defs/nope is not a pointer into the schema" },
	{ "{\"$ref\":\"http://example.com/s.json\"}", "1",
	  "(root): $ref http://example.com/s.json is not a pointer into the schema" },
	{ "{\"$ref\":\"#/x~2\",\"x~2\":{}}", "1", "(root): $ref #/x~2 is not a pointer into the schema" },
	{ "{\"$ref\":\"#\"}", "1", "(root): nested deeper than 32 levels" },
	{ "{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#\"}}}", "{\"child\":{\"child\":{}}}", NULL },
	{ "{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#\"}}}", "{\"child\":{\"child\":5}}",
	  "child.child: expected object, got integer" },
	{ "{\"$defs\":{\"i\":{\"type\":\"integer\"}},\"$ref\":\"#/$defs/i\",\"minimum\":3}", "2",
	  "(root): less than the minimum 3" },
};

START_TEST(schema_keywords)
{
	char why[256] = "unchanged";
	int rc = check(cases[_i].schema, cases[_i].value, why, sizeof(why));

	if (cases[_i].why == NULL) {
		ck_assert_msg(rc == 0, "%s on %s: %s", cases[_i].schema, cases[_i].value, why);
		ck_assert_str_eq(why, "");
	} else {
		ck_assert_msg(rc == -1, "%s on %s passed", cases[_i].schema, cases[_i].value);
		ck_assert_str_eq(why, cases[_i].why);
	}
}
END_TEST

static const char gaps_schema[] =
	"{\"type\":\"object\",\"required\":[\"critical_gaps\"],\"properties\":{"
	"\"critical_gaps\":{\"type\":\"array\",\"maxItems\":5,\"items\":{"
	"\"type\":\"object\",\"required\":[\"skill\",\"severity\"],"
	"\"additionalProperties\":false,\"properties\":{"
	"\"skill\":{\"type\":\"string\",\"minLength\":1},"
	"\"severity\":{\"enum\":[\"high\",\"medium\",\"low\"]}}}},"
	"\"summary\":{\"type\":\"string\",\"maxLength\":400}}}";

/* Nested paths: object keys and array indexes, dotted. */
START_TEST(schema_nested_paths)
{
	char why[256];

	ck_assert_int_eq(check(gaps_schema, "{\"critical_gaps\":[{\"skill\":\"Go\",\"severity\":\"high\"}],"
					    "\"summary\":\"fine\"}", why, sizeof(why)), 0);
	ck_assert_int_eq(check(gaps_schema, "{\"critical_gaps\":[{\"skill\":\"Go\",\"severity\":\"high\"},"
					    "{\"skill\":\"K8s\",\"severity\":\"urgent\"}]}", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "critical_gaps.1.severity: not one of the enum values");
	ck_assert_int_eq(check(gaps_schema, "{\"critical_gaps\":[{\"skill\":\"\",\"severity\":\"low\"}]}",
			       why, sizeof(why)), -1);
	ck_assert_str_eq(why, "critical_gaps.0.skill: shorter than 1 characters");
	ck_assert_int_eq(check(gaps_schema, "{\"critical_gaps\":[{\"skill\":\"x\"}]}", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "critical_gaps.0.severity: required property missing");
	ck_assert_int_eq(check(gaps_schema, "{\"critical_gaps\":[{\"skill\":\"x\",\"severity\":\"low\","
					    "\"note\\n\":1}]}", why, sizeof(why)), -1);
	/* A control character in a key does not break the line. */
	ck_assert_str_eq(why, "critical_gaps.0.note?: property not allowed");
	ck_assert_int_eq(check(gaps_schema, "{\"summary\":\"x\"}", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "critical_gaps: required property missing");
	ck_assert_int_eq(check(gaps_schema, "[]", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "(root): expected object, got array");
}
END_TEST

/* A why of any size, 0 included, holds a NUL-terminated prefix of the
 * reason and nothing is written past it. */
START_TEST(schema_why_truncated)
{
	static const char full[] = "critical_gaps.1.severity: not one of the enum values";
	const char *value = "{\"critical_gaps\":[{\"skill\":\"Go\",\"severity\":\"high\"},"
			    "{\"skill\":\"K8s\",\"severity\":\"urgent\"}]}";
	char why[sizeof(full) + 8];

	for (size_t size = 0; size <= sizeof(full) + 1; size++) {
		memset(why, 'Z', sizeof(why));
		ck_assert_int_eq(check(gaps_schema, value, why, size), -1);
		if (size == 0) {
			ck_assert_int_eq(why[0], 'Z');
			continue;
		}
		ck_assert_uint_eq(strlen(why), size - 1 < strlen(full) ? size - 1 : strlen(full));
		ck_assert_int_eq(strncmp(why, full, size - 1), 0);
		for (size_t i = size; i < sizeof(why); i++)
			ck_assert_int_eq(why[i], 'Z');
	}
	/* No buffer at all. */
	ck_assert_int_eq(check(gaps_schema, value, NULL, 64), -1);
	ck_assert_int_eq(check(gaps_schema, "{\"critical_gaps\":[]}", NULL, 0), 0);
}
END_TEST

START_TEST(schema_null_arguments)
{
	struct parsed v;
	char why[64];

	parse(&v, "1");
	ck_assert_int_eq(ima_json_schema_check(NULL, &v.obj, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "(root): no schema to check");
	ck_assert_int_eq(ima_json_schema_check(&v.obj, NULL, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "(root): no value to check");
	parsed_free(&v);
}
END_TEST

/* Hand-built objects: chains as deep as a test wants. */
#define DEEP 5000
static msgpack_object deep_schema[DEEP + 1], deep_value[DEEP + 1];
static msgpack_object_kv deep_kv[DEEP];

static msgpack_object str_obj(const char *s)
{
	msgpack_object o = { .type = MSGPACK_OBJECT_STR };

	o.via.str.ptr = s;
	o.via.str.size = (uint32_t)strlen(s);
	return o;
}

/* schema: levels maps {"items": ...} around {"type":"integer"}; value:
 * levels arrays [...] around 1. */
static void build_deep_items(unsigned levels)
{
	static msgpack_object_kv inner;

	ck_assert_uint_le(levels, DEEP);
	for (unsigned i = 0; i < levels; i++) {
		deep_kv[i].key = str_obj("items");
		deep_kv[i].val = deep_schema[i + 1];
		deep_schema[i].type = MSGPACK_OBJECT_MAP;
		deep_schema[i].via.map.size = 1;
		deep_schema[i].via.map.ptr = &deep_kv[i];
		deep_value[i].type = MSGPACK_OBJECT_ARRAY;
		deep_value[i].via.array.size = 1;
		deep_value[i].via.array.ptr = &deep_value[i + 1];
	}
	inner.key = str_obj("type");
	inner.val = str_obj("integer");
	deep_schema[levels].type = MSGPACK_OBJECT_MAP;
	deep_schema[levels].via.map.size = 1;
	deep_schema[levels].via.map.ptr = &inner;
	deep_value[levels].type = MSGPACK_OBJECT_POSITIVE_INTEGER;
	deep_value[levels].via.u64 = 1;
	/* The maps hold copies: link them from the innermost out. */
	for (unsigned i = levels; i-- > 0;)
		deep_kv[i].val = deep_schema[i + 1];
}

/* 32 nested subschemas are checked; one more, or thousands, fail with a
 * reason and without recursing further. */
START_TEST(schema_deep_hostile)
{
	char why[512];

	build_deep_items(32);
	ck_assert_msg(ima_json_schema_check(&deep_schema[0], &deep_value[0], why, sizeof(why)) == 0,
		      "%s", why);
	deep_value[32].via.u64 = 0;
	deep_value[32].type = MSGPACK_OBJECT_NIL;
	ck_assert_int_eq(ima_json_schema_check(&deep_schema[0], &deep_value[0], why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, ".0: expected integer, got null"));
	build_deep_items(33);
	ck_assert_int_eq(ima_json_schema_check(&deep_schema[0], &deep_value[0], why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, ": nested deeper than 32 levels") != NULL, "%s", why);
	ck_assert_int_eq(strncmp(why, "0.0.0.0", 7), 0);
	build_deep_items(DEEP);
	ck_assert_int_eq(ima_json_schema_check(&deep_schema[0], &deep_value[0], why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, ": nested deeper than 32 levels") != NULL, "%s", why);
	/* A const as deep as that: told apart without recursing either. */
	{
		msgpack_object_kv kv = { .key = str_obj("const"), .val = deep_value[0] };
		msgpack_object schema = { .type = MSGPACK_OBJECT_MAP };

		schema.via.map.size = 1;
		schema.via.map.ptr = &kv;
		ck_assert_int_eq(ima_json_schema_check(&schema, &deep_value[0], why, sizeof(why)), -1);
		ck_assert_str_eq(why, "(root): nested deeper than 32 levels");
		/* The same with the schema for the value: deep enough stays
		 * apart from unequal. */
		ck_assert_int_eq(ima_json_schema_check(&schema, &deep_value[DEEP], why, sizeof(why)), -1);
		ck_assert_str_eq(why, "(root): not the const value");
	}
}
END_TEST

/* msgpack values that JSON has no word for. */
START_TEST(schema_non_json_values)
{
	msgpack_object_kv kv = { .key = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER } };
	msgpack_object map = { .type = MSGPACK_OBJECT_MAP }, bin = { .type = MSGPACK_OBJECT_BIN };
	struct parsed s;
	char why[128];

	kv.val.type = MSGPACK_OBJECT_NIL;
	map.via.map.size = 1;
	map.via.map.ptr = &kv;
	parse(&s, "{\"type\":\"object\"}");
	ck_assert_int_eq(ima_json_schema_check(&s.obj, &map, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "(root): object key is not a string");
	ck_assert_int_eq(ima_json_schema_check(&s.obj, &bin, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "(root): expected object, got binary");
	parsed_free(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("schema");
	TCase *tc = tcase_create("schema");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, schema_keywords, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, schema_nested_paths);
	tcase_add_test(tc, schema_why_truncated);
	tcase_add_test(tc, schema_null_arguments);
	tcase_add_test(tc, schema_deep_hostile);
	tcase_add_test(tc, schema_non_json_values);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
