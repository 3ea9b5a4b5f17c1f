"""Compressed-domain learning on real photos: one small classifier trained on pixels and on WaLLoC latents.

    python benchmarks/bench_cdl.py --out out/bench_cdl.json [--seeds 3] [--limit 40 --epochs 2]   # --limit: quick check
    python benchmarks/bench_cdl.py --out out/bench_cdl_cv.json --folds 5 --epochs 20   # cross-validated over all photos

Data: ``../shared/data/images/clothing/{train,validation,test}/<class>/*.jpg`` (10 classes, 3,781
phone photos, JPEG q75, short side 288). Every example is first brought to a 256 x 256 center crop
(short side resized to 256, :func:`walloc.features.fit`). Variants:

  pixels_full  the 256 x 256 crops (3 x 256 x 256), loaded from the original JPEG files with Pillow
  pixels_down  the crops downsampled to the latents' number of dimensions (3 x 64 x 64 for 16x),
               stored as lossless PNG (exact pixels)
  walloc_16x   ``rgb-16x`` latents of the crops (12 x 32 x 32), made with ``walloc latents --size 256``
               at the model's default quality and read back with walloc.data.LatentDataset
               (entropy decoding only), dequantized (symbols x quantizer step)
  walloc_4x    ``rgb-4x`` latents, when that model is shipped (else reported as skipped)

Classifier (same for all): a stem, then the same small conv body. The stem is one convolution whose
kernel equals its stride and brings every input to a 32 x 32 grid (8 x 8 patches of full pixels, 2 x 2
of downsampled pixels, 1 x 1 of 16x latents, 2 x 2 of 4x latents): the only part that changes. Body:
5 conv-BN-ReLU layers, widths 32-64-128 on 32/16/8 grids, global pooling, linear. Every variant's
input is standardized the same way: per channel, with the mean and std of that variant's training
split (the raw latent channels differ in scale by more than an order of magnitude, pixels are in
[0, 1]; ``input_channel_std`` reports the raw range). Training: AdamW, cosine schedule, label
smoothing, horizontal-flip augmentation (for latents: the latents of the mirrored crop, which is
what a ``.wlc`` of the mirrored image holds), the epoch with the best validation accuracy is tested.

``--seeds N`` trains every variant N times (seeds --seed, --seed + 1, ...; same data and splits):
accuracies are the mean over seeds (``test_acc``, ``val_acc``) with ``*_std`` (sample std, None for
one seed) and ``*_seeds``; ``train_s`` is the mean. ``paired`` compares walloc_16x with pixels_down
seed by seed (mean difference, its standard error over seeds) and image by image (standard error
over the test images of the per-image difference, which also carries the test set's sampling noise).

``--folds K`` replaces the splits by K-fold cross-validation over all photos (:func:`cross_validate`):
the same stratified folds for every variant, the last epoch tested, every photo tested once; the
paired comparison is then over all photos.

Measured per variant: test accuracy (``test_acc``), training wall time (``train_s``), mean bytes per
example on disk (``bytes_per_example``) and items per second when loading the stored examples
(``load_items_s``: one process, DataLoader without workers, decode to the classifier's input before
standardization). All runs share the machine; a single CPU thread is used for training unless
--threads says otherwise.
"""

from __future__ import annotations

import argparse
import io as _io
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import walloc  # noqa: E402
from walloc import data, features, tree  # noqa: E402

SPLITS = ("train", "validation", "test")
GRID = 32  # every variant's stem outputs a GRID x GRID feature map
VARIANTS = ("pixels_full", "pixels_down", "walloc_16x", "walloc_4x")


