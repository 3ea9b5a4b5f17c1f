"""Start-up cost of the walloc command as whole processes, beside Pillow's WebP one-liner, in one run.

    python benchmarks/bench_cli.py --out out/bench_cli.json [--repeats 7]

A user who runs `walloc encode` in a shell loop pays for the whole process every time: the
interpreter, the imports, the model and the coding. This times exactly that, for each command below,
in a fresh child process per run: wall time from fork to exit, and the child's own peak resident
memory from os.wait4's rusage (forked from a small launcher, so no parent's size counts). Every
command runs once untimed first (files in the page cache), then the commands take turns for
``repeats`` rounds, so machine noise falls on all of them alike; the median of the runs is kept.
Ratios are against the WebP one-liner of the same run. Goal: `walloc encode` of a Kodak image within
3x the one-liner in both wall time and peak memory. Decoding is reported beside it (its start-up
includes the decoder network).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("WALLOC_DATA", ROOT.parent / "shared" / "data"))
IMAGE = DATA / "images" / "kodak" / "kodim23.png"
CLIP = DATA / "audio" / "456440__inspectorj__bird-whistling-robin-single-13.hq.ogg"
BASELINE = "webp_oneliner"
GOALS = [("encode_image", "wall_s", 3.0), ("encode_image", "peak_rss_mib", 3.0)]


def commands(walloc: str, python: str, image: Path, clip: Path) -> dict[str, list[str]]:
    """Name -> command line, each run in the same scratch folder (the decodes read the encodes' outputs)."""
    webp = f"from PIL import Image; Image.open({str(image)!r}).save('k.webp', quality=30)"
    return {
        "python": [python, "-c", "pass"],
        BASELINE: [python, "-c", webp],
        "walloc_help": [walloc, "--help"],
        "encode_image": [walloc, "encode", str(image), "-o", "k.wlc", "-f"],
        "decode_image": [walloc, "decode", "k.wlc", "-o", "k.png", "-f"],
        "encode_audio": [walloc, "encode", str(clip), "-o", "a.wlc", "-f"],
        "decode_audio": [walloc, "decode", "a.wlc", "-o", "a.wav", "-f"],
    }


# Linux counts a process's resident size at exec as the floor of the new program's peak, so a child
# forked from this (or from pytest's torch-sized) process would report at least its parent's peak.
# Each command is therefore forked from this small launcher (a bare interpreter, no site: ~8 MiB,
# below any Python program's own peak), which times it and prints "seconds maxrss_KiB exit_code".
_LAUNCHER = """
import os, sys, time
null = os.open(os.devnull, os.O_RDWR)
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(null, 0)
    os.dup2(null, 1)
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run_once(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one child process; SystemExit with its stderr if it fails."""
    with tempfile.TemporaryFile() as err:
        out = subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, *cmd], cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=err, check=True).stdout.split()
        wall, maxrss_kib, code = float(out[0]), int(out[1]), int(out[2])
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
            raise SystemExit(f"failed ({code}): {' '.join(cmd)}\n" + "\n".join(tail))
    return wall, maxrss_kib / 1024  # Linux reports ru_maxrss in KiB


def measure(cmds: dict[str, list[str]], repeats: int, cwd: Path) -> dict[str, dict]:
    """Warm-up round, then ``repeats`` interleaved rounds; medians and every run per command."""
    for cmd in cmds.values():
        run_once(cmd, cwd)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for _ in range(repeats):
        for name, cmd in cmds.items():
            runs[name].append(run_once(cmd, cwd))
    return {name: {"command": " ".join(cmds[name]),
                   "wall_s": round(statistics.median(w for w, _ in r), 4),
                   "peak_rss_mib": round(statistics.median(m for _, m in r), 1),
                   "runs_wall_s": [round(w, 4) for w, _ in r],
                   "runs_peak_rss_mib": [round(m, 1) for _, m in r]} for name, r in runs.items()}


def ratios(results: dict[str, dict]) -> dict[str, dict]:
    """Every command's medians over the WebP one-liner's."""
    base = results[BASELINE]
    return {name: {key: round(r[key] / base[key], 2) for key in ("wall_s", "peak_rss_mib")}
            for name, r in results.items() if name != BASELINE}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="JSON results file (default: print the JSON)")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs of each command; the median is kept (default 7)")
    ap.add_argument("--walloc", default=str(Path(sys.executable).with_name("walloc")),
                    help="the walloc entry point (default: the one beside this interpreter)")
    ap.add_argument("--image", type=Path, default=IMAGE, help=f"image to encode (default {IMAGE.name})")
    ap.add_argument("--clip", type=Path, default=CLIP, help=f"audio clip to encode (default {CLIP.name})")
    args = ap.parse_args()
    for path in (Path(args.walloc), args.image, args.clip):
        if not path.exists():
            raise SystemExit(f"not found: {path}")
    cmds = commands(args.walloc, sys.executable, args.image.resolve(), args.clip.resolve())
    print(f"bench_cli: {len(cmds)} commands, 1 warm-up + {args.repeats} runs each", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        results = measure(cmds, args.repeats, Path(scratch))
    rel = ratios(results)
    goals = [{"goal": f"{name} {key} within {limit:g}x of the WebP one-liner", "ratio": rel[name][key],
              "target": limit, "met": rel[name][key] <= limit} for name, key, limit in GOALS]
    from walloc.eval.machine import machine  # after the runs: the children never see this process's imports

    doc = {"image": str(args.image), "clip": str(args.clip), "repeats": args.repeats, "baseline": BASELINE,
           "commands": results, "ratio_to_baseline": rel, "goals": goals,
           "decode_startup": {k: {"wall_s": results[k]["wall_s"], "ratio": rel[k]["wall_s"]} for k in ("decode_image", "decode_audio")},
           "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
           "method": " ".join(__doc__.split("\n\n", 2)[2].split()), "machine": machine(),
           "command": "python benchmarks/bench_cli.py " + " ".join(sys.argv[1:])}
    text = json.dumps(doc, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    width = max(map(len, results))
    print(f"{'command':<{width}}  {'wall s':>7}  {'x webp':>6}  {'peak MiB':>8}  {'x webp':>6}", file=sys.stderr)
    for name, r in results.items():
        x = rel.get(name, {"wall_s": 1.0, "peak_rss_mib": 1.0})
        print(f"{name:<{width}}  {r['wall_s']:>7.3f}  {x['wall_s']:>6.2f}  {r['peak_rss_mib']:>8.1f}  {x['peak_rss_mib']:>6.2f}", file=sys.stderr)
    for g in goals:
        print(f"{g['goal']}: {g['ratio']}x {'met' if g['met'] else 'NOT met'}", file=sys.stderr)
    if not args.out:
        print(text)


if __name__ == "__main__":
    main()
