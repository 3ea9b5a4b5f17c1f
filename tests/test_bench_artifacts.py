"""The artifact measures must find a regular 8-pixel pattern where it is, and only there."""

import numpy as np

from conftest import benchmark

artifacts = benchmark("bench_artifacts")

H, W = 96, 128


def _measure(pattern_rows: slice) -> dict:
    """A flat grey image decoded with a +-2 level 8-pixel pattern in ``pattern_rows`` and weak noise elsewhere."""
    rng = np.random.default_rng(0)
    original = np.full((H, W, 3), 128.0)
    decoded = original + rng.normal(0, 0.5, original.shape)
    decoded[pattern_rows] += np.where(np.arange(W) % 8 < 4, 2.0, -2.0)[None, :, None]
    acc = artifacts.Accumulator()
    acc.add(original, decoded, 100, artifacts.flat_mask(original, 4.0))
    return acc.result()


def test_a_pattern_beside_the_edge_is_left_out_of_the_interior_figure():
    r = _measure(slice(8, 16))
    assert r["grid_db"] > 4 and abs(r["grid_interior_db"]) < 1.5


def test_a_pattern_across_the_picture_is_in_both_figures():
    r = _measure(slice(0, H))
    assert r["grid_db"] > 4 and r["grid_interior_db"] > 4


def test_noise_without_structure_is_near_zero_db():
    r = _measure(slice(0, 0))
    assert abs(r["grid_db"]) < 1.5 and abs(r["grid_interior_db"]) < 1.5
