"""The latent samplers of trained autoencoder runs, side by side under the shipped judge 0: prior N(0, I), the
10-component GMM, the latent flow at each recipe given, and decoded training codes (the best any code density can
do with this decoder). Prints FID, recognisable share, recall and the fit's seconds; hardware and versions first.

    python bench/latent_flow.py RUN_DIR [RUN_DIR ...] [--recipes 'times=uniform;times=logit-normal,width=512']
        [--nfe 8,16,32,64] [--n 10000]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from genlab import data
from genlab.eval import features, latent_flow, samplers
from genlab.eval import metrics as M
from genlab.eval.evaluate import real_reference, sample_metrics
from genlab.train.loop import load_run


def cpu_flags() -> str:
    flags = open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0]
    return "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")


def parse_recipes(text: str) -> list[latent_flow.FlowRecipe]:
    out = []
    for part in filter(None, text.split(";")):
        kw = {}
        for item in part.split(","):
            k, v = item.split("=")
            kw[k] = type(getattr(latent_flow.FlowRecipe(), k))(v)
        out.append(replace(latent_flow.FlowRecipe(), **kw))
    return out


def bench_run(run: Path, recipes: list[latent_flow.FlowRecipe], nfes: list[int], n: int) -> None:
    cfg, model, _ = load_run(run, "best", "cpu")
    ds, tf = cfg.data.dataset, cfg.data.test_fraction
    judge, _ = features.get_judge(data.source(ds, None, tf))
    ref = real_reference(data.source(ds, None, tf), min(n, 10_000))
    _, labels = data.source(ds, None, tf).load("train")
    hist = torch.bincount(labels, minlength=len(data.source(ds).classes)).double() / labels.numel()

    def row(name: str, images: torch.Tensor, secs: float) -> None:
        f, p = judge.features_and_probs(images)
        v = sample_metrics(ref, f, p, hist, 20, 500)["values"]
        print(f"| {run.name} | {name} | {v[M.FID]:.1f} | {v[M.RECOGNISABLE]:.3f} | {v[M.RECALL]:.3f} | {secs:.1f} |")
        sys.stdout.flush()

    def g() -> torch.Generator:
        return torch.Generator().manual_seed(1)

    row("prior", model.sample(n, g()), 0)
    codes = samplers.training_codes(model, cfg, data.source_of(cfg.data))
    row("decoded training codes", samplers.decode_codes(model, samplers.draw_training_codes(codes, n, g())), 0)
    t0 = time.perf_counter()
    mix = samplers.fit_code_mixture(model, cfg, data.source_of(cfg.data))
    row("GMM", samplers.sample_from_mixture(model, mix, n, g()), time.perf_counter() - t0)
    for r in recipes:
        t0 = time.perf_counter()
        v = latent_flow.fit(codes, r)
        secs = time.perf_counter() - t0
        for nfe in nfes:
            z = latent_flow.sample(v, n, g(), nfe)
            name = f"flow w{r.width} d{r.depth} {r.steps} steps, t {r.times}, nfe {nfe}"
            row(name, samplers.decode_codes(model, z), secs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--recipes", default="")
    ap.add_argument("--nfe", default="32")
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"# {platform.processor() or platform.machine()}, {cpu_flags()}, torch {torch.__version__}, 1 thread")
    recipes = parse_recipes(args.recipes) or [latent_flow.FlowRecipe()]
    nfes = [int(x) for x in args.nfe.split(",")]
    print("| run | sampler | FID | recognisable | recall | fit s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for run in args.runs:
        bench_run(run, recipes, nfes, args.n)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
