# tests/valgrind.mk - make check-valgrind (docs/reliability.md, "Valgrind"),
# included by the top-level Makefile.am: the CLI and imaginator-fcgi under
# valgrind memcheck, with a real Redis and the in-tree LLM server; any
# error or byte definitely lost in any process fails. Not in make check
# (minutes, and a build without sanitizers: tests/valgrind/preflight.sh
# refuses an ASan one). Run in a build of its own, e.g.
#   mkdir build-vg && cd build-vg && ../configure CFLAGS='-O1 -g' && make check-valgrind
VALGRIND_TESTS = tests/valgrind/cli.test tests/valgrind/fcgi.test tests/valgrind/cli-production.test
EXTRA_DIST += tests/valgrind.mk $(VALGRIND_TESTS) tests/valgrind/lib-vg.sh \
	tests/valgrind/preflight.sh tests/valgrind/valgrind.supp
check-valgrind: all $(check_LTLIBRARIES) tests/e2e/fcgi-client
	@$(SHELL) $(srcdir)/tests/valgrind/preflight.sh '$(abs_top_builddir)'
	@$(MKDIR_P) tests/valgrind
	$(MAKE) $(AM_MAKEFLAGS) check-TESTS TESTS='$(VALGRIND_TESTS)' \
		TEST_SUITE_LOG=tests/valgrind/test-suite.log
.PHONY: check-valgrind
