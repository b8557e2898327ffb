"""Study plans: which config each run of a named study gets under each profile (no training)."""

from __future__ import annotations

import pytest

from genlab.study import studies


def plan(study: str, profile: str, overrides: list[str] | None = None) -> dict[str, object]:
    return {p.name: p.cfg for p in studies.expand(studies.get_study(study), studies.get_profile(profile), 1, overrides)}


@pytest.mark.parametrize("study", sorted(studies.STUDIES))
@pytest.mark.parametrize("profile", sorted(studies.PROFILES))
def test_every_study_plans_under_every_profile(study, profile):
    runs = plan(study, profile)
    assert runs and all(cfg.train.epochs >= 1 for cfg in runs.values())


def test_full_profile_gan_is_the_default_and_quick_uses_a_narrower_one():
    """The full study runs the default GAN (MLP G 192-384-768, D 512-256); the quick profile's 2 epochs use G 256-512
    against D 256-128, which meets the quick goals in 3 minutes (docs/results.md). Only the GAN's runs change: the
    VAE and the VAE-GAN keep their own defaults."""
    full, quick = plan("lab", "full"), plan("lab", "quick")
    f, q = full["mnist-gan-z64-s0"].model, quick["mnist-gan-z64-s0"].model
    assert f.arch == q.arch == "mlp"
    assert (f.g_layers, f.width, f.d_width) == (3, 192, 256) and (q.g_layers, q.width, q.d_width) == (2, 256, 128)
    for name in ("mnist-vae-z16-s0", "mnist-vaegan-z16-s0"):
        assert quick[name].model == full[name].model
    assert quick["mnist-gan-z64-s0"].train.epochs == 2 and full["mnist-gan-z64-s0"].train.epochs == 10


def test_arm_and_user_overrides_win_over_the_profile():
    quick = plan("recipes", "quick")
    assert quick["mnist-gan-baseline-z64-s0"].model.arch == "mlp"  # genlab 0.1's GAN stays itself
    assert quick["mnist-gan-baseline-z64-s0"].model.d_width == 0
    assert quick["mnist-gan-baseline-z64-s0"].model.g_layers == 2
    assert plan("lab", "quick", ["gan.arch=conv"])["mnist-gan-z32-s0"].model.arch == "conv"
    assert plan("lab", "quick", ["gan.d_width=256"])["mnist-gan-z32-s0"].model.d_width == 256


def test_a_study_moved_onto_other_data_gets_its_own_folder(tmp_path):
    """--dataset folder:PATH must not replace the study.json and report of the same study on MNIST."""
    from genlab.study.sweep import study_dir_for

    assert study_dir_for(tmp_path, "lab", "quick") == tmp_path / "lab-quick"
    assert (
        study_dir_for(tmp_path, "lab", "quick", f"folder:{tmp_path / 'My Shapes'}")
        == tmp_path / "lab-quick-folder-my-shapes"
    )
