"""Streams stay decodable across model releases: a stream written by a released model decodes with
exactly the weights and tables that wrote it, or is refused in one line naming the version it needs."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import walloc
from walloc import bitstream, metrics, stream, zoo
from walloc.errors import ModelError
from walloc.tiling import to_float

from conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from make_streams import MANIFEST, source_audio, source_image  # noqa: E402

RELEASED = json.loads(MANIFEST.read_text())


@pytest.mark.parametrize("file", sorted(RELEASED))
def test_streams_of_released_models_decode_as_they_did(file):
    """The integers are the same bit for bit and the signal is as close to the source as when the
    stream was written; nothing about a stream in the world may change what it decodes to."""
    expect, data = RELEASED[file], (FIXTURES / file).read_bytes()
    assert hashlib.sha256(stream.read_latents(data).tobytes()).hexdigest() == expect["latents_sha256"]
    source = source_image() if expect["model"].startswith("rgb") else source_audio()
    psnr = metrics.psnr(walloc.decompress(data), to_float(torch.from_numpy(source)))
    assert psnr == pytest.approx(expect["psnr"], abs=0.02)


def _copy_model(name: str, folder: Path) -> Path:
    """A model folder holding the shipped model and its kept releases."""
    folder.mkdir()
    shipped = Path(zoo.MODEL_DIR)
    for path in shipped.glob(f"{name}.*"):
        shutil.copy2(path, folder / path.name)
    for release in (shipped / "releases").glob(f"{name}@*"):
        shutil.copytree(release, folder / "releases" / release.name)
    if (shipped / "releases" / "index.json").exists():
        shutil.copy2(shipped / "releases" / "index.json", folder / "releases" / "index.json")
    return folder


SHIPPED = zoo.version_of(zoo.load_tables("rgb-16x").config)  # the version a retrain replaces


def _retrain(name: str, folder: Path) -> None:
    """New weights for a model, exported as training exports them (weights and tables, then the
    context tables refitted); only the decoder changes here, which is what makes old streams garbage."""
    codec = walloc.Codec.load(name, folder)
    with torch.no_grad():
        codec.net.decoder[0].weight.mul_(1.5)
    cfg = json.loads((folder / f"{name}.json").read_text())
    steps = [q["step"] for q in cfg["qualities"]]
    zoo.save_model(name, codec.net, codec.density, steps, {}, folder, cfg["default"], cfg["default_quality"])
    ctx = {q.quality: q.context for q in zoo.load_tables(name, folder / "releases" / f"{name}@{SHIPPED}").qualities}
    zoo.save_context(name, ctx, {"fitted_on": ["the same tables"]}, folder)


@pytest.fixture
def retrained(tmp_path, monkeypatch) -> Path:
    folder = _copy_model("rgb-16x", tmp_path / "models")
    _retrain("rgb-16x", folder)
    monkeypatch.setattr(zoo, "MODEL_DIR", folder)
    return folder


def test_retraining_keeps_the_released_version_for_its_streams(retrained):
    old = (FIXTURES / "rgb-16x@1.wlc").read_bytes()
    assert json.loads((retrained / "rgb-16x.json").read_text())["version"] == SHIPPED + 1
    assert (retrained / "releases" / f"rgb-16x@{SHIPPED}" / "rgb-16x.safetensors").exists()
    index = json.loads((retrained / "releases" / "index.json").read_text())
    assert [r["version"] for r in index["rgb-16x"]] == list(range(1, SHIPPED + 1))
    reference = walloc.Codec.load("rgb-16x", retrained / "releases" / "rgb-16x@1").decompress(old)
    assert torch.equal(walloc.decompress(old), reference)  # the weights that wrote it, not the new ones
    new = walloc.load("rgb-16x")
    with pytest.raises(ModelError, match="another version"):
        new.decompress(old)  # a codec of the new version refuses it rather than decode garbage
    fresh = new.compress(source_image())
    assert zoo.folder_for("rgb-16x", bitstream.peek_header(fresh).model_hash, bitstream.peek_header(fresh).coder) == retrained
    assert walloc.decompress(fresh).shape == (3, 48, 64)


def test_info_says_which_installed_version_a_stream_needs(retrained):
    lines = dict(line.split(None, 1) for line in run_cli("info", str(FIXTURES / "rgb-16x@1.wlc"), models=retrained).stdout.decode().splitlines())
    assert lines["model_installed"] == "yes (kept release rgb-16x@1)"
    shutil.rmtree(retrained / "releases" / "rgb-16x@1")
    lines = dict(line.split(None, 1) for line in run_cli("info", str(FIXTURES / "rgb-16x@1.wlc"), models=retrained).stdout.decode().splitlines())
    assert lines["model_installed"] == "no (other weights)"


def test_a_missing_release_is_refused_naming_the_version(retrained, tmp_path):
    shutil.rmtree(retrained / "releases" / "rgb-16x@1")
    old = (FIXTURES / "rgb-16x@1.wlc").read_bytes()
    with pytest.raises(ModelError, match="version 1, which this install does not have"):
        walloc.decompress(old)
    with pytest.raises(ModelError, match="version 1"):
        stream.read_latents(old)
    r = run_cli("decode", str(FIXTURES / "rgb-16x@1.wlc"), "-o", str(tmp_path / "k.png"), models=retrained)
    assert r.returncode == 1 and not (tmp_path / "k.png").exists()
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "version 1" in lines[0] and "WALLOC_MODEL_DIR" in lines[0]


def test_a_stream_of_no_released_version_is_refused():
    header, payloads = bitstream.parse((FIXTURES / "rgb-16x@1.wlc").read_bytes())
    forged = bitstream.pack(header.__class__(**{**header.__dict__, "model_hash": bytes(16)}), [bytes(p) for p in payloads])
    with pytest.raises(ModelError, match="unreleased or foreign version"):
        walloc.decompress(forged)


def test_refitting_context_tables_archives_the_tables_streams_were_made_with(tmp_path):
    folder = _copy_model("rgb-16x", tmp_path / "models")
    before = zoo.load_tables("rgb-16x", folder)
    old_hash = zoo.stream_hash(before.config, 3)
    ctx = {q.quality: q.context for q in before.qualities}
    changed = {q: c.__class__(modes=np.zeros_like(c.modes), buckets=c.buckets, kmax=c.kmax, tables=c.tables) for q, c in ctx.items()}
    zoo.save_context("rgb-16x", changed, {"fitted_on": ["a refit"]}, folder)
    assert zoo.stream_hash(zoo.load_tables("rgb-16x", folder).config, 3) != old_hash
    assert zoo.folder_for("rgb-16x", old_hash, 3, folder) == folder / "releases" / f"rgb-16x@{SHIPPED}"


def test_the_border_rule_is_part_of_the_model_a_stream_names(tiny_models, tiny_symmetric):
    """The same weights with the symmetric packet decode differently, so its streams name another model
    hash: a stream of the periodic model is refused by an install holding only the symmetric one."""
    periodic, symmetric = (zoo.load_tables("tiny-rgb", folder).config for folder in (tiny_models, tiny_symmetric))
    assert periodic["sha256"] == symmetric["sha256"] and symmetric["net"]["extension"] == "symmetric"
    for coder_id in (2, 3):
        assert zoo.stream_hash(periodic, coder_id) != zoo.stream_hash(symmetric, coder_id)
    header, _ = bitstream.parse(walloc.Codec.load("tiny-rgb", tiny_models).compress(torch.rand(3, 32, 32)))
    assert zoo.folder_for("tiny-rgb", header.model_hash, header.coder, tiny_models) == tiny_models
    with pytest.raises(ModelError, match="unreleased or foreign version"):
        zoo.folder_for("tiny-rgb", header.model_hash, header.coder, tiny_symmetric)
