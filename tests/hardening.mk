# tests/hardening.mk - checks of the hardening (docs/hardening.md), included
# by the top-level Makefile.am: the built files (stack protector,
# _FORTIFY_SOURCE, PIE, RELRO, BIND_NOW).
TESTS += tests/hardening.test
EXTRA_DIST += tests/hardening.mk tests/hardening.test docs/hardening.md
