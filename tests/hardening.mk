# tests/hardening.mk - checks of the hardening (docs/hardening.md), included
# by the top-level Makefile.am: the built files (stack protector,
# _FORTIFY_SOURCE, PIE, RELRO, BIND_NOW) and the mode of the FastCGI socket.
TESTS += tests/hardening.test tests/e2e/fcgi-socket.test
EXTRA_DIST += tests/hardening.mk tests/hardening.test tests/e2e/fcgi-socket.test docs/hardening.md
