"""The judges genlab ships: the measuring instrument, the same network on every machine.

A judge retrained on each machine becomes another network (float results depend on the CPU and the thread
count), so the same samples scored differently on two machines. The MNIST and Fashion-MNIST judges are
therefore trained once (`genlab judge train DATASET --index K`, one thread, deterministic on the machine
that runs it) and shipped in `genlab/eval/judges/` as safetensors with a JSON of their recipe, accuracy and
training machine. Both files' SHA-256 are pinned below; loading checks them, and a file that does not match
is one line and exit 2 — never a silent retrain. `genlab judge verify` checks every shipped file.

Every dataset here has an ensemble of ENSEMBLE judges (the same recipe, seeds JUDGE_SEED + 10 k): judge 0
gives the headline numbers, the others say how much a verdict depends on the instrument (docs/evaluation.md).
Image folders keep training (and caching) their own judges.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from genlab.core import safeio
from genlab.core.errors import GenlabError
from genlab.core.safeio import printable

WEIGHTS_DIR = Path(__file__).resolve().parent / "judges"
ENSEMBLE = 3  # judges per shipped dataset
# (dataset, index) -> (SHA-256 of the .safetensors, SHA-256 of the .json); written by `genlab judge train`
PINNED: dict[tuple[str, int], tuple[str, str]] = {
    ("mnist", 0): (
        "e02f7161f90196545d4a0cff9e7693dcf0bc88de658a926cda627c3bb4f8c17f",
        "d7c45ab9c53b766cba61287abcc2288d592f6cd0bc6747e41c7434f04e55bcd3",
    ),
    ("mnist", 1): (
        "f28ff9b414be7fa35eaa74fca8becdc904fbb53515f6d47df89e9fba32ceca9a",
        "cc3864ab9bb27e702472b7f6e162ab2c9a29b7002d21a7eec3f500e56789cff2",
    ),
    ("mnist", 2): (
        "5927eef47662ff13c303de8dd636635896ca4aecd6c5a822a23b0d8a556a4a13",
        "5bc1dd4c23c3e2b6340727287a56b2eb398bd5433aded61bb4c37c3999a83da7",
    ),
    ("fashion-mnist", 0): (
        "361c3f0a920e4cea7f5b3eb5ca2325302e90eb95e2eb6330a1b4c424969cdf21",
        "dc1c80e36114e9ab11e8e2b1d0139d5f91b4a6f636fe66c2675d11e7de8d41a0",
    ),
    ("fashion-mnist", 1): (
        "153d4829d817be9b7ee0f2f2fc7c4207ef9c81e0525a6d0be60dd1753a55f9ff",
        "b5709ce6c4ffff4d12fd8a1e0d471245cfefa34450d6cd794e7aee4c06a32015",
    ),
    ("fashion-mnist", 2): (
        "e366f0591539372847eb337a0fdcabc32652891489c42e8f48a8f36f03864798",
        "8d7e10136544a2ff488f9a2dcccd7785babe92313fd0d8e2d4fe8f01f4f066e2",
    ),
}


def file_stem(dataset: str, index: int) -> str:
    return f"{dataset}-j{index}"


def paths(dataset: str, index: int) -> tuple[Path, Path]:
    stem = file_stem(dataset, index)
    return WEIGHTS_DIR / f"{stem}.safetensors", WEIGHTS_DIR / f"{stem}.json"


def is_shipped(dataset: str) -> bool:
    return (dataset, 0) in PINNED


def count(dataset: str) -> int:
    """How many judges ship for a dataset (0: none; it trains its own)."""
    n = 0
    while (dataset, n) in PINNED:
        n += 1
    return n


def read_verified(dataset: str, index: int) -> tuple[bytes, dict]:
    """(weights bytes, info) of a shipped judge after checking both files against their pinned SHA-256."""
    if (dataset, index) not in PINNED:
        raise GenlabError(
            f"no shipped judge {index} for {dataset}; genlab ships {count(dataset)} (judges 0 to {count(dataset) - 1})"
        )
    want = PINNED[(dataset, index)]
    blobs = []
    for path, sha in zip(paths(dataset, index), want):
        try:
            blob = safeio.read_capped(path, safeio.MAX_CACHE_BYTES, "a shipped judge file")
        except FileNotFoundError:
            raise GenlabError(
                f"{printable(path)} is missing: the shipped judge is part of genlab — reinstall "
                "genlab (or `git checkout genlab/eval/judges`)"
            ) from None
        got = hashlib.sha256(blob).hexdigest()
        if got != sha:
            raise GenlabError(
                f"{printable(path)} does not match its pinned SHA-256 ({got[:12]}…, expected "
                f"{sha[:12]}…): the shipped judge was changed — reinstall genlab (or `git checkout "
                "genlab/eval/judges`); a judge is never retrained silently"
            )
        blobs.append(blob)
    info = json.loads(blobs[1])
    info.update({"shipped": True, "index": index, "file": paths(dataset, index)[0].name, "sha256": want[0]})
    return blobs[0], info


def verify_all() -> list[str]:
    """One line per shipped judge, or the first mismatch as a GenlabError."""
    lines = []
    for (dataset, index), (sha, _) in sorted(PINNED.items()):
        _, info = read_verified(dataset, index)
        lines.append(
            f"{file_stem(dataset, index)}: OK (SHA-256 {sha[:16]}…, test accuracy "
            f"{info['test_accuracy']:.4f}, seed {info['seed']})"
        )
    return lines
