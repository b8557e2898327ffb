"""Study folder -> aggregated metrics per setting and the matched-capacity comparison charts.

Reads eval.json files only. A setting is (dataset, model, z); with several
seeds each metric gets mean and 95% t-interval over seeds; with one seed the
bootstrap interval from eval.json (sampling uncertainty only) is used and
labelled as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab import data
from genlab.core.errors import GenlabError, lookup
from genlab.eval import metric_specs, samplers
from genlab.eval import metrics as M
from genlab.models import MODELS
from genlab.report import viz
from genlab.store import schema
from genlab.store.runs import read_json, read_meta, read_text
from genlab.train.config import from_json


def label(arm: str) -> str:
    """An arm's name in charts and tables: its model's declared label ("GAN"), or a variant's own name."""
    return MODELS[arm].label if arm in MODELS else arm


def samplers_of(study: dict[str, Any], arm: str, generative_only: bool = True) -> list[samplers.CodeSampler]:
    """The code samplers an arm's model offers beyond its prior (GenerativeModel.samplers), for the extra bars and
    rows; `generative_only=False` adds the reference rows (decoded training codes)."""
    model = MODELS.get(study.get("arm_models", {}).get(arm, arm))
    specs = samplers.code_samplers(model) if model is not None else []
    return [s for s in specs if s.generative or not generative_only]


SAMPLER_PREFIXES = tuple(sp.prefix for sp in samplers.SAMPLERS.values() if sp.prefix)  # gmm_, flow_, codes_: a
#   sampler's metrics are bounded as the metric they prefix


@dataclass
class Setting:
    dataset: str
    model: str
    z_dim: int
    runs: list[str] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)

    def stat(self, key: str) -> tuple[float, float, float] | None:
        """(mean, lo, hi) of a metric, or None when no run of this setting has it."""
        vals = [e["metrics"][key] for e in self.evals if e.get("metrics", {}).get(key) is not None]
        if not vals:
            return None
        if len(vals) >= 2:
            mean, lo, hi = M.mean_ci(vals)
            spec = metric_specs.spec_of(key, SAMPLER_PREFIXES)
            return (mean, *spec.clip(lo, hi)) if spec else (mean, lo, hi)
        iv = self.evals[0].get("intervals", {}).get(key)
        return (vals[0], iv[0], iv[1]) if iv else (vals[0], vals[0], vals[0])

    def under_judge(self, index: int) -> Setting:
        """The same runs as measured by judge `index` of the ensemble (its metrics, intervals and floor)."""
        return Setting(
            self.dataset,
            self.model,
            self.z_dim,
            list(self.runs),
            [judge_view(e, index) for e in self.evals],
            dict(self.statuses),
        )

    def spread(self, key: str) -> tuple[float, float] | None:
        """(min, max) over the ensemble's judges of this setting's mean of a metric: the instrument's spread,
        beside the sampling interval; None with fewer than two judges."""
        k = n_judges({None: self})
        means = [st[0] for j in range(k) if (st := self.under_judge(j).stat(key)) is not None] if k >= 2 else []
        return (min(means), max(means)) if len(means) == k and means else None


def judge_view(ev: dict[str, Any], index: int) -> dict[str, Any]:
    """An eval.json as judge `index` saw it: its judge-space values in place of judge 0's."""
    judges = ev.get("judges") or []
    if index >= len(judges):
        return ev
    j = judges[index]
    return {
        **ev,
        "metrics": {**ev.get("metrics", {}), **j["metrics"]},
        "intervals": {**ev.get("intervals", {}), **j.get("intervals", {})},
        "floor": j.get("floor", ev.get("floor", {})),
    }


def n_judges(settings: dict) -> int:
    """Judges every evaluated run of these settings was measured under (1 when any run has no ensemble)."""
    counts = [len(e.get("judges") or []) for s in settings.values() for e in s.evals]
    return max(1, min(counts)) if counts else 1


def under_judge(settings: dict, index: int) -> dict:
    """Every setting as judge `index` measured it (for the claims check under each judge)."""
    return {k: s.under_judge(index) for k, s in settings.items()}


def load_study(study_dir: Path) -> tuple[dict[str, Any], dict[tuple[str, str, int], Setting]]:
    """(study.json, settings keyed by (dataset, arm, z)) with every listed run, evaluated or not. A run belongs to
    the setting its folder name starts with (dataset-arm-zZ-s)."""
    study = schema.check_study(read_json(Path(study_dir) / "study.json"), Path(study_dir) / "study.json")
    settings: dict[tuple[str, str, int], Setting] = {}
    for ds in study["datasets"]:
        for arm, zs in study["arms"].items():
            for z in zs:
                settings[(ds, arm, z)] = Setting(ds, arm, z)
    prefixes = {f"{data.slug(k[0])}-{k[1]}-z{k[2]}-s": v for k, v in settings.items()}
    for name in study["runs"]:
        s = next((v for p, v in prefixes.items() if name.startswith(p) and name[len(p) :].isdigit()), None)
        if s is None:
            continue
        run_dir = Path(study_dir) / name
        meta = read_meta(run_dir) if run_dir.is_dir() else {}
        ev_path = run_dir / "eval.json"
        ev = schema.check(read_json(ev_path), schema.EVAL, ev_path) if ev_path.exists() else None
        s.runs.append(name)
        s.statuses[name] = meta.get("status", "missing")
        if ev is not None:
            s.evals.append(ev)
    return study, settings


