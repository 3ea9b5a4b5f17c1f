#!/usr/bin/env bash
# Builds walloc._rans with AddressSanitizer + UndefinedBehaviorSanitizer into a temporary
# directory (the normal build is left alone) and runs tests/test_rans.py and tests/test_context.py
# against that build.
# Exits non-zero on any test failure or sanitizer report.
#
#   csrc/sanitize.sh [extra pytest args]        (PYTHON=... to choose the interpreter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
CXX="${CXX:-g++}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/walloc-sanitize.XXXXXX")"
[ -n "${SANITIZE_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT

EXT_SUFFIX="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
INCLUDES="$("$PYTHON" -m pybind11 --includes)"
SO="$WORK/_rans$EXT_SUFFIX"

echo "[sanitize] building $SO"
# shellcheck disable=SC2086
"$CXX" -std=c++17 -O1 -g -fno-omit-frame-pointer -fPIC -shared \
  -fsanitize=address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -Wno-unused-parameter \
  $INCLUDES -I"$ROOT/csrc" "$ROOT/csrc/rans_py.cpp" -o "$SO"

LIBASAN="$("$CXX" -print-file-name=libasan.so)"
LIBUBSAN="$("$CXX" -print-file-name=libubsan.so)"
[ -e "$LIBASAN" ] || { echo "[sanitize] libasan not found" >&2; exit 2; }

# Load the sanitized module as walloc._rans before the tests import it.
cat > "$WORK/run.py" <<'EOF'
import importlib.util, sys
so, root = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
import walloc  # the package under test (pure Python); only _rans is replaced
spec = importlib.util.spec_from_file_location("walloc._rans", so)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
sys.modules["walloc._rans"] = mod
walloc._rans = mod
import pytest
args = [f"{root}/tests/test_rans.py", f"{root}/tests/test_context.py", "-q", "-p", "no:cacheprovider", "-x", "-rs", "--capture=sys"] + sys.argv[3:]
code = pytest.main(args)
from walloc import _rans
assert _rans.__file__ == so, f"tests ran against {_rans.__file__}, not the sanitized build"
sys.exit(int(code))
EOF

LOG="$WORK/log.txt"
echo "[sanitize] running tests/test_rans.py tests/test_context.py under ASan+UBSan"
set +e
( cd "$WORK" && \
  LD_PRELOAD="$LIBASAN $LIBUBSAN" \
  ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=99:detect_stack_use_after_return=1:strict_string_checks=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=98" \
  PYTHONDONTWRITEBYTECODE=1 \
  "$PYTHON" "$WORK/run.py" "$SO" "$ROOT" "$@" ) 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e

if grep -qE "AddressSanitizer|runtime error:|UndefinedBehaviorSanitizer|LeakSanitizer" "$LOG"; then
  echo "[sanitize] FAILED: sanitizer report (exit $status)" >&2
  exit $(( status == 0 ? 1 : status ))
fi
if [ "$status" -ne 0 ]; then
  echo "[sanitize] FAILED: tests exited with $status" >&2
  exit "$status"
fi
echo "[sanitize] OK: no sanitizer reports"
