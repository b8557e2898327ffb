"""Data: IDX parsing, the real files' known statistics, and one-line errors for every bad input."""

from __future__ import annotations

import gzip
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch

from genlab import data
from genlab.cli import main
from genlab.core.errors import GenlabError


def run_cli(args, capsys) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


def test_real_mnist_matches_known_statistics(real_data):
    images, labels = data.source("mnist", real_data).load("train")
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.uint8
    assert abs(images.double().mean().item() - 33.318421449829934) < 1e-9
    assert abs(images.double().std(unbiased=False).item() - 78.56748998339798) < 1e-6
    assert torch.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    x = data.to_unit(images[:100])
    assert x.min() == -1 and x.max() == 1 and x.shape == (100, 1, 28, 28)


def test_verify_real_data_via_cli(real_data, capsys):
    assert main(["data", "verify", "--data-dir", str(real_data)]) == 0
    assert "fashion-mnist: 4 files OK" in capsys.readouterr().out


def test_idx_roundtrip_raw_and_gz(tmp_path):
    a = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        data.write_idx(tmp_path / name, a)
        assert torch.equal(data.parse_idx(data.read_bytes(tmp_path / name), name), a)


def copy_dataset(real_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "d"
    shutil.copytree(real_data / "mnist", root / "mnist")
    for p in (root / "mnist").iterdir():
        p.chmod(0o644)
    return root


def one_line_error(args, capsys, *needles):
    code, err = run_cli(args, capsys)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


def test_missing_folder_is_one_line(capsys, tmp_path):
    one_line_error(["data", "verify", "--data-dir", str(tmp_path / "nope")], capsys, "does not exist", "--data-dir")


def test_truncated_gzip(real_data, tmp_path, capsys):
    root = copy_dataset(real_data, tmp_path)
    f = root / "mnist" / "train-labels-idx1-ubyte.gz"
    f.write_bytes(f.read_bytes()[:5000])
    one_line_error(
        ["data", "verify", "--dataset", "mnist", "--data-dir", str(root)],
        capsys,
        "train-labels-idx1-ubyte.gz",
        "truncated",
    )


def test_wrong_magic(tiny_data, capsys):
    f = tiny_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(f.read_bytes()))
    raw[2] = 0x0D  # float dtype: not an unsigned-byte IDX file
    f.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(GenlabError, match="wrong magic"):
        data.parse_idx(bytes(raw), str(f))
    one_line_error(["data", "verify", "--dataset", "mnist", "--data-dir", str(tiny_data)], capsys, "SHA-256")


def test_wrong_magic_and_dims_via_cli(tiny_data, capsys, monkeypatch):
    """A file with a correct hash but bad content (e.g. a self-made dataset) gets a one-line parse error."""
    f = tiny_data / "mnist" / "t10k-images-idx3-ubyte.gz"
    bad = torch.zeros(64, 28, 27, dtype=torch.uint8)
    data.write_idx(f, bad)
    ds = data.DATASETS["mnist"]
    import hashlib

    sha = dict(ds.sha256, **{"t10k-images-idx3-ubyte": hashlib.sha256(data.read_bytes(f)).hexdigest()})
    monkeypatch.setitem(data.DATASETS, "mnist", data.Dataset("mnist", ds.classes, sha, ()))
    data._load_split.cache_clear()
    with pytest.raises(GenlabError, match=r"wrong dims \[64, 28, 27\]"):
        data.source("mnist", tiny_data).load("test")
    raw = bytearray(data.read_bytes(f))
    raw[0] = 7
    f.write_bytes(gzip.compress(bytes(raw)))
    sha["t10k-images-idx3-ubyte"] = hashlib.sha256(bytes(raw)).hexdigest()
    one_line_error(["data", "verify", "--dataset", "mnist", "--data-dir", str(tiny_data)], capsys, "wrong magic")


def test_hash_mismatch_names_file_and_both_hashes(real_data, tmp_path, capsys):
    root = copy_dataset(real_data, tmp_path)
    f = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(f.read_bytes()))
    raw[100] ^= 1
    f.write_bytes(gzip.compress(bytes(raw)))
    err = one_line_error(
        ["data", "verify", "--dataset", "mnist", "--data-dir", str(root)],
        capsys,
        "t10k-labels-idx1-ubyte",
        data.DATASETS["mnist"].sha256["t10k-labels-idx1-ubyte"],
    )
    assert "got " in err


def test_header_claiming_a_billion_images_does_not_allocate():
    import struct

    raw = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 10**9, 28, 28) + bytes(100)
    with pytest.raises(GenlabError, match="truncated or corrupt"):
        data.parse_idx(raw, "huge")


def test_no_network_says_where_to_put_files_and_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.delenv("GENLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))

    def offline(*a, **k):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    err = one_line_error(["data", "fetch", "--dataset", "mnist"], capsys, "cannot download", "GENLAB_DATA")
    assert str(cache / "genlab" / "data" / "mnist") in err
    leftovers = [p for p in (cache / "genlab" / "data" / "mnist").iterdir()]
    assert leftovers == []


def test_bad_download_is_rejected_and_removed(tmp_path, monkeypatch, capsys):
    """A mirror serving the wrong bytes: hash checked before the file is moved into place."""
    import io

    monkeypatch.delenv("GENLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    class Resp(io.BytesIO):
        headers = {"Content-Length": "20"}

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(data.urllib.request, "urlopen", lambda *a, **k: Resp(gzip.compress(b"\0\0\x08\x01" + bytes(8))))
    one_line_error(["data", "fetch", "--dataset", "fashion-mnist"], capsys, "SHA-256 mismatch")
    assert list((tmp_path / "genlab" / "data" / "fashion-mnist").iterdir()) == []


def test_unknown_dataset(capsys):
    one_line_error(["data", "verify", "--dataset", "mnsit"], capsys, "did you mean 'mnist'")
