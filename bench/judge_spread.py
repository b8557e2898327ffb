"""The instrument's spread: the same samples of a study's runs scored by each shipped judge (issue 23).

    .venv/bin/python bench/judge_spread.py runs/lab-quick [runs/lab-full ...]

Reads every evaluated run's eval.json (whose `judges` list holds each judge's metrics of the same 10,000
samples) and prints, per dataset and family (and sampler), the FID and recognisable share under each judge,
their relative spread ((max - min) / mean over judges), and the ratio of each family's FID to the GAN's under
each judge — how far a family comparison moves with the instrument. Prints hardware and versions first.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

from genlab.eval import metrics as M
from genlab.report.compare import label as arm_label
from genlab.report.compare import load_study
from genlab.store.runs import environment

KEYS = [(M.FID, "FID"), (M.RECOGNISABLE, "recognisable")]


def rows(study_dir: Path):
    study, settings = load_study(study_dir)
    for (ds, arm, z), s in sorted(settings.items()):
        for ev in s.evals:
            judges = ev.get("judges") or []
            if len(judges) < 2:
                continue
            prefixes = [""] + ([M.GMM_PREFIX] if M.GMM_PREFIX + M.FID in judges[0]["metrics"] else [])
            for prefix in prefixes:
                name = arm_label(arm) + (", GMM sampler" if prefix else "")
                yield ds, name, z, ev["run"], {k: [j["metrics"].get(prefix + k) for j in judges] for k, _ in KEYS}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    env = environment()
    print(f"# {env['cpu']}, {env['cpu_count']} cores, torch {env['torch']}, genlab {env['genlab']} ({env['git_sha']})")
    per_family: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_run: dict[tuple[str, int, str], dict] = {}
    print(
        "dataset        family               z   run                               FID per judge             "
        "spread   recognisable per judge"
    )
    for study_dir in argv:
        for ds, label, z, run, vals in rows(Path(study_dir)):
            fids, recs = vals[M.FID], vals[M.RECOGNISABLE]
            spread = (max(fids) - min(fids)) / statistics.mean(fids)
            per_family[(ds, label)].append(spread)
            by_run[(ds, z, label)] = vals
            print(
                f"{ds:14s} {label:20s} {z:3d}  {run:32s}  {' / '.join(f'{f:7.1f}' for f in fids):25s} "
                f"{spread:6.1%}   {' / '.join(f'{r:.3f}' for r in recs)}"
            )
    print("\nrelative FID spread over judges, per family (mean over its runs):")
    for (ds, label), sp in sorted(per_family.items()):
        print(f"  {ds:14s} {label:20s} {statistics.mean(sp):6.1%} (n={len(sp)}, max {max(sp):.1%})")
    print("\nFID ratio to the GAN at matched capacity, under each judge (how a family comparison moves):")
    gans = {(ds, i): v for (ds, z, label), v in by_run.items() if label == "GAN" for i in [z]}
    gan_z = defaultdict(list)
    for ds, z in gans:
        gan_z[ds].append(z)
    for (ds, z, label), v in sorted(by_run.items()):
        if label == "GAN":
            continue
        zs = sorted({zz for (d, zz, lab) in by_run if d == ds and lab == label})
        gz = sorted(gan_z[ds])
        if len(zs) != len(gz):
            continue
        g = gans[(ds, gz[zs.index(z)])]
        ratios = [a / b for a, b in zip(v[M.FID], g[M.FID])]
        print(
            f"  {ds:14s} {label:20s} z{z:<3d} / GAN z{gz[zs.index(z)]:<3d} "
            f"{' / '.join(f'{r:.2f}' for r in ratios)}  "
            f"(shift {(max(ratios) - min(ratios)) / statistics.mean(ratios):.1%})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
