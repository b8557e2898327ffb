"""Data sources (issue 22 part 2, issue 26 parts 1 and 3): a source carries its shape, models are built from it,
a test-only source runs a study without edits to genlab/, and Stacked MNIST is built and judged as the papers do."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import pytest
import torch

from genlab import data
from genlab.core.errors import GenlabError
from genlab.data import stacked_mnist
from genlab.data.datasource import DataSource
from genlab.eval import features
from genlab.eval import metrics as M
from genlab.models import build_model
from genlab.report import viz
from genlab.train.config import make_config


@dataclass(frozen=True)
class ColourBlobs(DataSource):
    """Unlabeled 3 x 32 x 32 images made in memory: a coloured disc on a dark background."""

    name: str = "blobs"

    @property
    def shape(self):
        return (3, 32, 32)

    @property
    def classes(self):
        return ()

    def load(self, split):
        n = 1200 if split == "train" else 200
        g = torch.Generator().manual_seed(0 if split == "train" else 1)
        yx = torch.stack(torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij"))
        centre = torch.rand(n, 2, 1, 1, generator=g) * 16 + 8
        disc = ((yx.unsqueeze(0) - centre).pow(2).sum(1, keepdim=True) < 36).float()  # (n, 1, 32, 32)
        colour = torch.rand(n, 3, 1, 1, generator=g)
        return (disc * colour * 255).round().to(torch.uint8), torch.zeros(n, dtype=torch.long)

    def content_hashes(self):
        return {"blobs": "v1"}


@pytest.fixture
def blobs(monkeypatch):
    monkeypatch.setitem(data.SOURCES, "blobs", lambda name, data_dir, conversion: ColourBlobs())
    data.source.cache_clear()
    yield
    data.source.cache_clear()


ARCHS = {"gan": ("mlp", "conv"), "vae": ("mlp", "conv"), "vaegan": ("mlp", "conv"), "flow": ("mlp", "unet")}


@pytest.mark.parametrize("name,arch", [(n, a) for n in ("gan", "vae", "vaegan", "flow") for a in ARCHS[n]])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 28, 28), (3, 32, 32), (1, 64, 64)])
def test_every_model_is_built_for_the_sources_shape_and_draws_it(name, arch, shape):
    z = math.prod(shape) if name == "flow" else 4
    width = 8 if arch == "unet" else 32
    cfg = make_config(name, "mnist", [f"model.arch={arch}", f"model.width={width}"])
    model = build_model(name, dataclasses.replace(cfg.model, z_dim=z), shape)
    opts = model.make_optimizers()
    model.train_step(torch.rand(4, *shape) * 2 - 1, opts)
    x = model.eval().sample(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, *shape) and bool(torch.isfinite(x).all())


def test_flow_noise_size_must_match_the_source():
    with pytest.raises(GenlabError, match="must be 2352"):
        make_config("flow", "stacked-mnist")
    assert make_config("flow", "stacked-mnist", ["model.z_dim=2352"]).z_dim == 2352


def test_a_colour_grid_is_rgb_and_a_grey_one_stays_grey():
    assert viz.titled(viz.grid(torch.rand(4, 3, 8, 8) * 2 - 1, nrow=2), "colour").mode == "RGB"
    assert viz.titled(viz.grid(torch.rand(4, 1, 8, 8) * 2 - 1, nrow=2), "grey").mode == "L"


def test_a_source_registered_from_a_test_runs_a_smoke_study_in_colour(blobs, tmp_path):
    from PIL import Image

    from genlab.study.study_request import StudyRequest
    from genlab.study.sweep import run_study

    req = StudyRequest("smoke", "quick", runs_dir=tmp_path, dataset="blobs", workers=1)
    study = run_study(req, log=lambda *a: None)
    for arm in ("gan", "vae"):
        run = study / f"blobs-{arm}-z2-s0"
        assert json.loads((run / "meta.json").read_text())["status"] == "done"
        ev = json.loads((run / "eval.json").read_text())
        assert "judge_skipped" in ev and 0 <= ev["metrics"][M.NEAR_DUPLICATES] <= 1
        assert Image.open(run / "figures" / "samples.png").mode == "RGB"
    assert Image.open(study / "figures" / "blobs-real.png").mode == "RGB"
    assert "blobs" in (study / "report.html").read_text()


def test_stacked_mnist_is_three_mnist_digits_with_their_label_triple(real_data):
    src = data.source("stacked-mnist", real_data)
    mnist_x, mnist_y = data.source("mnist", real_data).load("test")
    x, y = src.load("test")
    assert src.shape == (3, 28, 28) and x.shape == (10_000, 3, 28, 28) and len(src.classes) == 1000
    again = stacked_mnist._stack.__wrapped__(src.mnist, "test")
    assert torch.equal(again[0], x) and torch.equal(again[1], y)  # deterministic: seeded permutations
    for i in (0, 1, 9_999):
        digits = []
        for c in range(3):
            j = int((mnist_x[:, 0] == x[i, c]).flatten(1).all(1).nonzero()[0])  # where this channel came from
            digits.append(int(mnist_y[j]))
        assert int(y[i]) == 100 * digits[0] + 10 * digits[1] + digits[2]
    assert src.content_hashes()["stacked"] == stacked_mnist.CONSTRUCTION
    assert src.channel_source.name == "mnist" and features.ensemble_size(src) == 3


class OneHotJudge(torch.nn.Module):
    """A stand-in judge: the brightest of the first 10 pixels is the class, with probability p (rest: junk)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def features_and_probs(self, x, batch=256):
        cls = x.flatten(1)[:, :10].argmax(1)
        probs = torch.zeros(x.shape[0], 11, dtype=torch.float64)
        probs[torch.arange(x.shape[0]), cls] = self.p
        probs[:, -1] = 1 - self.p
        return x.flatten(1)[:, :4].double(), probs


def images_of(triples):
    x = -torch.ones(len(triples), 3, 1, 10)
    for i, t in enumerate(triples):
        for c, d in enumerate(t):
            x[i, c, 0, d] = 1
    return x


def test_the_channel_judge_multiplies_channel_probabilities_in_label_order():
    judge = features.ChannelJudge(OneHotJudge(0.9), 3)
    f, p = judge.features_and_probs(images_of([(3, 1, 4), (0, 0, 9)]))
    assert f.shape == (2, 12) and p.shape == (2, 1001)
    assert p[:, :-1].argmax(1).tolist() == [314, 9]
    assert p[0, 314].item() == pytest.approx(0.9**3) and p[0].sum().item() == pytest.approx(1.0)


def test_mode_counts_follow_the_published_definition():
    all_triples = [(a, b, c) for a in range(10) for b in range(10) for c in range(10)]
    judge = features.ChannelJudge(OneHotJudge(0.95), 3)
    uniform = M.mode_counts(judge.channel_probs(images_of(all_triples * 2)))
    assert uniform[M.MODES] == 1000 and uniform[M.MODES_RECOGNISED] == 1000
    assert uniform[M.MODE_KL] == pytest.approx(0.0, abs=1e-12)
    one = M.mode_counts(judge.channel_probs(images_of([(7, 7, 7)] * 50)))
    assert one[M.MODES] == 1 and one[M.MODE_KL] == pytest.approx(math.log(1000))
    unsure = M.mode_counts(features.ChannelJudge(OneHotJudge(0.5), 3).channel_probs(images_of(all_triples[:20])))
    assert unsure[M.MODES] == 20 and unsure[M.MODES_RECOGNISED] == 0  # labelled, but no channel recognisable
