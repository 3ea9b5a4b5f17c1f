"""The ``walloc`` command: a thin shell over the Python API.

Every failure a user can cause ends as one line on stderr and a non-zero exit code; output files
appear whole or not at all, and links, devices and FIFOs are written through (:mod:`walloc.output`).
Start-up stays light: encoding, ``info`` and ``models`` need no torch; the commands that run a
network (decode, ``--verify``, train, rd, latents) import it when they run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import click
import numpy as np

import walloc
from walloc import convert
from walloc.bitstream import peek_header
from walloc.errors import MediaError, ModelError, WallocError
from walloc.output import atomic_output, check_target, is_stream, read_input

from . import options

EPILOG_ENCODE = """\b
Examples:
  walloc encode kodim01.png                 # -> kodim01.wlc with the default image model
  walloc encode song.wav -q 5 -o song.wlc   # audio at stereo-5x's highest quality (1-5, default 3)
  cat photo.png | walloc encode - > photo.wlc
  walloc encode photos/ -o photos-wlc/ -j 8 # a whole tree, mirrored, on 8 processes
"""

EPILOG_DECODE = """\b
Examples:
  walloc decode kodim01.wlc                 # -> kodim01.decoded.png
  walloc decode kodim01.wlc -o k.webp       # the suffix picks the format
  walloc decode song.wlc -o - --format flac | play -   # a valid stream on a pipe
  walloc decode photos-wlc/ -o photos/ -j 8 # a whole tree, mirrored, on 8 processes
