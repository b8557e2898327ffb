"""Hostile image folders, caches, run-folder files and options (issue 21's probe, each finding reproduced): one
line and exit 2 (or a documented warning), no traceback, no hang, bounded memory, no external program run.

Cases that could hang run in a subprocess under a timeout; the memory cases under an address-space limit."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from genlab.cli import main
from genlab.core import paths
from genlab.core.errors import GenlabError
from genlab.core.safeio import printable
from genlab.data import folders
from genlab.eval import features
from genlab.store import runs

ROOT = Path(__file__).resolve().parents[1]
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nnewpath 0 0 moveto 28 28 lineto stroke\nshowpage\n"


def png(path: Path, value: int = 128, size=(40, 30), mode="L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode == "L" else (value,) * len(mode)
    Image.new(mode, size, colour).save(path, format="PNG")
    return path


def labeled(root: Path, per_class: int = 30) -> Path:
    for c, base in (("a", 40), ("b", 140)):
        for i in range(per_class):
            png(root / c / f"{i:03d}.png", base + i)
    return root


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


def one_error_line(code: int, err: str) -> str:
    lines = [x for x in err.splitlines() if x and not x.startswith("genlab: warning:")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("genlab: error:"), (code, err)
    assert "Traceback" not in err
    return lines[0]


def genlab_subprocess(
    args: list[str], tmp_path: Path, timeout: float = 90, mem_bytes: int | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`python -m genlab ARGS` in a child under a timeout (and an address-space limit): a hang fails the test
    instead of the suite."""

    def limit():
        if mem_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))

    full_env = {**os.environ, "GENLAB_QUIET": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "genlab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env=full_env,
        preexec_fn=limit,
    )


@pytest.fixture(autouse=True)
def _fresh_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    folders.load_all.cache_clear()
    folders._split.cache_clear()
    features.get_judge.cache_clear()
    yield
    folders.load_all.cache_clear()
    folders._split.cache_clear()
    features.get_judge.cache_clear()


# ---------------------------------------------------------------- 1. decode only PNG and JPEG, by content


def fake_gs(tmp_path: Path) -> tuple[dict, Path]:
    """A `gs` first on PATH that leaves a marker if anything runs it."""
    bindir, marker = tmp_path / "bin", tmp_path / "gs-ran"
    bindir.mkdir()
    gs = bindir / "gs"
    gs.write_text(f"#!/bin/sh\necho ran > {marker}\nexit 1\n")
    gs.chmod(0o755)
    return {"PATH": f"{bindir}:{os.environ.get('PATH', '')}"}, marker


def test_an_eps_named_png_is_refused_and_ghostscript_never_runs(tmp_path, capsys, monkeypatch):
    root = labeled(tmp_path / "imgs")
    (root / "a" / "e.png").write_bytes(EPS)
    env, marker = fake_gs(tmp_path)
    monkeypatch.setenv("PATH", env["PATH"])
    line = one_error_line(*cli(capsys, "data", "verify", f"folder:{root}")[::2])
    assert "e.png" in line and "PNG or JPEG" in line
    assert not marker.exists()
    # and the decoder itself refuses it even past the content check's back (Image.open with formats)
    with pytest.raises(folders.GenlabError):
        folders.convert(b"\x89PNG\r\n\x1a\n" + EPS, root / "a" / "x.png")
    assert not marker.exists()


@pytest.mark.parametrize("fmt", ["TIFF", "BMP", "GIF", "WEBP"])
def test_other_formats_named_png_are_refused_by_content(fmt, tmp_path, capsys):
    root = labeled(tmp_path / "imgs")
    Image.new("L", (28, 28), 90).save(root / "b" / "other.png", format=fmt)
    line = one_error_line(*cli(capsys, "data", "verify", f"folder:{root}")[::2])
    assert "other.png" in line and "PNG or JPEG" in line


def test_a_jpeg_named_png_is_read_by_its_content(tmp_path, capsys):
    root = labeled(tmp_path / "imgs")
    Image.new("L", (28, 28), 90).save(root / "b" / "photo.png", format="JPEG")
    code, out, err = cli(capsys, "data", "verify", f"folder:{root}")
    assert code == 0 and "images: 61" in out, err


