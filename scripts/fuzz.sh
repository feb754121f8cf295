#!/bin/sh
# fuzz.sh [SECONDS] [HARNESS...] - runs the libFuzzer harnesses of
# tests/fuzz for SECONDS each (default 600), one after the other, with
# memory and time limits, merges what they found that adds coverage into
# tests/fuzz/corpus/<harness>/, and prints one line per harness: seconds,
# executions, corpus size, and crashes, leaks, timeouts and out-of-memory
# reports (artifacts kept under $FUZZ_OUT). Exits 1 on any find.
#
# The harnesses come from a build configured with --enable-fuzzing:
#   mkdir build-fuzz && cd build-fuzz && ../configure --enable-fuzzing && make -j2
# FUZZ_BUILD names that build tree (default: build-fuzz in the source
# tree); FUZZ_JOBS runs that many harnesses at once (default 1).
# HARNESS is a name such as "request" or "fuzz_request"; default: all.
set -u

srcdir=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$srcdir/build-fuzz}
jobs=${FUZZ_JOBS:-1}
secs=600
case ${1:-} in
[0-9]*) secs=$1; shift ;;
esac
all="request mpcheck ctx_merge cache_answer cache_call experience gap skillmatch jwt
	llm_reply http_headers fcgi_params config"
list=
for h in "$@"; do list="$list ${h#fuzz_}"; done
[ -n "$list" ] || list=$all

out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ima-fuzz.XXXXXX")}
mkdir -p "$out"
export IMAGINATOR_DATA_DIR="$srcdir/data"
export IMAGINATOR_PLUGIN_DIR="$build/plugins/.libs"
export IMAGINATOR_NO_DLCLOSE=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$srcdir/tests/fuzz/lsan.supp}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

max_len() {
	case $1 in
	request|llm_reply|config) echo 16384 ;;
	fcgi_params|jwt) echo 8200 ;;
	*) echo 4096 ;;
	esac
}

# One harness: fuzz into a fresh directory (seeded by the corpus), then
# merge into the corpus what adds coverage. Writes $out/$h.stats.
run_one() {
	h=$1
	prog="$build/tests/fuzz/fuzz_$h"
	corpus="$srcdir/tests/fuzz/corpus/$h"
	new="$out/$h.new"
	if [ ! -x "$prog" ]; then
		echo "fuzz.sh: $prog is missing: configure $build with --enable-fuzzing and run make" >&2
		echo "$h $secs 0 0 missing" >"$out/$h.stats"
		return
	fi
	mkdir -p "$new" "$corpus" "$out/$h.artifacts"
	start=$(date +%s)
	# A wall-clock bound beyond libFuzzer's own, in case it hangs.
	timeout -k 10 $((secs + 120)) "$prog" -max_total_time="$secs" -rss_limit_mb=2048 \
		-timeout=10 -max_len="$(max_len "$h")" -print_final_stats=1 \
		-artifact_prefix="$out/$h.artifacts/" "$new" "$corpus" \
		</dev/null >"$out/$h.log" 2>&1
	end=$(date +%s)
	"$prog" -merge=1 -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$h")" \
		-artifact_prefix="$out/$h.artifacts/merge-" "$corpus" "$new" \
		</dev/null >"$out/$h.merge.log" 2>&1
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$h.log" | tail -n 1)
	size=$(find "$corpus" -type f | wc -l)
	count() { find "$out/$h.artifacts" -name "$1-*" -type f | wc -l; }
	echo "$h $((end - start)) ${execs:-?} $size $(count crash) $(count leak) $(count timeout) $(count oom)" \
		>"$out/$h.stats"
}

running=0
for h in $list; do
	run_one "$h" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

finds=0
printf '%-14s %8s %12s %7s %7s %6s %9s %5s\n' harness seconds executions corpus crashes leaks timeouts ooms
for h in $list; do
	set -- $(cat "$out/$h.stats")
	if [ "${5:-}" = missing ]; then
		printf '%-14s %8s %12s\n' "$1" - missing
		finds=$((finds + 1))
		continue
	fi
	printf '%-14s %8s %12s %7s %7s %6s %9s %5s\n' "$@"
	finds=$((finds + $5 + $6 + $7 + $8))
done
echo "logs and artifacts: $out"
[ "$finds" -eq 0 ]
