"""``python -m walloc``: the same as the ``walloc`` command."""

from walloc.cli.main import main

main()
