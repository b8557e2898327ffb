"""The model contract: each model owns its update rule, so the training loop knows nothing of GANs.

    make_optimizers() -> {name: Optimizer}
    train_step(x, opt) -> {loss name: tensor scalar}   x: (B, C, H, W) in [-1,1], the data source's shape
    sample(n, generator) -> (n, C, H, W) in [-1,1]
Autoencoders also implement encode(x) -> (mu, logvar), decode(z) -> x_hat in [-1,1], and, for the likelihood
metrics (ELBO, IWAE in genlab.eval.evaluate), decode_logits(z) -> the pixel model's parameters and
nll(logits, x) -> (B,) negative log-likelihood of x in nats.
"""

from __future__ import annotations

import torch
from torch import nn


class GenerativeModel(nn.Module):
    Config: type
    family: str = ""  # recorded in meta.json; what a family shows and measures is declared below, not switched on
    is_autoencoder: bool = False
    # what figures, evaluation, charts and the report need of a family, declared here (nothing outside
    # genlab/models compares family names):
    label: str = ""  # its name in charts and tables ("GAN")
    curve_panels: tuple[tuple[str, ...], ...] = ()  # metrics.jsonl series drawn together, one panel each
    curve_ylabels: tuple[str, ...] = ()  # one y label per panel
    generator_loss: str | None = None  # the loss whose late-training std is the stability figure (None: none)
    # how samples are drawn: "prior", then names in genlab.eval.samplers.SAMPLERS
    samplers: tuple[str, ...] = ("prior",)

    def __init__(self, cfg, shape: tuple[int, int, int] = (1, 28, 28)):
        """`shape`: the images' C x H x W, from the data source (genlab.data.datasource); every network is built for
        it."""
        super().__init__()
        self.cfg = cfg
        self.shape = tuple(shape)

    @classmethod
    def check_shape(cls, cfg, shape: tuple[int, int, int]) -> None:
        """A GenlabError when the config cannot draw images of `shape` (called by the config validator, before
        anything trains)."""

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, x: torch.Tensor, opt: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def sampling_protocol(self) -> str | None:
        """How `sample` draws, when it has knobs of its own a reader of eval.json needs (an ODE's solver and
        number of function evaluations); None when the config says it all."""
        return None

    def trajectory(self, n: int, generator: torch.Generator | None = None, frames: int = 9) -> torch.Tensor | None:
        """(frames, n, C, H, W): n samples on their way from noise to image, for families that draw by
        integrating (a figure of its own); None for the rest."""
        return None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} has no encoder")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no decoder")

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The pixel model's parameters for codes z (logits for Bernoulli pixels, means for Gaussian ones)."""
        raise NotImplementedError(f"{type(self).__name__} has no decoder")

    def nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B,) negative log-likelihood of images x in [-1, 1] under decode_logits' output, nats per image."""
        raise NotImplementedError(f"{type(self).__name__} has no pixel likelihood")


def step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """zero_grad, backward, step: the three lines every update repeats."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
