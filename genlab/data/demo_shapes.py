"""A folder of images that is not MNIST: coloured shapes on textured backgrounds, in class subfolders.

For trying `--dataset folder:PATH` without images of your own, and for the tests of the folder source:
`python -m genlab.data.demo_shapes PATH [--per-class N] [--size S]` writes PATH/<shape>/NNNNN.png (RGB, S x S pixels).
Shapes vary in colour, size, position and rotation; backgrounds are noisy gradients, so the grayscale
conversion, the crop and the resize all have work to do.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

SHAPES = ("circle", "square", "triangle", "cross", "star")


def polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        pts = [
            (math.cos(angle + k * math.pi / 2 + math.pi / 4), math.sin(angle + k * math.pi / 2 + math.pi / 4))
            for k in range(4)
        ]
    elif kind == "triangle":
        pts = [(math.cos(angle + k * 2 * math.pi / 3), math.sin(angle + k * 2 * math.pi / 3)) for k in range(3)]
    elif kind == "star":
        pts = [
            (
                (1 if k % 2 == 0 else 0.45) * math.cos(angle + k * math.pi / 5),
                (1 if k % 2 == 0 else 0.45) * math.sin(angle + k * math.pi / 5),
            )
            for k in range(10)
        ]
    else:  # cross: a plus sign of width 0.35 r
        w = 0.35
        base = [
            (-w, -1),
            (w, -1),
            (w, -w),
            (1, -w),
            (1, w),
            (w, w),
            (w, 1),
            (-w, 1),
            (-w, w),
            (-1, w),
            (-1, -w),
            (-w, -w),
        ]
        pts = [(x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)) for x, y in base]
    return [(cx + r * x, cy + r * y) for x, y in pts]


def draw_one(kind: str, size: int, rng: random.Random):
    from PIL import Image, ImageDraw

    bg0 = [rng.randint(0, 90) for _ in range(3)]
    bg1 = [min(255, c + rng.randint(0, 60)) for c in bg0]
    img = Image.new("RGB", (size, size))
    px = img.load()
    for y in range(size):  # a vertical gradient with pixel noise
        t = y / max(1, size - 1)
        for x in range(size):
            n = rng.randint(-12, 12)
            px[x, y] = tuple(max(0, min(255, int(a + (b - a) * t) + n)) for a, b in zip(bg0, bg1))
    d = ImageDraw.Draw(img)
    r = size * rng.uniform(0.22, 0.38)
    cx, cy = size / 2 + rng.uniform(-0.12, 0.12) * size, size / 2 + rng.uniform(-0.12, 0.12) * size
    colour = tuple(rng.randint(150, 255) for _ in range(3))
    if kind == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        d.polygon(polygon(kind, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=colour)
    return img


def write_shapes(root: Path, per_class: int = 250, size: int = 64, seed: int = 0) -> Path:
    """Write per_class PNGs of each shape under root/<shape>/; returns root."""
    rng = random.Random(seed)
    for kind in SHAPES:
        folder = Path(root) / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw_one(kind, size, rng).save(folder / f"{i:05d}.png")
    return Path(root)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path")
    p.add_argument("--per-class", type=int, default=250)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    root = write_shapes(Path(a.path), a.per_class, a.size, a.seed)
    print(f"wrote {a.per_class * len(SHAPES)} images ({a.size}x{a.size}, {len(SHAPES)} classes) to {root}")


if __name__ == "__main__":
    main()
