"""Q2 on 1,000 modes: Stacked MNIST's mode counts and KL to uniform, per family and sampler, with intervals over
seeds, from any study in the same runs folder that trained on it (the `collapse` study, or this one).

Ten classes hide collapse (almost any generator covers every digit); 1,000 label triples do not (VEEGAN,
Srivastava et al. 2017; PacGAN, Lin et al. 2018). The counts are evaluate.mode_metrics'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genlab.eval import metrics as M
from genlab.report import compare

DATASET = "stacked-mnist"
PUBLISHED = (  # (model, modes, KL) in PacGAN's Table 3 (DCGAN-style nets, 50 epochs; their classifier, not ours)
    ("DCGAN", 99.0, 3.40),
    ("Unrolled GAN", 48.7, 4.32),
    ("VEEGAN", 150.0, 2.95),
    ("PacDCGAN2", 1000.0, 0.06),
)


def has_modes(settings: dict) -> bool:
    return any(s.dataset == DATASET and s.stat(M.MODES) is not None for s in settings.values())


def beside(study_dir: Path, study: dict[str, Any], settings: dict) -> list[tuple[dict[str, Any], dict]]:
    """This study if it measured Stacked MNIST's modes, else the studies beside it in the runs folder that did
    (most seeds first)."""
    if has_modes(settings):
        return [(study, settings)]
    out = []
    here = Path(study_dir).resolve()
    for d in sorted(here.parent.iterdir(), key=lambda p: p.name):
        if d.resolve() == here or not (d / "study.json").is_file():
            continue
        try:
            other, found = compare.load_study(d)
        except Exception:  # a damaged neighbour is not this report's business; its own report says what is wrong
            continue
        if has_modes(found):
            out.append((other, found))
    return sorted(out, key=lambda t: -t[0].get("seeds", 1))


def rows(study: dict[str, Any], settings: dict) -> list[tuple[str, int, str, compare.Setting]]:
    """(label, z, sampler prefix, setting) for every Stacked MNIST setting and each of its generative samplers."""
    out = []
    for s in settings.values():
        if s.dataset != DATASET or s.stat(M.MODES) is None:
            continue
        out.append((compare.label(s.model), s.z_dim, "", s))
        for spec in compare.samplers_of(study, s.model):
            if s.stat(spec.prefix + M.MODES) is not None:
                out.append((f"{compare.label(s.model)} ({spec.label})", s.z_dim, spec.prefix, s))
    return out


def interval(stat: tuple[float, float, float] | None, digits: str = ".0f", top: float | None = None) -> str:
    """mean [lo, hi], the interval clipped to what the quantity can be (0 to `top`: a t-interval over three
    seeds near 1,000 modes would otherwise promise more modes than exist)."""
    if stat is None:
        return "not measured"
    m, lo, hi = stat
    lo, hi = max(lo, 0.0), hi if top is None else min(hi, top)
    return f"{m:{digits}} [{lo:{digits}}, {hi:{digits}}]" if hi > lo else f"{m:{digits}}"


def cell(stat: tuple[float, float, float] | None, key: str) -> str:
    """A modes-table cell: whole modes (clipped to 1,000), KL in nats to 3 decimals."""
    return interval(stat, ".3f") if key == M.MODE_KL else interval(stat, ".0f", top=1000.0)


def answer(found: list[tuple[dict[str, Any], dict]]) -> list[str]:
    """Evidence lines for Q2 from the first study that measured the modes; [] when none did."""
    if not found:
        return []
    study, settings = found[0]
    lines = []
    floor = next((s.evals[0]["floor"] for s in settings.values() if s.dataset == DATASET and s.evals), {})
    for label, z, prefix, s in rows(study, settings):
        lines.append(
            f"Stacked MNIST ({study.get('study')} study, {study.get('profile')} profile), {label} z{z}: "
            f"{cell(s.stat(prefix + M.MODES), M.MODES)} of 1,000 modes "
            f"({cell(s.stat(prefix + M.MODES_RECOGNISED), M.MODES)} with every channel recognisable), KL to uniform "
            f"{interval(s.stat(prefix + M.MODE_KL), '.2f')} nats, "
            f"{len(s.evals)} seed{'s' if len(s.evals) != 1 else ''}"
        )
    if floor.get(M.MODES) is not None:
        lines.append(
            f"Real Stacked MNIST training images, same count: {floor[M.MODES]} modes, KL {floor[M.MODE_KL]:.3f} "
            "(the floor sampling alone leaves). Published, other nets and classifier (PacGAN, Table 3): "
            + ", ".join(f"{n} {m:g} modes / KL {k:.2f}" for n, m, k in PUBLISHED)
        )
    return lines
