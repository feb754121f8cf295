/* check_ctx.c - the context and the msgpack validator. */
#include "ima_test.h"

static void pack_str_kv(msgpack_packer *pk, const char *k, const char *v)
{
	ima_pack_cstr(pk, k);
	ima_pack_cstr(pk, v);
}

START_TEST(ctx_put_get_roundtrip)
{
	struct ima_ctx *ctx = ima_ctx_new(), *back = ima_ctx_new();
	struct ima_limits lim = { 1 << 20, 32 };
	struct ima_error err;
	msgpack_sbuffer sb, enc;
	msgpack_packer pk;
	const char *s;
	size_t n;
	double d;
	int64_t i;
	int b;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	pack_str_kv(&pk, "title", "Engineer");
	ima_pack_cstr(&pk, "years");
	msgpack_pack_double(&pk, 4.5);
	ima_pack_cstr(&pk, "list");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, -3);
	msgpack_pack_map(&pk, 1);
	pack_str_kv(&pk, "x", "y");
	ima_pack_cstr(&pk, "ok");
	msgpack_pack_true(&pk);
	ck_assert_int_eq(ima_ctx_put_sbuffer(ctx, "res", &sb), 0);
	ck_assert_ptr_null(sb.data);

	ck_assert_int_eq(ima_ctx_get_str(ctx, "res.title", &s, &n), 0);
	ck_assert_int_eq((int)n, 8);
	ck_assert_int_eq(memcmp(s, "Engineer", 8), 0);
	ck_assert_int_eq(ima_ctx_get_double(ctx, "res.years", &d), 0);
	ck_assert_double_eq(d, 4.5);
	ck_assert_int_eq(ima_ctx_get_int(ctx, "res.list.0", &i), 0);
	ck_assert_int_eq((int)i, -3);
	ck_assert_int_eq(ima_ctx_get_str(ctx, "res.list.1.x", &s, &n), 0);
	ck_assert_int_eq(ima_ctx_get_bool(ctx, "res.ok", &b), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_ptr_null(ima_ctx_get(ctx, "res.list.2"));
	ck_assert_ptr_null(ima_ctx_get(ctx, "res.nope"));
	ck_assert_ptr_null(ima_ctx_get(ctx, "nope"));
	ck_assert_int_ne(ima_ctx_get_str(ctx, "res.years", &s, &n), 0);

	/* Whole-context round trip through its msgpack encoding. */
	msgpack_sbuffer_init(&enc);
	ck_assert_int_eq(ima_ctx_encode(ctx, &enc, false), 0);
	ck_assert_int_eq(ima_ctx_decode(back, enc.data, enc.size, &lim, &err), 0);
	ck_assert_int_eq(ima_ctx_get_str(back, "res.list.1.x", &s, &n), 0);
	ck_assert_int_eq((int)n, 1);
	ck_assert_int_eq(s[0], 'y');
	msgpack_sbuffer_destroy(&enc);
	msgpack_sbuffer_destroy(&sb);
	ima_ctx_free(ctx);
	ima_ctx_free(back);
}
END_TEST

START_TEST(ctx_get_finds_keys_holding_dots)
{
	struct ima_ctx *ctx = ima_ctx_new();
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t i = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	ima_pack_cstr(&pk, "hits");
	msgpack_pack_int(&pk, 7);
	ck_assert_int_eq(ima_ctx_put_sbuffer(ctx, "_metrics.cache", &sb), 0);
	ck_assert_int_eq(ima_ctx_get_int(ctx, "_metrics.cache.hits", &i), 0);
	ck_assert_int_eq(i, 7);
	ck_assert_ptr_nonnull(ima_ctx_get(ctx, "_metrics.cache"));
	ck_assert_ptr_null(ima_ctx_get(ctx, "_metrics"));
	ck_assert_ptr_null(ima_ctx_get(ctx, "_metrics.cache.misses"));
	ck_assert_ptr_null(ima_ctx_get(ctx, "_metrics.other.hits"));
	/* A shorter key that does not hold the rest does not hide it. */
	msgpack_pack_map(&pk, 1);
	ima_pack_cstr(&pk, "other");
	msgpack_pack_int(&pk, 1);
	ck_assert_int_eq(ima_ctx_put_sbuffer(ctx, "_metrics", &sb), 0);
	ck_assert_int_eq(ima_ctx_get_int(ctx, "_metrics.cache.hits", &i), 0);
	ck_assert_int_eq(i, 7);
	ck_assert_int_eq(ima_ctx_get_int(ctx, "_metrics.other", &i), 0);
	ck_assert_int_eq(i, 1);
	ck_assert_ptr_null(ima_ctx_get(ctx, ".x"));
	ck_assert_ptr_null(ima_ctx_get(ctx, "_metrics."));
	ck_assert_ptr_null(ima_ctx_get(ctx, ""));
	msgpack_sbuffer_destroy(&sb);
	ima_ctx_free(ctx);
}
END_TEST

