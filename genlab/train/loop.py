"""The one training loop: seed, batches, train_step, log, samples, checkpoint, resume.

It knows nothing about GANs or VAEs: each model owns its update rule
(`train_step`). Batches are index slices of one uint8 tensor drawn by a seeded
torch.Generator — no DataLoader — so a run is deterministic on the CPU for a
given seed and thread count, and a checkpoint (weights, optimizer state, both
RNG states, position in the epoch, running sums) resumes it exactly.

Run it through the CLI: `genlab train --model gan --dataset mnist --model.z_dim=64`.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genlab import data
from genlab.core.errors import GenlabError, Interrupted
from genlab.core.progress import bar
from genlab.models import GenerativeModel, build_model
from genlab.store import checkpoint, schema
from genlab.store.runs import (
    append_jsonl,
    environment,
    now,
    read_meta,
    read_text,
    truncate_metrics,
    update_meta,
    write_json,
)
from genlab.train import compute, schedules
from genlab.train.config import RunConfig, from_json

SAMPLE_SEED_OFFSET = 1_000_003  # fixed-noise generator for per-epoch grids: seed + offset
EpochHook = Callable[[GenerativeModel, int], dict[str, float]]  # (model, epoch) -> extra metrics, e.g. fid


class Logger:
    """What the loop tells a logger (TensorBoard, genlab.train.tb_logger); metrics.jsonl is written regardless."""

    def on_step(self, step: int, record: dict[str, Any]) -> None: ...

    def on_epoch(self, epoch: int, step: int, record: dict[str, Any], grid: torch.Tensor) -> None: ...

    def close(self) -> None: ...


def sample_noise_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed + SAMPLE_SEED_OFFSET)


def prepare_run_dir(cfg: RunConfig, run_dir: Path) -> None:
    """Create the run dir with its config, or check that an existing one holds the same config."""
    path = run_dir / "config.json"
    if path.exists():
        old = read_config(run_dir)
        if old.to_dict() != cfg.to_dict():
            raise GenlabError(
                f"{run_dir} already holds a run with a different config; "
                "choose another --name or --runs-dir, or delete that folder"
            )
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(path, cfg.to_dict())


def load_run(
    run_dir: Path, which: str = "best", device: torch.device | str = "cpu"
) -> tuple[RunConfig, GenerativeModel, dict[str, Any]]:
    """(config, model in eval mode on `device`, checkpoint state) from a run dir; `which` is 'best' or 'last'."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    damaged: list[str] = []
    state = checkpoint.load_latest(run_dir, damaged, schema.CHECKPOINT_STATE)
    if state is None:
        why = f" (damaged: {damaged[0]})" if damaged else ""
        raise GenlabError(f"{run_dir} has no intact checkpoint{why}; train it first ('genlab study' resumes it)")
    best = state.get("best_step")
    if which == "best" and best is not None and best != state["step"]:
        try:
            state = checkpoint.read_checkpoint(checkpoint.checkpoint_path(run_dir, best), schema.CHECKPOINT_STATE)
        except checkpoint.CorruptCheckpoint:
            pass  # the newest intact checkpoint is the honest fallback
    model = build_model(cfg.model_name, cfg.model, data.source_of(cfg.data).shape)
    checkpoint.load_weights(model, state["model"], run_dir)
    model.to(device).eval()
    return cfg, model, state


@dataclass
class Progress:
    """Where a run stands: what a checkpoint stores beside the weights, optimizer states and RNG states."""

    epoch: int = 0
    pos: int = 0  # batches done in the current epoch
    step: int = 0
    sums: dict[str, float] = field(default_factory=dict)  # running loss sums of the current epoch
    best: tuple[int | None, float | None] = (None, None)  # (step, fid_epoch) of the best epoch so far


