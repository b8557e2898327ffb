"""Everything a study run was asked for, in one frozen value that travels as JSON.

The command line builds one, checks it once (`check`), and hands it to `genlab.study.sweep.run_study`; the local
workers receive the same request serialised (`genlab worker REQUEST`), with only their share changed
(`for_worker`), so an option added here reaches every worker without being re-plumbed as flags.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from genlab.core.errors import GenlabError

EXECUTORS = ("local", "ray")
MAX_SEEDS = 100


@dataclass(frozen=True)
class StudyRequest:
    study: str
    profile: str = "quick"
    seeds: int = 1
    runs_dir: str = "runs"
    data_dir: str | None = None
    overrides: tuple[str, ...] = ()  # section.key=value, after the study's and the profile's
    evaluate: bool = True  # False: train and draw figures only (--no-eval)
    models: tuple[str, ...] | None = None  # a subset of the study's arms' models
    datasets: tuple[str, ...] | None = None  # a subset of the study's datasets
    dataset: str | None = None  # replaces the study's datasets (a registry name or folder:PATH)
    workers: int | None = None  # processes sharing the runs; None: one per core
    threads: int | None = None  # torch threads of this process (a worker's share)
    pages: bool = True  # write index.html and report.html at the end (a worker leaves it to its parent)
    device: str = "auto"
    executor: str = "local"
    address: str | None = None  # Ray: HOST:PORT or auto; None starts a local Ray
    cpus_per_run: int = 1  # Ray: CPUs (and torch threads) per run
    gpus_per_run: float = 0.0  # Ray: GPUs per run
    max_retries: int = 3  # Ray: retries of a run whose worker or node died
    local_cpus: int | None = None  # Ray without --address: the local Ray's CPUs (tests)
    tensorboard: bool = False

    def __post_init__(self) -> None:  # tuples and strings whatever the caller passed (lists, Paths)
        for name in ("overrides", "models", "datasets"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        for name in ("runs_dir", "data_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, name, str(value))

    def check(self) -> None:
        """The request's own one-line checks (those that need no file or cluster), before anything is written."""
        if not 1 <= self.seeds <= MAX_SEEDS:
            raise GenlabError(f"--seeds {self.seeds} must be a whole number from 1 to {MAX_SEEDS}")
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise GenlabError(f"--threads {self.threads} must be a whole number from 1 to 1024")
        if self.executor not in EXECUTORS:
            raise GenlabError(f"--executor {self.executor!r} is not allowed; use one of {', '.join(EXECUTORS)}")
        if self.executor == "ray":
            if not 1 <= self.cpus_per_run <= 1024:
                raise GenlabError(f"--cpus-per-run {self.cpus_per_run} must be a whole number from 1 to 1024")
            if not 0 <= self.max_retries <= 100:
                raise GenlabError(f"--max-retries {self.max_retries} must be a whole number from 0 to 100")
        elif self.address:
            raise GenlabError("--address only applies with --executor ray")

    @property
    def runs_path(self) -> Path:
        return Path(self.runs_dir)

    @property
    def ray_options(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "cpus_per_run": self.cpus_per_run,
            "gpus_per_run": self.gpus_per_run,
            "max_retries": self.max_retries,
            "local_cpus": self.local_cpus,
        }

    def for_worker(self, threads: int) -> StudyRequest:
        """The same study as one local worker runs it: this process alone, `threads` torch threads, no pages."""
        return replace(self, workers=1, threads=threads, pages=False, executor="local")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StudyRequest:
        """A request written by `to_json` (a worker's argument); anything else is one line."""
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise GenlabError(f"worker request is not JSON ({e}); workers are started by 'genlab study'") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or not isinstance(raw.get("study"), str) or set(raw) - known:
            raise GenlabError("worker request is not a study request; workers are started by 'genlab study'")
        return cls(**raw)
