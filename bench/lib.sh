# bench/lib.sh - what the benchmark scripts share (sourced after $src, $tmp
# and $pids are set): a free loopback port, the common head of an nginx
# configuration, a Redis on a unix socket, and credentials made by tools
# that are not the code under test (openssl, python3-jwt).

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
