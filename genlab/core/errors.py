"""User mistakes (bad path, bad key, bad value, checksum) as one exception type.

The CLI turns a GenlabError into one line on stderr and exit code 2; anything
else is a bug and may raise with a traceback.
"""

import difflib
from collections.abc import Iterable


class GenlabError(Exception):
    """A mistake the user can fix; the message names the bad input and the fix."""


class BadFile(GenlabError):
    """One file genlab cannot use: its path, why, and what to do (kept apart, so a folder scan can name many
    files in one line)."""

    def __init__(self, path: object, reason: str, fix: str):
        self.path, self.reason, self.fix = path, reason, fix
        super().__init__(f"{path}: {reason}; {fix}")


def closest(name: str, valid: Iterable[str]) -> str:
    """A 'did you mean' hint for a misspelt key, or the list of valid names."""
    valid = sorted(valid)
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.0)
    hint = f"did you mean '{match[0]}'? " if match else ""
    return f"{hint}valid: {', '.join(valid)}"


def shown(value, limit: int = 60) -> str:
    """A user-supplied value quoted for a one-line message: repr (so newlines show as \\n), shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def lookup(registry: dict, name: str, what: str):
    """Registry lookup that lists the valid names on a miss (one helper for every registry)."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise GenlabError(f"unknown {what} {shown(name)}; {closest(str(name), registry)}") from None


class Interrupted(Exception):
    """Ctrl-C (SIGINT) or SIGTERM arrived during training; a checkpoint was written first."""
