#!/bin/sh
# deb.sh build|install-check DIR|fresh - the Debian packages, built and proven.
#
#   build              (as root on Debian 12) installs the build dependencies,
#                      runs dpkg-buildpackage -us -uc -b and lintian (fails on
#                      any error, prints the rest); the .deb files land in ..;
#                      with --tar, writes them to stdout as a tar instead.
#   install-check DIR  (as root, ideally on a machine that never built it)
#                      apt-get installs DIR's .deb files, then proves: the
#                      analysis runs with no environment variable; the
#                      daemon, started as the packaged unit starts it (its
#                      ExecStart, Environment, user) but without systemd,
#                      serves /health; the example plugin builds against the
#                      -dev package with only pkg-config and runs.
#   fresh              (as root) both, each in a brand-new minimal Debian 12
#                      root (../shared/tools/fresh-debian, or $FRESH_DEBIAN):
#                      the install is checked on a machine that has none of
#                      the build's packages.
# Every check prints "ok - ..." or "not ok - ..."; the last line is
# "N passed, N failed".
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

build() {
	tar=0
	[ "${1:-}" = --tar ] && tar=1
	cd "$top"
	apt-get update -qq >&2
	apt_install build-essential dpkg-dev debhelper lintian
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./ >&2
	rm -f ../imaginator_*.changes
	dpkg-buildpackage -us -uc -b -j"$(nproc)" >../deb-build.log 2>&1 || {
		tail -40 ../deb-build.log >&2
		echo "deb.sh: dpkg-buildpackage failed (../deb-build.log)" >&2
		exit 1
	}
	# Errors fail the build; warnings and the rest are listed (docs/debian.md
	# says why each remaining one stays).
	lintian --fail-on error --info --display-info ../imaginator_*.changes >&2 || {
		echo "deb.sh: lintian reports errors" >&2
		exit 1
	}
	if [ "$tar" = 1 ]; then
		cd .. && tar -cf - ./*.deb
	else
		ls -1 ../*.deb >&2
	fi
}

# The unit's own command line: ExecStart and Environment of an installed
# unit, run as its User= without systemd.
unit_value() {
	sed -n "s/^$2=//p" "/lib/systemd/system/$1" | head -n 1
}

health() {
	# libfcgi's own client: the request's CGI variables are its environment.
	env -i REQUEST_METHOD=GET SCRIPT_NAME=/health REQUEST_URI=/health \
		SERVER_PROTOCOL=HTTP/1.1 cgi-fcgi -bind -connect /run/imaginator/fcgi.sock
}

install_check() {
	dir=$(cd "$1" && pwd)
	apt-get update -qq >&2
	apt_install "$dir"/imaginator_*.deb "$dir"/libimaginator0_*.deb libfcgi-bin
	req=/usr/share/doc/imaginator/examples/request.json

	out=$(mktemp)
	if env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin imaginator analyze "$req" >"$out" 2>"$out.err" &&
		grep -q '"processing_status": *"COMPLETED"' "$out"; then
		ok "imaginator analyze $req, no environment variables"
	else
		not_ok "imaginator analyze $req: $(head -c 400 "$out.err")"
	fi
	if getent passwd imaginator >/dev/null && getent group imaginator >/dev/null; then
		ok "the package created the imaginator user and group"
	else
		not_ok "no imaginator user or group after installing"
	fi
	conffiles=$(dpkg-query -W -f='${Conffiles}' imaginator)
	missing=
	for f in /etc/imaginator/*.conf; do
		echo "$conffiles" | grep -q " $f " || missing="$missing $f"
	done
	[ -z "$missing" ] && ok "every /etc/imaginator/*.conf is a conffile" ||
		not_ok "not conffiles:$missing"

	# The standalone unit listens itself; run its ExecStart as its user.
	unit=imaginator-fcgi-standalone.service
	cmd=$(unit_value $unit ExecStart)
	envs=$(unit_value $unit Environment)
	user=$(unit_value $unit User)
	group=$(unit_value $unit Group)
	groups=$(unit_value $unit SupplementaryGroups)
	umask=$(unit_value $unit UMask)
	# EnvironmentFile=-FILE: VAR=value lines, the value to the end of the line.
	efile=$(unit_value $unit EnvironmentFile)
	set --
	if [ -f "${efile#-}" ]; then
		while IFS= read -r line; do
			case "$line" in ''|'#'*) continue ;; esac
			set -- "$@" "$line"
		done <"${efile#-}"
	fi
	mkdir -p /run/imaginator && chown "$user" /run/imaginator
	# As systemd would: the unit's user, group, supplementary groups and
	# umask (setpriv, util-linux), its environment, its command line.
	# shellcheck disable=SC2086 # the unit's words, split as systemd splits them
	(umask "${umask:-0022}" && exec env -i PATH=/usr/sbin:/usr/bin $envs "$@" \
		setpriv --reuid="$user" --regid="${group:-$user}" --groups="${groups:-$user}" -- \
		$cmd --pidfile /run/imaginator/pid) >"$out.daemon" 2>&1 &
	i=0
	while [ ! -S /run/imaginator/fcgi.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	if health >"$out" 2>&1 && grep -q '^Status: 200' "$out" && grep -q '"status":"ok"' "$out"; then
		ok "imaginator-fcgi as $unit runs it ($envs, $efile, user $user, groups ${groups:-none}) serves /health"
	else
		not_ok "/health from the packaged daemon: $(head -c 400 "$out"; tail -5 "$out.daemon")"
	fi
	mode=$(stat -c '%a %G' /run/imaginator/fcgi.sock 2>/dev/null || echo none)
	[ "$mode" = "660 www-data" ] && ok "its socket is mode 0660, group www-data" ||
		not_ok "socket mode and group: $mode"
	[ -s /run/imaginator/pid ] && kill "$(cat /run/imaginator/pid)" 2>/dev/null
	wait 2>/dev/null || true

	# The out-of-tree example against the -dev package, with only pkg-config.
	apt_install "$dir"/libimaginator-dev_*.deb build-essential pkg-config
	work=$(mktemp -d)
	cp -r /usr/share/doc/libimaginator-dev/examples/plugin "$work/"
	if make -s -C "$work/plugin" >"$out" 2>&1 && make -s -C "$work/plugin" install >>"$out" 2>&1; then
		ok "examples/plugin builds and installs against libimaginator-dev"
	else
		not_ok "examples/plugin build: $(tail -5 "$out")"
	fi
	cat >"$work/stats.conf" <<-EOF
	pipeline = (
	  @include "/etc/imaginator/request.conf"
	  ,
	  @include "/etc/imaginator/analysis.conf"
	  ,
	  { name = "stats"; plugin = "wordcount"; options = { min_length = 5; }; }
	);
	EOF
	if env -i PATH=/usr/bin:/bin imaginator analyze -c "$work/stats.conf" "$req" >"$out" 2>"$out.err" &&
		grep -q '"text_stats"' "$out" && imaginator plugins | grep -q '^wordcount '; then
		ok "the installed example plugin runs in a pipeline and is listed"
	else
		not_ok "the example plugin in a pipeline: $(head -c 400 "$out.err")"
	fi
	rm -rf "$work" "$out" "$out.err" "$out.daemon"
	summary
}

fresh() {
	fresh=${FRESH_DEBIAN:-$top/../shared/tools/fresh-debian}
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cd "$top"
	"$fresh" -- scripts/deb.sh build --tar >"$tmp/debs.tar" || {
		echo "not ok - the packages build and pass lintian on a fresh Debian 12 root"
		echo "0 passed, 1 failed"
		exit 1
	}
	echo "ok - the packages build and pass lintian on a fresh Debian 12 root"
	# The install root gets the .deb files the only way fresh-debian takes
	# anything in: committed in the repository it clones.
	git clone -q "$top" "$tmp/repo"
	mkdir "$tmp/repo/debs"
	tar -C "$tmp/repo/debs" -xf "$tmp/debs.tar"
	git -C "$tmp/repo" add debs
	git -C "$tmp/repo" -c user.name=deb.sh -c user.email=deb.sh@localhost commit -q -m debs
	"$fresh" "$tmp/repo" -- scripts/deb.sh install-check debs | tee "$tmp/out"
	line=$(tail -n 1 "$tmp/out")
	case "$line" in
	*" passed, "*" failed") ;;
	*) line="0 passed, 1 failed" ;;
	esac
	p=${line%% passed*}
	f=$(echo "$line" | sed 's/.* passed, \([0-9]*\) failed/\1/')
	echo "$((p + 1)) passed, $f failed"
	[ "$f" -eq 0 ]
}

case "${1:-}" in
build) shift; build "$@" ;;
install-check) [ $# -eq 2 ] || { echo "usage: $0 install-check DIR" >&2; exit 2; }; install_check "$2" ;;
fresh) fresh ;;
*) echo "usage: $0 build [--tar] | install-check DIR | fresh" >&2; exit 2 ;;
esac
