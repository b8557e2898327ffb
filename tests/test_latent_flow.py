"""The latent flow (genlab.eval.latent_flow) learns a known density, and its fit in a run folder is reused, checked and
replaced when damaged (genlab.eval.samplers)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from genlab.eval import latent_flow, samplers
from genlab.models.flow_matching import path_times

CENTRES = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0], [0.0, -4.0]])


def mixture(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return CENTRES[torch.randint(0, 4, (n,), generator=g)] + 0.5 * torch.randn(n, 2, generator=g)


SMALL = latent_flow.FlowRecipe(width=128, depth=3, steps=1500, batch=256)


@pytest.mark.parametrize("times", ["logit-normal", "uniform"])
def test_latent_flow_recovers_a_2d_mixture(times: str) -> None:
    torch.set_num_threads(1)
    x = mixture(4000)
    v = latent_flow.fit(x, replace(SMALL, times=times))
    s = latent_flow.sample(v, 4000, torch.Generator().manual_seed(1), nfe=32)
    assert (s.mean(0) - x.mean(0)).abs().max() < 0.3
    assert ((s.std(0) - x.std(0)).abs() / x.std(0)).max() < 0.1
    d = torch.cdist(s, CENTRES)
    share = torch.bincount(d.argmin(1), minlength=4).double() / s.shape[0]
    assert (share - 0.25).abs().max() < 0.04  # every mode, in its share: no collapse
    assert (d.min(1).values < 1.5).double().mean() > 0.85  # the samples sit on the modes, not between them


def test_switched_off_units_get_their_own_gaussian_and_the_flow_the_rest() -> None:
    """A VAE's inactive units (near-constant encoder means) are left out of the flow and drawn from their own
    Gaussian: the active units still recover the mixture, the inactive ones keep their mean and spread."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(5)
    off = torch.tensor([0.3, -0.2, 0.1]) + 0.05 * torch.randn(4000, 3, generator=g)  # variance 0.0025 < 0.01
    x = torch.cat([mixture(4000)[:, :1], off, mixture(4000)[:, 1:]], dim=1)  # active units at 0 and 4
    v = latent_flow.fit(x, SMALL)
    assert v.n_active == 2 and v.active.tolist() == [True, False, False, False, True]
    assert v.net[0].in_features == 2 + v.t_dim and v.net[-1].out_features == 2
    s = latent_flow.sample(v, 4000, torch.Generator().manual_seed(1), nfe=32)
    assert s.shape == (4000, 5)
    d = torch.cdist(s[:, [0, 4]], CENTRES)
    share = torch.bincount(d.argmin(1), minlength=4).double() / s.shape[0]
    assert (share - 0.25).abs().max() < 0.04
    assert ((s[:, 1:4].mean(0) - off.mean(0)).abs() < 0.01).all()
    assert ((s[:, 1:4].std(0) / off.std(0) - 1).abs() < 0.1).all()
    every = latent_flow.fit(x, latent_flow.FlowRecipe(width=16, depth=1, steps=5, batch=64, active=0.0))
    assert every.n_active == 5  # threshold 0: the flow models every unit


def test_a_code_of_only_active_units_draws_as_a_flow_of_every_unit() -> None:
    """The active-unit rule changes nothing where every unit is active: same weights, same samples."""
    x = mixture(500)
    small = latent_flow.FlowRecipe(width=16, depth=1, steps=30, batch=64)
    a = latent_flow.fit(x, small)
    b = latent_flow.fit(x, latent_flow.FlowRecipe(width=16, depth=1, steps=30, batch=64, active=0.0))
    assert a.n_active == 2
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    s = latent_flow.sample(a, 50, torch.Generator().manual_seed(2), 8)
    assert torch.equal(s, latent_flow.sample(b, 50, torch.Generator().manual_seed(2), 8))


def test_training_times_lie_in_the_unit_interval_and_logit_normal_favours_the_middle() -> None:
    g = torch.Generator().manual_seed(0)
    u, ln = path_times(20_000, "uniform", generator=g), path_times(20_000, "logit-normal", generator=g)
    assert 0 <= float(u.min()) and float(u.max()) <= 1 and 0 < float(ln.min()) and float(ln.max()) < 1
    mid = lambda t: float(((t > 0.25) & (t < 0.75)).double().mean())  # noqa: E731
    assert abs(mid(u) - 0.5) < 0.02 and mid(ln) > 0.65  # sigmoid(N(0, 1)): P(|N| < logit 0.75 = 1.10) = 0.73
    with pytest.raises(ValueError, match="beta"):
        path_times(4, "beta")


