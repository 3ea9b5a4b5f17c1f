"""Trees named by URL against a real local S3 server (moto in server mode on 127.0.0.1): `walloc latents`
from and to s3:// writing what it writes on disk, resuming there, and LatentDataset / MediaDataset /
the shard reader reading s3:// as they read local folders."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from conftest import benchmark, run_cli
from walloc import tree, urls
from walloc.convert import latent_tree
from walloc.data import LatentDataset, MediaDataset
from walloc.errors import MediaError

pytest.importorskip("moto.server", reason="moto is not installed (pip install 'moto[server]')")
s3fs = pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'walloc[cloud]')")
bench = benchmark("bench_scale")
SIZE = 32


def test_urls_and_local_paths():
    assert urls.is_url("s3://b/x") and urls.is_url("gs://b") and not urls.is_url("file:///tmp/x") and not urls.is_url("a/b")
    assert urls.location("file:///tmp/x") == urls.location("/tmp/x") == __import__("pathlib").Path("/tmp/x")
    assert urls.location("s3://b/x") == "s3://b/x" and urls.join("s3://b/x/", "y/z.wlc") == "s3://b/x/y/z.wlc"
    with pytest.raises(MediaError, match="nope://"):
        urls.read_bytes("nope://b/x")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A bucket on a local S3 server holding src/train/<class>/<n>.png (3 classes, 7 images, a hidden
    file and a text file to ignore), and the same tree on disk with `walloc latents`' outputs."""
    root = tmp_path_factory.mktemp("local")
    rng = np.random.default_rng(1)
    for label, n in (("cat", 3), ("dog", 2), ("owl", 2)):
        (root / "src/train" / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray((rng.random((36, 44, 3)) * 255).astype(np.uint8)).save(root / "src/train" / label / f"{i}.png")
    (root / "src/train/cat/.partial.png").write_bytes(b"half")
    (root / "src/notes.txt").write_text("not an image")
    latent_tree(root / "src", root / "wlc", size=SIZE, progress=False)
    latent_tree(root / "src", root / "tars", size=SIZE, progress=False, shard_size=3)
    with bench.s3_server() as bucket:
        s3fs.S3FileSystem().put(str(root / "src") + "/", f"{bucket}/src", recursive=True)
        yield bucket, root


def _objects(url):
    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()
    base = url.split("://")[1]
    return {p[len(base) + 1:]: fs.cat_file(p) for p in fs.find(base)}


def test_scan_of_a_bucket_is_the_scan_of_the_folder(s3):
    bucket, root = s3
    remote, local = tree.scan(f"{bucket}/src"), tree.scan(root / "src")
    assert [(it.rel, it.label) for it in remote] == [(it.rel, it.label) for it in local] and len(local) == 7
    assert remote[0].path == f"{bucket}/src/train/cat/0.png" and remote[0].read() == local[0].read()
    with pytest.raises(MediaError, match="is not a folder"):
        tree.scan(f"{bucket}/missing")


def test_latents_to_and_from_s3_write_what_they_write_on_disk_and_resume(s3):
    bucket, root = s3
    for dst, local, extra in (("wlc", "wlc", []), ("tars", "tars", ["--shard-size", "3", "-j", "2"])):
        r = run_cli("latents", f"{bucket}/src", f"{bucket}/{dst}", "--size", str(SIZE), *extra)
        assert r.returncode == 0 and "7 written, 0 already done" in r.stderr.decode(), r.stderr.decode()
        assert _objects(f"{bucket}/{dst}") == bench.files(root / local)
    r = run_cli("latents", f"{bucket}/src", f"{bucket}/tars", "--size", str(SIZE), "--shard-size", "3")
    assert "0 written, 7 already done" in r.stderr.decode()
    fs = s3fs.S3FileSystem()
    fs.pipe_file(f"{bucket}/tars/train/shard-00001.tar", b"damaged")
    r = run_cli("latents", f"{bucket}/src", f"{bucket}/tars", "--size", str(SIZE), "--shard-size", "3")
    assert "3 written, 4 already done" in r.stderr.decode() and _objects(f"{bucket}/tars") == bench.files(root / "tars")
    r = run_cli("latents", str(root / "src"), f"{bucket}/mixed", "--size", str(SIZE))  # disk -> bucket
    assert r.returncode == 0 and _objects(f"{bucket}/mixed") == bench.files(root / "wlc")
    r = run_cli("latents", f"{bucket}/absent", str(root / "x"))
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("\n") == 1 and "s3://walloc/absent is not a folder" in err


def test_datasets_read_a_bucket_as_they_read_a_folder(s3):
    bucket, root = s3
    s3fs.S3FileSystem().put(str(root / "tars") + "/", f"{bucket}/read/tars", recursive=True)
    s3fs.S3FileSystem().put(str(root / "wlc") + "/", f"{bucket}/read/wlc", recursive=True)
    local = LatentDataset(root / "wlc", normalize=True)
    for part in ("tars", "wlc"):
        ds = LatentDataset(f"{bucket}/read/{part}", normalize=local.normalize)
        assert ds.classes == local.classes and ds.targets == local.targets
        assert all(torch.equal(ds[i][0], local[i][0]) for i in range(len(ds)))
        streamed = list(ds.stream())
        assert [y for _, y in streamed] == ds.targets and all(torch.equal(x, local[i][0]) for i, (x, _) in enumerate(streamed))
    stream = LatentDataset(f"{bucket}/read/tars").stream(shuffle=True)
    epochs = []
    for epoch in range(2):
        stream.set_epoch(epoch)
        batches = list(DataLoader(stream, batch_size=4, num_workers=2))
        epochs.append(torch.cat([y for _, y in batches]).tolist())
        assert sorted(epochs[-1]) == sorted(local.targets)  # every example once per epoch, over 2 workers
    assert epochs[0] != epochs[1]
    media = MediaDataset(f"{bucket}/src", size=SIZE)
    assert torch.equal(media[4][0], MediaDataset(root / "src", size=SIZE)[4][0]) and media.targets == local.targets
