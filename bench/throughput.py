"""Training throughput (images/s) per model and latent size, plus the public reference architectures.

Prints medians of several timed repeats, their spread, and ratios to the reference numbers measured
on this machine kind with the reference implementations (issue #2): PyTorch-GAN's MLP GAN 3,500 img/s
at batch 64 and 4,900 at batch 128; pytorch/examples' MLP VAE 16,000 img/s. The reference-shaped
models below are those architectures run through genlab's loop (in-memory uint8 batches, fused Adam).

    .venv/bin/python bench/throughput.py [--repeats 5] [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models import build_model
from genlab.models.base import GenerativeModel, step
from genlab.models.gan import gan_step
from genlab.models.nn import adam
from genlab.models.vae import bernoulli_nll, kl_to_standard_normal, reparameterize
from genlab.store.runs import environment
from genlab.train.config import make_config

REFERENCE = {"ref-mlp-gan@64": 3500, "ref-mlp-gan@128": 4900, "ref-mlp-vae@128": 16000}


class RefGAN(GenerativeModel):
    """PyTorch-GAN's gan.py: G z100-128-256-512-1024-784 (BatchNorm1d(n, 0.8)), D 784-512-256-1."""

    family = "gan"

    def __init__(self):
        super().__init__(None)

        def blk(i, o, norm=True):
            return [nn.Linear(i, o), *([nn.BatchNorm1d(o, 0.8)] if norm else []), nn.LeakyReLU(0.2)]

        self.G = nn.Sequential(
            *blk(100, 128, False), *blk(128, 256), *blk(256, 512), *blk(512, 1024), nn.Linear(1024, 784), nn.Tanh()
        )
        self.D = nn.Sequential(
            nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1)
        )

    def make_optimizers(self):
        return {"d": adam(self.D.parameters(), 2e-4, (0.5, 0.999)), "g": adam(self.G.parameters(), 2e-4, (0.5, 0.999))}

    def train_step(self, x, opt):
        return gan_step(
            lambda z: self.G(z).view(-1, 1, 28, 28), lambda v: self.D(v.flatten(1)), x, 100, opt, "simultaneous"
        )  # PyTorch-GAN's own update: G first, then D on the same fakes


class RefVAE(GenerativeModel):
    """pytorch/examples vae: 784-400-(20, 20), 20-400-784, Bernoulli likelihood."""

    family = "vae"

    def __init__(self):
        super().__init__(None)
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def make_optimizers(self):
        return {"vae": adam(self.parameters(), 1e-3, (0.9, 0.999))}

    def train_step(self, x, opt):
        h = F.relu(self.fc1(x.flatten(1)))
        mu, logvar = self.fc21(h), self.fc22(h)
        logits = self.fc4(F.relu(self.fc3(reparameterize(mu, logvar)))).view_as(x)
        loss = (bernoulli_nll(logits, x) + kl_to_standard_normal(mu, logvar).sum(1)).mean()
        step(opt["vae"], loss)
        return {"loss": loss.detach()}


def measure(model: GenerativeModel, batch: int, steps: int, repeats: int, images: torch.Tensor) -> list[float]:
    """Images/s of `steps` train steps, `repeats` times, after a warm-up; batches sliced like train.py."""
    opt = model.make_optimizers()
    g = torch.Generator().manual_seed(0)
    rates = []
    for r in range(repeats + 1):
        perm = torch.randperm(images.shape[0], generator=g)
        t = time.perf_counter()
        for s in range(steps):
            x = images[perm[s * batch : (s + 1) * batch]].unsqueeze(1).float().div_(127.5).sub_(1.0)
            {k: float(v) for k, v in model.train_step(x, opt).items()}
        if r:  # the first repeat warms up allocators and caches
            rates.append(steps * batch / (time.perf_counter() - t))
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    torch.manual_seed(0)
    images = torch.randint(0, 256, (20_000, 28, 28), dtype=torch.uint8)
    env = environment()
    print(
        f"# genlab training throughput · {env['cpu']} · {env['cpu_count']} cores · torch {env['torch']} "
        f"({env['torch_threads']} threads) · python {env['python']} · genlab {env['genlab']} {env['git_sha'] or ''}"
    )
    print(f"# median of {a.repeats} repeats x {a.steps} steps; spread = min..max")
    rows = []
    cases = [("ref-mlp-gan@64", RefGAN, 64), ("ref-mlp-gan@128", RefGAN, 128), ("ref-mlp-vae@128", RefVAE, 128)]
    for name, cls, bs in cases:
        torch.manual_seed(0)
        rows.append((name, measure(cls(), bs, a.steps, a.repeats, images)))
    for model, zs in (("gan", (32, 64, 128)), ("vae", (8, 16, 32))):
        for arch in ("mlp", "conv"):
            for z in zs:
                for bs in (64, 128) if model == "gan" and arch == "mlp" else (128,):
                    cfg = make_config(model, "mnist", [f"model.z_dim={z}", f"model.arch={arch}"])
                    torch.manual_seed(0)
                    steps = a.steps if arch == "mlp" else max(10, a.steps // 4)
                    rows.append(
                        (
                            f"{model}-{arch}-z{z}@{bs}",
                            measure(build_model(model, cfg.model), bs, steps, a.repeats, images),
                        )
                    )
    out = []
    print(f"{'case':<22}{'median img/s':>14}{'spread':>22}{'vs reference':>16}")
    for name, rates in rows:
        med = statistics.median(rates)
        ref = REFERENCE.get(name)
        ratio = f"{med / ref:.2f}x of {ref}" if ref else ""
        print(f"{name:<22}{med:>14.0f}{f'{min(rates):.0f}..{max(rates):.0f}':>22}{ratio:>16}")
        out.append(
            {"case": name, "median": med, "min": min(rates), "max": max(rates), "n": len(rates), "reference": ref}
        )
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"environment": env, "results": out}, f, indent=2)


if __name__ == "__main__":
    main()
