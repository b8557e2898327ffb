"""Wall time of a whole study (default: the 12-run GAN-vs-VAE `lab` study, quick profile), median of n runs.

Each repeat runs `python -m genlab study` in a fresh runs folder; the judge networks are trained once
beforehand (they are cached and shared, as for a user after the first study), and that one-time cost is
printed separately. Prints hardware and versions, and where the run-seconds went (training, figures, evaluation:
meta.json's wall_s, figures_s, eval_s).

    .venv/bin/python bench/study_time.py --profile quick --repeats 3
    .venv/bin/python bench/study_time.py --profile full --repeats 1 --keep /tmp/full-study
    .venv/bin/python bench/study_time.py --repeats 1 -- --gan.d_width=128   # overrides passed to genlab study
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from genlab import data
from genlab.eval import features
from genlab.store.runs import environment, read_meta

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", default="lab")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--models", default="gan,vae", help="the 12-run study of issue #2 by default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", default=os.environ.get("GENLAB_DATA"))
    ap.add_argument("--workers", help="passed to genlab study (default: its own default, one per core)")
    ap.add_argument("--executor", default="local", help="local or ray (passed to genlab study)")
    ap.add_argument("--keep", type=Path, help="keep each repeat's study here (DIR/repeat-N) to look at it")
    ap.add_argument("overrides", nargs="*", help="after --: settings passed to genlab study, e.g. --gan.d_width=128")
    a = ap.parse_args()
    if a.keep and a.keep.exists() and any(a.keep.iterdir()):
        sys.exit(f"--keep {a.keep} is not empty: a study there would be resumed, not timed; pick a new folder")
    env = environment()
    print(
        f"# genlab study wall time · {env['cpu']} · {env['cpu_count']} cores · torch {env['torch']} "
        f"({env['torch_threads']} threads) · python {env['python']} · genlab {env['genlab']} {env['git_sha'] or ''}"
    )
    t = time.perf_counter()
    for ds in ("mnist", "fashion-mnist"):
        features.get_judge(data.source(ds, a.data_dir))
    print(f"judges ready in {time.perf_counter() - t:.1f}s (one-time, cached in {features.cache_dir()})")
    walls, train_s = [], []
    for r in range(a.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            if a.keep:
                (a.keep / f"repeat-{r + 1}").mkdir(parents=True, exist_ok=True)
            runs = str(a.keep / f"repeat-{r + 1}") if a.keep else tmp
            cmd = (
                [
                    sys.executable,
                    "-m",
                    "genlab",
                    "study",
                    a.study,
                    "--profile",
                    a.profile,
                    "--models",
                    a.models,
                    "--runs-dir",
                    runs,
                ]
                + (["--data-dir", a.data_dir] if a.data_dir else [])
                + (["--workers", a.workers] if a.workers else [])
                + ["--executor", a.executor]
                + a.overrides
            )
            t = time.perf_counter()
            subprocess.run(cmd, check=True, env={**os.environ, "GENLAB_QUIET": "1"}, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t)
            study = Path(runs) / f"{a.study}-{a.profile}"
            names = json.loads((study / "study.json").read_text())["runs"]
            metas = [read_meta(study / n) for n in names]
            train_s.append(sum(m.get("wall_s", 0.0) for m in metas))
            fig_s, eval_s = (sum(m.get(k, 0.0) for m in metas) for k in ("figures_s", "eval_s"))
            busy = train_s[-1] + fig_s + eval_s  # run-seconds summed over the workers that ran side by side
            print(
                f"repeat {r + 1}: {walls[-1]:.1f}s total ({len(names)} runs); of the run-seconds summed over "
                f"workers: training {train_s[-1]:.1f}s ({train_s[-1] / busy:.0%}, with the per-epoch FID), "
                f"figures {fig_s:.1f}s ({fig_s / busy:.0%}), evaluation {eval_s:.1f}s ({eval_s / busy:.0%})"
            )
    print(
        f"{a.study} {a.profile} ({a.models}, {a.executor} executor, workers {a.workers or 'default'}"
        f"{', ' + ' '.join(a.overrides) if a.overrides else ''}): median {statistics.median(walls):.1f}s total "
        f"(min {min(walls):.1f}, max {max(walls):.1f}, n={len(walls)}); training median "
        f"{statistics.median(train_s):.1f}s"
    )


if __name__ == "__main__":
    main()
