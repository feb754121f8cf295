#!/bin/sh
# bench/auth/run.sh - authenticated cache hits against anonymous ones and
# against the bare libfcgi responder (bench/fcgi/baseline.c answering the
# same POST with an answer of the same size), all through nginx and in the
# same run, with wrk. imaginator-fcgi runs a production-like pipeline:
# auth_jwt (HS256 and RS256 keys, optional) and auth_apikey (optional), the
# request stage, the cache with a real Redis (unix socket), the
# deterministic analysis. Tokens come from python3-jwt, the RSA key from
# openssl. Rows: the bare responder, anonymous hits, HS256, RS256 and
# API-key hits, a fresh analysis (Cache-Control: no-store), and HS256 hits
# through a second instance with replay_max_bytes = 0 (the canonical
# lookup every authenticated hit took before identified repeats were
# replayed), and HS256 and API-key hits through a third instance that
# counts every request in Redis first, as production.conf's quota_requests
# does. Rows are measured ROUNDS times, interleaved; the table shows
# the median. Not part of make check.
#
#   bench/auth/run.sh [BUILDDIR]     (default: the current directory)
# Environment: WORKERS (2), THREADS (4), CONNS (32), DURATION (10s),
#              WRK_THREADS (2), ROUNDS (3).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
WORKERS=${WORKERS:-2} THREADS=${THREADS:-4} CONNS=${CONNS:-32}
DURATION=${DURATION:-10s} WRK_THREADS=${WRK_THREADS:-2} ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
for c in wrk nginx redis-server openssl curl cc jq sha256sum $PY; do
	command -v $c >/dev/null 2>&1 || { echo "run.sh: $c not found" >&2; exit 2; }
done
$PY -c 'import jwt, cryptography' 2>/dev/null ||
	{ echo "run.sh: needs python3-jwt and python3-cryptography" >&2; exit 2; }
[ -x "$build/imaginator-fcgi" ] || { echo "run.sh: build imaginator-fcgi first (make)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/ima-bench-auth.XXXXXX)
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
req="$src/examples/request.json"

# ---- credentials, made by tools that are not the code under test ----
bench_credentials

# ---- Redis and two imaginator-fcgi instances (replay on, replay off) ----
bench_redis_unix
bench_auth_conf ima 16777216
bench_auth_conf noreplay 0
# As production.conf counts requests: one Redis round trip per request
# (a limit no run reaches, so that every request is counted and served).
bench_auth_conf quota 16777216 '{ name = "quota_requests"; plugin = "quota"; options = { limits = "requests";
  redis_url = "unix://'"$tmp"'/redis.sock"; user_rpm = 1000000000; }; },'
for name in ima noreplay quota; do
	"$build/imaginator-fcgi" --listen "unix:$tmp/$name.sock" -c "$tmp/$name.conf" --workers "$WORKERS" \
		--threads "$THREADS" --no-access-log 2>"$tmp/$name.log" & pids="$pids $!"
done

# ---- nginx: one port for imaginator-fcgi and the baseline, one for the
# instance without replay ----
np=$(bench_port); nr=$(bench_port); nq=$(bench_port)
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
  server {
    listen 127.0.0.1:$nr;
    location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$tmp/noreplay.sock; fastcgi_keep_conn off; }
  }
  server {
    listen 127.0.0.1:$nq;
    location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$tmp/quota.sock; fastcgi_keep_conn off; }
  }
}
NGINX
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" & pids="$pids $!"
for i in $(seq 1 400); do
	curl -sf -o /dev/null "http://127.0.0.1:$np/health" &&
		curl -sf -o /dev/null "http://127.0.0.1:$nr/health" &&
		curl -sf -o /dev/null "http://127.0.0.1:$nq/health" && break
	sleep 0.05
done
# The size of the anonymous hit's answer (the third request: replayed), for
# the baseline's same-size answer.
for i in 1 2 3; do
	bytes=$(curl -sf -H 'Content-Type: application/json' --data-binary @"$req" \
		"http://127.0.0.1:$np/v1/analyze" | wc -c)
done
cc -O2 -o "$tmp/baseline" "$src/bench/fcgi/baseline.c" -lfcgi -lpthread
for i in $(seq 1 "$WORKERS"); do
	"$tmp/baseline" "unix:$tmp/base$i.sock" "$THREADS" "$bytes" & pids="$pids $!"
done
for i in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$np/base/x" && break; sleep 0.05; done

