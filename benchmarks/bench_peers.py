"""Speed and memory of WaLLoC beside the codecs users would otherwise pick, on Kodak, in one run.

    python benchmarks/bench_peers.py --out out/bench_peers.json [--images 4] [--repeats 3] [--threads 1]

Codecs (every one goes from 8-bit RGB pixels to bytes and back to pixels, through walloc.eval's
adapters or the same interface):
  walloc_rgb16x          the shipped rgb-16x model at its default quality (network + rANS, real .wlc)
  webp, jpeg             Pillow, at the sweep quality whose mean bpp on these images is nearest WaLLoC's
  compressai_factorized  CompressAI bmshj2018-factorized, N=128 M=192 (its published size for
                         qualities 1-5), random weights, model.update(): compress()/decompress() to bytes
  compressai_hyperprior  CompressAI bmshj2018-hyperprior, N=128 M=192, likewise
  reference_walloc16x    the reference WaLLoC architecture (PyPI walloc 1.2.1 Codec2D: J=3,
                         latent_dim=12, lightweight 1x1 encoder, decoder = diffusers' autoencoder_kl
                         Decoder with one UpDecoderBlock2D of width Nd=768, 2 layers, mid-block
                         attention), random weights; latents stored as raw int8 (no entropy coder,
                         which only flatters it). Built here with diffusers because that package
                         imports torchvision, which does not load beside this CPU torch.
Speed does not depend on the weights (same operations either way); rate and quality of the random-
weight networks mean nothing and are not reported.

Each codec runs in a fresh worker process: one untimed round trip on the first image (its peak
resident memory above the process's resident size just before it is ``peak_mb``; glibc's mmap
threshold is pinned so that freed buffers are returned and the peak is this call's own), then
``repeats`` timed passes over the images; MP/s = pixels / encode (decode) seconds of the median pass.
A codec whose library is missing is listed under ``skipped`` with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KODAK = Path(os.environ.get("WALLOC_DATA", ROOT.parent / "shared" / "data")) / "images" / "kodak"
NAMES = ("walloc_rgb16x", "webp", "jpeg", "compressai_factorized", "compressai_hyperprior", "reference_walloc16x")
# speed goals of the issue: (what, codec, kind, target ratio of WaLLoC over it)
GOALS = [("encode vs WebP at a similar bpp", "webp", "enc_mps", 3.0),
         ("encode vs CompressAI factorized", "compressai_factorized", "enc_mps", 30.0),
         ("decode vs reference WaLLoC architecture", "reference_walloc16x", "dec_mps", 10.0),
         ("decode vs CompressAI factorized", "compressai_factorized", "dec_mps", 2.0)]


# ------------------------------------------------------------------------------------------------
# memory: peak resident set of one call, Linux (/proc); None elsewhere


def _status(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def peak_of(fn) -> tuple[object, float | None]:
    """Run fn(); return its result and the peak resident MB it added over the RSS before it."""
    base = _status("VmRSS")
    ok = reset_peak()
    result = fn()
    hwm = _status("VmHWM")
    return result, (round(hwm - base, 1) if ok and base is not None and hwm is not None else None)


# ------------------------------------------------------------------------------------------------
# the two network peers, as codecs on bytes


class CompressAICodec:
    """A CompressAI model (random weights, entropy tables built) coding to one bytes object."""

    def __init__(self, kind: str):
        import torch
        from compressai.models import FactorizedPrior, ScaleHyperprior

        torch.manual_seed(0)
        self.net = (FactorizedPrior if kind == "factorized" else ScaleHyperprior)(128, 192).eval()
        self.net.update(force=True)
        self.params = sum(p.numel() for p in self.net.parameters())
        self.name = f"compressai_{kind}"

    def encode(self, pixels: np.ndarray, quality=None) -> bytes:
        import torch

        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div_(255)
        h, w = x.shape[-2:]
        x = torch.nn.functional.pad(x, (0, (-w) % 64, 0, (-h) % 64), mode="replicate")
        with torch.inference_mode():
            out = self.net.compress(x)
        head = np.array([h, w, *out["shape"], len(out["strings"])], np.int32).tobytes()
        body = b"".join(np.int32(len(s[0])).tobytes() + s[0] for s in out["strings"])
        return head + body

    def decode(self, data: bytes) -> np.ndarray:
        import torch

        h, w, sh, sw, n = np.frombuffer(data[:20], np.int32)
        strings, at = [], 20
        for _ in range(n):
            size = int(np.frombuffer(data[at: at + 4], np.int32)[0])
            strings.append([data[at + 4: at + 4 + size]])
            at += 4 + size
        with torch.inference_mode():
            x = self.net.decompress(strings, [int(sh), int(sw)])["x_hat"][0, :, :h, :w]
        return x.clamp(0, 1).mul(255).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


class ReferenceWalloc:
    """The reference WaLLoC 16x architecture: packet J=3 -> 1x1 conv -> bounded int8; KL decoder back."""

    def __init__(self):
        import torch
        from diffusers.models.autoencoders.autoencoder_kl import Decoder

        torch.manual_seed(0)
        self.channels, self.levels, self.latent = 3, 3, 12
        bands = self.channels * 4 ** self.levels                       # 192
        self.encoder = torch.nn.Conv2d(bands, self.latent, 1).eval()
        self.decoder = Decoder(in_channels=self.latent, out_channels=bands, up_block_types=("UpDecoderBlock2D",),
                               block_out_channels=(768,), layers_per_block=2, norm_num_groups=32, act_fn="silu",
                               mid_block_add_attention=True).eval()
        self.params = sum(p.numel() for p in self.decoder.parameters()) + sum(p.numel() for p in self.encoder.parameters())
        self.scale = 127 / 1.85                                          # the reference's latent scale, 8 bits
        self.name = "reference_walloc16x"

    def encode(self, pixels: np.ndarray, quality=None) -> bytes:
        import torch

        from walloc import wavelet

        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div_(255).sub_(0.5)
        h, w = x.shape[-2:]
        x = torch.nn.functional.pad(x, (0, (-w) % 8, 0, (-h) % 8), mode="replicate")
        with torch.inference_mode():
            z = self.encoder(wavelet.packet2d(x, self.levels)) / self.scale
            y = torch.round(127.499 * torch.erf(z / 2 ** 0.5)).to(torch.int8)
        return np.array([h, w, *y.shape[-2:]], np.int32).tobytes() + y.numpy().tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        import torch

        from walloc import wavelet

        h, w, lh, lw = (int(v) for v in np.frombuffer(data[:16], np.int32))
        y = torch.from_numpy(np.frombuffer(data[16:], np.int8).reshape(1, self.latent, lh, lw).astype(np.float32))
        with torch.inference_mode():
            z = self.scale * 2 ** 0.5 * torch.erfinv((y / 127.5).clamp(-0.9999, 0.9999))
            x = wavelet.ipacket2d(self.decoder(z), self.levels)[0, :, :h, :w] + 0.5
        return x.clamp(0, 1).mul(255).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


# ------------------------------------------------------------------------------------------------
# worker: one codec in a fresh process


def build(name: str, threads: int, quality):
    from walloc.eval.codecs import CodecUnavailable, WallocImage
    from walloc.eval.peers import PillowImage

    if name == "walloc_rgb16x":
        codec = WallocImage("rgb-16x", threads)
        return codec, codec.codec.stream.default_quality if quality is None else quality, {"model": "rgb-16x"}
    if name in ("webp", "jpeg"):
        return PillowImage(name, threads), quality, {}
    if name.startswith("compressai_"):
        try:
            codec = CompressAICodec(name.split("_", 1)[1])
        except ImportError as e:
            raise CodecUnavailable(f"CompressAI not importable ({e}); pip install --no-deps compressai==1.2.0") from None
        return codec, None, {"config": "N=128, M=192 (published size for qualities 1-5)", "params_m": round(codec.params / 1e6, 2),
                             "weights": "random"}
    if name == "reference_walloc16x":
        try:
            codec = ReferenceWalloc()
        except ImportError as e:
            raise CodecUnavailable(f"diffusers not importable ({e}); pip install diffusers") from None
        return codec, None, {"config": "J=3, latent_dim=12, Nd=768, lightweight encoder; int8 latents, no entropy coder",
                             "params_m": round(codec.params / 1e6, 2), "weights": "random"}
    raise SystemExit(f"unknown codec {name}")


def nearest_quality(codec, images: list[np.ndarray], target_bpp: float) -> tuple[int, float]:
    """The sweep quality whose mean bpp over the images is nearest the target (untimed)."""
    best = None
    for q in codec.qualities:
        bpp = float(np.mean([8 * len(codec.encode(px, q)) / (px.shape[0] * px.shape[1]) for px in images]))
        if best is None or abs(bpp - target_bpp) < abs(best[1] - target_bpp):
            best = (q, bpp)
    return best


def worker(args) -> dict:
    import torch

    from walloc import metrics
    from walloc.eval.codecs import CodecUnavailable
    from walloc.eval.sweep import read_rgb8

    torch.set_num_threads(args.threads)
    files = sorted(Path(args.data).glob("*.png"))[: args.images]
    images = [read_rgb8(f) for f in files]
    try:
        codec, quality, info = build(args.worker, args.threads, args.quality)
    except CodecUnavailable as e:
        return {"skipped": str(e)}
    if args.worker in ("webp", "jpeg") and args.target_bpp:
        quality, _ = nearest_quality(codec, images, args.target_bpp)
    if quality is not None:
        info["quality"] = quality

    def round_trip():
        return codec.decode(codec.encode(images[0], quality))

    data, enc_peak = peak_of(lambda: codec.encode(images[0], quality))
    _, dec_peak = peak_of(lambda: codec.decode(data))
    round_trip()
    passes = []
    sizes, scores = [], []
    for r in range(args.repeats):
        enc = dec = 0.0
        for px in images:
            t0 = time.perf_counter()
            data = codec.encode(px, quality)
            t1 = time.perf_counter()
            out = codec.decode(data)
            dec += time.perf_counter() - t1
            enc += t1 - t0
            if r == 0:
                sizes.append(8 * len(data) / (px.shape[0] * px.shape[1]))
                scores.append(metrics.psnr(torch.tensor(out).float(), torch.tensor(px).float(), 255.0))
        passes.append((enc, dec))
    pixels = sum(px.shape[0] * px.shape[1] for px in images)
    enc_s = statistics.median(p[0] for p in passes)
    dec_s = statistics.median(p[1] for p in passes)
    out = {"enc_mps": round(pixels / enc_s / 1e6, 4), "dec_mps": round(pixels / dec_s / 1e6, 4),
           "peak_mb": max(v for v in (enc_peak, dec_peak) if v is not None) if enc_peak is not None else None,
           "enc_peak_mb": enc_peak, "dec_peak_mb": dec_peak, **info}
    if "weights" not in info:  # rate and quality are meaningful only for real weights
        out["bpp"], out["psnr"] = round(float(np.mean(sizes)), 4), round(float(np.mean(scores)), 3)
    return out


def run_worker(name: str, args, **extra) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--images", str(args.images), "--repeats", str(args.repeats),
           "--threads", str(args.threads), "--data", str(args.data)]
    for k, v in extra.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072",
               OMP_NUM_THREADS=str(args.threads))
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"skipped": f"worker failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {name}: {result} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="JSON results file")
    ap.add_argument("--images", type=int, default=4, help="first N Kodak images (default 4)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes over the images; the median is kept")
    ap.add_argument("--threads", type=int, default=1, help="threads for torch and every codec (default 1)")
    ap.add_argument("--data", default=str(KODAK), help="folder of PNG images (default: Kodak)")
    ap.add_argument("--codecs", default=",".join(NAMES), help="comma-separated subset of " + ", ".join(NAMES))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--quality", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--target-bpp", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if not Path(args.data).is_dir():
        raise SystemExit(f"no images at {args.data} (set WALLOC_DATA or --data)")
    from walloc.eval.machine import machine

    names = [n.strip() for n in args.codecs.split(",") if n.strip()]
    results: dict[str, dict] = {}
    print(f"bench_peers: {args.images} image(s), {args.repeats} pass(es), {args.threads} thread(s)", file=sys.stderr)
    if "walloc_rgb16x" in names:
        results["walloc_rgb16x"] = run_worker("walloc_rgb16x", args)
    target = results.get("walloc_rgb16x", {}).get("bpp")
    for name in names:
        if name != "walloc_rgb16x":
            results[name] = run_worker(name, args, **({"target_bpp": target} if target and name in ("webp", "jpeg") else {}))
    codecs = {k: v for k, v in results.items() if "skipped" not in v}
    skipped = {k: v["skipped"] for k, v in results.items() if "skipped" in v}
    goals = []
    mine = codecs.get("walloc_rgb16x")
    for what, peer, key, target_ratio in GOALS:
        if mine and peer in codecs:
            ratio = mine[key] / codecs[peer][key]
            goals.append({"goal": f"WaLLoC rgb-16x {what}", "ratio": round(ratio, 2), "target": target_ratio, "met": ratio >= target_ratio})
        else:
            goals.append({"goal": f"WaLLoC rgb-16x {what}", "ratio": None, "target": target_ratio, "met": None})
    doc = {"dataset": f"{args.data} (first {args.images} images)", "images": args.images, "repeats": args.repeats,
           "threads": args.threads, "codecs": codecs, "skipped": skipped, "goals": goals,
           "method": __doc__.split("\n\n", 2)[2].strip().replace("\n", " "), "machine": machine(),
           "command": "python benchmarks/bench_peers.py " + " ".join(sys.argv[1:])}
    doc["machine"]["torch_threads"] = args.threads
    text = json.dumps(doc, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    width = max(map(len, NAMES))
    print(f"{'codec':<{width}}  {'enc MP/s':>9}  {'dec MP/s':>9}  {'peak MB':>8}  setting", file=sys.stderr)
    for name, r in codecs.items():
        setting = r.get("quality", r.get("config", ""))
        print(f"{name:<{width}}  {r['enc_mps']:>9.3f}  {r['dec_mps']:>9.3f}  {r['peak_mb'] if r['peak_mb'] is not None else '-':>8}  {setting}", file=sys.stderr)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    for g in goals:
        print(f"{g['goal']}: {g['ratio']}x (target {g['target']}x) {'met' if g['met'] else 'NOT met' if g['met'] is not None else 'n/a'}", file=sys.stderr)
    if not args.out:
        print(text)


if __name__ == "__main__":
    main()
