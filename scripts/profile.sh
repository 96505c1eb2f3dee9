#!/usr/bin/env bash
# Profiles the order path: runs BenchmarkOrderPlacementThroughGateway with
# CPU, allocation, block and mutex profiles, then prints the share of CPU
# samples, allocated bytes and blocked time under each stage of an order
# (docs/benchmarks.md, "Where an order's time goes").
#
#   scripts/profile.sh [DIR] [ORDERS]     (make profile)
#   scripts/profile.sh --report DIR       the table for profiles in DIR
#                                         (DIR/fleet.test and the .out files)
#
# DIR (default profile/) receives the test binary and cpu.out, mem.out,
# block.out, mutex.out; open them with `go tool pprof -http : DIR/cpu.out`.
# Stages overlap (an inventory call is inside the order handler, SQL inside
# both), so the shares add up to more than 100%.
set -euo pipefail
# Pipelines end in sed, not head: head stops reading early, pprof dies of
# SIGPIPE, and pipefail fails the script (make profile: Error 141).
go=${GO:-go}
report=
if [ "${1:-}" = --report ]; then
	report=1
	shift
fi
dir=${1:-profile}
orders=${2:-2000}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -z "$report" ]; then
	"$go" test -c -o "$dir/fleet.test" ./internal/fleet/
	(cd internal/fleet && "$dir/fleet.test" -test.run '^$' -test.bench 'BenchmarkOrderPlacementThroughGateway$' \
		-test.benchtime "${orders}x" -test.cpuprofile "$dir/cpu.out" -test.memprofile "$dir/mem.out" \
		-test.memprofilerate 65536 -test.blockprofile "$dir/block.out" -test.mutexprofile "$dir/mutex.out")
fi

# stage NAME REGEX: one line per profile with the share under REGEX.
stages=(
	"gateway (all of it)|internal/gateway\\."
	"  JWT verification|internal/authn\\.|crypto/ed25519"
	"  reverse proxy|net/http/httputil\\."
	"order handler (HTTP to 201)|orders\\.\\(\\*Service\\)\\.createOrder"
	"order worker (steps)|orders\\.\\(\\*Service\\)\\.process"
	"inventory calls (client side)|orders\\.\\(\\*ProductClient\\)"
	"product service handlers|internal/products\\.\\(\\*Service\\)"
	"SQL (database/sql + SQLite)|database/sql\\.|modernc\\.org/sqlite"
	"  commits (WAL write, fsync)|database/sql\\.\\(\\*Tx\\)\\.Commit|_sqlite3PagerCommitPhaseOne"
	"  statement parsing|sqlite3Prepare|sqlite3LockAndPrepare"
	"outbox relay + bus|sqlstore\\.\\(\\*Outbox\\)|internal/bus\\.|nats-io"
	"notifier|internal/notifier\\."
	"telemetry (OTel SDK, Prometheus)|go\\.opentelemetry\\.io/otel/sdk|prometheus/client_golang|httpkit\\.\\(\\*Middleware\\)"
	"system calls|syscall\\.|internal/runtime/syscall"
	"garbage collector|runtime\\.gcBgMarkWorker|runtime\\.mallocgc"
)
share() { # profile sample_index regex
	"$go" tool pprof -top -sample_index="$2" -focus="$3" "$dir/fleet.test" "$dir/$1" 2>/dev/null |
		sed -n 's/.*accounting for [^,]*, \([0-9.]*%\) of \(.*\) total/\1 of \2/p' | sed -n 1p
}
printf '%-36s %-22s %-22s %s\n' stage "CPU samples" "allocated bytes" "blocked (block profile)"
for s in "${stages[@]}"; do
	name=${s%%|*} re=${s#*|}
	printf '%-36s %-22s %-22s %s\n' "$name" "$(share cpu.out cpu "$re")" "$(share mem.out alloc_space "$re")" \
		"$(share block.out delay "$re")"
done
echo
echo "CPU used: $("$go" tool pprof -top "$dir/fleet.test" "$dir/cpu.out" 2>/dev/null | sed -n 's/^Duration: \(.*\)/\1/p')"
echo "top of the mutex profile (contention):"
"$go" tool pprof -top -cum "$dir/fleet.test" "$dir/mutex.out" 2>/dev/null | sed -n '/flat%/,$p' | sed -n 1,12p
