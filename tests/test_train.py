"""The training loop: determinism, exact resume, interruption, divergence, crash-safe checkpoints."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as st_load

from genlab.core.errors import GenlabError, Interrupted
from genlab.models.gan import GAN
from genlab.store import checkpoint
from genlab.store.runs import read_jsonl, read_meta
from genlab.train.config import make_config
from genlab.train.loop import load_run, train

TINY = ["model.width=32", "model.z_dim=4", "train.batch_size=32", "train.log_every=1"]


def cfg(model="gan", *extra):
    tiny = [o for o in TINY if model != "flow" or not o.startswith("model.z_dim")]  # a flow's noise is its image
    return make_config(model, "mnist", [*tiny, "train.epochs=2", *extra])


def losses(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "images_per_s"} for r in read_jsonl(run_dir / "metrics.jsonl")]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    last = checkpoint.checkpoint_dirs(run_dir)[-1]
    return st_load((last / "tensors.safetensors").read_bytes())


@pytest.mark.parametrize("model", ["gan", "vae", "flow"])
def test_same_seed_same_losses_and_weights(tiny_data, tmp_path, model):
    a, b = tmp_path / "a", tmp_path / "b"
    assert train(cfg(model), a, tiny_data)["status"] == "done"
    train(cfg(model), b, tiny_data)
    assert losses(a) == losses(b) and len(losses(a)) > 10
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    c = tmp_path / "c"
    train(cfg(model, "train.seed=1"), c, tiny_data)
    assert losses(a) != losses(c)


RECIPE = (
    "model.arch=conv",
    "model.ema_nimg=500",
    "model.d_sn=true",
    "model.r1_gamma=1",
    "model.r1_every=3",
    "train.lr_rampdown=0.5",
)  # the interrupt falls inside the ramp-down
VAEGAN_RECIPE = ("model.ema_nimg=500", "model.r1_gamma=1", "model.r1_every=3", "model.width=64")
FLOW_UNET = ("model.arch=unet", "model.width=8", "model.ema_nimg=500", "model.t_sampling=logit-normal")


@pytest.mark.parametrize(
    "model,extra",
    [
        ("gan", ()),
        ("vae", ()),
        ("gan", RECIPE),
        ("gan", ("model.augment=color,translation,cutout",)),
        ("vaegan", VAEGAN_RECIPE),
        ("flow", ()),
        ("flow", FLOW_UNET),
    ],
    ids=["gan", "vae", "gan-recipe", "gan-diffaugment", "vaegan-recipe", "flow", "flow-unet"],
)
def test_resume_after_interrupt_is_exact(tiny_data, tmp_path, monkeypatch, model, extra):
    """Weights, optimizer moments, RNG states, and for the GAN recipe its weight average, spectral-norm vectors and
    the images-seen counter that drives the EMA ramp: a resumed run ends bit-identical."""
    ref = tmp_path / "ref"
    train(cfg(model, *extra), ref, tiny_data)
    run = tmp_path / "run"
    calls = {"n": 0}
    from genlab.models import MODELS

    cls = MODELS[model]
    real_step = cls.train_step

    def flaky(self, x, opt):
        calls["n"] += 1
        if calls["n"] == 11:  # mid-epoch 2 (8 steps per epoch)
            import os
            import signal

            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, x, opt)

    monkeypatch.setattr(cls, "train_step", flaky)
    with pytest.raises(Interrupted):
        train(cfg(model, *extra), run, tiny_data)
    assert read_meta(run)["status"] == "interrupted"
    monkeypatch.setattr(cls, "train_step", real_step)
    assert train(cfg(model, *extra), run, tiny_data)["status"] == "done"
    assert losses(run) == losses(ref)
    wa, wb = weights(ref), weights(run)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # weights, optimizer moments and RNG states
    if extra or model == "flow":
        averaged = {"gan": "t.model.generator_ema.", "flow": "t.model.velocity_ema."}.get(model, "t.model.decoder_ema.")
        assert any(k.startswith(averaged) for k in wa) and "t.model.images_seen" in wa


def test_lr_rampdown_changes_only_the_end_of_training(tiny_data, tmp_path):
    """Ramp-down over the last half: the first half's steps are the constant-rate run's, the rest differ."""
    train(cfg("gan"), tmp_path / "flat", tiny_data)
    train(cfg("gan", "train.lr_rampdown=0.5"), tmp_path / "ramp", tiny_data)
    flat, ramp = [[r for r in losses(tmp_path / d) if "event" not in r] for d in ("flat", "ramp")]
    assert len(flat) == len(ramp) == 16  # 2 epochs x 8 steps, logged every step
    assert flat[:9] == ramp[:9]  # factor 1 through step 8 (0-based; line k is step k)
    assert all(a["loss_d"] != b["loss_d"] for a, b in zip(flat[10:], ramp[10:]))


def test_rampdown_factor_values():
    from genlab.train.schedules import rampdown_factor

    assert [rampdown_factor(s, 10, 0.5) for s in (0, 4, 5, 6, 9)] == [1.0, 1.0, 1.0, 0.8, 0.2]
    assert rampdown_factor(3, 10, 0.0) == 1.0 and rampdown_factor(0, 10, 1.0) == 1.0
    assert rampdown_factor(10, 10, 0.5) == 0.0


def test_different_config_in_existing_run_dir_is_refused(tiny_data, tmp_path):
    train(cfg(), tmp_path / "r", tiny_data)
    with pytest.raises(GenlabError, match="different config"):
        train(cfg("gan", "model.lr=0.002"), tmp_path / "r", tiny_data)


def test_divergence_stops_run_and_keeps_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    run = tmp_path / "r"
    real_step = GAN.train_step

    def explode(self, x, opt):
        out = real_step(self, x, opt)
        if float(self.images_seen) >= 10 * x.shape[0]:  # this model's 10th step (not a copy's: genlab.train.compute)
            out["loss_g"] = torch.tensor(float("nan"))
        return out

    monkeypatch.setattr(GAN, "train_step", explode)
    meta = train(cfg(), run, tiny_data)
    assert meta["status"] == "diverged" and meta["diverged_step"] == 10
    assert [p.name for p in checkpoint.checkpoint_dirs(run)] == ["step-000000008"]
    assert load_run(run)[2]["step"] == 8


def test_corrupt_newest_checkpoint_falls_back(tiny_data, tmp_path):
    run = tmp_path / "r"
    train(cfg(), run, tiny_data)
    dirs = checkpoint.checkpoint_dirs(run)
    assert len(dirs) == 2
    f = dirs[-1] / "tensors.safetensors"
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(checkpoint.CorruptCheckpoint, match="tensors.safetensors"):
        checkpoint.read_checkpoint(dirs[-1])
    with pytest.warns(UserWarning, match="damaged"):
        state = checkpoint.load_latest(run)
    assert state["step"] == 8


def test_planted_pickle_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    ck = tmp_path / "checkpoints" / "step-000000001"
    ck.mkdir(parents=True)
    (ck / "tensors.safetensors").write_bytes(pickle.dumps(Evil()))
    (ck / "state.json").write_bytes(pickle.dumps(Evil()))
    (ck / "manifest.json").write_text("{}")
    with pytest.warns(UserWarning):
        assert checkpoint.load_latest(tmp_path) is None
    assert not marker.exists()


@pytest.mark.parametrize("model", ["gan", "vae"])
def test_bf16_autocast_trains_and_keeps_fp32_weights(tiny_data, tmp_path, model):
    run = tmp_path / "amp"
    assert train(cfg(model, "train.amp=true"), run, tiny_data)["status"] == "done"
    _, m, _ = load_run(run, "last")
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in m.parameters())
    losses = [r for r in read_jsonl(run / "metrics.jsonl") if "event" not in r]
    assert losses and all(torch.isfinite(torch.tensor(v)) for r in losses for k, v in r.items() if k.startswith("loss"))


def test_a_crash_keeps_the_training_time_up_to_the_last_checkpoint(tiny_data, tmp_path):
    """An exception (not a Ctrl-C) after epoch 1's checkpoint: meta.json still holds epoch 1's training time, and the
    resumed run adds to it instead of starting the clock again."""
    run = tmp_path / "r"

    def crash_at_epoch_2(model, epoch):
        if epoch == 2:
            raise RuntimeError("boom")
        return {}

    with pytest.raises(RuntimeError, match="boom"):
        train(cfg(), run, tiny_data, epoch_hook=crash_at_epoch_2)
    first = read_meta(run)["wall_s"]
    assert first > 0
    assert train(cfg(), run, tiny_data)["wall_s"] > first
