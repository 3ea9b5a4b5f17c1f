"""Converting on Ray and reading latents from an object store (issue 27), against real parts started here.

    python benchmarks/bench_scale.py --out docs/results/bench_scale.json [--per-class 60] [--repeats 2] [--size 256]

A labelled tree (the DTD textures of ../shared/data/images/dtd10, PER_CLASS images of each class; random
images when absent) is converted by ``walloc latents`` (the local engine) as the reference, then:

- identical: Ray's outputs (.wlc tree with 1 and 2 workers, tar shards with 2) equal the reference byte
  for byte;
- scaling: the conversion rate of 2 Ray workers over 1 on a local Ray of 2 CPUs (target >= 1.7x), end
  to end (actors starting and loading the model included) and steady (first to last output written),
  the best of REPEATS alternating runs of each (the machine is shared);
- killed: one worker SIGKILLed once a third of the outputs are written; the run completes, every
  output equals the reference, none is missing or duplicated, and no half-written file is visible;
- s3: a training pass over the shards (LatentDataset.stream) from a local S3 server (moto) against the
  same shards on local disk (target >= 80% of the local rate); per-example reads for comparison.

The machine is shared: the JSON records the load average and the busiest other processes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

DTD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "images" / "dtd10"
SHARD = 100


# -- parts the tests use too ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def s3_server(bucket: str = "walloc") -> Iterator[str]:
    """A local S3 server (moto, in server mode on 127.0.0.1) with an empty ``bucket``; the AWS_*
    variables point every S3 client of this process (and of processes it starts) at it."""
    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    s3fs.S3FileSystem.clear_instance_cache()  # no client of an earlier server
    try:
        s3fs.S3FileSystem().mkdir(bucket)
        yield f"s3://{bucket}"
    finally:
        server.stop()
        s3fs.S3FileSystem.clear_instance_cache()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def descendants(root: int) -> dict[int, str]:
    """{pid: command line} of the processes below ``root`` (from /proc)."""
    parent, cmd = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    found, frontier = {}, [root]
    while frontier:
        p = frontier.pop()
        for child, par in parent.items():
            if par == p and child not in found:
                found[child] = cmd.get(child, "")
                frontier.append(child)
    return found


def kill_worker_when(dst: Path, count: int, timeout: float = 300.0) -> dict:
    """Once ``count`` outputs lie under ``dst``, SIGKILL one Ray actor of this process's Ray running
    the conversion (``ray::...Convert``); what it saw: pid killed, outputs then, seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        done = sum(1 for p in dst.rglob("*") if p.is_file() and not p.name.startswith("."))
        workers = [pid for pid, c in descendants(os.getpid()).items() if c.startswith("ray::") and "Convert" in c]
        if done >= count and workers:
            os.kill(workers[0], signal.SIGKILL)
            return {"killed_pid": workers[0], "outputs_when_killed": done, "seconds": round(time.perf_counter() - start, 2)}
        time.sleep(0.02)
    return {"killed_pid": None, "outputs_when_killed": None, "seconds": round(time.perf_counter() - start, 2)}