def _payload(model, opts, batch_gen_epoch_state, p: Progress) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "opt": {k: o.state_dict() for k, o in opts.items()},
        "rng_torch": torch.get_rng_state(),
        "rng_batches_epoch_start": batch_gen_epoch_state,
        "epoch": p.epoch,
        "pos": p.pos,
        "step": p.step,
        "sums": p.sums,
        "best_step": p.best[0],
        "best_value": p.best[1],
    }


def restore(run_dir: Path, model, opts, batch_gen: torch.Generator) -> tuple[Progress, dict[str, Any] | None]:
    """Load the newest intact checkpoint into the model, optimizers and RNGs; (its progress, its state) or a fresh
    start when there is none."""
    state = checkpoint.load_latest(run_dir, spec=schema.CHECKPOINT_STATE)
    if state is None:
        return Progress(), None
    checkpoint.load_weights(model, state["model"], run_dir)
    for k, o in opts.items():
        try:
            o.load_state_dict(state["opt"][k])
        except (KeyError, ValueError, TypeError, IndexError) as e:
            raise GenlabError(
                f"{run_dir}: the checkpoint's optimizer state '{k}' does not fit this model "
                f"({type(e).__name__}: {e}); delete the run folder to train it again"
            ) from None
    torch.set_rng_state(state["rng_torch"])
    batch_gen.set_state(state["rng_batches_epoch_start"])
    best = (state["best_step"], state["best_value"])
    return Progress(state["epoch"], state["pos"], state["step"], state["sums"], best), state


