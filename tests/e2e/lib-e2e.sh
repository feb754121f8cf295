# lib-e2e.sh - helpers for the FastCGI end-to-end tests (sourced after
# tests/lib.sh): free ports, bounded waits, starting and stopping
# imaginator-fcgi, and the checks every web server must pass.

FCGI="$top_builddir/imaginator-fcgi"
CLIENT="$top_builddir/tests/e2e/fcgi-client"
REQ="$top_srcdir/examples/request.json"
e2e_pids=""

[ -x "$FCGI" ] || skip_all "imaginator-fcgi not built"
[ -x "$CLIENT" ] || skip_all "tests/e2e/fcgi-client not built"
command -v jq >/dev/null 2>&1 || skip_all "jq not installed (apt-get install jq)"

# Kills what the test started, by pid, then the temp dir goes (lib.sh trap).
e2e_cleanup() {
	for p in $e2e_pids; do
		kill "$p" 2>/dev/null
	done
	for p in $e2e_pids; do
		wait_gone "$p" 5 || kill -9 "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap e2e_cleanup EXIT INT TERM

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_until SECONDS command...: polls every 20 ms until the command succeeds.
wait_until() {
	deadline=$(($(date +%s%N) / 1000000 + $1 * 1000))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $(($(date +%s%N) / 1000000)) -ge $deadline ] && return 1
		sleep 0.02
	done
	return 0
}

alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
wait_gone() { wait_until "$2" dead "$1"; }

# start_fcgi SOCKSPEC [args...]: runs imaginator-fcgi in the background
# (stderr in $tmp/fcgi.err) and waits until /health answers on the socket.
start_fcgi() {
	fcgi_sock=$1
	shift
	"$FCGI" --listen "$fcgi_sock" "$@" 2>>"$tmp/fcgi.err" &
	fcgi_pid=$!
	e2e_pids="$e2e_pids $fcgi_pid"
	wait_until 20 fcgi_up_or_dead "$fcgi_sock" && alive "$fcgi_pid"
}
fcgi_up_or_dead() {
	dead "$fcgi_pid" || "$CLIENT" "$1" /health
}

# stop_fcgi: SIGTERM, wait (bounded) and check the exit status.
stop_fcgi() {
	kill -TERM "$fcgi_pid"
	wait "$fcgi_pid"
	fcgi_rc=$?
}

# worker_pids: the supervisor's children.
worker_pids() {
	ps -o pid= --ppid "$fcgi_pid" | tr -d ' ' | sort
}

# A configuration with a small body limit, so 413 is cheap to provoke.
write_test_conf() {
	cp "$top_srcdir/conf/request.conf" "$top_srcdir/conf/analysis.conf" "$tmp/"
	cat >"$tmp/test.conf" <<EOF
imaginator = { max_body_bytes = 65536; max_depth = 32; };
fcgi = { admin_routes = 1; };
pipeline = (
@include "request.conf"
,
{ name = "cache"; plugin = "cache"; options = { redis_url = "\${IMA_TEST_REDIS_URL:-none}"; }; },
@include "analysis.conf"
);
EOF
}

# A msgpack request built by hand: no msgpack encoder is needed.
write_msgpack_request() {
	r="Dana Whitfield. Senior Data Engineer with 8 years of Python, SQL, Spark and Kafka on AWS. Led a team of 5 engineers."
	j="Lead Data Engineer: Python, SQL, Kafka, Spark Structured Streaming, Kubernetes, Terraform; leading a team."
	printf "\\202\\253resume_text\\331\\$(printf %03o ${#r})%s\\246job_ad\\331\\$(printf %03o ${#j})%s" \
		"$r" "$j" >"$tmp/req.msgpack"
}

# http METHOD URL [curl args...]: body in $tmp/body, headers in
# $tmp/headers; prints the status code.
http() {
	m=$1
	u=$2
	shift 2
	curl -s -m 20 -X "$m" -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "$@" "$u"
}

header() {
	grep -i "^$1:" "$tmp/headers" | head -n1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'
}

# expect DESC WANT GOT [jq filter on the body]
expect() {
	if [ "$3" != "$2" ]; then
		not_ok "$1" "status $3, wanted $2" "$(head -c 400 "$tmp/body" 2>/dev/null)"
	elif [ -n "$4" ] && ! jq -e "$4" "$tmp/body" >/dev/null 2>&1; then
		not_ok "$1" "body does not match $4" "$(head -c 400 "$tmp/body")"
	else
		ok "$1"
	fi
}

