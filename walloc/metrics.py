"""Quality measures used by the CLI, the model cards and the benchmarks."""

from __future__ import annotations

import math

import torch


def psnr(x: torch.Tensor, ref: torch.Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; images in [0, 1] (peak 1), audio in [-1, 1] (full scale 1)."""
    mse = torch.mean((x.double() - ref.double()) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def psnr_8bit(x: torch.Tensor, ref: torch.Tensor) -> float:
    """PSNR after rounding both images to 8 bits, the way image codecs are compared."""
    q = lambda t: torch.round(t.clamp(0, 1) * 255)  # noqa: E731
    return psnr(q(x), q(ref), peak=255.0)


# -- MS-SSIM ------------------------------------------------------------------------------------------
# Wang, Simoncelli & Bovik, "Multi-scale structural similarity for image quality assessment" (2003):
# 11-tap Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, five scales with these exponents.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW, _SIGMA, _K1, _K2 = 11, 1.5, 0.01, 0.03


def _gauss_blur(x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter over the last two axes, 'valid' (no padding): both shrink by 10.

    Written as a weighted sum of shifted slices: several times faster on the CPU than conv2d with a
    one-channel 1x11 kernel.
    """
    t = torch.arange(_WINDOW, dtype=torch.float64) - (_WINDOW - 1) / 2
    g = torch.exp(-(t * t) / (2 * _SIGMA * _SIGMA))
    g = (g / g.sum()).tolist()
    for axis in (-1, -2):
        n = x.shape[axis] - _WINDOW + 1
        out = x.narrow(axis, 0, n) * g[0]
        for k in range(1, _WINDOW):
            out.add_(x.narrow(axis, k, n), alpha=g[k])
        x = out
    return x


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, peak: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term of each (N, H, W) plane pair, shape (N,).

    float32 throughout; second moments are taken about each plane's mean so that variances of
    0..255 data lose no precision to cancellation.
    """
    c1, c2 = (_K1 * peak) ** 2, (_K2 * peak) ** 2
    shift = y.mean(dim=(-2, -1), keepdim=True)
    x, y = x - shift, y - shift
    mx, my = _gauss_blur(x), _gauss_blur(y)
    sxx = _gauss_blur(x * x) - mx * mx
    syy = _gauss_blur(y * y) - my * my
    sxy = _gauss_blur(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    mx, my = mx + shift, my + shift
    luminance = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (luminance * cs).flatten(1).double().mean(1), cs.flatten(1).double().mean(1)


def ms_ssim(x: torch.Tensor, ref: torch.Tensor, peak: float = 1.0, scales: int = 5) -> float:
    """Multi-scale SSIM of two (C, H, W) images, the mean of the per-channel values.

    Standard five scales on images at least 161 pixels on their short side (scale j keeps a side of at
    least 11 = the window). Smaller images use as many scales as fit, with the exponents renormalized
    to sum to one; under 11 pixels the value is NaN. Between scales the images are averaged over 2x2
    blocks (an odd last row or column is dropped). Negative SSIM/CS terms are clipped to 0 as in
    common implementations, so the result lies in [0, 1].
    """
    if x.shape != ref.shape or x.dim() != 3:
        raise ValueError(f"ms_ssim compares two (C, H, W) images of one shape, got {tuple(x.shape)} and {tuple(ref.shape)}")
    short = min(x.shape[-2:])
    fit = 0
    while fit < scales and short // (2 ** fit) >= _WINDOW:
        fit += 1
    if fit == 0:
        return math.nan
    weights = torch.tensor(MS_SSIM_WEIGHTS[:fit], dtype=torch.float64)
    weights = weights / weights.sum()
    a, b = x.float(), ref.float()
    terms = []
    for j in range(fit):
        if j:
            h, w = a.shape[-2] // 2 * 2, a.shape[-1] // 2 * 2
            a = torch.nn.functional.avg_pool2d(a[None, :, :h, :w], 2)[0]
            b = torch.nn.functional.avg_pool2d(b[None, :, :h, :w], 2)[0]
        ssim, cs = _ssim_terms(a, b, peak)
        terms.append(ssim if j == fit - 1 else cs)
    stacked = torch.stack(terms).clamp_min(0)                  # (scales, C)
    per_channel = torch.prod(stacked ** weights[:, None], dim=0)
    return float(per_channel.mean())


def ms_ssim_8bit(x: torch.Tensor, ref: torch.Tensor) -> float:
    """MS-SSIM after rounding both images to 8 bits (what an 8-bit file holds), peak 255."""
    q = lambda t: torch.round(t.clamp(0, 1) * 255)  # noqa: E731
    return ms_ssim(q(x), q(ref), peak=255.0)


# -- SI-SDR -------------------------------------------------------------------------------------------
def si_sdr(estimate: torch.Tensor, ref: torch.Tensor) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019), mean over channels.

    For each channel the reference is scaled to best fit the estimate, a = <est, ref> / |ref|^2;
    SI-SDR = 10 log10(|a ref|^2 / |est - a ref|^2). No mean is removed. A perfect estimate (up to a
    scale) gives +inf; a silent reference channel is skipped (NaN when every channel is silent).
    """
    if estimate.shape != ref.shape:
        raise ValueError(f"si_sdr compares signals of one shape, got {tuple(estimate.shape)} and {tuple(ref.shape)}")
    e = estimate.double().reshape(-1, estimate.shape[-1])
    r = ref.double().reshape(-1, ref.shape[-1])
    values = []
    for ec, rc in zip(e, r):
        energy = torch.dot(rc, rc).item()
        if energy == 0:
            continue
        target = (torch.dot(ec, rc).item() / energy) * rc
        noise = torch.dot(ec - target, ec - target).item()
        signal = torch.dot(target, target).item()
        values.append(math.inf if noise == 0 else (-math.inf if signal == 0 else 10 * math.log10(signal / noise)))
    return float(sum(values) / len(values)) if values else math.nan


def snr(estimate: torch.Tensor, ref: torch.Tensor) -> float:
    """Signal-to-noise ratio in dB against the signal itself, over all channels and samples:
    10 log10(|ref|^2 / |estimate - ref|^2). Unlike full-scale PSNR it does not rise with the headroom
    of a quiet recording (an error 8 dB under a -41 dBFS take is 8 dB, not 49). +inf for an exact
    copy, NaN for a silent reference."""
    if estimate.shape != ref.shape:
        raise ValueError(f"snr compares signals of one shape, got {tuple(estimate.shape)} and {tuple(ref.shape)}")
    r = ref.double()
    signal, noise = torch.sum(r * r).item(), torch.sum((estimate.double() - r) ** 2).item()
    if signal == 0:
        return math.nan
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)


