"""Config: defaults, JSON round trip, overrides, and one-line rejection of bad values and keys."""

from __future__ import annotations

import pytest
import torch

from genlab.cli import main
from genlab.core.errors import GenlabError
from genlab.train.config import from_json, make_config


def test_roundtrip_and_overrides():
    cfg = make_config("gan", "fashion-mnist", ["model.z_dim=128", "train.epochs=3", "model.lr=1e-4"])
    assert cfg.z_dim == 128 and cfg.train.epochs == 3 and cfg.model.lr == 1e-4
    assert from_json(cfg.to_json()) == cfg
    assert cfg.run_name == "fashion-mnist-gan-z128-s0"


@pytest.mark.parametrize(
    "override,needle",
    [
        ("model.z_dm=3", "did you mean 'z_dim'"),
        ("trian.epochs=3", "did you mean 'train'"),
        ("train.epochs=NaN", "whole number"),
        ("model.lr=NaN", "finite"),
        ("model.lr=Infinity", "finite"),
        ("model.lr=-1", "too small"),
        ("train.epochs=0", "too small"),
        ("train.batch_size=1.5", "whole number"),
        ("model.arch=transformer", "not allowed"),
        ("model.g_norm=3", "true or false"),
        ("data.dataset=cifar", "unknown dataset"),
        ("train.epochs", "section.key=value"),
    ],
)
def test_bad_values_are_rejected(override, needle):
    with pytest.raises(GenlabError, match=needle):
        make_config("gan", "mnist", [override])


def test_bad_json():
    with pytest.raises(GenlabError, match="not valid JSON"):
        from_json("{", "x.json")
    with pytest.raises(GenlabError, match="unknown config key 'extra'"):
        from_json('{"model": {"name": "vae"}, "extra": 1}')
    with pytest.raises(GenlabError, match="unknown model 'vea'"):
        from_json('{"model": {"name": "vea"}}')


def test_cli_bad_override_is_one_line(capsys):
    assert main(["train", "--model", "gan", "--model.z_dim=-4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.z_dim=-4" in err


def test_cli_unknown_command_is_one_line(capsys):
    assert main(["trian"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_log_tensorboard_is_the_tensorboard_flag_not_a_config_section():
    from genlab.cli import split_overrides

    assert split_overrides(["train", "--log.tensorboard", "--train.epochs=2"]) == (
        ["train", "--tensorboard"],
        ["train.epochs=2"],
    )


def test_a_vaegan_config_written_before_its_recipe_keeps_training_without_it():
    """A run's config.json from before the VAE-GAN's weight average and R1 existed lacks those keys: read back, it
    means what it trained with (off), so the run still loads, evaluates and resumes; a new run gets the recipe."""
    import json

    new = make_config("vaegan", "mnist", ["model.ema_nimg=60000"])
    assert (new.model.ema_nimg, new.model.r1_gamma) == (60_000, 1.0)
    old = new.to_dict()
    for key in ("ema_nimg", "ema_rampup", "r1_gamma", "r1_every"):
        del old["model"][key]
    back = from_json(json.dumps(old)).model
    assert (back.ema_nimg, back.r1_gamma) == (0, 0.0)
    assert from_json(new.to_json()) == new  # a complete config reads back as written


def test_a_gan_config_written_before_g_layers_reads_as_the_two_layer_g_it_trained():
    """genlab 0.1's and every GAN run before the third layer saved no g_layers: read back, it is 2 (what it trained
    with), so its checkpoint still loads into the same network; a new run gets the default 3."""
    import json

    from genlab.models import build_model

    new = make_config("gan", "mnist", ["model.width=16"])
    assert new.model.g_layers == 3
    old = new.to_dict()
    del old["model"]["g_layers"]
    back = from_json(json.dumps(old)).model
    assert back.g_layers == 2
    hidden = [m.out_features for m in build_model("gan", back).generator.modules() if isinstance(m, torch.nn.Linear)]
    assert hidden == [16, 32, 784]
    hidden = [
        m.out_features for m in build_model("gan", new.model).generator.modules() if isinstance(m, torch.nn.Linear)
    ]
    assert hidden == [16, 32, 64, 784]


def test_an_image_folder_gets_the_small_data_gan_and_each_default_can_be_set_back(tmp_path):
    """config.FOLDER_DEFAULTS: on folder:PATH the GAN is conv G and conv D with DiffAugment (docs/results.md);
    MNIST keeps its recipe; a user's override wins."""
    from genlab.train.config import make_config

    folder = f"folder:{tmp_path}"
    cfg = make_config("gan", folder)
    assert cfg.model.d_arch == "conv" and cfg.model.augment == "color,translation,cutout"
    assert cfg.model.arch == "conv" and cfg.model.width == 256
    mnist = make_config("gan", "mnist").model
    assert mnist.arch == "mlp" and mnist.d_arch == "mlp" and mnist.augment == "" and mnist.width == 192
    back = make_config("gan", folder, ["model.arch=mlp", "model.width=192", "model.d_arch=mlp", "model.augment="])
    assert back.model == mnist
    assert make_config("vae", folder).model == make_config("vae", "mnist").model
