# fcgi/local.mk - the FastCGI front end, its tests and examples (included
# by the top-level Makefile.am).

# A daemon, in sbin to match its section-8 page.
sbin_PROGRAMS = imaginator-fcgi
imaginator_fcgi_SOURCES = fcgi/imaginator-fcgi.c fcgi/worker.c \
	fcgi/receive.c fcgi/stream.c fcgi/routes.c fcgi/worker_private.h \
	fcgi/metrics.c fcgi/fcgi.h fcgi/options.c fcgi/front.h fcgi/crash.c
imaginator_fcgi_CFLAGS = $(AM_CFLAGS) $(FCGI_CFLAGS) $(JANSSON_CFLAGS) -pthread
imaginator_fcgi_LDADD = core/libimaginator.la $(FCGI_LIBS) $(JANSSON_LIBS) \
	$(MSGPACK_LIBS) -lpthread

man_MANS += man/imaginator-fcgi.8
EXTRA_DIST += man/imaginator-fcgi.8.in

# systemd units and the service's user, with the configured paths: both
# services come from one template (fcgi/systemd/imaginator-fcgi.service.in).
systemdsystemunit_DATA = fcgi/systemd/imaginator-fcgi.service \
	fcgi/systemd/imaginator-fcgi-standalone.service
dist_systemdsystemunit_DATA = fcgi/systemd/imaginator-fcgi.socket
sysusers_DATA = fcgi/systemd/imaginator.conf
IMA_PATH_SED = sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@pkglibdir[@]|$(pkglibdir)|g' -e 's|@pkgdatadir[@]|$(pkgdatadir)|g' \
	-e 's|@systemdsystemunitdir[@]|$(systemdsystemunitdir)|g'
fcgi/systemd/imaginator-fcgi.service: $(srcdir)/fcgi/systemd/imaginator-fcgi.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) fcgi/systemd && $(IMA_PATH_SED) -e '/^@LISTEN@/d' -e 's/^@SOCKET@//' \
		$(srcdir)/fcgi/systemd/imaginator-fcgi.service.in > $@.tmp && mv $@.tmp $@
fcgi/systemd/imaginator-fcgi-standalone.service: $(srcdir)/fcgi/systemd/imaginator-fcgi.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) fcgi/systemd && $(IMA_PATH_SED) -e '/^@SOCKET@/d' -e 's/^@LISTEN@//' \
		$(srcdir)/fcgi/systemd/imaginator-fcgi.service.in > $@.tmp && mv $@.tmp $@
fcgi/systemd/imaginator.conf: $(srcdir)/fcgi/systemd/imaginator.sysusers
	$(AM_V_GEN)$(MKDIR_P) fcgi/systemd && cp $(srcdir)/fcgi/systemd/imaginator.sysusers $@
man/imaginator-fcgi.8: $(srcdir)/man/imaginator-fcgi.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(IMA_PATH_SED) $(srcdir)/man/imaginator-fcgi.8.in > $@.tmp && mv $@.tmp $@
CLEANFILES += $(systemdsystemunit_DATA) $(sysusers_DATA) man/imaginator-fcgi.8
EXTRA_DIST += fcgi/systemd/imaginator-fcgi.service.in fcgi/systemd/imaginator.sysusers
TESTS += tests/systemd-units.test
EXTRA_DIST += tests/systemd-units.test

# ---- end-to-end tests ---------------------------------------------------
# Real lighttpd, nginx and Apache started on loopback by the tests.
TESTS += tests/e2e/fcgi-direct.test tests/e2e/fcgi-hostile.test tests/e2e/lighttpd.test \
	tests/e2e/nginx.test tests/e2e/apache.test tests/e2e/cache.test \
	tests/e2e/metrics.test tests/e2e/llm-tls.test tests/e2e/llm-cache.test tests/e2e/llm-gap.test \
	tests/e2e/llm-guard.test tests/e2e/mock-llm.test tests/e2e/llm-nginx.test \
	tests/e2e/mock-llm-stages.test
