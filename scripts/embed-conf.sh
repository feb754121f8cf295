#!/bin/sh
# embed-conf.sh CONF - prints a C file holding CONF with its @include lines
# replaced by the included files (relative to CONF's directory), so the
# embedded default configuration is exactly what conf/default.conf says.
set -eu
conf=$1
dir=$(dirname "$conf")

inline() {
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in
		*@include*)
			inc=$(printf '%s\n' "$line" | sed -n 's/^[[:space:]]*@include[[:space:]]*"\([^"]*\)".*/\1/p')
			if [ -n "$inc" ]; then
				inline < "$dir/$inc"
				continue
			fi
			;;
		esac
		printf '%s\n' "$line"
	done
}

echo '/* Generated from conf/default.conf by scripts/embed-conf.sh. */'
echo 'const char ima_default_conf[] ='
inline < "$conf" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/'
echo ';'
