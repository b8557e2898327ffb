"""Where genlab keeps what it builds once and reuses (judges, converted image folders)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """$GENLAB_CACHE, else $XDG_CACHE_HOME/genlab, else ~/.cache/genlab."""
    root = os.environ.get("GENLAB_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genlab"
