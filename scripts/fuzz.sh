#!/usr/bin/env bash
# Runs every fuzz target for a short time ($1, default 10s). The checked-in
# seed corpora run with every `go test`; this explores beyond them.
set -euo pipefail
t=${1:-10s}
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "== $pkg $f" >&2
		go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg"
	done
done
