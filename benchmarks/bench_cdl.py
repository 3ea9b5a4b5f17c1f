"""Compressed-domain learning: one classifier design trained on pixels (samples), thumbnails and WaLLoC latents.

    python benchmarks/bench_cdl.py --data ../shared/data/images/dtd10 --folds 5 --out docs/results/bench_cdl_dtd10.json
    python benchmarks/bench_cdl.py --data ../shared/data/fsdd --folds 5 --out docs/results/bench_cdl_fsdd.json
    python benchmarks/bench_cdl.py --data ../shared/data/images/clothing --out out/bench_cdl.json   # train/validation/test
    python benchmarks/bench_cdl.py --data DIR --folds 2 --limit 8 --epochs 2 --out /tmp/x.json        # quick check

Data (``--data``): a tree of one folder per class (``DIR/<class>/*``), or the split layout
``DIR/{train,validation,test}/<class>/*``; images or audio, told from the files. Every image is first
brought to RGB (grayscale repeated, alpha dropped) and to a ``--size`` (256) square center crop (short
side resized, :func:`walloc.features.fit`), every clip to mono (the mean of its channels) and to
``--size`` (8,192) samples (center crop, or zero padding at the end), for every variant alike
(``walloc latents --channels``), so trees that mix kinds of files work; files that cannot be read are
left out of every variant (named on stderr and in the JSON's ``unreadable``). Variants:

images
  pixels_full       the 256 x 256 crops, loaded from the original files (3 x 256 x 256)
  pixels_down       the crops downsampled to the numbers of rgb-16x latents (3 x 64 x 64), lossless PNG
  pixels_down_4x    the crops downsampled to the numbers of rgb-4x latents (3 x 128 x 128), lossless PNG
  walloc_16x        rgb-16x latents (12 x 32 x 32): ``walloc latents --size 256`` at the model's default
                    quality (or ``--quality``),
                    read back with LatentDataset (entropy decoding only), dequantized
  walloc_4x         rgb-4x latents (48 x 32 x 32), the same way
  jpeg_equal_bytes  the 256 x 256 crops as JPEG files at the quality whose mean size matches the
                    mean ``.wlc`` of walloc_16x (3 x 256 x 256 after decoding)
audio
  samples_full      the 8,192-sample waveforms, loaded from the original files (1 x 8192)
  samples_down      the waveforms resampled to the numbers of stereo-5x latents (1 x 3456), FLAC
  walloc_5x         stereo-5x latents (108 x 32; mono is coded as the model codes it: a stereo pair
                    of two equal channels), from ``walloc latents --size 8192``
  samples_down_speech  the waveforms resampled to the numbers of mono-speech-4x latents (1 x 2048), FLAC
  walloc_speech     mono-speech-4x latents (64 x 32), the same way (skipped where the model is not shipped)

Classifier (:func:`make_net`): a stem, then a body of the same design for every variant of a
modality (:class:`Body`: conv-BN-ReLU blocks, two stride-2 stages, global average pooling, linear).
Every stem ends at the width of the body and at the grid of the latents halved (16 x 16; 16 for
audio), so the body sees the same kind of input. Pixel and sample stems (:func:`signal_stem`):
stride-2 3x3 (3-tap) conv-BN-ReLU layers, as many as it takes to go from the input's resolution to the
grid (4 for 256 x 256 pixels, 9 for 8,192 samples), widths doubling up to the body's. Latent stems:
:class:`walloc.nn.LatentStem` with stride 2 (input BatchNorm, 1x1 and 3x3 conv-BN-ReLU). Inputs are
standardized per channel with the training split's statistics. Training: AdamW, one-cycle schedule,
label smoothing, random crops of 7/8 of each axis aligned to whole latent positions (8 pixels of
full resolution, 2 of 64 x 64 thumbnails, 1 latent; 256 samples), horizontal flips for images (for
latents: the latents of the mirrored crop, what a ``.wlc`` of the mirrored image holds); tests see
the whole input. ``--shifts N``: every variant also trains on its signals moved (circularly) by
k/N of a latent position along each axis, every k in 0 .. N-1 (256 samples, 8 pixels of full resolution;
for latents, those of the moved signal's ``.wlc``; images also mirrored), one version drawn per item
and epoch: the packet code is not shift-invariant below a block, convolutions over samples or pixels are.

``--folds K``: stratified K-fold cross-validation over every item (every item tested once, by a
classifier that never saw it; same folds for every variant; the last epoch is tested). Without
--folds the split layout is needed: the epoch with the best validation accuracy is tested
(``--seeds N`` repeats that with N seeds).

Per variant: ``test_acc``, ``train_s`` (total training time, all folds), ``dims`` (numbers per
example), ``flops_per_example`` (forward pass at the test size, 2 x multiply-adds of the conv and
linear layers, :func:`flops_per_example`), ``bytes_per_example`` (mean file size), ``load_items_s``
(one process, DataLoader without workers, to the classifier's input before standardization),
``time`` (reading the bytes, decoding them, and per epoch: making batches, forward + backward +
optimizer step), ``loss_history`` (mean training loss per epoch over folds, to check convergence).
``--load-only`` measures the stored examples and their loading alone, without training.
``paired``: accuracy differences over the same items, with the standard error over items.
"""

from __future__ import annotations

import argparse
import io as _io
import itertools
import json
import math
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import walloc  # noqa: E402
from walloc import data, features, io, tree, zoo  # noqa: E402
from walloc.errors import WallocError  # noqa: E402
from walloc.nn import LatentStem, conv_bn_relu  # noqa: E402

