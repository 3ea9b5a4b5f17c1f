"""benchmarks/bench_cdl.py: the cross-validation protocol, the trees it reads, its variants, crops and
FLOP counts, on synthetic data (and the real trees' labels where present)."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from conftest import DATA, ROOT, benchmark
import walloc
from walloc import io, tree

bench_cdl = benchmark("bench_cdl")


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
    args = SimpleNamespace(folds=3, seed=0)
    setup = bench_cdl.Setup(False, 1, 16, 8, 8, 3e-3)
    seen = []
    real_train = bench_cdl.train

    def spy(inputs, *a, **k):
        seen.append((inputs.splits["train"]["x"], inputs.splits["test"]["x"]))
        return real_train(inputs, *a, **k)

    monkeypatch.setattr(bench_cdl, "train", spy)
    results, correct = bench_cdl.cross_validate({"pix": ({"x": x, "y": labels}, True, None, setup)}, classes, args)
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
    setup = bench_cdl.Setup(False, 1, 16, 1, 4, 1e-3)
    with pytest.raises(RuntimeError, match="same photos"):
        bench_cdl.cross_validate({"a": (a, True, None, setup), "b": (b, True, None, setup)}, 2, SimpleNamespace(folds=2, seed=0))


def test_train_s_is_the_total_over_folds_and_the_loss_curve_is_kept():
    torch.manual_seed(0)
    labels = torch.arange(12) % 2
    x = (torch.rand(12, 1, 64) * 2 - 1)  # audio-like (1, 64): 1-D stems and bodies
    setup = bench_cdl.Setup(False, 2, 16, 3, 4, 3e-3)
    results, _ = bench_cdl.cross_validate({"wave": ({"x": x, "y": labels}, False, None, setup)}, 2,
                                          SimpleNamespace(folds=2, seed=0))
    r = results["wave"]
    assert r["train_s"] == pytest.approx(2 * r["train_s_per_run"], abs=0.11)
    assert len(r["loss_history"]) == 3 and r["flops_per_example"] > 0
    assert set(r["time_per_epoch"]) == {"batches_s", "forward_backward_s"}


# -- trees -------------------------------------------------------------------------------------------------
def _audio_tree(root: Path, classes=("one", "two"), per_class: int = 3, length: int = 5000) -> Path:
    torch.manual_seed(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            io.write_audio(root / c / f"{i}.flac", torch.rand(1, length) - 0.5, io.AudioMeta(8000, 16, False))
    return root


def test_trees_of_class_folders_or_splits_of_images_or_audio_are_told_apart(tmp_path):
    audio = _audio_tree(tmp_path / "audio")
    assert bench_cdl.parts_of(audio) == [""] and bench_cdl.modality_of(audio) == "audio"
    from PIL import Image

    for split in bench_cdl.SPLITS:
        (tmp_path / "img" / split / "cat").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "img" / split / "cat" / "0.png")
    assert bench_cdl.parts_of(tmp_path / "img") == list(bench_cdl.SPLITS)
    assert bench_cdl.modality_of(tmp_path / "img") == "image"
    (tmp_path / "img" / "test" / "dog").mkdir()  # a class only one split holds
    Image.new("RGB", (8, 8)).save(tmp_path / "img" / "test" / "dog" / "0.png")
    full = bench_cdl.signals(tmp_path / "img", bench_cdl.SPLITS, 8, image=True)
    assert full["classes"] == ["cat", "dog"] and full["test"]["y"].tolist() == [0, 1]
    (audio / "one" / "x.png").write_bytes((tmp_path / "img" / "train" / "cat" / "0.png").read_bytes())
    with pytest.raises(SystemExit, match="both images and audio"):
        bench_cdl.modality_of(audio)


@pytest.mark.parametrize("folder, per_class", [("images/dtd10", 120), ("fsdd", 200)])
def test_folds_of_the_real_trees_hold_every_class_evenly(folder, per_class):
    root = DATA / folder
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    items = tree.scan(root)
    classes = tree.classes_of(items)
    labels = torch.tensor([classes.index(it.label) for it in items])
    assert len(classes) == 10 and torch.bincount(labels).tolist() == [per_class] * 10
    fold = bench_cdl.fold_of(labels, 5, seed=0)
    counts = torch.stack([torch.bincount(labels[fold == k], minlength=10) for k in range(5)])
    assert (counts == per_class // 5).all()


def test_trees_that_mix_kinds_of_files_give_every_variant_one_shape(tmp_path):
    """Datasets mix grayscale, colour and RGBA images, mono and stereo clips: every variant brings them
    to RGB (mono) first, as ``walloc latents --channels`` does, instead of stopping on mixed shapes."""
    from PIL import Image

    (tmp_path / "img" / "cat").mkdir(parents=True)
    for mode in ("RGB", "L", "RGBA", "LA"):
        Image.new(mode, (300, 280), 128).save(tmp_path / "img" / "cat" / f"{mode}.png")
    full = bench_cdl.signals(tmp_path / "img", [""], 256, image=True)
    assert full[""]["x"].shape == (4, 3, 256, 256)
    lat = bench_cdl.latents(tmp_path / "img", [""], tmp_path / "lat", "rgb-16x", 256, 1, full["classes"],
                            channels=bench_cdl.CHANNELS["image"])
    assert lat[""]["x"].shape == (4, 12, 32, 32)
    assert {walloc.peek_header(p.read_bytes()).channels for p in (tmp_path / "lat").rglob("*.wlc")} == {3}
    audio = _audio_tree(tmp_path / "audio", classes=("one",), per_class=1)
    io.write_audio(audio / "one" / "stereo.flac", torch.rand(2, 5000) - 0.5, io.AudioMeta(8000, 16, False))
    clips = bench_cdl.signals(audio, [""], 8192, image=False)[""]["x"]
    stereo = io.read_audio(audio / "one" / "stereo.flac")[0]
    assert clips.shape == (2, 1, 8192) and torch.allclose(clips[1, 0, :5000], stereo.mean(0))


def test_unreadable_files_are_left_out_of_every_variant(tmp_path):
    """One damaged file in a tree someone else made must not stop the benchmark, nor be read by some
    variants and not others: it is left out of all, and named."""
    root = _audio_tree(tmp_path / "audio", per_class=3)
    (root / "one" / "9.flac").write_bytes(b"fLaC damaged")
    (root / "two" / "empty.wav").write_bytes(b"")
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cdl.py"), "--data", str(root), "--folds", "2",
                        "--epochs", "1", "--workers", "1", "--variants", "samples_full,walloc_5x", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["items"] == 6 and len(doc["unreadable"]) == 2 and "2 unreadable file(s) left out" in r.stderr
    assert any("9.flac" in line for line in doc["unreadable"]) and any("empty.wav" in line for line in doc["unreadable"])
    assert (root / "one" / "9.flac").exists()  # the data is not touched
    for name in ("9.flac", "empty.wav"):
        (root / ("one" if name == "9.flac" else "two") / name).write_bytes(b"")
    (root / "one" / "0.flac").write_bytes(b"")
    assert bench_cdl.readable(root, tmp_path / "m", "audio")[0] == tmp_path / "m"
    assert len(tree.scan(tmp_path / "m")) == 5  # a second run mirrors its own set: no stale links
    for it in tree.scan(root):
        it.path.write_bytes(b"")
    with pytest.raises(SystemExit, match="no file under .* can be read"):
        bench_cdl.readable(root, tmp_path / "m", "audio")


# -- variants ------------------------------------------------------------------------------------------------
def test_downsampled_variants_hold_the_latents_numbers(tmp_path):
    """pixels_down: 3 x 64 x 64 = rgb-16x's 12 x 32 x 32; pixels_down_4x: 3 x 128 x 128 = rgb-4x's
    48 x 32 x 32; samples_down: 3,456 samples = stereo-5x's 108 x 32, written at the lowered rate."""
    it = tree.Item(Path("x"), Path("c/0.png"), "c")
    image = {"": {"x": (torch.rand(2, 3, 256, 256) * 255).to(torch.uint8), "items": [it, tree.Item(Path("y"), Path("c/1.png"), "c")]},
             "classes": ["c"]}
    for numbers, side in ((12 * 32 * 32, 64), (48 * 32 * 32, 128)):
        down = bench_cdl.downsampled(image, [""], tmp_path / str(side), numbers, True)
        assert down[""]["x"].shape == (2, 3, side, side) and down[""]["x"].dtype == torch.uint8
    clip = {"": {"x": torch.rand(1, 1, 8192) - 0.5, "items": [tree.Item(Path("x"), Path("c/0.flac"), "c")]}, "classes": ["c"]}
    down = bench_cdl.downsampled(clip, [""], tmp_path / "audio", 108 * 32, False, 8000)
    assert down[""]["x"].shape == (1, 1, 3456)
    assert io.read_audio(tmp_path / "audio" / "c" / "0.flac")[1].sample_rate == 3375


