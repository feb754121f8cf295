#!/bin/sh
# bench/faults/run.sh - faults under a steady mixed load, on loopback only:
# nginx (one upstream, three servers) in front of three imaginator-fcgi
# hosts (separate processes on 127.0.0.2, .3 and .4, 2 workers x 4 threads
# each) running conf/production.conf with the cache on Redis under Sentinel
# (a primary, a replica, three Sentinels) and llm_openrouter pointed at
# tests/llm/openai-server.py, every completion held 50 ms. A crash test
# stage (tests/plugins/crash.c) sits after the request stage.
#
# For each fault: wrk runs the mixed load (bench/faults/mixed.lua) over the
# whole run, a second wrk only over the fault's window (its p99 is the "p99
# during"); then a probe measures how long until every host serves with its
# full worker count, a new answer is COMPLETED and (for the Redis faults)
# an answer stored through one host is a HIT-L2 on another. After each
# fault Redis is searched for a stored DEGRADED answer, and every hit the
# load saw is checked not to be DEGRADED.
#
#   bench/faults/run.sh [BUILDDIR]        (make check-faults)
# Environment: FAULTS (names, default all; "baseline" always runs first),
#   WINDOW (5: seconds a timed fault lasts), PRE (4) and POST (6): seconds of
#   load before and after the window, CONNS (4: connections of each wrk),
#   OUT (BUILDDIR/faults: table.md and a log per fault), KEEP_TMP.
# Every wait is bounded, every port free, every process stopped by pid.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
ALL="redis-kill redis-stop redis-oom sentinel-failover llm-429 llm-500 llm-stall llm-trickle
llm-close llm-down crash worker-kill host-kill sighup hostile slow-clients"
FAULTS=${FAULTS:-$ALL}
WINDOW=${WINDOW:-5} PRE=${PRE:-4} POST=${POST:-6} CONNS=${CONNS:-4}
out=${OUT:-$build/faults}
for c in wrk nginx redis-server redis-cli curl python3; do
	command -v $c >/dev/null 2>&1 || { echo "run.sh: $c not found" >&2; exit 2; }
done
for f in imaginator-fcgi tests/e2e/fcgi-client tests/plugins/.libs/crash.so; do
	[ -e "$build/$f" ] || { echo "run.sh: $build/$f missing (make; make check-faults builds it)" >&2; exit 2; }
done
mkdir -p "$out"
tmp=$(mktemp -d /tmp/ima-faults.XXXXXX)
pids=""
. "$src/bench/lib.sh"
trap bench_cleanup EXIT INT TERM
C="$build/tests/e2e/fcgi-client"
export IMAGINATOR_PLUGIN_DIR=$build/plugins/.libs:$build/tests/plugins/.libs
export IMAGINATOR_DATA_DIR=$src/data
log() { echo "run.sh: $*" >&2; }

# ---- Redis under Sentinel ----
bench_sentinel || exit 1
# Answers in Redis holding DEGRADED (must stay 0).
stored_degraded() {
	bench_rc "$(bench_primary)" eval "local n = 0
for _, k in ipairs(redis.call('keys', 'ima:*')) do
  if redis.call('type', k).ok == 'string' then
    local v = redis.call('get', k)
    if string.find(v, 'DEGRADED', 1, true) then n = n + 1 end
  end
end
return n" 0
}

# ---- the LLM test server, every completion held 50 ms ----
bench_llm_start || exit 1

# ---- the configuration: production's, the cache on Sentinel, the crash
# stage, and LLM deadlines short enough for a 5 s window ----
bench_hosts_conf crash || { log "could not adapt conf/production.conf"; exit 1; }
export IMAGINATOR_REDIS_URL="redis-sentinel://$SENT/m"  # the quota stages, through Sentinel as the cache

# ---- three hosts ----
bench_hosts || exit 1

# ---- nginx: one upstream of the three; a request that failed before any
# answer byte is tried once more on another host ----
bench_nginx_upstream || exit 1

