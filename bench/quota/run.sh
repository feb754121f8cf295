#!/bin/sh
# bench/quota/run.sh - what the quota stage costs an authenticated cache hit,
# through nginx with wrk: imaginator-fcgi (WORKERS x THREADS) running
# auth_apikey, then quota (tenant and user minute windows: the requests
# counted on every request), the request stage, the cache (L1, L2 in Redis),
# the analysis; the same request with one API key, so after the first
# every answer is a cache hit. Rows: without the quota stage, with the
# quota plugin of commit BEFORE (built here from git, when BEFORE is set),
# with the one built in BUILDDIR; interleaved, ROUNDS times. Redis on
# loopback TCP (REDIS=unix: a unix socket). Not part of make check.
#
#   bench/quota/run.sh [BUILDDIR]      (a build without sanitizers)
# Environment: WORKERS (2), THREADS (4), CONNS (16), DURATION (10s),
#              WRK_THREADS (2), ROUNDS (3), BEFORE (a commit), REDIS (tcp).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
WORKERS=${WORKERS:-2} THREADS=${THREADS:-4} CONNS=${CONNS:-16}
DURATION=${DURATION:-10s} WRK_THREADS=${WRK_THREADS:-2} ROUNDS=${ROUNDS:-3}
BEFORE=${BEFORE:-} REDIS=${REDIS:-tcp}
for c in wrk nginx redis-server python3 cc; do
	command -v $c >/dev/null 2>&1 || { echo "bench/quota/run.sh: $c not found" >&2; exit 2; }
done
[ -x "$build/imaginator-fcgi" ] || { echo "bench/quota/run.sh: build imaginator-fcgi first (make)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/ima-bench-quota.XXXXXX)
pids="" fcgi=""
cleanup() {
	for p in $fcgi $pids; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
. "$src/bench/lib.sh"
export IMAGINATOR_DATA_DIR=${IMAGINATOR_DATA_DIR:-$src/data}
plugins=$build/plugins/.libs

if [ "$REDIS" = unix ]; then
	redis-server --port 0 --unixsocket "$tmp/redis.sock" --save '' --appendonly no --dir "$tmp" \
		>"$tmp/redis.log" 2>&1 & pids="$pids $!"
	url="unix://$tmp/redis.sock"
else
	rp=$(bench_port)
	redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
		>"$tmp/redis.log" 2>&1 & pids="$pids $!"
	url="redis://127.0.0.1:$rp"
fi
if [ -n "$BEFORE" ]; then
	mkdir -p "$tmp/before"
	git -C "$src" show "$BEFORE:plugins/quota/quota.c" >"$tmp/before/quota.c"
	# shellcheck disable=SC2046
	cc -std=gnu11 -O2 -fPIC -shared -fvisibility=hidden -I"$src/core" $(pkg-config --cflags msgpack 2>/dev/null || true) \
		-o "$tmp/before/quota.so" "$tmp/before/quota.c" -lhiredis -pthread
fi

key=ak_bench_0123456789
cp "$src/conf/request.conf" "$src/conf/analysis.conf" "$tmp/"
# conf NAME QUOTA: QUOTA 1 puts the quota stage in.
conf() {
	{
		echo 'pipeline = ('
		echo "{ name = \"auth_apikey\"; plugin = \"auth_apikey\"; options = { keys = \"bench:$(printf %s $key | sha256sum | cut -d' ' -f1):acme:analyze\"; }; },"
		[ "$2" = 1 ] && echo "{ name = \"quota\"; plugin = \"quota\"; options = { redis_url = \"$url\"; tenant_rpm = 100000000; user_rpm = 100000000; }; },"
		echo '@include "request.conf"'
		echo ', { name = "cache"; plugin = "cache"; options = { redis_url = "'"$url"'"; }; },'
		echo '@include "analysis.conf"'
		echo ');'
	} >"$tmp/$1.conf"
}
conf none 0
conf quota 1

np=$(bench_port)
bench_nginx_head
cat >>"$tmp/nginx/nginx.conf" <<NGINX
  server {
    listen 127.0.0.1:$np;
    location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$tmp/ima.sock; fastcgi_keep_conn off; }
  }
}
NGINX
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" & pids="$pids $!"
cat >"$tmp/post.lua" <<LUA
local f = assert(io.open("$src/examples/request.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$key"
LUA

# row NAME CONF PLUGIN_DIR: requests per second of one wrk run.
row() {
	rm -f "$tmp/ima.sock"
	IMAGINATOR_PLUGIN_DIR="$3" "$build/imaginator-fcgi" --listen "unix:$tmp/ima.sock" \
		--workers "$WORKERS" --threads "$THREADS" --no-access-log -c "$tmp/$2.conf" 2>>"$tmp/ima.log" &
	fcgi=$!
	for i in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$np/health" && break; sleep 0.05; done
	s=$(curl -s -o "$tmp/first.json" -w '%{http_code}' -H "X-API-Key: $key" -H 'Content-Type: application/json' \
		--data-binary @"$src/examples/request.json" "http://127.0.0.1:$np/v1/analyze")
	[ "$s" = 200 ] || { echo "bench/quota/run.sh: $1: status $s" >&2; cat "$tmp/first.json" >&2; exit 1; }
	wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" -s "$tmp/post.lua" "http://127.0.0.1:$np/v1/analyze" >"$tmp/wrk.out"
	kill "$fcgi"
	wait "$fcgi" 2>/dev/null || true
	fcgi=""
	grep -q 'Non-2xx' "$tmp/wrk.out" && { echo "bench/quota/run.sh: $1: non-2xx answers" >&2; cat "$tmp/wrk.out" >&2; exit 1; }
	printf '%-8s %10s req/s  latency avg %s\n' "$1" "$(awk '/^Requests\/sec/ { print $2 }' "$tmp/wrk.out")" \
		"$(awk '$1 == "Latency" { print $2 }' "$tmp/wrk.out")"
}
echo "workers $WORKERS x threads $THREADS, wrk -t$WRK_THREADS -c$CONNS -d$DURATION, Redis $REDIS"
for r in $(seq 1 "$ROUNDS"); do
	row none none "$plugins"
	[ -n "$BEFORE" ] && row before quota "$tmp/before:$plugins"
	row after quota "$plugins"
done