def test_crops_are_aligned_to_whole_latent_positions():
    x = torch.arange(2 * 64 * 64, dtype=torch.float).view(2, 1, 64, 64)  # unit 2: 64 px over a 32-latent grid
    out = bench_cdl.crop(x, 2, torch.tensor([[0, 4], [3, 1]]))
    assert out.shape == (2, 1, 56, 56)
    assert torch.equal(out[0], x[0, :, 0:56, 8:64]) and torch.equal(out[1], x[1, :, 6:62, 2:58])


def test_the_jpeg_quality_is_the_one_whose_size_matches():
    torch.manual_seed(0)
    crops = (torch.rand(3, 3, 64, 64) * 255).to(torch.uint8)

    def size(q):
        return sum(len(bench_cdl.jpeg_bytes(x, q)) for x in crops) / 3

    target = size(40) + 1
    q = bench_cdl.matching_quality(crops, target)
    assert abs(size(q) - target) <= min(abs(size(q - 1) - target), abs(size(q + 1) - target))


def test_the_flop_counter_counts_multiply_adds_of_convolutions_and_linear_layers():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    # conv: 4 x 4 positions x 2 outputs x 9 taps; linear: 32 x 3; 2 FLOPs per multiply-add
    assert bench_cdl.flops_per_example(net, (1, 4, 4)) == 2 * (4 * 4 * 2 * 9 + 32 * 3)
    assert net.training  # the count leaves the network as it found it


