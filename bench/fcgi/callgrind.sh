#!/bin/sh
# bench/fcgi/callgrind.sh [BUILDDIR] - instructions per request, counted by
# callgrind (no timing noise), of imaginator-fcgi answering the same POST
# again and again (cache hits, examples/request.json) and of the minimal
# responder (baseline.c) answering a GET: one worker, one thread each,
# N requests (default 2000) on fresh connections after a warm-up.
# Under valgrind OpenSSL cannot use the CPU's SHA instructions, so the
# SHA-256 of the body is printed apart. Not part of make check.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
N=${N:-2000}
for c in valgrind callgrind_control callgrind_annotate python3 cc; do
	command -v $c >/dev/null 2>&1 || { echo "callgrind.sh: $c not found" >&2; exit 2; }
done
tmp=$(mktemp -d /tmp/ima-cg.XXXXXX)
sup=""
cleanup() { [ -n "$sup" ] && kill -9 $sup 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
export IMAGINATOR_PLUGIN_DIR=${IMAGINATOR_PLUGIN_DIR:-$build/plugins/.libs}
export IMAGINATOR_DATA_DIR=${IMAGINATOR_DATA_DIR:-$src/data}
client="python3 $src/bench/fcgi/fcgi-client.py"
cc -O2 -o "$tmp/baseline" "$src/bench/fcgi/baseline.c" -lfcgi -lpthread

# measure NAME URI BODY CMD...: prints "NAME total_Ir_per_request sha_Ir_per_request"
measure() {
	name=$1 uri=$2 body=$3
	shift 3
	valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$tmp/cg.$name.%p" \
		"$@" 2>"$tmp/$name.log" &
	sup=$!
	for i in $(seq 100); do
		[ -S "$tmp/$name.sock" ] && $client "$tmp/$name.sock" 1 "$uri" "$body" 2>/dev/null && break
		sleep 0.5
	done
	# imaginator-fcgi forks its worker; the baseline answers itself.
	pid=$(pgrep -P $sup || true)
	[ -n "$pid" ] || pid=$sup
	$client "$tmp/$name.sock" 50 "$uri" "$body" 2>/dev/null
	callgrind_control -z $pid >/dev/null
	$client "$tmp/$name.sock" "$N" "$uri" "$body" 2>"$tmp/$name.client"
	callgrind_control -d $pid >/dev/null
	sleep 1
	# The baseline needs SIGKILL: libfcgi's SIGTERM handler only sets a
	# flag its blocking accept() never sees.
	kill $sup 2>/dev/null || true
	sleep 2
	kill -9 $sup $pid 2>/dev/null || true
	wait $sup 2>/dev/null || true
	sup=""
	f="$tmp/cg.$name.$pid.1" # the dump asked for above
	total=$(awk '/^summary:/ { print $2 }' "$f")
	sha=$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null |
		awk '/SHA256_Update/ { gsub(",", "", $1); print $1; exit }')
	echo "$name $((total / N)) $(( ${sha:-0} / N ))"
}

set -- $(measure ima /v1/analyze "$src/examples/request.json" \
	"$build/imaginator-fcgi" --listen "unix:$tmp/ima.sock" --workers 1 --threads 1)
ima=$2 sha=$3
set -- $(measure base /base/x - "$tmp/baseline" "unix:$tmp/base.sock" 1)
base=$2
printf '| target | instructions per request | of which SHA-256 | without SHA-256 |\n|---|---:|---:|---:|\n'
printf '| baseline (libfcgi, GET, 2-byte answer) | %s | | %s |\n' "$base" "$base"
printf '| imaginator-fcgi, cache hit (replayed) | %s | %s | %s |\n' "$ima" "$sha" "$((ima - sha))"
