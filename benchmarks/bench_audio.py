"""What an audio codec must not get wrong, measured on the default audio model at its default quality.

    python benchmarks/bench_audio.py --out docs/results/bench_audio.json [--clips ../shared/data/audio]

Beside full-scale PSNR, every signal gets its SNR against itself (``snr_db``: the error under the signal's
own level, which full-scale PSNR hides for a quiet take) and SI-SDR.

- ``sines``: PSNR (full scale 1.0) of 2-second stereo sines: 1 kHz at -1 and -3 dBFS, 12 kHz at -6 dBFS,
  and the gain code the encoder chose (see docs/bitstream.md).
- ``silence``: RMS in dBFS of one second of digital silence after decoding (-inf: exact zeros).
- ``lines``: spectral lines the decoded music has and the original lacks. Welch power spectra
  (8192-point Hann frames, half overlap, channels averaged) of the original and decoded clip; a
  *line* is a frequency where the decoded spectrum stands at least 6 dB above the median of its
  neighbourhood (+-40 bins, 43 Hz each way) and more than 6 dB above the original there. Reported:
  the largest such excess and where; ``excess_db`` is 0 when there is none.
- ``above_8k``: the share of the original's energy above 8 kHz, and how much of it decoding loses
  (energy of the error above 8 kHz over the original's there).
- ``clips``: PSNR, SNR, SI-SDR and compression ratio (against 16-bit PCM) of each evaluation clip.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

import walloc
from walloc import bitstream
from walloc.io import read_audio_array

RATE = 44100
EVAL = ("Vibe_Ace", "198-209-0000", "3436-172162-0000", "5703-47212-0000")   # excluded from training
MUSIC = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
FRAME = 8192


def as_float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 32768 if x.dtype == np.int16 else x.astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-20)))


def scores(y: np.ndarray, x: np.ndarray) -> dict:
    """Full-scale PSNR, SNR against the signal itself and SI-SDR of decoded y against x."""
    import torch

    from walloc.metrics import si_sdr, snr

    a, b = torch.from_numpy(y), torch.from_numpy(x)
    return {"psnr": round(psnr(y, x), 2), "snr_db": round(snr(a, b), 2), "si_sdr": round(si_sdr(a, b), 2)}


def welch(x: np.ndarray) -> np.ndarray:
    """Mean power spectrum of (C, L) over channels and half-overlapping Hann frames."""
    window = np.hanning(FRAME)
    starts = range(0, x.shape[1] - FRAME + 1, FRAME // 2)
    frames = np.stack([x[:, s: s + FRAME] for s in starts], axis=1) * window
    return (np.abs(np.fft.rfft(frames, axis=-1)) ** 2).mean(axis=(0, 1))


def lines(original: np.ndarray, decoded: np.ndarray, reach: int = 40) -> dict:
    po, pd = welch(original), welch(decoded)
    hz = np.fft.rfftfreq(FRAME, 1 / RATE)
    padded = np.pad(pd, reach, mode="edge")
    local = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * reach + 1), axis=1)
    tiny = 1e-20
    peak = 10 * np.log10((pd + tiny) / (local + tiny))
    excess = 10 * np.log10((pd + tiny) / (po + tiny))
    found = np.flatnonzero((peak >= 6) & (excess > 6) & (hz > 20))
    worst = int(found[np.argmax(excess[found])]) if len(found) else None
    return {"excess_db": round(float(excess[worst]), 2) if worst is not None else 0.0,
            "at_hz": round(float(hz[worst]), 1) if worst is not None else None,
            "lines": [round(float(hz[i]), 1) for i in found[:50]], "count": int(len(found))}


def above(original: np.ndarray, decoded: np.ndarray, cut: float = 8000.0) -> dict:
    fo, fe = np.fft.rfft(original, axis=-1), np.fft.rfft(decoded - original, axis=-1)
    hz = np.fft.rfftfreq(original.shape[-1], 1 / RATE)
    high = hz >= cut
    total, part = np.sum(np.abs(fo) ** 2), np.sum(np.abs(fo[:, high]) ** 2)
    return {"share_of_energy": round(float(part / total), 5),
            "error_over_energy_db": round(float(10 * np.log10(np.sum(np.abs(fe[:, high]) ** 2) / part)), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--clips", type=Path, default=Path("../shared/data/audio"))
    ap.add_argument("--model", default=None, help="default: the default audio model")
    args = ap.parse_args()
    codec = walloc.load(args.model, modality="audio")
    quality = codec.stream.default_quality

    def roundtrip(x: np.ndarray) -> tuple[np.ndarray, bytes]:
        data = codec.compress(x, quality)
        return codec.decompress(data).numpy(), data

    t = np.arange(2 * RATE) / RATE
    sines = {}
    for hz, dbfs in ((1000, -1), (1000, -3), (12000, -6)):
        x = np.stack([10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)] * 2).astype(np.float32)
        y, data = roundtrip(x)
        sines[f"{hz}Hz_{dbfs}dBFS"] = {**scores(y, x), "gain": bitstream.peek_header(data).gain}
    y, _ = roundtrip(np.zeros((2, RATE), np.int16))
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    result = {"model": codec.name, "model_sha256": codec.sha256, "quality": quality, "sines": sines,
              "silence": {"rms_dbfs": round(20 * math.log10(rms), 1) if rms > 0 else "-inf", "dc": float(np.abs(y.mean()))}}
    clips = sorted(p for p in args.clips.glob("*.ogg") if any(e in p.name for e in EVAL)) if args.clips.exists() else []
    result["clips"] = {}
    for path in clips:
        x = as_float(read_audio_array(path)[0])
        y, data = roundtrip(x)
        result["clips"][path.name] = {**scores(y, x), "ratio": round(x.size * 2 / len(data), 2)}
        if path.name == MUSIC:
            result["lines"], result["above_8k"] = lines(x, y), above(x, y)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "lines"} | {"lines": {k: v for k, v in result.get("lines", {}).items() if k != "lines"}}, indent=1))


if __name__ == "__main__":
    main()
