# tests/fuzz/local.mk - fuzz harnesses, one per parser of untrusted (or
# merely outside) bytes (included by the top-level Makefile.am).
#
# With ./configure --enable-fuzzing (clang and its libFuzzer runtime:
# Debian's clang and libclang-rt-14-dev) they are libFuzzer programs, built
# by `make` and run by scripts/fuzz.sh. Without it `make check` builds each
# with driver.c, which feeds it every file of its corpus: either way
# tests/fuzz/replay.test runs every corpus input as a regression test.

FUZZ_HARNESSES = tests/fuzz/fuzz_request tests/fuzz/fuzz_mpcheck tests/fuzz/fuzz_ctx_merge \
	tests/fuzz/fuzz_cache_answer tests/fuzz/fuzz_cache_call tests/fuzz/fuzz_experience \
	tests/fuzz/fuzz_gap tests/fuzz/fuzz_skillmatch tests/fuzz/fuzz_jwt \
	tests/fuzz/fuzz_llm_reply tests/fuzz/fuzz_http_headers tests/fuzz/fuzz_fcgi_params \
	tests/fuzz/fuzz_config
if FUZZING
FUZZ_DRIVER =
FUZZ_LINK_FLAGS = -fsanitize=fuzzer
noinst_PROGRAMS += $(FUZZ_HARNESSES)
else
FUZZ_DRIVER = tests/fuzz/driver.c
FUZZ_LINK_FLAGS =
check_PROGRAMS += $(FUZZ_HARNESSES)
endif
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fuzz -I$(top_srcdir)/plugins/common \
	-DIMA_FUZZ_DATA_DIR='"$(abs_top_srcdir)/data"' \
	-DIMA_FUZZ_PLUGIN_DIR='"$(abs_top_builddir)/plugins/.libs"'
FUZZ_LIBS = core/libimaginator.la $(MSGPACK_LIBS) $(M_LIBS)
FUZZ_CACHE_SOURCES = plugins/cache/cache.c plugins/cache/cache_key.c \
	plugins/cache/cache_claim.c plugins/cache/cache_admin.c plugins/cache/cache_l1.c \
	plugins/cache/cache_redis.c $(PLUGIN_REDIS_URL) $(PLUGIN_REDIS_SENTINEL)
# The front's sources but main's file, for the harnesses that compile one
# of them in for its static functions.
FUZZ_FCGI_SOURCES = fcgi/worker.c fcgi/stream.c fcgi/metrics.c fcgi/options.c fcgi/crash.c

tests_fuzz_fuzz_request_SOURCES = tests/fuzz/fuzz_request.c tests/fuzz/fuzz.h $(FUZZ_DRIVER)
tests_fuzz_fuzz_request_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_request_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_request_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_mpcheck_SOURCES = tests/fuzz/fuzz_mpcheck.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_mpcheck_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_mpcheck_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_mpcheck_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_ctx_merge_SOURCES = tests/fuzz/fuzz_ctx_merge.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_ctx_merge_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_ctx_merge_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_ctx_merge_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_cache_answer_SOURCES = tests/fuzz/fuzz_cache_answer.c \
	plugins/cache/cache_answer.c plugins/cache/cache_call.c $(FUZZ_CACHE_SOURCES) $(FUZZ_DRIVER)
tests_fuzz_fuzz_cache_answer_CPPFLAGS = $(FUZZ_CPPFLAGS) -I$(top_srcdir)/plugins/cache
tests_fuzz_fuzz_cache_answer_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS) $(CRYPTO_CFLAGS)
tests_fuzz_fuzz_cache_answer_LDFLAGS = $(FUZZ_LINK_FLAGS) -pthread
tests_fuzz_fuzz_cache_answer_LDADD = $(FUZZ_LIBS) $(HIREDIS_LIBS) $(CRYPTO_LIBS)

# cache_call.c is compiled into the harness's own file.
tests_fuzz_fuzz_cache_call_SOURCES = tests/fuzz/fuzz_cache_call.c \
	plugins/cache/cache_answer.c $(FUZZ_CACHE_SOURCES) $(FUZZ_DRIVER)
tests_fuzz_fuzz_cache_call_CPPFLAGS = $(FUZZ_CPPFLAGS) -I$(top_srcdir)/plugins/cache
tests_fuzz_fuzz_cache_call_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS) $(CRYPTO_CFLAGS)
tests_fuzz_fuzz_cache_call_LDFLAGS = $(FUZZ_LINK_FLAGS) -pthread
tests_fuzz_fuzz_cache_call_LDADD = $(FUZZ_LIBS) $(HIREDIS_LIBS) $(CRYPTO_LIBS)

