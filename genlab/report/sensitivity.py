"""Q1 measured: which GAN hyperparameters move its FID and its stability, from a study of one-at-a-time changes
around the default arm (the `sensitivity` study, or the `recipes` ablation) found beside the report's study.

Pure functions of aggregated settings. Stability of a setting over its seeds (docs/evaluation.md):
- seed spread: the standard deviation of the final FID across seeds relative to its mean;
- failed runs: the share that diverged, or whose samples collapsed (fewer classes covered than the dataset has,
  or a recognisable share below half the test images' own);
- late fluctuation and D drift, where the runs measured them (eval.json `stability`).
An effect is "decided" when its FID difference interval excludes 0 on some dataset.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.eval import metrics as M
from genlab.report import compare

Stat = tuple[float, float, float]
STUDIES = ("sensitivity", "recipes")  # studies whose arms are one-at-a-time changes of the GAN


@dataclass
class Effect:
    factor: str  # the hyperparameter ("Adam step size")
    level: str  # its value in this arm ("x4 (4e-3)")
    arm: str
    fid: dict[str, Stat] = field(default_factory=dict)  # dataset -> FID(arm) - FID(default), 95 % interval
    relative: dict[str, float] = field(default_factory=dict)  # dataset -> that difference / the default's FID
    seed_spread: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # (arm, default)
    failed: dict[str, tuple[int, int]] = field(default_factory=dict)  # (failed runs, runs)
    seeds: int = 0

    @property
    def decided(self) -> bool:
        return any(lo > 0 or hi < 0 for _, lo, hi in self.fid.values())

    @property
    def size(self) -> float:
        """The ranking key: the largest relative FID change over the datasets."""
        return max((abs(r) for r in self.relative.values()), default=0.0)


def fids(setting: compare.Setting | None) -> list[float]:
    if setting is None:
        return []
    return [e["metrics"][M.FID] for e in setting.evals if e.get("metrics", {}).get(M.FID) is not None]


def seed_spread(setting: compare.Setting | None) -> float | None:
    """Standard deviation of the final FID over seeds relative to its mean (None with fewer than 2 seeds)."""
    v = fids(setting)
    return statistics.stdev(v) / statistics.mean(v) if len(v) >= 2 and statistics.mean(v) else None


def failed(setting: compare.Setting | None) -> tuple[int, int]:
    """(runs that diverged or collapsed, runs) of a setting; the rule is in the module docstring."""
    if setting is None:
        return 0, 0
    bad = sum(1 for st in setting.statuses.values() if st == "diverged")
    for ev in setting.evals:
        m = ev.get("metrics", {})
        names = ev.get("class_names") or []
        n_classes = len(names) - 1 if len(names) > 1 else None
        covered, recog = m.get(M.CLASSES_COVERED), m.get(M.RECOGNISABLE)
        test_share = ev.get("test_recognisable_share")
        if (n_classes and covered is not None and covered < n_classes) or (
            recog is not None and test_share and recog < 0.5 * test_share
        ):
            bad += 1
    return bad, len(setting.runs)


def default_arm(study: dict[str, Any]) -> str | None:
    arm = (study.get("roles") or {}).get("gan", "gan")
    return arm if arm in study["arms"] else None


def effects(study: dict[str, Any], settings: dict) -> list[Effect]:
    """Every non-default GAN arm's effect against the default arm on each dataset, largest first."""
    base = default_arm(study)
    if base is None:
        return []
    models = study.get("arm_models", {})
    factors = study.get("factors") or {}
    base_model = models.get(base, base)
    out = []
    for arm, zs in study["arms"].items():
        if arm == base or models.get(arm, arm) != base_model:
            continue
        factor, level = factors.get(arm, (arm, "see the study's arms"))
        eff = Effect(factor, level, arm)
        for ds in study["datasets"]:
            a = settings.get((ds, arm, zs[0]))
            d = settings.get((ds, base, study["arms"][base][0]))
            va, vd = fids(a), fids(d)
            if not va or not vd:
                continue
            iv_a = a.evals[0].get("intervals", {}).get(M.FID) if len(va) == 1 else None
            iv_d = d.evals[0].get("intervals", {}).get(M.FID) if len(vd) == 1 else None
            eff.fid[ds] = M.difference_ci(va, vd, iv_a, iv_d)
            eff.relative[ds] = eff.fid[ds][0] / statistics.mean(vd)
            eff.seed_spread[ds] = (seed_spread(a), seed_spread(d))
            eff.failed[ds] = failed(a)
            eff.seeds = max(eff.seeds, min(len(va), len(vd)))
        if eff.fid:
            out.append(eff)
    return sorted(out, key=lambda e: (not e.decided, -e.size))


