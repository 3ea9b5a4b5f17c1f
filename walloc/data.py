"""Datasets for compressed-domain learning: folder trees of media or ``.wlc`` files with labels.

A tree holds one file per example, its label being the name of the folder it lies in
(``train/dress/0001.jpg`` -> ``dress``); ``walloc latents SRC DST`` mirrors a media tree into a tree of
``.wlc`` files, or packs them into tar shards (``--shard-size``: ``shard-00000.tar`` holding
``dress/0001.wlc``, ..., the layout WebDataset reads), which :class:`LatentDataset` reads back as
(latents, label) pairs. Decoding is entropy
decoding only (no network), done in DataLoader workers, or for a whole batch at once onto the GPU
(``device="cuda"`` and ``collate_fn=dataset.collate``; the CUDA coder decodes factorized streams
there). :class:`MediaDataset` is the pixel (or sample) baseline over the same kind of tree.

    train = LatentDataset("latents/train", normalize=True)
    test = LatentDataset("latents/test", classes=train.classes, normalize=train.normalize)
    loader = DataLoader(train, batch_size=64, shuffle=True, num_workers=2)

A root may be a URL (``s3://bucket/latents/train``, see :mod:`walloc.urls`). Indexing reads one
example at a time (one ranged GET each on an object store); for training from an object store
iterate ``train.stream(shuffle=True)`` instead, which reads whole shards, fetching ahead.
"""

from __future__ import annotations

import random
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch.utils.data import Dataset, IterableDataset, default_collate, get_worker_info

from . import features, io, urls
from .codec import Codec, checked_device
from .errors import MediaError
from .tree import MEDIA_SUFFIXES, Item, classes_of, scan, scan_streams


def _labels(items: Sequence[Item], classes: Sequence[str] | None) -> tuple[list[str], list[int]]:
    classes = list(classes) if classes is not None else classes_of(items)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({it.label for it in items} - set(index))
    if unknown:
        raise MediaError(f"labels {unknown} are not among the classes {classes}")
    return classes, [index[it.label] for it in items]


# -- datasets -------------------------------------------------------------------------------------------------
Normalize = tuple[torch.Tensor, torch.Tensor]  # per-channel mean and std, each (C,)


def standardize(x: torch.Tensor, normalize: Normalize | None, spatial: int) -> torch.Tensor:
    """Per-channel (x - mean) / std of an item (C, *S) or a batch (B, C, *S) with ``spatial`` trailing axes."""
    if normalize is None:
        return x
    mean, std = (t.to(x.device).view(-1, *(1,) * spatial) for t in normalize)
    return (x - mean) / std


class _TreeDataset(Dataset):
    """A labelled folder tree of files; subclasses turn a file into a tensor."""

    suffixes: frozenset = frozenset()
    contents = ""  # what the tree holds, for the error when it holds none

    def __init__(self, root: str | Path, classes: Sequence[str] | None = None):
        self.root = urls.location(root)
        self.items = self.scan(self.root)
        if not self.items:
            raise MediaError(f"no {self.contents} under {self.root}")
        self.classes, self.targets = _labels(self.items, classes)

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def scan(cls, root: Path | str) -> list[Item]:
        return scan(root, cls.suffixes)

    def load(self, index: int) -> torch.Tensor:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.load(index), self.targets[index]