# ---------------------------------------------------------------- 2. regular files only, capped, one at a time


@pytest.fixture
def no_hang():
    """Fail (instead of hanging the suite) when a call blocks for more than 20 s: SIGALRM interrupts a
    blocking open() or read(), and the handler's exception propagates (PEP 475)."""
    import signal

    def expired(signum, frame):
        raise TimeoutError("hung for 20 s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_a_fifo_image_is_refused_without_hanging(tmp_path, capsys, no_hang):
    root = labeled(tmp_path / "imgs")
    os.mkfifo(root / "a" / "pipe.png")
    for args in (
        ["data", "verify", f"folder:{root}"],
        [
            "train",
            "--model",
            "vae",
            "--dataset",
            f"folder:{root}",
            "--no-eval",
            "--train.epochs=1",
            "--runs-dir",
            str(tmp_path),
        ],
    ):
        line = one_error_line(*cli(capsys, *args)[::2])
        assert "pipe.png" in line and "FIFO" in line


@pytest.mark.parametrize(
    "kind", ["dev-zero", "sparse-20GB", pytest.param("many-large", marks=pytest.mark.slow)]
)  # writes 1.8 GB
def test_devices_and_huge_files_are_refused_in_bounded_memory(kind, tmp_path):
    root = labeled(tmp_path / "imgs")
    if kind == "dev-zero":
        os.symlink("/dev/zero", root / "a" / "zero.png")
    elif kind == "sparse-20GB":
        with open(root / "b" / "sparse.png", "wb") as f:
            f.truncate(20 * 2**30)
    else:  # 60 files of 30 MB: valid headers, garbage after; read one at a time, never all at once
        head = (root / "a" / "000.png").read_bytes()
        for i in range(60):
            (root / "a" / f"big{i:02d}.png").write_bytes(head + b"\0" * 30_000_000)
    r = genlab_subprocess(["data", "verify", f"folder:{root}"], tmp_path, timeout=180, mem_bytes=3 * 2**30)
    if kind == "many-large":  # each decodes (a PNG with trailing bytes): the folder is read, not refused
        assert r.returncode == 0, r.stderr
        assert "images: 120" in r.stdout
    else:
        line = one_error_line(r.returncode, r.stderr)
        assert ("zero.png" in line and "character device" in line) or ("sparse.png" in line and "MiB" in line)


@pytest.mark.parametrize("name", ["meta.json", "config.json", "eval.json", "metrics.jsonl"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_run_folder_files_that_are_fifos_or_devices_never_hang(name, kind, tmp_path, capsys, no_hang):
    """`genlab runs`, `report` and `eval` on a run folder whose files are FIFOs or /dev/zero."""
    study = tiny_study(tmp_path, ["mnist-gan-z2-s0"])
    run = study / "mnist-gan-z2-s0"
    run.mkdir(parents=True)
    target = run / name
    if kind == "fifo":
        os.mkfifo(target)
    else:
        os.symlink("/dev/zero", target)
    for args in (["runs", str(study)], ["report", str(study)], ["eval", str(run)]):
        code, out, err = cli(capsys, *args)
        assert code in (0, 2), (args, code, err)
        if code == 2:
            one_error_line(code, err)


# ---------------------------------------------------------------- 3. caches verified, never trusted


def tamper_folder_cache(cache: Path, change) -> None:
    from safetensors.torch import load_file, save_file

    entry = next((cache / "folders").glob("*.safetensors"))
    tensors = load_file(str(entry))
    from safetensors import safe_open

    with safe_open(str(entry), "pt") as f:
        meta = f.metadata()
    change(tensors)
    save_file(tensors, str(entry), metadata=meta)  # the old checksum: a tamper that forgot it, or bit rot


@pytest.mark.parametrize("change", ["zero-labels", "invert-pixels", "short-labels", "float-images"])
def test_a_tampered_folder_cache_is_rebuilt_with_a_warning(change, tmp_path, capsys):
    root = labeled(tmp_path / "imgs")
    code, out, _ = cli(capsys, "data", "verify", f"folder:{root}")
    assert code == 0 and "'a': 30, 'b': 30" in out
    good = folders.load_all(f"folder:{root}")[0].clone()
    folders.load_all.cache_clear()
    folders._split.cache_clear()
    fn = {
        "zero-labels": lambda t: t["labels"].zero_(),
        "invert-pixels": lambda t: t.__setitem__("images", 255 - t["images"]),
        "short-labels": lambda t: t.__setitem__("labels", t["labels"][:-3]),
        "float-images": lambda t: t.__setitem__("images", t["images"].float()),
    }[change]
    tamper_folder_cache(tmp_path / "cache", fn)
    with pytest.warns(UserWarning, match="cached conversion .* is damaged"):
        code, out, err = cli(capsys, "data", "verify", f"folder:{root}")
    assert code == 0, err
    assert "'a': 30, 'b': 30" in out
    folders.load_all.cache_clear()
    assert torch.equal(folders.load_all(f"folder:{root}")[0], good)


def cached_judge(tmp_path: Path) -> tuple[str, Path, Path]:
    """A judge written to the cache as get_judge writes one (untrained weights: only the checks matter)."""
    from safetensors.torch import save

    key = "folder-test-v3"
    folder = tmp_path / "cache" / "judges"
    folder.mkdir(parents=True, exist_ok=True)
    blob = save(features.Judge(2).state_dict())
    (folder / f"{key}.safetensors").write_bytes(blob)
    import hashlib

    info = {
        "test_accuracy": 0.95,
        "version": features.JUDGE_VERSION,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
    }
    (folder / f"{key}.json").write_text(json.dumps(info))
    return key, folder / f"{key}.safetensors", folder / f"{key}.json"


def test_an_intact_cached_judge_is_used(tmp_path):
    key, _, _ = cached_judge(tmp_path)
    got = features.load_cached_judge(key, 2)
    assert got is not None and got[1]["test_accuracy"] == 0.95


@pytest.mark.parametrize(
    "damage",
    [
        "zeroed-weights",
        "json-nan",
        "json-list",
        "json-string",
        "json-accuracy-7",
        "no-checksum",
        "weights-missing",
        "weights-fifo",
    ],
)
def test_a_damaged_cached_judge_is_retrained_with_a_warning(damage, tmp_path):
    from safetensors.torch import save

    key, weights, meta = cached_judge(tmp_path)
    info = json.loads(meta.read_text())
    if damage == "zeroed-weights":
        weights.write_bytes(save({k: torch.zeros_like(v) for k, v in features.Judge(2).state_dict().items()}))
    elif damage == "json-nan":
        meta.write_text(json.dumps({**info, "test_accuracy": float("nan")}))
    elif damage == "json-list":
        meta.write_text("[1, 2]")
    elif damage == "json-string":
        meta.write_text('"judge"')
    elif damage == "json-accuracy-7":
        meta.write_text(json.dumps({**info, "test_accuracy": 7}))
    elif damage == "no-checksum":
        meta.write_text(json.dumps({k: v for k, v in info.items() if k != "weights_sha256"}))
    elif damage == "weights-missing":
        weights.unlink()
    else:
        weights.unlink()
        os.mkfifo(weights)
    with pytest.warns(UserWarning, match="cached judge .* (damaged|training it again)"):
        assert features.load_cached_judge(key, 2) is None


@pytest.mark.parametrize("kind", ["read-only", "a-file"])
def test_an_unwritable_cache_is_skipped_with_a_warning(kind, tmp_path, capsys, monkeypatch):
    root = labeled(tmp_path / "imgs")
    cache = tmp_path / "bad-cache"
    if kind == "a-file":
        cache.write_text("not a folder")
    else:
        cache.mkdir()
        cache.chmod(0o500)
        if os.access(cache, os.W_OK):  # root ignores permission bits: refuse the write as a read-only mount would
            import errno
            import tempfile

            def read_only(*a, **k):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))

            monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setenv("GENLAB_CACHE", str(cache))
    with pytest.warns(UserWarning, match="cannot be written"):
        code, out, err = cli(capsys, "data", "verify", f"folder:{root}")
    assert code == 0 and "images: 60" in out, err


def test_usable_cache_warns_once_per_call_and_never_raises(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.warns(UserWarning, match="cannot be written"):
        assert paths.usable_cache(f / "judges", "judges") is None
    assert paths.usable_cache(tmp_path / "ok", "judges") == tmp_path / "ok"


# ---------------------------------------------------------------- 4. a run knows its data


def test_resume_or_eval_on_changed_images_is_one_line_naming_both_hashes(tmp_path, capsys):
    root = labeled(tmp_path / "imgs")
    runs_dir = tmp_path / "runs"
    args = [
        "train",
        "--model",
        "vae",
        "--dataset",
        f"folder:{root}",
        "--runs-dir",
        str(runs_dir),
        "--no-eval",
        "--train.epochs=2",
        "--train.batch_size=16",
        "--model.z_dim=2",
        "--eval.flow_steps=100",
        "--name",
        "r",
    ]
    run = runs_dir / "r"
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    before = json.loads((run / "meta.json").read_text())["data_sha256"]
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    png(root / "b" / "029.png", 3)  # one image changed
    folders.load_all.cache_clear()
    folders._split.cache_clear()
    for argv in (args, ["eval", str(run)]):
        line = one_error_line(*cli(capsys, *argv)[::2])
        assert before["folder"][:16] in line and "changed" in line, line
    assert json.loads((run / "meta.json").read_text())["data_sha256"] == before  # not overwritten


# ---------------------------------------------------------------- 5. conversion of every mode


def convert_image(im: Image.Image, tmp_path: Path, **save) -> torch.Tensor:
    p = tmp_path / "x.png"
    im.save(p, format="PNG", **save)
    return folders.convert(p.read_bytes(), p)


def test_16_bit_greys_are_scaled_not_clipped(tmp_path):
    import numpy as np

    ramp = np.tile(np.linspace(0, 65535, 28).round().astype(np.uint16), (28, 1))
    out = convert_image(Image.fromarray(ramp), tmp_path)
    row = out[14].tolist()
    assert row[0] == 0 and row[-1] == 255 and 120 <= row[14] <= 140  # a ramp, not 0, 255, 255, ...
    assert sorted(row) == row


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "I;16"])
def test_a_transparency_key_is_composited_onto_black_in_every_mode(mode, tmp_path):
    """A tRNS colour key (L, RGB, P, 16-bit grey): the keyed colour becomes black, the rest stays."""
    import numpy as np

    if mode == "I;16":
        arr = np.full((28, 28), 50000, np.uint16)
        arr[:, 14:] = 1000
        im, key = Image.fromarray(arr), 1000
    else:
        im = Image.new("L", (28, 28), 200)
        im.paste(100, (14, 0, 28, 28))
        im, key = (
            (im, 100)
            if mode == "L"
            else (im.convert("RGB"), (100, 100, 100))
            if mode == "RGB"
            else (im.convert("P"), None)
        )
        if mode == "P":
            key = im.getpixel((20, 5))
    out = convert_image(im, tmp_path, transparency=key)
    assert out[14, 2] > 150 and out[14, 25] == 0, (out[14, 2], out[14, 25])