def test_every_stem_brings_its_input_to_the_same_body():
    body_in = {}
    for name, latent, shape, factor in (("pixels_full", False, (3, 256, 256), 8), ("pixels_down", False, (3, 64, 64), 2),
                                        ("walloc_16x", True, (12, 32, 32), 1), ("walloc_4x", True, (48, 32, 32), 1)):
        net = bench_cdl.make_net(latent, shape[0], factor, 10, 2, 16)
        body_in[name] = net[0](torch.zeros(1, *shape)).shape
        assert net(torch.zeros(2, *shape)).shape == (2, 10)
    assert set(body_in.values()) == {(1, 16, 16, 16)}
    full = bench_cdl.make_net(False, 1, 256, 10, 1, 16)
    assert full[0](torch.zeros(1, 1, 8192)).shape == (1, 16, 16) and len(full[0]) == 9  # 9 stride-2 layers


def test_a_quick_audio_run_reports_every_variant(tmp_path):
    """The whole benchmark on a tiny audio tree: variants, their numbers per example, timings, FLOPs."""
    root = _audio_tree(tmp_path / "fsdd", per_class=2)
    out = tmp_path / "r.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cdl.py"), "--data", str(root), "--folds", "2",
                    "--epochs", "1", "--workers", "1", "--out", str(out)], check=True, capture_output=True, text=True)
    doc = json.loads(out.read_text())
    v = doc["variants"]
    assert doc["modality"] == "audio" and list(v) == ["samples_full", "samples_down", "walloc_5x", "samples_down_speech", "walloc_speech"]
    assert [v[k]["dims"] for k in v] == [8192, 3456, 3456, 2048, 2048]
    for entry in v.values():
        assert {"test_acc", "train_s", "load_items_s", "bytes_per_example", "flops_per_example", "time"} <= set(entry)
        assert {"read_ms_per_item", "decode_ms_per_item", "batches_s", "forward_backward_s"} <= set(entry["time"])
    assert set(doc["paired"]) == {"walloc_5x - samples_down", "walloc_5x - samples_full", "samples_full - samples_down",
                                  "walloc_speech - samples_down_speech", "walloc_speech - samples_full"}
    assert v["walloc_speech"]["model"] == "mono-speech-4x"
    shipped = walloc.zoo.version_of(walloc.load("stereo-5x").config)  # which latents the numbers are of
    assert (v["walloc_5x"]["model"], v["walloc_5x"]["model_version"]) == ("stereo-5x", shipped)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cdl.py"), "--data", str(root), "--load-only", "--workers", "1",
                    "--out", str(out)], check=True, capture_output=True, text=True)
    loads = json.loads(out.read_text())["variants"]
    assert [loads[k]["dims"] for k in loads] == [8192, 3456, 3456, 2048, 2048] and all("test_acc" not in e for e in loads.values())
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cdl.py"), "--data", str(root), "--folds", "2", "--epochs", "1",
                    "--workers", "1", "--shifts", "2", "--down-numbers", "1728", "--out", str(out)], check=True, capture_output=True, text=True)
    doc = json.loads(out.read_text())
    v = doc["variants"]
    assert doc["shifts"] == 2 and [v[k]["dims"] for k in v] == [8192, 1728, 3456, 1728, 2048]
    assert v["samples_down"]["numbers_asked"] == 1728 and "matches" not in v["samples_down"]


