"""Datasets: IDX files read by header, verified by SHA-256, loaded as one uint8 tensor.

IDX format (LeCun et al.): magic 0x0000, dtype byte (0x08 = uint8), ndim byte,
ndim big-endian uint32 sizes, then the data. Integrity is checked on the
*decompressed* bytes against the canonical table (gzip wrappers differ between
mirrors). Where the files are missing they are downloaded from the public
mirrors, verified, and only then moved into place, so the cache never holds a
half-written file.

Data folder: `--data-dir`, else $GENLAB_DATA, else ~/.cache/genlab/data
($XDG_CACHE_HOME respected); it holds one folder per dataset (`mnist/`,
`fashion-mnist/`) with the four standard file names, `.gz` or raw.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from genlab.core.errors import GenlabError, lookup
from genlab.core.progress import bar
from genlab.data import cifar10, folders, stacked_mnist
from genlab.data.datasource import DataSource, Shape, content_digest

IMAGE_SIZE = 28
DEFAULT_TEST_FRACTION = folders.DEFAULT_TEST_FRACTION
MAX_IDX_BYTES = 200_000_000  # larger than any MNIST-like split; caps what a hostile file can make us allocate
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class Dataset:
    name: str
    classes: tuple[str, ...]
    sha256: dict[str, str]  # decompressed file name -> SHA-256 of its bytes
    mirrors: tuple[str, ...]  # base URLs tried in order; each serves NAME.gz


DIGITS = tuple(str(i) for i in range(10))
DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        "mnist",
        DIGITS,
        {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    ),
    "fashion-mnist": Dataset(
        "fashion-mnist",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
}


def get_dataset(name: str) -> Dataset:
    return lookup(DATASETS, name, "dataset")


@dataclass(frozen=True)
class IdxSource(DataSource):
    """An IDX dataset of the registry (MNIST, Fashion-MNIST): 1 x 28 x 28, its official train/test split."""

    name: str
    data_dir: str | None = None

    @property
    def shape(self) -> Shape:
        return (1, IMAGE_SIZE, IMAGE_SIZE)

    @property
    def classes(self) -> tuple[str, ...]:
        return DATASETS[self.name].classes

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        lookup(SPLIT_FILES, split, "split")
        ds = DATASETS[self.name]
        images, labels = _load_split(ds.name, split, str(dataset_folder(ds, self.data_dir).resolve()))
        return images.unsqueeze(1), labels

    def content_hashes(self) -> dict[str, str]:
        return dict(DATASETS[self.name].sha256)

    def judge_key(self) -> str:
        return f"{self.name}-{DATASETS[self.name].sha256['train-images-idx3-ubyte'][:12]}"


@dataclass(frozen=True)
class Conversion:
    """How a source made of files of any size (an image folder) is split and converted; the registry's datasets
    have their own split and shape and ignore it."""

    test_fraction: float = folders.DEFAULT_TEST_FRACTION
    size: int = folders.SIZE
    channels: int = folders.CHANNELS


SourceFactory = Callable[[str, "str | None", Conversion], DataSource]  # (dataset, data_dir, conversion) -> source
SOURCES: dict[str, SourceFactory] = {
    **{name: lambda n, d, c: IdxSource(n, d) for name in DATASETS},
    stacked_mnist.NAME: lambda n, d, c: stacked_mnist.StackedMnist(IdxSource("mnist", d)),
    cifar10.NAME: lambda n, d, c: cifar10.Cifar10Source(*resolve_data_dir(d)),
}
PREFIXES: dict[str, SourceFactory] = {
    folders.PREFIX: lambda n, d, c: folders.FolderSource(n, c.test_fraction, c.size, c.channels)
}
NORMALIZE: dict[str, Callable[[str], str]] = {folders.PREFIX: folders.normalized}  # prefix -> canonical name


def prefix_of(dataset: str) -> str | None:
    return next((p for p in PREFIXES if dataset.startswith(p)), None)


def check_name(dataset: str) -> str:
    """A registered name (data.SOURCES) or `folder:PATH` (made absolute); anything else is a one-line error."""
    prefix = prefix_of(dataset)
    if prefix is not None:
        return NORMALIZE.get(prefix, str)(dataset)
    try:
        lookup(SOURCES, dataset, "dataset")
    except GenlabError as e:
        raise GenlabError(f"{e}, or folder:PATH for your own images (PATH/<class>/*.png)") from None
    return dataset


@functools.lru_cache(maxsize=64)
def source(
    dataset: str,
    data_dir: str | os.PathLike | None = None,
    test_fraction: float = folders.DEFAULT_TEST_FRACTION,
    size: int = folders.SIZE,
    channels: int = folders.CHANNELS,
) -> DataSource:
    """The data source a dataset name stands for; `data_dir` is where IDX files live; `test_fraction`, `size` and
    `channels` split and convert a folder (the registry's datasets keep their official split and shape)."""
    name = check_name(dataset)
    data_dir = str(data_dir) if data_dir else None
    prefix = prefix_of(name)
    if prefix is None and (size, channels) != (folders.SIZE, folders.CHANNELS):
        raise GenlabError(
            f"data.size and data.channels convert image folders (folder:PATH); {name} has its own shape, "
            "leave them at their defaults"
        )
    factory = PREFIXES[prefix] if prefix is not None else SOURCES[name]
    return factory(name, data_dir, Conversion(test_fraction, size, channels))


def source_of(cfg, data_dir: str | os.PathLike | None = None) -> DataSource:
    """The source of a run's DataConfig."""
    return source(cfg.dataset, data_dir, cfg.test_fraction, cfg.size, cfg.channels)


def is_folder(dataset: str) -> bool:
    """A dataset named by a path (folder:PATH): its epochs are counted in MNIST-sized passes."""
    return folders.is_folder(dataset)


def slug(dataset: str) -> str:
    """The dataset's part of a run folder's name (never a path); needs no data."""
    return folders.slug(dataset) if folders.is_folder(dataset) else dataset


def short_identity(hashes: dict[str, str]) -> str:
    """16 hex digits that name a dataset's content (a folder's content hash, or a digest of the IDX hashes)."""
    if "folder" in hashes:
        return str(hashes["folder"])[:16]
    return content_digest(hashes)[:16]


def check_unchanged(recorded: dict[str, str] | None, src: DataSource, run_dir: Path, doing: str) -> dict[str, str]:
    """The source's content hashes now, after checking them against those a run recorded when it trained:
    resuming or evaluating on other images would mix two datasets in one run without a word."""
    current = src.content_hashes()
    if recorded and recorded != current:
        raise GenlabError(
            f"{run_dir}: trained on data {short_identity(recorded)}, but {src.name} is now "
            f"{short_identity(current)}; the images changed since, so {doing} would mix two datasets — restore "
            "the images, or train a new run (delete the run folder, or pass another --name / --runs-dir)"
        )
    return current


def default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "genlab" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> tuple[Path, bool]:
    """The data folder and whether the user named it (a named folder must exist; the cache is created)."""
    if data_dir:
        return Path(data_dir), True
    env = os.environ.get("GENLAB_DATA")
    if env:
        return Path(env), True
    return default_data_dir(), False


# ---------------------------------------------------------------- IDX parsing


def parse_idx(raw: bytes, source: str) -> torch.Tensor:
    """An IDX byte string as a uint8 tensor; every malformed input is a one-line GenlabError."""
    if len(raw) < 4:
        raise GenlabError(f"{source}: file too short for an IDX header ({len(raw)} bytes); re-download it")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 4:
        raise GenlabError(
            f"{source}: wrong magic number {raw[:4].hex()} (expected 000008 then 01..04 dims); "
            "this is not an unsigned-byte IDX file"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GenlabError(f"{source}: header truncated; re-download the file")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = 1
    for d in dims:
        count *= d
    if count != len(raw) - header:
        raise GenlabError(
            f"{source}: header promises {count} bytes for dims {list(dims)} "
            f"but the file holds {len(raw) - header}; the file is truncated or corrupt"
        )
    return (
        torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).reshape(dims)
        if count
        else torch.zeros(dims, dtype=torch.uint8)
    )


def read_bytes(path: Path) -> bytes:
    """File bytes, gunzipped when the name ends in .gz, capped so a gzip bomb cannot exhaust memory."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read(MAX_IDX_BYTES + 1)
        else:
            with open(path, "rb") as f:
                raw = f.read(MAX_IDX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise GenlabError(
            f"{path}: cannot read ({e}); the gzip file is truncated or corrupt, delete it and re-download"
        ) from None
    if len(raw) > MAX_IDX_BYTES:
        raise GenlabError(f"{path}: more than {MAX_IDX_BYTES} bytes, too large for an MNIST-like file")
    return raw


def write_idx(path: Path, array: torch.Tensor) -> None:
    """A uint8 tensor as an IDX file (.gz when the name says so); used by tests and tools."""
    a = array.to(torch.uint8).contiguous()
    raw = struct.pack(">HBB", 0, 8, a.dim()) + struct.pack(f">{a.dim()}I", *a.shape) + a.numpy().tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(raw)


# ---------------------------------------------------------------- files, hashes, download


def find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def verified_bytes(path: Path, name: str, ds: Dataset) -> bytes:
    raw = read_bytes(path)
    actual = hashlib.sha256(raw).hexdigest()
    expected = ds.sha256[name]
    if actual != expected:
        raise GenlabError(
            f"{path}: SHA-256 mismatch for {ds.name}/{name}: expected {expected}, got {actual}; "
            "delete the file and download it again"
        )
    return raw


def download(ds: Dataset, name: str, folder: Path) -> Path:
    """Fetch NAME.gz from the first mirror that answers, verify it, then move it into place."""
    target = folder / f"{name}.gz"
    reasons = []
    for base in ds.mirrors:
        url = f"{base}{name}.gz"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with bar(total=total, desc=f"download {ds.name}/{name}", unit="B", unit_scale=True) as pb:
                    while chunk := resp.read(1 << 16):
                        out.write(chunk)
                        pb.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            verified_bytes(Path(tmp), name, ds)  # raises on a bad or truncated download
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reasons.append(f"{url}: {getattr(e, 'reason', e)}")
        except GenlabError as e:
            reasons.append(str(e))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    raise GenlabError(
        f"cannot download {ds.name}/{name} ({'; '.join(reasons)}); with no internet, put the "
        f"four {ds.name} IDX files (.gz or raw) in {folder} or point --data-dir / GENLAB_DATA "
        f"at a folder that holds {ds.name}/"
    )


def dataset_folder(ds: Dataset, data_dir: str | os.PathLike | None, fetch: bool = True) -> Path:
    """The dataset's folder with all four files present, downloading what is missing when allowed."""
    root, named = resolve_data_dir(data_dir)
    if named and not root.is_dir():
        raise GenlabError(
            f"data folder {root} does not exist; pass --data-dir (or GENLAB_DATA) pointing at a "
            "folder that holds mnist/ and fashion-mnist/, or leave both unset to download"
        )
    folder = root / ds.name
    missing = [n for n in ds.sha256 if find_file(folder, n) is None]
    if missing and not fetch:
        raise GenlabError(f"{folder}: missing {', '.join(missing)}; run 'genlab data fetch' or copy the files there")
    if missing:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise GenlabError(
                f"cannot create data folder {folder} ({e}); pass --data-dir to a writable folder"
            ) from None
        for name in missing:
            download(ds, name, folder)
    return folder


@functools.lru_cache(maxsize=8)
def _load_split(name: str, split: str, folder: str) -> tuple[torch.Tensor, torch.Tensor]:
    ds = DATASETS[name]
    image_name, label_name = SPLIT_FILES[split]
    parts = []
    for n in (image_name, label_name):
        path = find_file(Path(folder), n)
        if path is None:
            raise GenlabError(f"{folder}: {n} is missing; run 'genlab data fetch'")
        parts.append(parse_idx(verified_bytes(path, n, ds), str(path)))
    images, labels = parts
    if images.dim() != 3 or tuple(images.shape[1:]) != (IMAGE_SIZE, IMAGE_SIZE):
        raise GenlabError(f"{folder}/{image_name}: wrong dims {list(images.shape)}; expected [N, 28, 28]")
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise GenlabError(f"{folder}/{label_name}: wrong dims {list(labels.shape)}; expected [{images.shape[0]}]")
    if int(labels.max()) >= len(ds.classes):
        raise GenlabError(f"{folder}/{label_name}: label {int(labels.max())} out of range 0..{len(ds.classes) - 1}")
    return images, labels.long()


def verify(dataset: str, data_dir: str | os.PathLike | None = None, fetch: bool = True) -> dict[str, str]:
    """SHA-256 of every decompressed file of a dataset, after checking them against the table."""
    ds = get_dataset(dataset)
    folder = dataset_folder(ds, data_dir, fetch=fetch)
    out = {}
    for name in ds.sha256:
        path = find_file(folder, name)
        raw = verified_bytes(path, name, ds)
        parse_idx(raw, str(path))
        out[name] = hashlib.sha256(raw).hexdigest()
    return out


def to_unit(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float in [-1, 1] (the study's normalization)."""
    return images_u8.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8, the inverse of to_unit (clamped)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
