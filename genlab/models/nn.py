"""The few layers every model shares: MLP stacks and conv encoders/decoders, plus init.

Shapes: images are (B, C, H, W) in [-1, 1], the data source's shape (MNIST: 1 x 28 x 28); the conv stacks
halve the side twice (28 -> 14 -> 7) and double it back, so H = W must be a multiple of 4.
"""

from __future__ import annotations

import torch
from torch import nn

MNIST_SHAPE = (1, 28, 28)  # what a model is built for when nobody names a data source (tests, benchmarks)
PIXELS = 28 * 28  # MNIST's pixels (the flow family's default noise size)


def numel(shape: tuple[int, ...]) -> int:
    """Values per image: C x H x W."""
    out = 1
    for d in shape:
        out *= d
    return out


def bottom(shape: tuple[int, int, int]) -> int:
    """The side of a conv stack's smallest feature map (two stride-2 layers)."""
    if shape[1] != shape[2] or shape[1] % 4:
        raise ValueError(f"conv stacks need square images with a side divisible by 4, not {shape[1]}x{shape[2]}")
    return shape[1] // 4


def mlp(
    sizes: list[int], act: type[nn.Module] = nn.LeakyReLU, final_act: bool = False, norm: bool = False
) -> nn.Sequential:
    """Linear layers with an activation between them (and batch norm before it when asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_act:
            if norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(act(0.2) if act is nn.LeakyReLU else act())
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """(B,C,H,W) -> (B, out_dim): two stride-2 convs (28->14->7) and a linear head."""

    def __init__(self, out_dim: int, width: int = 32, shape: tuple[int, int, int] = MNIST_SHAPE):
        super().__init__()
        s = bottom(shape)
        self.features = nn.Sequential(
            nn.Conv2d(shape[0], width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * width * s * s, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


CHANNELS_LAST = True  # the transposed convs on NHWC activations: oneDNN's fast path on the CPU, 1.16x the GAN's
#   images/s at batch 32 (the convs were half of a step; bench/gan_speed.py --layout measures it side by side)


class ConvDecoder(nn.Module):
    """(B, z_dim) -> (B,C,H,W) pre-activation: an optional hidden FC layer (`fc` units; InfoGAN/Lucic et al.'s
    G has 1024), a linear stem to 7x7 x 2w (H/4), and two stride-2 transposed convs (7 -> 14 -> 28)."""

    def __init__(
        self, z_dim: int, width: int = 32, norm: bool = False, fc: int = 0, shape: tuple[int, int, int] = MNIST_SHAPE
    ):
        super().__init__()
        c = 2 * width
        s = self.side = bottom(shape)
        norm_layer = (lambda n: nn.BatchNorm2d(n)) if norm else (lambda n: nn.Identity())
        if fc:
            self.stem = nn.Sequential(
                nn.Linear(z_dim, fc), nn.BatchNorm1d(fc) if norm else nn.Identity(), nn.ReLU(), nn.Linear(fc, c * s * s)
            )
        else:  # a plain Linear keeps the state-dict keys of runs saved before `fc` existed
            self.stem = nn.Linear(z_dim, c * s * s)
        self.body = nn.Sequential(
            norm_layer(c),
            nn.ReLU(),
            nn.ConvTranspose2d(c, width, 4, 2, 1),
            norm_layer(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, shape[0], 4, 2, 1),
        )
        self.c = c

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z).view(-1, self.c, self.side, self.side)
        if CHANNELS_LAST:
            h = h.contiguous(memory_format=torch.channels_last)
        return self.body(h).contiguous()


class MLPDecoder(nn.Module):
    """(B, z_dim) -> (B,C,H,W) pre-activation."""

    def __init__(
        self,
        z_dim: int,
        hidden: list[int],
        act: type[nn.Module] = nn.LeakyReLU,
        norm: bool = False,
        shape: tuple[int, int, int] = MNIST_SHAPE,
    ):
        super().__init__()
        self.shape = tuple(shape)
        self.net = mlp([z_dim, *hidden, numel(shape)], act, norm=norm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


class MLPEncoder(nn.Module):
    """(B,C,H,W) -> (B, out_dim)."""

    def __init__(self, out_dim: int, hidden: list[int], shape: tuple[int, int, int] = MNIST_SHAPE):
        super().__init__()
        self.net = mlp([numel(shape), *hidden, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights for conv/linear layers, as in DCGAN (Radford et al. 2016, sec. 4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def adam(params, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam with the fused kernel (one op for all parameters); against the per-tensor variants the difference on
    2 CPU cores was within the machine's run-to-run noise (bench/adam_modes.py, docs/results.md)."""
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
