"""walloc.nn.LatentStem: what a backbone gets when it is fed latents instead of pixels."""

import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader

import walloc
from walloc.errors import WallocError
from walloc.nn import LatentStem


@pytest.mark.parametrize("model, latents, out", [
    ("rgb-16x", (2, 12, 32, 32), (2, 64, 32, 32)),   # 256 x 256 images
    ("rgb-4x", (2, 48, 32, 32), (2, 64, 32, 32)),
    ("stereo-5x", (2, 108, 32), (2, 64, 32)),        # 8,192-sample clips: 1-D latents
])
def test_the_stem_takes_each_models_latents_to_the_backbones_width(model, latents, out):
    codec = walloc.load(model)
    stem = LatentStem(codec, 64)
    assert stem(torch.randn(latents)).shape == out
    halved = LatentStem(codec, 64, stride=2)(torch.randn(latents))
    assert halved.shape == out[:2] + tuple((s + 1) // 2 for s in out[2:])


def test_the_stem_takes_a_channel_count_and_channel_groups():
    assert LatentStem(12, 32)(torch.randn(1, 12, 8, 8)).shape == (1, 32, 8, 8)
    assert LatentStem(12, 32, groups=2)(torch.randn(1, 24, 8, 8)).shape == (1, 32, 8, 8)  # a 6-channel image
    assert LatentStem(108, 16, dims=1)(torch.randn(3, 108, 10)).shape == (3, 16, 10)


def test_a_deeper_stem_sees_a_wider_neighbourhood_and_halves_the_grid_once():
    """depth 2: a stride-1 3x3 layer before the (strided) last one; one latent then reaches 5 x 5 outputs
    at stride 1 where depth 1 reaches 3 x 3."""
    assert LatentStem(48, 32, stride=2, depth=2)(torch.randn(2, 48, 32, 32)).shape == (2, 32, 16, 16)
    reach = {}
    torch.manual_seed(0)
    for depth in (1, 2):
        stem = LatentStem(4, 8, depth=depth).eval()
        x = torch.randn(1, 4, 11, 11, requires_grad=True)
        stem(x)[0, :, 5, 5].sum().backward()
        reach[depth] = int((x.grad.abs().sum(1)[0] > 0).sum())
    assert reach == {1: 9, 2: 25}
    with pytest.raises(walloc.WallocError, match="at least one 3x3 layer"):
        LatentStem(4, 8, depth=0)


def test_gradients_reach_every_parameter_and_the_latents():
    stem = LatentStem(12, 16, stride=2)
    x = torch.randn(4, 12, 8, 8, requires_grad=True)
    stem(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in stem.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_stem_standardizes_latent_channels_of_very_different_scales():
    """Raw latent channels differ in scale by more than 10x; the stem's first layer evens them out."""
    stem = LatentStem(3, 8)
    x = torch.randn(16, 3, 8, 8) * torch.tensor([0.1, 1.0, 30.0]).view(1, 3, 1, 1) + 5
    y = stem[0](x)
    assert torch.allclose(y.std((0, 2, 3)), torch.ones(3), atol=0.05)
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)


def test_the_stem_reads_latentdataset_batches(tmp_path):
    codec = walloc.load("rgb-16x")
    torch.manual_seed(0)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(2):
            (tmp_path / label / f"{i}.wlc").write_bytes(codec.compress(torch.rand(3, 64, 64)))
    ds = walloc.data.LatentDataset(tmp_path)
    stem = LatentStem(ds, 16)
    assert (stem.in_channels, stem.dims) == (12, 2)
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert stem(x).shape == (4, 16, 8, 8) and y.tolist() == [0, 0, 1, 1]


def test_latents_of_the_wrong_shape_or_a_wrong_source_are_one_line_errors():
    with pytest.raises(WallocError, match=r"expects latents \(batch, 12, height, width\), got \(1, 48, 8, 8\)"):
        LatentStem(12, 16)(torch.randn(1, 48, 8, 8))
    with pytest.raises(WallocError, match="channel count, a Codec or a LatentDataset"):
        LatentStem("rgb-16x", 16)
    with pytest.raises(WallocError, match="positive channel count"):
        LatentStem(0, 16)
    with pytest.raises(WallocError, match="stride is 1 or 2"):
        LatentStem(12, 16, stride=4)


def test_walloc_nn_loads_on_first_use_and_import_walloc_stays_torch_free():
    code = ("import sys, walloc; assert 'torch' not in sys.modules and 'walloc.nn' not in sys.modules; "
            "stem = walloc.nn.LatentStem(12, 8); assert 'walloc.nn' in sys.modules; print(type(stem).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "LatentStem"


def test_a_backbone_trains_on_wlc_shards_end_to_end(tmp_path):
    """The docs' example, small: `walloc latents --shard-size`, LatentDataset, LatentStem + a backbone, a step."""
    from PIL import Image
    from torch import nn

    from walloc.convert import latent_tree

    torch.manual_seed(0)
    for label in ("a", "b"):
        (tmp_path / "src" / "train" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((torch.rand(80, 72, 3) * 255).byte().numpy()).save(tmp_path / "src" / "train" / label / f"{i}.png")
    summary = latent_tree(tmp_path / "src", tmp_path / "lat", model="rgb-16x", size=64, shard_size=4, progress=False)
    assert not summary.failed and sorted(p.name for p in (tmp_path / "lat" / "train").iterdir()) == ["shard-00000.tar", "shard-00001.tar"]
    train = walloc.data.LatentDataset(tmp_path / "lat" / "train")
    backbone = nn.Sequential(nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 2))
    net = nn.Sequential(LatentStem(train, 32), backbone)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x, y = next(iter(DataLoader(train, batch_size=6, shuffle=True)))
    assert x.shape == (6, 12, 8, 8)
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
