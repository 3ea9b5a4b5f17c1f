"""One family of exceptions for everything a user can cause; the CLI prints them as one line."""


class WallocError(Exception):
    """Base of every error caused by input, files or models rather than by a bug in walloc."""


class MediaError(WallocError):
    """An input image or audio file cannot be read, or an output cannot be written as asked."""


class BitstreamError(WallocError):
    """A .wlc stream is malformed, truncated, corrupted or exceeds the decoder's limits."""


class ModelError(WallocError):
    """A model is unknown, damaged, or not the one a stream was made with."""


class DeviceError(WallocError):
    """A device (``"cuda"``, ``"cuda:7"``, ``"tpu"``) is unknown or not available here."""
