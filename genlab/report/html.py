"""Study folder -> HTML: `index.html` (links the PNGs) and `report.html` (one self-contained file).

Reads run dirs only (config.json, meta.json, eval.json, figures/); it never
trains or evaluates. Every string that comes from a run dir is escaped.
Missing or failed runs are shown as such.

    genlab report runs/lab-quick
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

from PIL import Image

from genlab import data
from genlab.core.errors import GenlabError
from genlab.eval import metric_specs, samplers
from genlab.eval import metrics as M
from genlab.report import collapse, compare, families, findings, sensitivity
from genlab.store import schema
from genlab.store.runs import atomic_write, read_json, read_meta, read_text
from genlab.train.config import from_json, make_config

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1260px;margin:0 auto;padding:1rem;
color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2rem}h3{margin-top:1.4rem}
figure{display:inline-block;margin:.4rem;vertical-align:top;max-width:100%}
figure img{max-width:min(100%,460px);height:auto;border:1px solid #ccc;image-rendering:pixelated}
figcaption{font-size:.8rem;color:#555;max-width:520px}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0;display:block;overflow-x:auto}
td,th{border:1px solid #ccc;padding:.2rem .45rem;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b;font-weight:600}.note{font-size:.85rem;color:#555}
.verdict{margin:.2rem 0 .4rem;font-size:.9rem}
.row{display:flex;flex-wrap:wrap;gap:.3rem}
.same figure img{width:300px;max-width:300px}.strip figure img{width:210px}
.summary{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-start}.summary table{font-size:.7rem}
.summary figure{order:-1}
.summary td,.summary th{padding:.1rem .2rem}
.summary caption{caption-side:bottom;text-align:left;padding-top:.3rem;contain:inline-size}
.spread{color:#666;font-size:.66rem}.summary figure{margin:0}
.summary figure img{width:575px;max-width:100%}
h1{margin:.3rem 0}
nav.toc{font-size:.9rem;margin:.6rem 0;padding:.4rem .6rem;background:#f6f6f6;border-radius:4px}
pre{font-size:.72rem;background:#f8f8f8;padding:.4rem;overflow-x:auto}
@media print{figure,tr{page-break-inside:avoid}h2,h3,h4{page-break-after:avoid}}
"""

e = html.escape
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page:
    """Collects HTML; images either linked (index.html) or embedded as data URIs (report.html)."""

    def __init__(self, root: Path, embed: bool):
        self.root, self.embed, self.parts = Path(root), embed, []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def img(self, path: Path, caption: str) -> None:
        path = Path(path)
        problem = self.unsafe(path)
        if problem:
            self.add(f'<figure><figcaption class="bad">{e(problem)}: {e(path.name)}</figcaption></figure>')
            return
        if self.embed:
            src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
        else:
            src = e(str(path.relative_to(self.root)))
        self.add(f'<figure><img src="{src}" alt="{e(caption)}"><figcaption>{e(caption)}</figcaption></figure>')

    def unsafe(self, path: Path) -> str | None:
        """Why a figure is not shown, or None: only regular PNG files inside the study folder are, never a
        symlink (a study folder from someone else must not pull a local file into a report you share)."""
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return "figure outside the study folder"
        cur = self.root
        for part in rel.parts:
            cur = cur / part
            if cur.is_symlink():
                return "figure is a symbolic link, not shown"
        if not path.is_file():
            return "missing figure"
        try:
            with open(path, "rb") as f:
                head = f.read(8)
        except OSError:
            return "unreadable figure"
        if head != PNG_MAGIC:
            return "figure is not a PNG file, not shown"
        try:
            with Image.open(path) as im:
                im.verify()  # chunk structure and CRCs
        except Exception:  # PIL raises many types for damaged files  # noqa: BLE001
            return "figure is a damaged PNG file, not shown"
        return None

    def html(self, title: str) -> str:
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>" + "".join(self.parts) + "</body></html>"
        )