# Scopes and the admin routes: auth stages, python3-jwt tokens, Redis.
TESTS += tests/e2e/auth-scopes.test
EXTRA_DIST += tests/e2e/auth-scopes.test
# /health/live and /health/ready, with a stage whose dependency a test
# takes down and up (tests/plugins/healthsim.c).
TESTS += tests/e2e/health.test
EXTRA_DIST += tests/e2e/health.test
check_LTLIBRARIES += tests/plugins/healthsim.la
# docs/openapi.yaml, the contract of the routes, against real answers
# (python3-jsonschema, python3-yaml).
TESTS += tests/e2e/openapi.test
EXTRA_DIST += tests/e2e/openapi.test tests/openapi-check.py docs/openapi.md
dist_doc_DATA += docs/openapi.yaml
tests_plugins_healthsim_la_SOURCES = tests/plugins/healthsim.c
tests_plugins_healthsim_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_healthsim_la_LIBADD = core/libimaginator.la $(MSGPACK_LIBS)
check_PROGRAMS += tests/e2e/fcgi-client
tests_e2e_fcgi_client_SOURCES = tests/e2e/fcgi-client.c
tests_e2e_fcgi_client_CFLAGS = $(AM_CFLAGS) -pthread
tests_e2e_fcgi_client_LDADD = -lpthread
# tests/e2e/mock-llm.test installs the mock server from npm here, once per
# build tree (a directory: CLEANFILES would not remove it).
clean-local: clean-mock-llm
clean-mock-llm:
	-rm -rf tests/.npm-mock-llm tests/.npm-mock-llm.new.*
.PHONY: clean-mock-llm


EXTRA_DIST += tests/e2e/fcgi-direct.test tests/e2e/fcgi-hostile.test tests/e2e/lighttpd.test \
	tests/e2e/nginx.test tests/e2e/apache.test tests/e2e/cache.test \
	tests/e2e/metrics.test tests/e2e/llm-tls.test tests/e2e/llm-cache.test tests/e2e/llm-gap.test tests/e2e/llm-guard.test \
	tests/e2e/lib-e2e.sh tests/e2e/mock-llm.test tests/e2e/mock-llm/rules.yaml \
	tests/e2e/lib-mock-llm.sh tests/e2e/llm-nginx.test tests/e2e/mock-llm-stages.test \
	tests/e2e/mock-llm/stages.yaml \
	examples/lighttpd/lighttpd-external.conf examples/lighttpd/lighttpd-spawn.conf \
	examples/nginx/imaginator.conf \
	examples/apache/imaginator-proxy-fcgi.conf examples/apache/imaginator-fcgid.conf \
	bench/fcgi/run.sh bench/fcgi/baseline.c bench/fcgi/post.lua \
	bench/fcgi/callgrind.sh bench/fcgi/fcgi-client.py \
	bench/llm/run.sh bench/llm/upstream.c bench/llm/post.lua bench/llm/gap-reply.json \
	bench/llm/trace-cost.sh \
	docs/fcgi.md

# A third-party lint of docs/openapi.yaml (Redocly's recommended rules),
# opt-in: it needs node and the npm registry. The CLI goes into a cache
# under the build tree, never into the source tree. docs/openapi.md lists
# what it may still warn about.
REDOCLY_CLI = @redocly/cli@2.77.0
lint-openapi:
	@command -v npx >/dev/null 2>&1 || { echo "lint-openapi: npx not found (apt-get install npm)"; exit 1; }
	cd $(abs_builddir) && npx --yes --cache $(abs_builddir)/tests/.npm-redocly \
		$(REDOCLY_CLI) lint --format=stylish $(abs_top_srcdir)/docs/openapi.yaml
clean-local: clean-redocly
clean-redocly:
	-rm -rf tests/.npm-redocly
.PHONY: lint-openapi clean-redocly

# ---- log lines and process metrics ---------------------------------------
# The core's log lines (tests/check_log.c: escaping, truncation, one write
# per line); every stderr line of a real imaginator-fcgi run is JSON
# (tests/e2e/logs.test).
if HAVE_CHECK
check_PROGRAMS += tests/check_log
tests_check_log_SOURCES = tests/check_log.c
tests_check_log_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) -pthread -Wno-missing-prototypes
tests_check_log_LDADD = core/libimaginator.la $(CHECK_LIBS) $(JANSSON_LIBS) $(MSGPACK_LIBS) -lpthread
TESTS += tests/check_log
endif
TESTS += tests/e2e/logs.test
EXTRA_DIST += tests/e2e/logs.test
check_LTLIBRARIES += tests/plugins/logline.la
tests_plugins_logline_la_SOURCES = tests/plugins/logline.c
tests_plugins_logline_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_logline_la_LIBADD = core/libimaginator.la $(MSGPACK_LIBS)
