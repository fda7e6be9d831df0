#!/usr/bin/env bash
# Installs what the tests need and is missing, so that `make test` passes on a
# fresh Debian machine. Packages need root; without it, say what to run.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# nginx: forward-auth is tested behind the real one (auth_request).
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# chromium: the demo and the operations page are tested in a real browser.
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing: ${need[*]}; install with: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
		exit 1
	fi
	echo "installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Node fixtures: real JavaScript clients (MSAL Node) that Go tests drive.
# Installed from their lockfiles when node_modules is missing.
for fixture in devidp/testdata/msalnode; do
	[ -d "$fixture/node_modules" ] && continue
	if ! command -v npm >/dev/null 2>&1; then
		echo "missing: node and npm, for $fixture; install Node.js 20 or later (e.g. apt-get install nodejs npm), then run: npm ci --prefix $fixture" >&2
		exit 1
	fi
	echo "installing $fixture (npm ci)" >&2
	npm ci --prefix "$fixture" --no-audit --no-fund >/dev/null
done