class StopFlag:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps (restored on exit)."""

    def __init__(self):
        self.raised = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no signal handling
                pass
        return self

    def _handle(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def training_images(cfg: RunConfig, data_dir=None) -> torch.Tensor:
    """The run's training images (uint8 [N, C, H, W], on the CPU), after checking that one batch fits in them:
    called before anything is trained, written or judged, so a batch size too large is one line within a second."""
    images, _ = data.source_of(cfg.data, data_dir).load("train")
    if cfg.data.n_train:
        images = images[: cfg.data.n_train]
    if images.shape[0] < cfg.train.batch_size:
        raise GenlabError(
            f"train.batch_size={cfg.train.batch_size} is larger than the {images.shape[0]} training "
            f"images of {data.slug(cfg.data.dataset)}; lower it"
        )
    return images


def train(
    cfg: RunConfig,
    run_dir: Path,
    data_dir=None,
    epoch_hook: EpochHook | None = None,
    device: torch.device | str = "cpu",
    loggers: list[Logger] | None = None,
) -> dict[str, Any]:
    """Train (or resume) one run to its configured epochs on `device`; returns meta.json's content.

    The whole training set lives on the device as one uint8 tensor. Bit-exact resume holds on the CPU; on CUDA the
    noise comes from the GPU's generator, whose state is not checkpointed (docs/scale-out.md)."""
    device = torch.device(device)
    run_dir = Path(run_dir)
    if (run_dir / "config.json").exists():
        prepare_run_dir(cfg, run_dir)  # only checks that it is the same run
    meta = read_meta(run_dir)
    if meta.get("status") == "done":
        return meta
    images = training_images(cfg, data_dir)  # the data is checked before anything is written
    src = data.source_of(cfg.data, data_dir)
    data_sha256 = data.check_unchanged(meta.get("data_sha256"), src, run_dir, "resuming it")
    n, bs = images.shape[0], cfg.train.batch_size
    steps_per_epoch = n // bs
    prepare_run_dir(cfg, run_dir)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    images = images.to(device)

    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model_name, cfg.model, src.shape).to(device)
    opts = model.make_optimizers()
    batch_gen = torch.Generator().manual_seed(cfg.train.seed)
    p, state = restore(run_dir, model, opts, batch_gen)
    metrics_path = run_dir / "metrics.jsonl"
    truncate_metrics(metrics_path, p.step)  # lines after the checkpoint are re-made identically
    flops = mark_running(run_dir, cfg, meta, model, images, device, p, state is not None, data_sha256)
    wall = float(meta.get("wall_s", 0.0))
    fixed = sample_noise_generator(cfg.train.seed)
    fixed_noise_state = fixed.get_state()

    def save(epoch_start_state):
        try:
            checkpoint.save(run_dir, p.step, _payload(model, opts, epoch_start_state, p))
        except GenlabError as e:  # disk full, read-only folder: the previous checkpoint is intact
            update_meta(run_dir, status="interrupted", error=str(e), wall_s=wall + time.perf_counter() - t_start)
            raise
        protect = {p.best[0]} if p.best[0] is not None else set()
        checkpoint.prune(run_dir, cfg.train.keep_checkpoints, protect)
        # the training time up to this checkpoint: what a resume after a crash (not only a Ctrl-C) starts from
        update_meta(run_dir, wall_s=wall + time.perf_counter() - t_start)

    def grid_and_hook() -> tuple[torch.Tensor, dict[str, float]]:
        """The fixed-noise grid and the epoch hook's metrics, outside the training RNG stream."""
        with torch.random.fork_rng(devices=[]):
            model.eval()
            fixed.set_state(fixed_noise_state)
            grid = model.sample(64, fixed)
            extra = epoch_hook(model, p.epoch) if epoch_hook else {}
            model.train()
        return grid, extra

    model.train()
    total_steps = cfg.train.epochs * steps_per_epoch
    t_start = time.perf_counter()
    with StopFlag() as stop, bar(total=total_steps, initial=p.step, desc=run_dir.name, unit="step") as pb:
        while p.epoch < cfg.train.epochs:
            epoch_start_state = batch_gen.get_state()
            perm = torch.randperm(n, generator=batch_gen)
            t_log, n_log = time.perf_counter(), 0
            while p.pos < steps_per_epoch:
                if cfg.train.lr_rampdown:
                    schedules.set_lr_factor(opts, schedules.rampdown_factor(p.step, total_steps, cfg.train.lr_rampdown))
                x = data.to_unit(images[perm[p.pos * bs : (p.pos + 1) * bs].to(device)])
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.train.amp):
                    losses = {k: float(v) for k, v in model.train_step(x, opts).items()}
                p.pos, p.step, n_log = p.pos + 1, p.step + 1, n_log + bs
                bad = [k for k, v in losses.items() if not math.isfinite(v)]
                if bad:
                    wall += time.perf_counter() - t_start
                    append_jsonl(metrics_path, {"step": p.step, "epoch": p.epoch, "event": "diverged", **losses})
                    return update_meta(
                        run_dir,
                        status="diverged",
                        diverged_step=p.step,
                        diverged_losses=bad,
                        wall_s=wall,
                        finished=now(),
                    )
                for k, v in losses.items():
                    p.sums[k] = p.sums.get(k, 0.0) + v
                if p.step % cfg.train.log_every == 0:
                    rate = n_log / max(time.perf_counter() - t_log, 1e-9)
                    log_step(metrics_path, loggers, pb, p, steps_per_epoch, losses, rate)
                    t_log, n_log = time.perf_counter(), 0
                pb.update(1)
                every = cfg.train.checkpoint_every
                if stop.raised or (every and p.step % every == 0 and p.pos < steps_per_epoch):
                    save(epoch_start_state)
                    if stop.raised:
                        wall += time.perf_counter() - t_start
                        update_meta(run_dir, status="interrupted", wall_s=wall, step=p.step)
                        raise Interrupted(f"stopped at step {p.step}; the same command resumes from there")
            # end of epoch: mean losses, fixed-noise samples, optional hook (e.g. cheap FID), checkpoint
            p.epoch += 1
            grid, extra = grid_and_hook()
            end_epoch(run_dir, cfg, metrics_path, loggers, p, steps_per_epoch, grid, extra)
            save(batch_gen.get_state())
    wall += time.perf_counter() - t_start
    return update_meta(
        run_dir,
        status="done",
        wall_s=wall,
        finished=now(),
        step=p.step,
        train_flops=flops * p.step,
        best_step=p.best[0],
        best_fid_epoch=p.best[1],
        images_per_s=round(p.step * bs / max(time.perf_counter() - t_start, 1e-9), 1) if state is None else None,
    )


