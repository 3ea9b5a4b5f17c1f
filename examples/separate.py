"""Separate speech from music with a network that learns on audio latents: mixture latents in, speech
latents out, decoded.

    python examples/separate.py SPEECH_DIR MUSIC_DIR MIXTURE... --out OUT_DIR --epochs 10

Trains on mixtures made on the fly (a random piece of a speech file plus a random piece of a music
file, at -5..+5 dB), then writes the speech estimate of each MIXTURE file to OUT_DIR (WAV). Every
clip is brought to mono at 16 kHz; the loss (negative SI-SDR) is taken on the decoded speech.
"""

import argparse
import math
import sys
from pathlib import Path

import torch
from scipy.signal import resample_poly

import walloc
from walloc import features, io
from walloc.errors import WallocError
from walloc.nn import LatentUNet

RATE, SIZE = 16000, 8192


def read(path: Path) -> torch.Tensor:
    """A file as (1, L) mono at RATE."""
    x, meta = io.read_audio(path)
    g = math.gcd(RATE, meta.sample_rate)
    return torch.from_numpy(resample_poly(x.mean(0).numpy(), RATE // g, meta.sample_rate // g)).float()[None]


def piece(clips: list[torch.Tensor]) -> torch.Tensor:
    c = clips[torch.randint(len(clips), ()).item()]
    start = torch.randint(max(1, c.shape[-1] - SIZE), ()).item()
    return torch.nn.functional.pad(c[:, start: start + SIZE], (0, max(0, SIZE - c.shape[-1])))


def si_sdr(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    scale = (estimate * target).sum(-1, keepdim=True) / target.square().sum(-1, keepdim=True).clamp_min(1e-8)
    return 10 * torch.log10((scale * target).square().sum(-1) / (estimate - scale * target).square().sum(-1).clamp_min(1e-8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("speech")
    ap.add_argument("music")
    ap.add_argument("mixtures", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=40, help="batches of 16 mixtures per epoch")
    args = ap.parse_args()
    files = {k: sorted(p for p in Path(d).rglob("*") if p.suffix.lower() in io.AUDIO_SUFFIXES)
             for k, d in (("speech", args.speech), ("music", args.music))}
    if not all(files.values()):
        sys.exit(f"separate: no audio files in {args.speech if not files['speech'] else args.music}")
    speech, music = ([read(p) for p in files[k]] for k in ("speech", "music"))
    codec = walloc.load("stereo-5x")  # mono is coded as two equal channels: 108 latents per 256 samples

    net = LatentUNet(codec, codec)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for epoch in range(args.epochs):
        net.train()
        for _ in range(args.steps):
            target = torch.stack([piece(speech) for _ in range(16)])
            mix = features.mixture(target, torch.stack([piece(music) for _ in range(16)]), torch.rand(16) * 10 - 5)
            scale = 0.9 / mix.abs().amax((1, 2), keepdim=True).clamp_min(1e-6)
            x = features.encode(codec, mix * scale, kind="dequantized")  # the mixture's latents (16, 108, 32)
            opt.zero_grad()
            loss = -si_sdr(codec.decode_latents(net(x), channels=1, grad=True), target * scale).mean()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: SI-SDR {-loss.item():.2f} dB")

    net.eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in map(Path, args.mixtures):
        mix = read(path)
        peak = mix.abs().max().clamp_min(1e-6)
        with torch.no_grad():
            y = codec.decode_latents(net(features.encode(codec, mix[None] * (0.9 / peak), kind="dequantized")), channels=1)
        io.write_audio(out / f"{path.stem}.wav", y[0, :, : mix.shape[-1]] * (peak / 0.9), io.AudioMeta(RATE))
    print(f"wrote {len(args.mixtures)} speech estimates to {out}")


if __name__ == "__main__":
    try:
        main()
    except WallocError as e:
        sys.exit(f"separate: {e}")