SPLITS = ("train", "validation", "test")
LATENT_GRID = 32      # latent positions per axis of a --size input (256 px / 8, 8192 samples / 256)
CROP = 28             # training crops: CROP of LATENT_GRID latent positions per axis
DEFAULT_SIZE = {"image": 256, "audio": 8192}
CHANNELS = {"image": 3, "audio": 1}  # every file brought to these first: RGB images, mono clips (mixed trees)
WIDTH = {"image": 48, "audio": 64}
VARIANTS = {"image": ("pixels_full", "pixels_down", "pixels_down_4x", "walloc_16x", "walloc_4x", "jpeg_equal_bytes"),
            "audio": ("samples_full", "samples_down", "walloc_5x", "samples_down_speech", "walloc_speech")}
MODELS = {"walloc_16x": "rgb-16x", "walloc_4x": "rgb-4x", "walloc_5x": "stereo-5x", "walloc_speech": "mono-speech-4x"}
DOWN_OF = {"pixels_down": "walloc_16x", "pixels_down_4x": "walloc_4x", "samples_down": "walloc_5x",
           "samples_down_speech": "walloc_speech"}
PAIRS = (("walloc_16x", "pixels_down"), ("walloc_4x", "pixels_down_4x"), ("walloc_16x", "pixels_full"),
         ("pixels_full", "pixels_down"), ("walloc_16x", "jpeg_equal_bytes"),
         ("walloc_5x", "samples_down"), ("walloc_5x", "samples_full"), ("samples_full", "samples_down"),
         ("walloc_speech", "samples_down_speech"), ("walloc_speech", "samples_full"))


# -- classifier ------------------------------------------------------------------------------------------
class Body(nn.Sequential):
    """The part every variant shares: width -> 2 x width -> 4 x width, two stride-2 stages, pooled, linear."""

    def __init__(self, width: int, classes: int, dims: int):
        pool = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)[dims - 1]
        super().__init__(conv_bn_relu(dims, width, width),
                         conv_bn_relu(dims, width, 2 * width, 3, 2), conv_bn_relu(dims, 2 * width, 2 * width),
                         conv_bn_relu(dims, 2 * width, 4 * width, 3, 2), conv_bn_relu(dims, 4 * width, 4 * width),
                         pool(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * width, classes))


def signal_stem(channels: int, factor: float, width: int, dims: int) -> nn.Sequential:
    """Pixels or samples -> (width, input / factor): round(log2 factor) stride-2 conv-BN-ReLU layers,
    widths doubling up to ``width`` (at least 16), each layer nonlinear."""
    n = max(1, round(math.log2(factor)))
    widths = [max(16, width >> (n - 1 - i)) for i in range(n)]
    return nn.Sequential(*(conv_bn_relu(dims, cin, cout, 3, 2) for cin, cout in zip([channels] + widths, widths)))


def shuffle_stem(channels: int, width: int) -> nn.Sequential:
    """2-D latents -> (width, grid / 2) by way of a grid twice as fine: the 1x1 mixing makes 4 x 16
    channels, a pixel shuffle lays each position's 16 x 4 out as 16 channels at 2 x 2 positions, and
    the pixel stem of 128 x 128 thumbnails goes on from there (its layers after the 64 x 64 stage)."""
    return nn.Sequential(nn.BatchNorm2d(channels, affine=False), conv_bn_relu(2, channels, 64, 1), nn.PixelShuffle(2),
                         signal_stem(16, 4, width, 2))


def make_net(latent: bool, channels: int, factor: float, classes: int, dims: int, width: int,
             hidden: int | None = None, depth: int = 1, shuffle: bool = False, stride: int = 2,
             per_channel: bool = True) -> nn.Sequential:
    """Stem + Body. ``factor``: input positions per latent position (1 for latents); every stem
    halves the latent grid, so the body starts at LATENT_GRID / 2 positions per axis (a latent stem
    of ``stride`` 1: at LATENT_GRID). ``hidden`` and ``depth``: the latent stem's mixing width
    (default: LatentStem's) and 3x3 layers; ``shuffle``: :func:`shuffle_stem` for 2-D latents;
    ``per_channel`` False: a LatentStem without its per-channel standardization."""
    if latent and shuffle and dims == 2:
        stem = shuffle_stem(channels, width)
    else:
        stem = (LatentStem(channels, width, stride=stride, dims=dims, hidden=hidden, depth=depth) if latent
                else signal_stem(channels, 2 * factor, width, dims))
        if latent and not per_channel:
            stem[0] = nn.Identity()
    return nn.Sequential(stem, Body(width, classes, dims))


def flops_per_example(net: nn.Module, shape: tuple[int, ...]) -> int:
    """Floating-point operations of one forward pass on one example (2 per multiply-add of the
    convolutions and linear layers; normalization and activations are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    was = net.training
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, *shape))
    net.train(was)
    return int(counter.get_total_flops())


# -- data -------------------------------------------------------------------------------------------------
def parts_of(root: Path) -> list[str]:
    """The split folders of a split layout, or [""] for a tree of class folders."""
    return list(SPLITS) if all((root / s).is_dir() for s in SPLITS) else [""]


def modality_of(root: Path) -> str:
    """'image' or 'audio': what the tree's media files hold (a tree holding both is refused)."""
    items = tree.scan(root)
    if not items:
        raise SystemExit(f"bench_cdl: no image or audio files under {root}")
    kinds = {io.modality_of(it.path) for it in items}
    if len(kinds) > 1:
        raise SystemExit(f"bench_cdl: {root} holds both images and audio")
    return kinds.pop()


def subset(root: Path, dst: Path, limit: int) -> Path:
    """A copy of the first ``limit`` files of each class folder of each part (quick runs)."""
    for part in parts_of(root):
        items = tree.scan(root / part)
        for label in tree.classes_of(items):
            for it in [i for i in items if i.label == label][:limit]:
                target = dst / part / it.rel
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(it.path, target)
    return dst


