"""One yardstick (issue 23): the shipped judges are hash-pinned and never retrained, evaluation does not depend
on the thread count, and the claims check holds a verdict only when every judge of the ensemble agrees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from test_report import make_store

from genlab import data
from genlab.cli import main
from genlab.eval import features, shipped_judges
from genlab.eval import metrics as M
from genlab.report import findings
from genlab.report.compare import load_study, n_judges, under_judge
from genlab.store.runs import write_json


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


@pytest.fixture
def fresh_judges():
    features.get_judge.cache_clear()
    features.real_features.cache_clear()
    yield
    features.get_judge.cache_clear()
    features.real_features.cache_clear()


def test_every_shipped_judge_is_pinned_present_and_verifies(capsys):
    for ds in data.DATASETS:
        assert shipped_judges.count(ds) == shipped_judges.ENSEMBLE, ds
    code, out, err = cli(capsys, "judge", "verify")
    assert code == 0, err
    assert out.count(": OK") == len(data.DATASETS) * shipped_judges.ENSEMBLE


def test_shipped_judges_are_small():
    total = sum(p.stat().st_size for p in shipped_judges.WEIGHTS_DIR.iterdir())
    assert total < 16 * 2**20  # six judges of ~1.7 MB: the package stays small


@pytest.mark.parametrize("which", [".safetensors", ".json"])
def test_a_changed_byte_in_a_shipped_judge_is_one_line_exit_2(which, tmp_path, capsys, monkeypatch, fresh_judges):
    copy = tmp_path / "judges"
    shutil.copytree(shipped_judges.WEIGHTS_DIR, copy)
    target = copy / f"mnist-j1{which}"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    target.write_bytes(bytes(raw))
    monkeypatch.setattr(shipped_judges, "WEIGHTS_DIR", copy)
    code, _, err = cli(capsys, "judge", "verify")
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("genlab: error:"), err
    assert "mnist-j1" in err and "pinned SHA-256" in err
    with pytest.raises(features.GenlabError, match="never retrained"):
        features.get_judge(data.source("mnist", None), 1)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.safetensors"))


def test_mnist_and_fashion_judges_are_loaded_never_trained(monkeypatch, fresh_judges):
    def no_training(*a, **k):
        raise AssertionError("a shipped dataset's judge must not be trained")

    monkeypatch.setattr(features, "train_judge", no_training)
    for ds in data.DATASETS:
        for k in range(shipped_judges.ENSEMBLE):
            judge, info = features.get_judge(data.source(ds, None), k)
            assert info["shipped"] and info["sha256"] == shipped_judges.PINNED[(ds, k)][0]
            assert info["seed"] == features.judge_seed(k)


def test_shipped_judges_meet_the_accuracy_floors(fresh_judges):
    for ds in data.DATASETS:
        for k in range(shipped_judges.ENSEMBLE):
            _, info = features.get_judge(data.source(ds, None), k)
            assert info["test_accuracy"] >= features.ACCURACY_FLOOR[ds], (ds, k, info["test_accuracy"])


def test_fid_is_the_same_with_1_and_2_threads(real_data, fresh_judges):
    """The judge is shipped, so evaluation is the same network everywhere; the thread count must not move it
    either (issue 23: FID equal to 1e-4 relative)."""
    judge, _ = features.get_judge(data.source("mnist", real_data))
    test, _ = data.source("mnist", real_data).load("test")
    train, _ = data.source("mnist", real_data).load("train")
    real, fake = data.to_unit(test[:2000]), data.to_unit(train[:2000])
    fake = (fake + 0.3 * torch.randn(fake.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    old = torch.get_num_threads()
    fids = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            fr, _ = judge.features_and_probs(real)
            ff, _ = judge.features_and_probs(fake)
            fids.append(M.frechet_distance(*M.gaussian_stats(fr), *M.gaussian_stats(ff)))
    finally:
        torch.set_num_threads(old)
    assert fids[0] > 1.0
    assert abs(fids[0] - fids[1]) <= 1e-4 * fids[0], fids


# ---------------------------------------------------------------- the claims check under every judge


def ensemble_store(root: Path, judge_fids: dict[str, list[float]]) -> Path:
    """test_report's synthetic study, each run measured by 3 judges: judge_fids maps model -> its FID under judges
    0, 1, 2 (on Fashion-MNIST twice that, as make_store doubles it)."""
    study = make_store(root, gan_fid=judge_fids["gan"][0], vae_fid=judge_fids["vae"][0])
    for path in study.glob("*/eval.json"):
        ev = json.loads(path.read_text())
        scale = 2 if ev["dataset"] == "fashion-mnist" else 1
        fids = [f * scale for f in judge_fids[ev["model"]]]
        ev["judges"] = [
            {
                "index": k,
                "file": f"{ev['dataset']}-j{k}.safetensors",
                "sha256": "x",
                "test_accuracy": 0.99,
                "metrics": {"kid": ev["metrics"]["kid"], "fid": f},
                "intervals": {"fid": [f * 0.98, f * 1.02]},
                "floor": ev["floor"],
            }
            for k, f in enumerate(fids)
        ]
        ev["instrument_spread"] = {"fid": [min(fids), max(fids)]}
        write_json(path, ev)
    return study


def claim_under_judges(study_dir: Path, start: str) -> findings.Claim:
    study, settings = load_study(study_dir)
    views = [under_judge(settings, j) for j in range(n_judges(settings))]
    return next(c for c in findings.check_claims_under_judges(study, views) if c.text.startswith(start))


def test_a_claim_is_supported_only_when_every_judge_agrees(tmp_path):
    agree = ensemble_store(tmp_path / "a", {"gan": [10.0, 12.0, 11.0], "vae": [50.0, 55.0, 45.0]})
    c = claim_under_judges(agree, "GANs reach lower FID")
    assert c.verdict == findings.SUPPORTED and "each of 3 judges" in c.evidence
    disagree = ensemble_store(tmp_path / "b", {"gan": [10.0, 60.0, 11.0], "vae": [50.0, 50.0, 45.0]})
    c = claim_under_judges(disagree, "GANs reach lower FID")
    assert c.verdict == findings.JUDGES_DISAGREE
    assert "supported" in c.evidence and "contradicted" in c.evidence


def test_the_summary_table_shows_the_instrument_spread(tmp_path):
    from genlab.report.html import write_report

    study = ensemble_store(tmp_path, {"gan": [10.0, 12.0, 11.0], "vae": [50.0, 55.0, 45.0]})
    html = write_report(study).read_text()
    assert "judges 10–12" in html and "judges 45–55" in html and "instrument spread" in html
    _, settings = load_study(study)
    assert settings[("mnist", "gan", 32)].spread("fid") == (10.0, 12.0)


def test_eval_json_holds_every_judge_and_the_spread(tmp_path, real_data, fresh_judges, capsys):
    """A tiny real run: eval.json lists each shipped judge (file, hash, metrics, interval, floor) and the
    spread; judge 0's metrics are the headline ones."""
    args = [
        "train",
        "--model",
        "gan",
        "--data-dir",
        str(real_data),
        "--runs-dir",
        str(tmp_path),
        "--name",
        "r",
        "--data.n_train=512",
        "--train.epochs=1",
        "--train.batch_size=64",
        "--model.z_dim=4",
        "--model.width=32",
        "--eval.n_samples=300",
        "--eval.epoch_fid_samples=0",
        "--eval.bootstrap=20",
        "--eval.kid_subsets=5",
        "--eval.kid_subset_size=100",
        "--eval.memo_samples=50",
    ]
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    ev = json.loads((tmp_path / "r" / "eval.json").read_text())
    assert [j["index"] for j in ev["judges"]] == [0, 1, 2]
    assert [j["sha256"] for j in ev["judges"]] == [shipped_judges.PINNED[("mnist", k)][0] for k in range(3)]
    assert ev["judge"]["sha256"] == ev["judges"][0]["sha256"]
    assert ev["judges"][0]["metrics"]["fid"] == ev["metrics"]["fid"]
    fids = [j["metrics"]["fid"] for j in ev["judges"]]
    assert ev["instrument_spread"]["fid"] == [min(fids), max(fids)]
    assert all(j["intervals"]["fid"][0] <= j["metrics"]["fid"] <= j["intervals"]["fid"][1] for j in ev["judges"])
