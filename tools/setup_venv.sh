#!/usr/bin/env bash
# Developer-only: creates the Python virtual environment used by the scripts in tools/
# (fixture generation and PyTorch reference benchmarks). Nothing in the product, the tests or
# CI runs Python; the Swift tests read the committed fixture files.
#
# Usage: tools/setup_venv.sh [VENV_DIR]   (default: .venv in the repository, git-ignored)
#
# torch: a CPU-only wheel is preferred. When pip's configured find-links directory (WHEELS,
# default: pip's own `find-links` setting) holds a torch-*+cpu wheel, that version is pinned;
# otherwise PyPI's plain `torch` is installed (on Linux that one pulls the CUDA runtime
# packages, several GB).
# transformers is pinned to 4.46.3 in VENV: transformers 5 moved group (diverse) beam search out
# of its core and changed how T5 configs express tying, so the fixtures are made with 4.x.
# VENV-tf5 holds the newest transformers 5.x for the checkpoint round trip.
set -euo pipefail
VENV="${1:-$(cd "$(dirname "$0")/.." && pwd)/.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/pip"

WHEELS="${WHEELS:-$("$PY" -m pip config get global.find-links 2>/dev/null || true)}"
if [ -n "$WHEELS" ] && ls "$WHEELS"/torch-*+cpu-*.whl >/dev/null 2>&1; then
  TORCH_SPEC="torch==$(ls "$WHEELS"/torch-*+cpu-*.whl | head -1 | sed -E 's#.*/torch-([^-]+)-.*#\1#')"
else
  TORCH_SPEC="torch"
fi

"$PIP" install "$TORCH_SPEC" "transformers==4.46.3" "sentence-transformers==3.3.1" sentencepiece protobuf safetensors numpy

"$VENV/bin/python" - <<'PY'
import sys, torch, transformers, sentencepiece, safetensors, numpy, sentence_transformers
assert float(torch.ones(2) @ torch.ones(2)) == 2.0
print("python", sys.version.split()[0], "torch", torch.__version__, "transformers",
      transformers.__version__, "sentence-transformers", sentence_transformers.__version__,
      "sentencepiece", sentencepiece.__version__, "safetensors", safetensors.__version__, "numpy", numpy.__version__)
PY

# A second environment with the newest transformers 5.x, for the Hugging Face round trip of saved
# run folders (tools/check_hf_roundtrip.py runs under both).
VENV5="${VENV}-tf5"
if [ ! -x "$VENV5/bin/python" ]; then
  "$PY" -m venv "$VENV5"
fi
"$VENV5/bin/pip" install "$TORCH_SPEC" "transformers>=5,<6" sentencepiece protobuf safetensors numpy
"$VENV5/bin/python" -c 'import transformers, torch; print("tf5 environment: transformers", transformers.__version__, "torch", torch.__version__)'
