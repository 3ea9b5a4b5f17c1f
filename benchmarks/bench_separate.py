"""Speech separation trained on latents against the same network trained on samples: predict the speech
of a speech + music mixture.

    S=../shared/data/speech A=../shared/data/audio
    python benchmarks/bench_separate.py --speech $(ls -d $S/*/ | head -18) --test-speech $(ls -d $S/*/ | tail -4) \\
        --music $A/147793__setuniman__sweet-waltz-0i-22mi.hq.ogg ... --test-music $A/Kevin_MacLeod_-_Vibe_Ace.hq.ogg \\
        --out docs/results/bench_separate.json

Every clip is brought to mono and to ``--rate`` (16 kHz) by polyphase resampling. A training item is a
``--size``-sample piece of a training utterance (drawn at random) mixed with a piece of the training
music (drawn at random) at a speech-to-music ratio drawn from -5..+5 dB (:func:`walloc.features.mixture`),
made anew every epoch; the mixture is scaled (with its speech) to a peak of 0.9. The test
mixtures are the middle piece of each test utterance with a piece of the test music, drawn with a
fixed seed. Trained variants, all :class:`walloc.nn.LatentUNet` U-Nets with the same bottom grid and
widths (as ``bench_colorize``), the same epochs, batches, optimizer and loss: the negative SI-SDR of
the final speech estimate:

  latents       the mixture's latents with the audio model that fits (a mono model from the zoo if there
                is one, else stereo-5x, which codes mono as two equal channels), encoded as each batch is
                made (in the training time) -> predicted speech latents -> the decoder (loss after it)
  samples_down  the mixture resampled to the latents' numbers per second (FFT resampling) -> speech at
                that rate -> resampled back
  samples_full  the mixture at the full rate -> speech at the full rate

Reference lines: ``mixture`` (the mixture itself as the estimate) and ``codec_ceiling`` (the clean
speech through the model). Per variant: ``si_sdr`` (dB, mean over test mixtures), ``si_sdri`` (its
improvement over the mixture's), ``train_s``, ``infer_ms_per_item``, ``params``. The audio is itself
partly lossy (the music is Ogg Vorbis). ``table(doc)`` renders the JSON as markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import walloc  # noqa: E402
from bench_colorize import infer, markdown, number, params, train, widths  # noqa: E402
from walloc import features, io  # noqa: E402
from walloc.errors import WallocError  # noqa: E402
from walloc.nn import LatentUNet  # noqa: E402

FALLBACK = "stereo-5x"
TRAINED = ("latents", "samples_down", "samples_full")


def audio_model() -> str:
    """A mono audio model of the zoo if there is one (a speech model), else stereo-5x."""
    mono = [m.name for m in walloc.list_models() if m.modality == "audio" and walloc.load(m.name).cfg.channels == 1]
    return mono[0] if mono else FALLBACK


def audio_files(paths: list[str]) -> list[Path]:
    files = []
    for p in map(Path, paths):
        found = sorted(q for q in p.rglob("*") if q.suffix.lower() in io.AUDIO_SUFFIXES) if p.is_dir() else [p]
        files += found
    if not files:
        raise WallocError(f"no audio files in {', '.join(paths)}")
    return files


def clip(path: Path, rate: int) -> torch.Tensor:
    """A file as mono (L,) float32 at ``rate``."""
    from math import gcd

    from scipy.signal import resample_poly

    x, meta = io.read_audio(path)
    mono = x.double().mean(0).numpy()
    if meta.sample_rate != rate:
        g = gcd(rate, meta.sample_rate)
        mono = resample_poly(mono, rate // g, meta.sample_rate // g)
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))


def resample(x: torch.Tensor, n: int) -> torch.Tensor:
    """(B, C, L) -> (B, C, n) by the FFT (ideal low-pass when shrinking), differentiable."""
    length = x.shape[-1]
    if n == length:
        return x
    spectrum = torch.fft.rfft(x)
    keep = min(spectrum.shape[-1], n // 2 + 1)
    out = torch.zeros(*x.shape[:-1], n // 2 + 1, dtype=spectrum.dtype)
    out[..., :keep] = spectrum[..., :keep]
    return torch.fft.irfft(out, n=n) * (n / length)


def si_sdr(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Scale-invariant SDR (dB) per item of (B, C, L) signals, zero-mean first."""
    estimate = estimate - estimate.mean(-1, keepdim=True)
    target = target - target.mean(-1, keepdim=True)
    scale = (estimate * target).sum(-1, keepdim=True) / target.square().sum(-1, keepdim=True).clamp_min(1e-10)
    hit = scale * target
    return 10 * torch.log10(hit.square().sum((1, 2)).clamp_min(1e-10) / (estimate - hit).square().sum((1, 2)).clamp_min(1e-10))


