"""Quality-against-rate curves as a PNG, one curve per codec, published curves dashed (matplotlib)."""

from __future__ import annotations

import io as _io
import json
import math
from pathlib import Path

from ..errors import MediaError


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend; MediaError if matplotlib is not installed
    (``walloc rd`` asks before its sweep, not after hours of it)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MediaError("plotting needs matplotlib (pip install matplotlib, or walloc[bench])") from None
    return plt


def plot(result: dict, path: str | Path | None = None, published: dict | None = None, title: str | None = None) -> bytes:
    """PNG of quality vs rate (PSNR, and MS-SSIM or SI-SDR) of a ``walloc rd`` result.

    ``published``: {label: {rate_key: [...], "psnr": [...], score_key: [...]}}. Returns the PNG bytes
    and writes them to ``path`` if given.
    """
    plt = pyplot()
    rate_key = result.get("rate", "bpp")
    score_key = "ms_ssim" if rate_key == "bpp" else "si_sdr"
    labels = {"bpp": "rate (bits per pixel)", "kbps": "rate (kbit/s)", "psnr": "PSNR (dB)" + (", 8-bit RGB" if rate_key == "bpp" else ""),
              "ms_ssim": "MS-SSIM (dB, -10 log10(1 - MS-SSIM))", "si_sdr": "SI-SDR (dB)"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def y(values, key):
        if key != "ms_ssim":
            return values
        return [None if v is None else (-10 * math.log10(max(1 - v, 1e-10))) for v in values]

    for i, (name, points) in enumerate(result.get("codecs", {}).items()):
        style = {"color": colors[i % len(colors)], "marker": "o", "markersize": 3.5,
                 "linewidth": 2.2 if name.startswith("walloc") else 1.3}
        for ax, key in zip(axes, ("psnr", score_key)):
            pts = [p for p in points if p.get(key) is not None and math.isfinite(p[key])]
            ax.plot([p[rate_key] for p in pts], y([p[key] for p in pts], key), label=name, **style)
    for j, (label, curve) in enumerate((published or {}).items()):
        for ax, key in zip(axes, ("psnr", score_key)):
            if key in curve and rate_key in curve:
                ax.plot(curve[rate_key], y(curve[key], key), linestyle="--", color="0.35" if j == 0 else "0.6",
                        marker="x", markersize=3.5, linewidth=1.1, label=label)
    for ax, key in zip(axes, ("psnr", score_key)):
        ax.set_xlabel(labels[rate_key])
        ax.set_ylabel(labels[key])
        ax.grid(True, alpha=0.3)
        rates = [p[rate_key] for pts in result.get("codecs", {}).values() for p in pts if p.get(rate_key)]
        if rates:
            ax.set_xlim(0, min(max(rates), 3.0 if rate_key == "bpp" else max(rates)) * 1.05)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title or f"{result.get('dataset', '')}: {result.get('files', '?')} {result.get('modality', '')} file(s)", fontsize=10)
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def load_published(path: str | Path) -> dict:
    """Published curves from a JSON file {"curves": {label: {...}}} (see benchmarks/published/)."""
    try:
        doc = json.loads(Path(path).read_text())
        curves = doc["curves"]
        if not isinstance(curves, dict) or not all(isinstance(c, dict) for c in curves.values()):
            raise TypeError
    except OSError as e:
        raise MediaError(f"cannot read {path}: {e.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise MediaError(f"{path}: not a published-curves file (expected {{\"curves\": {{label: {{\"bpp\": [...], \"psnr\": [...]}}}}}})") from None
    return curves
