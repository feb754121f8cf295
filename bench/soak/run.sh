#!/bin/sh
# bench/soak/run.sh - the mixed load of bench/faults for a long while, no
# faults, watching what must not grow: the cluster of bench/faults/run.sh
# (nginx, one upstream of three imaginator-fcgi hosts on 127.0.0.2, .3 and
# .4 with 2 workers x 4 threads each, conf/production.conf with the cache
# on Redis under Sentinel, the test LLM server holding every completion
# 50 ms) under bench/faults/mixed.lua, without the crash stage.
#
# The load runs in back-to-back wrk runs of one interval each; after each
# the script samples, from /proc, the resident set (VmRSS) and the open
# file descriptors of every supervisor and worker (and of nginx, the LLM
# server and the Redis primary), Redis's connected_clients and
# used_memory, and the requests, 5xx and failures so far. Sampling between
# two runs sees the processes with no request in flight, so what it counts
# is what they keep.
#
# Verdict (bench/soak/soak.py), from the samples after the warm-up:
# RSS growth of each worker and of the three hosts together at most 5%
# (the mean of the last three samples against the mean of the first
# three), every process's descriptors (its idle LLM connections left out)
# and Redis's clients stable (no sample after the first third higher than
# the highest of that third), no worker replaced, and over the whole run
# no 5xx and no failed request. Exit 1 when one is missed, 2 when the
# cluster did not start.
#
#   bench/soak/run.sh [BUILDDIR]        (make soak)
# Environment: SOAK_SECONDS (1800: the whole run, warm-up included),
#   SOAK_INTERVAL (30 s between samples), SOAK_WARMUP (300 s, or a sixth of
#   the run when that is less), SOAK_L1_BYTES (8388608) and
#   SOAK_REPLAY_BYTES (4194304): each worker's cache of answers and of
#   replayed bytes (production: 128 MiB and 16 MiB), small enough to be
#   full well before the warm-up ends, CONNS (4: wrk connections),
#   SOAK_FD_SLACK (0: how far a count may rise above the first third),
#   OUT (BUILDDIR/soak: samples.tsv, procs.tsv, table.md, verdict.md),
#   KEEP_TMP.
# Use an optimised build without sanitizers: under ASan the resident set is
# mostly its quarantine of freed memory, not ours.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
SOAK_SECONDS=${SOAK_SECONDS:-1800}
SOAK_INTERVAL=${SOAK_INTERVAL:-30}
if [ -z "${SOAK_WARMUP:-}" ]; then
	SOAK_WARMUP=$((SOAK_SECONDS / 6))
	[ "$SOAK_WARMUP" -gt 300 ] && SOAK_WARMUP=300
fi
SOAK_L1_BYTES=${SOAK_L1_BYTES:-8388608}
SOAK_REPLAY_BYTES=${SOAK_REPLAY_BYTES:-4194304}
SOAK_FD_SLACK=${SOAK_FD_SLACK:-0}
CONNS=${CONNS:-4}
out=${OUT:-$build/soak}
for c in wrk nginx redis-server redis-cli curl python3; do
	command -v $c >/dev/null 2>&1 || { echo "run.sh: $c not found" >&2; exit 2; }
done
for f in imaginator-fcgi tests/e2e/fcgi-client; do
	[ -e "$build/$f" ] || { echo "run.sh: $build/$f missing (make; make soak builds it)" >&2; exit 2; }
done
if grep -q '^\(SAN_FLAGS\|CFLAGS\) = .*-fsanitize' "$build/Makefile" 2>/dev/null; then
	echo "run.sh: warning: $build is a sanitizer build; its RSS is the sanitizer's" >&2
fi
mkdir -p "$out"
tmp=$(mktemp -d /tmp/ima-soak.XXXXXX)
pids=""
. "$src/bench/lib.sh"
trap bench_cleanup EXIT INT TERM
export IMAGINATOR_PLUGIN_DIR=$build/plugins/.libs
export IMAGINATOR_DATA_DIR=$src/data
log() { echo "run.sh: $*" >&2; }

# ---- the cluster of bench/faults/run.sh ----
# Completions held 50 ms, renewed before each interval: 1500 a second, more
# than the misses ask for (the verdict checks).
calls=$((SOAK_INTERVAL * 1500))
BENCH_LLM_CALLS=$calls
bench_sentinel || exit 2
bench_llm_start || exit 2
bench_hosts_conf || { log "could not adapt conf/production.conf"; exit 2; }
# Both in-process caches of each worker small enough to be full before
# the warm-up ends: until then they grow by design.
sed -i "s/l1_max_bytes = [0-9]*;/l1_max_bytes = $SOAK_L1_BYTES; replay_max_bytes = $SOAK_REPLAY_BYTES;/" \
	"$tmp/production.conf"
