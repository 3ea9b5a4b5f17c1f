"""What real recognizers still read in decoded signals: Tesseract 5 on pages, PocketSphinx 5 on speech.

    python benchmarks/bench_recognize.py --speech ../shared/data/speech --include 1088-,3947-,460-,6848-,7312- \
        -m mono-speech-4x --peers opus,mp3 -j 2 --limit 10 --out docs/results/bench_recognize_speech.json \
        --plot docs/results/recognize_speech.png        (and --docs for pages: docs/results.md has both commands)

Pages (300 dpi bilevel scans) are evaluated at each ``--dpi``: box-downsampled by 300/dpi, which makes
8-bit antialiased gray pages as a gray scan at that resolution would be. Speech is read as it is
(16 kHz mono). Variants of every item:

  original               the signal itself (pages: 8 bits a pixel; speech: 16-bit PCM)
  walloc_<model>_q<k>    every shipped model of the modality (walloc.zoo), every quality, through
                         Codec.compress/decompress; real stream sizes; dims_ratio = signal numbers
                         over the latent numbers the stream holds
  down_<r>x              as many numbers by resolution reduction: pages box-downsampled 2 or 4 per
                         axis and back bicubically (Pillow); speech resampled (scipy polyphase) to the
                         rate with as many samples a second as the model's latents, and back
  <peer>_at_<walloc>     a peer at the bytes of each walloc point of the same item (bisection on its
                         quality setting; ``matched`` says within 10%): pages JPEG (optimize,
                         progressive, gray), WebP (method 6), JPEG XL (effort 7, gray), AVIF (speed 6,
                         gray); speech Opus and MP3 (CBR) through libsndfile
  png, ccitt_g4          pages only, lossless: PNG (optimize) of the evaluated page, and the CCITT
                         Group 4 TIFF of the 300 dpi bilevel page it comes from (both decode to the
                         very pixels of the original, checked, so they read as the original does)

CER and WER are jiwer's corpus-level rates over all items (whitespace runs collapsed; upper case for
speech). Items are taken round-robin over books (speakers) so that ``--limit`` spreads over them.
"""

from __future__ import annotations

import argparse
import io as _io
import json
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCAN_DPI = 300
DOWN = {"down_4x": 2, "down_16x": 4}                     # image variant -> box factor per axis
IMAGE_PEERS = ("jpeg", "webp", "jpegxl", "avif")
AUDIO_PEERS = ("opus", "mp3")
MATCH_TOL = 0.10
# peer -> (lowest, highest setting, integer setting, size rises with the setting)
SEARCH = {"jpeg": (1, 100, True, True), "webp": (0, 100, True, True), "avif": (0, 100, True, True),
          "jpegxl": (0.05, 25.0, False, False), "opus": (0.0, 1.0, False, False), "mp3": (0.0, 0.999, False, False)}   # libsndfile refuses MP3 at 1.0


# -- items --------------------------------------------------------------------------------------------
def round_robin(groups: dict[str, list], limit: int | None, include: tuple[str, ...] = ()) -> list:
    """Items taken one from each group in turn (groups and their items sorted), up to ``limit``; with
    ``include``, only items whose name contains one of those strings (held-out books or speakers)."""
    queues = [sorted(i for i in v if not include or any(s in i[0] for s in include)) for _, v in sorted(groups.items())]
    out = []
    while any(queues) and (limit is None or len(out) < limit):
        for q in queues:
            if q and (limit is None or len(out) < limit):
                out.append(q.pop(0))
    return out