@pytest.mark.parametrize("mode", ["LA", "RGBA", "PA"])
def test_alpha_is_composited_onto_black(mode, tmp_path):
    im = Image.new("RGBA", (28, 28), (200, 200, 200, 255))
    im.paste((200, 200, 200, 0), (14, 0, 28, 28))
    im = im.convert(mode) if mode != "PA" else im
    out = convert_image(im, tmp_path)
    assert out[14, 2] > 150 and out[14, 25] == 0


def test_cmyk_jpeg_and_exif_orientation_are_converted(tmp_path):
    p = tmp_path / "c.jpg"
    Image.new("CMYK", (40, 20), (0, 0, 0, 0)).save(p, format="JPEG")
    out = folders.convert(p.read_bytes(), p)
    assert out.shape == (28, 28) and out.float().mean() > 240  # CMYK 0,0,0,0 is white


# ---------------------------------------------------------------- 6. control characters never reach the terminal


def test_escape_sequences_in_file_names_are_printed_escaped(tmp_path, capsys):
    root = labeled(tmp_path / "imgs")
    (root / "a" / "\x1b]0;pwned\x07\x1b[31mred.png").write_bytes(b"junk")
    line = one_error_line(*cli(capsys, "data", "verify", f"folder:{root}")[::2])
    assert "\x1b" not in line and "\x07" not in line and "\\x1b" in line


