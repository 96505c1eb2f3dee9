#!/usr/bin/env bash
# make test: every check CI makes, each phase timed (scripts/phase.sh).
#
#  1. static checks: tracked file sizes, gofmt, go vet, generated files,
#     staticcheck;
#  2. the main module's tests with the race detector: the light packages
#     two at a time (compiling the race build with both cores), then,
#     after the programs .ci/run builds in the background when it does,
#     the packages that run whole fleets, one at a time;
#  3. the nested modules' tests (deploy/validate, e2e);
#  4. the failure scenarios' end-to-end test, alone: its healthy minute
#     must page nobody, latency SLO included, and beside the other tests
#     (even niced below it) it made their timeouts fail instead.
#
# The go vet of step 1 compiles the graph without the race detector, the
# build the scenarios' test and the programs the other tests start use.
set -euo pipefail
cd "$(dirname "$0")/.."
make="${MAKE:-make} -s"
phase=scripts/phase.sh

$make test-static
$phase "tests (race, light packages)" $make test-light
if [ -n "${CLOUDCART_BACKGROUND:-}" ]; then
	$phase "wait for the background builds" scripts/wait-background.sh "$CLOUDCART_BACKGROUND"
fi
$phase "tests (race, fleet packages)" $make test-heavy
$phase "tests (nested modules)" $make test-nested
$phase "tests (scenarios, alone)" $make test-scenarios
