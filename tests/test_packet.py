"""The C++ packet analysis and synthesis (walloc._packet, lifting) against the torch definition in
walloc.wavelet, for both border rules."""

import pytest
import torch

from walloc import tiling, wavelet

_packet = pytest.importorskip("walloc._packet", reason="C++ extension walloc._packet not built (make setup)")
both = pytest.mark.parametrize("extension", ["periodic", "symmetric"])


def native(x: torch.Tensor, levels: int, threads: int = 1, extension: str = "periodic") -> torch.Tensor:
    """The C++ path, called directly (whatever packet1d/packet2d would dispatch to)."""
    dims = x.dim() - 2
    b, c, *size = x.shape
    out = torch.empty(b, c * 2 ** (dims * levels), *(s >> levels for s in size))
    (_packet.packet2d if dims == 2 else _packet.packet1d)(x.numpy(), out.numpy(), levels, threads, extension == "symmetric")
    return out


def inative(x: torch.Tensor, levels: int, threads: int = 1, extension: str = "periodic") -> torch.Tensor:
    """The C++ synthesis, called directly (whatever ipacket1d/ipacket2d would dispatch to)."""
    dims = x.dim() - 2
    b, c, *size = x.shape
    out = torch.empty(b, c >> (dims * levels), *(s << levels for s in size))
    (_packet.ipacket2d if dims == 2 else _packet.ipacket1d)(x.numpy(), out.numpy(), levels, threads, extension == "symmetric")
    return out


def reference(x: torch.Tensor, levels: int, extension: str = "periodic") -> torch.Tensor:
    """The torch definition in float64: the float32 lifting must be within float32 rounding of it."""
    x = x.double()
    return wavelet.packet2d(x, levels, extension) if x.dim() == 4 else wavelet.packet1d(x, levels, extension)


def ireference(x: torch.Tensor, levels: int, extension: str = "periodic") -> torch.Tensor:
    """The torch synthesis in float64."""
    x = x.double()
    return wavelet.ipacket2d(x, levels, extension) if x.dim() == 4 else wavelet.ipacket1d(x, levels, extension)


def assert_close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ours.shape == ref.shape and ours.dtype == torch.float32
    assert (ours.double() - ref).abs().max() <= 1e-5 * ref.abs().max()


@pytest.mark.parametrize("levels", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (3, 5, 1, 1), (2, 1, 3, 5), (1, 3, 4, 6), (1, 1, 16, 2)])
@both
def test_packet2d_matches_torch(levels, shape, extension):
    """shape in latents: (1, 1) is one latent, i.e. a last level of length 2 that wraps more than once."""
    b, c, lh, lw = shape
    x = torch.randn(b, c, lh << levels, lw << levels)
    assert_close(native(x, levels, extension=extension), reference(x, levels, extension))


@pytest.mark.parametrize("levels", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 1), (2, 3, 7), (1, 2, 16)])
@both
def test_packet1d_matches_torch(levels, shape, extension):
    b, c, latents = shape
    x = torch.randn(b, c, latents << levels)
    assert_close(native(x, levels, extension=extension), reference(x, levels, extension))


def test_non_contiguous_input():
    """Channels-last images, strided views and broadcast channels are read in place."""
    hwc = torch.rand(1, 48, 40, 3)
    for x in (hwc.permute(0, 3, 1, 2), torch.rand(2, 3, 64, 80)[:, :, ::2, 1::2], torch.rand(1, 1, 24, 16).expand(2, 3, 24, 16)):
        assert not x.is_contiguous()
        assert_close(native(x, 3), reference(x, 3))
    a = torch.rand(3, 2, 1024).transpose(0, 1)
    assert_close(native(a, 5), reference(a, 5))


def test_dispatch_and_round_trip():
    """packet2d/packet1d take the C++ path for plain CPU float32 and invert through ipacket."""
    x = torch.rand(2, 3, 40, 56)
    assert torch.equal(wavelet.packet2d(x, 3), native(x, 3))
    assert (wavelet.ipacket2d(wavelet.packet2d(x, 3), 3) - x).abs().max() < 1e-5
    a = torch.rand(2, 2, 4096) * 2 - 1
    assert torch.equal(wavelet.packet1d(a, 8), native(a, 8))
    assert (wavelet.ipacket1d(wavelet.packet1d(a, 8), 8) - a).abs().max() < 1e-5


