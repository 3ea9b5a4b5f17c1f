"""Real recognizers that judge decoded signals: Tesseract 5 reads pages, PocketSphinx 5 hears speech.

Both run offline with what their packages install (Debian ``tesseract-ocr tesseract-ocr-eng`` and
``pytesseract``; the ``pocketsphinx`` wheel carries its en-us acoustic model, language model and
dictionary). Each is imported when it is built and raises :class:`CodecUnavailable` with the reason
when it cannot run here, so a benchmark or test can say why it skips. Error rates are jiwer's
corpus-level CER and WER after :func:`normalize`.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Sequence

import numpy as np

from .codecs import CodecUnavailable

SPEECH_RATE = 16000   # the rate PocketSphinx's en-us model was trained at


def normalize(text: str, upper: bool = False) -> str:
    """Whitespace runs collapsed to one space and trimmed (upper case for speech transcripts)."""
    text = re.sub(r"\s+", " ", text).strip()
    return text.upper() if upper else text


def error_rates(refs: Sequence[str], hyps: Sequence[str]) -> dict:
    """Corpus-level character and word error rates over all items together (jiwer), as fractions."""
    import jiwer

    return {"cer": float(jiwer.cer(refs, hyps)), "wer": float(jiwer.wer(refs, hyps))}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


class Tesseract:
    """Tesseract through pytesseract on one 8-bit gray page; LSTM engine, automatic page segmentation.

    The process environment is left alone: a program that reads several pages in parallel processes
    gives each ``OMP_THREAD_LIMIT=1`` itself (bench_recognize's workers do), so that Tesseract's own
    threads do not contend with them. (Set here, it leaked into every later child of the process: torch
    asked for 2 threads under a limit of 1 ran a tiny training's convolutions for minutes.)
    """

    lang = "eng"
    config = "--oem 1 --psm 3"

    def __init__(self):
        try:
            import pytesseract
        except ImportError:
            raise CodecUnavailable("needs pytesseract (pip install pytesseract)") from None
        try:
            self.version = str(pytesseract.get_tesseract_version())
            langs = pytesseract.get_languages(config="")
        except (pytesseract.TesseractNotFoundError, OSError):
            raise CodecUnavailable("no tesseract binary (apt-get install tesseract-ocr tesseract-ocr-eng)") from None
        if self.lang not in langs:
            raise CodecUnavailable(f"tesseract has no '{self.lang}' data (apt-get install tesseract-ocr-{self.lang})")
        self.pytesseract = pytesseract

    def read(self, page: np.ndarray) -> str:
        """The text of an (H, W) uint8 page."""
        from PIL import Image

        return self.pytesseract.image_to_string(Image.fromarray(page, "L"), lang=self.lang, config=self.config)

    def info(self) -> dict:
        return {"recognizer": "Tesseract", "version": self.version, "wrapper": f"pytesseract {_version('pytesseract')}",
                "lang": self.lang, "config": self.config, "input": "8-bit gray page as decoded"}


class PocketSphinx:
    """PocketSphinx with its packaged en-us models at their default settings, one whole utterance at a time."""

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise CodecUnavailable("needs pocketsphinx (pip install pocketsphinx==5.1.1)") from None
        self.decoder = Decoder(samprate=SPEECH_RATE, loglevel="FATAL")
        self.version = _version("pocketsphinx")

    def read(self, samples: np.ndarray) -> str:
        """The words of mono float samples in [-1, 1] at 16 kHz."""
        pcm = np.clip(np.round(np.asarray(samples, np.float64) * 32767), -32768, 32767).astype(np.int16)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def info(self) -> dict:
        c = self.decoder.config
        return {"recognizer": "PocketSphinx", "version": self.version, "samprate": SPEECH_RATE,
                "hmm": os.path.basename(c["hmm"]), "lm": os.path.basename(c["lm"]), "dict": os.path.basename(c["dict"]),
                "settings": "package defaults, full utterance", "input": "decoded samples rounded to 16-bit PCM"}