def test_escape_sequences_in_a_shared_run_status_are_printed_escaped(tmp_path, capsys):
    study = tiny_study(tmp_path, ["mnist-gan-z2-s0"])
    run = study / "mnist-gan-z2-s0"
    run.mkdir(parents=True)
    (run / "meta.json").write_text(json.dumps({"status": "done\x1b[2J\x1b]0;x\x07"}))
    code, out, err = cli(capsys, "runs", str(study))
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\\x1b" in out


def test_printable_escapes_only_control_characters():
    assert printable("a/b é ü 数字.png") == "a/b é ü 数字.png"
    assert printable("x\x1b[0m\ty\nz\x9b") == "x\\x1b[0m\\ty\\nz\\x9b"


# ---------------------------------------------------------------- 8. the probe's tracebacks and smaller items


def tiny_study(tmp_path: Path, runs_list: list[str], **extra) -> Path:
    study = tmp_path / "study"
    study.mkdir(exist_ok=True)
    (study / "study.json").write_text(
        json.dumps(
            {
                "study": "smoke",
                "profile": "quick",
                "datasets": ["mnist"],
                "arms": {"gan": [2]},
                "capacity_names": ["tiny"],
                "runs": runs_list,
                **extra,
            }
        )
    )
    return study


def test_runs_on_a_study_that_lists_no_runs(tmp_path, capsys):
    code, out, err = cli(capsys, "runs", str(tiny_study(tmp_path, [])))
    assert code == 0 and "lists no runs" in out, err


