/* check_config.c - includes, ${VAR} expansion, errors with file and line. */
#include <unistd.h>

#include "ima_test.h"

static void expect_load_error(const char *conf, const char *needle)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine(conf, &err);

	ck_assert_ptr_null(eng);
	ck_assert_msg(strstr(err.message, needle) != NULL,
		      "'%s' not in '%s'", needle, err.message);
}

START_TEST(config_include_and_env)
{
	struct ima_error err;
	struct ima_engine *eng;
	struct ima_buf b = { 0 };

	test_write_file("stages.inc",
			"{ name = \"one\"; plugin = \"probe\"; options = { secret = \"${IMA_TEST_SECRET}\"; action = \"${IMA_TEST_UNSET:-continue}\"; }; }");
	setenv("IMA_TEST_SECRET", "hunter2", 1);
	unsetenv("IMA_TEST_UNSET");
	eng = test_engine("pipeline = (\n@include \"stages.inc\"\n);\n", &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq((int)ima_engine_stage_count(eng), 1);
	ck_assert_str_eq(ima_conf_string(ima_engine_stage_conf(eng, 0), "secret"), "hunter2");
	ck_assert_str_eq(ima_conf_string(ima_engine_stage_conf(eng, 0), "action"), "continue");
	/* The pipeline description never shows secrets. */
	ima_engine_describe_json(eng, &b, -1);
	ck_assert_ptr_null(strstr(b.data, "hunter2"));
	ck_assert_ptr_nonnull(strstr(b.data, "(redacted)"));
	ima_buf_free(&b);
	ima_engine_free(eng);
}
END_TEST

START_TEST(config_missing_env_names_line)
{
	unsetenv("IMA_TEST_NOPE");
	expect_load_error("pipeline = (\n{ name = \"a\"; plugin = \"probe\";\n"
			  "  options = { secret = \"${IMA_TEST_NOPE}\"; }; }\n);",
			  "test.conf:3: stage 'a' (plugin probe): option 'secret': environment variable IMA_TEST_NOPE is not set");
}
END_TEST

START_TEST(config_syntax_error_line)
{
	expect_load_error("pipeline = (\n\n{ name = ; plugin = \"probe\"; }\n);", "test.conf:3:");
	/* An error at the end of the text is past the end of the file that
	 * includes the rest, even when an include's lines came last. */
	test_write_file("open.inc", "{ plugin = \"probe\"; }\n\n\n");
	expect_load_error("pipeline = (\n@include \"open.inc\"", "test.conf:3: syntax error");
}
END_TEST

START_TEST(config_unknown_option)
{
	expect_load_error("pipeline = (\n{ name = \"a\"; plugin = \"probe\";\n"
			  "  options = {\n    colour = \"red\"; }; }\n);",
			  "test.conf:4: stage 'a' (plugin probe): unknown option 'colour' (known: action, fail_init, count, ratio, secret, data)");
}
END_TEST

START_TEST(config_wrong_option_type)
{
	expect_load_error("pipeline = ({ name = \"a\"; plugin = \"probe\"; options = { count = \"many\"; }; });",
			  "option 'count' must be an integer");
}
END_TEST

START_TEST(config_unknown_plugin)
{
	expect_load_error("pipeline = (\n{ name = \"a\"; plugin = \"nothere\"; }\n);",
			  "test.conf:2: plugin nothere: nothere.so not found in the plugin path");
}
END_TEST

START_TEST(config_init_failure)
{
	expect_load_error("pipeline = (\n{ name = \"moon\"; plugin = \"initfail\"; }\n);",
			  "test.conf:2: stage 'moon' (plugin initfail): init failed: cannot reach the moon");
}
END_TEST

START_TEST(config_bad_abi_in_pipeline)
{
	expect_load_error("pipeline = (\n{ name = \"x\"; plugin = \"badabi\"; }\n);",
			  "test.conf:2: plugin badabi wants ABI");
}
END_TEST

START_TEST(config_duplicate_stage_and_unknown_top)
{
	expect_load_error("pipeline = ({ name = \"a\"; plugin = \"probe\"; },\n{ name = \"a\"; plugin = \"probe\"; });",
			  "stage name 'a' is used twice");
	expect_load_error("pipelines = ();", "unknown setting 'pipelines'");
	expect_load_error("imaginator = { max_depth = 99; }; pipeline = ();", "imaginator.max_depth");
}
END_TEST

START_TEST(config_same_plugin_twice)
{
	struct ima_error err;
	struct ima_engine *eng = test_engine(
		"pipeline = ({ name = \"first\"; plugin = \"probe\"; options = { count = 1; }; },"
		"{ name = \"second\"; plugin = \"probe\"; options = { count = 2; ratio = 2; }; });", &err);

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq((int)ima_conf_int(ima_engine_stage_conf(eng, 0), "count"), 1);
	ck_assert_int_eq((int)ima_conf_int(ima_engine_stage_conf(eng, 1), "count"), 2);
	ck_assert_double_eq(ima_conf_double(ima_engine_stage_conf(eng, 1), "ratio"), 2.0);
	ck_assert_double_eq(ima_conf_double(ima_engine_stage_conf(eng, 0), "ratio"), 0.5);
	ima_engine_free(eng);
}
END_TEST

START_TEST(config_resolve_env_name)
{
	struct ima_error err;
	int failed;
	char *p;

	setenv("IMAGINATOR_ENV", "production", 1);
	setenv("IMAGINATOR_CONF_DIR", "/etc/x", 1);
	p = ima_config_resolve(NULL, &err, &failed);
	ck_assert_str_eq(p, "/etc/x/production.conf");
	ima_free(p);
	p = ima_config_resolve("/explicit.conf", &err, &failed);
	ck_assert_str_eq(p, "/explicit.conf");
	ima_free(p);
	setenv("IMAGINATOR_ENV", "../etc/passwd", 1);
	p = ima_config_resolve(NULL, &err, &failed);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(failed, 1);
	unsetenv("IMAGINATOR_ENV");
	ck_assert_ptr_null(ima_config_resolve(NULL, &err, &failed));
	ck_assert_int_eq(failed, 0);
}
END_TEST

START_TEST(config_embedded_default_and_shipped)
{
	struct ima_error err;
	struct ima_engine *eng = ima_engine_load(NULL, NULL, &err);
	const char *src = getenv("top_srcdir");
	char path[4096];

	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_gt((int)ima_engine_stage_count(eng), 0);
	ck_assert_str_eq(ima_engine_source(eng), "embedded:default.conf");
	ima_engine_free(eng);
	if (src == NULL)
		return;
	snprintf(path, sizeof(path), "%s/conf/production.conf", src);
	setenv("IMAGINATOR_REDIS_URL", "redis://127.0.0.1:1/0", 1);
	eng = ima_engine_load(path, NULL, &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ima_engine_free(eng);
}
END_TEST

START_TEST(config_defaults_expand)
{
	struct ima_error err;
	struct ima_engine *eng;

	/* An option's default may name the environment, as file values do. */
	setenv("IMAGINATOR_LLM_BASE_URL", "http://127.0.0.1:9/v1", 1);
	eng = test_engine("pipeline = ({ name = \"p\"; plugin = \"llm_openrouter\"; });", &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_str_eq(ima_conf_string(ima_engine_stage_conf(eng, 0), "base_url"),
			 "http://127.0.0.1:9/v1");
	ima_engine_free(eng);
	unsetenv("IMAGINATOR_LLM_BASE_URL");
	eng = test_engine("pipeline = ({ name = \"p\"; plugin = \"llm_openrouter\"; });", &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_str_eq(ima_conf_string(ima_engine_stage_conf(eng, 0), "base_url"),
			 "https://openrouter.ai/api/v1");
	ima_engine_free(eng);
}
END_TEST

START_TEST(config_front_group)
{
	struct ima_error err;
	struct ima_engine *eng;
	const struct ima_conf *fc;

	setenv("IMA_TEST_SOCK", "/run/ima.sock", 1);
	eng = test_engine("fcgi = {\n  workers = 3;\n  listen = \"unix:${IMA_TEST_SOCK}\";\n};\n"
			  "pipeline = ({ name = \"a\"; plugin = \"probe\"; });", &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	fc = ima_engine_front_conf(eng);
	ck_assert_ptr_nonnull(fc);
	ck_assert_int_eq((int)ima_conf_int(fc, "workers"), 3);
	ck_assert_int_eq(ima_conf_is_set(fc, "workers"), 1);
	ck_assert_int_eq(ima_conf_is_set(fc, "threads"), 0);
	ck_assert_int_eq((int)ima_conf_int(fc, "threads"), 4);
	ck_assert_str_eq(ima_conf_string(fc, "socket_mode"), "0660");
	ck_assert_str_eq(ima_conf_string(fc, "listen"), "unix:/run/ima.sock");
	ima_engine_free(eng);
	/* What imaginator-fcgi refuses, every program refuses: the same table. */
	expect_load_error("fcgi = {\n worker = 2; };\npipeline = ();",
			  "test.conf:2: fcgi: unknown option 'worker' (known: listen, workers,");
	expect_load_error("fcgi = { workers = 1.5; };\npipeline = ();",
			  "fcgi: option 'workers' must be an integer");
	expect_load_error("fcgi = { workers = 0; };\npipeline = ();",
			  "fcgi.workers = 0: must be 1 to 256");
	/* A value out of range is cited at its own line, not the group's. */
	expect_load_error("fcgi = {\n  listen = \"9000\";\n  threads = 5000;\n};\npipeline = ();",
			  "test.conf:3: fcgi.threads = 5000: must be 1 to 1024");
	expect_load_error("fcgi = {\n\n  listen = \"127.0.0.1:0\";\n};\npipeline = ();",
			  "test.conf:3: listen 127.0.0.1:0: the port must be");
	expect_load_error("fcgi = { listen = \"127.0.0.1:99999\"; };\npipeline = ();",
			  "listen 127.0.0.1:99999: the port must be a number 1-65535");
	expect_load_error("fcgi = { listen = \"127.0.0.1:\"; };\npipeline = ();",
			  "the port must be a number 1-65535");
	expect_load_error("fcgi = 3;\npipeline = ();", "'fcgi' must be a group");
	/* A setting that is missing has no line: the file alone is cited. */
	expect_load_error("fcgi = { };\n", "test.conf: 'pipeline' must be a list of stages");
	/* libconfig reads 0660 as decimal: the mode is an octal string. */
	expect_load_error("fcgi = { socket_mode = 0660; };\npipeline = ();",
			  "fcgi: option 'socket_mode' must be a string");
	expect_load_error("fcgi = { socket_mode = \"0860\"; };\npipeline = ();",
			  "must be an octal mode");
	eng = test_engine("fcgi = { socket_mode = \"0600\"; };\npipeline = ();", &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ima_engine_free(eng);
	/* Without a front, its group is just unknown. */
	ck_assert_ptr_null(ima_engine_load(test_write_file("f.conf", "fcgi = { };\npipeline = ();"),
					   NULL, &err));
	ck_assert_ptr_nonnull(strstr(err.message, "unknown setting 'fcgi' (known: imaginator, pipeline)"));
}
END_TEST

START_TEST(config_unterminated_variable)
{
	expect_load_error("imaginator = {\n plugin_dir = \"${UNSET_VAR\"; };\npipeline = ();",
			  "test.conf:2: imaginator.plugin_dir: '${UNSET_VAR' has no closing '}'");
	expect_load_error("pipeline = ({ name = \"a\"; plugin = \"probe\";\n options = { secret = \"x${}\"; }; });",
			  "test.conf:2: stage 'a' (plugin probe): option 'secret': '${}' names no variable");
	/* A reference in a default is not expanded: the value would be the
	 * text "${B}" without a word. */
	unsetenv("IMA_TEST_UNSET");
	expect_load_error("pipeline = ({ name = \"a\"; plugin = \"probe\";\n options = { secret = \"${IMA_TEST_UNSET:-${B}}\"; }; });",
			  "test.conf:2: stage 'a' (plugin probe): option 'secret': '${IMA_TEST_UNSET:-${B}}': a default cannot hold another ${...}");
	/* Edge cases that hold: an empty default, a lone '$' or '}'. */
	{
		struct ima_error err;
		struct ima_engine *eng = test_engine(
			"pipeline = ({ name = \"a\"; plugin = \"probe\";\n options = { secret = \"$}${IMA_TEST_UNSET:-}$\"; }; });",
			&err);

		ck_assert_msg(eng != NULL, "%s", err.message);
		ck_assert_str_eq(ima_conf_string(ima_engine_stage_conf(eng, 0), "secret"), "$}$");
		ima_engine_free(eng);
	}
}
END_TEST

START_TEST(config_include_paths_and_lines)
{
	struct ima_error err;
	struct ima_engine *eng;
	char conf[8192], inc[4200];

	/* An absolute @include works, and its errors cite it. */
	snprintf(inc, sizeof(inc), "%s",
		 test_write_file("abs.inc", "{ name = \"one\"; plugin = \"probe\"; }"));
	snprintf(conf, sizeof(conf), "pipeline = (\n@include \"%s\"\n);\n", inc);
	eng = test_engine(conf, &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ima_engine_free(eng);
	test_write_file("bad.inc", "# a comment\n{ name = \"one\";\n  plugin = \"probe\"; options = { colour = 1; }; }");
	expect_load_error("pipeline = (\n@include \"bad.inc\"\n);\n", "bad.inc:3: stage 'one' (plugin probe): unknown option 'colour'");
	/* A missing file is named, with the line that wants it. */
	expect_load_error("# first\npipeline = (\n  @include \"/nonexistent/x.conf\"\n);\n",
			  "test.conf:3: @include \"/nonexistent/x.conf\": cannot read /nonexistent/x.conf: No such file or directory");
	/* An include of itself stops. */
	test_write_file("loop.inc", "@include \"loop.inc\"\n");
	expect_load_error("pipeline = (\n@include \"loop.inc\"\n);", "includes nested deeper than");
	/* Lines after an include are the file's own lines. */
	test_write_file("two.inc", "{ name = \"a\"; plugin = \"probe\"; },\n{ name = \"b\"; plugin = \"probe\"; }");
	expect_load_error("pipeline = (\n@include \"two.inc\"\n,\n{ name = \"c\";\n plugin = \"nothere\"; }\n);",
			  "test.conf:4: plugin nothere");
}
END_TEST

START_TEST(config_embedded_errors_cite_real_files)
{
	struct ima_error err;
	const char *old = getenv("IMAGINATOR_PLUGIN_DIR");
	char *keep = old ? strdup(old) : NULL;
	struct ima_engine *eng;

	/* No plugins: the first stage of the embedded default fails, and the
	 * message cites request.conf, a file the user has, at its own line. */
	setenv("IMAGINATOR_PLUGIN_DIR", "/nonexistent", 1);
	eng = ima_engine_load(NULL, NULL, &err);
	if (keep != NULL) {
		setenv("IMAGINATOR_PLUGIN_DIR", keep, 1);
		free(keep);
	}
	ck_assert_ptr_null(eng);
	ck_assert_msg(strstr(err.message, "embedded:request.conf:5: plugin request") != NULL,
		      "%s", err.message);
}
END_TEST

START_TEST(config_long_stage_name_fingerprint)
{
	struct ima_error err;
	struct ima_engine *a, *b;
	char conf[4096], name[701];
	char fa[65];

	/* Longer than any fixed buffer the fingerprint could use (ASan). */
	memset(name, 'x', 700);
	name[700] = '\0';
	snprintf(conf, sizeof(conf), "pipeline = ({ name = \"%s\"; plugin = \"probe\"; });", name);
	a = test_engine(conf, &err);
	ck_assert_msg(a != NULL, "%s", err.message);
	snprintf(fa, sizeof(fa), "%s", ima_engine_fingerprint(a));
	ima_engine_free(a);
	name[699] = 'y'; /* past where a 512-byte buffer would cut */
	snprintf(conf, sizeof(conf), "pipeline = ({ name = \"%s\"; plugin = \"probe\"; });", name);
	b = test_engine(conf, &err);
	ck_assert_msg(b != NULL, "%s", err.message);
	ck_assert_str_ne(ima_engine_fingerprint(b), fa);
	ima_engine_free(b);
}
END_TEST

START_TEST(config_fingerprint_tracks_pipeline)
{
	struct ima_error err;
	struct ima_engine *a, *b, *c, *d;
	char fa[65];

	a = test_engine("pipeline = ({ name = \"a\"; plugin = \"probe\"; options = { count = 1; secret = \"x\"; }; });", &err);
	ck_assert_msg(a != NULL, "%s", err.message);
	snprintf(fa, sizeof(fa), "%s", ima_engine_fingerprint(a));
	ck_assert_int_eq((int)strlen(fa), 64);
	ck_assert_str_eq(ima_conf_pipeline_fingerprint(ima_engine_stage_conf(a, 0)), fa);
	ima_engine_free(a);
	/* Same pipeline, other secret: same answers, same fingerprint. */
	b = test_engine("pipeline = ({ name = \"a\"; plugin = \"probe\"; options = { count = 1; secret = \"y\"; }; });", &err);
	ck_assert_str_eq(ima_engine_fingerprint(b), fa);
	ima_engine_free(b);
	c = test_engine("pipeline = ({ name = \"a\"; plugin = \"probe\"; options = { count = 2; }; });", &err);
	ck_assert_str_ne(ima_engine_fingerprint(c), fa);
	ima_engine_free(c);
	d = test_engine("pipeline = ({ name = \"b\"; plugin = \"probe\"; options = { count = 1; }; });", &err);
	ck_assert_str_ne(ima_engine_fingerprint(d), fa);
	ima_engine_free(d);
}
END_TEST

/* A data file an option names is part of the fingerprint by its content:
 * new data never meets answers cached from the old, and the same data on
 * another host (another inode, another time) gives the same fingerprint. */
START_TEST(config_fingerprint_tracks_data_files)
{
	const char *p1 = test_write_file("fpdata1.tsv", "skill\tcategory\nawk\tlanguage\n");
	char conf[8192], fa[65];
	struct ima_error err;
	struct ima_engine *eng;

	snprintf(conf, sizeof(conf),
		 "pipeline = ({ name = \"a\"; plugin = \"probe\"; options = { data = \"%s\"; }; });", p1);
	eng = test_engine(conf, &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	snprintf(fa, sizeof(fa), "%s", ima_engine_fingerprint(eng));
	ima_engine_free(eng);
	/* Written again with the same bytes (a later time): the same. */
	test_write_file("fpdata1.tsv", "skill\tcategory\nawk\tlanguage\n");
	eng = test_engine(conf, &err);
	ck_assert_str_eq(ima_engine_fingerprint(eng), fa);
	ima_engine_free(eng);
	/* Rewritten: another fingerprint, though the option is the same. */
	test_write_file("fpdata1.tsv", "skill\tcategory\nsed\tlanguage\n");
	eng = test_engine(conf, &err);
	ck_assert_str_ne(ima_engine_fingerprint(eng), fa);
	ima_engine_free(eng);
	/* A string that names no file adds nothing but itself. */
	eng = test_engine("pipeline = ({ name = \"a\"; plugin = \"probe\"; options = { data = \"no-such.tsv\"; }; });", &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ima_engine_free(eng);
}
END_TEST

/* A NUL byte ends the text libconfig sees: what follows it would be
 * dropped without a word, unknown settings and all. */
START_TEST(config_nul_byte_refused)
{
	static const char text[] = "pipeline = ({ plugin = \"probe\"; });\n# x\0\nbogus = 1;\n";
	const char *path = test_write_file("nul.conf", "");
	struct ima_error err;
	struct ima_engine *eng;
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	fclose(f);
	eng = ima_engine_load(path, NULL, &err);
	ck_assert_ptr_null(eng);
	ck_assert_msg(strstr(err.message, "nul.conf:2: a NUL byte") != NULL, "%s", err.message);
	/* The same in an included file cites that file. */
	expect_load_error("pipeline = ({ plugin = \"probe\"; });\n\n@include \"nul.conf\"\n",
			  "nul.conf:2: a NUL byte");
}
END_TEST

/* libconfig ignores an @include inside a block comment; so does the
 * inlining, which must not read (or fail to read) the file it names. */
START_TEST(config_include_in_block_comment_ignored)
{
	struct ima_error err;
	struct ima_engine *eng;

	test_write_file("commented.inc", "bogus = 1;\n");
	eng = test_engine("/* off for now:\n@include \"/nonexistent/x.conf\"\n@include \"commented.inc\"\n*/\n"
			  "pipeline = ({ plugin = \"probe\"; }); /* one\n@include \"commented.inc\" */\n"
			  "# a line comment /* opens nothing\n// nor here /*\n"
			  "imaginator = { plugin_dir = \"/*\"; };\n@include \"commented.inc\"\n",
			  &err);
	/* Only the last include is live: its unknown setting is reported. */
	ck_assert_ptr_null(eng);
	ck_assert_msg(strstr(err.message, "commented.inc:1: unknown setting 'bogus'") != NULL,
		      "%s", err.message);
}
END_TEST

/* A few small files that include each other many times would inline to
 * gigabytes (100 includes of 100 includes of ...): the whole text and the
 * number of includes are bounded. */
START_TEST(config_include_fan_out_bounded)
{
	struct ima_buf b = { 0 };

	test_write_file("leaf.inc", "# a leaf\n");
	for (int i = 0; i < 100; i++)
		IMA_BUF_LIT(&b, "@include \"leaf.inc\"\n");
	ck_assert(!b.failed);
	test_write_file("fan1.inc", b.data);
	ima_buf_free(&b);
	for (int i = 0; i < 100; i++)
		IMA_BUF_LIT(&b, "@include \"fan1.inc\"\n");
	ck_assert(!b.failed);
	test_write_file("fan2.inc", b.data);
	ima_buf_free(&b);
	for (int i = 0; i < 100; i++)
		IMA_BUF_LIT(&b, "@include \"fan2.inc\"\n");
	ck_assert(!b.failed);
	test_write_file("fan3.inc", b.data);
	ima_buf_free(&b);
	expect_load_error("pipeline = ({ plugin = \"probe\"; });\n@include \"fan3.inc\"\n",
			  "fan1.inc:52: @include \"leaf.inc\": more than 256 includes");
	/* Eight includes of a file of 600 kB make more than 4 MiB. */
	for (int i = 0; i < 600000 / 50; i++)
		IMA_BUF_LIT(&b, "# forty-nine bytes of comment, ten thousand times\n");
	ck_assert(!b.failed);
	test_write_file("big.inc", b.data);
	ima_buf_free(&b);
	expect_load_error("pipeline = ({ plugin = \"probe\"; });\n@include \"big.inc\"\n@include \"big.inc\"\n"
			  "@include \"big.inc\"\n@include \"big.inc\"\n@include \"big.inc\"\n@include \"big.inc\"\n"
			  "@include \"big.inc\"\n@include \"big.inc\"\n",
			  "test.conf:8: @include \"big.inc\": the configuration with its includes passes 4 MiB");
}
END_TEST

/* libconfig goes on after an @include's name on the same line: what
 * follows it is configuration, not a comment to drop. */
START_TEST(config_text_after_include_kept)
{
	struct ima_error err;
	struct ima_engine *eng;

	test_write_file("first.inc", "{ name = \"a\"; plugin = \"probe\"; }\n");
	eng = test_engine("pipeline = (\n  @include \"first.inc\", { name = \"b\"; plugin = \"probe\"; } # two\n);\n",
			  &err);
	ck_assert_msg(eng != NULL, "%s", err.message);
	ck_assert_int_eq((int)ima_engine_stage_count(eng), 2);
	ck_assert_str_eq(ima_engine_stage_name(eng, 1), "b");
	ima_engine_free(eng);
	/* Its errors cite the include's line. */
	expect_load_error("pipeline = (\n  @include \"first.inc\", { name = \"b\";\n plugin = \"nothere\"; }\n);\n",
			  "test.conf:2: plugin nothere");
	/* libconfig would read a second @include on the line itself, relative
	 * to the working directory: refused. */
	expect_load_error("pipeline = (\n  @include \"first.inc\" @include \"first.inc\"\n);\n",
			  "test.conf:2: @include \"first.inc\": one @include per line");
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	/* Loading every shipped pipeline (data files, plugins) under the
	 * sanitizers on a loaded machine takes seconds. */
	tcase_set_timeout(tc, 60);

	tcase_add_test(tc, config_include_and_env);
	tcase_add_test(tc, config_missing_env_names_line);
	tcase_add_test(tc, config_syntax_error_line);
	tcase_add_test(tc, config_unknown_option);
	tcase_add_test(tc, config_wrong_option_type);
	tcase_add_test(tc, config_unknown_plugin);
	tcase_add_test(tc, config_init_failure);
	tcase_add_test(tc, config_bad_abi_in_pipeline);
	tcase_add_test(tc, config_duplicate_stage_and_unknown_top);
	tcase_add_test(tc, config_same_plugin_twice);
	tcase_add_test(tc, config_resolve_env_name);
	tcase_add_test(tc, config_embedded_default_and_shipped);
	tcase_add_test(tc, config_front_group);
	tcase_add_test(tc, config_defaults_expand);
	tcase_add_test(tc, config_unterminated_variable);
	tcase_add_test(tc, config_include_paths_and_lines);
	tcase_add_test(tc, config_embedded_errors_cite_real_files);
	tcase_add_test(tc, config_long_stage_name_fingerprint);
	tcase_add_test(tc, config_fingerprint_tracks_pipeline);
	tcase_add_test(tc, config_fingerprint_tracks_data_files);
	tcase_add_test(tc, config_nul_byte_refused);
	tcase_add_test(tc, config_include_in_block_comment_ignored);
	tcase_add_test(tc, config_include_fan_out_bounded);
	tcase_add_test(tc, config_text_after_include_kept);
	suite_add_tcase(s, tc);
	return s;
}
