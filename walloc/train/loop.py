"""Training: PCA start, rate-distortion training under noise, checkpoints, export to models/.

The loss is distortion (MSE) plus lambda times the code length that the learned density assigns
to the noisy latents. The quantizer step is drawn per batch from [1, step_max] half of the time, so
one model serves several rates: each shipped quality is one step, with its own frozen tables.

A second stage (``start_from`` a released model, ``decoder_only``) trains what noise cannot teach:
with the encoder and the density frozen (so every rate and table stays as it was), the decoder sees
the rounded latents it gets when decoding, at the shipped steps, and (if its net has per-quality
gains) is told which step it got.

Or a whole model is trained again from a released one (``start_from`` without ``decoder_only``),
with ``rate = "context"`` (:mod:`walloc.train.rate`: the bits the context coder spends, not the
factorized density's) and ``mixed`` quantization: the rate of noisy latents, and the decoder fed the
latents rounded at a shipped step (straight through, so the encoder learns from it too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..entropy import FactorizedDensity
from ..errors import WallocError
from ..model import NetConfig, WallocNet
from ..stream import dequantize, quantize
from ..tables import Quality
from .data import AudioSegments, ImageCrops
from .rate import ContextRate

RATES = ("factorized", "context")
RATE_LR = 1e-2  # the stand-in's few numbers per channel must follow the latents faster than the network moves


class ConfigError(WallocError):
    """A training config cannot be read, or names fields that are missing, unknown or out of range."""


def _check_fields(kind: type, table: dict, where: str) -> None:
    """Unknown and missing fields of a dataclass's table, named in one line instead of a TypeError."""
    fields = dataclasses.fields(kind)
    unknown = sorted(set(table) - {f.name for f in fields})
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(f.name for f in fields)})")
    missing = [f.name for f in fields if f.name not in table
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {', '.join(missing)}")


@dataclass
class TrainConfig:
    name: str
    net: NetConfig
    folders: list[str]
    exclude: list[str] = field(default_factory=list)
    crop: int = 256              # image crop side, or audio segment length in samples
    batch: int = 8
    steps: int = 10000
    minutes: float = 1e9         # wall-clock budget; training stops at whichever comes first
    lr: float = 1e-3
    lmbda: float = 1e-3          # weight of bits per sample against MSE
    init_step: float = 0.05      # PCA coefficient step that a latent step of 1 starts as
    step_max: float = 4.0
    qualities: list[float] = field(default_factory=lambda: [4.0, 2.0, 1.0])  # steps, worst first
    checkpoint_minutes: float = 5.0
    seed: int = 0
    default: bool = False        # export as the default model of its modality
    default_quality: int = 0     # quality used when none is asked for (0: the highest)
    eval_folders: list[str] = field(default_factory=list)  # measured at export, never trained on
    eval_include: list[str] = field(default_factory=list)  # keep only eval files whose name has one of these
    val_folders: list[str] = field(default_factory=list)   # held-out data for periodic validation
    val_every: int = 500
    notes: str = ""              # targets and how the model meets them: copied to its card
    start_from: str = ""         # "NAME@VERSION": start from that released model's weights, not PCA
    decoder_only: bool = False   # train only the decoder, on rounded latents (needs start_from)
    balance_qualities: bool = False  # decoder_only: minimise log MSE, so that every step's error counts alike
    source: str = ""             # the TOML file it was read from, as the model card names it
    polarity: bool = False       # audio: flip the sign of half the segments (and start from a zero mean)
    rate: str = "factorized"     # what lambda prices: "factorized" (the density) or "context" (the coder's stand-in)
    mixed: bool = False          # decoder fed latents rounded at a shipped step (straight through); rate on noise
    downscale: list[int] = field(default_factory=lambda: [1])  # image: each image also box-averaged by these factors
    sample_rate: int = 0         # audio: resample every training clip to this rate in Hz (0: as they are)
    join_short: bool = False     # audio: join clips shorter than a segment end to end instead of leaving them out
    level_db: list[float] = field(default_factory=list)  # audio: [low, high] dBFS RMS each segment is scaled to (empty: a gain of 0.5-1.5)
    target_rms_db: float = 0.0   # audio: the encoder brings every stream near this RMS level in dBFS, up or down (0: down only, as before)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """A config from TOML; folders are relative to the repository root (configs/ sits in it)."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except OSError as e:
            raise ConfigError(f"cannot read {path}: {e.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid TOML ({e})") from None
        if not isinstance(raw.get("net"), dict):
            raise ConfigError(f"{path}: no [net] table (the model's architecture)")
        net = raw.pop("net")
        _check_fields(NetConfig, net, f"{path} [net]")
        _check_fields(cls, {**raw, "net": net}, str(path))
        if "source" in raw:
            raise ConfigError(f"{path}: 'source' is set from the file's own name, not in it")
        if net["modality"] not in ("image", "audio"):
            raise ConfigError(f"{path} [net]: modality must be \"image\" or \"audio\", not {net['modality']!r}")
        base = path.resolve().parent.parent
        for key in ("folders", "eval_folders", "val_folders"):
            folders = raw.get(key, [])
            if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
                raise ConfigError(f"{path}: {key} must be a list of folder names")
            raw[key] = [str((base / f).resolve()) for f in folders]
        try:
            net = NetConfig(**net)
        except ValueError as e:
            raise ConfigError(f"{path} [net]: {e}") from None
        source = path.resolve()
        cfg = cls(net=net, source=str(source.relative_to(base)) if source.is_relative_to(base) else source.name, **raw)
        if cfg.balance_qualities and not cfg.decoder_only:
            raise ConfigError(f"{path}: balance_qualities applies to decoder_only training")
        if cfg.decoder_only and not cfg.start_from:
            raise ConfigError(f"{path}: decoder_only needs start_from (the model whose encoder stays)")
        if cfg.rate not in RATES:
            raise ConfigError(f"{path}: rate must be one of {', '.join(RATES)}, not {cfg.rate!r}")
        if cfg.decoder_only and (cfg.rate != "factorized" or cfg.mixed):
            raise ConfigError(f"{path}: decoder_only keeps the encoder's rates: rate and mixed do not apply")
        if cfg.polarity and cfg.net.modality != "audio":
            raise ConfigError(f"{path}: polarity is an audio augmentation; this is an image model")
        audio_only = [k for k in ("sample_rate", "join_short", "level_db", "target_rms_db") if k in raw]
        if audio_only and cfg.net.modality != "audio":
            raise ConfigError(f"{path}: {', '.join(audio_only)} apply to audio models; this is an image model")
        if "downscale" in raw and (cfg.net.modality != "image" or not cfg.downscale or min(cfg.downscale) < 1):
            raise ConfigError(f"{path}: downscale is a list of box factors >= 1 for image models, not {cfg.downscale}")
        if cfg.level_db and not (len(cfg.level_db) == 2 and cfg.level_db[0] <= cfg.level_db[1] < 0):
            raise ConfigError(f"{path}: level_db must be [low, high] dBFS with low <= high < 0, not {cfg.level_db}")
        if cfg.target_rms_db > 0 or cfg.sample_rate < 0:
            raise ConfigError(f"{path}: target_rms_db must be below 0 dBFS and sample_rate positive (or 0 for neither)")
        if cfg.net.qualities not in (0, len(cfg.qualities)):
            raise ConfigError(f"{path} [net]: qualities must be 0 or the number of qualities ({len(cfg.qualities)})")
        return cfg


def make_data(cfg: TrainConfig):
    if cfg.net.modality == "image":
        return ImageCrops(cfg.folders, cfg.crop, cfg.exclude, cfg.net.channels, cfg.downscale)
    return AudioSegments(cfg.folders, cfg.crop, cfg.exclude, cfg.net.channels, cfg.polarity, cfg.sample_rate,
                         cfg.join_short, tuple(cfg.level_db) if cfg.level_db else None)


@torch.no_grad()
def pca_init(net: WallocNet, data, cfg: TrainConfig, rng: np.random.Generator, batches: int = 16) -> None:
    """Set the encoder and the linear decoder to the KLT of the packet coefficients."""
    coeffs = []
    for _ in range(batches):
        c = net.analysis(data.batch(cfg.batch, rng))
        coeffs.append(c.transpose(0, 1).reshape(c.shape[1], -1))
    c = torch.cat(coeffs, dim=1).double()
    if cfg.polarity:  # both signs of every segment: the mean is exactly zero (no constant for the decoder to add)
        c = torch.cat([c, -c], dim=1)
    mean = c.mean(dim=1)
    cov = torch.cov(c)
    _, vecs = torch.linalg.eigh(cov)
    components = vecs[:, -cfg.net.latent_dim:].flip(-1).t()  # largest variance first
    # one step for every component (optimal at high rate), widened where a component would
    # otherwise run into the flat tails of the Gaussian CDF
    spread = (components.double() @ c.sub(mean[:, None])).std(dim=1)
    scale = (2.0 * spread).clamp_min(cfg.init_step * cfg.net.bound * math.sqrt(2 / math.pi))
    net.init_linear(components.float(), mean.float(), scale.float())


def start_weights(net: WallocNet, density: FactorizedDensity, spec: str) -> None:
    """Load released model ``NAME@VERSION`` into net (grown to its depth) and density."""
    from .. import zoo

    name, _, version = spec.partition("@")
    if not version.isdigit():
        raise ConfigError(f"start_from must be NAME@VERSION, not {spec!r}")
    folder = zoo.MODEL_DIR / zoo.RELEASES / f"{name}@{version}"
    if not folder.exists():  # not archived yet: the current version, if it is that one
        folder = zoo.MODEL_DIR
        if zoo.version_of(zoo.load_tables(name, folder, context=False).config) != int(version):
            raise ConfigError(f"start_from {spec}: no such released version in {zoo.MODEL_DIR}")
    _, old, old_density, _ = zoo.load_parts(name, folder, context=False)
    if (old.cfg.levels, old.cfg.latent_dim, old.cfg.width) != (net.cfg.levels, net.cfg.latent_dim, net.cfg.width):
        raise ConfigError(f"start_from {spec}: its packet, latents or width differ from this config's")
    net.grow_from(old.state_dict())
    density.load_state_dict(old_density.state_dict())


def rounded_batch(net: WallocNet, x: torch.Tensor, qualities: list[Quality],
                  rng: np.random.Generator) -> tuple[torch.Tensor, Quality]:
    """Latents of x rounded by the stream layer's own quantizer at a shipped quality drawn at random;
    returns them and the quality."""
    q = qualities[int(rng.integers(len(qualities)))]
    with torch.no_grad():
        return dequantize(quantize(net.encode(x), q), q), q


def _distributed() -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank() if world > 1 else 0), world


