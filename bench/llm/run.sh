#!/bin/sh
# bench/llm/run.sh - what the core's asynchronous LLM calls cost, with a
# fixed-delay OpenAI-style upstream of our own (bench/llm/upstream.c):
#   1. framework overhead per analysis through nginx at 32 concurrent
#      requests, upstream at 50 ms: a pipeline whose call goes through the
#      core against the same pipeline without the call;
#   2. in-flight scale: 256 concurrent analyses, upstream at 2 s, 4 workers
#      x 64 threads: throughput, errors, RSS per worker, upstream connections;
#   3. parallel speed-up in process (imaginator analyze): two 300 ms calls
#      one after the other against the same two submitted together.
# Everything runs on free loopback ports and unix sockets under a temporary
# directory and is stopped by pid. Rounds are interleaved and the table
# shows medians over them. Not part of make check.
#
#   bench/llm/run.sh [BUILDDIR]     (default: the current directory)
# Environment: BENCH ("1 2 3"), PIPELINE (fetch: the fetch test stage;
#   llm: gap_llm + llm_openrouter), ROUNDS (7, bench 1), ROUNDS2 (3),
#   DURATION1 (10s), DURATION2 (30s), RUNS3 (10), WRK_THREADS (2),
#   WORKERS1 (2), THREADS1 (32), WORKERS2 (4), THREADS2 (64), STAGGER1 (50:
#   bench 1 spreads its connections' first requests over 50 ms, see post.lua;
#   0 starts them together).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
BENCH=${BENCH:-1 2 3} PIPELINE=${PIPELINE:-fetch}
ROUNDS=${ROUNDS:-7} ROUNDS2=${ROUNDS2:-3} RUNS3=${RUNS3:-10}
DURATION1=${DURATION1:-10s} DURATION2=${DURATION2:-30s} WRK_THREADS=${WRK_THREADS:-2}
STAGGER1=${STAGGER1:-50}
WORKERS1=${WORKERS1:-2} THREADS1=${THREADS1:-32} WORKERS2=${WORKERS2:-4} THREADS2=${THREADS2:-64}
for c in wrk nginx cc curl jq ss python3; do
	command -v $c >/dev/null 2>&1 || { echo "run.sh: $c not found" >&2; exit 2; }
done
for f in imaginator imaginator-fcgi tests/plugins/.libs/fetch.so tests/plugins/.libs/slow.so; do
	[ -e "$build/$f" ] || { echo "run.sh: $build/$f missing (make; make check TESTS=)" >&2; exit 2; }
done
case $PIPELINE in
fetch) ;;
llm) [ -e "$build/plugins/.libs/llm_openrouter.so" ] && [ -e "$build/plugins/.libs/gap_llm.so" ] ||
	{ echo "run.sh: PIPELINE=llm needs llm_openrouter and gap_llm built" >&2; exit 2; } ;;
*) echo "run.sh: PIPELINE is fetch or llm" >&2; exit 2 ;;
esac
tmp=$(mktemp -d /tmp/ima-llm-bench.XXXXXX)
pids=""
. "$src/bench/lib.sh"
cleanup() {
	# shellcheck disable=SC2086 # one word a pid
	bench_stop $pids
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
export IMAGINATOR_PLUGIN_DIR=${IMAGINATOR_PLUGIN_DIR:-$build/plugins/.libs}:$build/tests/plugins/.libs
export IMAGINATOR_DATA_DIR=${IMAGINATOR_DATA_DIR:-$src/data}
export OPENROUTER_API_KEY=bench-dummy-key # the upstream takes any
req=$src/examples/request.json
cc -O2 -o "$tmp/upstream" "$src/bench/llm/upstream.c"
wait_for() { # FILE-or-URL: poll, bounded
	for i in $(seq 1 200); do
		case $1 in
		http*) curl -sf -o /dev/null "$1" && return 0 ;;
		*) [ -s "$1" ] && return 0 ;;
		esac
		sleep 0.05
	done
	echo "run.sh: $1 did not come up" >&2
	exit 1
}
# upstream NAME DELAY_MS [ARGS]: sets NAME_url
upstream() {
	"$tmp/upstream" -d "$2" -f "$tmp/$1.port" ${3:-} 2>"$tmp/$1.log" & pids="$pids $!"
	wait_for "$tmp/$1.port"
	eval "$1_url=http://127.0.0.1:$(cat "$tmp/$1.port")"
}

