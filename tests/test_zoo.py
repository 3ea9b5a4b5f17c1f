"""The model zoo: shipped models are listed, verified by hash, and never loaded from pickle."""

import json
import shutil

import pytest

import walloc
from walloc import zoo
from walloc.codec import Codec
from walloc.errors import ModelError

from conftest import flip_last_byte


def test_shipped_models_are_listed_with_defaults():
    found = {m.name: m for m in zoo.list_models()}
    assert {"rgb-16x", "stereo-5x"} <= set(found)
    assert found["rgb-16x"].default and found["rgb-16x"].modality == "image"
    assert found["stereo-5x"].default and found["stereo-5x"].modality == "audio"
    assert found["rgb-16x"].dim_reduction == 16
    assert zoo.default_model("image") == "rgb-16x"
    for m in found.values():
        assert m.qualities == sorted(m.qualities) and m.default_quality in m.qualities
        assert (zoo.MODEL_DIR / f"{m.name}.md").exists(), "every model has a card"
        assert not list(zoo.MODEL_DIR.glob("*.pt")) and not list(zoo.MODEL_DIR.glob("*.pkl"))


def test_tampered_weights_are_refused(tiny_copy):
    flip_last_byte(tiny_copy / "tiny-rgb.safetensors")
    with pytest.raises(ModelError, match="does not match"):
        Codec.load("tiny-rgb", tiny_copy)


def test_unknown_model_names_the_shipped_ones(tiny_models):
    with pytest.raises(ModelError, match="tiny-rgb"):
        Codec.load("nope", tiny_models)


def test_missing_weights_and_bad_json(tiny_models, tmp_path):
    shutil.copy(tiny_models / "tiny-rgb.json", tmp_path / "tiny-rgb.json")
    with pytest.raises(ModelError, match="weights: missing file"):
        Codec.load("tiny-rgb", tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot read"):
        Codec.load("bad", tmp_path)


def test_model_json_records_the_weights_hash():
    for m in zoo.list_models():
        cfg = json.loads(m.path.read_text())
        assert cfg["sha256"] == zoo.file_sha256(m.path.with_suffix(".safetensors"))
        assert walloc.load(m.name).sha256 == cfg["sha256"]
