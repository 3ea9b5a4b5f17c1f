"""Measure a codec on a set of files through the public API: real stream sizes, real decodes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import io, metrics
from .codec import Codec


def measure(codec: Codec, files: list[Path], quality: int | None = None) -> dict:
    """Mean rate (bpp for images, kbps for audio), PSNR, compression ratio and speed over files."""
    rates, psnrs, ratios, seconds, samples = [], [], [], 0.0, 0
    unit = "bpp" if codec.modality == "image" else "kbps"
    for path in files:
        if codec.modality == "image":
            x, meta = io.read_image(path)
        else:
            x, meta = io.read_audio(path)
        start = time.perf_counter()
        data = codec.compress(x, quality, meta)
        y = codec.decompress(data)
        seconds += time.perf_counter() - start
        bits = 8 * len(data)
        if codec.modality == "image":
            rates.append(bits / (x.shape[1] * x.shape[2]))
            psnrs.append(metrics.psnr_8bit(y, x))
            samples += x.shape[1] * x.shape[2]
        else:
            rates.append(bits / (x.shape[1] / meta.sample_rate) / 1000)
            psnrs.append(metrics.psnr(y, x))
            samples += x.shape[1]
        ratios.append(x.numel() * 16 / bits if codec.modality == "audio" else x.numel() * 8 / bits)
    per_file = [{"file": p.name, unit: round(r, 4), "psnr": round(q, 3), "ratio": round(c, 2)}
                for p, r, q, c in zip(files, rates, psnrs, ratios)]
    return {unit: round(float(np.mean(rates)), 4), "psnr": round(float(np.mean(psnrs)), 3),
            "ratio": round(float(np.mean(ratios)), 2), "files": len(files),
            "roundtrip_msamples_s": round(samples / seconds / 1e6, 3), "per_file": per_file}
