"""A dataset source for the user's own images: `folder:PATH`.

Layout: `PATH/<class>/*.png|jpg|jpeg` (class subfolders, sorted by name, give the labels; at least two) or
`PATH/*.png|jpg|jpeg` (a flat folder: unlabeled, so no judge and no judge metrics). Hidden files (a leading
dot) are skipped; any other file, a nested folder, an empty class folder or an image that does not decode is
a one-line GenlabError naming it — a silently skipped image would change the data without anyone knowing.

Conversion (documented in docs/datasets.md): EXIF orientation applied; transparency composited onto black
(MNIST's background); grayscale by PIL's ITU-R 601 luma ("L"); the central square crop of the shorter side;
Lanczos resize to 28x28. The converted uint8 tensor is cached under $GENLAB_CACHE/folders/ keyed by a SHA-256
over every file's relative name and bytes (and the conversion's version), written atomically, so a changed
file means a new key and a crash never leaves half an entry. The held-out test split takes each file whose
SHA-256 of its relative name falls under `test_fraction`: deterministic, stable when files are added, and
independent of the order the file system lists them in.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from genlab.errors import GenlabError
from genlab.paths import cache_home
from genlab.progress import bar

PREFIX = "folder:"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
SIZE = 28
CONVERSION_VERSION = 1  # bump when the conversion changes: the cache key includes it
MIN_IMAGES = 50  # fewer leaves a test split too small for any metric
MAX_IMAGES = 500_000  # 28x28 bytes each: ~400 MB, the most one process should hold
MAX_PIXELS = 64_000_000  # per image: larger is a decompression bomb, not a photo
DEFAULT_TEST_FRACTION = 1 / 6  # MNIST's 10k of 70k


@dataclass(frozen=True)
class Folder:
    """What a scan found: files relative to the root, their labels, and the class names (empty: unlabeled)."""
    root: Path
    files: tuple[str, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]

    @property
    def labeled(self) -> bool:
        return bool(self.classes)


def is_folder(dataset: str) -> bool:
    return dataset.startswith(PREFIX)


def folder_path(dataset: str) -> Path:
    return Path(dataset[len(PREFIX):])


def normalized(dataset: str) -> str:
    """`folder:PATH` with PATH made absolute (a run's config must not depend on the directory it ran from)."""
    raw = dataset[len(PREFIX):]
    if not raw:
        raise GenlabError("--dataset folder: needs a path, e.g. folder:~/my-images (PATH/<class>/*.png)")
    return PREFIX + str(Path(raw).expanduser().absolute())


def slug(dataset: str) -> str:
    """A short name for run folders: the folder's base name, lowercased, only [a-z0-9-]."""
    base = Path(dataset[len(PREFIX):] if is_folder(dataset) else dataset).name.lower()
    s = "".join(c if c.isalnum() and c.isascii() else "-" for c in base).strip("-")
    while "--" in s:
        s = s.replace("--", "-")
    return f"folder-{s[:40] or 'images'}"


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def visible(p: Path) -> bool:
    return not p.name.startswith(".")


def scan(root: Path) -> Folder:
    """The folder's images and labels, or a one-line error naming the first thing that is wrong."""
    where = f"{PREFIX}{root}"
    if not root.exists():
        raise GenlabError(f"{where}: no such folder; pass --dataset folder:PATH with PATH/<class>/*.png")
    if not root.is_dir():
        raise GenlabError(f"{where}: not a folder; pass the folder that holds the images (PATH/<class>/*.png)")
    try:
        entries = sorted(p for p in root.iterdir() if visible(p))
    except OSError as e:
        raise GenlabError(f"{where}: cannot list the folder ({e.strerror}); check its permissions") from None
    dirs = [p for p in entries if p.is_dir()]
    files = [p for p in entries if not p.is_dir()]
    if not dirs and not files:
        raise GenlabError(f"{where}: the folder is empty; put images in PATH/<class>/ (labeled) or PATH/ "
                          "(unlabeled)")
    for f in files:
        if not is_image_name(f.name):
            raise GenlabError(f"{f}: not a {'/'.join(IMAGE_EXTENSIONS)} image; move it out of {root}")
    if dirs and files:
        raise GenlabError(f"{files[0]}: an image beside class folders ({dirs[0].name}/, ...); put every image "
                          f"in a class folder, or use a flat folder without subfolders")
    if not dirs:
        names = tuple(f.name for f in files)
        return checked(Folder(root, names, (0,) * len(names), ()))
    if len(dirs) == 1:
        raise GenlabError(f"{where}: one class folder only ({dirs[0].name}/); add a second class folder, or "
                          f"put the images directly in {root} to use them unlabeled")
    rel, labels = [], []
    for label, d in enumerate(dirs):
        try:
            inner = sorted(p for p in d.iterdir() if visible(p))
        except OSError as e:
            raise GenlabError(f"{d}: cannot list the folder ({e.strerror}); check its permissions") from None
        if not inner:
            raise GenlabError(f"{d}: the class folder holds no images; remove it or add images")
        for p in inner:
            if p.is_dir():
                raise GenlabError(f"{p}: a folder inside class folder {d.name}/; genlab reads one level of class "
                                  "folders, move its images up or out")
            if not is_image_name(p.name):
                raise GenlabError(f"{p}: not a {'/'.join(IMAGE_EXTENSIONS)} image; move it out of {root}")
            rel.append(f"{d.name}/{p.name}")
            labels.append(label)
    return checked(Folder(root, tuple(rel), tuple(labels), tuple(d.name for d in dirs)))


def checked(f: Folder) -> Folder:
    if len(f.files) < MIN_IMAGES:
        raise GenlabError(f"{PREFIX}{f.root}: {len(f.files)} images; genlab needs at least {MIN_IMAGES} (a test "
                          "split of 1/6 must still hold enough to measure)")
    if len(f.files) > MAX_IMAGES:
        raise GenlabError(f"{PREFIX}{f.root}: {len(f.files)} images, more than the {MAX_IMAGES} genlab holds in "
                          "memory; use a subset")
    return f


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise GenlabError(f"{path}: cannot read ({e.strerror}); check its permissions or remove it") from None


def content_key(folder: Folder, blobs: list[bytes]) -> str:
    """SHA-256 over (relative name, size, bytes) of every file in order, and the conversion's version."""
    h = hashlib.sha256(f"genlab-folder-v{CONVERSION_VERSION}\0".encode())
    for name, blob in zip(folder.files, blobs):
        h.update(name.encode("utf-8", "surrogateescape") + b"\0" + str(len(blob)).encode() + b"\0")
        h.update(blob)
    return h.hexdigest()


def convert(blob: bytes, path: Path) -> torch.Tensor:
    """One image file's bytes -> uint8 [28, 28] (the documented conversion); a bad file is one line."""
    import io

    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(blob)) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise GenlabError(f"{path}: {im.width}x{im.height} pixels is too large for an image; "
                                      "shrink it or remove it")
                im.load()
                im = ImageOps.exif_transpose(im)
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    im = im.convert("RGBA")
                    im = Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), im)
                g = im.convert("L")
                g = ImageOps.fit(g, (SIZE, SIZE), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
                return torch.frombuffer(bytearray(g.tobytes()), dtype=torch.uint8).reshape(SIZE, SIZE)
    except GenlabError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise GenlabError(f"{path}: not a readable image ({reason}); the file is truncated or not an image — "
                          "replace or remove it") from None


def cache_root() -> Path:
    return cache_home() / "folders"


@functools.lru_cache(maxsize=4)
def load_all(dataset: str) -> tuple[torch.Tensor, torch.Tensor, Folder, str]:
    """(images uint8 [N,28,28], labels int64 [N], the scan, the content SHA-256) of a folder, from the cache
    when its files are unchanged."""
    folder = scan(folder_path(dataset))
    blobs = [read_file(folder.root / f) for f in folder.files]
    key = content_key(folder, blobs)
    cached = cache_root() / f"{key}.safetensors"
    if cached.is_file():
        try:
            with safe_open(str(cached), "pt") as f:
                images, labels = f.get_tensor("images"), f.get_tensor("labels")
            if images.shape == (len(folder.files), SIZE, SIZE) and images.dtype == torch.uint8:
                return images, labels, folder, key
        except Exception:  # a damaged cache entry is rebuilt, never trusted
            pass
    images = torch.empty(len(folder.files), SIZE, SIZE, dtype=torch.uint8)
    with bar(total=len(blobs), desc=f"converting {len(blobs)} images of {folder.root.name}/ to 28x28",
             unit="img") as pb:
        for i, (name, blob) in enumerate(zip(folder.files, blobs)):
            images[i] = convert(blob, folder.root / name)
            pb.update(1)
    labels = torch.tensor(folder.labels, dtype=torch.int64)
    store(cached, images, labels, folder)
    return images, labels, folder, key


def store(path: Path, images: torch.Tensor, labels: torch.Tensor, folder: Folder) -> None:
    """Write the converted tensors atomically (temp file, then rename); a cache that cannot be written is skipped."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"images": images.contiguous(), "labels": labels.contiguous()}, str(tmp),
                  metadata={"classes": json.dumps(folder.classes), "root": str(folder.root)})
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def name_hash(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()[:8], "big")


def in_test_split(name: str, test_fraction: float) -> bool:
    """By the SHA-256 of the file's relative name: the same file is always on the same side."""
    return name_hash(name) < test_fraction * 2.0**64


def load(dataset: str, split: str, test_fraction: float = DEFAULT_TEST_FRACTION
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of one split of a folder dataset."""
    return _split(dataset, split, test_fraction)


@functools.lru_cache(maxsize=8)
def _split(dataset: str, split: str, test_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels, folder, _ = load_all(dataset)
    # files in the order of their name hash, not class by class: "the first n images" of a split (the metrics'
    # reference, the real-samples grid) is then a fair mix of classes, as in MNIST
    order = sorted(range(len(folder.files)), key=lambda i: name_hash(folder.files[i][::-1]))
    mask = torch.tensor([in_test_split(folder.files[i], test_fraction) for i in order])
    if split == "train":
        mask = ~mask
    index = torch.tensor(order)[mask]
    if not bool(mask.any()):
        raise GenlabError(f"{dataset}: the {split} split is empty with data.test_fraction={test_fraction:.3g}; "
                          "use a fraction between 0.05 and 0.5, or add images")
    return images[index], labels[index]


def classes(dataset: str) -> tuple[str, ...]:
    return load_all(dataset)[2].classes


def fingerprint(dataset: str) -> str:
    """The content SHA-256 (names and bytes of every file): the folder's identity in meta.json and judge keys."""
    return load_all(dataset)[3]


def describe(dataset: str, test_fraction: float = DEFAULT_TEST_FRACTION) -> dict[str, object]:
    """What `genlab data verify folder:PATH` prints: counts per split and class, the content hash."""
    images, labels, folder, key = load_all(dataset)
    train, test = load(dataset, "train", test_fraction), load(dataset, "test", test_fraction)
    out: dict[str, object] = {"images": int(images.shape[0]), "train": int(train[0].shape[0]),
                              "test": int(test[0].shape[0]), "sha256": key,
                              "classes": list(folder.classes) or "none (unlabeled: judge metrics are skipped)"}
    if folder.labeled:
        out["per_class"] = {c: int((labels == i).sum()) for i, c in enumerate(folder.classes)}
    return out
