"""The `walloc` command as a user runs it: exit codes, one-line errors, no partial files."""

import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from conftest import KODAK, ROOT, needs_kodak, run_cli


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


# -- outputs never harm a file (issue 12) -----------------------------------------------------------------
@pytest.fixture
def stream(tiny_models, photo):
    assert run_cli("encode", str(photo), models=tiny_models).returncode == 0
    return photo.with_suffix(".wlc")


def test_symlink_output_is_written_through(tiny_models, photo, tmp_path):
    target, link = tmp_path / "real.wlc", tmp_path / "link.wlc"
    target.write_bytes(b"old")
    link.symlink_to(target)
    _one_line_error(run_cli("encode", str(photo), "-o", str(link), models=tiny_models), "use -f")
    assert run_cli("encode", str(photo), "-o", str(link), "-f", models=tiny_models).returncode == 0
    assert link.is_symlink() and target.read_bytes()[:4] == b"WLOC"


def test_fifo_output_is_written_in_place(tiny_models, photo, tmp_path):
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe.wlc"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run_cli("encode", str(photo), "-o", str(fifo), models=tiny_models)  # a FIFO is no "existing output"
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert got and got[0][:4] == b"WLOC" and stat.S_ISFIFO(fifo.stat().st_mode)


def test_dev_null_needs_no_force(tiny_models, photo, stream):
    import os
    import stat

    assert run_cli("encode", str(photo), "-o", "/dev/null", models=tiny_models).returncode == 0
    assert run_cli("decode", str(stream), "-o", "/dev/null", models=tiny_models).returncode == 0
    assert run_cli("encode", str(photo), "-o", "/dev/null", "-f", models=tiny_models).returncode == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_dev_stdout_with_force_writes_the_pipe(tiny_models, photo, tmp_path):
    """`-o /dev/stdout -f` (here through a link to it, which must stay a link) writes into the pipe."""
    link = tmp_path / "out.wlc"
    link.symlink_to("/dev/stdout")
    for target in ("/dev/stdout", str(link)):
        r = run_cli("encode", str(photo), "-o", target, "-f", models=tiny_models)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout[:4] == b"WLOC"
    assert link.is_symlink() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("fmt, magic", [(None, b"RIFF"), ("flac", b"fLaC")])
def test_audio_to_a_pipe_is_a_valid_stream(tiny_models, tmp_path, fmt, magic):
    import io as std_io

    samples = (np.random.default_rng(0).uniform(-0.3, 0.3, (5000, 2)) * 32767).astype(np.int16)
    sf.write(tmp_path / "a.wav", samples, 16000, subtype="PCM_16")
    assert run_cli("encode", str(tmp_path / "a.wav"), models=tiny_models).returncode == 0
    r = run_cli("decode", str(tmp_path / "a.wlc"), "-o", "-", *(["--format", fmt] if fmt else []), models=tiny_models)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr.decode()
    assert r.stdout[:4] == magic
    data, rate = sf.read(std_io.BytesIO(r.stdout), always_2d=True)
    assert rate == 16000 and data.shape == (5000, 2)
    if fmt is None:  # the RIFF and data sizes are the real ones, not those of a stream that could not seek
        assert int.from_bytes(r.stdout[4:8], "little") == len(r.stdout) - 8
        assert r.stdout.count(b"RIFF") == 1


def _run_watching_torch(args: list[str], models) -> tuple[int, str, bool]:
    """Run the CLI in a fresh interpreter: (exit code, stderr, whether torch got imported; for decode,
    whether any decoding began)."""
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom walloc.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    code = e.code\nelse:\n    code = 0\nprint(code, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       env={**os.environ, "WALLOC_MODEL_DIR": str(models)}, timeout=120)
    exit_code, torch_loaded = r.stdout.split()[-2:]
    return int(exit_code), r.stderr, torch_loaded == "True"


@pytest.mark.parametrize("name, fragment", [("big.xyz", "not .xyz"), ("k", "no suffix"), ("k.flac", "not .flac")])
def test_output_format_is_checked_before_decoding(tiny_models, stream, tmp_path, name, fragment):
    code, err, decoded = _run_watching_torch(["decode", str(stream), "-o", str(tmp_path / name)], tiny_models)
    assert code == 1 and fragment in err and err.count("\n") == 1 and "KeyError" not in err and not decoded, err
    assert not (tmp_path / name).exists()


def test_audio_output_format_is_checked_before_decoding(tiny_models, tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros((300, 2)), 8000)
    assert run_cli("encode", str(tmp_path / "a.wav"), models=tiny_models).returncode == 0
    code, err, decoded = _run_watching_torch(["decode", str(tmp_path / "a.wlc"), "-o", str(tmp_path / "s.ogg")], tiny_models)
    assert code == 1 and ".wav or .flac" in err and not decoded, err