def readable(root: Path, dst: Path, modality: str) -> tuple[Path, list[str]]:
    """(tree to use, one line per file left out): ``root`` itself, or, where some of its files cannot be
    read (damaged, truncated, unreadable), a mirror of it in ``dst`` (symbolic links) without them, so
    that every variant leaves out the same files instead of the run stopping on the first."""
    items, bad = tree.scan(root), []
    read = io.read_image_array if modality == "image" else io.read_audio_array
    for it in items:
        try:
            read(it.path)
        except (WallocError, OSError) as e:
            bad.append((it.rel, str(e) if str(it.path) in str(e) else f"{it.path}: {e}"))
    if not bad:
        return root, []
    if len(bad) == len(items):
        raise SystemExit(f"bench_cdl: no file under {root} can be read (first: {bad[0][1]})")
    shutil.rmtree(dst, ignore_errors=True)  # the links of an earlier run may leave out other files
    left_out = {rel for rel, _ in bad}
    for it in items:
        if it.rel not in left_out:
            (dst / it.rel).parent.mkdir(parents=True, exist_ok=True)
            (dst / it.rel).symlink_to(it.path.resolve())
    return dst, [line for _, line in bad]


def load_all(ds, batch_size: int = 64, collate=None, keep=None) -> dict:
    """Every item of a dataset through a worker-less DataLoader -> {"x", "y", "rate", "bytes", "read_s",
    "load_s"}: ``read_s`` reads the files' bytes alone (warm cache), ``load_s`` reads and decodes.
    One item is loaded first, untimed, so that one-time setup (model tables read on the first
    decode) is not counted as per-item cost. ``keep`` turns each batch into what is kept in memory
    (pixels: uint8); it is not timed."""
    ds[0]
    start = time.perf_counter()
    sizes = [len(it.read()) for it in ds.items]
    read_s = time.perf_counter() - start
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0, collate_fn=collate)
    xs, ys, seconds = [], [], 0.0
    start = time.perf_counter()
    try:
        for x, y in loader:
            seconds += time.perf_counter() - start
            xs.append(keep(x) if keep else x)
            ys.append(y)
            start = time.perf_counter()
        x = torch.cat(xs)
    except RuntimeError as e:  # default_collate / cat: items of different shapes
        if "size" not in str(e):
            raise
        raise SystemExit(f"bench_cdl: the items under {ds.root} do not all have the same shape (grayscale and colour "
                         "images mixed?); bring them to one kind first") from None
    return {"x": x, "y": torch.cat(ys), "rate": len(ds) / seconds, "bytes": sizes,
            "read_s": read_s, "load_s": seconds, "items": ds.items}


def to_u8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().clamp(0, 255).to(torch.uint8)


