"""A dataset source for the user's own images: `folder:PATH`.

Layout: `PATH/<class>/*.png|jpg|jpeg` (class subfolders, sorted by name, give the labels; at least two) or
`PATH/*.png|jpg|jpeg` (a flat folder: unlabeled, so no judge and no judge metrics). Hidden files (a leading
dot) are skipped; any other file, a nested folder, an empty class folder or an image that does not decode is
a one-line GenlabError naming it — a silently skipped image would change the data without anyone knowing.

Reading (docs/safety.md): only regular files of at most 64 MiB (a FIFO, a device or a symlink to one is
refused, never opened for a blocking read), decoded only as PNG or JPEG judged by content — never by a
plugin that hands the file to an external program (EPS -> Ghostscript). Files are read and hashed one at a
time, so memory is one file plus the converted tensor. Every unusable file is named in one line.

Conversion (documented in docs/datasets.md): EXIF orientation applied; 16-bit greys scaled to 8 bit;
transparency (an alpha channel or a tRNS colour key, in every mode) composited onto black (MNIST's
background); grayscale by PIL's ITU-R 601 luma ("L"), or, with `data.channels=3`, RGB (CMYK and palettes by
PIL's conversion, greys repeated in all three channels); the central square crop of the shorter side; Lanczos
resize to `data.size` (28 by default). The converted uint8 tensor is cached under $GENLAB_CACHE/folders/ keyed
by a SHA-256 over every file's relative name and bytes (and the conversion: its version, size and channels),
written atomically with a SHA-256 of
its own tensors, so a changed file means a new key, a crash never leaves half an entry, and a damaged or
tampered entry is rebuilt with a warning. The held-out test split takes each file whose
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

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors import safe_open
from safetensors.torch import save_file

from genlab.core import safeio
from genlab.core.errors import BadFile, GenlabError
from genlab.core.paths import cache_home, usable_cache
from genlab.core.progress import bar
from genlab.core.safeio import printable
from genlab.data.datasource import DataSource

PREFIX = "folder:"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
SIZE = 28  # the default side: MNIST's, the one the judge is built for
CHANNELS = 1  # the default: grey, the judge's; 3 keeps colour
SIZES = range(8, 257, 4)  # sides a conversion may ask for: the networks halve an image twice
CONVERSION_VERSION = 2  # bump when the conversion changes: the cache key includes it (2: 16-bit greys scaled,
#   colour-key transparency composited)
FORMATS = ("PNG", "JPEG")  # what genlab decodes, judged by content; Pillow's other plugins are never tried
MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}
MAX_FILE_BYTES = safeio.MAX_IMAGE_BYTES
MAX_LISTED = 5  # bad files named in the one-line error (then "and N more")
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
    return Path(dataset[len(PREFIX) :])


def normalized(dataset: str) -> str:
    """`folder:PATH` with PATH made absolute (a run's config must not depend on the directory it ran from)."""
    raw = dataset[len(PREFIX) :]
    if not raw:
        raise GenlabError("--dataset folder: needs a path, e.g. folder:~/my-images (PATH/<class>/*.png)")
    return PREFIX + str(Path(raw).expanduser().absolute())


def slug(dataset: str) -> str:
    """A short name for run folders: the folder's base name, lowercased, only [a-z0-9-]."""
    base = Path(dataset[len(PREFIX) :] if is_folder(dataset) else dataset).name.lower()
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
        raise GenlabError(f"{where}: the folder is empty; put images in PATH/<class>/ (labeled) or PATH/ (unlabeled)")
    for f in files:
        if not is_image_name(f.name):
            raise GenlabError(f"{printable(f)}: not a {'/'.join(IMAGE_EXTENSIONS)} image; move it out of {root}")
    if dirs and files:
        raise GenlabError(
            f"{files[0]}: an image beside class folders ({dirs[0].name}/, ...); put every image "
            f"in a class folder, or use a flat folder without subfolders"
        )
    if not dirs:
        names = tuple(f.name for f in files)
        return checked(Folder(root, names, (0,) * len(names), ()))
    if len(dirs) == 1:
        raise GenlabError(
            f"{where}: one class folder only ({dirs[0].name}/); add a second class folder, or "
            f"put the images directly in {root} to use them unlabeled"
        )
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
                raise GenlabError(
                    f"{p}: a folder inside class folder {d.name}/; genlab reads one level of class "
                    "folders, move its images up or out"
                )
            if not is_image_name(p.name):
                raise GenlabError(f"{printable(p)}: not a {'/'.join(IMAGE_EXTENSIONS)} image; move it out of {root}")
            rel.append(f"{d.name}/{p.name}")
            labels.append(label)
    return checked(Folder(root, tuple(rel), tuple(labels), tuple(d.name for d in dirs)))


def checked(f: Folder) -> Folder:
    if len(f.files) < MIN_IMAGES:
        raise GenlabError(
            f"{PREFIX}{f.root}: {len(f.files)} images; genlab needs at least {MIN_IMAGES} (a test "
            "split of 1/6 must still hold enough to measure)"
        )
    if len(f.files) > MAX_IMAGES:
        raise GenlabError(
            f"{PREFIX}{f.root}: {len(f.files)} images, more than the {MAX_IMAGES} genlab holds in memory; use a subset"
        )
    return f


def read_file(path: Path) -> bytes:
    """One image file's bytes: a regular file of at most MAX_FILE_BYTES (never blocks, never reads unbounded)."""
    try:
        return safeio.read_capped(path, MAX_FILE_BYTES, "the image")
    except FileNotFoundError:
        raise BadFile(printable(path), "vanished while genlab read the folder", "run the command again") from None


def sniff(blob: bytes, path: Path) -> None:
    """PNG or JPEG by its first bytes, whatever the file's name says; anything else is one line."""
    if not any(blob.startswith(m) for m in MAGIC):
        raise BadFile(
            printable(path),
            "not a PNG or JPEG file by its content, whatever its name says",
            "genlab decodes only those two — convert it or remove it",
        )


def check_conversion(size: int, channels: int) -> None:
    if size not in SIZES:
        raise GenlabError(f"data.size={size}: use a side from 8 to 256 that is a multiple of 4 (28, 32, 64, ...)")
    if channels not in (1, 3):
        raise GenlabError(f"data.channels={channels}: use 1 (grey) or 3 (colour)")


def key_hash(size: int = SIZE, channels: int = CHANNELS) -> hashlib._Hash:
    """The start of a folder's cache key: the conversion's version and, when not the default 28 x 28 grey, its
    size and channels (so the default's keys, and the judges cached under them, stay what they were)."""
    h = hashlib.sha256(f"genlab-folder-v{CONVERSION_VERSION}\0".encode())
    if (size, channels) != (SIZE, CHANNELS):
        h.update(f"size={size},channels={channels}\0".encode())
    return h


def hash_entry(h: hashlib._Hash, name: str, blob: bytes) -> None:
    """(relative name, size, bytes) of one file into the folder's content key."""
    h.update(name.encode("utf-8", "surrogateescape") + b"\0" + str(len(blob)).encode() + b"\0")
    h.update(blob)


def one_line(problems: list[GenlabError], root: Path) -> GenlabError:
    """Every unusable file named at once (up to MAX_LISTED), so one pass over the folder finds them all."""
    if len(problems) == 1:
        return problems[0]
    prefix = printable(root) + "/"

    def short(e: GenlabError) -> str:
        if isinstance(e, BadFile):
            where = str(e.path)
            return f"{where[len(prefix) :] if where.startswith(prefix) else where}: {e.reason}"
        return str(e)

    more = f", and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return GenlabError(
        f"{len(problems)} files in {printable(root)} cannot be used — "
        + "; ".join(short(e) for e in problems[:MAX_LISTED])
        + more
        + " — remove them, or replace them with regular PNG or JPEG images"
    )


