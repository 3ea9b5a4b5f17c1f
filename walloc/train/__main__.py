"""``python -m walloc.train CONFIG``: the same pipeline as ``walloc train``."""

from cli.main import main

if __name__ == "__main__":
    main(["train", *__import__("sys").argv[1:]])
