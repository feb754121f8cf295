#!/bin/sh
# quickstart.sh demo|test - from a fresh Debian 12 machine (as root, or with
# sudo): installs the missing Debian packages, builds, and then
#   demo: analyses examples/request.json on the embedded default
#         configuration and prints the JSON answer;
#   test: builds with warnings as errors and ASan/UBSan, runs the whole test
#         suite and ends with "N passed, N failed".
# Idempotent: packages already installed and builds already configured are
# reused.
set -eu

mode=${1:-}
case "$mode" in
demo|test) ;;
*) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

build_deps="build-essential autoconf automake libtool pkg-config
	libfcgi-dev libmsgpack-dev libhiredis-dev
	libssl-dev libjansson-dev libconfig-dev libcurl4-openssl-dev libjwt-dev"
test_deps="check jq redis-server lighttpd nginx-light apache2 libapache2-mod-fcgid curl python3
	prometheus openssl python3-jsonschema python3-yaml python3-jwt python3-cryptography systemd man-db"
# For tests/e2e/mock-llm.test. A nodejs that bundles npm (NodeSource's)
# conflicts with Debian's npm package: ask only for the commands missing.
command -v node >/dev/null 2>&1 || test_deps="$test_deps nodejs"
command -v npm >/dev/null 2>&1 || test_deps="$test_deps npm"

missing=
for p in $build_deps $( [ "$mode" = test ] && echo "$test_deps" ); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "quickstart: installing:$missing" >&2
	if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends $missing >&2
fi

[ -x configure ] || autoreconf -fi >&2

jobs=$(nproc 2>/dev/null || echo 2)
if [ "$mode" = demo ]; then
	dir=build
	flags=
else
	dir=build-check
	flags="--enable-werror --enable-sanitizers"
fi
mkdir -p "$dir"
if [ ! -f "$dir/Makefile" ] || [ "$(cat "$dir/.flags" 2>/dev/null)" != "$flags" ]; then
	(cd "$dir" && ../configure $flags >configure.out 2>&1) || {
		tail -20 "$dir/configure.out" >&2
		exit 1
	}
	echo "$flags" >"$dir/.flags"
fi
make -s -C "$dir" -j"$jobs" >&2

if [ "$mode" = demo ]; then
	# The build tree's plugins and data, the embedded default configuration.
	IMAGINATOR_PLUGIN_DIR="$top/$dir/plugins/.libs" \
	IMAGINATOR_DATA_DIR="$top/data" \
		exec "$dir/imaginator" analyze --pretty examples/request.json
fi

status=0
make -C "$dir" -j"$jobs" check >&2 || status=$?
log="$dir/test-suite.log"
if [ ! -f "$log" ]; then
	echo "0 passed, 1 failed"
	exit 1
fi
count() { sed -n "s/^# $1: *\([0-9]*\).*/\1/p" "$log" | head -n 1; }
pass=$(count PASS)
fail=$(( $(count FAIL) + $(count ERROR) + $(count XPASS) ))
skip=$(count SKIP)
grep -E "^(FAIL|ERROR|XPASS):" "$log" >&2 || true
echo "${pass:-0} passed, ${fail} failed, ${skip:-0} skipped"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
