"""Training throughput of GAN recipes (images/s per torch thread count), side by side in one process.

The cost half of the FID-vs-time frontier (docs/results.md): which generator/discriminator sizes and recipe
pieces a 10-epoch study can afford on a laptop CPU. Quality comes from the `recipes` study.

    .venv/bin/python bench/gan_speed.py [--threads 1] [--repeats 5] [--steps 30] [--case "arch=conv,width=256"]...
    .venv/bin/python bench/gan_speed.py --layout --case "arch=conv,width=256@32"   # NCHW vs NHWC, interleaved
"""

from __future__ import annotations

import argparse
import statistics

import torch
from throughput import measure

from genlab.models import build_model
from genlab.models import nn as gnn
from genlab.store.runs import environment
from genlab.train.config import make_config

CASES = [  # model overrides, batch size
    ("arch=mlp", 128),  # the baseline
    ("arch=conv,width=128", 128),
    ("arch=conv,width=256", 128),
    ("arch=conv,width=384", 128),
    ("arch=conv,width=512", 128),
    ("arch=conv,width=256", 64),
    ("arch=conv,width=256", 256),
    ("arch=conv,width=256,ema_nimg=10000", 128),
    ("arch=conv,width=256,d_sn=true", 128),
    ("arch=conv,width=256,r1_gamma=1", 128),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a study worker uses 1 on 2 cores)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument(
        "--layout",
        action="store_true",
        help="time each case with G's activations in NCHW and in NHWC (channels_last), repeats interleaved",
    )
    ap.add_argument(
        "--case",
        action="append",
        help="model overrides 'k=v,k=v' (repeatable; default: a built-in list); append '@B' for batch size B",
    )
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cases = [(c.split("@")[0], int(c.split("@")[1]) if "@" in c else 128) for c in a.case] if a.case else CASES
    images = torch.randint(0, 256, (20_000, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    env = environment()
    print(
        f"# GAN recipe throughput · {env['cpu']} · {env['cpu_count']} cores · torch {env['torch']} "
        f"({torch.get_num_threads()} threads) · genlab {env['genlab']} {env['git_sha'] or ''}"
    )
    print(f"# median of {a.repeats} repeats x {a.steps} steps (z 64); spread = min..max; 10 epochs = 600,000 images")
    layouts = [False, True] if a.layout else [gnn.CHANNELS_LAST]
    print("| case | layout | batch | median img/s | spread | 10 epochs (min) |\n| --- | --- | --- | --- | --- | --- |")
    for overrides, bs in cases:
        cfg = make_config("gan", "mnist", ["model.z_dim=64", *(f"model.{o}" for o in overrides.split(",") if o)])
        rates: dict[bool, list[float]] = {cl: [] for cl in layouts}
        for _ in range(a.repeats):  # interleaved, so drift in the machine's speed hits both layouts alike
            for cl in layouts:
                gnn.CHANNELS_LAST = cl
                torch.manual_seed(0)
                rates[cl] += measure(build_model("gan", cfg.model), bs, a.steps, 1, images)
        for cl, r in rates.items():
            med = statistics.median(r)
            print(
                f"| {overrides} | {'NHWC' if cl else 'NCHW'} | {bs} | {med:.0f} | {min(r):.0f}..{max(r):.0f} | "
                f"{600_000 / med / 60:.1f} |",
                flush=True,
            )
        if a.layout:
            print(f"# NHWC / NCHW images/s: {statistics.median(rates[True]) / statistics.median(rates[False]):.2f}")


if __name__ == "__main__":
    main()
