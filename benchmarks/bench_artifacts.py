"""Two artifacts a mean PSNR hides, measured for every image model and for WebP at similar rates.

    python benchmarks/bench_artifacts.py ../shared/data/images/kodak --out docs/results/bench_artifacts.json

- **Grid**: a pattern repeating every 8 pixels (the packet's block size for J=3). The decoded image's
  error e = decoded - original (mean of R, G, B, in 8-bit levels) is kept in flat areas only (8x8
  cells whose original varies by at most ``--flat`` levels), and its power spectrum is taken along
  rows and along columns, averaged over the image. A pattern of period 8 puts its energy at
  frequencies k/8 (k = 1..4); ``grid_db`` is the power at those frequencies against the mean power of
  the neighbouring frequencies (2 to 6 bins away): about 0 dB for error without structure, and a
  visible grid stands well above it.
- **Borders**: ``border_db`` is the mean squared error of the 8 outermost rows and columns against
  that of the interior (0 dB: borders as good as the rest); ``top_row_bias`` the mean signed error of
  the first row in levels (the periodic packet wraps the bottom of an image into its top). Kodak's
  scans carry a frame: 2-3 grey rows and columns at the edges and a black last row, sharp edges that a
  border measure of the whole images includes; ``--trim 4`` codes the images without it.

Per codec and quality: mean bpp, PSNR, and both measures averaged over the images (spectra are
averaged before the ratio). WebP runs at its best-compressing settings (method 6) at the qualities
whose mean bpp is nearest each WaLLoC point.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from walloc import zoo
from walloc.eval.codecs import walloc_adapter
from walloc.eval.peers import PillowImage
from walloc.io import read_image_array

BLOCK = 8
EDGE = 8
INTERIOR = 2 * BLOCK            # pixels next to the edges left out of grid_interior_db


def _spectra(error: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Power spectra of the masked error along rows and along columns, each averaged over lines
    (the two axes' spectra are averaged; their lengths are normalised to frequency bins of 1/n)."""
    masked = error * flat
    rows = np.abs(np.fft.rfft(masked, axis=1)) ** 2
    cols = np.abs(np.fft.rfft(masked, axis=0)) ** 2
    return rows.mean(axis=0), cols.mean(axis=1)


