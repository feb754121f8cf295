/* check_loader.c - plugin loading with real shared objects. */
#include <sys/stat.h>
#include <unistd.h>

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

/* Built for 1.6, the last ABI before ima_sbuffer_write: loads, and what it
 * packs with msgpack_sbuffer_write goes into the context as before. */
START_TEST(loader_abi16_runs)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;
	struct ima_engine *eng;
	struct ima_req *req;
	const char *s;
	size_t n;

	ck_assert_msg(open_test_plugin("abi16", &lp, &err) == 0, "%s", err.message);
	ck_assert_int_eq(lp.desc.abi_minor, 6);
	ima_plugin_close(&lp);
	eng = test_engine("pipeline = ({ name = \"old\"; plugin = \"abi16\"; });", &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq(test_run_json(eng, "{\"resume_text\": \"x\"}", &req), 200);
	ck_assert_int_eq(ima_ctx_get_str(ima_req_ctx(req), "abi16", &s, &n), 0);
	ck_assert(n == 5 && memcmp(s, "abi16", 5) == 0);
	ima_req_free(req);
	ima_engine_free(eng);
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

/* ---- where plugins may be loaded from ---------------------------------- */

/* A fresh tree <tmp>/ima-loader-XXXXXX/plugins/probe.so (a copy of the
 * test plugin), every mode set explicitly so the umask does not matter. */
struct plugin_tree {
	char root[4096];
	char dir[4200];
	char file[4300];
};

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	FILE *in = fopen(from, "rb");
	FILE *out = fopen(to, "wb");
	size_t n;

	ck_assert_msg(in != NULL && out != NULL, "copy %s -> %s", from, to);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_int_eq(chmod(to, mode), 0);
}

static void plugin_tree_make(struct plugin_tree *t)
{
	const char *tmp = getenv("TMPDIR");
	char probe[4096];

	snprintf(t->root, sizeof(t->root), "%s/ima-loader-XXXXXX", tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(t->root));
	ck_assert_int_eq(chmod(t->root, 0755), 0);
	snprintf(t->dir, sizeof(t->dir), "%s/plugins", t->root);
	ck_assert_int_eq(mkdir(t->dir, 0755), 0);
	ck_assert_int_eq(chmod(t->dir, 0755), 0);
	snprintf(t->file, sizeof(t->file), "%s/probe.so", t->dir);
	snprintf(probe, sizeof(probe), "%s/probe.so", test_plugin_dir());
	copy_file(probe, t->file, 0644);
}

static void plugin_tree_free(struct plugin_tree *t)
{
	char path[4400];

	chmod(t->root, 0700);
	chmod(t->dir, 0700);
	unlink(t->file);
	snprintf(path, sizeof(path), "%s/link.so", t->dir);
	unlink(path);
	rmdir(t->dir);
	rmdir(t->root);
}

/* Opens path as plugin "probe" and expects a refusal naming what and why. */
static void expect_unsafe(const char *path, const char *names, const char *why)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;

	ck_assert_int_ne(ima_plugin_open(path, "probe", &lp, &err), 0);
	ck_assert_ptr_null(lp.handle);
	ck_assert_str_eq(err.code, "plugin_unsafe");
	ck_assert_msg(strstr(err.message, names) != NULL, "'%s' not in: %s", names, err.message);
	ck_assert_msg(strstr(err.message, why) != NULL, "'%s' not in: %s", why, err.message);
}

static void expect_loads(const char *path)
{
	struct ima_loaded_plugin lp;
	struct ima_error err;

	ck_assert_msg(ima_plugin_open(path, "probe", &lp, &err) == 0, "%s", err.message);
	ck_assert_str_eq(lp.desc.name, "probe");
	ima_plugin_close(&lp);
}

START_TEST(loader_safe_tree_loads)
{
	struct plugin_tree t;

	/* The control for the refusals below: the same copy, modes 0755/0644. */
	plugin_tree_make(&t);
	expect_loads(t.file);
	plugin_tree_free(&t);
}
END_TEST

START_TEST(loader_world_writable_dir_refused)
{
	struct plugin_tree t;
	char want[4500];

	plugin_tree_make(&t);
	ck_assert_int_eq(chmod(t.dir, 0777), 0);
	snprintf(want, sizeof(want), "directory %s is writable by group or others", t.dir);
	expect_unsafe(t.file, want, "mode 0777");
	plugin_tree_free(&t);
}
END_TEST

