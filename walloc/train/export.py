"""Export a trained model into the zoo (the model writers: weights, tables, context tables, the kept
releases they replace), measure it on held-out data, and write its card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from safetensors.torch import save_file

from .. import context, zoo
from ..codec import Codec
from ..entropy import FactorizedDensity
from ..eval import card
from ..model import WallocNet
from .data import AUDIO_SUFFIXES, IMAGE_SUFFIXES
from .loop import TrainConfig, make_data

CONTEXT_LATENTS = 1 << 24  # training latents the context tables are fitted on, at most


def eval_files(cfg: TrainConfig) -> list[Path]:
    suffixes = IMAGE_SUFFIXES if cfg.net.modality == "image" else AUDIO_SUFFIXES
    files = sorted(p for f in cfg.eval_folders for p in Path(f).rglob("*") if p.suffix.lower() in suffixes)
    return [p for p in files if not cfg.eval_include or any(s in p.name for s in cfg.eval_include)]


def _relative(folder: str) -> str:
    parts = Path(folder).parts
    return str(Path(*parts[parts.index("shared"):])) if "shared" in parts else folder


def fit_context(codec: Codec, signals: Iterable[torch.Tensor], limit: int = CONTEXT_LATENTS) -> dict[int, context.ContextTables]:
    """Fit the context model of every quality to the integer latents of whole training signals."""
    latents, count = [], 0
    for x in signals:
        y = codec.encode(x.unsqueeze(0))[0]
        latents.append(y if y.dim() == 3 else y.unsqueeze(1))  # audio (K, L) as planes (K, 1, L)
        count += y.numel()
        if count >= limit:
            break
    fitted = {}
    for q in codec.stream.qualities:
        kmax = codec.stream.quality(q).tables.offset
        fitted[q] = context.fit([codec.quantize(y, q).numpy().astype(np.int64) for y in latents], kmax)
    return fitted


def export_model(cfg: TrainConfig, net: WallocNet, density: FactorizedDensity, stats: dict, model_dir: Path | None = None) -> Path:
    """Write weights, tables and JSON, fit the context tables on the training data; then measure
    every quality and record it in the JSON and card."""
    extra = {"trained_on": [_relative(f) for f in cfg.folders], "excluded": cfg.exclude, "training": stats,
             **({"started_from": cfg.start_from} if cfg.start_from else {}),
             **({"sample_rate": cfg.sample_rate} if cfg.sample_rate else {}),
             **({"target_rms_db": cfg.target_rms_db} if cfg.target_rms_db else {})}  # notes and config file: measure_model
    save_model(cfg.name, net.eval(), density.eval(), cfg.qualities, extra, model_dir, cfg.default, cfg.default_quality)
    return refit_model_context(cfg, model_dir)


def refit_model_context(cfg: TrainConfig, model_dir: Path | None = None) -> Path:
    """Fit a saved model's context tables on its training data (its weights stay as they are, so
    streams of its factorized coder stay decodable); then measure it and write its card."""
    fitted = fit_context(Codec.load(cfg.name, model_dir, context=False), make_data(cfg).signals())
    save_context(cfg.name, fitted, {"fitted_on": [_relative(f) for f in cfg.folders]}, model_dir)
    return measure_model(cfg, model_dir)


def measure_model(cfg: TrainConfig, model_dir: Path | None = None) -> Path:
    """Measure a saved model on the config's evaluation files through its own streams and rewrite
    the numbers in its JSON and card (weights and tables stay: no new version)."""
    codec = Codec.load(cfg.name, model_dir)
    path = Path(model_dir or zoo.MODEL_DIR) / f"{cfg.name}.json"
    files = eval_files(cfg)
    config = json.loads(path.read_text())
    config["notes"] = cfg.notes  # the targets and how the model meets them, as the config states them now
    if cfg.source:
        config["config_file"] = cfg.source
    if files:
        evaluated_on = sorted({_relative(str(p.parent)) for p in files})
        for q in config["qualities"]:
            q["measured"] = {**card.measure(codec, files, q["quality"]), "set": evaluated_on}
    path.write_text(json.dumps(config, indent=2) + "\n")
    write_card(config, path.with_suffix(".md"))
    return path


def _how_trained(config: dict) -> str:
    """The card's line on how the weights were trained and from which config."""
    name, t = config["name"], config.get("training", {})
    if config.get("started_from") and t.get("decoder_only", True):  # models before the field: stage 2
        how = f"decoder only, on rounded latents, from {config['started_from']} (encoder and entropy model frozen)."
    else:
        how = "".join([f"rate weight lambda = {t.get('lmbda', '?')}",
                       " on the context coder's rate (its differentiable stand-in)" if t.get("rate") == "context" else "",
                       ", the decoder fed latents rounded at the shipped steps" if t.get("mixed") else "",
                       f", from {config['started_from']}" if config.get("started_from") else "", "."])
    if config.get("config_file"):
        return f"{how} Config: `{config['config_file']}`."
    # exported before the config file was recorded: the two configs of that time
    return how + (f" Configs: `configs/{name}.toml`, then `configs/{name}.decoder.toml`." if config.get("started_from")
                  else f" Config: `configs/{name}.toml`.")


