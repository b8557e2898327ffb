"""Where genlab keeps what it builds once and reuses (judges, converted image folders).

The cache is an optimisation, never a requirement: a cache folder that cannot be made or written (read-only,
$GENLAB_CACHE naming a file) is skipped with one warning, and the work is simply redone next time.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

from genlab.core.safeio import printable


def cache_home() -> Path:
    """$GENLAB_CACHE, else $XDG_CACHE_HOME/genlab, else ~/.cache/genlab."""
    root = os.environ.get("GENLAB_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genlab"


def usable_cache(folder: Path, what: str) -> Path | None:
    """`folder`, created if needed, when genlab can write into it; else None after a one-line warning."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".genlab-write-check.")
        os.close(fd)
        os.unlink(probe)
        return folder
    except OSError as e:
        reason = e.strerror or type(e).__name__
        warnings.warn(
            f"the cache folder {printable(folder)} cannot be written ({reason}); {what} are not cached "
            "(set GENLAB_CACHE to a writable folder to keep them)",
            stacklevel=2,
        )
        return None
