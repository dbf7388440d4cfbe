#!/usr/bin/env bash
# T5 training speed under each OpenBLAS kernel this CPU can run, for one or more builds of the
# binary, next to PyTorch (tools/bench_t5.py, 2 threads) in the same run. Developer benchmark,
# not a test; `make bench-kernels` calls it (AVX512=1 adds a build for -target-cpu skylake-avx512).
#
# Usage: tools/bench_kernels.sh [--rounds N] [--python PY] [--out DIR] BIN [BIN ...]
#   BIN: idgenrec binaries to compare (e.g. .build/release/idgenrec .build-avx512/release/idgenrec)
# Each round runs every (binary, kernel) pair once, then PyTorch once; the table gives the median
# tokens/s over rounds and the ratio to PyTorch's median. Kernels: the one OpenBLAS picks itself
# (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset), Haswell, Haswell with OPENBLAS_L2_SIZE=512 (what
# some cloud images set), Zen, Sandybridge, and SkylakeX where the CPU has AVX-512. Work: bench config t5-tiny (d 128, 2+2 layers), batch 64 x 128 -> 8, 20 steps.
set -euo pipefail
rounds=3; python=""; out=.build/bench-kernels
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    --*) echo "bench_kernels: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "bench_kernels: name at least one idgenrec binary" >&2; exit 2; }
for b in "$@"; do [ -x "$b" ] || { echo "bench_kernels: $b is not an executable (build it first)" >&2; exit 2; }; done
kernels="default Haswell Haswell+L2 Zen Sandybridge"
grep -q avx512f /proc/cpuinfo && kernels="default Haswell Haswell+L2 Zen SkylakeX Sandybridge"
args=(--config tools/configs/t5-tiny.json --batch 64 --source-length 128 --target-length 8 --steps 20)
mkdir -p "$out"; rm -f "$out"/*.json
for r in $(seq 1 "$rounds"); do
  bi=0
  for b in "$@"; do
    bi=$((bi + 1))
    for k in $kernels; do
      case "$k" in
        default) vars=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE) ;;
        Haswell+L2) vars=(OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512) ;;
        *) vars=(-u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$k") ;;
      esac
      env "${vars[@]}" "$b" bench train "${args[@]}" --json "$out/b$bi-$k-r$r.json" >/dev/null 2>&1
      echo "round $r: $b, kernel $k: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.0f tokens/s (%s)" % (d["tokens_per_second"], d.get("blas_kernel","?")))' "$out/b$bi-$k-r$r.json")"
    done
  done
  if [ -n "$python" ]; then
    "$python" tools/bench_t5.py "${args[@]}" --json "$out/pytorch-r$r.json" >/dev/null 2>&1
    echo "round $r: PyTorch: $(python3 -c 'import json,sys; print("%.0f tokens/s" % json.load(open(sys.argv[1]))["tokens_per_second"])' "$out/pytorch-r$r.json")"
  fi
done
python3 - "$out" "$kernels" "$@" <<'PY'
import json, glob, os, statistics, sys
out, kernels, bins = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
def med(pattern):
    v = [json.load(open(f))["tokens_per_second"] for f in sorted(glob.glob(os.path.join(out, pattern)))]
    return (statistics.median(v), min(v), max(v)) if v else None
py = med("pytorch-r*.json")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print("\nT5 training, t5-tiny, batch 64 x 128 -> 8, tokens/s (median of rounds, min-max) on %s, load %s" % (cpu, open("/proc/loadavg").read().split()[0]))
print("%-40s %-12s %-12s %22s %8s" % ("binary", "kernel", "corename", "tokens/s", "vs torch"))
for i, b in enumerate(bins, 1):
    for k in kernels:
        m = med("b%d-%s-r*.json" % (i, k))
        if not m: continue
        core = json.load(open(sorted(glob.glob(os.path.join(out, "b%d-%s-r*.json" % (i, k))))[0])).get("blas_kernel", "?")
        print("%-40s %-12s %-12s %8.0f (%5.0f-%5.0f) %8s" % (b, k, core, m[0], m[1], m[2], "%.2fx" % (m[0] / py[0]) if py else "-"))
if py: print("%-40s %-12s %-12s %8.0f (%5.0f-%5.0f)" % ("PyTorch (tools/bench_t5.py, 2 threads)", "-", "-", py[0], py[1], py[2]))
PY
