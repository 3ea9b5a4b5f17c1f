"""Learned per-channel probability model of the latents, frozen to integer CDF tables.

Training uses a flexible univariate density per latent channel (the non-parametric "factorized prior"
of Balle et al., 2018, "Variational image compression with a scale hyperprior", Appendix 6.1): a small
monotone network gives the cumulative distribution, so the probability of any quantization bin is a
difference of two CDF values. For coding, each quality's bins are integrated once, at export, into
integer frequency tables that ship inside the model file: the decoder reads integers only and so
decodes bit-exactly on every machine.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .tables import PRECISION, Tables  # Tables re-exported: it lived here first


class FactorizedDensity(nn.Module):
    """One learned univariate CDF per channel, parameterised to be monotone."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 32.0):
        super().__init__()
        sizes = (1, *filters, 1)
        scale = init_scale ** (1.0 / (len(sizes) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(sizes) - 1):
            init = math.log(math.expm1(1.0 / scale / sizes[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, sizes[i + 1], sizes[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, sizes[i + 1], 1) - 0.5))
            if i < len(sizes) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, sizes[i + 1], 1)))

    def logits_cdf(self, x: torch.Tensor) -> torch.Tensor:
        """x (C, N) -> logit of each channel's CDF at x, (C, N)."""
        h = x.unsqueeze(1)
        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            h = torch.matmul(F.softplus(m), h) + b
            if i < len(self.factors):
                h = h + torch.tanh(self.factors[i]) * torch.tanh(h)
        return h.squeeze(1)

    def bin_probability(self, y: torch.Tensor, step: float | torch.Tensor) -> torch.Tensor:
        """Probability of the bin of width ``step`` centred on each y; y (B, K, *S)."""
        flat = y.transpose(0, 1).reshape(y.shape[1], -1)
        if torch.is_tensor(step):
            step = step.transpose(0, 1).reshape(y.shape[1], -1) if step.dim() else step
        lower = self.logits_cdf(flat - step / 2)
        upper = self.logits_cdf(flat + step / 2)
        sign = -torch.sign(lower + upper).detach()  # evaluate in the tail that keeps precision
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return p.clamp_min(1e-9)

    def bits(self, y: torch.Tensor, step: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Estimated code length of (noisy) latents y in bits, summed over everything."""
        return -torch.log2(self.bin_probability(y, step)).sum()

    @torch.no_grad()
    def freeze(self, step: float, bound: float, precision: int = PRECISION) -> "Tables":
        """Integrate the density over the bins of one quantizer step into integer CDF tables."""
        kmax = int(math.floor(bound / step + 0.5))
        edges = (torch.arange(-kmax, kmax + 2, dtype=torch.float64) - 0.5) * step  # 2*kmax+2 edges
        channels = self.matrices[0].shape[0]
        cdf = torch.sigmoid(self.double().logits_cdf(edges.expand(channels, -1))).numpy()
        self.float()
        cdf[:, 0], cdf[:, -1] = 0.0, 1.0  # the end bins take the tails
        return Tables.from_pmf(np.diff(cdf, axis=1), offset=kmax, precision=precision)
