"""Colorization trained on latents against the same network trained on pixels: a task whose output is a signal.

    python benchmarks/bench_colorize.py --train ../shared/data/images/photos ../shared/data/images/bsds500 \\
        --test ../shared/data/images/kodak --out docs/results/bench_colorize.json --figure docs/results/colorize.png
    python benchmarks/bench_colorize.py --train DIR --test DIR --limit 8 --epochs 1 --size 64 --out /tmp/x.json  # quick check

Every image (``--train`` folders, searched recursively; ``--test`` never trained on) is brought to RGB
and to a ``--size`` square center crop (:func:`walloc.features.fit`). The input is its gray version
(BT.601 luma, :func:`walloc.features.gray`), the output its colour version. Trained variants, all
:class:`walloc.nn.LatentUNet` U-Nets whose bottom level is at the same grid (size / 32) with the same
widths (64, 128, 128 from the latents' grid down; each finer level above it half the width of the
next, at least 16), trained with the same epochs, batches, optimizer and loss: the mean squared error of
the final RGB output at full size against the colour image:

  latents      rgb-16x latents of the gray image (12 x size/8 x size/8, dequantized at the model's default
               quality, computed once before training, and for the mirrored images) -> predicted colour
               latents -> the rgb-16x decoder (Codec.decode_latents; the loss is taken after it)
  pixels_down  the gray image at size/4 (64 x 64 for 256: the latents' number of positions per axis x 2)
               -> colour at that size -> bicubic up to full size
  pixels_full  the gray image at full size -> colour at full size

Reference lines, without training: ``gray`` (the input itself), ``codec_ceiling`` (the colour image
through rgb-16x: what ``latents`` could reach), ``luma_kept`` (pixels_down's chroma on the original
full-resolution luma, YCbCr BT.601: the classical shortcut), ``latents_luma_kept`` (the same for the
latents' output). Per variant: ``psnr`` (dB, mean over test images), ``ms_ssim`` (pytorch_msssim,
data range 1), ``train_s``, ``infer_ms_per_item`` (batches of 8 from what is stored: latents through net
and decoder; pixels through resizing, net and upsampling), ``params`` (trained parameters).
Training items are mirrored at random (the same draws for every variant). ``table(doc)`` renders the
JSON as markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import walloc  # noqa: E402
from walloc import features, io  # noqa: E402
from walloc.errors import WallocError  # noqa: E402
from walloc.nn import LatentUNet  # noqa: E402

MODEL = "rgb-16x"
TAIL = (64, 128, 128)    # widths from the latents' grid down, for every variant
TRAINED = ("latents", "pixels_down", "pixels_full")
REFERENCES = ("gray", "codec_ceiling", "luma_kept", "latents_luma_kept")
Batches = Callable[[torch.Generator], Iterable[tuple[object, torch.Tensor]]]


# -- shared by the dense benchmarks ----------------------------------------------------------------------
def widths(factor: int, first: int = TAIL[0]) -> tuple[int, ...]:
    """U-Net widths for an input grid ``factor`` times finer per axis than the latents' grid: the
    shared tail (``first``, then twice that twice), with one level more per halving above it, each
    half as wide as the next (at least 16)."""
    extra = round(math.log2(factor)) if factor > 1 else 0
    tail = (first, 2 * first, 2 * first)
    return tuple(max(16, first >> (extra - i)) for i in range(extra)) + tail


def params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def train(net: nn.Module, predict: Callable[[nn.Module, object], torch.Tensor], batches: Batches, steps: int,
          epochs: int, lr: float, seed: int, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.mse_loss) -> dict:
    """AdamW with a one-cycle schedule on ``loss`` of ``predict``'s output (default: the mean squared
    error); ``batches(g)`` yields one epoch's (inputs, targets), drawn with ``g`` (seeded: the same
    draws for every variant)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(1, steps * epochs))
    losses = []
    start = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        total, n = 0.0, 0
        for inputs, targets in batches(g):
            opt.zero_grad(set_to_none=True)
            value = loss(predict(net, inputs), targets)
            value.backward()
            opt.step()
            sched.step()
            total, n = total + value.item() * len(targets), n + len(targets)
        losses.append(round(total / max(n, 1), 6))
        print(f"  epoch {epoch + 1}/{epochs}: loss {losses[-1]:.5f} ({time.perf_counter() - start:.0f} s)", flush=True)
    return {"train_s": round(time.perf_counter() - start, 3), "loss_history": losses}   # ms: tiny runs take under 0.05 s