def test_the_time_sampling_is_part_of_the_recipe_a_saved_fit_is_checked_against(tmp_path) -> None:
    codes = mixture(300)
    recipe = latent_flow.FlowRecipe(width=16, depth=1, steps=10, batch=64)
    samplers.save_flow(tmp_path, latent_flow.fit(codes, recipe), codes, recipe, 0.0)
    assert samplers.load_flow(tmp_path, codes, recipe) is not None
    assert samplers.load_flow(tmp_path, codes, replace(recipe, times="uniform")) is None  # stale: refitted


def test_sampler_is_a_function_of_its_noise() -> None:
    v = latent_flow.VelocityMLP(2, 16, 1)
    a = latent_flow.sample(v, 10, torch.Generator().manual_seed(3), 8)
    b = latent_flow.sample(v, 10, torch.Generator().manual_seed(3), 8)
    assert torch.equal(a, b)


def test_a_constant_velocity_moves_noise_by_that_velocity() -> None:
    """The solver integrates dx/dt = v from 0 to 1: a field that is the constant c moves x0 to x0 + c."""
    v = latent_flow.VelocityMLP(2, 8, 1)
    for p in v.net.parameters():
        torch.nn.init.zeros_(p)
    v.net[-1].bias.data = torch.tensor([1.5, -2.0])
    x0 = torch.randn((5, 2), generator=torch.Generator().manual_seed(7))
    x1 = latent_flow.sample(v, 5, torch.Generator().manual_seed(7), nfe=6)
    assert torch.allclose(x1, x0 + torch.tensor([1.5, -2.0]), atol=1e-5)


def test_the_fit_is_saved_reused_and_refitted_when_damaged(tmp_path, monkeypatch) -> None:
    codes = mixture(500)
    recipe = latent_flow.FlowRecipe(width=16, depth=1, steps=20, batch=64)
    monkeypatch.setattr(samplers, "training_codes", lambda model, cfg, data_dir: codes)
    monkeypatch.setattr(samplers, "flow_recipe", lambda cfg: recipe)
    fits = []
    real_fit = latent_flow.fit
    monkeypatch.setattr(latent_flow, "fit", lambda c, r: fits.append(1) or real_fit(c, r))

    first = samplers.fit_code_flow(None, None, None, tmp_path)
    assert (tmp_path / samplers.FLOW_DIR / "weights.safetensors").is_file() and len(fits) == 1
    samplers._FITTED.clear()  # a new process: the saved fit is read back, not refitted
    again = samplers.fit_code_flow(None, None, None, tmp_path)
    assert len(fits) == 1
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    g = torch.Generator().manual_seed(4)
    assert torch.equal(
        latent_flow.sample(first, 20, g.manual_seed(4), 4), latent_flow.sample(again, 20, g.manual_seed(4), 4)
    )

    weights = tmp_path / samplers.FLOW_DIR / "weights.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    samplers._FITTED.clear()
    samplers.fit_code_flow(None, None, None, tmp_path)
    assert len(fits) == 2  # damaged: fitted again and replaced
    samplers._FITTED.clear()
    samplers.fit_code_flow(None, None, None, tmp_path)
    assert len(fits) == 2

    monkeypatch.setattr(samplers, "training_codes", lambda model, cfg, data_dir: codes[:400])
    samplers.fit_code_flow(None, None, None, tmp_path)
    assert len(fits) == 3  # other codes (a retrained model): a stale fit is not reused


def test_a_fit_with_switched_off_units_reads_back_whole(tmp_path) -> None:
    g = torch.Generator().manual_seed(6)
    codes = torch.cat([mixture(500), 0.01 * torch.randn(500, 2, generator=g)], dim=1)
    recipe = latent_flow.FlowRecipe(width=16, depth=1, steps=20, batch=64)
    v = latent_flow.fit(codes, recipe)
    samplers.save_flow(tmp_path, v, codes, recipe, 0.0)
    back = samplers.load_flow(tmp_path, codes, recipe)
    assert back is not None and back.n_active == 2 and back.active.tolist() == [True, True, False, False]
    s = latent_flow.sample(v, 30, torch.Generator().manual_seed(1), 4)
    assert torch.equal(s, latent_flow.sample(back, 30, torch.Generator().manual_seed(1), 4))
