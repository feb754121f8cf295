/* check_codec.c - request bodies in, answers out. */
#include <jansson.h>

#include "ima_test.h"

static const struct ima_limits lim = { 4096, 32 };

static int decode_json(const char *s, struct ima_error *err)
{
	msgpack_sbuffer sb;
	int rc;

	msgpack_sbuffer_init(&sb);
	rc = ima_body_decode(s, strlen(s), IMA_FMT_JSON, &lim, &sb, err);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

START_TEST(json_duplicate_keys_rejected)
{
	struct ima_error err;

	ck_assert_int_ne(decode_json("{\"a\": 1,\n \"a\": 2}", &err), 0);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.code, "malformed_json");
	ck_assert_int_eq(err.line, 2);
	ck_assert_int_gt(err.column, 0);
	ck_assert_ptr_nonnull(strstr(err.message, "duplicate"));
}
END_TEST

/* jansson out of memory is a 500 of the service, not the caller's 400.
 * Only the first allocation fails (its reader's buffer): jansson 2.14
 * aborts on a failure in the middle of a string. */
static int jansson_allocs;
static void *jansson_failing_malloc(size_t n)
{
	return jansson_allocs++ == 0 ? NULL : malloc(n);
}

START_TEST(json_out_of_memory_is_internal)
{
	struct ima_error err;
	int rc;

	jansson_allocs = 0;
	json_set_alloc_funcs(jansson_failing_malloc, free);
	rc = decode_json("{\"resume_text\": \"x\"}", &err);
	json_set_alloc_funcs(malloc, free);
	ck_assert_int_ne(rc, 0);
	ck_assert_int_eq(err.status, 500);
	ck_assert_str_eq(err.code, "internal");
}
END_TEST

START_TEST(json_syntax_error_has_position)
{
	struct ima_error err;

	ck_assert_int_ne(decode_json("{\n\"a\": [1, 2,,]}", &err), 0);
	ck_assert_int_eq(err.status, 400);
	ck_assert_int_eq(err.line, 2);
	ck_assert_ptr_nonnull(strstr(err.message, "line 2"));
}
END_TEST