def test_delayed_clips_and_their_latents_are_drawn_as_alternates():
    """--shifts: the clips delayed by fractions of a latent position; the latents those of the
    delayed clip's stream; training draws among the versions per item, tests see the stored one."""
    clips = torch.arange(2 * 8192, dtype=torch.float).view(2, 1, 8192)
    later = list(bench_cdl.moves(clips, 4))
    assert [int(torch.argmax((d[0, 0] == 0).float())) for d in later] == [64, 128, 192]  # 1/4 .. 3/4 of 256 samples
    image = torch.arange(64 * 64, dtype=torch.float).view(1, 1, 64, 64)  # 2 pixels per latent position
    moved = list(bench_cdl.moves(image, 2))
    assert len(moved) == 3 and [tuple(torch.nonzero(m[0, 0] == 0)[0].tolist()) for m in moved] == [(0, 1), (1, 0), (1, 1)]
    codec = walloc.load("stereo-5x")
    audio = torch.sin(torch.arange(8192) * 0.05).view(1, 1, 8192) * 0.3
    lat = bench_cdl.latent_alternates(codec, audio, 2, 2)
    stream = codec.compress(next(bench_cdl.moves(audio, 2))[0], 2)
    assert lat.shape == (1, 1, 108, 32) and torch.equal(lat[0, 0], walloc.features.from_bytes(stream, codec=codec, kind="dequantized"))
    crops = (torch.rand(2, 3, 64, 64) * 255).to(torch.uint8)
    images = bench_cdl.latent_alternates(walloc.load("rgb-16x"), crops, 2, 2)  # mirrored, then 3 moves x (as is, mirrored)
    one = bench_cdl.latent_alternates(walloc.load("rgb-16x"), crops, 2, 1)
    assert images.shape == (7, 2, 12, 8, 8) and one.shape == (1, 2, 12, 8, 8) and torch.equal(images[0], one[0])
    assert torch.equal(one[0], walloc.features.encode(walloc.load("rgb-16x"), crops.flip(-1).float() / 255, kind="dequantized", quality=2))
    x = torch.zeros(6, 1, 32)
    alt = torch.stack([torch.full((6, 1, 32), 1.0), torch.full((6, 1, 32), 2.0)])
    inputs = bench_cdl.Inputs({"train": {"x": x, "y": torch.zeros(6)}}, pixels=False, alternates=alt)
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):
        b = inputs.batch("train", torch.arange(6), train=True)
        seen |= set(torch.unique(b * inputs.std + inputs.mean).round().tolist())
    assert seen == {0.0, 1.0, 2.0}
    assert torch.equal(inputs.batch("train", torch.arange(6)) * inputs.std + inputs.mean, x)
    pooled = torch.arange(10.0).view(1, 10, 1, 1).expand(1, 10, 1, 32)  # alternates of 10 pooled items: their index
    fold = bench_cdl.Inputs({"train": {"x": x[:3] - 1, "y": torch.zeros(3)}}, pixels=False, alternates=pooled,
                            rows=torch.tensor([1, 3, 5]))  # a fold's 3 training items, pooled rows 1, 3, 5
    seen = set()
    for _ in range(20):
        b = fold.batch("train", torch.arange(3), train=True) * fold.std + fold.mean
        seen |= set(b[:, 0, 0].round().tolist())
    assert seen == {-1.0, 1.0, 3.0, 5.0}  # as stored, or the alternate of its own pooled row


