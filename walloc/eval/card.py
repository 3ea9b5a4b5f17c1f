"""A model's card numbers: one quality of one model through the rate-distortion sweep (real stream
sizes, real decodes), in the units of the model cards. Needs no peer codec and no plotting."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .codecs import walloc_adapter
from .sweep import sweep

if TYPE_CHECKING:
    from ..codec import Codec


def _ratio(codec: Codec, path: Path, rate: float) -> float:
    """Compression ratio against the raw samples: 8-bit RGB images, 16-bit PCM audio."""
    if codec.modality == "image":
        return 24.0 / rate
    import soundfile

    info = soundfile.info(str(path))
    return 16.0 * info.channels * info.samplerate / (rate * 1000)


def _signal_db(path: Path) -> float:
    """A clip's RMS level in dBFS: what turns a full-scale PSNR into the SNR against the clip itself
    (SNR = PSNR + level, both over the same samples: the mean squared error is the same)."""
    from ..level import rms_db
    from ..io import read_audio_array

    return rms_db(read_audio_array(path, native=False)[0])


def _audio_scores(path: Path, row: dict) -> dict:
    """SNR against the clip itself (dB) and SI-SDR beside the full-scale PSNR: a quiet take's error
    hides under full-scale PSNR (a -41 dBFS digit at 8 dB SNR reads as 49 dB PSNR)."""
    return {"snr_db": round(row["psnr"] + _signal_db(path), 3), "si_sdr": round(row["si_sdr"], 3)}


def measure(codec: Codec, files: list[Path], quality: int | None = None) -> dict:
    """Mean rate (bpp for images, kbps for audio), PSNR (audio also SNR against each clip itself and
    SI-SDR, means over files in dB), compression ratio and round-trip speed over files."""
    q = codec.stream.default_quality if quality is None else quality
    adapter = walloc_adapter(codec, codec.modality)
    result = sweep([adapter], files, codec.modality, per_file=True, progress=False, qualities={adapter.name: [q]})
    point, rows = result["curves"][adapter.name][0], result["per_file"][adapter.name]
    unit = "bpp" if codec.modality == "image" else "kbps"
    ratios = [_ratio(codec, path, row[unit]) for path, row in zip(files, rows)]
    per_file = [{"file": row["file"], unit: round(row[unit], 4), "psnr": round(row["psnr"], 3), "ratio": round(r, 2),
                 **(_audio_scores(path, row) if codec.modality == "audio" else {})}
                for path, row, r in zip(files, rows, ratios)]
    scores = {}
    if codec.modality == "audio":
        scores = {key: round(sum(f[key] for f in per_file) / len(per_file), 3) for key in ("snr_db", "si_sdr")}
        scores["snr_db_median"] = round(float(np.median([f["snr_db"] for f in per_file])), 3)
    return {unit: round(point[unit], 4), "psnr": round(point["psnr"], 3), **scores, "ratio": round(sum(ratios) / len(ratios), 2),
            "files": len(files), "roundtrip_msamples_s": round(1 / (1 / point["enc_mps"] + 1 / point["dec_mps"]), 3),
            "per_file": per_file}