def read_config_dict(run_dir: Path) -> dict[str, Any]:
    """The run's config.json as a dict, validated like user input ({} when absent)."""

    path = run_dir / "config.json"
    if not path.is_file():
        return {}
    return from_json(read_text(path, "the run's config"), str(path)).to_dict()


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return metric_specs.number(v, digits)
    return e(str(v))


def interval_note(settings: dict, per_run: str) -> str:
    """What the brackets are: a t-interval over seeds where a setting has several (compare.Setting.stat), else the
    run's own bootstrap as eval.json's protocol words it; a study with both says which is which."""
    seeds = sorted({len(s.evals) for s in settings.values() if s.evals})
    if seeds and seeds[0] >= 2:
        return f"95% t-interval over seeds (the mean of {'/'.join(map(str, seeds))} seeds; seed-to-seed variation)"
    if seeds and seeds[-1] >= 2:
        return f"95% t-interval over seeds where a setting has several, else {per_run}"
    return per_run


def fmt_stat(stat: tuple[float, float, float] | None) -> str:
    if stat is None:
        return "–"
    m, lo, hi = stat
    return f"{fmt(m)} <span class='note'>[{fmt(lo)}, {fmt(hi)}]</span>" if hi > lo else fmt(m)


def fmt_spread(st: compare.Setting | None, key: str) -> str:
    """The judges' min–max of a summary cell, on its own line ('' without an ensemble)."""
    sp = st.spread(key) if st is not None else None
    return f"<br><span class='spread'>judges {fmt(sp[0])}–{fmt(sp[1])}</span>" if sp else ""


def run_section(page: Page, study_dir: Path, setting: compare.Setting) -> None:
    label = f"{compare.label(setting.model)} z={setting.z_dim}"
    page.add(f"<h5>{e(label)}</h5>")
    if not setting.runs:
        page.add("<p class='bad'>no run of this setting in the study</p>")
        return
    for name in setting.runs:
        run_dir = study_dir / name
        status = setting.statuses.get(name, "missing")
        meta = read_meta(run_dir) if run_dir.is_dir() else {}
        if status != "done":
            extra = f" at step {meta['diverged_step']}" if status == "diverged" and "diverged_step" in meta else ""
            page.add(f"<p class='bad'>run {e(name)}: {e(status)}{e(extra)} — its figures and metrics are absent</p>")
            if status != "diverged":
                continue
        fig = run_dir / "figures"
        page.add("<div class='row'>")
        for file, caption in (
            ("samples.png", "samples"),
            *((spec.figure, f"samples, {spec.label}") for spec in samplers.SAMPLERS.values() if spec.figure),
            ("trajectories.png", "trajectories from noise to image"),
            ("reconstructions.png", "inputs vs reconstructions"),
            ("interpolation.png", "latent interpolation"),
            ("curves.png", "training curves"),
            ("fid-by-epoch.png", "FID by epoch"),
        ):
            if (fig / file).exists() or (file == "samples.png" and status == "done"):
                page.img(fig / file, f"{name}: {caption}")
        page.add("</div>")


def metrics_table(page: Page, study: dict, settings: dict, dataset: str) -> None:
    """Every tabled metric (metric_specs.TABLE) per setting and sampler; without a judge only what needs none."""
    no_judge = judge_skipped(settings, dataset) is not None
    specs = [sp for sp in metric_specs.shown_in(metric_specs.TABLE) if not (no_judge and sp.needs_judge)]
    keys = [sp.key for sp in specs]
    rows = [s for s in settings.values() if s.dataset == dataset]
    page.add(
        "<table><tr><th>model</th><th>z</th><th>runs</th>"
        + "".join(f"<th title='{e(sp.key)}'>{e(sp.label)}</th>" for sp in specs)
        + "</tr>"
    )
    fl = next((s.evals[0]["floor"] for s in rows if s.evals), None)
    if fl:
        page.add(
            "<tr><td>real vs real</td><td>–</td><td>–</td>"
            + "".join(f"<td>{fmt(fl.get(k))}</td>" for k in keys)
            + "</tr>"
        )
    for s in rows:
        page.add(
            f"<tr><td>{e(compare.label(s.model))}</td><td>{e(str(s.z_dim))}</td>"
            f"<td>{len(s.evals)}/{len(s.runs)}</td>"
            + "".join(f"<td>{fmt_stat(s.stat(k))}</td>" for k in keys)
            + "</tr>"
        )
        for spec in compare.samplers_of(study, s.model, generative_only=False):  # the same decoder, other codes
            if s.stat(spec.prefix + M.FID) is None:
                continue
            page.add(
                f"<tr><td>{e(compare.label(s.model))}, {e(spec.label)}</td>"
                f"<td>{e(str(s.z_dim))}</td><td>{len(s.evals)}/{len(s.runs)}</td>"
                + "".join(f"<td>{fmt_stat(s.stat(spec.prefix + k))}</td>" for k in keys)
                + "</tr>"
            )
    page.add("</table>")


