"""A learned density of an autoencoder's codes: flow matching in latent space (the two-stage idea of Dai & Wipf,
ICLR 2019, with the second stage a rectified flow instead of a second VAE).

Training (conditional flow matching with straight paths; Lipman et al., ICLR 2023, eq. 22-23; Liu et al., ICLR
2023, eq. 1): the flow models the code's active units only (Burda et al., ICLR 2016, sec. 5.2: a dimension whose
encoder mean varies across the data by less than `active` is one the VAE switched off, its KL term driven to 0 and
its mean near-constant; the decoder ignores it). Those units get an independent Gaussian of their own mean and
spread, so the velocity field's capacity goes to the units that carry the image: at z 32 a full-profile VAE uses 18
(MNIST) and 10 (Fashion-MNIST) of its 32 units, and a flow of all 32 standardised units lost to the 10-component
mixture (docs/results.md, 2026-12-03). The active codes are standardised per dimension, x1 a code, x0 ~ N(0, I),
t logit-normal (or U(0, 1)), x_t = (1 - t) x0 + t x1, and a small MLP v(x_t, t) regresses the velocity x1 - x0.
Sampling integrates dx/dt = v(x, t) from t = 0 to 1 with a fixed-step midpoint solver, so a sample is a
deterministic function of its starting noise and the number of function evaluations (nfe) is the one knob of its
cost.

torchcfm has the same objective in a library, but it pulls a CUDA torch, torchvision and Lightning into the
install; the objective is the three lines of `loss` below, so genlab writes them (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from genlab.core.progress import bar
from genlab.models.flow_matching import integrate, path_times, straight_path, time_embedding


@dataclass(frozen=True)
class FlowRecipe:
    """How the velocity field is built and fitted; stored beside its weights so a reload can tell a stale fit."""

    width: int = 256  # hidden units per layer
    depth: int = 3  # hidden layers
    steps: int = 8000  # optimizer steps
    batch: int = 512  # codes per step
    lr: float = 3e-3  # Adam step size, falling linearly to 0 over the last half of the steps
    # chosen by bench/latent_flow.py on the full-profile VAE z 16 (docs/results.md, 2026-12-02): MNIST FID 35.0
    # (GMM 48.0; width 512: 30.0 at 3x the time; lr 1e-3: 76.5 at 3,000 steps), Fashion-MNIST 41.4 (GMM 45.4)
    active: float = 0.01  # a unit is active when its encoder mean's variance over the codes exceeds this (Burda et
    # al. 2016's criterion and threshold); 0 models every unit
    ema: float = 0.999  # weight average the sampler uses (the raw weights are noisier)
    times: str = "logit-normal"  # training times on the path: "uniform" or "logit-normal" (Esser et al., ICML 2024,
    # sec. 3.1), chosen by bench/latent_flow.py on the full-profile VAE and VAE-GAN runs (docs/results.md, 2026-12-03
    # evening): the same steps and seconds, a third to a half less of the GMM's gap left
    seed: int = 0  # noise, times and batches of the fit

    def to_dict(self) -> dict:
        return asdict(self)


class VelocityMLP(nn.Module):
    """v(x, t) on the active units: an MLP on those units and a sinusoidal embedding of t, SiLU between layers.
    `dim` is the whole code's size, `n_active` how many of its units the field models (all by default)."""

    def __init__(self, dim: int, width: int, depth: int, t_dim: int = 32, n_active: int | None = None):
        super().__init__()
        n_active = dim if n_active is None else n_active
        self.dim, self.n_active, self.t_dim = dim, n_active, t_dim
        layers: list[nn.Module] = []
        d_in = n_active + t_dim
        for _ in range(depth):
            layers += [nn.Linear(d_in, width), nn.SiLU()]
            d_in = width
        layers.append(nn.Linear(d_in, n_active))
        self.net = nn.Sequential(*layers)
        # what it was fitted on (saved with the weights): each unit's mean and spread, and which units it models
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("active", torch.arange(dim) < n_active)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, time_embedding(t, self.t_dim)], dim=1))


def loss(v: VelocityMLP, x1: torch.Tensor, generator: torch.Generator, times: str = FlowRecipe.times) -> torch.Tensor:
    """The flow-matching loss on standardised codes x1: || v(x_t, t) - (x1 - x0) ||^2 on straight paths, t drawn
    as `times` says."""
    x0 = torch.randn(x1.shape, generator=generator)
    t = path_times(x1.shape[0], times, generator=generator)
    xt, target = straight_path(x0, x1, t)
    return (v(xt, t) - target).pow(2).sum(1).mean()


def fit(codes: torch.Tensor, recipe: FlowRecipe = FlowRecipe(), desc: str = "latent flow") -> VelocityMLP:
    """The weight-averaged velocity field fitted to (N, d) codes on the CPU (deterministic for one thread count)."""
    codes = codes.detach().float().cpu()
    g = torch.Generator().manual_seed(recipe.seed)
    torch.manual_seed(recipe.seed)  # the layers' initialisation
    active = active_units(codes, recipe.active)
    n, dim = int(active.sum()), codes.shape[1]
    v = VelocityMLP(dim, recipe.width, recipe.depth, n_active=n)
    v.mean.copy_(codes.mean(0))
    v.std.copy_(codes.std(0).clamp_min(1e-6))
    v.active.copy_(active)
    x = ((codes - v.mean) / v.std)[:, active]
    avg = VelocityMLP(dim, recipe.width, recipe.depth, n_active=n)
    avg.load_state_dict(v.state_dict())
    opt = torch.optim.Adam(v.parameters(), lr=recipe.lr)
    half = recipe.steps // 2
    progress = bar(total=recipe.steps, desc=desc)
    for step in range(recipe.steps):
        if step >= half:  # linear decay to 0 over the second half: the last steps refine, they do not jump
            for group in opt.param_groups:
                group["lr"] = recipe.lr * (recipe.steps - step) / (recipe.steps - half)
        idx = torch.randint(0, x.shape[0], (recipe.batch,), generator=g)
        lo = loss(v, x[idx], g, recipe.times)
        opt.zero_grad(set_to_none=True)
        lo.backward()
        opt.step()
        decay = min(recipe.ema, (1 + step) / (10 + step))  # warm-up: a short fit is not pulled back to its init
        with torch.no_grad():
            for pa, pv in zip(avg.parameters(), v.parameters()):
                pa.lerp_(pv, 1 - decay)
        progress.update()
    progress.close()
    return avg.eval()


def active_units(codes: torch.Tensor, threshold: float) -> torch.Tensor:
    """The units whose variance over the codes exceeds `threshold` (all of them when none does, or threshold 0)."""
    keep = codes.var(0) > threshold
    return keep if bool(keep.any()) else torch.ones_like(keep)


@torch.no_grad()
def sample(v: VelocityMLP, n: int, generator: torch.Generator, nfe: int = 32) -> torch.Tensor:
    """n codes (in the autoencoder's units): the active units from N(0, I) noise pushed through the flow (nfe // 2
    midpoint steps), the inactive ones from their own independent Gaussian (drawn after, so a code of only active
    units uses the generator exactly as a flow of every unit does)."""
    x = torch.zeros((n, v.dim))
    x[:, v.active] = integrate(v, torch.randn((n, v.n_active), generator=generator), nfe, "midpoint")
    if v.n_active < v.dim:
        x[:, ~v.active] = torch.randn((n, v.dim - v.n_active), generator=generator)
    return x * v.std + v.mean
