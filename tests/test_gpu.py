"""The CUDA path (skipped without a GPU; bench/gpu_check.sh runs these on a GPU machine)."""

from __future__ import annotations

import pytest
import torch

from genlab.train.config import make_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/gpu_check.sh)"),
]
TINY = [
    "model.z_dim=4",
    "train.batch_size=32",
    "train.epochs=1",
    "data.n_train=512",
    "eval.n_samples=200",
    "eval.epoch_fid_samples=0",
    "eval.flow_steps=100",
]


@pytest.mark.parametrize("model", ["gan", "vae", "vaegan", "flow", "flow-unet"])
def test_a_cuda_run_trains_and_evaluates_on_the_cpu(real_data, tmp_path, model):
    from genlab.eval.evaluate import evaluate_run
    from genlab.train.loop import load_run, train

    if model.startswith("flow"):  # a flow's noise is the image: no z_dim
        arch = ["model.arch=unet", "model.width=8"] if model == "flow-unet" else []
        cfg = make_config("flow", "mnist", [o for o in TINY if not o.startswith("model.z_dim")] + arch)
    else:
        cfg = make_config(model, "mnist", TINY)
    meta = train(cfg, tmp_path / "r", real_data, device="cuda")
    assert meta["status"] == "done" and meta["device"].startswith("cuda")
    _, m, _ = load_run(tmp_path / "r", device="cpu")  # checkpoints are device-independent
    assert next(m.parameters()).device.type == "cpu"
    x = m.sample(8, torch.Generator().manual_seed(0))
    assert x.shape == (8, 1, 28, 28) and torch.isfinite(x).all()
    ev = evaluate_run(tmp_path / "r", real_data, device="cpu")
    assert ev["metrics"]["fid"] > 0


def test_fixed_noise_samples_agree_between_cuda_and_cpu(real_data, tmp_path):
    from genlab.train.loop import load_run, train

    train(make_config("vae", "mnist", TINY), tmp_path / "r", real_data, device="cuda")
    _, gpu, _ = load_run(tmp_path / "r", device="cuda")
    _, cpu, _ = load_run(tmp_path / "r", device="cpu")
    a = gpu.sample(16, torch.Generator().manual_seed(1)).cpu()
    b = cpu.sample(16, torch.Generator().manual_seed(1))
    assert torch.allclose(a, b, atol=1e-4)  # same CPU-drawn noise; kernels differ in the last bits