# -- classifier ------------------------------------------------------------------------------------------
def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Classifier(nn.Module):
    """Stem (kernel = stride = input size / GRID) + a fixed conv body; the stem is all that varies."""

    def __init__(self, channels: int, size: int, classes: int, width: int = 32):
        super().__init__()
        if size % GRID:
            raise ValueError(f"input size {size} is not a multiple of {GRID}")
        patch = size // GRID
        self.stem = nn.Sequential(nn.Conv2d(channels, width, patch, patch, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.body = nn.Sequential(
            _block(width, width),
            _block(width, 2 * width, 2), _block(2 * width, 2 * width),
            _block(2 * width, 4 * width, 2), _block(4 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * width, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x))


# -- data -------------------------------------------------------------------------------------------------
def load_all(ds, batch_size: int = 64, collate=None, keep=None) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Every item of a dataset through a worker-less DataLoader -> (inputs, labels, items per second).

    ``keep`` turns each batch into what is kept in memory (pixels: uint8); it is not timed."""
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0, collate_fn=collate)
    xs, ys, seconds = [], [], 0.0
    start = time.perf_counter()
    for x, y in loader:
        seconds += time.perf_counter() - start
        xs.append(keep(x) if keep else x)
        ys.append(y)
        start = time.perf_counter()
    return torch.cat(xs), torch.cat(ys), len(ds) / seconds


def to_u8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().clamp(0, 255).to(torch.uint8)


def jpeg_bytes(x: torch.Tensor, quality: int = 75) -> int:
    from PIL import Image

    buf = _io.BytesIO()
    Image.fromarray(to_u8(x).permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=quality)
    return buf.tell()


def subset(root: Path, dst: Path, limit: int) -> Path:
    """A copy of the first ``limit`` files of each class folder of each split (quick runs)."""
    import shutil

    for split in SPLITS:
        items = tree.scan(root / split)
        for label in tree.classes_of(items):
            for it in [i for i in items if i.label == label][:limit]:
                target = dst / split / it.rel
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(it.path, target)
    return dst


def pixels(root: Path, size: int) -> dict:
    """The 256 x 256 crops of every split, loaded from the JPEG files, as uint8."""
    out, classes = {}, None
    for split in SPLITS:
        ds = data.MediaDataset(root / split, classes=classes, size=size)
        classes = ds.classes
        x, y, rate = load_all(ds, keep=to_u8)
        sizes = [it.path.stat().st_size for it in ds.items]
        out[split] = {"x": x, "y": y, "rate": rate, "bytes": sizes, "items": ds.items}
    out["classes"] = classes
    return out


def pixels_down(full: dict, work: Path, factor: int) -> dict:
    """The crops downsampled by ``factor`` per axis, written as PNG, then loaded back from the files."""
    from PIL import Image

    out, classes = {}, full["classes"]
    for split in SPLITS:
        folder = work / f"pixels_down_{factor}x" / split
        for it, x in zip(full[split]["items"], full[split]["x"]):
            target = folder / it.rel.with_suffix(".png")
            if not target.exists():
                small = F.interpolate(x[None].float() / 255, scale_factor=1 / factor, mode="bilinear", antialias=True)[0]
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(to_u8(small.clamp(0, 1)).permute(1, 2, 0).numpy()).save(target)
        ds = data.MediaDataset(folder, classes=classes)
        x, y, rate = load_all(ds, keep=to_u8)
        out[split] = {"x": x, "y": y, "rate": rate, "bytes": [it.path.stat().st_size for it in ds.items]}
    return out


def latents(root: Path, work: Path, model: str, size: int, workers: int) -> dict:
    """``walloc latents --size`` on the tree, then every split read back with LatentDataset."""
    from walloc.convert import latent_tree

    folder = work / model
    start = time.perf_counter()
    summary = latent_tree(root, folder, model=model, size=size, workers=workers, progress=False)
    convert_s = time.perf_counter() - start
    if summary.failed:
        raise RuntimeError(f"walloc latents failed on {summary.failed[:3]}")
    out, classes = {"convert_s": convert_s, "converted": summary.written}, None
    for split in SPLITS:
        ds = data.LatentDataset(folder / split, classes=classes)
        classes = ds.classes
        x, y, rate = load_all(ds, collate=ds.collate)
        out[split] = {"x": x, "y": y, "rate": rate, "bytes": [it.path.stat().st_size for it in ds.items]}
    out["classes"] = classes
    return out


def mirrored_latents(codec, crops: torch.Tensor) -> torch.Tensor:
    """Dequantized latents of the horizontally mirrored crops (what .wlc files of mirrored images hold)."""
    out = []
    for start in range(0, len(crops), 64):
        x = crops[start: start + 64].float().flip(-1) / 255
        out.append(features.encode(codec, x, kind="dequantized"))
    return torch.cat(out)


# -- training ---------------------------------------------------------------------------------------------
class Inputs:
    """Training inputs of one variant: stored tensors -> standardized float batches (+ flip).

    The standardization is the same for every variant (per channel, training-split statistics), so
    that neither the [0, 1] pixels nor the unevenly scaled latent channels get a head start."""

    def __init__(self, splits: dict, *, pixels: bool, mirrored: torch.Tensor | None = None):
        self.splits, self.pixels, self.mirrored = splits, pixels, mirrored
        total = sq = 0.0
        for start in range(0, len(splits["train"]["x"]), 64):
            x = self.raw("train", slice(start, start + 64)).double()
            total, sq = total + x.sum((0, 2, 3)), sq + (x * x).sum((0, 2, 3))
        count = splits["train"]["x"][:, 0].numel()
        mean = total / count
        self.mean, self.std = mean.float(), (sq / count - mean * mean).clamp_min(1e-12).sqrt().float()

    def raw(self, split: str, idx) -> torch.Tensor:
        """Stored items as floats on their own scale (pixels in [0, 1], dequantized latents)."""
        x = self.splits[split]["x"][idx]
        return x.float() / 255 if self.pixels else x

    def batch(self, split: str, idx: torch.Tensor, flip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.raw(split, idx)
        if flip is not None:
            mirrored = x.flip(-1) if self.pixels else self.mirrored[idx]
            x = torch.where(flip.view(-1, 1, 1, 1), mirrored, x)
        return data.standardize(x, (self.mean, self.std), 2)


def evaluate(net: nn.Module, inputs: Inputs, split: str, batch: int = 128) -> torch.Tensor:
    """Per-item correctness (bool) on a split; kept per item for the paired comparison."""
    net.eval()
    y = inputs.splits[split]["y"]
    with torch.no_grad():
        return torch.cat([net(inputs.batch(split, idx)).argmax(1) == y[idx]
                          for idx in torch.arange(len(y)).split(batch)])


def train(inputs: Inputs, classes: int, epochs: int, seed: int, batch: int = 32, lr: float = 3e-3,
          select: bool = True) -> dict:
    """Train one classifier; with ``select`` the epoch with the best validation accuracy is tested,
    else (cross-validation, no validation split) the last epoch."""
    x0 = inputs.splits["train"]["x"]
    torch.manual_seed(seed)
    net = Classifier(x0.shape[1], x0.shape[2], classes)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    n = len(x0)
    steps = epochs * math.ceil(n / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    y = inputs.splits["train"]["y"]
    best, best_epoch, history = (-1.0, None), 0, []
    start = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(n)
        for s in range(0, n, batch):
            idx = order[s: s + batch]
            if len(idx) < 2:
                continue
            flip = torch.rand(len(idx)) < 0.5
            loss = F.cross_entropy(net(inputs.batch("train", idx, flip)), y[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if not select:
            continue
        val = evaluate(net, inputs, "validation").float().mean().item()
        history.append(round(val, 4))
        if val > best[0]:
            best, best_epoch = (val, {k: v.clone() for k, v in net.state_dict().items()}), epoch + 1
    train_s = time.perf_counter() - start
    if select:
        net.load_state_dict(best[1])
    else:
        best, best_epoch = (None, None), epochs
    return {"test_correct": evaluate(net, inputs, "test"), "val_acc": best[0], "best_epoch": best_epoch,
            "val_history": history, "train_s": train_s, "parameters": sum(p.numel() for p in net.parameters())}


def std(values) -> float | None:
    """Sample standard deviation; None for a single value."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def seeds_of(args) -> list[int]:
    return [args.seed + i for i in range(args.seeds)]


def train_seeds(inputs: Inputs, classes: int, args) -> tuple[dict, torch.Tensor]:
    """``train`` once per seed -> (summary over seeds, test correctness: seeds x test items)."""
    runs = [train(inputs, classes, args.epochs, seed, args.batch, args.lr) for seed in seeds_of(args)]
    correct = torch.stack([r["test_correct"] for r in runs])
    result = {}
    for key, accs in (("test_acc", correct.float().mean(1).tolist()), ("val_acc", [r["val_acc"] for r in runs])):
        sd = std(accs)
        result |= {key: round(float(np.mean(accs)), 4), f"{key}_std": None if sd is None else round(sd, 4),
                   f"{key}_seeds": [round(a, 4) for a in accs]}
    result |= {"best_epoch": [r["best_epoch"] for r in runs], "val_history": [r["val_history"] for r in runs],
               "train_s": round(float(np.mean([r["train_s"] for r in runs])), 1),
               "parameters": runs[0]["parameters"],
               "input_channel_std": [round(inputs.std.min().item(), 4), round(inputs.std.max().item(), 4)]}
    return result, correct


def paired(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Accuracy of a minus b (seeds x test items correctness, same seeds, same test images)."""
    per_seed = (a.float().mean(1) - b.float().mean(1)).tolist()
    per_image = a.float().mean(0) - b.float().mean(0)
    se = std(per_seed)
    return {"mean": round(float(np.mean(per_seed)), 4), "per_seed": [round(d, 4) for d in per_seed],
            "se_seeds": None if se is None else round(se / math.sqrt(len(per_seed)), 4),
            "se_test_images": round(per_image.std().item() / math.sqrt(len(per_image)), 4),
            "test_images": len(per_image)}


def report(name: str, splits: dict, result: dict, **extra) -> dict:
    total = sum(len(splits[s]["y"]) for s in SPLITS)
    rate = total / sum(len(splits[s]["y"]) / splits[s]["rate"] for s in SPLITS)
    sizes = [b for s in SPLITS for b in splits[s]["bytes"]]
    entry = {**result, "bytes_per_example": round(float(np.mean(sizes)), 1), "load_items_s": round(rate, 1),
             "input_shape": list(splits["train"]["x"].shape[1:]),
             "dimensions": int(np.prod(splits["train"]["x"].shape[1:])), **extra}
    spread = "" if entry["test_acc_std"] is None else f" +- {entry['test_acc_std']:.4f}"
    print(f"{name:12s} acc {entry['test_acc']:.4f}{spread}  train {entry['train_s']:7.1f} s  "
          f"{entry['bytes_per_example']:9.1f} B/example  load {entry['load_items_s']:8.1f} items/s  "
          f"shape {entry['input_shape']}", flush=True)
    return entry


def fold_of(labels: torch.Tensor, folds: int, seed: int) -> torch.Tensor:
    """Stratified fold number of every pooled item: each class shuffled (fixed seed), dealt round-robin."""
    gen = torch.Generator().manual_seed(seed)
    fold = torch.empty(len(labels), dtype=torch.long)
    for label in labels.unique():
        idx = (labels == label).nonzero().flatten()
        fold[idx[torch.randperm(len(idx), generator=gen)]] = torch.arange(len(idx)) % folds
    return fold


def pooled(splits: dict) -> dict:
    """All three splits as one set, in split order."""
    return {"x": torch.cat([splits[s]["x"] for s in SPLITS]), "y": torch.cat([splits[s]["y"] for s in SPLITS])}


def cross_validate(variants: dict, classes: int, args) -> tuple[dict, dict]:
    """K-fold cross-validation over the pooled splits (every photo is tested once, by a classifier
    that never saw it): 10x more test items than the test split, so differences of a point or two can
    be told from test-set noise. Same folds for every variant; the last epoch is tested.

    ``variants``: name -> (pool {"x", "y"}, pixels?, mirrored pool or None)."""
    labels = next(iter(variants.values()))[0]["y"]
    if any(not torch.equal(v[0]["y"], labels) for v in variants.values()):
        raise RuntimeError("the variants do not list the same photos in the same order")
    fold = fold_of(labels, args.folds, args.seed)
    results, correct = {}, {}
    for name, (pool, is_pixels, mirrored) in variants.items():
        right, accs, seconds = torch.zeros(len(labels), dtype=torch.bool), [], []
        for k in range(args.folds):
            tr, te = (fold != k).nonzero().flatten(), (fold == k).nonzero().flatten()
            splits = {"train": {"x": pool["x"][tr], "y": labels[tr]}, "test": {"x": pool["x"][te], "y": labels[te]}}
            run = train(Inputs(splits, pixels=is_pixels, mirrored=None if mirrored is None else mirrored[tr]),
                        classes, args.epochs, args.seed + k, args.batch, args.lr, select=False)
            right[te] = run["test_correct"]
            accs.append(run["test_correct"].float().mean().item())
            seconds.append(run["train_s"])
            print(f"  {name} fold {k}: acc {accs[-1]:.4f} ({seconds[-1]:.0f} s)", flush=True)
        correct[name] = right[None]
        results[name] = {"cv_acc": round(right.float().mean().item(), 4), "fold_acc": [round(a, 4) for a in accs],
                         "fold_acc_std": round(std(accs), 4), "train_s": round(float(np.mean(seconds)), 1)}
        print(f"{name:12s} cross-validated acc {results[name]['cv_acc']:.4f} over {len(labels)} photos", flush=True)
    return results, correct


class Variant(NamedTuple):
    """One input's stored examples, loaded: what training and the report need of it."""

    splits: dict                    # split -> {"x", "y", "rate", "bytes"}
    pixels: bool                    # uint8 pixels (else dequantized latents)
    mirrored: torch.Tensor | None   # latents of the mirrored crops (flip augmentation), aligned with the training items
    extra: dict                     # what the report adds: how it is stored, which model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="JSON results file")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "images" / "clothing"))
    ap.add_argument("--work", default=None, help="folder for the latent and downsampled datasets (default: next to --out)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N files per class and split (quick check)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads for training")
    ap.add_argument("--workers", type=int, default=2, help="worker processes for `walloc latents`")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--seeds", type=int, default=1, help="train every variant with this many seeds")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--folds", type=int, default=0,
                    help="K-fold cross-validation over the pooled splits instead of the train/validation/test protocol")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    work = Path(args.work) if args.work else out.parent / (out.stem + "_work")
    root = Path(args.data)
    if not all((root / s).is_dir() for s in SPLITS):
        sys.exit(f"bench_cdl: the clothing set is not at {root} (needs {', '.join(SPLITS)} folders)")
    if args.limit:
        root = subset(root, work / f"subset_{args.limit}", args.limit)
    wanted = args.variants.split(",")
    models = {m.name for m in walloc.list_models()}
    t0 = time.perf_counter()

    full = pixels(root, args.size)
    classes = full["classes"]
    counts = ", ".join(f"{s} {len(full[s]['y'])}" for s in SPLITS)
    print(f"data: {counts}, {len(classes)} classes, {time.perf_counter() - t0:.0f} s", flush=True)
    loaded, skipped = {}, {}
    if "pixels_full" in wanted:
        jpeg = [jpeg_bytes(x.float() / 255) for s in SPLITS for x in full[s]["x"][:200]]
        loaded["pixels_full"] = Variant(full, True, None, {
            "stored_as": "original JPEG files (q75, short side 288), decoded with Pillow and fitted to 256x256",
            "bytes_per_example_jpeg75_crop": round(float(np.mean(jpeg)), 1)})
    for name, model in (("walloc_16x", "rgb-16x"), ("walloc_4x", "rgb-4x")):
        if name not in wanted and not (name == "walloc_16x" and "pixels_down" in wanted):
            continue
        if model not in models:
            skipped[name] = {"skipped": f"model '{model}' is not shipped (walloc.list_models(): {sorted(models)})"}
            print(f"{name:12s} skipped: {skipped[name]['skipped']}", flush=True)
            continue
        codec = walloc.load(model)
        if "pixels_down" in wanted and name == "walloc_16x":
            factor = round(math.sqrt(codec.dim_reduction))
            down = pixels_down(full, work, factor)
            loaded["pixels_down"] = Variant(down, True, None, {
                "factor": factor, "stored_as": "PNG (lossless) of the downsampled crops",
                "bytes_per_example_jpeg75": round(float(np.mean([jpeg_bytes(x.float() / 255) for x in down['train']['x'][:200]])), 1)})
        if name in wanted:
            lat = latents(root, work, model, args.size, args.workers)
            crops = pooled(full)["x"] if args.folds else full["train"]["x"]
            loaded[name] = Variant(lat, False, mirrored_latents(codec, crops), {
                "model": model, "quality": codec.default_quality, "convert_s": round(lat["convert_s"], 1),
                "stored_as": f".wlc files from `walloc latents --size {args.size}`, read with LatentDataset"})

    correct: dict[str, torch.Tensor] = {}
    results: dict = dict(skipped)
    if args.folds:
        cv, correct = cross_validate({k: (pooled(v.splits), v.pixels, v.mirrored) for k, v in loaded.items()}, len(classes), args)
        for k, v in loaded.items():
            results[k] = report(k, v.splits, {"test_acc": cv[k]["cv_acc"], "test_acc_std": None, **cv[k]}, **v.extra)
    else:
        for k, v in loaded.items():
            r, correct[k] = train_seeds(Inputs(v.splits, pixels=v.pixels, mirrored=v.mirrored), len(classes), args)
            results[k] = report(k, v.splits, r, **v.extra)
    doc = {
        "benchmark": "compressed-domain classification, benchmarks/bench_cdl.py",
        "protocol": f"{args.folds}-fold cross-validation over all {sum(len(full[s]['y']) for s in SPLITS)} photos, last epoch tested"
                    if args.folds else "train / validation (epoch selection) / test splits",
        "data": str(root), "splits": {s: len(full[s]["y"]) for s in SPLITS}, "classes": classes,
        "size": args.size, "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seeds": seeds_of(args), "folds": args.folds,
        "threads": args.threads, "limit": args.limit,
        "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
        "total_s": round(time.perf_counter() - t0, 1),
        "variants": {k: results[k] for k in VARIANTS if k in results},
        "paired": {f"{a} - {b}": paired(correct[a], correct[b])
                   for a, b in (("walloc_16x", "pixels_down"), ("walloc_16x", "pixels_full")) if a in correct and b in correct},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out} ({doc['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
