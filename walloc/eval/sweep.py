"""Rate-distortion sweeps: every codec at a sweep of qualities over a set of files, measured alike.

The data path of a sweep is: read each file once -> for every codec and quality, ``encode`` to the
bytes a user would store (timed) -> ``decode`` those bytes back (timed) -> score against the input.
Rates come from the real byte counts; nothing is estimated.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import io, metrics
from ..errors import MediaError, WallocError
from .codecs import AudioCodec, CodecUnavailable, ImageCodec

# ------------------------------------------------------------------------------------------------
# inputs


def find_files(paths: Sequence[str | Path], modality: str | None = None, limit: int | None = None) -> tuple[str, list[Path]]:
    """The media files under the given folders/files (sorted), and their one modality."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in io.IMAGE_SUFFIXES | io.AUDIO_SUFFIXES)
        elif p.is_file():
            found.append(p)
        else:
            raise MediaError(f"{p}: no such file or folder")
    kinds = {f: io.modality_of(f) if f.suffix else "unknown" for f in found}
    if modality:
        found = [f for f in found if kinds[f] == modality]
    present = {kinds[f] for f in found}
    if not found:
        raise MediaError(f"no {modality or 'image or audio'} files in {', '.join(map(str, paths))}")
    if len(present) > 1:
        raise MediaError("the inputs hold both images and audio; choose one with --modality")
    found = found[:limit] if limit else found
    return present.pop(), found


def read_rgb8(path: Path) -> np.ndarray:
    """An image as 8-bit RGB pixels (H, W, 3): gray is repeated, alpha dropped, 16 bits rounded."""
    x, _ = io.read_image(path)
    if x.shape[0] in (1, 2):
        x = x[:1].expand(3, -1, -1)
    x = x[:3]
    if x.shape[0] != 3:
        raise MediaError(f"{path}: a {x.shape[0]}-channel image cannot be compared as RGB")
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def read_samples(path: Path) -> tuple[np.ndarray, int]:
    """A clip as float32 samples (C, L) in [-1, 1], and its sample rate."""
    x, meta = io.read_audio(path)
    return x.numpy(), meta.sample_rate


# ------------------------------------------------------------------------------------------------
# one file at one quality


def measure_image(codec: ImageCodec, pixels: np.ndarray, quality) -> dict:
    """One image at one quality: real size, PSNR and MS-SSIM on 8-bit RGB, and the two timings."""
    start = time.perf_counter()
    data = codec.encode(pixels, quality)
    mid = time.perf_counter()
    out = codec.decode(data)
    end = time.perf_counter()
    if out.shape != pixels.shape:
        raise WallocError(f"{codec.name} decoded {out.shape} pixels from a {pixels.shape} image")
    ref = torch.from_numpy(pixels).permute(2, 0, 1).float()
    got = torch.from_numpy(np.require(out, np.uint8, ["C", "W"])).permute(2, 0, 1).float()
    return {"bits": 8 * len(data), "rate": 8 * len(data) / (pixels.shape[0] * pixels.shape[1]),
            "psnr": metrics.psnr(got, ref, peak=255.0), "score": metrics.ms_ssim(got, ref, peak=255.0),
            "units": pixels.shape[0] * pixels.shape[1], "enc_s": mid - start, "dec_s": end - mid}


def measure_audio(codec: AudioCodec, samples: np.ndarray, rate: int, quality) -> dict:
    """One clip at one quality: real size in kbps, PSNR (full scale 1) and SI-SDR, and the timings."""
    start = time.perf_counter()
    data = codec.encode(samples, rate, quality)
    mid = time.perf_counter()
    out = codec.decode(data, rate)
    end = time.perf_counter()
    if out.shape[0] != samples.shape[0]:
        raise WallocError(f"{codec.name} decoded {out.shape[0]} channels from {samples.shape[0]}")
    n = samples.shape[1]
    out = _align(out, samples) if out.shape[1] > n else np.pad(out, ((0, 0), (0, n - out.shape[1])))
    ref, got = torch.from_numpy(samples), torch.from_numpy(np.require(out, np.float32, ["C", "W"]))
    return {"bits": 8 * len(data), "rate": 8 * len(data) / (n / rate) / 1000,
            "psnr": metrics.psnr(got, ref), "score": metrics.si_sdr(got, ref),
            "units": n, "enc_s": mid - start, "dec_s": end - mid}


