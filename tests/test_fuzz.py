"""Fuzzing the decoder: mutated, truncated, extended, forged and random streams.

Every case must end in success or in walloc's own exception type: never another exception, a
crash or a hang. Forged cases recompute the CRC so that the checks behind it are exercised too.
Four property tests of 2,500 cases each: 10,000 per suite run. WALLOC_FUZZ_EXAMPLES sets the cases
per test (`make fuzz` runs 25,000 each).
"""

import dataclasses
import os
import struct
import zlib

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walloc import bitstream, io
from walloc.errors import WallocError

EXAMPLES = int(os.environ.get("WALLOC_FUZZ_EXAMPLES", "2500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def streams(tiny_rgb, tiny_stereo):
    torch.manual_seed(0)
    image = tiny_rgb.compress(torch.rand(4, 40, 36), 2)
    audio = tiny_stereo.compress(torch.rand(3, 700) * 2 - 1, 1, io.AudioMeta(22050))
    return {"image": (tiny_rgb, image), "audio": (tiny_stereo, audio)}


def _fix_crc(body: bytes) -> bytes:
    return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]))


def _decode_or_clean_error(codec, data: bytes) -> None:
    try:
        out = codec.decompress(data)
    except WallocError as e:
        assert str(e)
        return
    assert torch.isfinite(out).all()


@FUZZ
@given(kind=st.sampled_from(["image", "audio"]), flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)), min_size=1, max_size=8),
       fix_crc=st.booleans())
def test_bit_flips(streams, kind, flips, fix_crc):
    codec, data = streams[kind]
    bad = bytearray(data)
    for pos, bit in flips:
        bad[pos % (len(bad) - 4 if fix_crc else len(bad))] ^= 1 << bit
    _decode_or_clean_error(codec, _fix_crc(bytes(bad)) if fix_crc else bytes(bad))


@FUZZ
@given(kind=st.sampled_from(["image", "audio"]), cut=st.integers(0, 1 << 20), tail=st.binary(max_size=64), fix_crc=st.booleans())
def test_truncated_and_extended(streams, kind, cut, tail, fix_crc):
    codec, data = streams[kind]
    bad = data[: cut % len(data)] + tail
    _decode_or_clean_error(codec, _fix_crc(bad) if fix_crc and len(bad) >= 4 else bad)


FIELDS = {
    "extent": st.tuples(st.sampled_from([0, 1, 7, 40, 2 ** 16, 2 ** 31 - 1, 2 ** 32 - 1]), st.sampled_from([0, 1, 36, 2 ** 20])),
    "padding": st.tuples(st.sampled_from([0, 3, 4, 2 ** 31]), st.sampled_from([0, 1, 4])),
    "channels": st.sampled_from([0, 1, 3, 4, 1024, 65535]),
    "groups": st.sampled_from([0, 1, 2, 65535]),
    "latent_channels": st.sampled_from([0, 1, 6, 8, 65535]),
    "latent_extent": st.tuples(st.sampled_from([0, 1, 10, 2 ** 30]), st.sampled_from([0, 9, 2 ** 30])),
    "quality": st.sampled_from([0, 1, 2, 3, 255]),
    "coder": st.sampled_from([0, 1, 2, 3, 255]),
    "bit_depth": st.sampled_from([0, 8, 12, 16, 64, 255]),
    "model_hash": st.sampled_from([bytes(16), b"\xff" * 16]),
    "model": st.sampled_from(["tiny-rgb", "tiny-stereo", "x" * 64, "rgb-16x"]),
    "sample_rate": st.sampled_from([0, 1, 44100, 2 ** 32 - 1]),
}


@FUZZ
@given(kind=st.sampled_from(["image", "audio"]), changes=st.dictionaries(st.sampled_from(sorted(FIELDS)), st.none(), min_size=1, max_size=4),
       data=st.data())
def test_forged_headers_with_valid_crc(streams, kind, changes, data):
    codec, stream = streams[kind]
    header, payloads = bitstream.parse(stream)
    nd = len(header.extent)
    values = {k: data.draw(FIELDS[k]) for k in changes}
    for k in ("extent", "padding", "latent_extent"):
        if k in values:
            values[k] = values[k][:nd]
    try:
        forged = bitstream._serialise(dataclasses.replace(header, **values), [bytes(p) for p in payloads])
    except (struct.error, OverflowError):
        return  # not representable in the format at all
    _decode_or_clean_error(codec, forged)


@FUZZ
@given(blob=st.binary(max_size=512), magic=st.booleans())
def test_random_bytes(streams, blob, magic):
    codec, _ = streams["image"]
    data = (b"WLOC\x01" + blob) if magic else blob
    _decode_or_clean_error(codec, _fix_crc(data) if magic and len(data) > 8 else data)

