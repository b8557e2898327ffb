"""Differentiable augmentation for data-efficient GAN training (Zhao, Liu, Lin, Zhu & Han, NeurIPS 2020,
"Differentiable Augmentation for Data-Efficient GAN Training"; the authors' DiffAugment-pytorch).

On a small training set D memorises the real images and its feedback to G stops carrying information about them
(D(x) and D(G(z)) drift apart). DiffAugment applies the same random, differentiable transformations T to every
image D sees, real or generated, in D's and in G's update: D learns on T(x) and T(G(z)), G's gradient flows back
through T, so the augmentation does not leak into the samples (as augmenting the reals alone would). Policies,
as in the authors' code for images in [-1, 1]:

  color        brightness +U(-0.5, 0.5); saturation x U(0, 2) around each pixel's channel mean; contrast
               x U(0.5, 1.5) around the image's mean
  translation  an integer shift of up to 1/8 of the side in x and y, zeros shifted in
  cutout       a square of half the side, at a random place, set to zero

Random numbers come from torch's global generator, which the training loop seeds and checkpoints, so a run with
augmentation resumes bit-exactly like any other.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy.unsqueeze(0) + ty + 1, 0, h + 1)  # indices into the image padded by one zero pixel
    gx = torch.clamp(gx.unsqueeze(0) + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    idx = (gy * (w + 2) + gx).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(ch, device=x.device), torch.arange(cw, device=x.device), indexing="ij")
    gy = torch.clamp(gy.unsqueeze(0) + oy - ch // 2, 0, h - 1)
    gx = torch.clamp(gx.unsqueeze(0) + ox - cw // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[torch.arange(n, device=x.device).view(n, 1, 1), gy, gx] = 0
    return x * mask.unsqueeze(1)


POLICIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """'color,translation,cutout' -> the names, in order; '' -> none. Unknown names raise ValueError."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; use a comma-separated subset of {', '.join(POLICIES)}")
    return names


def augment(x: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    """The policies applied in order (each differentiable in x)."""
    for name in names:
        x = POLICIES[name](x)
    return x.contiguous()
