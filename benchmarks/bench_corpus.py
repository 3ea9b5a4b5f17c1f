"""Every file of a test corpus through `walloc encode` and `walloc decode`, as a user would run them.

    python benchmarks/bench_corpus.py ~/Pillow/Tests/images ~/PngSuite --out out/corpus.json [--limit N]

Each file (folders are walked) is encoded and its stream decoded by the real command, each in its
own process (`python -m walloc`), with its stderr captured, so what libtiff or mpg123 print from C
counts as the user sees it. Each file ends in one outcome:

- ``ok``: a round trip of the input's shape at PSNR >= 25 dB (images, at their bit depth) or
  SNR >= 10 dB (audio, against the signal itself, so a quiet take is judged by its own level);
- ``refused``: a non-zero exit with exactly one line on stderr and no output left behind;
- ``noisy_refusal``: refused, but in several lines (or leaving a file);
- ``traceback``: an exception escaped the command;
- ``bad_output``: exit 0 and an output unlike the input (another shape, or below the bar above).

The JSON holds the counts and one row per file (outcome, quality in dB, the stderr lines).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from walloc import io  # noqa: E402
from walloc.bitstream import peek_header  # noqa: E402
from walloc.errors import WallocError  # noqa: E402

IMAGE_BAR_DB, AUDIO_BAR_DB = 25.0, 10.0
OUTCOMES = ("ok", "refused", "noisy_refusal", "traceback", "bad_output")


def run(argv: list[str]) -> tuple[int, list[str], str | None]:
    """Exit code, stderr lines and the traceback (if one escaped) of one `walloc` command, run as a
    user runs it: its own process, so a C library's messages on fd 2 are seen as the user sees them."""
    r = subprocess.run([sys.executable, "-m", "walloc", *argv], capture_output=True, text=True, errors="replace")
    lines = r.stderr.splitlines()
    escaped = r.stderr if any(line.startswith("Traceback") for line in lines) else None
    return r.returncode, lines, escaped


def quality_db(source: Path, decoded: Path, modality: str) -> float:
    """PSNR (images, at the input's bit depth) or SNR (audio) of the decoded file against the input;
    -inf when the shapes differ."""
    if modality == "image":
        x, _ = io.read_image_array(source)
        y, _ = io.read_image_array(decoded)
        if x.shape != y.shape:
            return -math.inf
        peak = 1.0 if x.dtype.kind == "f" else float(np.iinfo(x.dtype).max)
        mse = float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))
        return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)
    x, _ = io.read_audio_array(source, native=False)
    y, _ = io.read_audio_array(decoded, native=False)
    if x.shape != y.shape:
        return -math.inf
    signal, noise = float(np.sum(x.astype(np.float64) ** 2)), float(np.sum((x - y).astype(np.float64) ** 2))
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def judge(path: Path, work: Path) -> dict:
    """Encode and decode one file in ``work``; its outcome row."""
    for p in work.iterdir():
        p.unlink()
    row: dict = {"file": str(path)}
    target = work / "x.wlc"
    code, lines, escaped = run(["encode", str(path), "-o", str(target), "-f"])
    if code == 0 and escaped is None:
        modality = peek_header(target.read_bytes()).modality
        stream, target = target, work / ("x.png" if modality == "image" else "x.wav")
        code, more, escaped = run(["decode", str(stream), "-o", str(target), "-f"])
        lines += more
    row["stderr"] = lines[:8]
    if escaped is not None or any(line.startswith("Traceback") for line in lines):
        row.update(outcome="traceback", error=escaped or "\n".join(lines))
    elif code != 0:
        row["outcome"] = "refused" if len(lines) == 1 and not target.exists() else "noisy_refusal"
    else:
        try:
            db = quality_db(path, target, modality)
        except WallocError as e:
            db, row["error"] = -math.inf, str(e)
        bar = IMAGE_BAR_DB if modality == "image" else AUDIO_BAR_DB
        row.update(modality=modality, db=round(db, 2) if math.isfinite(db) else str(db),
                   outcome="ok" if db >= bar else "bad_output")
    return row


def files(folders: list[str]) -> list[Path]:
    found: list[Path] = []
    for folder in map(Path, folders):
        found += sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else [folder]
    return found


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", metavar="DIR")
    parser.add_argument("--out", required=True, help="JSON report")
    parser.add_argument("--limit", type=int, default=0, help="at most this many files (0: all)")
    args = parser.parse_args(argv)
    todo = files(args.folders)[: args.limit or None]
    rows, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for path in todo:
            rows.append(judge(path, Path(scratch)))
            if rows[-1]["outcome"] not in ("ok", "refused"):
                _show(rows[-1])
    counts = {k: sum(r["outcome"] == k for r in rows) for k in OUTCOMES}
    report = {"folders": args.folders, "files": len(rows), "counts": counts,
              "seconds": round(time.perf_counter() - start, 1), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(counts))
    return report


def _show(row: dict) -> None:
    print(f"{row['outcome']:>14}  {row.get('db', '')!s:>7}  {row['file']}  {(row['stderr'] or [''])[-1][:120]}", flush=True)


if __name__ == "__main__":
    main()
