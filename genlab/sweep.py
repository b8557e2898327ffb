"""Expand a study into runs, run the missing ones, write the figures and the index page.

Re-running a study skips finished runs and resumes interrupted ones from their
last checkpoint. A run that diverges or fails is recorded as such and the
study goes on with the others. `study.json` in the study folder lists every
run with its status.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from genlab import figures
from genlab.config import RunConfig
from genlab.errors import GenlabError, Interrupted
from genlab.runs import check_name, claim, read_meta, release, update_meta, write_json
from genlab.studies import expand, get_profile, get_study, select_models
from genlab.train import train


def study_dir_for(runs_dir: Path, study: str, profile: str) -> Path:
    return Path(runs_dir) / check_name(f"{study}-{profile}", "study name")


def run_one(cfg: RunConfig, run_dir: Path, data_dir=None, evaluate_runs: bool = True) -> dict[str, Any]:
    """Train (or resume) one run, then draw its figures and evaluate it; returns its meta."""
    hook = None
    if evaluate_runs and cfg.eval.epoch_fid_samples:
        from genlab.evaluate import epoch_fid_hook

        hook = epoch_fid_hook(cfg, data_dir)
    meta = train(cfg, run_dir, data_dir, epoch_hook=hook)
    if meta.get("status") != "done":
        return meta
    if not meta.get("figures_done"):
        figures.run_figures(run_dir, data_dir)
        meta = update_meta(run_dir, figures_done=True)
    if evaluate_runs and not (run_dir / "eval.json").exists():
        from genlab.evaluate import evaluate_run

        evaluate_run(run_dir, data_dir)
    return read_meta(run_dir)


def run_study(study_name: str, profile_name: str, seeds: int = 1, runs_dir: Path = Path("runs"),
              data_dir=None, overrides: list[str] | None = None, evaluate_runs: bool = True,
              log=print, models: list[str] | None = None) -> Path:
    """Run every missing run of a study (optionally only some models) and write its pages; returns its folder."""
    study, profile = select_models(get_study(study_name), models), get_profile(profile_name)
    configs = expand(study, profile, seeds, overrides)
    study_dir = study_dir_for(runs_dir, study.name, profile.name)
    study_dir.mkdir(parents=True, exist_ok=True)
    write_json(study_dir / "study.json", {  # identical from every worker of the same study, so safe to rewrite
        "study": study.name, "profile": profile.name, "seeds": seeds, "description": study.description,
        "profile_description": profile.description, "overrides": list(overrides or []),
        "datasets": list(study.datasets), "arms": {k: list(v) for k, v in study.arms.items()},
        "capacity_names": list(study.capacity_names), "runs": [c.run_name for c in configs]})
    for dataset in study.datasets:
        path = study_dir / "figures" / f"{dataset}-real.png"
        if not path.exists():
            figures.real_samples(dataset, path, data_dir)
    t0 = time.perf_counter()
    for i, cfg in enumerate(configs, 1):
        run_dir = study_dir / cfg.run_name
        meta = read_meta(run_dir)
        complete = meta.get("figures_done") and (not evaluate_runs or (run_dir / "eval.json").exists())
        status = meta.get("status")
        if status == "diverged" or (status == "done" and complete):
            log(f"[{i}/{len(configs)}] {cfg.run_name}: {status}, skipped")
            continue
        if not claim(run_dir):
            log(f"[{i}/{len(configs)}] {cfg.run_name}: being run by another process, skipped")
            continue
        t = time.perf_counter()
        try:
            meta = run_one(cfg, run_dir, data_dir, evaluate_runs)
        except (GenlabError, Interrupted, KeyboardInterrupt):
            raise
        except Exception as e:  # a bug in one run must not lose the others; it is recorded, not hidden
            update_meta(run_dir, status="failed", error=f"{type(e).__name__}: {e}",
                        traceback=traceback.format_exc())
            log(f"[{i}/{len(configs)}] {cfg.run_name}: FAILED ({type(e).__name__}: {e})")
            continue
        finally:
            release(run_dir)
        log(f"[{i}/{len(configs)}] {cfg.run_name}: {meta.get('status')} in {time.perf_counter() - t:.1f}s")
    log(f"study {study.name} ({profile.name}) finished in {time.perf_counter() - t0:.1f}s -> {study_dir}")
    from genlab.report import write_index, write_report

    write_index(study_dir)
    log(f"report: {write_report(study_dir)}")
    return study_dir
