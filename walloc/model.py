"""The autoencoder: wavelet packet, a linear encoder, bounded latents, and a nonlinear decoder.

WaLLoC is asymmetric on purpose: the encoder is one 1x1 convolution over the packet channels (so
encoding costs little more than the wavelet transform), and the decoder is a small residual network at
latent resolution that undoes what a linear code loses. Latents are squashed through a Gaussian CDF
into (-2**(b-1), 2**(b-1)) so that every quantized latent is an integer of a known, small range.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import wavelet
from .config import NetConfig
from .errors import MediaError


def _conv(dims: int, cin: int, cout: int, kernel: int) -> nn.Module:
    conv = nn.Conv2d if dims == 2 else nn.Conv1d
    return conv(cin, cout, kernel, padding=kernel // 2)


class ResBlock(nn.Module):
    def __init__(self, dims: int, width: int, kernel: int):
        super().__init__()
        self.body = nn.Sequential(_conv(dims, width, width, kernel), nn.GELU(), _conv(dims, width, width, kernel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class WallocNet(nn.Module):
    """Packet transform -> 1x1 encoder -> Gaussian-CDF bound; and back through the decoder."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        d, p, k = cfg.dims, cfg.packet_channels, cfg.latent_dim
        self.encoder = _conv(d, p, k, 1)
        # The decoder is the transpose of the linear code plus a residual network that learns the rest.
        self.linear_decoder = _conv(d, k, p, 1)
        self.decoder = nn.Sequential(
            _conv(d, k, cfg.width, cfg.kernel), nn.GELU(),
            *[ResBlock(d, cfg.width, cfg.kernel) for _ in range(cfg.blocks)],
            _conv(d, cfg.width, p, 1),
        )
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)
        if cfg.qualities:
            # The decoder is told which quantizer step made its latents: per quality, a gain and an offset
            # for each latent channel (where the centroid of a bin lies depends on the step) and for each
            # channel of its first layer. Zero is the identity, so an unconditioned decoder grows into one.
            self.latent_film = nn.Parameter(torch.zeros(cfg.qualities, 2, k))
            self.hidden_film = nn.Parameter(torch.zeros(cfg.qualities, 2, cfg.width))

    # -- the two halves ---------------------------------------------------------------------------
    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        packet = wavelet.packet2d if self.cfg.dims == 2 else wavelet.packet1d
        return packet(x, self.cfg.levels, self.cfg.extension)

    def synthesis(self, c: torch.Tensor) -> torch.Tensor:
        inverse = wavelet.ipacket2d if self.cfg.dims == 2 else wavelet.ipacket1d
        return inverse(c, self.cfg.levels, self.cfg.extension)

    def encode(self, x: torch.Tensor, check: bool = False, gain: float = 1.0) -> torch.Tensor:
        """Signal (B, C, *S) with S divisible by 2**J -> bounded float latents (B, K, *S/2**J).

        ``check`` refuses a signal with NaN or infinite samples, found where it is cheapest: in the
        unbounded latents (16x smaller than the signal for rgb-16x), which are finite exactly when every
        sample is (the transform only adds and scales; the bound would turn an infinity into 1).
        ``gain`` codes the signal at that multiple of its level (in the weights: the packet is linear).
        """
        weight = self.encoder.weight if gain == 1.0 else self.encoder.weight * gain
        z = wavelet.packet_conv(x, self.cfg.levels, weight, self.encoder.bias, self.cfg.extension)
        if check and not bool(torch.isfinite(z).all()):
            raise MediaError("the signal holds NaN or infinite values")
        if torch.is_grad_enabled() and z.requires_grad:
            return self.cfg.bound * torch.erf(z / math.sqrt(2.0))
        return z.div_(math.sqrt(2.0)).erf_().mul_(self.cfg.bound)  # same values, in place: no temporaries

    def _conditioned(self, quality: int | None) -> int | None:
        """The row of the quality tables for ``quality``, or None for an unconditioned decode."""
        if quality is None or not self.cfg.qualities:
            return None
        if not 1 <= quality <= self.cfg.qualities:
            raise ValueError(f"quality {quality} is not one of the decoder's 1..{self.cfg.qualities}")
        return quality - 1

    def _film(self, x: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        """x * (1 + gain) + offset, per channel (film is one quality's (2, channels) row)."""
        shape = (1, -1) + (1,) * self.cfg.dims
        return x * (1.0 + film[0].view(shape)) + film[1].view(shape)

    def decode_coefficients(self, y: torch.Tensor, quality: int | None = None) -> torch.Tensor:
        """Bounded (possibly quantized) latents -> packet coefficients; the Gaussian CDF is undone first.
        ``quality`` (1-based) names the quantizer step the latents were rounded with, for a decoder
        conditioned on it; None decodes unconditioned (unquantized latents)."""
        row = self._conditioned(quality)
        if row is not None:
            y = self._film(y, self.latent_film[row])
        u = (y / self.cfg.bound).clamp(-1.0 + 1e-6, 1.0 - 1e-6)
        z = math.sqrt(2.0) * torch.erfinv(u)
        if row is None:
            h = self.decoder(z)
        else:
            h = self._film(self.decoder[0](z), self.hidden_film[row])
            for layer in self.decoder[1:]:
                h = layer(h)
        return self.linear_decoder(z).add_(h)  # in place: no third packet-sized tensor

    def decode(self, y: torch.Tensor, quality: int | None = None) -> torch.Tensor:
        """Latents -> signal (see :meth:`decode_coefficients` for ``quality``)."""
        return self.synthesis(self.decode_coefficients(y, quality))

    @torch.no_grad()
    def grow_from(self, state: dict[str, torch.Tensor]) -> None:
        """Start from the weights of a model with the same code and a shallower decoder: its blocks
        come first, added blocks start as the identity (their last layer is zero), and its output
        layer stays the output layer, so the grown network decodes exactly as the old one did."""
        old_out = max(int(k.split(".")[1]) for k in state if k.startswith("decoder."))
        new_out = len(self.decoder) - 1
        if old_out > new_out:
            raise ValueError(f"cannot grow a decoder of {old_out - 2} blocks into one of {new_out - 2}")
        own = self.state_dict()
        for key, value in state.items():
            parts = key.split(".")
            if parts[0] == "decoder" and int(parts[1]) == old_out:
                key = ".".join(["decoder", str(new_out)] + parts[2:])
            own[key] = value
        for i in range(old_out, new_out):  # added residual blocks: identity at the start
            own[f"decoder.{i}.body.2.weight"].zero_()
            own[f"decoder.{i}.body.2.bias"].zero_()
        self.load_state_dict(own)

    @property
    def receptive_rows(self) -> int:
        """Latent rows on each side that one output row of the decoder network depends on."""
        return self.cfg.receptive_rows

    @torch.no_grad()
    def init_linear(self, components: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """Start from the PCA (KLT) of packet coefficients: the best linear code of this size.

        components (K, P) orthonormal rows, mean (P,), scale (K,) the divisor that puts each component
        at unit-ish spread before the Gaussian CDF.
        """
        w = components / scale[:, None]
        shape = (self.cfg.latent_dim, self.cfg.packet_channels) + (1,) * self.cfg.dims
        self.encoder.weight.copy_(w.reshape(shape))
        self.encoder.bias.copy_(-(w @ mean))
        back = (components * scale[:, None]).t()
        self.linear_decoder.weight.copy_(back.reshape((self.cfg.packet_channels, self.cfg.latent_dim) + (1,) * self.cfg.dims))
        self.linear_decoder.bias.copy_(mean)
