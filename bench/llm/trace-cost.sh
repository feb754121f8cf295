#!/bin/sh
# trace-cost.sh - what 1,000 analyses cost with the real LLM stages:
# bench/ima-trace over its trace (20 resumes x 15 job ads, repeats and
# near-duplicates) through conf/production.conf three ways, against the
# OpenAI-compatible test server (tests/llm/openai-server.py) on loopback:
#   no-cache.conf           production without its cache stage
#   answer-cache.conf       the answer cache only (call_cache = false)
#   answer+call-cache.conf  answers and LLM calls cached (production's)
# The cache is L1 only (redis_url = "none": one process, as one worker).
# Everything else is production's: model_select with the shipped
# data/models.tsv, llm_openrouter, profile_llm, gap_llm, suggestions_llm.
# Prompt tokens are the server's count of the real prompts (4 characters a
# token); its completions are minimal answers for each schema, so their
# tokens are few: ima-trace's second table prices the calls made with each
# task's expected completion tokens instead (model_select's output_tokens
# in production.conf), as an estimate.
#
# Usage, from the build directory after `make`:
#   ../bench/llm/trace-cost.sh [-n REQUESTS] [--seed S] [REQUEST.json]
# REQUEST.json (default examples/request.json) is the resume and ad the
# trace's variants are made from; bench/request-8k.json is a longer pair.
# IMAGINATOR_PLUGIN_DIR and IMAGINATOR_DATA_DIR default to the build
# tree's plugins and the source tree's data.

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$PWD
requests=1000
seed=12345
request="$srcdir/examples/request.json"
usage() { echo "usage: trace-cost.sh [-n REQUESTS] [--seed S] [REQUEST.json]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	-n) [ $# -ge 2 ] || usage; requests=$2; shift 2 ;;
	--seed) [ $# -ge 2 ] || usage; seed=$2; shift 2 ;;
	-*) usage ;;
	*) [ $# -eq 1 ] && [ -r "$1" ] || usage; request=$1; shift ;;
	esac
done
trace="$builddir/bench/ima-trace"
[ -x "$trace" ] || { echo "trace-cost.sh: no $trace: run it from the build directory after make" >&2; exit 2; }
command -v python3 >/dev/null 2>&1 || { echo "trace-cost.sh: python3 is needed for the test server" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trace-cost.XXXXXX")
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The three configurations, made from production.conf so they cannot drift
# from it; its includes are copied beside them.
cp "$srcdir"/conf/*.conf "$tmp/"
# drop_stages REGEX FILE: FILE without the top-level stage blocks whose
# plugin line matches REGEX.
drop_stages() {
	awk -v re="$1" '
	!inblock && $0 == "  {" { inblock = 1; block = $0 "\n"; next }
	inblock { block = block $0 "\n" }
	inblock && $0 == "  }," {
		if (block !~ re)
			printf "%s", block
		inblock = 0
		next
	}
	!inblock { print }
	' "$2"
}
# The trace has no callers: production without its auth and quota stages.
prod="$tmp/production-open.conf"
drop_stages 'plugin = "(auth_jwt|auth_apikey|quota)";' "$srcdir/conf/production.conf" >"$prod"
if grep -Eq 'plugin = "(auth_jwt|auth_apikey|quota)";' "$prod"; then
	echo "trace-cost.sh: production.conf's auth or quota stages are no longer blocks this script drops" >&2
	exit 3
fi
# The cache stage is the top-level block that names plugin "cache".
drop_stages 'plugin = "cache";' "$prod" >"$tmp/no-cache.conf"
redis='redis_url = "${IMAGINATOR_REDIS_URL}";'
sed "s|$redis|redis_url = \"none\"; call_cache = false;|" "$prod" >"$tmp/answer-cache.conf"
sed "s|$redis|redis_url = \"none\"; call_cache = true;|" "$prod" >"$tmp/answer+call-cache.conf"
if grep -q 'plugin = "cache";' "$tmp/no-cache.conf" ||
	! grep -q 'call_cache = false;' "$tmp/answer-cache.conf" ||
	! grep -q 'call_cache = true;' "$tmp/answer+call-cache.conf"; then
	echo "trace-cost.sh: $prod no longer has the cache stage this script rewrites" >&2
	exit 3
fi
outputs=$(sed -n 's/^ *output_tokens = "\([^"]*\)".*/\1/p' "$prod")
[ -n "$outputs" ] || { echo "trace-cost.sh: no output_tokens in $prod" >&2; exit 3; }

# The test server on a free port, answering at once.
python3 "$srcdir/tests/llm/openai-server.py" --port 0 --port-file "$tmp/port" \
	--max-stall 5 2>"$tmp/server.err" &
server_pid=$!
i=0
while [ ! -s "$tmp/port" ] && kill -0 "$server_pid" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -s "$tmp/port" ] || { echo "trace-cost.sh: the test server did not start: $(cat "$tmp/server.err")" >&2; exit 4; }

export IMAGINATOR_LLM_BASE_URL="http://127.0.0.1:$(cat "$tmp/port")/api/v1"
export OPENROUTER_API_KEY=sk-trace-cost-dummy
export IMAGINATOR_PLUGIN_DIR="${IMAGINATOR_PLUGIN_DIR:-$builddir/plugins/.libs}"
export IMAGINATOR_DATA_DIR="${IMAGINATOR_DATA_DIR:-$srcdir/data}"
unset IMAGINATOR_ENV IMAGINATOR_REDIS_URL

"$trace" -c "$tmp/no-cache.conf" -c "$tmp/answer-cache.conf" -c "$tmp/answer+call-cache.conf" \
	--output-tokens "$outputs" -n "$requests" --seed "$seed" "$request" || exit $?
# What the endpoint saw, to hold against the rows' calls made.
python3 -c '
import json, sys, urllib.request
log = json.load(urllib.request.urlopen(sys.argv[1] + "/_test/requests", timeout=60))
print("\nthe test server answered %d completions in all" %
      sum(1 for e in log if e["path"].endswith("/chat/completions")))
' "http://127.0.0.1:$(cat "$tmp/port")"
