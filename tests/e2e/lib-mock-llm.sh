# lib-mock-llm.sh - @dwmkerr/mock-llm, an OpenAI-compatible mock from the
# npm registry, for the end-to-end tests that run a provider against a
# server we did not write (sourced after tests/lib.sh and lib-e2e.sh).
#
# mock_llm_require: skips the whole test without node 18+, npm or curl, and
# installs the pinned package once per build tree into
# $top_builddir/tests/.npm-mock-llm (removed by `make clean`); skips when
# the registry cannot be reached for that first install.
# mock_llm_start RULES: starts the mock on a free loopback port with that
# rules file; sets mock_pid, mock_port and mock (its base URL); its request
# log (one "METHOD /path" line per request, as it arrives) is in
# $tmp/mock.out.

MOCK_LLM_VERSION=0.1.29

mock_llm_cache="$top_builddir/tests/.npm-mock-llm"
mock_llm_pkg="$mock_llm_cache/node_modules/@dwmkerr/mock-llm"

mock_llm_installed() {
	[ -f "$mock_llm_pkg/dist/main.js" ] &&
		[ "$(node -p "require('$mock_llm_pkg/package.json').version" 2>/dev/null)" = "$MOCK_LLM_VERSION" ]
}

mock_llm_require() {
	command -v node >/dev/null 2>&1 || skip_all "node not installed (apt-get install nodejs npm)"
	command -v npm >/dev/null 2>&1 || skip_all "npm not installed (apt-get install npm)"
	command -v curl >/dev/null 2>&1 || skip_all "curl not installed (apt-get install curl)"
	node -e 'process.exit(parseInt(process.versions.node, 10) >= 18 ? 0 : 1)' ||
		skip_all "node $(node --version) is older than 18, which @dwmkerr/mock-llm needs"
	mock_llm_installed && return 0
	# npm's own retries would take a minute to give up on a dead registry.
	if ! timeout 60 npm ping --fetch-retries=1 --fetch-retry-mintimeout=1000 \
		--fetch-retry-maxtimeout=2000 --fetch-timeout=15000 >"$tmp/npm-ping.log" 2>&1; then
		why=$(grep -m1 '^npm error' "$tmp/npm-ping.log" | cut -c11-170)
		skip_all "the npm registry is unreachable (npm ping: ${why:-no answer within 60 s})"
	fi
	# Into a directory of its own first: an interrupted install leaves no
	# half-filled cache that would pass for a good one next time, and two
	# tests installing at once each rename a whole tree.
	rm -rf "$mock_llm_cache.new.$$"
	if ! timeout 300 npm install --no-audit --no-fund --no-update-notifier --ignore-scripts \
		--prefix "$mock_llm_cache.new.$$" "@dwmkerr/mock-llm@$MOCK_LLM_VERSION" >"$tmp/npm.log" 2>&1; then
		rm -rf "$mock_llm_cache.new.$$"
		not_ok "npm installs @dwmkerr/mock-llm@$MOCK_LLM_VERSION" "$(tail -n 20 "$tmp/npm.log")"
		done_testing
		exit 1
	fi
	if ! mock_llm_installed; then
		rm -rf "$mock_llm_cache"
		mv "$mock_llm_cache.new.$$" "$mock_llm_cache" 2>/dev/null
	fi
	rm -rf "$mock_llm_cache.new.$$"
}

mock_pid=
mock_llm_up_or_dead() {
	dead "$mock_pid" || curl -sf -m 2 "http://127.0.0.1:$mock_port/health" | grep -q healthy
}

mock_llm_start() {
	for try in 1 2 3; do
		mock_port=$(free_port)
		HOST=127.0.0.1 PORT=$mock_port node "$mock_llm_pkg/dist/main.js" \
			--config "$1" >"$tmp/mock.out" 2>"$tmp/mock.err" &
		mock_pid=$!
		e2e_pids="$e2e_pids $mock_pid"
		if wait_until 20 mock_llm_up_or_dead && alive "$mock_pid"; then
			mock="http://127.0.0.1:$mock_port"
			return 0
		fi
		# Most likely the port was taken meanwhile: another one.
		kill "$mock_pid" 2>/dev/null
	done
	# Its MCP SDK's @hono/node-server declares node >= 20. Debian 12's
	# 18.20 runs it (checked with 0.1.29); if a later one does not, say so.
	[ "$(node -p 'parseInt(process.versions.node, 10)')" -lt 20 ] &&
		skip_all "the mock does not start on node $(node --version) (it wants 20): $(grep -m1 -i error "$tmp/mock.err" | cut -c1-160)"
	return 1
}