# conf NAME KIND [ARG]: a pipeline of the request stage and the
# deterministic analysis (no cache stage: every request runs it all), then
#   nocall:          nothing more;
#   sleep MS:        the slow test stage blocking its thread MS (a call's
#                    wait without the call machinery);
#   call URL:        one call through the core to URL, last, so that it
#                    does not overlap the analysis: the fetch test stage
#                    (PIPELINE=fetch) or gap_llm + llm_openrouter (llm);
#   fetch2 URL SEQ:  two calls of the fetch stage, together or one after
#                    the other, after the request stage alone (the analysis
#                    would only add a fixed time to both).
chat='{\"model\": \"test/model-a\", \"messages\": [{\"role\": \"user\", \"content\": \"bench\"}]}'
conf() {
	analysis="@include \"$src/conf/analysis.conf\""
	case $2 in
	nocall) extra= ;;
	sleep) extra=", { name = \"wait\"; plugin = \"slow\"; options = { delay_ms = $3; }; }" ;;
	call)
		if [ "$PIPELINE" = fetch ]; then
			extra=", { name = \"fetch\"; plugin = \"fetch\"; options = { url = \"$3/v1/chat/completions\"; body = \"$chat\"; }; }"
		else
			extra=$(llm_entries "$3")
		fi ;;
	fetch2) analysis=; extra=", { name = \"fetch\"; plugin = \"fetch\"; options = { url = \"$3/v1/chat/completions\"; body = \"$chat\"; count = 2; sequential = $4; }; }" ;;
	esac
	cat >"$tmp/$1.conf" <<CONF
pipeline = (
  @include "$src/conf/request.conf"
  ${analysis:+,}
$analysis
  $extra
);
CONF
}
# The provider first (the core routes every completion to the pipeline's
# first stage with an llm_submit hook), then gap_llm as conf/llm.conf sets
# it, alone: one call per analysis, the one the upstream's answer fits. No
# model_select: the provider's own model is asked.
llm_entries() {
	cat <<ENTRIES
,
{ name = "llm"; plugin = "llm_openrouter"; options = { base_url = "$1/api/v1"; model = "test/model-a"; }; }
,
{ name = "gap_llm"; plugin = "gap_llm";
  options = { prompt = "prompts/gap.v2.json"; prompt_version = "gap.v2"; task = "gap"; repair = true; }; }
ENTRIES
}

# fcgi NAME CONF WORKERS THREADS: one imaginator-fcgi on $tmp/NAME.sock;
# sets NAME_pid (the supervisor).
fcgi() {
	"$build/imaginator-fcgi" -c "$tmp/$2.conf" --listen "unix:$tmp/$1.sock" --workers "$3" \
		--threads "$4" --backlog 1024 2>"$tmp/$1.log" & pids="$pids $!"
	eval "$1_pid=$!"
}

# cpu NAME: CPU time (ms) its supervisor's workers have used so far.
cpu() {
	sup=$(eval echo "\$${1}_pid")
	tck=$(getconf CLK_TCK)
	for w in $(ps -o pid= --ppid "$sup"); do cat "/proc/$w/stat"; done |
		awk -v t="$tck" '{ sub(/^.*\) /, ""); s += $12 + $13 } END { printf "%.0f\n", s * 1000 / t }'
}