def grid_ratio_db(spectrum: np.ndarray, n: int) -> float:
    """Power at the period-8 harmonics against their neighbours (2..6 bins away), in dB."""
    peak, near = 0.0, []
    for k in range(1, BLOCK // 2 + 1):
        f = k * n // BLOCK
        peak += spectrum[f]
        near += [spectrum[f + d] for d in (-6, -5, -4, -3, -2, 2, 3, 4, 5, 6) if 0 < f + d < len(spectrum)]
    return float(10 * np.log10(peak / (np.mean(near) * (BLOCK // 2))))


def flat_mask(original: np.ndarray, flat: float) -> np.ndarray:
    """1 inside 8x8 cells whose original (mean of the channels) varies by at most ``flat`` levels."""
    luma = original.mean(axis=2)
    h, w = luma.shape[0] // BLOCK * BLOCK, luma.shape[1] // BLOCK * BLOCK
    cells = luma[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)
    keep = (cells.max(axis=(1, 3)) - cells.min(axis=(1, 3))) <= flat
    mask = np.zeros(luma.shape)
    mask[:h, :w] = np.repeat(np.repeat(keep, BLOCK, 0), BLOCK, 1)
    return mask


class Accumulator:
    """Sums over images of one codec at one quality."""

    def __init__(self):
        self.bits = self.pixels = self.sq = 0.0
        self.psnr, self.border, self.top = [], [], []
        self.spectra: dict[int, list[np.ndarray]] = {}
        self.interior: dict[int, list[np.ndarray]] = {}

    def add(self, original: np.ndarray, decoded: np.ndarray, size: int, mask: np.ndarray) -> None:
        error = decoded.astype(np.float64) - original.astype(np.float64)
        h, w = original.shape[:2]
        self.bits += 8 * size
        self.pixels += h * w
        self.psnr.append(10 * np.log10(255.0 ** 2 / max(np.mean(error ** 2), 1e-12)))
        luma = error.mean(axis=2)
        inner = np.mean(luma[EDGE:-EDGE, EDGE:-EDGE] ** 2)
        ring = np.ones((h, w), bool)
        ring[EDGE:-EDGE, EDGE:-EDGE] = False
        self.border.append(np.mean(luma[ring] ** 2) / max(inner, 1e-12))
        self.top.append(float(luma[0].mean()))
        inside = np.zeros_like(mask)
        inside[INTERIOR:-INTERIOR, INTERIOR:-INTERIOR] = mask[INTERIOR:-INTERIOR, INTERIOR:-INTERIOR]
        for spectra, kept in ((self.spectra, mask), (self.interior, inside)):
            for axis, spectrum in zip((w, h), _spectra(luma, kept)):
                spectra.setdefault(axis, []).append(spectrum)

    def result(self) -> dict:
        def grid(spectra: dict[int, list[np.ndarray]]) -> float:
            return round(float(np.mean([grid_ratio_db(np.mean(s, axis=0), n) for n, s in spectra.items() if n % BLOCK == 0])), 2)

        return {"bpp": round(self.bits / self.pixels, 4), "psnr": round(float(np.mean(self.psnr)), 3),
                "grid_db": grid(self.spectra), "grid_interior_db": grid(self.interior),
                "border_db": round(float(10 * np.log10(np.mean(self.border))), 2),
                "top_row_bias": round(float(np.mean(self.top)), 2)}


def run(codec, quality, images: list[np.ndarray], masks: list[np.ndarray]) -> dict:
    acc = Accumulator()
    for pixels, mask in zip(images, masks):
        data = codec.encode(pixels, quality)
        acc.add(pixels, codec.decode(data), len(data), mask)
    return {"quality": quality, **acc.result()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--flat", type=float, default=4.0, help="largest range of levels in a flat 8x8 cell")
    ap.add_argument("--limit", type=int, default=0, help="only the first N images")
    ap.add_argument("--trim", type=int, default=0, help="cut N pixels from every side before coding (Kodak's frame: 4)")
    args = ap.parse_args()
    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if args.limit:
        files = files[: args.limit]
    if not files:
        sys.exit(f"error: no images in {args.folder}")
    t = args.trim
    images = [np.ascontiguousarray(read_image_array(p)[0].transpose(1, 2, 0)[t: -t or None, t: -t or None]) for p in files]
    masks = [flat_mask(im, args.flat) for im in images]
    webp = PillowImage("webp")
    webp_points = {q: run(webp, q, images, masks) for q in webp.qualities}
    codecs, matched = {}, set()
    for info in zoo.list_models():
        if info.modality != "image":
            continue
        adapter = walloc_adapter(info.name, "image")
        codecs[f"walloc:{info.name}"] = points = [run(adapter, q, images, masks) for q in info.qualities]
        for p in points:
            matched.add(min(webp_points, key=lambda q: abs(np.log(webp_points[q]["bpp"] / p["bpp"]))))
        print(f"walloc:{info.name}", *(f"q{p['quality']}: {p['bpp']} bpp grid {p['grid_db']} dB (inside {p['grid_interior_db']}) "
                                       f"border {p['border_db']} dB "
                                       f"top {p['top_row_bias']}" for p in points), sep="\n  ", file=sys.stderr)
    codecs["webp"] = [webp_points[q] for q in sorted(matched)]
    result = {"dataset": str(args.folder), "files": len(files), "trim": t, "flat_levels": args.flat, "block": BLOCK, "edge": EDGE,
              "interior": INTERIOR,
              "webp_settings": {"method": 6}, "codecs": codecs,
              "flat_fraction": round(float(np.mean([m.mean() for m in masks])), 3)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, points in codecs.items():
        for p in points:
            print(f"{name:16s} q{p['quality']:<3} {p['bpp']:.3f} bpp {p['psnr']:.2f} dB  grid {p['grid_db']:+.2f} dB (inside {p['grid_interior_db']:+.2f})  "
                  f"border {p['border_db']:+.2f} dB  top row {p['top_row_bias']:+.2f}")


if __name__ == "__main__":
    main()
