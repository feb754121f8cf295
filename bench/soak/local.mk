# ---- The soak: the mixed load of bench/faults for a long while ----
# Included from Makefile.am. Not in make check: 30 minutes by default
# (SOAK_SECONDS, SOAK_INTERVAL, SOAK_WARMUP: see bench/soak/run.sh). Run it
# from an optimised build without sanitizers. Results in $(builddir)/soak/.
EXTRA_DIST += bench/soak/run.sh bench/soak/soak.py bench/soak/local.mk
soak: all tests/e2e/fcgi-client
	$(SHELL) $(srcdir)/bench/soak/run.sh $(abs_builddir)
.PHONY: soak
# The verdict's own checks, on made-up samples (seconds: in make check).
TESTS += tests/soak-verdict.test
EXTRA_DIST += tests/soak-verdict.test
