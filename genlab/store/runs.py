"""Run store: run dirs, atomic writes, append-only metrics.jsonl, meta.json.

A run dir holds `config.json` (the complete input), `meta.json` (status,
versions, git sha, data hashes, hardware, wall time), `metrics.jsonl`
(one JSON object per line, append-only), `checkpoints/`, `eval.json` and
`figures/`. Every whole-file write goes through `atomic_write` (temp file in
the same folder, fsync, os.replace, fsync of the folder), so a crash leaves
either the old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from genlab.core.errors import GenlabError
from genlab.core.names import NAME_RE, check_name  # noqa: F401 - re-exported: the run store's names
from genlab.core.safeio import MAX_JSON_BYTES, MAX_JSONL_BYTES, printable, read_capped
from genlab.store import schema


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes so that readers see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp makes 0600; a report or figure should be readable like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_finite(text: str | bytes) -> Any:
    """json.loads that refuses NaN and ±Infinity: genlab never writes them (write_json has allow_nan=False),
    so one in a file is damage, and accepting it would only fail later, on the next write, with a traceback."""
    return json.loads(text, parse_constant=_refuse_constant)


def read_json(path: Path) -> Any:
    """A JSON file's content; a missing or unreadable file is a one-line GenlabError naming it."""
    try:
        return loads_finite(read_capped(path, MAX_JSON_BYTES, "the JSON file").decode())
    except FileNotFoundError:
        raise GenlabError(f"{printable(path)} does not exist; is this a genlab run dir?") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise GenlabError(f"{printable(path)} is not readable JSON ({printable(e)}); the file is damaged") from None


def read_text(path: Path, what: str = "the file") -> str:
    """A small text file from a run or study folder (config.json): regular, capped, never blocking."""
    try:
        return read_capped(path, MAX_JSON_BYTES, what).decode("utf-8", "replace")
    except FileNotFoundError:
        raise GenlabError(f"{printable(path)} does not exist; is this a genlab run dir?") from None


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """One line, one write(2) with O_APPEND: concurrent writers never interleave within a line."""
    line = (json.dumps(record, sort_keys=True, allow_nan=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete lines; a torn last line (a crash mid-write) is skipped, not fatal."""
    out = []
    try:
        text = read_capped(path, MAX_JSONL_BYTES, "the metrics log").decode("utf-8", "replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        with contextlib.suppress(ValueError, RecursionError):  # JSONDecodeError is a ValueError
            rec = metrics_row(json.loads(line))
            if rec is not None:
                out.append(rec)
    return out


def metrics_row(rec: Any) -> dict[str, Any] | None:
    """A metrics.jsonl line as genlab writes it, or None: a whole-number `step`, a string `event`, a boolean
    `best`, and numbers for everything else (a loss may be NaN on the line that records a divergence; a
    per-epoch FID must be finite). A value of another type is dropped, so a shared run folder's log cannot
    put a string into a curve or an eval.json."""
    if not isinstance(rec, dict):
        return None
    step = rec.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return None
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if k == "event":
            if isinstance(v, str):
                out[k] = v
        elif k == "best":
            if isinstance(v, bool):
                out[k] = v
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if k != "fid_epoch" or math.isfinite(v):
                out[k] = v
    return out


def truncate_metrics(path: Path, max_step: int) -> None:
    """Drop lines written after a checkpoint, so a resumed run logs each step exactly once."""
    keep = [r for r in read_jsonl(path) if r.get("step", 0) <= max_step]
    atomic_write(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep).encode())


def update_meta(run_dir: Path, **changes: Any) -> dict[str, Any]:
    meta = read_meta(run_dir)
    meta.update(changes)
    write_json(Path(run_dir) / "meta.json", meta)
    return meta


def read_meta(run_dir: Path) -> dict[str, Any]:
    """meta.json, checked against its schema (a damaged one is one line naming the file and field); {} if absent."""
    path = Path(run_dir) / "meta.json"
    return schema.check(read_json(path), schema.META, path) if path.exists() else {}


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        )
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Versions and hardware, recorded in every run and printed by every benchmark."""
    import numpy
    import torch

    import genlab

    return {
        "genlab": genlab.__version__,
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def claim(run_dir: Path) -> bool:
    """Take the run's lock file (O_EXCL), so parallel study workers never train the same run twice.

    A lock whose process is gone (a crash, kill -9) is stale and taken over.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / ".lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = -1  # being written right now, or garbage: treat as taken unless it stays garbage
                time.sleep(0.05)
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid = int(lock.read_text().split()[0])
            if pid > 0 and _alive(pid):
                return False
            # stale: remove it only if it still holds the dead owner's pid (another worker may have won)
            with contextlib.suppress(OSError):
                if lock.read_text().split()[:1] == [str(pid)] or pid == -1:
                    lock.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {platform.node()}\n")
        return True
    return False


def release(run_dir: Path) -> None:
    lock = Path(run_dir) / ".lock"
    with contextlib.suppress(OSError, ValueError, IndexError):
        if int(lock.read_text().split()[0]) == os.getpid():
            lock.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
