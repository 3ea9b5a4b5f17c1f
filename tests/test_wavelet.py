"""The packet transform against PyWavelets' coefficients, and perfect reconstruction."""

import numpy as np
import pytest
import pywt
import torch

from walloc import wavelet


@pytest.mark.parametrize("n", [2, 4, 6, 10, 30, 64, 1000])
def test_dwt1d_matches_pywavelets(n):
    x = torch.randn(3, n, dtype=torch.float64)
    c = wavelet.dwt1d(x)
    lo, hi = pywt.dwt(x.numpy(), "bior4.4", mode="periodization")
    np.testing.assert_allclose(c[:, 0].numpy(), lo, atol=1e-12)
    np.testing.assert_allclose(c[:, 1].numpy(), hi, atol=1e-12)
    np.testing.assert_allclose(wavelet.idwt1d(c).numpy(), x.numpy(), atol=1e-10)


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_packet2d_matches_pywavelets_natural_order(levels):
    x = torch.randn(2, 40, 56, dtype=torch.float64)
    ours = wavelet.packet2d(x.unsqueeze(0), levels)[0]
    for c in range(2):
        wp = pywt.WaveletPacket2D(x[c].numpy(), "bior4.4", mode="periodization", maxlevel=levels)
        ref = np.stack([node.data for node in wp.get_level(levels, order="natural")])
        np.testing.assert_allclose(ours[c * 4 ** levels:(c + 1) * 4 ** levels].numpy(), ref, atol=1e-10)


@pytest.mark.parametrize("levels", [1, 4, 8])
def test_packet1d_matches_pywavelets_natural_order(levels):
    x = torch.randn(2, 1024, dtype=torch.float64)
    ours = wavelet.packet1d(x.unsqueeze(0), levels)[0]
    for c in range(2):
        wp = pywt.WaveletPacket(x[c].numpy(), "bior4.4", mode="periodization", maxlevel=levels)
        ref = np.stack([node.data for node in wp.get_level(levels, order="natural")])
        np.testing.assert_allclose(ours[c * 2 ** levels:(c + 1) * 2 ** levels].numpy(), ref, atol=1e-10)


def _symmetric_level(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One symmetric level by its definition: pywt's periodized transform of the whole-sample symmetric
    extension of x (period 2N - 2), whose first N/2 low and N/2 high coefficients determine the rest."""
    n = x.shape[-1]
    lo, hi = pywt.dwt(np.concatenate([x, x[..., -2:0:-1]], -1), "bior4.4", mode="periodization")
    return lo[..., : n // 2], hi[..., : n // 2]


def _symmetric_packet(x: np.ndarray, levels: int) -> np.ndarray:
    """(C, N) -> (C * 2**levels, N / 2**levels): every band split again, each level extended anew (JPEG 2000)."""
    for _ in range(levels):
        lo, hi = _symmetric_level(x)
        x = np.stack([lo, hi], 1).reshape(-1, lo.shape[-1])
    return x


@pytest.mark.parametrize("n", [2, 4, 6, 10, 30, 64, 1000])
def test_symmetric_level_matches_pywavelets_on_the_mirrored_signal(n):
    x = torch.randn(3, n, dtype=torch.float64)
    ours = wavelet.packet1d(x.unsqueeze(1), 1, "symmetric")
    lo, hi = _symmetric_level(x.numpy())
    np.testing.assert_allclose(ours[:, 0].numpy(), lo, atol=1e-12)
    np.testing.assert_allclose(ours[:, 1].numpy(), hi, atol=1e-12)
    np.testing.assert_allclose(wavelet.ipacket1d(ours, 1, "symmetric")[:, 0].numpy(), x.numpy(), atol=1e-10)


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_symmetric_packet2d_is_separable_and_level_by_level(levels):
    """2-D: rows then columns of each band, in the periodic packet's subband order."""
    x = torch.randn(2, 40, 56, dtype=torch.float64)
    ours = wavelet.packet2d(x.unsqueeze(0), levels, "symmetric")[0]
    planes = x.numpy()
    for _ in range(levels):
        lo_w, hi_w = _symmetric_level(planes)                                  # along W
        split = [_symmetric_level(np.swapaxes(band, -1, -2)) for band in (lo_w, hi_w)]   # along H
        ll, hl = (np.swapaxes(b, -1, -2) for b in split[0])
        lh, hh = (np.swapaxes(b, -1, -2) for b in split[1])
        planes = np.stack([ll, hl, lh, hh], 1).reshape(-1, *ll.shape[-2:])
    np.testing.assert_allclose(ours.numpy(), planes, atol=1e-10)
    np.testing.assert_allclose(wavelet.ipacket2d(ours.unsqueeze(0), levels, "symmetric")[0].numpy(), x.numpy(), atol=1e-10)


@pytest.mark.parametrize("levels", [1, 4, 8])
def test_symmetric_packet1d_level_by_level(levels):
    x = torch.randn(2, 1024, dtype=torch.float64)
    ours = wavelet.packet1d(x.unsqueeze(0), levels, "symmetric")[0]
    np.testing.assert_allclose(ours.numpy(), _symmetric_packet(x.numpy(), levels), atol=1e-10)


def test_symmetric_border_continues_the_signal():
    """A ramp's finest high band is zero inside; at its ends the symmetric rule sees only a kink (the
    ramp and its mirror image), the periodic rule the jump from its end back to its start."""
    ramp = torch.linspace(0, 1, 64, dtype=torch.float64).reshape(1, 1, 64)
    periodic, symmetric = (wavelet.packet1d(ramp, 1, e)[0, 1] for e in ("periodic", "symmetric"))
    assert symmetric[1:-2].abs().max() < 1e-9 and periodic[1:-2].abs().max() < 1e-9
    assert symmetric.abs().max() < 0.05 * periodic.abs().max()
    with pytest.raises(ValueError, match="extension must be one of periodic, symmetric"):
        wavelet.packet1d(ramp, 1, "zero")


def test_shapes():
    assert wavelet.packet2d(torch.zeros(2, 3, 64, 96), 3).shape == (2, 192, 8, 12)
    assert wavelet.packet1d(torch.zeros(1, 2, 4096), 8).shape == (1, 512, 16)


def test_perfect_reconstruction_float32():
    x = torch.rand(2, 3, 128, 72)
    assert (wavelet.ipacket2d(wavelet.packet2d(x, 3), 3) - x).abs().max() < 1e-4
    a = torch.rand(2, 2, 8192) * 2 - 1
    assert (wavelet.ipacket1d(wavelet.packet1d(a, 8), 8) - a).abs().max() < 1e-4


def test_differentiable_and_linear():
    x = torch.randn(1, 1, 16, 16, requires_grad=True)
    wavelet.packet2d(x, 2).pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # CDF 9/7 is near-orthogonal: energy is kept within a few percent
    y = torch.randn(4, 3, 64, 64)
    ratio = wavelet.packet2d(y, 3).pow(2).sum() / y.pow(2).sum()
    assert 0.9 < ratio < 1.1


def test_odd_length_is_rejected():
    with pytest.raises(ValueError, match="even length"):
        wavelet.dwt1d(torch.zeros(1, 5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    x = torch.rand(2, 3, 64, 64)
    np.testing.assert_allclose(wavelet.packet2d(x.cuda(), 3).cpu().numpy(), wavelet.packet2d(x, 3).numpy(), atol=1e-5)