def test_format_option_names_what_a_suffixless_output_gets(tiny_models, stream, tmp_path):
    r = run_cli("decode", str(stream), "-o", str(tmp_path / "k"), "--format", "npy", models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
    assert np.load(tmp_path / "k").shape == (40, 56, 3)


@pytest.mark.parametrize("umask, existing, mode", [(0o022, None, 0o644), (0o077, None, 0o600), (0o022, 0o640, 0o640)])
def test_outputs_honour_the_umask(tiny_models, photo, tmp_path, umask, existing, mode):
    import os
    import subprocess
    import sys

    out = tmp_path / "o.wlc"
    if existing is not None:
        out.write_bytes(b"old")
        out.chmod(existing)
    r = subprocess.run([sys.executable, "-c", f"import os, sys; os.umask({umask}); from walloc.cli.main import main; main(sys.argv[1:])",
                        "encode", str(photo), "-o", str(out), "-f"], env={**os.environ, "WALLOC_MODEL_DIR": str(tiny_models)},
                       capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    assert out.stat().st_mode & 0o777 == mode


def test_16bit_rgb_png_stays_16bit(tiny_models, tmp_path):
    from test_io import _png

    arr = np.random.default_rng(0).integers(0, 65536, (24, 32, 3), dtype=np.uint16)
    (tmp_path / "deep.png").write_bytes(_png(arr, [0, 4]))
    assert run_cli("encode", str(tmp_path / "deep.png"), models=tiny_models).returncode == 0
    info = json.loads(run_cli("info", str(tmp_path / "deep.wlc"), "--json", models=tiny_models).stdout)
    assert info["bit_depth"] == 16
    r = run_cli("decode", str(tmp_path / "deep.wlc"), models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
    assert (tmp_path / "deep.decoded.png").read_bytes()[24] == 16  # IHDR bit depth
    _one_line_error(run_cli("decode", str(tmp_path / "deep.wlc"), "-o", str(tmp_path / "d.jpg"), models=tiny_models), "lose bits")


# -- many files at once (issue 12) ------------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    rng = np.random.default_rng(2)
    for rel in ("a.png", "sub/b.png", "sub/deeper/c.png", "sub/d.png"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((20, 24, 3)) * 255).astype(np.uint8)).save(src / rel)
    (src / "notes.txt").write_text("not media")
    return src


def _tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_batch_encode_and_decode_mirror_trees(tiny_models, tree, tmp_path):
    extra = tmp_path / "e.png"
    Image.new("RGB", (9, 9)).save(extra)
    r = run_cli("encode", str(tree), str(extra), "-o", str(tmp_path / "wlc") + "/", "--jobs", "2", models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
    assert "5 encoded, 0 skipped" in r.stderr.decode() and "0 failed" in r.stderr.decode()
    assert _tree(tmp_path / "wlc") == ["a.wlc", "e.wlc", "sub/b.wlc", "sub/d.wlc", "sub/deeper/c.wlc"]
    single = tmp_path / "single.wlc"
    assert run_cli("encode", str(tree / "sub/b.png"), "-o", str(single), models=tiny_models).returncode == 0
    assert single.read_bytes() == (tmp_path / "wlc/sub/b.wlc").read_bytes()  # same bytes as one by one
    r = run_cli("decode", str(tmp_path / "wlc"), "-o", str(tmp_path / "back"), "-j", "2", models=tiny_models)
    assert r.returncode == 0 and "5 decoded" in r.stderr.decode(), r.stderr.decode()
    assert _tree(tmp_path / "back") == ["a.png", "e.png", "sub/b.png", "sub/d.png", "sub/deeper/c.png"]
    assert Image.open(tmp_path / "back/sub/deeper/c.png").size == (24, 20)
    r = run_cli("decode", str(tmp_path / "wlc" / "a.wlc"), str(tmp_path / "wlc" / "sub"), "-o", str(tmp_path / "arrays"),
                "--format", "npy", models=tiny_models)
    assert r.returncode == 0 and _tree(tmp_path / "arrays") == ["a.npy", "b.npy", "d.npy", "deeper/c.npy"], r.stderr.decode()


def test_batch_skips_existing_reports_failures_and_goes_on(tiny_models, tree, tmp_path):
    out = tmp_path / "wlc"
    assert run_cli("encode", str(tree), "-o", str(out), models=tiny_models).returncode == 0
    kept = out / "a.wlc"
    kept.write_bytes(b"mine")
    (tree / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    r = run_cli("encode", str(tree), "-o", str(out), models=tiny_models)
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err
    assert "0 encoded, 4 skipped" in err and "1 failed" in err, err
    assert [line for line in err.splitlines() if "broken.png" in line and line.startswith("walloc: failed:")]
    assert kept.read_bytes() == b"mine" and (out / "sub/broken.wlc").exists() is False
    r = run_cli("encode", str(tree / "a.png"), str(tree / "sub/b.png"), "-o", str(out), "-f", models=tiny_models)
    assert r.returncode == 0 and "2 encoded, 0 skipped" in r.stderr.decode() and kept.read_bytes()[:4] == b"WLOC"


def test_batch_refusals(tiny_models, tree, tmp_path):
    _one_line_error(run_cli("encode", str(tree), models=tiny_models), "give -o OUTDIR/")
    (tree / "sub" / "a.jpg").write_bytes((tree / "a.png").read_bytes())
    (tmp_path / "x").mkdir()
    _one_line_error(run_cli("encode", str(tree / "a.png"), str(tree / "sub" / "a.jpg"), "-o", str(tmp_path / "x"), models=tiny_models),
                    "would both become")
    _one_line_error(run_cli("encode", str(tree), "-o", str(tmp_path / "x"), "-q", "99", models=tiny_models), "99")


# -- start-up, info, models (issue 12) --------------------------------------------------------------------
@pytest.mark.parametrize("command", ["encode", "info", "models"])
def test_commands_that_need_no_network_import_no_torch(tiny_models, photo, stream, command):
    args = {"encode": ["encode", str(photo), "-o", "/dev/null"], "info": ["info", str(stream)], "models": ["models"]}[command]
    code, err, torch_loaded = _run_watching_torch(args, tiny_models)
    assert code == 0 and not torch_loaded, err


def test_info_hash_matches_models_and_audio_duration(tiny_models, photo, stream, tmp_path):
    fields = json.loads(run_cli("info", str(stream), "--json", models=tiny_models).stdout)
    listed = {m["name"]: m for m in json.loads(run_cli("models", "--json", models=tiny_models).stdout)}
    assert fields["model_hash"] == listed["tiny-rgb"]["stream_hash"] and fields["model_installed"] == "yes"
    sf.write(tmp_path / "a.wav", np.zeros((12000, 2)), 8000)
    assert run_cli("encode", str(tmp_path / "a.wav"), models=tiny_models).returncode == 0
    fields = json.loads(run_cli("info", str(tmp_path / "a.wlc"), "--json", models=tiny_models).stdout)
    assert fields["duration_s"] == 1.5


def test_models_table_and_no_models(tiny_models, tmp_path):
    out = run_cli("models", models=tiny_models).stdout.decode().splitlines()
    assert out[0].split()[:4] == ["model", "modality", "reduction", "quality"]
    assert any(line.startswith("tiny-rgb *") for line in out)
    (tmp_path / "empty").mkdir()
    r = run_cli("models", models=tmp_path / "empty")
    _one_line_error(r, "WALLOC_MODEL_DIR")
    assert str(tmp_path / "empty") in r.stderr.decode()


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_inputs_that_name_no_media_file_are_refused(tiny_models, tmp_path, command):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not media")
    r = run_cli(command, str(tmp_path / "empty"), str(tmp_path / "notes"), "-o", str(tmp_path / "out") + "/", models=tiny_models)
    _one_line_error(r, "no file to convert")
    assert not (tmp_path / "out").exists()


def test_audio_verify_prints_the_snr_a_quiet_take_hides_under_psnr(tmp_path):
    """The sample 30 dB quieter through stereo-5x (which codes every level with about the same error):
    full-scale PSNR goes up, while the SNR against the clip itself, which --verify prints beside it,
    shows the quiet take is coded far worse."""
    import re

    x, rate = sf.read(ROOT / "samples" / "sample.flac", dtype="float32")
    scores = {}
    for db in (0, -30):
        path = tmp_path / f"clip{db}.wav"
        sf.write(path, x * 10 ** (db / 20), rate, subtype="FLOAT")
        r = run_cli("encode", str(path), "-m", "stereo-5x", "--verify")
        assert r.returncode == 0, r.stderr.decode()
        scores[db] = {k: float(v) for k, v in re.findall(r"(PSNR|SNR) ([-\d.]+) dB", r.stderr.decode())}
    assert scores[-30]["PSNR"] > scores[0]["PSNR"] and scores[-30]["SNR"] < scores[0]["SNR"] - 15, scores
