"""The `walloc` command as a user runs it: exit codes, one-line errors, no partial files."""

import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from conftest import KODAK, needs_kodak, run_cli


@pytest.fixture
def photo(tmp_path):
    arr = (np.random.default_rng(1).random((40, 56, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "photo.png")
    return tmp_path / "photo.png"


def _one_line_error(result, fragment: str):
    assert result.returncode != 0
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0, err
    assert fragment in err, err


def test_encode_decode_round_trip(tiny_models, photo):
    r = run_cli("encode", str(photo), "--verify", models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
    stats = r.stderr.decode()
    for part in ("bytes", "bpp", ":1", "fewer dimensions", "PSNR", " s"):
        assert part in stats
    wlc = photo.with_suffix(".wlc")
    assert wlc.exists() and r.stdout == b""
    r = run_cli("decode", str(wlc), models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
    out = photo.with_suffix(".decoded.png")
    assert Image.open(out).size == (56, 40)


def test_audio_round_trip_and_formats(tiny_models, tmp_path):
    sf.write(tmp_path / "a.wav", np.random.default_rng(0).uniform(-0.3, 0.3, (3000, 6)), 48000, subtype="PCM_24")
    r = run_cli("encode", str(tmp_path / "a.wav"), "-q", "1", models=tiny_models)
    assert r.returncode == 0 and "kbps" in r.stderr.decode()
    r = run_cli("decode", str(tmp_path / "a.wlc"), "-o", str(tmp_path / "b.flac"), models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
    info = sf.info(tmp_path / "b.flac")
    assert (info.channels, info.frames, info.samplerate, info.subtype) == (6, 3000, 48000, "PCM_24")


def test_stdin_stdout(tiny_models, photo):
    r = run_cli("encode", "-", stdin=photo.read_bytes(), models=tiny_models)
    assert r.returncode == 0 and r.stdout[:4] == b"WLOC"
    r2 = run_cli("decode", "-", "-o", "-", stdin=r.stdout, models=tiny_models)
    assert r2.returncode == 0 and r2.stdout[:8] == b"\x89PNG\r\n\x1a\n"


def test_refuses_to_overwrite_without_force(tiny_models, photo):
    target = photo.with_suffix(".wlc")
    target.write_bytes(b"precious")
    _one_line_error(run_cli("encode", str(photo), models=tiny_models), "use -f")
    assert target.read_bytes() == b"precious"
    assert run_cli("encode", str(photo), "-f", models=tiny_models).returncode == 0
    assert target.read_bytes()[:4] == b"WLOC"


def test_corrupt_stream_is_one_clean_error(tiny_models, photo):
    assert run_cli("encode", str(photo), models=tiny_models).returncode == 0
    wlc = photo.with_suffix(".wlc")
    data = bytearray(wlc.read_bytes())
    data[len(data) // 2] ^= 0x10
    wlc.write_bytes(bytes(data))
    _one_line_error(run_cli("decode", str(wlc), models=tiny_models), "CRC32")
    assert not photo.with_suffix(".decoded.png").exists()
    assert not [p for p in photo.parent.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("case, fragment", [
    ("missing", "no such file"), ("empty", "empty"), ("dir", "directory"), ("text", "not an image"),
    ("quality", "got 99"), ("model", "unknown model"), ("wrong-modality", "codes audio"),
])
def test_bad_input_gives_one_line_error(tiny_models, tmp_path, photo, case, fragment):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    args = {"missing": [str(tmp_path / "nope.png")], "empty": [str(tmp_path / "empty.png")], "dir": [str(tmp_path)],
            "text": [str(tmp_path / "text.png")], "quality": [str(photo), "-q", "99"],
            "model": [str(photo), "-m", "nope"], "wrong-modality": [str(photo), "-m", "tiny-stereo"]}[case]
    r = run_cli("encode", *args, models=tiny_models)
    _one_line_error(r, fragment)
    assert not photo.with_suffix(".wlc").exists()


def test_unwritable_output(tiny_models, photo, tmp_path):
    _one_line_error(run_cli("encode", str(photo), "-o", str(tmp_path / "no" / "x.wlc"), models=tiny_models), "does not exist")


def test_info_and_models_json(tiny_models, photo):
    run_cli("encode", str(photo), models=tiny_models)
    r = run_cli("info", str(photo.with_suffix(".wlc")), "--json", models=tiny_models)
    fields = json.loads(r.stdout)
    assert fields["extent"] == [40, 56] and fields["model"] == "tiny-rgb" and fields["channels"] == 3
    assert (fields["coder"], fields["coder_name"]) == (3, "rans-context")
    assert "model_hash" in run_cli("info", str(photo.with_suffix(".wlc")), models=tiny_models).stdout.decode()
    listed = json.loads(run_cli("models", "--json", models=tiny_models).stdout)
    assert {m["name"] for m in listed} == {"tiny-rgb", "tiny-stereo"}
    for m in listed:
        assert {"name", "modality", "default", "qualities", "dim_reduction"} <= set(m)
        assert all(isinstance(q, int) for q in m["qualities"])


def test_help_teaches():
    out = run_cli("encode", "--help").stdout.decode()
    assert "Examples" in out and "--quality" in out


@needs_kodak
def test_shipped_default_model_from_the_cli(tmp_path):
    r = run_cli("encode", str(KODAK / "kodim01.png"), "-o", str(tmp_path / "k.wlc"), "--verify")
    assert r.returncode == 0, r.stderr.decode()
    assert "16x fewer dimensions" in r.stderr.decode()


@pytest.mark.parametrize("size", [(1, 1), (100000, 1), (1, 3000)])
def test_extreme_image_shapes(tiny_models, tmp_path, size):
    Image.new("RGB", size, (10, 200, 30)).save(tmp_path / "x.png")
    assert run_cli("encode", str(tmp_path / "x.png"), models=tiny_models).returncode == 0
    r = run_cli("decode", str(tmp_path / "x.wlc"), models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
    assert Image.open(tmp_path / "x.decoded.png").size == size


def test_16bit_with_alpha_and_one_sample_audio(tiny_models, tmp_path):
    arr = (np.random.default_rng(0).random((9, 7, 4)) * 255).astype(np.uint8)
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    assert run_cli("encode", str(tmp_path / "a.png"), models=tiny_models).returncode == 0
    assert run_cli("decode", str(tmp_path / "a.wlc"), models=tiny_models).returncode == 0
    assert Image.open(tmp_path / "a.decoded.png").mode == "RGBA"
    sf.write(tmp_path / "one.wav", np.array([[0.25]]), 8000)
    assert run_cli("encode", str(tmp_path / "one.wav"), models=tiny_models).returncode == 0
    assert run_cli("decode", str(tmp_path / "one.wlc"), models=tiny_models).returncode == 0
    assert sf.info(tmp_path / "one.decoded.wav").frames == 1
    sf.write(tmp_path / "none.wav", np.zeros((0, 1)), 8000)
    _one_line_error(run_cli("encode", str(tmp_path / "none.wav"), models=tiny_models), "no samples")


def test_wrong_extension_is_read_by_content(tiny_models, tmp_path, photo):
    (tmp_path / "photo.jpg").write_bytes(photo.read_bytes())  # a PNG named .jpg
    r = run_cli("encode", str(tmp_path / "photo.jpg"), models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