# ---- probes ----
fresh() { # HOST-or-nginx: a new resume; prints "STATUS XCACHE PROCESSING_STATUS"
	# Often called in $( ): the name comes from the clock, not a counter.
	sed "s/Senior Data Engineer/Data Engineer probe $(date +%s%N)/" "$src/examples/request.json" >"$tmp/probe.json"
	ask "$1" "$tmp/probe.json"
}
ask() { # HOST-or-nginx FILE
	if [ "$1" = nginx ]; then
		curl -s -m 20 -o "$tmp/probe.out" -D "$tmp/probe.h" -w '%{http_code}' -H "X-API-Key: $apikey" \
			-H 'Content-Type: application/json' --data-binary @"$2" "$base/v1/analyze" >"$tmp/probe.s"
		s=$(cat "$tmp/probe.s")
		x=$(sed -n 's/^X-Cache: \([A-Z0-9-]*\).*/\1/ip' "$tmp/probe.h" | head -n1)
	else
		"$C" "$1" -b "$2" -p CONTENT_TYPE=application/json -p "HTTP_X_API_KEY=$apikey" /v1/analyze \
			>"$tmp/probe.out" 2>/dev/null
		s=$(sed -n 's/^Status: \([0-9]*\).*/\1/p' "$tmp/probe.out" | head -n1)
		x=$(sed -n 's/^X-Cache: \([A-Z0-9-]*\).*/\1/p' "$tmp/probe.out" | head -n1)
	fi
	p=$(grep -o '"processing_status":"[A-Z]*"' "$tmp/probe.out" | head -n1 | cut -d'"' -f4)
	echo "${s:-000} ${x:--} ${p:--}"
}
workers_of() { eval "sp=\$host_pid_$1"; ps -o pid= --ppid "$sp" 2>/dev/null | wc -l; }
all_serving() {
	for n in 1 2 3; do
		eval "h=\$H$n"
		bench_host_up "$h" && [ "$(workers_of $n)" -ge 2 ] || return 1
	done
	[ "$(fresh nginx)" = "200 MISS COMPLETED" ]
}
# Through Redis: stored by host 1, a hit on host 2.
redis_shared() {
	all_serving || return 1
	fresh "$H1" | grep -q '^200 MISS COMPLETED$' || return 1
	ask "$H2" "$tmp/probe.json" | grep -q '^200 HIT-L2 COMPLETED$'
}

