"""Study folder -> HTML: `index.html` (links the PNGs) and `report.html` (one self-contained file).

Reads run dirs only (config.json, meta.json, eval.json, figures/); it never
trains or evaluates. Every string that comes from a run dir is escaped.
Missing or failed runs are shown as such.

    genlab report runs/lab-quick
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from genlab import compare
from genlab import metrics as M
from genlab.runs import atomic_write, read_json, read_meta

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:0 auto;padding:1rem;
color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2rem}h3{margin-top:1.4rem}
figure{display:inline-block;margin:.4rem;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #ccc;image-rendering:pixelated}
figcaption{font-size:.8rem;color:#555;max-width:520px}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0;display:block;overflow-x:auto}
td,th{border:1px solid #ccc;padding:.2rem .45rem;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.bad{color:#b00020;font-weight:600}.note{font-size:.85rem;color:#555}
.row{display:flex;flex-wrap:wrap;gap:.3rem}
@media print{figure{page-break-inside:avoid}h2{page-break-before:auto}}
"""

e = html.escape


class Page:
    """Collects HTML; images either linked (index.html) or embedded as data URIs (report.html)."""

    def __init__(self, root: Path, embed: bool):
        self.root, self.embed, self.parts = Path(root), embed, []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def img(self, path: Path, caption: str) -> None:
        path = Path(path)
        if not path.is_file():
            self.add(f'<figure><figcaption class="bad">missing figure: {e(path.name)}</figcaption></figure>')
            return
        if self.embed:
            src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
        else:
            src = e(str(path.relative_to(self.root)))
        self.add(f'<figure><img src="{src}" alt="{e(caption)}" loading="lazy"><figcaption>{e(caption)}'
                 "</figcaption></figure>")

    def html(self, title: str) -> str:
        return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{e(title)}</title><style>{CSS}</style></head><body>" + "".join(self.parts) + "</body></html>")


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}"
    return e(str(v))


def fmt_stat(stat: tuple[float, float, float] | None) -> str:
    if stat is None:
        return "–"
    m, lo, hi = stat
    return f"{fmt(m)} <span class='note'>[{fmt(lo)}, {fmt(hi)}]</span>" if hi > lo else fmt(m)


def run_section(page: Page, study_dir: Path, setting: compare.Setting) -> None:
    label = f"{compare.MODEL_LABELS.get(setting.model, setting.model)} z={setting.z_dim}"
    page.add(f"<h4>{e(label)}</h4>")
    if not setting.runs:
        page.add("<p class='bad'>no run of this setting in the study</p>")
        return
    for name in setting.runs:
        run_dir = study_dir / name
        status = setting.statuses.get(name, "missing")
        meta = read_meta(run_dir) if run_dir.is_dir() else {}
        if status != "done":
            extra = f" at step {meta['diverged_step']}" if status == "diverged" and "diverged_step" in meta else ""
            page.add(f"<p class='bad'>run {e(name)}: {e(status)}{e(extra)} — its figures and metrics are absent"
                     "</p>")
            if status != "diverged":
                continue
        fig = run_dir / "figures"
        page.add("<div class='row'>")
        for file, caption in (("samples.png", "samples"), ("reconstructions.png", "inputs vs reconstructions"),
                              ("interpolation.png", "latent interpolation"), ("curves.png", "training curves"),
                              ("fid-by-epoch.png", "FID by epoch")):
            if (fig / file).exists() or (file == "samples.png" and status == "done"):
                page.img(fig / file, f"{name}: {caption}")
        page.add("</div>")


def metrics_table(page: Page, settings: dict, dataset: str) -> None:
    keys = [M.FID, M.KID, M.PRECISION, M.RECALL, M.DENSITY, M.COVERAGE, M.CLASSIFIER_SCORE, M.CLASSES_COVERED,
            M.CLASS_KL, M.NEAR_DUPLICATES, M.RECON_MSE, M.RECON_SSIM, M.ELBO, M.IWAE, M.ACTIVE_UNITS]
    rows = [s for s in settings.values() if s.dataset == dataset]
    page.add("<table><tr><th>model</th><th>z</th><th>runs</th>" + "".join(f"<th>{e(k)}</th>" for k in keys)
             + "</tr>")
    fl = next((s.evals[0]["floor"] for s in rows if s.evals), None)
    if fl:
        page.add("<tr><td>real vs real</td><td>–</td><td>–</td>" + "".join(
            f"<td>{fmt(fl.get(k))}</td>" for k in keys) + "</tr>")
    for s in rows:
        page.add(f"<tr><td>{e(compare.MODEL_LABELS.get(s.model, s.model))}</td><td>{s.z_dim}</td>"
                 f"<td>{len(s.evals)}/{len(s.runs)}</td>" + "".join(f"<td>{fmt_stat(s.stat(k))}</td>" for k in keys)
                 + "</tr>")
    page.add("</table>")


def build(study_dir: Path, embed: bool) -> str:
    study_dir = Path(study_dir)
    study, settings = compare.load_study(study_dir)
    title = f"genlab study {study['study']} ({study['profile']})"
    page = Page(study_dir, embed)
    page.add(f"<h1>{e(title)}</h1><p>{e(study.get('description', ''))}. Profile: "
             f"{e(study.get('profile_description', ''))}. Seeds per setting: {int(study.get('seeds', 1))}.</p>")
    evals = [ev for s in settings.values() for ev in s.evals]
    if evals:
        p = evals[0]["protocol"]
        page.add(f"<p class='note'>Metrics protocol: {e(str(p['n_fake']))} generated samples vs "
                 f"{e(p['reference'])}; features: {e(p['feature_space'])}; intervals: "
                 f"{e(p['intervals'])}. Judge-space values are not comparable with Inception-FID numbers "
                 "in papers.</p>")
    for ds in study["datasets"]:
        page.add(f"<h2>{e(ds)}</h2>")
        page.img(study_dir / "figures" / f"{ds}-real.png", f"{ds}: real training samples")
        for model in study["arms"]:
            page.add(f"<h3>{e(compare.MODEL_LABELS.get(model, model))}</h3>")
            for z in study["arms"][model]:
                run_section(page, study_dir, settings[(ds, model, z)])
        charts = sorted((study_dir / "figures").glob(f"{ds}-compare-*.png"))
        if charts:
            page.add(f"<h3>{e(ds)}: matched-capacity comparison</h3><div class='row'>")
            for c in charts:
                page.img(c, c.stem)
            page.add("</div>")
        page.add(f"<h3>{e(ds)}: all metrics</h3>")
        metrics_table(page, settings, ds)
    return page.html(title)


def write_index(study_dir: Path) -> Path:
    """index.html beside the figures it links; rebuilt after every study run."""
    compare.comparison_charts(study_dir)
    path = Path(study_dir) / "index.html"
    atomic_write(path, build(study_dir, embed=False).encode())
    return path


def write_report(study_dir: Path, pdf: bool = False) -> Path:
    """report.html: one self-contained file (images embedded, nothing fetched)."""
    from genlab.errors import GenlabError

    if not (Path(study_dir) / "study.json").is_file():
        raise GenlabError(f"{study_dir} is not a study folder (no study.json); run 'genlab study' first")
    path = Path(study_dir) / "report.html"
    atomic_write(path, build(study_dir, embed=True).encode())
    return path


def read_eval(run_dir: Path) -> dict | None:
    path = Path(run_dir) / "eval.json"
    return read_json(path) if path.exists() else None
