"""Where tensors live: the device named on the command line, resolved once at the edge.

    --device auto   cuda when torch sees a GPU, else cpu (the default)
    --device cpu | cuda | cuda:N

Models, the loop and the metrics take tensors where they are; only this module decides. Checkpoints are
written from CPU copies, so a run trained on a GPU evaluates on a CPU and the other way round.
"""

from __future__ import annotations

import re

import torch

from genlab.core.errors import GenlabError, shown

DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d{1,2})?")


def resolve(name: str | None) -> torch.device:
    """A torch.device for a --device value; one line naming the value and the fix when it cannot be used."""
    name = "auto" if name is None else name  # None: not asked for; '' is a mistake, not "auto"
    if not isinstance(name, str) or not DEVICE_RE.fullmatch(name):
        raise GenlabError(f"--device {shown(name)} is not allowed; use auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GenlabError(
                f"--device {name}: torch {torch.__version__} sees no CUDA GPU here; use --device cpu "
                "(or install a CUDA build of torch on a machine with a GPU)"
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise GenlabError(
                f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here; use "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    return torch.device(name)
