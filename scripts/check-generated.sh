#!/usr/bin/env bash
# Fails when regenerating the generated files would change them: runs
# `make generate` and compares every generated path with what was there
# before. On drift it prints the diff and leaves the regenerated files in
# place (commit them, or fix their source).
#
#   scripts/check-generated.sh   (make check-generated; make test runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}
# Every file or folder `make generate` writes (Makefile: GENERATED).
read -r -a paths <<<"$($make -s print-generated)"
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
for p in "${paths[@]}"; do
	if [ -e "$p" ]; then
		mkdir -p "$before/$(dirname "$p")"
		cp -R "$p" "$before/$p"
	fi
done
$make -s generate >/dev/null
drift=0
for p in "${paths[@]}"; do
	if ! diff -ruN "$before/$p" "$p"; then
		drift=1
	fi
done
if [ "$drift" = 1 ]; then
	echo >&2
	echo "check-generated: the generated files above are stale; they are regenerated now: review and commit them" >&2
	exit 1
fi
echo "check-generated: ${paths[*]} are up to date"