PART_NAMES = {"mnist": "Part I — MNIST", "fashion-mnist": "Part II — Fashion-MNIST"}
VERDICT_CLASS = {"supported": "ok", "contradicted": "bad", "inconclusive": "note", "not measured": "note"}


def config_differences(cfg: dict[str, Any]) -> str:
    """The settings of a run that differ from its model's defaults (what a reader needs to tell runs apart)."""

    model = cfg.get("model", {})
    try:
        base = make_config(model.get("name", ""), cfg.get("data", {}).get("dataset", "mnist")).to_dict()
    except GenlabError:
        return ""
    diffs = [f"{k}={v}" for k, v in sorted(model.items()) if k not in ("name", "z_dim") and base["model"].get(k) != v]
    for section in ("data", "train"):
        diffs += [
            f"{section}.{k}={v}"
            for k, v in sorted(cfg.get(section, {}).items())
            if base[section].get(k) != v and k not in ("seed", "dataset")
        ]
    return ", ".join(diffs) or "defaults"


def setup_section(page: Page, study_dir: Path, study: dict, settings: dict) -> None:
    """Datasets, models, training settings, protocol, hardware, versions, wall time per run; settings that differ
    from the defaults in the table, every config in full behind a <details>."""
    page.add("<h2 id='setup'>Setup</h2>")
    page.add(
        f"<p>Datasets: {e(', '.join(study['datasets']))} (IDX files verified by SHA-256; pixels scaled to "
        "[-1, 1]). Latent sizes: "
        + "; ".join(f"{e(compare.label(m))} z = {e(', '.join(map(str, zs)))}" for m, zs in study["arms"].items())
        + f". Seeds per setting: {e(str(study.get('seeds', 1)))}.</p>"
    )
    env = None
    full = []
    page.add(
        "<table><tr><th>run</th><th>status</th><th>settings that differ from the defaults</th><th>epochs</th>"
        "<th>batch</th><th>train images</th><th>best epoch</th><th>wall time (s)</th></tr>"
    )
    for name in study["runs"]:
        run_dir = study_dir / name
        meta = read_meta(run_dir) if run_dir.is_dir() else {}
        cfg = read_config_dict(run_dir)
        ev = (
            schema.check(read_json(run_dir / "eval.json"), schema.EVAL, run_dir / "eval.json")
            if (run_dir / "eval.json").is_file()
            else {}
        )
        env = env or meta.get("environment")
        train = cfg.get("train", {})
        status = meta.get("status", "missing")
        cls = "" if status == "done" else " class='bad'"
        page.add(
            f"<tr><td>{e(name)}</td><td{cls}>{e(str(status))}</td>"
            f"<td style='text-align:left'>{e(config_differences(cfg)) if cfg else '–'}</td>"
            f"<td>{e(str(train.get('epochs', '–')))}</td><td>{e(str(train.get('batch_size', '–')))}</td>"
            f"<td>{e(str(meta.get('n_train', '–')))}</td><td>{e(str(ev.get('epoch', '–')))}</td>"
            f"<td>{fmt(meta.get('wall_s'))}</td></tr>"
        )
        if cfg:
            full.append(f"<h4>{e(name)}</h4><pre>{e(json.dumps(cfg, indent=1, sort_keys=True))}</pre>")
    page.add("</table>")
    page.add("<details><summary>every run's full config.json</summary>" + "".join(full) + "</details>")
    if env:
        page.add("<p class='note'>Hardware and versions: " + e(", ".join(f"{k} {v}" for k, v in env.items())) + "</p>")


