"""Synthetic junk images for training the judge to reject non-images (outlier exposure).

Outlier exposure (Hendrycks, Mazeika & Dietterich, ICLR 2019): a classifier
trained with an auxiliary set of outliers learns to say "none of my classes"
for inputs far from its data, instead of filing them confidently under one
class. genlab's judge gets an extra class, "junk", fed with the images below,
generated on the fly from a seeded generator (deterministic, nothing stored):

  uniform     i.i.d. uniform noise in [-1, 1]
  blobs       Gaussian noise smoothed with a random width and thresholded into bright blobs
  shuffled    a real image with its pixels randomly permuted (same grey levels, no shape)
  patches     a real image cut into a 4x4 grid of patches (7x7 at 28 px) that are shuffled (strokes, no glyph)
  salt        a real image with 25-60 % of its pixels set to black or white
  noisy       a real image plus Gaussian noise of std 0.6-1.2, clipped
  strokes     3-6 random thick curves: scribbles
  mixed       two of the above overlaid, so the judge does not learn one generator's signature

Half of every junk batch and half of every real batch is blurred (sigma 0-1.5 px), so blur carries no
information about junk: without that, the judge learnt "grey and soft = junk" and called blurred real
digits junk (measured: sigma 1.0 -> 0 % recognisable), which would have penalised the VAE's blur.
None of these is a model sample, so the judge learns no generator's artefacts (docs/evaluation.md).

Every kind works at any C x H x W (H, W multiples of 4): grids and curve widths scale with the side (28 px is the
unit), strokes are grey in every channel, blur filters each channel; at 1 x 28 x 28 the draws and values are
those the shipped MNIST and Fashion-MNIST judges were trained with.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Generator = torch.Generator


def _u(n: int, g: Generator, lo: float, hi: float) -> torch.Tensor:
    """(n, 1, 1, 1) uniform draws in [lo, hi)."""
    return lo + (hi - lo) * torch.rand(n, 1, 1, 1, generator=g)


def uniform(real: torch.Tensor, g: Generator) -> torch.Tensor:
    return torch.rand(real.shape, generator=g) * 2 - 1


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding, same size."""
    r = max(1, int(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    shape = x.shape
    x = x.reshape(-1, 1, *shape[-2:])  # each channel on its own
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1)).view(shape)


def blobs(real: torch.Tensor, g: Generator) -> torch.Tensor:
    """Smoothed noise (width 1.5-3.5 px) thresholded at a random level: bright blobs on a dark ground."""
    n = real.shape[0]
    sigma = float(1.5 + 2 * torch.rand(1, generator=g))
    s = _blur(torch.randn(real.shape, generator=g), sigma)
    s = (s - s.mean((1, 2, 3), keepdim=True)) / s.std((1, 2, 3), keepdim=True).clamp_min(1e-6)
    return torch.tanh(_u(n, g, 3, 10) * (s - _u(n, g, -0.3, 1.2)))


def shuffled(real: torch.Tensor, g: Generator) -> torch.Tensor:
    n = real.shape[0]
    perm = torch.rand(n, real[0].numel(), generator=g).argsort(1)
    return real.flatten(1).gather(1, perm).view_as(real)


def patches(real: torch.Tensor, g: Generator) -> torch.Tensor:
    """A 4x4 grid of patches (7x7 at 28 px) of each image in random order: a jigsaw."""
    n, c, h, w = real.shape
    ph, pw = h // 4, w // 4
    p = real.unfold(2, ph, ph).unfold(3, pw, pw).reshape(n, c, 16, ph, pw).transpose(1, 2)  # (n, 16, c, ph, pw)
    perm = torch.rand(n, 16, generator=g).argsort(1)
    p = p.gather(1, perm.view(n, 16, 1, 1, 1).expand(n, 16, c, ph, pw))
    return p.reshape(n, 4, 4, c, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)


def salt(real: torch.Tensor, g: Generator, lo: float = 0.25, hi: float = 0.6) -> torch.Tensor:
    return salt_and_pepper(real, _u(real.shape[0], g, lo, hi), g)


def salt_and_pepper(x: torch.Tensor, rate: float | torch.Tensor, g: Generator) -> torch.Tensor:
    """A share `rate` of the pixels set to -1 or +1 with equal chance (also used to test the judge)."""
    hit = torch.rand(x.shape, generator=g) < rate
    value = torch.where(torch.rand(x.shape, generator=g) < 0.5, -1.0, 1.0)
    return torch.where(hit, value, x)


def noisy(real: torch.Tensor, g: Generator) -> torch.Tensor:
    return (real + _u(real.shape[0], g, 0.6, 1.2) * torch.randn(real.shape, generator=g)).clamp(-1, 1)


