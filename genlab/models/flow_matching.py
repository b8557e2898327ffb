"""Flow matching's three shared pieces: the time embedding, the straight path and its velocity target, and the
fixed-step ODE solver. Used by the latent flow (genlab.eval.latent_flow, on an autoencoder's codes) and by the pixel
flow family (genlab.models.flow, on images), so both integrate the same way.

Straight paths (conditional flow matching with the optimal-transport path of Lipman et al., ICLR 2023, eq. 22-23;
rectified flow, Liu et al., ICLR 2023, eq. 1): x0 ~ N(0, I), x1 data, x_t = (1 - t) x0 + t x1, and the velocity
field regresses x1 - x0. A sample integrates dx/dt = v(x, t) from t = 0 to 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # v(x, t) with t of shape (B,)
SOLVERS = ("euler", "midpoint")
TIME_SAMPLINGS = ("uniform", "logit-normal")


def time_embedding(t: torch.Tensor, dim: int = 32) -> torch.Tensor:
    """(B,) times in [0, 1] -> (B, dim) sines and cosines at geometric frequencies 1..1000 (Vaswani et al. 2017)."""
    half = dim // 2
    freqs = torch.exp(torch.linspace(0, math.log(1000.0), half, device=t.device, dtype=t.dtype))
    angles = t[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def path_times(
    n: int, how: str, device: torch.device | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(n,) training times on the path: U(0, 1), or the sigmoid of a standard normal (logit-normal, Esser et al.,
    ICML 2024, sec. 3.1), which spends the fit on the middle of the path, where the velocity is hardest to predict."""
    if how not in TIME_SAMPLINGS:
        raise ValueError(f"time sampling {how!r} is not one of {TIME_SAMPLINGS}")
    if how == "logit-normal":
        return torch.sigmoid(torch.randn(n, device=device, generator=generator))
    return torch.rand(n, device=device, generator=generator)


def straight_path(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, target velocity) on the straight line from noise x0 to data x1 at times t (B,)."""
    tt = t.view(-1, *([1] * (x1.dim() - 1)))
    return (1 - tt) * x0 + tt * x1, x1 - x0


def integrate(
    v: Velocity,
    x: torch.Tensor,
    nfe: int,
    solver: str = "midpoint",
    frames: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """x at t = 1 from x at t = 0 with `nfe` velocity evaluations: nfe Euler steps, or nfe // 2 midpoint steps
    (second order; Lipman et al. sample with the midpoint rule too). `frames`, when given, collects x at every
    step boundary (t = 0, h, ..., 1) for the trajectory figure."""
    if solver not in SOLVERS:
        raise ValueError(f"solver {solver!r} is not one of {SOLVERS}")
    steps = max(1, nfe // 2) if solver == "midpoint" else max(1, nfe)
    h = 1.0 / steps
    n = x.shape[0]
    if frames is not None:
        frames.append(x.clone())
    for i in range(steps):
        t = torch.full((n,), i * h, device=x.device, dtype=x.dtype)
        if solver == "midpoint":
            x_mid = x + 0.5 * h * v(x, t)
            x = x + h * v(x_mid, t + 0.5 * h)
        else:
            x = x + h * v(x, t)
        if frames is not None:
            frames.append(x.clone())
    return x
