"""The ``walloc`` command: a thin shell over the Python API.

Every failure a user can cause ends as one line on stderr and a non-zero exit code; output files
appear whole or not at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import click
import torch

import walloc
from walloc import coder, io, metrics
from walloc.errors import MediaError, WallocError
from walloc.tiling import to_float

from .output import atomic_output, check_target, read_head, read_input

EPILOG_ENCODE = """\b
Examples:
  walloc encode kodim01.png                 # -> kodim01.wlc with the default image model
  walloc encode song.wav -q 4 -o song.wlc   # audio, highest quality of the default audio model
  cat photo.png | walloc encode - > photo.wlc
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


@cli.command(epilog=EPILOG_ENCODE)
@click.argument("input", type=str)
@click.option("-o", "--output", help="Output .wlc file ('-' for stdout). Default: INPUT with .wlc suffix.")
@click.option("-m", "--model", help="Model name (see `walloc models`). Default: the default model of the input's modality.")
@click.option("-q", "--quality", type=int, help="Quality level of the model, higher is better. Default: the model's default.")
@click.option("-f", "--force", is_flag=True, help="Overwrite the output if it exists.")
@click.option("--verify", is_flag=True, help="Decode the result again and print its PSNR.")
def encode(input: str, output: str | None, model: str | None, quality: int | None, force: bool, verify: bool) -> None:
    """Compress an image (PNG, JPEG, WebP, TIFF, BMP, .npy) or audio (WAV, FLAC, Ogg, MP3) to .wlc."""
    output = output or ("-" if input == "-" else str(Path(input).with_suffix(".wlc")))
    check_target(output, force)
    source = read_input(input) if input == "-" else Path(input)  # files are read by their readers, once
    head = source[:16] if isinstance(source, bytes) else read_head(source)
    if not head:
        raise MediaError(f"{input}: the file is empty")
    modality = io.modality_of(input if input != "-" else "", head)
    signal, meta = io.read_image(source, native=True) if modality == "image" else io.read_audio(source, native=True)
    codec = walloc.load(model, modality)
    if codec.modality != modality:
        raise MediaError(f"model '{codec.name}' codes {codec.modality}, but {input} is {modality}")
    start = time.perf_counter()
    with _bar("encoding") as progress:
        data = codec.compress(signal, quality, meta, progress)
    seconds = time.perf_counter() - start
    with atomic_output(output) as f:
        f.write(data)
    stats = [f"{input} -> {output}: {_human(len(data))} bytes"]
    original_bits = signal.numel() * meta.bit_depth
    if modality == "image":
        stats.append(f"{8 * len(data) / (signal.shape[1] * signal.shape[2]):.3f} bpp")
    else:
        stats.append(f"{8 * len(data) / (signal.shape[1] / meta.sample_rate) / 1000:.1f} kbps")
    stats += [f"{original_bits / (8 * len(data)):.1f}:1", f"{codec.dim_reduction:.3g}x fewer dimensions",
              f"model {codec.name} q{codec.quality(quality).quality}", f"{seconds:.2f} s"]
    if verify:
        decoded, reference = codec.decompress(data), to_float(signal)
        score = metrics.psnr_8bit(decoded, reference) if modality == "image" and meta.bit_depth == 8 else metrics.psnr(decoded, reference)
        stats.append(f"PSNR {score:.2f} dB")
    _say(", ".join(stats))


@cli.command()
@click.argument("input", type=str)
@click.option("-o", "--output", help="Output file; its suffix picks the format (.png .jpg .webp .tif .bmp .npy; .wav .flac). '-' for stdout.")
@click.option("-f", "--force", is_flag=True, help="Overwrite the output if it exists.")
def decode(input: str, output: str | None, force: bool) -> None:
    """Decompress a .wlc file back to an image or audio file.

    \b
    Default output: INPUT with .decoded.png (images) or .decoded.wav (audio), so that decoding
    never replaces the original the stream was made from.
    """
    data = read_input(input)
    header = walloc.peek_header(data)
    default_suffix = ".png" if header.modality == "image" else ".wav"
    output = output or ("-" if input == "-" else str(Path(input).with_suffix(".decoded" + default_suffix)))
    check_target(output, force)
    fmt = Path(output).suffix.lstrip(".").lower() if output != "-" else default_suffix[1:]
    start = time.perf_counter()
    with _bar("decoding") as progress:
        decoded = walloc.codec_for(data).decompress_full(data, _native_dtype(header), progress)
    seconds = time.perf_counter() - start
    with atomic_output(output) as f:
        writer = io.write_image if header.modality == "image" else io.write_audio
        writer(f, decoded.signal, decoded.meta, fmt=fmt)
    shape = "x".join(str(e) for e in reversed(header.extent)) if header.modality == "image" else f"{header.extent[0]} samples"
    _say(f"{input} -> {output}: {header.modality} {shape}, {header.channels} channel(s), model {header.model} q{header.quality}, {seconds:.2f} s")