def to_rgb(im) -> Image.Image:
    """Any decoded PNG/JPEG -> 8-bit "RGB", transparency composited onto black; greys (8- or 16-bit, float) as
    to_gray makes them, repeated in the three channels; CMYK and palettes by PIL's own conversion."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F", "L", "LA", "La", "1"):
        return to_gray(im).convert("RGB")
    trans = im.info.get("transparency")
    if "A" in im.mode or im.mode == "RGBa" or trans is not None:
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), rgba).convert("RGB")
    return im.convert("RGB")


def to_gray(im) -> Image.Image:
    """Any decoded PNG/JPEG -> 8-bit grey "L" with transparency composited onto black (docs/datasets.md)."""
    trans = im.info.get("transparency")
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):  # 16-bit greys (32-bit "I" read as 0..65535)
        arr = np.asarray(im).astype(np.float64)
        g = np.clip(np.rint(arr * (255 / 65535)), 0, 255)
        if isinstance(trans, int):  # tRNS: one grey value is transparent
            g = np.where(arr == trans, 0, g)
        return Image.fromarray(g.astype(np.uint8), "L")
    if im.mode == "F":
        arr = np.nan_to_num(np.asarray(im).astype(np.float64))
        scale = 255.0 if arr.size and np.abs(arr).max() <= 1 else 1.0  # [0, 1] floats, else already 0..255
        return Image.fromarray(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8), "L")
    if "A" in im.mode or im.mode in ("RGBa", "La") or trans is not None:  # alpha, or a colour key in any mode
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), rgba).convert("L")
    return im.convert("L")


def convert(blob: bytes, path: Path, size: int = SIZE, channels: int = CHANNELS) -> torch.Tensor:
    """One image file's bytes -> uint8 [size, size] (grey) or [3, size, size] (colour), the documented
    conversion; a bad file is one line."""
    import io

    sniff(blob, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(blob), formats=FORMATS) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise BadFile(
                        printable(path),
                        f"{im.width}x{im.height} pixels is too large for an image",
                        "shrink it or remove it",
                    )
                im.load()
                im = ImageOps.exif_transpose(im)
                g = to_gray(im) if channels == 1 else to_rgb(im)
                g = ImageOps.fit(g, (size, size), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
                pixels = torch.frombuffer(bytearray(g.tobytes()), dtype=torch.uint8)
                return pixels.reshape(size, size) if channels == 1 else pixels.reshape(size, size, 3).permute(2, 0, 1)
    except GenlabError:
        raise
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        TypeError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as e:
        reason = printable(str(e).splitlines()[0][:120]) if str(e) else type(e).__name__
        raise BadFile(
            printable(path),
            f"not a readable image: {reason}",
            "the file is truncated or not an image — replace or remove it",
        ) from None


def cache_root() -> Path:
    return cache_home() / "folders"


def tensors_sha256(images: torch.Tensor, labels: torch.Tensor) -> str:
    """The cache entry's own checksum: a flipped byte in the cached pixels or labels is caught on load."""
    h = hashlib.sha256(b"genlab-folder-cache\0")
    h.update(str(tuple(images.shape)).encode() + str(images.dtype).encode())
    h.update(images.contiguous().numpy().tobytes())
    h.update(str(tuple(labels.shape)).encode() + str(labels.dtype).encode())
    h.update(labels.contiguous().numpy().tobytes())
    return h.hexdigest()


