"""Other codecs behind the sweep's interface: Pillow's JPEG, WebP, JPEG 2000 and AVIF; JPEG XL through
imagecodecs (or the pillow-jxl plugin); Opus and MP3 through libsndfile (soundfile).

Each library is imported only when its codec is built, and a codec whose library is missing raises
:class:`CodecUnavailable` with the reason, so a sweep reports it as skipped instead of dropping it.
"""

from __future__ import annotations

import contextlib
import io as _io
import math
from collections.abc import Iterator

import numpy as np

from ..errors import MediaError
from .codecs import AudioCodec, CodecUnavailable, ImageCodec

IMAGE_PEERS = ("jpeg", "webp", "jpeg2000", "avif", "jpegxl")
AUDIO_PEERS = ("opus", "mp3")


class PillowImage(ImageCodec):
    """One of Pillow's built-in formats at its best-compressing settings, swept over its quality option.

    The fixed options are each library's slowest, smallest preset: JPEG with optimized Huffman tables
    and progressive scans; WebP method 6; JPEG 2000 with the 9/7 wavelet and the colour transform
    (``mct=1``: without it Pillow codes R, G and B separately, about 2.6 dB worse at the same size on
    kodim23); AVIF at speed 0.
    """

    FORMATS = {
        # name: (Pillow format, feature to check, quality sweep, meaning, fixed options, options for one quality)
        "jpeg": ("JPEG", "jpg", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), "Pillow quality (libjpeg, 4:2:0)",
                 {"optimize": True, "progressive": True}, lambda q, t: {"quality": int(q)}),
        "webp": ("WEBP", "webp", (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), "Pillow quality (libwebp)",
                 {"method": 6}, lambda q, t: {"quality": int(q)}),
        "jpeg2000": ("JPEG2000", "jpg_2000", (240, 160, 96, 64, 48, 32, 24, 16, 12, 8), "compression ratio (OpenJPEG)",
                     {"irreversible": True, "mct": 1}, lambda q, t: {"quality_mode": "rates", "quality_layers": [float(q)]}),
        "avif": ("AVIF", "avif", (10, 20, 30, 40, 50, 60, 70, 80, 90), "Pillow quality (libavif, 4:2:0)",
                 {"speed": 0}, lambda q, t: {"quality": int(q), "max_threads": t}),
    }

    def __init__(self, name: str, threads: int = 1):
        from PIL import features

        fmt, feature, qualities, meaning, options, per_quality = self.FORMATS[name]
        if not features.check(feature):
            raise CodecUnavailable(f"this Pillow was built without {fmt} support")
        self.name, self.format, self.qualities, self.quality_meaning = name, fmt, qualities, meaning
        self.options, self.per_quality, self.threads = options, per_quality, threads
        self.library = f"Pillow {_version('PIL')} ({features.version(feature) or 'built in'})"

    def encode(self, pixels: np.ndarray, quality) -> bytes:
        from PIL import Image

        buf = _io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buf, format=self.format, **self.options, **self.per_quality(quality, self.threads))
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        from PIL import Image

        with _avif_decode_threads(self.threads) if self.format == "AVIF" else contextlib.nullcontext():
            with Image.open(_io.BytesIO(data)) as im:
                return np.asarray(im.convert("RGB"))


@contextlib.contextmanager
def _avif_decode_threads(threads: int) -> Iterator[None]:
    """Pillow takes AVIF decoding threads from a module setting only: set it for one decode, then restore it."""
    from PIL import AvifImagePlugin

    before = AvifImagePlugin.DEFAULT_MAX_THREADS
    AvifImagePlugin.DEFAULT_MAX_THREADS = threads
    try:
        yield
    finally:
        AvifImagePlugin.DEFAULT_MAX_THREADS = before


class JpegXL(ImageCodec):
    """JPEG XL (libjxl) through imagecodecs, or through the pillow-jxl plugin if that is what is here."""

    name = "jpegxl"
    qualities = (12.0, 8.0, 6.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.7, 0.5)
    quality_meaning = "butteraugli distance (libjxl), lower is better"
    options = {"effort": 9}

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
            return bytes(self.backend.jpegxl_encode(pixels, distance=float(quality), numthreads=self.threads, **self.options))
        from PIL import Image

        buf = _io.BytesIO()  # the plugin takes a quality: invert libjxl's distance = 0.1 + 0.09 (100 - quality)
        q = 100 - (float(quality) - 0.1) / 0.09
        Image.fromarray(pixels, "RGB").save(buf, format="JXL", quality=max(0, min(100, int(round(q)))), **self.options)
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        if self.backend is not None:
            return np.asarray(self.backend.jpegxl_decode(data, numthreads=self.threads))
        from PIL import Image

        with Image.open(_io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))


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


def make_peer(name: str, modality: str, threads: int = 1) -> ImageCodec | AudioCodec:
    """A peer codec by name for inputs of this modality; CodecUnavailable if it cannot run here."""
    peers = IMAGE_PEERS if modality == "image" else AUDIO_PEERS
    if name not in peers:
        other = AUDIO_PEERS if modality == "image" else IMAGE_PEERS
        if name in other:
            raise CodecUnavailable(f"'{name}' codes {'audio' if modality == 'image' else 'images'}, the inputs are {modality}")
        raise MediaError(f"unknown codec '{name}' (known: walloc:MODEL, {', '.join(IMAGE_PEERS + AUDIO_PEERS)})")
    if name == "jpegxl":
        return JpegXL(threads)
    if modality == "image":
        return PillowImage(name, threads)
    return SoundfileAudio(name, threads)


