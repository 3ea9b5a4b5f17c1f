"""How small could the latents get? A neural autoregressive model as a yardstick for the entropy coder.

    python benchmarks/bench_entropy_bound.py --out FILE.json [--model rgb-16x] [--qualities 1,4] [--steps 3000]

The `.wlc` coder codes each latent with a table chosen from its decoded neighbours (walloc.context).
To judge how much any better entropy model could still save on the *same* integer latents (issue
target: `.wlc` at most 0.70x the lossless WebP of the latents), this trains a PixelCNN-style model
(van den Oord et al., 2016) on the model's training latents: masked convolutions see every channel
at the positions before the current one in raster order and the lower channels at the current
position (5x5 then 3x3, 3x3, 1x1: a causal window of radius 4 over all channels), and predict a
discretized mixture of three logistics (Salimans et al., 2017) per latent. Such a model decodes one
latent at a time and would be far too slow for a codec; it is a bound on what causal context can
give, not a proposal.

Reported per quality on the evaluation images (Kodak, never trained on), in bytes:
ideal code lengths under the factorized tables, the context model and the neural model (coding
overhead and stream headers excluded), the `.wlc` files as `walloc` writes them (headers included),
and lossless WebP of the latents (as in bench_latent_storage.py); each as a ratio to WebP.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import walloc  # noqa: E402
from walloc import context  # noqa: E402
from walloc.train.export import eval_files  # noqa: E402
from walloc.train.loop import TrainConfig, make_data  # noqa: E402
from bench_latent_storage import webp_bytes  # noqa: E402

MIXTURE = 3


class GroupConv2d(nn.Conv2d):
    """Convolution over channel groups (one group per latent channel) that sees only what the decoder
    has when it decodes a latent of output group ``o`` (``relation(i, o)``: may group ``i`` be read):

    - taps "before" (raster order): the groups allowed by ``earlier`` (default: every group) at the
      positions before the current one, and those allowed by ``relation`` at the current position
      (PixelCNN's mask 'A' with ``i < o``, 'B' with ``i <= o``);
    - taps "all": the allowed groups at every tap; "around": the same but the current position.
    """

    def __init__(self, groups: int, fin: int, fout: int, kernel: int, relation, taps: str, earlier=None):
        super().__init__(groups * fin, groups * fout, kernel, padding=kernel // 2)
        g_in = torch.arange(groups * fin) // fin
        g_out = torch.arange(groups * fout) // fout
        allowed = relation(g_in[None, :], g_out[:, None]).float()
        c = kernel // 2
        mask = torch.zeros_like(self.weight)
        if taps == "before":
            seen = 1 if earlier is None else earlier(g_in[None, :], g_out[:, None]).float()[:, :, None]
            mask[:, :, :c] = seen if earlier is None else seen[..., None]
            mask[:, :, c, :c] = seen
            mask[:, :, c, c] = allowed
        else:
            mask[:] = allowed[:, :, None, None]
            if taps == "around":
                mask[:, :, c, c] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def _lower(i, o):
    return i < o


def _upto(i, o):
    return i <= o


def _same(i, o):
    return i == o


def _none(i, o):
    return torch.zeros_like(i == o)


class RasterModel(nn.Module):
    """Every latent given all channels at the positions before it in raster order and the lower
    channels at its own position (5x5, 3x3, 3x3, 1x1: radius 4). Decoding is one latent at a time."""

    own_channel_only = False

    def __init__(self, channels: int, features: int = 16):
        super().__init__()
        c, f = channels, features
        self.channels = c
        # own channel only: no other channel anywhere, so the channels could decode in parallel
        first, later, earlier = (_none, _same, _same) if self.own_channel_only else (_lower, _upto, None)
        self.body = nn.Sequential(
            GroupConv2d(c, 1, f, 5, first, "before", earlier), nn.GELU(),
            GroupConv2d(c, f, f, 3, later, "before", earlier), nn.GELU(),
            GroupConv2d(c, f, f, 3, later, "before", earlier), nn.GELU(),
            GroupConv2d(c, f, f, 1, later, "before", earlier), nn.GELU(),
            nn.Conv2d(c * f, c * 3 * MIXTURE, 1, groups=c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        return self.body(x).view(b, self.channels, 3 * MIXTURE, h, w)


class CheckerboardModel(nn.Module):
    """Decodable in 2C parallel passes (He et al., 2021, checkerboard; Minnen & Singh, 2020, channel
    conditioning): channel by channel, first the anchors (x + y even), then the rest. A latent sees
    the lower channels everywhere in a 7x7 window and, if it is not an anchor, its own channel's anchors."""

    def __init__(self, channels: int, features: int = 16):
        super().__init__()
        c, f = channels, features
        self.channels = c
        self.lower = GroupConv2d(c, 1, f, 7, _lower, "all")
        self.own = GroupConv2d(c, 1, f, 7, _same, "around")
        self.body = nn.Sequential(
            nn.GELU(),
            GroupConv2d(c, f, f, 1, _upto, "all"), nn.GELU(),
            GroupConv2d(c, f, f, 1, _upto, "all"), nn.GELU(),
            nn.Conv2d(c * f, c * 3 * MIXTURE, 1, groups=c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        anchor = ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 == 0).float()
        hidden = self.lower(x) + self.own(x * anchor) * (1 - anchor)
        return self.body(hidden).view(b, self.channels, 3 * MIXTURE, h, w)


class RasterOwnModel(RasterModel):
    """The raster model restricted to each latent's own channel: sequential within a channel,
    parallel across channels (as the context coder's chunks are)."""

    own_channel_only = True


MODELS = {"raster": RasterModel, "raster-own": RasterOwnModel, "checkerboard": CheckerboardModel}


def code_bits(params: torch.Tensor, x: torch.Tensor, kmax: int, scale: float) -> torch.Tensor:
    """Ideal code length (bits) of integer latents x in [-kmax, kmax] under the discretized mixtures;
    the end bins take the tails, so every symbol of the alphabet has its probability."""
    logit_w, mu, log_s = params.chunk(3, 2)
    mu, inv = mu * scale, torch.exp(-log_s.clamp(-7, 7)) / scale
    v = x.unsqueeze(2)
    upper = torch.where(v >= kmax, 1.0, torch.sigmoid((v + 0.5 - mu) * inv))
    lower = torch.where(v <= -kmax, 0.0, torch.sigmoid((v - 0.5 - mu) * inv))
    logp = torch.logsumexp(F.log_softmax(logit_w, 2) + torch.log((upper - lower).clamp_min(1e-12)), 2)
    return -logp.sum() / math.log(2)


def crops(planes: list[np.ndarray], size: int, count: int, rng: np.random.Generator) -> torch.Tensor:
    out = []
    for _ in range(count):
        y = planes[rng.integers(len(planes))]
        i, j = rng.integers(y.shape[1] - size + 1), rng.integers(y.shape[2] - size + 1)
        out.append(y[:, i:i + size, j:j + size])
    return torch.from_numpy(np.stack(out).astype(np.float32))


def fit_bound(kind: str, train: list[np.ndarray], kmax: int, steps: int, seed: int,
              log_every: int = 250) -> tuple[nn.Module, float]:
    """Train the neural model on training latents (random 32 x 32 windows, batch 16, Adam)
    -> (model, the scale its outputs are read at: the latents' mean magnitude, at least 1)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    scale = float(max(1.0, np.mean([np.abs(y).mean() for y in train])))
    model = MODELS[kind](train[0].shape[0])
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps, pct_start=0.05)
    start = time.perf_counter()
    for step in range(steps):
        x = crops(train, 32, 16, rng)
        loss = code_bits(model(x), x, kmax, scale) / x.numel()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            print(f"  step {step:5d}  {loss.item():.4f} bits/latent  {time.perf_counter() - start:.0f} s", flush=True)
    return model, scale


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="rgb-16x")
    ap.add_argument("--qualities", default="", help="comma-separated qualities (default: all)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--context", choices=sorted(MODELS), default="raster",
                    help="raster: sequential PixelCNN (the bound); raster-own: the same within each channel only; "
                         "checkerboard: 2C parallel passes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    codec = walloc.load(args.model)
    if codec.modality != "image":
        sys.exit("bench_entropy_bound: image models only")
    cfg = TrainConfig.load(ROOT / "configs" / f"{args.model}.toml")
    files = eval_files(cfg)
    if not files:
        sys.exit(f"bench_entropy_bound: no evaluation images in {cfg.eval_folders}")
    qualities = [int(q) for q in args.qualities.split(",")] if args.qualities else codec.stream.qualities
    train_latents = [codec.encode(x.unsqueeze(0))[0] for x in make_data(cfg).signals()]
    images = [walloc.io.read_image(p, native=True) for p in files]
    rows = {}
    for q in qualities:
        kmax = codec.quality(q).tables.offset
        train = [codec.quantize(y, q).numpy().astype(np.int64) for y in train_latents]
        print(f"q{q}: fitting on {sum(y.size for y in train):,} training latents", flush=True)
        model, scale = fit_bound(args.context, train, kmax, args.steps, args.seed)
        row = {"factorized": 0.0, "context": 0.0, "neural_ar": 0.0, "wlc_file": 0, "webp_lossless": 0}
        table = codec.stream.tables(q)
        for x, meta in images:
            data = codec.compress(x, q, meta)
            y = codec.read_latents(data)[1][0].numpy().astype(np.int64)
            row["factorized"] += table.information_bits((y + table.offset).reshape(len(y), -1)) / 8
            row["context"] += context.information_bits(codec.quality(q).context, y) / 8
            with torch.no_grad():
                t = torch.from_numpy(y[None].astype(np.float32))
                row["neural_ar"] += code_bits(model(t), t, kmax, scale).item() / 8
            row["wlc_file"] += len(data)
            row["webp_lossless"] += webp_bytes(y)
        webp = row["webp_lossless"]
        rows[q] = {k: round(v) for k, v in row.items()} | {f"{k}_to_webp": round(v / webp, 3) for k, v in row.items() if k != "webp_lossless"}
        print(f"q{q}: " + ", ".join(f"{k} {v:,.0f} B ({v / webp:.3f}x)" for k, v in row.items()), flush=True)
    result = {"model": args.model, "context": args.context, "images": len(files), "steps": args.steps, "torch": torch.__version__,
              "qualities": rows, "target_to_webp": 0.70}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
