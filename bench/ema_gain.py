"""EMA vs raw generator of the same trained GAN run: FID, precision, recall, recognisable share of each.

Both generators come from the same checkpoint (the run's best epoch), so the difference is the weight
average alone (Yazici et al., ICLR 2019), not seed or training noise.

    .venv/bin/python bench/ema_gain.py RUN_DIR [RUN_DIR ...] [--n 10000] [--data-dir DIR]
"""

from __future__ import annotations

import argparse

import torch

from genlab import data
from genlab.eval import evaluate, features
from genlab.eval import metrics as M
from genlab.train.loop import load_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--data-dir")
    a = ap.parse_args()
    print("| run | epoch | generator | FID | precision | recall | recognisable |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in a.runs:
        cfg, model, state = load_run(run)
        if not cfg.model.ema_nimg:
            print(f"| {run} | – | no EMA in this run | | | | |")
            continue
        judge, _ = features.get_judge(data.source(cfg.data.dataset, a.data_dir))
        ref = evaluate.real_reference(data.source(cfg.data.dataset, a.data_dir), min(a.n, 10_000))

        def raw(n, g, model=model, cfg=cfg):
            return torch.tanh(model.generator(torch.randn(n, cfg.z_dim, generator=g)))

        for label, sample in (("raw G", raw), ("EMA of G", model.sample)):
            g = torch.Generator().manual_seed(evaluate.SAMPLE_SEED)
            with torch.no_grad():
                x = torch.cat([sample(1000, g) for _ in range(a.n // 1000)])
            f, p = judge.features_and_probs(x)
            ind = M.manifold_indicators(ref["features"], f, 3, 5, ref["radii"])
            fid = M.frechet_distance(*ref["stats"], *M.gaussian_stats(f))
            print(
                f"| {run} | {state['epoch']} | {label} | {fid:.1f} | {ind[M.PRECISION].mean():.3f} | "
                f"{ind[M.RECALL].mean():.3f} | {M.recognisable(p).mean():.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
