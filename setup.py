"""Build of the walloc C++ extensions: the C++/CUDA entropy coder ``walloc._rans`` and the CPU
wavelet packet analysis ``walloc._packet``.

Package metadata lives in pyproject.toml; this file only declares the extensions.

* The C++ coder (csrc/rans_py.cpp + csrc/rans_core.h) is always built, with -O3.  If it fails to
  compile the install fails: there is no pure-Python fallback.
* The CUDA coder (csrc/rans.cu) is compiled in and linked against cudart when
    - WALLOC_CUDA=1 and nvcc is found (in $CUDA_HOME/bin or on PATH), or
    - WALLOC_CUDA is unset, nvcc is found and the installed torch is a CUDA build.
  WALLOC_CUDA=0 disables it.  WALLOC_CUDA_ARCH (e.g. "80;90") selects the GPU architectures.
  When CUDA was requested explicitly (WALLOC_CUDA=1), a failing nvcc fails the install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from pybind11.setup_helpers import Pybind11Extension
from pybind11.setup_helpers import build_ext as _build_ext
from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("csrc")


def _log(msg: str) -> None:
    print(f"[walloc setup] {msg}", file=sys.stderr)


def _find_nvcc() -> str | None:
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home:
        cand = os.path.join(home, "bin", "nvcc")
        if os.path.exists(cand):
            return cand
    return shutil.which("nvcc")


def _torch_has_cuda() -> bool:
    try:
        import torch  # noqa: PLC0415
    except Exception:
        return False
    return getattr(torch.version, "cuda", None) is not None


def _cuda_config() -> dict | None:
    flag = os.environ.get("WALLOC_CUDA", "").strip()
    if flag == "0":
        _log("WALLOC_CUDA=0: building without CUDA")
        return None
    nvcc = _find_nvcc()
    if flag == "1":
        if not nvcc:
            raise RuntimeError("WALLOC_CUDA=1 but nvcc was not found (set CUDA_HOME or PATH)")
    elif not (nvcc and _torch_has_cuda()):
        _log("CUDA coder not built (needs nvcc and a CUDA build of torch, or WALLOC_CUDA=1)")
        return None
    home = os.environ.get("CUDA_HOME") or os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
    libdir = next(
        (d for d in (os.path.join(home, "lib64"), os.path.join(home, "lib")) if os.path.isdir(d)),
        os.path.join(home, "lib64"),
    )
    archs = [a for a in os.environ.get("WALLOC_CUDA_ARCH", "80;86;90").replace(",", ";").split(";") if a]
    return {"nvcc": nvcc, "home": home, "libdir": libdir, "archs": archs, "required": flag == "1"}


class build_ext(_build_ext):
    """pybind11's build_ext plus an nvcc step for csrc/rans.cu when CUDA is configured."""

    def build_extensions(self):
        cuda = _cuda_config()
        for ext in self.extensions:
            if cuda and getattr(ext, "walloc_cuda_source", None):
                obj = self._nvcc_compile(ext.walloc_cuda_source, cuda)
                ext.extra_objects.append(obj)
                ext.define_macros.append(("WALLOC_WITH_CUDA", "1"))
                ext.include_dirs.append(os.path.join(cuda["home"], "include"))
                ext.library_dirs.append(cuda["libdir"])
                ext.runtime_library_dirs.append(cuda["libdir"])
                ext.libraries.append("cudart")
        super().build_extensions()

    def _nvcc_compile(self, source: str, cuda: dict) -> str:
        os.makedirs(self.build_temp, exist_ok=True)
        obj = os.path.join(self.build_temp, "rans_cuda.o")
        cmd = [cuda["nvcc"], "-c", source, "-o", obj, "-O3", "-std=c++17", "-I", CSRC,
               "-Xcompiler", "-fPIC", "-Xcompiler", "-fvisibility=hidden"]
        for a in cuda["archs"]:
            cmd += ["-gencode", f"arch=compute_{a},code=sm_{a}"]
        top = cuda["archs"][-1]
        cmd += ["-gencode", f"arch=compute_{top},code=compute_{top}"]  # PTX for newer GPUs
        _log(" ".join(cmd))
        subprocess.run(cmd, check=True)
        return obj


ext = Pybind11Extension(
    "walloc._rans",
    sources=[os.path.join(CSRC, "rans_py.cpp")],
    include_dirs=[CSRC],
    cxx_std=17,
    extra_compile_args=["-O3"],
    depends=[os.path.join(CSRC, f) for f in ("rans_core.h", "rans_tables.h", "rans_cuda.h", "rans.cu")],
)
ext.walloc_cuda_source = os.path.join(CSRC, "rans.cu")

# The encoder's wavelet packet (csrc/packet.h), always built like the coder; portable (no -march).
packet = Pybind11Extension(
    "walloc._packet",
    sources=[os.path.join(CSRC, "packet_py.cpp")],
    include_dirs=[CSRC],
    cxx_std=17,
    extra_compile_args=["-O3", "-ffp-contract=off"],  # no fused multiply-adds: the same floats everywhere
    depends=[os.path.join(CSRC, "packet.h")],
)

setup(ext_modules=[ext, packet], cmdclass={"build_ext": build_ext})