def mark_running(
    run_dir: Path, cfg: RunConfig, meta: dict, model, images, device, p: Progress, resumed: bool, data_sha256
):
    """meta.json of a run that is (again) training: what, where, on which data, from which step, and the FLOPs of
    one training step (counted once on copies, genlab.train.compute; the run itself is untouched), which it returns."""
    n, bs = images.shape[0], cfg.train.batch_size
    flops = meta.get("train_flops_per_step")
    if flops is None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.train.amp):
            flops = compute.train_step_flops(model, data.to_unit(images[:bs]))
    update_meta(
        run_dir,
        status="running",
        run_name=run_dir.name,
        model=cfg.model_name,
        family=model.family,
        dataset=cfg.data.dataset,
        z_dim=cfg.z_dim,
        seed=cfg.train.seed,
        started=meta.get("started", now()),
        environment=environment(),
        data_sha256=data_sha256,
        n_train=n,
        steps_per_epoch=n // bs,
        resumed_from_step=p.step if resumed else None,
        device=str(device),
        train_flops_per_step=flops,
    )
    return flops


def log_step(metrics_path: Path, loggers, pb, p: Progress, steps_per_epoch: int, losses: dict, rate: float) -> None:
    """One step's line in metrics.jsonl, the loggers and the progress bar."""
    line = {"step": p.step, "epoch": p.epoch + p.pos / steps_per_epoch, **losses, "images_per_s": round(rate, 1)}
    append_jsonl(metrics_path, line)
    for lg in loggers or []:
        lg.on_step(p.step, line)
    pb.set_postfix({**{k: f"{v:.3g}" for k, v in losses.items()}, "img/s": f"{rate:.0f}"})


def end_epoch(
    run_dir: Path, cfg: RunConfig, metrics_path: Path, loggers, p: Progress, steps_per_epoch: int, grid, extra: dict
) -> None:
    """An epoch's record (mean losses, the hook's metrics, whether it is the best so far), its grid, the loggers;
    then the running sums start again."""
    record = {
        "step": p.step,
        "epoch": p.epoch,
        "event": "epoch",
        **{f"mean_{k}": v / steps_per_epoch for k, v in p.sums.items()},
    }
    record.update(extra)
    save_epoch_grid(run_dir, cfg, grid, p.epoch)
    if "fid_epoch" in extra and (p.best[1] is None or extra["fid_epoch"] < p.best[1]):
        p.best = (p.step, extra["fid_epoch"])
    if p.best[0] == p.step:
        record["best"] = True
    append_jsonl(metrics_path, record)
    for lg in loggers or []:
        lg.on_epoch(p.epoch, p.step, record, grid)
    p.pos, p.sums = 0, {}


def save_epoch_grid(run_dir: Path, cfg: RunConfig, grid: torch.Tensor, epoch: int) -> None:
    from genlab.report import viz  # figures are optional for the loop's logic; imported where used

    title = f"{data.slug(cfg.data.dataset)} · {cfg.model_name.upper()} z={cfg.z_dim} · epoch {epoch} · fixed noise"
    viz.save_png(viz.titled(viz.grid(grid), title), run_dir / "figures" / "epochs" / f"samples-epoch-{epoch:03d}.png")


def read_config(run_dir: Path) -> RunConfig:
    """The run's config.json, validated like any user input (a shared run dir is untrusted)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise GenlabError(f"{run_dir} has no config.json; pass a run dir made by 'genlab train' or 'genlab study'")
    return from_json(read_text(path, "the run's config"), str(path))