def _align(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Cut a decoded signal longer than the input back to the input's span.

    A decoder that returns more samples than were coded has kept the codec's delay and padding (MP3
    through LAME keeps its 1105-sample delay when it resamples internally at low bitrates). The delay
    is found as the lag in [0, extra samples] that best correlates the two channel sums.
    """
    n, extra = ref.shape[1], out.shape[1] - ref.shape[1]
    a, b = ref.sum(0).astype(np.float64), out.sum(0).astype(np.float64)
    size = 1 << math.ceil(math.log2(len(a) + len(b)))
    corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)[: extra + 1]
    lag = int(np.argmax(corr))
    return out[:, lag: lag + n]


# ------------------------------------------------------------------------------------------------
# the sweep


@dataclass
class _Acc:
    """Sums over files for one codec at one quality."""

    rates: list
    psnrs: list
    scores: list
    units: int = 0
    enc_s: float = 0.0
    dec_s: float = 0.0


def _mean(values: list) -> float | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else None


def _r(v, digits):
    return None if v is None else (v if math.isinf(v) else round(v, digits))


def sweep(codecs: Sequence[ImageCodec | AudioCodec], files: Sequence[Path], modality: str, per_file: bool = False,
          progress: bool = True, qualities: dict | None = None) -> dict:
    """Run every codec at every quality on every file; return the curves (and per-file rows if asked).

    Files are the outer loop (each is read once and coded by every codec in turn, which also spreads
    machine noise over all codecs alike). Before the first file each codec makes one untimed round
    trip, so one-time costs (library and thread-pool start-up) are not charged to the first image. A
    codec that turns out unable to run (CodecUnavailable) is moved to ``skipped`` with its reason.
    """
    from tqdm import tqdm

    rate_key, score_key = ("bpp", "ms_ssim") if modality == "image" else ("kbps", "si_sdr")
    qualities = qualities or {}
    plan = {c.name: list(qualities.get(c.name, c.qualities)) for c in codecs}
    acc = {c.name: {q: _Acc([], [], []) for q in plan[c.name]} for c in codecs}
    rows: dict[str, list] = {c.name: [] for c in codecs}
    skipped: dict[str, str] = {}
    total = len(files) * sum(len(v) for v in plan.values())
    with tqdm(total=total, desc="rd", unit="code", file=sys.stderr, disable=not progress, leave=False) as bar:
        for path in files:
            if modality == "image":
                signal, rate = read_rgb8(path), None
            else:
                signal, rate = read_samples(path)
            for codec in codecs:
                if codec.name in skipped:
                    bar.update(len(plan[codec.name]))
                    continue
                bar.set_description(f"{codec.name} {path.name}")
                def measure(q):
                    return measure_image(codec, signal, q) if modality == "image" else measure_audio(codec, signal, rate, q)

                for q in plan[codec.name]:
                    try:
                        if path == files[0] and q == plan[codec.name][0]:  # warm-up, untimed
                            measure(q)
                        m = measure(q)
                    except CodecUnavailable as e:
                        skipped[codec.name] = str(e)
                        bar.update(len(plan[codec.name]) - plan[codec.name].index(q))
                        break
                    a = acc[codec.name][q]
                    a.rates.append(m["rate"]), a.psnrs.append(m["psnr"]), a.scores.append(m["score"])
                    a.units += m["units"]
                    a.enc_s += m["enc_s"]
                    a.dec_s += m["dec_s"]
                    if per_file:
                        rows[codec.name].append({"file": path.name, "quality": q, rate_key: _r(m["rate"], 5),
                                                 "psnr": _r(m["psnr"], 4), score_key: _r(m["score"], 6)})
                    bar.update(1)
    curves = {}
    for codec in codecs:
        if codec.name in skipped:
            continue
        points = []
        for q, a in acc[codec.name].items():
            if not a.rates:
                continue
            points.append({"quality": q, rate_key: _r(_mean(a.rates), 5), "psnr": _r(_mean(a.psnrs), 4),
                           score_key: _r(_mean(a.scores), 6),
                           "enc_mps": _r(a.units / a.enc_s / 1e6 if a.enc_s else None, 4),
                           "dec_mps": _r(a.units / a.dec_s / 1e6 if a.dec_s else None, 4)})
        curves[codec.name] = sorted(points, key=lambda p: p[rate_key])
    out = {"curves": curves, "skipped": skipped}
    if per_file:
        out["per_file"] = {k: v for k, v in rows.items() if k not in skipped}
    return out
