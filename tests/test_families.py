"""Families at matched compute (genlab.report.families): the sentences claim only what intervals support, the chart
draws every point, and the families study plans the four families at the middle capacity."""

from __future__ import annotations

from genlab.report import families, viz
from genlab.report.families import Point
from genlab.study import studies


def point(label, family, tflop, fid):
    return Point(label, family, tflop * 1e12, 10.0, fid, (0.8, 0.7, 0.9), (0.5, 0.4, 0.6))


def test_claims_name_the_best_and_the_cheaper_level_one_and_skip_uncounted_compute():
    pts = [
        point("GAN z64", "GAN", 10, (20.0, 18.0, 22.0)),
        point("VAE z16, latent flow", "VAE", 2, (21.0, 19.0, 23.0)),  # level with the best, 5x cheaper
        point("Flow matching z784", "Flow matching", 40, (50.0, 45.0, 55.0)),  # dearer and worse
        point("Toy", "Toy", 0, (1.0, 0.5, 1.5)),  # no compute counted: never compared
    ]
    lines = families.claims(pts)
    assert lines[0].startswith("Lowest FID: GAN z64, 20.0 [18.0, 22.0] at 10 TFLOP")
    assert "VAE z16, latent flow is level with it (intervals overlap) at 5.0x less compute." in lines
    assert any(
        line.startswith("Flow matching z784 spent 4.0x the compute of GAN z64 for a worse FID") for line in lines
    )
    assert lines[-1] == (
        "By family (best sampler): GAN 20.0 at 10 TFLOP; VAE 21.0 at 2 TFLOP; Flow matching 50.0 at 40 TFLOP."
    )
    assert not any("Toy" in line for line in lines)
    assert families.claims(pts[:1]) == []


def test_the_chart_draws_points_of_any_compute_and_reads(tmp_path):
    pts = [
        point(f"model {i}", f"family {i % 3}", 10 ** (i - 2), (100.0 / (i + 1), 90.0 / (i + 1), 110.0 / (i + 1)))
        for i in range(7)
    ]
    path = families.chart(tmp_path, "mnist", pts)
    assert path.is_file() and viz.pixel_spread(path) > 10
    assert families.chart(tmp_path, "mnist", []) is None


def test_the_families_study_plans_every_family_at_the_middle_capacity():
    runs = studies.expand(studies.get_study("families"), studies.get_profile("quick"), seeds=1)
    names = sorted(r.name for r in runs)
    assert names == sorted(
        f"{ds}-{arm}"
        for ds in ("mnist", "fashion-mnist")
        for arm in ("gan-z64-s0", "vae-z16-s0", "vaegan-z16-s0", "flow-z784-s0")
    )
    flow = next(r for r in runs if r.arm == "flow")
    assert flow.cfg.model.arch == "mlp" and flow.cfg.model.t_sampling == "logit-normal"
    only_flow = studies.select_models(studies.get_study("families"), ["flow"])
    assert list(only_flow.arms) == ["flow"]


def test_study_json_keeps_the_studys_order_of_arms():
    """study.json's keys are written sorted; arm_order restores the study's own order (flow last in families), and an
    order that does not name the same arms is ignored."""
    from genlab.store import schema

    base = {
        "study": "families",
        "profile": "quick",
        "datasets": ["mnist"],
        "arms": {"flow": [784], "gan": [64], "vae": [16]},
        "capacity_names": ["mid"],
        "runs": [],
    }
    ordered = schema.check_study({**base, "arm_order": ["gan", "vae", "flow"]}, "study.json")
    assert list(ordered["arms"]) == ["gan", "vae", "flow"]
    odd = schema.check_study({**base, "arm_order": ["gan", "nope"]}, "study.json")
    assert list(odd["arms"]) == ["flow", "gan", "vae"]
