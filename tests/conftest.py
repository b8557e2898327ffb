"""Shared fixtures: the real data folder (../shared/data or $GENLAB_DATA) and tiny generated datasets."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from genlab import data

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("GENLAB_DATA") or ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Judges are cached per test session, never in the user's home cache."""
    if not os.environ.get("GENLAB_CACHE"):
        os.environ["GENLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
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
        images[i, r:r + 8, c:c + 5] = 200 + int(torch.randint(0, 55, (1,), generator=g))
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
