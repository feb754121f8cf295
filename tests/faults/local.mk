# ---- Faults: Redis Sentinel in the cache, and the fault scripts under load ----
# Included from Makefile.am after fcgi/local.mk.

# The cache following a Sentinel failover (about 10 s: in make check).
TESTS += tests/e2e/cache-sentinel.test
EXTRA_DIST += tests/e2e/cache-sentinel.test tests/faults/local.mk

# A stage that dies with SIGSEGV on demand (bench/faults/run.sh), and the
# answer a crashing worker still gives (fcgi/crash.c).
TESTS += tests/e2e/fcgi-crash.test
EXTRA_DIST += tests/e2e/fcgi-crash.test
check_LTLIBRARIES += tests/plugins/crash.la
tests_plugins_crash_la_SOURCES = tests/plugins/crash.c
tests_plugins_crash_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_crash_la_LIBADD = core/libimaginator.la $(MSGPACK_LIBS)

# The faults under load: nginx, three hosts, Redis under Sentinel, the test
# LLM server (several minutes; not in make check). Results in
# $(builddir)/faults/ (table.md, one log per fault).
EXTRA_DIST += bench/faults/run.sh bench/faults/mixed.lua docs/reliability.md
check-faults: all $(check_LTLIBRARIES) tests/e2e/fcgi-client
	$(SHELL) $(srcdir)/bench/faults/run.sh $(abs_builddir)
.PHONY: check-faults
