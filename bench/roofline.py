"""Roofline of the training step: counted FLOPs, time and achieved GFLOP/s of each family's step, against the
GEMM peak of this CPU measured in the same process (issue 27).

For every model of a study (default `families`: GAN z 64, VAE and VAE-GAN z 16, pixel flow z 784) under the
profiles `quick` and `full`, and the registry's defaults (batch 128), one row: FLOPs of a training step (counted
with torch's flop formulas, genlab.train.compute), ms per step (the real `train_step` with the real optimizers,
on random images in [-1, 1]), the GFLOP/s that makes, and what share of two peaks it is:

  mm 1024^3    torch.mm of two 1024 x 1024 matrices: what the BLAS does at its best
  own shapes   every counted op of the step (the matrix products of forward and backward: addmm, mm), replayed
               alone at its own shapes and strides on random tensors: the step's FLOPs over the sum of those
               times. `fwd` replays the forward ops only (the Linear layers at the batch each one really sees)

`% own` is then the share of the step's time spent in its matrix products; the rest is elementwise work,
optimizer, autograd and Python. Repeats run round-robin over the cases (and the peaks are re-measured each
round), so drift in the machine's speed hits all alike; every figure is the median over repeats.

    .venv/bin/python bench/roofline.py [--repeats 5] [--steps 40] [--models gan,vae] [--threads 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import flop_registry

from genlab.models import MODELS, build_model
from genlab.store.runs import environment
from genlab.study.studies import expand, get_profile, get_study
from genlab.train.compute import FlopCount, train_step_flops
from genlab.train.config import make_config

SHAPE = (1, 28, 28)
PEAK_N = 1024
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def cpu_flags() -> str:
    """The SIMD flags that matter to an fp32/bf16 GEMM, as /proc/cpuinfo lists them (Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    have = set(line.partition(":")[2].split())
    return " ".join(f if f in have else f"-{f}" for f in FLAGS)


def blas() -> str:
    """torch's BLAS and oneDNN builds, from its build configuration."""
    cfg = torch.__config__.show()
    out = [ln.strip(" -") for ln in cfg.splitlines() if "Math Kernel Library" in ln or "MKL-DNN" in ln]
    return "; ".join(s.split(" for ")[0] for s in out) or "unknown BLAS"


# --- the cases -------------------------------------------------------------------------------------------------


@dataclass
class Case:
    model: str
    profiles: list[str]
    cfg: object  # RunConfig
    batch: int
    period: int = 1  # steps after which the step's work repeats (the lazy R1 penalty's r1_every)
    steps: int = 0  # timed steps per repeat, a multiple of period
    flops_meta: int = 0  # compute.train_step_flops: what meta.json records (R1 counted on every step)
    flops_mean: float = 0.0  # counted over one period of real steps: the mean the timed steps do
    calls: list = field(default_factory=list)  # [(func, args, kwargs, flops, in_backward, count)] over one period
    ms: list = field(default_factory=list)  # per repeat: ms per step
    own_ms: list = field(default_factory=list)  # per repeat: the counted ops replayed alone, ms per step
    fwd: list = field(default_factory=list)  # per repeat: (forward ops' FLOPs, their replayed seconds) per step
    finite: bool = True


def cases_of(study_name: str, profiles: list[str], models: list[str] | None) -> list[Case]:
    """One case per (model, its config, batch): the study's arms on its first dataset under each profile, and
    the registry's defaults; rows with the same model config and batch are one case listing every profile."""
    study = get_study(study_name)
    out: dict[tuple, Case] = {}
    for prof in profiles:
        if prof == "default":
            names = dict.fromkeys(study.model_of(arm)[0] for arm in study.arms)
            cfgs = [make_config(name, study.datasets[0]) for name in names]
        else:
            runs = expand(study, get_profile(prof), 1)
            cfgs = [r.cfg for r in runs if r.cfg.data.dataset == study.datasets[0]]
        for cfg in cfgs:
            if models and cfg.model_name not in models:
                continue
            key = (cfg.model_name, cfg.model, cfg.train.batch_size)
            if key in out:
                out[key].profiles.append(prof)
            else:
                out[key] = Case(cfg.model_name, [prof], cfg, cfg.train.batch_size)
    order = list(MODELS)  # the registry's order (gan, vae, vaegan, flow), each model's profiles in the given order
    return sorted(out.values(), key=lambda c: order.index(c.model))


def period_of(cfg) -> int:
    """The lazy R1 penalty runs every r1_every steps (GAN, VAE-GAN): the step's work repeats with that period."""
    m = cfg.model
    return int(getattr(m, "r1_every", 1)) if getattr(m, "r1_gamma", 0) else 1


# --- counting and recording the step's ops ---------------------------------------------------------------------


@dataclass(frozen=True)
class TensorMeta:
    """A recorded tensor argument: what its replay is made of."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype


def _meta(v):
    return TensorMeta(tuple(v.shape), tuple(v.stride()), v.dtype) if isinstance(v, torch.Tensor) else v


class Recorder(FlopCount):
    """compute.FlopCount that also keeps every counted op's signature (shapes, strides, dtypes, other arguments),
    its FLOPs and whether autograd's backward ran it."""

    def __init__(self):
        super().__init__()
        self.calls: dict[tuple, list] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        before = self.total
        out = super().__torch_dispatch__(func, types, args, kwargs)
        if func._overloadpacket in flop_registry:
            a, k = tree_map(_meta, tuple(args)), tree_map(_meta, dict(kwargs or {}))
            key = (func, repr(a), repr(sorted(k.items())), torch._C._current_autograd_node() is not None)
            if key not in self.calls:
                self.calls[key] = [func, a, k, self.total - before, key[3], 0]
            self.calls[key][5] += 1
        return out


def _materialise(v, g: torch.Generator):
    if not isinstance(v, TensorMeta):
        return v
    t = torch.empty_strided(v.shape, v.stride, dtype=v.dtype)
    if t.is_floating_point():  # the whole storage: a stride-0 or transposed view need not cover it in order
        flat = torch.as_strided(t, (t.untyped_storage().nbytes() // t.element_size(),), (1,))
        flat.copy_(torch.randn(flat.shape, generator=g, dtype=v.dtype))
    return t


def replay_seconds(func, args, kwargs, target_s: float = 1e-3, groups: int = 3) -> float:
    """Seconds per call of one recorded op run alone at its own shapes, strides and dtypes: the best of `groups`
    groups of calls lasting ~target_s each (hot caches: the best case for that shape)."""
    g = torch.Generator().manual_seed(0)
    a = tree_map(lambda v: _materialise(v, g), args)
    k = tree_map(lambda v: _materialise(v, g), kwargs)
    t = time.perf_counter()
    func(*a, **k)  # warm-up, and the guess of how many calls fill target_s
    reps = max(2, min(500, math.ceil(target_s / max(time.perf_counter() - t, 1e-7))))
    best = math.inf
    for _ in range(groups):
        t = time.perf_counter()
        for _ in range(reps):
            func(*a, **k)
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def mm_peak(n: int = PEAK_N, calls: int = 5) -> float:
    """GFLOP/s of torch.mm on two n x n fp32 matrices: the fastest of `calls` calls after one warm-up call."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    torch.mm(a, b)
    best = math.inf
    for _ in range(calls):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


# --- timing ----------------------------------------------------------------------------------------------------


def batches(batch: int, n: int = 4) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.rand(batch, *SHAPE, generator=g).mul_(2).sub_(1) for _ in range(n)]


def run_steps(model, opts, xs: list[torch.Tensor], steps: int, start: int) -> bool:
    """`steps` training steps as the loop runs them (genlab.train.loop: train_step, losses read back as floats);
    True when every loss stayed finite."""
    ok = True
    for s in range(steps):
        losses = {k: float(v) for k, v in model.train_step(xs[(start + s) % len(xs)], opts).items()}
        ok = ok and all(math.isfinite(v) for v in losses.values())
    return ok


def prepare(case: Case, steps: int):
    """Build the model and its optimizers as the loop does; count one period of real steps (which warms them up)
    and the meta.json count of a fresh step."""
    torch.manual_seed(case.cfg.train.seed)
    model = build_model(case.model, case.cfg.model, SHAPE)
    model.train()
    opts = model.make_optimizers()
    xs = batches(case.batch)
    case.period = period_of(case.cfg)
    case.steps = case.period * math.ceil(steps / case.period)
    case.flops_meta = train_step_flops(model, xs[0])
    rec = Recorder()
    with rec:
        case.finite = run_steps(model, opts, xs, case.period, 0)
    case.flops_mean = rec.total / case.period
    case.calls = list(rec.calls.values())
    run_steps(model, opts, xs, max(2, case.steps // 4), 0)  # uncounted warm-up, at full speed
    return model, opts, xs


def one_round(case: Case, model, opts, xs) -> None:
    """One repeat of a case: a step untimed (the switch from the previous case), `steps` timed, then the counted
    ops replayed alone."""
    run_steps(model, opts, xs, 1, 0)
    t = time.perf_counter()
    case.finite &= run_steps(model, opts, xs, case.steps, 1)
    case.ms.append(1000 * (time.perf_counter() - t) / case.steps)
    total_s = fwd_s = fwd_f = 0.0
    for func, a, k, flops, backward, count in case.calls:
        s = replay_seconds(func, a, k) * count / case.period
        total_s += s
        if not backward:
            fwd_s, fwd_f = fwd_s + s, fwd_f + flops * count / case.period
    case.own_ms.append(1000 * total_s)
    case.fwd.append((fwd_f, fwd_s))


# --- output ----------------------------------------------------------------------------------------------------


def summary(case: Case, peak: float) -> dict:
    ms = statistics.median(case.ms)
    own_ms = statistics.median(case.own_ms)
    fwd_peak = statistics.median(f / s / 1e9 for f, s in case.fwd if s > 0) if case.fwd else float("nan")
    achieved = case.flops_mean / (ms / 1000) / 1e9
    own_peak = case.flops_mean / (own_ms / 1000) / 1e9
    return {
        "model": case.model,
        "profiles": case.profiles,
        "batch": case.batch,
        "steps": case.steps,
        "period": case.period,
        "mflop_step": case.flops_mean / 1e6,
        "mflop_step_meta": case.flops_meta / 1e6,
        "ms_step": ms,
        "ms_min": min(case.ms),
        "ms_max": max(case.ms),
        "gflops": achieved,
        "pct_mm1024": 100 * achieved / peak,
        "fwd_peak_gflops": fwd_peak,
        "pct_fwd_peak": 100 * achieved / fwd_peak,
        "own_peak_gflops": own_peak,
        "pct_own_peak": 100 * achieved / own_peak,
        "own_ms_step": own_ms,
        "counted_ops": {
            "distinct": len(case.calls),
            "per_period": sum(c[5] for c in case.calls),
            "ops": sorted({str(c[0]) for c in case.calls}),
        },
        "losses_finite": case.finite,
        "config": case.cfg.to_dict(),
        "ms_repeats": case.ms,
        "own_ms_repeats": case.own_ms,
    }


def table(rows: list[dict]) -> str:
    head = (
        "| model | profile | batch | MFLOP/step | meta.json MFLOP | ms/step | spread | GFLOP/s | % mm 1024³ | "
        "fwd-shape peak GFLOP/s | % fwd | own-shape peak GFLOP/s | % own | counted ops alone, ms |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['model']} | {', '.join(r['profiles'])} | {r['batch']} | {r['mflop_step']:.1f} | "
            f"{r['mflop_step_meta']:.1f} | {r['ms_step']:.2f} | {r['ms_min']:.2f}..{r['ms_max']:.2f} | "
            f"{r['gflops']:.1f} | {r['pct_mm1024']:.0f} | {r['fwd_peak_gflops']:.1f} | {r['pct_fwd_peak']:.0f} | "
            f"{r['own_peak_gflops']:.1f} | {r['pct_own_peak']:.0f} | {r['own_ms_step']:.2f} |"
            + ("" if r["losses_finite"] else " (losses went non-finite)")
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per case, round-robin over the cases")
    ap.add_argument("--steps", type=int, default=40, help="steps per repeat (rounded up to the lazy-R1 period, 16)")
    ap.add_argument("--models", help="comma-separated model names (default: every model of the study)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a study worker uses 1 on 2 cores)")
    ap.add_argument("--study", default="families", help="whose arms and latent sizes (default: families)")
    ap.add_argument("--profiles", default="quick,full,default", help="profiles; default = the registry's defaults")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = [m for m in a.models.split(",") if m] if a.models else None
    cases = cases_of(a.study, [p for p in a.profiles.split(",") if p], models)
    if not cases:
        sys.exit(f"no case: --models {a.models} names no model of study {a.study}")
    env = environment()
    date = time.strftime("%Y-%m-%d %H:%M %z")
    print(f"# roofline of the training step · {date} · genlab {env['genlab']} {env['git_sha'] or ''}")
    print(
        f"# {env['cpu']} · {env['cpu_count']} cores · flags: {cpu_flags()} · {platform.machine()}\n"
        f"# torch {env['torch']} · {torch.get_num_threads()} threads · capability "
        f"{torch.backends.cpu.get_cpu_capability()} · {blas()} · fp32",
        flush=True,
    )
    state = []
    for c in cases:
        print(f"# preparing {c.model} ({', '.join(c.profiles)}) ...", file=sys.stderr, flush=True)
        state.append(prepare(c, a.steps))
    peaks = []
    for r in range(a.repeats):  # round-robin: each round times every case once and re-measures the peak
        print(f"# round {r + 1}/{a.repeats}", file=sys.stderr, flush=True)
        peaks.append(mm_peak())
        for c, (model, opts, xs) in zip(cases, state):
            one_round(c, model, opts, xs)
    peak = statistics.median(peaks)
    rows = [summary(c, peak) for c in cases]
    steps = ", ".join(str(s) for s in sorted({c.steps for c in cases}))
    print(
        f"# median of {a.repeats} repeats x {steps} steps, round-robin; "
        f"random images in [-1, 1] of shape {'x'.join(map(str, SHAPE))}; spread = min..max ms\n"
        f"# mm {PEAK_N}³ peak: {peak:.1f} GFLOP/s (median; {min(peaks):.1f}..{max(peaks):.1f}) at "
        f"{torch.get_num_threads()} thread(s)\n"
        "# MFLOP/step: counted (torch's flop formulas: matrix products, forward and backward) over one lazy-R1 "
        "period of real steps, the mean the timed steps do; meta.json MFLOP: compute.train_step_flops, R1 on "
        "every step\n"
        "# fwd / own-shape peak: the step's forward / all counted ops replayed alone at their own shapes; "
        "% own = the share of the step's time its matrix products would take alone"
    )
    print(table(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(
                {
                    "environment": env,
                    "date": date,
                    "cpu_flags": cpu_flags(),
                    "blas": blas(),
                    "capability": torch.backends.cpu.get_cpu_capability(),
                    "args": vars(a),
                    "mm_peak_gflops": peak,
                    "mm_peak_repeats": peaks,
                    "results": rows,
                },
                f,
                indent=2,
                default=str,
            )


if __name__ == "__main__":
    main()
