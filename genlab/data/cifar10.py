"""CIFAR-10 (Krizhevsky 2009), the binary version: 60,000 colour images of 3 x 32 x 32 in ten classes, no pickle.

https://www.cs.toronto.edu/~kriz/cifar.html serves three versions; the python one is pickles (loading one runs
whatever code it holds), so genlab reads the binary one, `cifar-10-binary.tar.gz`. Its folder
`cifar-10-batches-bin/` holds `data_batch_1.bin` .. `data_batch_5.bin` (train, 50,000 images) and
`test_batch.bin` (test, 10,000). Each .bin file is records of 3,073 bytes and nothing else: one label byte
(0..9, the class's index in CLASSES), then 1,024 red, 1,024 green and 1,024 blue bytes, each channel a 32 x 32
image in row-major order, so a record's pixels reshape to [3, 32, 32] as they stand.

Integrity, as for MNIST: the SHA-256 of each extracted .bin file is pinned (PIN.sha256); it is what a load
checks and what a run records. A download is checked against the archive's SHA-256 and the MD5 the site
publishes before a byte of it is unpacked, and only the six .bin members are unpacked (regular files, by their
exact names; an archive with a member that would land outside its folder is refused whole).

Files: DATA/cifar-10/*.bin (what `genlab data fetch cifar-10` writes) or DATA/cifar-10-batches-bin/*.bin (the
archive unpacked into the data folder as it is: `tar xzf cifar-10-binary.tar.gz -C DATA`), DATA being
--data-dir, $GENLAB_DATA or ~/.cache/genlab/data (genlab.data.resolve_data_dir).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import torch

from genlab.core import safeio
from genlab.core.errors import BadFile, GenlabError, lookup
from genlab.core.progress import bar
from genlab.core.safeio import printable
from genlab.data.datasource import DataSource, Shape

NAME = "cifar-10"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHAPE: Shape = (3, 32, 32)
RECORD_BYTES = 1 + SHAPE[0] * SHAPE[1] * SHAPE[2]  # 3,073: the label byte, then the pixels
ARCHIVE_DIR = "cifar-10-batches-bin"  # the folder inside the archive
SPLITS = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
FILES = (*SPLITS["train"], *SPLITS["test"])
MAX_BATCH_BYTES = 64 * safeio.MiB  # one .bin file is 30,730,000 bytes; caps what a hostile file can make us read


@dataclass(frozen=True)
class Pin:
    """What the downloaded archive and the files unpacked from it must be."""

    urls: tuple[str, ...]  # tried in order
    archive_bytes: int  # a download that grows past this is cut off (no mirror fills the disk)
    archive_sha256: str
    archive_md5: str  # the checksum the dataset's page publishes; checked beside the SHA-256
    sha256: dict[str, str]  # .bin file name -> SHA-256 of its bytes (what a load checks and a run records)


# Archive SHA-256 and size: TensorFlow Datasets' url_checksums/cifar10.txt (and every other pin found agrees);
# MD5: the dataset's page; the .bin files' SHA-256: torchvision-ruby's CIFAR10 (test_batch.bin's also pinned
# independently elsewhere). None could be checked against the real files from here (no internet): see NOTES.
PIN = Pin(
    urls=("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
    archive_bytes=170_052_171,
    archive_sha256="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    archive_md5="c32a1d4ab5d03f1284b67883e8d87530",
    sha256={
        "data_batch_1.bin": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
        "data_batch_2.bin": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
        "data_batch_3.bin": "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
        "data_batch_4.bin": "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
        "data_batch_5.bin": "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
        "test_batch.bin": "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
    },
)
REFETCH = f"delete it and run 'genlab data fetch {NAME}'"
PIN_WRONG = "the archive matched its published checksums, so genlab's pin (cifar10.PIN.sha256) is wrong: report it"


@dataclass(frozen=True)
class Cifar10Source(DataSource):
    """CIFAR-10's official split (50,000 / 10,000) as 3 x 32 x 32 uint8 images with labels 0..9."""

    root: Path  # the data folder (data.resolve_data_dir: --data-dir, $GENLAB_DATA or the cache)
    named: bool = True  # the user named it, so it must exist (the cache folder is created)
    name: str = NAME

    @property
    def shape(self) -> Shape:
        return SHAPE

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASSES

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        lookup(SPLITS, split, "split")
        return _load_split(split, str(data_folder(self.root, self.named).resolve()))

    def content_hashes(self) -> dict[str, str]:
        return dict(PIN.sha256)

    def verify(self, fetch: bool = False) -> dict[str, str]:
        """SHA-256 of every .bin file after checking its records and its pin (`genlab data verify|fetch`)."""
        folder = data_folder(self.root, self.named, fetch=fetch)
        return {name: hashlib.sha256(verified_batch(folder / name)[2]).hexdigest() for name in FILES}