def infer(net: nn.Module | None, predict: Callable[[nn.Module | None, object], torch.Tensor],
          items: list[object]) -> tuple[torch.Tensor, float]:
    """Outputs for every batch in ``items`` (in eval mode, no graph) and the milliseconds per item."""
    if net is not None:
        net.eval()
    out, count = [], 0
    start = time.perf_counter()
    with torch.inference_mode():
        for inputs in items:
            y = predict(net, inputs)
            out.append(y)
            count += len(y)
    return torch.cat(out), round(1000 * (time.perf_counter() - start) / max(count, 1), 4)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def number(x: float | int | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def table(doc: dict) -> str:
    """The JSON of this benchmark as a markdown table, one row per variant."""
    rows = [[f"`{k}`", v["input"], number(v.get("psnr"), ".2f"), number(v.get("ms_ssim"), ".4f"),
             number(v.get("train_s"), ",.0f"), number(v.get("infer_ms_per_item"), ".1f"), number(v.get("params"), ",")]
            for k, v in doc["variants"].items()]
    return markdown(["variant", "input", "PSNR dB", "MS-SSIM", "train s", "infer ms / item", "params"], rows)


# -- data ---------------------------------------------------------------------------------------------------
def image_files(folders: list[str], limit: int) -> list[Path]:
    files = sorted(p for f in folders for p in Path(f).rglob("*") if p.is_file() and is_image(p))
    if not files:
        raise WallocError(f"no images under {', '.join(folders)}")
    return files[:limit] if limit else files


def is_image(p: Path) -> bool:
    return p.suffix.lower() in io.IMAGE_SUFFIXES


def load(files: list[Path], size: int) -> torch.Tensor:
    """(N, 3, size, size) uint8 (a quarter of the floats' memory), RGB center crops."""
    out = torch.empty(len(files), 3, size, size, dtype=torch.uint8)
    for i, p in enumerate(files):
        out[i] = features.load_signal(p, size, 3)[0].mul(255).round().byte()
    return out


def floats(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255)


def resize(x: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    if mode == "bilinear":
        return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def luma_kept(colour: torch.Tensor, luma: torch.Tensor) -> torch.Tensor:
    """RGB with the chroma of ``colour`` (YCbCr, BT.601) and the luma ``luma``."""
    y = features.gray(colour)
    return (colour - y + luma).clamp(0, 1)  # R, G, B all move with Y by the same amount at fixed Cb, Cr


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10((x - y).square().mean((1, 2, 3)).clamp_min(1e-10))


def scores(out: torch.Tensor, target: torch.Tensor) -> dict:
    from pytorch_msssim import ms_ssim

    win = 11 if min(out.shape[-2:]) > 160 else 3  # five scales of the 11-tap window need more than 160 pixels per side
    s = ms_ssim(out, target, data_range=1.0, size_average=False, win_size=win)
    p = psnr(out, target)
    return {"psnr": round(p.mean().item(), 3), "ms_ssim": round(s.mean().item(), 4), "psnr_per_image": [round(v, 2) for v in p.tolist()]}


def figure(rows: dict[str, torch.Tensor], path: Path, columns: int = 4) -> None:
    """One row of test images per variant (the first ``columns`` test images)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.2 * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(columns):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(images):
                ax.imshow(images[c].permute(1, 2, 0).clamp(0, 1).numpy())
        axes[r][0].set_title(name, loc="left", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", nargs="+", required=True, help="folders of training images (searched recursively)")
    ap.add_argument("--test", required=True, help="folder of test images (never trained on)")
    ap.add_argument("--out", required=True, help="JSON results file")
    ap.add_argument("--figure", default=None, help="PNG with one row of test images per variant (default: next to --out)")
    ap.add_argument("--size", type=int, default=256, help="center crop side (a multiple of 32)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images (quick check)")
    ap.add_argument("--test-limit", type=int, default=0, help="use only the first N test images")
    ap.add_argument("--quality", type=int, default=None, help="rgb-16x quality of the latents (default: the model's)")
    args = ap.parse_args()
    if args.size <= 0 or args.size % 32:
        sys.exit(f"bench_colorize: --size must be a positive multiple of 32, not {args.size}")
    if args.epochs < 1:
        sys.exit("bench_colorize: --epochs must be at least 1")
    for folder in args.train + [args.test]:
        if not Path(folder).is_dir():
            sys.exit(f"bench_colorize: {folder} is not a folder")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    try:
        codec = walloc.load(MODEL)
        q = codec.quality(args.quality).quality
        train_files, test_files = image_files(args.train, args.limit), image_files([args.test], args.test_limit)
        train_u8, test_u8 = load(train_files, args.size), load(test_files, args.size)
    except WallocError as e:
        sys.exit(f"bench_colorize: {e}")
    codec.net.requires_grad_(False)
    size, down = args.size, args.size // 4
    test_colour = floats(test_u8)
    test_gray = features.gray(test_colour)

    # precomputed once: gray latents of every training image and of its mirror, and of the test images
    start = time.perf_counter()
    train_latents = torch.stack([features.encode(codec, features.gray(floats(train_u8.flip(-1) if m else train_u8)),
                                                 kind="dequantized", quality=q) for m in (0, 1)])
    test_latents, test_targets = features.pairs(codec, test_colour, features.gray, quality=q)
    encode_s = time.perf_counter() - start
    print(f"data: {len(train_files)} train, {len(test_files)} test images, latents {tuple(train_latents.shape[1:])} "
          f"in {encode_s:.0f} s", flush=True)
    n = len(train_u8)
    steps = math.ceil(n / args.batch)

    def batches(make_input: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], object]) -> Batches:
        """One epoch's batches: (the variant's input, the colour images), items mirrored at random."""
        def epoch(g: torch.Generator) -> Iterable[tuple[object, torch.Tensor]]:
            order, mirror = torch.randperm(n, generator=g), torch.randint(0, 2, (n,), generator=g)
            for idx in order.split(args.batch):
                m = mirror[idx]
                colour = floats(train_u8[idx])
                colour[m.bool()] = colour[m.bool()].flip(-1)
                yield make_input(idx, m, colour), colour
        return epoch

    def pixel_input(side: int) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        return lambda idx, m, colour: features.gray(colour) if side == size else resize(features.gray(colour), side)

    def latent_predict(net, y):
        return codec.decode_latents(net(y), q, grad=torch.is_grad_enabled())

    def down_predict(net, x):
        return resize(net(x), size, "bicubic")

    def full_predict(net, x):
        return net(x).clamp(0, 1)

    variants = {
        "latents": (lambda: LatentUNet(codec, codec, widths=widths(1)), latent_predict,
                    batches(lambda idx, m, colour: train_latents[m, idx]), test_latents.split(8), f"12x{size // 8}x{size // 8} rgb-16x"),
        "pixels_down": (lambda: LatentUNet(1, 3, widths=widths(2)), down_predict,
                        batches(pixel_input(down)), [resize(x, down) for x in test_gray.split(8)], f"1x{down}x{down} gray"),
        "pixels_full": (lambda: LatentUNet(1, 3, widths=widths(8)), full_predict,
                        batches(pixel_input(size)), test_gray.split(8), f"1x{size}x{size} gray"),
    }
    results, outputs = {}, {}
    for name, (make_net, predict, make, test_inputs, shape) in variants.items():
        torch.manual_seed(args.seed)  # the same seed for every variant's initialization
        net = make_net()
        print(f"{name}: {params(net):,} parameters", flush=True)
        r = train(net, predict, make, steps, args.epochs, args.lr, args.seed)
        outputs[name], ms = infer(net, predict, test_inputs)
        results[name] = {"input": shape, **scores(outputs[name], test_colour), **r, "infer_ms_per_item": ms,
                         "params": params(net)}
        print(f"{name}: {results[name]['psnr']:.2f} dB, MS-SSIM {results[name]['ms_ssim']:.4f}, {r['train_s']:.0f} s", flush=True)
    ceiling, ceiling_ms = infer(None, lambda _, y: codec.decode_latents(y, q), test_targets.split(8))
    references = {
        "gray": ("1 gray", test_gray.expand(-1, 3, -1, -1), None),
        "codec_ceiling": ("colour through rgb-16x", ceiling, ceiling_ms),
        "luma_kept": ("pixels_down chroma + full luma", luma_kept(outputs["pixels_down"], test_gray), None),
        "latents_luma_kept": ("latents chroma + full luma", luma_kept(outputs["latents"], test_gray), None),
    }
    for name, (shape, out, ms) in references.items():
        outputs[name] = out
        results[name] = {"input": shape, **scores(out, test_colour), "train_s": None, "infer_ms_per_item": ms, "params": 0}
    order = ("gray",) + TRAINED + ("luma_kept", "latents_luma_kept", "codec_ceiling")
    figure({k: outputs[k] for k in order} | {"original": test_colour}, Path(args.figure) if args.figure else
           Path(args.out).with_suffix(".png"))
    latent, down_r, full_r = (results[k] for k in TRAINED)
    doc = {
        "benchmark": "colorization on latents and pixels, benchmarks/bench_colorize.py",
        "train": args.train, "test": args.test, "train_images": n, "test_images": len(test_files),
        "test_files": [p.name for p in test_files], "size": size, "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
        "seed": args.seed, "threads": args.threads, "limit": args.limit, "model": MODEL, "quality": q,
        "model_version": codec.config.get("version"), "latent_encode_s": round(encode_s, 1),
        "decoder_params": sum(p.numel() for p in codec.net.parameters()),
        "loss": "MSE of the RGB output at full size", "torch": torch.__version__, "python": platform.python_version(),
        "variants": {k: results[k] for k in order},
        "targets": {
            "latents_minus_pixels_down_psnr": round(latent["psnr"] - down_r["psnr"], 3),
            "latents_minus_pixels_down_ms_ssim": round(latent["ms_ssim"] - down_r["ms_ssim"], 4),
            "latents_minus_pixels_full_psnr": round(latent["psnr"] - full_r["psnr"], 3),
            "pixels_full_over_latents_train_s": round(full_r["train_s"] / max(latent["train_s"], 1e-9), 2),
        },
        "total_s": round(time.perf_counter() - t0, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc))
    print(f"wrote {out} ({doc['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
