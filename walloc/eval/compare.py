"""The whole ``walloc rd``: codecs by name, one sweep over the files, each curve's Pareto front and its
BD-rate against the anchors (WebP and JPEG for images, Opus and MP3 for audio)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from .. import metrics
from ..errors import MediaError, ModelError
from .codecs import AudioCodec, CodecUnavailable, ImageCodec, walloc_adapter
from .machine import machine
from .peers import AUDIO_PEERS, IMAGE_PEERS, make_peer
from .sweep import find_files, sweep

ANCHORS = {"image": ("webp", "jpeg"), "audio": ("opus", "mp3")}


def default_codecs(modality: str) -> list[str]:
    """Every shipped WaLLoC model of this modality, then the peers."""
    import walloc

    models = [f"walloc:{m.name}" for m in walloc.list_models() if m.modality == modality]
    return models + list(IMAGE_PEERS if modality == "image" else AUDIO_PEERS)


def make_codec(spec: str, modality: str, threads: int = 1) -> ImageCodec | AudioCodec:
    """A codec by name ('jpeg', 'opus', 'walloc:rgb-16x', ...); CodecUnavailable if it cannot run here."""
    spec = spec.strip()
    if spec.startswith("walloc:"):
        try:
            return walloc_adapter(spec.split(":", 1)[1], modality, threads)
        except ModelError as e:
            raise CodecUnavailable(str(e)) from None
    return make_peer(spec, modality, threads)


def pareto(points: list[dict], rate_key: str, quality_key: str = "psnr") -> list[dict]:
    """The points no other point beats: sorted by rate, each of higher quality than all cheaper ones."""
    front, best = [], -math.inf
    for p in sorted(points, key=lambda p: (p[rate_key], -p[quality_key])):
        q = p[quality_key]
        if q is not None and math.isfinite(q) and q > best and p[rate_key] and p[rate_key] > 0:
            front.append(p)
            best = q
    return front


def bd_rates(curves: dict, anchor: str, rate_key: str, quality_key: str = "psnr") -> tuple[dict, dict]:
    """BD-rate (percent, on the quality key) of every curve against one anchor; reasons for the gaps."""
    values, notes = {}, {}
    if anchor not in curves:
        return values, {name: f"anchor '{anchor}' did not run" for name in curves}
    ref = pareto(curves[anchor], rate_key, quality_key)
    for name, points in curves.items():
        test = pareto(points, rate_key, quality_key)
        try:
            values[name] = round(metrics.bd_rate([p[rate_key] for p in ref], [p[quality_key] for p in ref],
                                                 [p[rate_key] for p in test], [p[quality_key] for p in test]), 2)
        except ValueError as e:
            values[name], notes[name] = None, str(e)
    return values, notes


def add_bd_rates(out: dict) -> dict:
    """Set the BD-rates of every curve of a result against its modality's anchors (in place)."""
    notes = {}
    for anchor in ANCHORS[out["modality"]]:
        out[f"bd_rate_vs_{anchor}"], why = bd_rates(out["codecs"], anchor, out["rate"])
        notes.update({f"{name} vs {anchor}": reason for name, reason in why.items()})
    out["bd_rate_notes"] = notes
    return out


def merge(results: Sequence[dict]) -> dict:
    """One result from runs over the same files with different codecs (slow peers measured apart or in
    parallel): curves, settings and skips joined, BD-rates recomputed. Runs that disagree on the files,
    or that both measured a codec, are refused; each run's machine is kept."""
    first = results[0]
    out = {k: v for k, v in first.items() if not k.startswith("bd_rate")}
    out["codecs"], out["settings"], out["skipped"], out["machine"] = {}, {}, {}, [
        m for r in results for m in (r.get("machine") if isinstance(r.get("machine"), list) else [r.get("machine")])]
    for r in results:
        for key in ("dataset", "modality", "files", "rate"):
            if r.get(key) != first.get(key):
                raise MediaError(f"cannot merge runs with different {key}: {first.get(key)!r} and {r.get(key)!r}")
        twice = sorted(set(out["codecs"]) & set(r["codecs"]))
        if twice:
            raise MediaError(f"cannot merge: {', '.join(twice)} measured in more than one run")
        out["codecs"].update(r["codecs"])
        out["settings"].update(r.get("settings", {}))
        out["skipped"].update(r.get("skipped", {}))
    out["skipped"] = {k: v for k, v in out["skipped"].items() if k not in out["codecs"]}
    out.pop("per_file", None)
    return add_bd_rates(out)


def run(paths: Sequence[str | Path], codecs: Sequence[str] | None = None, modality: str | None = None,
        limit: int | None = None, threads: int = 1, per_file: bool = False, progress: bool = True,
        qualities: dict | None = None) -> dict:
    """Find files, build codecs (noting the skipped), sweep, BD-rates: the JSON of ``walloc rd``."""
    modality, files = find_files(paths, modality, limit)
    names = list(codecs) if codecs else default_codecs(modality)
    built, skipped = [], {}
    for name in dict.fromkeys(names):
        try:
            built.append(make_codec(name, modality, threads))
        except CodecUnavailable as e:
            skipped[name.strip()] = str(e)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = sweep(built, files, modality, per_file=per_file, progress=progress, qualities=qualities)
        info = machine()
    finally:
        torch.set_num_threads(before)
    skipped.update(result["skipped"])
    rate_key = "bpp" if modality == "image" else "kbps"
    out = {"dataset": ", ".join(str(p) for p in paths), "modality": modality, "files": len(files),
           "rate": rate_key, "speed_unit": "megapixels/s" if modality == "image" else "million samples (per channel)/s",
           "codecs": result["curves"], "skipped": skipped}
    add_bd_rates(out)
    out["settings"] = {c.name: {"quality": c.quality_meaning, "options": c.options, "library": c.library}
                       for c in built if c.name not in skipped}
    out["method"] = (("PSNR and MS-SSIM on 8-bit RGB, mean over images; bpp from real file sizes; " if modality == "image" else
                      "PSNR (full scale 1) and SI-SDR on float samples, mean over clips; kbps from real file sizes; ")
                     + "BD-rate on PSNR over each curve's Pareto front (Bjontegaard, cubic fit); "
                     + f"speed = units / total encode or decode wall time, {threads} thread(s)")
    out["machine"] = info
    if per_file:
        out["per_file"] = result["per_file"]
    return out