def test_mathtext_in_study_json_is_printed_not_parsed(tmp_path, capsys):
    study = tiny_study(tmp_path, [], capacity_names=["$\\notacommand{x}$"], description="$\\frac{$")
    code, out, err = cli(capsys, "report", str(study))
    assert code in (0, 2) and "Traceback" not in err, err
    if code == 2:
        one_error_line(code, err)


def test_hostile_metrics_lines_never_reach_eval_json():
    rows = [
        {"step": 10, "epoch": 1, "event": "epoch", "fid_epoch": float("nan")},
        {"step": 20, "epoch": 2, "event": "epoch", "fid_epoch": "<script>"},
        {"step": 30, "epoch": 3, "event": "epoch", "fid_epoch": 12.5, "loss_g": [1]},
        {"step": "40", "loss_g": 1.0},
        {"step": True},
        [1, 2],
        {"step": 50, "loss_g": float("nan")},
    ]
    got = [runs.metrics_row(r) for r in rows]
    assert got[0] == {"step": 10, "epoch": 1, "event": "epoch"}
    assert got[1] == {"step": 20, "epoch": 2, "event": "epoch"}
    assert got[2] == {"step": 30, "epoch": 3, "event": "epoch", "fid_epoch": 12.5}
    assert got[3] is None and got[4] is None and got[5] is None
    assert got[6]["step"] == 50  # a divergence line keeps its NaN loss


def test_tb_path_that_is_a_file_is_one_line_before_the_run_starts(tmp_path, capsys, tiny_data):
    pytest.importorskip("torch.utils.tensorboard")
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "tb").write_text("a file")
    line = one_error_line(
        *cli(
            capsys,
            "train",
            "--model",
            "gan",
            "--data-dir",
            str(tiny_data),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--name",
            "r",
            "--tensorboard",
            "--no-eval",
            "--train.epochs=1",
            "--model.z_dim=2",
        )[::2]
    )
    assert "tb" in line and "not a folder" in line
    meta = run / "meta.json"
    assert not meta.exists() or json.loads(meta.read_text()).get("status") != "running"