# ---------------------------------------------------------------- the binary format


def parse_batch(raw: bytes, where: object) -> tuple[torch.Tensor, torch.Tensor]:
    """A .bin file's bytes as (images uint8 [N, 3, 32, 32], labels int64 [N]); a malformed one is one line."""
    if not raw or len(raw) % RECORD_BYTES:
        raise BadFile(
            printable(where),
            f"{len(raw):,} bytes is not a whole number of {RECORD_BYTES:,}-byte CIFAR-10 records "
            f"(label byte + 3 x 32 x 32 pixels); the file is truncated or not a CIFAR-10 batch",
            REFETCH,
        )
    records = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].long()
    bad = (labels >= len(CLASSES)).nonzero()
    if bad.numel():
        i = int(bad[0])
        raise BadFile(
            printable(where),
            f"record {i} has label {int(labels[i])}, outside 0..{len(CLASSES) - 1} (so do {bad.numel():,} of its "
            f"{len(labels):,} records); the file is corrupt or not a CIFAR-10 batch",
            REFETCH,
        )
    return records[:, 1:].reshape(-1, *SHAPE).contiguous(), labels


def write_batch(path: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    """uint8 [N, 3, 32, 32] images and their labels as a .bin file; for tests and tools."""
    flat = images.to(torch.uint8).reshape(images.shape[0], -1)
    records = torch.cat([labels.to(torch.uint8).reshape(-1, 1), flat], dim=1)
    Path(path).write_bytes(records.contiguous().numpy().tobytes())


def read_batch(path: Path) -> bytes:
    """A .bin file's bytes, through safeio (regular files only, at most MAX_BATCH_BYTES)."""
    try:
        return safeio.read_capped(path, MAX_BATCH_BYTES, "the CIFAR-10 batch")
    except FileNotFoundError:
        raise GenlabError(f"{printable(path)}: missing; run 'genlab data fetch {NAME}'") from None


def check_pin(raw: bytes, name: str, where: object, fix: str = REFETCH) -> None:
    """The bytes of .bin file `name` are the pinned ones (a run records these hashes, so they must be the data)."""
    actual, expected = hashlib.sha256(raw).hexdigest(), PIN.sha256[name]
    if actual != expected:
        raise BadFile(printable(where), f"SHA-256 mismatch for {NAME}/{name}: expected {expected}, got {actual}", fix)


def verified_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor, bytes]:
    """(images, labels, raw bytes) of a .bin file whose records parse and whose hash is the pinned one."""
    raw = read_batch(path)
    images, labels = parse_batch(raw, path)
    check_pin(raw, path.name, path)
    return images, labels, raw


@functools.lru_cache(maxsize=4)
def _load_split(split: str, folder: str) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [verified_batch(Path(folder) / name)[:2] for name in SPLITS[split]]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


# ---------------------------------------------------------------- where the files are


def candidates(root: Path) -> tuple[Path, Path]:
    """Where the six files are looked for: genlab's own folder (fetch writes there), then the archive's."""
    return root / NAME, root / ARCHIVE_DIR


def missing_files(folder: Path) -> list[str]:
    return [n for n in FILES if not (folder / n).is_file()]


def data_folder(root: Path, named: bool, fetch: bool = True) -> Path:
    """The folder that holds all six .bin files, downloading them into root/cifar-10 when missing and allowed."""
    root = Path(root)
    if named and not root.is_dir():
        raise GenlabError(
            f"data folder {printable(root)} does not exist; pass --data-dir (or GENLAB_DATA) pointing at a folder "
            f"that holds {NAME}/ or {ARCHIVE_DIR}/, or leave both unset to download"
        )
    for folder in candidates(root):
        if not missing_files(folder):
            return folder
    folder = candidates(root)[0]
    if not fetch:
        raise GenlabError(
            f"{printable(folder)}: missing {', '.join(missing_files(folder))}; run 'genlab data fetch {NAME}', "
            f"or unpack cifar-10-binary.tar.gz into {printable(root)} (its {ARCHIVE_DIR}/ is read as it is)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenlabError(
            f"cannot create data folder {printable(folder)} ({e.strerror}); pass --data-dir to a writable folder"
        ) from None
    download(folder)
    return folder


# ---------------------------------------------------------------- download and unpack


