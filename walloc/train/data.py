"""Training data: whole folders decoded once into memory, then random crops or segments per step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import io

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}


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
    """Random square crops with random flips, as float tensors in [0, 1]."""

    def __init__(self, folders: list[str], crop: int, exclude: list[str] = (), channels: int = 3):
        self.crop = crop
        self.images = []
        for path in _files(folders, IMAGE_SUFFIXES, list(exclude)):
            x, _ = io.read_image(path)
            if x.shape[0] == channels and min(x.shape[1:]) >= crop:
                self.images.append((x * 255).round().to(torch.uint8))
        if not self.images:
            raise FileNotFoundError(f"no {channels}-channel image of at least {crop}px in {folders}")
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


class AudioSegments:
    """Random segments with a random gain, as float tensors in [-1, 1]; mono is spread to all channels.

    ``polarity`` flips the sign of half the segments: sound has no preferred polarity, and a mean left
    in a packet channel is a steady tone the decoder would add to everything it decodes.
    """

    def __init__(self, folders: list[str], length: int, exclude: list[str] = (), channels: int = 2,
                 polarity: bool = False):
        self.length, self.polarity = length, polarity
        self.clips = []
        for path in _files(folders, AUDIO_SUFFIXES, list(exclude)):
            x, _ = io.read_audio(path)
            if x.shape[0] == 1:
                x = x.expand(channels, -1)
            if x.shape[0] == channels and x.shape[1] >= length:
                self.clips.append(x.contiguous())
        if not self.clips:
            raise FileNotFoundError(f"no {channels}-channel clip of at least {length} samples in {folders}")
        self.samples = sum(c.shape[1] for c in self.clips)

    def batch(self, size: int, rng: np.random.Generator) -> torch.Tensor:
        weights = np.array([c.shape[1] for c in self.clips], dtype=np.float64)
        out = []
        for i in rng.choice(len(self.clips), size=size, p=weights / weights.sum()):
            clip = self.clips[i]
            start = rng.integers(clip.shape[1] - self.length + 1)
            gain = float(np.exp(rng.uniform(np.log(0.5), np.log(1.5))))
            if self.polarity and rng.random() < 0.5:
                gain = -gain
            out.append((clip[:, start: start + self.length] * gain).clamp(-1, 1))
        return torch.stack(out)

    def signals(self):
        """Every whole clip."""
        return iter(self.clips)
