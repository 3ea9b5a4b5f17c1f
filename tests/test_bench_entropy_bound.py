"""The entropy bound's models must be causal: a latent's prediction may only depend on what a decoder
has already decoded, or the 'bound' would be a cheat. Checked by gradients on random input."""

import itertools

import pytest
import torch

from conftest import benchmark

bound = benchmark("bench_entropy_bound")

C, H, W = 4, 7, 7


def _decoded_before(kind: str, g: int, y: int, x: int, gi: int, yi: int, xi: int) -> bool:
    if kind == "raster":  # all channels position by position, lower channels first
        return (yi, xi) < (y, x) or ((yi, xi) == (y, x) and gi < g)
    if kind == "raster-own":  # each channel on its own, in raster order
        return gi == g and (yi, xi) < (y, x)
    anchor = (yi + xi) % 2 == 0  # checkerboard: channel by channel, anchors then the rest
    return gi < g or (gi == g and (y + x) % 2 == 1 and anchor)


@pytest.mark.parametrize("kind", sorted(bound.MODELS))
def test_every_prediction_reads_only_decoded_latents(kind):
    torch.manual_seed(0)
    model = bound.MODELS[kind](C, features=4)
    reads = 0
    for g, y, x in itertools.product(range(C), (0, 3, 6), (0, 2, 3, 6)):
        inp = torch.randn(1, C, H, W, requires_grad=True)
        model(inp)[0, g, :, y, x].sum().backward()
        for gi, yi, xi in (inp.grad[0].abs() > 0).nonzero().tolist():
            assert _decoded_before(kind, g, y, x, gi, yi, xi), f"{kind}: latent {(g, y, x)} reads {(gi, yi, xi)}"
            reads += 1
    assert reads > 100  # the models do read their context


def test_code_bits_is_a_distribution_over_the_alphabet():
    torch.manual_seed(1)
    kmax = 5
    params = torch.randn(1, 1, 3 * bound.MIXTURE, 1, 1)
    bits = torch.stack([bound.code_bits(params, torch.full((1, 1, 1, 1), float(v)), kmax, 2.0)
                        for v in range(-kmax, kmax + 1)])
    assert torch.isclose((2.0 ** -bits).sum(), torch.tensor(1.0), atol=1e-5)
