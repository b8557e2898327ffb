"""One run, start to end: train (or resume) it, draw its figures, evaluate it. The unit of work every executor
hands out — the local worker pool (sweep.py) and Ray tasks (executor_ray.py) — so neither imports the other.

TensorBoard and the evaluation are imported only when asked for: a study with --no-eval, or without
--tensorboard, never loads them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from genlab import data
from genlab.eval.evaluate import epoch_fid_hook, evaluate_run
from genlab.eval.features import why_no_judge
from genlab.report import figures
from genlab.store.runs import read_meta, update_meta
from genlab.train.config import RunConfig
from genlab.train.loop import train, training_images


def run_one(
    cfg: RunConfig, run_dir: Path, data_dir=None, evaluate_runs: bool = True, device="cpu", tensorboard: bool = False
) -> dict[str, Any]:
    """Train (or resume) one run, then draw its figures and evaluate it, on `device`; returns its meta.
    `tensorboard` also logs it to RUN_DIR/tb (genlab.train.tb_logger)."""
    training_images(cfg, data_dir)  # a batch too large for the data is one line before any judge is trained
    hook = None
    if evaluate_runs and cfg.eval.epoch_fid_samples and why_no_judge(data.source_of(cfg.data, data_dir)) is None:
        hook = epoch_fid_hook(cfg, data_dir, device)
    loggers = []
    if tensorboard:
        from genlab.train.tb_logger import TensorBoardLogger

        loggers.append(TensorBoardLogger(run_dir))
    try:
        meta = train(cfg, run_dir, data_dir, epoch_hook=hook, device=device, loggers=loggers)
    finally:
        for lg in loggers:
            lg.close()
    if meta.get("status") != "done":
        return meta
    if not meta.get("figures_done"):
        t = time.perf_counter()
        figures.run_figures(run_dir, data_dir, device=device)
        meta = update_meta(run_dir, figures_done=True, figures_s=time.perf_counter() - t)
    if evaluate_runs and not (run_dir / "eval.json").exists():
        t = time.perf_counter()
        result = evaluate_run(run_dir, data_dir, device)
        update_meta(run_dir, eval_s=time.perf_counter() - t)  # where a study's time goes: bench/study_time.py
        if tensorboard:
            from genlab.train.tb_logger import log_final

            log_final(run_dir, cfg.to_dict(), result)
    return read_meta(run_dir)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
