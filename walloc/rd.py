"""Rate-distortion sweeps: every codec at a sweep of qualities over a set of files, measured alike.

The data path of a sweep is: read each file once -> for every codec and quality, ``encode`` to the
bytes a user would store (timed) -> ``decode`` those bytes back (timed) -> score against the input.
Rates come from the real byte counts; nothing is estimated.

Codecs are adapters with one small interface, so the CLI (``walloc rd``) and the benchmarks call the
same code:

* image codecs take and return 8-bit RGB pixels, a (H, W, 3) uint8 array: every codec starts from the
  pixels of the decoded PNG and must give pixels back (WaLLoC's conversion to and from floats is
  inside its timed calls). Images of other channel counts or bit depths are compared as 8-bit RGB.
* audio codecs take and return float32 samples (C, L) in [-1, 1] at the file's sample rate.

Peers: Pillow's JPEG, WebP, JPEG 2000 and AVIF; JPEG XL through imagecodecs (or the pillow-jxl
plugin); Opus and MP3 through libsndfile (soundfile). A codec whose library is missing is reported in
``skipped`` with the reason, never silently dropped.
"""

from __future__ import annotations

import io as _io
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import numpy as np
import torch

from . import io, metrics
from .errors import MediaError, ModelError, WallocError


class CodecUnavailable(WallocError):
    """A codec cannot run here (library missing, or it cannot code this input); the sweep skips it."""


# ------------------------------------------------------------------------------------------------
# image codecs: encode((H, W, 3) uint8, quality) -> bytes; decode(bytes) -> (H, W, 3) uint8


class SweepCodec:
    """What every codec of a sweep describes itself with (the modality bases add encode/decode)."""

    modality = ""
    name = ""
    qualities: Sequence[float] = ()
    quality_meaning = ""
    library = ""


class ImageCodec(SweepCodec):
    modality = "image"

    def encode(self, pixels: np.ndarray, quality) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError


class _WallocModel:
    """A shipped WaLLoC model through its public compress/decompress API (mixed into a modality base)."""

    quality_meaning = "model quality level"
    modality = ""

    def __init__(self, model, threads: int = 1):
        """``model``: a shipped model's name, or a loaded :class:`walloc.codec.Codec`."""
        import walloc

        self.codec = walloc.load(model) if isinstance(model, str) else model
        if self.codec.modality != self.modality:
            raise CodecUnavailable(f"model '{self.codec.name}' codes {self.codec.modality}, not {self.modality}")
        self.name = f"walloc:{self.codec.name}"
        self.qualities = tuple(self.codec.qualities)
        self.library = f"walloc {walloc.__version__}, model sha256 {self.codec.sha256[:12]}"


class WallocImage(_WallocModel, ImageCodec):
    modality = "image"

    def encode(self, pixels: np.ndarray, quality) -> bytes:
        # uint8 as it is: the encoder reads the samples itself, with no float copy of the image
        return self.codec.compress(torch.from_numpy(pixels).permute(2, 0, 1), int(quality))

    def decode(self, data: bytes) -> np.ndarray:
        y = self.codec.decompress(data)
        return y.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