def test_loading_rates_leave_out_one_time_setup():
    """The first decode of a model's streams reads its tables: not a per-item cost."""
    import time

    class Slow(torch.utils.data.Dataset):
        items = [tree.Item(Path(__file__), Path("a/x"), "a")] * 20
        first = True

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            if self.first:
                self.first = False
                time.sleep(0.5)
            return torch.zeros(2), 0

    assert bench_cdl.load_all(Slow(), batch_size=4)["load_s"] < 0.25


@pytest.mark.parametrize("batch_size", [4, 1])  # within a batch, and across batches
def test_a_tree_of_grayscale_and_colour_images_is_refused_in_one_line(tmp_path, batch_size):
    from PIL import Image

    (tmp_path / "a").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "0.png")
    Image.new("L", (8, 8)).save(tmp_path / "a" / "1.png")
    with pytest.raises(SystemExit, match="do not all have the same shape"):
        bench_cdl.load_all(bench_cdl.data.MediaDataset(tmp_path), batch_size=batch_size)


def test_latents_can_keep_their_channels_relative_sizes():
    """--latent-norm global: one mean and std over all channels, and no per-channel BatchNorm in the stem."""
    torch.manual_seed(0)
    x = torch.randn(20, 4, 32, 32) * torch.tensor([1.0, 10.0, 0.1, 5.0]).view(1, 4, 1, 1)
    split = {"train": {"x": x, "y": torch.zeros(20)}}
    assert torch.allclose(bench_cdl.Inputs(split, pixels=False).std, x.std((0, 2, 3)), rtol=1e-3)
    one = bench_cdl.Inputs(split, pixels=False, per_channel=False)
    assert torch.allclose(one.std, x.var((0, 2, 3)).mean().sqrt().expand(4), rtol=1e-3) and torch.equal(one.mean, one.mean[:1].expand(4))
    assert isinstance(bench_cdl.make_net(True, 4, 1, 3, 2, 16)[0][0], nn.BatchNorm2d)
    assert isinstance(bench_cdl.make_net(True, 4, 1, 3, 2, 16, per_channel=False)[0][0], nn.Identity)
