/* check_loader.c - plugin loading with real shared objects. */
#include "ima_test.h"

static int open_test_plugin(const char *name, struct ima_loaded_plugin *lp,
			    struct ima_error *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.so", test_plugin_dir(), name);
	return ima_plugin_open(path, name, lp, err);
}

START_TEST(loader_good_plugin)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;

	ck_assert_int_eq(open_test_plugin("probe", &lp, &err), 0);
	ck_assert_str_eq(lp.desc.name, "probe");
	ck_assert_int_eq(lp.desc.abi_major, IMA_ABI_MAJOR);
	ck_assert_ptr_nonnull(lp.desc.process);
	ck_assert_ptr_nonnull(lp.desc.finish);
	ima_plugin_close(&lp);
}
END_TEST

START_TEST(loader_wrong_major_refused)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;
	char want[64];

	ck_assert_int_ne(open_test_plugin("badabi", &lp, &err), 0);
	snprintf(want, sizeof(want), "plugin badabi wants ABI %d.0, host provides %d.%d",
		 IMA_ABI_MAJOR + 1, IMA_ABI_MAJOR, IMA_ABI_MINOR);
	ck_assert_msg(strstr(err.message, want) != NULL, "%s", err.message);
	ck_assert_ptr_null(lp.handle);
}
END_TEST

START_TEST(loader_newer_minor_refused)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;
	char want[64];

	ck_assert_int_ne(open_test_plugin("newminor", &lp, &err), 0);
	snprintf(want, sizeof(want), "wants ABI %d.%d, host provides %d.%d",
		 IMA_ABI_MAJOR, IMA_ABI_MINOR + 1, IMA_ABI_MAJOR, IMA_ABI_MINOR);
	ck_assert_msg(strstr(err.message, want) != NULL, "%s", err.message);
}
END_TEST

START_TEST(loader_older_minor_accepted)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;

	/* Built for 1.0: loads, and the member it does not have reads as
	 * absent (not whatever lies past its struct_size). */
	ck_assert_msg(open_test_plugin("oldabi", &lp, &err) == 0, "%s", err.message);
	ck_assert_int_eq(lp.desc.abi_minor, 0);
	ck_assert_ptr_null(lp.desc.command);
	ck_assert_ptr_null(lp.desc.call_get);
	ima_plugin_close(&lp);
}
END_TEST

START_TEST(loader_half_call_cache_refused)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;

	/* call_get without call_put would leave results never stored. */
	ck_assert_int_ne(open_test_plugin("halfcall", &lp, &err), 0);
	ck_assert_msg(strstr(err.message, "call_get or call_put but not both") != NULL,
		      "%s", err.message);
}
END_TEST

START_TEST(loader_missing_symbol)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;

	ck_assert_int_ne(open_test_plugin("nosym", &lp, &err), 0);
	ck_assert_msg(strstr(err.message, "ima_plugin_nosym") != NULL, "%s", err.message);
	ck_assert_msg(strstr(err.message, "nosym.so") != NULL, "%s", err.message);
}
END_TEST

START_TEST(loader_missing_file)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;

	ck_assert_int_ne(open_test_plugin("does_not_exist", &lp, &err), 0);
	ck_assert_msg(strstr(err.message, "does_not_exist.so") != NULL, "%s", err.message);
}
END_TEST

START_TEST(loader_find_in_path)
{
	char dirs[4096], buf[4096];

	snprintf(dirs, sizeof(dirs), "/nonexistent:%s", test_plugin_dir());
	ck_assert_int_eq(ima_plugin_find(dirs, "probe", buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "/probe.so"));
	ck_assert_int_ne(ima_plugin_find(dirs, "nothere", buf, sizeof(buf)), 0);
}
END_TEST

static enum ima_rc dummy_process(struct ima_req *req, void *state)
{
	return IMA_CONTINUE;
}

START_TEST(loader_option_table_checked)
{
	static const struct ima_option bad_default[] = {
		{ "n", IMA_OPT_INT, "twelve", "an int", 0 },
		{ NULL, 0, NULL, NULL, 0 }
	};
	struct ima_plugin p = { IMA_PLUGIN_HEADER, .name = "x",
				.options = bad_default, .process = dummy_process };
	struct ima_error err;

	ck_assert_int_ne(ima_plugin_check_options(&p, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.message, "twelve"));
}
END_TEST

Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("loader");

	tcase_add_test(tc, loader_good_plugin);
	tcase_add_test(tc, loader_wrong_major_refused);
	tcase_add_test(tc, loader_newer_minor_refused);
	tcase_add_test(tc, loader_half_call_cache_refused);
	tcase_add_test(tc, loader_older_minor_accepted);
	tcase_add_test(tc, loader_missing_symbol);
	tcase_add_test(tc, loader_missing_file);
	tcase_add_test(tc, loader_find_in_path);
	tcase_add_test(tc, loader_option_table_checked);
	suite_add_tcase(s, tc);
	return s;
}
