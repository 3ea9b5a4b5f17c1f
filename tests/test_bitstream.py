"""The container: round trip, and every kind of damage caught before anything is allocated."""

import struct
import zlib

import pytest

from walloc import bitstream
from walloc.bitstream import Chunk, Header
from walloc.errors import BitstreamError


def _header(**kw) -> Header:
    base = dict(modality="image", coder=1, quality=2, model="rgb-16x", model_hash=bytes(range(16)), channels=3,
                bit_depth=8, float_samples=False, sample_rate=0, extent=(37, 53), padding=(3, 3), groups=1,
                latent_channels=12, latent_extent=(5, 7), chunks=(Chunk(0, 0, 3, 4), Chunk(0, 3, 2, 3)))
    base.update(kw)
    return Header(**base)


PAYLOADS = [b"abcd", b"xyz"]


def test_round_trip():
    data = bitstream.pack(_header(), PAYLOADS)
    header, payloads = bitstream.parse(data)
    assert header == _header()
    assert [bytes(p) for p in payloads] == PAYLOADS
    assert header.to_json()["payload_bytes"] == 7


def test_audio_round_trip():
    h = _header(modality="audio", sample_rate=44100, extent=(1000,), padding=(24,), latent_extent=(4,),
                channels=6, groups=3, chunks=(Chunk(0, 0, 4, 4), Chunk(1, 0, 4, 3), Chunk(2, 0, 4, 1)))
    data = bitstream.pack(h, [b"abcd", b"xyz", b"q"])
    assert bitstream.parse(data)[0] == h


def test_every_byte_flip_is_caught():
    data = bitstream.pack(_header(), PAYLOADS)
    for i in range(len(data)):
        for bit in (0, 7):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(BitstreamError):
                bitstream.parse(bytes(bad))


def test_every_truncation_and_extension_is_caught():
    data = bitstream.pack(_header(), PAYLOADS)
    for n in range(len(data)):
        with pytest.raises(BitstreamError):
            bitstream.parse(data[:n])
    with pytest.raises(BitstreamError):
        bitstream.parse(data + b"\0")


