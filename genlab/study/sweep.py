"""Expand a study into runs, run the missing ones, write the figures and the index page.

Re-running a study skips finished runs and resumes interrupted ones from their
last checkpoint. A run that diverges or fails is recorded as such and the
study goes on with the others. `study.json` in the study folder lists every
run with its status.

Runs go to worker processes, by default one per CPU core (at most 8) with one torch thread
each: on 2 cores, two one-thread runs side by side get through a study ~1.3-1.45x
faster than one two-thread run at a time (small matrices scale poorly across
threads; docs/results.md). Workers share the run queue through the runs' lock
files, so any number of `genlab study` processes on the same folder cooperate.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from genlab import data
from genlab.core import devices
from genlab.core.errors import GenlabError, Interrupted
from genlab.core.progress import bar
from genlab.core.threads import worker_thread_env
from genlab.eval import features
from genlab.report import figures
from genlab.report.html import write_index, write_report
from genlab.store.runs import check_name, claim, read_meta, release, update_meta, write_json
from genlab.study import study_request
from genlab.study.one_run import run_one, usable_cores
from genlab.study.studies import PlannedRun, expand, get_profile, get_study, on_dataset, select_models
from genlab.study.study_request import StudyRequest
from genlab.train.loop import training_images

EXECUTORS = study_request.EXECUTORS  # where runs execute: worker processes on this machine, or Ray tasks
MAX_AUTO_WORKERS = 8  # beyond this the per-worker memory and disk traffic stop paying on a laptop


def study_dir_for(runs_dir: Path, study: str, profile: str, dataset: str | None = None, shape=None) -> Path:
    """STUDY-PROFILE, plus the dataset's slug when --dataset moved the study onto other data (and the shape a
    folder was converted to, when not the default 1 x 28 x 28): a study on your images never replaces the
    study.json and report of the same study on its own datasets, or on the same images converted otherwise."""
    suffix = f"-{data.slug(dataset)}" if dataset else ""
    default = (data.folders.CHANNELS, data.folders.SIZE, data.folders.SIZE)
    if dataset and shape is not None and data.is_folder(dataset) and tuple(shape) != default:
        suffix += f"-{shape[0]}x{shape[1]}"
    return Path(runs_dir) / check_name(f"{study}-{profile}{suffix}", "study name")


def plan_workers(workers: int | None, pending: int) -> tuple[int, int]:
    """(worker processes, torch threads each): by default one single-thread worker per core, never more
    workers than runs waiting; the cores are shared out among the workers."""
    cores = usable_cores()
    if workers is None:
        workers = min(cores, MAX_AUTO_WORKERS)
    if not isinstance(workers, int) or workers < 1 or workers > 256:
        raise GenlabError(f"--workers {workers!r} must be a whole number from 1 to 256")
    workers = max(1, min(workers, pending))
    return workers, max(1, cores // workers)


def is_complete(run_dir: Path, evaluate_runs: bool) -> bool:
    meta = read_meta(run_dir)
    return meta.get("status") == "diverged" or (
        meta.get("status") == "done"
        and bool(meta.get("figures_done"))
        and (not evaluate_runs or (run_dir / "eval.json").exists())
    )


def run_study(req: StudyRequest, log=print) -> Path:
    """Run every missing run of a study (optionally only some models) and write its pages; returns its folder.

    `req.workers` processes share the runs (None: one per core), each receiving `req` serialised with its share
    (StudyRequest.for_worker); `req.dataset` (a registry name or folder:PATH) replaces the study's datasets;
    `req.executor` 'ray' hands the pending runs to Ray tasks instead (genlab.study.executor_ray).
    `req.device` (auto, cpu, cuda, cuda:N) is resolved here, once.
    """

    req.check()
    dev = devices.resolve(req.device)
    data_dir, evaluate_runs, tensorboard = req.data_dir, req.evaluate, req.tensorboard
    models = list(req.models) if req.models else None
    datasets = list(req.datasets) if req.datasets else None
    study, profile = select_models(get_study(req.study), models, datasets), get_profile(req.profile)
    if req.dataset:
        study = on_dataset(study, data.check_name(req.dataset))
    configs = expand(study, profile, req.seeds, list(req.overrides))
    sources = {c.cfg.data.dataset: data.source_of(c.cfg.data, data_dir) for c in configs}
    if req.workers not in (None, 1):
        plan_workers(req.workers, 1)  # its one-line check
    for src in sources.values():  # every input is checked before anything is written
        src.load("train")
    for c in configs:  # and every run's batch against its data, so a worker never meets the mistake first
        training_images(c.cfg, data_dir)
    if req.executor == "ray":  # the cluster too: reachable, and with a node big enough for one run
        from genlab.study.executor_ray import check_gpus, parse_address, start

        check_gpus(req.gpus_per_run)
        if req.address is not None:
            parse_address(req.address)
        start(req.address, req.cpus_per_run, req.gpus_per_run, req.local_cpus)
    shape = next(iter(sources.values())).shape if req.dataset and sources else None
    study_dir = study_dir_for(req.runs_path, study.name, profile.name, req.dataset, shape)
    study_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        study_dir / "study.json",
        {  # identical from every worker of the same study, so safe to rewrite
            "study": study.name,
            "profile": profile.name,
            "seeds": req.seeds,
            "description": study.description,
            "profile_description": profile.description,
            "overrides": list(req.overrides),
            "datasets": list(study.datasets),
            "arms": {k: list(v) for k, v in study.arms.items()},
            "arm_order": list(study.arms),  # the study's own order (the file's keys are sorted): legends, tables
            "capacity_names": list(study.capacity_names),
            "runs": [c.name for c in configs],
            "arm_models": {arm: study.model_of(arm)[0] for arm in study.arms},
            "roles": {role: arm for role, arm in study.roles.items() if arm in study.arms},
            "factors": {arm: list(fl) for arm, fl in study.factors.items() if arm in study.arms},
        },
    )
    for src in sources.values():
        path = study_dir / "figures" / f"{src.slug}-real.png"
        if not path.exists():
            figures.real_samples(src, path)
    if req.threads:
        import torch

        torch.set_num_threads(req.threads)
    t0 = time.perf_counter()
    pending = [c for c in configs if not is_complete(study_dir / c.name, evaluate_runs)]
    n_workers, worker_threads = (1, 0) if req.workers == 1 else plan_workers(req.workers, len(pending))
    if evaluate_runs and pending and (req.executor == "ray" or n_workers > 1):
        for ds, src in sources.items():
            if features.why_no_judge(src) is None:  # an unlabeled folder, a shape without a judge
                asked = max((c.cfg.eval.judges for c in configs if c.cfg.data.dataset == ds), default=0)
                for index in range(features.ensemble_size(src, asked)):
                    features.get_judge(src, index)
    if req.executor == "ray":
        from genlab.study.executor_ray import run_on_ray

        log(f"study {study.name} ({profile.name}): {len(pending)} of {len(configs)} runs to do, on Ray")
        run_on_ray(
            pending,
            study_dir,
            data_dir,
            evaluate_runs,
            log,
            device=str(dev),
            tensorboard=tensorboard,
            **req.ray_options,
        )
    elif n_workers > 1:
        log(
            f"study {study.name} ({profile.name}): {len(pending)} of {len(configs)} runs to do, "
            f"{n_workers} workers x {worker_threads} torch thread{'s' if worker_threads > 1 else ''}"
        )
        run_workers(
            worker_command(req.for_worker(worker_threads)),
            n_workers,
            len(pending),
            log,
            worker_threads,
        )
    else:
        run_queue(configs, study_dir, data_dir, evaluate_runs, log, dev, tensorboard)
    log(f"study {study.name} ({profile.name}) finished in {time.perf_counter() - t0:.1f}s -> {study_dir}")
    if req.pages:
        write_index(study_dir)
        log(f"report: {write_report(study_dir)}")
    return study_dir


def run_queue(
    configs: list[PlannedRun],
    study_dir: Path,
    data_dir,
    evaluate_runs: bool,
    log,
    device="cpu",
    tensorboard: bool = False,
) -> None:
    """This process's share of the study: every run not complete and not locked by another worker."""
    for i, planned in enumerate(configs, 1):
        cfg, name = planned.cfg, planned.name
        run_dir = study_dir / name
        if is_complete(run_dir, evaluate_runs):
            log(f"[{i}/{len(configs)}] {name}: {read_meta(run_dir).get('status')}, skipped")
            continue
        if not claim(run_dir):
            log(f"[{i}/{len(configs)}] {name}: being run by another process, skipped")
            continue
        t = time.perf_counter()
        try:
            meta = run_one(cfg, run_dir, data_dir, evaluate_runs, device, tensorboard)
        except (GenlabError, Interrupted, KeyboardInterrupt):
            raise
        except Exception as e:  # a bug in one run must not lose the others; it is recorded, not hidden
            update_meta(run_dir, status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
            log(f"[{i}/{len(configs)}] {name}: FAILED ({type(e).__name__}: {e})")
            continue
        finally:
            release(run_dir)
        log(f"[{i}/{len(configs)}] {name}: {meta.get('status')} in {time.perf_counter() - t:.1f}s")


def worker_command(req: StudyRequest) -> list[str]:
    """One local worker's command line: the request itself, serialised (nothing is rebuilt as flags)."""
    return [sys.executable, "-m", "genlab", "worker", req.to_json()]


def run_workers(cmd: list[str], n: int, pending: int, log, threads: int = 1) -> None:
    """Start n worker processes of `threads` threads each on the study and wait for them; their run lines pass
    through one progress bar. Ctrl-C or SIGTERM reaches every worker, each checkpoints its run, and the same command
    resumes them."""
    env = {**os.environ, **worker_thread_env(threads, os.environ), "GENLAB_QUIET": "1", "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(n)
    ]
    errors: list[str] = []  # the workers' one-line errors: the same mistake from each worker is reported once
    stopping = threading.Event()

    def forward(signum: int) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    def stop(signum, frame):
        stopping.set()
        if signum == signal.SIGINT:  # a terminal's Ctrl-C reached the workers too; after 2 s the ones still
            # running get SIGTERM: it also reaches workers that ignore SIGINT (a study started with `&`, whose
            # children inherit SIGINT ignored), and each checkpoints its run on either signal
            threading.Timer(2.0, forward, (signal.SIGTERM,)).start()
        else:
            forward(signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with bar(total=pending, desc="runs", unit="run") as pb:
            lock = threading.Lock()

            def relay(p: subprocess.Popen) -> None:
                for line in p.stdout:
                    line = line.rstrip("\n")
                    if line.startswith("study ") or "skipped" in line:
                        continue  # each worker's own summary and its view of the others' runs
                    with lock:
                        if pb.disable:
                            log(line)
                        else:
                            pb.write(line)
                        if line.startswith("["):
                            pb.update(1)

            def relay_err(p: subprocess.Popen) -> None:
                for line in p.stderr:
                    if line.startswith("genlab: error: "):
                        with lock:
                            errors.append(line[len("genlab: error: ") :].rstrip("\n"))
                        continue
                    with lock:
                        sys.stderr.write(line)  # warnings, progress, a bug's traceback: as the worker wrote them

            readers = [threading.Thread(target=f, args=(p,), daemon=True) for p in procs for f in (relay, relay_err)]
            for r in readers:
                r.start()
            codes = [p.wait() for p in procs]
            for r in readers:
                r.join()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if stopping.is_set() or 130 in codes:
        raise Interrupted("stopped; every running run was checkpointed, and the same command resumes the study")
    if any(codes):
        unique = list(dict.fromkeys(errors))
        if unique:
            more = f" (and {len(unique) - 1} other error{'s' if len(unique) > 2 else ''})" if len(unique) > 1 else ""
            raise GenlabError(f"{unique[0]}{more}; finished runs are kept, and the same command continues the study")
        raise GenlabError(
            f"{sum(1 for c in codes if c)} of {n} workers stopped with an error (see above); "
            "fix it and run the same command again: finished runs are kept"
        )
