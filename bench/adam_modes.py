"""Fused vs foreach vs single-tensor Adam on the reference architectures, images/s (median of 3 x 40 steps).

.venv/bin/python bench/adam_modes.py
"""

import statistics

import throughput as T  # bench/throughput.py: the reference models and the measuring loop
import torch


def main():
    images = torch.randint(0, 256, (20000, 28, 28), dtype=torch.uint8)
    print(f"{'adam':<10}{'ref VAE @128':>14}{'ref GAN @64':>14}")
    for mode, kw in (("fused", {"fused": True}), ("foreach", {"foreach": True}), ("single", {"foreach": False})):
        T.adam = lambda params, lr, betas, kw=kw: torch.optim.Adam(params, lr=lr, betas=betas, **kw)
        torch.manual_seed(0)
        vae = statistics.median(T.measure(T.RefVAE(), 128, 40, 3, images))
        torch.manual_seed(0)
        gan = statistics.median(T.measure(T.RefGAN(), 64, 40, 3, images))
        print(f"{mode:<10}{vae:>14.0f}{gan:>14.0f}")


if __name__ == "__main__":
    main()
