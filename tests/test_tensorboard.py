"""--tensorboard: scalars, per-epoch sample grids and hyperparameters with final metrics, read back with
TensorBoard's own event reader (needs `pip install 'genlab[tensorboard]'`; CI installs it)."""

from __future__ import annotations

import pytest

from genlab.cli import main

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

TINY = [
    "--model.width=32",
    "--model.d_width=32",
    "--model.z_dim=4",
    "--train.batch_size=32",
    "--train.epochs=2",
    "--train.log_every=4",
    "--eval.n_samples=200",
    "--eval.epoch_fid_samples=200",
    "--eval.kid_subsets=5",
    "--eval.kid_subset_size=100",
    "--eval.bootstrap=10",
    "--eval.memo_samples=50",
    "--eval.flow_steps=100",
]


def read(folder):
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_tensorboard_events_hold_losses_samples_and_hparams(tiny_data, tmp_path, capsys):
    code = main(
        [
            "train",
            "--model",
            "gan",
            "--runs-dir",
            str(tmp_path),
            "--name",
            "r",
            "--data-dir",
            str(tiny_data),
            "--tensorboard",
            *TINY,
        ]
    )
    assert code == 0, capsys.readouterr().err
    tb = tmp_path / "r" / "tb"
    acc = read(tb)
    tags = acc.Tags()
    for tag in (
        "train/loss_d",
        "train/loss_g",
        "train/d_real",
        "train/d_fake",
        "train/images_per_s",
        "epoch/fid_epoch",
        "epoch/mean_loss_g",
    ):
        assert tag in tags["scalars"], (tag, tags["scalars"])
    assert [e.step for e in acc.Scalars("epoch/fid_epoch")] == [1, 2]
    assert "samples/fixed_noise" in tags["images"] and len(acc.Images("samples/fixed_noise")) == 2
    files = sorted(tb.rglob("events.out.tfevents.*"))
    hparams = [read(f) for f in files]  # add_hparams writes its own event file beside the run's
    assert any(
        "hparam/fid" in a.Tags()["scalars"] and "hparam/recognisable_share" in a.Tags()["scalars"] for a in hparams
    ), "final metrics beside the hyperparameters"


def test_tensorboard_off_by_default_writes_nothing(tiny_data, tmp_path):
    assert (
        main(
            [
                "train",
                "--model",
                "vae",
                "--runs-dir",
                str(tmp_path),
                "--name",
                "r",
                "--data-dir",
                str(tiny_data),
                "--no-eval",
                "--model.z_dim=4",
                "--model.width=32",
                "--train.epochs=1",
                "--eval.flow_steps=100",
            ]
        )
        == 0
    )
    assert not (tmp_path / "r" / "tb").exists()