def neg_si_sdr(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -si_sdr(estimate, target).mean()


def pieces(clips: list[torch.Tensor], size: int, g: torch.Generator, count: int, middle: bool = False) -> torch.Tensor:
    """``count`` pieces of ``size`` samples, from clips drawn in turn (zero-padded where a clip is short)."""
    out = torch.zeros(count, 1, size)
    for i in range(count):
        c = clips[i % len(clips)] if middle else clips[int(torch.randint(len(clips), (1,), generator=g))]
        room = max(0, len(c) - size)
        start = room // 2 if middle else int(torch.randint(room + 1, (1,), generator=g))
        piece = c[start: start + size]
        out[i, 0, : len(piece)] = piece
    return out


def mixed(speech: torch.Tensor, music: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(mixture, speech) at ratios drawn from -5..+5 dB, both scaled so the mixture peaks at 0.9 (the
    codec codes a quiet clip at its own level: its quantizer is absolute)."""
    ratio = torch.rand(len(speech), generator=g) * 10 - 5
    mix = features.mixture(speech, music, ratio)
    scale = 0.9 / mix.abs().amax((1, 2), keepdim=True).clamp_min(1e-6)
    return mix * scale, speech * scale


def table(doc: dict) -> str:
    """The JSON of this benchmark as a markdown table, one row per variant."""
    rows = [[f"`{k}`", v["input"], number(v.get("si_sdr"), ".2f"), number(v.get("si_sdri"), ".2f"),
             number(v.get("train_s"), ",.0f"), number(v.get("infer_ms_per_item"), ".1f"), number(v.get("params"), ",")]
            for k, v in doc["variants"].items()]
    return markdown(["variant", "input", "SI-SDR dB", "SI-SDRi dB", "train s", "infer ms / item", "params"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speech", nargs="+", required=True, help="training speech: folders (searched recursively) or files")
    ap.add_argument("--music", nargs="+", required=True, help="training music: folders or files")
    ap.add_argument("--test-speech", nargs="+", required=True, help="test speech (other speakers)")
    ap.add_argument("--test-music", nargs="+", required=True, help="test music (never trained on)")
    ap.add_argument("--out", required=True, help="JSON results file")
    ap.add_argument("--model", default=None, help="audio model of the latents (default: a mono model of the zoo, else stereo-5x)")
    ap.add_argument("--rate", type=int, default=16000, help="sample rate of every clip")
    ap.add_argument("--size", type=int, default=8192, help="samples per mixture (a multiple of the model's block)")
    ap.add_argument("--items", type=int, default=512, help="training mixtures per epoch")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width", type=int, default=64, help="the U-Nets' width at the latents' grid (twice that below it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training and test utterances (quick check)")
    args = ap.parse_args()
    if args.epochs < 1 or args.items < 1:
        sys.exit("bench_separate: --epochs and --items must be at least 1")
    for p in args.speech + args.music + args.test_speech + args.test_music:
        if not Path(p).exists():
            sys.exit(f"bench_separate: {p} does not exist")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    try:
        name = args.model or audio_model()
        codec = walloc.load(name)
        if codec.modality != "audio":
            raise WallocError(f"'{name}' is not an audio model")
        block = codec.cfg.block_size
        if args.size % block:
            raise WallocError(f"--size must be a multiple of {block} (the block of '{name}'), not {args.size}")
        speech_files, test_files = audio_files(args.speech), audio_files(args.test_speech)
        if args.limit:
            speech_files, test_files = speech_files[: args.limit], test_files[: args.limit]
        speech = [clip(p, args.rate) for p in speech_files]
        music = [clip(p, args.rate) for p in audio_files(args.music)]
        test_speech_clips = [clip(p, args.rate) for p in test_files]
        test_music = [clip(p, args.rate) for p in audio_files(args.test_music)]
    except WallocError as e:
        sys.exit(f"bench_separate: {e}")
    codec.net.requires_grad_(False)
    q = codec.stream.default_quality
    size, grid = args.size, args.size // block
    down = grid * codec.cfg.latent_dim  # the latents' numbers per mixture, as samples
    g = torch.Generator().manual_seed(10_000 + args.seed)  # the test mixtures: a fixed seed of their own
    test_mix, test_speech = mixed(pieces(test_speech_clips, size, g, len(test_speech_clips), middle=True),
                                  pieces(test_music, size, g, len(test_speech_clips)), g)
    test_latents, test_targets = (features.encode(codec, x, kind="dequantized", quality=q) for x in (test_mix, test_speech))
    steps = math.ceil(args.items / args.batch)
    print(f"data: {len(speech)} train utterances, {len(music)} music clips, {len(test_files)} test mixtures; "
          f"model {name}, latents {tuple(test_latents.shape[1:])}, samples_down {down}", flush=True)

    def batches(make_input):
        def epoch(gen: torch.Generator) -> Iterable[tuple[object, torch.Tensor]]:
            for start in range(0, args.items, args.batch):
                count = min(args.batch, args.items - start)
                mix, target = mixed(pieces(speech, size, gen, count), pieces(music, size, gen, count), gen)
                yield make_input(mix), target
        return epoch

    def latent_predict(net, y):
        return codec.decode_latents(net(y), q, channels=1, grad=torch.is_grad_enabled())

    def down_predict(net, x):
        return resample(net(x), size)

    variants = {
        "latents": (lambda: LatentUNet(codec, codec, widths=widths(1, args.width), dims=1), latent_predict,
                    batches(lambda mix: features.encode(codec, mix, kind="dequantized", quality=q)), test_latents.split(8),
                    f"{codec.cfg.latent_dim}x{grid} {name}"),
        "samples_down": (lambda: LatentUNet(1, 1, widths=widths(max(1, down // grid), args.width), dims=1), down_predict,
                         batches(lambda mix: resample(mix, down)), [resample(x, down) for x in test_mix.split(8)], f"1x{down}"),
        "samples_full": (lambda: LatentUNet(1, 1, widths=widths(size // grid, args.width), dims=1), lambda net, x: net(x),
                         batches(lambda mix: mix), test_mix.split(8), f"1x{size}"),
    }
    base = si_sdr(test_mix, test_speech)
    results = {}
    for key, (make_net, predict, make, test_inputs, shape) in variants.items():
        torch.manual_seed(args.seed)
        net = make_net()
        print(f"{key}: {params(net):,} parameters", flush=True)
        r = train(net, predict, make, steps, args.epochs, args.lr, args.seed, loss=neg_si_sdr)
        out, ms = infer(net, predict, test_inputs)
        s = si_sdr(out, test_speech)
        results[key] = {"input": shape, "si_sdr": round(s.mean().item(), 3), "si_sdri": round((s - base).mean().item(), 3),
                        **r, "infer_ms_per_item": ms, "params": params(net)}
        print(f"{key}: SI-SDR {results[key]['si_sdr']:.2f} dB, SI-SDRi {results[key]['si_sdri']:.2f} dB, {r['train_s']:.0f} s", flush=True)
    ceiling, ceiling_ms = infer(None, lambda _, y: codec.decode_latents(y, q, channels=1), test_targets.split(8))
    for key, out, ms in (("mixture", test_mix, None), ("codec_ceiling", ceiling, ceiling_ms)):
        s = si_sdr(out, test_speech)
        results[key] = {"input": "the mixture" if key == "mixture" else f"clean speech through {name}", "si_sdr": round(s.mean().item(), 3),
                        "si_sdri": round((s - base).mean().item(), 3), "train_s": None, "infer_ms_per_item": ms, "params": 0}
    latent, down_r, full_r = (results[k] for k in TRAINED)
    doc = {
        "benchmark": "speech separation on latents and samples, benchmarks/bench_separate.py",
        "speech": args.speech, "music": args.music, "test_speech": args.test_speech, "test_music": args.test_music,
        "train_utterances": len(speech), "test_mixtures": len(test_files), "rate": args.rate, "size": size,
        "items_per_epoch": args.items, "epochs": args.epochs, "width": args.width, "batch": args.batch, "lr": args.lr, "seed": args.seed,
        "threads": args.threads, "limit": args.limit, "model": name, "model_version": codec.config.get("version"), "quality": q,
        "loss": "negative SI-SDR of the speech estimate at the full rate", "ratio_db": [-5, 5],
        "torch": torch.__version__, "python": platform.python_version(),
        "variants": {k: results[k] for k in ("mixture",) + TRAINED + ("codec_ceiling",)},
        "targets": {
            "latents_minus_samples_down_si_sdri": round(latent["si_sdri"] - down_r["si_sdri"], 3),
            "latents_minus_samples_full_si_sdri": round(latent["si_sdri"] - full_r["si_sdri"], 3),
            "samples_full_over_latents_train_s": round(full_r["train_s"] / max(latent["train_s"], 1e-9), 2),
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