def floor(settings: dict, dataset: str, key: str) -> float | None:
    for s in settings.values():
        if s.dataset == dataset and s.evals and key in s.evals[0].get("floor", {}):
            return s.evals[0]["floor"][key]
    return None


def chart_series(study: dict[str, Any], settings: dict, ds: str, key: str) -> list[tuple[str, str, str]]:
    """(series name, arm, metric key) of each bar series: every arm, and beside it its images from each code
    sampler its model offers, where they were measured."""
    out = []
    for m, zs in study["arms"].items():
        out.append((label(m), m, key))
        for spec in samplers_of(study, m):
            if any(settings[(ds, m, z)].stat(spec.prefix + key) for z in zs):
                out.append((f"{label(m)}, {spec.label}", m, spec.prefix + key))
    return out


def chart_bars(study: dict[str, Any], settings: dict, ds: str, key: str) -> dict[str, list]:
    """Series name -> one (mean, lo, hi) or None per capacity."""
    return {
        name: [settings[(ds, m, z)].stat(k) for z in study["arms"][m]]
        for name, m, k in chart_series(study, settings, ds, key)
    }


def chart_spreads(study: dict[str, Any], settings: dict, ds: str, key: str) -> dict[str, list]:
    """The judges' (min, max) for each bar of chart_bars (None where there is no ensemble)."""
    return {
        name: [settings[(ds, m, z)].spread(k) for z in study["arms"][m]]
        for name, m, k in chart_series(study, settings, ds, key)
    }


def capacity_labels(study: dict[str, Any]) -> list[str]:
    """One short x label per matched capacity: its name, then the latent sizes in legend order."""
    return [
        f"{cap}\nz " + " · ".join(str(zs[i]) for zs in study["arms"].values())
        for i, cap in enumerate(study["capacity_names"])
    ]


def comparison_charts(study_dir: Path) -> dict[str, Path]:
    """Grouped bars per dataset and metric: the models side by side at each matched capacity."""
    study, settings = load_study(study_dir)
    out: dict[str, Path] = {}
    groups = capacity_labels(study)
    order = " · ".join(label(m) for m in study["arms"])
    for ds in study["datasets"]:
        for spec in metric_specs.shown_in(metric_specs.CHART):
            key = spec.key
            bars = chart_bars(study, settings, ds, key)
            if not any(v for vs in bars.values() for v in vs):
                continue
            seeds = study.get("seeds", 1)
            kind = f"mean and 95% CI over {seeds} seeds" if seeds >= 2 else "1 seed, 95% bootstrap CI over samples"
            title = f"{data.slug(ds)} · {spec.name} at matched capacity\n{kind}; z: {order}"
            spreads = chart_spreads(study, settings, ds, key)
            if any(v for vs in spreads.values() for v in vs):
                title += f"; ◆ min and max over {n_judges(settings)} judges"
            path = Path(study_dir) / "figures" / f"{data.slug(ds)}-compare-{key}.png"
            out[f"{ds}-{key}"] = viz.grouped_bars(
                groups, bars, title, spec.ylabel(), path, floor(settings, ds, key), spreads=spreads
            )
    return out


SORT_KEYS = {
    "name": lambda r: r["run"],
    "status": lambda r: (r["status"], r["run"]),
    "fid": lambda r: (r["metrics"][M.FID] is None, r["metrics"][M.FID] or 0.0, r["run"]),
    "wall": lambda r: (r["wall_s"] is None, -(r["wall_s"] or 0.0), r["run"]),
}


def run_rows(study_dir: Path, sort: str = "name") -> list[dict[str, Any]]:
    """One row per run of a study for `genlab runs`: status, epochs done of planned, best epoch, the metrics shown
    there (metric_specs.RUNS: FID, recognisable share) with their intervals, training wall time (None where not
    measured yet)."""

    if not (Path(study_dir) / "study.json").is_file():
        raise GenlabError(f"{study_dir} is not a study folder (no study.json); run 'genlab study' first")
    key = lookup(SORT_KEYS, sort, "sort key")
    keys = [spec.key for spec in metric_specs.shown_in(metric_specs.RUNS)]
    _, settings = load_study(study_dir)
    rows = []
    for s in settings.values():
        evals = {ev["run"]: ev for ev in s.evals}
        for name in s.runs:
            run_dir = Path(study_dir) / name
            meta = read_meta(run_dir) if run_dir.is_dir() else {}
            ev = evals.get(name)
            ckpts = sorted(p.name for p in (run_dir / "checkpoints").glob("step-*")) if run_dir.is_dir() else []
            steps = int(ckpts[-1][5:]) if ckpts and ckpts[-1][5:].isdigit() else meta.get("step")
            per = meta.get("steps_per_epoch")
            epochs_cfg = None
            if (run_dir / "config.json").is_file():
                epochs_cfg = from_json(
                    read_text(run_dir / "config.json", "the run's config"), str(run_dir / "config.json")
                ).train.epochs
            rows.append(
                {
                    "run": name,
                    "status": meta.get("status", "missing"),
                    "epochs_done": (steps // per) if isinstance(steps, int) and per else 0,
                    "epochs": epochs_cfg,
                    "best_epoch": ev.get("epoch") if ev else None,
                    "metrics": {k: ev["metrics"].get(k) if ev else None for k in keys},
                    "intervals": {k: ev.get("intervals", {}).get(k) if ev else None for k in keys},
                    "wall_s": meta.get("wall_s"),
                }
            )
    return sorted(rows, key=key)
