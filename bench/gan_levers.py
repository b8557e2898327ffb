"""Issue 27 part 2: the GAN step's per-op overhead levers, side by side in one process, round-robin repeats.

Each lever is the study's GAN (a profile's config, z 64 on MNIST by default) with one change, built from the same
seed, timed on the same random batches:

  eager           the step as genlab runs it (the baseline)
  compile         torch.compile of G and D (CPU inductor, default mode); its compile time is reported apart,
                  against the run's length (steps per run of the profile). Compiled autograd has no double
                  backward, which R1 needs, so the R1 penalty (every 16th step) runs D eagerly
  compile-g       torch.compile of G alone
  no-ema          without the weight average's per-step lerp over G's parameters (what the EMA costs)
  no-r1           without the lazy R1 penalty (what it costs, amortised over its period)

`ms/step` is the median over repeats; `vs eager` the ratio of medians measured in the same rounds. Bit-identity
is not checked here: a lever worth keeping gets a resume test first.

    .venv/bin/python bench/gan_levers.py [--profile quick] [--z 64] [--repeats 5] [--steps 48] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import statistics
import sys
import time

import torch
from roofline import batches, cpu_flags  # bench/roofline.py

from genlab.models import build_model, gan
from genlab.store.runs import environment
from genlab.study.studies import expand, get_profile, get_study

SHAPE = (1, 28, 28)
LEVERS = ("eager", "compile", "compile-g", "no-ema", "no-r1")


def gan_config(profile: str, z: int):
    """The lab study's GAN config at latent size z under a profile (the first dataset, seed 0)."""
    runs = expand(get_study("lab"), get_profile(profile), 1)
    for r in runs:
        if r.cfg.model_name == "gan" and r.cfg.model.z_dim == z and r.cfg.data.dataset == "mnist":
            return r.cfg
    sys.exit(f"no GAN with z {z} in the lab study's {profile} profile")


def build(cfg, lever: str):
    """(model, optimizers, step function) for one lever, from the config's seed."""
    mcfg = cfg.model
    if lever == "no-ema":
        mcfg = dataclasses.replace(mcfg, ema_nimg=0)
    if lever == "no-r1":
        mcfg = dataclasses.replace(mcfg, r1_gamma=0.0)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model_name, mcfg, SHAPE)
    model.train()
    opts = model.make_optimizers()
    step = model.train_step
    if lever.startswith("compile"):
        model.generator = torch.compile(model.generator)
    if lever == "compile":
        eager_d = model.discriminator
        model.discriminator = torch.compile(eager_d)
        step = functools.partial(eager_r1, model.train_step, eager_d)
    return model, opts, step


def eager_r1(train_step, eager_d, x, opts):
    """train_step with the R1 penalty taken through the eager D (compiled autograd cannot differentiate twice)."""
    real = gan.r1_penalty
    gan.r1_penalty = lambda _d, x_real: real(eager_d, x_real)
    try:
        return train_step(x, opts)
    finally:
        gan.r1_penalty = real


def run(step, opts, xs, n: int, start: int = 0) -> None:
    for s in range(n):
        {k: float(v) for k, v in step(xs[(start + s) % len(xs)], opts).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--z", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=48, help="timed steps per repeat (a multiple of R1's period, 16)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--levers", default=",".join(LEVERS))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = gan_config(a.profile, a.z)
    env = environment()
    print(f"# GAN step levers · {time.strftime('%Y-%m-%d %H:%M %z')} · genlab {env['genlab']} {env['git_sha'] or ''}")
    print(
        f"# {env['cpu']} · {env['cpu_count']} cores · flags: {cpu_flags()} · torch {env['torch']} · "
        f"{torch.get_num_threads()} threads · capability {torch.backends.cpu.get_cpu_capability()}"
    )
    xs = batches(cfg.train.batch_size)
    steps_per_run = cfg.train.epochs * math.ceil(60_000 / cfg.train.batch_size)
    print(f"# {a.profile} profile, GAN z {a.z}, batch {cfg.train.batch_size}, {steps_per_run} steps per run")
    state, compile_s = {}, {}
    for lever in a.levers.split(","):
        print(f"# preparing {lever} ...", file=sys.stderr, flush=True)
        model, opts, step = build(cfg, lever)
        t = time.perf_counter()
        run(step, opts, xs, 32)  # warm-up; for the compiled levers, the compilation (2 R1 periods)
        compile_s[lever] = time.perf_counter() - t
        state[lever] = (model, opts, step)
    ms: dict[str, list[float]] = {k: [] for k in state}
    for r in range(a.repeats):
        print(f"# round {r + 1}/{a.repeats}", file=sys.stderr, flush=True)
        for lever, (_, opts, step) in state.items():
            run(step, opts, xs, 1)
            t = time.perf_counter()
            run(step, opts, xs, a.steps, 1)
            ms[lever].append(1000 * (time.perf_counter() - t) / a.steps)
    base = statistics.median(ms["eager"]) if "eager" in ms else float("nan")
    print(f"# median of {a.repeats} repeats x {a.steps} steps, round-robin; spread = min..max")
    print(f"{'lever':<14}{'ms/step':>9}{'spread':>15}{'vs eager':>10}{'warm-up s':>11}{'share of run':>14}")
    for lever, v in ms.items():
        med = statistics.median(v)
        run_s = med / 1000 * steps_per_run
        extra = compile_s[lever] - 32 * med / 1000
        print(
            f"{lever:<14}{med:>9.2f}{f'{min(v):.2f}..{max(v):.2f}':>15}{base / med:>9.2f}x"
            f"{compile_s[lever]:>11.1f}{f'{extra / max(run_s, 1e-9):.0%} extra':>14}"
        )


if __name__ == "__main__":
    main()
