"""The metric list is what the report, the charts, the verdict and `genlab runs` read: a spec added to it shows up
in each place without other edits, and every key evaluation writes has a spec."""

import dataclasses
import json

import pytest
from test_report import make_store

from genlab.cli import main
from genlab.eval import metric_specs, samplers
from genlab.eval import metrics as M
from genlab.report.compare import run_rows
from genlab.report.html import write_index, write_report

PREFIXES = tuple(sp.prefix for sp in samplers.SAMPLERS.values())


def test_keys_are_unique_and_every_place_shows_something():
    keys = [s.key for s in (*metric_specs.METRICS, *metric_specs.RECORDED)]
    assert len(keys) == len(set(keys))
    for place in metric_specs.PLACES:
        assert metric_specs.shown_in(place), place
    with pytest.raises(ValueError):
        metric_specs.shown_in("sidebar")


def test_sampler_prefixes_resolve_only_for_metrics_measured_per_sampler():
    assert metric_specs.spec_of("gmm_fid", PREFIXES).key == M.FID
    assert metric_specs.spec_of("flow_recognisable_share", PREFIXES).key == M.RECOGNISABLE
    assert metric_specs.spec_of("gmm_recon_mse", PREFIXES) is None  # reconstructions do not depend on the sampler
    assert metric_specs.spec_of("made_up", PREFIXES) is None


def test_direction_and_format_are_the_specs():
    fid = metric_specs.BY_KEY[M.FID]
    assert fid.ylabel() == "FID in judge space (lower is better)"
    assert metric_specs.BY_KEY[M.RECALL].ylabel() == "recall (higher is better)"
    assert fid.format(None) == "–" and fid.format(12.345) == "12.3" and fid.format(123456.0) == "123,456"
    assert fid.format(1451.3) == "1,451" and fid.format(999.6) == "1,000" and fid.format(0.0123) == "0.0123"


def test_a_spec_added_to_the_list_reaches_the_table_the_charts_and_genlab_runs(tmp_path, monkeypatch, capsys):
    """KID's spread over subsets is recorded but shown nowhere; listing it as shown is the only edit."""
    kid_std = dataclasses.replace(
        metric_specs.BY_KEY[M.KID_STD],
        label="KID spread",
        shown=frozenset({metric_specs.TABLE, metric_specs.CHART, metric_specs.RUNS}),
        lower_is_better=True,
    )
    monkeypatch.setattr(metric_specs, "METRICS", (*metric_specs.METRICS, kid_std))
    study = make_store(tmp_path, 20.0, 40.0)
    write_index(study)  # draws the comparison charts
    write_report(study)
    html = (study / "report.html").read_text()
    assert "<th title='kid_std'>KID spread</th>" in html
    assert (study / "figures" / "mnist-compare-kid_std.png").is_file()
    rows = run_rows(study)
    assert rows[0]["metrics"][M.KID_STD] == 0.01
    assert main(["runs", str(study)]) == 0
    out = capsys.readouterr().out
    assert "KID spread [95% CI]" in out.splitlines()[0]


def test_genlab_runs_json_carries_the_shown_metrics_with_intervals(tmp_path, capsys):
    study = make_store(tmp_path, 20.0, 40.0)
    assert main(["runs", str(study), "--json", "--sort", "fid"]) == 0
    rows = json.loads(capsys.readouterr().out)
    first = rows[0]
    assert set(first["metrics"]) == {s.key for s in metric_specs.shown_in(metric_specs.RUNS)}
    assert first["metrics"][M.FID] == 20.0 and first["intervals"][M.FID] == pytest.approx([19.6, 20.4])
    assert [r["metrics"][M.FID] for r in rows] == sorted(r["metrics"][M.FID] for r in rows)


def test_an_interval_over_seeds_stays_within_the_values_a_metric_can_take():
    """Three seeds' t-interval of a share is clipped to 0..1 and a FID's to >= 0 (the shapes demo's recognisable
    0.800 / 0.665 / 0.860 gave [0.53, 1.02] before); a metric without bounds keeps its raw interval."""
    from genlab.report.compare import Setting

    shares = [0.8, 0.665, 0.86]
    recalls = [0.0, 0.011, 0.0]  # the same runs' recall: its raw interval reaches below 0
    evals = [
        {"metrics": {"recognisable_share": v, "gmm_recall": r, "fid": 3000 * (v - 0.7), "elbo": -v}}
        for v, r in zip(shares, recalls)
    ]
    s = Setting("folder:x", "gan", 32, ["a", "b", "c"], evals, {})
    mean, lo, hi = s.stat("recognisable_share")
    assert abs(mean - 0.775) < 1e-9 and 0.5 < lo < mean and hi == 1.0
    assert s.stat("gmm_recall")[1] == 0.0  # a sampler's prefixed key is bounded as its metric
    assert s.stat("fid")[1] == 0.0 and s.stat("fid")[2] > 300
    assert s.stat("elbo")[1] < -1.0  # no bounds: the raw interval
