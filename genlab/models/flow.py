"""Flow matching in pixel space (the family that leads image generation today, with diffusion): a velocity
field v(x_t, t) on images, trained on straight noise-to-image paths and sampled by integrating an ODE.

Objective: conditional flow matching with the optimal-transport path (Lipman et al., ICLR 2023, eq. 22-23), the
same as rectified flow (Liu et al., ICLR 2023, eq. 1): x0 ~ N(0, I), x1 a training image in [-1, 1],
x_t = (1 - t) x0 + t x1, loss || v(x_t, t) - (x1 - x0) ||^2 summed over pixels (genlab.models.flow_matching).
`t_sampling="logit-normal"` draws t = sigmoid(N(0, 1)) instead of U(0, 1) (Esser et al., ICML 2024, sec. 3.1:
more weight on the middle of the path, where the velocity is hardest to predict).

Velocity networks (`arch`):
  unet   a small U-Net (Ronneberger et al. 2015, as in DDPM, Ho et al. 2020): residual blocks with group norm and
         SiLU at 28x28 (w channels), 14x14 and 7x7 (2w), skip connections, the time embedding added in every
         block; spatially coherent by construction
  mlp    an MLP on the flattened image, the time embedding added in every layer: ~25x cheaper per image
Samples come from an exponential moving average of the weights (as for the GAN; Karras et al. 2020's ramp), with
a fixed-step deterministic solver: `nfe` velocity evaluations (`solver` euler, or midpoint with nfe // 2 steps),
recorded in eval.json's protocol.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from genlab.core.bounds import bounded
from genlab.core.errors import GenlabError
from genlab.models.base import GenerativeModel, step
from genlab.models.flow_matching import integrate, path_times, straight_path, time_embedding
from genlab.models.gan import ema_beta, ema_update
from genlab.models.nn import MNIST_SHAPE, PIXELS, adam, bottom, numel


@dataclass(frozen=True)
class FlowConfig:
    z_dim: int = bounded(PIXELS, 1, 1 << 22)  # the noise a sample starts from: one number per pixel, so it must be
    #   the data's C x H x W (a flow has no smaller latent; the run name shows it: z784 for MNIST)
    arch: Literal["unet", "mlp"] = "mlp"  # the velocity network
    width: int = bounded(1024, 8, 8192)  # unet: channels at 28x28 (2x at 14x14 and 7x7); mlp: hidden units. On one
    #   CPU thread the MLP 1024 x 3 (3.7 M weights, 21 MFLOP a training image) beat 512 (FID 77.6 vs 51.3 at 8
    #   epochs) and 2048 (190.5 at 80 s vs 125.5 at 85 s) at matched time; a U-Net is ~25x dearer per image
    depth: int = bounded(3, 1, 12)  # mlp: hidden layers (unet: fixed, one residual block per level and side)
    lr: float = bounded(1e-3, 1e-7, 1.0)  # Adam step size
    beta1: float = bounded(0.9, 0.0, 0.999)  # Adam beta1
    beta2: float = bounded(0.999, 0.0, 0.99999)  # Adam beta2
    ema_nimg: int = bounded(30_000, 0, 10**9)  # half-life of the weight average in images; 0 = sample the raw weights
    ema_rampup: float = bounded(0.1, 0.0, 1.0)  # half-life <= this x images seen; 0 = no ramp
    t_sampling: Literal["uniform", "logit-normal"] = "logit-normal"  # how training times are drawn: logit-normal
    #   reached at 4 epochs what uniform did at 8 (MNIST FID 54.9 vs 84.9, recognisable 0.827 vs 0.774; 2,000
    #   samples, 1 seed; docs/results.md, 2026-12-02 pixel flow)
    prediction: Literal["velocity", "image"] = "image"  # what the network outputs: the velocity itself, or the clean
    #   image x1, from which v = (x1_hat - x_t) / (1 - t) (Li & He 2025, "Back to Basics": x-prediction). The MLP
    #   predicting the velocity leaves heavy salt-and-pepper noise at 3 epochs; predicting the image, clean strokes
    loss: Literal["velocity", "image"] = "image"  # the regression target: the velocity, or (image prediction
    #   only) the clean image. With image prediction the velocity loss (weight 1 / (1 - t)^2 on the image error)
    #   stalled at FID 351 after 4 epochs where the image loss reached 84.9
    solver: Literal["euler", "midpoint"] = "midpoint"  # the sampler's ODE solver
    nfe: int = bounded(32, 1, 10_000)  # velocity evaluations per sample

    def check(self) -> None:
        """Combinations that cannot work, as one line (called by the config validator)."""
        if self.loss == "image" and self.prediction == "velocity":
            raise GenlabError("model.loss=image needs model.prediction=image; use model.loss=velocity")


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time embedding added between (DDPM's block), 1x1 conv on the skip."""

    def __init__(self, cin: int, cout: int, t_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(t_dim, cout)
        self.norm2 = nn.GroupNorm(min(8, cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.time(emb)[:, :, None, None]
        h = self.conv2(self.act(self.norm2(h)))
        return h + self.skip(x)


class VelocityUNet(nn.Module):
    """v(x, t) for (B,C,H,W) images: 28x28 (w) -> 14x14 (2w) -> 7x7 (2w), a middle block, and back up with skip
    connections; stride-2 convs down, nearest-neighbour upsampling and a conv up."""

    def __init__(self, width: int, shape: tuple[int, int, int] = MNIST_SHAPE):
        super().__init__()
        bottom(shape)  # square, a side divisible by 4
        w, t_dim = width, 4 * width
        self.t_in = width
        self.time = nn.Sequential(nn.Linear(width, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.stem = nn.Conv2d(shape[0], w, 3, padding=1)
        self.down0 = ResBlock(w, w, t_dim)  # 28x28
        self.pool0 = nn.Conv2d(w, w, 3, stride=2, padding=1)  # -> 14x14
        self.down1 = ResBlock(w, 2 * w, t_dim)
        self.pool1 = nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1)  # -> 7x7
        self.mid = ResBlock(2 * w, 2 * w, t_dim)
        self.up1 = ResBlock(4 * w, 2 * w, t_dim)  # 7x7 with the 7x7 input's skip
        self.unpool1 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * w, 2 * w, 3, padding=1))
        self.up0 = ResBlock(4 * w, w, t_dim)  # 14x14 with down1's output
        self.unpool0 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w, w, 3, padding=1))
        self.out = ResBlock(2 * w, w, t_dim)  # 28x28 with down0's output
        self.head = nn.Sequential(nn.GroupNorm(min(8, w), w), nn.SiLU(), nn.Conv2d(w, shape[0], 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time(time_embedding(t, self.t_in))
        h0 = self.down0(self.stem(x), emb)  # 28x28, w
        h1 = self.down1(self.pool0(h0), emb)  # 14x14, 2w
        h2 = self.pool1(h1)  # 7x7, 2w
        m = self.mid(h2, emb)
        u = self.up1(torch.cat([m, h2], 1), emb)
        u = self.up0(torch.cat([self.unpool1(u), h1], 1), emb)
        u = self.out(torch.cat([self.unpool0(u), h0], 1), emb)
        return self.head(u)


class VelocityMLP(nn.Module):
    """v(x, t) as an MLP on the flattened image, SiLU between layers, the time embedding projected into every
    hidden layer (as the U-Net's blocks get it), so late layers still know how far along the path x is."""

    def __init__(self, width: int, depth: int, t_dim: int = 64, shape: tuple[int, int, int] = MNIST_SHAPE):
        super().__init__()
        self.t_dim, self.shape = t_dim, tuple(shape)
        sizes = [numel(shape), *([width] * depth)]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.time = nn.ModuleList(nn.Linear(t_dim, b) for b in sizes[1:])
        self.head = nn.Linear(width, numel(shape))
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = time_embedding(t, self.t_dim)
        h = x.flatten(1)
        for layer, time in zip(self.layers, self.time):
            h = self.act(layer(h) + time(emb))
        return self.head(h).view(-1, *self.shape)


def build_velocity(cfg: FlowConfig, shape: tuple[int, int, int] = MNIST_SHAPE) -> nn.Module:
    return VelocityUNet(cfg.width, shape) if cfg.arch == "unet" else VelocityMLP(cfg.width, cfg.depth, shape=shape)


T_CLAMP = 0.05  # 1 - t is never taken below this when a velocity is derived from an image prediction (Li & He 2025)


def as_velocity(net_out: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, prediction: str) -> torch.Tensor:
    """The velocity a network output stands for: itself, or (image prediction) (x1_hat - x_t) / (1 - t)."""
    if prediction == "velocity":
        return net_out
    return (net_out - xt) / (1 - t).clamp_min(T_CLAMP).view(-1, 1, 1, 1)


def flow_matching_loss(net: nn.Module, x1: torch.Tensor, cfg: FlowConfig) -> torch.Tensor:
    """|| v(x_t, t) - (x1 - x0) ||^2 per image, averaged over the batch (Lipman et al. 2023, eq. 23); with image
    prediction and the image loss, || x1_hat - x1 ||^2 instead."""
    x0 = torch.randn_like(x1)
    t = path_times(x1.shape[0], cfg.t_sampling, x1.device)
    xt, target = straight_path(x0, x1, t)
    out = net(xt, t)
    if cfg.prediction == "image" and cfg.loss == "image":
        return (out - x1).pow(2).flatten(1).sum(1).mean()
    return (as_velocity(out, xt, t, cfg.prediction) - target).pow(2).flatten(1).sum(1).mean()


class Flow(GenerativeModel):
    Config = FlowConfig
    family = "flow"
    label = "Flow matching"
    curve_panels = (("loss",),)
    curve_ylabels = ("flow-matching loss (squared velocity error per image)",)

    def __init__(self, cfg: FlowConfig, shape: tuple[int, int, int] = MNIST_SHAPE):
        super().__init__(cfg, shape)
        self.check_shape(cfg, self.shape)
        self.velocity = build_velocity(cfg, self.shape)
        if cfg.ema_nimg:
            self.velocity_ema = copy.deepcopy(self.velocity).requires_grad_(False)
            self.register_buffer("images_seen", torch.zeros((), dtype=torch.float64))  # drives the average's ramp

    @classmethod
    def check_shape(cls, cfg: FlowConfig, shape: tuple[int, int, int]) -> None:
        if cfg.z_dim != numel(shape):
            raise GenlabError(
                f"model.z_dim={cfg.z_dim}: a flow's noise has one number per pixel, so for "
                f"{'x'.join(map(str, shape))} images it must be {numel(shape)}"
            )

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"v": adam(self.velocity.parameters(), self.cfg.lr, (self.cfg.beta1, self.cfg.beta2))}

    def train_step(self, x, opt):
        loss = flow_matching_loss(self.velocity, x, self.cfg)
        step(opt["v"], loss)
        if self.cfg.ema_nimg:
            self.images_seen += x.shape[0]
            beta = ema_beta(x.shape[0], float(self.images_seen), self.cfg.ema_nimg, self.cfg.ema_rampup)
            ema_update(self.velocity_ema, self.velocity, beta)
        return {"loss": loss.detach()}

    def sampling_velocity(self):
        """v(x, t) of the network every sample comes from: the weight average when there is one."""
        net = (self.velocity_ema if self.cfg.ema_nimg else self.velocity).eval()
        if self.cfg.prediction == "image":  # the clean image clipped to the data's range before the velocity is
            #   derived (DDPM's clip_denoised, Ho et al. 2020): unclipped, an MLP's extrapolation far from the data
            #   fed back through 1 / (1 - t) sent 7 of 2,000 MNIST samples to infinity after 10 epochs
            return lambda x, t: as_velocity(net(x, t).clamp(-1, 1), x, t, "image")
        return lambda x, t: as_velocity(net(x, t), x, t, self.cfg.prediction)

    def _noise(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        z = torch.randn(n, *self.shape, generator=generator)  # drawn on the CPU: the same noise on any device
        return z.to(next(self.parameters()).device)

    def sampling_protocol(self) -> str:
        c = self.cfg
        net = "the weight average's" if c.ema_nimg else "the trained"
        out = "clean-image prediction, v = (x1_hat - x_t) / max(1 - t, 0.05)" if c.prediction == "image" else "velocity"
        return (
            f"deterministic ODE from N(0, I) noise, t = 0 -> 1: {c.solver} solver, {c.nfe} velocity evaluations of "
            f"{net} {c.arch} network ({out}); pixels clamped to [-1, 1]"
        )

    @torch.no_grad()
    def sample(self, n, generator=None):
        x = integrate(self.sampling_velocity(), self._noise(n, generator), self.cfg.nfe, self.cfg.solver)
        return x.clamp(-1, 1)

    @torch.no_grad()
    def trajectory(self, n: int, generator: torch.Generator | None = None, frames: int = 9) -> torch.Tensor:
        """(frames, n, C, H, W): n samples seen at `frames` evenly spaced times from t = 0 (noise) to 1."""
        seen: list[torch.Tensor] = []
        integrate(self.sampling_velocity(), self._noise(n, generator), self.cfg.nfe, self.cfg.solver, seen)
        pick = torch.linspace(0, len(seen) - 1, frames).round().long()
        return torch.stack([seen[i] for i in pick]).clamp(-1, 1)
