"""A study's options travel whole: the request round-trips through JSON, its checks are one line, and a worker's
command carries it instead of flags rebuilt by hand."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from genlab.core.errors import GenlabError
from genlab.study.study_request import StudyRequest
from genlab.study.sweep import worker_command

FULL = StudyRequest(
    "lab",
    "full",
    seeds=3,
    runs_dir=Path("/tmp/r"),
    data_dir="/d",
    overrides=["train.log_every=7"],
    evaluate=False,
    models=["gan", "vae"],
    datasets=("mnist",),
    dataset="folder:/x",
    workers=2,
    threads=1,
    pages=False,
    device="cpu",
    executor="ray",
    address="auto",
    cpus_per_run=2,
    gpus_per_run=0.25,
    max_retries=1,
    local_cpus=4,
    tensorboard=True,
)


def test_every_field_round_trips_through_json() -> None:
    assert StudyRequest.from_json(FULL.to_json()) == FULL
    assert {f.name for f in dataclasses.fields(StudyRequest)} == set(json.loads(FULL.to_json()))
    assert FULL.runs_dir == "/tmp/r" and FULL.overrides == ("train.log_every=7",) and FULL.models == ("gan", "vae")


def test_a_worker_gets_the_request_with_only_its_share_changed() -> None:
    cmd = worker_command(FULL.for_worker(3))
    assert cmd[1:4] == ["-m", "genlab", "worker"]
    got = StudyRequest.from_json(cmd[4])
    assert got == dataclasses.replace(FULL, workers=1, threads=3, pages=False, executor="local")


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(seeds=0), "--seeds 0"),
        (dict(seeds=101), "--seeds 101"),
        (dict(threads=0), "--threads 0"),
        (dict(executor="slurm"), "--executor 'slurm'"),
        (dict(executor="ray", cpus_per_run=0), "--cpus-per-run 0"),
        (dict(executor="ray", max_retries=-1), "--max-retries -1"),
        (dict(address="h:1"), "--address only applies"),
    ],
)
def test_bad_options_are_one_line(bad, words) -> None:
    with pytest.raises(GenlabError, match=words.replace("(", r"\(")):
        StudyRequest("lab", **bad).check()


@pytest.mark.parametrize("text", ["{", "[]", '{"study": 1}', '{"study": "lab", "evil": 1}'])
def test_a_foreign_worker_request_is_refused_in_one_line(text) -> None:
    with pytest.raises(GenlabError, match="worker request"):
        StudyRequest.from_json(text)


def test_local_workers_keep_numpys_blas_within_their_share_of_the_cores(monkeypatch):
    """Each worker process starts with OpenBLAS (numpy: the FID's square roots) limited to its own threads, else two
    single-thread workers run four BLAS threads on two cores; a value the user set is passed through unchanged."""
    from genlab.study.sweep import run_workers

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    lines: list[str] = []
    probe = "import os; print('[1/1]', os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])"
    run_workers([sys.executable, "-c", probe], 2, 2, lines.append, threads=1)
    assert lines == ["[1/1] 1 7", "[1/1] 1 7"]