def _units_line(config: dict, snr: bool) -> str:
    """What the card's numbers are measured against."""
    if config["net"]["modality"] == "image":
        return "PSNR on 8-bit pixels (RGB, or gray for a one-channel model); bpp from .wlc file sizes."
    evaluated = next((q["measured"]["set"] for q in config["qualities"] if "measured" in q), [])
    parts = ["PSNR with full scale 1.0 on [-1, 1] samples"]
    if snr:
        parts.append("SNR against each clip itself (its error under its own level: full-scale PSNR rises with a quiet "
                     "clip's headroom, SNR does not) and SI-SDR, means over the files (and SNR's median)")
    parts.append("ratio against 16-bit PCM")
    if any(s.endswith("data/audio") for s in evaluated):
        parts.append("the clips are themselves Vorbis-coded")
    return "; ".join(parts) + "."


def write_card(config: dict, path: Path) -> None:
    arch = config["net"]  # the architecture, as the JSON records it
    unit = "bpp" if arch["modality"] == "image" else "kbps"
    # audio measured since SNR was recorded: SNR against the clip itself beside full-scale PSNR
    snr = any("snr_db" in q.get("measured", {}) for q in config["qualities"])
    head = (" SNR (dB) | SNR median (dB) | SI-SDR (dB) |", "---|---|---|") if snr else ("", "")
    rows = [f"| quality | step | {unit} | PSNR (dB) |{head[0]} ratio | files |", f"|---|---|---|---|{head[1]}---|---|"]
    for q in config["qualities"]:
        m = q.get("measured", {})
        extra = f" {m.get('snr_db', '-')} | {m.get('snr_db_median', '-')} | {m.get('si_sdr', '-')} |" if snr else ""
        rows.append(f"| {q['quality']} | {q['step']} | {m.get(unit, '-')} | {m.get('psnr', '-')} |{extra} {m.get('ratio', '-')} | {m.get('files', '-')} |")
    per_file = [f"| quality | file | {unit} | PSNR (dB) |{' SNR (dB) |' if snr else ''} ratio |", f"|---|---|---|---|{'---|' if snr else ''}---|"]
    for q in config["qualities"]:
        for f in q.get("measured", {}).get("per_file", []):
            per_file.append(f"| {q['quality']} | {f['file']} | {f[unit]} | {f['psnr']} |{' ' + str(f.get('snr_db', '-')) + ' |' if snr else ''} {f['ratio']} |")
    t = config.get("training", {})
    evaluated = next((q["measured"]["set"] for q in config["qualities"] if "measured" in q), ["(not measured)"])
    packet = arch["channels"] * (4 if arch["modality"] == "image" else 2) ** arch["levels"]
    text = f"""# {config['name']}

WaLLoC model for {arch['modality']}: {arch['channels']} channel(s), wavelet packet J={arch['levels']} (CDF 9/7, {arch.get('extension', 'periodic')} borders),
{packet} packet channels -> {arch['latent_dim']} latent channels ({packet / arch['latent_dim']:g}x fewer dimensions),
{arch['latent_bits']}-bit bounded latents, decoder width {arch['width']} with {arch['blocks']} residual blocks{" (told the quality: a gain and an offset per channel and quality)" if arch.get('qualities') else ""},
factorized entropy model frozen to {len(config['qualities'])} sets of 16-bit integer tables (one per quality),
{"and a causal context model (" + str(config['context']['buckets']) + " tables per channel and quality, fitted on the training data) that codes the streams." if 'context' in config else "which code the streams."}
Default quality: {config['default_quality']}. Weights SHA-256: `{config['sha256']}`.{chr(10) + "Context tables SHA-256: `" + config['context']['sha256'] + "`." if 'context' in config else ""}

## Training
Data: {', '.join(config.get('trained_on', []))} (excluded: {', '.join(config.get('excluded', [])) or 'nothing'}).
{t.get('steps', '?')} steps of batch {t.get('batch', '?')} x {t.get('crop', '?')} in {t.get('minutes', '?')} minutes on {t.get('threads', '?')} CPU thread(s),
{_how_trained(config)}

## Measured (through the codec's own compress/decompress, real stream sizes)
Evaluated on: {', '.join(evaluated)}.
{_units_line(config, snr)}

{chr(10).join(rows)}

{"## Targets" + chr(10) + chr(10) + config['notes'].strip() + chr(10) + chr(10) if config.get('notes') else ""}Per file:

{chr(10).join(per_file)}
"""
    path.write_text(text)