def _average_gradients(params: list[torch.Tensor], world: int) -> None:
    """Data parallelism: every rank steps with the mean of all ranks' gradients."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world
    for p, g in zip(params, flat.split([g.numel() for g in grads])):
        p.grad = g.view_as(p)


def weights_digest(*modules: torch.nn.Module) -> str:
    """SHA-256 over all parameters and buffers: equal digests mean bit-identical weights."""
    h = hashlib.sha256()
    for m in modules:
        for v in m.state_dict().values():
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def validate(net: WallocNet, density: FactorizedDensity, batch: torch.Tensor, step: float = 1.0,
             quality: int | None = None) -> tuple[float, float]:
    """Real rounding at ``step`` on a fixed batch: (PSNR dB, bits per sample from the density);
    ``quality`` tells a conditioned decoder the step."""
    y = torch.round(net.encode(batch) / step) * step
    mse = torch.mean((net.decode(y, quality).clamp(-1, 1) - batch) ** 2).item()
    return -10 * math.log10(max(mse, 1e-12)), density.bits(y, step).item() / batch.numel()


def _models(cfg: TrainConfig) -> tuple[WallocNet, FactorizedDensity, ContextRate | None, list[Quality] | None]:
    """What a run trains: the network and density (from a release with ``start_from``), the context
    rate's stand-in (``rate = "context"``), and for decoder-only training the shipped qualities, with
    the encoder and density frozen so that rates, tables and streams stay those of the release."""
    net, density = WallocNet(cfg.net), FactorizedDensity(cfg.net.latent_dim)
    if cfg.start_from:
        start_weights(net, density, cfg.start_from)
    shipped = None
    if cfg.decoder_only:
        for p in (p for m in (density, net.encoder) for p in m.parameters()):
            p.requires_grad_(False)
        shipped = [Quality(i, s, density.freeze(s, cfg.net.bound)) for i, s in enumerate(cfg.qualities, start=1)]
    return net, density, ContextRate(cfg.net.latent_dim) if cfg.rate == "context" else None, shipped


def _optimizer(cfg: TrainConfig, net: WallocNet, density: FactorizedDensity,
               rate: ContextRate | None) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR, list[torch.Tensor]]:
    """Adam over what trains (the stand-in at its own rate), a cosine schedule, and the parameters."""
    groups = [{"params": [p for p in list(net.parameters()) + list(density.parameters()) if p.requires_grad]}]
    if rate:
        groups.append({"params": list(rate.parameters()), "lr": RATE_LR})
    opt = torch.optim.Adam(groups, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / cfg.steps, 1.0))))
    return opt, sched, [p for g in groups for p in g["params"]]


# A loss: (batch, rng) -> (loss, MSE, bits per sample, quantizer step), the rng drawn in the same order by every regime's steps.
Loss = Callable[[torch.Tensor, np.random.Generator], tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]]


def decoder_loss(net: WallocNet, density: FactorizedDensity, shipped: list[Quality], balance: bool) -> Loss:
    """Decoder-only training: the decoder sees latents rounded at a shipped quality drawn at random (and
    is told which); the density is frozen, its bits only reported."""
    def loss(x: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        y_hat, q = rounded_batch(net, x, shipped, rng)
        mse = torch.mean((net.decode(y_hat, q.quality) - x) ** 2)
        with torch.no_grad():
            bits_per_sample = density.bits(y_hat, q.step) / x.numel()
        # the coarsest step's errors are many times the finest's (20x for audio): plain MSE would
        # train the decoder for the coarse step alone, and the log weighs relative errors alike
        return (torch.log(mse) if balance else mse), mse, bits_per_sample, q.step

    return loss


def _noisy(net: WallocNet, x: torch.Tensor, cfg: TrainConfig,
           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Whole-model training's pass: (noisy latents, the decoder's MSE, the step). The step is drawn from
    [1, step_max] (half of the time 1), or with ``mixed`` a shipped one whose rounded latents the decoder
    gets (straight through), told the quality where its net has per-quality gains."""
    told = None
    if cfg.mixed:
        i = int(rng.integers(len(cfg.qualities)))
        s, told = cfg.qualities[i], (i + 1 if cfg.net.qualities else None)
    else:
        s = 1.0 if rng.random() < 0.5 else float(np.exp(rng.uniform(0, math.log(cfg.step_max))))
    y = net.encode(x)
    y_noisy = y + s * (torch.rand_like(y) - 0.5)
    y_in = y + (torch.round(y / s) * s - y).detach() if cfg.mixed else y_noisy  # rounded, straight through
    return y_noisy, torch.mean((net.decode(y_in, told) - x) ** 2), s


