"""Model contract: every parameter group learns, losses are finite, same seed gives the same losses."""

from __future__ import annotations

import copy

import pytest
import torch

from genlab import data
from genlab.models import MODELS, build_model
from genlab.models.vaegan import dec_gan_loss
from genlab.train.config import make_config

ARCHS = ["mlp", "conv"]


FLOW_ARCH = {"mlp": ("mlp", 32), "conv": ("unet", 8)}  # the flow's spatial network is a U-Net


def tiny(name: str, arch: str):
    if name == "flow":  # its noise is the image: no z_dim to shrink
        flow_arch, width = FLOW_ARCH[arch]
        cfg = make_config(name, "mnist", [f"model.arch={flow_arch}", f"model.width={width}"])
    else:
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
    before = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
    losses = model.train_step(batch(), opt)
    assert all(torch.isfinite(v) for v in losses.values())
    unchanged = [k for k, v in model.named_parameters() if k in before and torch.equal(v, before[k])]
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
    sgd_by_hand(
        D2.parameters(),
        torch.autograd.grad(d_loss(D2(x).squeeze(1), D2(fake.detach()).squeeze(1)), list(D2.parameters())),
    )
    sgd_by_hand(G2.parameters(), torch.autograd.grad(g_loss_nonsaturating(D2(fake).squeeze(1)), list(G2.parameters())))
    assert_same_weights((G, G2), (D, D2))


# ---------------------------------------------------------------- the GAN recipe pieces (issue "A fair fight")

RECIPE = [
    "model.arch=conv",
    "model.width=32",
    "model.d_width=32",
    "model.z_dim=4",
    "model.ema_nimg=1000",
    "model.d_sn=true",
    "model.r1_gamma=1",
    "model.r1_every=2",
    "model.d_dropout=0.2",
    "model.lr_d=4e-4",
]


def recipe_gan(*extra):
    torch.manual_seed(0)
    return build_model("gan", make_config("gan", "mnist", [*RECIPE, *extra]).model)