"""

BATCH_HELP = """
\b
Many files: give several FILEs or folders, and -o OUTDIR/ (a folder; each folder's contents are
mirrored into it). Outputs that exist are skipped unless -f; a file that fails is reported in one
line and the rest go on; the exit code is 1 if any failed.
"""


def _say(message: str) -> None:
    click.echo(message, err=True)


def _human(n: float) -> str:
    return f"{n:,.0f}"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(walloc.__version__, prog_name="walloc")
def cli() -> None:
    """WaLLoC: wavelet learned lossy compression for images and audio.

    Images and audio are turned into small .wlc bitstreams whose latents keep 4-16x fewer
    dimensions than the signal, so models can also learn on them directly.
    Run `walloc models` to see the shipped models and their qualities.
    """


def _batch(inputs: tuple[str, ...], output: str | None) -> bool:
    """Many files at once: several inputs, a folder among them, or an output folder."""
    if "-" in inputs and len(inputs) > 1:
        raise MediaError("'-' (standard input) can only be the one input")
    return len(inputs) > 1 or any(Path(i).is_dir() for i in inputs if i != "-") or bool(
        output and output != "-" and (output.endswith(os.sep) or Path(output).is_dir()))


def _outdir(output: str | None) -> Path | None:
    if output is not None and output != "-" and Path(output).exists() and not Path(output).is_dir():
        raise MediaError(f"{output} is not a folder; with many inputs -o names the output folder")
    if output == "-":
        raise MediaError("many inputs cannot go to one stream; give -o OUTDIR/")
    return Path(output) if output else None


def _report(s: convert.Summary, verb: str) -> None:
    """The summary line of a batch; exit code 1 if any file failed."""
    _say(f"{s.written} {verb}, {s.skipped} skipped (outputs exist; -f redoes them), {len(s.failed)} failed "
         f"of {s.total} files, {_human(s.bytes)} bytes, {s.seconds:.1f} s")
    if s.failed:
        sys.exit(1)


@cli.command(epilog=EPILOG_ENCODE + BATCH_HELP)
@click.argument("inputs", nargs=-1, required=True, metavar="FILE|DIR...")
@options.output("Output .wlc file ('-' for stdout), or with many inputs an output folder. Default: INPUT with .wlc suffix.")
@options.model()
@options.quality()
@options.force()
@click.option("--verify", is_flag=True, help="Decode the result again and print its PSNR (audio also its SNR: the error "
              "under the clip's own level); one file.")
@options.jobs()
@options.threads()
def encode(inputs: tuple[str, ...], output: str | None, model: str | None, quality: int | None, force: bool,
           verify: bool, jobs: int, threads: int) -> None:
    """Compress images (PNG, JPEG, WebP, TIFF, BMP, GIF, .npy) or audio (WAV, FLAC, Ogg, MP3) to .wlc.

    .npy images are (H, W) or (H, W, C) arrays of uint8, uint16 or floats in [0, 1].
    """
    options.use_threads(threads)
    if _batch(inputs, output):
        if verify:
            raise MediaError("--verify works on one file")
        job = convert.EncodeJob(model, quality, force)
        jobs = options.check_jobs(jobs)
        _report(convert.encode_many(inputs, _outdir(output), job, workers=jobs,
                                    threads=options.per_process(threads, jobs)), "encoded")
        return
    (input,) = inputs
    output = output or ("-" if input == "-" else str(Path(input).with_suffix(".wlc")))
    check_target(output, force)
    source = read_input(input) if input == "-" else Path(input)  # files are read by their readers, once
    modality, signal, meta = convert.read_media(source, input)
    encoder = convert.load_encoder(model, modality)
    encoder.check_codable(signal, quality, input)
    start = time.perf_counter()
    with _bar("encoding") as progress:
        data = encoder.compress(signal, quality, meta, progress)
    seconds = time.perf_counter() - start
    with atomic_output(output) as f:
        f.write(data)
    stats = [f"{input} -> {output}: {_human(len(data))} bytes"]
    if modality == "image":
        stats.append(f"{8 * len(data) / (signal.shape[1] * signal.shape[2]):.3f} bpp")
    else:
        stats.append(f"{8 * len(data) / (signal.shape[1] / meta.sample_rate) / 1000:.1f} kbps")
    stats += [f"{signal.size * meta.bit_depth / (8 * len(data)):.1f}:1", f"{encoder.cfg.dim_reduction:.3g}x fewer dimensions",
              f"model {encoder.name} q{encoder.stream.quality(quality).quality}", f"{seconds:.2f} s"]
    if verify:
        stats += [f"{name} {value:.2f} dB" for name, value in _verify(data, signal, modality == "image" and meta.bit_depth == 8,
                                                                     modality == "audio").items()]
    _say(", ".join(stats))


def _verify(data: bytes, signal, eight_bit: bool, audio: bool) -> dict[str, float]:
    """PSNR of a stream's decoding against the signal it was made from; for audio also the SNR against
    the signal itself, which full-scale PSNR hides for a quiet take."""
    import torch

    from walloc import metrics
    from walloc.signal import to_float

    decoded = walloc.codec_for(data).decompress(data)
    wide = signal.dtype == np.uint16  # integer pixels torch's converter does not scale
    reference = torch.from_numpy(signal.astype(np.float32) / 65535) if wide else to_float(torch.from_numpy(signal))
    decoded = torch.as_tensor(decoded)
    scores = {"PSNR": metrics.psnr_8bit(decoded, reference) if eight_bit else metrics.psnr(decoded, reference)}
    if audio:
        scores["SNR"] = metrics.snr(decoded, reference)
    return scores


@cli.command(epilog=EPILOG_DECODE + BATCH_HELP)
@click.argument("inputs", nargs=-1, required=True, metavar="FILE|DIR...")
@options.output("Output file; its suffix picks the format (.png .jpg .webp .tif .bmp .npy; .wav .flac). "
                                     "'-' for stdout. With many inputs: an output folder.")
@click.option("--format", "fmt", help="Output format (png, tif, npy, ..., wav, flac), for '-', devices, names "
                                      "without a suffix and folders. Default: the suffix, else png / wav.")
@options.force()
@options.jobs()
@options.threads()
@click.option("--backend", type=click.Choice(["onnx", "torch"]), default=None,
              help="Run the decoder network on ONNX Runtime (no torch needed) or torch. Default: onnx where "
                   "onnxruntime is installed and the model has its graph.")
def decode(inputs: tuple[str, ...], output: str | None, fmt: str | None, force: bool, jobs: int, threads: int,
           backend: str | None) -> None:
    """Decompress .wlc files back to images or audio.

    \b
    Default output: INPUT with .decoded.png (images) or .decoded.wav (audio), so that decoding
    never replaces the original the stream was made from.
    """
    fmt = fmt.lower().lstrip(".") if fmt else None
    options.use_threads(threads)
    if _batch(inputs, output):
        jobs = options.check_jobs(jobs)
        _report(convert.decode_many(inputs, _outdir(output), convert.DecodeJob(fmt, force, backend), workers=jobs,
                                    threads=options.per_process(threads, jobs)), "decoded")
        return
    (input,) = inputs
    data = read_input(input)
    header = peek_header(data)
    fmt = fmt or _format_of(output) or convert.DEFAULT_FORMAT[header.modality]
    convert.check_format(header, fmt)  # before any decoding
    output = output or ("-" if input == "-" else str(Path(input).with_suffix(f".decoded.{fmt}")))
    check_target(output, force)
    start = time.perf_counter()
    with _bar("decoding") as progress:
        decoded = convert.decode_stream(data, header, progress, backend)
    seconds = time.perf_counter() - start
    convert.write_decoded(output, decoded, fmt)
    shape = "x".join(str(e) for e in reversed(header.extent)) if header.modality == "image" else f"{header.extent[0]} samples"
    _say(f"{input} -> {output}: {header.modality} {shape}, {header.channels} channel(s), model {header.model} q{header.quality}, {seconds:.2f} s")


def _format_of(output: str | None) -> str | None:
    """The format an output's name asks for: its suffix; None for stdout, devices, FIFOs and no name."""
    if output is None or is_stream(output):
        return None
    suffix = Path(output).suffix.lstrip(".").lower()
    if not suffix:
        raise MediaError(f"{output} has no suffix to tell the format; name one (e.g. {output}.png, {output}.wav) "
                         "or give --format")
    return suffix


