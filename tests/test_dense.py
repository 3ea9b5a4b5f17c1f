"""The dense-task path: latents -> latents (walloc.nn.LatentUNet), predicted latents decoded in a batch
(Codec.decode_latents), and (input, target) latent pairs (walloc.features.pairs / file_pairs)."""

import pytest
import torch
from PIL import Image

import walloc
from walloc import features
from walloc.errors import MediaError, WallocError
from walloc.nn import LatentUNet


def _images(n: int, seed: int = 0, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.rand(n, 3, size // 4, size // 4, generator=g), size=(size, size), mode="bilinear")


@pytest.mark.parametrize("model, latents", [("rgb-16x", (2, 12, 8, 8)), ("stereo-5x", (2, 108, 16))])
def test_the_unet_keeps_the_models_latent_layout(model, latents):
    codec = walloc.load(model)
    net = LatentUNet(codec, codec, widths=(16, 32, 32))
    assert net(torch.randn(latents)).shape == latents
    assert LatentUNet(1, 3, widths=(8, 16), dims=2)(torch.randn(1, 1, 13, 9)).shape == (1, 3, 13, 9)  # odd grids
    with pytest.raises(WallocError, match="expects"):
        net(torch.randn(2, 5, *latents[2:]))


def test_batch_decode_equals_decoding_each_item():
    codec = walloc.load("rgb-16x")
    y = features.encode(codec, _images(5), kind="float")
    batch = codec.decode_latents(y, batch_size=2)
    assert batch.shape == (5, 3, 32, 32)
    for i in range(5):
        assert torch.allclose(batch[i], codec.decode_latents(y[i:i + 1])[0], atol=1e-5)
        assert torch.allclose(batch[i], codec.decode(y[i:i + 1])[0], atol=1e-5)


def test_channel_groups_are_decoded_and_cut_to_the_signals_channels():
    """A gray image is one group of three equal channels; decoding gives those back, cut to one."""
    codec = walloc.load("rgb-16x")
    g = features.gray(_images(2))
    y = features.encode(codec, g, kind="float")
    assert y.shape == (2, 12, 4, 4)
    out = codec.decode_latents(y, channels=1)
    assert out.shape == (2, 1, 32, 32)
    assert torch.allclose(out, codec.decode_latents(y)[:, :1])
    assert (out - g).abs().mean() < 0.05  # what went in
    with pytest.raises(MediaError, match="hold 1..3 channels"):
        codec.decode_latents(y, channels=4)
    with pytest.raises(MediaError, match="decodes latents"):
        codec.decode_latents(y[:, :5])


def test_a_loss_on_the_decoded_signal_trains_the_latent_net():
    codec = walloc.load("rgb-16x")
    colour = _images(4)
    x, _ = features.pairs(codec, colour, features.gray)
    net = LatentUNet(codec, codec, widths=(16, 32))
    with pytest.raises(RuntimeError):  # the default decode keeps no graph
        torch.nn.functional.mse_loss(codec.decode_latents(net(x)), colour).backward()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(codec.decode_latents(net(x), grad=True), colour)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for name, p in net.named_parameters():  # (the output layers start at zero: the body's gradients come after a step)
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in codec.net.parameters())  # the codec is not trained
    assert losses[-1] < 0.85 * losses[0], losses  # random images: only their colours to fit


def test_pairs_of_a_transform_and_of_files(tmp_path):
    codec = walloc.load("rgb-16x")
    colour = _images(3, seed=1)
    x, y = features.pairs(codec, colour, features.gray)
    assert x.shape == y.shape == (3, 12, 4, 4)
    assert torch.equal(x, features.encode(codec, features.gray(colour), kind="dequantized"))
    assert torch.equal(y, features.encode(codec, colour, kind="dequantized"))
    paths, grays = [], []
    for i, img in enumerate(colour):
        a = (img.permute(1, 2, 0) * 255).round().byte().numpy()
        Image.fromarray(a).save(tmp_path / f"{i}.png")
        Image.fromarray(a).convert("L").save(tmp_path / f"{i}_gray.png")
        paths.append(tmp_path / f"{i}.png")
        grays.append(tmp_path / f"{i}_gray.png")
    fx, fy = features.file_pairs(codec, paths, transform=features.gray)
    px, py = features.file_pairs(codec, grays, paths)
    assert torch.equal(fy, py) and fx.shape == px.shape == (3, 12, 4, 4)
    assert (fx - px).abs().float().mean() < 1.0  # luma in floats vs luma rounded to 8 bits by Pillow
    with pytest.raises(MediaError, match="not both or neither"):
        features.file_pairs(codec, paths)
    with pytest.raises(MediaError, match="as many targets"):
        features.file_pairs(codec, grays, paths[:2])


def test_a_mixture_holds_its_sources_at_the_ratio_asked():
    g = torch.Generator().manual_seed(0)
    speech, music = torch.randn(3, 1, 4000, generator=g), 5 * torch.randn(3, 1, 4000, generator=g)
    ratios = torch.tensor([-5.0, 0.0, 5.0])
    mix = features.mixture(speech, music, ratios)
    added = mix - speech
    measured = 10 * torch.log10(speech.square().mean((1, 2)) / added.square().mean((1, 2)))
    assert torch.allclose(measured, ratios, atol=1e-3)
    assert torch.equal(features.mixture(speech, torch.zeros_like(music), 0.0), speech)
    codec = walloc.load("stereo-5x")
    x, y = features.pairs(codec, speech.clamp(-1, 1) * 0.1, lambda s: features.mixture(s, music * 0.1, ratios))
    assert x.shape == y.shape == (3, 108, 16)
