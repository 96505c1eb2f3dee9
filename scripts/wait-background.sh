#!/usr/bin/env bash
# Waits for the builds .ci/run started in the background (CLOUDCART_BACKGROUND:
# a directory with NAME.name, NAME.log and, once done, NAME.status holding
# "exit-status seconds"), prints each one's log and duration, adds the
# duration to the phase log, and fails if one failed. make test calls it
# before the packages whose tests use what those builds make; outside CI
# there is nothing to wait for.
set -euo pipefail
dir=${CLOUDCART_BACKGROUND:?}
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
		printf '%-32s %4dm%02ds %s\n' "$name (background)" $((secs / 60)) $((secs % 60)) "$status" >>"$PHASE_LOG"
	fi
done
exit "$rc_all"