START_TEST(ctx_replace_keeps_old_reads_valid)
{
	struct ima_ctx *ctx = ima_ctx_new();
	const msgpack_object *old;
	char a[] = { (char)0xa3, 'o', 'n', 'e' };
	char b[] = { (char)0xa3, 't', 'w', 'o' };
	msgpack_sbuffer enc;
	const char *s;
	size_t n;

	ck_assert_int_eq(ima_ctx_put(ctx, "k", a, sizeof(a)), 0);
	ck_assert_int_eq(ima_ctx_put(ctx, "_internal", a, sizeof(a)), 0);
	old = ima_ctx_get(ctx, "k");
	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(ima_ctx_put(ctx, "k", b, sizeof(b)), 0);
	ck_assert_int_eq(old->via.str.size, 3);
	ck_assert_int_eq(memcmp(old->via.str.ptr, "one", 3), 0);
	ck_assert_int_eq(ima_ctx_get_str(ctx, "k", &s, &n), 0);
	ck_assert_int_eq(memcmp(s, "two", 3), 0);
	ck_assert_int_eq((int)ima_ctx_count(ctx), 2);
	/* Public encoding leaves out internal keys. */
	msgpack_sbuffer_init(&enc);
	ck_assert_int_eq(ima_ctx_encode(ctx, &enc, true), 0);
	ck_assert_int_eq((unsigned char)enc.data[0], 0x81);
	msgpack_sbuffer_destroy(&enc);
	ck_assert_int_eq(ima_ctx_remove(ctx, "k"), 0);
	ck_assert_int_ne(ima_ctx_remove(ctx, "k"), 0);
	ck_assert_ptr_null(ima_ctx_get(ctx, "k"));
	ima_ctx_free(ctx);
}
END_TEST

START_TEST(ctx_put_rejects_malformed)
{
	struct ima_ctx *ctx = ima_ctx_new();
	char two[] = { 0x01, 0x02 };
	char trunc[] = { (char)0x92, 0x01 };

	ck_assert_int_ne(ima_ctx_put(ctx, "k", two, sizeof(two)), 0);
	ck_assert_int_ne(ima_ctx_put(ctx, "k", trunc, sizeof(trunc)), 0);
	ck_assert_int_eq((int)ima_ctx_count(ctx), 0);
	ima_ctx_free(ctx);
}
END_TEST

/* Each of these would make msgpack-c reserve memory or crash if unchecked. */
static const struct {
	const char *name;
	const char *bytes;
	size_t len;
} hostile[] = {
	{ "array32 of 4G elements", "\xdd\xff\xff\xff\xff", 5 },
	{ "map32 of 4G pairs", "\xdf\xff\xff\xff\xff", 5 },
	{ "array16 count beyond input", "\xdc\xff\xff\x01\x02", 5 },
	{ "str32 length beyond input", "\xdb\x7f\xff\xff\xff" "abc", 8 },
	{ "bin32 length beyond input", "\xc6\x7f\xff\xff\xff", 5 },
	{ "ext32 length beyond input", "\xc9\x7f\xff\xff\xff\x01", 6 },
	{ "reserved byte", "\xc1", 1 },
	{ "truncated float64", "\xcb\x00\x00", 3 },
	{ "truncated length", "\xda\x00", 2 },
	{ "empty", "", 0 },
	{ "trailing bytes", "\x01\x02", 2 },
	{ "invalid utf-8", "\xa2\xc3\x28", 3 },
	{ "overlong utf-8", "\xa2\xc0\xaf", 3 },
	{ "surrogate utf-8", "\xa3\xed\xa0\x80", 4 },
};

START_TEST(mp_hostile_rejected)
{
	struct ima_error err;

	ck_assert_int_ne(ima_mp_validate(hostile[_i].bytes, hostile[_i].len,
					 1 << 20, 32, true, &err), 0);
	ck_assert_int_ne(err.status, 0);
	ck_assert_str_eq(err.code, "malformed_msgpack");
}
END_TEST

START_TEST(mp_depth_limit)
{
	char buf[64];
	struct ima_error err;
	struct ima_ctx *ctx = ima_ctx_new();
	struct ima_limits lim = { 1 << 20, 32 };
	msgpack_zone zone;
	msgpack_object obj;
	size_t off = 0;

	/* A map holding 31 more nested arrays: 32 levels are accepted and
	 * msgpack-c unpacks them; one more level is refused by us. */
	buf[0] = (char)0x81;
	buf[1] = (char)0xa1;
	buf[2] = 'k';
	memset(buf + 3, 0x91, 31);
	buf[34] = 0x07;
	ck_assert_int_eq(ima_mp_validate(buf, 35, 1 << 20, 32, true, &err), 0);
	msgpack_zone_init(&zone, 1024);
	ck_assert_int_eq(msgpack_unpack(buf, 35, &off, &zone, &obj), MSGPACK_UNPACK_SUCCESS);
	msgpack_zone_destroy(&zone);
	ck_assert_int_eq(ima_ctx_decode(ctx, buf, 35, &lim, &err), 0);

	buf[34] = (char)0x91;
	buf[35] = 0x07;
	ck_assert_int_ne(ima_mp_validate(buf, 36, 1 << 20, 32, true, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.message, "nesting"));
	ck_assert_int_ne(ima_ctx_decode(ctx, buf, 36, &lim, &err), 0);
	ima_ctx_free(ctx);
}
END_TEST