# run PORT CONNS DURATION [THINK_MS]: prints
# "requests p50_us p99_us errors non2xx seconds rps mean_us"
run() {
	BODY=$req THINK_MS=${4:-0} STAGGER_MS=${STAGGER_MS:-0} CONNS=$2 WRK_THREADS=$WRK_THREADS \
		wrk -t"$WRK_THREADS" -c"$2" -d"$3" --timeout 10s \
		-s "$src/bench/llm/post.lua" "http://127.0.0.1:$1/v1/analyze" >"$tmp/wrk.out" 2>&1
	awk '$1 == "RESULT" { printf "%s %s %s %s %s %s %.1f %s\n", $2, $3, $4, $5, $6, $7, $2 / $7, $8 }' "$tmp/wrk.out"
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$1" '{ print $c }' "$2"; }

# ---- start everything ----
# The LLM pipeline's upstream answers what gap_llm's schema (gap.v2) asks,
# as long as a model would: bench/llm/gap-reply.json, 3.7 KB of content for
# examples/request.json. check_answer below fails when it no longer fits.
reply_args=""
if [ "$PIPELINE" = llm ]; then reply_args="-r $src/bench/llm/gap-reply.json"; fi
upstream up1 50 "$reply_args"
upstream up2 2000 "$reply_args"
upstream up3 300
conf nocall nocall
conf sleep1 sleep 50
conf call1 call "$up1_url"
conf sleep2 sleep 2000
conf call2 call "$up2_url"
conf par fetch2 "$up3_url" false
conf seq fetch2 "$up3_url" true
names1="nocall sleep1 call1" names2="sleep2 call2"
servers=""
for n in $names1; do fcgi $n $n "$WORKERS1" "$THREADS1"; done
for n in $names2; do fcgi $n $n "$WORKERS2" "$THREADS2"; done
mkdir -p "$tmp/nginx"
for n in $names1 $names2; do
	p=$(bench_port)
	eval "${n}_port=$p"
	servers="$servers
  server { listen 127.0.0.1:$p backlog=4096;
    location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$tmp/$n.sock; fastcgi_keep_conn off; } }"
done
# 256 clients and 256 FastCGI connections at once: worker_connections well
# above 512; fastcgi_read_timeout well above the 2 s upstream.
cat >"$tmp/nginx/nginx.conf" <<NGINX
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
daemon off; worker_processes 1; pid $tmp/nginx/pid; error_log $tmp/nginx/error.log;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
  access_log off;
  fastcgi_read_timeout 60s;
  client_body_temp_path $tmp/nginx/b; fastcgi_temp_path $tmp/nginx/f; proxy_temp_path $tmp/nginx/p;
  $servers
}
NGINX
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" & pids="$pids $!"
for n in $names1 $names2; do eval wait_for "http://127.0.0.1:\$${n}_port/health"; done

# Every pipeline answers 200, and the call's answer came from the upstream.
check_answer() { # NAME PORT
	curl -s -o "$tmp/$1.answer" -w '%{http_code}' -H 'Content-Type: application/json' \
		-H 'Cache-Control: no-store' --data-binary @"$req" "http://127.0.0.1:$2/v1/analyze" >"$tmp/$1.code"
	[ "$(cat "$tmp/$1.code")" = 200 ] || { echo "run.sh: $1 answered $(cat "$tmp/$1.code")" >&2; cat "$tmp/$1.answer" >&2; exit 1; }
	case $1 in call*)
		if [ "$PIPELINE" = fetch ]; then
			jq -e '.["fetch.0"].status == 200' "$tmp/$1.answer" >/dev/null
		else
			jq -e '.processing_status == "COMPLETED" and (.run_metrics.failures // [] | length) == 0 and
				([.run_metrics.calls[] | select(.status == "ok")] | length) == 1 and
				.gap_analysis.llm.source == "llm" and (.gap_analysis.llm.critical_gaps | length) > 0' \
				"$tmp/$1.answer" >/dev/null
		fi || { echo "run.sh: $1's call did not succeed:" >&2; cat "$tmp/$1.answer" >&2; exit 1; }
	esac
}
for n in $names1; do eval check_answer $n "\$${n}_port"; done
check_answer call2 "$call2_port"

printf '%s; %s CPUs; %s\n' "$(uname -sr)" "$(nproc)" "pipeline with the call: $PIPELINE"