def test_a_batch_too_large_is_refused_before_any_judge_is_trained(tmp_path, capsys):
    root = labeled(tmp_path / "imgs")
    line = one_error_line(
        *cli(
            capsys,
            "train",
            "--model",
            "gan",
            "--dataset",
            f"folder:{root}",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--train.batch_size=500",
        )[::2]
    )
    assert "batch_size=500" in line
    assert not list((tmp_path / "cache").glob("judges/*.safetensors"))


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--model", "gan", "--device", ""], "--device"),
        (["train", "--model", "gan", "--runs-dir", ""], "--runs-dir"),
        (["study", "smoke", "--runs-dir", ""], "--runs-dir"),
        (["train", "--model", "vae", "--model.name=gan"], "contradicts"),
        (["train", "--model", "gan", "--log.tensorboard=maybe"], "log.tensorboard"),
    ],
)
def test_smaller_mistakes_are_one_line(argv, needle, capsys):
    line = one_error_line(*cli(capsys, *argv)[::2])
    assert needle in line


def test_log_tensorboard_false_is_accepted():
    from genlab.cli import split_overrides

    assert split_overrides(["train", "--log.tensorboard=false", "--train.epochs=2"]) == (["train"], ["train.epochs=2"])


def test_a_mistake_met_by_worker_processes_is_reported_once(tmp_path):
    """Two workers that both stop on the same error: the parent prints it once (and nothing was written
    before the check that could find it first)."""
    from genlab.study.sweep import run_workers

    script = (
        "import sys; sys.stderr.write('genlab: error: the same mistake\\n'); "
        "sys.stderr.write('genlab: warning: kept\\n'); sys.exit(2)"
    )
    with pytest.raises(folders.GenlabError) as e:
        run_workers([sys.executable, "-c", script], 2, 2, lambda *a: None)
    assert str(e.value).startswith("the same mistake") and "other error" not in str(e.value)


def test_regular_file_check_is_on_the_open_descriptor(tmp_path):
    """A FIFO is opened without blocking and refused on fstat, so a swap after a stat cannot hang a read."""
    from genlab.core import safeio

    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(safeio.GenlabError, match="FIFO"):
        safeio.read_capped(fifo, 100)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


# ---------------------------------------------------------------- 9. property test: random hostile folders and caches

FUZZ = int(os.environ.get("GENLAB_FUZZ_EXAMPLES", "300"))
GOOD_KINDS = ["png-L", "png-RGBA", "png-I16", "png-P-trns", "png-L-trns", "jpeg", "jpeg-cmyk"]
BAD_KINDS = [
    "tiff-named-png",
    "eps-named-png",
    "random-bytes",
    "truncated-png",
    "empty",
    "fifo",
    "dev-zero-link",
    "huge-dims-header",
    "escape-name-junk",
    "dir-named-png",
]