# ---- the rows ----
# Each row: "label|url|header|cache-control".
cat >"$tmp/rows" <<ROWS
bare libfcgi responder, the same POST, a $bytes-byte answer|http://127.0.0.1:$np/base/big||
anonymous, cache hit|http://127.0.0.1:$np/v1/analyze||
HS256, cache hit|http://127.0.0.1:$np/v1/analyze|Authorization: Bearer $hs256|
RS256, cache hit|http://127.0.0.1:$np/v1/analyze|Authorization: Bearer $rs256|
API key, cache hit|http://127.0.0.1:$np/v1/analyze|X-API-Key: $apikey|
HS256, cache hit without replay (replay_max_bytes = 0)|http://127.0.0.1:$nr/v1/analyze|Authorization: Bearer $hs256|
HS256, cache hit, requests counted by quota_requests (Redis)|http://127.0.0.1:$nq/v1/analyze|Authorization: Bearer $hs256|
API key, cache hit, requests counted by quota_requests (Redis)|http://127.0.0.1:$nq/v1/analyze|X-API-Key: $apikey|
anonymous, fresh analysis (no-store)|http://127.0.0.1:$np/v1/analyze||no-store
ROWS

# sample URL HEADER CC: one request by curl; prints "status x-cache path
# size": path is replay (answered before decoding, no stage ran), stages
# (the pipeline ran, up to the cache or through), or - (not imaginator).
sample() {
	curl -s -o "$tmp/s.body" -D "$tmp/s.head" -H 'Content-Type: application/json' \
		${2:+-H "$2"} ${3:+-H "Cache-Control: $3"} --data-binary @"$req" "$1" </dev/null >/dev/null
	st=$(sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p' "$tmp/s.head")
	xc=$(sed -n 's/^X-Cache: \([A-Z0-9-]*\).*/\1/p' "$tmp/s.head")
	n=$(jq -r 'if .run_metrics then (.run_metrics.stages | length) else "-" end' "$tmp/s.body" 2>/dev/null || echo -)
	case $n in 0) path=replay ;; [1-9]*) path=stages ;; *) path=- ;; esac
	echo "$st ${xc:--} $path $(wc -c <"$tmp/s.body")"
}
# Warm-up: each identity's answer computed, stored, and kept for replay.
while IFS='|' read -r label url header cc; do
	for i in 1 2 3; do sample "$url" "$header" "$cc" >/dev/null; done
done <"$tmp/rows"

# run URL HEADER CC: prints "req/s p50_ms p99_ms non2xx"
run() {
	BODY="$req" HEADER="$2" CACHE_CONTROL="$3" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" \
		--latency -s "$src/bench/fcgi/post.lua" "$1" </dev/null >"$tmp/wrk.out"
	awk '
	function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
	/Requests\/sec/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Non-2xx/ { bad = $NF }
	END { printf "%.0f %.2f %.2f %s\n", rps, p50, p99, bad ? bad : 0 }' "$tmp/wrk.out"
}

for r in $(seq 1 "$ROUNDS"); do
	i=0
	while IFS='|' read -r label url header cc; do
		i=$((i + 1))
		echo "$i $(run "$url" "$header" "$cc")" >>"$tmp/results"
	done <"$tmp/rows"
done

# The median of the rounds per row: "req/s p50 p99 non2xx" of the round
# whose req/s is the median.
median() {
	awk -v row="$1" '$1 == row { print $2, $3, $4, $5 }' "$tmp/results" | sort -n |
		awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'
}
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }
bare=$(median 1 | cut -d' ' -f1)
anon=$(median 2 | cut -d' ' -f1)
printf '%s workers x %s threads, wrk -t%s -c%s -d%s, median of %s rounds, %s CPUs, %s\n' \
	"$WORKERS" "$THREADS" "$WRK_THREADS" "$CONNS" "$DURATION" "$ROUNDS" "$(nproc)" "$(date -u +%Y-%m-%d)"
printf '| target | status, X-Cache, path | answer bytes | req/s | p50 ms | p99 ms | non-2xx | ratio to bare | ratio to anonymous hit |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|---:|\n'
i=0
while IFS='|' read -r label url header cc; do
	i=$((i + 1))
	set -- $(sample "$url" "$header" "$cc")
	how="$1 $2 $3"
	size=$4
	set -- $(median $i)
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$how" "$size" "$1" "$2" "$3" "$4" \
		"$(ratio "$1" "$bare")" "$(ratio "$1" "$anon")"
done <"$tmp/rows"
