"""GAN (Goodfellow et al. 2014) with the non-saturating generator loss and DCGAN's Adam settings.

Two architectures: `mlp` (fully connected, the default: fastest on a CPU) and
`conv` (a small DCGAN for 28x28). D sees real and fake images in one batched
forward pass (no batch norm in D, so that is the same as two passes); `update`
chooses alternating (default) or simultaneous steps (`gan_step`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import bounded
from genlab.models.base import GenerativeModel, step
from genlab.nn import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, adam, dcgan_init


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))): the discriminator's cross-entropy (Goodfellow et al. 2014, eq. 1)."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): the non-saturating generator loss (Goodfellow et al. 2014, sec. 3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def gan_step(generate: Callable[[torch.Tensor], torch.Tensor], discriminator: Callable[[torch.Tensor], torch.Tensor],
             x: torch.Tensor, z_dim: int, opt: dict[str, torch.optim.Optimizer],
             update: str = "alternating") -> dict[str, torch.Tensor]:
    """One D and one G update; D always sees real and fake images in one forward pass.

    alternating (DCGAN's update): D steps first, then G steps against the updated D, which needs a second
    D pass over the fakes. simultaneous (PyTorch-GAN's gan.py: G first, then D on the same detached fakes):
    both players step from the same snapshot, so the one D pass serves both losses, ~1.3x less work per
    image. Either way G's backward skips D's weight gradients, which the next D step would discard.
    On the full lab study the simultaneous update gave clearly worse GAN FID on all 6 settings (1 seed;
    docs/results.md), so alternating is the default and simultaneous reproduces the reference's update.
    """
    b = x.shape[0]
    fake = generate(torch.randn(b, z_dim))
    g_params = [p for g in opt["g"].param_groups for p in g["params"]]
    d_params = [p for g in opt["d"].param_groups for p in g["params"]]
    logits = discriminator(torch.cat([x, fake if update == "simultaneous" else fake.detach()])).squeeze(1)
    real_logits, fake_logits = logits[:b], logits[b:]
    loss_d = d_loss(real_logits, fake_logits)
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
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(real_logits).mean().detach(),
            "d_fake": torch.sigmoid(fake_logits).mean().detach()}


@dataclass(frozen=True)
class GANConfig:
    z_dim: int = bounded(64, 1, 4096)  # latent size
    arch: Literal["mlp", "conv"] = "mlp"  # network family for G and D
    width: int = bounded(256, 4, 8192)  # mlp: first hidden layer of G (G: w, 2w; D: 2w, w); conv: channels
    g_norm: bool = True  # batch norm in the MLP generator's hidden layers (stabilises MLP GANs)
    lr: float = bounded(2e-4, 1e-7, 1.0)  # Adam step size for G and D (DCGAN: 2e-4)
    beta1: float = bounded(0.5, 0.0, 0.999)  # Adam beta1 (DCGAN: 0.5)
    beta2: float = bounded(0.999, 0.0, 0.99999)  # Adam beta2
    update: Literal["alternating", "simultaneous"] = "alternating"  # D then G (DCGAN), or both from one D pass


def build_gan_nets(cfg: GANConfig) -> tuple[nn.Module, nn.Module]:
    """(generator producing pre-tanh images, discriminator producing one logit)."""
    if cfg.arch == "mlp":
        w = cfg.width
        return MLPDecoder(cfg.z_dim, [w, 2 * w], norm=cfg.g_norm), MLPEncoder(1, [2 * w, w])
    return ConvDecoder(cfg.z_dim, cfg.width // 8, norm=True), ConvEncoder(1, cfg.width // 8)


class GAN(GenerativeModel):
    Config = GANConfig
    family = "gan"

    def __init__(self, cfg: GANConfig):
        super().__init__(cfg)
        self.generator, self.discriminator = build_gan_nets(cfg)
        if cfg.arch == "conv":
            dcgan_init(self)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.cfg.beta1, self.cfg.beta2)
        return {"d": adam(self.discriminator.parameters(), self.cfg.lr, betas),
                "g": adam(self.generator.parameters(), self.cfg.lr, betas)}

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.generator(z))

    def train_step(self, x, opt):
        return gan_step(self.generate, self.discriminator, x, self.cfg.z_dim, opt, self.cfg.update)

    @torch.no_grad()
    def sample(self, n, generator=None):
        return self.generate(torch.randn(n, self.cfg.z_dim, generator=generator))
