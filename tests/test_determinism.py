"""Same output everywhere: integer latents do not depend on threads, batching or chunk order."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import walloc
from conftest import AUDIO, KODAK, needs_audio, needs_kodak


def test_latents_identical_across_coder_threads(tiny_rgb, monkeypatch):
    x = torch.rand(3, 300, 40)
    monkeypatch.setattr("walloc.stream.CHUNK_SYMBOLS", 256)  # many chunks
    data = tiny_rgb.compress(x)
    results = [tiny_rgb.read_latents(data, threads)[1] for threads in (1, 2, 8)]
    monkeypatch.setattr("walloc.stream.DECODE_BATCH", 3)  # and a different batching of the chunks
    results.append(tiny_rgb.read_latents(data, 2)[1])
    assert all(torch.equal(results[0], r) for r in results[1:])
    assert len(__import__("walloc").peek_header(data).chunks) > 4


def test_decoded_pixels_identical_across_runs_and_torch_threads(tiny_rgb):
    x = torch.rand(3, 64, 64)
    data = tiny_rgb.compress(x)
    before = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outs.append(tiny_rgb.decompress(data, torch.uint8))
            outs.append(tiny_rgb.decompress(data, torch.uint8))
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(outs[0], o) for o in outs[1:])


def test_batch_composition_does_not_change_latents(tiny_rgb):
    torch.manual_seed(0)
    batch = torch.rand(4, 3, 32, 32)
    together = tiny_rgb.quantize(tiny_rgb.encode(batch))
    alone = torch.cat([tiny_rgb.quantize(tiny_rgb.encode(b[None])) for b in batch])
    # a batch may only change float summation order: integers agree except at exact rounding ties
    assert (together != alone).float().mean() < 1e-3
    # and the stream is the authority: each stream's integers decode identically, alone or not
    streams = [tiny_rgb.compress(b) for b in batch]
    assert all(torch.equal(tiny_rgb.read_latents(s)[1][0], tiny_rgb.quantize(tiny_rgb.encode(b[None]))[0])
               for s, b in zip(streams, batch))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_decode_gives_the_same_integers(tiny_rgb):
    data = tiny_rgb.compress(torch.rand(3, 64, 64))
    cpu = tiny_rgb.read_latents(data)[1]
    tiny_rgb.to("cuda")
    try:
        assert torch.equal(tiny_rgb.read_latents(data)[1], cpu)
        out = tiny_rgb.decompress(data)
        assert np.isfinite(out.numpy()).all()
    finally:
        tiny_rgb.to("cpu")


# A fresh interpreter per thread count: OMP_NUM_THREADS fixes the thread pools before torch starts.
_DECODE = """
import sys, torch, walloc
torch.set_num_threads(int(sys.argv[2]))
data = open(sys.argv[1], "rb").read()
out = walloc.codec_for(data).decompress(data)
open(sys.argv[3], "wb").write(out.contiguous().numpy().tobytes())
"""


def _decoded_by_thread_count(data: bytes, tmp_path: Path) -> list[np.ndarray]:
    stream = tmp_path / "s.wlc"
    stream.write_bytes(data)
    outs = []
    for threads in (1, 2):
        raw = tmp_path / f"out{threads}.raw"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        subprocess.run([sys.executable, "-c", _DECODE, str(stream), str(threads), str(raw)], env=env, check=True, timeout=300)
        outs.append(np.frombuffer(raw.read_bytes(), dtype=np.float32))
    return outs


def _assert_same_bytes(outs: list[np.ndarray]) -> None:
    differ = int((outs[0] != outs[1]).sum())
    assert differ == 0, f"{differ} of {outs[0].size} decoded values differ between 1 and 2 threads"


@needs_kodak
def test_kodak_image_decodes_identically_on_one_and_two_threads(tmp_path):
    from PIL import Image

    x = torch.from_numpy(np.asarray(Image.open(KODAK / "kodim05.png").convert("RGB")).copy()).permute(2, 0, 1)
    _assert_same_bytes(_decoded_by_thread_count(walloc.load("rgb-16x").compress(x), tmp_path))


@needs_audio
def test_audio_decodes_identically_on_one_and_two_threads(tmp_path):
    import soundfile

    clip = sorted(AUDIO.glob("*sweet-waltz*.ogg")) or sorted(AUDIO.glob("*.ogg"))
    samples, rate = soundfile.read(clip[0], dtype="float32", always_2d=True, frames=20 * 44100)
    x = torch.from_numpy(samples.T.copy())
    x = x if x.shape[0] == 2 else x[:1].expand(2, -1)  # the stereo model; several bands of latents
    _assert_same_bytes(_decoded_by_thread_count(walloc.load("stereo-5x").compress(x), tmp_path))
