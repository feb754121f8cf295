# bench/lib.sh - what the benchmark scripts share (sourced after $src, $tmp
# and $pids are set): a free loopback port, the common head of an nginx
# configuration, a Redis on a unix socket, credentials made by tools that
# are not the code under test (openssl, python3-jwt), and the cluster of
# the fault table and the soak (bench/faults, bench/soak).

# bench_stop PID...: the processes a script started, stopped by pid:
# SIGCONT (one may be stopped on purpose), SIGTERM, up to 5 s to exit,
# then SIGKILL. Safe under set -e.
bench_stop() {
	for p in "$@"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
	for i in $(seq 1 50); do
		alive=""
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for p in "$@"; do kill -9 "$p" 2>/dev/null || true; done
}

# bench_cleanup: for trap EXIT INT TERM: every process in $pids stopped,
# $tmp removed unless KEEP_TMP is set.
bench_cleanup() {
	# shellcheck disable=SC2086 # one word a pid
	bench_stop $pids
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}

# bench_port: a free TCP port on 127.0.0.1.
bench_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_nginx_head: starts $tmp/nginx/nginx.conf: one nginx process in the
# foreground, its files under $tmp/nginx, no access log, up to the opening
# of the http block; the caller appends its servers and the closing brace.
bench_nginx_head() {
	mkdir -p "$tmp/nginx"
	cat >"$tmp/nginx/nginx.conf" <<NGINX
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
daemon off; worker_processes 1; pid $tmp/nginx/pid; error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/b; fastcgi_temp_path $tmp/nginx/f; proxy_temp_path $tmp/nginx/p;
NGINX
}

# bench_redis_unix: redis-server on $tmp/redis.sock, nothing persisted.
bench_redis_unix() {
	redis-server --port 0 --unixsocket "$tmp/redis.sock" --unixsocketperm 700 --save '' \
		--appendonly no --dir "$tmp" --loglevel warning >"$tmp/redis.log" 2>&1 &
	pids="$pids $!"
	for i in $(seq 1 200); do [ -S "$tmp/redis.sock" ] && break; sleep 0.05; done
}