# ---- the faults: start_NAME at the window's start, end_NAME at its end
# (after WINDOW seconds unless start_NAME sets window itself), recovered
# counted from the window's end with recover_NAME (all_serving by default).
# note_NAME says what the fault is, for the table. ----
note_baseline="none"
note_redis_kill="Redis primary SIGKILL, restarted (empty) after ${WINDOW} s"
start_redis_kill() { pp=$(bench_primary); eval "kill -9 \$pid_$pp"; }
end_redis_kill() {
	if [ "$pp" = "$P" ]; then bench_redis_start ra "$P"; else bench_redis_start rb "$R"; fi
	bench_until 10 bench_rc "$pp" ping
}
recover_redis_kill() { redis_shared; }
note_redis_stop="Redis primary SIGSTOP for ${WINDOW} s, then SIGCONT"
start_redis_stop() { pp=$(bench_primary); eval "kill -STOP \$pid_$pp"; }
end_redis_stop() { eval "kill -CONT \$pid_$pp"; }
recover_redis_stop() { redis_shared; }
note_redis_oom="Redis maxmemory 1 B + noeviction (writes refused, OOM) for ${WINDOW} s"
start_redis_oom() {
	pp=$(bench_primary)
	bench_rc "$pp" config set maxmemory-policy noeviction >/dev/null
	bench_rc "$pp" config set maxmemory 1 >/dev/null
}
end_redis_oom() { bench_rc "$pp" config set maxmemory 0 >/dev/null; }
recover_redis_oom() { redis_shared; }
note_sentinel_failover="primary SIGKILL under Sentinel (down-after 1 s), replica promoted; window until Sentinel names it"
start_sentinel_failover() {
	for S in $SPORTS; do bench_rc "$S" sentinel set m down-after-milliseconds 1000 >/dev/null; done
	pp=$(bench_primary)
	eval "kill -9 \$pid_$pp"
	t_kill=$(bench_now_ms)
	bench_until 30 sh -c "[ \"\$(redis-cli -p ${SPORTS%% *} sentinel get-master-addr-by-name m | tail -n1)\" != $pp ]"
	window=0
}
end_sentinel_failover() {
	np=$(bench_primary)
	echo "failover: Sentinel named $np $(($(bench_now_ms) - t_kill)) ms after the kill" >>"$tmp/cur.notes"
	# The old primary comes back as the new one's replica, for later faults.
	if [ "$pp" = "$P" ]; then bench_redis_start ra "$P" --replicaof 127.0.0.1 "$np"; else
		bench_redis_start rb "$R" --replicaof 127.0.0.1 "$np"; fi
	for S in $SPORTS; do bench_rc "$S" sentinel set m down-after-milliseconds 30000 >/dev/null; done
}
recover_sentinel_failover() { redis_shared; }
llm_fault() { bench_llm_script "$1"; }
llm_ok() { all_serving; }
note_llm_429="LLM answers 429 (Retry-After 1) for ${WINDOW} s"
start_llm_429() { llm_fault '{"status": 429, "retry_after": "1"}'; }
note_llm_500="LLM answers 500 for ${WINDOW} s"
start_llm_500() { llm_fault '{"status": 500}'; }
note_llm_stall="LLM sends headers then stalls (10 s cap) for ${WINDOW} s"
start_llm_stall() { llm_fault '{"stall": 10000}'; }
note_llm_trickle="LLM trickles its body, 16 B per 100 ms, for ${WINDOW} s"
start_llm_trickle() { llm_fault '{"trickle": 100}'; }
note_llm_close="LLM closes mid-body for ${WINDOW} s"
start_llm_close() { llm_fault '{"disconnect": true}'; }
for f in 429 500 stall trickle close; do eval "end_llm_$f() { bench_llm_script '{\"delay_ms\": 50}'; }"; done
note_llm_down="LLM server SIGKILL, restarted on its port after ${WINDOW} s"
start_llm_down() { kill -9 "$llm_pid"; }
end_llm_down() { bench_llm_start "$llm_port"; }
note_crash="3 requests to a stage that SIGSEGVs (each answered 500 by its dying worker)"
start_crash() {
	for i in 1 2 3; do
		curl -s -m 20 -o /dev/null -w '%{http_code}\n' -H "X-API-Key: $apikey" -H "X-Request-Id: crash-$i" \
			-H 'Content-Type: application/json' --data-binary @"$src/examples/request.json" \
			"$base/v1/analyze" >>"$tmp/crash.codes"
	done
	window=0
}
end_crash() {
	echo "crash requests answered: $(tr '\n' ' ' <"$tmp/crash.codes")" >>"$tmp/cur.notes"
	note_replaced
}
# Workers of the three hosts now, and how many of those in $tmp/workers.before are gone.
all_workers() { for n in 1 2 3; do eval "ps -o pid= --ppid \$host_pid_$n"; done | tr -d ' ' | sort; }
note_replaced() {
	bench_until 10 all_serving
	echo "workers replaced: $(all_workers | comm -23 "$tmp/workers.before" - | wc -l)" >>"$tmp/cur.notes"
}
note_worker_kill="one worker of host 1 SIGKILLed"
start_worker_kill() { kill -9 "$(ps -o pid= --ppid "$host_pid_1" | head -n1)"; window=0; }
end_worker_kill() { :; }
note_host_kill="host 2 SIGKILLed (supervisor and workers), restarted after ${WINDOW} s"
start_host_kill() {
	wk=$(ps -o pid= --ppid "$host_pid_2")
	kill -9 "$host_pid_2" $wk
}
end_host_kill() { bench_host_start 2; }
note_sighup="SIGHUP to every host every second for 60 s"
start_sighup() {
	for i in $(seq 1 60); do
		kill -HUP "$host_pid_1" "$host_pid_2" "$host_pid_3"
		sleep 1
	done
	window=0
}
end_sighup() { :; }
note_hostile="the CVE-2025-23016 PARAMS record, 3 times to each host"
start_hostile() {
	for h in $HOSTS; do for i in 1 2 3; do "$C" "$h" --hostile >/dev/null 2>&1; done; done
	window=0
}
end_hostile() { note_replaced; }
note_slow_clients="50 clients trickling request bodies through nginx (1 B per 200 ms) for ${WINDOW} s"
start_slow_clients() {
	python3 - "$nport" "$WINDOW" <<'PY' &
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
conns = []
for i in range(50):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100000\r\n\r\n")
    conns.append(s)
end = time.time() + secs
while time.time() < end:
    for s in conns:
        try:
            s.send(b" ")
        except OSError:
            pass
    time.sleep(0.2)
for s in conns:
    s.close()
PY
	slow_pid=$!
	pids="$pids $slow_pid"
}
end_slow_clients() { wait "$slow_pid" 2>/dev/null; }
start_baseline() { :; }
end_baseline() { :; }

