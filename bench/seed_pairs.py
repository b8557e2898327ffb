"""The autoencoder runs of a study folder over seeds: each (dataset, z, model)'s mean and 95 % t-interval, then
paired-by-seed differences — VAE-GAN minus VAE with the same sampler, and the latent flow minus the GMM of the same
model with the share of the GMM's gap to the decoded codes it closes. Reads eval.json only; trains nothing.
Paired differences resolve effects that the seeds' own spread hides in unpaired intervals.

    python bench/seed_pairs.py STUDY_DIR          # e.g. runs/lab-full after `genlab study lab --seeds 3`
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from genlab.eval.metrics import mean_ci

TABLE = [
    ("prior FID", "fid"),
    ("GMM FID", "gmm_fid"),
    ("flow FID", "flow_fid"),
    ("codes FID", "codes_fid"),
    ("recognisable prior", "recognisable_share"),
    ("recognisable GMM", "gmm_recognisable_share"),
    ("recognisable flow", "flow_recognisable_share"),
    ("recall prior", "recall"),
    ("sharpness prior", "sharpness"),
    ("sharpness recon", "recon_sharpness"),
]


def load(study: Path) -> dict[tuple[str, int, str, int], dict]:
    """(dataset, z, model, seed) -> eval.json metrics of every VAE-family run in the folder."""
    out = {}
    for f in sorted(study.glob("*-vae*-z*-s*/eval.json")):
        dataset, rest = f.parent.name.split("-vae", 1)
        model, z, seed = ("vae" + rest).rsplit("-", 2)  # an arm's name may hold dashes: vaegan-adv10
        out[(dataset, int(z[1:]), model, int(seed[1:]))] = json.loads(f.read_text())["metrics"]
    return out


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval over seeds (genlab's own `mean_ci`; nan for one value)."""
    mean, _, hi = mean_ci(values)
    return mean, hi - mean if len(values) > 1 else float("nan")


def paired(values: list[float]) -> str:
    mean, half = interval(values)
    mark = " *" if mean + half < 0 or mean - half > 0 else ""
    return f"{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}]{mark} ({', '.join(f'{v:+.2f}' for v in values)})"


def main(study: Path) -> None:
    runs = load(study)
    settings = sorted({k[:3] for k in runs})
    print("| dataset | z | model | n | " + " | ".join(name for name, _ in TABLE) + " |")
    print("| --- " * (4 + len(TABLE)) + "|")
    for setting in settings:
        ms = [m for k, m in runs.items() if k[:3] == setting]
        cells = [interval([m[key] for m in ms]) for _, key in TABLE]
        print(
            f"| {setting[0]} | {setting[1]} | {setting[2]} | {len(ms)} | "
            + " | ".join(f"{a:.3g} ± {b:.2g}" for a, b in cells)
            + " |"
        )
    hybrids = sorted({m for _, _, m in settings if m.startswith("vaegan")})  # the default and any hybrid arm
    for hybrid in hybrids:
        print(f"\n{hybrid} minus VAE, paired by seed (mean [95 % t-interval], * = excludes 0; per seed)")
        for dataset, z in sorted({(d, z) for d, z, _ in settings}):
            seeds = sorted(
                s for d, zz, m, s in runs if (d, zz, m) == (dataset, z, "vae") and (d, zz, hybrid, s) in runs
            )
            for key in ("fid", "gmm_fid", "flow_fid", "codes_fid", "sharpness", "recall") if seeds else ():
                diffs = [runs[(dataset, z, hybrid, s)][key] - runs[(dataset, z, "vae", s)][key] for s in seeds]
                print(f"  {dataset} z {z} {key}: {paired(diffs)}")
    print("\nLatent flow minus GMM, the same model; share of the GMM's gap to the decoded codes closed")
    for setting in settings:
        ms = [m for k, m in runs.items() if k[:3] == setting]
        diffs = [m["flow_fid"] - m["gmm_fid"] for m in ms]
        closed = [(m["gmm_fid"] - m["flow_fid"]) / (m["gmm_fid"] - m["codes_fid"]) for m in ms]
        print(
            f"  {' '.join(map(str, setting))}: FID {paired(diffs)}; gap closed "
            + ", ".join(f"{c:.0%}" for c in closed)
            + f" (mean {statistics.mean(closed):.0%})"
        )


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python bench/seed_pairs.py STUDY_DIR (a study folder with VAE / VAE-GAN runs)")
    main(Path(sys.argv[1]))
