"""`bounded`: a dataclass field with inclusive numeric bounds, shared by every config (the run's sections in
config.py and each model's Config beside its model). A leaf module, so models need not import config.py, which
imports the model registry."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def bounded(default: Any, lo: float | None = None, hi: float | None = None, **meta: Any) -> Any:
    """A dataclass field with inclusive numeric bounds the validator enforces."""
    return field(default=default, metadata={"min": lo, "max": hi, **meta})