class PillowImage(ImageCodec):
    """One of Pillow's built-in formats, with the save options that select its quality."""

    FORMATS = {
        # name: (Pillow format, feature to check, quality sweep, meaning, options for one quality)
        "jpeg": ("JPEG", "jpg", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), "Pillow quality (libjpeg, 4:2:0)",
                 lambda q, t: {"quality": int(q)}),
        "webp": ("WEBP", "webp", (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), "Pillow quality (libwebp, method 4)",
                 lambda q, t: {"quality": int(q)}),
        "jpeg2000": ("JPEG2000", "jpg_2000", (240, 160, 96, 64, 48, 32, 24, 16, 12, 8),
                     "compression ratio (OpenJPEG, 9/7 wavelet)",
                     lambda q, t: {"quality_mode": "rates", "quality_layers": [float(q)], "irreversible": True}),
        "avif": ("AVIF", "avif", (10, 20, 30, 40, 50, 60, 70, 80, 90), "Pillow quality (libavif, speed 6, 4:2:0)",
                 lambda q, t: {"quality": int(q), "max_threads": t}),
    }

    def __init__(self, name: str, threads: int = 1):
        from PIL import features

        fmt, feature, qualities, meaning, options = self.FORMATS[name]
        if not features.check(feature):
            raise CodecUnavailable(f"this Pillow was built without {fmt} support")
        if name == "avif":
            from PIL import AvifImagePlugin  # decoding threads are a module setting

            AvifImagePlugin.DEFAULT_MAX_THREADS = threads
        self.name, self.format, self.qualities, self.quality_meaning = name, fmt, qualities, meaning
        self.options, self.threads = options, threads
        self.library = f"Pillow {_version('PIL')} ({features.version(feature) or 'built in'})"

    def encode(self, pixels: np.ndarray, quality) -> bytes:
        from PIL import Image

        buf = _io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buf, format=self.format, **self.options(quality, self.threads))
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        from PIL import Image

        with Image.open(_io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))


class JpegXL(ImageCodec):
    """JPEG XL (libjxl) through imagecodecs, or through the pillow-jxl plugin if that is what is here."""

    name = "jpegxl"
    qualities = (12.0, 8.0, 6.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.7, 0.5)
    quality_meaning = "butteraugli distance (libjxl, effort 7), lower is better"

    def __init__(self, threads: int = 1):
        self.threads = threads
        try:
            import imagecodecs

            if not imagecodecs.JPEGXL.available:
                raise ImportError
            self.backend = imagecodecs
            self.library = f"imagecodecs {imagecodecs.__version__}"
            return
        except (ImportError, AttributeError):
            pass
        try:
            import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)
        except ImportError:
            raise CodecUnavailable("needs imagecodecs (pip install imagecodecs) or pillow-jxl-plugin") from None
        self.backend = None
        self.library = f"pillow-jxl-plugin {_version('pillow_jxl')}"

    def encode(self, pixels: np.ndarray, quality) -> bytes:
        if self.backend is not None:
            return bytes(self.backend.jpegxl_encode(pixels, distance=float(quality), numthreads=self.threads))
        from PIL import Image

        buf = _io.BytesIO()  # the plugin takes a quality: invert libjxl's distance = 0.1 + 0.09 (100 - quality)
        q = 100 - (float(quality) - 0.1) / 0.09
        Image.fromarray(pixels, "RGB").save(buf, format="JXL", quality=max(0, min(100, int(round(q)))))
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        if self.backend is not None:
            return np.asarray(self.backend.jpegxl_decode(data, numthreads=self.threads))
        from PIL import Image

        with Image.open(_io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))


# ------------------------------------------------------------------------------------------------
# audio codecs: encode((C, L) float32, rate, quality) -> bytes; decode(bytes, rate, length) -> (C, L)


class AudioCodec(SweepCodec):
    modality = "audio"

    def encode(self, samples: np.ndarray, rate: int, quality) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes, rate: int) -> np.ndarray:
        raise NotImplementedError


class WallocAudio(_WallocModel, AudioCodec):
    modality = "audio"

    def encode(self, samples: np.ndarray, rate: int, quality) -> bytes:
        return self.codec.compress(torch.from_numpy(samples), int(quality), io.AudioMeta(sample_rate=rate))

    def decode(self, data: bytes, rate: int) -> np.ndarray:
        return self.codec.decompress(data).numpy()


