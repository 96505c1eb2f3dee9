#!/usr/bin/env bash
# Fails when a file tracked by git is over 1 MiB: build output (a binary),
# data or a dump that belongs elsewhere, which every clone would download
# forever. Sizes are those of the blobs in the index, so a file deleted
# from the work tree but still tracked counts.
#
#   scripts/check-size.sh [LIMIT_BYTES]   (make check-size; make test runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${1:-1048576}
if ! command -v git >/dev/null || ! git rev-parse --git-dir >/dev/null 2>&1; then
	# A source tarball has nothing tracked to check; CI has a clone and
	# must not pass without checking.
	if [ "${CI:-}" = true ]; then
		echo "check-size: git or the repository is missing: cannot list the tracked files" >&2
		exit 1
	fi
	echo "check-size: not a git checkout: skipped"
	exit 0
fi
big=$(git ls-files -s -z | tr '\0' '\n' | awk '{print $2}' |
	git cat-file --batch-check='%(objectsize) %(objectname)' |
	awk -v limit="$limit" '$1 > limit {print $2}' | sort -u)
if [ -n "$big" ]; then
	echo "tracked files over $limit bytes (build output or data? untrack them and add them to .gitignore):" >&2
	git ls-files -s | while read -r _ hash _ path; do
		if grep -qx "$hash" <<<"$big"; then
			echo "  $path ($(git cat-file -s "$hash") bytes)" >&2
		fi
	done
	exit 1
fi
echo "check-size: $(git ls-files | wc -l) tracked files, none over $limit bytes"