def factorized_loss(cfg: TrainConfig, net: WallocNet, density: FactorizedDensity) -> Loss:
    """Rate-distortion under noise, the rate priced by the factorized density."""
    def loss(x: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        y_noisy, mse, s = _noisy(net, x, cfg, rng)
        bits_per_sample = density.bits(y_noisy, s) / x.numel()
        return mse + cfg.lmbda * bits_per_sample, mse, bits_per_sample, s

    return loss


def context_loss(cfg: TrainConfig, net: WallocNet, density: FactorizedDensity, rate: ContextRate) -> Loss:
    """Rate-distortion under noise, the rate priced by the context coder's stand-in; the density still
    learns the latents apart (its tables ship for the factorized coder)."""
    def loss(x: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        y_noisy, mse, s = _noisy(net, x, cfg, rng)
        bits_per_sample = rate.bits(y_noisy, s) / x.numel()
        return mse + cfg.lmbda * (bits_per_sample + density.bits(y_noisy.detach(), s) / x.numel()), mse, bits_per_sample, s

    return loss


def regime_loss(cfg: TrainConfig, net: WallocNet, density: FactorizedDensity, rate: ContextRate | None,
                shipped: list[Quality] | None) -> Loss:
    """The loss of the config's regime: decoder only, or the whole model against the factorized or the context rate."""
    if cfg.decoder_only:
        return decoder_loss(net, density, shipped, cfg.balance_qualities)
    return factorized_loss(cfg, net, density) if rate is None else context_loss(cfg, net, density, rate)


def train(cfg: TrainConfig, workdir: str | Path, resume: bool = False, progress: bool = True) -> tuple[WallocNet, FactorizedDensity, dict]:
    """Train (or resume); returns the network, its density and what the run took.

    Under torchrun every rank trains on its own batches and steps with the averaged gradients;
    rank 0 alone writes checkpoints and logs. A single-process ``--resume`` continues exactly.
    """
    rank, world = _distributed()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)          # the same on every rank: identical PCA start
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt = workdir / "checkpoint.pt"
    data = make_data(cfg)
    val = make_data(dataclasses.replace(cfg, folders=cfg.val_folders)).batch(cfg.batch, np.random.default_rng(1)) if cfg.val_folders else None
    net, density, rate, shipped = _models(cfg)
    opt, sched, params = _optimizer(cfg, net, density, rate)
    step, elapsed = 0, 0.0
    if resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)  # our own checkpoint, never a shipped model
        net.load_state_dict(state["net"]), density.load_state_dict(state["density"])
        if rate:
            rate.load_state_dict(state["rate"])
        opt.load_state_dict(state["opt"]), sched.load_state_dict(state["sched"])
        step, elapsed = state["step"], state["elapsed"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
    else:
        if not cfg.start_from:
            pca_init(net, data, cfg, rng)
        if rate:
            with torch.no_grad():
                sample = [net.encode(data.batch(cfg.batch, rng)) for _ in range(4)]
            print(f"context rate stand-in fitted: {rate.fit(sample, cfg.qualities):.3f} bits per latent", file=sys.stderr)
    if world > 1:  # each rank draws its own batches from here on
        rng = np.random.default_rng([cfg.seed, rank, step])
        torch.manual_seed(cfg.seed * 1000 + rank)

    def save() -> None:
        if rank:
            return
        state = {"net": net.state_dict(), "density": density.state_dict(), "opt": opt.state_dict(),
                 "sched": sched.state_dict(), "step": step, "elapsed": elapsed,
                 "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "threads": torch.get_num_threads(),
                 **({"rate": rate.state_dict()} if rate else {})}
        torch.save(state, workdir / "checkpoint.tmp")
        (workdir / "checkpoint.tmp").replace(ckpt)

    start, last_save = time.time() - elapsed, time.time()
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress or rank > 0, dynamic_ncols=True, desc=cfg.name)
    log = open(workdir / "log.tsv", "a") if rank == 0 else None
    loss_of = regime_loss(cfg, net, density, rate, shipped)
    while step < cfg.steps and elapsed < cfg.minutes * 60:
        x = data.batch(cfg.batch, rng)
        loss, mse, bits_per_sample, s = loss_of(x, rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if world > 1:
            _average_gradients(params, world)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        elapsed = time.time() - start
        psnr = -10 * math.log10(max(mse.item(), 1e-12))
        bar.set_postfix(loss=f"{loss.item():.2e}", q_step=f"{s:.2f}", bits=f"{bits_per_sample.item() * cfg.net.channels:.3f}",
                        psnr=f"{psnr:.2f}", refresh=False)
        bar.update()
        if log and step % 50 == 0:
            log.write(f"{step}\t{elapsed:.0f}\t{s:.3f}\t{mse.item():.6g}\t{bits_per_sample.item():.5f}\t{psnr:.3f}\n")
            log.flush()
        if log and val is not None and step % cfg.val_every == 0:
            vpsnr, vbits = validate(net, density, val, cfg.qualities[-1], len(cfg.qualities) if cfg.net.qualities else None)
            bar.write(f"step {step}: validation PSNR {vpsnr:.2f} dB at {vbits * cfg.net.channels:.3f} bits per position", file=sys.stderr)
            log.write(f"# validation\t{step}\t{vpsnr:.3f}\t{vbits:.5f}\n")
        if time.time() - last_save > cfg.checkpoint_minutes * 60:
            save()
            last_save = time.time()
    bar.close()
    save()
    if log:
        log.close()
    if world > 1:
        (workdir / f"rank{rank}.sha256").write_text(weights_digest(net, density) + "\n")
        dist.barrier()
    return net, density, _stats(cfg, step, elapsed, torch.get_num_threads() * world)


def _stats(cfg: TrainConfig, step: int, elapsed: float, threads: int) -> dict:
    return {"steps": step, "minutes": round(elapsed / 60, 1), "batch": cfg.batch, "crop": cfg.crop,
            "lmbda": cfg.lmbda, "threads": threads, "decoder_only": cfg.decoder_only, "rate": cfg.rate, "mixed": cfg.mixed}


def load_trained(cfg: TrainConfig, workdir: str | Path) -> tuple[WallocNet, FactorizedDensity, dict]:
    """The network and density of a run's last checkpoint, for export without training."""
    ckpt = Path(workdir) / "checkpoint.pt"
    if not ckpt.exists():
        raise FileNotFoundError(f"no checkpoint in {workdir}")
    state = torch.load(ckpt, weights_only=False)  # our own checkpoint, never a shipped model
    net, density = WallocNet(cfg.net), FactorizedDensity(cfg.net.latent_dim)
    net.load_state_dict(state["net"]), density.load_state_dict(state["density"])
    return net, density, _stats(cfg, state["step"], state["elapsed"], state.get("threads", 1))
