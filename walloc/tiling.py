"""Band-wise encoding and decoding with torch, on any device: bounded memory for huge signals, with no seams at all.

Bands follow :func:`walloc.bands.plan` (the margins that make every kept row what one pass over the whole
signal gives), as the numpy encoder and the ONNX decoder do.

Band results equal whole-signal results up to float rounding, so tiles leave no visible seams.
Integer inputs (uint8 images, int16 audio) go to the CPU encoder as they are (it reads them as
``to_float`` would convert them) or else are converted one band at a time, and outputs can be written
straight into integer tensors, so a 100-megapixel image never exists as float32 in full.
Each band's decoder network runs on one torch thread, bands in parallel, so a stream decodes to the
same samples whatever the thread count.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from . import wavelet
from .bands import DECODE_WORKERS, Band, band_runs, group_channels, latent_extent, plan, run_bands
from .model import WallocNet
from .signal import to_float

def pad_to_block(x: torch.Tensor, block: int, skip_first: bool = False) -> torch.Tensor:
    """Edge-replicate the spatial axes of (B, C, *S) up to a multiple of block (all but the first
    with ``skip_first``: a band's rows are already whole blocks)."""
    extra = [0 if skip_first and i == 0 else (-s) % block for i, s in enumerate(x.shape[2:])]
    if any(extra):
        x = F.pad(x, [v for p in reversed(extra) for v in (0, p)], mode="replicate")
    return x


def encode(net: WallocNet, x: torch.Tensor, device: torch.device,
           emit: Callable[[int, int, int, torch.Tensor], None], gain: float = 1.0) -> tuple[int, ...]:
    """Encode signal x (C, *S), at ``gain`` times its level, band by band; ``emit(group, r0, r1, latents)`` receives each band.

    Channels are grouped by the model's channel count, the last group repeating its last channel.
    Returns the latent extent.
    """
    m, block = net.cfg.channels, net.cfg.block_size
    extent = latent_extent(net.cfg, tuple(x.shape))
    for b in plan(net.cfg, -(-x.shape[0] // m), extent):
        rows = b.signal_rows(block, x.shape[1])
        rows_of = x[:, rows] if isinstance(rows, slice) else x.index_select(1, torch.from_numpy(rows))  # inside: a view
        channels = group_channels(b.group, m, x.shape[0])
        group = rows_of[channels] if isinstance(channels, slice) else rows_of.index_select(0, torch.tensor(channels))
        band = group.unsqueeze(0)  # strided views go to the packet as they are
        direct = device.type == "cpu" and wavelet.reads_samples(band)
        if not direct:
            band = to_float(band)  # converted, and float samples checked for NaN / inf here...
        with torch.inference_mode():  # ...or, read directly, in the encoder's output
            y = net.encode(pad_to_block(band, net.cfg.block_size, skip_first=True).to(device), check=direct and band.is_floating_point(), gain=gain)
        emit(b.group, b.r0, b.r1, y[0, :, b.margin: b.margin + b.r1 - b.r0])
    return extent


def _single_threaded() -> None:
    """Pin a worker thread's torch ops to one thread. Torch keeps the count per thread, set from the
    process default when it first sees the thread: initialised first, a later reset cannot reach it."""
    torch.get_num_threads()
    torch.set_num_threads(1)


def _coefficients(net: WallocNet, pieces: list[tuple[torch.Tensor, int, int]], quality: int | None) -> torch.Tensor:
    """Packet coefficients of a band's runs of rows (see :func:`decode`); each piece is (latents
    with their margins, offset of the kept rows, kept rows)."""
    parts = []
    with torch.inference_mode():
        for y, skip, n in pieces:
            parts.append(net.decode_coefficients(y, quality)[:, :, skip: skip + n])
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)  # one run (a single band): no copy


def decode(net: WallocNet, latents: Callable[[int, int, int], torch.Tensor], groups: int, latent_extent: tuple[int, ...],
           device: torch.device, emit: Callable[[int, int, int, torch.Tensor], None], quality: int | None = None) -> None:
    """Decode band by band; ``latents(group, r0, r1)`` gives float latents (K, r1-r0, *rest), rounded
    at ``quality`` (for a decoder that is told the step; see :meth:`WallocNet.decode_coefficients`), and
    ``emit(group, row0, row1, signal)`` receives each band of signal rows (model channels, rows, *rest),
    in band order, from the calling thread (as ``latents`` is called).

    Same stream, same output, for any thread count: on the CPU each band's decoder network runs on
    one torch thread, with the bands spread over a pool of ``torch.get_num_threads()`` threads
    (:func:`walloc.bands.run_bands`, the plan and schedule the ONNX backend shares). The
    arithmetic of torch's CPU kernels depends on its thread count (a 1x1 convolution is a GEMM on
    one thread and a oneDNN kernel on more; vectorised element-wise kernels change between vector
    and scalar code where the threads' ranges meet); one thread per band fixes it. The packet synthesis (C++, bit-identical on any number of threads)
    runs on the calling thread while the pool works on the next bands. A signal of one band (a Kodak
    image) thus runs its network on one core.
    """
    rows, block = latent_extent[0], net.cfg.block_size

    def pieces(band: Band) -> list[tuple[torch.Tensor, int, int]]:
        return [(latents(band.group, lo, hi).unsqueeze(0).to(device), skip, n) for lo, hi, skip, n in band_runs(net.cfg, rows, band)]

    def finish(band: Band, coeff: torch.Tensor) -> None:
        with torch.inference_mode():
            signal = net.synthesis(coeff)
        skip, r0, r1 = band.margin, band.r0, band.r1
        emit(band.group, r0 * block, r1 * block, signal[0, :, skip * block: (skip + r1 - r0) * block])

    bands = plan(net.cfg, groups, latent_extent)
    threads = torch.get_num_threads()
    # a GPU's arithmetic ignores CPU threads; one thread is the pool's arithmetic
    workers = 1 if device.type != "cpu" else min(threads, len(bands), DECODE_WORKERS)
    try:
        run_bands(bands, pieces, lambda p: _coefficients(net, p, quality), finish, workers, _single_threaded)
    finally:
        torch.set_num_threads(threads)  # the workers' count is also torch's default for new threads