def huge_png_header() -> bytes:
    """A PNG whose IHDR claims 100,000 x 100,000 pixels (a decompression bomb's first 33 bytes)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def write_kind(folder: Path, i: int, kind: str, seed: int) -> str:
    """One file of `kind` in `folder`; returns its name."""
    import io

    import numpy as np

    rng = np.random.default_rng(seed)
    name = f"f{i}-{kind}.png" if kind != "escape-name-junk" else f"f{i}-\x1b[31m\x07.png"
    path = folder / name
    arr = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    if kind == "png-L":
        Image.fromarray(arr).save(path, format="PNG")
    elif kind == "png-RGBA":
        Image.fromarray(np.dstack([arr] * 4)).save(path, format="PNG")
    elif kind == "png-I16":
        Image.fromarray(arr.astype(np.uint16) * 257).save(path, format="PNG")
    elif kind == "png-P-trns":
        Image.fromarray(arr).convert("P").save(path, format="PNG", transparency=0)
    elif kind == "png-L-trns":
        Image.fromarray(arr).save(path, format="PNG", transparency=int(arr[0, 0]))
    elif kind == "jpeg":
        Image.fromarray(arr).save(path, format="JPEG")
    elif kind == "jpeg-cmyk":
        Image.fromarray(np.dstack([arr] * 4), "CMYK").save(path, format="JPEG")
    elif kind == "tiff-named-png":
        Image.fromarray(arr).save(path, format="TIFF")
    elif kind == "eps-named-png":
        path.write_bytes(EPS)
    elif kind in ("random-bytes", "escape-name-junk"):
        path.write_bytes(rng.bytes(int(rng.integers(1, 400))))
    elif kind == "truncated-png":
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        path.write_bytes(buf.getvalue()[: int(rng.integers(8, len(buf.getvalue()) - 1))])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero-link":
        os.symlink("/dev/zero", path)
    elif kind == "huge-dims-header":
        path.write_bytes(huge_png_header())
    elif kind == "dir-named-png":
        path.mkdir()
    return name


CACHE_DAMAGE = [None, "flip-byte", "truncate", "garbage", "zero-labels"]


def damage_cache(cache: Path, how: str, seed: int) -> None:
    import numpy as np

    entry = next((cache / "folders").glob("*.safetensors"))
    raw = bytearray(entry.read_bytes())
    rng = np.random.default_rng(seed)
    if how == "flip-byte":
        raw[int(rng.integers(0, len(raw)))] ^= 0xFF
    elif how == "truncate":
        raw = raw[: int(rng.integers(0, len(raw)))]
    elif how == "garbage":
        raw = bytearray(rng.bytes(200))
    entry.write_bytes(bytes(raw))
    if how == "zero-labels":
        tamper_folder_cache(cache, lambda t: t["labels"].zero_())


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=max(20, FUZZ // 6), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kinds=st.lists(st.sampled_from(GOOD_KINDS + BAD_KINDS), min_size=1, max_size=5),
    where=st.lists(st.sampled_from(["a", "b"]), min_size=5, max_size=5),
    cache=st.sampled_from(CACHE_DAMAGE),
    seed=st.integers(0, 2**16),
)
def test_random_hostile_folder_is_exit_0_or_one_line(tmp_path, capsys, monkeypatch, no_hang, kinds, where, cache, seed):
    """Good images beside random hostile files (kinds, modes, names), then a damaged cache entry: `data verify`
    answers exit 0 with every image counted, or one line naming a bad file; a damaged cache is rebuilt."""
    import signal
    import tempfile

    signal.alarm(30)  # per example (the fixture's alarm covers the first)
    base = Path(tempfile.mkdtemp(dir=tmp_path))
    monkeypatch.setenv("GENLAB_CACHE", str(base / "cache"))
    root = labeled(base / "imgs")
    names = [write_kind(root / where[i], i, k, seed + i) for i, k in enumerate(kinds)]
    folders.load_all.cache_clear()
    folders._split.cache_clear()
    code, out, err = cli(capsys, "data", "verify", f"folder:{root}")
    bad = [n for n, k in zip(names, kinds) if k in BAD_KINDS]
    if bad:
        line = one_error_line(code, err)
        assert any(printable(n) in line or n.split("-")[0] in line for n in bad), (line, bad)
        assert "\x1b" not in line and "\x07" not in line
        return
    assert code == 0, err
    n_a = 30 + sum(1 for i in range(len(kinds)) if where[i] == "a")
    assert f"'a': {n_a}, 'b': {30 + len(kinds) - (n_a - 30)}" in out, out
    if cache is None:
        return
    damage_cache(base / "cache", cache, seed)
    folders.load_all.cache_clear()
    folders._split.cache_clear()
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code2, out2, err2 = cli(capsys, "data", "verify", f"folder:{root}")
    assert code2 == 0 and out2 == out, err2
    assert any("damaged" in str(w.message) for w in seen), [str(w.message) for w in seen]


# ---------------------------------------------------------------- 5b. the same modes kept in colour (data.channels=3)


def convert_rgb(im: Image.Image, tmp_path: Path, fmt: str = "PNG", size: int = 32, **save) -> torch.Tensor:
    p = tmp_path / ("x.png" if fmt == "PNG" else "x.jpg")
    im.save(p, format=fmt, **save)
    return folders.convert(p.read_bytes(), p, size=size, channels=3)


def test_colour_keeps_red_green_blue_where_they_were(tmp_path):
    im = Image.new("RGB", (40, 40), (255, 0, 0))
    im.paste((0, 255, 0), (20, 0, 40, 40))  # right half green
    out = convert_rgb(im, tmp_path)
    assert out.shape == (3, 32, 32) and out.dtype == torch.uint8
    assert out[:, 16, 2].tolist() == [255, 0, 0] and out[:, 16, 29].tolist() == [0, 255, 0]


@pytest.mark.parametrize("mode", ["LA", "RGBA", "PA"])
def test_colour_alpha_is_composited_onto_black(mode, tmp_path):
    im = Image.new("RGBA", (28, 28), (200, 40, 10, 255))
    im.paste((200, 40, 10, 0), (14, 0, 28, 28))
    im = im.convert(mode) if mode != "PA" else im
    out = convert_rgb(im, tmp_path, size=28)
    assert out[:, 14, 2].max() > 30 and out[:, 14, 25].tolist() == [0, 0, 0]
    if mode == "RGBA":
        assert out[:, 14, 2].tolist() == [200, 40, 10]  # colour kept where opaque


def test_colour_palette_with_a_transparent_index_and_16_bit_greys(tmp_path):
    import numpy as np

    im = Image.new("RGB", (28, 28), (10, 120, 250)).convert("P")
    im.paste(im.getpixel((0, 0)), (0, 0, 28, 28))
    keyed = Image.new("P", (28, 28), 0)
    keyed.putpalette([10, 120, 250, 90, 90, 90] + [0] * 762)
    keyed.paste(1, (14, 0, 28, 28))
    out = convert_rgb(keyed, tmp_path, size=28, transparency=1)  # index 1 is transparent -> black
    assert out[:, 14, 2].tolist() == [10, 120, 250] and out[:, 14, 25].tolist() == [0, 0, 0]
    ramp = np.tile(np.linspace(0, 65535, 28).round().astype(np.uint16), (28, 1))
    out = convert_rgb(Image.fromarray(ramp), tmp_path, size=28)
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])  # a grey is the same in every channel
    assert out[0, 14, 0] == 0 and out[0, 14, -1] == 255


def test_colour_cmyk_jpeg_and_exif_orientation(tmp_path):
    out = convert_rgb(Image.new("CMYK", (40, 20), (0, 0, 0, 0)), tmp_path, fmt="JPEG")
    assert out.shape == (3, 32, 32) and out.float().mean() > 240  # CMYK 0,0,0,0 is white
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 40, 10))  # top half blue, bottom red
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees: shown with red on top
    out = convert_rgb(im, tmp_path, fmt="JPEG", size=20, exif=exif.tobytes(), quality=95)
    assert out[0, 2, 10] > 200 and out[2, 2, 10] < 60  # the top row of the shown image is red
    assert out[2, 17, 10] > 200  # and its bottom blue


def test_a_conversion_is_checked_and_keys_its_own_cache_entry(tmp_path, monkeypatch):
    root = labeled(tmp_path / "imgs")
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    grey = folders.load_all(f"folder:{root}")
    colour = folders.load_all(f"folder:{root}", 32, 3)
    assert grey[0].shape[1:] == (28, 28) and colour[0].shape[1:] == (3, 32, 32)
    assert grey[3] != colour[3] and len(list((tmp_path / "cache" / "folders").glob("*.safetensors"))) == 2
    folders.load_all.cache_clear()
    again = folders.load_all(f"folder:{root}", 32, 3)  # from the cache: the same tensors
    assert torch.equal(again[0], colour[0]) and again[3] == colour[3]
    for size, channels in ((30, 1), (4, 3), (32, 2)):
        with pytest.raises(GenlabError) as e:
            folders.load_all(f"folder:{root}", size, channels)
        assert len(str(e.value).splitlines()) == 1 and "data." in str(e.value)


def test_size_and_channels_are_for_folders_only_one_line(capsys, tmp_path):
    for bad in (
        ["--data.size=32", "--dataset", "mnist"],
        ["--data.channels=3", "--dataset", "mnist"],
        ["--data.size=30", "--dataset", "folder:/nope"],
    ):
        code = main(["train", "--model", "vae", "--runs-dir", str(tmp_path), *bad])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and "data." in err, err
