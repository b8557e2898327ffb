"""A Ray worker_process_setup_hook for tests (tests/test_ray.py's local Ray installs it): with
GENLAB_TEST_DIE_AT_STEP=N in a task's environment (the executor forwards every GENLAB_* variable), the first attempt
of each run dies (os._exit) at training step N, as a killed node would; the retry finds the marker and lives."""

from __future__ import annotations

import os
from pathlib import Path

DIE_AT_STEP = "GENLAB_TEST_DIE_AT_STEP"


def _die_at(step: int, marker: Path) -> None:
    from genlab.models import MODELS

    for cls in MODELS.values():
        real = cls.train_step

        def dying(self, x, opt, _real=real, _n=[0]):  # noqa: B006 - the list is the closure's step counter
            _n[0] += 1
            if _n[0] == step:
                marker.write_text("died once\n")
                os._exit(1)
            return _real(self, x, opt)

        cls.train_step = dying


def die_once_setup() -> None:
    step = int(os.environ.get(DIE_AT_STEP, "0") or 0)
    if not step:
        return
    from genlab.study import one_run

    real = one_run.run_one

    def run_one(cfg, run_dir, *args, **kwargs):
        marker = Path(run_dir).with_name(Path(run_dir).name + ".died-once")
        if not marker.exists():
            _die_at(step, marker)
        return real(cfg, run_dir, *args, **kwargs)

    one_run.run_one = run_one
