"""Pixel-space flow matching (genlab.models.flow) and the shared ODE pieces (genlab.models.flow_matching): the solver on
velocity fields whose answer is known, the loss on constructed inputs, the x-prediction's velocity, sampling
determinism and the trajectory figure's frames. Exact resume is in test_train.py."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.core.errors import GenlabError
from genlab.models.flow import T_CLAMP, Flow, FlowConfig, as_velocity, flow_matching_loss
from genlab.models.flow_matching import integrate, straight_path
from genlab.train import compute
from genlab.train.config import make_config


@pytest.mark.parametrize("solver", ["euler", "midpoint"])
@pytest.mark.parametrize("nfe", [1, 2, 7, 32])
def test_a_constant_velocity_field_moves_x0_to_x0_plus_v(solver, nfe):
    x0 = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    v = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    out = integrate(lambda x, t: v.expand_as(x), x0, nfe, solver)
    assert torch.allclose(out, x0 + v, atol=1e-5)


def test_the_midpoint_solver_is_second_order_and_counts_its_evaluations():
    """dx/dt = t integrates exactly to x0 + 1/2 under the midpoint rule (linear in t), Euler is off by h/2; the
    number of velocity evaluations is the nfe asked for."""
    x0 = torch.zeros(3, 2)
    calls = {"n": 0}

    def v(x, t):
        calls["n"] += 1
        return t[:, None].expand_as(x)

    assert torch.allclose(integrate(v, x0, 8, "midpoint"), torch.full((3, 2), 0.5), atol=1e-6)
    assert calls["n"] == 8
    calls["n"] = 0
    euler = integrate(v, x0, 8, "euler")
    assert calls["n"] == 8 and torch.allclose(euler, torch.full((3, 2), 0.5 - 1 / 16), atol=1e-6)


def test_frames_run_from_the_noise_to_the_result():
    x0 = torch.randn(2, 3)
    frames: list[torch.Tensor] = []
    out = integrate(lambda x, t: torch.ones_like(x), x0, 8, "midpoint", frames)
    assert len(frames) == 5 and torch.equal(frames[0], x0) and torch.equal(frames[-1], out)


def test_the_straight_path_and_its_velocity():
    x0, x1 = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    xt, target = straight_path(x0, x1, torch.tensor([0.25, 1.0]))
    assert torch.allclose(xt[0], torch.full((1, 2, 2), 0.25)) and torch.equal(xt[1], x1[1])
    assert torch.equal(target, x1 - x0)


def test_an_image_prediction_stands_for_the_path_velocity():
    """With the clean image predicted exactly, (x1_hat - x_t) / (1 - t) is x1 - x0 wherever 1 - t >= the clamp."""
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(4, 1, 28, 28, generator=g), torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    t = torch.tensor([0.0, 0.3, 0.9, 1 - T_CLAMP])
    xt, target = straight_path(x0, x1, t)
    assert torch.allclose(as_velocity(x1, xt, t, "image"), target, atol=1e-4)
    assert torch.equal(as_velocity(target, xt, t, "velocity"), target)


@pytest.mark.parametrize("loss", ["image", "velocity"])
def test_an_oracle_network_has_zero_loss_and_a_wrong_one_does_not(loss):
    """A network that returns the true clean image (read off a constructed batch of identical images) scores 0 with
    either loss; one that returns zeros does not."""
    x1 = torch.full((8, 1, 28, 28), 0.5)
    cfg = FlowConfig(prediction="image", loss=loss)
    torch.manual_seed(0)
    oracle = flow_matching_loss(lambda xt, t: x1.clone(), x1, cfg)
    zero = flow_matching_loss(lambda xt, t: torch.zeros_like(xt), x1, cfg)
    assert float(oracle) < 1e-6 < float(zero)


def test_the_config_refuses_an_image_loss_on_a_velocity_prediction():
    with pytest.raises(GenlabError, match="model.loss=image needs model.prediction=image"):
        make_config("flow", "mnist", ["model.loss=image", "model.prediction=velocity"])
    with pytest.raises(GenlabError, match="model.z_dim"):
        make_config("flow", "mnist", ["model.z_dim=16"])


@pytest.mark.parametrize("arch", ["mlp", "unet"])
def test_samples_are_images_in_range_and_a_function_of_the_noise(arch):
    torch.manual_seed(0)
    model = Flow(FlowConfig(arch=arch, width=8 if arch == "unet" else 32, nfe=4)).eval()
    a = model.sample(6, torch.Generator().manual_seed(3))
    b = model.sample(6, torch.Generator().manual_seed(3))
    assert a.shape == (6, 1, 28, 28) and torch.equal(a, b) and a.min() >= -1 and a.max() <= 1
    traj = model.trajectory(6, torch.Generator().manual_seed(3), frames=3)
    assert traj.shape == (3, 6, 1, 28, 28) and torch.equal(traj[-1], a)
    assert "4 velocity evaluations" in model.sampling_protocol()


def test_training_lowers_the_loss_on_a_fixed_image():
    """A few hundred steps on one repeated image: the loss falls well below its start, so the update rule
    learns (the full-data numbers are docs/results.md's frontier)."""
    torch.manual_seed(0)
    model = Flow(FlowConfig(width=64, depth=2, ema_nimg=0))
    opt = model.make_optimizers()
    x = torch.zeros(16, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0
    first = [float(model.train_step(x, opt)["loss"]) for _ in range(5)]
    for _ in range(300):
        last = float(model.train_step(x, opt)["loss"])
    assert last < 0.2 * sum(first) / len(first)


def test_compute_counts_matrix_work_and_leaves_the_model_untouched():
    torch.manual_seed(0)
    model = Flow(FlowConfig(width=64, depth=2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    x = torch.zeros(4, 1, 28, 28)
    flops = compute.train_step_flops(model, x)
    # forward of one linear layer alone: 2 * batch * in * out; the step has three layers, forward and backward
    assert flops > 3 * 2 * 4 * 784 * 64
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)
    per_sample = compute.sample_flops(model)
    per_evaluation = 2 * (784 * 64 + 64 * 64 + 64 * 784 + 2 * 64 * 64)  # two layers and the head, two time projections
    assert math.isclose(per_sample, model.cfg.nfe * per_evaluation, rel_tol=0.01)


def test_compute_counts_a_gan_step_with_its_r1_double_backward():
    """The R1 penalty differentiates through D's gradient (create_graph): the counter must run under it, and the
    penalty's step costs more than a plain one. The sample count excludes the one-off batch-norm re-estimate."""
    from genlab.models.gan import GAN, GANConfig

    x = torch.rand(8, 1, 28, 28) * 2 - 1
    torch.manual_seed(0)
    plain = compute.train_step_flops(GAN(GANConfig(r1_gamma=0)), x)
    torch.manual_seed(0)
    with_r1 = compute.train_step_flops(GAN(GANConfig(r1_gamma=1)), x)
    assert with_r1 > plain > 0
    g = GANConfig()
    widths = [g.z_dim, g.width, 2 * g.width, 4 * g.width, 784]
    generator = sum(2 * a * b for a, b in zip(widths[:-1], widths[1:]))
    assert math.isclose(compute.sample_flops(GAN(g)), generator, rel_tol=0.01)


def test_an_extrapolating_image_prediction_cannot_blow_the_sampler_up():
    """An image network that answers far outside [-1, 1] (here 1000 x its input) would send x to infinity through
    1 / (1 - t); the sampler clips the predicted image to the data's range first, so samples stay images."""
    model = Flow(FlowConfig(width=8, depth=1, ema_nimg=0)).eval()

    class Wild(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.tensor(1000.0))

        def forward(self, x, t):
            return self.gain * x

    model.velocity = Wild()
    x = model.sample(16, torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all() and x.abs().max() <= 1


def test_non_finite_samples_are_one_clear_error():
    from genlab.eval.evaluate import generate

    class Broken:
        def sample(self, n, g):
            x = torch.zeros(n, 1, 28, 28)
            x[0, 0, 0, 0] = float("nan")
            return x

    with pytest.raises(GenlabError, match="2 of 20 samples are not finite numbers"):
        generate(Broken(), 20, 0, batch=10)
