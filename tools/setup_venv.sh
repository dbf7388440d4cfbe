#!/usr/bin/env bash
# Developer-only: creates the Python virtual environment used by the scripts in tools/
# (fixture generation and PyTorch reference benchmarks). Nothing in the product, the tests or
# CI runs Python; the Swift tests read the committed fixture files.
#
# Usage: tools/setup_venv.sh [VENV_DIR]   (default /work/venv)
#
# torch: a CPU-only wheel is preferred. pip's configured find-links directory (/opt/wheels on
# the project machines) holds torch-2.13.0+cpu; when it is absent, PyPI's plain `torch` is
# installed (on Linux that one pulls the CUDA runtime packages, several GB).
# transformers is pinned to 4.46.3: transformers 5 moved group (diverse) beam search out of its
# core and changed how T5 configs express tying, so the fixtures are made with 4.x.
set -euo pipefail
VENV="${1:-/work/venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/pip"

if ls /opt/wheels/torch-*+cpu-*.whl >/dev/null 2>&1; then
  TORCH_SPEC="torch==$(ls /opt/wheels/torch-*+cpu-*.whl | head -1 | sed -E 's#.*/torch-([^-]+)-.*#\1#')"
else
  TORCH_SPEC="torch"
fi

"$PIP" install "$TORCH_SPEC" "transformers==4.46.3" sentencepiece safetensors numpy

"$VENV/bin/python" - <<'PY'
import sys, torch, transformers, sentencepiece, safetensors, numpy
assert float(torch.ones(2) @ torch.ones(2)) == 2.0
print("python", sys.version.split()[0], "torch", torch.__version__, "transformers",
      transformers.__version__, "sentencepiece", sentencepiece.__version__,
      "safetensors", safetensors.__version__, "numpy", numpy.__version__)
PY
