"""Cost of the judge's outlier exposure: one training step of judge v3 (128 real images, half blurred, plus 32
junk images, half blurred) against one step of judge v1 (128 real images), side by side in one process.

A ratio measured in one run survives a busy or different machine; multiply it by the v1 judges' measured
training time (~5 min for both on 2 cores, docs/results.md) for the v3 estimate.

    .venv/bin/python bench/judge_cost.py [--steps 40] [--repeats 5] [--data-dir DIR]
    .venv/bin/python bench/judge_cost.py --pool    # measuring: the judge's pooling as strided maxima vs max_pool2d
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from genlab import data
from genlab.eval import features, junk
from genlab.store.runs import environment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data-dir")
    ap.add_argument("--pool", action="store_true", help="time judge inference with either pooling instead")
    a = ap.parse_args()
    images, labels = data.source("mnist", a.data_dir).load("train")
    env = environment()
    if a.pool:
        return pool(images, a.repeats, env)
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


def pool(images: torch.Tensor, repeats: int, env: dict) -> None:
    """Judge features and probabilities of 10,000 images with features.MaxPool2's fast path and with torch's
    max_pool2d (the same module with gradients on), interleaved; the outputs must be identical."""
    print(f"# judge inference, pooling · {env['cpu']} · torch {env['torch']} ({torch.get_num_threads()} threads)")
    model = features.Judge(10).eval()
    x = data.to_unit(images[:10_000])

    def slow_pool(m: torch.nn.Module, inp: tuple, out: torch.Tensor) -> torch.Tensor:  # max_pool2d, any grad mode
        return F.max_pool2d(inp[0], 2)

    pools = [m for m in model.modules() if isinstance(m, features.MaxPool2)]
    times: dict[str, list[float]] = {"strided maxima": [], "max_pool2d": []}
    outs = {}
    for r in range(repeats + 1):
        for kind in times:
            hooks = [p.register_forward_hook(slow_pool) for p in pools] if kind == "max_pool2d" else []
            t = time.perf_counter()
            outs[kind] = model.features_and_probs(x)
            if r:
                times[kind].append(time.perf_counter() - t)
            for h in hooks:
                h.remove()
    fast, slow = statistics.median(times["strided maxima"]), statistics.median(times["max_pool2d"])
    same = all(torch.equal(a, b) for a, b in zip(outs["strided maxima"], outs["max_pool2d"]))
    print(
        f"10,000 images: strided maxima median {fast:.2f} s, max_pool2d {slow:.2f} s, ratio {slow / fast:.2f}; "
        f"outputs identical: {same} (n={repeats})"
    )


if __name__ == "__main__":
    main()
