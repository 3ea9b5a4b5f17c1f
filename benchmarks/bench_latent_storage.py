"""How much the learned entropy coding saves over the reference WaLLoC's storage of the same latents.

    python benchmarks/bench_latent_storage.py --out FILE.json [--model rgb-16x]

The reference implementation stores the 8-bit integer latents as lossless WebP. Here the very same
integer latents of every Kodak image, at every quality, are (a) coded into a `.wlc` file by walloc and
(b) shifted to 0..255 and tiled into one RGB plane (K/3 tiles of h x w side by side) saved as lossless
WebP (Pillow, method 6). Target: .wlc at most 0.70x the WebP size (>= 30% saved).
"""

from __future__ import annotations

import argparse
import io as _io
import json
from pathlib import Path

import numpy as np
from PIL import Image

import walloc
from walloc import io

KODAK = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "images" / "kodak"


def webp_bytes(symbols: np.ndarray) -> int:
    """Lossless WebP size of integer latents (K, h, w), K a multiple of 3, tiled into one RGB image."""
    k, h, w = symbols.shape
    planes = np.clip(symbols + 128, 0, 255).astype(np.uint8).reshape(k // 3, 3, h, w)
    tiled = np.concatenate(list(planes.transpose(0, 2, 3, 1)), axis=1)  # (h, k/3 * w, 3)
    buf = _io.BytesIO()
    Image.fromarray(np.ascontiguousarray(tiled)).save(buf, format="WEBP", lossless=True, quality=100, method=6)
    return buf.tell()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="rgb-16x")
    args = ap.parse_args()
    codec = walloc.load(args.model)
    files = sorted(KODAK.glob("*.png"))
    if not files:
        raise SystemExit(f"no Kodak images in {KODAK}")
    rows = {}
    for q in codec.stream.qualities:
        wlc = webp = 0
        for path in files:
            x, meta = io.read_image(path, native=True)
            data = codec.compress(x, q, meta)
            symbols = codec.read_latents(data)[1][0].numpy()
            wlc += len(data)
            webp += webp_bytes(symbols)
        rows[q] = {"wlc_bytes": wlc, "webp_lossless_bytes": webp, "ratio": round(wlc / webp, 3)}
        print(f"q{q}: .wlc {wlc:,} B, lossless WebP {webp:,} B, ratio {wlc / webp:.3f}")
    result = {"model": args.model, "images": len(files), "qualities": rows,
              "target_ratio": 0.70, "met": all(r["ratio"] <= 0.70 for r in rows.values())}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
