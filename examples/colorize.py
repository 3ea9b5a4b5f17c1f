"""Colorize photos with a network that learns on rgb-16x latents: gray latents in, colour latents out, decoded.

    python examples/colorize.py TRAIN_DIR TEST_DIR OUT_DIR --epochs 10 --size 256

Trains on every image under TRAIN_DIR and writes a colour version of every image under TEST_DIR
to OUT_DIR (PNG). The loss is taken on the decoded colour image, through the codec's decoder.
"""

import argparse
import sys
from pathlib import Path

import torch

import walloc
from walloc import features, io
from walloc.errors import WallocError
from walloc.nn import LatentUNet


def images(folder: str) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in io.IMAGE_SUFFIXES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--size", type=int, default=256, help="center crop side, a multiple of 8")
    args = ap.parse_args()
    train, test = images(args.train), images(args.test)
    if not train or not test:
        sys.exit(f"colorize: no images in {args.train if not train else args.test}")
    codec = walloc.load("rgb-16x")
    colour = torch.stack([features.load_signal(p, args.size, 3)[0] for p in train])  # the targets
    gray, _ = features.pairs(codec, colour, features.gray)                           # their gray latents

    net = LatentUNet(codec, codec)  # 12 latent channels in, 12 out, on the latents' grid
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for epoch in range(args.epochs):
        net.train()
        for idx in torch.randperm(len(train)).split(8):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(codec.decode_latents(net(gray[idx]), grad=True), colour[idx])
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}")

    net.eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in test:
        x = features.gray(features.load_signal(path, args.size, 3)[0])
        with torch.no_grad():
            y = codec.decode_latents(net(features.encode(codec, x[None], kind="dequantized")))
        io.write_image(out / f"{path.stem}.png", y[0], io.ImageMeta())
    print(f"wrote {len(test)} images to {out}")


if __name__ == "__main__":
    try:
        main()
    except WallocError as e:
        sys.exit(f"colorize: {e}")
