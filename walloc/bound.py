"""The encoder's Gaussian-CDF bound in numpy: limit * erf(z / sqrt 2) on float32 latents, with an erf
accurate to float64 (numpy has none), so that the torch-free encoder bounds latents exactly as the
network does (:meth:`walloc.model.WallocNet.encode`) and the ONNX graph's inverse table
(:func:`walloc.onnx_export.erfinv`) inverts the same function.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# erf in float64 to ~1e-15, rounded to float32: piecewise polynomials on [0, 4) in 32 pieces (fitted to
# math.erf at Chebyshev nodes on first use, ~1 ms), the Taylor series near 0, and 1 beyond 4 (erfc(4) < 2e-8).
_PIECES, _DEGREE, _TOP = 32, 9, 4.0
_TAYLOR = tuple(2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(7))


@functools.cache
def _erf_pieces() -> np.ndarray:
    """Power-series coefficients (degree + 1, pieces + 1) in u = (|x| - centre) / half-width: each
    piece interpolates math.erf at the Chebyshev nodes of its interval."""
    half = _TOP / _PIECES / 2
    nodes = np.cos(np.pi * (np.arange(_DEGREE + 1) + 0.5) / (_DEGREE + 1))
    vandermonde = np.vander(nodes, _DEGREE + 1, increasing=True)
    out = np.zeros((_DEGREE + 1, _PIECES + 1))
    for j in range(_PIECES):
        centre = (2 * j + 1) * half
        out[:, j] = np.linalg.solve(vandermonde, [math.erf(centre + half * u) for u in nodes])
    out[0, _PIECES] = 1.0
    return out


def erf(x: np.ndarray) -> np.ndarray:
    """erf of float64 values, accurate to ~1e-15 relative (so rounded to float32 it is erf's float32)."""
    coef, width = _erf_pieces(), _TOP / _PIECES
    a = np.abs(x).ravel()
    i = np.minimum(a * (1 / width), _PIECES).astype(np.intp)
    u = (a - (i + 0.5) * width) * (2 / width)
    acc = coef[-1].take(i)
    for row in coef[-2::-1]:
        acc *= u
        acc += row.take(i)
    small = np.flatnonzero(i == 0)
    s = a[small]
    s2, t = s * s, np.full_like(s, _TAYLOR[-1])
    for c in _TAYLOR[-2::-1]:
        t *= s2
        t += c
    acc[small] = t * s
    return np.copysign(acc.reshape(x.shape), x)


def bound(z: np.ndarray, limit: float) -> np.ndarray:
    """The encoder's Gaussian-CDF bound on float32 latents: limit * erf(z / sqrt 2), each step in
    float32 as the network computes it (:meth:`walloc.model.WallocNet.encode`)."""
    y = erf((z / np.float32(math.sqrt(2.0))).astype(np.float64)).astype(np.float32)
    y *= np.float32(limit)
    return y
