"""Peak memory of `walloc encode` / `walloc decode` on a huge image and a long audio track.

    python benchmarks/bench_memory.py --out FILE.json [--quick]

Builds a 100-megapixel image (a real photo from ../shared/data, resized) and a 1-hour stereo
44.1 kHz track (real music clips, repeated), then runs the CLI on them under /usr/bin/time -v and
records wall time and peak resident memory of each process. --quick: 16 MP and 10 minutes.
Goal: peak memory under 2 GB for both, encode and decode.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
LIMIT_MB = 2048


def make_image(path: Path, megapixels: float) -> tuple[int, int]:
    side = int(round((megapixels * 1e6) ** 0.5))
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(sorted((DATA / "images" / "photos").glob("*.png"))[0]) as im:
        im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC).save(path, compress_level=1)
    return side, side


def make_audio(path: Path, seconds: int, rate: int = 44100) -> None:
    clips = [sf.read(p, dtype="int16", always_2d=True)[0] for p in sorted((DATA / "audio").glob("*.ogg"))
             if sf.info(p).samplerate == rate and sf.info(p).channels == 2]
    with sf.SoundFile(path, "w", rate, 2, subtype="PCM_16") as out:
        written, i = 0, 0
        while written < seconds * rate:
            clip = clips[i % len(clips)][: seconds * rate - written]
            out.write(clip)
            written += len(clip)
            i += 1


def measured(*args: str) -> dict:
    """Run the walloc CLI under /usr/bin/time -v: wall seconds and peak RSS in MB."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "walloc", *args]
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{r.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    stats = next((line for line in r.stderr.splitlines() if " -> " in line), "")  # walloc's own summary
    return {"seconds": round(seconds, 1), "peak_mb": round(peak_kb / 1024, 1), "stats": stats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("needs GNU time at /usr/bin/time (apt-get install time)")
    megapixels, seconds = (16, 600) if args.quick else (100, 3600)
    results = {"machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
               "limit_mb": LIMIT_MB, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = {f"image_{megapixels}mp": (tmp / "big.png", lambda p: make_image(p, megapixels), ".png"),
                 f"audio_{seconds // 60}min": (tmp / "long.wav", lambda p: make_audio(p, seconds), ".wav")}
        for name, (source, build, suffix) in cases.items():
            print(f"[{name}] building input", file=sys.stderr, flush=True)
            build(source)
            wlc, back = tmp / f"{name}.wlc", tmp / f"{name}.decoded{suffix}"
            enc = measured("encode", str(source), "-o", str(wlc), "-f")
            print(f"[{name}] encode {enc}", file=sys.stderr, flush=True)
            dec = measured("decode", str(wlc), "-o", str(back), "-f")
            print(f"[{name}] decode {dec}", file=sys.stderr, flush=True)
            results["cases"][name] = {"input_bytes": source.stat().st_size, "wlc_bytes": wlc.stat().st_size,
                                      "encode": enc, "decode": dec,
                                      "under_limit": max(enc["peak_mb"], dec["peak_mb"]) < LIMIT_MB}
            for p in (source, wlc, back):
                p.unlink()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    for name, r in results["cases"].items():
        print(f"{name}: encode {r['encode']['seconds']} s / {r['encode']['peak_mb']} MB, "
              f"decode {r['decode']['seconds']} s / {r['decode']['peak_mb']} MB")


if __name__ == "__main__":
    main()