def _version(module: str) -> str:
    try:
        return getattr(__import__(module), "__version__", "?")
    except ImportError:
        return "?"


class GrayPillowImage(PillowImage):
    """A Pillow format at :class:`PillowImage`'s settings coding one 8-bit gray plane: (H, W) uint8 in and out.

    JPEG codes it as one gray component; libwebp has no gray mode, so WebP codes it as equal R, G, B.
    """

    def encode(self, pixels: np.ndarray, quality) -> bytes:
        from PIL import Image

        buf = _io.BytesIO()
        Image.fromarray(pixels, "L").save(buf, format=self.format, **self.options, **self.per_quality(quality, self.threads))
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        from PIL import Image

        with Image.open(_io.BytesIO(data)) as im:
            return np.asarray(im.convert("L"))


class GrayImagecodecs(ImageCodec):
    """JPEG XL (libjxl, effort 7, butteraugli distance) or AVIF (libavif, 4:0:0 gray, quality level 0-100,
    speed 6: speed 0 takes about a minute a page here) through imagecodecs, on one (H, W) uint8 plane.

    Pillow's AVIF writer barely changes the size of a gray page with its quality, so AVIF goes through
    imagecodecs here. imagecodecs codes a 2-D plane losslessly whatever the level (measured: 13,558 bytes
    at every level on an 800x800 page crop), so AVIF is given the plane as three equal channels with
    pixel format 4:0:0, which codes the luma alone at the level asked for. JPEG XL at effort 7, libjxl's default: on a 100 dpi gray page effort 9 wrote
    larger files (131 against 113 KB at distance 0.3) in 2.3 times the time.
    """

    FORMATS = {
        # name: (encoder, quality keyword, fixed options, meaning, decoder)
        "jpegxl": ("jpegxl_encode", "distance", {"effort": 7}, "butteraugli distance (libjxl), lower is better", "jpegxl_decode"),
        "avif": ("avif_encode", "level", {"speed": 6, "pixelformat": 4}, "quality level 0-100 (libavif)", "avif_decode"),
    }

    def __init__(self, name: str, threads: int = 1):
        try:
            import imagecodecs
        except ImportError:
            raise CodecUnavailable("needs imagecodecs (pip install imagecodecs)") from None
        enc, self.keyword, self.options, self.quality_meaning, dec = self.FORMATS[name]
        if not getattr(imagecodecs, name.upper()).available:
            raise CodecUnavailable(f"this imagecodecs was built without {name}")
        self.name, self.threads = name, threads
        self._encode, self._decode = getattr(imagecodecs, enc), getattr(imagecodecs, dec)
        self.library = f"imagecodecs {imagecodecs.__version__}"

    def encode(self, pixels: np.ndarray, quality) -> bytes:
        if self.name == "avif":
            pixels = np.repeat(pixels[..., None], 3, axis=2)   # with pixelformat 4 (YUV400): the luma plane, lossy
        return bytes(self._encode(pixels, **{self.keyword: quality}, numthreads=self.threads, **self.options))

    def decode(self, data: bytes) -> np.ndarray:
        return np.asarray(self._decode(data, numthreads=self.threads))


def match_bytes(encode, target: int, lo: float, hi: float, integer: bool = True, rising: bool = True,
                tol: float = 0.03, steps: int = 14, cache: dict | None = None) -> tuple[float, bytes]:
    """The setting in [lo, hi] whose ``encode(setting)`` is nearest ``target`` bytes, and those bytes.

    Bisection, assuming the size grows with the setting (``rising``) or falls with it; it stops once a
    size is within ``tol`` of the target. ``cache`` (setting -> bytes) may be shared between targets of
    one input so that each setting is encoded once.
    """
    cache = {} if cache is None else cache

    def size(q) -> int:
        if q not in cache:
            cache[q] = encode(q)
        return len(cache[q])

    def better(q, best) -> bool:
        return best is None or abs(size(q) - target) < abs(size(best) - target)

    a, b, best = lo, hi, None
    for _ in range(steps):
        q = int(round((a + b) / 2)) if integer else round((a + b) / 2, 4)   # libsndfile refuses some long fractions
        if better(q, best):
            best = q
        if abs(size(q) - target) <= tol * target:
            break
        if (size(q) < target) == rising:
            a = q
        else:
            b = q
        if integer and b - a <= 1:
            for end in (a, b):
                if better(end, best):
                    best = end
            break
    return best, cache[best]


def ccitt_g4(bilevel: np.ndarray) -> bytes:
    """A 0/255 page as a CCITT Group 4 TIFF (Pillow through libtiff): the lossless code made for bilevel scans."""
    from PIL import Image

    buf = _io.BytesIO()
    Image.fromarray(bilevel, "L").convert("1").save(buf, format="TIFF", compression="group4")
    return buf.getvalue()
