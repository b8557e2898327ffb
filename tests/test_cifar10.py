"""CIFAR-10's binary version on files generated in its format (no CIFAR-10 here): records, pixel order, splits,
one-line errors for every bad file, the pin, and an archive that tries to write outside its folder."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tarfile
import urllib.error
from pathlib import Path

import pytest
import torch

from genlab import data
from genlab.cli import main
from genlab.core.errors import GenlabError
from genlab.data import cifar10

N = 20  # records per generated batch (the real ones hold 10,000)


def batch(seed: int, n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return images, torch.randint(0, 10, (n,), generator=g)


def write_folder(folder: Path) -> dict[str, str]:
    """The six .bin files of a tiny CIFAR-10 (batch k drawn with seed k); returns name -> SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(cifar10.FILES):
        cifar10.write_batch(folder / name, *batch(seed))
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in cifar10.FILES}


def pin(monkeypatch, **fields) -> None:
    monkeypatch.setattr(cifar10, "PIN", dataclasses.replace(cifar10.PIN, **fields))
    cifar10._load_split.cache_clear()


@pytest.fixture(autouse=True)
def fresh_caches():
    """Every test sees its own generated files, not a cached load of another test's."""
    data.source.cache_clear()
    cifar10._load_split.cache_clear()
    yield
    data.source.cache_clear()
    cifar10._load_split.cache_clear()


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Path:
    """A data folder whose cifar-10/ holds six generated batches, the pin patched to match them."""
    root = tmp_path / "data"
    pin(monkeypatch, sha256=write_folder(root / cifar10.NAME))
    return root


def one_line(excinfo, *needles: str) -> str:
    msg = str(excinfo.value)
    assert len(msg.splitlines()) == 1, msg
    for n in needles:
        assert n in msg, msg
    return msg


def test_a_record_is_a_label_then_red_green_blue_planes_row_major(tmp_path):
    pixels = bytearray(3072)
    pixels[0 * 1024 + 2 * 32 + 5] = 200  # red, row 2, column 5
    pixels[1 * 1024 + 0 * 32 + 31] = 100  # green, row 0, column 31
    pixels[2 * 1024 + 31 * 32 + 0] = 50  # blue, row 31, column 0
    raw = bytes([3]) + bytes(pixels) + bytes([9]) + bytes(range(256)) * 12
    images, labels = cifar10.parse_batch(raw, "hand-made")
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and labels.tolist() == [3, 9]
    assert (images[0, 0, 2, 5], images[0, 1, 0, 31], images[0, 2, 31, 0]) == (200, 100, 50)
    assert int(images[0].long().sum()) == 350
    assert images[1, 0, 0, :5].tolist() == [0, 1, 2, 3, 4] and images[1, 0, 8, 0] == 0  # 256 values = 8 rows


def test_write_batch_round_trips(tmp_path):
    images, labels = batch(7)
    cifar10.write_batch(tmp_path / "x.bin", images, labels)
    raw = (tmp_path / "x.bin").read_bytes()
    assert len(raw) == N * cifar10.RECORD_BYTES and raw[0] == labels[0]
    assert raw[1:1025] == images[0, 0].numpy().tobytes()  # the first record's red plane
    again = cifar10.parse_batch(raw, "x.bin")
    assert torch.equal(again[0], images) and torch.equal(again[1], labels)


