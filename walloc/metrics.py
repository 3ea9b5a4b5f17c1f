"""Quality measures used by the CLI, the model cards and the benchmarks."""

from __future__ import annotations

import math

import torch


def psnr(x: torch.Tensor, ref: torch.Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; images in [0, 1] (peak 1), audio in [-1, 1] (full scale 1)."""
    mse = torch.mean((x.double() - ref.double()) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def psnr_8bit(x: torch.Tensor, ref: torch.Tensor) -> float:
    """PSNR after rounding both images to 8 bits, the way image codecs are compared."""
    q = lambda t: torch.round(t.clamp(0, 1) * 255)  # noqa: E731
    return psnr(q(x), q(ref), peak=255.0)