# -- the writers: the zoo only reads ------------------------------------------------------------------
def archive_release(name: str, model_dir: Path | None = None) -> Path | None:
    """Copy the current version of model ``name`` (if any) to RELEASES/NAME@VERSION/ and list it in the
    index, before new weights or tables overwrite it; returns the archive folder."""
    folder = Path(model_dir or zoo.MODEL_DIR)
    current = folder / f"{name}.json"
    if not current.exists():
        return None
    config = zoo.read_config(current)
    version = zoo.version_of(config)
    dest = folder / zoo.RELEASES / f"{name}@{version}"
    dest.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".safetensors", ".context.safetensors", ".md"):
        if (folder / f"{name}{suffix}").exists():
            shutil.copy2(folder / f"{name}{suffix}", dest / f"{name}{suffix}")
    index = zoo.releases_index(folder)
    entry = {"version": version, "sha256": config["sha256"], **({"context": {"sha256": config["context"]["sha256"]}} if "context" in config else {})}
    index[name] = [r for r in index.get(name, []) if r["version"] != version] + [entry]
    zoo.index_path(folder).write_text(json.dumps(index, indent=2) + "\n")
    return dest


def save_context(name: str, contexts: dict[int, context.ContextTables], info: dict, model_dir: Path | None = None) -> None:
    """Write one context model per quality beside a saved model and record it in the model's JSON."""
    folder = Path(model_dir or zoo.MODEL_DIR)
    state = {}
    for q, m in contexts.items():
        state[f"modes.{q}"] = torch.from_numpy(m.modes.astype(np.int32))
        state[f"tables.{q}"] = torch.from_numpy(m.tables.cdfs.astype(np.int32))
    config_path = folder / f"{name}.json"
    config = zoo.read_config(config_path)
    if "context" in config:  # a refit: streams of the old tables must stay decodable
        archive_release(name, folder)
        config["version"] = zoo.version_of(config) + 1
    path = folder / f"{name}.context.safetensors"
    save_file(state, str(path))
    buckets = {m.buckets for m in contexts.values()}
    config["context"] = {"sha256": zoo.file_sha256(path), "buckets": buckets.pop(), **info}
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def save_model(name: str, net: WallocNet, density: FactorizedDensity, steps: list[float], extra: dict,
               model_dir: Path | None = None, default: bool = False, default_quality: int = 0) -> Path:
    """Freeze tables for each quantizer step (worst quality first) and write weights + JSON."""
    folder = Path(model_dir or zoo.MODEL_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    replaced = archive_release(name, folder)  # streams of the version replaced stay decodable
    version = zoo.version_of(zoo.read_config(folder / f"{name}.json")) + 1 if replaced else 1
    state = {f"net.{k}": v.detach().contiguous() for k, v in net.state_dict().items()}
    state.update({f"density.{k}": v.detach().contiguous() for k, v in density.state_dict().items()})
    qualities = []
    for i, step in enumerate(steps, start=1):
        tables = density.freeze(step, net.cfg.bound)
        state[f"tables.{i}"] = torch.from_numpy(tables.cdfs.astype(np.int32))
        qualities.append({"quality": i, "step": step, "offset": tables.offset, "precision": tables.precision})
    weights = folder / f"{name}.safetensors"
    save_file(state, str(weights))
    config = {"name": name, "version": version, "net": net.cfg.to_dict(), "qualities": qualities,
              "default_quality": default_quality or len(steps), "default": default, "sha256": zoo.file_sha256(weights), **extra}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path
