"""GAN (Goodfellow et al. 2014) with the non-saturating generator loss, and the recipe pieces that make a GAN
learn within a 10-epoch budget, each a config option measured on its own (docs/results.md, study `recipes`):

  arch          `mlp`: per-pixel outputs (speckled without the weight average, clean with it); `conv`:
                transposed-conv generator (DCGAN, Radford et al. 2016), spatially coherent by construction
  g_layers      the MLP G's depth (hidden layers doubling from `width`): 3 beat 2 at the same cost
  ema_nimg      exponential moving average of G's weights for every sample, figure and metric (Yazici et al.,
                ICLR 2019), with the decay ramped as in StyleGAN2-ADA (Karras et al. 2020)
  d_sn          spectral normalisation of D's layers (Miyato et al., ICLR 2018)
  lr_d          D's own step size: two time-scale update rule (Heusel et al., NeurIPS 2017)
  d_dropout     dropout in D's hidden layers
  g_norm        batch norm in G (DCGAN); with EMA, the averaged G's batch-norm statistics are re-estimated
                from its own outputs (`recalibrate_bn`), since G's running statistics belong to other weights
  r1_gamma      R1 gradient penalty on real images (Mescheder et al., ICML 2018), lazily every r1_every steps
                (Karras et al. 2020)
  d_mbstd       minibatch standard deviation as one more feature of D's last layer (Karras et al., ICLR 2018,
                sec. 3), so D can see a batch's lack of variety

D sees real and fake images in one batched forward pass (no batch norm in D, so that is the same as two
passes); `update` chooses alternating (default) or simultaneous steps (`gan_step`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genlab.core.bounds import bounded
from genlab.core.errors import GenlabError
from genlab.models.base import GenerativeModel
from genlab.models.diffaugment import augment, parse_policy
from genlab.models.nn import MNIST_SHAPE, ConvDecoder, MLPDecoder, adam, bottom, dcgan_init, numel

BN_RECALIBRATION = (8, 256)  # batches x samples of noise that re-estimate the EMA generator's batch-norm statistics
BN_RECALIBRATION_SEED = 97  # fixed noise: the statistics are a pure function of the averaged weights


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))): the discriminator's cross-entropy (Goodfellow et al. 2014, eq. 1)."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): the non-saturating generator loss (Goodfellow et al. 2014, sec. 3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def r1_penalty(discriminator: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """E ||grad_x D(x)||^2 on real images (Mescheder et al. 2018, eq. 9, without the gamma/2 factor)."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def lazy_r1_weight(optimizer: torch.optim.Optimizer, gamma: float, every: int) -> float:
    """The R1 weight for this step of `optimizer` (its checkpointed step count): gamma/2 x every on every `every`-th
    step, else 0 (lazy regularisation, StyleGAN2 sec. 3.1); 0 when gamma is 0."""
    if not gamma:
        return 0.0
    step = int(next(iter(optimizer.state.values()), {}).get("step", 0))
    return 0.5 * gamma * every if step % every == 0 else 0.0


def ema_beta(batch: int, images_seen: float, ema_nimg: float, rampup: float) -> float:
    """Per-step decay of the G average: 0.5 ** (batch / half-life), half-life = min(ema_nimg, rampup * images
    seen) images (StyleGAN2-ADA, training/training_loop.py), so early averages forget the random init fast."""
    half_life = min(ema_nimg, rampup * images_seen) if rampup > 0 else ema_nimg
    return 0.5 ** (batch / max(half_life, 1e-8))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * model, parameters only (buffers are re-estimated, `recalibrate_bn`)."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - beta)