START_TEST(loader_group_writable_dir_refused)
{
	struct plugin_tree t;
	char want[4500];

	plugin_tree_make(&t);
	ck_assert_int_eq(chmod(t.dir, 0775), 0);
	snprintf(want, sizeof(want), "directory %s is writable by group or others", t.dir);
	expect_unsafe(t.file, want, "mode 0775");
	plugin_tree_free(&t);
}
END_TEST

START_TEST(loader_writable_file_refused)
{
	struct plugin_tree t;
	char want[4500];

	plugin_tree_make(&t);
	ck_assert_int_eq(chmod(t.file, 0666), 0);
	snprintf(want, sizeof(want), "file %s is writable by group or others", t.file);
	expect_unsafe(t.file, want, "mode 0666");
	plugin_tree_free(&t);
}
END_TEST

START_TEST(loader_writable_ancestor_refused)
{
	struct plugin_tree t;
	char want[4500];

	/* Whoever can write the directory above can rename plugins/ away and
	 * put their own in its place; a sticky one (as /tmp) cannot. */
	plugin_tree_make(&t);
	ck_assert_int_eq(chmod(t.root, 0777), 0);
	snprintf(want, sizeof(want), "directory %s is writable by group or others", t.root);
	expect_unsafe(t.file, want, "mode 0777");
	ck_assert_int_eq(chmod(t.root, 01777), 0);
	expect_loads(t.file);
	plugin_tree_free(&t);
}
END_TEST

START_TEST(loader_symlink_judged_by_target)
{
	struct plugin_tree t, safe;
	char link[4400], want[4500];

	/* A link in a safe directory to a plugin in an unsafe one. */
	plugin_tree_make(&t);
	plugin_tree_make(&safe);
	ck_assert_int_eq(chmod(t.dir, 0777), 0);
	snprintf(link, sizeof(link), "%s/link.so", safe.dir);
	ck_assert_int_eq(symlink(t.file, link), 0);
	snprintf(want, sizeof(want), "directory %s is writable", t.dir);
	expect_unsafe(link, want, "refusing");
	plugin_tree_free(&safe);
	plugin_tree_free(&t);
}
END_TEST

START_TEST(loader_foreign_owner_refused)
{
	struct plugin_tree t;
	char want[4500];

	/* Only root can give a file away; as anyone else the ownership rule is
	 * covered by the trees above being accepted as the user's own. */
	if (geteuid() != 0)
		return;
	plugin_tree_make(&t);
	ck_assert_int_eq(chown(t.dir, 65534, (gid_t)-1), 0);
	snprintf(want, sizeof(want), "directory %s is owned by another user", t.dir);
	expect_unsafe(t.file, want, "owner uid 65534");
	ck_assert_int_eq(chown(t.dir, 0, (gid_t)-1), 0);
	ck_assert_int_eq(chown(t.file, 65534, (gid_t)-1), 0);
	snprintf(want, sizeof(want), "file %s is owned by another user", t.file);
	expect_unsafe(t.file, want, "owner uid 65534");
	plugin_tree_free(&t);
}
END_TEST

START_TEST(loader_config_path_checked)
{
	struct plugin_tree t;
	struct ima_error err;
	struct ima_engine *eng;
	char conf[8192];

	/* plugin = "/path/probe.so" in the configuration: the same rules. */
	plugin_tree_make(&t);
	snprintf(conf, sizeof(conf),
		 "pipeline = ( { name = \"p\"; plugin = \"%s\"; } );", t.file);
	eng = test_engine(conf, &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ima_engine_free(eng);
	ck_assert_int_eq(chmod(t.dir, 0777), 0);
	eng = test_engine(conf, &err);
	ck_assert_ptr_null(eng);
	ck_assert_msg(strstr(err.message, "is writable by group or others") != NULL &&
		      strstr(err.message, "refusing") != NULL, "%s", err.message);
	plugin_tree_free(&t);
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
	tcase_add_test(tc, loader_abi16_runs);
	tcase_add_test(tc, loader_missing_symbol);
	tcase_add_test(tc, loader_missing_file);
	tcase_add_test(tc, loader_find_in_path);
	tcase_add_test(tc, loader_option_table_checked);
	tcase_add_test(tc, loader_safe_tree_loads);
	tcase_add_test(tc, loader_world_writable_dir_refused);
	tcase_add_test(tc, loader_group_writable_dir_refused);
	tcase_add_test(tc, loader_writable_file_refused);
	tcase_add_test(tc, loader_writable_ancestor_refused);
	tcase_add_test(tc, loader_symlink_judged_by_target);
	tcase_add_test(tc, loader_foreign_owner_refused);
	tcase_add_test(tc, loader_config_path_checked);
	suite_add_tcase(s, tc);
	return s;
}