# -- Bjontegaard delta rate -----------------------------------------------------------------------------
def bd_rate(anchor_rate, anchor_quality, test_rate, test_quality) -> float:
    """Bjontegaard delta rate (VCEG-M33) of a test curve against an anchor, in percent.

    The average rate difference at equal quality: log-rate is fitted as a polynomial of quality (cubic,
    or of degree n-1 for a curve of n < 4 points), both fits are integrated over the quality interval
    the two curves share, and the mean log-rate difference d gives 100 * (exp(d) - 1). Negative: the
    test codec needs fewer bits for the same quality. Rates must be positive and qualities finite;
    raises ValueError when a curve has under two distinct qualities or the curves do not overlap.
    """
    import numpy as np

    def fit(rate, quality, name):
        r, d = np.asarray(rate, dtype=np.float64), np.asarray(quality, dtype=np.float64)
        if r.shape != d.shape or r.ndim != 1:
            raise ValueError(f"{name}: rates and qualities must be two lists of one length")
        if not (np.all(np.isfinite(r)) and np.all(r > 0) and np.all(np.isfinite(d))):
            raise ValueError(f"{name}: rates must be positive and qualities finite")
        if len(np.unique(d)) < 2:
            raise ValueError(f"{name}: need at least two points of different quality")
        poly = np.polyfit(d, np.log(r), min(3, len(np.unique(d)) - 1))
        return np.polyint(poly), d.min(), d.max()

    a, a_lo, a_hi = fit(anchor_rate, anchor_quality, "anchor")
    t, t_lo, t_hi = fit(test_rate, test_quality, "test")
    lo, hi = max(a_lo, t_lo), min(a_hi, t_hi)
    if not hi > lo:
        raise ValueError(f"the curves share no quality range (anchor {a_lo:.3g}..{a_hi:.3g}, test {t_lo:.3g}..{t_hi:.3g})")
    mean = lambda p: (np.polyval(p, hi) - np.polyval(p, lo)) / (hi - lo)  # noqa: E731
    return float((math.exp(mean(t) - mean(a)) - 1) * 100)


# -- speech quality ----------------------------------------------------------------------------------
def pesq_wb(estimate, ref, rate: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2, the ``pesq`` package) of mono float signals at 16 kHz; NaN when
    PESQ finds no utterance in the reference."""
    from pesq import NoUtterancesError, pesq

    if rate != 16000:
        raise ValueError(f"wide-band PESQ is defined at 16 kHz, got {rate} Hz")
    try:
        return float(pesq(rate, _mono64(ref), _mono64(estimate), "wb"))
    except NoUtterancesError:
        return math.nan


def stoi(estimate, ref, rate: int) -> float:
    """Short-time objective intelligibility (Taal et al., 2011; ``pystoi``) of mono float signals, 0..1."""
    from pystoi import stoi as _stoi

    return float(_stoi(_mono64(ref), _mono64(estimate), rate, extended=False))


def _mono64(x):
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    return x.reshape(-1) if x.ndim == 1 or x.shape[0] == 1 else x.mean(axis=0)