def beside(study_dir: Path) -> list[tuple[Path, dict[str, Any], dict]]:
    """The sensitivity or recipes studies in the same runs folder as `study_dir` (not itself), newest first."""
    out = []
    parent = Path(study_dir).resolve().parent
    for d in sorted(parent.iterdir(), key=lambda p: p.name):
        if d.resolve() == Path(study_dir).resolve() or not (d / "study.json").is_file():
            continue
        try:
            study, settings = compare.load_study(d)
        except Exception:  # a damaged neighbour is not this report's business; its own report says what is wrong
            continue
        if study.get("study") in STUDIES and any(s.evals for s in settings.values()):
            out.append((d, study, settings))
    return sorted(out, key=lambda t: (t[1].get("study") != "sensitivity", -t[1].get("seeds", 1)))


def signed(x: float, digits: int = 3) -> str:
    """+154, +46.3, -2.69; whole numbers from 1,000 up (no exponent notation in a sentence)."""
    return f"{x:+,.0f}" if abs(x) >= 1000 else f"{x:+.{digits}g}"


def describe(e: Effect) -> str:
    """One evidence line: the factor, its level, the FID change per dataset and the stability beside it."""
    parts = []
    for ds, (d, lo, hi) in e.fid.items():
        spread_a, spread_d = e.seed_spread.get(ds, (None, None))
        k, n = e.failed.get(ds, (0, 0))
        spread = f", seed spread {spread_a:.2f} vs {spread_d:.2f}" if spread_a is not None and spread_d else ""
        parts.append(
            f"{ds} FID {signed(d)} [{signed(lo)}, {signed(hi)}] ({signed(round(100 * e.relative[ds]), 4)} %){spread}"
            f", failed runs {k}/{n}"
        )
    return f"{e.factor} {e.level}: " + "; ".join(parts)


def answer(found: list[tuple[Path, dict[str, Any], dict]]) -> tuple[list[str], str] | None:
    """Q1's lines and note from the first study found beside, or None when there is none."""
    if not found:
        return None
    path, study, settings = found[0]
    ranked = effects(study, settings)
    if not ranked:
        return None
    decided = [e for e in ranked if e.decided]
    top = ", ".join(f"{e.factor} ({e.level})" for e in decided[:3]) or "none (no interval excludes 0)"
    seeds = max(e.seeds for e in ranked)
    lines = [
        f"Measured in {path.name} ({study['study']} study, profile {study['profile']}, {seeds} seed"
        f"{'s' if seeds != 1 else ''} per arm, {', '.join(study['datasets'])}): the largest influences on GAN FID "
        f"are {top}; in order of effect:"
    ]
    lines += [f"{i}. {describe(e)}{'' if e.decided else ' (interval includes 0)'}" for i, e in enumerate(ranked, 1)]
    stab = [
        (max(a for a, _ in e.seed_spread.values() if a is not None), e)
        for e in ranked
        if any(a is not None for a, _ in e.seed_spread.values())
    ]
    broke = [e for e in ranked if sum(k for k, _ in e.failed.values())]
    if broke:
        lines.append(
            "Runs that diverged or collapsed: "
            + ", ".join(
                f"{e.factor} {e.level} ({sum(k for k, _ in e.failed.values())}/{sum(n for _, n in e.failed.values())})"
                for e in broke
            )
        )
    if stab:
        worst = sorted(stab, key=lambda t: -t[0])[:2]
        lines.append(
            "Least stable across seeds: " + ", ".join(f"{e.factor} {e.level} (seed spread {s:.2f})" for s, e in worst)
        )
    note = (
        f"Effects are differences to the default arm at that study's budget ({study.get('description', '')}; "
        f"profile {study['profile']}); intervals: Welch over seeds, or one run's bootstrap, so an effect measured "
        "on few seeds can be large and still undecided. A longer budget can change the order."
    )
    return lines, note
