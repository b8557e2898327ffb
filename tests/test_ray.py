"""The Ray executor: same run folders as the local executor, retried runs resume exactly, clear errors.

Needs `pip install 'genlab[ray]'` (CI installs it); a local Ray with 2 CPUs is started once per module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as st_load

from genlab.cli import main
from genlab.store import checkpoint

ray = pytest.importorskip("ray")

SMOKE_RUNS = ["mnist-gan-z2-s0", "mnist-gan-z4-s0", "mnist-vae-z2-s0", "mnist-vae-z4-s0"]
EXACT = ["--train.checkpoint_every=4"]  # mid-epoch checkpoints, so a run killed at step 10 resumes from step 8


def test_unreachable_ray_is_one_line(capsys, real_data, tmp_path):
    if ray.is_initialized():
        pytest.skip("a Ray is already running in this process")
    code = main(
        [
            "study",
            "smoke",
            "--runs-dir",
            str(tmp_path),
            "--data-dir",
            str(real_data),
            "--no-eval",
            "--executor",
            "ray",
            "--address",
            "127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Ray" in err, err


@pytest.fixture(scope="module")
def local_ray():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        configure_logging=False,
        runtime_env={
            "env_vars": {"GENLAB_CACHE": os.environ["GENLAB_CACHE"], "PYTHONPATH": str(Path(__file__).parent)},
            "worker_process_setup_hook": "ray_hooks.die_once_setup",  # dies on cue: GENLAB_TEST_DIE_AT_STEP
        },
    )
    yield
    ray.shutdown()


def study(runs: Path, real_data: Path, *extra: str) -> Path:
    argv = ["study", "smoke", "--runs-dir", str(runs), "--data-dir", str(real_data), *EXACT, *extra]
    assert main(argv) == 0
    return runs / "smoke-quick"


def final_tensors(run: Path) -> dict[str, torch.Tensor]:
    return st_load((checkpoint.checkpoint_dirs(run)[-1] / "tensors.safetensors").read_bytes())


def metrics(run: Path) -> dict:
    return json.loads((run / "eval.json").read_text())["metrics"]


@pytest.fixture(scope="module")
def local_study(real_data, tmp_path_factory) -> Path:
    """The smoke study in this process at 1 thread, after this process computed the smoke study's real reference,
    floor and duplicate threshold at 2 threads, as an earlier test in the same worker may (the order that once made
    the local FID differ from Ray's in the 11th digit): a result must not depend on what the process did before."""
    from genlab import data
    from genlab.eval import evaluate

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        src = data.source("mnist", real_data)
        evaluate.real_reference(src, 200, 0)
        evaluate.floor_metrics(src, 200, 5, 100, 0)
        evaluate.duplicate_threshold(src, 200)
    finally:
        torch.set_num_threads(before)
    return study(tmp_path_factory.mktemp("local"), real_data, "--workers", "1", "--threads", "1")


@pytest.mark.slow
def test_a_ray_study_whose_workers_die_mid_run_writes_the_same_runs_as_the_local_executor(
    local_ray, local_study, real_data, tmp_path, monkeypatch
):
    """One Ray study checks both promises (one study, not two: CI's time): every task's first worker dies
    (os._exit) at step 10 of 16, the retry resumes from the step-8 checkpoint, and the runs end with the local
    executor's weights, bit for bit, and its eval.json metrics, number for number."""
    from ray_hooks import DIE_AT_STEP

    monkeypatch.setenv(DIE_AT_STEP, "10")
    ray_study = study(tmp_path, real_data, "--executor", "ray", "--cpus-per-run", "1", "--max-retries", "2")
    assert (ray_study / "report.html").is_file() and (ray_study / "index.html").is_file()
    for name in SMOKE_RUNS:
        assert (ray_study / f"{name}.died-once").exists(), f"{name}'s first attempt did not die"
        meta = json.loads((ray_study / name / "meta.json").read_text())
        assert meta["status"] == "done" and meta["resumed_from_step"] == 8, meta
        a, b = final_tensors(local_study / name), final_tensors(ray_study / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{name} differs after the retry"
        assert metrics(local_study / name) == metrics(ray_study / name), name


def test_bad_executor_options_are_one_line(capsys, tmp_path):
    for argv in (
        ["--executor", "slurm"],
        ["--address", "x:1"],
        ["--executor", "ray", "--cpus-per-run", "0"],
        ["--executor", "ray", "--gpus-per-run", "-1"],
    ):
        code = main(["study", "smoke", "--runs-dir", str(tmp_path), *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, (argv, err)
