"""Step-size schedules as pure functions of the step, so a resumed run needs no scheduler state to match an
uninterrupted one: the factor is recomputed from the checkpointed step count."""

from __future__ import annotations

import torch

BASE_LR_KEY = "initial_lr"  # the key torch's own LR schedulers keep a group's base step size under


def rampdown_factor(step: int, total_steps: int, fraction: float) -> float:
    """Multiplier of every base step size at `step` (0-based) of `total_steps`: 1, then a linear fall to 0 over
    the last `fraction` of training (the linear decay of WGAN-GP's and SN-GAN's CIFAR recipes, Gulrajani et al.
    2017, Miyato et al. 2018, applied to the end only); 1 throughout when `fraction` is 0."""
    if fraction <= 0 or total_steps <= 0:
        return 1.0
    length = fraction * total_steps
    return min(1.0, max(0.0, (total_steps - step) / length))


def set_lr_factor(opts: dict[str, torch.optim.Optimizer], factor: float) -> None:
    """Every optimizer's groups step at factor x their base step size (recorded on first use, and
    checkpointed with the optimizer's state, so a resume keeps the same base)."""
    for opt in opts.values():
        for group in opt.param_groups:
            base = group.setdefault(BASE_LR_KEY, group["lr"])
            group["lr"] = base * factor
