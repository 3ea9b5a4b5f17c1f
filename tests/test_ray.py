"""walloc.ray on a real local Ray of 2 CPUs: Encode as a Ray Data transform, the engine writing what
`walloc latents` writes byte for byte (.wlc trees and tar shards), resuming, and a worker SIGKILLed in
the middle of a run. The shipped rgb-16x model, a few small random images."""

import threading

import numpy as np
import pytest
from PIL import Image

from conftest import benchmark, run_cli
from walloc.convert import latent_tree

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'walloc[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'walloc[ray]')")
from walloc.ray import Encode, latent_urls  # noqa: E402

bench = benchmark("bench_scale")
SIZE = 32
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, about its settings


def _images(root, shape, per_class):
    rng = np.random.default_rng(0)
    for label in ("cat", "dog", "owl"):
        (root / "train" / label).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray((rng.random((*shape, 3)) * 255).astype(np.uint8)).save(root / "train" / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """src/train/<class>/<n>.png (3 x 4 images) and what `walloc latents` makes of it: .wlc files and shards."""
    root = tmp_path_factory.mktemp("photos")
    src = _images(root / "src", (40, 48), 4)
    latent_tree(src, root / "wlc", size=SIZE, progress=False)
    latent_tree(src, root / "tars", size=SIZE, progress=False, shard_size=5)
    return src, bench.files(root / "wlc"), bench.files(root / "tars")


def test_encode_is_a_ray_data_transform_over_file_bytes_and_image_arrays(cluster, photos):
    src, wlc, _ = photos
    one = ray.data.ActorPoolStrategy(size=1)  # the other CPU reads the files
    ds = ray.data.read_binary_files(str(src), include_paths=True)
    rows = ds.map_batches(Encode, fn_constructor_kwargs={"model": "rgb-16x", "size": SIZE}, batch_size=4, compute=one).take_all()
    got = {r["path"].split("/src/")[1].replace(".png", ".wlc"): r["stream"] for r in rows}
    assert got == wlc and all(r["error"] == "" for r in rows) and "bytes" not in rows[0]

    arrays = [np.asarray(Image.open(src / "train" / "dog" / f"{i}.png")) for i in range(2)]
    bad = ray.data.from_items([{"bytes": b"not an image", "path": "x/broken.png"}])
    out = ray.data.from_items([{"image": a} for a in arrays]).map_batches(Encode, fn_constructor_kwargs={"size": SIZE}, compute=one)
    assert [r["stream"] for r in out.take_all()] == [wlc[f"train/dog/{i}.wlc"] for i in range(2)]  # arrays as their files
    [broken] = bad.map_batches(Encode, compute=one).take_all()
    assert broken["stream"] == b"" and broken["error"].startswith("x/broken.png: ") and "\n" not in broken["error"]


def test_the_ray_engine_writes_what_walloc_latents_writes_and_resumes(cluster, photos, tmp_path):
    src, wlc, tars = photos
    s = latent_urls(src, tmp_path / "wlc", engine="ray", workers=2, size=SIZE, progress=False)
    assert (s.written, s.skipped, s.failed) == (12, 0, []) and bench.files(tmp_path / "wlc") == wlc
    t = latent_urls(src, tmp_path / "tars", engine="ray", workers=2, size=SIZE, shard_size=5, progress=False)
    assert (t.written, t.failed) == (12, []) and bench.files(tmp_path / "tars") == tars
    assert sorted(tars) == ["train/shard-00000.tar", "train/shard-00001.tar", "train/shard-00002.tar"]

    again = latent_urls(src, tmp_path / "tars", engine="ray", size=SIZE, shard_size=5, progress=False)
    assert (again.written, again.skipped) == (0, 12)  # complete shards are kept, and Ray is not even needed
    (tmp_path / "wlc/train/dog/1.wlc").unlink()
    shard = tmp_path / "tars/train/shard-00001.tar"
    shard.write_bytes(shard.read_bytes()[:1000])  # damaged: made again
    redo = [latent_urls(src, tmp_path / d, engine="ray", workers=2, size=SIZE, progress=False, shard_size=n)
            for d, n in (("wlc", 0), ("tars", 5))]
    assert [(r.written, r.skipped) for r in redo] == [(1, 11), (5, 7)]
    assert bench.files(tmp_path / "wlc") == wlc and bench.files(tmp_path / "tars") == tars


def test_a_worker_killed_mid_run_is_replaced_and_nothing_is_lost(cluster, tmp_path):
    src = _images(tmp_path / "src", (384, 384), 12)
    latent_tree(src, tmp_path / "ref", size=256, progress=False)
    ref = bench.files(tmp_path / "ref")
    seen: dict = {}
    watcher = threading.Thread(target=lambda: seen.update(bench.kill_worker_when(tmp_path / "out", 1, timeout=120)))
    watcher.start()
    s = latent_urls(src, tmp_path / "out", engine="ray", workers=2, size=256, progress=False)
    watcher.join()
    assert seen["killed_pid"] and seen["outputs_when_killed"] < len(ref)  # killed in the middle
    assert (s.written, s.failed) == (len(ref), [])  # each file counted once
    assert bench.files(tmp_path / "out") == ref  # none missing, none extra, every one whole and equal


def test_cli_engine_ray(photos, tmp_path):
    src, wlc, _ = photos
    r = run_cli("latents", str(src), str(tmp_path / "out"), "--size", str(SIZE), "--engine", "ray", "-j", "2")
    err = r.stderr.decode()
    assert r.returncode == 0 and "12 written, 0 already done, 0 failed of 12 files" in err, err
    assert bench.files(tmp_path / "out") == wlc and "Traceback" not in err
    for args, message in ((["--address", "auto"], "--address needs --engine ray"),
                          (["--engine", "ray", "--address", f"127.0.0.1:{bench.free_port()}"], "no Ray cluster at 127.0.0.1:")):
        r = run_cli("latents", str(src), str(tmp_path / "no"), *args)
        err = r.stderr.decode()
        assert r.returncode == 1 and err.count("\n") == 1 and message in err, err