# bench_credentials: an RSA key pair ($tmp/rsa.key, rsa.pub), an HS256
# secret in IMAGINATOR_JWT_SECRET, one HS256 and one RS256 (kid rsa1)
# token of tenant acme in $hs256 and $rs256, an API key and its SHA-256 in
# $apikey and $apihash.
bench_credentials() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/rsa.key" 2>/dev/null
	openssl pkey -in "$tmp/rsa.key" -pubout -out "$tmp/rsa.pub" 2>/dev/null
	export IMAGINATOR_JWT_SECRET="bench-hs256-secret-of-forty-bytes-012345"
	hs256=$(/usr/bin/python3 -c 'import jwt, os, time
print(jwt.encode({"sub": "hs-user", "tenant": "acme", "exp": int(time.time()) + 86400, "scope": "analyze"},
                 os.environ["IMAGINATOR_JWT_SECRET"], algorithm="HS256"))')
	rs256=$(/usr/bin/python3 -c 'import jwt, sys, time
print(jwt.encode({"sub": "rs-user", "tenant": "acme", "exp": int(time.time()) + 86400, "scope": "analyze"},
                 open(sys.argv[1]).read(), algorithm="RS256", headers={"kid": "rsa1"}))' "$tmp/rsa.key")
	apikey="ak_bench_0123456789abcdef"
	apihash=$(printf %s "$apikey" | sha256sum | cut -d' ' -f1)
}

# bench_auth_conf NAME REPLAY_MAX_BYTES [STAGE]: $tmp/NAME.conf, the
# pipeline of bench/auth (after bench_redis_unix and bench_credentials):
# both auth stages optional, the production cache options with a key prefix
# of its own for each instance, the deterministic analysis; STAGE goes
# between auth and the cache.
bench_auth_conf() {
	cp "$src/conf/request.conf" "$src/conf/analysis.conf" "$tmp/"
	cat >"$tmp/$1.conf" <<CONF
imaginator = { max_body_bytes = 524288; max_depth = 32; };
pipeline = (
{ name = "auth_jwt"; plugin = "auth_jwt"; options = { required = false;
  keys = "rsa1=RS256:file:$tmp/rsa.pub"; }; },
{ name = "auth_apikey"; plugin = "auth_apikey"; options = { required = false;
  keys = "bench:$apihash:acme:analyze"; }; },
${3:-}
@include "request.conf"
,
{ name = "cache"; plugin = "cache"; options = {
  l1_max_bytes = 134217728; replay_max_bytes = $2; key_prefix = "$1:";
  redis_url = "unix://$tmp/redis.sock"; redis_timeout_ms = 50;
  breaker_failures = 3; breaker_cooldown_ms = 5000; coalesce_wait_ms = 2000; }; },
@include "analysis.conf"
);
CONF
}

# ---- the cluster of bench/faults and bench/soak: nginx in front of three
# imaginator-fcgi hosts, Redis under Sentinel, the test LLM server. These
# need $build too, and IMAGINATOR_PLUGIN_DIR set. ----

bench_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# bench_until SECONDS CMD...: polls CMD every 100 ms; 0 when it succeeded
# in time.
bench_until() {
	deadline=$(($(bench_now_ms) + $1 * 1000))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(bench_now_ms)" -ge $deadline ] && return 1
		sleep 0.1
	done
}

# bench_rc PORT ARGS...: redis-cli on 127.0.0.1:PORT, errors dropped.
bench_rc() { redis-cli -h 127.0.0.1 -p "$@" 2>/dev/null; }

# bench_redis_start DIR PORT [ARGS]: a redis-server on 127.0.0.1:PORT, its
# files in $tmp/DIR; sets redis_pid and pid_PORT.
bench_redis_start() {
	d=$1
	p=$2
	shift 2
	mkdir -p "$tmp/$d"
	redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/$d" \
		--loglevel warning "$@" >>"$tmp/$d.log" 2>&1 &
	redis_pid=$!
	pids="$pids $redis_pid"
	eval "pid_$p=$redis_pid"
}

# bench_sentinel: a primary on $P, its replica on $R and three Sentinels
# (ports in $SPORTS, "host:port,..." in $SENT) monitoring it as "m",
# down-after 30 s. 1 when one of them did not come up.
bench_sentinel() {
	P=$(bench_port)
	R=$(bench_port)
	bench_redis_start ra "$P"
	bench_until 10 bench_rc "$P" ping || { echo "redis did not start" >&2; return 1; }
	bench_redis_start rb "$R" --replicaof 127.0.0.1 "$P"
	bench_until 20 sh -c "redis-cli -p $R info replication | grep -q master_link_status:up" ||
		{ echo "replica did not sync" >&2; return 1; }
	SENT=""
	SPORTS=""
	for i in 1 2 3; do
		S=$(bench_port)
		cat >"$tmp/sentinel$i.conf" <<SENTINEL
port $S
bind 127.0.0.1
daemonize no
dir $tmp
sentinel monitor m 127.0.0.1 $P 2
sentinel down-after-milliseconds m 30000
sentinel failover-timeout m 10000
SENTINEL
		redis-server "$tmp/sentinel$i.conf" --sentinel --loglevel notice >"$tmp/sentinel$i.log" 2>&1 &
		pids="$pids $!"
		SENT="$SENT${SENT:+,}127.0.0.1:$S"
		SPORTS="$SPORTS${SPORTS:+ }$S"
	done
	for S in $SPORTS; do
		bench_until 30 bench_sentinel_knows_all "$S" || { echo "sentinels did not meet" >&2; return 1; }
	done
}
bench_sentinel_knows_all() {
	bench_rc "$1" sentinel master m | grep -A1 '^num-other-sentinels$' | tail -n1 | grep -qx 2
}
# bench_primary: the port of the primary Sentinel names now.
bench_primary() { bench_rc "${SPORTS%% *}" sentinel get-master-addr-by-name m | tail -n1; }

# bench_llm_start [PORT]: tests/llm/openai-server.py on PORT (default any),
# its first $BENCH_LLM_CALLS (300000) completions held 50 ms; sets llm_pid
# and llm_port.
bench_llm_start() {
	if [ ! -s "$tmp/script50.json" ]; then
		python3 -c "import json, sys; print(json.dumps([{'delay_ms': 50}] * int(sys.argv[1])))" \
			"${BENCH_LLM_CALLS:-300000}" >"$tmp/script50.json"
	fi
	rm -f "$tmp/llm.port"
	python3 "$src/tests/llm/openai-server.py" --port "${1:-0}" --port-file "$tmp/llm.port" \
		--max-stall 10 --script "$tmp/script50.json" 2>>"$tmp/llm.err" &
	llm_pid=$!
	pids="$pids $llm_pid"
	bench_until 10 test -s "$tmp/llm.port" || { echo "LLM server did not start" >&2; return 1; }
	llm_port=$(cat "$tmp/llm.port")
}
# bench_llm_script JSON [COUNT]: every completion from now on (the next
# COUNT, default 300000) behaves as JSON says.
bench_llm_script() {
	python3 -c "import json, sys; print(json.dumps([json.loads(sys.argv[1])] * int(sys.argv[2])))" \
		"$1" "${2:-300000}" |
		curl -s -m 20 -o /dev/null -X POST --data-binary @- "http://127.0.0.1:$llm_port/_test/script"
}

# bench_hosts_conf [crash]: $tmp/production.conf, conf/production.conf
# with the cache on Redis under Sentinel ($SENT), LLM deadlines short enough
# for a 5 s fault window and, with "crash", the crash test stage after the
# request stage; the environment it reads (a fresh API key in $apikey, the
# test tenant without limits, the LLM server on $llm_port), except
# IMAGINATOR_REDIS_URL, the quota stages' Redis, which the caller sets.
bench_hosts_conf() {
	cp "$src"/conf/*.conf "$tmp/"
	python3 - "$tmp/production.conf" "$SENT" "${1:-}" <<'PY' || return 1
import re, sys
path, sent, crash = sys.argv[1], sys.argv[2], sys.argv[3] == "crash"
s = open(path).read()
i = s.index('plugin = "cache";')
j = s.index('redis_url', i)
k = s.index('\n', j)
s = s[:j] + 'redis_url = "redis-sentinel://%s/m";' % sent + s[k:]
if crash:
    s = s.replace('@include "request.conf"\n  ,',
                  '@include "request.conf"\n  ,\n  { name = "crash"; plugin = "crash"; },', 1)
    if 'plugin = "crash"' not in s:
        sys.exit("no request stage to put the crash stage after")
s = s.replace('plugin = "llm_openrouter";\n    options = {',
              'plugin = "llm_openrouter";\n    options = {\n      call_timeout_ms = 3000;\n'
              '      attempt_timeout_ms = 1500;\n      connect_timeout_ms = 500;', 1)
open(path, "w").write(s)
PY
	grep -q call_timeout_ms "$tmp/production.conf" || return 1
	apikey="ak_bench_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	export IMAGINATOR_API_KEYS="test:$(printf %s "$apikey" | sha256sum | cut -d' ' -f1):test:analyze"
	export IMAGINATOR_QUOTA_TENANTS="test:0:0:0:0"
	export IMAGINATOR_LLM_BASE_URL="http://127.0.0.1:$llm_port/api/v1" OPENROUTER_API_KEY=sk-test-bench
	unset IMAGINATOR_ENV
}

# bench_host_start N: host N of three (127.0.0.N+1, 2 workers x 4 threads,
# $tmp/production.conf) on its address in $HN; supervisor pid in host_pid_N.
bench_host_start() {
	eval "addr=\$H$1"
	"$build/imaginator-fcgi" --listen "$addr" -c "$tmp/production.conf" --workers 2 --threads 4 \
		2>>"$tmp/host$1.err" &
	eval "host_pid_$1=$!"
	pids="$pids $!"
}
bench_host_up() { "$build/tests/e2e/fcgi-client" "$1" /health/live >/dev/null 2>&1; }
# bench_hosts: the three hosts, addresses in $H1 $H2 $H3 and $HOSTS, each
# answering /health/live.
bench_hosts() {
	H1=127.0.0.2:$(bench_port) H2=127.0.0.3:$(bench_port) H3=127.0.0.4:$(bench_port)
	HOSTS="$H1 $H2 $H3"
	for n in 1 2 3; do bench_host_start $n; done
	for h in $HOSTS; do
		bench_until 30 bench_host_up "$h" || { echo "host $h did not start" >&2; cat "$tmp"/host*.err >&2; return 1; }
	done
}

# bench_nginx_upstream: nginx on 127.0.0.1:$nport (URL in $base, pid in
# nginx_pid) with one upstream of the three hosts.
bench_nginx_upstream() {
	nport=$(bench_port)
	bench_nginx_head
	cat >>"$tmp/nginx/nginx.conf" <<NGINX
  # max_fails=0: a host is never taken out for failures. One crashing
  # worker fails the requests it held, not its host (the other worker and
  # its replacement serve on); a dead host refuses connections at once,
  # and the retry takes the request elsewhere.
  upstream ima {
    server $H1 max_fails=0;
    server $H2 max_fails=0;
    server $H3 max_fails=0;
  }
  server {
    listen 127.0.0.1:$nport backlog=1024;
    client_max_body_size 2m;
    client_body_timeout 30s;
    include /etc/nginx/fastcgi_params;
    fastcgi_keep_conn off;
    fastcgi_connect_timeout 1s;
    fastcgi_read_timeout 30s;
    fastcgi_send_timeout 30s;
    # POST /v1/analyze is idempotent: the same input gives the same answer
    # and changes nothing but the cache, which stores that same answer.
    fastcgi_next_upstream error timeout non_idempotent;
    fastcgi_next_upstream_tries 2;
    location / { fastcgi_pass ima; }
  }
}
NGINX
	nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx/stderr" &
	nginx_pid=$!
	pids="$pids $nginx_pid"
	base="http://127.0.0.1:$nport"
	bench_until 10 curl -sf -o /dev/null "$base/health/live" ||
		{ echo "nginx did not start" >&2; cat "$tmp/nginx/stderr" >&2; return 1; }
}

# bench_mixed SECONDS TAG OUTFILE [CONNS]: bench/faults/mixed.lua under wrk
# through nginx (1 thread, CONNS or $CONNS connections); its summary line
# ("sent=... failed=... fail5xx=...") ends OUTFILE.
bench_mixed() {
	API_KEY=$apikey TAG=$2 REQ=$src/examples/request.json \
		wrk -t1 -c"${4:-$CONNS}" -d"$1"s --timeout 10s -s "$src/bench/faults/mixed.lua" "$base" >"$3" 2>&1
}
# bench_field NAME FILE: the value of NAME= in a bench_mixed summary, 0 if none.
bench_field() {
	v=$(sed -n "s/.* $1=\([0-9.]*\).*/\1/p; s/^$1=\([0-9.]*\).*/\1/p" "$2" | tail -n1)
	echo "${v:-0}"
}
