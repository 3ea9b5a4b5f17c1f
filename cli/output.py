"""The command line's output helpers, which live in the library (:mod:`walloc.output`) so that the
library's batch conversion (:mod:`walloc.convert`) writes files the same way without importing the CLI."""

from walloc.output import atomic_output, check_target, is_stream, read_head, read_input

__all__ = ["atomic_output", "check_target", "is_stream", "read_head", "read_input"]