# ---- 1: overhead at 32 concurrent, upstream 50 ms ----
if echo "$BENCH" | grep -q 1; then
	for n in $names1; do eval run "\$${n}_port" 32 2s 50 >/dev/null; done # warm-up
	: >"$tmp/b1.nocall"; : >"$tmp/b1.sleep1"; : >"$tmp/b1.call1"; : >"$tmp/b1.hold"
	for r in $(seq 1 "$ROUNDS"); do
		# The order turns each round so that no row always follows another.
		case $((r % 3)) in
		1) order="nocall sleep1 call1" ;; 2) order="sleep1 call1 nocall" ;; 0) order="call1 nocall sleep1" ;;
		esac
		for n in $order; do
			eval p="\$${n}_port"
			c0=$(cpu $n)
			case $n in
			# Without the call the clients wait 50 ms between requests, so
			# the analysis runs at the same rate as with it.
			nocall) STAGGER_MS=$STAGGER1 run "$p" 32 "$DURATION1" 50 >>"$tmp/b1.$n" ;;
			call1)
				curl -sf -o /dev/null "$up1_url/_reset"
				STAGGER_MS=$STAGGER1 run "$p" 32 "$DURATION1" >>"$tmp/b1.$n"
				curl -sf "$up1_url/_stats" | jq -r .hold_avg_ms >>"$tmp/b1.hold" ;;
			*) STAGGER_MS=$STAGGER1 run "$p" 32 "$DURATION1" >>"$tmp/b1.$n" ;;
			esac
			# The workers' CPU time per answer (ms).
			echo "$(cpu $n) $c0 $(tail -1 "$tmp/b1.$n" | cut -d' ' -f1)" |
				awk '{ printf "%.3f\n", ($1 - $2) / $3 }' >>"$tmp/b1.$n.cpu"
		done
		# Per round: with - without - 50 ms, and with - sleep 50 ms (ms).
		paste "$tmp/b1.nocall" "$tmp/b1.sleep1" "$tmp/b1.call1" | tail -1 |
			awk '{ printf "%.3f %.3f %.3f %.3f\n", ($18 - $2) / 1000 - 50, ($19 - $3) / 1000 - 50, ($18 - $10) / 1000, ($19 - $11) / 1000 }' >>"$tmp/b1.over"
	done
fi

# In process (bench/ima-bench, one request at a time, no web server), with
# the upstream answering at once: what the call path adds to an analysis.
if echo "$BENCH" | grep -q 1 && [ -x "$build/bench/ima-bench" ]; then
	upstream up0 0 "$reply_args"
	conf call0 call "$up0_url"
	"$build/bench/ima-bench" -c "$tmp/call0.conf" --baseline "$tmp/nocall.conf" -n "${RUNS_INPROC:-2000}" "$req" \
		>"$tmp/inproc.out" 2>&1 || true
fi

# ---- 2: 256 in flight, upstream 2 s, WORKERS2 x THREADS2 ----
# sample NAME PORT UPSTREAM_PORT: RSS of each worker (KiB), the connections
# to the upstream (ss) and what /metrics says, halfway through a run.
sample() {
	sup=$(eval echo "\$${1}_pid")
	ps -o rss= --ppid "$sup" | sort -n | tr '\n' ' ' >"$tmp/rss.now"
	ss -Htn state established "( dport = :$3 )" | wc -l >"$tmp/ss.now"
	curl -s -m 5 "http://127.0.0.1:$2/metrics" | awk '$1 == "imaginator_http_connections" { print $2 }' >"$tmp/metric.now"
}
if echo "$BENCH" | grep -q 2; then
	up2_port=$(cat "$tmp/up2.port")
	for n in $names2; do
		sup=$(eval echo "\$${n}_pid")
		ps -o rss= --ppid "$sup" | sort -n | tr '\n' ' ' >"$tmp/b2.$n.idle"
	done
	: >"$tmp/b2.sleep2"; : >"$tmp/b2.call2"
	half=$(( ${DURATION2%s} / 2 ))
	for r in $(seq 1 "$ROUNDS2"); do
		if [ $((r % 2)) = 1 ]; then order="sleep2 call2"; else order="call2 sleep2"; fi
		for n in $order; do
			eval p="\$${n}_port"
			if [ $n = call2 ]; then curl -sf -o /dev/null "$up2_url/_reset"; fi
			(sleep "$half"; sample $n "$p" "$up2_port"; cp "$tmp/rss.now" "$tmp/b2.$n.rss.$r"
			 cp "$tmp/ss.now" "$tmp/b2.$n.ss.$r"; cp "$tmp/metric.now" "$tmp/b2.$n.metric.$r") &
			sampler=$!
			run "$p" 256 "$DURATION2" >>"$tmp/b2.$n"
			wait "$sampler" || true
			if [ $n = call2 ]; then curl -sf "$up2_url/_stats" | jq -r .peak >>"$tmp/b2.peak"; fi
		done
	done
