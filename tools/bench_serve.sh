#!/usr/bin/env bash
# Load test of `idgenrec serve` (a benchmark, not a test; docs/serve.md): starts the server on a
# free loopback port, drives POST /recommend with wrk (Debian: apt-get install wrk) at each
# concurrency, and prints one markdown row per level: requests/s, p50/p99 latency, errors.
#
#   tools/bench_serve.sh BIN RUN DATA [LABEL]
#   env: CONCURRENCY="1 8 32"  DURATION=20s  WARMUP=3s  K=10  HISTORY=5  PORT=0  SERVE_ARGS=""
#
# Request bodies: 256 histories of HISTORY items drawn (awk srand(1)) from the run's ids.tsv,
# cycled in order. Only loopback traffic; every wrk run is bounded by DURATION.
set -euo pipefail
BIN=${1:?usage: tools/bench_serve.sh BIN RUN DATA [LABEL]}
RUN=${2:?run folder}
DATA=${3:?dataset folder}
LABEL=${4:-$(basename "$RUN")}
CONCURRENCY=${CONCURRENCY:-"1 8 32"}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
K=${K:-10}
HISTORY=${HISTORY:-5}
command -v wrk >/dev/null || { echo "bench_serve: wrk not found (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -TERM "$server"; wait "$server" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Histories from the catalog part of the ID table (the run's items).
awk -F'\t' -v n=256 -v h="$HISTORY" -v k="$K" 'BEGIN { srand(1) } { id[NR] = $1 } END {
  printf "bodies = {\n"
  for (b = 0; b < n; b++) {
    s = ""
    for (j = 0; j < h; j++) s = s (j ? "," : "") "\\\"" id[int(rand() * NR) + 1] "\\\""
    printf "  \"{\\\"history\\\":[%s],\\\"k\\\":%d}\",\n", s, k
  }
  printf "}\n"
}' "$RUN/ids.tsv" > "$work/bench.lua"
cat >> "$work/bench.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/recommend", { ["Content-Type"] = "application/json" }, bodies[(counter % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.1f %.1f %.1f %d %d\n", summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

"$BIN" serve --run "$RUN" --data "$DATA" --port "${PORT:-0}" ${SERVE_ARGS:-} 2> "$work/serve.log" &
server=$!
port=""
for _ in $(seq 600); do
  port=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$work/serve.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.5
done
[ -n "$port" ] || { echo "bench_serve: the server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
url="http://127.0.0.1:$port"

echo "# $LABEL: $(grep -m1 '^serving' "$work/serve.log")"
echo "# $(uptime | sed 's/^ *//'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; k=$K, history $HISTORY items, $DURATION per level"
echo "| run | concurrency | requests | requests/s | p50 ms | p99 ms | socket errors | non-2xx | server CPU ms/request |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
# The server's user + system CPU time in ms (/proc/PID/stat fields 14 and 15, in clock ticks).
tick=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$tick" '{ print ($14 + $15) * 1000 / t }' "/proc/$server/stat"; }
wrk -t1 -c1 -d"$WARMUP" --timeout 10s -s "$work/bench.lua" "$url" > /dev/null
for c in $CONCURRENCY; do
  before=$(cpu_ms)
  line=$(wrk -t1 -c"$c" -d"$DURATION" --timeout 10s -s "$work/bench.lua" "$url" | grep '^RESULT')
  after=$(cpu_ms)
  read -r _ n rps p50 p99 errors non2xx <<< "$line"
  per=$(awk -v a="$before" -v b="$after" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / (n > 0 ? n : 1) }')
  echo "| $LABEL | $c | $n | $rps | $p50 | $p99 | $errors | $non2xx | $per |"
done
curl -s "$url/metrics" 2>/dev/null | grep -E '^idgenrec_recommend_batch_size_(sum|count)' | sed 's/^/# /' || true
