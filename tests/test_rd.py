"""`walloc rd` and its sweep engine (walloc.eval): real sizes, real scores, skipped codecs named, the CLI end to end."""

import io as _io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from conftest import KODAK, ROOT, needs_kodak, run_cli
from walloc import metrics, zoo
from walloc.eval import compare, plot, sweep
from walloc.eval.codecs import CodecUnavailable


@pytest.fixture
def images(tmp_path):
    """Three small smooth RGB images (PNG) of different sizes."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(48, 64), (40, 56), (64, 48)]):
        base = rng.random((h // 8, w // 8, 3))
        arr = np.asarray(Image.fromarray((base * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC))
        Image.fromarray(arr).save(folder / f"img{i}.png")
    (folder / "notes.txt").write_text("not media")
    return folder


@pytest.fixture
def tiny_zoo(tiny_models, monkeypatch):
    """Point walloc.load / list_models at the tiny random models for in-process tests (the zoo's
    caches are keyed by file, so nothing cached from the shipped models can answer instead)."""
    monkeypatch.setattr(zoo, "MODEL_DIR", tiny_models)
    return tiny_models


def test_image_sweep_uses_real_sizes_and_scores(images, tiny_zoo):
    out = compare.run([images], ["walloc:tiny-rgb", "jpeg", "webp"], progress=False, per_file=True,
                 qualities={"jpeg": [20, 50, 90], "webp": [20, 50, 90]})
    assert out["modality"] == "image" and out["files"] == 3 and out["skipped"] == {}
    assert set(out["codecs"]) == {"walloc:tiny-rgb", "jpeg", "webp"}
    assert [p["quality"] for p in out["codecs"]["walloc:tiny-rgb"]] == [1, 2]
    for points in out["codecs"].values():
        for p in points:
            assert set(p) == {"quality", "bpp", "psnr", "ms_ssim", "enc_mps", "dec_mps"}
            assert p["bpp"] > 0 and p["enc_mps"] > 0 and p["dec_mps"] > 0 and 0 < p["ms_ssim"] <= 1
    # JPEG q50: mean bpp and PSNR recomputed independently from Pillow's own bytes
    bpps, psnrs = [], []
    for f in sorted(images.glob("*.png")):
        px = np.asarray(Image.open(f).convert("RGB"))
        buf = _io.BytesIO()
        Image.fromarray(px).save(buf, format="JPEG", quality=50, optimize=True, progressive=True)  # the peer's settings
        back = np.asarray(Image.open(_io.BytesIO(buf.getvalue())).convert("RGB")).astype(np.float64)
        bpps.append(8 * buf.tell() / (px.shape[0] * px.shape[1]))
        psnrs.append(10 * math.log10(255 ** 2 / np.mean((back - px) ** 2)))
    q50 = next(p for p in out["codecs"]["jpeg"] if p["quality"] == 50)
    assert q50["bpp"] == pytest.approx(np.mean(bpps), abs=1e-4)
    assert q50["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-3)
    jpeg = out["codecs"]["jpeg"]
    assert [p["bpp"] for p in jpeg] == sorted(p["bpp"] for p in jpeg) and jpeg[0]["psnr"] < jpeg[-1]["psnr"]
    # BD-rates: each anchor against itself is exactly 0; JSON-serializable
    assert out["bd_rate_vs_jpeg"]["jpeg"] == 0.0 and out["bd_rate_vs_webp"]["webp"] == 0.0
    assert set(out["bd_rate_vs_webp"]) == set(out["codecs"])
    rows = out["per_file"]["jpeg"]
    assert len(rows) == 9 and {r["file"] for r in rows} == {"img0.png", "img1.png", "img2.png"}
    json.dumps(out)


def test_walloc_points_match_the_codec_itself(images, tiny_zoo):
    import walloc

    out = compare.run([images], ["walloc:tiny-rgb"], progress=False)
    codec = walloc.load("tiny-rgb")
    bpps = []
    for f in sorted(images.glob("*.png")):
        x, _ = walloc.io.read_image(f)
        bpps.append(8 * len(codec.compress(x, 2)) / (x.shape[1] * x.shape[2]))
    assert out["codecs"]["walloc:tiny-rgb"][-1]["bpp"] == pytest.approx(np.mean(bpps), abs=1e-4)


def test_missing_and_unavailable_codecs_are_reported_as_skipped(images, tiny_zoo, monkeypatch):
    from PIL import features

    real = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "avif" else real(name))
    out = compare.run([images], ["walloc:rgb-4x", "walloc:tiny-stereo", "avif", "opus", "jpeg"], progress=False,
                 qualities={"jpeg": [50, 90]})
    skipped = out["skipped"]
    assert "unknown model 'rgb-4x'" in skipped["walloc:rgb-4x"]
    assert "codes audio" in skipped["walloc:tiny-stereo"]
    assert "AVIF" in skipped["avif"] and "audio" in skipped["opus"]
    assert list(out["codecs"]) == ["jpeg"]


def test_default_codecs_are_the_shipped_models_of_the_modality_and_the_peers(tiny_zoo):
    assert compare.default_codecs("image") == ["walloc:tiny-rgb", "jpeg", "webp", "jpeg2000", "avif", "jpegxl"]
    assert compare.default_codecs("audio") == ["walloc:tiny-stereo", "opus", "mp3"]


@pytest.mark.parametrize("name", ["jpeg2000", "avif", "jpegxl"])
def test_optional_image_codecs_round_trip(name):
    try:
        codec = compare.make_codec(name, "image")
    except CodecUnavailable as e:
        pytest.skip(f"{name} not available here: {e}")
    rng = np.random.default_rng(1)
    px = np.asarray(Image.fromarray((rng.random((6, 8, 3)) * 255).astype(np.uint8)).resize((64, 48), Image.BICUBIC))
    low, high = codec.qualities[0], codec.qualities[-1]
    a, b = codec.encode(px, low), codec.encode(px, high)
    assert len(a) < len(b)
    ya, yb = codec.decode(a), codec.decode(b)
    assert ya.shape == yb.shape == px.shape and ya.dtype == np.uint8
    ref = torch.from_numpy(px.copy()).float()
    assert metrics.psnr(torch.tensor(yb).float(), ref, 255) > metrics.psnr(torch.tensor(ya).float(), ref, 255)


def test_peers_run_at_their_best_settings_and_name_them(images):
    out = compare.run([images], ["jpeg", "webp"], progress=False, qualities={"jpeg": [50], "webp": [50]})
    assert out["settings"]["webp"]["options"] == {"method": 6}
    assert out["settings"]["jpeg"]["options"] == {"optimize": True, "progressive": True}
    try:
        jp2 = compare.make_codec("jpeg2000", "image")
    except CodecUnavailable as e:
        pytest.skip(f"jpeg2000 not available here: {e}")
    assert jp2.options == {"irreversible": True, "mct": 1}
    # with the colour transform, the same compression ratio gives a better picture than Pillow's default
    # on an image whose colours are correlated, as in photos (R, G and B mostly follow the brightness)
    rng = np.random.default_rng(3)
    light = np.asarray(Image.fromarray((rng.random((12, 16)) * 200).astype(np.uint8)).resize((128, 96), Image.BICUBIC), dtype=np.float64)
    px = np.clip(np.stack([light * 0.9 + 20, light, light * 0.7 + 40], axis=-1) + rng.normal(0, 2, (96, 128, 3)), 0, 255).astype(np.uint8)
    ref = torch.from_numpy(px.copy()).float()
    plain = _io.BytesIO()
    Image.fromarray(px).save(plain, format="JPEG2000", quality_mode="rates", quality_layers=[24.0], irreversible=True)
    without = np.asarray(Image.open(_io.BytesIO(plain.getvalue())).convert("RGB"))
    with_mct = jp2.decode(jp2.encode(px, 24))
    assert metrics.psnr(torch.tensor(with_mct).float(), ref, 255) > metrics.psnr(torch.tensor(without).float(), ref, 255) + 0.5


def test_avif_decoding_threads_do_not_leak_into_the_process():
    """Pillow takes AVIF decoding threads from a module setting: building or using the sweep's AVIF
    codec must leave it as it found it for every other caller."""
    from PIL import AvifImagePlugin

    before = AvifImagePlugin.DEFAULT_MAX_THREADS
    try:
        codec = compare.make_codec("avif", "image", threads=3)
    except CodecUnavailable as e:
        pytest.skip(f"avif not available here: {e}")
    px = np.zeros((16, 16, 3), np.uint8)
    assert codec.decode(codec.encode(px, 50)).shape == px.shape
    assert AvifImagePlugin.DEFAULT_MAX_THREADS == before


def test_pareto_front_drops_dominated_points():
    pts = [{"bpp": 1.0, "psnr": 30}, {"bpp": 0.5, "psnr": 28}, {"bpp": 1.2, "psnr": 29.5}, {"bpp": 2.0, "psnr": 33}]
    assert [p["bpp"] for p in compare.pareto(pts, "bpp")] == [0.5, 1.0, 2.0]


def test_bd_rates_name_the_curves_they_cannot_compare():
    curves = {"a": [{"bpp": 1, "psnr": 30}, {"bpp": 2, "psnr": 33}],
              "b": [{"bpp": 0.5, "psnr": 30}, {"bpp": 1, "psnr": 33}],
              "c": [{"bpp": 1, "psnr": 40}, {"bpp": 2, "psnr": 42}]}
    values, notes = compare.bd_rates(curves, "a", "bpp")
    assert values["a"] == 0.0 and values["b"] == pytest.approx(-50.0) and values["c"] is None
    assert "share no quality range" in notes["c"]


def test_delay_is_removed_from_longer_decodes():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((2, 4000)).astype(np.float32)
    out = np.concatenate([np.zeros((2, 1105), np.float32), ref, np.zeros((2, 300), np.float32)], axis=1)
    assert np.array_equal(sweep._align(out, ref), ref)


def _clip(path, rate=16000, seconds=1.0, channels=2):
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1234 * t)
    noise = 0.02 * np.random.default_rng(3).standard_normal((channels, t.size))
    sf.write(path, (tone + noise).T.astype(np.float32), rate, subtype="PCM_16")


def test_audio_sweep_with_opus_and_mp3(tmp_path, tiny_zoo):
    _clip(tmp_path / "a.wav")
    out = compare.run([tmp_path / "a.wav"], ["walloc:tiny-stereo", "opus", "mp3"], progress=False,
                 qualities={"opus": [0.99, 0.9], "mp3": [0.95, 0.6]})
    assert out["modality"] == "audio" and out["rate"] == "kbps"
    ran = set(out["codecs"])
    assert "walloc:tiny-stereo" in ran and ran | set(out["skipped"]) == {"walloc:tiny-stereo", "opus", "mp3"}
    for name, points in out["codecs"].items():
        for p in points:
            assert set(p) == {"quality", "kbps", "psnr", "si_sdr", "enc_mps", "dec_mps"}
            assert p["kbps"] > 0 and math.isfinite(p["psnr"])
    for name in ("opus", "mp3"):
        if name in out["codecs"]:  # lower compression level: more bits and a better score
            lo, hi = out["codecs"][name]
            assert lo["kbps"] < hi["kbps"] and lo["si_sdr"] < hi["si_sdr"] and hi["si_sdr"] > 10
    if "opus" in out["codecs"]:
        assert out["bd_rate_vs_opus"]["opus"] == 0.0


def test_opus_resamples_rates_it_cannot_code(tmp_path):
    pytest.importorskip("scipy.signal", reason="scipy not installed")
    try:
        codec = compare.make_codec("opus", "audio")
    except CodecUnavailable as e:
        pytest.skip(str(e))
    _clip(tmp_path / "b.wav", rate=44100, seconds=0.5, channels=1)
    x, rate = sweep.read_samples(tmp_path / "b.wav")
    m = sweep.measure_audio(codec, x, rate, 0.8)
    assert m["units"] == x.shape[1] and m["score"] > 10


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib not installed (walloc[bench])")
    result = {"rate": "bpp", "modality": "image", "dataset": "x", "files": 1,
              "codecs": {"jpeg": [{"quality": 50, "bpp": 1.0, "psnr": 30.0, "ms_ssim": 0.95},
                                  {"quality": 90, "bpp": 2.0, "psnr": 35.0, "ms_ssim": 0.99}]}}
    published = plot.load_published(rd_published_file())
    png = plot.plot(result, tmp_path / "p.png", published=published)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "p.png").read_bytes() == png


def rd_published_file():
    return ROOT / "benchmarks" / "published" / "compressai_kodak.json"


def test_published_file_holds_the_compressai_kodak_numbers():
    curves = plot.load_published(rd_published_file())
    fact = curves["bmshj2018-factorized (CompressAI, published)"]
    assert len(fact["bpp"]) == len(fact["psnr"]) == len(fact["ms_ssim"]) == 8
    assert fact["bpp"][0] == pytest.approx(0.122623) and fact["psnr"][-1] == pytest.approx(39.621314)


def test_cli_rd_end_to_end(images, tiny_models, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib not installed (walloc[bench])")
    out, png = tmp_path / "rd.json", tmp_path / "rd.png"
    r = run_cli("rd", str(images), "--codecs", "walloc:tiny-rgb,jpeg,walloc:nope", "--out", str(out),
                "--plot", str(png), "--per-image", models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
    doc = json.loads(out.read_text())
    assert {"dataset", "codecs", "bd_rate_vs_webp", "bd_rate_vs_jpeg"} <= set(doc)
    assert set(doc["codecs"]) == {"walloc:tiny-rgb", "jpeg"} and "walloc:nope" in doc["skipped"]
    assert doc["bd_rate_vs_jpeg"]["jpeg"] == 0.0 and "webp" in doc["bd_rate_notes"].get("jpeg vs webp", "webp")
    assert len(doc["per_image"]["jpeg"]) == 3 * 11
    assert png.read_bytes()[:4] == b"\x89PNG"
    table = r.stdout.decode()
    assert "BD-rate vs jpeg" in table and "skipped walloc:nope" in table


def test_cli_rd_without_matplotlib_refuses_a_plot_before_the_sweep(images, tmp_path):
    out = tmp_path / "rd.json"
    code = ("import sys; sys.modules['matplotlib'] = None; from walloc.cli.main import main; "
            f"main(['rd', {str(images)!r}, '--codecs', 'jpeg', '--out', {str(out)!r}, '--plot', {str(tmp_path / 'rd.png')!r}])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1 and "needs matplotlib" in err and "Traceback" not in err, err
    assert not out.exists()  # nothing was swept


@pytest.mark.parametrize("args, fragment", [
    (["/no/such/dir"], "no such file or folder"),
    (["{images}", "--codecs", "foo"], "unknown codec 'foo'"),
    (["{images}", "--codecs", "walloc:nope"], "no codec could run"),
])
def test_cli_rd_errors_are_one_line(images, tiny_models, args, fragment):
    r = run_cli("rd", *[a.format(images=images) for a in args], "--quiet", models=tiny_models)
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err and err.strip().count("\n") == 0 and fragment in err, err


@needs_kodak
def test_kodak_jpeg_point_and_ms_ssim_against_reference():
    ref_impl = pytest.importorskip("pytorch_msssim", reason="pytorch_msssim not installed (independent reference)")
    px = sweep.read_rgb8(KODAK / "kodim23.png")
    codec = compare.make_codec("jpeg", "image")
    m = sweep.measure_image(codec, px, 50)
    assert 0.3 < m["rate"] < 1.5 and 30 < m["psnr"] < 40
    got = torch.tensor(codec.decode(codec.encode(px, 50))).permute(2, 0, 1).float()[None]
    want = ref_impl.ms_ssim(got, torch.from_numpy(px).permute(2, 0, 1).float()[None], data_range=255).item()
    assert m["score"] == pytest.approx(want, abs=1e-4)


def test_cli_rd_merges_runs_of_other_codecs_over_the_same_files(images, tmp_path):
    runs = {}
    for name in ("jpeg", "webp"):
        runs[name] = tmp_path / f"{name}.json"
        r = run_cli("rd", str(images), "--codecs", name, "--out", str(runs[name]), "--quiet")
        assert r.returncode == 0, r.stderr.decode()[-2000:]
    alone = json.loads(runs["jpeg"].read_text())
    assert "jpeg" not in alone["bd_rate_vs_webp"]  # WebP did not run with it
    out = tmp_path / "both.json"
    r = run_cli("rd", "--merge", str(runs["jpeg"]), str(runs["webp"]), "--out", str(out))
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    both = json.loads(out.read_text())
    assert set(both["codecs"]) == {"jpeg", "webp"} and set(both["settings"]) == {"jpeg", "webp"}
    assert both["codecs"]["jpeg"] == alone["codecs"]["jpeg"] and both["bd_rate_vs_webp"]["jpeg"] > 0
    assert "BD-rate vs webp" in r.stdout.decode()
    assert len(both["machine"]) == 2 and all(isinstance(m, dict) for m in both["machine"])
    again = tmp_path / "again.json"  # a merged result merged again keeps one machine per measuring run
    assert run_cli("rd", "--merge", str(out), "--out", str(again), "--quiet").returncode == 0
    assert json.loads(again.read_text())["machine"] == both["machine"]
    fewer = tmp_path / "fewer.json"
    assert run_cli("rd", str(images), "--codecs", "webp", "--limit", "1", "--out", str(fewer), "--quiet").returncode == 0
    (tmp_path / "bad.json").write_text("[1, 2]")
    for inputs, fragment in [((runs["jpeg"], runs["jpeg"]), "jpeg measured in more than one run"),
                             ((runs["jpeg"], fewer), "different files"),
                             ((runs["jpeg"], tmp_path / "bad.json"), "not a walloc rd result"),
                             ((runs["jpeg"], tmp_path / "none.json"), "cannot read")]:
        r = run_cli("rd", "--merge", *map(str, inputs), "--quiet")
        err = r.stderr.decode()
        assert r.returncode == 1 and fragment in err and err.strip().count("\n") == 0, err
