"""Issue 'nothing lost, nothing trusted blindly': exact resume after kill -9, crash-safe checkpoint writes,
integrity checks, no code execution from files, hostile inputs, names that are never paths, divergence,
concurrent workers. Long variants are marked slow (CI runs them)."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load as st_load

from genlab import data
from genlab.cli import main, split_overrides
from genlab.core.errors import GenlabError
from genlab.store import checkpoint
from genlab.store.runs import check_name, read_jsonl, read_meta, update_meta
from genlab.train.config import from_dict, from_json, make_config
from genlab.train.loop import train

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--model.width=32",
    "--model.z_dim=4",
    "--train.batch_size=32",
    "--train.log_every=1",
    "--train.epochs=2",
    "--data.n_train=512",
    "--train.checkpoint_every=3",
    "--train.threads=1",
    "--eval.flow_steps=100",
]
FUZZ = int(os.environ.get("GENLAB_FUZZ_EXAMPLES", "300"))  # a fixed draw; bench/fuzz.sh: 10,000 fresh ones


# ---------------------------------------------------------------- 1. exact resume after kill -9

KILLER = """
import os, signal, sys
from genlab.models import MODELS
cls = MODELS[sys.argv[1]]
real, n, kill_at = cls.train_step, [0], int(sys.argv[2])
def step(self, x, opt):
    n[0] += 1
    if n[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, x, opt)
