#!/usr/bin/env bash
# The package as a user gets it: build the sdist, build the wheel from that sdist (so nothing left
# over in the checkout can slip in), check what each holds, install the wheel into a fresh venv and
# use it from a folder outside the checkout with WALLOC_MODEL_DIR unset.
#
#   .ci/wheel_check.sh          (VENV=... the project venv that builds; DATA=... the shared data)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"  # VENV and DATA may be relative to the checkout, as in the Makefile
PY="$(cd "${VENV:-.venv}" && pwd)/bin/python"
DATA="$(realpath -m "${DATA:-../shared/data}")"
IMAGE="$DATA/images/kodak/kodim23.png"
CLIP="$DATA/audio/456440__inspectorj__bird-whistling-robin-single-13.hq.ogg"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/walloc-wheel.XXXXXX")"
[ -n "${WHEEL_CHECK_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
step() { echo "[wheel-check] $*"; }

step "sdist"
"$PY" -c "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])" "$WORK/dist" >/dev/null
SDIST="$(ls "$WORK"/dist/walloc-*.tar.gz)"

step "wheel, built from the sdist"
"$PY" -m pip -q wheel --no-build-isolation --no-deps -w "$WORK/dist" "$SDIST"
WHEEL="$(ls "$WORK"/dist/walloc-*.whl)"

step "contents"
"$PY" - "$SDIST" "$WHEEL" <<'EOF'
import sys, tarfile, zipfile
sdist, wheel = sys.argv[1:]
names = [n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n]
for need in ("LICENSE", "README.md", "configs/", "docs/", "models/rgb-16x.safetensors", "cli/main.py", "csrc/rans_core.h",
             "tests/conftest.py", "benchmarks/published/"):
    assert any(n == need or n.startswith(need) for n in names), f"sdist lacks {need}"
names = zipfile.ZipFile(wheel).namelist()
tops = {n.split("/")[0] for n in names}
assert {t for t in tops if not t.endswith(".dist-info")} == {"walloc"}, f"wheel has top-level {sorted(tops)}"
for need in ("walloc/cli/main.py", "walloc/models/__init__.py", "walloc/eval/sweep.py", "walloc/__main__.py"):
    assert need in names, f"wheel lacks {need}"
weights = [n for n in names if n.startswith("walloc/models/") and n.endswith(".safetensors")]
assert weights, "wheel holds no models"
assert "walloc/models/onnx/rgb-16x.onnx" in names and "walloc/models/onnx/rgb-16x.json" in names, "wheel lacks the ONNX graphs"
assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "wheel lacks the LICENSE"
assert any(n.startswith("walloc/_rans") for n in names) and any(n.startswith("walloc/_packet") for n in names), "no extensions"
print(f"[wheel-check] wheel: {len(names)} files, {len(weights)} weight files; sdist complete")
EOF

step "fresh venv, without torch (the install for reading and writing files)"
python3 -m venv "$WORK/venv"
PIP="$WORK/venv/bin/pip -q --disable-pip-version-check"
$PIP install "$WHEEL"
if "$WORK/venv/bin/python" -c "import torch" 2>/dev/null; then echo "pip install walloc pulled torch" >&2; exit 1; fi

step "use it from outside the checkout"
mkdir "$WORK/user"
cd "$WORK/user"
unset WALLOC_MODEL_DIR PYTHONPATH
BIN="$WORK/venv/bin"
where="$("$BIN/python" -c 'import walloc; print(walloc.__file__)')"
case "$where" in "$WORK/venv/"*) ;; *) echo "walloc imported from $where, not the fresh venv" >&2; exit 1 ;; esac
if [ ! -f "$IMAGE" ] || [ ! -f "$CLIP" ]; then  # a machine without the shared data still round-trips
  step "no Kodak image or clip under $DATA: generating a test image and clip"
  IMAGE="$PWD/in.png" CLIP="$PWD/in.wav"
  "$BIN/python" -c "import numpy as np, soundfile as sf; from PIL import Image; r = np.random.default_rng(0)
Image.fromarray((r.random((96, 128, 3)) * 255).astype(np.uint8)).save('in.png')
sf.write('in.wav', (0.1 * r.standard_normal((44100, 2))).astype(np.float32), 44100)"
fi
"$BIN/walloc" models | tee models.txt
grep -q rgb-16x models.txt || { echo "walloc models lists no rgb-16x" >&2; exit 1; }
"$BIN/walloc" encode "$IMAGE" -o k.wlc
"$BIN/walloc" decode k.wlc -o k.png
"$BIN/walloc" encode "$CLIP" -o a.wlc
"$BIN/walloc" decode a.wlc -o a.wav
for f in k.wlc k.png a.wlc a.wav; do [ -s "$f" ] || { echo "$f missing or empty" >&2; exit 1; }; done
"$BIN/walloc" info k.wlc
"$BIN/walloc" info a.wlc
"$BIN/python" -m walloc --help >/dev/null
"$BIN/python" -c "import sys, walloc; k = walloc.read_latents(open('k.wlc', 'rb').read()); assert k.ndim == 4 and 'torch' not in sys.modules"
if "$BIN/walloc" train /dev/null 2> train.err; then echo "walloc train ran without torch" >&2; exit 1; fi
grep -q "needs torch: pip install 'walloc\[torch\]'" train.err || { echo "walloc train without torch: $(cat train.err)" >&2; exit 1; }

step "with torch (the install for learning): the torch decoder agrees"
$PIP install torch==2.13.0   # the CPU wheel on disk; any other spec pulls CUDA builds
"$BIN/walloc" decode k.wlc -o kt.png --backend torch
"$BIN/python" -c "import numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(f), dtype=int) for f in ('k.png', 'kt.png'))
assert np.abs(a - b).max() <= 2 and (np.abs(a - b) <= 1).mean() >= 0.999"
step "ok"