grep -q "replay_max_bytes = $SOAK_REPLAY_BYTES;" "$tmp/production.conf" || { log "no l1_max_bytes to set"; exit 2; }
export IMAGINATOR_REDIS_URL="redis://127.0.0.1:$P"  # the quota stages: the primary itself (no failover in a soak)
bench_hosts || exit 2
bench_nginx_upstream || exit 2

# ---- sampling ----
# l1_bytes: imaginator_cache_l1_bytes of the three hosts (each sums its workers).
l1_bytes() {
	for h in $HOSTS; do "$build/tests/e2e/fcgi-client" "$h" /metrics 2>/dev/null; done |
		awk '$1 ~ /^imaginator_cache_l1_bytes/ { s += $2 } END { printf "%d", s }'
}
redis_info() { bench_rc "$P" info "$1" | sed -n "s/^$2:\([0-9]*\).*/\1/p"; }
# sample T PHASE: a line of procs.tsv for each process (soak.py sample), a
# line of samples.tsv. A worker is hostN.wI, the I-th child by pid.
sample() {
	procs=""
	for n in 1 2 3; do
		eval "sp=\$host_pid_$n"
		procs="$procs host$n=$sp"
		slot=0
		for w in $(ps -o pid= --ppid "$sp" | sort -n); do
			slot=$((slot + 1))
			procs="$procs host$n.w$slot=$w"
		done
	done
	for w in $(ps -o pid= --ppid "$nginx_pid"); do procs="$procs nginx.worker=$w"; done
	eval "procs=\"\$procs nginx=$nginx_pid llm=$llm_pid redis=\$pid_$P\""
	# shellcheck disable=SC2086 # one word a process
	python3 "$src/bench/soak/soak.py" sample "$out" "$1" "$llm_port" $procs
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(l1_bytes)" \
		"$(redis_info clients connected_clients)" "$(redis_info memory used_memory)" \
		"$sent" "$f5" "$failed" "$sockerr" "$degraded" "$badhits" "$misses" >>"$out/samples.tsv"
}
printf 't\tphase\tl1_bytes\tredis_clients\tredis_used_memory\trequests\tfail5xx\tfailed\tsockerr\tdegraded\tbad_hits\tmisses\n' \
	>"$out/samples.tsv"
printf 't\tname\tpid\trss_kb\tfds\tllm_conns\n' >"$out/procs.tsv"
sent=0 f5=0 failed=0 sockerr=0 degraded=0 badhits=0 misses=0
log "cluster up (nginx $base); ${SOAK_SECONDS} s of load, a sample every ${SOAK_INTERVAL} s, warm-up ${SOAK_WARMUP} s"
sample 0 start
t=0
round=0
while [ "$t" -lt "$SOAK_SECONDS" ]; do
	round=$((round + 1))
	d=$SOAK_INTERVAL
	[ $((t + d)) -gt "$SOAK_SECONDS" ] && d=$((SOAK_SECONDS - t))
	# The LLM server's script renewed and its request log emptied: its
	# own memory is not what is measured.
	bench_llm_script '{"delay_ms": 50}' "$calls"
	curl -s -m 20 -o /dev/null -X POST "http://127.0.0.1:$llm_port/_test/reset"
	bench_mixed "$d" "soak-$$-$round" "$tmp/wrk.$round"
	t=$((t + d))
	for k in sent:sent fail5xx:f5 failed:failed sockerr:sockerr degraded:degraded bad_hits:badhits misses:misses; do
		eval "${k#*:}=\$((\$${k#*:} + $(bench_field "${k%%:*}" "$tmp/wrk.$round")))"
	done
	grep -q '^sent=' "$tmp/wrk.$round" || { log "wrk run $round gave no summary:"; cat "$tmp/wrk.$round" >&2; failed=$((failed + 1)); }
	if [ "$t" -lt "$SOAK_WARMUP" ]; then phase=warm-up; else phase=soak; fi
	sample "$t" "$phase"
	log "t=${t}s: $sent requests, $f5 5xx, $failed failed"
done
for n in 1 2 3; do cat "$tmp/host$n.err"; done >"$out/hosts.err" 2>/dev/null
python3 "$src/bench/soak/soak.py" verdict "$out" "$SOAK_WARMUP" "$SOAK_FD_SLACK" "$calls"