SUMMARY_KEYS = [(sp.key, sp.label) for sp in metric_specs.shown_in(metric_specs.SUMMARY)]


def summary_rows(study: dict, settings: dict, ds: str) -> list[tuple[str, str, compare.Setting | None, str]]:
    """(capacity, label, setting, key prefix) for each cell row of the matched-capacity table."""
    rows = []
    for i, cap in enumerate(study["capacity_names"]):
        for arm, zs in study["arms"].items():
            st = settings.get((ds, arm, zs[i]))
            label = f"{compare.label(arm)} z{zs[i]}"
            rows.append((cap, label, st, ""))
            for spec in compare.samplers_of(study, arm):
                if st is not None and st.stat(spec.prefix + M.FID) is not None:
                    rows.append((cap, f"{label}, {spec.label}", st, spec.prefix))
    return rows


def judge_skipped(settings: dict, ds: str) -> str | None:
    """Why a dataset's runs have no judge metrics (an unlabeled image folder), or None."""
    return next(
        (
            ev["judge_skipped"]
            for s in settings.values()
            if s.dataset == ds
            for ev in s.evals
            if ev.get("judge_skipped")
        ),
        None,
    )


def verdict(study: dict, settings: dict, ds: str) -> str:
    """The summary table's verdict in one sentence (genlab.report.findings.verdict_sentence)."""

    rows = []
    for cap, label, st, prefix in summary_rows(study, settings, ds):
        if st is not None:
            row_label = re.sub(r" z\d+", "", label)  # "VAE, GMM sampler"
            family = compare.label(st.model)
            rows.append((cap, family, row_label, *(st.stat(prefix + k) for k, _, _ in findings.VERDICT_METRICS)))
    return findings.verdict_sentence(ds, rows)


def summary_section(page: Page, study_dir: Path, study: dict, settings: dict) -> None:
    """The verdict on one screen: per dataset a sentence, the FID and recognisable-share charts side by side, and the
    matched-capacity table under them (the charts come first: with every sampler the table is taller than a
    screen)."""
    page.add("<section id='summary'><h2>Summary</h2>")
    for ds in study["datasets"]:
        page.add(f"<h3>{e(ds)}</h3>")
        sentence = verdict(study, settings, ds)
        if sentence:
            page.add(f"<p class='verdict'>{e(sentence)}</p>")
        page.add("<div class='summary'><div>")
        fl = compare.floor(settings, ds, M.FID)
        k = compare.n_judges({key: s for key, s in settings.items() if s.dataset == ds})
        spread_note = (
            f"; below each value, the instrument spread: its min–max over the {k} judges of the ensemble (the same "
            "samples, judges of the same recipe and other seeds)"
            if k > 1
            else ""
        )
        # the note is the table's caption, so it wraps at the table's width and the chart stays beside it
        caption = (
            f"<caption class='note'>FID in the judge's feature space (lower is better; real vs real {fmt(fl)}); "
            f"brackets: 95% intervals{spread_note}.</caption>"
            if fl is not None
            else ""
        )
        page.add(
            f"<table>{caption}<tr><th>capacity</th><th>model</th>"
            + "".join(f"<th>{e(n)}</th>" for _, n in SUMMARY_KEYS)
            + "</tr>"
        )
        floors = [compare.floor(settings, ds, k) for k, _ in SUMMARY_KEYS]
        page.add("<tr><td>–</td><td>real vs real</td>" + "".join(f"<td>{fmt(v)}</td>" for v in floors) + "</tr>")
        for cap, label, st, prefix in summary_rows(study, settings, ds):
            cells = "".join(
                f"<td>{fmt_stat(st.stat(prefix + k)) if st else '–'}{fmt_spread(st, prefix + k)}</td>"
                for k, _ in SUMMARY_KEYS
            )
            page.add(f"<tr><td>{e(cap)}</td><td>{e(label)}</td>{cells}</tr>")
        page.add("</table>")
        page.add("</div>")
        skipped = judge_skipped(settings, ds)
        if skipped:  # no judge, so no judge-space charts: say why instead of showing them as missing
            page.add(f"<p class='bad'>No judge metrics: {e(skipped)}.</p>")
        else:
            for key in (M.FID, M.RECOGNISABLE):
                page.img(
                    study_dir / "figures" / f"{data.slug(ds)}-compare-{key}.png", f"{ds}: {key} at matched capacity"
                )
        page.add("</div>")
    page.add("</section>")


