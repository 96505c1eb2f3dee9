#!/usr/bin/env bash
# make test: every check CI makes, each phase timed (scripts/phase.sh).
#
#  1. tracked file sizes, gofmt, go vet of the main module (this compiles
#     its graph without the race detector);
#  2. the failure scenarios' end-to-end test starts in the background on
#     that build: it is five and a half minutes of waiting for alerts to
#     fire and resolve on a lightly loaded fleet (little CPU), so it runs
#     beside everything below instead of after it. It keeps the normal
#     priority and everything else runs niced (NICENESS), so the fleet it
#     watches keeps its latency on a busy machine and a healthy fleet
#     still pages nobody;
#  3. the generated files, staticcheck of the main module;
#  4. the main module's tests with the race detector: the light packages
#     two at a time (compiling the race build with both cores), then the
#     packages that run whole fleets, one at a time, cmd/cloudcart last:
#     its tests run the programs .ci/run builds in the background (the
#     OTel Collector, k6), which are waited for only just before it;
#  5. beside those fleet packages, which wait for scrapes and alerts much
#     of their time, the nested modules (deploy/validate, e2e) in the
#     background, at the same priority: vet, staticcheck, tests;
#  6. the results of the background tests (their logs are printed then).
#
# Tests that run side by side must not take each other's ports: a test
# that hands a port to a program it starts reserves it with
# internal/freeport (below the kernel's ephemeral range, locked across
# processes), and waits are failure bounds that allow for a busy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
make="${MAKE:-make} -s"
phase=scripts/phase.sh
niceness=${NICENESS:-5}

$phase check-size $make check-size
$phase check-fmt $make check-fmt
$phase "vet (main module)" $make vet-main

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
			echo "== $(cat "$base.name"): stopped (make test failed)"
			[ "$rc" = 0 ] || tail -n 200 "$base.log" 2>/dev/null || true
		fi
	done
	rm -rf "$bg"
}
trap stop_background EXIT
scripts/background.sh "$bg" scenarios 0 "tests (scenarios)" $make test-scenarios

nice -n "$niceness" $phase check-generated $make check-generated
nice -n "$niceness" $phase "lint (main module)" $make lint-main
nice -n "$niceness" $phase "tests (race, light packages)" $make test-light
scripts/background.sh "$bg" nested "$niceness" "nested modules" $make vet-nested lint-nested test-nested
nice -n "$niceness" $phase "tests (race, fleet packages)" $make test-heavy-notools
if [ -n "${CLOUDCART_BACKGROUND:-}" ]; then
	$phase "wait for the background builds" scripts/wait-background.sh "$CLOUDCART_BACKGROUND"
fi
nice -n "$niceness" $phase "tests (race, cmd/cloudcart)" $make test-heavy-tools
$phase "wait for the background tests" scripts/wait-background.sh "$bg"