class SoundfileAudio(AudioCodec):
    """Opus (in Ogg) or MP3 (LAME, constant bitrate) through libsndfile; the sweep is its compression level.

    Rates the format cannot code (Opus: 8/12/16/24/48 kHz; MP3: 8 to 48 kHz MPEG rates) are resampled
    to 48 kHz before encoding and back after decoding (scipy's polyphase resampler), inside the timed
    calls: that is what using the codec on such audio costs.
    """

    FORMATS = {
        "opus": ("OGG", "OPUS", None, (1.0, 0.995, 0.99, 0.98, 0.97, 0.95, 0.93, 0.9, 0.85, 0.8),
                 {8000, 12000, 16000, 24000, 48000}, 255),
        "mp3": ("MP3", "MPEG_LAYER_III", "CONSTANT", (0.99, 0.97, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5),
                {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}, 2),
    }

    def __init__(self, name: str, threads: int = 1):
        import soundfile as sf

        fmt, subtype, mode, qualities, rates, max_channels = self.FORMATS[name]
        if fmt not in sf.available_formats() or subtype not in sf.available_subtypes(fmt):
            raise CodecUnavailable(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {name}")
        self.name, self.format, self.subtype, self.mode = name, fmt, subtype, mode
        self.qualities, self.rates, self.max_channels = qualities, rates, max_channels
        self.quality_meaning = "libsndfile compression level (0 = highest bitrate, 1 = lowest)"
        self.library = f"soundfile {sf.__version__}, libsndfile {sf.__libsndfile_version__}"

    def _coded_rate(self, rate: int) -> int:
        if rate in self.rates:
            return rate
        try:
            import scipy.signal  # noqa: F401
        except ImportError:
            raise CodecUnavailable(f"{self.name} cannot code {rate} Hz audio without resampling, which needs scipy") from None
        return 48000

    def encode(self, samples: np.ndarray, rate: int, quality) -> bytes:
        import soundfile as sf

        if samples.shape[0] > self.max_channels:
            raise CodecUnavailable(f"{self.name} codes at most {self.max_channels} channels, got {samples.shape[0]}")
        coded = self._coded_rate(rate)
        data = _resample(samples, rate, coded).T
        buf = _io.BytesIO()
        with sf.SoundFile(buf, "w", samplerate=coded, channels=samples.shape[0], format=self.format,
                          subtype=self.subtype, compression_level=float(quality), bitrate_mode=self.mode) as f:
            f.write(np.ascontiguousarray(data))
        return buf.getvalue()

    def decode(self, data: bytes, rate: int) -> np.ndarray:
        import soundfile as sf

        y, coded = sf.read(_io.BytesIO(data), dtype="float32", always_2d=True)
        return _resample(y.T, coded, rate)


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    return resample_poly(x, target // g, rate // g, axis=-1).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# which codecs exist


IMAGE_PEERS = ("jpeg", "webp", "jpeg2000", "avif", "jpegxl")
AUDIO_PEERS = ("opus", "mp3")
ANCHORS = {"image": ("webp", "jpeg"), "audio": ("opus", "mp3")}


def default_codecs(modality: str) -> list[str]:
    """Every shipped WaLLoC model of this modality, then the peers."""
    import walloc

    models = [f"walloc:{m.name}" for m in walloc.list_models() if m.modality == modality]
    return models + list(IMAGE_PEERS if modality == "image" else AUDIO_PEERS)


def walloc_adapter(model, modality: str, threads: int = 1) -> ImageCodec | AudioCodec:
    """A WaLLoC model (name or loaded Codec) as a sweep codec of this modality."""
    return (WallocImage if modality == "image" else WallocAudio)(model, threads)


def make_codec(spec: str, modality: str, threads: int = 1) -> ImageCodec | AudioCodec:
    """A codec by name ('jpeg', 'opus', 'walloc:rgb-16x', ...); CodecUnavailable if it cannot run here."""
    spec = spec.strip()
    if spec.startswith("walloc:"):
        try:
            return walloc_adapter(spec.split(":", 1)[1], modality, threads)
        except ModelError as e:
            raise CodecUnavailable(str(e)) from None
    peers = IMAGE_PEERS if modality == "image" else AUDIO_PEERS
    if spec not in peers:
        other = AUDIO_PEERS if modality == "image" else IMAGE_PEERS
        if spec in other:
            raise CodecUnavailable(f"'{spec}' codes {'audio' if modality == 'image' else 'images'}, the inputs are {modality}")
        raise MediaError(f"unknown codec '{spec}' (known: walloc:MODEL, {', '.join(IMAGE_PEERS + AUDIO_PEERS)})")
    if spec == "jpegxl":
        return JpegXL(threads)
    if modality == "image":
        return PillowImage(spec, threads)
    return SoundfileAudio(spec, threads)


# ------------------------------------------------------------------------------------------------
# inputs


def find_files(paths: Sequence[str | Path], modality: str | None = None, limit: int | None = None) -> tuple[str, list[Path]]:
    """The media files under the given folders/files (sorted), and their one modality."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in io.IMAGE_SUFFIXES | io.AUDIO_SUFFIXES)
        elif p.is_file():
            found.append(p)
        else:
            raise MediaError(f"{p}: no such file or folder")
    kinds = {f: io.modality_of(f) if f.suffix else "unknown" for f in found}
    if modality:
        found = [f for f in found if kinds[f] == modality]
    present = {kinds[f] for f in found}
    if not found:
        raise MediaError(f"no {modality or 'image or audio'} files in {', '.join(map(str, paths))}")
    if len(present) > 1:
        raise MediaError("the inputs hold both images and audio; choose one with --modality")
    found = found[:limit] if limit else found
    return present.pop(), found


def read_rgb8(path: Path) -> np.ndarray:
    """An image as 8-bit RGB pixels (H, W, 3): gray is repeated, alpha dropped, 16 bits rounded."""
    x, _ = io.read_image(path)
    if x.shape[0] in (1, 2):
        x = x[:1].expand(3, -1, -1)
    x = x[:3]
    if x.shape[0] != 3:
        raise MediaError(f"{path}: a {x.shape[0]}-channel image cannot be compared as RGB")
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def read_samples(path: Path) -> tuple[np.ndarray, int]:
    x, meta = io.read_audio(path)
    return x.numpy(), meta.sample_rate


# ------------------------------------------------------------------------------------------------
# the sweep


@dataclass
class _Acc:
    """Sums over files for one codec at one quality."""

    rates: list
    psnrs: list
    scores: list
    units: int = 0
    enc_s: float = 0.0
    dec_s: float = 0.0


def measure_image(codec: ImageCodec, pixels: np.ndarray, quality) -> dict:
    """One image at one quality: real size, PSNR and MS-SSIM on 8-bit RGB, and the two timings."""
    start = time.perf_counter()
    data = codec.encode(pixels, quality)
    mid = time.perf_counter()
    out = codec.decode(data)
    end = time.perf_counter()
    if out.shape != pixels.shape:
        raise WallocError(f"{codec.name} decoded {out.shape} pixels from a {pixels.shape} image")
    ref = torch.from_numpy(pixels).permute(2, 0, 1).float()
    got = torch.from_numpy(np.require(out, np.uint8, ["C", "W"])).permute(2, 0, 1).float()
    return {"bits": 8 * len(data), "rate": 8 * len(data) / (pixels.shape[0] * pixels.shape[1]),
            "psnr": metrics.psnr(got, ref, peak=255.0), "score": metrics.ms_ssim(got, ref, peak=255.0),
            "units": pixels.shape[0] * pixels.shape[1], "enc_s": mid - start, "dec_s": end - mid}


def measure_audio(codec: AudioCodec, samples: np.ndarray, rate: int, quality) -> dict:
    """One clip at one quality: real size in kbps, PSNR (full scale 1) and SI-SDR, and the timings."""
    start = time.perf_counter()
    data = codec.encode(samples, rate, quality)
    mid = time.perf_counter()
    out = codec.decode(data, rate)
    end = time.perf_counter()
    if out.shape[0] != samples.shape[0]:
        raise WallocError(f"{codec.name} decoded {out.shape[0]} channels from {samples.shape[0]}")
    n = samples.shape[1]
    out = _align(out, samples) if out.shape[1] > n else np.pad(out, ((0, 0), (0, n - out.shape[1])))
    ref, got = torch.from_numpy(samples), torch.from_numpy(np.require(out, np.float32, ["C", "W"]))
    return {"bits": 8 * len(data), "rate": 8 * len(data) / (n / rate) / 1000,
            "psnr": metrics.psnr(got, ref), "score": metrics.si_sdr(got, ref),
            "units": n, "enc_s": mid - start, "dec_s": end - mid}


def _align(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Cut a decoded signal longer than the input back to the input's span.

    A decoder that returns more samples than were coded has kept the codec's delay and padding (MP3
    through LAME keeps its 1105-sample delay when it resamples internally at low bitrates). The delay
    is found as the lag in [0, extra samples] that best correlates the two channel sums.
    """
    n, extra = ref.shape[1], out.shape[1] - ref.shape[1]
    a, b = ref.sum(0).astype(np.float64), out.sum(0).astype(np.float64)
    size = 1 << math.ceil(math.log2(len(a) + len(b)))
    corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)[: extra + 1]
    lag = int(np.argmax(corr))
    return out[:, lag: lag + n]


def _mean(values: list) -> float | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else None


def _r(v, digits):
    return None if v is None else (v if math.isinf(v) else round(v, digits))


def sweep(codecs: Sequence[ImageCodec | AudioCodec], files: Sequence[Path], modality: str, per_file: bool = False,
          progress: bool = True, qualities: dict | None = None) -> dict:
    """Run every codec at every quality on every file; return the curves (and per-file rows if asked).

    Files are the outer loop (each is read once and coded by every codec in turn, which also spreads
    machine noise over all codecs alike). Before the first file each codec makes one untimed round
    trip, so one-time costs (library and thread-pool start-up) are not charged to the first image. A
    codec that turns out unable to run (CodecUnavailable) is moved to ``skipped`` with its reason.
    """
    from tqdm import tqdm

    rate_key, score_key = ("bpp", "ms_ssim") if modality == "image" else ("kbps", "si_sdr")
    qualities = qualities or {}
    plan = {c.name: list(qualities.get(c.name, c.qualities)) for c in codecs}
    acc = {c.name: {q: _Acc([], [], []) for q in plan[c.name]} for c in codecs}
    rows: dict[str, list] = {c.name: [] for c in codecs}
    skipped: dict[str, str] = {}
    total = len(files) * sum(len(v) for v in plan.values())
    with tqdm(total=total, desc="rd", unit="code", file=sys.stderr, disable=not progress, leave=False) as bar:
        for path in files:
            if modality == "image":
                signal, rate = read_rgb8(path), None
            else:
                signal, rate = read_samples(path)
            for codec in codecs:
                if codec.name in skipped:
                    bar.update(len(plan[codec.name]))
                    continue
                bar.set_description(f"{codec.name} {path.name}")
                def measure(q):
                    return measure_image(codec, signal, q) if modality == "image" else measure_audio(codec, signal, rate, q)

                for q in plan[codec.name]:
                    try:
                        if path == files[0] and q == plan[codec.name][0]:  # warm-up, untimed
                            measure(q)
                        m = measure(q)
                    except CodecUnavailable as e:
                        skipped[codec.name] = str(e)
                        bar.update(len(plan[codec.name]) - plan[codec.name].index(q))
                        break
                    a = acc[codec.name][q]
                    a.rates.append(m["rate"]), a.psnrs.append(m["psnr"]), a.scores.append(m["score"])
                    a.units += m["units"]
                    a.enc_s += m["enc_s"]
                    a.dec_s += m["dec_s"]
                    if per_file:
                        rows[codec.name].append({"file": path.name, "quality": q, rate_key: _r(m["rate"], 5),
                                                 "psnr": _r(m["psnr"], 4), score_key: _r(m["score"], 6)})
                    bar.update(1)
    curves = {}
    for codec in codecs:
        if codec.name in skipped:
            continue
        points = []
        for q, a in acc[codec.name].items():
            if not a.rates:
                continue
            points.append({"quality": q, rate_key: _r(_mean(a.rates), 5), "psnr": _r(_mean(a.psnrs), 4),
                           score_key: _r(_mean(a.scores), 6),
                           "enc_mps": _r(a.units / a.enc_s / 1e6 if a.enc_s else None, 4),
                           "dec_mps": _r(a.units / a.dec_s / 1e6 if a.dec_s else None, 4)})
        curves[codec.name] = sorted(points, key=lambda p: p[rate_key])
    out = {"curves": curves, "skipped": skipped}
    if per_file:
        out["per_file"] = {k: v for k, v in rows.items() if k not in skipped}
    return out


def pareto(points: list[dict], rate_key: str, quality_key: str = "psnr") -> list[dict]:
    """The points no other point beats: sorted by rate, each of higher quality than all cheaper ones."""
    front, best = [], -math.inf
    for p in sorted(points, key=lambda p: (p[rate_key], -p[quality_key])):
        q = p[quality_key]
        if q is not None and math.isfinite(q) and q > best and p[rate_key] and p[rate_key] > 0:
            front.append(p)
            best = q
    return front


def bd_rates(curves: dict, anchor: str, rate_key: str, quality_key: str = "psnr") -> tuple[dict, dict]:
    """BD-rate (percent, on the quality key) of every curve against one anchor; reasons for the gaps."""
    values, notes = {}, {}
    if anchor not in curves:
        return values, {name: f"anchor '{anchor}' did not run" for name in curves}
    ref = pareto(curves[anchor], rate_key, quality_key)
    for name, points in curves.items():
        test = pareto(points, rate_key, quality_key)
        try:
            values[name] = round(metrics.bd_rate([p[rate_key] for p in ref], [p[quality_key] for p in ref],
                                                 [p[rate_key] for p in test], [p[quality_key] for p in test]), 2)
        except ValueError as e:
            values[name], notes[name] = None, str(e)
    return values, notes


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}"}