def _grid(h: int, w: int) -> torch.Tensor:
    """(1, h*w, 1, 2): every pixel's (y, x)."""
    return torch.stack(torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij"), -1).view(
        1, h * w, 1, 2
    )


_YX = _grid(28, 28)


def strokes(real: torch.Tensor, g: Generator, points: int = 24) -> torch.Tensor:
    """3-6 quadratic Bezier curves per image, 1.2-2.2 px thick at 28 px (scaled with the side), anywhere in the
    frame; grey, the same in every channel."""
    n, c, h, w = real.shape
    unit = h / 28
    k = int(torch.randint(3, 7, (1,), generator=g))
    ctrl = 2 * unit + 24 * unit * torch.rand(n, k, 3, 2, generator=g)  # (n, curves, 3 control points, yx)
    t = torch.linspace(0, 1, points).view(1, 1, points, 1)
    a, b, cc = ctrl[:, :, 0:1], ctrl[:, :, 1:2], ctrl[:, :, 2:3]
    pts = ((1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * cc).reshape(n, 1, k * points, 2)
    yx = _YX if (h, w) == (28, 28) else _grid(h, w)
    d = (yx - pts).norm(dim=-1).min(-1).values  # (n, h*w): distance to the nearest curve point
    width = _u(n, g, 1.2, 2.2).view(n, 1) * unit
    return (2 * torch.sigmoid(3 * (width - d)) - 1).view(n, 1, h, w).expand(n, c, h, w)


KINDS: dict[str, Callable[[torch.Tensor, Generator], torch.Tensor]] = {
    "uniform": uniform,
    "blobs": blobs,
    "shuffled": shuffled,
    "patches": patches,
    "salt": salt,
    "noisy": noisy,
    "strokes": strokes,
}


def mixed(real: torch.Tensor, g: Generator) -> torch.Tensor:
    """Two junk kinds overlaid (pixel-wise maximum: bright strokes of both)."""
    names = list(KINDS)
    i, j = torch.randperm(len(names), generator=g)[:2].tolist()
    return torch.maximum(KINDS[names[i]](real, g), KINDS[names[j]](real, g))


def blur(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Gaussian blur with one width per image (sigma: scalar or (N,)), same size; sigma 0 leaves an image as is."""
    sig = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1).expand(x.shape[0]).clamp_min(1e-3)
    t = torch.arange(-4, 5, dtype=x.dtype)
    k = torch.exp(-(t.view(1, -1) ** 2) / (2 * sig.view(-1, 1) ** 2))
    k = k / k.sum(1, keepdim=True)  # (N, 9): a separable kernel per image, applied as a grouped conv
    n, c, h, w = x.shape
    k = k.repeat_interleave(c, 0)  # each channel of an image with its image's kernel
    y = F.conv2d(F.pad(x.reshape(1, n * c, h, w), (4, 4, 0, 0), mode="replicate"), k.view(n * c, 1, 1, 9), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, 4, 4), mode="replicate"), k.view(n * c, 1, 9, 1), groups=n * c)
    return y.view_as(x)  # a weighted mean of values in [-1, 1] (up to float rounding)


BLUR_SIGMA = (0.0, 1.5)  # range of the blur applied to half of every batch, real and junk alike


def random_blur(x: torch.Tensor, g: Generator, share: float = 0.5) -> torch.Tensor:
    """Blur a random `share` of the images with sigma drawn from BLUR_SIGMA: the judge sees blurred digits as
    digits and blurred junk as junk, so blur itself says nothing about junk (a VAE's blur is not penalised as
    junk; tests/test_judge.py)."""
    lo, hi = BLUR_SIGMA
    sigma = lo + (hi - lo) * torch.rand(x.shape[0], generator=g)
    sigma = torch.where(torch.rand(x.shape[0], generator=g) < share, sigma, torch.zeros_like(sigma))
    return torch.where((sigma > 0).view(-1, 1, 1, 1), blur(x, sigma), x)


def make_junk(real: torch.Tensor, g: Generator) -> torch.Tensor:
    """A batch of junk as large as `real` (real images in [-1, 1], used only by the kinds that destroy them):
    the batch is split evenly over every kind and the overlay, so each batch holds all of them; half of it is
    then blurred, as half of the real images are."""
    makers = [*KINDS.values(), mixed]
    parts = torch.arange(real.shape[0]).tensor_split(len(makers))
    out = torch.cat([make(real[idx], g) for make, idx in zip(makers, parts) if idx.numel()])
    return random_blur(out, g)
