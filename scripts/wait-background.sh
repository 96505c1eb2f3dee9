#!/usr/bin/env bash
# Waits for every command scripts/background.sh started in DIR (default
# $CLOUDCART_BACKGROUND, the builds .ci/run starts), prints each one's log
# and duration, adds the duration to the phase log, and fails if one
# failed.
#
#   scripts/wait-background.sh [DIR]
set -euo pipefail
dir=${1:-${CLOUDCART_BACKGROUND:?}}
rc_all=0
for namefile in "$dir"/*.name; do
	[ -e "$namefile" ] || continue
	base=${namefile%.name}
	name=$(cat "$namefile")
	while [ ! -e "$base.status" ]; do sleep 1; done
	read -r rc secs <"$base.status"
	status=ok
	[ "$rc" = 0 ] || { status="FAILED ($rc)"; rc_all=1; }
	echo "== $name (background)"
	cat "$base.log"
	printf '== %s (background): %dm%02ds %s\n' "$name" $((secs / 60)) $((secs % 60)) "$status"
	if [ -n "${PHASE_LOG:-}" ]; then
		printf '%-36s %4dm%02ds %s\n' "$name (background)" $((secs / 60)) $((secs % 60)) "$status" >>"$PHASE_LOG"
	fi
done
exit "$rc_all"