@contextlib.contextmanager
def _bar(what: str) -> Iterator[Callable[[float], None] | None]:
    """A percent bar on stderr for long work: only on a terminal (tqdm loads only then) and after a second."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=100, desc=what, unit="%", file=sys.stderr, delay=1.0, leave=False,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as bar:
        yield lambda fraction: bar.update(round(100 * fraction) - bar.n)


@cli.command()
@click.argument("file", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print the header as JSON.")
def info(file: str, as_json: bool) -> None:
    """Show the header of a .wlc file (after checking its CRC and limits).

    model_hash is the stream_hash that `walloc models --json` lists for the model that made it
    (model_installed says whether an installed model matches); audio shows its duration.
    """
    from walloc import coder

    data = read_input(file)
    header = peek_header(data)
    fields = header.to_json()
    fields["file_bytes"] = len(data)
    fields["coder_name"] = coder.NAMES.get(fields["coder"], "unknown")
    if header.modality == "audio" and header.sample_rate:
        fields["duration_s"] = round(header.extent[0] / header.sample_rate, 3)
    fields["model_installed"] = _installed(header)
    if as_json:
        click.echo(json.dumps(fields, indent=2))
        return
    width = max(map(len, fields))
    for key, value in fields.items():
        click.echo(f"{key:<{width}}  {value}")


def _installed(header: walloc.Header) -> str:
    """Whether the model a stream names is installed with the weights (and tables) it was made with:
    the shipped version, or a release kept for its streams (the lookup decoding uses)."""
    from walloc import zoo

    if not (Path(zoo.MODEL_DIR) / f"{header.model}.json").exists():
        return "no"
    try:
        folder = zoo.folder_for(header.model, header.model_hash, header.coder)
    except WallocError:
        return "no (other weights)"
    return "yes" if folder == Path(zoo.MODEL_DIR) else f"yes (kept release {folder.name})"


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of models.")
def models(as_json: bool) -> None:
    """List the installed models: qualities and what each measured (rate, PSNR, audio SNR, compression ratio).

    Audio SNR is against each clip itself (its error under its own level), where full-scale PSNR rises
    with a quiet clip's headroom.

    Models are read from the folder WALLOC_MODEL_DIR names, else the shipped ones.
    """
    from walloc import zoo

    found = walloc.list_models()
    if not found:
        where = "named by WALLOC_MODEL_DIR" if os.environ.get("WALLOC_MODEL_DIR") else "the shipped models' folder"
        raise ModelError(f"no models found in {zoo.MODEL_DIR} ({where}); set WALLOC_MODEL_DIR to a folder of models")
    if as_json:
        click.echo(json.dumps([m.to_json() for m in found], indent=2))
        return
    rows = [("model", "modality", "reduction", "quality", "rate", "PSNR", "SNR", "ratio", "measured on")]
    for m in found:
        for i, q in enumerate(m.qualities):
            got = m.measured.get(str(q)) or {}
            rate = f"{got['bpp']:.3f} bpp" if "bpp" in got else f"{got['kbps']:.1f} kbps" if "kbps" in got else "-"
            first = (m.name + (" *" if m.default else ""), m.modality, f"{m.dim_reduction:.3g}x") if i == 0 else ("", "", "")
            rows.append((*first, f"{q}" + (" *" if q == m.default_quality else ""), rate,
                         f"{got['psnr']:.2f} dB" if "psnr" in got else "-", f"{got['snr_db']:.2f} dB" if "snr_db" in got else "-",
                         f"{got['ratio']:.1f}:1" if "ratio" in got else "-",
                         _measured_on(got) if i == 0 else ""))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    click.echo("* the default model of its modality, and each model's default quality")


def _measured_on(got: dict) -> str:
    sets = ", ".join(Path(s).name for s in got.get("set", []))
    return f"{sets} ({got['files']} files)" if sets and "files" in got else sets


@cli.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--workdir", type=click.Path(file_okay=False), help="Checkpoint folder. Default: runs/NAME.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in the work folder.")
@options.threads()
@click.option("--export/--no-export", default=True, help="Write the trained model to models/ and measure it.")
@click.option("--export-only", is_flag=True, help="Export the last checkpoint without training further.")
@click.option("--refit-context", is_flag=True,
              help="Only refit the shipped model's context tables on the config's data and re-measure it; weights stay.")
@click.option("--measure", is_flag=True, help="Only re-measure the shipped model on the config's evaluation files and rewrite its card.")
def train(config: str, workdir: str | None, resume: bool, threads: int, export: bool, export_only: bool, refit_context: bool,
          measure: bool) -> None:
    """Train a model from a TOML config (see configs/), then export and measure it.

    \b
    Checkpoints go to runs/NAME every few minutes; --resume continues exactly where a run stopped.
    Example: nohup walloc train configs/rgb-16x.toml --resume > train.log 2>&1 &
    """
    options.use_threads(threads)  # before torch is imported, which reads OMP_NUM_THREADS once
    from walloc.train import TrainConfig
    from walloc.train import train as run
    from walloc.train.export import export_model, measure_model, refit_model_context
    from walloc.train.loop import load_trained

    cfg = TrainConfig.load(config)
    if refit_context:
        _say(f"refitted {refit_model_context(cfg)}")
        return
    if measure:
        _say(f"measured {measure_model(cfg)}")
        return
    workdir = workdir or f"runs/{cfg.name}"
    if export_only:
        net, density, stats = load_trained(cfg, workdir)
    else:
        net, density, stats = run(cfg, workdir, resume=resume)
    if (export or export_only) and int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 exports
        path = export_model(cfg, net, density, stats)
        _say(f"exported {path}")


@cli.group()
def export() -> None:
    """Write models in other formats."""


@export.command("onnx")
@click.argument("names", nargs=-1, required=True, metavar="MODEL...")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--no-weights", is_flag=True, help="Write only the graph and its JSON, not the safetensors file it reads.")
def export_onnx(names: tuple[str, ...], output: str, no_weights: bool) -> None:
    """Write each MODEL's decoder network as an ONNX graph (OUTPUT/MODEL.onnx, dynamic size) with
    OUTPUT/MODEL.json (model version, stream hash, opset, the graph's SHA-256) and the weights it reads.

    \b
    Inputs: symbols (1, K, rows[, cols]) int32, quality_index () int64; output: coefficients (1, P, ...),
    the wavelet packet the inverse transform turns into the signal. Needs: pip install 'walloc[export]'.
    """
    from walloc.onnx_export import OPSET, export as write

    for name in names:
        path = write(name, Path(output), weights=not no_weights)
        _say(f"{name} -> {path}: {_human(path.stat().st_size)} bytes, opset {OPSET}")


from .rd import rd  # noqa: E402
cli.add_command(rd)

from .latents import latents  # noqa: E402
cli.add_command(latents)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every user-caused failure into one line and exit code 1."""
    try:
        cli.main(args=argv, prog_name="walloc", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        _say("walloc: aborted")
        sys.exit(130)
    except WallocError as e:
        _say(f"walloc: error: {e}")
        sys.exit(1)
    except OSError as e:
        _say(f"walloc: error: {e.strerror or e}{': ' + e.filename if getattr(e, 'filename', None) else ''}")
        sys.exit(1)
    except ModuleNotFoundError as e:  # an install without torch (pip install walloc): training and the like need it
        if e.name != "torch":
            raise
        _say("walloc: error: this command needs torch: pip install 'walloc[torch]'")
        sys.exit(1)


if __name__ == "__main__":
    main()