def files(root: Path) -> dict[str, bytes]:
    """{relative path: bytes} of the visible files under ``root`` (hidden temporary files left out)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def hidden(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(".*"))


# -- the benchmark ----------------------------------------------------------------------------------------------
def make_tree(dst: Path, per_class: int) -> str:
    """DST/train/<class>/<image>: PER_CLASS images of each DTD class (random images when DTD is absent)."""
    if DTD.is_dir():
        for label in sorted(p.name for p in DTD.iterdir() if p.is_dir()):
            (dst / "train" / label).mkdir(parents=True)
            for f in sorted((DTD / label).iterdir())[:per_class]:
                shutil.copyfile(f, dst / "train" / label / f.name)
        return f"dtd10 ({DTD}), {per_class} per class"
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in range(10):
        (dst / "train" / f"c{label}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray((rng.random((384, 384, 3)) * 255).astype(np.uint8)).save(dst / "train" / f"c{label}" / f"{i}.png")
    return f"random 384x384 PNGs (dtd10 not found at {DTD}), {per_class} per class"


def machine() -> dict:
    """What else ran: load averages and the busiest processes not started by this benchmark."""
    mine = set(descendants(os.getpid())) | {os.getpid()}
    ps = subprocess.run(["ps", "-eo", "pid,pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True).stdout.splitlines()
    others = [line.strip()[:160] for line in ps[1:] if int(line.split()[0]) not in mine][:5]
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()], "busiest_other_processes": others}


def ray_run(src: Path, dst: Path, size: int, workers: int, shard_size: int = 0) -> dict:
    from walloc.ray import latent_urls

    start = time.perf_counter()
    s = latent_urls(src, dst, engine="ray", workers=workers, size=size, shard_size=shard_size, progress=False)
    wall = time.perf_counter() - start
    stamps = sorted(p.stat().st_mtime for p in dst.rglob("*") if p.is_file() and not p.name.startswith("."))
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else None
    return {"workers": workers, "written": s.written, "failed": len(s.failed), "seconds": round(wall, 2),
            "files_per_s": round(s.written / wall, 2), "steady_files_per_s": steady and round(steady, 2)}


def reading(root: str, passes: int) -> dict:
    """Examples per second of full passes over a shard tree: streamed (whole shards, read ahead) and
    indexed (one read per example); the best of ``passes``."""
    from torch.utils.data import DataLoader

    from walloc.data import LatentDataset

    start = time.perf_counter()
    ds = LatentDataset(root)
    opened = time.perf_counter() - start
    out = {"examples": len(ds), "open_seconds": round(opened, 3)}
    for name, source in (("streamed", ds.stream(shuffle=True)), ("indexed", ds)):
        best = 0.0
        for epoch in range(passes):
            if name == "streamed":
                source.set_epoch(epoch)
            start = time.perf_counter()
            n = sum(len(y) for _, y in DataLoader(source, batch_size=64, shuffle=name == "indexed"))
            best = max(best, n / (time.perf_counter() - start))
        out[f"{name}_examples_per_s"] = round(best, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2, help="runs of 1 and of 2 workers, alternating; the best of each")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    import ray
    import s3fs

    from walloc.convert import latent_tree

    result: dict = {"machine_before": machine()}
    with tempfile.TemporaryDirectory(prefix="bench_scale.") as tmp:
        work = Path(tmp)
        result["data"] = make_tree(work / "src", args.per_class)
        src = work / "src"
        start = time.perf_counter()
        ref = latent_tree(src, work / "ref", size=args.size, workers=2, progress=False)
        result["local_engine_2_processes"] = {"written": ref.written, "seconds": round(time.perf_counter() - start, 2)}
        latent_tree(src, work / "ref_shards", size=args.size, workers=2, progress=False, shard_size=SHARD)
        reference, shards = files(work / "ref"), files(work / "ref_shards")
        print(f"reference: {len(reference)} .wlc, {len(shards)} shards", flush=True)

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            runs = [ray_run(src, work / f"ray{w}_{k}", args.size, w) for k in range(args.repeats) for w in (1, 2)]
            shard_run = ray_run(src, work / "ray_shards", args.size, 2, SHARD)
            same = {f"wlc_{w}_worker{'s' * (w > 1)}": all(files(work / f"ray{w}_{k}") == reference for k in range(args.repeats))
                    for w in (1, 2)}
            same["shards_2_workers"] = files(work / "ray_shards") == shards
            result["identical"] = dict(same, files=len(reference), shards=len(shards), shard_run=shard_run, met=all(same.values()))
            best = {key: {w: max(r[key] or 0 for r in runs if r["workers"] == w) for w in (1, 2)}
                    for key in ("files_per_s", "steady_files_per_s")}
            e2e = best["files_per_s"][2] / best["files_per_s"][1]
            steady = best["steady_files_per_s"][2] / best["steady_files_per_s"][1] if best["steady_files_per_s"][1] else None
            result["scaling"] = {"runs": runs, "best_of": args.repeats, "speedup_end_to_end": round(e2e, 2),
                                 "speedup_steady": steady and round(steady, 2), "target": 1.7, "met": e2e >= 1.7,
                                 "machine_after_runs": machine()}
            print(json.dumps(result["scaling"]), flush=True)

            watcher: dict = {}
            thread = threading.Thread(target=lambda: watcher.update(kill_worker_when(work / "killed", len(reference) // 3)))
            thread.start()
            killed = ray_run(src, work / "killed", args.size, 2)
            thread.join()
            got = files(work / "killed")
            result["killed"] = dict(watcher, run=killed, outputs=len(got), expected=len(reference),
                                    missing=len(set(reference) - set(got)), extra=len(set(got) - set(reference)),
                                    all_equal_reference=got == reference, hidden_leftovers=hidden(work / "killed"),
                                    met=bool(watcher.get("killed_pid")) and got == reference and killed["failed"] == 0
                                    and killed["written"] == len(reference))
            print(json.dumps(result["killed"]), flush=True)
        finally:
            ray.shutdown()

        with s3_server() as bucket:
            fs = s3fs.S3FileSystem()
            fs.put(str(work / "ref_shards") + "/", f"{bucket}/shards", recursive=True)
            local = reading(str(work / "ref_shards" / "train"), args.passes)
            remote = reading(f"{bucket}/shards/train", args.passes)
        ratio = remote["streamed_examples_per_s"] / local["streamed_examples_per_s"]
        result["s3_reading"] = {"local": local, "s3": remote, "ratio_streamed": round(ratio, 3),
                                "ratio_indexed": round(remote["indexed_examples_per_s"] / local["indexed_examples_per_s"], 3),
                                "target": 0.8, "met": ratio >= 0.8}
        print(json.dumps(result["s3_reading"]), flush=True)
    result["machine_after"] = machine()
    result["note"] = ("2-core machine shared with other jobs (see machine_before/after); Ray: a local instance of 2 CPUs in "
                      "this process, the shipped rgb-16x model, --size " f"{args.size}; S3: moto in server mode on 127.0.0.1")
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