metric() {
	curl -s -m 10 "$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'
}

# web_checks BASE NAME: everything a client sees through one web server.
web_checks() {
	base=$1
	name=$2
	a200='imaginator_requests_total{route="/v1/analyze",status="200"}'
	before=$(metric "$base" "$a200")

	s=$(http POST "$base/v1/analyze" -H 'Content-Type: application/json' --data-binary @"$REQ")
	expect "$name: POST /v1/analyze answers the analysis" 200 "$s" \
		'.processing_status == "COMPLETED" and (.experiences | length) >= 2'
	id=$(header X-Request-Id)
	[ -n "$id" ] && ok "$name: X-Request-Id generated ($id)" || not_ok "$name: X-Request-Id generated"
	s=$(http POST "$base/analyze" -H 'Content-Type: application/json; charset=utf-8' \
		-H 'X-Request-Id: client-id-42' --data-binary @"$REQ")
	expect "$name: POST /analyze (existing clients)" 200 "$s" '.processing_status == "COMPLETED"'
	[ "$(header X-Request-Id)" = "client-id-42" ] && ok "$name: the client's X-Request-Id is kept" ||
		not_ok "$name: the client's X-Request-Id is kept" "got '$(header X-Request-Id)'"
	s=$(http GET "$base/health" -H 'X-Request-Id: bad id with spaces <script>')
	[ "$(header X-Request-Id)" != "" ] && ! header X-Request-Id | grep -q script &&
		ok "$name: an unsafe X-Request-Id is replaced" ||
		not_ok "$name: an unsafe X-Request-Id is replaced" "$(header X-Request-Id)"

	printf '{\n  "resume_text": "x",\n  "job_ad": \n}' >"$tmp/bad.json"
	s=$(http POST "$base/v1/analyze" -H 'Content-Type: application/json' --data-binary @"$tmp/bad.json")
	expect "$name: malformed JSON is 400 with line and column" 400 "$s" \
		'.error.status == 400 and .error.line == 4 and .error.column > 0'
	printf '{"resume_text": "   "}' >"$tmp/blank.json"
	s=$(http POST "$base/v1/analyze" -H 'Content-Type: application/json' --data-binary @"$tmp/blank.json")
	expect "$name: blank resume is 422 naming the field" 422 "$s" \
		'.error.field == "resume_text" and .error.code == "invalid_field"'
	s=$(http GET "$base/v1/analyze")
	expect "$name: GET /v1/analyze is 405" 405 "$s" '.error.status == 405'
	[ "$(header Allow)" = "POST" ] && ok "$name: 405 carries Allow: POST" ||
		not_ok "$name: 405 carries Allow: POST" "$(cat "$tmp/headers")"
	s=$(http GET "$base/no/such/path")
	expect "$name: unknown path is 404" 404 "$s" '.error.code == "not_found"'
	s=$(http POST "$base/v1/analyze" -H 'Content-Type: text/plain' --data-binary @"$REQ")
	expect "$name: text/plain is 415" 415 "$s" '.error.status == 415'
	head -c 70000 /dev/zero | tr '\0' 'a' >"$tmp/big"
	s=$(http POST "$base/v1/analyze" -H 'Content-Type: application/json' --data-binary @"$tmp/big")
	expect "$name: a body over max_body_bytes is 413" 413 "$s" '.error.code == "too_large"'
	# No body and no Content-Length: some servers answer 411 themselves.
	s=$(http POST "$base/v1/analyze" -H 'Content-Type: application/json')
	[ "$s" = 411 ] && ok "$name: POST without Content-Length is 411" ||
		not_ok "$name: POST without Content-Length is 411" "status $s"

	write_msgpack_request
	s=$(http POST "$base/v1/analyze" -H 'Content-Type: application/msgpack' \
		-H 'Accept: application/msgpack' --data-binary @"$tmp/req.msgpack")
	if [ "$s" = 200 ] && [ "$(header Content-Type)" = "application/msgpack" ] &&
		grep -aq processing_status "$tmp/body" && grep -aq COMPLETED "$tmp/body" &&
		! head -c1 "$tmp/body" | grep -q '{'; then
		ok "$name: msgpack in, msgpack out"
	else
		not_ok "$name: msgpack in, msgpack out" "status $s, $(header Content-Type)"
	fi
	s=$(http POST "$base/v1/analyze" -H 'Content-Type: application/msgpack' --data-binary @"$tmp/req.msgpack")
	expect "$name: msgpack in, JSON out" 200 "$s" '.processing_status == "COMPLETED"'
	printf '\337\377\377\377\377' >"$tmp/evil.msgpack"
	s=$(http POST "$base/v1/analyze" -H 'Content-Type: application/msgpack' \
		-H 'Accept: application/msgpack' --data-binary @"$tmp/evil.msgpack")
	[ "$s" = 400 ] && grep -aq malformed_msgpack "$tmp/body" &&
		ok "$name: a hostile msgpack map header is 400 (msgpack error object)" ||
		not_ok "$name: a hostile msgpack map header is 400" "status $s"

	s=$(http GET "$base/health")
	expect "$name: /health" 200 "$s" '.status == "ok" and (.stages | length) >= 1 and (.dependencies | type) == "array"'
	s=$(http GET "$base/v1/pipeline")
	expect "$name: /v1/pipeline lists the stages" 200 "$s" 'tostring | test("experience")'
	after=$(metric "$base" "$a200")
	[ "${after:-0}" -ge $((${before:-0} + 3)) ] &&
		ok "$name: /metrics counts the analyses (${before:-0} -> $after)" ||
		not_ok "$name: /metrics counts the analyses" "before ${before:-0}, after ${after:-none}"
	curl -s -m 10 "$base/metrics" >"$tmp/metrics"
	grep -q '^imaginator_stage_duration_seconds_count{stage="skills"} [1-9]' "$tmp/metrics" &&
		grep -q '^imaginator_request_duration_seconds_bucket{route="/v1/analyze",le="+Inf"}' "$tmp/metrics" &&
		ok "$name: /metrics has latency histograms per route and per stage" ||
		not_ok "$name: /metrics has latency histograms" "$(head -c 600 "$tmp/metrics")"
}

