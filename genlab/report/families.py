"""Families at matched compute: each setting's training FLOPs (meta.json, counted by genlab.train.compute) beside its
sample quality, as a chart (FID against training compute, one point per family, sampler and setting) and as
sentences the numbers support. Reads run folders only; the report's "beyond the seed" section shows it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genlab import data
from genlab.eval import metrics as M
from genlab.report import compare, viz
from genlab.store.runs import read_meta


@dataclass(frozen=True)
class Point:
    """One family, sampler and setting: mean training compute over its runs and its metrics (mean, lo, hi)."""

    label: str  # "VAE z16, latent flow"
    family: str  # the model's label: points of one family share a colour
    train_flops: float
    wall_s: float | None
    fid: tuple[float, float, float] | None
    recognisable: tuple[float, float, float] | None
    recall: tuple[float, float, float] | None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def points(study_dir: Path, study: dict, settings: dict, ds: str) -> list[Point]:
    """Every evaluated setting of dataset `ds` with a counted training compute, with each of its samplers."""
    out = []
    for arm, zs in study["arms"].items():
        for z in zs:
            st = settings.get((ds, arm, z))
            if st is None or not st.evals:
                continue
            metas = [read_meta(Path(study_dir) / ev["run"]) for ev in st.evals]
            flops = [m["train_flops"] for m in metas if isinstance(m.get("train_flops"), int)]
            if not flops:
                continue
            wall = _mean([m["wall_s"] for m in metas if isinstance(m.get("wall_s"), (int, float))])
            base = f"{compare.label(arm)} z{z}"
            family = compare.label(st.model)
            for name, prefix in [
                (base, ""),
                *((f"{base}, {s.label}", s.prefix) for s in compare.samplers_of(study, arm)),
            ]:
                if st.stat(prefix + M.FID) is None:
                    continue
                out.append(
                    Point(
                        name,
                        family,
                        _mean(flops),
                        wall,
                        st.stat(prefix + M.FID),
                        st.stat(prefix + M.RECOGNISABLE),
                        st.stat(prefix + M.RECALL),
                    )
                )
    return out


def chart(study_dir: Path, ds: str, pts: list[Point]) -> Path | None:
    """FID against training compute (log axis), one marker per point, named in the legend (no labels on the
    plot to collide); None without points."""
    if not pts:
        return None
    return viz.scatter(
        [(p.label, p.family, p.train_flops / 1e12, p.fid) for p in pts],
        f"{data.slug(ds)} · FID against training compute (mean over seeds; bars: 95% intervals)",
        "training compute (TFLOP, log scale; forward, backward and update of every step)",
        "FID in judge space (lower is better)",
        Path(study_dir) / "figures" / f"{data.slug(ds)}-compute-fid.png",
    )


def claims(pts: list[Point]) -> list[str]:
    """What the points support, as sentences: the best FID per unit of compute and the cheapest family within its
    interval of the best; nothing is claimed where intervals overlap."""
    scored = [p for p in pts if p.fid is not None and p.train_flops > 0]  # a family with no matrix work counted
    #   (a toy) has no compute to compare
    if len(scored) < 2:
        return []
    best = min(scored, key=lambda p: p.fid[0])
    lines = [
        f"Lowest FID: {best.label}, {best.fid[0]:.1f} [{best.fid[1]:.1f}, {best.fid[2]:.1f}] at "
        f"{best.train_flops / 1e12:.3g} TFLOP of training."
    ]
    level = [p for p in scored if p is not best and p.fid[1] <= best.fid[2]]
    cheaper = [p for p in level if p.train_flops < best.train_flops]
    if cheaper:
        c = min(cheaper, key=lambda p: p.train_flops)
        lines.append(
            f"{c.label} is level with it (intervals overlap) at {best.train_flops / c.train_flops:.1f}x less compute."
        )
    beaten = [p for p in scored if p.fid[1] > best.fid[2] and p.train_flops > best.train_flops]
    for p in sorted(beaten, key=lambda p: -p.train_flops)[:2]:
        lines.append(
            f"{p.label} spent {p.train_flops / best.train_flops:.1f}x the compute of {best.label} for a worse FID "
            f"({p.fid[0]:.1f} [{p.fid[1]:.1f}, {p.fid[2]:.1f}])."
        )
    by_family: dict[str, Point] = {}
    for p in scored:
        if p.family not in by_family or p.fid[0] < by_family[p.family].fid[0]:
            by_family[p.family] = p
    if len(by_family) >= 2:
        ranked = sorted(by_family.values(), key=lambda p: p.fid[0])
        lines.append(
            "By family (best sampler): "
            + "; ".join(f"{p.family} {p.fid[0]:.1f} at {p.train_flops / 1e12:.3g} TFLOP" for p in ranked)
            + "."
        )
    return lines
