"""The report: claims come out of the numbers, strings from run dirs are escaped, missing runs show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chart_checks import text_overlaps
from PIL import Image

from genlab.report import findings
from genlab.report.compare import load_study
from genlab.report.html import write_report
from genlab.store.runs import write_json

ARMS = {"gan": [32, 64, 128], "vae": [8, 16, 32]}


def fake_eval(model, ds, z, fid, recall=0.5, mse=None):
    metrics = {
        "fid": fid,
        "kid": fid / 100,
        "kid_std": 0.01,
        "precision": 0.7,
        "recall": recall,
        "density": 1.0,
        "coverage": 0.8,
        "classifier_score": 9.0,
        "classes_covered": 10,
        "class_kl": 0.01,
        "near_duplicate_share": 0.0,
    }
    if mse is not None:
        metrics.update({"recon_mse": mse, "recon_ssim": 0.8, "elbo": -100.0, "iwae": -95.0, "active_units": z})
    return {
        "run": f"{ds}-{model}-z{z}-s0",
        "model": model,
        "dataset": ds,
        "z_dim": z,
        "seed": 0,
        "epoch": 3,
        "metrics": metrics,
        "intervals": {k: [v * 0.98, v * 1.02] for k, v in metrics.items() if isinstance(v, float)},
        "floor": {"fid": 1.0, "kid": 0.0, "precision": 0.8, "recall": 0.8},
        "protocol": {"n_fake": 100, "reference": "test", "feature_space": "judge", "intervals": "bootstrap"},
        "class_histogram": [0.1] * 10 + [0.0],
        "train_class_histogram": [0.1] * 10,
        "judge": {"test_accuracy": 0.99},
        "stability": {"fid_epoch_rel_spread": 0.1, "loss_g_std": 0.2, "d_saturation": 0.0},
    }


def make_store(root: Path, gan_fid: float, vae_fid: float, names=None, skip=()) -> Path:
    study = root / "lab-quick"
    runs = []
    for ds in ("mnist", "fashion-mnist"):
        for model, zs in ARMS.items():
            for z in zs:
                name = f"{ds}-{model}-z{z}-s0"
                runs.append(name)
                if name in skip:
                    continue
                write_json(
                    study / name / "meta.json",
                    {"status": "done", "dataset": ds, "model": model, "z_dim": z, "wall_s": 1.0},
                )
                fid = gan_fid if model == "gan" else vae_fid
                write_json(
                    study / name / "eval.json",
                    fake_eval(
                        model,
                        ds,
                        z,
                        fid * (2 if ds == "fashion-mnist" else 1),
                        mse=0.05 - z / 1000 if model == "vae" else None,
                    ),
                )
    write_json(
        study / "study.json",
        {
            "study": "lab",
            "profile": "quick",
            "seeds": 1,
            "datasets": ["mnist", "fashion-mnist"],
            "arms": ARMS,
            "capacity_names": ["low", "mid", "high"],
            "runs": runs,
            "description": names or "synthetic",
            "profile_description": "x",
        },
    )
    return study


def verdict(study_dir: Path, start: str) -> str:
    study, settings = load_study(study_dir)
    return next(c.verdict for c in findings.check_claims(study, settings) if c.text.startswith(start))


def test_claims_follow_the_numbers(tmp_path):
    gan_wins = make_store(tmp_path / "a", gan_fid=10.0, vae_fid=50.0)
    assert verdict(gan_wins, "GANs reach lower FID") == findings.SUPPORTED
    gan_loses = make_store(tmp_path / "b", gan_fid=80.0, vae_fid=20.0)
    assert verdict(gan_loses, "GANs reach lower FID") == findings.CONTRADICTED
    assert verdict(gan_wins, "GAN FID is roughly flat") == findings.SUPPORTED
    assert verdict(gan_wins, "VAE reconstructions sharpen") == findings.SUPPORTED
    assert verdict(gan_wins, "Fashion-MNIST is harder") == findings.SUPPORTED
    close = make_store(tmp_path / "c", gan_fid=10.0, vae_fid=10.1)
    assert verdict(close, "GANs reach lower FID") == findings.INCONCLUSIVE


def test_report_escapes_strings_from_run_dirs(tmp_path):
    study = make_store(tmp_path, 10.0, 50.0, names="<script>alert(1)</script>")
    html = write_report(study).read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_config_that_is_not_a_valid_config_is_one_line_naming_the_file(tmp_path):
    import pytest

    from genlab.core.errors import GenlabError

    study = make_store(tmp_path, 10.0, 50.0)
    (study / "mnist-gan-z32-s0" / "config.json").write_text(
        json.dumps({"model": {"name": "gan", "arch": "<img src=x onerror=alert(2)>"}, "train": {"epochs": 1}})
    )
    with pytest.raises(GenlabError, match=r"mnist-gan-z32-s0/config.json.*model.arch"):
        write_report(study)
    assert not (study / "report.html").exists()


def test_missing_and_failed_runs_are_shown_not_crashed(tmp_path):
    study = make_store(tmp_path, 10.0, 50.0, skip={"mnist-gan-z64-s0"})
    write_json(
        study / "fashion-mnist-vae-z16-s0" / "meta.json",
        {"status": "failed", "dataset": "fashion-mnist", "model": "vae", "z_dim": 16},
    )
    (study / "fashion-mnist-vae-z16-s0" / "eval.json").unlink()
    html = write_report(study).read_text()
    assert "run mnist-gan-z64-s0: missing" in html
    assert "run fashion-mnist-vae-z16-s0: failed" in html


def test_comparison_chart_labels_never_overlap():
    """Every chart genlab draws: no two texts (tick labels, value labels, title, legend) intersect, for the lab
    study's own groups with four series and for a one-capacity ablation with eleven."""
    from genlab.report import viz
    from genlab.report.compare import capacity_labels

    study = {
        "arms": {"gan": [32, 64, 128], "vae": [8, 16, 32], "vaegan": [8, 16, 32]},
        "capacity_names": ["low", "mid", "high"],
    }
    groups = capacity_labels(study)
    bars = {
        name: [(v, v * 0.9, v * 1.1) for v in (123.4, 98.7, 101.2)]
        for name in ("GAN", "VAE", "VAE, GMM sampler", "VAE-GAN")
    }
    fig = viz.bar_figure(
        groups,
        bars,
        "mnist · FID at matched capacity (1 seed, 95% bootstrap CI over samples); z: GAN · VAE · VAE-GAN",
        "FID in judge space (lower is better)",
        floor=2.9,
    )
    assert text_overlaps(fig) == []
    many = {f"gan-variant-{i}": [(100.0 + 37 * i, 90.0 + 37 * i, 110.0 + 37 * i)] for i in range(11)}
    fig = viz.bar_figure(["mid\nz 64"], many, "recipes · FID", "FID", floor=2.9)
    assert text_overlaps(fig) == []
    series = {"loss_d": ([1, 2, 3], [1.0, 0.5, 0.7]), "loss_g": ([1, 2, 3], [2.0, 1.5, 1.1])}
    assert (
        text_overlaps(
            viz.curves_figure(
                series, [["loss_d", "loss_g"], ["loss_g"]], "mnist · GAN z=64 · training curves", ["loss", "loss"]
            )
        )
        == []
    )


