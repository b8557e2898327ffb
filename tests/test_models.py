"""Model contract: every parameter group learns, losses are finite, same seed gives the same losses."""

from __future__ import annotations

import copy

import pytest
import torch

from genlab.config import make_config
from genlab.models import MODELS, build_model

ARCHS = ["mlp", "conv"]


def tiny(name: str, arch: str):
    cfg = make_config(name, "mnist", ["model.z_dim=4", f"model.arch={arch}", "model.width=32"])
    torch.manual_seed(0)
    return build_model(name, cfg.model)


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameter_group_changes_after_one_step(name, arch):
    model = tiny(name, arch)
    opt = model.make_optimizers()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    losses = model.train_step(batch(), opt)
    assert all(torch.isfinite(v) for v in losses.values())
    unchanged = [k for k, v in model.named_parameters() if torch.equal(v, before[k])]
    assert not unchanged, f"parameters that did not move: {unchanged}"
    groups = {k: [p for g in o.param_groups for p in g["params"]] for k, o in opt.items()}
    assert sum(len(v) for v in groups.values()) == len(before)  # every parameter belongs to an optimizer


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_seed_same_losses(name, arch):
    def run():
        model = tiny(name, arch)
        opt = model.make_optimizers()
        torch.manual_seed(1)
        return [{k: float(v) for k, v in model.train_step(batch(seed=s), opt).items()} for s in range(3)]

    assert run() == run()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_sample_shape_range_and_fixed_noise(name, arch):
    model = tiny(name, arch).eval()
    a = model.sample(5, torch.Generator().manual_seed(3))
    b = model.sample(5, torch.Generator().manual_seed(3))
    assert a.shape == (5, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b)
    if model.is_autoencoder:
        mu, logvar = model.encode(batch(3))
        assert mu.shape == logvar.shape == (3, 4)
        assert model.decode(mu).shape == (3, 1, 28, 28)


def tiny_gan_twins():
    """(G, D, opt for gan_step, G2, D2 copies to update by hand, x): small nets, SGD so an update is lr * grad."""
    from torch import nn

    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 5))
    D = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = {"d": torch.optim.SGD(D.parameters(), lr=0.1), "g": torch.optim.SGD(G.parameters(), lr=0.1)}
    return G, D, opt, copy.deepcopy(G), copy.deepcopy(D), torch.randn(6, 5)


def sgd_by_hand(params, grads, lr: float = 0.1) -> None:
    with torch.no_grad():
        for p, g in zip(params, grads):
            p -= lr * g


def assert_same_weights(*pairs) -> None:
    for a_net, b_net in pairs:
        for a, b in zip(a_net.parameters(), b_net.parameters()):
            assert torch.allclose(a, b, atol=1e-6)


def test_gan_step_is_the_simultaneous_update_of_two_separate_passes():
    """One shared D pass must give exactly PyTorch-GAN's update: G steps against D as it was, D steps on the
    same fakes treated as constants, and neither player's loss leaks gradient into the other's weights."""
    from genlab.models.gan import d_loss, g_loss_nonsaturating, gan_step

    G, D, opt, G2, D2, x = tiny_gan_twins()
    torch.manual_seed(1)
    gan_step(G, D, x, 3, opt, "simultaneous")

    torch.manual_seed(1)  # the same noise, two separate passes as in the reference script
    fake = G2(torch.randn(6, 3))
    g_grads = torch.autograd.grad(g_loss_nonsaturating(D2(fake).squeeze(1)), list(G2.parameters()))
    d_grads = torch.autograd.grad(d_loss(D2(x).squeeze(1), D2(fake.detach()).squeeze(1)), list(D2.parameters()))
    sgd_by_hand(G2.parameters(), g_grads)
    sgd_by_hand(D2.parameters(), d_grads)
    assert_same_weights((G, G2), (D, D2))


def test_alternating_gan_step_updates_g_against_the_updated_d():
    """DCGAN's order: D steps on detached fakes, then G steps against the new D; D's weights get no G gradient."""
    from genlab.models.gan import d_loss, g_loss_nonsaturating, gan_step

    G, D, opt, G2, D2, x = tiny_gan_twins()
    torch.manual_seed(1)
    gan_step(G, D, x, 3, opt)

    torch.manual_seed(1)
    fake = G2(torch.randn(6, 3))
    sgd_by_hand(D2.parameters(), torch.autograd.grad(d_loss(D2(x).squeeze(1), D2(fake.detach()).squeeze(1)),
                                                     list(D2.parameters())))
    sgd_by_hand(G2.parameters(), torch.autograd.grad(g_loss_nonsaturating(D2(fake).squeeze(1)),
                                                     list(G2.parameters())))
    assert_same_weights((G, G2), (D, D2))