@torch.no_grad()
def recalibrate_bn(net: nn.Module, z_dim: int) -> None:
    """Re-estimate every batch-norm layer's running statistics as the plain average over fixed noise batches
    ("precise BN"): the averaged weights' own statistics, not those G accumulated with other weights."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = {m: m.momentum for m in bns}
    g = torch.Generator().manual_seed(BN_RECALIBRATION_SEED)
    device = next(net.parameters()).device
    was_training = net.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    net.train()
    batches, size = BN_RECALIBRATION
    for _ in range(batches):
        net(torch.randn(size, z_dim, generator=g).to(device))
    for m, mom in saved.items():
        m.momentum = mom
    net.train(was_training)


def gan_step(
    generate: Callable[[torch.Tensor], torch.Tensor],
    discriminator: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    z_dim: int,
    opt: dict[str, torch.optim.Optimizer],
    update: str = "alternating",
    r1: float = 0.0,
) -> dict[str, torch.Tensor]:
    """One D and one G update; D always sees real and fake images in one forward pass.

    alternating (DCGAN's update): D steps first, then G steps against the updated D, which needs a second
    D pass over the fakes. simultaneous (PyTorch-GAN's gan.py: G first, then D on the same detached fakes):
    both players step from the same snapshot, so the one D pass serves both losses, ~1.3x less work per
    image. Either way G's backward skips D's weight gradients, which the next D step would discard.
    On the full lab study the simultaneous update gave clearly worse GAN FID on all 6 settings (1 seed;
    docs/results.md), so alternating is the default and simultaneous reproduces the reference's update.
    `r1` > 0 adds r1 * R1 penalty to D's loss this step (the caller scales it for lazy regularisation).
    """
    b = x.shape[0]
    fake = generate(torch.randn(b, z_dim, device=x.device))
    g_params = [p for g in opt["g"].param_groups for p in g["params"]]
    d_params = [p for g in opt["d"].param_groups for p in g["params"]]
    logits = discriminator(torch.cat([x, fake if update == "simultaneous" else fake.detach()])).squeeze(1)
    real_logits, fake_logits = logits[:b], logits[b:]
    loss_d = d_loss(real_logits, fake_logits)
    out = {}
    if r1 > 0:
        penalty = r1_penalty(discriminator, x)
        out["r1"] = penalty.detach()
        loss_d = loss_d + r1 * penalty
    for o in opt.values():
        o.zero_grad(set_to_none=True)
    if update == "simultaneous":
        loss_g = g_loss_nonsaturating(fake_logits)
        loss_d.backward(inputs=d_params, retain_graph=True)  # D's weights only: the fakes count as constants
        loss_g.backward(inputs=g_params)  # through D to G, without D's weight gradients
        opt["d"].step()
    else:
        loss_d.backward(inputs=d_params)
        opt["d"].step()
        loss_g = g_loss_nonsaturating(discriminator(fake).squeeze(1))
        loss_g.backward(inputs=g_params)
    opt["g"].step()
    return {
        "loss_d": loss_d.detach(),
        "loss_g": loss_g.detach(),
        "d_real": torch.sigmoid(real_logits).mean().detach(),
        "d_fake": torch.sigmoid(fake_logits).mean().detach(),
        **out,
    }


@dataclass(frozen=True)
class GANConfig:
    ABSENT_MEANS = {"g_layers": 2}  # a config.json written before g_layers existed trained a 2-layer G
    z_dim: int = bounded(64, 1, 4096)  # latent size
    arch: Literal["mlp", "conv"] = "mlp"  # G's network family (and D's when d_arch=same). With the rest of the
    #   recipe (EMA, R1, Adam 1e-3 beta1 0, batch 32) the MLP G beat the conv G at all six lab settings over 3
    #   seeds (lower FID, higher precision, coverage and recognisable share, lower k-NN recall) in ~55 % of its
    #   time; without them, as in genlab 0.1, it speckled (docs/results.md, 2026-11-26 night)
    width: int = bounded(192, 8, 8192)  # mlp: G's first hidden layer (G: z -> w -> 2w -> 4w -> 784 with g_layers 3;
    #   D, if it has no d_width: 784 -> 2w -> w -> 1); conv: 8 x G's last channels (G: z -> 7x7 x w/4 -> 14x14 x w/8
    #   -> 28x28; D: 28x28 -> 14x14 x w/8 -> 7x7 x w/4 -> 1). With two hidden layers 384 beat 256 (MNIST
    #   recognisable share higher at all 9 settings x seeds) and 512 added nothing (docs/results.md, 2026-11-26 late);
    #   a third layer at 192 beat both (g_layers)
    d_arch: Literal["same", "mlp", "conv"] = "mlp"  # D's network family; same = arch. An MLP D (784-512-256-1) kept
    #   a conv G from collapsing where a conv D of matching cost overpowered it (docs/results.md)
    d_width: int = bounded(256, 0, 8192)  # D's width in the same units as width (mlp: 2w, w; conv: w/8, w/4
    #   channels); 0 = width
    g_layers: int = bounded(3, 1, 6)  # mlp: G's hidden layers, widths doubling from width (3: 192-384-768; 4 is
    #   PyTorch-GAN's MLP G, 128-256-512-1024). 3 at width 192 over 2 at 384, at 0.95-0.99x the speed, 3 seeds:
    #   MNIST FID 22.5 / 24.2 / 27.1 -> 20.5 / 21.0 / 20.1, recognisable 0.852 / 0.849 / 0.845 -> 0.863 / 0.863 /
    #   0.862; Fashion-MNIST FID 32.2 / 34.8 / 37.3 -> 30.8 / 30.2 / 32.4; k-NN recall lower (MNIST 0.70 -> 0.66,
    #   Fashion-MNIST 0.20 -> 0.13). Wider or deeper: <= 0.006 more for 1.2x (docs/results.md, 2026-11-26
    #   three-layer G)
    g_fc: int = bounded(0, 0, 8192)  # conv G: a hidden FC layer of this many units before the 7x7 map (InfoGAN-style
    #   G of Lucic et al. 2018: 1024); 0 = none
    d_fc: int = bounded(0, 0, 8192)  # conv D: a hidden FC layer before the logit (Lucic et al.: 1024); 0 = none
    g_norm: bool = True  # batch norm in G's hidden layers (DCGAN; stabilises MLP GANs)
    d_sn: bool = False  # spectral norm on every D layer (Miyato et al. 2018)
    d_dropout: float = bounded(0.0, 0.0, 0.9)  # dropout after each hidden D activation
    lr: float = bounded(1e-3, 1e-7, 1.0)  # Adam step size for G, and for D unless lr_d is set. DCGAN's 2e-4 learns
    #   ~1.7x slower in FID over the first 2 epochs at batch 32 (2 seeds) and no better by epoch 10; 2e-3 is worse
    #   (docs/results.md, 2026-11-26 learning rate)
    lr_d: float = bounded(0.0, 0.0, 1.0)  # D's Adam step size; 0 = lr. TTUR (Heusel et al. 2017): D 4e-4, G 1e-4
    beta1: float = bounded(0.0, 0.0, 0.999)  # Adam beta1: 0 as in StyleGAN2 (Karras et al. 2020, with R1); DCGAN's
    #   0.5 learned slower: quick profile FID 118-124 -> 90-96, recognisable 0.68-0.71 -> 0.73-0.75 (2 seeds); full
    #   profile MNIST z 32 / 64 better, z 128 and Fashion-MNIST level (docs/results.md, 2026-11-26 Adam's beta1)
    beta2: float = bounded(0.999, 0.0, 0.99999)  # Adam beta2
    ema_nimg: int = bounded(60_000, 0, 10**9)  # half-life of G's weight average in images; 0 = no average
    #   (StyleGAN2-ADA: 10,000, ramp 0.05). 60,000 with ramp 0.1 smooths the late FID spikes of Adam beta1 0: same
    #   training, MNIST z 32 / 64 FID 45.2 / 43.1 -> 39.6 / 36.5; quick profile level (docs/results.md, 2026-11-26)
    ema_rampup: float = bounded(0.1, 0.0, 1.0)  # half-life <= this x images seen (StyleGAN2-ADA: 0.05); 0 = no ramp
    r1_gamma: float = bounded(1.0, 0.0, 1e4)  # R1 weight gamma (penalty gamma/2 E|grad D(x)|^2); 0 = off. gamma 1
    #   took MNIST z64 FID at 10 epochs from 61-72 to 48-49 (Adam 1e-3 and 2e-4; docs/results.md, 2026-11-26)
    r1_every: int = bounded(16, 1, 10**6)  # lazy R1: every N steps, scaled by N (StyleGAN2)
    update: Literal["alternating", "simultaneous"] = "alternating"  # D then G (DCGAN), or both from one D pass
    augment: str = ""  # DiffAugment policies applied to every image D sees, real and fake (Zhao et al. 2020;
    #   genlab.models.diffaugment): a comma-separated subset of color, translation, cutout; "" = none
    d_mbstd: int = bounded(0, 0, 256)  # minibatch standard deviation layer before D's logit (ProGAN, Karras et al.
    #   2018, sec. 3; StyleGAN2's group of 4): the spread of D's last features over groups of this many images of
    #   one kind (real or fake), appended as one more feature; 0 = off

    def check(self) -> None:
        """Combinations that cannot work, as one line (called by the config validator)."""
        try:
            parse_policy(self.augment)
        except ValueError as e:
            raise GenlabError(f"model.augment={self.augment}: {e}") from None
        conv_d = self.d_arch == "conv" or (self.d_arch == "same" and self.arch == "conv")
        for key, value, conv in (("width", self.width, self.arch == "conv"), ("d_width", self.d_width, conv_d)):
            if conv and 0 < value < 16:
                raise GenlabError(f"model.{key}={value} is too small for a conv network; use 16 or more")


class MinibatchStd(nn.Module):
    """(B,F...) -> (B,F+1...): one more feature (channel), each image's group's standard deviation over the group,
    averaged over features and positions (ProGAN, Karras et al. 2018, sec. 3; StyleGAN2's MinibatchStdLayer).
    A D that sees a batch of near-copies can tell it from a real batch, which pushes G towards variety.

    Groups are runs of `group` consecutive images, so D's one pass over [real; fake] never mixes the two kinds
    when the group divides the batch; a batch the group does not divide uses the largest size dividing both."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        g = math.gcd(self.group, b)  # the group itself when it divides the batch
        y = x.reshape(b // g, g, *x.shape[1:])
        std = (y.var(dim=1, unbiased=False) + 1e-8).sqrt().flatten(1).mean(1)  # (B/g,): one spread per group
        feature = std.repeat_interleave(g).reshape(b, 1, *([1] * (x.dim() - 2))).expand(b, 1, *x.shape[2:])
        return torch.cat([x, feature], dim=1)

    def extra_repr(self) -> str:
        return f"group={self.group}"


class MLPDiscriminator(nn.Module):
    """(B,C,H,W) -> (B,1): C*H*W (784) -> 2w -> w -> 1 with LeakyReLU(0.2), optional dropout; with `mbstd` > 0 the
    minibatch standard deviation joins the last hidden layer's w features."""

    def __init__(self, width: int, dropout: float, shape: tuple[int, int, int] = MNIST_SHAPE, mbstd: int = 0):
        super().__init__()
        drop = [nn.Dropout(dropout)] if dropout else []
        std = [MinibatchStd(mbstd)] if mbstd else []
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(numel(shape), 2 * width),
            nn.LeakyReLU(0.2),
            *drop,
            nn.Linear(2 * width, width),
            nn.LeakyReLU(0.2),
            *drop,
            *std,
            nn.Linear(width + len(std), 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDiscriminator(nn.Module):
    """(B,C,H,W) -> (B,1): two stride-2 4x4 convs (28 -> 14 -> 7, c and 2c channels), LeakyReLU(0.2), a linear
    head (DCGAN's D for 28x28, as in Lucic et al.'s InfoGAN-style net without its FC layer); with `mbstd` > 0 the
    minibatch standard deviation is one more channel of the last feature map, as in ProGAN's D."""

    def __init__(self, c: int, dropout: float, fc: int = 0, shape: tuple[int, int, int] = MNIST_SHAPE, mbstd: int = 0):
        super().__init__()
        drop = [nn.Dropout(dropout)] if dropout else []
        std = [MinibatchStd(mbstd)] if mbstd else []
        flat = (2 * c + len(std)) * bottom(shape) ** 2
        head = [nn.Linear(flat, fc), nn.LeakyReLU(0.2), *drop, nn.Linear(fc, 1)] if fc else [nn.Linear(flat, 1)]
        self.net = nn.Sequential(
            nn.Conv2d(shape[0], c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            *drop,
            nn.Conv2d(c, 2 * c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            *drop,
            *std,
            nn.Flatten(),
            *head,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_gan_nets(cfg: GANConfig, shape: tuple[int, int, int] = MNIST_SHAPE) -> tuple[nn.Module, nn.Module]:
    """(generator producing pre-tanh images of `shape`, discriminator producing one logit)."""
    w, dw = cfg.width, cfg.d_width or cfg.width
    if cfg.arch == "mlp":
        g = MLPDecoder(cfg.z_dim, [w * 2**i for i in range(cfg.g_layers)], norm=cfg.g_norm, shape=shape)
    else:
        g = ConvDecoder(cfg.z_dim, w // 8, norm=cfg.g_norm, fc=cfg.g_fc, shape=shape)
        dcgan_init(g)
    if (cfg.arch if cfg.d_arch == "same" else cfg.d_arch) == "mlp":
        d = MLPDiscriminator(dw, cfg.d_dropout, shape, cfg.d_mbstd)
    else:
        d = ConvDiscriminator(dw // 8, cfg.d_dropout, cfg.d_fc, shape, cfg.d_mbstd)
        dcgan_init(d)
    if cfg.d_sn:
        for m in d.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                spectral_norm(m)
    return g, d


class GAN(GenerativeModel):
    Config = GANConfig
    family = "gan"
    label = "GAN"
    curve_panels = (("loss_d", "loss_g"), ("d_real", "d_fake"))
    curve_ylabels = ("loss", "mean D output")
    generator_loss = "loss_g"

    def __init__(self, cfg: GANConfig, shape: tuple[int, int, int] = MNIST_SHAPE):
        super().__init__(cfg, shape)
        self.generator, self.discriminator = build_gan_nets(cfg, self.shape)
        if cfg.ema_nimg:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
            self.register_buffer("images_seen", torch.zeros((), dtype=torch.float64))  # drives the EMA ramp
        self._bn_stale = True  # the EMA generator's batch-norm statistics need re-estimating before sampling

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.cfg.beta1, self.cfg.beta2)
        return {
            "d": adam(self.discriminator.parameters(), self.cfg.lr_d or self.cfg.lr, betas),
            "g": adam(self.generator.parameters(), self.cfg.lr, betas),
        }

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.generator(z))

    def train_step(self, x, opt):
        cfg = self.cfg
        r1 = lazy_r1_weight(opt["d"], cfg.r1_gamma, cfg.r1_every)
        names = parse_policy(cfg.augment)
        d = (lambda y: self.discriminator(augment(y, names))) if names else self.discriminator
        out = gan_step(self.generate, d, x, cfg.z_dim, opt, cfg.update, r1)
        if cfg.ema_nimg:
            self.images_seen += x.shape[0]
            ema_update(
                self.generator_ema,
                self.generator,
                ema_beta(x.shape[0], float(self.images_seen), cfg.ema_nimg, cfg.ema_rampup),
            )
            self._bn_stale = True
        return out

    def sampling_generator(self) -> nn.Module:
        """The network every sample comes from: the weight average when there is one (its batch-norm statistics
        re-estimated first), else G itself."""
        if not self.cfg.ema_nimg:
            return self.generator
        if self._bn_stale:
            recalibrate_bn(self.generator_ema, self.cfg.z_dim)
            self._bn_stale = False
        self.generator_ema.eval()
        return self.generator_ema

    @torch.no_grad()
    def sample(self, n, generator=None):
        net = self.sampling_generator()
        z = torch.randn(n, self.cfg.z_dim, generator=generator)  # drawn on the CPU: the same noise on any device
        return torch.tanh(net(z.to(next(net.parameters()).device)))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._bn_stale = True
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