def compute_section(page: Page, study_dir: Path, study: dict, settings: dict) -> None:
    """Beyond the seed study: every family's sample quality against its training compute (genlab.report.families), a
    chart and a table per dataset and the sentences the numbers support."""

    page.add("<section id='compute'><h2>Beyond the seed: families at matched compute</h2>")
    shown = False
    for ds in study["datasets"]:
        pts = families.points(study_dir, study, settings, ds)
        if not pts:
            continue
        shown = True
        page.add(f"<h3>{e(ds)}</h3><div class='summary'>")
        page.add(
            "<table><caption class='note'>Training compute: FLOPs of one step (torch's flop counter) times the "
            "steps, mean over seeds; a sampler fitted after training (GMM, latent flow) adds seconds, not shown. "
            "Brackets: 95% intervals.</caption><tr><th>model</th><th>training TFLOP</th><th>training s</th>"
            "<th>FID</th><th>recognisable</th><th>recall</th></tr>"
        )
        for p in sorted(pts, key=lambda p: p.train_flops):
            wall = f"{p.wall_s:.0f}" if p.wall_s is not None else "–"
            page.add(
                f"<tr><td>{e(p.label)}</td><td>{p.train_flops / 1e12:.3g}</td><td>{wall}</td>"
                f"<td>{fmt_stat(p.fid)}</td><td>{fmt_stat(p.recognisable)}</td><td>{fmt_stat(p.recall)}</td></tr>"
            )
        page.add("</table>")
        path = families.chart(study_dir, ds, pts)
        if path:
            page.img(path, f"{ds}: FID against training compute")
        page.add("</div>")
        lines = families.claims(pts)
        if lines:
            page.add("<ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>")
    if not shown:
        page.add(
            "<p class='note'>No run of this study has its training compute counted (runs trained before genlab "
            "counted it); 'genlab study families' compares every family at matched compute.</p>"
        )
    page.add("</section>")


def side_by_side_section(page: Page, study_dir: Path, study: dict, settings: dict) -> None:
    """Per dataset and capacity, every model's samples in one row at the same scale, then the autoencoders'
    reconstructions and interpolations: the study's core view."""
    page.add("<h2 id='side-by-side'>Samples side by side at matched capacity</h2>")
    for ds in study["datasets"]:
        page.add(f"<h3>{e(ds)}</h3>")
        page.img(study_dir / "figures" / f"{data.slug(ds)}-real.png", f"{ds}: real training samples")
        for i, cap in enumerate(study["capacity_names"]):
            page.add(f"<h4>{e(cap)} capacity</h4><div class='row same'>")
            autoencoders = []
            for arm, zs in study["arms"].items():
                st = settings.get((ds, arm, zs[i]))
                done = [n for n in st.runs if st.statuses.get(n) == "done"] if st else []
                if not done:
                    page.add(
                        f"<figure><figcaption class='bad'>{e(compare.label(arm))} z{zs[i]}: "
                        "no finished run</figcaption></figure>"
                    )
                    continue
                fig = study_dir / done[0] / "figures"
                page.img(fig / "samples.png", f"{compare.label(arm)} z{zs[i]} ({done[0]})")
                for spec in compare.samplers_of(study, arm):
                    if (fig / spec.figure).exists():
                        page.img(fig / spec.figure, f"{compare.label(arm)} z{zs[i]}, {spec.label}")
                if (fig / "trajectories.png").exists():
                    page.img(fig / "trajectories.png", f"{compare.label(arm)}: trajectories from noise to image")
                if (fig / "reconstructions.png").exists():
                    autoencoders.append((arm, zs[i], fig))
            page.add("</div>")
            if autoencoders:
                page.add("<div class='row same'>")
                for arm, z, fig in autoencoders:
                    for file, what in (
                        ("reconstructions.png", "inputs vs reconstructions"),
                        ("interpolation.png", "interpolation"),
                    ):
                        page.img(fig / file, f"{compare.label(arm)} z{z}: {what}")
                page.add("</div>")