def run(paths: Sequence[str | Path], codecs: Sequence[str] | None = None, modality: str | None = None,
        limit: int | None = None, threads: int = 1, per_file: bool = False, progress: bool = True,
        qualities: dict | None = None) -> dict:
    """The whole `walloc rd`: find files, build codecs (noting the skipped), sweep, BD-rates."""
    modality, files = find_files(paths, modality, limit)
    names = list(codecs) if codecs else default_codecs(modality)
    built, skipped = [], {}
    for name in dict.fromkeys(names):
        try:
            built.append(make_codec(name, modality, threads))
        except CodecUnavailable as e:
            skipped[name.strip()] = str(e)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = sweep(built, files, modality, per_file=per_file, progress=progress, qualities=qualities)
        info = machine()
    finally:
        torch.set_num_threads(before)
    skipped.update(result["skipped"])
    rate_key = "bpp" if modality == "image" else "kbps"
    out = {"dataset": ", ".join(str(p) for p in paths), "modality": modality, "files": len(files),
           "rate": rate_key, "speed_unit": "megapixels/s" if modality == "image" else "million samples (per channel)/s",
           "codecs": result["curves"], "skipped": skipped}
    notes = {}
    for anchor in ANCHORS[modality]:
        out[f"bd_rate_vs_{anchor}"], why = bd_rates(result["curves"], anchor, rate_key)
        notes.update({f"{name} vs {anchor}": reason for name, reason in why.items()})
    out["bd_rate_notes"] = notes
    out["settings"] = {c.name: {"quality": c.quality_meaning, "library": c.library} for c in built if c.name not in skipped}
    out["method"] = (("PSNR and MS-SSIM on 8-bit RGB, mean over images; bpp from real file sizes; " if modality == "image" else
                      "PSNR (full scale 1) and SI-SDR on float samples, mean over clips; kbps from real file sizes; ")
                     + "BD-rate on PSNR over each curve's Pareto front (Bjontegaard, cubic fit); "
                     + f"speed = units / total encode or decode wall time, {threads} thread(s)")
    out["machine"] = info
    if per_file:
        out["per_file"] = result["per_file"]
    return out


