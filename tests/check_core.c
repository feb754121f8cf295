/* check_core.c - runs every Check suite of the core. */
#include <unistd.h>

#include "ima_test.h"

const char *test_plugin_dir(void)
{
	const char *d = getenv("IMA_TEST_PLUGIN_DIR");

	return d ? d : "tests/plugins/.libs";
}

const char *test_write_file(const char *name, const char *text)
{
	static char paths[8][4200];
	static int slot;
	static char dir[4096];
	char *p = paths[slot++ % 8];
	FILE *f;

	if (dir[0] == '\0') {
		const char *t = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/ima-test-XXXXXX", t ? t : "/tmp");
		ck_assert_ptr_nonnull(mkdtemp(dir));
	}
	snprintf(p, sizeof(paths[0]), "%s/%.80s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return p;
}

struct ima_engine *test_engine(const char *conf_text, struct ima_error *err)
{
	return ima_engine_load(test_write_file("test.conf", conf_text), &ima_fcgi_front, err);
}

int test_run_json(struct ima_engine *eng, const char *json, struct ima_req **out)
{
	struct ima_req *req = ima_req_new();

	ck_assert_ptr_nonnull(req);
	*out = req;
	return ima_engine_handle(eng, req, json, strlen(json), IMA_FMT_JSON);
}

int main(void)
{
	SRunner *sr;
	const char *plugins = getenv("IMAGINATOR_PLUGIN_DIR");
	char path[8192];
	int failed;

	/* Both the real plugins and the test plugins are found by name. */
	snprintf(path, sizeof(path), "%s:%s", plugins ? plugins : "plugins/.libs",
		 test_plugin_dir());
	setenv("IMAGINATOR_PLUGIN_DIR", path, 1);
	sr = srunner_create(ctx_suite());

	srunner_add_suite(sr, codec_suite());
	srunner_add_suite(sr, loader_suite());
	srunner_add_suite(sr, pipeline_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, request_suite());
	srunner_add_suite(sr, analysis_suite());
	srunner_add_suite(sr, metrics_suite());
	srunner_add_suite(sr, data_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
