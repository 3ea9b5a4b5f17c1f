"""Entropy coder benchmark: walloc's rANS against constriction and CompressAI on the same data.

    python benchmarks/bench_entropy.py --out results/entropy.json [--quick]

Datasets (all coders code exactly the same symbols with the same integer tables):
  synthetic  Laplacian symbols, several channels each with its own scale and matching table.
  kodak      integer latents of the Kodak images under the shipped "rgb-16x" model, one stream
             per image (skipped, with the reason printed, if the walloc API or the images are
             unavailable).

Coders:
  walloc              walloc._rans encode/decode, one thread, one stream per image / dataset
  walloc_mt           walloc._rans encode_chunks/decode_chunks over chunks on all threads
  walloc_cuda         walloc._rans cuda_* (only when built with CUDA and a GPU is present)
  constriction_range  constriction.stream.queue.RangeEncoder/Decoder + Categorical per channel
  constriction_ans    constriction.stream.stack.AnsCoder + Categorical per channel
  compressai_rans     compressai.ans RansEncoder/RansDecoder .encode_with_indexes

A last section, "context_model", codes the same Kodak latents (planes, one stream per image, one
thread) with the causal context model that `.wlc` streams use (coder id 3, walloc/context.py)
beside the factorized tables above: bytes, and encode/decode throughput of both.

Throughput is symbols / median wall time over repeats (million symbols per second).  Overhead
is the coded size over the ideal information content -sum log2(freq / 2^precision) under the
integer tables.  Model/table preparation of the baselines (constriction Categorical objects,
CompressAI's Python lists) is done outside the timed region; walloc builds its tables inside
every call.  Turning decoded output into (C, N) arrays (reassembling walloc_mt pieces, copying
walloc_cuda output to the host, stacking constriction rows, converting CompressAI's Python lists)
is not timed.  The top-level "coders" entry aggregates all datasets (total symbols / total time,
total bytes / total ideal); per-dataset results are under "datasets".
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRECISION = 16


# ------------------------------------------------------------------------------------------------
# data


def laplace_tables(scales: np.ndarray, K: int, precision: int) -> np.ndarray:
    """Integer tables of discretized Laplacians centred at K // 2, every frequency >= 1."""
    total = 1 << precision
    x = np.arange(K) - K // 2
    cdfs = np.zeros((len(scales), K + 1), np.uint32)
    for c, b in enumerate(scales):
        p = np.exp(-np.abs(x) / b)
        p /= p.sum()
        f = 1 + np.floor(p * (total - K)).astype(np.int64)
        f[np.argmax(p)] += total - f.sum()
        cdfs[c, 1:] = np.cumsum(f)
    return cdfs


def synthetic(quick: bool, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    C, N, K = (8, 1 << 17, 128) if quick else (16, 1 << 17, 128)
    scales = np.geomspace(0.3, 12.0, C)
    cdfs = laplace_tables(scales, K, PRECISION)
    sym = np.empty((C, N), np.int32)
    for c in range(C):
        v = np.rint(rng.laplace(0.0, scales[c], N)).astype(np.int64) + K // 2
        sym[c] = np.clip(v, 0, K - 1)
    return {"name": "synthetic", "cdfs": cdfs, "precision": PRECISION, "items": [sym],
            "describe": f"Laplacian, {C} channels x {N} symbols, K={K}, scales {scales[0]:.2f}..{scales[-1]:.1f}"}


def kodak(quick: bool) -> tuple[dict | None, str]:
    """Latents of the Kodak images under the shipped model, or (None, reason)."""
    paths = sorted(glob.glob(str(ROOT.parent / "shared" / "data" / "images" / "kodak" / "*.png")))
    if not paths:
        return None, "no Kodak images under ../shared/data/images/kodak"
    if quick:
        paths = paths[:6]
    try:
        import torch
        from PIL import Image

        import walloc

        codec = walloc.load("rgb-16x")
        t = codec.stream.tables()
        cdfs = np.ascontiguousarray(np.asarray(t.cdfs, dtype=np.uint32))
        offset, precision = int(t.offset), int(t.precision)
        items, clipped = [], 0
        with torch.no_grad():
            for p in paths:
                img = np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255.0
                x = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).contiguous()
                k = codec.quantize(codec.encode(x))
                k = k.detach().cpu().numpy().astype(np.int64)
                C = k.shape[1]
                s = np.moveaxis(k[0], 0, 0).reshape(C, -1) + offset
                K = cdfs.shape[1] - 1
                clipped += int(((s < 0) | (s >= K)).sum())
                items.append(np.clip(s, 0, K - 1).astype(np.int32))
    except Exception as e:  # the walloc API may not exist yet
        return None, f"walloc model API unavailable ({type(e).__name__}: {e})"
    if cdfs.shape[0] != items[0].shape[0]:
        return None, f"tables have {cdfs.shape[0]} rows but latents {items[0].shape[0]} channels"
    return {"name": "kodak", "cdfs": cdfs, "precision": precision, "items": items,
            "describe": f"{len(items)} Kodak images, rgb-16x latents {items[0].shape} per image, "
                        f"{clipped} symbols clipped into the table range"}, ""