START_TEST(mp_every_truncation_rejected)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct ima_error err;
	struct ima_ctx *ctx = ima_ctx_new();
	struct ima_limits lim = { 1 << 20, 32 };

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	pack_str_kv(&pk, "resume_text", "Senior engineer, 10 years of C");
	ima_pack_cstr(&pk, "n");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_double(&pk, 0.5);
	msgpack_pack_uint64(&pk, 1ull << 40);
	msgpack_pack_int64(&pk, -(1ll << 40));
	ima_pack_cstr(&pk, "bin");
	msgpack_pack_bin(&pk, 3);
	msgpack_pack_bin_body(&pk, "abc", 3);
	ck_assert_int_eq(ima_mp_validate(sb.data, sb.size, 1 << 20, 32, true, &err), 0);
	for (size_t cut = 0; cut < sb.size; cut++) {
		ck_assert_int_ne(ima_mp_validate(sb.data, cut, 1 << 20, 32, true, &err), 0);
		ck_assert_int_ne(ima_ctx_decode(ctx, sb.data, cut, &lim, &err), 0);
	}
	ck_assert_int_eq(ima_ctx_decode(ctx, sb.data, sb.size, &lim, &err), 0);
	/* Over the size cap: 413 before any parsing. */
	lim.max_body_bytes = 8;
	ck_assert_int_ne(ima_ctx_decode(ctx, sb.data, sb.size, &lim, &err), 0);
	ck_assert_int_eq(err.status, 413);
	msgpack_sbuffer_destroy(&sb);
	ima_ctx_free(ctx);
}
END_TEST

START_TEST(ctx_decode_needs_map_with_string_keys)
{
	struct ima_ctx *ctx = ima_ctx_new();
	struct ima_limits lim = { 1 << 20, 32 };
	struct ima_error err;

	ck_assert_int_ne(ima_ctx_decode(ctx, "\x91\x01", 2, &lim, &err), 0);
	ck_assert_int_eq(err.status, 422);
	ck_assert_int_ne(ima_ctx_decode(ctx, "\x81\x01\x02", 3, &lim, &err), 0);
	ck_assert_int_eq(err.status, 422);
	ima_ctx_free(ctx);
}
END_TEST

START_TEST(utf8_validation)
{
	ck_assert(ima_utf8_valid("plain", 5));
	ck_assert(ima_utf8_valid("\xc3\xa9t\xc3\xa9", 6));
	ck_assert(ima_utf8_valid("\xf0\x9f\x98\x80", 4));
	ck_assert(!ima_utf8_valid("\xff", 1));
	ck_assert(!ima_utf8_valid("\xe2\x82", 2));
	ck_assert(!ima_utf8_valid("\xf4\x90\x80\x80", 4));
}
END_TEST

START_TEST(ctx_merge_validates)
{
	struct ima_ctx *ctx = ima_ctx_new();
	struct ima_error err;
	const char *str;
	size_t n;
	/* {"a": "x", "b": 1} */
	static const char good[] = "\x82\xa1" "a" "\xa1" "x" "\xa1" "b" "\x01";

	ck_assert_int_eq(ima_ctx_put(ctx, "a", "\xa1" "o", 2), 0);
	ck_assert_int_eq(ima_ctx_merge(ctx, good, sizeof(good) - 1, &err), 0);
	ck_assert_int_eq(ima_ctx_get_str(ctx, "a", &str, &n), 0);
	ck_assert_int_eq(str[0], 'x');
	ck_assert_int_eq((int)ima_ctx_count(ctx), 2);
	/* A hostile or truncated value changes nothing. */
	ck_assert_int_ne(ima_ctx_merge(ctx, "\xdf\xff\xff\xff\xff", 5, &err), 0);
	ck_assert_int_ne(ima_ctx_merge(ctx, good, sizeof(good) - 2, &err), 0);
	ck_assert_int_eq((int)ima_ctx_count(ctx), 2);
	ima_ctx_free(ctx);
}
END_TEST

Suite *ctx_suite(void)
{
	Suite *s = suite_create("context");
	TCase *tc = tcase_create("ctx");

	tcase_add_test(tc, ctx_put_get_roundtrip);
	tcase_add_test(tc, ctx_replace_keeps_old_reads_valid);
	tcase_add_test(tc, ctx_get_finds_keys_holding_dots);
	tcase_add_test(tc, ctx_put_rejects_malformed);
	tcase_add_loop_test(tc, mp_hostile_rejected, 0,
			    (int)(sizeof(hostile) / sizeof(hostile[0])));
	tcase_add_test(tc, mp_depth_limit);
	tcase_add_test(tc, mp_every_truncation_rejected);
	tcase_add_test(tc, ctx_decode_needs_map_with_string_keys);
	tcase_add_test(tc, utf8_validation);
	tcase_add_test(tc, ctx_merge_validates);
	suite_add_tcase(s, tc);
	return s;
}
