#!/usr/bin/env bash
# CI step for issue 15: judge the example app's TLS with testssl.sh.
#
# TestTestSSL (examples/marketplace/testssl_test.go) starts
# `marketplace serve -prod` on 127.0.0.1 with a certificate from a
# throwaway CA (internal/testenv), runs testssl.sh against it with JSON
# output, and fails on any finding of severity LOW or above except those
# the test certificate causes (untrusted chain, no OCSP/CRL/CT, short
# validity, serial number, no CAA record) and the 7-day ticket lifetime Go
# advertises; the list, each with its reason, is testsslAccepted there.
#
# Needs: Go and testssl.sh (Debian's package, 3.0.8 in bookworm; scripts/
# services.sh install puts it there). TESTSSL_ARGS overrides the checks run
# (default: protocols, standard cipher categories, forward secrecy, server
# defaults, vulnerabilities, HTTP headers; --fast).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if ! command -v testssl >/dev/null && ! command -v testssl.sh >/dev/null; then
  echo "scripts/testssl/run.sh: testssl.sh is required (apt-get install testssl.sh, or scripts/services.sh install)" >&2
  exit 1
fi

cd "$root"
RAMPART_TESTSSL=1 RAMPART_TESTSSL_ARGS="${TESTSSL_ARGS:-}" \
  go test -count=1 -timeout 15m -run '^TestTestSSL$' -v ./examples/marketplace/
