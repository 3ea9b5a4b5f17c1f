"""The stream layer: integer tables only, no network built to read latents, one quantizer, writer
limits equal to reader limits."""

import numpy as np
import pytest
import torch

from walloc import coder, features, stream, zoo
from walloc.codec import Codec
from walloc.context import ContextTables
from walloc.data import LatentDataset
from walloc.errors import ModelError
from walloc.model import WallocNet
from walloc.tables import Quality, Tables


@pytest.fixture
def no_network(monkeypatch):
    """Building a WallocNet fails from here on: whatever still works never built one."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("a network was built")

    monkeypatch.setattr(WallocNet, "__init__", refuse)


def test_reading_latents_builds_no_network(tiny_rgb, tiny_models, tmp_path, monkeypatch, no_network):
    import walloc

    x = torch.rand(3, 40, 24)
    data = tiny_rgb.compress(x)
    expected = tiny_rgb.quantize(tiny_rgb.encode(x[None]))  # (groups, K, h, w): one group
    monkeypatch.setattr(zoo, "MODEL_DIR", tiny_models)
    assert np.array_equal(stream.read_latents(data), expected.numpy())
    assert torch.equal(walloc.read_latents(data), expected)
    assert torch.equal(features.from_bytes(data), expected[0])
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.wlc").write_bytes(data)
    latents, label = LatentDataset(tmp_path, kind="int")[0]
    assert torch.equal(latents, expected[0]) and label == 0
    with pytest.raises(AssertionError, match="network"):  # the fixture does refuse networks
        Codec.load("tiny-rgb", tiny_models)


def test_stream_layer_loads_verified_read_only_tables(tiny_models, tiny_copy):
    layer = stream.Stream.load("tiny-rgb", tiny_models)
    cdfs = layer.tables(1).cdfs
    with pytest.raises(ValueError):
        cdfs[0, 0] = 7  # shared between callers: nobody may change them
    with pytest.raises(ModelError, match="does not match"):
        from conftest import flip_last_byte

        flip_last_byte(tiny_copy / "tiny-rgb.safetensors")
        stream.Stream.load("tiny-rgb", tiny_copy)


def test_one_quantizer_for_numpy_and_torch(tiny_rgb):
    y = torch.randn(2, 6, 8, 8) * 30
    for q in tiny_rgb.stream.qualities:
        quality = tiny_rgb.quality(q)
        a, b = stream.quantize(y, quality), stream.quantize(y.numpy(), quality)
        assert a.dtype == torch.int32 and b.dtype == np.int32 and np.array_equal(a.numpy(), b)
        assert torch.equal(tiny_rgb.quantize(y, q), a)
        assert np.array_equal(stream.dequantize(b, quality), stream.dequantize(a, quality).numpy())


@pytest.mark.parametrize("quality", ["4", 2.5, True, [1], 9])
def test_quality_must_be_one_of_the_integers(tiny_rgb, quality):
    with pytest.raises(ModelError, match=r"^quality must be an integer, one of \[1, 2\]"):
        tiny_rgb.compress(torch.rand(3, 8, 8), quality)


def test_coder_limits_on_encode_are_model_errors():
    """The C++ context coder stores table rows in 16 bits: a model with more rows is refused when it
    would write, as a ModelError, not when a decoder meets the stream."""
    if coder.ContextRansCoder.coder_id not in coder.coders():
        pytest.skip("walloc._rans is not built")
    buckets, kmax, channels = 16, 1, 4097  # 4,097 channels x 16 buckets > 2**16 table rows
    pmf = np.full((channels * buckets, 4 * kmax + 1), 1.0)
    ctx = ContextTables(np.zeros(channels, np.uint8), buckets, kmax, Tables.from_pmf(pmf, offset=2 * kmax))
    quality = Quality(1, 1.0, Tables.from_pmf(np.ones((channels, 2 * kmax + 1)), offset=kmax), None, ctx)
    with pytest.raises(ModelError, match="cannot be coded"):
        coder.ContextRansCoder().encode_many([np.ones((channels, 1, 1), np.int32)], quality)


def test_readers_share_one_stream_layer_per_version_of_the_model_files(tiny_rgb, tiny_copy):
    import os

    data = tiny_rgb.compress(torch.rand(3, 16, 16))
    first = stream.for_stream(data, tiny_copy)
    assert stream.for_stream(data, tiny_copy) is first  # a dataset asks once per item: built once
    os.utime(tiny_copy / "tiny-rgb.json", ns=(1, 1))   # the model's files changed: built again from them
    again = stream.for_stream(data, tiny_copy)
    assert again is not first and np.array_equal(stream.read_latents(data, layer=again), stream.read_latents(data, layer=first))
    assert first.stream_hash(3) == first.stream_hash(3) == zoo.stream_hash(first.config, 3)
