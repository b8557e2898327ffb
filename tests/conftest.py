"""Shared fixtures: the real data folder (../shared/data or $GENLAB_DATA) and tiny generated datasets."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings as hypothesis_settings

from genlab import data

# Property tests: the same examples on every run (CI's outcome depends on the commit, not on the draw), no
# example database. `GENLAB_FUZZ=1` (bench/fuzz.sh) draws fresh random examples instead, for wide exploration
# whenever a reader changes. The number of examples per property: GENLAB_FUZZ_EXAMPLES (tests/fuzzing.py).
hypothesis_settings.register_profile("fixed", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("fuzz", derandomize=False, database=None, print_blob=True)
hypothesis_settings.load_profile("fuzz" if os.environ.get("GENLAB_FUZZ") == "1" else "fixed")

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("GENLAB_DATA") or ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Judges are cached per test session, never in the user's home cache; pytest-xdist's workers share one
    cache (the base temp folder's parent is common to them), so a judge is trained once per session."""
    if not os.environ.get("GENLAB_CACHE"):
        base = tmp_path_factory.getbasetemp()
        shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
        cache = shared / "genlab-cache"
        cache.mkdir(parents=True, exist_ok=True)
        os.environ["GENLAB_CACHE"] = str(cache)
    os.environ["GENLAB_QUIET"] = "1"
    yield


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (REAL_DATA / "mnist").is_dir():
        pytest.skip(f"real data not found at {REAL_DATA}; set GENLAB_DATA")
    return REAL_DATA


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n 28x28 uint8 images of a bright square whose position encodes one of 10 labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    for i, y in enumerate(labels.tolist()):
        r, c = 4 + (y // 5) * 12, 2 + (y % 5) * 5
        images[i, r : r + 8, c : c + 5] = 200 + int(torch.randint(0, 55, (1,), generator=g))
    return images, labels


def write_tiny(folder: Path, n_train: int = 256, n_test: int = 64) -> dict[str, str]:
    """Four IDX .gz files of a tiny dataset; returns name -> SHA-256 of the decompressed bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = blobs(n, seed)
        for name, arr in zip(data.SPLIT_FILES[split], (images, labels)):
            data.write_idx(folder / f"{name}.gz", arr)
            hashes[name] = hashlib.sha256(data.read_bytes(folder / f"{name}.gz")).hexdigest()
    return hashes


@pytest.fixture
def tiny_data(tmp_path, monkeypatch) -> Path:
    """A data dir whose 'mnist' is a tiny generated dataset (the registry's hashes patched to match)."""
    root = tmp_path / "data"
    hashes = write_tiny(root / "mnist")
    real = data.DATASETS["mnist"]
    monkeypatch.setitem(data.DATASETS, "mnist", data.Dataset("mnist", real.classes, hashes, ()))
    data._load_split.cache_clear()
    yield root
    data._load_split.cache_clear()