fi

# ---- 3: two 300 ms calls, sequential against together, in process ----
if echo "$BENCH" | grep -q 3; then
	: >"$tmp/b3.par"; : >"$tmp/b3.seq"; : >"$tmp/b3.par.at"; : >"$tmp/b3.seq.at"
	"$build/imaginator" analyze -c "$tmp/par.conf" "$req" >/dev/null 2>&1 # warm-up
	for i in $(seq 1 "$RUNS3"); do
		if [ $((i % 2)) = 1 ]; then order="par seq"; else order="seq par"; fi
		for n in $order; do
			t0=$(date +%s%N)
			"$build/imaginator" analyze -c "$tmp/$n.conf" "$req" >"$tmp/$n.out" 2>"$tmp/$n.err"
			echo $((($(date +%s%N) - t0) / 1000)) >>"$tmp/b3.$n"
			jq -r '[.["fetch.0"].at, .["fetch.1"].at] | max * 1000' "$tmp/$n.out" >>"$tmp/b3.$n.at"
		done
	done
fi

# ---- the table ----
printf '\n| bench | row | req/s | p50 ms | p99 ms | errors | non-2xx | result |\n|---|---|---:|---:|---:|---:|---:|---|\n'
if [ -s "${tmp}/b1.over" ]; then
	for n in $names1; do
		case $n in
		nocall) label="no call, clients wait 50 ms between requests (baseline)" ;;
		sleep1) label="no call, a stage sleeps 50 ms (baseline 2)" ;;
		call1) label="one call, upstream 50 ms ($PIPELINE)" ;;
		esac
		printf '| 1: %s x %s, wrk -c32 -d%s, %s rounds | %s | %s | %.2f | %.2f | %s | %s | worker CPU %.3f ms per answer |\n' "$WORKERS1" "$THREADS1" \
			"$DURATION1" "$ROUNDS" "$label" "$(col 7 "$tmp/b1.$n" | median)" \
			"$(col 2 "$tmp/b1.$n" | median | awk '{ print $1 / 1000 }')" \
			"$(col 3 "$tmp/b1.$n" | median | awk '{ print $1 / 1000 }')" \
			"$(col 4 "$tmp/b1.$n" | awk '{ s += $1 } END { print s }')" \
			"$(col 5 "$tmp/b1.$n" | awk '{ s += $1 } END { print s }')" "$(median <"$tmp/b1.$n.cpu")"
	done
	printf '| 1 | overhead = with - without - 50 ms (median of rounds; upstream held %s ms on average) | | %s | %s | | | target p50 <= 1, p99 <= 5 |\n' \
		"$(median <"$tmp/b1.hold")" "$(col 1 "$tmp/b1.over" | median)" "$(col 2 "$tmp/b1.over" | median)"
	printf '| 1 | overhead = with - (stage sleeping 50 ms) (median of rounds) | | %s | %s | | | |\n' \
		"$(col 3 "$tmp/b1.over" | median)" "$(col 4 "$tmp/b1.over" | median)"
	printf '| 1 | per round, without-baseline: p50 | | %s | | | | |\n' "$(col 1 "$tmp/b1.over" | tr '\n' ' ')"
	printf '| 1 | per round, without-baseline: p99 | | | %s | | | |\n' "$(col 2 "$tmp/b1.over" | tr '\n' ' ')"
	if [ -s "$tmp/inproc.out" ]; then
		awk -v n="${RUNS_INPROC:-2000}" '
		/^\| baseline/ { b50 = $(NF - 3); b99 = $(NF - 1) }
		/^\| analysis/ { a50 = $(NF - 3); a99 = $(NF - 1) }
		END { printf "| 1: in process, bench/ima-bench -n %s, upstream 0 ms | one call - no call (us: %s - %s, %s - %s) | | %.3f | %.3f | | | |\n",
			n, a50, b50, a99, b99, (a50 - b50) / 1000, (a99 - b99) / 1000 }' "$tmp/inproc.out"
	fi