# restricted_checks BASE NAME CONF: the operator's routes (/metrics,
# /health, /v1/pipeline, /v1/cache/invalidate) are for loopback only in
# every example config: CONF must say so, 127.0.0.1 gets through, and
# 127.0.0.2 (a loopback address too, but not on the allow list) stands for
# any other client and gets 403, while /v1/analyze stays open to it.
restricted_checks() {
	base=$1
	name=$2
	conf=$3
	grep -q "$4" "$conf" && ok "$name: the example restricts the operator's routes ($4)" ||
		not_ok "$name: the example restricts the operator's routes" "no '$4' in $conf"
	for r in /metrics /health /health/live /health/ready /v1/pipeline; do
		s=$(http GET "$base$r")
		[ "$s" = 200 ] && ok "$name: GET $r from 127.0.0.1 gets through" ||
			not_ok "$name: GET $r from 127.0.0.1 gets through" "status $s"
	done
	s=$(http POST "$base/v1/analyze" --interface 127.0.0.2 \
		-H 'Content-Type: application/json' --data-binary @"$REQ")
	if [ "$s" != 200 ]; then
		# A host without the whole 127/8 on lo: only the config check.
		ok "$name: # SKIP no second loopback address to play another client (status $s)"
		return 0
	fi
	ok "$name: POST /v1/analyze from 127.0.0.2 is served"
	for r in /metrics /health /health/live /health/ready /v1/pipeline /v1/cache/invalidate; do
		s=$(http GET "$base$r" --interface 127.0.0.2)
		[ "$s" = 403 ] && ok "$name: GET $r from 127.0.0.2 is 403" ||
			not_ok "$name: GET $r from 127.0.0.2 is 403" "status $s" "$(head -c 200 "$tmp/body")"
	done
	# A path our router would map to /metrics must not slip past the web
	# server's match (a query string, a doubled slash).
	s=$(http GET "$base/metrics?x=1" --interface 127.0.0.2)
	[ "$s" = 403 ] || [ "$s" = 404 ] && ok "$name: /metrics?x=1 from 127.0.0.2 is not served ($s)" ||
		not_ok "$name: /metrics?x=1 from 127.0.0.2 is not served" "status $s"
	s=$(http GET "$base//metrics" --interface 127.0.0.2)
	[ "$s" = 403 ] || [ "$s" = 404 ] && ok "$name: //metrics from 127.0.0.2 is not served ($s)" ||
		not_ok "$name: //metrics from 127.0.0.2 is not served" "status $s"
}
