#!/usr/bin/env bash
# Starts a command in the background, niced, in a session of its own, and
# returns at once. Its output goes to DIR/ID.log and, when it ends, its
# exit status and duration to DIR/ID.status ("exit-status seconds");
# DIR/ID.name holds the phase name and DIR/ID.pid its process group (kill
# -- -PID stops it with every process it started).
# scripts/wait-background.sh DIR waits for every command started in DIR,
# prints each log and fails if one failed.
#
#   scripts/background.sh DIR ID NICENESS NAME COMMAND [ARG...]
#
# make test runs the scenarios' end-to-end test and the nested modules' tests
# this way (scripts/test.sh), and .ci/run the builds of k6 and the OTel
# Collector.
set -euo pipefail
dir=$1 id=$2 niceness=$3 name=$4
shift 4
mkdir -p "$dir"
echo "$name" >"$dir/$id.name"
(
	started=$(date +%s)
	rc=0
	setsid nice -n "$niceness" "$@" >"$dir/$id.log" 2>&1 </dev/null &
	echo $! >"$dir/$id.pid"
	wait $! || rc=$?
	echo "$rc $(($(date +%s) - started))" >"$dir/$id.status.tmp"
	mv "$dir/$id.status.tmp" "$dir/$id.status"
) &
echo "== $name: started in the background"
