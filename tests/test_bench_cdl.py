"""The cross-validation protocol of benchmarks/bench_cdl.py: folds and bookkeeping on synthetic data."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

_spec = importlib.util.spec_from_file_location("bench_cdl", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cdl.py")
bench_cdl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_cdl)


def test_folds_are_stratified_and_fixed_by_the_seed():
    labels = torch.tensor([0] * 10 + [1] * 7 + [2] * 3)
    fold = bench_cdl.fold_of(labels, 3, seed=5)
    assert fold.min() == 0 and fold.max() == 2
    for c, n in ((0, 10), (1, 7), (2, 3)):
        sizes = torch.bincount(fold[labels == c], minlength=3)
        assert sizes.sum() == n and sizes.max() - sizes.min() <= 1  # each class dealt evenly
    assert torch.equal(fold, bench_cdl.fold_of(labels, 3, seed=5))
    assert not torch.equal(fold, bench_cdl.fold_of(labels, 3, seed=6))


def test_cross_validation_tests_every_item_once_with_a_classifier_that_never_saw_it(monkeypatch):
    torch.manual_seed(0)
    n, classes = 30, 3
    labels = torch.arange(n) % classes
    # class c: a bright channel c, so the classes are learnable; pixels stored as uint8
    x = (torch.rand(n, 3, 32, 32) * 60).to(torch.uint8)
    x[torch.arange(n), labels] += 150
    args = SimpleNamespace(folds=3, seed=0, epochs=8, batch=8, lr=3e-3)
    seen = []
    real_train = bench_cdl.train

    def spy(inputs, *a, **k):
        seen.append((inputs.splits["train"]["x"], inputs.splits["test"]["x"]))
        return real_train(inputs, *a, **k)

    monkeypatch.setattr(bench_cdl, "train", spy)
    results, correct = bench_cdl.cross_validate({"pix": ({"x": x, "y": labels}, True, None)}, classes, args)
    assert correct["pix"].shape == (1, n)
    assert len(seen) == 3 and sum(len(te) for _, te in seen) == n
    for tr, te in seen:  # no test photo in its own training set
        assert len(tr) + len(te) == n
        assert not any(torch.equal(t, u) for t in te for u in tr)
    r = results["pix"]
    assert r["cv_acc"] == round(correct["pix"].float().mean().item(), 4)
    assert r["cv_acc"] > 0.6  # far above chance (1/3) on separable data


def test_cross_validation_refuses_variants_that_list_photos_differently():
    a = {"x": torch.zeros(6, 3, 32, 32, dtype=torch.uint8), "y": torch.tensor([0, 1, 0, 1, 0, 1])}
    b = {"x": a["x"], "y": torch.tensor([1, 0, 1, 0, 1, 0])}
    args = SimpleNamespace(folds=2, seed=0, epochs=1, batch=4, lr=1e-3)
    with pytest.raises(RuntimeError, match="same photos"):
        bench_cdl.cross_validate({"a": (a, True, None), "b": (b, True, None)}, 2, args)