STRIP_EPOCHS = 4  # fixed-noise grids per training strip


def strip_epochs(n_epochs: int, k: int = STRIP_EPOCHS) -> list[int]:
    """k epochs spread from the first to the last (1-based, distinct, sorted)."""
    if n_epochs <= k:
        return list(range(1, n_epochs + 1))
    return sorted({round(1 + i * (n_epochs - 1) / (k - 1)) for i in range(k)})


def training_strips_section(page: Page, study_dir: Path, study: dict) -> None:
    """Per run, the fixed-noise grid at a few epochs in one row: instability and collapse show over time."""
    page.add(
        "<h2 id='strips'>Training strips</h2><p class='note'>The same fixed noise at a few epochs of each run "
        "(figures/epochs/).</p>"
    )
    for name in study["runs"]:
        folder = study_dir / name / "figures" / "epochs"
        grids = sorted(folder.glob("samples-epoch-*.png")) if folder.is_dir() and not folder.is_symlink() else []
        if not grids:
            continue
        keep = set(strip_epochs(len(grids)))
        page.add(f"<h4>{e(name)}</h4><div class='row strip'>")
        for i, g in enumerate(grids, 1):
            if i in keep:
                page.img(g, f"{name}: epoch {g.stem.rsplit('-', 1)[-1].lstrip('0') or '0'}")
        page.add("</div>")


def dataset_section(page: Page, study_dir: Path, study: dict, settings: dict, ds: str) -> None:
    page.add(f"<h3>{e(PART_NAMES.get(ds, ds))}</h3>")
    for model in study["arms"]:
        page.add(f"<h4>{e(compare.label(model))}</h4>")
        for z in study["arms"][model]:
            run_section(page, study_dir, settings[(ds, model, z)])


def comparison_section(page: Page, study_dir: Path, study: dict, settings: dict) -> None:
    page.add("<h2 id='comparison'>Part III — Comparison: every chart and metric</h2>")
    for ds in study["datasets"]:
        charts = sorted((study_dir / "figures").glob(f"{data.slug(ds)}-compare-*.png"))
        page.add(f"<h3>{e(ds)}: matched capacity</h3><div class='row'>")
        for c in charts:
            page.img(c, c.stem)
        if not charts:
            page.add("<p class='bad'>no comparison charts: no run was evaluated</p>")
        page.add("</div>")
        page.add(f"<h3>{e(ds)}: all metrics (mean [95% CI])</h3>")
        metrics_table(page, study, settings, ds)
        collapse_table(page, settings, ds, study)


MAX_HISTOGRAM_CLASSES = 20  # more classes than this get the mode counts instead of a per-class table


def modes_table(page: Page, study: dict, settings: dict, ds: str) -> None:
    """Stacked MNIST's collapse figures per model and sampler (mean [95% CI] over seeds), real images first."""

    found = [r for r in collapse.rows(study, settings) if r[3].dataset == ds]
    if not found:
        return
    keys = (M.MODES, M.MODES_RECOGNISED, M.MODE_KL)
    page.add(
        f"<h4>{e(ds)}: modes covered of 1,000 (mode-collapse table)</h4><p class='note'>"
        f"{e(found[0][3].evals[0]['protocol'].get('modes', ''))}. Published (PacGAN, Table 3; other networks and "
        "classifier): "
        + e(", ".join(f"{n} {m:g} modes / KL {k:.2f}" for n, m, k in collapse.PUBLISHED))
        + "</p><table><tr><th>model</th><th>z</th><th>runs</th>"
        + "".join(f"<th>{e(k)}</th>" for k in keys)
        + "</tr>"
    )
    floor = found[0][3].evals[0].get("floor", {})
    page.add(
        "<tr><td>real training images</td><td>–</td><td>–</td>"
        + "".join(f"<td>{fmt(floor.get(k))}</td>" for k in keys)
        + "</tr>"
    )
    for label, z, prefix, s in found:
        page.add(
            f"<tr><td>{e(label)}</td><td>{e(str(z))}</td><td>{len(s.evals)}/{len(s.runs)}</td>"
            + "".join(f"<td>{e(collapse.cell(s.stat(prefix + k), k))}</td>" for k in keys)
            + "</tr>"
        )
    page.add("</table>")


