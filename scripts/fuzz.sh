#!/usr/bin/env bash
# Runs every `func Fuzz...` target of the module, one at a time, for
# FUZZTIME each (default 1m). Crashers land in the package's
# testdata/fuzz/<Target>/ and then run with every `go test` (make test):
# commit them as regression seeds once the bug is fixed.
#
#   scripts/fuzz.sh [FUZZTIME] [TARGET-REGEXP]
#
# FUZZMINIMIZETIME (default 5s) bounds the minimisation of each new input:
# Go's default, 60s, can eat a whole short run of a slow target.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-1m}
only=${2:-.}
status=0
while IFS=: read -r file line; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	grep -Eq "$only" <<<"$name" || continue
	pkg=./$(dirname "$file")
	echo "== $name ($pkg, $fuzztime)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "${FUZZMINIMIZETIME:-5s}" "$pkg" || status=1
done < <(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' cmd internal | sort)
exit $status
