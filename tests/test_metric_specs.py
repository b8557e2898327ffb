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
    assert fid.format(None) == "–" and fid.format(12.345) == "12.3" and fid.format(123456.0) == "123456"


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
