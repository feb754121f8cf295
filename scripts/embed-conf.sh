#!/bin/sh
# embed-conf.sh CONF... - prints a C file holding each CONF as it is, by
# its file name, so the embedded default configuration is exactly the
# shipped files and its messages cite their real lines. The first is the
# configuration; its @include lines find the others by name.
set -eu
echo '/* Generated from conf/ by scripts/embed-conf.sh. */'
echo '#include "ima_config.h"'
echo 'const struct ima_config_file ima_default_conf[] = {'
for conf in "$@"; do
	printf '\t{ "%s",\n' "$(basename "$conf")"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t  "/' -e 's/$/\\n"/' "$conf"
	printf '\t},\n'
done
echo '	{ 0, 0 }'
echo '};'
