#!/usr/bin/env bash
# make test: every check CI makes, each phase timed (scripts/phase.sh).
#
#  1. static checks: tracked file sizes, gofmt, go vet, generated files,
#     staticcheck;
#  2. the failure scenarios' end-to-end test starts in the background: it
#     is about five minutes of waiting for alerts to fire and resolve on a
#     fleet under light load (little CPU), so it runs beside everything
#     below instead of after it. It keeps the normal priority and
#     everything else runs niced (NICENESS), so the fleet it watches keeps
#     its latency on a busy machine and a healthy fleet still pages nobody;
#  3. the main module's tests with the race detector: the light packages
#     two at a time (compiling the race build with both cores), then,
#     after the programs .ci/run builds in the background when it does,
#     the packages that run whole fleets, one at a time;
#  4. the nested modules' tests (deploy/validate, e2e). Not beside the
#     fleet packages: their fleets would take ports the multi-process tests
#     picked free and are about to hand to Prometheus or the Collector;
#  5. the scenarios' result (its log is printed then).
#
# The go vet of step 1 compiles the graph without the race detector, the
# build the scenarios' test and the programs the other tests start use.
set -euo pipefail
cd "$(dirname "$0")/.."
make="${MAKE:-make} -s"
phase=scripts/phase.sh
niceness=${NICENESS:-5}

$phase check-size $make check-size
$phase check-fmt $make check-fmt
$phase vet $make vet

bg=$(mktemp -d)
# On a failure before the end, the background tests are stopped and what
# they printed so far is shown.
stop_background() {
	rc=$?
	for pidfile in "$bg"/*.pid; do
		[ -e "$pidfile" ] || continue
		base=${pidfile%.pid}
		if [ ! -e "$base.status" ]; then
			kill -- "-$(cat "$pidfile")" 2>/dev/null || true
			echo "== $(cat "$base.name" 2>/dev/null || basename "$base"): stopped (make test failed)"
		fi
		[ "$rc" = 0 ] || tail -n 200 "$base.log" 2>/dev/null || true
	done
	rm -rf "$bg"
}
trap stop_background EXIT
scripts/background.sh "$bg" scenarios 0 "tests (scenarios)" $make test-scenarios

nice -n "$niceness" $phase check-generated $make check-generated
nice -n "$niceness" $phase lint $make lint
nice -n "$niceness" $phase "tests (race, light packages)" $make test-light
if [ -n "${CLOUDCART_BACKGROUND:-}" ]; then
	$phase "wait for the background builds" scripts/wait-background.sh "$CLOUDCART_BACKGROUND"
fi
nice -n "$niceness" $phase "tests (race, fleet packages)" $make test-heavy
nice -n "$niceness" $phase "tests (nested modules)" $make test-nested
$phase "wait for the background tests" scripts/wait-background.sh "$bg"
