"""The model contract: each model owns its update rule, so the training loop knows nothing of GANs.

    make_optimizers() -> {name: Optimizer}
    train_step(x, opt) -> {loss name: tensor scalar}   x: (B,1,28,28) in [-1,1]
    sample(n, generator) -> (n,1,28,28) in [-1,1]
Autoencoders also implement encode(x) -> (mu, logvar), decode(z) -> x_hat in [-1,1], and, for the likelihood
metrics (ELBO, IWAE in genlab.evaluate), decode_logits(z) -> the pixel model's parameters and
nll(logits, x) -> (B,) negative log-likelihood of x in nats.
"""

from __future__ import annotations

import torch
from torch import nn


class GenerativeModel(nn.Module):
    Config: type
    family: str = ""  # "gan", "vae": picks the curves and figures a run gets
    is_autoencoder: bool = False

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, x: torch.Tensor, opt: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

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
