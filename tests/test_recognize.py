"""Real recognizers on real pages and speech (Tesseract 5, PocketSphinx 5), and bench_recognize end to end.

Nothing here is mocked: a test that needs a recognizer or the shared data skips with the reason when it
is absent (.ci/run installs both recognizers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from walloc.eval.codecs import CodecUnavailable
from walloc.eval.recognize import PocketSphinx, Tesseract, error_rates, normalize

from conftest import DATA, ROOT, benchmark

DOCS = DATA / "docs"
SPEECH = DATA / "speech"
needs_docs = pytest.mark.skipif(not DOCS.is_dir(), reason=f"scanned pages not found at {DOCS}")
needs_speech = pytest.mark.skipif(not SPEECH.is_dir(), reason=f"speech utterances not found at {SPEECH}")


def _or_skip(build):
    try:
        return build()
    except CodecUnavailable as e:
        pytest.skip(str(e))


def test_normalize_and_corpus_error_rates():
    assert normalize("  a\n\tb  c ") == "a b c"
    assert normalize("it was\nthe best", upper=True) == "IT WAS THE BEST"
    rates = error_rates(["the cat sat", "on a mat"], ["the cat sat", "on the mat"])
    assert rates["wer"] == pytest.approx(1 / 6) and rates["cer"] == pytest.approx(3 / 19)


def test_a_recognizer_leaves_the_process_environment_alone():
    """Tesseract() once set OMP_THREAD_LIMIT=1 for the whole process: every later child inherited it, and
    a tiny training under that limit (torch asking for 2 threads) ran its convolutions for minutes."""
    before = dict(os.environ)
    _or_skip(Tesseract)
    assert dict(os.environ) == before


@needs_docs
def test_tesseract_reads_a_page_and_not_noise():
    bench = benchmark("bench_recognize")
    ocr = _or_skip(Tesseract)
    name, path, text = bench.doc_items(DOCS, 1, ("oldbooks_f",))[0]
    from PIL import Image

    page = bench.box(np.asarray(Image.open(path).convert("L")), 2)          # 150 dpi
    assert error_rates([normalize(text)], [normalize(ocr.read(page))])["cer"] < 0.10
    noise = np.random.default_rng(0).integers(0, 256, page.shape, dtype=np.uint8)
    assert error_rates([normalize(text)], [normalize(ocr.read(noise))])["cer"] > 0.9


@needs_speech
def test_pocketsphinx_hears_an_utterance_and_not_the_same_played_backwards():
    import soundfile as sf

    bench = benchmark("bench_recognize")
    asr = _or_skip(PocketSphinx)
    uid, path, text = bench.speech_items(SPEECH, 1, ("7312-",))[0]
    x, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    assert error_rates([normalize(text, upper=True)], [normalize(asr.read(x), upper=True)])["wer"] < 0.6
    assert error_rates([normalize(text, upper=True)], [normalize(asr.read(x[::-1].copy()), upper=True)])["wer"] > 0.8


def test_avif_gray_pages_follow_the_quality_level():
    """imagecodecs codes a 2-D plane losslessly at any level: the gray peer must code lossy at the level."""
    from walloc.eval.peers import GrayImagecodecs

    avif = _or_skip(lambda: GrayImagecodecs("avif"))
    from PIL import Image

    page = np.asarray(Image.open(ROOT / "samples" / "sample.png").convert("L"))
    small, large = avif.encode(page, 10), avif.encode(page, 90)
    assert len(small) < 0.5 * len(large)
    back = avif.decode(large)
    assert back.shape == page.shape and np.abs(back.astype(int) - page).mean() < 8


@needs_docs
def test_bench_recognize_on_one_page(tmp_path):
    """Every variant of one held-out page at 150 dpi: the original and lossless codes read alike, the
    peer is matched at walloc's bytes, the JSON says which recognizer and settings."""
    _or_skip(Tesseract)
    out = tmp_path / "r.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_recognize.py"), "--docs", str(DOCS), "--include", "oldbooks_g",
                    "--limit", "1", "--dpi", "150", "-m", "rgb-16x", "--peers", "jpeg", "--out", str(out),
                    "--plot", str(tmp_path / "r.png")], check=True, capture_output=True)
    result = json.loads(out.read_text())
    v = result["docs"]["per_dpi"]["150"]["variants"]
    assert result["docs"]["items"][0].startswith("oldbooks_g") and result["docs"]["recognizer"]["recognizer"] == "Tesseract"
    assert v["original"]["cer"] < 0.1 and v["png"]["cer"] == v["original"]["cer"] and v["png"]["bpp"] < 8
    walloc_q = [k for k in v if k.startswith("walloc_rgb-16x_q")]
    assert len(walloc_q) == 4 and all(v[k]["dims_ratio"] == pytest.approx(16 / 3, rel=0.01) for k in walloc_q)
    for k in walloc_q:
        peer = v[f"jpeg_at_{k}"]
        assert abs(peer["bytes_per_item"] - peer["target_bytes_per_item"]) <= 0.1 * peer["target_bytes_per_item"]
    assert v["down_16x"]["dims_ratio"] == 16 and v["down_16x"]["psnr"] < v["down_4x"]["psnr"]
    assert (tmp_path / "r.png").stat().st_size > 10_000
