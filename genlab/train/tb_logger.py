"""TensorBoard logging for a run (optional extra: `pip install 'genlab[tensorboard]'`), off by default.

    genlab train --model gan --tensorboard      then   tensorboard --logdir runs/
    genlab study lab --tensorboard

Writes into RUN_DIR/tb/: every logged step's losses, D outputs and images/s (`train/…`), each epoch's mean
losses and per-epoch FID (`epoch/…`), the fixed-noise grid per epoch (`samples/fixed_noise`), and after
evaluation the run's hyperparameters with its final metrics (`hparam/…`, TensorBoard's HPARAMS tab). It hangs
off the training loop's logger hook (`loop.Logger`); metrics.jsonl stays the record genlab itself reads.
A flag rather than a config key: logging does not change a run, so a study resumed with or without it is the
same study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.core.errors import GenlabError
from genlab.core.safeio import printable

TB_DIR = "tb"


def check_available():
    """torch's SummaryWriter class, or one line naming the extra to install (called before anything trains)."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter
    except (ImportError, ModuleNotFoundError):
        raise GenlabError("--tensorboard needs TensorBoard: pip install 'genlab[tensorboard]'") from None
    return SummaryWriter


def writer(run_dir: Path):
    return check_available()(log_dir=str(Path(run_dir) / TB_DIR))


def scalars(record: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in record.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "epoch")
    }


class TensorBoardLogger:
    """The loop's logger hook: on_step, on_epoch, close."""

    def __init__(self, run_dir: Path):
        self.run_dir, self._w = Path(run_dir), None
        tb = self.run_dir / TB_DIR
        if tb.exists() and not tb.is_dir() or tb.is_symlink():  # checked before the run starts, not mid-run
            raise GenlabError(f"{printable(tb)} exists and is not a folder; move it away, or run without --tensorboard")

    @property
    def w(self):
        if self._w is None:  # opened at the first event: nothing is written before the run's inputs are checked
            self._w = writer(self.run_dir)
        return self._w

    def on_step(self, step: int, record: dict[str, Any]) -> None:
        for k, v in scalars(record).items():
            self.w.add_scalar(f"train/{k}", v, step)

    def on_epoch(self, epoch: int, step: int, record: dict[str, Any], grid: torch.Tensor) -> None:
        for k, v in scalars(record).items():
            self.w.add_scalar(f"epoch/{k}", v, epoch)
        from genlab.report import viz

        img = torch.tensor(np.array(viz.grid(grid))).float().div(255).unsqueeze(0)  # (1, H, W) in [0, 1]
        self.w.add_image("samples/fixed_noise", img, epoch)
        self.w.flush()

    def close(self) -> None:
        if self._w is not None:
            self._w.close()


def log_final(run_dir: Path, config: dict[str, Any], result: dict[str, Any]) -> None:
    """The run's hyperparameters beside its final metrics, for TensorBoard's HPARAMS tab."""
    hparams = {}
    for section, values in config.items():
        for k, v in values.items() if isinstance(values, dict) else []:
            if isinstance(v, (int, float, str, bool)):
                hparams[f"{section}.{k}"] = v
    metrics = {
        f"hparam/{k}": float(v)
        for k, v in result.get("metrics", {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    w = writer(run_dir)
    w.add_hparams(hparams, metrics, run_name=".")
    w.close()
