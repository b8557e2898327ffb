"""A new model family plugs in from outside genlab/ (issue 22): a test-only "mean image" generator, registered
from this file alone, trains, evaluates, draws its figures and shows up in a smoke study's report."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from genlab.core.bounds import bounded
from genlab.models import MODELS
from genlab.models.base import GenerativeModel, step
from genlab.study import studies


@dataclass(frozen=True)
class MeanImageConfig:
    name: str = "meanimg"
    z_dim: int = bounded(2, 1, 1024)  # latent size (it only scales the noise; the family has no real latent)
    lr: float = bounded(0.05, 1e-6, 10.0)  # step size of the mean's update
    noise: float = bounded(0.2, 0.0, 2.0)  # std of the pixel noise around the mean in a sample


class MeanImage(GenerativeModel):
    """The simplest generator that learns something: the mean training image plus Gaussian noise."""

    Config = MeanImageConfig
    family = "meanimg"
    label = "Mean image"
    curve_panels = (("loss_mean",),)
    curve_ylabels = ("squared error",)

    def __init__(self, cfg, shape=(1, 28, 28)):
        super().__init__(cfg, shape)  # the data source's C x H x W
        self.mean = nn.Parameter(torch.zeros(1, *self.shape))

    def make_optimizers(self):
        return {"mean": torch.optim.SGD(self.parameters(), lr=self.cfg.lr)}

    def train_step(self, x, opt):
        loss = (x - self.mean).pow(2).mean()
        step(opt["mean"], loss)
        return {"loss_mean": loss.detach()}

    @torch.no_grad()
    def sample(self, n, generator=None):
        noise = torch.randn(n, *self.shape, generator=generator) * self.cfg.noise
        return (self.mean + noise).clamp(-1, 1)


@pytest.fixture
def toy_family(monkeypatch):
    monkeypatch.setitem(MODELS, "meanimg", MeanImage)
    smoke = studies.STUDIES["smoke"]
    fixed = tuple(o for o in smoke.fixed if not o.startswith("model."))  # the GAN's widths go to its arm alone
    gan = ("gan", ("model.d_width=32", *(o for o in smoke.fixed if o.startswith("model."))))
    toy = studies.Study(
        name="toy",
        datasets=("mnist",),
        arms={"meanimg": (2,), "gan": (2,)},
        capacity_names=("low",),
        variants={"gan": gan},
        fixed=fixed,
        description="a test-only family beside the GAN",
    )
    monkeypatch.setitem(studies.STUDIES, "toy", toy)


def test_a_family_registered_from_a_test_trains_evaluates_draws_and_reports(toy_family, real_data, tmp_path):
    from genlab.study.study_request import StudyRequest
    from genlab.study.sweep import run_study

    req = StudyRequest("toy", "quick", runs_dir=tmp_path, data_dir=real_data, workers=1)
    study = run_study(req, log=lambda *a: None)
    run = study / "mnist-meanimg-z2-s0"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "done" and meta["family"] == "meanimg"
    ev = json.loads((run / "eval.json").read_text())
    assert ev["metrics"]["fid"] > 0 and len(ev["judges"]) == 3
    for fig in ("samples.png", "curves.png"):
        assert (run / "figures" / fig).stat().st_size > 1000, fig
    html = (study / "report.html").read_text()
    assert "Mean image" in html and "GAN" in html
    assert (study / "figures" / "mnist-compare-fid.png").is_file()
