"""The public reference training loops, timed side by side with genlab's loop on the same architectures.

Issue #2 quotes reference throughputs measured on an AVX-512 machine. The machine here may differ (the one
this was written on has AVX2 only and peaks near 130-150 GFLOP/s in torch.mm, not 229), so the honest
ratio is the one measured in the same process, on the same machine, at the same time. The reference loops
are re-typed from the published scripts' structure (not copied):

- PyTorch-GAN `implementations/gan/gan.py`: torchvision MNIST with Resize(28) + ToTensor + Normalize(0.5,
  0.5), DataLoader(shuffle=True), G z100-128-256-512-1024-784 with BatchNorm1d(n, 0.8), D 784-512-256-1
  with Sigmoid and BCELoss, G updated first, then D on the same (detached) fakes; noise from
  np.random.normal; per-tensor Adam (torch's CPU default); a log line per batch (written to /dev/null here,
  which favours the reference).
- pytorch/examples `vae/main.py`: ToTensor, batch 128, 784-400-(20,20) / 20-400-784, sigmoid decoder,
  BCE(sum) + KL, Adam 1e-3, a log line every 10 batches.

It needs torchvision, which does not import beside torch 2.13 here, so it runs in its own environment:

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install torch==2.14.1 torchvision==0.29.1 tqdm numpy
    PYTHONPATH=. /tmp/refenv/bin/python bench/reference_loops.py --data-dir ../shared/data/mnist [--repeats 5]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

try:
    from torchvision import datasets, transforms
except Exception as e:  # noqa: BLE001 - any import failure means the same thing here
    sys.exit(
        f"bench/reference_loops.py needs torchvision ({type(e).__name__}: {e}); make an environment as "
        "this file's docstring says"
    )

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import RefGAN, RefVAE, measure  # noqa: E402  genlab's loop on the same architectures

from genlab.store.runs import environment  # noqa: E402

QUOTED = {"gan@64": 3500, "gan@128": 4900, "vae@128": 16000}  # issue #2, its AVX-512 machine


def torchvision_root(data_dir: Path, tmp: Path) -> Path:
    """torchvision's MNIST wants ROOT/MNIST/raw/<name without .gz> for all four files: decompress them there."""
    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        src = data_dir / f"{name}.gz"
        if not src.exists():
            sys.exit(f"{src} not found: pass --data-dir, the folder with the MNIST .gz files")
        with gzip.open(src) as f, open(raw / name, "wb") as out:
            shutil.copyfileobj(f, out)
    return tmp


class PGGenerator(nn.Module):
    def __init__(self, latent: int = 100):
        super().__init__()

        def block(i, o, normalize=True):
            return [nn.Linear(i, o), *([nn.BatchNorm1d(o, 0.8)] if normalize else []), nn.LeakyReLU(0.2, inplace=True)]

        self.model = nn.Sequential(
            *block(latent, 128, False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, 784),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.model(z).view(z.size(0), 1, 28, 28)


class PGDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(784, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


def timed_loader(loader, batch: int, steps: int, repeats: int, step) -> list[float]:
    """Images/s of `step(i, images)` over `steps` fresh DataLoader batches, `repeats` times after one warm-up:
    the loader's own cost is inside the timing, as it is in the reference scripts."""
    rates = []
    for r in range(repeats + 1):
        it = iter(loader)
        t = time.perf_counter()
        for i in range(steps):
            step(i, next(it)[0])
        if r:
            rates.append(steps * batch / (time.perf_counter() - t))
    return rates


def reference_gan(root: Path, batch: int, steps: int, repeats: int, log) -> list[float]:
    """PyTorch-GAN's gan.py loop; images/s over `steps` batches, `repeats` times after one warm-up."""
    ds = datasets.MNIST(
        str(root),
        train=True,
        download=False,
        transform=transforms.Compose(
            [transforms.Resize(28), transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]
        ),
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True)
    G, D = PGGenerator(), PGDiscriminator()
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step(i, imgs):
        valid = torch.ones(imgs.size(0), 1)
        fake = torch.zeros(imgs.size(0), 1)
        real = imgs.type(torch.FloatTensor)
        opt_g.zero_grad()
        z = torch.tensor(np.random.normal(0, 1, (imgs.shape[0], 100)), dtype=torch.float32)
        gen = G(z)
        g_loss = bce(D(gen), valid)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad()
        d_loss = (bce(D(real), valid) + bce(D(gen.detach()), fake)) / 2
        d_loss.backward()
        opt_d.step()
        print(f"[Batch {i}] [D loss: {d_loss.item():f}] [G loss: {g_loss.item():f}]", file=log)

    return timed_loader(loader, batch, steps, repeats, step)


class ExamplesVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def reference_vae(root: Path, batch: int, steps: int, repeats: int, log) -> list[float]:
    """pytorch/examples' vae/main.py loop; images/s as above."""
    ds = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True)
    model = ExamplesVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(i, data):
        opt.zero_grad()
        recon, mu, logvar = model(data)
        loss = F.binary_cross_entropy(recon, data.view(-1, 784), reduction="sum") - 0.5 * torch.sum(
            1 + logvar - mu.pow(2) - logvar.exp()
        )
        loss.backward()
        opt.step()
        if i % 10 == 0:
            print(f"[{i}] Loss: {loss.item() / len(data):.6f}", file=log)

    return timed_loader(loader, batch, steps, repeats, step)


def mnist_uint8(root: Path) -> torch.Tensor:
    return datasets.MNIST(str(root), train=True, download=False).data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("GENLAB_DATA", "../shared/data")) / "mnist",
        help="the folder with the MNIST .gz files",
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=150, help="batches per timed repeat")
    a = ap.parse_args()
    env = environment()
    print(
        f"# reference loops vs genlab's loop, same process · {env['cpu']} · {env['cpu_count']} cores · "
        f"torch {env['torch']} ({env['torch_threads']} threads) · python {env['python']} · "
        f"genlab {env['genlab']} {env['git_sha'] or ''}"
    )
    print(f"# median of {a.repeats} repeats x {a.steps} batches after one warm-up repeat; spread = min..max")
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as log:
        root = torchvision_root(a.data_dir, Path(tmp))
        images = mnist_uint8(root)
        rows = []
        for case, bs in (("gan@64", 64), ("gan@128", 128), ("vae@128", 128)):
            torch.manual_seed(0)
            np.random.seed(0)
            ref = (reference_gan if case.startswith("gan") else reference_vae)(root, bs, a.steps, a.repeats, log)
            torch.manual_seed(0)
            ours = measure((RefGAN if case.startswith("gan") else RefVAE)(), bs, a.steps, a.repeats, images)
            rows.append((case, ref, ours))
    print(
        f"{'case':<10}{'reference img/s':>18}{'spread':>16}{'genlab img/s':>15}{'spread':>16}"
        f"{'genlab/ref':>12}{'genlab/quoted':>15}"
    )
    for case, ref, ours in rows:
        r, o = statistics.median(ref), statistics.median(ours)
        print(
            f"{case:<10}{r:>18.0f}{f'{min(ref):.0f}..{max(ref):.0f}':>16}{o:>15.0f}"
            f"{f'{min(ours):.0f}..{max(ours):.0f}':>16}{o / r:>11.2f}x{o / QUOTED[case]:>14.2f}x"
        )


if __name__ == "__main__":
    main()