fi
if [ -s "$tmp/b2.call2" ]; then
	for n in $names2; do
		case $n in
		sleep2) label="no call, a stage sleeps 2 s (baseline)" ;;
		call2) label="one call, upstream 2 s ($PIPELINE)" ;;
		esac
		rss=$(cat "$tmp"/b2.$n.rss.* | tr ' ' '\n' | grep . | median)
		rssmax=$(cat "$tmp"/b2.$n.rss.* | tr ' ' '\n' | grep . | sort -n | tail -1)
		idle=$(tr ' ' '\n' <"$tmp/b2.$n.idle" | grep . | median)
		# wrk's req/s misses the last round trip still in flight when it
		# stops (up to 2 s of 30); 256 / mean latency does not.
		little=$(col 8 "$tmp/b2.$n" | median | awk '{ printf "%.1f", 256 / ($1 / 1e6) }')
		res="256 / mean latency = $little req/s; RSS/worker idle $((idle / 1024)) MiB, loaded $((rss / 1024)) MiB (max $((rssmax / 1024))), $(((rss - idle) / THREADS2)) KiB per request in flight"
		if [ $n = call2 ]; then
			res="$res; upstream connections: ss $(cat "$tmp"/b2.call2.ss.* | median), metric $(cat "$tmp"/b2.call2.metric.* | median), upstream peak $(median <"$tmp/b2.peak")"
			res="$res; req/s / 115: wrk $(col 7 "$tmp/b2.$n" | median | awk '{ printf "%.2f", $1 / 115 }'), 256/mean $(echo "$little" | awk '{ printf "%.2f", $1 / 115 }'); req/s / baseline (same round) = $(paste "$tmp/b2.call2" "$tmp/b2.sleep2" | awk '{ print $7 / $15 }' | median | awk '{ printf "%.2f", $1 }')"
		fi
		printf '| 2: %s x %s, wrk -c256 -d%s, %s rounds | %s | %s | %.2f | %.2f | %s | %s | %s |\n' "$WORKERS2" "$THREADS2" \
			"$DURATION2" "$ROUNDS2" "$label" "$(col 7 "$tmp/b2.$n" | median)" \
			"$(col 2 "$tmp/b2.$n" | median | awk '{ print $1 / 1000 }')" \
			"$(col 3 "$tmp/b2.$n" | median | awk '{ print $1 / 1000 }')" \
			"$(col 4 "$tmp/b2.$n" | awk '{ s += $1 } END { print s }')" \
			"$(col 5 "$tmp/b2.$n" | awk '{ s += $1 } END { print s }')" "$res"
	done
fi
if [ -s "$tmp/b3.par" ]; then
	par=$(median <"$tmp/b3.par") seq=$(median <"$tmp/b3.seq")
	pat=$(median <"$tmp/b3.par.at") sat=$(median <"$tmp/b3.seq.at")
	printf '| 3: imaginator analyze, %s runs each | two 300 ms calls together | | %.1f | | | | calls done at %.1f ms |\n' "$RUNS3" "$(echo "$par" | awk '{ print $1 / 1000 }')" "$pat"
	printf '| 3 | the same two one after the other | | %.1f | | | | calls done at %.1f ms |\n' "$(echo "$seq" | awk '{ print $1 / 1000 }')" "$sat"
	printf '| 3 | speed-up sequential / together | | | | | | wall %s, calls %s |\n' \
		"$(echo "$seq $par" | awk '{ printf "%.2f", $1 / $2 }')" "$(echo "$sat $pat" | awk '{ printf "%.2f", $1 / $2 }')"
fi
