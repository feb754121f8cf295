#!/bin/sh
# bench/auth/callgrind.sh [BUILDDIR] - instructions per request, counted by
# callgrind (no timing noise: usable on a loaded machine), of one
# imaginator-fcgi worker (one thread) running the pipeline of
# bench/auth/run.sh, for the same POST repeated: anonymous, HS256, RS256
# and API key (all replayed), and HS256 through the canonical lookup
# (replay_max_bytes = 0). N requests per row (default 500) after a warm-up,
# sent by tests/e2e/fcgi-client straight to the socket. Prints the total
# and the top functions (inclusive) of each row. Not part of make check.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
N=${N:-500}
PY=/usr/bin/python3
for c in valgrind callgrind_control callgrind_annotate redis-server openssl sha256sum $PY; do
	command -v $c >/dev/null 2>&1 || { echo "callgrind.sh: $c not found" >&2; exit 2; }
done
client="$build/tests/e2e/fcgi-client"
[ -x "$client" ] || { echo "callgrind.sh: build tests/e2e/fcgi-client first (make check TESTS=)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/ima-cg-auth.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	sleep 1
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	[ -n "${KEEP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
. "$src/bench/lib.sh"
export IMAGINATOR_PLUGIN_DIR=${IMAGINATOR_PLUGIN_DIR:-$build/plugins/.libs}
export IMAGINATOR_DATA_DIR=${IMAGINATOR_DATA_DIR:-$src/data}
req="$src/examples/request.json"
# The program itself, not libtool's wrapper script (callgrind would count
# the shell).
fcgi="$build/imaginator-fcgi"
if [ -x "$build/.libs/imaginator-fcgi" ]; then
	fcgi="$build/.libs/imaginator-fcgi"
	export LD_LIBRARY_PATH="$build/core/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

bench_credentials
bench_redis_unix

# measure NAME REPLAY_MAX_BYTES "LABEL|PARAM"...: one worker under
# callgrind; per row, N requests between a zeroing and a dump.
measure() {
	name=$1
	bench_auth_conf "$name" "$2"
	shift 2
	valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$tmp/cg.$name.%p" \
		$fcgi --listen "unix:$tmp/$name.sock" -c "$tmp/$name.conf" \
		--workers 1 --threads 1 --no-access-log 2>"$tmp/$name.log" &
	sup=$!
	pids="$pids $sup"
	for i in $(seq 200); do
		[ -S "$tmp/$name.sock" ] && "$client" "unix:$tmp/$name.sock" /health >/dev/null 2>&1 && break
		sleep 0.5
	done
	pid=$(pgrep -P $sup) # the worker
	dump=0
	for row in "$@"; do
		label=${row%%|*} param=${row#*|}
		set -- -b "$req" -p CONTENT_TYPE=application/json
		[ -n "$param" ] && set -- "$@" -p "$param"
		"$client" "unix:$tmp/$name.sock" --loop 20 --threads 1 "$@" /v1/analyze >/dev/null
		callgrind_control -z $pid >/dev/null
		"$client" "unix:$tmp/$name.sock" --loop "$N" --threads 1 "$@" /v1/analyze >/dev/null
		callgrind_control -d $pid >/dev/null
		dump=$((dump + 1))
		f="$tmp/cg.$name.$pid.$dump"
		for i in $(seq 50); do [ -s "$f" ] && break; sleep 0.2; done
		total=$(awk '/^summary:/ { print $2 }' "$f")
		printf '%s: %s instructions per request\n' "$label" "$((total / N))"
		# Where they go (inclusive, per request): the prefetch hooks, the
		# SHA-256 in them (without the CPU's SHA instructions under
		# valgrind), the rendering.
		callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$f" 2>/dev/null |
			awk -v n="$N" '/^ *[0-9,]+ \(/ { v = $1; gsub(",", "", v); f = ""
				for (i = 2; i <= NF; i++) if ($i ~ /:[A-Za-z_]/) { f = $i; break }
				sub(/^.*:/, "", f)
				if (f ~ /^(cache_prefetch|cache_raw_key|auth_run|apikey_run|SHA256_Update|ima_req_render|cache_hit_ratio)$/ && !seen[f]++)
					printf "    %-16s %8d\n", f, v / n }'
	done
	kill $sup 2>/dev/null || true
}

measure ima 16777216 "anonymous (replay)|" "HS256 (replay)|HTTP_AUTHORIZATION=Bearer $hs256" \
	"RS256 (replay)|HTTP_AUTHORIZATION=Bearer $rs256" "API key (replay)|HTTP_X_API_KEY=$apikey"
measure noreplay 0 "HS256 (canonical lookup, replay off)|HTTP_AUTHORIZATION=Bearer $hs256"