def test_every_recipe_piece_trains_and_the_average_moves():
    model = recipe_gan()
    opt = model.make_optimizers()
    ema_before = [p.clone() for p in model.generator_ema.parameters()]
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    for s in range(3):
        losses = model.train_step(batch(seed=s), opt)
        assert all(torch.isfinite(v) for v in losses.values())
    assert all(not p.requires_grad for p in model.generator_ema.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(ema_before, model.generator_ema.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert float(model.images_seen) == 3 * 8


def test_lazy_r1_runs_on_every_nth_d_step_only():
    model = recipe_gan("model.r1_every=3")
    opt = model.make_optimizers()
    has_r1 = ["r1" in model.train_step(batch(seed=s), opt) for s in range(7)]
    assert has_r1 == [True, False, False, True, False, False, True]


def test_ema_of_a_constant_model_equals_it():
    from genlab.models.gan import ema_update

    net, avg = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    avg.load_state_dict(net.state_dict())
    for beta in (0.0, 0.5, 0.999):
        ema_update(avg, net, beta)
    assert all(torch.allclose(a, b, atol=0, rtol=1e-7) for a, b in zip(avg.parameters(), net.parameters()))
    with torch.no_grad():
        net.weight.add_(1.0)
    ema_update(avg, net, 0.75)  # one step towards the new weights: a quarter of the way
    assert torch.allclose(avg.weight, net.weight - 0.75, atol=1e-6)


def test_ema_ramp_follows_stylegan2_ada():
    """beta = 0.5 ** (batch / min(ema_nimg, rampup * images_seen)) (StyleGAN2-ADA training_loop.py)."""
    from genlab.models.gan import ema_beta

    assert ema_beta(128, 1280, 10_000, 0.05) == pytest.approx(0.5 ** (128 / 64))  # early: half-life 64 images
    assert ema_beta(128, 100_000, 10_000, 0.05) == pytest.approx(0.5 ** (128 / 5000))
    assert ema_beta(128, 10**7, 10_000, 0.05) == pytest.approx(0.5 ** (128 / 10_000))  # capped at ema_nimg
    assert ema_beta(128, 10**7, 10_000, 0.0) == pytest.approx(0.5 ** (128 / 10_000))  # no ramp
    betas = [ema_beta(128, n, 10_000, 0.05) for n in (128, 10_000, 100_000, 200_000, 400_000)]
    assert betas == sorted(betas) and betas[-1] == betas[-2]  # rises, then stays at the cap


def test_vaegan_samples_reconstructs_and_encodes_with_its_weight_average():
    """With ema_nimg the VAE-GAN trains its own networks but every sample, reconstruction and code comes from the
    average (the networks the figures and metrics see); without it, from the trained networks."""
    cfg = make_config(
        "vaegan",
        "mnist",
        ["model.z_dim=4", "model.width=32", "model.ema_nimg=100", "model.r1_gamma=1", "model.r1_every=2"],
    ).model
    torch.manual_seed(0)
    model = build_model("vaegan", cfg)
    opt = model.make_optimizers()
    for s in range(5):
        assert all(torch.isfinite(v) for v in model.train_step(batch(seed=s), opt).values())
    z, x = torch.randn(3, 4), batch(3, seed=9)
    with torch.no_grad():
        assert torch.equal(model.decode(z), torch.tanh(model.decoder_ema(z) / 2))
        assert not torch.allclose(model.decode(z), torch.tanh(model.decoder(z) / 2))
        assert torch.equal(model.encode(x)[0], model.encoder_ema(x).chunk(2, 1)[0])
    assert float(model.images_seen) == 5 * 8
    plain = build_model(
        "vaegan", make_config("vaegan", "mnist", ["model.z_dim=4", "model.width=32", "model.ema_nimg=0"]).model
    )
    assert not hasattr(plain, "decoder_ema") and plain.averaged() == (plain.encoder, plain.decoder)


def test_spectral_norm_keeps_d_largest_singular_value_near_one():
    model = recipe_gan()
    opt = model.make_optimizers()
    for s in range(20):
        model.train_step(batch(seed=s), opt)
    model.discriminator.eval()
    for m in model.discriminator.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            w = m.weight.detach().flatten(1)  # the normalised weight, as used in the forward pass
            assert torch.linalg.matrix_norm(w, ord=2) == pytest.approx(1.0, abs=0.05)


def test_ema_generator_batch_norm_statistics_are_its_own():
    """After training, sampling re-estimates the average's batch-norm statistics from its own outputs; they are a
    pure function of its weights, so two identical models sample identically."""
    a, b = recipe_gan(), recipe_gan()
    for m in (a, b):
        opt = m.make_optimizers()
        for s in range(3):
            m.train_step(batch(seed=s), opt)
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    g = torch.Generator
    assert torch.equal(a.sample(6, g().manual_seed(1)), b.sample(6, g().manual_seed(1)))
    bn = next(m for m in a.generator_ema.modules() if isinstance(m, torch.nn.BatchNorm2d))
    gbn = next(m for m in a.generator.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not torch.equal(bn.running_mean, gbn.running_mean)


def test_gmm_recovers_a_known_mixtures_means_and_weights():
    """EM on 6,000 points of a known 3-component 2-d mixture finds its means, weights and covariances."""
    from genlab.eval.gmm import GaussianMixture, fit

    true = GaussianMixture(
        torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
        torch.tensor([[0.0, 0.0], [6.0, 6.0], [-6.0, 5.0]], dtype=torch.float64),
        torch.stack([torch.eye(2, dtype=torch.float64) * s for s in (1.0, 0.5, 2.0)]),
    )
    x = true.sample(6000, torch.Generator().manual_seed(0))
    got = fit(x, k=3, seed=1)
    order = [int(torch.cdist(m.view(1, 2), got.means).argmin()) for m in true.means]
    assert sorted(order) == [0, 1, 2]
    assert torch.allclose(got.means[order], true.means, atol=0.1)
    assert torch.allclose(got.weights[order], true.weights, atol=0.02)
    assert torch.allclose(got.covariances[order], true.covariances, atol=0.2)
    assert torch.equal(fit(x, k=3, seed=1).means, got.means)  # deterministic for a seed


def test_code_mixture_is_fitted_once_per_run_and_on_the_asked_subset(tiny_data, monkeypatch):
    """A run's figures and evaluation share one fit (same codes, same mixture object); eval.gmm_codes fits on
    that many training codes, a seeded random subset, not the first ones."""
    from genlab.eval import gmm, samplers

    cfg = make_config("vae", "mnist", ["model.z_dim=4", "model.width=32"])
    torch.manual_seed(0)
    model = build_model("vae", cfg.model).eval()  # as figures and evaluation load it
    seen: list[int] = []
    real_fit = gmm.fit
    monkeypatch.setattr(gmm, "fit", lambda x, *a, **k: seen.append(x.shape[0]) or real_fit(x, *a, **k))
    first = samplers.fit_code_mixture(model, cfg, data.source_of(cfg.data, tiny_data))
    assert samplers.fit_code_mixture(model, cfg, data.source_of(cfg.data, tiny_data)) is first
    assert seen == [256]  # all 256 training codes, one fit
    sub = make_config("vae", "mnist", ["model.z_dim=4", "model.width=32", "eval.gmm_codes=100"])
    samplers.fit_code_mixture(model, sub, data.source_of(sub.data, tiny_data))
    assert seen == [256, 100]
    with torch.no_grad():
        codes = model.encode(data.to_unit(data.source("mnist", tiny_data).load("train")[0]))[0]
    got: list[torch.Tensor] = []
    monkeypatch.setattr(gmm, "fit", lambda x, *a, **k: got.append(x) or real_fit(x, *a, **k))
    samplers._FITTED.clear()
    samplers.fit_code_mixture(model, sub, data.source_of(sub.data, tiny_data))
    assert not torch.allclose(got[0], codes[:100], atol=1e-5)  # not the first 100 (a folder's are sorted by class)
    assert all((codes - p).abs().amax(1).min() < 1e-5 for p in got[0])  # but training codes


def test_vaegan_with_pixel_reconstruction_trains_its_encoder_on_the_vaes_elbo():
    """recon_target=pixels: the encoder's loss is the VAE's negative ELBO (KL + Bernoulli NLL of the same
    reconstruction), the decoder's adds adv_weight x its GAN term, and every network still learns."""
    from genlab.models.vae import VAE

    cfg = make_config("vaegan", "mnist", ["model.z_dim=4", "model.width=32", "model.recon_target=pixels"]).model
    torch.manual_seed(0)
    model = build_model("vaegan", cfg)
    before = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
    x = batch()
    torch.manual_seed(1)
    losses = model.train_step(x, model.make_optimizers())
    assert torch.isclose(losses["loss_enc"], losses["kl"] + losses["recon"])
    assert losses["loss_dec"] > losses["recon"]  # plus a positive GAN term
    assert all(not torch.equal(v, before[k]) for k, v in model.named_parameters() if k in before)
    # the same weights and noise in a plain VAE give the same ELBO terms
    vae = VAE(make_config("vae", "mnist", ["model.z_dim=4", "model.width=32"]).model)
    vae.encoder.load_state_dict({k[len("encoder.") :]: v for k, v in before.items() if k.startswith("encoder.")})
    vae.decoder.load_state_dict({k[len("decoder.") :]: v for k, v in before.items() if k.startswith("decoder.")})
    torch.manual_seed(1)
    ref = vae.train_step(x, vae.make_optimizers())
    assert torch.isclose(ref["kl"], losses["kl"]) and torch.isclose(ref["recon"], losses["recon"])


def test_vaegans_adaptive_weight_makes_the_gan_term_pull_on_the_last_layer_as_hard_as_the_reconstruction():
    """adv_adaptive (VQGAN, Esser et al. 2021, eq. 7): weight x grad of the GAN term at the decoder's last weight has
    the reconstruction's gradient norm there; the weight is logged, and the fixed-weight step is unchanged."""
    over = ["model.z_dim=4", "model.width=32", "model.recon_target=pixels"]
    fixed = build_model("vaegan", make_config("vaegan", "mnist", over).model)
    torch.manual_seed(0)
    model = build_model("vaegan", make_config("vaegan", "mnist", [*over, "model.adv_adaptive=true"]).model)
    x = batch()
    z = torch.randn(x.shape[0], 4)
    logits = model.decoder(z)
    nll = model.nll(logits, x).mean()
    gan = dec_gan_loss(model.discriminator(torch.tanh(logits / 2))[0], model.discriminator(torch.tanh(logits / 2))[0])
    w = model.adaptive_weight(nll, gan)
    last = list(model.decoder.parameters())[-2]  # the output Linear's weight (its bias follows)
    g_rec, g_gan = (torch.autograd.grad(loss, last, retain_graph=True)[0].norm() for loss in (nll, gan))
    assert w > 1.0 and torch.isclose(w * (g_gan + 1e-4), g_rec, rtol=1e-4)  # a fixed weight 1 pulls far less
    losses = model.train_step(x, model.make_optimizers())
    assert "adv_weight" in losses and losses["adv_weight"] > 1.0 and not losses["adv_weight"].requires_grad
    assert "adv_weight" not in fixed.train_step(x, fixed.make_optimizers())


def test_an_old_vaegan_config_reads_as_the_feature_reconstruction_it_trained_with():
    from genlab.train.config import from_dict

    old = {"model": {"name": "vaegan", "z_dim": 16}}
    assert from_dict(old, saved=True).model.recon_target == "features"


# ---------------------------------------------------------------- the minibatch standard deviation (ProGAN)


def test_minibatch_std_feature_is_each_groups_spread_and_never_mixes_real_with_fake():
    from genlab.models.gan import MinibatchStd

    real = torch.full((8, 3, 7, 7), 0.5)  # a batch of identical images: no spread
    fake = torch.randn(8, 3, 7, 7, generator=torch.Generator().manual_seed(0))
    out = MinibatchStd(4)(torch.cat([real, fake]))
    assert out.shape == (16, 4, 7, 7) and torch.equal(out[:, :3], torch.cat([real, fake]))
    feature = out[:, 3]
    assert torch.all(feature == feature[:, :1, :1]), "one value per image, the same at every position"
    assert torch.all(feature[:8] < 1e-3), "the identical real images' groups see no spread"
    for start in (8, 12):  # each fake group's value is its own images' standard deviation, features averaged
        group = fake[start - 8 : start - 4]
        expected = group.var(0, unbiased=False).add(1e-8).sqrt().mean()
        assert torch.allclose(feature[start : start + 4], expected.expand(4, 7, 7))
    assert feature[8, 0, 0] != feature[12, 0, 0]
    odd = MinibatchStd(4)(torch.randn(6, 2))  # a batch the group does not divide: groups of gcd(4, 6) = 2
    assert odd.shape == (6, 3) and odd[0, 2] == odd[1, 2] and odd[1, 2] != odd[2, 2]


@pytest.mark.parametrize("d_arch", ["mlp", "conv"])
def test_a_gan_with_the_minibatch_std_layer_trains_and_its_d_reads_batch_spread(d_arch):
    cfg = make_config("gan", "mnist", ["model.z_dim=4", "model.width=32", f"model.d_arch={d_arch}", "model.d_mbstd=4"])
    torch.manual_seed(0)
    model = build_model("gan", cfg.model)
    assert any(type(m).__name__ == "MinibatchStd" for m in model.discriminator.modules())
    opt = model.make_optimizers()
    before = [p.detach().clone() for p in model.discriminator.parameters()]
    out = model.train_step(torch.rand(8, 1, 28, 28) * 2 - 1, opt)
    assert torch.isfinite(out["loss_d"]) and torch.isfinite(out["loss_g"])
    assert all(not torch.equal(a, b) for a, b in zip(before, model.discriminator.parameters()))
    x = torch.rand(4, 1, 28, 28)
    alone = model.discriminator(x)
    with_copies = model.discriminator(x[:1].expand(4, -1, -1, -1))  # the same first image among copies of itself
    assert alone[0] != with_copies[0], "D's verdict on an image depends on its group's variety"
    assert make_config("gan", "mnist").model.d_mbstd == 0  # off unless asked
