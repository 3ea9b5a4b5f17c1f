"""Start-up cost of the walloc command as whole processes, beside Pillow's WebP one-liner, in one run.

    python benchmarks/bench_cli.py --out out/bench_cli.json [--repeats 7]

A user who runs `walloc encode` in a shell loop pays for the whole process every time: the
interpreter, the imports, the model and the coding. This times exactly that, for each command below,
in a fresh child process per run: wall time from fork to exit, and the child's own peak resident
memory from os.wait4's rusage (forked from a small launcher, so no parent's size counts). Every
command runs once untimed first (files in the page cache), then the commands take turns for
``repeats`` rounds, so machine noise falls on all of them alike; the median of the runs is kept.
Ratios are against the WebP one-liners of the same run: encodes against Pillow's WebP encode, decodes
against its WebP decode (read k.webp, write a PNG, as `walloc decode` reads k.wlc and writes one).
Goals: `walloc encode` of a Kodak image, and `walloc decode` of it and of a 30 s audio clip (ONNX
Runtime, the default backend), within 3x the one-liner in both wall time and peak memory. The torch
backend's decodes (`--backend torch`) are measured beside them.
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
DECODE_BASELINE = "webp_decode_oneliner"
CLIP_SECONDS = 30.0
# (command, measure, limit, the one-liner it is compared with)
GOALS = [("encode_image", "wall_s", 3.0, BASELINE), ("encode_image", "peak_rss_mib", 3.0, BASELINE),
         ("decode_image", "wall_s", 3.0, DECODE_BASELINE), ("decode_image", "peak_rss_mib", 3.0, DECODE_BASELINE),
         ("decode_audio", "wall_s", 3.0, DECODE_BASELINE), ("decode_audio", "peak_rss_mib", 3.0, DECODE_BASELINE)]


def commands(walloc: str, python: str, image: Path, clip: Path) -> dict[str, list[str]]:
    """Name -> command line, each run in the same scratch folder (the decodes read the encodes' outputs)."""
    webp = f"from PIL import Image; Image.open({str(image)!r}).save('k.webp', quality=30)"
    return {
        "python": [python, "-c", "pass"],
        BASELINE: [python, "-c", webp],
        DECODE_BASELINE: [python, "-c", "from PIL import Image; Image.open('k.webp').save('kw.png')"],
        "walloc_help": [walloc, "--help"],
        "encode_image": [walloc, "encode", str(image), "-o", "k.wlc", "-f"],
        "decode_image": [walloc, "decode", "k.wlc", "-o", "k.png", "-f"],
        "decode_image_torch": [walloc, "decode", "k.wlc", "-o", "kt.png", "-f", "--backend", "torch"],
        "encode_audio": [walloc, "encode", str(clip), "-o", "a.wlc", "-f"],
        "decode_audio": [walloc, "decode", "a.wlc", "-o", "a.wav", "-f"],
        "decode_audio_torch": [walloc, "decode", "a.wlc", "-o", "at.wav", "-f", "--backend", "torch"],
    }


def cut_clip(source: Path, seconds: float, target: Path) -> Path:
    """The first ``seconds`` of an audio file as 16-bit WAV (the clip the audio commands code)."""
    import soundfile as sf

    data, rate = sf.read(str(source), frames=int(seconds * sf.info(str(source)).samplerate), dtype="int16", always_2d=True)
    if data.shape[0] < seconds * rate:
        raise SystemExit(f"{source} is shorter than {seconds:g} s")
    sf.write(str(target), data, rate, subtype="PCM_16")
    return target


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


def ratios(results: dict[str, dict], baseline: str = BASELINE) -> dict[str, dict]:
    """Every command's medians over the ``baseline`` one-liner's."""
    base = results[baseline]
    return {name: {key: round(r[key] / base[key], 2) for key in ("wall_s", "peak_rss_mib")}
            for name, r in results.items() if name != baseline}


def throughput(stream: bytes, repeats: int) -> dict[str, dict]:
    """Decode throughput in this process (megapixels a second, median of ``repeats`` after a warm-up
    that builds the model), per backend, on one thread: the network and the packet synthesis alone."""
    import time

    import torch

    import walloc

    torch.set_num_threads(1)
    codec = walloc.codec_for(stream)
    header = walloc.peek_header(stream)
    pixels = header.extent[0] * header.extent[1]
    out = {}
    for backend in ("onnx", "torch"):
        codec.decompress(stream, torch.uint8, backend=backend)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            codec.decompress(stream, torch.uint8, backend=backend)
            times.append(time.perf_counter() - start)
        out[backend] = {"seconds": round(statistics.median(times), 4), "mp_s": round(pixels / 1e6 / statistics.median(times), 3)}
    out["onnx_over_torch"] = round(out["onnx"]["mp_s"] / out["torch"]["mp_s"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="JSON results file (default: print the JSON)")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs of each command; the median is kept (default 7)")
    ap.add_argument("--walloc", default=str(Path(sys.executable).with_name("walloc")),
                    help="the walloc entry point (default: the one beside this interpreter)")
    ap.add_argument("--image", type=Path, default=IMAGE, help=f"image to encode (default {IMAGE.name})")
    ap.add_argument("--clip", type=Path, default=CLIP, help=f"audio to encode, its first --clip-seconds (default {CLIP.name})")
    ap.add_argument("--clip-seconds", type=float, default=CLIP_SECONDS, help=f"seconds of the clip coded (default {CLIP_SECONDS:g})")
    args = ap.parse_args()
    for path in (Path(args.walloc), args.image, args.clip):
        if not path.exists():
            raise SystemExit(f"not found: {path}")
    print(f"bench_cli: 1 warm-up + {args.repeats} runs of each command", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        clip = cut_clip(args.clip, args.clip_seconds, Path(scratch) / "clip.wav")
        cmds = commands(args.walloc, sys.executable, args.image.resolve(), clip)
        results = measure(cmds, args.repeats, Path(scratch))
        os.environ["OMP_NUM_THREADS"] = "1"
        speed = throughput((Path(scratch) / "k.wlc").read_bytes(), args.repeats)
    rel, rel_decode = ratios(results), ratios(results, DECODE_BASELINE)
    against = {BASELINE: rel, DECODE_BASELINE: rel_decode}
    goals = [{"goal": f"{name} {key} within {limit:g}x of {base}", "ratio": against[base][name][key],
              "target": limit, "met": against[base][name][key] <= limit} for name, key, limit, base in GOALS]
    from walloc.eval.machine import machine  # after the runs: the children never see this process's imports

    doc = {"image": str(args.image), "clip": str(args.clip), "clip_seconds": args.clip_seconds, "repeats": args.repeats,
           "baseline": BASELINE, "decode_baseline": DECODE_BASELINE, "commands": results, "ratio_to_baseline": rel,
           "ratio_to_decode_baseline": rel_decode, "goals": goals, "decode_throughput_1_thread": speed,
           "decode_backends": {k: {"wall_s": results[k]["wall_s"], "peak_rss_mib": results[k]["peak_rss_mib"], **rel_decode[k]}
                               for k in ("decode_image", "decode_image_torch", "decode_audio", "decode_audio_torch")},
           "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
           "method": " ".join(__doc__.split("\n\n", 2)[2].split()), "machine": machine(),
           "command": "python benchmarks/bench_cli.py " + " ".join(sys.argv[1:])}
    text = json.dumps(doc, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    width = max(map(len, results))
    print(f"{'command':<{width}}  {'wall s':>7}  {'x webp':>6}  {'peak MiB':>8}  {'x webp':>6}  (decodes: x the WebP decode)", file=sys.stderr)
    for name, r in results.items():
        x = (rel_decode if name.startswith("decode") else rel).get(name, {"wall_s": 1.0, "peak_rss_mib": 1.0})
        print(f"{name:<{width}}  {r['wall_s']:>7.3f}  {x['wall_s']:>6.2f}  {r['peak_rss_mib']:>8.1f}  {x['peak_rss_mib']:>6.2f}", file=sys.stderr)
    for g in goals:
        print(f"{g['goal']}: {g['ratio']}x {'met' if g['met'] else 'NOT met'}", file=sys.stderr)
    print(f"decode throughput, one thread: onnx {speed['onnx']['mp_s']} MP/s, torch {speed['torch']['mp_s']} MP/s "
          f"({speed['onnx_over_torch']}x)", file=sys.stderr)
    if not args.out:
        print(text)


if __name__ == "__main__":
    main()
