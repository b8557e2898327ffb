"""Run and study names: they become folder names, so they are checked to be names, never paths. A leaf module
(runs.py and schema.py both need it)."""

from __future__ import annotations

import re

from genlab.core.errors import GenlabError, shown

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # matched whole (fullmatch: no trailing newline)


def check_name(name: str, what: str = "name") -> str:
    """Run and study names become folder names: letters, digits, . _ - only, never a path."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise GenlabError(
            f"{what} {shown(name)} is not allowed; use 1-128 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit, no '..')"
        )
    return name
