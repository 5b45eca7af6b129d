#!/usr/bin/env bash
# fuzz-long.sh: run every Go fuzz target of the repository for a while, one
# after another, at the lowest CPU priority on one core, and log a table row
# per target for docs/TESTING.md.
#
#   scripts/fuzz-long.sh [DURATION] [LOG]
#
# DURATION is a go test -fuzztime value (default 10m); LOG is where the
# rows go (default fuzz-long.log in the current directory). Each target's
# full output goes to FUZZ_OUTDIR (default: LOG's directory) as
# fuzz-long.<pkg>.<target>.out; a
# failing input stays in the package's testdata/fuzz/<target>/ as usual, so
# that `go test` replays it. FUZZ_MATCH (a grep -E pattern on
# "pkg FuzzName") picks a subset. Exit status: 1 if any target failed.
set -uo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
dur=${1:-10m}
log=${2:-fuzz-long.log}
case $log in /*) ;; *) log="$(pwd)/$log" ;; esac
outdir=${FUZZ_OUTDIR:-$(dirname "$log")}
mkdir -p "$outdir"
match=${FUZZ_MATCH:-.}

# Every fuzz target: "./pkg FuzzName", from the test files git knows.
targets=$(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' -- '*_test.go' |
  sed -E 's#^(.*)/[^/]*_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*#./\1 \2#' |
  sort | grep -E -- "$match")

{
  echo "# fuzz-long $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) duration $dur $(go version | cut -d' ' -f3)"
  echo "| target | duration | execs | result | date |"
  echo "| --- | --- | --- | --- | --- |"
} >>"$log"

failed=0
while read -r pkg name; do
  [ -n "$pkg" ] || continue
  out="$outdir/fuzz-long.$(echo "${pkg#./}" | tr / _).$name.out"
  start=$(date -u +%F)
  # -run '^$': no unit tests; -fuzz '^Name$': exactly this target;
  # -parallel=1: one fuzzing worker, one core.
  nice -n 19 go test -run '^$' -fuzz "^${name}\$" -fuzztime "$dur" -parallel=1 "$pkg" >"$out" 2>&1
  rc=$?
  execs=$(grep -oE 'execs: [0-9]+' "$out" | tail -1 | awk '{print $2}')
  if [ $rc -eq 0 ]; then
    result=pass
  else
    failed=1
    why=$(grep -m1 -E 'Failing input written to|panic:|--- FAIL' "$out" | tr '|' '/' | cut -c1-120)
    result="FAIL (${why:-exit $rc}; see $(basename "$out"))"
  fi
  echo "| ${pkg#./} $name | $dur | ${execs:-?} | $result | $start |" >>"$log"
done <<<"$targets"
exit $failed
