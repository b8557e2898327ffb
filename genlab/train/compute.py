"""What a run costs in arithmetic: floating-point operations of one training step and of one sample, counted with
torch's own flop formulas (torch.utils.flop_counter's registry: matrix products and convolutions, forward and
backward, the work that dominates these models), so families can be compared at matched compute as well as at
matched latent size. The counter is a plain dispatch mode over that registry: FlopCounterMode itself also tracks
modules with backward hooks, which fail under the double backward of the GAN's R1 penalty (torch.autograd.grad
with create_graph) — the counts are the same.

Counting runs a step on copies (model, optimizers, global RNG restored), so the run itself is untouched and stays
bit-identical. One step is counted; a penalty applied only every N steps (the GAN's lazy R1) is counted as if it
ran every step, an upper bound by that penalty's share.
"""

from __future__ import annotations

import copy

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


class FlopCount(TorchDispatchMode):
    """Sums the registry's FLOPs of every op run inside it (no module tracking)."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += int(count(*args, **kwargs, out_val=out))
        return out


def train_step_flops(model, x: torch.Tensor) -> int:
    """FLOPs of one `train_step` on batch x (forward, backward and update), counted on copies of the model."""
    twin = copy.deepcopy(model)
    opts = twin.make_optimizers()
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        with FlopCount() as counter:
            twin.train_step(x, opts)
    return counter.total


@torch.no_grad()
def sample_flops(model, n: int = 16) -> float:
    """FLOPs per generated image (the model's `sample`, n of them counted at once)."""
    with torch.random.fork_rng(devices=[]):
        was_training = model.training
        model.eval()
        model.sample(1, torch.Generator().manual_seed(0))  # one-off work (the GAN's batch-norm re-estimate) first
        with FlopCount() as counter:
            model.sample(n, torch.Generator().manual_seed(0))
        model.train(was_training)
    return counter.total / n
