"""Training data: whole folders decoded once into memory, then random crops or segments per step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import io
from ..bitstream import MAX_GAIN

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}
MAX_BOOST = 2.0 ** (MAX_GAIN / 2)  # the most a stream's gain code amplifies (walloc.bitstream)


def _files(folders: list[str], suffixes: set[str], exclude: list[str]) -> list[Path]:
    missing = [f for f in folders if not Path(f).expanduser().is_dir()]
    if missing:  # a run without one of its folders would train another model than its config says
        raise FileNotFoundError(f"training folder(s) missing: {', '.join(missing)}")
    found = sorted(p for f in folders for p in Path(f).expanduser().rglob("*") if p.suffix.lower() in suffixes)
    found = [p for p in found if not any(e in p.name for e in exclude)]
    if not found:
        raise FileNotFoundError(f"no training files in {folders}")
    return found


class ImageCrops:
    """Random square crops with random flips, as float tensors in [0, 1].

    Images of another channel count are brought to ``channels`` (:func:`walloc.features.to_channels`:
    RGB photos -> gray by luma for a one-channel model). ``downscale`` (box factors, 1: as it is) adds
    each image box-averaged by those factors as well: a 300 dpi bilevel scan averaged by 2 and 3 is the
    8-bit antialiased page a 150 and 100 dpi gray scan would be, which is what a page model codes.
    """

    def __init__(self, folders: list[str], crop: int, exclude: list[str] = (), channels: int = 3,
                 downscale: list[int] = (1,)):
        from ..features import to_channels

        self.crop = crop
        self.images = []
        for path in _files(folders, IMAGE_SUFFIXES, list(exclude)):
            x, _ = io.read_image(path)
            x = to_channels(x, channels)
            for r in downscale:
                y = _box(x, r)
                if min(y.shape[1:]) >= crop:
                    self.images.append((y * 255).round().to(torch.uint8))
        if not self.images:
            raise FileNotFoundError(f"no image of at least {crop}px in {folders}")
        self.pixels = sum(im.shape[1] * im.shape[2] for im in self.images)

    def batch(self, size: int, rng: np.random.Generator) -> torch.Tensor:
        out = []
        for i in rng.integers(len(self.images), size=size):
            im = self.images[i]
            top = rng.integers(im.shape[1] - self.crop + 1)
            left = rng.integers(im.shape[2] - self.crop + 1)
            x = im[:, top: top + self.crop, left: left + self.crop]
            if rng.random() < 0.5:
                x = x.flip(-1)
            out.append(x)
        return torch.stack(out).float() / 255.0

    def signals(self):
        """Every whole image, as floats in [0, 1]."""
        return (im.float() / 255.0 for im in self.images)


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Image (C, H, W) averaged over r x r blocks (a ragged last row or column dropped)."""
    if r == 1:
        return x
    return torch.nn.functional.avg_pool2d(x[None], r)[0]


def resample(x: torch.Tensor, rate: int, target: int) -> torch.Tensor:
    """Audio (C, L) from ``rate`` to ``target`` Hz by band-limited (FFT) interpolation: exact for a
    periodic signal, and training clips begin and end near silence; no resampling library needed."""
    if rate == target:
        return x
    n = round(x.shape[1] * target / rate)
    spectrum = torch.fft.rfft(x.double(), dim=1)
    keep = min(spectrum.shape[1], n // 2 + 1)
    out = torch.fft.irfft(spectrum[:, :keep], n=n, dim=1) * (n / x.shape[1])
    return out.float().clamp(-1, 1)


class AudioSegments:
    """Random segments with a random gain, as float tensors in [-1, 1]; mono is spread to all channels.

    ``polarity`` flips the sign of half the segments: sound has no preferred polarity, and a mean left
    in a packet channel is a steady tone the decoder would add to everything it decodes.
    ``sample_rate`` (Hz, 0: as they are) resamples every clip to one rate, so that clips recorded at
    another rate (8 kHz digits beside 16 kHz speech) train the same frequencies. Clips shorter than a
    segment are joined end to end (in file order) when ``join_short``, else left out.
    ``level_db`` (low, high) scales each segment to an RMS level drawn uniformly in that range (dBFS)
    instead of the gain around its own level: a model whose encoder brings quiet takes up to one level
    still sees every level the gain codes leave (they move the level in 3 dB steps, and never past
    the saturation limit).
    """

    def __init__(self, folders: list[str], length: int, exclude: list[str] = (), channels: int = 2,
                 polarity: bool = False, sample_rate: int = 0, join_short: bool = False,
                 level_db: tuple[float, float] | None = None):
        self.length, self.polarity, self.level_db = length, polarity, level_db
        self.clips, short = [], []
        for path in _files(folders, AUDIO_SUFFIXES, list(exclude)):
            x, meta = io.read_audio(path)
            if sample_rate:
                x = resample(x, meta.sample_rate, sample_rate)
            if x.shape[0] == 1:
                x = x.expand(channels, -1)
            if x.shape[0] != channels:
                continue
            if x.shape[1] >= length:
                self.clips.append(x.contiguous())
            elif join_short:
                short.append(x)
        if short and sum(c.shape[1] for c in short) >= length:
            self.clips.append(torch.cat(short, dim=1).contiguous())
        if not self.clips:
            raise FileNotFoundError(f"no {channels}-channel clip of at least {length} samples in {folders}")
        self.samples = sum(c.shape[1] for c in self.clips)

    def batch(self, size: int, rng: np.random.Generator) -> torch.Tensor:
        weights = np.array([c.shape[1] for c in self.clips], dtype=np.float64)
        out = []
        for i in rng.choice(len(self.clips), size=size, p=weights / weights.sum()):
            clip = self.clips[i]
            start = rng.integers(clip.shape[1] - self.length + 1)
            segment = clip[:, start: start + self.length]
            if self.level_db is None:
                gain = float(np.exp(rng.uniform(np.log(0.5), np.log(1.5))))
            else:
                rms = float(segment.float().pow(2).mean().sqrt()) + 1e-6
                gain = min(10 ** (rng.uniform(*self.level_db) / 20) / rms, MAX_BOOST)  # near-silent segments: no louder than a stream can be made
            if self.polarity and rng.random() < 0.5:
                gain = -gain
            out.append((segment * gain).clamp(-1, 1))
        return torch.stack(out)

    def signals(self):
        """Every whole clip."""
        return iter(self.clips)
