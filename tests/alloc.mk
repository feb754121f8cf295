# tests/alloc.mk - every allocation of an engine start-up and of a whole
# analysis with LLM calls failed in turn (tests/check_alloc.c). Included
# from Makefile.am inside its HAVE_CHECK block.
check_PROGRAMS += tests/check_alloc
tests_check_alloc_SOURCES = tests/check_alloc.c tests/ima_test.h fcgi/options.c fcgi/front.h
tests_check_alloc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/fcgi
tests_check_alloc_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) -Wno-missing-prototypes
tests_check_alloc_LDADD = core/libimaginator.la $(CHECK_LIBS) $(JANSSON_LIBS) $(MSGPACK_LIBS)
tests_check_alloc_LDFLAGS = -pthread
TESTS += tests/check_alloc
