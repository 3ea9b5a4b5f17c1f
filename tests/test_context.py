"""The causal context model: the C++ coder against the numpy reference, round trips, hostile input,
and the model files that carry its tables."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import walloc
from walloc import _rans, coder, context
from walloc.codec import Codec
from walloc.errors import ModelError

from conftest import flip_last_byte


def planes(rng, c, h, w, kmax, scale):
    """Smooth-ish integer planes in [-kmax, kmax]: a random walk plus Laplacian detail."""
    walk = np.cumsum(np.cumsum(rng.laplace(0, scale, (c, h, w)), axis=1), axis=2) / max(h, w)
    return np.clip(np.round(walk + rng.laplace(0, scale, (c, h, w))), -kmax, kmax).astype(np.int64)


def coder_args(m: context.ContextTables, width: int) -> dict:
    return dict(modes=m.modes, buckets=m.buckets, offset=m.kmax, roff=m.tables.offset, width=width)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), c=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9),
       kmax=st.sampled_from([1, 3, 32]), buckets=st.sampled_from([1, 4, 16]))
def test_coder_contexts_equal_the_reference(seed, c, h, w, kmax, buckets):
    rng = np.random.default_rng(seed)
    m = context.fit([planes(rng, c, 12, 12, kmax, 2.0)], kmax, buckets)
    m = context.ContextTables(rng.integers(0, 3, c).astype(np.uint8), buckets, kmax, m.tables)  # every mode
    values = planes(rng, c, h, w, kmax, 3.0)
    rows, coded = _rans.context_of((values + kmax).reshape(c, -1), **coder_args(m, w))
    ref_rows, residual = context.contexts(values, m.modes, buckets)
    assert np.array_equal(rows.reshape(c, h, w), ref_rows)
    assert np.array_equal(coded.reshape(c, h, w), residual + m.tables.offset)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), c=st.integers(1, 5), h=st.integers(1, 12), w=st.integers(1, 12),
       escapes=st.booleans())
def test_round_trip_and_size_close_to_the_ideal(seed, c, h, w, escapes):
    rng = np.random.default_rng(seed)
    kmax = 16
    m = context.fit([planes(rng, c, 16, 16, kmax, 1.5)], kmax)
    values = planes(rng, c, h, w, kmax, 2.0)
    if escapes:  # values the tables were never built for: coded through the escape path
        values.flat[rng.integers(values.size)] = int(rng.integers(-10**6, 10**6))
    sym = (values + kmax).astype(np.int32).reshape(c, -1)
    data = _rans.encode_context_chunks([sym], m.tables.cdfs, 16, **coder_args(m, w))
    back = _rans.decode_context_chunks(data, m.tables.cdfs, 16, [h * w], **coder_args(m, w))[0]
    assert np.array_equal(back, sym)
    if not escapes:
        ideal = context.information_bits(m, values) / 8
        assert len(data[0]) <= ideal + 64 and len(data[0]) >= ideal - 1


def test_audio_rows_use_left_neighbours_only():
    rng = np.random.default_rng(0)
    m = context.fit([planes(rng, 3, 1, 400, 8, 1.0)], 8)
    values = planes(rng, 3, 1, 257, 8, 1.0)
    rows, _ = _rans.context_of((values + 8).reshape(3, -1), **coder_args(m, 0))  # width 0: one row
    assert np.array_equal(rows.reshape(values.shape), context.contexts(values, m.modes, m.buckets)[0])


def test_corrupt_and_truncated_streams_raise():
    rng = np.random.default_rng(1)
    m = context.fit([planes(rng, 2, 16, 16, 8, 2.0)], 8)
    sym = (planes(rng, 2, 16, 16, 8, 2.0) + 8).astype(np.int32).reshape(2, -1)
    data = _rans.encode_context_chunks([sym], m.tables.cdfs, 16, **coder_args(m, 16))[0]
    for bad in (data[:-4], data + b"\0\0\0\0", data[:8] + bytes(len(data) - 8)):
        with pytest.raises(ValueError):
            _rans.decode_context_chunks([bad], m.tables.cdfs, 16, [256], **coder_args(m, 16))


def test_bad_arguments_raise():
    m = context.fit([np.zeros((2, 4, 4), dtype=np.int64)], 4)
    sym = np.zeros((2, 16), dtype=np.int32)
    with pytest.raises(ValueError, match="rows"):
        _rans.encode_context_chunks([sym], m.tables.cdfs, 16, m.modes, m.buckets + 1, 4, 8, 4)
    with pytest.raises(ValueError, match="width"):
        _rans.encode_context_chunks([sym], m.tables.cdfs, 16, **coder_args(m, 5))
    with pytest.raises(ValueError, match="modes"):
        _rans.encode_context_chunks([sym], m.tables.cdfs, 16, np.array([0, 3]), m.buckets, 4, 8, 4)
    huge = np.array([[2**31 - 1, 2**31 - 1], [0, 0]], dtype=np.int32)  # residual beyond int32 (median mode)
    with pytest.raises(ValueError, match="int32"):
        _rans.encode_context_chunks([huge], m.tables.cdfs, 16, np.array([1, 1], dtype=np.uint8), m.buckets, -2**31 + 1, 8, 2)


def test_codec_streams_use_the_context_coder(tiny_rgb, tiny_stereo):
    for codec, x in ((tiny_rgb, torch.rand(3, 40, 72)), (tiny_stereo, torch.rand(2, 3000) * 2 - 1)):
        data = codec.compress(x)
        assert walloc.peek_header(data).coder == coder.ContextRansCoder.coder_id
        symbols = codec.read_latents(data)[1]
        assert torch.equal(symbols[0], codec.quantize(codec.encode(x.unsqueeze(0)), codec.stream.default_quality)[0])


def test_factorized_streams_stay_decodable_after_context_tables_are_added(tiny_copy):
    cfg_path = tiny_copy / "tiny-rgb.json"
    cfg = json.loads(cfg_path.read_text())
    without = {k: v for k, v in cfg.items() if k != "context"}
    cfg_path.write_text(json.dumps(without))
    x = torch.rand(3, 32, 32)
    old = Codec.load("tiny-rgb", tiny_copy).compress(x)
    assert walloc.peek_header(old).coder == coder.RansCoder.coder_id
    cfg_path.write_text(json.dumps(cfg))
    new = Codec.load("tiny-rgb", tiny_copy)
    assert torch.equal(new.read_latents(old)[1], new.read_latents(new.compress(x))[1])


def test_context_tables_are_verified_and_named_by_streams(tiny_copy):
    data = Codec.load("tiny-rgb", tiny_copy).compress(torch.rand(3, 32, 32))
    tables = tiny_copy / "tiny-rgb.context.safetensors"
    flip_last_byte(tables)
    with pytest.raises(ModelError, match="context tables: file hash"):
        Codec.load("tiny-rgb", tiny_copy)
    # tables refitted (a new, valid file and hash): the old context stream is refused by name
    cfg_path = tiny_copy / "tiny-rgb.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["context"]["sha256"] = walloc.zoo.file_sha256(tables)
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="another version"):
        Codec.load("tiny-rgb", tiny_copy).decompress(data)