@pytest.mark.parametrize(
    "mean, lo, hi",
    [(1617151880.0, 40.0, 50.0), (1.7976931348623157e308, 1.0, 2.0), (-1e308, -1e308, 5.0), (5e-324, 0.0, 5e-324)],
)
def test_bar_chart_of_any_finite_value_stays_a_readable_size(tmp_path, mean, lo, hi):
    """A damaged eval.json can hold any finite number, its mean outside its own interval (CI's fuzz found FID
    1.6e9 with CI [40, 50]): the chart must still save, at its usual size, not a PNG 18 million pixels tall."""
    from genlab.report import viz

    path = viz.grouped_bars(
        ["mid\nz 64"],
        {"GAN": [(mean, lo, hi)], "VAE": [(30.0, 25.0, 35.0)]},
        "t",
        "FID",
        tmp_path / "bars.png",
        floor=2.9,
    )
    with Image.open(path) as im:
        assert im.width < 1500 and im.height < 1000, im.size


def test_curves_of_a_diverged_or_damaged_log_still_draw(tmp_path):
    """Training curves with NaN, infinities and magnitudes past matplotlib's tick arithmetic: those points are
    left out of the line, the rest drawn, and the figure saves at its usual size."""
    from genlab.report import viz

    ys = [1.0, float("nan"), float("inf"), 1.7976931348623157e308, -1e300, 2.0]
    path = viz.curves({"loss_d": (list(range(6)), ys)}, [["loss_d"]], "t", ["loss"], tmp_path / "curves.png")
    with Image.open(path) as im:
        assert im.width < 1000 and im.height < 600, im.size
    assert viz.pixel_spread(path) > 0


