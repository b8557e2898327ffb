"""Reading files genlab did not write in this process: image folders, run and study folders, caches.

A file from someone else may be a FIFO (opening it blocks forever), a device (`/dev/zero` never ends), a
20 GB sparse file, or carry terminal escapes in its name. So every such read goes through `read_capped`:
regular files only (checked on the open descriptor, which was opened without blocking), at most a stated
number of bytes, read in chunks; and every name or value from such a file is shown through `printable`.
The caps are in docs/safety.md.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from genlab.core.errors import BadFile, GenlabError

MiB = 1 << 20
MAX_IMAGE_BYTES = 64 * MiB  # one image file; a 12-megapixel PNG is ~20 MB
MAX_JSON_BYTES = 64 * MiB  # config.json, meta.json, eval.json, study.json, a judge's JSON (all are < 1 MB)
MAX_JSONL_BYTES = 1024 * MiB  # metrics.jsonl: one line per log step (the full study's longest run: ~2 MB)
MAX_CACHE_BYTES = 2048 * MiB  # a converted image folder (500,000 images) or a judge's weights
CHUNK = 1 * MiB

KIND = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def printable(text: object) -> str:
    """`text` with control characters (C0, DEL, C1) written as escapes, so a file name or a value read from a
    file cannot move the cursor, recolour or retitle the user's terminal."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in s)


def _open_regular(path: Path, cap: int, what: str) -> tuple[int, int]:
    """(descriptor, size) of a regular file of at most `cap` bytes; anything else is one GenlabError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as e:
        raise BadFile(
            printable(path), f"cannot read {what} ({e.strerror})", "check its permissions or remove it"
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = KIND.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise BadFile(
                printable(path),
                f"{what} is {kind}, not a regular file",
                "genlab reads only regular files — remove or replace it",
            )
        if st.st_size > cap:
            raise BadFile(
                printable(path),
                f"{what} is {st.st_size / MiB:,.0f} MiB, more than the {cap / MiB:,.0f} MiB genlab reads",
                "remove it or replace it with a smaller file",
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_capped(path: str | os.PathLike, cap: int, what: str = "the file") -> bytes:
    """The bytes of a regular file of at most `cap` bytes (FileNotFoundError passes through: callers decide
    what a missing file means)."""
    fd, size = _open_regular(Path(path), cap, what)
    try:
        parts, total = [], 0
        while True:
            chunk = os.read(fd, min(CHUNK, cap + 1 - total))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
            if total > cap:  # it grew while being read
                raise GenlabError(
                    f"{printable(path)}: {what} grew past the {cap / MiB:,.0f} MiB genlab reads "
                    "while it was read; remove it or replace it with a smaller file"
                )
        return b"".join(parts)
    except OSError as e:
        raise GenlabError(f"{printable(path)}: cannot read {what} ({e.strerror}); check the file") from None
    finally:
        os.close(fd)