def collapse_table(page: Page, settings: dict, ds: str, study: dict | None = None) -> None:
    """Class histograms of the samples under the judge, with the share it cannot recognise (junk) last:
    mode collapse and garbage told apart at a glance."""
    rows = [s for s in settings.values() if s.dataset == ds and s.evals]
    if not rows:
        return
    ev0 = rows[0].evals[0]
    if "class_histogram" not in ev0:  # no judge (unlabeled images): the report says why where the protocol is
        return
    names = ev0.get("class_names") or [str(i) for i in range(len(ev0["class_histogram"]))]
    n_bins = len(names)
    if n_bins - 1 > MAX_HISTOGRAM_CLASSES:  # 1,000 Stacked MNIST triples: counts, not a thousand columns
        modes_table(page, study, settings, ds)
        return
    page.add(
        f"<h4>{e(ds)}: share of samples per judged class (mode-collapse table)</h4><p class='note'>A sample "
        f"counts for a class when the judge gives it that class with probability &ge; {M.RECOGNISABLE_P}; the last "
        f"column holds the rest (junk or ambiguous). Classes covered: {e(M.coverage_rule(n_bins - 1))}.</p>"
        "<table><tr><th>model</th><th>z</th>"
        + "".join(f"<th>{e(str(c))}</th>" for c in names)
        + "<th>classes covered</th></tr>"
    )
    train = ev0.get("train_class_histogram")
    if train:
        page.add(
            "<tr><td>training set</td><td>–</td>"
            + "".join(f"<td>{100 * v:.1f}%</td>" for v in train)
            + "".join("<td>–</td>" for _ in range(n_bins - len(train)))
            + f"<td>{len(train)}</td></tr>"
        )
    for s in rows:
        hists = [ev["class_histogram"] for ev in s.evals if len(ev.get("class_histogram", [])) == n_bins]
        hist = [sum(h[i] for h in hists) / len(hists) for i in range(n_bins)] if hists else [0.0] * n_bins
        recognised = max(1.0 - hist[-1], 1e-12)  # red: much junk, or a class the coverage rule calls uncovered
        bad = [
            v >= 0.1 if i == n_bins - 1 else not M.is_covered(v / recognised, n_bins - 1) for i, v in enumerate(hist)
        ]
        cells = "".join(f"<td{' class=bad' if b else ''}>{100 * v:.1f}%</td>" for v, b in zip(hist, bad))
        covered = s.stat(M.CLASSES_COVERED)
        page.add(
            f"<tr><td>{e(compare.label(s.model))}</td><td>{e(str(s.z_dim))}</td>{cells}"
            f"<td>{fmt(covered[0] if covered else None)}</td></tr>"
        )
    page.add("</table>")