def entry_shape(n: int, size: int, channels: int) -> tuple[int, ...]:
    """A cache entry's image tensor: [N, S, S] grey (the layout entries always had), [N, 3, S, S] colour."""
    return (n, size, size) if channels == 1 else (n, channels, size, size)


def read_cached(
    path: Path, folder: Folder, size: int = SIZE, channels: int = CHANNELS
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A cache entry, after checking its checksum, shapes, dtypes and labels against the scan; None if there is
    none; a damaged one is a warning and None (it is rebuilt, never trusted)."""
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return None
    problem = None
    if not stat.S_ISREG(st.st_mode) or st.st_size > safeio.MAX_CACHE_BYTES:
        problem = "not a regular file of a plausible size"
    else:
        try:
            with safe_open(str(path), "pt") as f:
                images, labels = f.get_tensor("images"), f.get_tensor("labels")
                recorded = (f.metadata() or {}).get("sha256")
            n = len(folder.files)
            want = entry_shape(n, size, channels)
            if tuple(images.shape) != want or images.dtype != torch.uint8:
                problem = f"images {tuple(images.shape)} {images.dtype}, expected {want} uint8"
            elif labels.shape != (n,) or labels.dtype != torch.int64:
                problem = f"labels {tuple(labels.shape)} {labels.dtype}, expected ({n},) int64"
            elif labels.tolist() != list(folder.labels):
                problem = "labels that do not match the class folders"
            elif recorded != tensors_sha256(images, labels):
                problem = "tensors that do not match their SHA-256"
            else:
                return images, labels
        except Exception as e:  # safetensors raises its own types for damaged files  # noqa: BLE001
            problem = f"unreadable ({type(e).__name__})"
    warnings.warn(
        f"the cached conversion {printable(path)} is damaged ({problem}); converting the images again", stacklevel=2
    )
    return None


@functools.lru_cache(maxsize=4)
def load_all(
    dataset: str, size: int = SIZE, channels: int = CHANNELS
) -> tuple[torch.Tensor, torch.Tensor, Folder, str]:
    """(images uint8 (entry_shape), labels int64 [N], the scan, the content SHA-256 of files and conversion) of a
    folder, from the cache when its files are unchanged. Two passes, one file in memory at a time: hash (and
    sniff) every file, then on a cache miss convert each, checking it is the file that was hashed."""
    check_conversion(size, channels)
    folder = scan(folder_path(dataset))
    h, digests, problems = key_hash(size, channels), [], []
    with bar(
        total=len(folder.files),
        desc=f"reading {len(folder.files)} images of {printable(folder.root.name)}/",
        unit="img",
    ) as pb:
        for name in folder.files:
            try:
                blob = read_file(folder.root / name)
                sniff(blob, folder.root / name)
            except GenlabError as e:
                problems.append(e)
                blob = b""
            hash_entry(h, name, blob)
            digests.append(hashlib.sha256(blob).digest())
            pb.update(1)
    if problems:
        raise one_line(problems, folder.root)
    key = h.hexdigest()
    cached = cache_root() / f"{key}.safetensors"
    hit = read_cached(cached, folder, size, channels)
    if hit is not None:
        return hit[0], hit[1], folder, key
    images = torch.empty(entry_shape(len(folder.files), size, channels), dtype=torch.uint8)
    with bar(
        total=len(folder.files),
        desc=f"converting {len(folder.files)} images of {printable(folder.root.name)}/ to "
        + ("" if channels == 1 else "3x")
        + f"{size}x{size}",
        unit="img",
    ) as pb:
        for i, name in enumerate(folder.files):
            try:
                blob = read_file(folder.root / name)
                if hashlib.sha256(blob).digest() != digests[i]:
                    raise BadFile(
                        printable(folder.root / name),
                        "changed while genlab read the folder",
                        "run the command again once nothing writes to it",
                    )
                images[i] = convert(blob, folder.root / name, size, channels)
            except GenlabError as e:
                problems.append(e)
            pb.update(1)
    if problems:
        raise one_line(problems, folder.root)
    labels = torch.tensor(folder.labels, dtype=torch.int64)
    store(cached, images, labels, folder)
    return images, labels, folder, key


def store(path: Path, images: torch.Tensor, labels: torch.Tensor, folder: Folder) -> None:
    """Write the converted tensors atomically (temp file, then rename) with their SHA-256; a cache that cannot
    be written is skipped with a warning (the images are converted again next time)."""
    if usable_cache(path.parent, "converted image folders") is None:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(
            {"images": images.contiguous(), "labels": labels.contiguous()},
            str(tmp),
            metadata={
                "classes": json.dumps(folder.classes),
                "root": str(folder.root),
                "sha256": tensors_sha256(images, labels),
            },
        )
        os.replace(tmp, path)
    except OSError as e:
        warnings.warn(
            f"the cache {printable(path.parent)} cannot be written ({e.strerror}); the images will be "
            "converted again next time",
            stacklevel=2,
        )
    finally:
        tmp.unlink(missing_ok=True)


def name_hash(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()[:8], "big")


def in_test_split(name: str, test_fraction: float) -> bool:
    """By the SHA-256 of the file's relative name: the same file is always on the same side."""
    return name_hash(name) < test_fraction * 2.0**64


def load(
    dataset: str, split: str, test_fraction: float = DEFAULT_TEST_FRACTION, size: int = SIZE, channels: int = CHANNELS
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of one split of a folder dataset."""
    return _split(dataset, split, test_fraction, size, channels)


@functools.lru_cache(maxsize=8)
def _split(
    dataset: str, split: str, test_fraction: float, size: int, channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels, folder, _ = load_all(dataset, size, channels)
    # files in the order of their name hash, not class by class: "the first n images" of a split (the metrics'
    # reference, the real-samples grid) is then a fair mix of classes, as in MNIST
    order = sorted(range(len(folder.files)), key=lambda i: name_hash(folder.files[i][::-1]))
    mask = torch.tensor([in_test_split(folder.files[i], test_fraction) for i in order])
    if split == "train":
        mask = ~mask
    index = torch.tensor(order)[mask]
    if not bool(mask.any()):
        raise GenlabError(
            f"{dataset}: the {split} split is empty with data.test_fraction={test_fraction:.3g}; "
            "use a fraction between 0.05 and 0.5, or add images"
        )
    return images[index], labels[index]


def classes(dataset: str) -> tuple[str, ...]:
    return load_all(dataset)[2].classes


def fingerprint(dataset: str, size: int = SIZE, channels: int = CHANNELS) -> str:
    """The content SHA-256 (names and bytes of every file, and the conversion): the folder's identity in meta.json
    and judge keys."""
    return load_all(dataset, size, channels)[3]


def describe(dataset: str, test_fraction: float = DEFAULT_TEST_FRACTION) -> dict[str, object]:
    """What `genlab data verify folder:PATH` prints: counts per split and class, the content hash."""
    images, labels, folder, key = load_all(dataset)
    train, test = load(dataset, "train", test_fraction), load(dataset, "test", test_fraction)
    out: dict[str, object] = {
        "images": int(images.shape[0]),
        "train": int(train[0].shape[0]),
        "test": int(test[0].shape[0]),
        "sha256": key,
        "classes": list(folder.classes) or "none (unlabeled: judge metrics are skipped)",
    }
    if folder.labeled:
        out["per_class"] = {c: int((labels == i).sum()) for i, c in enumerate(folder.classes)}
    return out


@dataclass(frozen=True)
class FolderSource(DataSource):
    """`folder:PATH` as a data source: converted to `channels` x `size` x `size` (28 x 28 grey by default), split
    by file-name hash at `test_fraction`."""

    name: str
    test_fraction: float = DEFAULT_TEST_FRACTION
    size: int = SIZE
    channels: int = CHANNELS

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    @property
    def classes(self) -> tuple[str, ...]:
        return classes(self.name)

    @property
    def slug(self) -> str:
        return slug(self.name)

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = load(self.name, split, self.test_fraction, self.size, self.channels)
        return (images.unsqueeze(1) if self.channels == 1 else images), labels

    def content_hashes(self) -> dict[str, str]:
        return {"folder": fingerprint(self.name, self.size, self.channels)}

    def judge_key(self) -> str:
        key = fingerprint(self.name, self.size, self.channels)
        sha = hashlib.sha256(f"{key}:{self.test_fraction!r}".encode()).hexdigest()[:12]
        return f"folder-{sha}"  # by content and split: a moved or renamed folder keeps its judge