# ------------------------------------------------------------------------------------------------
# the plot


def plot(result: dict, path: str | Path | None = None, published: dict | None = None, title: str | None = None) -> bytes:
    """PNG of quality vs rate (PSNR, and MS-SSIM or SI-SDR), one curve per codec; published curves dashed.

    ``published``: {label: {rate_key: [...], "psnr": [...], score_key: [...]}}. Returns the PNG bytes
    and writes them to ``path`` if given.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MediaError("plotting needs matplotlib (pip install matplotlib, or walloc[bench])") from None
    rate_key = result.get("rate", "bpp")
    score_key = "ms_ssim" if rate_key == "bpp" else "si_sdr"
    labels = {"bpp": "rate (bits per pixel)", "kbps": "rate (kbit/s)", "psnr": "PSNR (dB)" + (", 8-bit RGB" if rate_key == "bpp" else ""),
              "ms_ssim": "MS-SSIM (dB, -10 log10(1 - MS-SSIM))", "si_sdr": "SI-SDR (dB)"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def y(values, key):
        if key != "ms_ssim":
            return values
        return [None if v is None else (-10 * math.log10(max(1 - v, 1e-10))) for v in values]

    for i, (name, points) in enumerate(result.get("codecs", {}).items()):
        style = {"color": colors[i % len(colors)], "marker": "o", "markersize": 3.5,
                 "linewidth": 2.2 if name.startswith("walloc") else 1.3}
        for ax, key in zip(axes, ("psnr", score_key)):
            pts = [p for p in points if p.get(key) is not None and math.isfinite(p[key])]
            ax.plot([p[rate_key] for p in pts], y([p[key] for p in pts], key), label=name, **style)
    for j, (label, curve) in enumerate((published or {}).items()):
        for ax, key in zip(axes, ("psnr", score_key)):
            if key in curve and rate_key in curve:
                ax.plot(curve[rate_key], y(curve[key], key), linestyle="--", color="0.35" if j == 0 else "0.6",
                        marker="x", markersize=3.5, linewidth=1.1, label=label)
    for ax, key in zip(axes, ("psnr", score_key)):
        ax.set_xlabel(labels[rate_key])
        ax.set_ylabel(labels[key])
        ax.grid(True, alpha=0.3)
        rates = [p[rate_key] for pts in result.get("codecs", {}).values() for p in pts if p.get(rate_key)]
        if rates:
            ax.set_xlim(0, min(max(rates), 3.0 if rate_key == "bpp" else max(rates)) * 1.05)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title or f"{result.get('dataset', '')}: {result.get('files', '?')} {result.get('modality', '')} file(s)", fontsize=10)
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def load_published(path: str | Path) -> dict:
    """Published curves from a JSON file {"curves": {label: {...}}} (see benchmarks/published/)."""
    import json

    try:
        doc = json.loads(Path(path).read_text())
        curves = doc["curves"]
        if not isinstance(curves, dict) or not all(isinstance(c, dict) for c in curves.values()):
            raise TypeError
    except OSError as e:
        raise MediaError(f"cannot read {path}: {e.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise MediaError(f"{path}: not a published-curves file (expected {{\"curves\": {{label: {{\"bpp\": [...], \"psnr\": [...]}}}}}})") from None
    return curves


def _version(module: str) -> str:
    try:
        return getattr(__import__(module), "__version__", "?")
    except ImportError:
        return "?"

