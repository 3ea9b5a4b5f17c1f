"""Integer tables: valid, close to the density they freeze, and a real learned fit."""

import math

import numpy as np
import pytest
import torch

from walloc.entropy import FactorizedDensity, Tables


def _valid(t: Tables):
    assert t.cdfs.dtype == np.uint32
    assert (t.cdfs[:, 0] == 0).all() and (t.cdfs[:, -1] == 1 << t.precision).all()
    assert (np.diff(t.cdfs.astype(np.int64), axis=1) >= 1).all()


@pytest.mark.parametrize("pmf", [
    np.full((2, 5), 0.2),
    np.array([[1.0, 0, 0, 0], [0, 0, 0, 1.0]]),          # all mass on one symbol
    np.r_[np.full(255, 1e-12), 1.0][None],                # many near-zero probabilities
    np.random.default_rng(0).dirichlet(np.ones(257), size=3),
])
def test_from_pmf_gives_valid_tables(pmf):
    t = Tables.from_pmf(pmf, offset=0)
    _valid(t)
    freq = np.diff(t.cdfs.astype(np.int64), axis=1) / (1 << t.precision)
    p = pmf / pmf.sum(axis=1, keepdims=True)
    assert np.abs(freq - p).max() < 300 / (1 << t.precision)  # each symbol costs at most one count per symbol


def test_too_many_symbols_are_refused():
    with pytest.raises(ValueError):
        Tables.from_pmf(np.ones((1, 40000)), offset=0)


def test_information_bits_of_uniform_table():
    t = Tables.from_pmf(np.full((1, 16), 1 / 16), offset=0)
    assert t.information_bits(np.zeros((1, 1000), dtype=np.int64)) == pytest.approx(4000)


def test_learned_density_fits_laplacian_and_freezes_consistently():
    torch.manual_seed(0)
    scales = torch.tensor([2.0, 8.0])
    density = FactorizedDensity(2)
    opt = torch.optim.Adam(density.parameters(), lr=1e-2)
    dist = torch.distributions.Laplace(0.0, scales[:, None].expand(2, 4096))
    for _ in range(600):
        y = dist.sample().unsqueeze(0)
        loss = density.bits(y + torch.rand_like(y) - 0.5) / y.numel()
        opt.zero_grad()
        loss.backward()
        opt.step()
    tables = density.freeze(step=1.0, bound=127.5)
    _valid(tables)
    assert tables.offset == 128 and tables.symbols == 257
    y = torch.round(dist.sample()).clamp(-128, 128).long().numpy()
    bits = tables.information_bits(y + tables.offset) / y.size
    # entropy of a unit-step quantized Laplacian ~ log2(2 e b): 3.44 and 5.44 bits; average 4.44
    ideal = np.mean([math.log2(2 * math.e * float(b)) for b in scales])
    assert bits == pytest.approx(ideal, abs=0.1)


def test_coarser_step_has_fewer_symbols():
    density = FactorizedDensity(3)
    assert density.freeze(4.0, 127.5).symbols == 2 * 32 + 1
    assert density.freeze(1.0, 127.5).symbols == 257
