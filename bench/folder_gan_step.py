"""Issue 26 part 6: what the image-folder GAN recipe costs per training step, piece by piece, side by side.

The quick profile's GAN (z 32, batch 32, G 2 x 256, D width 128) with the folder default (config.FOLDER_DEFAULTS:
conv D + DiffAugment color, translation, cutout) and with one piece taken away at a time, built from the same seed
and timed round-robin on the same random 1 x 28 x 28 batches (the folder's default conversion), then
`torch.profiler` over the default's steps: where a folder run's training time goes.

    .venv/bin/python bench/folder_gan_step.py [--repeats 5] [--steps 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from roofline import batches, cpu_flags, run_steps  # bench/roofline.py

from genlab.models import build_model
from genlab.store.runs import environment
from genlab.train.config import make_config

QUICK_GAN = ("model.g_layers=2", "model.width=256", "model.d_width=128", "model.z_dim=32", "train.batch_size=32")
ARMS = {
    "folder default (conv D + DiffAugment)": ("model.d_arch=conv", "model.augment=color,translation,cutout"),
    "conv D, no augmentation": ("model.d_arch=conv", "model.augment="),
    "conv D + DiffAugment, no R1": ("model.d_arch=conv", "model.augment=color,translation,cutout", "model.r1_gamma=0"),
    "MLP D (the MNIST recipe)": ("model.d_arch=mlp", "model.augment="),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=32, help="timed steps per repeat (a multiple of R1's period, 16)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    env = environment()
    print(f"# folder GAN step · {time.strftime('%Y-%m-%d %H:%M %z')} · genlab {env['genlab']} {env['git_sha'] or ''}")
    print(
        f"# {env['cpu']} · {env['cpu_count']} cores · flags: {cpu_flags()} · torch {env['torch']} · {a.threads} threads"
    )
    xs = batches(32)
    built = {}
    for name, over in ARMS.items():
        torch.manual_seed(0)
        model = build_model("gan", make_config("gan", "mnist", [*QUICK_GAN, *over]).model).train()
        opts = model.make_optimizers()
        run_steps(model, opts, xs, 16, 0)  # warm-up: one R1 period
        built[name] = (model, opts)
    ms: dict[str, list[float]] = {k: [] for k in built}
    for _ in range(a.repeats):
        for name, (model, opts) in built.items():
            t = time.perf_counter()
            run_steps(model, opts, xs, a.steps, 0)
            ms[name].append(1000 * (time.perf_counter() - t) / a.steps)
    base = statistics.median(ms[next(iter(ms))])
    print(f"# median of {a.repeats} repeats x {a.steps} steps, round-robin; spread = min..max")
    print(f"{'recipe':<42}{'ms/step':>9}{'spread':>15}{'vs default':>12}")
    for name, v in ms.items():
        med = statistics.median(v)
        print(f"{name:<42}{med:>9.2f}{f'{min(v):.2f}..{max(v):.2f}':>15}{base / med:>11.2f}x")
    model, opts = built[next(iter(built))]
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run_steps(model, opts, xs, a.steps, 0)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