@contextlib.contextmanager
def _bar(what: str):
    """A percent bar on stderr for long work: shown only on a terminal and after a second."""
    from tqdm import tqdm

    with tqdm(total=100, desc=what, unit="%", file=sys.stderr, disable=None, delay=1.0, leave=False,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as bar:
        yield lambda fraction: bar.update(round(100 * fraction) - bar.n)


def _native_dtype(header: walloc.Header):
    """Integer output where it loses nothing against the original (less memory for huge signals)."""
    if header.float_samples:
        return torch.float32
    if header.modality == "image":
        return torch.uint8 if header.bit_depth == 8 else torch.float32
    return torch.int16 if header.bit_depth <= 16 else torch.float32


@cli.command()
@click.argument("file", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print the header as JSON.")
def info(file: str, as_json: bool) -> None:
    """Show the header of a .wlc file (after checking its CRC and limits)."""
    data = read_input(file)
    fields = walloc.peek_header(data).to_json()
    fields["file_bytes"] = len(data)
    fields["coder_name"] = coder.NAMES.get(fields["coder"], "unknown")
    if as_json:
        click.echo(json.dumps(fields, indent=2))
        return
    width = max(map(len, fields))
    for key, value in fields.items():
        click.echo(f"{key:<{width}}  {value}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of models.")
def models(as_json: bool) -> None:
    """List the shipped models with their qualities and measured rate and quality."""
    found = walloc.list_models()
    if as_json:
        click.echo(json.dumps([m.to_json() for m in found], indent=2))
        return
    for m in found:
        flag = " (default)" if m.default else ""
        click.echo(f"{m.name}{flag}: {m.modality}, {m.dim_reduction:.3g}x fewer dimensions, qualities {m.qualities} (default {m.default_quality})")
        for q in m.qualities:
            measured = m.measured.get(str(q)) or {}
            if measured:
                click.echo(f"  q{q}: " + ", ".join(f"{k} {v}" for k, v in measured.items() if k not in ("set", "per_file")))


@cli.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--workdir", type=click.Path(file_okay=False), help="Checkpoint folder. Default: runs/NAME.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in the work folder.")
@click.option("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default).")
@click.option("--export/--no-export", default=True, help="Write the trained model to models/ and measure it.")
@click.option("--export-only", is_flag=True, help="Export the last checkpoint without training further.")
@click.option("--refit-context", is_flag=True,
              help="Only refit the shipped model's context tables on the config's data and re-measure it; weights stay.")
def train(config: str, workdir: str | None, resume: bool, threads: int, export: bool, export_only: bool, refit_context: bool) -> None:
    """Train a model from a TOML config (see configs/), then export and measure it.

    \b
    Checkpoints go to runs/NAME every few minutes; --resume continues exactly where a run stopped.
    Example: nohup walloc train configs/rgb-16x.toml --resume > train.log 2>&1 &
    """
    import torch

    from walloc.train import TrainConfig
    from walloc.train import train as run
    from walloc.train.export import export_model, refit_model_context
    from walloc.train.loop import load_trained

    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig.load(config)
    if refit_context:
        _say(f"refitted {refit_model_context(cfg)}")
        return
    workdir = workdir or f"runs/{cfg.name}"
    if export_only:
        net, density, stats = load_trained(cfg, workdir)
    else:
        net, density, stats = run(cfg, workdir, resume=resume)
    if (export or export_only) and int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 exports
        path = export_model(cfg, net, density, stats)
        _say(f"exported {path}")


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


if __name__ == "__main__":
    main()
