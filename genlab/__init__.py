"""genlab: a small laboratory for generative image models (GAN, VAE, VAE-GAN) on MNIST-like data.

Start at `genlab.cli` (the commands) or `docs/architecture.md` (how the pieces fit).
"""

__version__ = "0.1.0"
