"""A model's architecture as its JSON records it: readable without torch (the encoder needs no network)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

EXTENSIONS = ("periodic", "symmetric")  # the wavelet packet's border rules (walloc.wavelet)


def check_extension(extension: str) -> None:
    """Refuse a border rule that is not one of EXTENSIONS (ValueError)."""
    if extension not in EXTENSIONS:
        raise ValueError(f"extension must be one of {', '.join(EXTENSIONS)}, not {extension!r}")


@dataclass(frozen=True)
class NetConfig:
    """Architecture of one model; stored in the model's JSON so the weights can be rebuilt."""

    modality: str                 # "image" (2-D) or "audio" (1-D)
    channels: int                 # signal channels the network codes at once (3 for RGB, 2 stereo)
    levels: int                   # wavelet packet levels J
    latent_dim: int               # latent channels per position
    latent_bits: int = 8          # latents lie in (-2**(b-1), 2**(b-1))
    width: int = 96               # decoder width
    blocks: int = 4               # residual blocks in the decoder
    kernel: int = 3               # decoder kernel size
    qualities: int = 0            # decoder conditioned on this many quantizer steps (0: not conditioned)
    extension: str = "periodic"   # the packet's border rule, one of EXTENSIONS (models before it: periodic)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_extension(self.extension)

    @property
    def dims(self) -> int:
        return 2 if self.modality == "image" else 1

    @property
    def packet_channels(self) -> int:
        return self.channels * (2 ** self.dims) ** self.levels

    @property
    def block_size(self) -> int:
        """Samples per latent position along each axis (2**J)."""
        return 2 ** self.levels

    @property
    def bound(self) -> float:
        return 2.0 ** (self.latent_bits - 1) - 0.5

    @property
    def dim_reduction(self) -> float:
        return self.packet_channels / self.latent_dim

    @property
    def receptive_rows(self) -> int:
        """Latent rows on each side that one output row of the decoder network depends on."""
        return (1 + 2 * self.blocks) * (self.kernel // 2)

    def to_dict(self) -> dict:
        return asdict(self)
