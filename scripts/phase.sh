#!/usr/bin/env bash
# Runs a command as a named phase and prints how long it took, whether it
# passed or not (make test's and .ci/run's log show where the time goes).
#
#   scripts/phase.sh NAME COMMAND [ARG...]
set -uo pipefail
name=$1
shift
echo "== $name"
start=$(date +%s)
"$@"
rc=$?
secs=$(($(date +%s) - start))
status=ok
[ "$rc" = 0 ] || status="FAILED ($rc)"
printf '== %s: %dm%02ds %s\n' "$name" $((secs / 60)) $((secs % 60)) "$status"
if [ -n "${PHASE_LOG:-}" ]; then
	printf '%-36s %4dm%02ds %s\n' "$name" $((secs / 60)) $((secs % 60)) "$status" >>"$PHASE_LOG"
fi
exit "$rc"