def test_autograd_keeps_torch_path():
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    y = wavelet.packet2d(x, 2)
    assert y.requires_grad
    y.sum().backward()
    with torch.no_grad():  # no graph wanted: the C++ path is fine again
        assert torch.equal(wavelet.packet2d(x, 2), native(x.detach(), 2))


def test_threads_do_not_change_results():
    x = torch.randn(3, 5, 32, 24)
    out = torch.empty(3, 5 * 64, 4, 3)
    _packet.packet2d(x.numpy(), out.numpy(), 3, threads=4)
    assert torch.equal(out, native(x, 3))


def test_rejects_bad_arguments():
    x = torch.rand(1, 1, 12, 16)
    with pytest.raises(ValueError, match="multiple of 2"):
        _packet.packet2d(x.numpy(), torch.empty(1, 64, 1, 2).numpy(), 3)
    with pytest.raises(ValueError, match="wrong shape"):
        _packet.packet2d(x.numpy(), torch.empty(1, 16, 3, 3).numpy(), 2)
    with pytest.raises(TypeError, match="float32"):
        _packet.packet1d(torch.rand(1, 1, 8, dtype=torch.float64).numpy(), torch.empty(1, 2, 4).numpy(), 1)


@pytest.mark.parametrize("dims, shape, levels", [(2, (1, 3, 64, 96), 3), (2, (2, 5, 8, 24), 3), (2, (3, 1, 4, 4), 2),
                                                 (1, (2, 2, 4096), 8), (1, (3, 1, 6), 1)])
@both
def test_fused_encoder_matches_packet_then_conv(dims, shape, levels, extension):
    """packet_conv (C++: packet and 1x1 projection fused) == conv(packet(x)) of the torch definition."""
    x = torch.randn(shape)
    p = shape[1] * 2 ** (dims * levels)
    w, b = torch.randn(7, p, *(1,) * dims) / p ** 0.5, torch.randn(7)
    with torch.no_grad():
        z = wavelet.packet_conv(x, levels, w, b, extension)
        conv = torch.nn.functional.conv2d if dims == 2 else torch.nn.functional.conv1d
        ref = conv(reference(x, levels, extension), w.double(), b.double())
    assert_close(z, ref)
    if dims == 2:  # channels-last input, and threads: the same floats
        hwc = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
        out = torch.empty_like(z)
        _packet.encode2d(hwc.numpy(), w.reshape(7, -1).numpy(), b.numpy(), out.numpy(), levels, threads=3,
                         symmetric=extension == "symmetric")
        assert torch.equal(out, z)


@pytest.mark.parametrize("dtype, shape, levels", [(torch.uint8, (2, 3, 32, 48), 3), (torch.int16, (1, 2, 65536), 4)])
def test_fused_encoder_reads_integer_samples(dtype, shape, levels):
    """uint8 / int16 samples give exactly the floats of tiling.to_float(x), every sample value included."""
    info = torch.iinfo(dtype)
    x = torch.randint(info.min, info.max + 1, shape, dtype=dtype)
    values = torch.arange(info.min, info.max + 1).to(dtype)
    x.view(-1)[: values.numel()] = values[torch.randperm(values.numel())]
    if dtype == torch.uint8:  # as images arrive: channels-last memory
        x = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    dims = x.dim() - 2
    p = shape[1] * 2 ** (dims * levels)
    w, b = torch.randn(5, p, *(1,) * dims) / p ** 0.5, torch.randn(5)
    assert wavelet.reads_samples(x)
    with torch.no_grad():
        assert torch.equal(wavelet.packet_conv(x, levels, w, b), wavelet.packet_conv(tiling.to_float(x), levels, w, b))
    with pytest.raises(TypeError, match="float32, uint8 or int16"):
        _packet.encode2d(torch.zeros(1, 1, 4, 4, dtype=torch.int32).numpy(), w.reshape(5, -1)[:, :16].contiguous().numpy(),
                         b.numpy(), torch.empty(1, 5, 1, 1).numpy(), 2)


