"""A differentiable stand-in for the context coder's rate, so that training prices what files spend.

The factorized density prices every latent of a channel alike. The shipped coder
(:mod:`walloc.context`) does not: it picks each latent's table from its causal neighbours'
magnitudes, or codes its residual from the neighbours' average, and spends 25-35% fewer bits.
Trained against the factorized price, lambda trades distortion for bits the streams never cost,
and a channel whose neighbours predict it well looks as dear as one they do not.

:class:`ContextRate` is a parametric version of those buckets: each latent, in units of its
quantizer step, is priced by a Laplace distribution whose mean is a learned fraction of the
average of its left and top neighbours, and whose log-scale is linear in ``log(1 + m)`` and
``log(1 + g)``, with ``m = 2|L| + 2|T| + |TL| + |TR|`` (the coder's magnitude activity) and
``g = |L - TL| + |T - TL| + |T - TR|`` (its gradient activity). Four numbers per channel, learned
with the network; nothing of it ships: the coder's tables are still fitted on counts at export.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_LOG_HALF = math.log(0.5)


def laplace_bin_log2(v: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log2 of the probability that Laplace(0, scale) falls in the unit bin centred on v.

    Computed on |v| (the density is symmetric), in log space in the tail, where the two CDF
    values are too close to subtract."""
    a = v.abs()
    tail = _LOG_HALF - (a - 0.5) / scale + torch.log(-torch.expm1(-1.0 / scale))  # a >= 1/2
    inner = torch.log((1 - 0.5 * torch.exp(-(0.5 - a).clamp_min(0) / scale) - 0.5 * torch.exp(-(a + 0.5) / scale)).clamp_min(1e-12))
    return torch.where(a >= 0.5, tail, inner).clamp_min(math.log(1e-9)) / math.log(2)


class ContextRate(nn.Module):
    """Code length of noisy latents under causal-neighbourhood Laplace models, one per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.mix = nn.Parameter(torch.full((channels,), -2.0))          # sigmoid: share of (L + T) / 2 in the mean
        self.scale = nn.Parameter(torch.tensor([0.0, 0.5, 0.0]).repeat(channels, 1))  # log-scale: 1, log(1+m), log(1+g)

    def bits(self, y: torch.Tensor, step: float) -> torch.Tensor:
        """Estimated code length in bits of latents y (B, K, H, W) or (B, K, L) at quantizer ``step``
        (y noisy: rounded latents plus uniform noise of one step), summed over everything."""
        u = y / step
        if u.dim() == 3:
            u = u.unsqueeze(2)  # audio: one row, left neighbours only
        p = F.pad(u, (1, 1, 1, 0))  # zero outside, as the coder's chunks have it
        left, top, tl, tr = p[..., 1:, :-2], p[..., :-1, 1:-1], p[..., :-1, :-2], p[..., :-1, 2:]
        m = 2 * left.abs() + 2 * top.abs() + tl.abs() + tr.abs()
        g = (left - tl).abs() + (top - tl).abs() + (top - tr).abs()
        view = (1, -1, 1, 1)
        w = self.scale
        log_scale = w[:, 0].view(view) + w[:, 1].view(view) * torch.log1p(m) + w[:, 2].view(view) * torch.log1p(g)
        mean = torch.sigmoid(self.mix).view(view) * (left + top) / 2
        return -laplace_bin_log2(u - mean, log_scale.clamp(-4, 8).exp()).sum()

    def fit(self, latents: list[torch.Tensor], steps: list[float], iters: int = 300, lr: float = 0.05) -> float:
        """Fit the stand-in alone to fixed latents, each at every step (noisy as in training), so that
        training starts from prices that mean something; returns the last bits per latent."""
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(0)
        noisy = [(y + s * (torch.rand(y.shape, generator=gen) - 0.5), s) for y in latents for s in steps]
        count = sum(y.numel() for y, _ in noisy)
        for _ in range(iters):
            loss = sum(self.bits(y, s) for y, s in noisy) / count
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss.item()