def _forge(h: Header, payloads=PAYLOADS) -> bytes:
    """A stream with a valid CRC but hostile fields: the limits must catch it, not the checksum."""
    body = bitstream._serialise(h, payloads)[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("change, message", [
    (dict(extent=(2 ** 31, 53)), "out of range"),
    (dict(extent=(0, 53)), "out of range"),
    (dict(extent=(60000, 80000)), "exceeds the limit"),
    (dict(channels=0), "channel count"),
    (dict(bit_depth=12), "bit depth"),
    (dict(latent_extent=(6, 7)), "tile"),
    (dict(groups=2), "tile"),
    (dict(chunks=(Chunk(0, 0, 2, 4), Chunk(0, 3, 2, 3))), "tile"),
    (dict(modality="audio", sample_rate=44100), "axes"),
    (dict(modality="audio", sample_rate=0, extent=(100,), padding=(0,), latent_extent=(5,)), "sample rate"),
])
def test_hostile_fields_are_refused_by_parse_and_by_pack(change, message):
    with pytest.raises(BitstreamError, match=message):
        bitstream.parse(_forge(_header(**change)))
    with pytest.raises(BitstreamError, match=message):  # the writer refuses what the reader would
        bitstream.pack(_header(**change), PAYLOADS)


def test_huge_latent_count_is_refused_before_allocation():
    h = _header(latent_channels=65535, latent_extent=(65535, 7), chunks=(Chunk(0, 0, 65535, 4), Chunk(0, 65535, 0, 3)))
    with pytest.raises(BitstreamError, match="exceed the limit"):
        bitstream.parse(_forge(h))
    with pytest.raises(BitstreamError, match="exceed the limit"):
        bitstream.pack(h, PAYLOADS)


@pytest.mark.parametrize("change", [dict(channels=70000), dict(groups=70000), dict(latent_channels=1 << 16),
                                    dict(model="m" * 65), dict(model=""), dict(quality=256), dict(bit_depth=300),
                                    dict(chunks=(Chunk(0, 0, 3, 4), Chunk(0, 3, 2, 3), Chunk(0, 5, 1, 0)))])
def test_pack_refuses_fields_parse_would_refuse_or_that_do_not_fit(change):
    """Out of the limits, or beyond the width of the field: a BitstreamError, never a struct.error or a
    stream that parses to something else."""
    with pytest.raises(BitstreamError):
        bitstream.pack(_header(**change), PAYLOADS + [b""] * (len(change.get("chunks", ())) - 2))


def test_wrong_version_and_magic():
    data = bytearray(bitstream.pack(_header(), PAYLOADS))
    data[4] = 9
    with pytest.raises(BitstreamError, match="version 9"):
        bitstream.parse(bytes(data))
    with pytest.raises(BitstreamError, match="magic"):
        bitstream.parse(b"PNG\0" + bytes(data[4:]))
    with pytest.raises(BitstreamError, match="only 3 bytes"):
        bitstream.parse(b"WLO")


def _audio(**kw) -> Header:
    return _header(modality="audio", sample_rate=44100, extent=(1000,), padding=(24,), latent_extent=(4,),
                   chunks=(Chunk(0, 0, 4, 4),), **kw)


def test_audio_gain_and_silent_runs_round_trip_and_old_streams_still_parse():
    h = _audio(gain=5, silence=((0, 300), (700, 300)))
    back = bitstream.parse(bitstream.pack(h, [b"abcd"]))[0]
    assert back == h and back.to_json()["gain_db"] == -15.05 and back.to_json()["silent_samples"] == 600
    old = _audio(format_version=1)  # a version 1 stream: no level fields in its bytes
    data = bitstream.pack(old, [b"abcd"])
    assert data[4] == 1 and len(data) == len(bitstream.pack(_audio(), [b"abcd"])) - 5
    assert bitstream.parse(data)[0] == old


@pytest.mark.parametrize("change, message", [
    (dict(gain=17), "gain 17"),
    (dict(silence=((0, 10), (5, 10))), "overlap"),
    (dict(silence=((995, 10),)), "leave the signal"),
    (dict(silence=((5, 0),)), "overlap"),
    (dict(format_version=4), "version 4"),
    (dict(gain=-17, format_version=3), r"gain -17 is out of range \(-16\.\.16\)"),
])
def test_bad_level_fields_are_refused_by_writer_and_reader(change, message):
    h = _audio(**change)
    with pytest.raises(BitstreamError, match=message):
        bitstream.pack(h, [b"abcd"])
    with pytest.raises(BitstreamError):
        bitstream.parse(_forge(h, [b"abcd"]))


def test_version_3_carries_a_signed_gain_and_is_written_only_for_amplified_audio():
    h = _audio(gain=-7, silence=((0, 300),), format_version=bitstream.version_for(-7))
    data = bitstream.pack(h, [b"abcd"])
    back = bitstream.parse(data)[0]
    assert data[4] == 3 and back == h and back.gain_factor == 2.0 ** 3.5 and back.to_json()["gain_db"] == 21.07
    assert [bitstream.version_for(g) for g in (-16, -1, 0, 16)] == [3, 3, 2, 2]
    with pytest.raises(BitstreamError, match=r"gain -1 is out of range \(0\.\.16\)"):  # version 2 only attenuates
        bitstream.pack(_audio(gain=-1), [b"abcd"])
    # the same gain byte means -7 in version 3 and 249 (refused) in version 2: the version decides
    v2 = bytearray(data[:-4])
    v2[4] = 2
    with pytest.raises(BitstreamError, match="gain 249 is out of range"):
        bitstream.parse(bytes(v2) + struct.pack("<I", zlib.crc32(bytes(v2))))


def test_a_version_1_stream_cannot_carry_a_gain():
    with pytest.raises(BitstreamError, match="no gain"):
        bitstream.pack(_audio(format_version=1, gain=2), [b"abcd"])


def test_images_have_no_gain_and_the_same_bytes_in_both_versions():
    with pytest.raises(BitstreamError, match="no gain"):
        bitstream.pack(_header(gain=1), PAYLOADS)
    v1, v2 = bitstream.pack(_header(format_version=1), PAYLOADS), bitstream.pack(_header(), PAYLOADS)
    assert len(v1) == len(v2) and v1[5:-4] == v2[5:-4]
