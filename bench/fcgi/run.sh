#!/bin/sh
# bench/fcgi/run.sh - imaginator-fcgi against a minimal libfcgi responder
# (bench/fcgi/baseline.c, same thread count), through nginx and lighttpd,
# with wrk: GET /health and POST /v1/analyze (examples/request.json, the
# deterministic embedded pipeline). A second baseline row answers the same
# POST with an answer as large as the cached one: what the web server and
# wrk spend moving those bytes, which no responder can save. Not part of
# make check.
#
#   bench/fcgi/run.sh [BUILDDIR]     (default: the current directory)
# Environment: WORKERS (2), THREADS (4), CONNS (32), DURATION (10s),
#              WRK_THREADS (2).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
WORKERS=${WORKERS:-2} THREADS=${THREADS:-4} CONNS=${CONNS:-32}
DURATION=${DURATION:-10s} WRK_THREADS=${WRK_THREADS:-2}
for c in wrk nginx lighttpd cc python3; do
	command -v $c >/dev/null 2>&1 || { echo "run.sh: $c not found" >&2; exit 2; }
done
[ -x "$build/imaginator-fcgi" ] || { echo "run.sh: build imaginator-fcgi first (make)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/ima-bench.XXXXXX)
pids=""
# The baseline needs SIGKILL: libfcgi's own SIGTERM handler only sets a flag
# that its blocking accept() never sees (libfcgi 2.4.2).
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
. "$src/bench/lib.sh"
export IMAGINATOR_PLUGIN_DIR=${IMAGINATOR_PLUGIN_DIR:-$build/plugins/.libs}
export IMAGINATOR_DATA_DIR=${IMAGINATOR_DATA_DIR:-$src/data}

cc -O2 -o "$tmp/baseline" "$src/bench/fcgi/baseline.c" -lfcgi -lpthread
"$build/imaginator-fcgi" --listen "unix:$tmp/ima.sock" --workers "$WORKERS" \
	--threads "$THREADS" 2>"$tmp/ima.log" & pids="$pids $!"
np=$(bench_port); lp=$(bench_port)
base_servers=""
for i in $(seq 1 "$WORKERS"); do base_servers="$base_servers server unix:$tmp/base$i.sock;"; done
bench_nginx_head
cat >>"$tmp/nginx/nginx.conf" <<NGINX
  upstream base { $base_servers }
  server {
    listen 127.0.0.1:$np;
    location /base/ { include /etc/nginx/fastcgi_params; fastcgi_pass base; fastcgi_keep_conn off; }
    location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$tmp/ima.sock; fastcgi_keep_conn off; }
  }
}
NGINX
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" & pids="$pids $!"
lt_base=""
for i in $(seq 1 "$WORKERS"); do lt_base="$lt_base ( \"socket\" => \"$tmp/base$i.sock\", \"check-local\" => \"disable\" ),"; done
cat >"$tmp/lighttpd.conf" <<LT
server.document-root = "$tmp"
server.bind = "127.0.0.1"
server.port = $lp
server.errorlog = "$tmp/lighttpd.log"
server.modules += ( "mod_fastcgi" )
fastcgi.server = (
  "/base/" => ( $lt_base ),
  "/" => (( "socket" => "$tmp/ima.sock", "check-local" => "disable" )),
)
LT
lighttpd -D -f "$tmp/lighttpd.conf" & pids="$pids $!"
for i in $(seq 1 200); do
	curl -sf -o /dev/null "http://127.0.0.1:$np/health" &&
		curl -sf -o /dev/null "http://127.0.0.1:$lp/health" && break
	sleep 0.05
done
# The size of the cached answer, for the baseline's same-size answer.
bytes=$(curl -sf -H 'Content-Type: application/json' --data-binary @"$src/examples/request.json" \
	"http://127.0.0.1:$np/v1/analyze" | wc -c)
# The baseline runs as many processes x threads as imaginator-fcgi.
for i in $(seq 1 "$WORKERS"); do
	"$tmp/baseline" "unix:$tmp/base$i.sock" "$THREADS" "$bytes" & pids="$pids $!"
done
for i in $(seq 1 200); do
	curl -sf -o /dev/null "http://127.0.0.1:$np/base/x" &&
		curl -sf -o /dev/null "http://127.0.0.1:$lp/base/x" && break
	sleep 0.05
done

# run URL [post]: prints "req/s p50_ms p99_ms"
run() {
	if [ "${2:-}" = post ]; then
		BODY="$src/examples/request.json" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" --latency \
			-s "$src/bench/fcgi/post.lua" "$1" >"$tmp/wrk.out"
	else
		wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" --latency "$1" >"$tmp/wrk.out"
	fi
	awk '
	function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
	/Requests\/sec/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Non-2xx/ { bad = $NF }
	END { printf "%.0f %.2f %.2f %s\n", rps, p50, p99, bad ? bad : 0 }' "$tmp/wrk.out"
}

printf '%s workers x %s threads, wrk -t%s -c%s -d%s, %s\n' "$WORKERS" "$THREADS" \
	"$WRK_THREADS" "$CONNS" "$DURATION" "$(nproc) CPUs"
printf '| server | target | req/s | p50 ms | p99 ms | non-2xx | ratio to baseline | ratio to same-size baseline |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|\n'
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }
for srv in nginx lighttpd; do
	[ $srv = nginx ] && p=$np || p=$lp
	set -- $(run "http://127.0.0.1:$p/base/x")
	brps=$1
	printf '| %s | baseline (libfcgi, GET, 2-byte answer) | %s | %s | %s | %s | 1.00 | |\n' $srv "$1" "$2" "$3" "$4"
	set -- $(run "http://127.0.0.1:$p/base/big" post)
	srps=$1
	printf '| %s | same-size baseline (libfcgi, the same POST, a %s-byte answer) | %s | %s | %s | %s | %s | 1.00 |\n' \
		$srv "$bytes" "$1" "$2" "$3" "$4" "$(ratio "$1" "$brps")"
	set -- $(run "http://127.0.0.1:$p/health")
	printf '| %s | GET /health | %s | %s | %s | %s | %s | |\n' $srv "$1" "$2" "$3" "$4" "$(ratio "$1" "$brps")"
	set -- $(CACHE_CONTROL=no-store run "http://127.0.0.1:$p/v1/analyze" post)
	printf '| %s | POST /v1/analyze, no-store (whole analysis) | %s | %s | %s | %s | %s | %s |\n' $srv "$1" "$2" "$3" "$4" \
		"$(ratio "$1" "$brps")" "$(ratio "$1" "$srps")"
	set -- $(run "http://127.0.0.1:$p/v1/analyze" post)
	printf '| %s | POST /v1/analyze, repeated (cache hit) | %s | %s | %s | %s | %s | %s |\n' $srv "$1" "$2" "$3" "$4" \
		"$(ratio "$1" "$brps")" "$(ratio "$1" "$srps")"
done
