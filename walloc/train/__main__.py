"""``python -m walloc.train CONFIG [OPTIONS]``: the same pipeline as ``walloc train``."""

import sys

from cli.main import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
