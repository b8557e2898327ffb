"""Ray's overhead against the local worker pool: the same study, run alternately by both executors.

Each repeat runs `genlab study` once with `--executor local` and once with `--executor ray` (a local Ray
with this machine's cores), in fresh folders, alternating so both see the same machine noise. Prints the
median wall time of each, Ray's overhead per run (seconds and % of the local wall time), and whether both
executors wrote identical metrics (eval.json 'metrics', same seeds and one torch thread per run).

    .venv/bin/python bench/ray_overhead.py --models vae --repeats 2
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
from genlab.store.runs import environment

ROOT = Path(__file__).resolve().parents[1]


def run_study(executor: str, a, runs: str) -> float:
    cmd = [
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
        "--executor",
        executor,
    ] + (["--data-dir", a.data_dir] if a.data_dir else [])
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "GENLAB_QUIET": "1"}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def metrics(study: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text())["metrics"] for p in sorted(study.glob("*/eval.json"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", default="lab")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--models", default="vae")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data-dir", default=os.environ.get("GENLAB_DATA"))
    a = ap.parse_args()
    env = environment()
    flags = (
        next(
            (
                line.split(":", 1)[1].split()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("flags")
            ),
            [],
        )
        if Path("/proc/cpuinfo").exists()
        else []
    )
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    import ray

    print(
        f"# Ray vs local executor · {env['cpu']} ({simd}) · {env['cpu_count']} cores · torch {env['torch']} · "
        f"ray {ray.__version__} · python {env['python']} · genlab {env['genlab']} {env['git_sha'] or ''}"
    )
    for ds in ("mnist", "fashion-mnist"):
        features.get_judge(data.source(ds, a.data_dir))  # cached before timing, as for a user after the first study
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    same = []
    n_runs = 0
    for r in range(a.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            got = {}
            for executor in ("local", "ray") if r % 2 == 0 else ("ray", "local"):
                runs = str(Path(tmp) / executor)
                walls[executor].append(run_study(executor, a, runs))
                got[executor] = metrics(Path(runs) / f"{a.study}-{a.profile}")
                print(f"repeat {r + 1} {executor}: {walls[executor][-1]:.1f}s ({len(got[executor])} runs)")
            n_runs = len(got["local"])
            same.append(got["local"] == got["ray"])
    local, ray_ = statistics.median(walls["local"]), statistics.median(walls["ray"])
    per_run = (ray_ - local) / max(1, n_runs)
    print(
        f"{a.study} {a.profile} ({a.models}, {n_runs} runs): local median {local:.1f}s, ray median {ray_:.1f}s "
        f"(n={a.repeats} each); Ray overhead {ray_ - local:+.1f}s = {per_run:+.2f}s per run = "
        f"{100 * (ray_ - local) / local:+.1f}% of the local wall time; identical metrics in every repeat: "
        f"{all(same)}"
    )


if __name__ == "__main__":
    main()
