"""Make the demo's sample files (sample.png, sample.flac) from nothing but this script: no third-party
content, so they are the project's own and dedicated to the public domain (CC0 1.0, see README.md).

    python samples/make_samples.py
"""

from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

HERE = Path(__file__).resolve().parent


def image(h: int = 256, w: int = 384) -> np.ndarray:
    """A sky gradient, a sun, hills and a textured field: smooth areas, edges and fine detail."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([90 + 80 * y / h, 140 + 60 * y / h, 230 - 40 * y / h], -1)
    sun = ((x - 0.75 * w) ** 2 + (y - 0.25 * h) ** 2) < (0.08 * w) ** 2
    sky[sun] = (250, 220, 120)
    hill = y > 0.6 * h + 0.12 * h * np.sin(x / w * 2 * np.pi * 1.5)
    grain = rng.normal(0, 18, (h, w)).astype(np.float32)
    field = np.stack([60 + 30 * np.sin(x / 7) + grain, 130 + 25 * np.cos(y / 5) + grain, 50 + grain], -1)
    out = np.where(hill[..., None], field, sky)
    return np.clip(out, 0, 255).astype(np.uint8)


def clip(seconds: float = 2.0, rate: int = 44100) -> np.ndarray:
    """A stereo arpeggio of decaying harmonic notes, one voice a little left, one a little right."""
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros((t.size, 2))
    for k, f in enumerate([220.0, 277.2, 329.6, 440.0, 329.6, 277.2, 220.0, 164.8]):
        start = k * t.size // 8
        u = t[: t.size - start]
        note = sum(np.sin(2 * np.pi * f * n * u) / n for n in (1, 2, 3)) * np.exp(-4 * u)
        pan = 0.3 if k % 2 else 0.7
        out[start:, 0] += (1 - pan) * note
        out[start:, 1] += pan * note
    return (0.4 * out / np.abs(out).max()).astype(np.float32)


if __name__ == "__main__":
    Image.fromarray(image()).save(HERE / "sample.png", optimize=True)
    sf.write(HERE / "sample.flac", clip(), 44100, subtype="PCM_16")
