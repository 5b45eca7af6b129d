#!/usr/bin/env bash
# The whole-stack benchmarks (bench/stack, issue 16) in interleaved rounds:
# each round runs every contestant once, in an order that rotates from
# round to round, then the per-layer build-up; ratios are taken within each
# round, and the script prints their medians with the spread (min–max)
# beside the medians of the raw figures. On a shared machine only these
# in-round ratios, and CPU time rather than wall time, are worth comparing.
#
#	scripts/bench-stack.sh [rounds] [benchtime]   # defaults: 8 rounds, 1s
#	RAW=/tmp/stack.txt scripts/bench-stack.sh     # keep the raw output
#
# Targets (issue 16), on the signed-in GET, serial: at most 3 µs CPU and
# 15 allocations, or at most 6× the mux + session-map floor; at least 3×
# cheaper than the à-la-carte stack; no layer above 25 % of the chain.
set -euo pipefail

rounds=${1:-8}
benchtime=${2:-1s}
cd "$(dirname "$0")/../bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
raw=${RAW:-$tmp/raw.txt}
: >"$raw"

go test -c -o "$tmp/stack.test" ./stack
contestants=(Rampart ALaCarte Mux SessionMap)

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"
echo "$(go version), $(nproc) CPUs, $rounds rounds of -benchtime=$benchtime"
for round in $(seq "$rounds"); do
  n=${#contestants[@]}
  for i in $(seq 0 $((n - 1))); do
    c=${contestants[$(((i + round) % n))]}
    "$tmp/stack.test" -test.run '^$' -test.benchmem -test.benchtime="$benchtime" \
      -test.bench "^BenchmarkStack(Parallel)?\$/^$c\$/" | sed "s/^/$round /" >>"$raw"
  done
  "$tmp/stack.test" -test.run '^$' -test.benchmem -test.benchtime="$benchtime" \
    -test.bench '^BenchmarkStackLayers$' | sed "s/^/$round /" >>"$raw"
  echo "round $round done, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)" >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"

# Lines look like:
# 3 BenchmarkStack/Rampart/SignedInGET-2  N  7100 ns/op  8900 cpu-ns/op  3800 B/op  39 allocs/op
awk '
function sortv(a, n,   i, j, t) {
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
}
# stat prints "median [min–max]" of the space-separated values in s.
function stat(s, scale, fmt,   a, n) {
  n = split(s, a, " ")
  if (n == 0) return "-"
  sortv(a, n)
  med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  lo = a[1]; hi = a[n]
  return sprintf(fmt " [" fmt "–" fmt "]", med / scale, lo / scale, hi / scale)
}
function add(key, v) { vals[key] = (key in vals) ? vals[key] " " v : v }
$2 ~ /^BenchmarkStack/ {
  round = $1; name = $2; sub(/-[0-9]+$/, "", name)
  if (!(name in seen)) { seen[name] = 1; order[++names] = name }
  for (i = 4; i < NF; i++) {
    if ($(i + 1) == "ns/op") m["wall", round, name] = $i
    if ($(i + 1) == "cpu-ns/op") m["cpu", round, name] = $i
    if ($(i + 1) == "B/op") m["B", round, name] = $i
    if ($(i + 1) == "allocs/op") m["allocs", round, name] = $i
  }
  rounds[round] = 1
}
END {
  printf "\n%-36s %24s %24s %20s %12s\n", "benchmark", "wall µs/op", "CPU µs/op", "B/op", "allocs/op"
  for (k = 1; k <= names; k++) {
    name = order[k]; w = c = b = al = ""
    for (r in rounds) {
      if (("wall", r, name) in m) { w = w " " m["wall", r, name]; c = c " " m["cpu", r, name]; b = b " " m["B", r, name]; al = al " " m["allocs", r, name] }
    }
    printf "%-36s %24s %24s %20s %12s\n", substr(name, 10), stat(w, 1000, "%.2f"), stat(c, 1000, "%.2f"), stat(b, 1, "%d"), stat(al, 1, "%d")
  }

  # In-round ratios, CPU and wall.
  printf "\nratios within each round, median [min–max]      CPU                     wall\n"
  split("Stack StackParallel", kinds, " ")
  split("AnonGET SignedInGET SignedInPOST", reqs, " ")
  for (ki = 1; ki <= 2; ki++) for (qi = 1; qi <= 3; qi++) {
    base = "Benchmark" kinds[ki] "/"; q = "/" reqs[qi]
    split("Rampart/SessionMap Rampart/Mux ALaCarte/Rampart", pairs, " ")
    for (pi = 1; pi <= 3; pi++) {
      split(pairs[pi], p, "/")
      rc = rw = ""
      for (r in rounds) {
        x = base p[1] q; y = base p[2] q
        if (("cpu", r, x) in m && ("cpu", r, y) in m && m["cpu", r, y] > 0 && m["wall", r, y] > 0) {
          rc = rc " " m["cpu", r, x] / m["cpu", r, y]; rw = rw " " m["wall", r, x] / m["wall", r, y]
        }
      }
      if (rc != "") printf "%-13s %-13s %-20s %22s %22s\n", kinds[ki], reqs[qi], p[1] " ÷ " p[2], stat(rc, 1, "%.2f"), stat(rw, 1, "%.2f")
    }
  }

  # Layer shares: each layer is its row less the one before, as a share of
  # the whole chain (the last row), within each round.
  printf "\nlayer cost of the signed-in GET (serial), share of the chain, median [min–max]\n"
  printf "%-20s %22s %22s %14s\n", "layer", "CPU share", "wall share", "allocs added"
  split("0-mux 1-clientip 2-audit 3-headers 4-crossorigin 5-ratelimit 6-session+guard", layers, " ")
  full = "BenchmarkStackLayers/6-session+guard"
  maxshare = ""
  for (li = 1; li <= 7; li++) {
    cur = "BenchmarkStackLayers/" layers[li]; prev = "BenchmarkStackLayers/" layers[li - 1]
    sc = sw = sa = ""
    for (r in rounds) {
      if (!(("cpu", r, cur) in m) || !(("cpu", r, full) in m)) continue
      pc = (li > 1) ? m["cpu", r, prev] : 0; pw = (li > 1) ? m["wall", r, prev] : 0; pa = (li > 1) ? m["allocs", r, prev] : 0
      sc = sc " " (m["cpu", r, cur] - pc) / m["cpu", r, full] * 100
      sw = sw " " (m["wall", r, cur] - pw) / m["wall", r, full] * 100
      sa = sa " " (m["allocs", r, cur] - pa)
    }
    if (sc != "") printf "%-20s %21s%% %21s%% %14s\n", layers[li], stat(sc, 1, "%.0f"), stat(sw, 1, "%.0f"), stat(sa, 1, "%d")
  }

  # The targets.
  g = "BenchmarkStack/Rampart/SignedInGET"; fl = "BenchmarkStack/SessionMap/SignedInGET"; ac = "BenchmarkStack/ALaCarte/SignedInGET"
  c = al = rf = ra = ""
  for (r in rounds) if (("cpu", r, g) in m) {
    c = c " " m["cpu", r, g]; al = al " " m["allocs", r, g]
    if (("cpu", r, fl) in m) rf = rf " " m["cpu", r, g] / m["cpu", r, fl]
    if (("cpu", r, ac) in m) ra = ra " " m["cpu", r, ac] / m["cpu", r, g]
  }
  printf "\ntargets (signed-in GET, serial, CPU):\n"
  printf "  CPU per request ≤ 3 µs:             %s µs\n", stat(c, 1000, "%.2f")
  printf "  allocations ≤ 15:                   %s\n", stat(al, 1, "%d")
  printf "  or ≤ 6× the mux + session map:      %s×\n", stat(rf, 1, "%.1f")
  printf "  à-la-carte ÷ Rampart ≥ 3:           %s×\n", stat(ra, 1, "%.2f")
  printf "  no layer above 25 %%:                see the layer table\n"
}' "$raw"