def test_train_is_the_five_batches_in_order_and_test_is_test_batch(tiny):
    src = data.source(cifar10.NAME, tiny)
    assert isinstance(src, cifar10.Cifar10Source)
    assert src.shape == (3, 32, 32) and src.classes[0] == "airplane" and len(src.classes) == 10
    x, y = src.load("train")
    assert x.shape == (5 * N, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.equal(x, torch.cat([batch(k)[0] for k in range(5)]))
    assert torch.equal(y, torch.cat([batch(k)[1] for k in range(5)]))
    xt, yt = src.load("test")
    assert torch.equal(xt, batch(5)[0]) and torch.equal(yt, batch(5)[1])
    with pytest.raises(GenlabError, match="unknown split 'val'"):
        src.load("val")


def test_the_archives_own_folder_is_read_as_it_is(tmp_path, monkeypatch):
    root = tmp_path / "data"
    pin(monkeypatch, sha256=write_folder(root / cifar10.ARCHIVE_DIR))
    x, _ = data.source(cifar10.NAME, root).load("test")
    assert torch.equal(x, batch(5)[0])


def test_identity_is_the_pinned_hashes_and_a_changed_byte_changes_it(tiny, monkeypatch):
    src = data.source(cifar10.NAME, tiny)
    assert src.content_hashes() == cifar10.PIN.sha256 and src.slug == "cifar-10"
    assert src.verify() == cifar10.PIN.sha256
    key = src.judge_key()
    f = tiny / cifar10.NAME / "data_batch_3.bin"
    raw = bytearray(f.read_bytes())
    raw[1 + 1000] ^= 1  # one pixel: the records still parse
    f.write_bytes(bytes(raw))
    with pytest.raises(GenlabError) as e:
        src.verify()
    one_line(e, "data_batch_3.bin", "SHA-256 mismatch", cifar10.PIN.sha256["data_batch_3.bin"], "genlab data fetch")
    new = dict(cifar10.PIN.sha256, **{"data_batch_3.bin": hashlib.sha256(bytes(raw)).hexdigest()})
    pin(monkeypatch, sha256=new)  # someone's other CIFAR-10: another identity and another judge key
    assert src.verify() == new and src.content_hashes() == new and src.judge_key() != key


@pytest.mark.parametrize(
    "damage,needles",
    [
        (lambda raw: raw[:-100], ("not a whole number of 3,073-byte", "truncated")),
        (lambda raw: raw + b"\0" * 7, ("not a whole number of 3,073-byte",)),
        (lambda raw: b"", ("0 bytes",)),
        (lambda raw: raw[: 4 * 3073] + bytes([10]) + raw[4 * 3073 + 1 :], ("record 4 has label 10", "0..9")),
    ],
    ids=["truncated", "extra-bytes", "empty", "bad-label"],
)
def test_a_bad_batch_is_one_line_naming_it(tiny, monkeypatch, damage, needles):
    f = tiny / cifar10.NAME / "test_batch.bin"
    raw = damage(f.read_bytes())
    f.write_bytes(raw)
    pin(monkeypatch, sha256=dict(cifar10.PIN.sha256, **{"test_batch.bin": hashlib.sha256(raw).hexdigest()}))
    with pytest.raises(GenlabError) as e:
        data.source(cifar10.NAME, tiny).load("test")
    one_line(e, str(f), *needles, "genlab data fetch cifar-10")


def test_an_oversized_file_and_a_fifo_are_refused_before_reading(tiny, monkeypatch):
    monkeypatch.setattr(cifar10, "MAX_BATCH_BYTES", 10 * cifar10.RECORD_BYTES)
    with pytest.raises(GenlabError) as e:
        data.source(cifar10.NAME, tiny).load("test")
    one_line(e, "test_batch.bin", "MiB genlab reads")
    monkeypatch.setattr(cifar10, "MAX_BATCH_BYTES", 64 * 2**20)
    f = tiny / cifar10.NAME / "data_batch_1.bin"
    f.unlink()
    os.mkfifo(f)
    with pytest.raises(GenlabError) as e:
        cifar10.verified_batch(f)
    one_line(e, "FIFO")


def test_missing_files_and_folders_are_one_line(tiny, tmp_path, capsys):
    (tiny / cifar10.NAME / "data_batch_2.bin").unlink()
    with pytest.raises(GenlabError) as e:
        data.source(cifar10.NAME, tiny).verify(fetch=False)
    one_line(e, "missing data_batch_2.bin", "genlab data fetch cifar-10", "unpack cifar-10-binary.tar.gz")
    with pytest.raises(GenlabError) as e:
        data.source(cifar10.NAME, tmp_path / "nope").load("train")
    one_line(e, "does not exist", "--data-dir")


def test_cli_data_verify_prints_one_line_on_a_bad_file(tiny, capsys):
    assert main(["data", "verify", "--dataset", cifar10.NAME, "--data-dir", str(tiny)]) == 0
    assert capsys.readouterr().out.startswith("cifar-10: ")
    f = tiny / cifar10.NAME / "data_batch_5.bin"
    f.write_bytes(f.read_bytes()[:5000])
    cifar10._load_split.cache_clear()
    assert main(["data", "verify", "--dataset", cifar10.NAME, "--data-dir", str(tiny)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data_batch_5.bin" in err and "5,000 bytes" in err, err


# ---------------------------------------------------------------- the archive


def make_tar(path: Path, members: list[tuple[str, bytes | None, str]]) -> Path:
    """A .tar.gz of (name, bytes, kind) members: kind 'file', 'dir' or 'symlink' (bytes: the link target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, content.decode()
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def official_members(folder: Path) -> list[tuple[str, bytes | None, str]]:
    """The members of the real archive, in its layout, with the generated batches as the .bin files."""
    d = cifar10.ARCHIVE_DIR
    return [
        (d, None, "dir"),
        (f"{d}/batches.meta.txt", "\n".join(cifar10.CLASSES).encode() + b"\n\n", "file"),
        (f"{d}/readme.html", b"<html></html>", "file"),
        *[(f"{d}/{n}", (folder / n).read_bytes(), "file") for n in cifar10.FILES],
    ]


@pytest.fixture
def archive_parts(tiny) -> list[tuple[str, bytes | None, str]]:
    return official_members(tiny / cifar10.NAME)


def test_extract_takes_exactly_the_six_batches(tmp_path, archive_parts):
    out = tmp_path / "out"
    out.mkdir()
    cifar10.extract(make_tar(tmp_path / "a.tar.gz", archive_parts), out)
    assert sorted(p.name for p in out.iterdir()) == sorted(cifar10.FILES)  # no readme, no meta, no .part
    assert {n: hashlib.sha256((out / n).read_bytes()).hexdigest() for n in cifar10.FILES} == cifar10.PIN.sha256


@pytest.mark.parametrize(
    "evil,needle",
    [
        (("../escaped.bin", b"x", "file"), "would land outside"),
        ((f"{cifar10.ARCHIVE_DIR}/../../escaped.bin", b"x", "file"), "would land outside"),
        (("/tmp/escaped.bin", b"x", "file"), "would land outside"),
        ((f"{cifar10.ARCHIVE_DIR}/test_batch.bin", b"/etc/passwd", "symlink"), "not a regular file"),
        ((f"{cifar10.ARCHIVE_DIR}/data_batch_1.bin", b"\0" * 3073, "file"), "appears twice"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "duplicate"],
)
def test_a_hostile_archive_is_refused_and_nothing_is_written(tmp_path, archive_parts, evil, needle):
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    with pytest.raises(GenlabError) as e:
        cifar10.extract(make_tar(tmp_path / "evil.tar.gz", [*archive_parts, evil]), out)
    one_line(e, "evil.tar.gz", needle)
    assert list(out.iterdir()) == []
    assert not (tmp_path / "deep" / "escaped.bin").exists() and not (tmp_path / "escaped.bin").exists()


def test_an_archive_without_a_batch_or_with_a_wrong_one_leaves_no_half_set(tmp_path, archive_parts):
    out = tmp_path / "out"
    out.mkdir()
    short = [m for m in archive_parts if not m[0].endswith("test_batch.bin")]
    with pytest.raises(GenlabError) as e:
        cifar10.extract(make_tar(tmp_path / "short.tar.gz", short), out)
    one_line(e, "test_batch.bin")
    changed = [(n, c[:-1] + b"\1" if n.endswith("data_batch_4.bin") else c, k) for n, c, k in archive_parts]
    with pytest.raises(GenlabError) as e:
        cifar10.extract(make_tar(tmp_path / "changed.tar.gz", changed), out)
    one_line(e, "data_batch_4.bin", "SHA-256 mismatch")
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(GenlabError) as e:
        cifar10.extract(tmp_path / "junk.tar.gz", out)
    one_line(e, "junk.tar.gz", "cannot unpack")
    assert list(out.iterdir()) == []


class Resp(io.BytesIO):
    """A urlopen answer serving fixed bytes."""

    def __init__(self, body: bytes):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def serve(monkeypatch, body: bytes, pinned: bytes | None = None) -> None:
    """urlopen answers `body`; the archive pin is that of `pinned` (default: body itself)."""
    p = body if pinned is None else pinned
    pin(
        monkeypatch,
        archive_bytes=len(p),
        archive_sha256=hashlib.sha256(p).hexdigest(),
        archive_md5=hashlib.md5(p).hexdigest(),
    )
    monkeypatch.setattr(cifar10.urllib.request, "urlopen", lambda *a, **k: Resp(body))


def test_fetch_downloads_checks_and_unpacks_into_the_cache(tmp_path, monkeypatch, archive_parts):
    body = make_tar(tmp_path / "a.tar.gz", archive_parts).read_bytes()
    serve(monkeypatch, body)
    monkeypatch.delenv("GENLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    x, y = data.source(cifar10.NAME).load("test")  # nothing there yet: fetched on first use, as MNIST is
    assert torch.equal(x, batch(5)[0]) and torch.equal(y, batch(5)[1])
    folder = tmp_path / "cache" / "genlab" / "data" / cifar10.NAME
    assert sorted(p.name for p in folder.iterdir()) == sorted(cifar10.FILES)  # no archive, no .part left


@pytest.mark.parametrize("kind", ["altered", "too-long", "offline"])
def test_a_bad_or_failed_download_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, archive_parts, kind):
    body = make_tar(tmp_path / "a.tar.gz", archive_parts).read_bytes()
    if kind == "altered":
        serve(monkeypatch, body[:-1] + bytes([body[-1] ^ 1]), pinned=body)
    elif kind == "too-long":
        serve(monkeypatch, body + b"\0", pinned=body)
    else:

        def offline(*a, **k):
            raise urllib.error.URLError("Temporary failure in name resolution")

        monkeypatch.setattr(cifar10.urllib.request, "urlopen", offline)
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(GenlabError) as e:
        data.source(cifar10.NAME, root).verify(fetch=True)
    needle = {"altered": "SHA-256", "too-long": "sent more than", "offline": "name resolution"}[kind]
    one_line(e, "cannot download cifar-10", needle, "tar xzf cifar-10-binary.tar.gz", cifar10.PIN.archive_md5)
    assert list((root / cifar10.NAME).iterdir()) == []


def test_a_smoke_study_on_cifar_10_trains_draws_colour_and_judges_at_its_shape(tiny, tmp_path):
    """The study trains, draws RGB grids and evaluates with a judge trained for 3 x 32 x 32 on first use (on these
    random generated images it learns nothing: the point is the path, not the accuracy)."""
    from PIL import Image

    runs = tmp_path / "runs"
    argv = ["study", "smoke", "--dataset", "cifar-10", "--data-dir", str(tiny), "--runs-dir", str(runs)]
    with pytest.warns(UserWarning, match="judge of cifar-10 classifies only"):
        assert main([*argv, "--workers", "1", "--models", "gan,vae"]) == 0
    study = next(runs.iterdir())
    for run in sorted(p for p in study.iterdir() if (p / "meta.json").is_file()):
        ev = json.loads((run / "eval.json").read_text())
        assert "judge_skipped" not in ev and ev["metrics"]["fid"] > 0, run
        assert ev["judge"]["shape"] == [3, 32, 32] and ev["class_names"][:2] == ["airplane", "automobile"]
        with Image.open(run / "figures" / "samples.png") as im:
            assert im.mode == "RGB"
            r, g, b = (im.getchannel(c) for c in "RGB")
            assert r.tobytes() != g.tobytes() != b.tobytes()  # colour, not grey drawn three times
