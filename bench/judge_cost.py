"""Cost of the judge's outlier exposure: one training step of judge v3 (128 real images, half blurred, plus 32
junk images, half blurred) against one step of judge v1 (128 real images), side by side in one process.

A ratio measured in one run survives a busy or different machine; multiply it by the v1 judges' measured
training time (~5 min for both on 2 cores, docs/results.md) for the v3 estimate.

    .venv/bin/python bench/judge_cost.py [--steps 40] [--repeats 5] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from genlab import data, features, junk
from genlab.runs import environment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data-dir")
    a = ap.parse_args()
    images, labels = data.source("mnist", a.data_dir).load("train")
    env = environment()
    print(f"# judge training step cost · {env['cpu']} · torch {env['torch']} ({torch.get_num_threads()} threads)")
    g, gj = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    model = features.Judge(10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    def step(with_junk: bool) -> None:
        idx = torch.randint(0, images.shape[0], (128,), generator=g)
        x, y = data.to_unit(images[idx]), labels[idx]
        if with_junk:
            x = junk.random_blur(x, gj)
            src = data.to_unit(images[torch.randint(0, images.shape[0], (features.JUNK_PER_BATCH,), generator=g)])
            x = torch.cat([x, junk.make_junk(src, gj)])
            y = torch.cat([y, torch.full((features.JUNK_PER_BATCH,), 10)])
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times = {False: [], True: []}
    for r in range(a.repeats + 1):
        for kind in (False, True):  # alternate, so drift in the machine's speed hits both alike
            t = time.perf_counter()
            for _ in range(a.steps):
                step(kind)
            if r:
                times[kind].append((time.perf_counter() - t) / a.steps)
    v1, v3 = statistics.median(times[False]), statistics.median(times[True])
    print(
        f"v1 step (128 real): median {1000 * v1:.1f} ms; v3 step (128 real + 32 junk, blur): median "
        f"{1000 * v3:.1f} ms; ratio {v3 / v1:.2f} (n={a.repeats} x {a.steps} steps each)"
    )


if __name__ == "__main__":
    main()
