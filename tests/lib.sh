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
