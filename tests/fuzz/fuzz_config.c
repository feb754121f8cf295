/*
 * fuzz_config.c - the configuration loader: a file's text through
 * core/ima_config.c (@include inlining, line mapping, the NUL check) and
 * libconfig into a whole engine, with the real plugins and their option
 * tables, the fcgi group of the front, then freed. The text may include
 * the shipped parts ("request.conf", "analysis.conf", ...).
 *
 * A configuration is trusted input, so what is fuzzed is the parser and
 * the checks, not a sandbox: texts naming device or /proc files in an
 * @include are skipped (reading /dev/stdin would wait forever), as are
 * Redis URLs (the cache would try to connect).
 */
#define _GNU_SOURCE /* memmem */
#include <string.h>
#include <unistd.h>

#include "front.h"
#include "fuzz.h"
#include "ima_core.h"

static char fuzz_dir[4096];
static char fuzz_path[4200];
/* Kept for the whole run: plugins and their data stay loaded and shared,
 * so each input costs a parse and the checks, not a data load. */
static struct ima_engine *fuzz_default;

static void fuzz_cleanup(void)
{
	unlink(fuzz_path);
	rmdir(fuzz_dir);
	ima_engine_free(fuzz_default);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ima_error err = { 0 };
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	ima_fuzz_env();
	ima_log_set_level(IMA_LOG_ERROR);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/ima-fuzz-config.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("fuzz_config: mkdtemp");
		exit(1);
	}
	snprintf(fuzz_path, sizeof(fuzz_path), "%s/imaginator.conf", fuzz_dir);
	atexit(fuzz_cleanup);
	fuzz_default = ima_engine_load(NULL, &ima_fcgi_front, &err);
	if (fuzz_default == NULL) {
		fprintf(stderr, "fuzz_config: the default configuration: %s\n", err.message);
		exit(1);
	}
	return 0;
}

static bool fuzz_skip(const uint8_t *data, size_t size)
{
	static const char *const words[] = { "/dev", "/proc", "/sys", "dev/", "proc/",
					     "redis://", "redis+", "unix:", "sentinel" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (memmem(data, size, words[i], strlen(words[i])) != NULL)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ima_error err = { 0 };
	struct ima_engine *eng;
	FILE *f;

	if (size > 65536 || fuzz_skip(data, size))
		return 0;
	f = fopen(fuzz_path, "wb");
	if (f == NULL)
		return 0;
	if (fwrite(data, 1, size, f) != size) {
		fclose(f);
		return 0;
	}
	fclose(f);
	eng = ima_engine_load(fuzz_path, &ima_fcgi_front, &err);
	if (eng != NULL) {
		struct ima_buf b = { 0 };

		ima_engine_stage_count(eng);
		FUZZ_CHECK(ima_engine_fingerprint(eng) != NULL);
		ima_engine_describe_json(eng, &b, false);
		ima_buf_free(&b);
		ima_engine_free(eng);
	} else {
		FUZZ_CHECK(err.message[0] != '\0');
	}
	return 0;
}
