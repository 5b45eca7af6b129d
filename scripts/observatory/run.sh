#!/usr/bin/env bash
# CI step for issues 4 and 9: serve the headers package's defaults and the
# example app over TLS on loopback (a throwaway CA and a loopback
# certificate from internal/testenv, plain HTTP redirecting to HTTPS), score
# them with the MDN HTTP Observatory and Google's CSP Evaluator, and fail
# unless the grade is A+ with all 10 tests passed and no CSP finding of
# medium severity or worse. The Go tests (TestObservatory in headers and
# examples/marketplace, via internal/observatory) read the scores from
# check.mjs's JSON and print them.
#
# Needs: Go, Node >= 20 and npm (the registry is used only to fetch the two
# packages pinned in package-lock.json; no install scripts run).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "scripts/observatory/run.sh: node (>= 20) and npm are required" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "scripts/observatory/run.sh: node >= 20 is required, found $(node --version)" >&2
  exit 1
fi

(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

cd "$root"
RAMPART_OBSERVATORY=1 go test -count=1 -run '^TestObservatory$' -v ./headers/ ./examples/marketplace/
