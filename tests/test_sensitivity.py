"""Q1 answered by measurement: a sensitivity study beside the lab study is read, its effects ranked with
intervals, and the report's answer names them instead of saying 'not measured'."""

from __future__ import annotations

from pathlib import Path

from test_report import fake_eval, make_store

from genlab.eval import metrics as M
from genlab.report import findings, sensitivity
from genlab.report.compare import load_study
from genlab.report.html import write_report
from genlab.store.runs import write_json

# arm -> FID per seed on MNIST (Fashion-MNIST: twice); the step size matters, the weight average a little, beta1 not
ARM_FIDS = {
    "gan": [20.0, 21.0, 19.0],
    "gan-lr-x4": [60.0, 70.0, 50.0],
    "gan-no-ema": [27.0, 28.0, 26.0],
    "gan-beta1-0.5": [20.5, 19.0, 21.5],
}
FACTORS = {
    "gan-lr-x4": ["Adam step size", "x4 (4e-3)"],
    "gan-no-ema": ["weight average of G", "off"],
    "gan-beta1-0.5": ["Adam beta1", "0.5"],
}


def make_sensitivity(root: Path, collapse_seed: int | None = None) -> Path:
    study = root / "sensitivity-quick"
    runs = []
    for ds in ("mnist", "fashion-mnist"):
        for arm, values in ARM_FIDS.items():
            for seed, fid in enumerate(values):
                name = f"{ds}-{arm}-z64-s{seed}"
                runs.append(name)
                write_json(study / name / "meta.json", {"status": "done", "dataset": ds, "model": "gan", "z_dim": 64})
                ev = fake_eval("gan", ds, 64, fid * (2 if ds == "fashion-mnist" else 1))
                ev["run"], ev["seed"] = name, seed
                if arm == "gan-lr-x4" and seed == collapse_seed:
                    ev["metrics"][M.CLASSES_COVERED] = 7
                ev["class_names"] = [str(i) for i in range(10)] + ["junk"]
                write_json(study / name / "eval.json", ev)
    write_json(
        study / "study.json",
        {
            "study": "sensitivity",
            "profile": "quick",
            "seeds": 3,
            "datasets": ["mnist", "fashion-mnist"],
            "arms": {arm: [64] for arm in ARM_FIDS},
            "capacity_names": ["mid"],
            "runs": runs,
            "description": "synthetic",
            "profile_description": "x",
            "arm_models": dict.fromkeys(ARM_FIDS, "gan"),
            "roles": {"gan": "gan"},
            "factors": FACTORS,
        },
    )
    return study


def test_effects_are_ranked_with_intervals_and_failed_runs(tmp_path):
    study, settings = load_study(make_sensitivity(tmp_path, collapse_seed=1))
    ranked = sensitivity.effects(study, settings)
    assert [e.arm for e in ranked] == ["gan-lr-x4", "gan-no-ema", "gan-beta1-0.5"]
    lr, ema, beta = ranked
    d, lo, hi = lr.fid["mnist"]
    assert abs(d - 40.0) < 1e-9 and lo > 0 and hi > d  # Welch over 3 seeds each
    assert ema.decided and not beta.decided  # beta1's interval includes 0
    assert lr.failed["mnist"] == (1, 3)  # the seed that covers 7 of 10 classes counts as collapsed
    assert lr.seed_spread["mnist"][0] > ema.seed_spread["mnist"][0]


def test_the_lab_report_answers_q1_from_the_sensitivity_study_beside_it(tmp_path):
    lab = make_store(tmp_path, gan_fid=20.0, vae_fid=60.0)
    q1 = lambda: next(a for a in findings.answers(*load_study(lab), sensitivity.beside(lab)) if a[0].startswith("1."))  # noqa: E731
    _, lines, caveat = q1()
    assert "genlab study sensitivity" in caveat and not any("Adam" in line for line in lines)

    make_sensitivity(tmp_path)
    _, lines, caveat = q1()
    assert "Adam step size (x4 (4e-3)), weight average of G (off)" in lines[0]
    assert lines[1].startswith("1. Adam step size x4 (4e-3): mnist FID +40")
    assert "(interval includes 0)" in lines[3] and "Adam beta1" in lines[3]
    assert "not measured" not in " ".join(lines) + caveat
    assert "diverged or collapsed" not in " ".join(lines)  # no run failed here
    html = write_report(lab).read_text()
    assert "the largest influences on GAN FID are Adam step size" in html


def test_the_verdict_sentence_names_each_metric_winner_and_its_margin():
    rows = [
        ("low", "GAN", "GAN", (18.0, 17.0, 19.0), (0.50, 0.48, 0.52), (0.90, 0.89, 0.91)),
        ("low", "VAE", "VAE", (150.0, 140.0, 160.0), (0.40, 0.38, 0.42), (0.70, 0.69, 0.71)),
        ("low", "VAE", "VAE, latent flow", (36.0, 34.0, 38.0), (0.60, 0.58, 0.62), (0.85, 0.84, 0.86)),
        ("high", "GAN", "GAN", (20.0, 19.0, 21.0), (0.55, 0.50, 0.60), (0.80, 0.70, 0.90)),
        ("high", "VAE", "VAE, latent flow", (40.0, 38.0, 42.0), (0.52, 0.50, 0.54), (0.86, 0.85, 0.87)),
    ]
    s = findings.verdict_sentence("mnist", rows)
    assert s.startswith("mnist: FID: GAN at every capacity (2.0x lower than VAE at low, 2.0x lower than VAE at high)")
    assert "recall: VAE, latent flow at low (0.10 higher than GAN), GAN at high (0.03 higher than VAE); " in s
    assert "GAN at every capacity (2.0x lower than VAE at low, 2.0x lower than VAE at high)" in s
    assert "intervals overlap at high" in s
    assert "recognisable share: GAN at low (0.05 higher than VAE), VAE, latent flow at high" in s
    close = [rows[0], ("low", "VAE", "VAE", (150.0, 140.0, 160.0), (0.497, 0.48, 0.52), (0.70, 0.69, 0.71))]
    assert "recall: GAN at every capacity (0.003 higher than VAE)" in findings.verdict_sentence("mnist", close)
    one_family = [r for r in rows if r[1] == "VAE"]  # a VAE-only study: its samplers are compared
    assert findings.verdict_sentence("mnist", one_family).startswith("mnist: FID: VAE, latent flow at every")
