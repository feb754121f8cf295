# ---- Faults: Redis Sentinel in the cache, and the fault scripts under load ----
# Included from Makefile.am after fcgi/local.mk.

# The cache following a Sentinel failover (about 10 s: in make check).
TESTS += tests/e2e/cache-sentinel.test
EXTRA_DIST += tests/e2e/cache-sentinel.test tests/faults/local.mk