tests_fuzz_fuzz_experience_SOURCES = tests/fuzz/fuzz_experience.c \
	plugins/experience/exp_parse.c $(PLUGIN_COMMON) $(FUZZ_DRIVER)
tests_fuzz_fuzz_experience_CPPFLAGS = $(FUZZ_CPPFLAGS) -I$(top_srcdir)/plugins/experience
tests_fuzz_fuzz_experience_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_experience_LDADD = $(FUZZ_LIBS)

# gap.c is compiled into the harness's own file.
tests_fuzz_fuzz_gap_SOURCES = tests/fuzz/fuzz_gap.c $(PLUGIN_COMMON) $(FUZZ_DRIVER)
tests_fuzz_fuzz_gap_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_gap_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_gap_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_skillmatch_SOURCES = tests/fuzz/fuzz_skillmatch.c \
	plugins/common/skillmatch.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_skillmatch_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_skillmatch_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_skillmatch_LDADD = $(FUZZ_LIBS)

# auth_jwt.c is compiled into the harness's own file.
tests_fuzz_fuzz_jwt_SOURCES = tests/fuzz/fuzz_jwt.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_jwt_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_fuzz_jwt_CFLAGS = $(AM_CFLAGS) $(JWT_CFLAGS) $(JANSSON_CFLAGS) $(CRYPTO_CFLAGS)
tests_fuzz_fuzz_jwt_LDFLAGS = $(FUZZ_LINK_FLAGS) -pthread
tests_fuzz_fuzz_jwt_LDADD = $(FUZZ_LIBS) $(JWT_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)

tests_fuzz_fuzz_llm_reply_SOURCES = tests/fuzz/fuzz_llm_reply.c \
	plugins/llm_openrouter/openrouter_util.c $(PLUGIN_LLM_GUARD) $(PLUGIN_COMMON) $(FUZZ_DRIVER)
tests_fuzz_fuzz_llm_reply_CPPFLAGS = $(FUZZ_CPPFLAGS) -I$(top_srcdir)/plugins/llm_openrouter
tests_fuzz_fuzz_llm_reply_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_llm_reply_LDFLAGS = $(FUZZ_LINK_FLAGS) -pthread
tests_fuzz_fuzz_llm_reply_LDADD = $(FUZZ_LIBS) $(JANSSON_LIBS)

# routes.c is compiled into the harness's own file.
tests_fuzz_fuzz_http_headers_SOURCES = tests/fuzz/fuzz_http_headers.c fcgi/receive.c \
	$(FUZZ_FCGI_SOURCES) plugins/llm_openrouter/openrouter_util.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_http_headers_CPPFLAGS = $(FUZZ_CPPFLAGS) -I$(top_srcdir)/fcgi \
	-I$(top_srcdir)/plugins/llm_openrouter
tests_fuzz_fuzz_http_headers_CFLAGS = $(AM_CFLAGS) $(FCGI_CFLAGS) $(JANSSON_CFLAGS) -pthread
tests_fuzz_fuzz_http_headers_LDFLAGS = $(FUZZ_LINK_FLAGS) -pthread
tests_fuzz_fuzz_http_headers_LDADD = $(FUZZ_LIBS) $(FCGI_LIBS) $(JANSSON_LIBS)

# receive.c is compiled into the harness's own file.
tests_fuzz_fuzz_fcgi_params_SOURCES = tests/fuzz/fuzz_fcgi_params.c fcgi/routes.c \
	$(FUZZ_FCGI_SOURCES) $(FUZZ_DRIVER)
tests_fuzz_fuzz_fcgi_params_CPPFLAGS = $(FUZZ_CPPFLAGS) -I$(top_srcdir)/fcgi
tests_fuzz_fuzz_fcgi_params_CFLAGS = $(AM_CFLAGS) $(FCGI_CFLAGS) $(JANSSON_CFLAGS) -pthread
tests_fuzz_fuzz_fcgi_params_LDFLAGS = $(FUZZ_LINK_FLAGS) -pthread
tests_fuzz_fuzz_fcgi_params_LDADD = $(FUZZ_LIBS) $(FCGI_LIBS) $(JANSSON_LIBS)

tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c fcgi/options.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_config_CPPFLAGS = $(FUZZ_CPPFLAGS) -I$(top_srcdir)/fcgi
tests_fuzz_fuzz_config_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_config_LDADD = $(FUZZ_LIBS)

# The replay needs the plugins (fuzz_config, fuzz_fcgi_params) and the
# harnesses, which `make check` builds either way.
TESTS += tests/fuzz/replay.test
EXTRA_DIST += tests/fuzz/replay.test tests/fuzz/corpus tests/fuzz/README.md \
	docs/reliability.md tests/fuzz/driver.c tests/fuzz/seeds.py tests/fuzz/lsan.supp scripts/fuzz.sh
