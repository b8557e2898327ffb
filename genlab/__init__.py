"""genlab: a small laboratory for generative image models (GAN, VAE, VAE-GAN) on MNIST-like data.

Start at `genlab.cli` (the commands) or `docs/architecture.md` (how the pieces fit).
"""

__version__ = "0.2.0"  # 0.2: judge v2 (junk class), GAN recipe options
