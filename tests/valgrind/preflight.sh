#!/bin/sh
# tests/valgrind/preflight.sh BUILDDIR - make check-valgrind's first step:
# valgrind must be installed and the build must be one valgrind can run.
# AddressSanitizer and ThreadSanitizer reserve shadow memory at fixed
# addresses that valgrind cannot give them: such a build dies at start
# under valgrind, so it is refused here with what to do instead.
build=${1:?usage: preflight.sh BUILDDIR}
if ! command -v valgrind >/dev/null 2>&1; then
	echo "check-valgrind: valgrind not found (Debian: apt-get install valgrind)" >&2
	exit 1
fi
for f in "$build/core/.libs/libimaginator.so" "$build/.libs/imaginator" "$build/.libs/imaginator-fcgi"; do
	[ -f "$f" ] || continue
	if readelf -d "$f" 2>/dev/null | grep -q 'NEEDED.*lib[at]san'; then
		echo "check-valgrind: $build is a sanitizer build ($(basename "$f") links" \
			"$(readelf -d "$f" | sed -n 's/.*NEEDED.*\[\(lib[at]san[^]]*\)\].*/\1/p' | head -n1))," >&2
		echo "check-valgrind: valgrind cannot run it. Use a build of its own, e.g." >&2
		echo "check-valgrind:   mkdir build-vg && cd build-vg && ../configure CFLAGS='-O1 -g' && make check-valgrind" >&2
		exit 1
	fi
done
exit 0
