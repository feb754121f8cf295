# tests/tsan.mk - imaginator-fcgi under ThreadSanitizer (docs/reliability.md,
# "ThreadSanitizer"), included by the top-level Makefile.am. The test skips
# in any build but one configured with --enable-tsan.
TESTS += tests/e2e/tsan.test
EXTRA_DIST += tests/tsan.mk tests/e2e/tsan.test tests/tsan/load.lua

# In a --enable-tsan build: the worker under load, and the unit tests that
# start threads (the cache's coalescing and call cache, the log's one write
# per line, the shared data, the LLM provider and guard), every report
# fatal to its test (TSan exits 66). Check's timeouts are stretched for the
# instrumented code; the reports land in tests/tsan-unit/tsan.<pid>.
TSAN_UNIT_TESTS = tests/check_cache tests/check_log tests/check_core \
	tests/check_openrouter tests/check_llm_guard
check-tsan:
	@grep -q '^#define IMA_TSAN 1' config.h || \
		{ echo "check-tsan: not a ThreadSanitizer build (configure --enable-tsan)"; exit 1; }
	rm -rf tests/tsan-unit && $(MKDIR_P) tests/tsan-unit
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="tests/e2e/tsan.test $(TSAN_UNIT_TESTS)" \
		CK_TIMEOUT_MULTIPLIER=10 \
		TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 log_path=$(abs_builddir)/tests/tsan-unit/tsan"
	@if grep -l 'WARNING: ThreadSanitizer' tests/tsan-unit/* 2>/dev/null; then \
		echo "check-tsan: ThreadSanitizer reports in the files above"; exit 1; fi
.PHONY: check-tsan
clean-local: clean-tsan
clean-tsan:
	rm -rf tests/e2e/tsan-reports tests/tsan-unit
.PHONY: clean-tsan

# A stage with a data race on purpose: the test's proof that it sees one.
check_LTLIBRARIES += tests/plugins/racy.la
tests_plugins_racy_la_SOURCES = tests/plugins/racy.c
tests_plugins_racy_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_racy_la_LIBADD = core/libimaginator.la $(MSGPACK_LIBS)