# ---- one run ----
row_of() { # NAME: appends the table row
	name=$1
	bg=$tmp/$name.bg
	fw=$tmp/$name.fw
	sent=$(($(bench_field sent "$bg") + $(bench_field sent "$fw")))
	failed=$(($(bench_field failed "$bg") + $(bench_field failed "$fw")))
	f5=$(($(bench_field fail5xx "$bg") + $(bench_field fail5xx "$fw")))
	badhits=$(($(bench_field bad_hits "$bg") + $(bench_field bad_hits "$fw")))
	deg=$(($(bench_field degraded "$bg") + $(bench_field degraded "$fw")))
	p99=$(bench_field p99_ms "$fw")
	[ "$name" = baseline ] && base_p99=$p99
	ratio=$(python3 -c "print('%.1f' % ($p99 / max($base_p99, 0.1)))")
	eval "note=\$note_$(echo "$name" | tr - _)"
	printf '| %s | %s | %s | %s | %s (%s 5xx) | %s ms (x%s) | %s | %s degraded, %s DEGRADED hits, %s stored | `FAULTS=%s make check-faults` |\n' \
		"$name" "mixed, 2x$CONNS conns" "$note" "$sent" "$failed" "$f5" "$p99" "$ratio" "$rec" \
		"$deg" "$badhits" "$stored" "$name" >>"$out/table.md"
	{ echo "== $name: $note"; cat "$bg" "$fw"; cat "$tmp/cur.notes" 2>/dev/null; echo "recovery: $rec"; } >>"$out/runs.log"
}
run_fault() {
	name=$1
	fn=$(echo "$name" | tr - _)
	: >"$tmp/cur.notes"
	window=$WINDOW
	total=$((PRE + WINDOW + POST))
	[ "$name" = sighup ] && total=$((PRE + 60 + POST))
	log "$name: $(eval "echo \$note_$fn")"
	bench_mixed "$total" "$name-bg-$$" "$tmp/$name.bg" &
	bgw=$!
	sleep "$PRE"   # the load's schedule, not a wait for a condition
	fwd=$WINDOW
	[ "$name" = sighup ] && fwd=60
	bench_mixed "$fwd" "$name-fw-$$" "$tmp/$name.fw" &
	fww=$!
	all_workers >"$tmp/workers.before"
	t0=$(bench_now_ms)
	"start_$fn"
	[ "$window" -gt 0 ] && sleep "$window"
	"end_$fn"
	t1=$(bench_now_ms)
	if type "recover_$fn" >/dev/null 2>&1; then rfn=recover_$fn; else rfn=all_serving; fi
	if bench_until 60 "$rfn"; then rec="$(($(bench_now_ms) - t1)) ms"; else
		rec="not in 60 s"
		{ echo "last probe of $name: $(cat "$tmp/probe.s" 2>/dev/null) $(grep -i "^x-cache" "$tmp/probe.h" | tr -d "\r") $(grep -o "\"processing_status\":\"[A-Z]*\"" "$tmp/probe.out") $(grep -o "\"degraded[a-z_]*\":[^]]*]" "$tmp/probe.out" | head -c 400)"; } >>"$tmp/cur.notes"
	fi
	wait "$fww" "$bgw"
	stored=$(stored_degraded)
	row_of "$name"
}

{
	echo "| test | load | fault | requests sent | failed | p99 during (x baseline) | recovery | cache | command |"
	echo "|---|---|---|---|---|---|---|---|---|"
} >"$out/table.md"
: >"$out/runs.log"
# Warm-up: the hits' pool is in the cache before anything is measured.
bench_mixed 5 "warm-$$" "$tmp/warm.out"
run_fault baseline
for f in $FAULTS; do
	case " $(echo $ALL) " in
	*" $f "*) run_fault "$f" ;;
	*) log "unknown fault $f (one of: $(echo $ALL))" ;;
	esac
done
cat "$out/table.md"