class LatentDataset(_TreeDataset):
    """(latents, label) pairs from a tree of ``.wlc`` files or tar shards of them, e.g. one written by
    ``walloc latents``.

    Latents are (G*K, *s) tensors: ``kind="dequantized"`` (default; floats on the quantizer grid) or
    ``"int"`` (symbols). ``normalize`` standardizes each latent channel: ``True`` measures mean and
    std on (up to ``stats_items`` items of) this dataset; a (mean, std) pair reuses another's (pass
    ``train.normalize`` to the test set). ``classes`` fixes the label order (default: sorted folders).

    Decoding runs where ``__getitem__`` runs: in DataLoader workers. With a CUDA ``device``, items are
    the raw streams instead and ``collate`` decodes each batch in one call, onto the GPU (with the
    CUDA coder for factorized streams; context-model streams decode on CPU threads first)
    (``DataLoader(ds, batch_size=..., collate_fn=ds.collate)``); ``collate`` works in both modes.
    """

    contents = ".wlc files (or tar shards of them)"

    def __init__(self, root: str | Path, *, classes: Sequence[str] | None = None, kind: str = "dequantized",
                 normalize: bool | Normalize | None = None, codec: Codec | None = None,
                 device: str | torch.device | None = None, stats_items: int = 512):
        super().__init__(root, classes)
        features._check_kind(kind, ("int", "dequantized"))
        self.kind, self.codec = kind, codec
        self.device = checked_device(device) if device is not None else None
        self.normalize: Normalize | None = None
        first = self._decode([self.read(0)])
        self.shape, self.spatial = tuple(first.shape[1:]), first.dim() - 2
        if normalize is True:
            self.normalize = self.stats(stats_items)
        elif normalize not in (None, False):
            mean, std = normalize  # type: ignore[misc]
            self.normalize = (torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32))

    @classmethod
    def scan(cls, root: Path | str) -> list[Item]:
        return scan_streams(root)

    @property
    def on_gpu(self) -> bool:
        return self.device is not None and self.device.type == "cuda"

    def read(self, index: int) -> bytes:
        return self.items[index].read()

    def _decode(self, streams: list[bytes]) -> torch.Tensor:
        x = features.decode_streams(streams, codec=self.codec, kind=self.kind, device=self.device)
        return standardize(x if self.kind == "int" and self.normalize is None else x.float(), self.normalize, x.dim() - 2)

    def load(self, index: int) -> torch.Tensor:
        """The latents of one item, decoded (and standardized) here."""
        return self._decode([self.read(index)])[0]

    def __getitem__(self, index: int):
        return self._example(self.read(index), index)

    def _example(self, raw: bytes, index: int) -> tuple:
        return (raw if self.on_gpu else self._decode([raw])[0]), self.targets[index]

    def stream(self, shuffle: bool = False, seed: int = 0, prefetch: int = 4) -> "LatentStream":
        """These examples as an iterable dataset read file by file (shard by shard), for object stores."""
        return LatentStream(self, shuffle, seed, prefetch)

    def collate(self, batch: list) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of items -> (latents (B, G*K, *s), labels (B,)); decodes raw streams in one call."""
        if self.on_gpu:
            streams, labels = zip(*batch)
            return self._decode(list(streams)), torch.tensor(labels, device=self.device)
        return default_collate(batch)

    def stats(self, limit: int | None = 512) -> Normalize:
        """Per-channel mean and std of the (unnormalized) latents of up to ``limit`` evenly spread items."""
        n = len(self) if limit is None else min(limit, len(self))
        picks = torch.linspace(0, len(self) - 1, n).round().long().tolist()
        total = sq = count = 0
        saved, self.normalize = self.normalize, None
        try:
            for start in range(0, n, 64):
                x = self._decode([self.read(i) for i in picks[start: start + 64]]).double()
                x = x.transpose(0, 1).reshape(x.shape[1], -1)
                total, sq, count = total + x.sum(1), sq + (x * x).sum(1), count + x.shape[1]
        finally:
            self.normalize = saved
        mean = total / count
        std = (sq / count - mean * mean).clamp_min(1e-12).sqrt()
        return mean.float().cpu(), std.float().cpu()


class LatentStream(IterableDataset):
    """The examples of a :class:`LatentDataset` read one whole file at a time: a shard is one read (one
    GET on an object store, not one per example), and ``prefetch`` files are fetched ahead on threads
    while the current one decodes. With ``shuffle`` the order of files and of the examples within each
    file changes every epoch (:meth:`set_epoch`). DataLoader workers each take every n-th file; items
    and ``collate`` are those of the dataset."""

    def __init__(self, dataset: LatentDataset, shuffle: bool = False, seed: int = 0, prefetch: int = 4):
        self.dataset, self.shuffle, self.seed, self.prefetch, self.epoch = dataset, shuffle, seed, max(1, prefetch), 0
        self.files: dict[Path | str, list[int]] = {}
        for i, it in enumerate(dataset.items):
            self.files.setdefault(it.path, []).append(i)
        self.collate = dataset.collate

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        files = list(self.files)
        if self.shuffle:
            rng.shuffle(files)
        worker = get_worker_info()
        if worker is not None:
            files = files[worker.id::worker.num_workers]
        with ThreadPoolExecutor(self.prefetch) as pool:
            ahead = deque(pool.submit(urls.read_bytes, f) for f in files[:self.prefetch])
            for k, f in enumerate(files):
                raw = ahead.popleft().result()
                if k + self.prefetch < len(files):
                    ahead.append(pool.submit(urls.read_bytes, files[k + self.prefetch]))
                order = list(self.files[f])
                if self.shuffle:
                    rng.shuffle(order)
                for i in order:
                    span = self.dataset.items[i].span
                    yield self.dataset._example(raw if span is None else raw[span[0]: span[0] + span[1]], i)


class MediaDataset(_TreeDataset):
    """(signal, label) pairs from a tree of images or audio: the pixel (sample) baseline.

    Each file is read, brought to ``channels`` (see :func:`walloc.features.to_channels`) and fitted to
    ``size`` (see :func:`walloc.features.fit`), so that the signals a LatentDataset was made from
    (``walloc latents --size --channels``) and their latents can be compared.
    """

    suffixes = MEDIA_SUFFIXES
    contents = "image or audio files"

    def __init__(self, root: str | Path, *, classes: Sequence[str] | None = None, size: int | None = None,
                 channels: int | None = None):
        super().__init__(root, classes)
        self.size, self.channels = size, channels

    def load(self, index: int) -> torch.Tensor:
        return signal_of(self.items[index].path, self.size, self.channels)[0]


def signal_of(source: str | Path, size: int | None = None, channels: int | None = None,
              data: bytes | None = None) -> tuple[torch.Tensor, io.ImageMeta | io.AudioMeta]:
    """:func:`walloc.features.load_signal` of a local file or a URL, or of ``data``, the bytes of the file
    named ``source`` (its name tells image from audio)."""
    if data is None and not urls.is_url(source):
        return features.load_signal(source, size, channels)
    data = urls.read_bytes(source) if data is None else data
    signal, meta = io.read_image(data) if io.modality_of(source, data[:16]) == "image" else io.read_audio(data)
    return features.fit(features.to_channels(signal, channels), size), meta
