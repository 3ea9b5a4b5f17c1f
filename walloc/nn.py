"""Network parts for learning on latents: a stem that lets a standard backbone read latents instead of
pixels, and a latent-to-latent network for dense tasks (the output is latents to decode).

A backbone made for pixels starts with a stem that turns many pixels into a few feature channels
on a coarse grid (ResNet: a 7x7 stride-2 convolution and a max pool, 4x fewer positions per axis).
WaLLoC latents already are such a grid: rgb-16x latents of a 256 x 256 image are 12 x 32 x 32, of
an 8,192-sample clip with stereo-5x 108 x 32. :class:`LatentStem` replaces the pixel stem:

- it standardizes each latent channel (a BatchNorm without learned scale), since raw latent
  channels differ in scale by more than an order of magnitude;
- it mixes the channels of each latent position (1x1 convolution, then BatchNorm and ReLU): every
  position holds a whole wavelet neighbourhood, which the first layer should see together;
- it then mixes neighbouring positions (``depth`` 3x3 convolutions with BatchNorm and ReLU, the last
  at ``stride`` 1 or 2), to the width and grid the backbone's first stage expects.

    codec = walloc.load("rgb-16x")
    train = walloc.data.LatentDataset("latents/train")              # (12, 32, 32) per item
    stem = walloc.nn.LatentStem(codec, 64)                             # -> (64, 32, 32)
    net = torch.nn.Sequential(stem, my_backbone_without_its_stem)

For a torchvision ResNet: ``net.conv1 = LatentStem(codec, 64); net.bn1 = net.relu = net.maxpool =
nn.Identity()`` (the stem already ends with BatchNorm and ReLU, at a 32 x 32 grid for 256 x 256
images, where the pixel stem would give 64 x 64).

For tasks whose output is a signal (colorization, separation), :class:`LatentUNet` maps latents to
latents in the layout of a model's own (channels per position, the same grid), so its output goes
straight to :meth:`walloc.Codec.decode_latents`, which can keep the graph for a loss on the signal.

This module needs torch; ``import walloc`` does not load it (``walloc.nn`` imports it on first use).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import WallocError

__all__ = ["LatentStem", "LatentUNet", "conv_bn_relu", "latent_layout"]


def latent_layout(source: Any) -> tuple[int, int]:
    """(channels, spatial dimensions) of the latents a source yields: a channel count (images, 2-D),
    a :class:`walloc.Codec` (its latent dimension; audio latents are 1-D), or a
    :class:`walloc.data.LatentDataset` (the latents it decodes, channel groups included)."""
    if isinstance(source, int) and not isinstance(source, bool):
        if source <= 0:
            raise WallocError(f"the latents need a positive channel count, not {source}")
        return source, 2
    if hasattr(source, "cfg"):
        return source.cfg.latent_dim, source.cfg.dims
    if hasattr(source, "shape") and hasattr(source, "spatial"):
        return source.shape[0], source.spatial
    raise WallocError(f"LatentStem needs a channel count, a Codec or a LatentDataset, not {type(source).__name__}")


def conv_bn_relu(dims: int, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """Convolution ('same' padding, no bias), BatchNorm, ReLU, 1-D or 2-D: the layer stems and bodies are made of."""
    conv = (nn.Conv1d, nn.Conv2d)[dims - 1]
    norm = (nn.BatchNorm1d, nn.BatchNorm2d)[dims - 1]
    return nn.Sequential(conv(cin, cout, kernel, stride, kernel // 2, bias=False), norm(cout), nn.ReLU(inplace=True))


class LatentStem(nn.Sequential):
    """Latents (B, C, *s) -> features (B, out_channels, *ceil(s / stride)) for a backbone's first stage.

    ``source``: a channel count (2-D latents, or ``dims`` says), a Codec or a LatentDataset (the
    channel count and dimensions are read from it). ``groups``: channel groups of the signals (latents
    of a 6-channel image coded with an RGB model have 2 groups of the model's channels). ``hidden``:
    width of the per-position mixing (default: the larger of the latent and output channels).
    ``depth``: 3x3 layers after the mixing (more see a wider neighbourhood before the backbone).
    """

    def __init__(self, source: Any, out_channels: int, *, stride: int = 1, hidden: int | None = None,
                 groups: int = 1, dims: int | None = None, depth: int = 1):
        channels, spatial = latent_layout(source)
        channels *= groups
        dims = dims or spatial
        if dims not in (1, 2):
            raise WallocError(f"latents are 1-D (audio) or 2-D (images), not {dims}-D")
        if stride not in (1, 2):
            raise WallocError(f"the stem's stride is 1 or 2, not {stride}")
        if depth < 1:
            raise WallocError(f"the stem needs at least one 3x3 layer, not depth {depth}")
        hidden = hidden or max(channels, out_channels)
        norm = (nn.BatchNorm1d, nn.BatchNorm2d)[dims - 1]
        spatial = [conv_bn_relu(dims, hidden if i == 0 else out_channels, out_channels, 3, stride if i == depth - 1 else 1)
                   for i in range(depth)]
        super().__init__(norm(channels, affine=False), conv_bn_relu(dims, channels, hidden, 1), *spatial)
        self.in_channels, self.out_channels, self.dims, self.stride = channels, out_channels, dims, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dims + 2 or x.shape[1] != self.in_channels:
            raise WallocError(f"LatentStem expects latents (batch, {self.in_channels}, {'length' if self.dims == 1 else 'height, width'}),"
                              f" got {tuple(x.shape)}")
        return super().forward(x.float())


class LatentUNet(nn.Module):
    """Latents (B, C_in, *s) -> latents (B, C_out, *s) on the same grid: a U-Net, 1-D or 2-D.

    ``source`` and ``target`` (default: ``source``) are channel counts, Codecs or LatentDatasets (see
    :func:`latent_layout`): gray-image latents of rgb-16x in, colour-image latents of rgb-16x out.
    ``widths``: one per level, the first at the input's grid, each next one at half its grid (a
    stride-2 layer down, nearest upsampling and a skip connection up); ``blocks`` conv-BN-ReLU layers
    per level and way. Inputs are standardized per channel first (BatchNorm without learned scale,
    as in :class:`LatentStem`), and a 1x1 linear path from them is added to the U-Net's output.
    Where ``C_out`` is a multiple of ``C_in`` the output is residual: the input itself (repeated,
    e.g. gray -> three equal channels) plus that sum times each input channel's running std, so the
    network starts at the input (the gray image, the mixture) and learns in standardized units, not
    in raw latent units (whose channels differ in scale by more than 10x, too far for an optimizer's
    steps); the output layers start at zero, so the network starts at the input. Any grid works
    (pixels too), which lets a benchmark use the same family on pixels.
    """

    def __init__(self, source: Any, target: Any = None, *, widths: tuple[int, ...] = (64, 128, 128), blocks: int = 1,
                 dims: int | None = None):
        super().__init__()
        cin, spatial = latent_layout(source)
        cout = latent_layout(target)[0] if target is not None else cin
        dims = dims or spatial
        if dims not in (1, 2):
            raise WallocError(f"latents are 1-D (audio) or 2-D (images), not {dims}-D")
        if not widths or blocks < 1:
            raise WallocError("a LatentUNet needs at least one width and one block per level")
        conv = (nn.Conv1d, nn.Conv2d)[dims - 1]
        # statistics averaged over every batch seen (momentum None), so the residual's scale is right from the first one
        self.norm = (nn.BatchNorm1d, nn.BatchNorm2d)[dims - 1](cin, affine=False, momentum=None)

        def stage(a: int, b: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(conv_bn_relu(dims, a, b, 3, stride), *(conv_bn_relu(dims, b, b) for _ in range(blocks - 1)))

        self.down = nn.ModuleList([stage(cin, widths[0])] + [stage(a, b, 2) for a, b in zip(widths, widths[1:])])
        self.up = nn.ModuleList([stage(b + a, a) for a, b in zip(widths, widths[1:])])
        self.head = conv(widths[0], cout, 1)
        self.linear = conv(cin, cout, 1)
        self.in_channels, self.out_channels, self.dims = cin, cout, dims
        self.repeats = cout // cin if cout % cin == 0 else 0
        if self.repeats:  # start at the input itself
            for layer in (self.head, self.linear):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dims + 2 or x.shape[1] != self.in_channels:
            raise WallocError(f"LatentUNet expects (batch, {self.in_channels}, {'length' if self.dims == 1 else 'height, width'}),"
                              f" got {tuple(x.shape)}")
        x = x.float()
        z = self.norm(x)
        skips, h = [], z
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        for layer, skip in zip(reversed(self.up), reversed(skips[:-1])):
            h = layer(torch.cat([skip, F.interpolate(h, size=skip.shape[2:], mode="nearest")], 1))
        out = self.head(h) + self.linear(z)
        if not self.repeats:
            return out
        std = (self.norm.running_var + self.norm.eps).sqrt().repeat(self.repeats)
        return x.repeat(1, self.repeats, *[1] * self.dims) + out * std.view(1, -1, *[1] * self.dims)