# -- synthesis -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("levels", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (3, 5, 1, 1), (2, 1, 3, 5), (1, 3, 4, 6), (1, 1, 16, 2)])
@both
def test_ipacket2d_matches_torch(levels, shape, extension):
    """shape in latents, as for the analysis: (1, 1) is one latent, a first synthesis level of length 2."""
    b, c, lh, lw = shape
    x = torch.randn(b, c * 4 ** levels, lh, lw)
    assert_close(inative(x, levels, extension=extension), ireference(x, levels, extension))


@pytest.mark.parametrize("levels", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 1), (2, 3, 7), (1, 2, 16)])
@both
def test_ipacket1d_matches_torch(levels, shape, extension):
    b, c, latents = shape
    x = torch.randn(b, c * 2 ** levels, latents)
    assert_close(inative(x, levels, extension=extension), ireference(x, levels, extension))


def test_synthesis_reads_non_contiguous_coefficients():
    """Channels-last coefficients, strided views and broadcast ones are read in place."""
    hwc = torch.randn(2, 5, 7, 3 * 64)
    for x in (hwc.permute(0, 3, 1, 2), torch.randn(1, 3 * 64, 8, 12)[:, :, ::2, 1::3],
              torch.randn(1, 64, 3, 1).expand(3, 64, 3, 5), torch.randn(2, 6 * 64, 3, 3)[:, ::2]):
        assert not x.is_contiguous()
        assert_close(inative(x, 3), ireference(x, 3))
    a = torch.randn(5, 2 * 32, 3).permute(2, 1, 0)
    assert_close(inative(a, 5), ireference(a, 5))


@pytest.mark.parametrize("dims, shape, levels", [(2, (2, 3, 40, 56), 3), (2, (1, 1, 16, 16), 4), (2, (3, 5, 8, 8), 3),
                                                 (1, (2, 2, 4096), 8), (1, (3, 1, 2), 1)])
@both
def test_native_round_trip(dims, shape, levels, extension):
    """C++ analysis then C++ synthesis is the identity up to float32 rounding, one latent included."""
    x = torch.randn(shape)
    coefficients = native(x, levels, extension=extension)
    assert (inative(coefficients, levels, extension=extension) - x).abs().max() <= 1e-5 * x.abs().max()


def test_synthesis_dispatch_and_autograd():
    """ipacket2d/ipacket1d take the C++ path for plain CPU float32; autograd keeps the torch definition."""
    c = torch.randn(2, 3 * 64, 5, 7)
    assert torch.equal(wavelet.ipacket2d(c, 3), inative(c, 3))
    a = torch.randn(2, 2 * 256, 16)
    assert torch.equal(wavelet.ipacket1d(a, 8), inative(a, 8))
    leaf = c.clone().requires_grad_()
    y = wavelet.ipacket2d(leaf, 3)
    assert y.requires_grad
    w = torch.randn(y.shape)
    (y * w).sum().backward()
    ref = c.double().requires_grad_()
    (wavelet.ipacket2d(ref, 3) * w.double()).sum().backward()
    assert_close(leaf.grad, ref.grad)
    with torch.no_grad():
        assert torch.equal(wavelet.ipacket2d(leaf, 3), inative(c, 3))


def test_synthesis_threads_do_not_change_results():
    c = torch.randn(3, 5 * 64, 4, 3)
    assert torch.equal(inative(c, 3, threads=4), inative(c, 3))
    a = torch.randn(3, 3 * 16, 9)
    assert torch.equal(inative(a, 4, threads=3), inative(a, 4))


def test_synthesis_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"multiple of 4\*\*levels"):
        _packet.ipacket2d(torch.rand(1, 6, 2, 2).numpy(), torch.empty(1, 1, 4, 4).numpy(), 1)
    with pytest.raises(ValueError, match="wrong shape"):
        _packet.ipacket2d(torch.rand(1, 16, 2, 2).numpy(), torch.empty(1, 1, 4, 8).numpy(), 2)
    with pytest.raises(ValueError, match=r"multiple of 2\*\*levels"):
        _packet.ipacket1d(torch.rand(1, 6, 2).numpy(), torch.empty(1, 1, 16).numpy(), 2)