START_TEST(json_depth_limited)
{
	char deep[200];
	struct ima_error err;

	/* {"a": [[[...]]]} with 32 levels passes, 33 does not. */
	strcpy(deep, "{\"a\":");
	for (int i = 0; i < 31; i++)
		strcat(deep, "[");
	for (int i = 0; i < 31; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	ck_assert_int_eq(decode_json(deep, &err), 0);
	strcpy(deep, "{\"a\":");
	for (int i = 0; i < 32; i++)
		strcat(deep, "[");
	for (int i = 0; i < 32; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	ck_assert_int_ne(decode_json(deep, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.message, "nesting"));
	/* Brackets inside strings do not count. */
	ck_assert_int_eq(decode_json("{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", &err), 0);
}
END_TEST

START_TEST(json_invalid_utf8_rejected)
{
	struct ima_error err;

	ck_assert_int_ne(decode_json("{\"a\": \"\xff\xfe\"}", &err), 0);
	ck_assert_int_eq(err.status, 400);
}
END_TEST

START_TEST(json_not_object_and_too_large)
{
	struct ima_error err;
	char big[5000];

	ck_assert_int_ne(decode_json("[1, 2]", &err), 0);
	ck_assert_int_eq(err.status, 422);
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_ne(decode_json(big, &err), 0);
	ck_assert_int_eq(err.status, 413);
}
END_TEST

START_TEST(json_roundtrip_through_msgpack)
{
	const char *in = "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\u00e9\",\"i\":-42,\"u\":7,"
			 "\"f\":0.85,\"t\":true,\"n\":null,\"a\":[1,{\"k\":[]}],\"o\":{}}";
	msgpack_sbuffer sb;
	struct ima_error err;
	msgpack_zone zone;
	msgpack_object o;
	struct ima_buf out = { 0 };
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(ima_body_decode(in, strlen(in), IMA_FMT_JSON, &lim, &sb, &err), 0);
	msgpack_zone_init(&zone, 1024);
	ck_assert_int_eq(msgpack_unpack(sb.data, sb.size, &off, &zone, &o), MSGPACK_UNPACK_SUCCESS);
	ima_json_write(&out, &o, -1);
	ck_assert_str_eq(out.data, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\",\"i\":-42,\"u\":7,"
				   "\"f\":0.85,\"t\":true,\"n\":null,\"a\":[1,{\"k\":[]}],\"o\":{}}");
	ima_buf_free(&out);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(json_writer_repairs_bad_utf8)
{
	struct ima_buf out = { 0 };

	ima_json_write_str(&out, "a\xff" "b\xe2\x82" "c", 6);
	ck_assert_str_eq(out.data, "\"a\\ufffdb\\ufffd\\ufffdc\"");
	ima_buf_free(&out);
}
END_TEST

START_TEST(msgpack_body)
{
	msgpack_sbuffer sb, out;
	msgpack_packer pk;
	struct ima_error err;

	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	ima_pack_cstr(&pk, "resume_text");
	ima_pack_cstr(&pk, "x");
	ck_assert_int_eq(ima_body_decode(sb.data, sb.size, IMA_FMT_MSGPACK, &lim, &out, &err), 0);
	ck_assert_int_eq((int)out.size, (int)sb.size);
	msgpack_sbuffer_clear(&out);
	ck_assert_int_ne(ima_body_decode("\x92\x01\x02", 3, IMA_FMT_MSGPACK, &lim, &out, &err), 0);
	ck_assert_int_eq(err.status, 422);
	ck_assert_int_ne(ima_body_decode("\xdf\xff\xff\xff\xff", 5, IMA_FMT_MSGPACK, &lim, &out, &err), 0);
	ck_assert_int_eq(err.status, 400);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_destroy(&out);
}
END_TEST

/*
 * A fuzzer's input (hex 3d82a078823278746572): its first byte picks the
 * decoder, odd for msgpack, the rest is the body. The body is a map whose
 * first key is the empty string, which msgpack-c unpacks with a NULL
 * pointer: the writer must not do arithmetic on it or pass it to memcpy
 * (UBSan halts the test if it does).
 */
START_TEST(empty_msgpack_string_written)
{
	static const char input[] = "\x3d\x82\xa0\x78\x82\x32\x78\x74\x65\x72";
	size_t len = sizeof(input) - 1, off = 0;
	enum ima_format fmt = (input[0] & 1) ? IMA_FMT_MSGPACK : IMA_FMT_JSON;
	struct ima_buf out = { 0 };
	msgpack_sbuffer sb;
	struct ima_error err;
	msgpack_zone zone;
	msgpack_object o;

	msgpack_sbuffer_init(&sb);
	/* Whole, it is neither JSON nor one msgpack value. */
	ck_assert_int_ne(ima_body_decode(input, len, IMA_FMT_JSON, &lim, &sb, &err), 0);
	ck_assert_int_ne(ima_body_decode(input, len, IMA_FMT_MSGPACK, &lim, &sb, &err), 0);
	ck_assert_int_eq(fmt, IMA_FMT_MSGPACK);
	ck_assert_int_eq(ima_body_decode(input + 1, len - 1, fmt, &lim, &sb, &err), 0);
	msgpack_zone_init(&zone, 1024);
	ck_assert_int_eq(msgpack_unpack(sb.data, sb.size, &off, &zone, &o), MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(o.via.map.ptr[0].key.type, MSGPACK_OBJECT_STR);
	ck_assert_uint_eq(o.via.map.ptr[0].key.via.str.size, 0);
	ima_json_write(&out, &o, -1);
	ck_assert_str_eq(out.data, "{\"\":120,\"\":114}");
	out.len = 0;
	ima_json_write(&out, &o, 0);
	ck_assert_str_eq(out.data, "{\n  \"\": 120,\n  \"\": 114\n}");
	out.len = 0;
	ima_json_write_str(&out, NULL, 0);
	ck_assert_str_eq(out.data, "\"\"");
	ima_buf_free(&out);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(buf_numbers_match_printf)
{
	static const double values[] = { 0, 0.0004999, 0.0005001, 1.5, 12.3456789, 999.9996,
					 -0.25, -0.0000001, 1234567.125, 3e9, 1e300, -1e300 };
	static const uint64_t ints[] = { 0, 7, 10, 65535, 18446744073709551615ull };
	struct ima_buf b = { 0 };
	char want[400];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		for (int d = 0; d <= 9; d += 3) {
			b.len = 0;
			ima_buf_append_fixed(&b, values[i], d);
			snprintf(want, sizeof(want), "%.*f", d, values[i]);
			/* printf shows a negative zero as "-0.000"; JSON does not
			 * need the sign. */
			if (want[0] == '-' && strspn(want + 1, "0.") == strlen(want + 1))
				memmove(want, want + 1, strlen(want));
			ck_assert_msg(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
				      "%.17g with %d decimals: got %.*s, printf %s", values[i], d,
				      (int)b.len, b.data, want);
		}
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		b.len = 0;
		ima_buf_append_uint(&b, ints[i]);
		snprintf(want, sizeof(want), "%llu", (unsigned long long)ints[i]);
		ck_assert_str_eq(b.data, want);
	}
	/* One-pass printf: appends, and grows past what was reserved. */
	b.len = 0;
	ima_buf_printf(&b, "%s", "ab");
	ima_buf_printf(&b, "%0300d", 5);
	ck_assert_uint_eq(b.len, 302);
	ck_assert_int_eq(b.data[301], '5');
	ck_assert_int_eq(b.data[302], '\0');
	ima_buf_free(&b);
}
END_TEST

START_TEST(error_object_json)
{
	struct ima_error err;
	struct ima_buf out = { 0 };

	ima_error_set(&err, 422, "invalid_field", "resume_text", "must not be \"blank\"");
	ima_error_write_json(&out, &err);
	ck_assert_str_eq(out.data, "{\"error\":{\"status\":422,\"code\":\"invalid_field\","
				   "\"message\":\"must not be \\\"blank\\\"\",\"field\":\"resume_text\"}}");
	ima_buf_free(&out);
}
END_TEST

Suite *codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, json_duplicate_keys_rejected);
	tcase_add_test(tc, json_syntax_error_has_position);
	tcase_add_test(tc, json_out_of_memory_is_internal);
	tcase_add_test(tc, json_depth_limited);
	tcase_add_test(tc, json_invalid_utf8_rejected);
	tcase_add_test(tc, json_not_object_and_too_large);
	tcase_add_test(tc, json_roundtrip_through_msgpack);
	tcase_add_test(tc, json_writer_repairs_bad_utf8);
	tcase_add_test(tc, msgpack_body);
	tcase_add_test(tc, empty_msgpack_string_written);
	tcase_add_test(tc, error_object_json);
	tcase_add_test(tc, buf_numbers_match_printf);
	suite_add_tcase(s, tc);
	return s;
}
