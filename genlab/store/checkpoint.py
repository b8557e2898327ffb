"""Checkpoints: tensors in safetensors, everything else in JSON, a SHA-256 manifest, no pickle.

Layout: run_dir/checkpoints/step-000001234/{tensors.safetensors, state.json,
manifest.json}. A checkpoint is written into a hidden temp folder and renamed
into place, so it appears whole or not at all; `load_latest` verifies the
manifest and falls back to the newest intact checkpoint. Nothing here can
execute code from a file: safetensors and JSON hold data only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from genlab.core.errors import GenlabError
from genlab.core.safeio import MAX_CACHE_BYTES, MAX_JSON_BYTES, read_capped
from genlab.store import schema
from genlab.store.runs import atomic_write, fsync_dir

DIR_RE = re.compile(r"^step-(\d{9})$")
FILES = ("tensors.safetensors", "state.json")


class CorruptCheckpoint(GenlabError):
    """A checkpoint whose files do not match its manifest (or cannot be parsed)."""


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Nested dicts/lists with tensors -> JSON-able structure; tensors move to `tensors` by key."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    return obj


def unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: unflatten(v, tensors) for k, v in obj["__dict__"]}  # keys keep their JSON type (int/str)
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Checkpoint folders, oldest first (by step)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and DIR_RE.match(p.name))


def save(run_dir: Path, step: int, payload: dict[str, Any]) -> Path:
    """Write a checkpoint for `step`; payload is any nest of dicts/lists/numbers/strings/tensors."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    state = flatten(payload, tensors, "t")
    blobs = {"tensors.safetensors": st_save(tensors), "state.json": json.dumps(state, allow_nan=False).encode()}
    manifest = sealed(
        {
            "format": "genlab-checkpoint-1",
            "step": step,
            "files": {name: {"sha256": sha256(b), "bytes": len(b)} for name, b in blobs.items()},
        }
    )
    final = root / f"step-{step:09d}"
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".tmp"))
        for name, b in blobs.items():
            atomic_write(tmp / name, b)
        atomic_write(tmp / "manifest.json", manifest)
        if final.exists():  # a stale checkpoint of the same step (from a run that later diverged)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise GenlabError(
            f"cannot write checkpoint {final} ({e.strerror or e}); the previous checkpoint is intact: "
            "free disk space (or fix the folder's permissions) and run the same command to resume"
        ) from None
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(root)
    return final


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sealed(manifest: dict[str, Any]) -> bytes:
    """The manifest as canonical JSON carrying the SHA-256 of its own content, so a flipped byte anywhere in
    it (even in what would be harmless whitespace) is detected."""
    return canonical({**manifest, "self_sha256": sha256(canonical(manifest))})


def open_manifest(raw: bytes) -> dict[str, Any]:
    manifest = json.loads(raw)
    seal = manifest.pop("self_sha256")
    if seal != sha256(canonical(manifest)) or raw != sealed(manifest):
        raise ValueError("manifest does not match its own SHA-256")
    return manifest


def read_checkpoint(path: Path, spec: Any = None) -> dict[str, Any]:
    """Load one checkpoint after checking every file against its manifest (and its content against `spec`, a
    genlab.store.schema spec, when given: a sealed checkpoint is not necessarily one genlab wrote)."""
    path = Path(path)
    try:
        manifest = open_manifest(read_capped(path / "manifest.json", MAX_JSON_BYTES, "the checkpoint manifest"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, GenlabError) as e:
        raise CorruptCheckpoint(f"{path}/manifest.json is missing or damaged ({e})") from None
    blobs = {}
    for name in FILES:
        try:
            data = read_capped(path / name, MAX_CACHE_BYTES, "a checkpoint file")
        except GenlabError as e:
            raise CorruptCheckpoint(str(e)) from None
        except OSError as e:
            raise CorruptCheckpoint(f"{path}/{name} cannot be read ({e})") from None
        expected = files.get(name, {}).get("sha256") if isinstance(files, dict) else None
        if sha256(data) != expected:
            raise CorruptCheckpoint(f"{path}/{name} does not match its SHA-256 in manifest.json (changed or truncated)")
        blobs[name] = data
    try:
        tensors = st_load(blobs["tensors.safetensors"])
        state = unflatten(json.loads(blobs["state.json"]), tensors)
    except (SafetensorError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise CorruptCheckpoint(f"{path}: cannot parse ({type(e).__name__}: {e})") from None
    if spec is None:
        return state
    try:
        return schema.check(state, spec, path / "state.json")
    except GenlabError as e:
        raise CorruptCheckpoint(str(e)) from None


def load_latest(run_dir: Path, damaged: list[str] | None = None, spec: Any = None) -> dict[str, Any] | None:
    """The newest intact checkpoint's payload (damaged newer ones are reported and skipped), or None.
    `damaged` collects why each skipped one was skipped; `spec` as in read_checkpoint."""
    for path in reversed(checkpoint_dirs(run_dir)):
        try:
            return read_checkpoint(path, spec)
        except CorruptCheckpoint as e:
            warnings.warn(f"skipping damaged checkpoint: {e}", stacklevel=2)
            if damaged is not None:
                damaged.append(str(e))
    return None


def load_weights(module: torch.nn.Module, weights: dict[str, torch.Tensor], run_dir: Path) -> None:
    """Load a checkpoint's weights into the model its config.json describes, or say in one line why they do not
    fit (another model, latent size or width in config.json than the checkpoint was trained with)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(weights))
    extra = sorted(set(weights) - set(own))
    wrong = [k for k in own if k in weights and tuple(own[k].shape) != tuple(weights[k].shape)]
    if missing or extra or wrong:
        if wrong:
            k = wrong[0]
            why = f"{k} is {tuple(own[k].shape)} by config.json but {tuple(weights[k].shape)} in the checkpoint"
        else:
            why = (
                f"config.json's model has {missing[0]}, absent from the checkpoint"
                if missing
                else f"the checkpoint has {extra[0]}, absent from config.json's model"
            )
        raise GenlabError(
            f"{run_dir}: config.json does not match the checkpoint ({why}); restore the run's own "
            "config.json or delete the run folder"
        )
    module.load_state_dict(weights)


def prune(run_dir: Path, keep: int, protect: set[int]) -> None:
    """Delete all but the newest `keep` checkpoints and those whose step is in `protect` (the best)."""
    dirs = checkpoint_dirs(run_dir)
    for path in dirs[:-keep] if keep else dirs:
        if int(DIR_RE.match(path.name).group(1)) not in protect:
            shutil.rmtree(path, ignore_errors=True)
    root = Path(run_dir) / "checkpoints"
    for stale in root.glob(".step-*.tmp") if root.is_dir() else []:
        with contextlib.suppress(OSError):
            shutil.rmtree(stale)


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step-{step:09d}"
