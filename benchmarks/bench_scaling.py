"""How WaLLoC's encode and decode time and peak memory grow with the signal, through the public API.

    python benchmarks/bench_scaling.py --out out/bench_scaling.json [--megapixels 0.25,1,4,16,64]
                                       [--seconds 10,60,180,600] [--threads 1]

Images: square 8-bit RGB images of about N megapixels, tiled from the Kodak photos (real content at
every size), coded by ``rgb-16x`` at its default quality. Audio: stereo 44.1 kHz clips of the given
lengths, built by repeating the evaluation clips, coded by ``stereo-5x``. Each size runs in a fresh
worker process: ``compress`` (from the float tensor to .wlc bytes) and ``decompress`` are timed once
(three times, keeping the fastest, below 2 MP or 60 s), and their peak resident memory above the
process's resident size just before the call is recorded (Linux /proc; glibc's mmap threshold is
pinned so freed buffers go back to the system).

The report says, for each of encode and decode: the slope b of log(time) against log(size) (b = 1:
linear), time per unit at the largest size, and whether peak memory keeps growing with size or
levels off (memory has stopped growing at a size when every larger size, up to at least 3x, needs
under 1.2x as much), both for the whole peak and for the peak beyond one float32 copy of the signal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("WALLOC_DATA", ROOT.parent / "shared" / "data"))
AUDIO_CLIPS = ["Kevin_MacLeod_-_Vibe_Ace.hq.ogg", "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"]

from bench_peers import peak_of  # noqa: E402


def make_image(megapixels: float):
    """A (3, S, S) float image of about this many megapixels, tiled from the Kodak photos."""
    import torch

    from walloc import io

    side = max(16, round(math.sqrt(megapixels * 1e6) / 16) * 16)
    tiles = [io.read_image(p)[0] for p in sorted((DATA / "images" / "kodak").glob("*.png"))]
    tiles = [t if t.shape[1] < t.shape[2] else t.transpose(1, 2) for t in tiles]  # all 512 x 768
    th, tw = tiles[0].shape[1:]
    out = torch.empty(3, side, side)
    k = 0
    for y in range(0, side, th):
        for x in range(0, side, tw):
            t = tiles[k % len(tiles)]
            k += 1
            out[:, y: y + th, x: x + tw] = t[:, : min(th, side - y), : min(tw, side - x)]
    return out


def make_audio(seconds: float):
    """A (2, L) stereo 44.1 kHz clip of this length, repeating the evaluation music."""
    import torch

    from walloc import io

    clips = [io.read_audio(DATA / "audio" / name)[0] for name in AUDIO_CLIPS]
    clips = [c if c.shape[0] == 2 else c.expand(2, -1) for c in clips]
    base = torch.cat(clips, dim=1)
    n = int(seconds * 44100)
    reps = -(-n // base.shape[1])
    return base.repeat(1, reps)[:, :n].contiguous()


def worker(args) -> dict:
    import torch

    import walloc
    from walloc import io

    torch.set_num_threads(args.threads)
    if args.kind == "image":
        codec, x = walloc.load("rgb-16x"), make_image(args.size)
        meta, units = io.ImageMeta(), x.shape[1] * x.shape[2] / 1e6
        repeats = 3 if units < 2 else 1
    else:
        codec, x = walloc.load("stereo-5x"), make_audio(args.size)
        meta, units = io.AudioMeta(sample_rate=44100), x.shape[1] / 44100
        repeats = 3 if units < 60 else 1
    data, enc_peak = peak_of(lambda: codec.compress(x, None, meta))
    _, dec_peak = peak_of(lambda: codec.decompress(data))
    enc, dec = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        data = codec.compress(x, None, meta)
        t1 = time.perf_counter()
        codec.decompress(data)
        dec.append(time.perf_counter() - t1)
        enc.append(t1 - t0)
    return {"size": round(units, 4), "unit": "MP" if args.kind == "image" else "s",
            "shape": list(x.shape), "input_mb": round(x.numel() * 4 / 2**20, 1), "bytes": len(data),
            "enc_s": round(min(enc), 4), "dec_s": round(min(dec), 4), "enc_peak_mb": enc_peak, "dec_peak_mb": dec_peak}


def run_worker(kind: str, size: float, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--kind", kind, "--size", str(size), "--threads", str(args.threads)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072", OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        return {"size": size, "error": last}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {kind} {size}: {row}", file=sys.stderr)
    return row


def _levels_off(rows: list[dict], value) -> str:
    """Where a memory figure stops growing: the first size that every larger size (up to >= 3x) stays within 1.2x of."""
    for i, a in enumerate(rows[:-1]):
        later = rows[i + 1:]
        if later[-1]["size"] >= 3 * a["size"] and all(value(b) < 1.2 * max(value(a), 1.0) for b in later):
            return f"stops growing at about {a['size']} {a['unit']} ({round(value(a), 1)} MB)"
    return "grows with size"


def analyse(rows: list[dict]) -> dict:
    """Slope of log time vs log size, per-unit cost, and where peak memory stops growing.

    Memory is judged twice: the whole peak, and the peak beyond one float32 copy of the signal
    (``input_mb``: the input of compress, the output of decompress), i.e. the codec's working memory.
    """
    rows = [r for r in rows if "error" not in r]
    out = {}
    if len(rows) < 2:
        return out
    sizes = np.log([r["size"] for r in rows])
    for key in ("enc", "dec"):
        slope = float(np.polyfit(sizes, np.log([r[f"{key}_s"] for r in rows]), 1)[0])
        largest = rows[-1]
        measured = all(r[f"{key}_peak_mb"] is not None for r in rows)
        out[key] = {"time_slope": round(slope, 3), "linear": bool(0.85 <= slope <= 1.15),
                    "s_per_unit_at_largest": round(largest[f"{key}_s"] / largest["size"], 4),
                    "peak_mb_per_unit_at_largest": round(largest[f"{key}_peak_mb"] / largest["size"], 1) if measured else None,
                    "memory": _levels_off(rows, lambda r: r[f"{key}_peak_mb"]) if measured else "not measured (no /proc)",
                    "working_memory_beyond_signal": _levels_off(rows, lambda r: r[f"{key}_peak_mb"] - r["input_mb"]) if measured else None,
                    "working_mb_at_sizes": [round(r[f"{key}_peak_mb"] - r["input_mb"], 1) for r in rows] if measured else None}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="JSON results file")
    ap.add_argument("--megapixels", default="0.25,1,4,16,64", help="image sizes in MP ('' to skip images)")
    ap.add_argument("--seconds", default="10,60,180,600", help="audio lengths in seconds ('' to skip audio)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from walloc.eval.machine import machine

    doc = {"threads": args.threads, "machine": machine(), "command": "python benchmarks/bench_scaling.py " + " ".join(sys.argv[1:]),
           "method": __doc__.split("\n\n", 2)[2].strip().replace("\n", " ")}
    doc["machine"]["torch_threads"] = args.threads
    for kind, sizes in (("image", args.megapixels), ("audio", args.seconds)):
        values = [float(s) for s in sizes.split(",") if s.strip()]
        if not values:
            continue
        rows = [run_worker(kind, s, args) for s in values]
        doc[kind] = {"model": "rgb-16x" if kind == "image" else "stereo-5x", "rows": rows, "analysis": analyse(rows)}
        for key, a in doc[kind]["analysis"].items():
            print(f"{kind} {key}: time ~ size^{a['time_slope']} ({'linear' if a['linear'] else 'NOT linear'}), peak memory {a['memory']}; "
                  f"beyond the signal itself {a['working_memory_beyond_signal']} {a['working_mb_at_sizes']}", file=sys.stderr)
    text = json.dumps(doc, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
