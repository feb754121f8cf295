# lib-vg.sh - running the programs under valgrind memcheck (sourced after
# tests/lib.sh and tests/e2e/lib-e2e.sh by tests/valgrind/*.test).
#
# Every process gets its own log ($tmp/vg/<name>.<pid>.log; a worker forked
# by imaginator-fcgi writes its own, as valgrind follows fork() itself).
# vg_check_logs reads every one of them: an error, a byte definitely lost,
# or a log without its final summary (a process killed before valgrind
# could report) fails the test.

command -v valgrind >/dev/null 2>&1 ||
	skip_all "valgrind not installed (apt-get install valgrind)"

# A sanitizer build cannot run under valgrind (ASan and TSan map shadow
# memory valgrind cannot host): make check-valgrind refuses it before we
# get here (tests/valgrind/preflight.sh); a test run by hand skips.
vg_sanitized() {
	for f in "$top_builddir/core/.libs/libimaginator.so" "$top_builddir/.libs/imaginator" \
		"$top_builddir/.libs/imaginator-fcgi"; do
		[ -f "$f" ] || continue
		readelf -d "$f" 2>/dev/null | grep -q 'NEEDED.*lib[at]san' && return 0
	done
	return 1
}
vg_sanitized && skip_all "a sanitizer build: valgrind needs one configured without --enable-sanitizers"

VG_EXIT=99
VG_SUPP="$top_srcdir/tests/valgrind/valgrind.supp"
mkdir -p "$tmp/vg"
# VALGRIND_TRACK_ORIGINS=no makes a run about a third faster, with less to
# go by on an uninitialised value.
vg_opts="--tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
	--show-leak-kinds=definite,indirect,possible --error-exitcode=$VG_EXIT
	--track-origins=${VALGRIND_TRACK_ORIGINS:-yes} --num-callers=30
	--suppressions=$VG_SUPP --child-silent-after-fork=no"

# vg NAME PROGRAM [args...]: runs a built program (through its libtool
# wrapper) under memcheck, logging to $tmp/vg/NAME.<pid>.log; $vg_env, if
# set, goes to env(1) first ("VAR=value", "-u VAR").
vg() {
	vg_name=$1
	shift
	# shellcheck disable=SC2086
	env ${vg_env:-} "$top_builddir/libtool" --mode=execute valgrind $vg_opts \
		--log-file="$tmp/vg/$vg_name.%p.log" "$@"
}

# vg_exec NAME PROGRAM [args...] &: as vg, for a program started in the
# background: the subshell becomes valgrind (env and libtool exec), so $!
# is the pid that signals must reach.
vg_exec() {
	vg_name=$1
	shift
	# shellcheck disable=SC2086
	exec env ${vg_env:-} "$top_builddir/libtool" --mode=execute valgrind $vg_opts \
		--log-file="$tmp/vg/$vg_name.%p.log" "$@"
}

# run NAME WANT_RC args...: imaginator (the CLI) under memcheck, stdout in
# $tmp/NAME.out, stderr in $tmp/NAME.err; one TAP line on the exit code
# (VG_EXIT, 99, is memcheck's: the log says why).
run() {
	name=$1
	want=$2
	shift 2
	vg "$name" "$IMA" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	vg_env=
	[ "$rc" = "$want" ] && ok "$name: imaginator $* exits $want" ||
		not_ok "$name: imaginator $* exits $want" "rc=$rc" "$(head -c 600 "$tmp/$name.err")"
}
out_has() { jq -e "$2" "$tmp/$1.out" >/dev/null 2>&1; }

# vg_check_logs: one TAP line per process whose log shows an error, a
# definite leak or no summary; then one line with the totals, which
# docs/reliability.md quotes. VG_TOTALS holds them for the caller.
vg_check_logs() {
	bad=0
	for log in "$tmp"/vg/*.log; do
		[ -f "$log" ] || continue
		name=$(basename "$log" .log)
		if ! grep -q 'ERROR SUMMARY:' "$log"; then
			not_ok "valgrind: $name ended with its summary" "$(tail -n 15 "$log")"
			bad=$((bad + 1))
		elif ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
			not_ok "valgrind: $name has no error and no byte definitely lost" \
				"$(grep -v '^==[0-9]*== *$' "$log" | sed -n '/Command:/,$p' | head -n 80)"
			bad=$((bad + 1))
		fi
	done
	VG_TOTALS=$(awk '
		FNR == 1 { procs++ }
		/ERROR SUMMARY:/ { errors += $4 }
		/definitely lost:/ { gsub(",", "", $4); dl += $4 }
		/indirectly lost:/ { gsub(",", "", $4); il += $4 }
		/possibly lost:/ { gsub(",", "", $4); pl += $4 }
		END { printf "processes=%d errors=%d definitely_lost=%d indirectly_lost=%d possibly_lost=%d",
			procs, errors, dl, il, pl }' "$tmp"/vg/*.log)
	[ $bad = 0 ] && ok "valgrind: every log is clean ($VG_TOTALS)" ||
		not_ok "valgrind: $bad of the logs are not clean ($VG_TOTALS)"
	# Kept for a look after the run (the temp dir goes at exit).
	if [ -n "${VALGRIND_KEEP_LOGS:-}" ]; then
		mkdir -p "$VALGRIND_KEEP_LOGS" && cp "$tmp"/vg/*.log "$VALGRIND_KEEP_LOGS/"
	fi
}
