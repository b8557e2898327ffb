"""The VAE's ex-post mixture fitted on all training codes or on a random subset: fit time and the GMM samples' FID.

Chose the quick profile's `eval.gmm_codes` (docs/results.md, 2026-11-26 late). Needs an evaluated VAE run:

    .venv/bin/python bench/gmm_codes.py runs/lab-full/mnist-vae-z32-s0 0 20000 10000   # 0 = all codes
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from genlab import data
from genlab.eval import features, samplers
from genlab.eval import metrics as M
from genlab.eval.evaluate import SAMPLE_SEED, load_run, real_reference
from genlab.store.runs import environment


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("codes", type=int, nargs="+", help="training codes to fit on; 0 = all")
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--data-dir")
    a = ap.parse_args()
    torch.set_num_threads(1)
    env = environment()
    print(f"# GMM fit on a subset of codes · {env['cpu']} · torch {env['torch']} (1 thread) · genlab {env['genlab']}")
    cfg, model, _ = load_run(a.run, "best", "cpu")
    judge, _ = features.get_judge(data.source(cfg.data.dataset, a.data_dir))
    ref = real_reference(data.source_of(cfg.data, a.data_dir), min(a.samples, 10_000))
    print("| codes | fit (s) | sample seed | GMM FID | recognisable |\n| --- | --- | --- | --- | --- |")
    for n in a.codes:
        samplers._FITTED.clear()  # time the fit itself, not the memo
        t = time.perf_counter()
        mixture = samplers.fit_code_mixture(
            model, replace(cfg, eval=replace(cfg.eval, gmm_codes=n)), data.source_of(cfg.data, a.data_dir)
        )
        fit_s = time.perf_counter() - t
        for seed in (SAMPLE_SEED, SAMPLE_SEED + 1):
            x = samplers.sample_from_mixture(model, mixture, a.samples, torch.Generator().manual_seed(seed))
            f, p = judge.features_and_probs(x)
            print(
                f"| {n or 'all'} | {fit_s:.1f} | {seed} | {M.fid(ref['features'], f):.2f} | "
                f"{float(M.recognisable(p).mean()):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
