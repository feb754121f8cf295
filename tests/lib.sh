# lib.sh - TAP helpers for the shell tests (sourced).
# Every test prints "ok N - what" or "not ok N - what"; plan at the end.
tap_n=0
tap_failed=0

ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1"
}

not_ok() {
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $1"
	shift
	for line in "$@"; do echo "# $line"; done
}

# check "description" command...: ok when the command succeeds.
check() {
	desc=$1
	shift
	if "$@" >"$tmp/check.out" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc" "command: $*" "$(head -c 2000 "$tmp/check.out")"
	fi
}

# skip "description" "reason": one check that cannot run here.
skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

# prod_credentials: conf/production.conf needs a caller: one API key of
# tenant "test", without request or spend limits. imaginator analyze reads
# IMAGINATOR_API_KEY; HTTP clients send $IMA_TEST_API_KEY as X-API-Key.
prod_credentials() {
	IMA_TEST_API_KEY="ak_test_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	IMAGINATOR_API_KEYS="test:$(printf %s "$IMA_TEST_API_KEY" | sha256sum | cut -d' ' -f1):test:analyze"
	IMAGINATOR_API_KEY=$IMA_TEST_API_KEY
	IMAGINATOR_QUOTA_TENANTS="test:0:0:0:0"
	export IMA_TEST_API_KEY IMAGINATOR_API_KEYS IMAGINATOR_API_KEY IMAGINATOR_QUOTA_TENANTS
}

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

: "${top_srcdir:?run through make check}"
: "${top_builddir:?run through make check}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ima-sh.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
IMA="$top_builddir/imaginator"

# llm_server_start [options...]: starts tests/llm/openai-server.py on a free
# loopback port (log in $tmp/llm.log); sets llm_pid and llm_base. Stopped by
# llm_server_stop, which the EXIT trap should call.
llm_pid=
llm_server_start() {
	rm -f "$tmp/llm.port"
	python3 "$top_srcdir/tests/llm/openai-server.py" --port 0 --port-file "$tmp/llm.port" \
		--log "$tmp/llm.log" "$@" 2>"$tmp/llm.err" &
	llm_pid=$!
	i=0
	while [ ! -s "$tmp/llm.port" ] && kill -0 "$llm_pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$tmp/llm.port" ] || return 1
	llm_base="http://127.0.0.1:$(cat "$tmp/llm.port")"
}

llm_server_stop() {
	[ -n "$llm_pid" ] || return 0
	kill "$llm_pid" 2>/dev/null
	i=0
	while kill -0 "$llm_pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$llm_pid" 2>/dev/null
	llm_pid=
}