def test_runs_command_lists_every_run_sorted_with_json(tmp_path, capsys):
    from genlab.cli import main

    study = make_store(tmp_path, 10.0, 50.0, skip={"mnist-gan-z64-s0"})
    assert main(["runs", str(study), "--sort", "fid"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["run", "status", "epochs"] and len(lines) == 2 + 12
    assert "missing" in lines[-1]  # runs without a FID sort last
    assert main(["runs", str(study), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["run"] for r in rows} == {
        f"{ds}-{m}-z{z}-s0" for ds in ("mnist", "fashion-mnist") for m, zs in ARMS.items() for z in zs
    }
    assert next(r for r in rows if r["run"] == "mnist-gan-z32-s0")["metrics"]["fid"] == 10.0
    assert main(["runs", str(tmp_path / "nope")]) == 2


def test_the_floor_line_is_inside_the_chart_when_it_tops_every_bar():
    """The recognisable-share chart's floor is the real images' share (0.96), above every model's bar: the axis
    must reach it, or the dashed line the legend names is drawn off the chart."""
    from genlab.report import viz

    bars = {"GAN": [(0.62, 0.58, 0.66)], "VAE": [(0.41, 0.37, 0.45)]}
    fig = viz.bar_figure(["mid"], bars, "mnist · recognisable share", "share", floor=0.96)
    lo, hi = fig.axes[0].get_ylim()
    assert lo <= 0.96 < hi
    assert hi < 0.96 * 1.3  # and the bars are not squashed by a far-off axis


def test_a_bars_value_label_sits_above_the_judges_diamonds():
    """Where the judges' spread reaches above a bar's interval (seen on the Fashion-MNIST FID chart of the full lab
    study: 45.2 behind a diamond), the value label goes above the diamond, not over it."""
    from genlab.report import viz

    bars = {  # that chart's numbers: (mean, lo, hi) per capacity
        "GAN": [(32.6, 31.1, 34.2), (33.0, 31.6, 34.6), (35.9, 34.3, 37.6)],
        "VAE": [(93.7, 91.8, 96.0), (94.5, 92.6, 96.9), (82.0, 80.3, 84.3)],
        "VAE, GMM sampler": [(49.0, 47.8, 51.0), (45.2, 44.1, 46.9), (44.6, 43.6, 46.5)],
        "VAE, latent flow": [(40.7, 39.5, 42.4), (39.0, 37.7, 41.0), (46.7, 44.9, 49.0)],
    }
    spreads = {
        "GAN": [(30.1, 32.6), (29.6, 33.0), (33.9, 35.9)],
        "VAE": [(93.7, 98.3), (94.5, 98.9), (82.0, 88.0)],
        "VAE, GMM sampler": [(49.0, 54.5), (45.2, 50.9), (44.6, 51.3)],
        "VAE, latent flow": [(40.7, 45.2), (39.0, 43.4), (46.7, 51.8)],
    }
    fig = viz.bar_figure(["low", "mid", "high"], bars, "fashion-mnist · FID", "FID", floor=0.703, spreads=spreads)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    half = 2.5 * fig.dpi / 72  # the diamonds' markersize, points to pixels
    diamonds = [
        ax.transData.transform((line.get_xdata()[1], line.get_ydata()[1]))
        for line in ax.lines
        if line.get_marker() == "D"
    ]
    labels = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(diamonds) == 12 and len(labels) == 12
    for x, y in diamonds:
        for box in labels:
            assert not (box.x0 < x + half and x - half < box.x1 and box.y0 < y + half and y - half < box.y1), (
                "a value label overlaps a judges' diamond"
            )
    assert text_overlaps(fig) == []


def test_a_long_scatter_legend_leaves_the_x_label_clear(monkeypatch, tmp_path):
    """The compute chart of a full lab study with the hybrid has 21 points: its legend beside the axes ran below
    them and over the x label. It now wraps into columns and the figure grows to hold it."""
    from genlab.report import viz

    kept = []
    monkeypatch.setattr(viz, "save_figure", lambda fig, path: kept.append(fig) or path)
    pts = []
    for family, flops in (("GAN", 11.0), ("VAE", 2.3), ("VAE-GAN", 14.0)):
        for z in (8, 16, 32):
            for sampler in ("", ", GMM sampler", ", latent flow")[: 1 if family == "GAN" else 3]:
                pts.append((f"{family} z{z}{sampler}", family, flops + z / 100, (40.0 + z, 38.0 + z, 42.0 + z)))
    pts += [(f"GAN z{z} again", "GAN", 11.0, (33.0, 32.0, 34.0)) for z in range(3)]
    assert len(pts) == 24
    viz.scatter(
        pts,
        "fashion-mnist · FID against training compute",
        "training compute (TFLOP, log scale; forward, backward and update of every step)",
        "FID",
        tmp_path / "c.png",
    )
    fig = kept[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.axes[0].get_legend().get_window_extent(renderer)
    xlabel = fig.axes[0].xaxis.label.get_window_extent(renderer)
    inter = legend.intersection(legend, xlabel)
    assert inter is None or inter.width <= 1 or inter.height <= 1, "the legend covers the x label"
    assert text_overlaps(fig) == []


def test_q4_counts_where_the_hybrid_beats_its_vae_with_intervals_apart(tmp_path):
    study = make_store(tmp_path, 10.0, 50.0)
    arms = dict(ARMS, vaegan=[8, 16, 32])
    runs = json.loads((study / "study.json").read_text())
    for ds in ("mnist", "fashion-mnist"):
        for z, fid in zip((8, 16, 32), (40.0, 49.5, 60.0)):  # against the VAE's 50 (x2 on Fashion): apart, level, worse
            name = f"{ds}-vaegan-z{z}-s0"
            runs["runs"].append(name)
            write_json(study / name / "meta.json", {"status": "done", "dataset": ds, "model": "vaegan", "z_dim": z})
            write_json(
                study / name / "eval.json", fake_eval("vaegan", ds, z, fid * (2 if ds == "fashion-mnist" else 1))
            )
    write_json(study / "study.json", dict(runs, arms=arms))
    q4 = next(a for a in findings.answers(*load_study(study)) if a[0].startswith("4."))
    _, lines, _ = q4
    assert lines[0].startswith("Against its VAE at 6 settings")
    assert "prior-sampled FID: lower at 2, level at 2, higher at 2" in lines[0]
    assert "GMM" not in lines[0]  # no GMM sampler measured on either side: no verdict for it
    assert lines[0].endswith("(95% intervals of each setting, as in the tables).")  # one seed: nothing paired
    paired = findings.hybrid_summary({"prior": [findings.SUPPORTED]}, [], paired=True)
    assert paired.endswith("(95% intervals of the differences paired by seed where both ran the same seeds).")
    z8 = next(line for line in lines if line.startswith("mnist VAE-GAN z8"))
    assert "FID 40 [39.2, 40.8]" in z8 and "lower than its VAE's, intervals apart" in z8
    assert "intervals overlap its VAE's" in next(line for line in lines if line.startswith("mnist VAE-GAN z16"))


def test_q4_compares_each_sampler_on_both_sides(tmp_path):
    """The hybrid's GMM-sampled FID is judged against its VAE's GMM-sampled FID, never against the prior's: the
    issue's bar is 'the same sampler (prior vs prior, GMM vs GMM)'."""
    study = make_store(tmp_path, 10.0, 50.0)
    runs = json.loads((study / "study.json").read_text())
    for ds in ("mnist", "fashion-mnist"):
        for z in (8, 16, 32):
            path = study / f"{ds}-vae-z{z}-s0" / "eval.json"
            ev = json.loads(path.read_text())
            ev["metrics"]["gmm_fid"], ev["intervals"]["gmm_fid"] = 30.0, [29.0, 31.0]
            write_json(path, ev)
            name = f"{ds}-vaegan-z{z}-s0"
            runs["runs"].append(name)
            write_json(study / name / "meta.json", {"status": "done", "dataset": ds, "model": "vaegan", "z_dim": z})
            ev = fake_eval("vaegan", ds, z, 40.0)  # prior-sampled: apart below the VAE's 50 everywhere
            gmm = {8: 20.0, 16: 30.5, 32: 40.0}[z]  # GMM-sampled: below, level, above the VAE's GMM 30
            ev["metrics"]["gmm_fid"], ev["intervals"]["gmm_fid"] = gmm, [gmm - 1, gmm + 1]
            write_json(study / name / "eval.json", ev)
    write_json(study / "study.json", dict(runs, arms=dict(ARMS, vaegan=[8, 16, 32])))
    _, lines, caveat = next(a for a in findings.answers(*load_study(study)) if a[0].startswith("4."))
    assert "prior-sampled FID: lower at 6, level at 0, higher at 0" in lines[0]
    assert "GMM-sampled: lower at 2, level at 2, higher at 2 of 6" in lines[0]
    assert "latent-flow" not in lines[0]  # measured on neither side
    assert "one sampler on both sides" in caveat


def test_a_gan_only_study_says_the_vae_was_not_run_instead_of_a_bare_caveat(tmp_path):
    """`--models gan` (the shapes demo's study): Q3 and Q4 name the missing family, Q2 still answers from the GAN."""
    study = make_store(tmp_path, 10.0, 50.0)
    runs = json.loads((study / "study.json").read_text())
    gan_only = dict(runs, arms={"gan": ARMS["gan"]}, runs=[r for r in runs["runs"] if "-gan-" in r])
    write_json(study / "study.json", gan_only)
    answers = {a[0][:2]: a[1] for a in findings.answers(*load_study(study))}
    assert answers["3."] == ["The VAE was not part of this study run."]
    assert answers["4."] == ["The VAE-GAN was not part of this study run."]
    assert any(line.startswith("mnist GAN z32: recognisable") for line in answers["2."])


def test_the_reports_protocol_note_says_when_its_brackets_are_over_seeds():
    """A study of 3 seeds per setting shows t-intervals over seeds, so its note must not call them one run's
    bootstrap (the shapes demo's report did); one seed keeps eval.json's own words."""
    from genlab.report.compare import Setting
    from genlab.report.html import interval_note

    per_run = "95% bootstrap over generated samples (50 resamples); one seed: sampling uncertainty only"
    three = {k: Setting("mnist", "gan", z, evals=[{}, {}, {}]) for k, z in ((1, 32), (2, 64))}
    one = {1: Setting("mnist", "gan", 32, evals=[{}])}
    assert "over seeds" in interval_note(three, per_run) and "bootstrap" not in interval_note(three, per_run)
    assert interval_note(one, per_run) == per_run
    mixed = interval_note({**three, 3: Setting("mnist", "vae", 8, evals=[{}])}, per_run)
    assert "over seeds where a setting has several" in mixed and per_run in mixed


def test_the_hybrid_is_judged_against_its_vae_paired_by_seed():
    """Three seeds whose own spread (190-230) hides a steady 40-point gain in the unpaired intervals: paired by seed
    (the lab study's seeds share their data order) the hybrid is decidedly lower, and the line says by how much;
    a setting without shared seeds falls back to the two intervals."""
    from genlab.report.compare import Setting

    def setting(model, fids, seeds=(0, 1, 2)):
        return Setting("mnist", model, 16, evals=[{"seed": s, "metrics": {"fid": f}} for s, f in zip(seeds, fids)])

    vae, hybrid = setting("vae", [190.0, 230.0, 210.0]), setting("vaegan", [151.0, 188.0, 171.0])
    assert findings.below(hybrid.stat("fid"), vae.stat("fid")) == findings.INCONCLUSIVE  # unpaired: overlap
    verdict, diff = findings.paired_below(hybrid, vae, "fid")
    assert verdict == findings.SUPPORTED and diff[0] == pytest.approx(-40.0) and diff[2] < 0
    phrase = findings.paired_phrase(verdict, diff)
    assert phrase.startswith("— 40 lower than its VAE's (paired by seed, 95% [")
    noisy = setting("vaegan", [180.0, 240.0, 200.0])  # differences -10, +10, -10: level
    verdict, diff = findings.paired_below(noisy, vae, "fid")
    assert verdict == findings.INCONCLUSIVE and "level with its VAE's" in findings.paired_phrase(verdict, diff)
    other_seeds = setting("vaegan", [151.0, 188.0, 171.0], seeds=(3, 4, 5))
    assert findings.paired_below(other_seeds, vae, "fid") == (findings.INCONCLUSIVE, None)
