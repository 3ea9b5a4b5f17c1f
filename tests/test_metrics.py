"""Quality measures against hand-computed values and an independent implementation."""

import math

import numpy as np
import pytest
import torch

from walloc import metrics


def _smooth_image(seed: int, h: int = 176, w: int = 208) -> torch.Tensor:
    """A natural-ish (C, H, W) image in [0, 1]: low-pass noise, so every MS-SSIM scale has structure."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h // 4, w // 4, generator=g)
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)[0]
    return (x + 0.05 * torch.rand(3, h, w, generator=g)).clamp(0, 1)


# -- PSNR stays as it was ------------------------------------------------------------------------------
def test_psnr_known_values():
    ref = torch.zeros(3, 8, 8)
    assert metrics.psnr(ref + 0.1, ref) == pytest.approx(20.0)
    assert metrics.psnr(ref, ref) == math.inf
    assert metrics.psnr_8bit(ref + 1 / 255, ref) == pytest.approx(20 * math.log10(255))


# -- MS-SSIM -------------------------------------------------------------------------------------------
def test_ms_ssim_identical_is_one():
    x = _smooth_image(0)
    assert metrics.ms_ssim(x, x) == pytest.approx(1.0, abs=1e-9)
    assert metrics.ms_ssim_8bit(x, x) == pytest.approx(1.0, abs=1e-9)


def test_ms_ssim_of_flat_images_is_the_luminance_term_by_hand():
    # Flat images: every variance is 0, so every contrast-structure term is exactly 1 and MS-SSIM is the
    # luminance term at the coarsest scale, (2ab + C1) / (a^2 + b^2 + C1), to that scale's exponent.
    a, b, peak = 0.5, 0.4, 1.0
    c1 = (0.01 * peak) ** 2
    lum = (2 * a * b + c1) / (a * a + b * b + c1)
    weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    expected = lum ** (weights[-1] / sum(weights))
    got = metrics.ms_ssim(torch.full((3, 176, 176), a), torch.full((3, 176, 176), b))
    assert got == pytest.approx(expected, rel=1e-6)


def test_ms_ssim_orders_distortions_and_stays_in_range():
    x = _smooth_image(1)
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(x.shape, generator=g)
    scores = [metrics.ms_ssim((x + s * noise).clamp(0, 1), x) for s in (0.01, 0.05, 0.2)]
    assert 1 > scores[0] > scores[1] > scores[2] > 0


def test_ms_ssim_agrees_with_pytorch_msssim():
    ref_impl = pytest.importorskip("pytorch_msssim", reason="pytorch_msssim not installed (independent reference)")
    x = _smooth_image(3)
    g = torch.Generator().manual_seed(4)
    for s in (0.002, 0.02, 0.1):
        y = (x + s * torch.randn(x.shape, generator=g)).clamp(0, 1)
        want = ref_impl.ms_ssim(y[None], x[None], data_range=1.0).item()
        assert metrics.ms_ssim(y, x) == pytest.approx(want, abs=1e-4)
        q = lambda t: torch.round(t * 255)  # noqa: E731
        want8 = ref_impl.ms_ssim(q(y)[None], q(x)[None], data_range=255.0).item()
        assert metrics.ms_ssim_8bit(y, x) == pytest.approx(want8, abs=1e-4)


def test_ms_ssim_small_images_use_fewer_scales():
    x = _smooth_image(5, 40, 48)
    y = (x + 0.05).clamp(0, 1)
    value = metrics.ms_ssim(y, x)
    assert 0 < value < 1 and metrics.ms_ssim(x, x) == pytest.approx(1.0)
    assert math.isnan(metrics.ms_ssim(torch.rand(3, 8, 30), torch.rand(3, 8, 30)))
    with pytest.raises(ValueError):
        metrics.ms_ssim(torch.rand(3, 20, 20), torch.rand(3, 20, 21))


# -- SI-SDR --------------------------------------------------------------------------------------------
def _sin_cos(n: int = 4800, cycles: int = 50):
    t = torch.arange(n, dtype=torch.float64) * (2 * math.pi * cycles / n)
    return torch.sin(t), torch.cos(t)  # exactly orthogonal, equal energy over whole cycles


def test_si_sdr_known_values():
    s, c = _sin_cos()
    assert metrics.si_sdr(s + 0.1 * c, s) == pytest.approx(20.0, abs=1e-9)    # |s|^2 / |0.1 c|^2 = 100
    assert metrics.si_sdr(3 * (s + 0.1 * c), s) == pytest.approx(20.0, abs=1e-9)  # scale-invariant
    assert metrics.si_sdr(-s + 0.01 * c, s) == pytest.approx(40.0, abs=1e-9)  # sign is a scale too
    assert metrics.si_sdr(s + c, s) == pytest.approx(0.0, abs=1e-9)
    assert metrics.si_sdr(0.5 * s, s) == math.inf


def test_si_sdr_mean_over_channels_and_silence():
    s, c = _sin_cos()
    est = torch.stack([s + 0.1 * c, s + math.sqrt(0.1) * c])               # 20 dB and 10 dB
    assert metrics.si_sdr(est, torch.stack([s, s])) == pytest.approx(15.0, abs=1e-9)
    silent = torch.zeros_like(s)
    assert metrics.si_sdr(torch.stack([s + 0.1 * c, s]), torch.stack([s, silent])) == pytest.approx(20.0)
    assert math.isnan(metrics.si_sdr(silent[None], silent[None]))


# -- BD-rate -------------------------------------------------------------------------------------------
CURVE_R = [0.25, 0.5, 1.0, 2.0, 3.0]
CURVE_D = [28.0, 31.0, 34.5, 38.0, 40.0]


def test_bd_rate_of_a_curve_against_itself_is_zero():
    assert metrics.bd_rate(CURVE_R, CURVE_D, CURVE_R, CURVE_D) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_of_half_and_double_the_rate():
    half = [r / 2 for r in CURVE_R]
    assert metrics.bd_rate(CURVE_R, CURVE_D, half, CURVE_D) == pytest.approx(-50.0, abs=1e-9)
    assert metrics.bd_rate(half, CURVE_D, CURVE_R, CURVE_D) == pytest.approx(100.0, abs=1e-9)


def test_bd_rate_hand_computed_with_partial_overlap():
    # anchor: ln R = D / 10 (two points -> a line); test: ln R = D / 5 - 3 on [35, 45].
    # Shared range [35, 40]; mean of (D/5 - 3) - D/10 = D/10 - 3 over it is 0.75: BD = e^0.75 - 1.
    d_a, d_t = [30.0, 40.0], [35.0, 45.0]
    r_a = [math.exp(d / 10) for d in d_a]
    r_t = [math.exp(d / 5 - 3) for d in d_t]
    assert metrics.bd_rate(r_a, d_a, r_t, d_t) == pytest.approx((math.exp(0.75) - 1) * 100, rel=1e-9)


def test_bd_rate_cubic_fit_is_exact_for_cubic_curves():
    # ln R an exact cubic of D for both curves: the fit reproduces it, and the mean difference is the
    # integral of the (quadratic) difference, done here by hand: test - anchor = 0.002 (D - 30)^2 - 0.1.
    d = np.array([28.0, 31.0, 34.0, 37.0, 40.0])
    anchor = np.exp(0.001 * (d - 30) ** 3 + 0.1 * d - 4)
    test = anchor * np.exp(0.002 * (d - 30) ** 2 - 0.1)
    lo, hi = 28.0, 40.0
    mean = (0.002 * ((hi - 30) ** 3 - (lo - 30) ** 3) / 3) / (hi - lo) - 0.1
    assert metrics.bd_rate(anchor, d, test, d) == pytest.approx((math.exp(mean) - 1) * 100, rel=1e-6)


def test_bd_rate_against_numerical_integration():
    scipy_integrate = pytest.importorskip("scipy.integrate", reason="scipy not installed")
    r_t = [0.2, 0.45, 0.9, 1.7]
    d_t = [27.5, 30.8, 34.0, 37.2]
    pa = np.polyfit(CURVE_D, np.log(CURVE_R), 3)
    pt = np.polyfit(d_t, np.log(r_t), 3)
    lo, hi = max(min(CURVE_D), min(d_t)), min(max(CURVE_D), max(d_t))
    diff, _ = scipy_integrate.quad(lambda x: np.polyval(pt, x) - np.polyval(pa, x), lo, hi)
    want = (math.exp(diff / (hi - lo)) - 1) * 100
    assert metrics.bd_rate(CURVE_R, CURVE_D, r_t, d_t) == pytest.approx(want, rel=1e-6)


def test_bd_rate_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match="share no quality range"):
        metrics.bd_rate([1, 2], [30, 32], [1, 2], [33, 35])
    with pytest.raises(ValueError, match="two points"):
        metrics.bd_rate([1], [30], [1, 2], [30, 32])
    with pytest.raises(ValueError, match="positive"):
        metrics.bd_rate([0, 2], [30, 32], [1, 2], [30, 32])


def test_snr_sees_the_error_of_a_quiet_take_that_full_scale_psnr_hides():
    """A tone at -40 dBFS RMS with an error at -60 dBFS: full-scale PSNR 60 dB, SNR against itself 20 dB
    (bench_audio reports both, and SI-SDR)."""
    from conftest import benchmark

    t = np.arange(16000) / 16000
    x = (0.01 * np.sqrt(2) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
    error = (0.001 * np.sqrt(2) * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)[None]
    scores = benchmark("bench_audio").scores(x + error, x)
    assert scores["psnr"] == pytest.approx(60.0, abs=0.05) and scores["snr_db"] == pytest.approx(20.0, abs=0.05)
    assert scores["si_sdr"] == pytest.approx(20.0, abs=0.1)
    assert metrics.snr(torch.from_numpy(x), torch.from_numpy(x)) == math.inf
    assert math.isnan(metrics.snr(torch.zeros(1, 8), torch.zeros(1, 8)))
