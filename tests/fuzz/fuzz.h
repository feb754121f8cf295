/*
 * fuzz.h - what every harness under tests/fuzz/ shares: the libFuzzer
 * entry points (the plain driver in driver.c calls the same ones, so each
 * corpus input is a regression test without clang) and where the tree's
 * data and plugins are.
 */
#ifndef IMA_FUZZ_H
#define IMA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property every input must keep: abort (a crash the fuzzer reports)
 * when it does not. Not assert(): it stays with NDEBUG. */
#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                               \
			abort();                                                \
		}                                                               \
	} while (0)

/* The source tree's data/ and the build tree's plugins, set by
 * tests/fuzz/local.mk; the environment of `make check` wins. */
#ifndef IMA_FUZZ_DATA_DIR
#define IMA_FUZZ_DATA_DIR "data"
/* The data and plugin directories the core looks in, for harnesses that
 * run the core's loaders: the tree's unless the environment names others. */
static inline void ima_fuzz_env(void)
{
	setenv("IMAGINATOR_DATA_DIR", IMA_FUZZ_DATA_DIR, 0);
	setenv("IMAGINATOR_PLUGIN_DIR", IMA_FUZZ_PLUGIN_DIR, 0);
}

#endif
#ifndef IMA_FUZZ_PLUGIN_DIR
#define IMA_FUZZ_PLUGIN_DIR "plugins/.libs"
/* The data and plugin directories the core looks in, for harnesses that
 * run the core's loaders: the tree's unless the environment names others. */
static inline void ima_fuzz_env(void)
{
	setenv("IMAGINATOR_DATA_DIR", IMA_FUZZ_DATA_DIR, 0);
	setenv("IMAGINATOR_PLUGIN_DIR", IMA_FUZZ_PLUGIN_DIR, 0);
}

#endif

/* A file under the data directory: $IMAGINATOR_DATA_DIR/name, else the
 * tree's. In buf; returns buf. */
static inline const char *ima_fuzz_data_path(char *buf, size_t size, const char *name)
{
	const char *dir = getenv("IMAGINATOR_DATA_DIR");

	snprintf(buf, size, "%s/%s", dir && dir[0] ? dir : IMA_FUZZ_DATA_DIR, name);
	return buf;
}

/* The data and plugin directories the core looks in, for harnesses that
 * run the core's loaders: the tree's unless the environment names others. */
static inline void ima_fuzz_env(void)
{
	setenv("IMAGINATOR_DATA_DIR", IMA_FUZZ_DATA_DIR, 0);
	setenv("IMAGINATOR_PLUGIN_DIR", IMA_FUZZ_PLUGIN_DIR, 0);
}

#endif