cls.train_step = step
from genlab.cli import main
raise SystemExit(main(sys.argv[3:]))
"""


def genlab_train(model: str, runs: Path, real_data: Path, kill_at: int = 0) -> int:
    args = ["train", "--model", model, "--runs-dir", str(runs), "--no-eval", "--data-dir", str(real_data), *TINY]
    env = {**os.environ, "GENLAB_QUIET": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", KILLER, model, str(kill_at), *args], env=env, capture_output=True, timeout=300
    ).returncode


def final_state(runs: Path) -> tuple[dict, list]:
    run = next(p for p in runs.iterdir() if p.is_dir())
    last = checkpoint.checkpoint_dirs(run)[-1]
    tensors = st_load((last / "tensors.safetensors").read_bytes())
    lines = [{k: v for k, v in r.items() if k != "images_per_s"} for r in read_jsonl(run / "metrics.jsonl")]
    return tensors, lines


def kill_and_resume_trials(real_data, tmp_path, trials: int):
    rng = random.Random(1234)
    for model in ("gan", "vae"):
        ref = tmp_path / f"ref-{model}"
        assert genlab_train(model, ref, real_data) == 0
        ref_tensors, ref_lines = final_state(ref)
        for t in range(trials):
            runs = tmp_path / f"{model}-{t}"
            kill_at = rng.randint(1, 31)  # 16 steps per epoch, 2 epochs
            assert genlab_train(model, runs, real_data, kill_at) == -signal.SIGKILL
            assert genlab_train(model, runs, real_data) == 0
            tensors, lines = final_state(runs)
            assert lines == ref_lines, f"{model} killed at step {kill_at}"
            assert tensors.keys() == ref_tensors.keys()
            assert all(torch.equal(tensors[k], ref_tensors[k]) for k in tensors), f"{model} killed at {kill_at}"


def test_kill9_then_resume_is_bit_identical(real_data, tmp_path):
    kill_and_resume_trials(real_data, tmp_path, trials=1)


@pytest.mark.slow
def test_kill9_then_resume_is_bit_identical_20_trials(real_data, tmp_path):
    kill_and_resume_trials(real_data, tmp_path, trials=10)  # x 2 models = 20 trials


# ---------------------------------------------------------------- 2. crash-safe writes


class Injector:
    """Raises OSError at the n-th file operation (write, fsync, rename, mkstemp) of a checkpoint save."""

    def __init__(self, monkeypatch, fail_at: int, err: int = errno.EIO):
        self.n, self.fail_at, self.err = 0, fail_at, err
        real = {"fsync": os.fsync, "replace": os.replace, "fdopen": os.fdopen}
        injector = self

        def tick(what):
            injector.n += 1
            if injector.n == injector.fail_at:
                raise OSError(injector.err, f"{os.strerror(injector.err)} (injected at {what})")

        class File:
            def __init__(self, f):
                self.f = f

            def write(self, b):
                tick("write")
                return self.f.write(b)

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *a):
                return self.f.__exit__(*a)

        monkeypatch.setattr(os, "fsync", lambda fd: (tick("fsync"), real["fsync"](fd))[1])
        monkeypatch.setattr(os, "replace", lambda a, b: (tick("rename"), real["replace"](a, b))[1])
        monkeypatch.setattr(os, "fdopen", lambda *a, **k: File(real["fdopen"](*a, **k)))


def test_failure_at_every_file_operation_of_a_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    payload = {"w": torch.arange(10.0), "step": 1}
    checkpoint.save(tmp_path, 1, payload)
    counter = Injector(monkeypatch, fail_at=-1)
    checkpoint.save(tmp_path, 2, {"w": torch.arange(10.0) * 2, "step": 2})
    total = counter.n
    monkeypatch.undo()
    assert total >= 9  # 3 files x (write, fsync, rename) plus the folder rename
    for fail_at in range(1, total + 1):
        root = tmp_path / f"t{fail_at}"
        checkpoint.save(root, 1, payload)
        Injector(monkeypatch, fail_at)
        try:
            checkpoint.save(root, 2, {"w": torch.arange(10.0) * 2, "step": 2})
        except GenlabError as e:
            assert "previous checkpoint is intact" in str(e)
        monkeypatch.undo()
        state = checkpoint.load_latest(root)
        assert state["step"] in (1, 2)  # the old one, or the new one if only the final fsync failed
        assert not list((root / "checkpoints").glob(".*.tmp")), "a temp folder was left behind"


def test_disk_full_during_training_is_one_line_and_resumable(tiny_data, tmp_path, capsys):
    cfg = make_config("gan", "mnist", [o[2:] for o in TINY if "n_train" not in o])
    run = tmp_path / "r"
    calls = {"n": 0}
    real_save = checkpoint.save
    with pytest.MonkeyPatch.context() as mp:  # the full disk only: tiny_data's own patch stays for the resume

        def full_disk_after_first(run_dir, step, payload):
            calls["n"] += 1
            if calls["n"] == 3:
                Injector(mp, 1, errno.ENOSPC)
            return real_save(run_dir, step, payload)

        mp.setattr(checkpoint, "save", full_disk_after_first)
        with pytest.raises(GenlabError, match="No space left on device") as exc:
            train(cfg, run, tiny_data)
    assert "\n" not in str(exc.value)
    assert read_meta(run)["status"] == "interrupted"
    assert train(cfg, run, tiny_data)["status"] == "done"
    ref = tmp_path / "ref"
    train(cfg, ref, tiny_data)

    def strip(p):
        return [{k: v for k, v in r.items() if k != "images_per_s"} for r in read_jsonl(p / "metrics.jsonl")]

    assert strip(run) == strip(ref)


# ---------------------------------------------------------------- 3. integrity


def test_any_flipped_byte_or_truncation_is_detected_and_named(tmp_path):
    checkpoint.save(tmp_path, 1, {"w": torch.arange(100.0)})
    checkpoint.save(tmp_path, 2, {"w": torch.arange(100.0) + 1})
    newest = checkpoint.checkpoint_dirs(tmp_path)[-1]
    rng = random.Random(0)
    for name in ("tensors.safetensors", "state.json", "manifest.json"):
        f = newest / name
        good = f.read_bytes()
        positions = sorted({0, len(good) - 1, *(rng.randrange(len(good)) for _ in range(20))})
        damaged = [good[:p] + bytes([good[p] ^ 0x01]) + good[p + 1 :] for p in positions] + [good[: len(good) // 2]]
        for bad in damaged:
            f.write_bytes(bad)
            with pytest.raises(checkpoint.CorruptCheckpoint, match=name.replace(".", r"\.")):
                checkpoint.read_checkpoint(newest)
            with pytest.warns(UserWarning):
                assert checkpoint.load_latest(tmp_path)["w"][0] == 0  # fell back to the older one
        f.write_bytes(good)
    assert checkpoint.read_checkpoint(newest)["w"][0] == 1


def test_no_pickle_on_any_load_path():
    import re

    for path in (ROOT / "genlab").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"torch\.load\(|pickle\.loads?\(|import pickle", text), path


# ---------------------------------------------------------------- 5. hostile inputs (property tests)

idx_headers = st.builds(
    lambda dtype, dims, extra: bytes([0, 0, dtype, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + extra,
    st.sampled_from([8, 8, 8, 9, 0x0D]),
    st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 40), max_size=5),
    st.binary(max_size=64),
)


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=200), idx_headers))
def test_idx_parser_answers_only_with_genlab_errors(raw):
    try:
        t = data.parse_idx(raw, "fuzz")
        assert t.numel() <= len(raw)  # never allocates more than the file holds
    except GenlabError as e:
        assert "\n" not in str(e)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)
config_like = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"name": st.sampled_from(["gan", "vae", "vaegan", "x"])},
                optional={"z_dim": json_values, "lr": json_values, "arch": json_values, "zz": json_values},
            ),
        ),
        "data": st.dictionaries(st.sampled_from(["dataset", "n_train", "other"]), json_values, max_size=2),
        "train": st.dictionaries(
            st.sampled_from(["epochs", "batch_size", "seed", "threads", "oops"]), json_values, max_size=3
        ),
        "eval": json_values,
        "extra": json_values,
    },
)


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(config_like, json_values))
def test_config_loader_answers_only_with_genlab_errors(d):
    try:
        cfg = from_dict(d)
        assert from_json(cfg.to_json()) == cfg
    except GenlabError as e:
        assert "\n" not in str(e)


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda s, k, v: f"--{s}.{k}={v}",
                st.sampled_from(["model", "train", "data", "eval", "x"]),
                st.sampled_from(["z_dim", "lr", "epochs", "batch_size", "dataset", "n_train", "arch", "zz"]),
                st.text(max_size=12),
            ),
            st.text(max_size=20),
        ),
        max_size=4,
    )
)
def test_cli_overrides_answer_only_with_genlab_errors(argv):
    try:
        rest, overrides = split_overrides(argv)
        make_config("gan", "mnist", overrides)
    except GenlabError as e:
        assert "\n" not in str(e)


def test_cli_with_fuzzed_override_exits_2_with_one_line(capsys, tmp_path):
    for bad in [
        "--model.z_dim=NaN",
        "--train.epochs=-1",
        "--model.lr=1e999",
        "--eval.n_samples=0",
        "--train.batch_size=true",
        "--model.z_dim=[1]",
        "--modle.z_dim=3",
    ]:
        assert main(["train", "--model", "gan", "--data-dir", str(tmp_path), bad]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("genlab: error:"), err


# ---------------------------------------------------------------- 6. names are not paths


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.text(max_size=300),
        st.sampled_from(["..", "../x", "/etc/passwd", "a/../../b", "x\0y", ".", "a" * 200, "ok-name_1.2"]),
    )
)
def test_run_names_never_escape_the_runs_folder(tmp_path_factory, name):
    runs = Path("/tmp/genlab-runs-root")
    try:
        safe = check_name(name, "run name")
    except GenlabError as e:
        assert "\n" not in str(e)
        return
    target = (runs / safe).resolve()
    assert target.parent == runs.resolve() and "/" not in safe and "\0" not in safe


def test_cli_refuses_a_path_as_run_name(capsys):
    assert main(["train", "--model", "gan", "--name", "../escape"]) == 2
    assert "not allowed" in capsys.readouterr().err


# ---------------------------------------------------------------- 7. divergence inside a study


def test_divergence_is_recorded_and_the_study_goes_on(real_data, tmp_path, monkeypatch):
    from genlab.models.gan import GAN
    from genlab.report.html import write_report
    from genlab.study.study_request import StudyRequest
    from genlab.study.sweep import run_study

    real_step = GAN.train_step

    def explode_small_z(self, x, opt):
        out = real_step(self, x, opt)
        if self.cfg.z_dim == 2:
            out["loss_d"] = torch.tensor(float("inf"))
        return out

    monkeypatch.setattr(GAN, "train_step", explode_small_z)
    study = run_study(
        StudyRequest("smoke", "quick", runs_dir=tmp_path, data_dir=real_data, evaluate=False, workers=1),
        log=lambda m: None,
    )  # in this process: the patched train_step does not reach worker processes
    assert read_meta(study / "mnist-gan-z2-s0")["status"] == "diverged"
    assert read_meta(study / "mnist-gan-z2-s0")["diverged_step"] == 1
    assert all(
        read_meta(study / n)["status"] == "done" for n in ("mnist-gan-z4-s0", "mnist-vae-z2-s0", "mnist-vae-z4-s0")
    )
    assert "run mnist-gan-z2-s0: diverged at step 1" in write_report(study).read_text()


# ---------------------------------------------------------------- 8. concurrent workers


@pytest.mark.slow
def test_16_concurrent_workers_lose_nothing(real_data, tmp_path):
    env = {**os.environ, "GENLAB_QUIET": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "genlab",
        "study",
        "smoke",
        "--seeds",
        "4",
        "--no-eval",
        "--runs-dir",
        str(tmp_path),
        "--data-dir",
        str(real_data),
        "--workers",
        "1",
        "--train.threads=1",
        "--train.log_every=1",
    ]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(16)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-300:] for o in outs]
    study = tmp_path / "smoke-quick"
    names = json.loads((study / "study.json").read_text())["runs"]
    assert len(names) == 16
    trained = sum(o[0].decode().count(": done in") for o in outs)
    assert trained == 16, "each run trained exactly once"
    for name in names:
        assert read_meta(study / name)["status"] == "done"
        steps = [r["step"] for r in read_jsonl(study / name / "metrics.jsonl") if "event" not in r]
        assert steps == list(range(1, 17)), name  # 1024 images / batch 64, logged every step, once
    assert (study / "index.html").is_file()


def test_worker_plan_shares_the_cores(monkeypatch):
    from genlab.study import sweep

    monkeypatch.setattr(sweep, "usable_cores", lambda: 8)
    assert sweep.plan_workers(None, 12) == (8, 1)
    assert sweep.plan_workers(None, 3) == (3, 2)  # never more workers than runs waiting
    assert sweep.plan_workers(2, 12) == (2, 4)
    assert sweep.plan_workers(None, 0) == (1, 8)
    for bad in (0, -1, 1000):
        with pytest.raises(GenlabError, match="--workers"):
            sweep.plan_workers(bad, 4)


def smoke_study_cmd(runs_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "genlab",
        "study",
        "smoke",
        "--runs-dir",
        str(runs_dir),
        "--data-dir",
        str(data_dir),
        *extra,
    ]


@pytest.mark.slow
def test_two_workers_share_a_study_and_one_page_is_written(real_data, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        smoke_study_cmd(tmp_path, real_data, "--workers", "2", "--seeds", "2", "--no-eval", "--train.log_every=7"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-500:]
    assert "8 of 8 runs to do, 2 workers x" in out.stdout
    study = tmp_path / "smoke-quick"
    names = json.loads((study / "study.json").read_text())["runs"]
    assert sorted(line.split()[1].rstrip(":") for line in out.stdout.splitlines() if ": done in" in line) == sorted(
        names
    ), "each run trained exactly once"
    assert all(read_meta(study / n)["status"] == "done" for n in names)
    # the user's override reached every worker (the request travels whole, not rebuilt as flags)
    assert all(json.loads((study / n / "config.json").read_text())["train"]["log_every"] == 7 for n in names)
    assert not list(study.glob("*/.lock"))
    assert out.stdout.count("report: ") == 1 and (study / "report.html").is_file()


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_with_a_checkpoint_and_the_study_resumes(real_data, tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = smoke_study_cmd(
        tmp_path,
        real_data,
        "--workers",
        "2",
        "--data.n_train=60000",
        "--train.epochs=2",
        "--no-eval",
        "--train.checkpoint_every=20",
    )
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    study = tmp_path / "smoke-quick"
    deadline = time.time() + 300
    while time.time() < deadline and len({p.parents[1] for p in study.glob("*/checkpoints/step-*")}) < 2:
        time.sleep(0.1)  # both workers are training and have checkpointed at least once
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-500:]
    assert "the same command resumes the study" in err
    assert not list(study.glob("*/.lock")), "every worker released its run"
    names = json.loads((study / "study.json").read_text())["runs"]
    statuses = {n: read_meta(study / n).get("status") for n in names}
    assert "running" not in statuses.values(), statuses
    stopped = [n for n, st_ in statuses.items() if st_ == "interrupted"]
    assert stopped, statuses
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-500:]
    for name in stopped:
        meta = read_meta(study / name)
        assert meta["status"] == "done" and meta["resumed_from_step"] > 0
        steps = [r["step"] for r in read_jsonl(study / name / "metrics.jsonl") if "event" not in r]
        assert steps == sorted(set(steps)), "no step logged twice after the resume"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_in_a_run_file_is_damage_not_a_later_traceback(tmp_path, constant):
    """genlab never writes NaN or Infinity (allow_nan=False), so one in meta.json is damage: reading it must be
    one line naming the file, not an accepted value that makes the next write_json raise (found by the fuzz
    test: meta.json = {"fid": Infinity} crashed `genlab study` in update_meta)."""
    (tmp_path / "meta.json").write_text(f'{{"fid": {constant}}}')
    with pytest.raises(GenlabError, match="meta.json is not readable JSON"):
        update_meta(tmp_path, status="running")
    with pytest.raises(GenlabError, match="config.json"):
        from_json(f'{{"model": {{"name": "gan"}}, "train": {{"lr": {constant}}}}}', source="config.json")
