"""VAE (Kingma & Welling 2014): Gaussian encoder, reparameterization, decoder, ELBO.

Pixels x in [-1, 1] are modelled as Bernoulli means p = (x + 1) / 2 (the
cross-entropy VAE that Dai & Wipf 2019 report as the strongest plain VAE on
MNIST-like data); `recon = "gaussian"` uses a unit-variance Gaussian instead
(squared error / 2, plus the constant, in nats). Loss per image, summed over
pixels and latent dims, averaged over the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from genlab.core.bounds import bounded
from genlab.models.base import GenerativeModel, step
from genlab.models.nn import MNIST_SHAPE, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, adam


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator=None) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I) (Kingma & Welling 2014, sec. 2.4)."""
    if (
        generator is not None and generator.device != mu.device
    ):  # a CPU generator's draws, moved: the same on any device
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=generator.device).to(mu.device)
    else:
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per latent dim, (B, z) (Kingma & Welling 2014, appendix B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per image in nats, pixels as Bernoulli means (x+1)/2; (B,)."""
    return F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="none").flatten(1).sum(1)


def gaussian_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log N(x; tanh(logits), I) per image in nats; (B,)."""
    d = x[0].numel()
    return 0.5 * (torch.tanh(logits) - x).pow(2).flatten(1).sum(1) + 0.5 * d * math.log(2 * math.pi)


RECON_NLL = {"bernoulli": bernoulli_nll, "gaussian": gaussian_nll}


@dataclass(frozen=True)
class VAEConfig:
    z_dim: int = bounded(16, 1, 4096)  # latent size
    arch: Literal["mlp", "conv"] = "mlp"  # network family for encoder and decoder
    width: int = bounded(512, 4, 8192)  # mlp: first hidden layer (w, w/2); conv: channels x 8
    recon: Literal["bernoulli", "gaussian"] = "bernoulli"  # observation model p(x|z)
    beta: float = bounded(1.0, 0.0, 1000.0)  # KL weight; 1 = the ELBO
    lr: float = bounded(1e-3, 1e-7, 1.0)  # Adam step size
    beta1: float = bounded(0.9, 0.0, 0.999)  # Adam beta1
    beta2: float = bounded(0.999, 0.0, 0.99999)  # Adam beta2


def build_autoencoder(cfg, shape: tuple[int, int, int] = MNIST_SHAPE) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(encoder to 2*z_dim numbers = mu and logvar, decoder to pixel logits) for images of `shape`; shared with
    VAE-GAN."""
    if cfg.arch == "mlp":
        w = cfg.width
        return MLPEncoder(2 * cfg.z_dim, [w, w // 2], shape), MLPDecoder(cfg.z_dim, [w // 2, w], shape=shape)
    return ConvEncoder(2 * cfg.z_dim, cfg.width // 8, shape), ConvDecoder(cfg.z_dim, cfg.width // 8, shape=shape)


class VAE(GenerativeModel):
    Config = VAEConfig
    family = "vae"
    is_autoencoder = True
    label = "VAE"
    curve_panels = (("recon",), ("kl",))
    curve_ylabels = ("reconstruction NLL (nats/image)", "KL (nats/image)")
    samplers = ("prior", "gmm", "flow", "codes")  # the prior N(0, I), the GMM and the latent flow fitted to the
    #   training codes, and decoded training codes as their ceiling (genlab.eval.samplers)

    def __init__(self, cfg: VAEConfig, shape: tuple[int, int, int] = MNIST_SHAPE):
        super().__init__(cfg, shape)
        self.encoder, self.decoder = build_autoencoder(cfg, self.shape)

    def make_optimizers(self):
        return {"vae": adam(self.parameters(), self.cfg.lr, (self.cfg.beta1, self.cfg.beta2))}

    def encode(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z):
        return self.decoder(z)

    def decode(self, z):
        return torch.tanh(self.decoder(z) / 2) if self.cfg.recon == "bernoulli" else torch.tanh(self.decoder(z))

    def nll(self, logits, x):
        return RECON_NLL[self.cfg.recon](logits, x)

    def train_step(self, x, opt):
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        recon = self.nll(self.decode_logits(z), x).mean()
        kl = kl_to_standard_normal(mu, logvar).sum(1).mean()
        loss = recon + self.cfg.beta * kl
        step(opt["vae"], loss)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def sample(self, n, generator=None):
        z = torch.randn(n, self.cfg.z_dim, generator=generator)  # drawn on the CPU: the same noise on any device
        return self.decode(z.to(next(self.parameters()).device))