def doc_items(folder: Path, limit: int | None, include: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(name, page PNG, ground truth text) of pages that have both files, round-robin over books."""
    groups = defaultdict(list)
    for png in folder.glob("*.png"):
        if png.with_suffix(".txt").exists():
            groups[png.stem.rstrip("0123456789")].append((png.stem, str(png), png.with_suffix(".txt").read_text()))
    return round_robin(groups, limit, include)


def speech_items(folder: Path, limit: int | None, include: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(utterance id, FLAC, transcript) of every speaker folder, round-robin over speakers."""
    groups = defaultdict(list)
    for listing in folder.glob("*/transcripts.txt"):
        for line in listing.read_text().splitlines():
            uid, _, text = line.partition(" ")
            flac = listing.parent / f"{uid}.flac"
            if flac.exists():
                groups[listing.parent.name].append((uid, str(flac), text))
    return round_robin(groups, limit, include)


# -- one worker process --------------------------------------------------------------------------------
_STATE: dict = {}


def _init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import torch

    torch.set_num_threads(1)


def _cached(key: str, build):
    if key not in _STATE:
        _STATE[key] = build()
    return _STATE[key]


def models_of(modality: str) -> list[str]:
    """The names of every model in the zoo that codes this modality."""
    import walloc

    return [m.name for m in walloc.list_models() if m.modality == modality]


def box(page: np.ndarray, r: int) -> np.ndarray:
    """Mean of r x r blocks, rounded to 8 bits (a ragged last row or column is dropped)."""
    h, w = page.shape[0] // r * r, page.shape[1] // r * r
    return np.round(page[:h, :w].reshape(h // r, r, w // r, r).mean(axis=(1, 3), dtype=np.float64)).astype(np.uint8)


def bicubic(page: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(page, "L").resize((shape[1], shape[0]), Image.BICUBIC))


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    import torch

    from walloc import metrics

    return metrics.psnr(torch.tensor(a), torch.tensor(b), 255.0)   # copies: decoded pages may be read-only views


def _record(item: str, variant: str, nbytes: int, hyp: str, **extra) -> dict:
    return {"item": item, "variant": variant, "bytes": int(nbytes), "hyp": hyp, **extra}


def _peer_points(encode, decode, read, score, walloc_points, peers_cache, chosen) -> list[dict]:
    """Each peer at the bytes of each walloc point: the matched setting, its bytes, recognition, score."""
    from walloc.eval.peers import match_bytes

    out = []
    for name, peer in peers_cache.items():
        if name not in chosen:
            continue
        lo, hi, integer, rising = SEARCH[name]
        cache: dict = {}
        for variant, target in walloc_points:
            q, data = match_bytes(lambda s: encode(peer, s), target, lo, hi, integer, rising, cache=cache)
            y = decode(peer, data)
            out.append({"variant": f"{name}_at_{variant}", "codec": name, "quality": q, "bytes": len(data),
                        "target_bytes": target, "matched": abs(len(data) - target) <= MATCH_TOL * target,
                        "hyp": read(y), **score(y)})
    return out


def walloc_points(name: str, codecs: dict, match, size: int, code, read, score) -> tuple[list[dict], list]:
    """Every model at every quality through ``code(codec, q) -> (stream, decoded)``: the records, and
    the (variant, bytes) points the peers are matched at (models in ``match``)."""
    import walloc

    rows, points = [], []
    for m, codec in codecs.items():
        for q in codec.stream.qualities:
            data, y = code(codec, q)
            variant = f"walloc_{m}_q{q}"
            rows.append(_record(name, variant, len(data), read(y), codec=f"walloc_{m}", quality=q,
                                dims_ratio=round(size / walloc.read_latents(data).numel(), 4), **score(y)))
            if m in match:
                points.append((variant, len(data)))
    return rows, points


def page_job(job: tuple) -> list[dict]:
    """Every variant of one page at every dpi, recognized by Tesseract."""
    import torch
    from PIL import Image

    import walloc
    from walloc.eval.peers import GrayImagecodecs, GrayPillowImage, ccitt_g4
    from walloc.eval.recognize import Tesseract, normalize

    (name, path, text), dpis, models, chosen, match = job
    ocr = _cached("tesseract", Tesseract)
    peers = _cached("image_peers", lambda: {p: (GrayPillowImage(p) if p in ("jpeg", "webp") else GrayImagecodecs(p))
                                            for p in IMAGE_PEERS})
    codecs = _cached("image_codecs:" + ",".join(models), lambda: {m: walloc.load(m) for m in models})
    scan = np.asarray(Image.open(path).convert("L"))
    g4 = ccitt_g4(scan)
    with Image.open(_io.BytesIO(g4)) as im:
        if not np.array_equal(np.asarray(im.convert("L")), scan):
            raise RuntimeError(f"{name}: CCITT G4 did not decode to the page (is it bilevel?)")
    ref = normalize(text)
    records = []
    for dpi in dpis:
        page = box(scan, SCAN_DPI // dpi) if dpi != SCAN_DPI else scan
        common = {"dpi": dpi, "pixels": int(page.size), "ref": ref}

        def read(y: np.ndarray) -> str:
            return normalize(ocr.read(y))

        def score(y: np.ndarray) -> dict:
            return {"psnr": round(psnr8(y, page), 3)}

        hyp = read(page)
        buf = _io.BytesIO()
        Image.fromarray(page, "L").save(buf, format="PNG", optimize=True)
        png = buf.getvalue()
        with Image.open(_io.BytesIO(png)) as im:
            assert np.array_equal(np.asarray(im), page)
        rows = [_record(name, "original", page.size, hyp, dims_ratio=1.0),
                _record(name, "png", len(png), hyp, lossless=True),
                _record(name, "ccitt_g4", len(g4), hyp, lossless=True,
                        note=f"the {SCAN_DPI} dpi bilevel page, of which this page is the box average")]
        for variant, r in DOWN.items():
            y = bicubic(box(page, r), page.shape)
            rows.append(_record(name, variant, box(page, r).size, read(y), dims_ratio=float(r * r), **score(y)))
        def code(codec, q: int) -> tuple[bytes, np.ndarray]:
            data = codec.compress(torch.from_numpy(page)[None], q)
            return data, codec.decompress(data)[0].mul(255).round_().clamp_(0, 255).to(torch.uint8).numpy()

        walloc_rows, points = walloc_points(name, codecs, match, page.size, code, read, score)
        rows += walloc_rows
        for p in _peer_points(lambda c, s: c.encode(page, s), lambda c, d: c.decode(d), read, score, points, peers, chosen):
            rows.append({"item": name, **p})
        records += [dict(r, **common) for r in rows]
    return records


def speech_job(job: tuple) -> list[dict]:
    """Every variant of one utterance, heard by PocketSphinx."""
    import soundfile as sf
    import torch

    import walloc
    from walloc import metrics
    from walloc.eval.peers import SoundfileAudio, _resample
    from walloc.eval.recognize import SPEECH_RATE, PocketSphinx, normalize
    from walloc.io import AudioMeta

    (name, path, text), models, chosen, match = job
    asr = _cached("pocketsphinx", PocketSphinx)
    peers = _cached("audio_peers", lambda: {p: SoundfileAudio(p) for p in AUDIO_PEERS})
    codecs = _cached("audio_codecs:" + ",".join(models), lambda: {m: walloc.load(m) for m in models})
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    x = np.ascontiguousarray(x.mean(axis=1)[None])                   # (1, L) mono
    seconds = x.shape[1] / rate
    common = {"ref": normalize(text, upper=True), "seconds": seconds}

    def fit(y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, np.float32).reshape(-1)[: x.shape[1]]
        return np.pad(y, (0, x.shape[1] - y.size))[None]

    def read(y: np.ndarray) -> str:
        return normalize(asr.read(_resample(fit(y), rate, SPEECH_RATE)[0]), upper=True)

    def score(y: np.ndarray) -> dict:
        y = fit(y)
        decoded, ref = torch.from_numpy(y), torch.from_numpy(x)
        snr = metrics.snr(decoded, ref)
        ref16, y16 = _resample(x, rate, SPEECH_RATE)[0], _resample(y, rate, SPEECH_RATE)[0]
        return {"snr_db": round(snr, 3) if math.isfinite(snr) else None,
                "si_sdr": round(metrics.si_sdr(decoded, ref), 3),
                "psnr": round(metrics.psnr(decoded, ref), 3),
                "pesq_wb": round(metrics.pesq_wb(y16, ref16, SPEECH_RATE), 3),
                "stoi": round(metrics.stoi(y16, ref16, SPEECH_RATE), 4)}

    rows = [_record(name, "original", 2 * x.size, read(x), dims_ratio=1.0, pesq_wb=round(metrics.pesq_wb(x[0], x[0], rate), 3) if rate == SPEECH_RATE else None,
                    stoi=1.0)]
    def code(codec, q: int) -> tuple[bytes, np.ndarray]:
        data = codec.compress(torch.from_numpy(x), q, AudioMeta(sample_rate=rate))
        return data, codec.decompress(data).numpy()

    walloc_rows, points = walloc_points(name, codecs, match, x.size, code, read, score)
    rows += walloc_rows
    # one down variant per model, named by the model's nominal reduction (an utterance's padding moves
    # its own ratio by a fraction of a percent: the name must not)
    for reduction in dict.fromkeys(codec.cfg.dim_reduction for codec in codecs.values()):
        low = max(1, round(rate / reduction))
        y = _resample(_resample(x, rate, low), low, rate)
        rows.append(_record(name, f"down_{reduction:.3g}x", 2 * math.ceil(x.shape[1] * low / rate), read(y),
                            rate_hz=low, dims_ratio=round(rate / low, 4), **score(y)))
    for p in _peer_points(lambda c, s: c.encode(x, rate, s), lambda c, d: c.decode(d, rate), read, score, points, peers, chosen):
        rows.append({"item": name, **p})
    return [dict(r, **common) for r in rows]


# -- the corpus -----------------------------------------------------------------------------------------
def summarize(records: list[dict], speech: bool) -> dict:
    """Per variant: corpus-level CER/WER, bytes per item, bpp or kbps, dims ratio and mean scores."""
    from walloc.eval.recognize import error_rates

    by = defaultdict(list)
    for r in records:
        by[r["variant"]].append(r)
    out = {}
    for variant, rows in by.items():
        rates = error_rates([r["ref"] for r in rows], [r["hyp"] for r in rows])
        total = sum(r["bytes"] for r in rows)
        v = {"cer": round(rates["cer"], 5), "wer": round(rates["wer"], 5), "items": len(rows),
             "bytes_per_item": round(total / len(rows), 1)}
        if speech:
            v["kbps"] = round(8 * total / sum(r["seconds"] for r in rows) / 1000, 4)
        else:
            v["bpp"] = round(8 * total / sum(r["pixels"] for r in rows), 5)
        for key in ("dims_ratio", "psnr", "snr_db", "si_sdr", "pesq_wb", "stoi"):
            vals = [r[key] for r in rows if r.get(key) is not None]
            if vals:
                v[key] = _mean(vals)
        for key in ("codec", "quality", "rate_hz", "lossless", "note"):
            if key in rows[0]:
                v[key] = rows[0][key]
        if "target_bytes" in rows[0]:
            v["target_bytes_per_item"] = round(sum(r["target_bytes"] for r in rows) / len(rows), 1)
            v["matched_items"] = sum(r["matched"] for r in rows)
            v["qualities"] = [r["quality"] for r in rows]
        out[variant] = v
    return dict(sorted(out.items()))


def _mean(vals: list[float]) -> float | None:
    finite = [float(x) for x in vals if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not finite:
        return None
    m = sum(finite) / len(finite)
    return m if math.isinf(m) else round(m, 4)


def run(jobs: list, fn, workers: int, desc: str) -> list[dict]:
    """Every job through ``fn`` in ``workers`` processes (one thread each), with a progress bar."""
    from multiprocessing import get_context

    from tqdm import tqdm

    records = []
    with get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
        for rows in tqdm(pool.imap_unordered(fn, jobs), total=len(jobs), desc=desc, unit="item"):
            records += rows
    return records


def recognizer_info(kind: str) -> dict:
    from walloc.eval.recognize import PocketSphinx, Tesseract

    return {**(Tesseract if kind == "docs" else PocketSphinx)().info(), "threads": 1}   # _init_worker's limit


def bench(docs: Path | None, speech: Path | None, dpis: list[int], limit: int | None, workers: int,
          peers: tuple[str, ...] = IMAGE_PEERS + AUDIO_PEERS, include: tuple[str, ...] = (),
          models: tuple[str, ...] = (), match: tuple[str, ...] = ()) -> dict:
    """The whole benchmark as a JSON-able dict (see the module docstring). ``models``: the walloc models
    to run (default every one of the modality); ``match``: those whose points the peers are matched at
    (default all that run); ``include``: only items whose name contains one of these."""
    import walloc
    from walloc.eval.machine import machine

    result = {"benchmark": "bench_recognize", "walloc": walloc.__version__, "machine": machine(), "match_tolerance": MATCH_TOL,
              "settings": {"jpeg": "Pillow, optimize, progressive, gray (1 component)", "webp": "Pillow, method 6 (gray as RGB)",
                           "jpegxl": "imagecodecs, effort 7 (effort 9 wrote larger files on these pages), gray", "avif": "imagecodecs, speed 6, gray",
                           "opus": "libsndfile Ogg/Opus, compression level searched", "mp3": "libsndfile LAME CBR, compression level searched",
                           "png": "Pillow optimize=True", "ccitt_g4": "Pillow/libtiff group4, 1-bit 300 dpi page"}}
    started = time.time()
    if docs is not None:
        items = doc_items(docs, limit, include)
        chosen = [m for m in models_of("image") if not models or m in models]
        records = run([(it, dpis, chosen, peers, match or chosen) for it in items], page_job, workers, "pages")
        result["docs"] = {"folder": str(docs), "items": [it[0] for it in items], "models": chosen, "peers_matched_at": list(match or chosen),
                          "recognizer": recognizer_info("docs"), "scan_dpi": SCAN_DPI,
                          "per_dpi": {str(d): {"variants": summarize([r for r in records if r["dpi"] == d], False),
                                               "per_item": _items(r for r in records if r["dpi"] == d)} for d in dpis}}
    if speech is not None:
        items = speech_items(speech, limit, include)
        chosen = [m for m in models_of("audio") if not models or m in models]
        records = run([(it, chosen, peers, match or chosen) for it in items], speech_job, workers, "utterances")
        result["speech"] = {"folder": str(speech), "items": [it[0] for it in items], "models": chosen, "peers_matched_at": list(match or chosen),
                            "recognizer": recognizer_info("speech"), "variants": summarize(records, True),
                            "per_item": _items(records)}
    result["seconds"] = round(time.time() - started, 1)
    return result


def _items(records) -> list[dict]:
    """Per-item records without the texts (the corpus rates are computed from them; they would bloat the JSON)."""
    from walloc.eval.recognize import error_rates

    out = []
    for r in records:
        rates = error_rates([r["ref"]], [r["hyp"]])
        out.append({k: v for k, v in r.items() if k not in ("hyp", "ref")} | {"cer": round(rates["cer"], 5), "wer": round(rates["wer"], 5)})
    return out


# -- reports ----------------------------------------------------------------------------------------------
def family(variant: str, v: dict) -> str:
    """The curve a variant belongs to in the plot: its codec (walloc model, peer, resolution reduction)."""
    if variant.startswith("down_"):
        return "down"
    return v.get("codec", variant)


def markdown(result: dict) -> str:
    """The result as markdown tables: one per dpi for pages, one for speech."""
    lines = []
    for dpi, block in result.get("docs", {}).get("per_dpi", {}).items():
        lines += [f"Pages at {dpi} dpi ({len(result['docs']['items'])} pages, Tesseract {result['docs']['recognizer']['version']}):", "",
                  "| variant | CER % | WER % | bpp | KB/page | dims ratio | PSNR dB |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, v in block["variants"].items():
            lines.append(f"| {name}{_unmatched(v)} | {100 * v['cer']:.2f} | {100 * v['wer']:.2f} | {v['bpp']:.3f} | "
                         f"{v['bytes_per_item'] / 1000:.1f} | {_num(v.get('dims_ratio'))} | {_num(v.get('psnr'))} |")
        lines.append("")
    if "speech" in result:
        s = result["speech"]
        lines += [f"Speech ({len(s['items'])} utterances, PocketSphinx {s['recognizer']['version']}):", "",
                  "| variant | WER % | CER % | kbps | dims ratio | SNR dB | SI-SDR dB | PESQ-WB | STOI |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, v in s["variants"].items():
            lines.append(f"| {name}{_unmatched(v)} | {100 * v['wer']:.2f} | {100 * v['cer']:.2f} | {v['kbps']:.2f} | "
                         f"{_num(v.get('dims_ratio'))} | {_num(v.get('snr_db'))} | {_num(v.get('si_sdr'))} | "
                         f"{_num(v.get('pesq_wb'))} | {_num(v.get('stoi'), 3)} |")
        lines.append("")
    return "\n".join(lines)


def _unmatched(v: dict) -> str:
    if "matched_items" in v and v["matched_items"] < v["items"]:
        return f" ({v['items'] - v['matched_items']} of {v['items']} not within {100 * MATCH_TOL:.0f}% of the bytes)"
    return ""


def _num(x, digits: int = 2) -> str:
    if x is None:
        return "-"
    return "inf" if math.isinf(x) else f"{x:.{digits}f}"


def plot(result: dict, path: Path) -> None:
    """CER against bpp (one panel per dpi) and WER against kbps, one line per codec, the original dashed."""
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    from walloc.eval.plot import pyplot

    plt = pyplot()
    panels = [(f"pages at {d} dpi", b["variants"], "bpp", "cer") for d, b in result.get("docs", {}).get("per_dpi", {}).items()]
    if "speech" in result:
        panels.append(("speech", result["speech"]["variants"], "kbps", "wer"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    for ax, (title, variants, rate, err) in zip(axes[0], panels):
        curves = defaultdict(list)
        for name, v in variants.items():
            if name != "original":
                curves[family(name, v)].append((v[rate], 100 * v[err]))
        for label, pts in sorted(curves.items()):
            pts.sort()
            style = {"linewidth": 2.2} if label.startswith("walloc") else {"linewidth": 1.1}
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3.5, label=label, **style)
        ax.axhline(100 * variants["original"][err], color="0.3", linestyle="--", linewidth=1, label="original")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks([t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200) if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]])
        ax.set_xlabel("bits per pixel" if rate == "bpp" else "kbit/s")
        ax.set_ylabel(f"{err.upper()} % (corpus)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=Path, help="folder of 300 dpi bilevel pages NAME.png with NAME.txt")
    ap.add_argument("--speech", type=Path, help="folder of SPEAKER/ folders with FLAC utterances and transcripts.txt")
    ap.add_argument("--dpi", type=int, nargs="+", default=[150, 100], help="resolutions to evaluate pages at (default 150 100)")
    ap.add_argument("--limit", type=int, help="at most N items per corpus")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (one thread each)")
    ap.add_argument("--include", default="", help="comma-separated: only items whose name contains one of these "
                    "(held-out books or speakers, e.g. oldbooks_f,oldbooks_g or 1088-,3947-)")
    ap.add_argument("-m", "--models", default="", help="comma-separated walloc models to run (default every model of the modality)")
    ap.add_argument("--match", default="", help="comma-separated walloc models whose points the peers are matched at (default all that run)")
    ap.add_argument("--peers", default=",".join(IMAGE_PEERS + AUDIO_PEERS), help="comma-separated peers to match (default all)")
    ap.add_argument("--out", type=Path, help="JSON results file")
    ap.add_argument("--plot", type=Path, help="PNG of error rate against rate")
    args = ap.parse_args(argv)
    if args.docs is None and args.speech is None:
        ap.error("give --docs DIR and/or --speech DIR")
    for flag, folder in (("--docs", args.docs), ("--speech", args.speech)):
        if folder is not None and not folder.is_dir():
            ap.error(f"{flag} {folder}: no such folder")
    if any(d <= 0 or SCAN_DPI % d for d in args.dpi):
        ap.error(f"--dpi must divide {SCAN_DPI} (e.g. 150 100)")
    if args.limit is not None and args.limit < 1 or args.jobs < 1:
        ap.error("--limit and -j must be at least 1")
    include = tuple(t for t in args.include.split(",") if t)
    if args.docs is not None and not doc_items(args.docs, 1, include):
        ap.error(f"--docs {args.docs}: no NAME.png with NAME.txt" + (f" whose name has {args.include}" if include else ""))
    if args.speech is not None and not speech_items(args.speech, 1, include):
        ap.error(f"--speech {args.speech}: no SPEAKER/transcripts.txt with FLAC files" + (f" whose name has {args.include}" if include else ""))
    peers = tuple(p for p in args.peers.split(",") if p)
    if not set(peers) <= set(IMAGE_PEERS + AUDIO_PEERS):
        ap.error(f"--peers: known are {', '.join(IMAGE_PEERS + AUDIO_PEERS)}")
    from walloc.eval.codecs import CodecUnavailable

    try:
        for kind, folder in (("docs", args.docs), ("speech", args.speech)):
            if folder is not None:
                recognizer_info(kind)
    except CodecUnavailable as e:
        raise SystemExit(f"bench_recognize: {e}") from None
    names = lambda text: tuple(t for t in text.split(",") if t)  # noqa: E731
    import walloc

    known = {m.name for m in walloc.list_models()}
    unknown = set(names(args.models) + names(args.match)) - known
    if unknown:
        ap.error(f"unknown model(s) {', '.join(sorted(unknown))} (shipped: {', '.join(sorted(known))})")
    result = bench(args.docs, args.speech, args.dpi, args.limit, args.jobs, peers, include,
                   names(args.models), names(args.match))
    text = json.dumps(result, indent=1) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    if args.plot:
        plot(result, args.plot)
    print(markdown(result))


if __name__ == "__main__":
    main()
