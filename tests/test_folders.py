"""Your own images (`--dataset folder:PATH`): layout, conversion, split, cache, bad folders, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from genlab import data
from genlab.cli import main
from genlab.data import folders
from genlab.data.demo_shapes import write_shapes


def png(path: Path, size=(40, 30), value=200, mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = {"RGB": (value, value, value), "L": value, "RGBA": (value, value, value, 255)}[mode]
    Image.new(mode, size, colour).save(path)
    return path


def labeled(root: Path, per_class: int = 30, classes=("a", "b")) -> Path:
    for c in classes:
        for i in range(per_class):
            png(root / c / f"{i:03d}.png", value=40 + 100 * classes.index(c) + i)
    return root


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


@pytest.fixture(autouse=True)
def _fresh_caches():
    folders.load_all.cache_clear()
    folders._split.cache_clear()
    yield
    folders.load_all.cache_clear()
    folders._split.cache_clear()


def test_verify_lists_classes_counts_and_hash(tmp_path, capsys):
    root = labeled(tmp_path / "imgs")
    code, out, err = cli(capsys, "data", "verify", f"folder:{root}")
    assert code == 0, err
    assert "classes: ['a', 'b']" in out and "images: 60" in out
    n_train, n_test = (int(line.split(": ")[1]) for line in out.splitlines() if line.split(":")[0] in ("train", "test"))
    assert n_train + n_test == 60 and 3 <= n_test <= 20  # about 1/6 held out


def image_names(root):
    return [p.relative_to(root) for p in root.rglob("*.png")]


BAD = {
    "empty": lambda r: r.mkdir(parents=True),
    "junk file only": lambda r: (r.mkdir(parents=True), (r / "notes.txt").write_text("hi")),
    "junk beside images": lambda r: (labeled(r), (r / "a" / "readme.md").write_text("hi")),
    "truncated png": lambda r: (labeled(r), (r / "b" / "007.png").write_bytes((r / "b" / "007.png").read_bytes()[:60])),
    "not an image": lambda r: (labeled(r), (r / "a" / "fake.png").write_bytes(b"<html>not a png</html>")),
    "one class only": lambda r: labeled(r, 60, ("a",)),
    "empty class": lambda r: (labeled(r), (r / "c").mkdir()),
    "image beside classes": lambda r: (labeled(r), png(r / "stray.png")),
    "nested folder": lambda r: (labeled(r), png(r / "a" / "deeper" / "x.png")),
    "too few": lambda r: labeled(r, 5),
    "missing": lambda r: None,
}
NAMED = {
    "junk file only": "notes.txt",
    "junk beside images": "readme.md",
    "truncated png": "007.png",
    "not an image": "fake.png",
    "one class only": "a/",
    "empty class": "/c",
    "image beside classes": "stray.png",
    "nested folder": "deeper",
    "too few": "10 images",
    "missing": "no such folder",
    "empty": "empty",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_folder_is_one_line_exit_2_naming_the_file(case, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "imgs"
    BAD[case](root)
    for argv in (
        ["data", "verify", f"folder:{root}"],
        [
            "train",
            "--model",
            "vae",
            "--dataset",
            f"folder:{root}",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--train.epochs=1",
        ],
    ):
        code, _, err = cli(capsys, *argv)
        assert code == 2, (case, err)
        assert len(err.splitlines()) == 1 and err.startswith("genlab: error:"), err
        assert NAMED[case] in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing half-made
    cache = tmp_path / "cache" / "folders"
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-written in the cache


def test_conversion_is_28x28_grey_centre_crop_alpha_on_black(tmp_path):
    img = Image.new("RGBA", (90, 30), (0, 0, 0, 0))  # transparent, wide
    for x in range(30, 60):  # an opaque white square in the middle third: the centre crop keeps exactly it
        for y in range(30):
            img.putpixel((x, y), (255, 255, 255, 255))
    path = tmp_path / "x.png"
    img.save(path)
    out = folders.convert(path.read_bytes(), path)
    assert out.shape == (28, 28) and out.dtype == torch.uint8
    assert out.float().mean() > 250  # all of the crop is the white square; transparency would be black
    img = Image.new("RGBA", (30, 30), (255, 255, 255, 0))  # fully transparent white -> black
    img.save(path)
    assert int(folders.convert(path.read_bytes(), path).max()) == 0
    Image.new("RGB", (17, 50), (255, 0, 0)).save(tmp_path / "r.jpg")  # red -> luma 76 (ITU-R 601)
    assert abs(float(folders.convert((tmp_path / "r.jpg").read_bytes(), tmp_path / "r.jpg").float().mean()) - 76) < 3


def test_split_is_deterministic_by_file_name_and_stable_when_files_are_added(tmp_path):
    root = labeled(tmp_path / "imgs", 60)
    names = folders.scan(root).files
    test = {n for n in names if folders.in_test_split(n, 1 / 6)}
    assert 0.08 < len(test) / len(names) < 0.27
    for i in range(60, 80):
        png(root / "a" / f"{i:03d}.png")
    names2 = folders.scan(root).files
    assert {n for n in names2 if folders.in_test_split(n, 1 / 6)} & set(names) == test  # old files keep their side
    train, _ = data.source(f"folder:{root}").load("train")
    held, _ = data.source(f"folder:{root}").load("test")
    assert train.shape[0] + held.shape[0] == 140


def test_cache_is_keyed_by_content_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    root = labeled(tmp_path / "imgs")
    images, labels, _, key = folders.load_all(f"folder:{root}")
    entries = list((tmp_path / "cache" / "folders").iterdir())
    assert [p.name for p in entries] == [f"{key}.safetensors"]
    folders.load_all.cache_clear()
    monkeypatch.setattr(folders, "convert", lambda *a: pytest.fail("converted again despite the cache"))
    again, _, _, key2 = folders.load_all(f"folder:{root}")
    assert key2 == key and torch.equal(again, images)
    png(root / "a" / "000.png", value=3)  # one changed file: a new key
    folders.load_all.cache_clear()
    monkeypatch.undo()
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    assert folders.load_all(f"folder:{root}")[3] != key


def test_relative_path_is_stored_absolute_and_run_names_are_not_paths(tmp_path, monkeypatch):
    from genlab.train.config import make_config

    labeled(tmp_path / "My Images!")
    monkeypatch.chdir(tmp_path)
    cfg = make_config("vae", "folder:My Images!")
    assert cfg.data.dataset == f"folder:{tmp_path / 'My Images!'}"
    assert cfg.run_name == "folder-my-images-vae-z16-s0"


@pytest.mark.slow
def test_study_on_a_folder_of_png_of_another_size_end_to_end(tmp_path, capsys):
    """>= 1,000 64x64 RGB PNGs in class folders through `genlab study --dataset folder:` with judge metrics."""
    root = write_shapes(tmp_path / "shapes", per_class=200, size=64)
    runs = tmp_path / "runs"
    code, _, err = cli(
        capsys, "study", "smoke", "--dataset", f"folder:{root}", "--runs-dir", str(runs), "--workers", "1", "--no-pages"
    )
    assert code == 0, err
    study = runs / "smoke-quick-folder-shapes"  # its own folder: the same study on MNIST keeps its report
    assert {json.loads(p.read_text())["status"] for p in study.glob("*/meta.json")} == {"done"}
    evals = [json.loads(p.read_text()) for p in study.glob("folder-shapes-*/eval.json")]
    assert len(evals) == 4
    for ev in evals:
        assert ev["judge"]["test_accuracy"] > 0.9  # shapes are easy to tell apart
        assert ev["class_names"] == ["circle", "cross", "square", "star", "triangle", "junk"]
        assert ev["metrics"]["fid"] > 0 and "recognisable_share" in ev["metrics"]
    code, _, err = cli(capsys, "report", str(study))
    assert code == 0, err
    html = (study / "report.html").read_text()
    assert "folder-shapes-real.png" in html or "real training samples" in html


def test_a_colour_folder_at_its_own_size_trains_in_colour_in_its_own_study_folder(tmp_path, capsys):
    """`--data.size=32 --data.channels=3`: the models are built for 3 x 32 x 32, the grids are colour, the study has
    its own folder beside the default conversion's, and a judge is trained for that shape."""
    root = write_shapes(tmp_path / "shapes", per_class=20, size=64)
    runs = tmp_path / "runs"
    argv = ["study", "smoke", "--dataset", f"folder:{root}", "--runs-dir", str(runs), "--workers", "1"]
    code, _, err = cli(capsys, *argv, "--data.size=32", "--data.channels=3", "--no-pages")
    assert code == 0, err
    study = runs / "smoke-quick-folder-shapes-3x32"
    assert {json.loads(p.read_text())["status"] for p in study.glob("*/meta.json")} == {"done"}
    for run in study.glob("folder-shapes-*"):
        cfg = json.loads((run / "config.json").read_text())
        assert (cfg["data"]["size"], cfg["data"]["channels"]) == (32, 3)
        ev = json.loads((run / "eval.json").read_text())
        assert "judge_skipped" not in ev and ev["judge"]["shape"] == [3, 32, 32] and ev["metrics"]["fid"] > 0
        with Image.open(run / "figures" / "samples.png") as im:
            assert im.mode == "RGB"
    with Image.open(study / "figures" / "folder-shapes-real.png") as im:  # the real samples, in colour
        r, g, b = (im.getchannel(c).tobytes() for c in "RGB")
        assert r != g and g != b


@pytest.mark.slow
def test_unlabeled_folder_trains_and_says_why_judge_metrics_are_missing(tmp_path, capsys):
    root = tmp_path / "flat"
    for i in range(80):
        png(root / f"{i:03d}.jpg", size=(33, 47), value=i * 3)
    runs = tmp_path / "runs"
    code, _, err = cli(
        capsys,
        "study",
        "smoke",
        "--dataset",
        f"folder:{root}",
        "--runs-dir",
        str(runs),
        "--workers",
        "1",
        "--models",
        "vae",
    )
    assert code == 0, err
    study = runs / "smoke-quick-folder-flat"
    assert {json.loads(p.read_text())["status"] for p in study.glob("*/meta.json")} == {"done"}
    ev = json.loads(next(study.glob("folder-flat-vae-*/eval.json")).read_text())
    assert "judge" not in ev and "unlabeled" in ev["judge_skipped"]
    assert "fid" not in ev["metrics"] and ev["metrics"]["recon_mse"] > 0
    html = (study / "report.html").read_text()
    assert "No judge metrics" in html and "unlabeled" in html