def jpeg_bytes(x: torch.Tensor, quality: int) -> bytes:
    """A uint8 (3, H, W) image as a JPEG file."""
    from PIL import Image

    buf = _io.BytesIO()
    Image.fromarray(x.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def matching_quality(crops: torch.Tensor, target: float) -> int:
    """The JPEG quality (1-95) whose mean file size over ``crops`` is closest to ``target`` bytes."""
    def mean_size(q: int) -> float:
        return float(np.mean([len(jpeg_bytes(x, q)) for x in crops]))

    lo, hi = 1, 95
    while lo < hi:  # smallest quality at least as large as the target (sizes grow with quality)
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if mean_size(mid) < target else (lo, mid)
    return min((q for q in (lo - 1, lo) if q >= 1), key=lambda q: abs(mean_size(q) - target))


def load_tree(root: Path, parts: list[str], classes, make, collate=None, keep=None) -> dict:
    """{part: load_all(make(folder, classes))} over the parts of a tree, plus "classes"."""
    out = {}
    for part in parts:
        ds = make(root / part, classes)
        classes = ds.classes
        out[part] = load_all(ds, collate=collate(ds) if collate else None, keep=keep)
    out["classes"] = classes
    return out


def signals(root: Path, parts: list[str], size: int, image: bool) -> dict:
    """The fitted crops (clips) of every part, loaded from the original files (pixels as uint8), in
    CHANNELS channels; the classes are those of all parts (a split may lack some)."""
    channels = CHANNELS["image" if image else "audio"]
    return load_tree(root, parts, tree.classes_of(tree.scan(root)), lambda folder, classes: data.MediaDataset(folder, classes=classes, size=size, channels=channels),
                     keep=to_u8 if image else None)


def write_tree(full: dict, parts: list[str], folder: Path, suffix: str, write) -> None:
    """Every stored item of ``full`` through ``write(x, path)`` into ``folder``, mirroring the tree."""
    for part in parts:
        for it, x in zip(full[part]["items"], full[part]["x"]):
            target = folder / part / it.rel.with_suffix(suffix)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                write(x, target)


def downsampled(full: dict, parts: list[str], folder: Path, numbers: int, image: bool, sample_rate: int = 0) -> dict:
    """The signals resized (bilinear, antialiased) to ``numbers`` numbers per example, stored losslessly
    (PNG; 16-bit FLAC at the lowered sample rate) and loaded back from those files."""
    from PIL import Image

    c, *extent = full[parts[0]]["x"].shape[1:]
    scale = math.sqrt(numbers / c / math.prod(extent)) if image else numbers / c / extent[0]
    shape = [round(e * scale) for e in extent]

    def write(x: torch.Tensor, path: Path) -> None:
        x = x[None].float() / 255 if image else x[None, :, None]
        small = F.interpolate(x, size=shape if image else [1, shape[0]], mode="bilinear", antialias=True)[0]
        if image:
            Image.fromarray(to_u8(small.clamp(0, 1)).permute(1, 2, 0).numpy()).save(path)
        else:
            io.write_audio(path, small[:, 0], io.AudioMeta(round(sample_rate * scale), 16, False))

    write_tree(full, parts, folder, ".png" if image else ".flac", write)
    return load_tree(folder, parts, full["classes"], lambda f, classes: data.MediaDataset(f, classes=classes),
                     keep=to_u8 if image else None)


def latents(root: Path, parts: list[str], folder: Path, model: str, size: int, workers: int, classes,
            quality: int | None = None, channels: int | None = None) -> dict:
    """``walloc latents --size [--quality] [--channels]`` on the tree, then every part read back with LatentDataset."""
    from walloc.convert import latent_tree

    start = time.perf_counter()
    summary = latent_tree(root, folder, model=model, quality=quality, size=size, workers=workers, progress=False,
                          channels=channels)
    convert_s = time.perf_counter() - start
    if summary.failed:
        raise RuntimeError(f"walloc latents failed on {summary.failed[:3]}")
    out = load_tree(folder, parts, classes, lambda f, cl: data.LatentDataset(f, classes=cl), collate=lambda ds: ds.collate)
    out["convert_s"] = convert_s
    return out


def moves(signals: torch.Tensor, shifts: int) -> Iterator[torch.Tensor]:
    """The signals (N, C, *S) moved circularly by k/shifts of a latent position along each axis, for
    every combination of k in 0 .. shifts - 1 but no move at all (clips: shifts - 1, images: shifts**2 - 1),
    one moved copy at a time (at --shifts 4 the 15 copies of 1,200 crops would be 3.5 GB at once)."""
    unit = signals.shape[-1] / LATENT_GRID
    axes = list(range(2, signals.dim()))
    for ks in itertools.product(range(shifts), repeat=len(axes)):
        if any(ks):
            yield signals.roll([round(k * unit / shifts) for k in ks], axes)


def move_count(signals: torch.Tensor, shifts: int) -> int:
    """How many moved copies :func:`moves` makes."""
    return shifts ** (signals.dim() - 2) - 1


def stacked(versions: Iterable[torch.Tensor], count: int) -> torch.Tensor:
    """torch.stack of ``count`` tensors made one at a time, written into one tensor as they come
    (without the list beside the stack: half the peak memory)."""
    out = None
    for i, v in enumerate(versions):
        if out is None:
            out = torch.empty((count, *v.shape), dtype=v.dtype)
        out[i] = v
    return out


def latent_alternates(codec, signals: torch.Tensor, quality: int, shifts: int) -> torch.Tensor | None:
    """Dequantized latents of the other versions of the signals that training draws from, (A, N, ...):
    images mirrored, and (``shifts`` > 1) moved by fractions of a latent position, mirrored or not;
    clips delayed, through their ``.wlc`` streams (as ``walloc latents`` writes and LatentDataset reads
    them, level gain included). What ``.wlc`` files of those versions would hold."""
    if signals.dim() == 4:
        def encode(x: torch.Tensor) -> torch.Tensor:
            return torch.cat([features.encode(codec, x[s: s + 64].float() / 255, kind="dequantized", quality=quality)
                              for s in range(0, len(x), 64)])
        versions = itertools.chain([signals.flip(-1)], (v for d in moves(signals, shifts) for v in (d, d.flip(-1))))
        return stacked(map(encode, versions), 1 + 2 * move_count(signals, shifts))
    if shifts < 2:
        return None
    return stacked((features.decode_streams([codec.compress(c, quality) for c in d], codec=codec, kind="dequantized")
                    for d in moves(signals, shifts)), move_count(signals, shifts))


# -- training ---------------------------------------------------------------------------------------------
class Inputs:
    """Training inputs of one variant: stored tensors -> standardized float batches (crops, flips,
    or one of ``alternates``: other versions of the same items, stored alike, (A, N, ...)).

    The standardization is the same for every variant (per channel, training-split statistics), so
    that neither the [0, 1] pixels nor the unevenly scaled latent channels get a head start."""

    def __init__(self, splits: dict, *, pixels: bool, alternates: torch.Tensor | None = None, flips: bool = True,
                 rows: torch.Tensor | None = None, per_channel: bool = True):
        self.splits, self.pixels, self.alternates, self.flips = splits, pixels, alternates, flips
        self.rows = rows  # row of alternates of each training item (None: the same index), so folds need no copy
        x0 = splits["train"]["x"]
        self.spatial = x0.dim() - 2
        self.unit = x0.shape[-1] // LATENT_GRID  # input positions per latent position
        total = sq = 0.0
        for start in range(0, len(x0), 64):
            x = self.raw("train", slice(start, start + 64)).double()
            dims = (0, *range(2, x.dim()))
            total, sq = total + x.sum(dims), sq + (x * x).sum(dims)
        count = x0[:, 0].numel()
        if not per_channel:  # one scale for all channels: they keep their relative sizes
            total, sq, count = total.sum().expand_as(total), sq.sum().expand_as(sq), count * len(total)
        mean = total / count
        self.mean, self.std = mean.float(), (sq / count - mean * mean).clamp_min(1e-12).sqrt().float()

    def raw(self, split: str, idx, x: torch.Tensor | None = None) -> torch.Tensor:
        """Stored items as floats on their own scale (pixels in [0, 1], samples, dequantized latents)."""
        x = self.splits[split]["x"][idx] if x is None else x
        return x.float() / 255 if self.pixels else x.float()

    def batch(self, split: str, idx: torch.Tensor, train: bool = False) -> torch.Tensor:
        """Standardized items; for training, random crops aligned to latent positions and flips."""
        x = self.raw(split, idx)
        if train:
            if self.alternates is not None:  # each item as stored (0) or one of its alternates, gathered alone
                pick = torch.randint(0, len(self.alternates) + 1, (len(idx),))
                moved = (pick > 0).nonzero().flatten()
                rows = idx[moved] if self.rows is None else self.rows[idx[moved]]
                x[moved] = self.raw(split, None, self.alternates[pick[moved] - 1, rows])
            if self.flips and self.spatial == 2:
                x = torch.where((torch.rand(len(idx)) < 0.5).view(-1, 1, 1, 1), x.flip(-1), x)
            x = crop(x, self.unit, torch.randint(0, LATENT_GRID - CROP + 1, (len(idx), self.spatial)))
        return data.standardize(x, (self.mean, self.std), self.spatial)


def crop(x: torch.Tensor, unit: int, offsets: torch.Tensor) -> torch.Tensor:
    """Per item, CROP x unit positions per spatial axis, starting at ``offsets`` (in latent positions) x unit."""
    size = CROP * unit
    out = []
    for item, off in zip(x, (offsets * unit).tolist()):
        for axis, o in enumerate(off):
            item = item.narrow(axis + 1, o, size)
        out.append(item)
    return torch.stack(out)


def evaluate(net: nn.Module, inputs: Inputs, split: str, batch: int = 128) -> torch.Tensor:
    """Per-item correctness (bool) on a split; kept per item for the paired comparison."""
    net.eval()
    y = inputs.splits[split]["y"]
    with torch.no_grad():
        return torch.cat([net(inputs.batch(split, idx)).argmax(1) == y[idx] for idx in torch.arange(len(y)).split(batch)])


class Setup(NamedTuple):
    """How one variant's classifier is built and trained."""

    latent: bool       # LatentStem (else a signal stem)
    factor: float      # input positions per latent position
    width: int
    epochs: int
    batch: int
    lr: float
    hidden: int | None = None   # latent stem mixing width
    depth: int = 1              # latent stem 3x3 layers
    shuffle: bool = False       # latent stem by way of a twice finer grid (shuffle_stem)
    stride: int = 2             # latent stem stride: 1 runs the body at the latents' own grid
    per_channel: bool = True    # inputs standardized per channel (latents may instead take one mean and std for all)


def train(inputs: Inputs, classes: int, setup: Setup, seed: int, select: bool = True) -> dict:
    """Train one classifier; with ``select`` the epoch with the best validation accuracy is tested,
    else (cross-validation, no validation split) the last epoch."""
    x0, y = inputs.splits["train"]["x"], inputs.splits["train"]["y"]
    torch.manual_seed(seed)
    net = make_net(setup.latent, x0.shape[1], setup.factor, classes, inputs.spatial, setup.width, setup.hidden, setup.depth,
                   setup.shuffle, setup.stride, setup.per_channel)
    opt = torch.optim.AdamW(net.parameters(), lr=setup.lr, weight_decay=0.05)
    n = len(x0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=setup.lr, total_steps=setup.epochs * math.ceil(n / setup.batch),
                                                pct_start=0.15)
    best, best_epoch, history, losses = (-1.0, None), 0, [], []
    batch_s = step_s = 0.0
    start = time.perf_counter()
    for epoch in range(setup.epochs):
        net.train()
        total, count = 0.0, 0
        for idx in torch.randperm(n).split(setup.batch):
            t0 = time.perf_counter()
            x = inputs.batch("train", idx, train=True)
            t1 = time.perf_counter()
            if len(idx) > 1:
                loss = F.cross_entropy(net(x), y[idx], label_smoothing=0.1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, count = total + loss.item() * len(idx), count + len(idx)
            sched.step()
            batch_s, step_s = batch_s + t1 - t0, step_s + time.perf_counter() - t1
        losses.append(total / count)
        if select:
            val = evaluate(net, inputs, "validation").float().mean().item()
            history.append(round(val, 4))
            if val > best[0]:
                best, best_epoch = (val, {k: v.clone() for k, v in net.state_dict().items()}), epoch + 1
    train_s = time.perf_counter() - start
    if select:
        net.load_state_dict(best[1])
    else:
        best, best_epoch = (None, None), setup.epochs
    return {"test_correct": evaluate(net, inputs, "test"), "val_acc": best[0], "best_epoch": best_epoch,
            "val_history": history, "loss_history": losses, "train_s": train_s,
            "batch_s_per_epoch": batch_s / setup.epochs, "step_s_per_epoch": step_s / setup.epochs,
            "parameters": sum(p.numel() for p in net.parameters()),
            "flops_per_example": flops_per_example(net, tuple(x0.shape[1:]))}


def std(values) -> float | None:
    """Sample standard deviation; None for a single value."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def summary(runs: list[dict]) -> dict:
    """What the report keeps of several trainings (seeds or folds) of one variant."""
    return {"train_s": round(sum(r["train_s"] for r in runs), 1),
            "train_s_per_run": round(float(np.mean([r["train_s"] for r in runs])), 1),
            "loss_history": [round(float(np.mean(v)), 4) for v in zip(*(r["loss_history"] for r in runs))],
            "time_per_epoch": {"batches_s": round(float(np.mean([r["batch_s_per_epoch"] for r in runs])), 3),
                               "forward_backward_s": round(float(np.mean([r["step_s_per_epoch"] for r in runs])), 3)},
            "parameters": runs[0]["parameters"], "flops_per_example": runs[0]["flops_per_example"]}


def train_seeds(inputs: Inputs, classes: int, setup: Setup, seeds: list[int]) -> tuple[dict, torch.Tensor]:
    """``train`` once per seed -> (summary over seeds, test correctness: seeds x test items)."""
    runs = [train(inputs, classes, setup, seed) for seed in seeds]
    correct = torch.stack([r["test_correct"] for r in runs])
    result = {}
    for key, accs in (("test_acc", correct.float().mean(1).tolist()), ("val_acc", [r["val_acc"] for r in runs])):
        sd = std(accs)
        result |= {key: round(float(np.mean(accs)), 4), f"{key}_std": None if sd is None else round(sd, 4),
                   f"{key}_seeds": [round(a, 4) for a in accs]}
    result |= {"best_epoch": [r["best_epoch"] for r in runs], "val_history": [r["val_history"] for r in runs]}
    return result | summary(runs), correct


def paired(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Accuracy of a minus b (seeds x test items correctness, same seeds, same test items)."""
    per_seed = (a.float().mean(1) - b.float().mean(1)).tolist()
    per_item = a.float().mean(0) - b.float().mean(0)
    se = std(per_seed)
    return {"mean": round(float(np.mean(per_seed)), 4), "per_seed": [round(d, 4) for d in per_seed],
            "se_seeds": None if se is None else round(se / math.sqrt(len(per_seed)), 4),
            "se_test_images": round(per_item.std().item() / math.sqrt(len(per_item)), 4),
            "test_images": len(per_item)}


def fold_of(labels: torch.Tensor, folds: int, seed: int) -> torch.Tensor:
    """Stratified fold number of every pooled item: each class shuffled (fixed seed), dealt round-robin."""
    gen = torch.Generator().manual_seed(seed)
    fold = torch.empty(len(labels), dtype=torch.long)
    for label in labels.unique():
        idx = (labels == label).nonzero().flatten()
        fold[idx[torch.randperm(len(idx), generator=gen)]] = torch.arange(len(idx)) % folds
    return fold


def pooled(splits: dict, parts: list[str]) -> dict:
    """All parts as one set, in part order."""
    return {"x": torch.cat([splits[p]["x"] for p in parts]), "y": torch.cat([splits[p]["y"] for p in parts])}


def cross_validate(variants: dict, classes: int, args) -> tuple[dict, dict]:
    """K-fold cross-validation over the pooled items (every item is tested once, by a classifier
    that never saw it). Same folds for every variant; the last epoch is tested.

    ``variants``: name -> (pool {"x", "y"}, pixels?, alternates (A, pool) or None, Setup)."""
    labels = next(iter(variants.values()))[0]["y"]
    if any(not torch.equal(v[0]["y"], labels) for v in variants.values()):
        raise RuntimeError("the variants do not list the same photos in the same order")
    fold = fold_of(labels, args.folds, args.seed)
    results, correct = {}, {}
    for name, (pool, is_pixels, alternates, setup) in variants.items():
        right, accs, runs = torch.zeros(len(labels), dtype=torch.bool), [], []
        for k in range(args.folds):
            tr, te = (fold != k).nonzero().flatten(), (fold == k).nonzero().flatten()
            splits = {"train": {"x": pool["x"][tr], "y": labels[tr]}, "test": {"x": pool["x"][te], "y": labels[te]}}
            inputs = Inputs(splits, pixels=is_pixels, alternates=alternates, flips=not setup.latent, rows=tr,
                            per_channel=setup.per_channel)
            run = train(inputs, classes, setup, args.seed + k, select=False)
            right[te] = run["test_correct"]
            accs.append(run["test_correct"].float().mean().item())
            runs.append(run)
            print(f"  {name} fold {k}: acc {accs[-1]:.4f} ({run['train_s']:.0f} s, last loss {run['loss_history'][-1]:.3f})", flush=True)
        correct[name] = right[None]
        results[name] = {"cv_acc": round(right.float().mean().item(), 4), "fold_acc": [round(a, 4) for a in accs],
                         "fold_acc_std": None if len(accs) < 2 else round(std(accs), 4), **summary(runs)}
        print(f"{name:16s} cross-validated acc {results[name]['cv_acc']:.4f} over {len(labels)} items", flush=True)
    return results, correct


class Variant(NamedTuple):
    """One input's stored examples, loaded: what training and the report need of it."""

    splits: dict                    # part -> load_all(...)
    pixels: bool                    # uint8 pixels (else float samples or dequantized latents)
    alternates: torch.Tensor | None  # (A, N, ...) other versions of the items, pooled order (latent_alternates, moves)
    latent: bool
    extra: dict                     # what the report adds: how it is stored, which model


def loading(v: Variant, parts: list[str]) -> dict:
    """What a variant's stored examples cost: bytes, numbers, items per second, reading and decoding time."""
    total = sum(len(v.splits[p]["y"]) for p in parts)
    read_s, load_s = (sum(v.splits[p][k] for p in parts) for k in ("read_s", "load_s"))
    shape = list(v.splits[parts[0]]["x"].shape[1:])
    return {"bytes_per_example": round(float(np.mean([b for p in parts for b in v.splits[p]["bytes"]])), 1),
            "load_items_s": round(total / load_s, 1), "input_shape": shape, "dims": math.prod(shape),
            "time": {"read_ms_per_item": round(1000 * read_s / total, 3),
                     "decode_ms_per_item": round(1000 * max(0.0, load_s - read_s) / total, 3),
                     "decoding": "entropy decoding + dequantization" if v.latent else "media decoding + fitting"}, **v.extra}


def report(name: str, v: Variant, parts: list[str], result: dict) -> dict:
    entry = {k: x for k, x in result.items() if k != "time_per_epoch"} | loading(v, parts)
    entry["time"] |= result.get("time_per_epoch", {})
    spread = "" if entry.get("test_acc_std") is None else f" +- {entry['test_acc_std']:.4f}"
    print(f"{name:16s} acc {entry['test_acc']:.4f}{spread}  train {entry['train_s']:7.1f} s  "
          f"{entry['bytes_per_example']:9.1f} B/example  load {entry['load_items_s']:8.1f} items/s  "
          f"dims {entry['dims']}  {entry['flops_per_example'] / 1e6:.1f} MFLOP", flush=True)
    return entry


def load_variants(root: Path, parts: list[str], work: Path, modality: str, wanted: list[str], args) -> tuple[dict, dict, dict]:
    """Every wanted variant's stored examples -> (name -> Variant, name -> skipped reason, the full signals)."""
    image, size = modality == "image", args.size
    full = signals(root, parts, size, image)
    originals = pooled(full, parts)["x"]  # every item's fitted signal, in pooled order

    def moved(x: torch.Tensor) -> torch.Tensor | None:
        """Pooled signals x moved as --shifts asks, (A, N, ...); None without it."""
        return stacked(moves(x, args.shifts), move_count(x, args.shifts)) if args.shifts > 1 else None

    classes = full["classes"]
    shipped = {m.name for m in walloc.list_models()}
    loaded, skipped = {}, {}
    full_name = "pixels_full" if image else "samples_full"
    if full_name in wanted:
        loaded[full_name] = Variant(full, image, moved(originals), False, {
            "stored_as": "the original files, decoded and fitted to --size", "factor": size // LATENT_GRID})
    for name in [n for n in VARIANTS[modality] if n in MODELS]:
        model = MODELS[name]
        needs = name in wanted or any(DOWN_OF.get(w) == name for w in wanted) or (name == "walloc_16x" and "jpeg_equal_bytes" in wanted)
        if not needs:
            continue
        if model not in shipped:
            skipped[name] = {"skipped": f"model '{model}' is not shipped (walloc.list_models(): {sorted(shipped)})"}
            print(f"{name:16s} skipped: {skipped[name]['skipped']}", flush=True)
            continue
        codec = walloc.load(model)
        quality = codec.quality(args.quality).quality
        lat = latents(root, parts, work / f"{model}_q{quality}", model, size, args.workers, classes, quality, CHANNELS[modality])
        dims = math.prod(lat[parts[0]]["x"].shape[1:])
        for down in [d for d, of in DOWN_OF.items() if of == name and d in wanted]:
            rate = 0 if image else io.read_audio(full[parts[0]]["items"][0].path)[1].sample_rate
            numbers = args.down_numbers or dims
            splits = downsampled(full, parts, work / (f"{down}_{numbers}" if args.down_numbers else down), numbers, image, rate)
            shape = splits[parts[0]]["x"].shape
            loaded[down] = Variant(splits, image, moved(pooled(splits, parts)["x"]), False, {
                "stored_as": "PNG (lossless)" if image else "FLAC (16-bit, lowered sample rate)",
                **({"matches": name} if numbers == dims else {"numbers_asked": numbers, "latent_numbers": dims}),
                "factor": shape[-1] / LATENT_GRID})
        if name in wanted:
            loaded[name] = Variant(lat, False, latent_alternates(codec, originals, quality, args.shifts), True, {
                "model": model, "model_version": zoo.version_of(codec.config), "quality": quality, "convert_s": round(lat["convert_s"], 1), "factor": 1,
                "stored_as": f".wlc files from `walloc latents --size {size} --channels {CHANNELS[modality]}`, read with LatentDataset"})
        if name == "walloc_16x" and "jpeg_equal_bytes" in wanted:
            target = float(np.mean([b for p in parts for b in lat[p]["bytes"]]))
            quality = matching_quality(originals[torch.linspace(0, len(originals) - 1, min(100, len(originals))).long()], target)
            folder = work / f"jpeg_q{quality}"
            write_tree(full, parts, folder, ".jpg", lambda x, path: path.write_bytes(jpeg_bytes(x, quality)))
            splits = load_tree(folder, parts, classes, lambda f, cl: data.MediaDataset(f, classes=cl), keep=to_u8)
            coded = (torch.stack([io.read_image(jpeg_bytes(c, quality), native=True)[0] for c in d]) for d in moves(originals, args.shifts))
            loaded["jpeg_equal_bytes"] = Variant(splits, True, stacked(coded, move_count(originals, args.shifts)) if args.shifts > 1 else None, False, {
                "stored_as": f"JPEG quality {quality} of the crops (Pillow), the quality whose mean size is closest "
                             f"to walloc_16x's .wlc ({target:.0f} B)", "jpeg_quality": quality, "factor": size // LATENT_GRID})
    return loaded, skipped, full


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="JSON results file")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "images" / "clothing"),
                    help="a tree of class folders, or of train/validation/test folders of class folders")
    ap.add_argument("--work", default=None, help="folder for the latent and downsampled datasets (default: next to --out)")
    ap.add_argument("--size", type=int, default=None, help="image side / clip length (default 256 / 8192)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N files per class and part (quick check)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads for training")
    ap.add_argument("--workers", type=int, default=2, help="worker processes for `walloc latents`")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--seeds", type=int, default=1, help="train every variant with this many seeds (without --folds)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--quality", type=int, default=None, help="quality of every latent variant (default: each model's default)")
    ap.add_argument("--width", type=int, default=0, help="the body's first width (default 48 images, 64 audio)")
    ap.add_argument("--folds", type=int, default=0, help="K-fold cross-validation over all items")
    ap.add_argument("--variants", default="", help="comma-separated (default: all of the modality)")
    ap.add_argument("--latent-hidden", type=int, default=0, help="mixing width of the latent stems (default: LatentStem's, "
                    "the larger of the latent channels and the body width)")
    ap.add_argument("--latent-depth", type=int, default=1, help="3x3 layers of the latent stems (the last one halves the grid)")
    ap.add_argument("--latent-shuffle", action="store_true", help="image latent stems by way of a twice finer grid (shuffle_stem)")
    ap.add_argument("--latent-stride", type=int, default=2, choices=(1, 2),
                    help="latent stems' stride: 1 runs the body at the latents' own grid (4x its FLOPs for images)")
    ap.add_argument("--latent-norm", default="channel", choices=("channel", "global"),
                    help="latents standardized per channel (default), or by one mean and std over all channels, "
                         "LatentStem without its per-channel BatchNorm (a control: do the faint channels matter?)")
    ap.add_argument("--down-numbers", type=int, default=0,
                    help="numbers per example of the down variants (default: as many as their latents; "
                         "a control, e.g. the numbers that hold the band the latents keep)")
    ap.add_argument("--shifts", type=int, default=1,
                    help="train on the signals moved by k/N of a latent position too, k < N along each axis (latents re-encoded)")
    ap.add_argument("--load-only", action="store_true", help="measure the stored examples and their loading; no training")
    args = ap.parse_args()
    if args.latent_shuffle and args.latent_stride != 2:
        ap.error("--latent-shuffle ends on the body's grid by itself: it takes no --latent-stride")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    work = Path(args.work) if args.work else out.parent / (out.stem + "_work")
    root = Path(args.data)
    if not root.is_dir():
        sys.exit(f"bench_cdl: {root} is not a folder")
    parts = parts_of(root)
    if not args.folds and not args.load_only and parts == [""]:
        sys.exit(f"bench_cdl: {root} has no train/validation/test folders; use --folds K")
    modality = modality_of(root)
    args.size = args.size or DEFAULT_SIZE[modality]
    wanted = args.variants.split(",") if args.variants else list(VARIANTS[modality])
    unknown = set(wanted) - set(VARIANTS[modality])
    if unknown:
        sys.exit(f"bench_cdl: unknown {modality} variants {sorted(unknown)}; known: {', '.join(VARIANTS[modality])}")
    if args.limit:
        root = subset(root, work / f"subset_{args.limit}", args.limit)
    root, unreadable = readable(root, work / "readable", modality)
    for line in unreadable[:5]:
        print(f"bench_cdl: left out (unreadable): {line}", file=sys.stderr)
    if unreadable:
        print(f"bench_cdl: {len(unreadable)} unreadable file(s) left out of every variant", file=sys.stderr)
    t0 = time.perf_counter()
    loaded, skipped, full = load_variants(root, parts, work, modality, wanted, args)
    classes = full["classes"]
    counts = ", ".join(f"{p or 'all'} {len(full[p]['y'])}" for p in parts)
    print(f"data: {counts}, {len(classes)} classes, "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    width = args.width or WIDTH[modality]
    setups = {k: Setup(v.latent, v.extra["factor"], width, args.epochs, args.batch, args.lr, args.latent_hidden or None,
                       args.latent_depth, args.latent_shuffle, args.latent_stride,
                       args.latent_norm == "channel" or not v.latent) for k, v in loaded.items()}
    correct: dict[str, torch.Tensor] = {}
    results: dict = dict(skipped)
    if args.load_only:
        results |= {k: loading(v, parts) for k, v in loaded.items()}
    elif args.folds:
        cv, correct = cross_validate({k: (pooled(v.splits, parts), v.pixels, v.alternates, setups[k]) for k, v in loaded.items()},
                                     len(classes), args)
        for k, v in loaded.items():
            results[k] = report(k, v, parts, {"test_acc": cv[k]["cv_acc"], "test_acc_std": None, **cv[k]})
    else:
        for k, v in loaded.items():
            r, correct[k] = train_seeds(Inputs(v.splits, pixels=v.pixels, alternates=v.alternates, flips=not v.latent,
                                               per_channel=setups[k].per_channel), len(classes), setups[k],
                                        [args.seed + i for i in range(args.seeds)])
            results[k] = report(k, v, parts, r)
    items = sum(len(full[p]["y"]) for p in parts)
    doc = {
        "benchmark": "compressed-domain classification, benchmarks/bench_cdl.py",
        "modality": modality,
        "protocol": "loading only, no training" if args.load_only else
                    f"{args.folds}-fold stratified cross-validation over all {items} items, last epoch tested"
                    if args.folds else "train / validation (epoch selection) / test splits",
        "data": str(Path(args.data)), "items": items, "unreadable": unreadable, "parts": {p or "all": len(full[p]["y"]) for p in parts}, "classes": classes,
        "size": args.size, "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "width": width,
        "latent_hidden": args.latent_hidden or None, "latent_depth": args.latent_depth, "latent_shuffle": args.latent_shuffle,
        "latent_stride": args.latent_stride, "latent_norm": args.latent_norm,
        "crop": f"{CROP}/{LATENT_GRID} of each axis, aligned to latent positions",
        "seeds": [args.seed + i for i in range(1 if args.folds else args.seeds)], "folds": args.folds,
        "threads": args.threads, "limit": args.limit, "shifts": args.shifts,
        "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
        "total_s": round(time.perf_counter() - t0, 1),
        "variants": {k: results[k] for k in VARIANTS[modality] if k in results},
        "paired": {f"{a} - {b}": paired(correct[a], correct[b]) for a, b in PAIRS if a in correct and b in correct},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out} ({doc['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
