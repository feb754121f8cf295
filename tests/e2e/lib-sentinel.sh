# lib-sentinel.sh - Redis under Sentinel for the end-to-end tests of the
# stages that follow it (sourced after lib-e2e.sh): a primary, its replica
# and three Sentinels on free loopback ports, all stopped by pid with the
# test's other servers.
#
# sentinel_setup starts them and waits until the replica is in sync and
# the Sentinels know each other; it sets P and R (the primary's and the
# replica's ports), primary_pid, S1 S2 S3 (the Sentinels' ports) and
# sentinels ("127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3", for a URL).

command -v redis-server >/dev/null 2>&1 || skip_all "redis-server not installed (apt-get install redis-server)"
command -v redis-cli >/dev/null 2>&1 || skip_all "redis-cli not installed (apt-get install redis-tools)"
down_after=${down_after:-1000}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rc() { redis-cli -h 127.0.0.1 -p "$@" 2>/dev/null; }
fail_all() { not_ok "$1" "$2"; done_testing; exit 1; }

start_redis() { # name port [args]
	n=$1
	p=$2
	shift 2
	mkdir -p "$tmp/$n"
	redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/$n" \
		--loglevel warning "$@" >"$tmp/$n.log" 2>&1 &
	e2e_pids="$e2e_pids $!"
	last_pid=$!
}

# replica_in_sync PORT: the Redis on PORT replicates, link up.
replica_in_sync() { redis-cli -p "$1" info replication | grep -q master_link_status:up; }

# A failover needs a majority of Sentinels that know each other (they meet
# through the primary's hello channel, every 2 s).
knows_all() { rc "$1" sentinel master m | grep -A1 '^num-other-sentinels$' | tail -n1 | grep -qx 2; }

# sentinel_names PORT: one of the Sentinels names 127.0.0.1:PORT primary.
sentinel_names() {
	for S in $S1 $S2 $S3; do
		rc "$S" sentinel get-master-addr-by-name m | tail -n1 | grep -qx "$1" && return 0
	done
	return 1
}

sentinel_setup() {
	P=$(free_port)
	R=$(free_port)
	start_redis primary "$P"
	primary_pid=$last_pid
	wait_until 10 rc "$P" ping || fail_all "primary starts" "$(cat "$tmp/primary.log")"
	start_redis replica "$R" --replicaof 127.0.0.1 "$P"
	wait_until 20 replica_in_sync "$R" || fail_all "replica syncs" "$(cat "$tmp/replica.log")"
	ok "primary on $P, replica on $R in sync"

	sentinels=""
	for i in 1 2 3; do
		S=$(free_port)
		cat >"$tmp/sentinel$i.conf" <<EOF
port $S
bind 127.0.0.1
daemonize no
dir $tmp
sentinel monitor m 127.0.0.1 $P 2
sentinel down-after-milliseconds m $down_after
sentinel failover-timeout m 5000
sentinel parallel-syncs m 1
EOF
		redis-server "$tmp/sentinel$i.conf" --sentinel --loglevel notice >"$tmp/sentinel$i.log" 2>&1 &
		e2e_pids="$e2e_pids $!"
		sentinels="$sentinels${sentinels:+,}127.0.0.1:$S"
		eval "S$i=$S"
	done
	for S in $S1 $S2 $S3; do
		wait_until 30 knows_all "$S" || fail_all "sentinels meet" "$(cat "$tmp"/sentinel*.log)"
	done
	ok "three Sentinels monitor the primary and know each other"
}

# sentinel_force_back: the old primary (killed) back as a replica of the
# new one, then SENTINEL FAILOVER moves the primary back to it; returns
# once a Sentinel names it.
sentinel_force_back() {
	start_redis primary "$P" --replicaof 127.0.0.1 "$R"
	wait_until 20 replica_in_sync "$P" ||
		fail_all "the old primary rejoins as a replica" "$(cat "$tmp/primary.log")"
	wait_until 30 sentinel_forced || fail_all "SENTINEL FAILOVER starts" "$(rc "$S1" sentinel failover m)"
	wait_until 30 sentinel_names "$P" || fail_all "Sentinel names the old primary again"
}
sentinel_forced() { rc "$S1" sentinel failover m | grep -qx OK; }
