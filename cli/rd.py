"""`walloc rd`: rate-distortion curves and speed of WaLLoC and its peers on the user's own files."""

from __future__ import annotations

import json
import math

import click

from walloc.errors import MediaError
from walloc.output import atomic_output, check_target

from . import options

EPILOG = """\b
Examples:
  walloc rd ../shared/data/images/kodak -o kodak.json --plot kodak.png
  walloc rd photos/ --codecs walloc:rgb-16x,jpeg,webp --limit 4
  walloc rd clips/ --codecs walloc:stereo-5x,opus,mp3 -o audio.json
  walloc rd --merge models.json slow-peers.json -o all.json --plot all.png
\b
Image codecs: walloc:MODEL, jpeg, webp, jpeg2000, avif, jpegxl (default: every shipped image model
and every peer). Audio codecs: walloc:MODEL, opus, mp3. A codec that cannot run here is listed as
skipped, with the reason. Images are compared as 8-bit RGB; bpp and kbps come from real file sizes.
"""


def _fmt(v, digits: int) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{digits}f}"


def _table(result: dict) -> str:
    rate = result["rate"]
    score = "ms_ssim" if rate == "bpp" else "si_sdr"
    head = f"{'codec':<18} {'quality':>8} {rate:>8} {'PSNR':>7} {score:>8} {'enc':>8} {'dec':>8}"
    lines = [head, "-" * len(head)]
    for name, points in result["codecs"].items():
        for p in points:
            lines.append(f"{name:<18} {p['quality']!s:>8} {_fmt(p[rate], 3):>8} {_fmt(p['psnr'], 2):>7} "
                         f"{_fmt(p[score], 4 if rate == 'bpp' else 2):>8} {_fmt(p['enc_mps'], 2):>8} {_fmt(p['dec_mps'], 2):>8}")
    lines.append(f"(enc/dec in {result['speed_unit']})")
    for key in [k for k in result if k.startswith("bd_rate_vs_")]:
        values = ", ".join(f"{n} {'n/a' if v is None else f'{v:+.1f}%'}" for n, v in result[key].items())
        lines.append(f"BD-rate vs {key[len('bd_rate_vs_'):]} (PSNR): {values}")
    for name, why in result["skipped"].items():
        lines.append(f"skipped {name}: {why}")
    return "\n".join(lines)


def _read_result(path: str) -> dict:
    """A JSON file that `walloc rd --output` wrote, or a one-line error."""
    try:
        result = json.loads(open(path, "rb").read())
    except OSError as e:
        raise MediaError(f"cannot read {path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise MediaError(f"{path} is not JSON (--merge joins files written by walloc rd --output)") from None
    if not isinstance(result, dict) or not {"modality", "rate", "codecs", "files"} <= set(result):
        raise MediaError(f"{path} is not a walloc rd result (--merge joins files written by walloc rd --output)")
    return result


@click.command(epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, type=str)
@click.option("--codecs", help="Comma-separated codecs. Default: every shipped WaLLoC model of the inputs' modality and every peer.")
@options.output("Write the results as JSON to this file.", old=("--out",))
@click.option("--plot", "plot_path", help="Write a PNG of PSNR (and MS-SSIM or SI-SDR) against rate.")
@click.option("--published", "published", help="JSON of published curves to draw dashed on the plot (e.g. benchmarks/published/compressai_kodak.json).")
@click.option("--title", help="Title of the plot. Default: the inputs and the file count.")
@click.option("--per-image", "per_image", is_flag=True, help="Also keep every file's numbers in the JSON.")
@click.option("--modality", type=click.Choice(["image", "audio"]), help="Only this kind of file (needed when a folder holds both).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N files (sorted by name).")
@options.threads()
@click.option("--merge", is_flag=True, help="INPUTS are --output JSON files of runs over the same files with different codecs: join them (BD-rates recomputed) instead of measuring.")
@options.force("Overwrite --output / --plot files if they exist.")
@click.option("--quiet", is_flag=True, help="No progress bar and no table.")
def rd(inputs: tuple[str, ...], codecs: str | None, output: str | None, plot_path: str | None, published: str | None,
       title: str | None, per_image: bool, modality: str | None, limit: int | None, threads: int, merge: bool,
       force: bool, quiet: bool) -> None:
    """Rate-distortion curves and speed of WaLLoC and other codecs on a folder of images or audio.

    Every codec runs at a sweep of qualities over every file in INPUTS (folders or files): mean rate
    from real file sizes, PSNR, MS-SSIM (images) or SI-SDR (audio), encode and decode speed, and the
    BD-rate of each codec against WebP and JPEG (images) or Opus and MP3 (audio). Slow codecs can be
    measured apart (in parallel, or once) and joined with --merge. Every codec gets --threads threads:
    give --threads 1 for the single-thread comparison docs/results.md reports.
    """
    from walloc.eval import compare, plot

    for target in (output, plot_path):
        if target:
            check_target(target, force)
    if output and plot_path and output == plot_path:
        raise MediaError("--output and --plot name the same file")
    curves = plot.load_published(published) if published else None
    if plot_path:
        plot.pyplot()
    names = [c.strip() for c in codecs.split(",") if c.strip()] if codecs else None
    if codecs is not None and not names:
        raise MediaError("--codecs names no codec")
    if merge:
        result = compare.merge([_read_result(p) for p in inputs])
    else:
        result = compare.run(inputs, names, modality=modality, limit=limit, threads=options.per_process(threads), per_file=per_image, progress=not quiet)
    if per_image and "per_file" in result:
        result["per_image"] = result.pop("per_file")
    if not result["codecs"]:
        raise MediaError("no codec could run: " + "; ".join(f"{k}: {v}" for k, v in result["skipped"].items()))
    if output:
        with atomic_output(output) as f:
            f.write((json.dumps(result, indent=2) + "\n").encode())
    if plot_path:
        png = plot.plot(result, published=curves, title=title)
        with atomic_output(plot_path) as f:
            f.write(png)
    if not quiet:
        click.echo(_table(result))
