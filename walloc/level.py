"""The audio level rule: digital silence, the RMS level, and the gain code an audio stream is coded at.

A loud, steady signal (a sine near full scale) drives latents into the flat tails of the Gaussian-CDF
bound, where a quantizer step spans a wide range of values. The encoder codes such a signal at
2**(-gain / 2) of its level, the largest such factor that leaves at most SATURATED of the latents
beyond SATURATION of the bound (measured on the shipped stereo-5x: a 1 kHz sine at -3 dBFS goes from
15.4 to 34.4 dB, while music, whose peaks are brief, keeps gain 1 and its quality).

A model trained at one level (its JSON's ``target_rms_db``, dBFS RMS) codes a quiet take as well as a
loud one only if the encoder brings it up to that level: such a model's encoder picks the code that
moves the stream's RMS nearest the target, amplifying (negative codes, stream format 3) as well as
attenuating, and never louder than the saturation limit allows. Models without it only attenuate.

Runs of digital silence are recorded in the stream and decoded as silence. :class:`walloc.encoder.Encoder`
applies this rule; numpy only.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .bitstream import MAX_GAIN, MAX_SILENT_RUNS
from .signal import scale_of

SATURATION, SATURATED = 0.98, 1e-4
_Z_SATURATION = 2.3263478740408408   # sqrt(2) erfinv(0.98): the same limit before the bound
_DB_PER_CODE = 10 * math.log10(2.0)  # each gain code moves the level by 3.01 dB
SILENT_RUN = 256                     # samples: shorter runs of digital silence are not recorded
_SILENCE_SLICE = 1 << 20             # samples read at a time


def silent_runs(x: np.ndarray, shortest: int = SILENT_RUN) -> tuple[tuple[int, int], ...]:
    """(start, length) runs of at least ``shortest`` samples of audio x (C, L) where every channel is
    digital silence: zero, or for float samples below half a 16-bit step. Read a slice at a time; if
    there are more than the format holds, only the longer runs are kept."""
    limit = 0.0 if x.dtype.kind in "iu" else 2.0 ** -16
    runs: list[list[int]] = []
    for s0 in range(0, x.shape[1], _SILENCE_SLICE):
        quiet = np.all(np.abs(x[:, s0: s0 + _SILENCE_SLICE]) <= limit, axis=0)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.view(np.int8), [0]))))
        for a, b in zip(edges[::2] + s0, edges[1::2] + s0):
            if runs and runs[-1][0] + runs[-1][1] == a:  # continues across the slice boundary
                runs[-1][1] += int(b - a)
            else:
                runs.append([int(a), int(b - a)])
    while True:
        kept = tuple((a, n) for a, n in runs if n >= shortest)
        if len(kept) <= MAX_SILENT_RUNS:
            return kept
        shortest *= 2


def rms_db(x: np.ndarray) -> float:
    """RMS level of audio x (C, L) in dBFS (full scale 1.0 for floats, the dtype's scale for integers),
    over every sample and channel, read a slice at a time; -inf for digital silence."""
    scale = scale_of(x.dtype) or 1.0
    energy = sum(float(np.square(x[:, s0: s0 + _SILENCE_SLICE], dtype=np.float64).sum())
                 for s0 in range(0, x.shape[1], _SILENCE_SLICE))
    return 10 * math.log10(energy / x.size) - 20 * math.log10(scale) if energy > 0 else -math.inf


def level_code(x: np.ndarray, target_db: float) -> int:
    """The gain code (-MAX_GAIN..MAX_GAIN) whose factor 2**(-code / 2) brings audio x's RMS nearest
    ``target_db``; 0 for digital silence (nothing to bring up)."""
    level = rms_db(x)
    if not math.isfinite(level):
        return 0
    return int(np.clip(round((level - target_db) / _DB_PER_CODE), -MAX_GAIN, MAX_GAIN))


def gain_code(x: np.ndarray, target_db: float | None, saturation_code: Callable[[int], int]) -> int:
    """The gain code of audio x: with a target level the code nearest it (:func:`level_code`), else 0;
    but never louder than ``saturation_code(lowest)`` allows (see :class:`Saturation`)."""
    return saturation_code(0 if target_db is None else level_code(x, target_db))


class Saturation:
    """Counts, for every gain code from ``lowest`` (the loudest level) up, the latents beyond SATURATION
    of the bound, from the unbounded latents at gain 0: at another level they are
    z(g) = g (z - bias) + bias (the packet and the 1x1 encoder are linear)."""

    def __init__(self, bias: np.ndarray, lowest: int = 0):
        self.lowest = lowest
        self.codes = np.arange(lowest, MAX_GAIN + 1)
        self.factors = (2.0 ** (-self.codes / 2)).astype(np.float32)
        self.over = np.zeros(len(self.codes), dtype=np.int64)
        self.total = 0
        self.bias = bias[:, None]

    def add(self, z: np.ndarray) -> None:
        """Count one band of unbounded latents (K, rows)."""
        centred = z - self.bias
        self.total += z.size
        for i, f in enumerate(self.factors):
            self.over[i] += np.count_nonzero(np.abs(centred * f + self.bias) > _Z_SATURATION)

    def code(self) -> int:
        """The smallest gain code at which at most SATURATED of the latents saturate (``lowest`` if none)."""
        ok = self.over <= SATURATED * self.total
        return int(self.codes[np.argmax(ok)]) if ok.any() else self.lowest
