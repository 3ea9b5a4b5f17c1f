"""Latent datasets: `walloc latents` trees (resume, sharding, workers) and LatentDataset / MediaDataset."""

import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import walloc
from walloc.convert import latent_tree as run
from conftest import DATA, run_cli
from walloc import features
from walloc import tree as trees
from walloc.data import LatentDataset, MediaDataset
from walloc.errors import MediaError

CLOTHING = DATA / "images" / "clothing"
CLASSES = ["cat", "dog", "owl"]


@pytest.fixture
def tree(tmp_path):
    """src/<class>/<n>.png: 3 classes, 3 + 2 + 4 images of assorted sizes (plus a file to ignore)."""
    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for label, n in zip(CLASSES, (3, 2, 4)):
        (src / label).mkdir(parents=True)
        for i in range(n):
            h, w = rng.integers(20, 40, size=2)
            Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(src / label / f"{i}.png")
    (src / "notes.txt").write_text("not an image")
    return src


def _streams(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.wlc"))


def test_scan_labels_and_sharding(tree):
    items = trees.scan(tree)
    assert len(items) == 9 and trees.classes_of(items) == CLASSES
    assert [it.label for it in items] == ["cat"] * 3 + ["dog"] * 2 + ["owl"] * 4
    assert trees.stream_path("/out", items[0]).as_posix() == "/out/cat/0.wlc"
    for world in (1, 2, 4, 20):
        shares = [trees.share(items, r, world) for r in range(world)]
        flat = [it for s in shares for it in s]
        assert sorted(flat, key=lambda it: it.rel) == items and len(set(flat)) == len(items)  # a partition
        assert shares == [trees.share(items, r, world) for r in range(world)]  # deterministic
    with pytest.raises(MediaError):
        trees.share(items, 2, 2)
    with pytest.raises(MediaError):
        trees.scan(tree / "missing")


def test_rank_and_world_from_torchrun_env(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert trees.rank_and_world() == (0, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert trees.rank_and_world() == (3, 4)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(MediaError):
        trees.rank_and_world()


def test_latents_tree_equals_codec_latents(tree, tmp_path, tiny_models, tiny_rgb):
    dst = tmp_path / "dst"
    s = run(tree, dst, model="tiny-rgb", size=16, model_dir=str(tiny_models), progress=False)
    assert (s.total, s.written, s.skipped, s.failed) == (9, 9, 0, [])
    assert _streams(dst) == [f"{c}/{i}.wlc" for c, n in zip(CLASSES, (3, 2, 4)) for i in range(n)]
    assert not [p for p in dst.rglob("*") if p.name.startswith(".")]  # no temporary files left
    for item in trees.scan(tree):
        k = features.from_bytes(trees.stream_path(dst, item).read_bytes(), codec=tiny_rgb)
        x = features.fit(walloc.io.read_image(item.path)[0], 16)
        assert torch.equal(k, tiny_rgb.quantize(tiny_rgb.encode(x[None]))[0])


def test_resume_skips_valid_outputs_and_redoes_bad_ones(tree, tmp_path, tiny_models):
    dst = tmp_path / "dst"
    run(tree, dst, model="tiny-rgb", size=16, model_dir=str(tiny_models), progress=False)
    kept, broken, stale = dst / "cat/0.wlc", dst / "dog/1.wlc", dst / "owl/2.wlc"
    os.utime(kept, (1, 1))
    broken.write_bytes(broken.read_bytes()[:-3])
    stale.write_bytes(walloc.codec.Codec.load("tiny-rgb", tiny_models).compress(torch.rand(3, 16, 16), quality=1))
    s = run(tree, dst, model="tiny-rgb", size=16, model_dir=str(tiny_models), progress=False)
    assert (s.written, s.skipped) == (2, 7)
    assert kept.stat().st_mtime == 1  # untouched
    assert walloc.peek_header(broken.read_bytes()).quality == 2 and walloc.peek_header(stale.read_bytes()).quality == 2
    s = run(tree, dst, model="tiny-rgb", size=24, model_dir=str(tiny_models), progress=False)
    assert (s.written, s.skipped) == (9, 0)  # another size: every output is stale


def test_ranks_partition_the_files_and_workers_agree(tree, tmp_path, tiny_models):
    one, two = tmp_path / "one", tmp_path / "two"
    run(tree, one, model="tiny-rgb", size=16, model_dir=str(tiny_models), progress=False)
    done = []
    for rank in range(3):
        s = run(tree, two, model="tiny-rgb", size=16, model_dir=str(tiny_models), rank=rank, world=3,
                workers=2, progress=False)
        assert s.total == 3 and s.written == 3
        done.append(set(_streams(two)))
    assert [len(d) for d in done] == [3, 6, 9]
    assert _streams(one) == _streams(two)
    for rel in _streams(one):
        assert (one / rel).read_bytes() == (two / rel).read_bytes()


def test_bad_files_are_reported_and_the_rest_converted(tree, tmp_path, tiny_models):
    (tree / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    s = run(tree, tmp_path / "dst", model="tiny-rgb", model_dir=str(tiny_models), progress=False)
    assert s.written == 9 and len(s.failed) == 1 and "broken.png" in s.failed[0][1]
    with pytest.raises(MediaError, match="no image or audio"):
        run(tmp_path / "dst", tmp_path / "x", model="tiny-rgb", model_dir=str(tiny_models), progress=False)


def test_a_tree_of_gray_colour_and_rgba_images_gives_latents_of_one_shape(tree, tmp_path, tiny_models, tiny_rgb):
    rng = np.random.default_rng(1)
    Image.fromarray((rng.random((30, 20)) * 255).astype(np.uint8), "L").save(tree / "cat" / "gray.png")
    Image.fromarray((rng.random((30, 20, 4)) * 255).astype(np.uint8), "RGBA").save(tree / "dog" / "rgba.png")
    dst = tmp_path / "dst"
    s = run(tree, dst, model="tiny-rgb", size=16, model_dir=str(tiny_models), progress=False, channels=3)
    assert (s.written, s.failed) == (11, [])
    assert {walloc.peek_header(p.read_bytes()).channels for p in dst.rglob("*.wlc")} == {3}
    lat, pix = LatentDataset(dst, codec=tiny_rgb), MediaDataset(tree, size=16, channels=3)
    assert {lat[i][0].shape for i in range(len(lat))} == {lat[0][0].shape}
    assert {pix[i][0].shape for i in range(len(pix))} == {(3, 16, 16)}
    gray = features.fit(walloc.io.read_image(tree / "cat" / "gray.png")[0], 16)
    at = [it.path.name for it in pix.items].index("gray.png")
    assert torch.equal(pix[at][0], gray.expand(3, -1, -1))
    gray_stream = dst / "cat" / "gray.wlc"  # as a run without channels writes it: a 1-channel stream
    gray_stream.write_bytes(walloc.codec.Codec.load("tiny-rgb", tiny_models).compress(gray, quality=2))
    s = run(tree, dst, model="tiny-rgb", size=16, model_dir=str(tiny_models), progress=False, channels=3)
    assert (s.written, s.skipped) == (1, 10) and walloc.peek_header(gray_stream.read_bytes()).channels == 3  # a gray stream is redone
    with pytest.raises(MediaError, match="1 .gray. or 3 .RGB."):
        run(tree, dst, model="tiny-rgb", size=16, model_dir=str(tiny_models), progress=False, channels=2)
    r = run_cli("latents", str(tree), str(tmp_path / "cli"), "--size", "16", "--channels", "4", models=tiny_models)
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("\n") == 1 and "channels must be" in err and "Traceback" not in err


def test_cli_latents(tree, tmp_path, tiny_models):
    dst = tmp_path / "dst"
    r = run_cli("latents", str(tree), str(dst), "--size", "16", "--workers", "2", models=tiny_models)
    assert r.returncode == 0, r.stderr.decode()
    assert "9 written, 0 already done, 0 failed of 9 files" in r.stderr.decode()
    assert len(_streams(dst)) == 9
    r = run_cli("latents", str(tree), str(dst), "--size", "16", models=tiny_models)
    assert "0 written, 9 already done" in r.stderr.decode()
    r = run_cli("latents", str(tmp_path / "nope"), str(dst), models=tiny_models)
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("\n") == 1 and "is not a folder" in err and "Traceback" not in err
    r = run_cli("latents", str(tree), str(tmp_path / "tars"), "--size", "16", "--shard-size", "5", "--workers", "2", models=tiny_models)
    assert r.returncode == 0 and "9 written" in r.stderr.decode(), r.stderr.decode()
    assert sorted(p.name for p in (tmp_path / "tars").iterdir()) == ["shard-00000.tar", "shard-00001.tar"]


def test_latent_dataset(tree, tmp_path, tiny_models, tiny_rgb):
    dst = tmp_path / "dst"
    run(tree, dst, model="tiny-rgb", size=16, model_dir=str(tiny_models), progress=False)
    ds = LatentDataset(dst, codec=tiny_rgb, kind="int")
    assert len(ds) == 9 and ds.classes == CLASSES and ds.targets == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert ds.shape == (6, 4, 4)
    x, y = ds[4]
    assert y == 1 and x.dtype == torch.int32
    assert torch.equal(x, features.from_bytes((dst / "dog/1.wlc").read_bytes(), codec=tiny_rgb))

    norm = LatentDataset(dst, codec=tiny_rgb, normalize=True)
    stacked = torch.stack([norm[i][0] for i in range(len(norm))])
    assert torch.allclose(stacked.mean((0, 2, 3)), torch.zeros(6), atol=1e-4)
    assert torch.allclose(stacked.std((0, 2, 3), unbiased=False), torch.ones(6), atol=1e-3)
    raw = torch.stack([tiny_rgb.dequantize(ds[i][0]) for i in range(len(ds))])
    mean, std = norm.normalize
    assert torch.allclose(stacked, (raw - mean.view(-1, 1, 1)) / std.view(-1, 1, 1), atol=1e-5)

    again = LatentDataset(dst, codec=tiny_rgb, classes=CLASSES[::-1], normalize=norm.normalize)
    assert again.targets == [2, 2, 2, 1, 1, 0, 0, 0, 0] and torch.equal(again[0][0], norm[0][0])
    batches = list(DataLoader(norm, batch_size=4, num_workers=2, collate_fn=norm.collate))
    xb = torch.cat([b[0] for b in batches])
    assert xb.shape == (9, 6, 4, 4) and torch.allclose(xb, stacked)
    assert torch.cat([b[1] for b in batches]).tolist() == norm.targets


def test_latent_dataset_errors(tree, tmp_path, tiny_rgb):
    with pytest.raises(MediaError, match="no .wlc files"):
        LatentDataset(tree, codec=tiny_rgb)
    with pytest.raises(MediaError, match="not among the classes"):
        MediaDataset(tree, classes=["cat"])


def test_media_dataset(tree):
    ds = MediaDataset(tree, size=16)
    assert len(ds) == 9 and ds.classes == CLASSES
    x, y = ds[8]
    assert x.shape == (3, 16, 16) and y == 2


@pytest.mark.skipif(not (CLOTHING / "test").is_dir(), reason=f"clothing images not found at {CLOTHING}")
def test_clothing_latents_with_the_shipped_model(tmp_path):
    src = tmp_path / "clothing"
    for label in sorted(p.name for p in (CLOTHING / "test").iterdir())[:3]:
        (src / label).mkdir(parents=True)
        for f in sorted((CLOTHING / "test" / label).iterdir())[:2]:
            (src / label / f.name).write_bytes(f.read_bytes())
    s = run(src, tmp_path / "wlc", model="rgb-16x", size=256, progress=False)
    assert s.written == 6
    ds = LatentDataset(tmp_path / "wlc")
    assert len(ds) == 6 and ds.targets == [0, 0, 1, 1, 2, 2] and ds.shape == (12, 32, 32)
    codec = walloc.load("rgb-16x")
    x = features.load_signal(src / ds.items[0].rel.with_suffix(".jpg"), 256)[0]
    assert torch.equal(ds[0][0], codec.dequantize(codec.quantize(codec.encode(x[None])))[0])


def test_shards_hold_the_same_examples_and_resume(tree, tmp_path, tiny_models, tiny_rgb):
    split = tmp_path / "split"
    (split / "train").mkdir(parents=True)
    os.rename(tree, split / "train" / "src")  # a split folder holding label folders one level down
    src = split / "train" / "src"
    files = run(src, tmp_path / "files", model="tiny-rgb", size=32, model_dir=str(tiny_models), progress=False)
    shards = run(src, tmp_path / "shards", model="tiny-rgb", size=32, model_dir=str(tiny_models), progress=False, shard_size=4)
    assert (files.written, shards.written) == (9, 9)
    tars = sorted(p.name for p in (tmp_path / "shards").rglob("*.tar"))
    assert tars == ["shard-00000.tar", "shard-00001.tar", "shard-00002.tar"] and not list((tmp_path / "shards").rglob("*.wlc"))
    a = LatentDataset(tmp_path / "files", codec=tiny_rgb)
    b = LatentDataset(tmp_path / "shards", codec=tiny_rgb)
    assert [it.rel.as_posix() for it in b.items] == _streams(tmp_path / "files")
    assert a.classes == b.classes == CLASSES and a.targets == b.targets
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(len(a)))
    again = run(src, tmp_path / "shards", model="tiny-rgb", size=32, model_dir=str(tiny_models), progress=False, shard_size=4)
    assert (again.written, again.skipped) == (0, 9)  # complete, valid shards are kept
    first = next((tmp_path / "shards").rglob("shard-00000.tar"))
    first.write_bytes(first.read_bytes()[:700])  # a damaged shard is made again
    redo = run(src, tmp_path / "shards", model="tiny-rgb", size=32, model_dir=str(tiny_models), progress=False, shard_size=4)
    assert (redo.written, redo.skipped) == (4, 5)
    ranks = [run(src, tmp_path / f"r{r}", model="tiny-rgb", size=32, model_dir=str(tiny_models), progress=False,
                 shard_size=2, rank=r, world=2) for r in range(2)]
    assert sum(s.written for s in ranks) == 9 and all(s.written for s in ranks)  # whole shards per rank