def download(folder: Path) -> None:
    """Fetch the archive from the first URL that answers, check it, unpack the six files into `folder`."""
    reasons = []
    for url in PIN.urls:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".cifar-10-binary.", suffix=".tar.gz.part")
        try:
            with os.fdopen(fd, "wb") as out:
                fetch_archive(url, out)
            extract(Path(tmp), folder, shown=url)
            return
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reasons.append(f"{url}: {getattr(e, 'reason', None) or e}")
        except GenlabError as e:
            reasons.append(str(e))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    root = printable(folder.parent)
    raise GenlabError(
        f"cannot download {NAME} ({'; '.join(reasons)}); with no internet, download {PIN.urls[0]} on a machine "
        f"that has it (MD5 {PIN.archive_md5}) and run 'tar xzf cifar-10-binary.tar.gz -C {root}' here (genlab "
        f"reads {root}/{ARCHIVE_DIR}/ as it is), or point --data-dir / GENLAB_DATA at a folder that holds it"
    )


def fetch_archive(url: str, out: IO[bytes]) -> None:
    """Stream `url` into `out` under a progress bar, then check its size, SHA-256 and MD5 against the pin."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with urllib.request.urlopen(url, timeout=30) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with bar(total=total, desc=f"download {NAME}", unit="B", unit_scale=True) as pb:
            while chunk := resp.read(1 << 16):
                size += len(chunk)
                if size > PIN.archive_bytes:
                    raise GenlabError(f"{url}: sent more than the archive's {PIN.archive_bytes:,} bytes; not it")
                out.write(chunk)
                sha.update(chunk)
                md5.update(chunk)
                pb.update(len(chunk))
    out.flush()
    os.fsync(out.fileno())
    if (sha.hexdigest(), md5.hexdigest()) != (PIN.archive_sha256, PIN.archive_md5):
        raise GenlabError(
            f"{url}: {size:,} bytes with SHA-256 {sha.hexdigest()} (expected {PIN.archive_sha256}) and MD5 "
            f"{md5.hexdigest()} (expected {PIN.archive_md5}); a truncated or altered download, nothing was unpacked"
        )


def member_file(member: tarfile.TarInfo, archive: str) -> str | None:
    """The .bin file an archive member is (by its exact path), None for one genlab skips; a member whose path
    leaves the archive's folder (absolute, `..`) or a .bin member that is not a regular file refuses the archive."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise BadFile(
            archive,
            f"member {printable(member.name)} would land outside the folder it is unpacked into",
            "this is not the CIFAR-10 archive; delete it",
        )
    if len(path.parts) != 2 or path.parts[0] != ARCHIVE_DIR or path.parts[1] not in FILES:
        return None  # readme.html, batches.meta.txt (CLASSES holds its names), the folder entry
    if not member.isreg():
        raise BadFile(
            archive,
            f"member {printable(member.name)} is not a regular file (a link or a device)",
            "this is not the CIFAR-10 archive; delete it",
        )
    return path.parts[1]


def copy_member(src: IO[bytes], out: IO[bytes], what: str) -> None:
    """Copy at most MAX_BATCH_BYTES of one archive member (its header's size is not trusted)."""
    size = 0
    while chunk := src.read(safeio.CHUNK):
        size += len(chunk)
        if size > MAX_BATCH_BYTES:
            raise GenlabError(f"{what}: more than {MAX_BATCH_BYTES:,} bytes, too large for a CIFAR-10 batch")
        out.write(chunk)
    out.flush()
    os.fsync(out.fileno())


def extract(archive: Path, folder: Path, shown: str | None = None) -> None:
    """Unpack the six .bin files of an archive that matched its pin (named `shown` in errors) into `folder`: each
    checked (records and pin) in a temporary file, all six moved into place only when every one passed, so no
    half set is left."""
    shown = printable(shown or archive)
    staged: dict[str, str] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member_file(member, shown)
                if name is None:
                    continue
                if name in staged:
                    raise BadFile(shown, f"member {printable(member.name)} appears twice", "this is not the archive")
                fd, staged[name] = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
                with os.fdopen(fd, "wb") as out, tar.extractfile(member) as src:
                    copy_member(src, out, f"{shown}: {printable(member.name)}")
        missing = [n for n in FILES if n not in staged]
        if missing:
            raise BadFile(shown, f"no {ARCHIVE_DIR}/{', '.join(missing)} inside", "this is not the archive")
        for name, tmp in staged.items():
            raw = read_batch(Path(tmp))
            parse_batch(raw, f"{shown}: {name}")
            check_pin(raw, name, f"{shown}: {name}", PIN_WRONG)
        for name, tmp in staged.items():
            os.replace(tmp, folder / name)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise BadFile(shown, f"cannot unpack ({e})", "the archive is damaged; delete it") from None
    finally:
        for tmp in staged.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