def findings_section(page: Page, study_dir: Path, study: dict, settings: dict) -> None:

    page.add("<h2 id='verdict'>Answers to the study's questions</h2>")
    own = [(Path(study_dir), study, settings)] if study.get("study") in sensitivity.STUDIES else []
    modes = collapse.beside(study_dir, study, settings)
    for question, lines, caveat in findings.answers(study, settings, own or sensitivity.beside(study_dir), modes):
        page.add(
            f"<h3>{e(question)}</h3><ul>"
            + "".join(f"<li>{e(line)}</li>" for line in lines)
            + f"</ul><p class='note'>Caveat: {e(caveat)}</p>"
        )
    views = [compare.under_judge(settings, j) for j in range(compare.n_judges(settings))]
    judges_note = (
        f" Every claim is checked under each of the {len(views)} judges (the same recipe, other seeds): "
        "it is supported or contradicted only when all of them agree."
        if len(views) > 1
        else ""
    )
    page.add(
        "<h2>Claims check</h2><p class='note'>Each conclusion of the original lab report, judged by the "
        "measured intervals: supported when the intervals separate in the claimed direction, contradicted "
        f"when they separate the other way, inconclusive otherwise.{judges_note}</p><table><tr><th>claim</th>"
        "<th>verdict</th><th>evidence</th></tr>"
    )
    for c in findings.check_claims_under_judges(study, views):
        page.add(
            f"<tr><td>{e(c.text)}</td><td class='{VERDICT_CLASS.get(c.verdict, 'note')}'>{e(c.verdict)}</td>"
            f"<td style='text-align:left'>{e(c.evidence)}</td></tr>"
        )
    page.add("</table>")


TOC = [
    ("summary", "Summary"),
    ("verdict", "Answers and claims check"),
    ("compute", "Beyond the seed: compute"),
    ("side-by-side", "Samples side by side"),
    ("strips", "Training strips"),
    ("parts", "Every run, per dataset"),
    ("comparison", "All metrics"),
    ("setup", "Setup"),
]


def build(study_dir: Path, embed: bool) -> str:
    study_dir = Path(study_dir)
    study, settings = compare.load_study(study_dir)
    title = f"genlab study {study['study']} ({study['profile']})"
    page = Page(study_dir, embed)
    page.add(
        f"<h1>{e(title)}</h1><p class='note'>{e(study.get('description', ''))}. Profile "
        f"{e(study['profile'])}: {e(study.get('profile_description', ''))}.</p>"
    )
    page.add("<nav class='toc'>" + " · ".join(f"<a href='#{a}'>{e(t)}</a>" for a, t in TOC) + "</nav>")
    summary_section(page, study_dir, study, settings)
    evals = [ev for s in settings.values() for ev in s.evals]
    if evals:
        p = evals[0]["protocol"]
        page.add(
            f"<p class='note'>Metrics protocol: {e(str(p['n_fake']))} generated samples vs "
            f"{e(p['reference'])}; features: {e(p['feature_space'])}; intervals: "
            f"{e(interval_note(settings, p['intervals']))}. Recognisable: the judge gives a real class probability "
            f"&ge; {M.RECOGNISABLE_P} (junk and ambiguous samples are not). Judge-space values are not comparable "
            "with Inception-FID numbers in papers, nor with the original study's unstated 'proxy FID'.</p>"
        )
    findings_section(page, study_dir, study, settings)
    compute_section(page, study_dir, study, settings)
    side_by_side_section(page, study_dir, study, settings)
    training_strips_section(page, study_dir, study)
    page.add("<h2 id='parts'>Every run, per dataset</h2>")
    for ds in study["datasets"]:
        dataset_section(page, study_dir, study, settings, ds)
    comparison_section(page, study_dir, study, settings)
    setup_section(page, study_dir, study, settings)
    return page.html(title)


def write_index(study_dir: Path) -> Path:
    """index.html beside the figures it links; rebuilt after every study run."""
    compare.comparison_charts(study_dir)
    path = Path(study_dir) / "index.html"
    atomic_write(path, build(study_dir, embed=False).encode())
    return path


def write_report(study_dir: Path, pdf: bool = False) -> Path:
    """report.html: one self-contained file (images embedded, nothing fetched)."""
    if not (Path(study_dir) / "study.json").is_file():
        raise GenlabError(f"{study_dir} is not a study folder (no study.json); run 'genlab study' first")
    if pdf:
        from genlab.core.browser import check_pdf_support

        check_pdf_support()
    path = Path(study_dir) / "report.html"
    atomic_write(path, build(study_dir, embed=True).encode())
    if pdf:
        from genlab.core.browser import html_to_pdf

        html_to_pdf(path, path.with_suffix(".pdf"))
    return path