def ideal_bits(items: list[np.ndarray], cdfs: np.ndarray, precision: int) -> float:
    freq = np.diff(cdfs.astype(np.int64), axis=1)
    rows = np.arange(cdfs.shape[0])[:, None]
    return float(sum(-np.log2(freq[rows, s] / (1 << precision)).sum() for s in items))


# ------------------------------------------------------------------------------------------------
# coders: each returns (encode_fn, decode_fn) closures; encode_fn() -> payload, decode_fn(payload)
# -> list of (C, N) arrays; nbytes(payload) -> int


def timeit(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def coder_walloc(ds, mt: bool):
    from walloc import _rans

    cdfs, prec, items = ds["cdfs"], ds["precision"], ds["items"]
    if not mt:
        def enc():
            return [_rans.encode(s, cdfs, prec) for s in items]

        def dec(payload):
            return [_rans.decode(b, cdfs, prec, s.shape[1]) for b, s in zip(payload, items)]
        return enc, dec, None
    # chunked: items (images) are the chunks; a single item is split into one piece per thread
    threads = os.cpu_count() or 1
    pieces = []
    for s in items:
        n = max(1, min(threads // len(items), s.shape[1] // 4096))
        pieces += [np.ascontiguousarray(p) for p in np.array_split(s, n, axis=1)]
    counts = [p.shape[1] for p in pieces]

    def enc():
        return _rans.encode_chunks(pieces, cdfs, prec, threads=0)

    def dec(payload):
        return _rans.decode_chunks(payload, cdfs, prec, counts, threads=0)

    def items_of(out):  # reassemble the pieces (outside the timed region)
        res, k = [], 0
        for s in items:
            acc, got = [], 0
            while got < s.shape[1]:
                acc.append(out[k])
                got += out[k].shape[1]
                k += 1
            res.append(np.concatenate(acc, axis=1))
        return res
    return enc, dec, items_of


def coder_walloc_cuda(ds):
    import torch

    from walloc import _rans

    cdfs, prec, items = ds["cdfs"], ds["precision"], ds["items"]
    C = cdfs.shape[0]
    dev = [torch.from_numpy(s).cuda().reshape(-1) for s in items]
    flat = torch.cat(dev)
    counts = [s.shape[1] for s in items]
    out = torch.empty_like(flat)

    def enc():
        r = _rans.cuda_encode_chunks(flat.data_ptr(), counts, cdfs, prec)
        torch.cuda.synchronize()
        return r

    def dec(payload):
        _rans.cuda_decode_chunks(payload, cdfs, prec, counts, out.data_ptr())
        torch.cuda.synchronize()
        return out

    def items_of(dev_out):
        host = dev_out.cpu().numpy()
        res, o = [], 0
        for n in counts:
            res.append(host[o:o + C * n].reshape(C, n))
            o += C * n
        return res
    return enc, dec, items_of


def _probabilities(cdfs: np.ndarray, precision: int) -> list[np.ndarray]:
    freq = np.diff(cdfs.astype(np.int64), axis=1)
    return [(f / float(1 << precision)).astype(np.float64) for f in freq]


def coder_constriction(ds, kind: str):
    import constriction

    cdfs, prec, items = ds["cdfs"], ds["precision"], ds["items"]
    models = [constriction.stream.model.Categorical(p, perfect=False) for p in _probabilities(cdfs, prec)]
    C = len(models)
    if kind == "range":
        def enc():
            out = []
            for s in items:
                e = constriction.stream.queue.RangeEncoder()
                for c in range(C):
                    e.encode(s[c], models[c])
                out.append(e.get_compressed())
            return out

        def dec(payload):
            res = []
            for data, s in zip(payload, items):
                d = constriction.stream.queue.RangeDecoder(data)
                res.append([d.decode(models[c], s.shape[1]) for c in range(C)])
            return res
    else:
        def enc():
            out = []
            for s in items:
                e = constriction.stream.stack.AnsCoder()
                for c in reversed(range(C)):
                    e.encode_reverse(s[c], models[c])
                out.append(e.get_compressed())
            return out

        def dec(payload):
            res = []
            for data, s in zip(payload, items):
                d = constriction.stream.stack.AnsCoder(data)
                res.append([d.decode(models[c], s.shape[1]) for c in range(C)])
            return res
    return enc, dec, lambda out: [np.stack(rows) for rows in out]


def coder_compressai(ds):
    from compressai.ans import RansDecoder, RansEncoder

    cdfs, prec, items = ds["cdfs"], ds["precision"], ds["items"]
    if prec != 16:
        raise RuntimeError("compressai's rANS is fixed to 16-bit tables")
    # CompressAI tables carry an explicit escape symbol at index K: steal one unit for it from
    # the most probable symbol (the same table walloc uses when a stream needs escapes).
    K = cdfs.shape[1] - 1
    tables = []
    for row in cdfs.astype(np.int64):
        f = np.diff(row)
        f = np.append(f, 0)
        j = int(np.argmax(f))
        f[j] -= 1
        f[K] = 1
        tables.append([0] + np.cumsum(f).tolist())
    lengths = [K + 2] * len(tables)
    offsets = [0] * len(tables)
    sym_lists = [s.reshape(-1).tolist() for s in items]
    idx_lists = [np.repeat(np.arange(s.shape[0], dtype=np.int32), s.shape[1]).tolist() for s in items]
    enc_, dec_ = RansEncoder(), RansDecoder()

    def enc():
        return [enc_.encode_with_indexes(sl, il, tables, lengths, offsets) for sl, il in zip(sym_lists, idx_lists)]

    def dec(payload):  # returns Python lists (CompressAI's API); conversion is not timed
        return [dec_.decode_with_indexes(b, il, tables, lengths, offsets) for b, il in zip(payload, idx_lists)]

    def items_of(out):
        return [np.asarray(o, dtype=np.int32).reshape(s.shape) for o, s in zip(out, items)]
    return enc, dec, items_of


def nbytes(payload) -> int:
    total = 0
    for p in payload:
        if isinstance(p, (bytes, bytearray)):
            total += len(p)
        else:  # constriction: uint32 arrays
            total += np.asarray(p).nbytes
    return total


# ------------------------------------------------------------------------------------------------


def run_dataset(ds, repeats: int, coders: list[str]) -> dict:
    items = ds["items"]
    nsym = int(sum(s.size for s in items))
    ideal = ideal_bits(items, ds["cdfs"], ds["precision"])
    res = {"symbols": nsym, "ideal_bytes": ideal / 8, "precision": ds["precision"],
           "describe": ds["describe"], "coders": {}}
    for name in coders:
        try:
            if name == "walloc":
                enc, dec, items_of = coder_walloc(ds, mt=False)
            elif name == "walloc_mt":
                enc, dec, items_of = coder_walloc(ds, mt=True)
            elif name == "walloc_cuda":
                enc, dec, items_of = coder_walloc_cuda(ds)
            elif name == "constriction_range":
                enc, dec, items_of = coder_constriction(ds, "range")
            elif name == "constriction_ans":
                enc, dec, items_of = coder_constriction(ds, "ans")
            elif name == "compressai_rans":
                enc, dec, items_of = coder_compressai(ds)
            else:
                raise ValueError(name)
            enc()  # warm-up (and table/lazy init)
            te, payload = timeit(enc, repeats)
            td, decoded = timeit(lambda: dec(payload), repeats)
            if items_of is not None:
                decoded = items_of(decoded)
            ok = all(np.array_equal(np.asarray(d, dtype=np.int64), s.astype(np.int64)) for d, s in zip(decoded, items))
            if not ok:
                raise RuntimeError("round trip mismatch")
            size = nbytes(payload)
            res["coders"][name] = {
                "encode_msym_s": nsym / te / 1e6,
                "decode_msym_s": nsym / td / 1e6,
                "overhead_pct": (8 * size / ideal - 1) * 100 if ideal > 0 else float("nan"),
                "bytes": size,
                "encode_s": te,
                "decode_s": td,
            }
        except Exception as e:  # a missing optional coder must not stop the benchmark
            res["coders"][name] = {"skipped": f"{type(e).__name__}: {e}"}
    return res


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__}
    from importlib.metadata import PackageNotFoundError, version
    for mod in ("constriction", "compressai", "torch"):
        try:
            info[mod] = version(mod)
        except PackageNotFoundError:
            info[mod] = None
    try:
        import torch
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:
        pass
    return info


def aggregate(datasets: dict) -> dict:
    out = {}
    names = {n for d in datasets.values() if "coders" in d for n in d["coders"]}
    for n in sorted(names):
        rows = [(d, d["coders"][n]) for d in datasets.values() if "coders" in d and "encode_s" in d["coders"].get(n, {})]
        if not rows:
            continue
        sym = sum(d["symbols"] for d, _ in rows)
        out[n] = {
            "encode_msym_s": sym / sum(r["encode_s"] for _, r in rows) / 1e6,
            "decode_msym_s": sym / sum(r["decode_s"] for _, r in rows) / 1e6,
            "overhead_pct": (sum(r["bytes"] for _, r in rows) / sum(d["ideal_bytes"] for d, _ in rows) - 1) * 100,
            "datasets": [k for k, d in datasets.items() if d in [x for x, _ in rows]],
        }
    return out


def print_table(title: str, coders: dict) -> None:
    print(f"\n{title}")
    print(f"  {'coder':<20} {'enc Msym/s':>11} {'dec Msym/s':>11} {'overhead %':>11}")
    for n, r in coders.items():
        if "encode_msym_s" in r:
            print(f"  {n:<20} {r['encode_msym_s']:>11.1f} {r['decode_msym_s']:>11.1f} {r['overhead_pct']:>11.4f}")
        else:
            print(f"  {n:<20} skipped: {r.get('skipped')}")


def context_model(repeats: int, quick: bool) -> dict:
    """The context-model coder against the factorized coder on rgb-16x Kodak latents (planes)."""
    import torch

    import walloc
    from walloc import coder, io

    paths = sorted(glob.glob(str(ROOT.parent / "shared" / "data" / "images" / "kodak" / "*.png")))[: 6 if quick else None]
    if not paths:
        return {"skipped": "no Kodak images"}
    codec = walloc.load("rgb-16x")
    q = codec.quality()
    planes = []
    with torch.no_grad():
        for p in paths:
            x, _ = io.read_image(p)
            planes.append((codec.quantize(codec.encode(x.unsqueeze(0)))[0].numpy() + q.tables.offset).astype(np.int32))
    symbols = sum(k.size for k in planes)
    rows = {}
    # both through the coders that .wlc streams use, one image per call and one thread
    for name, c in (("factorized", coder.RansCoder()), ("context", coder.ContextRansCoder())):
        enc_s, out = timeit(lambda: [c.encode_many([k], q, threads=1)[0] for k in planes], repeats)
        dec_s, back = timeit(lambda: [c.decode_many([b], q, [k.shape], threads=1)[0] for b, k in zip(out, planes)], repeats)
        assert all(np.array_equal(a, b) for a, b in zip(back, planes)), f"{name} round trip failed"
        rows[name] = {"bytes": sum(len(b) for b in out), "enc_msym_s": symbols / enc_s / 1e6, "dec_msym_s": symbols / dec_s / 1e6}
    rows["context"]["bytes_vs_factorized"] = rows["context"]["bytes"] / rows["factorized"]["bytes"]
    print(f"\ncontext model, {len(paths)} Kodak images at quality {q.quality}:")
    for name, r in rows.items():
        print(f"  {name:<11} {r['bytes']:>9,} B  enc {r['enc_msym_s']:7.1f}  dec {r['dec_msym_s']:7.1f} Msym/s")
    return {"images": len(paths), "quality": q.quality, "symbols": symbols, **rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)

    try:
        from walloc import _rans
    except ImportError as e:
        print(f"walloc._rans is not built ({e}); run `pip install --no-build-isolation -e .`", file=sys.stderr)
        return 2
    coders = ["walloc", "walloc_mt", "constriction_range", "constriction_ans", "compressai_rans"]
    if _rans.cuda_available():
        coders.insert(2, "walloc_cuda")

    datasets = {}
    ds = synthetic(args.quick)
    datasets["synthetic"] = run_dataset(ds, repeats, coders)
    print(f"synthetic: {ds['describe']}")
    print_table("synthetic", datasets["synthetic"]["coders"])
    kd, why = kodak(args.quick)
    if kd is None:
        print(f"\nkodak: skipped: {why}")
        datasets["kodak"] = {"skipped": why}
    else:
        print(f"\nkodak: {kd['describe']}")
        datasets["kodak"] = run_dataset(kd, repeats, coders)
        print_table("kodak", datasets["kodak"]["coders"])

    result = {"coders": aggregate(datasets), "machine": machine(), "datasets": datasets,
              "context_model": context_model(repeats, args.quick), "repeats": repeats, "quick": args.quick}
    print_table("all datasets", result["coders"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
