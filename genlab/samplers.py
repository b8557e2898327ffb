"""How an autoencoder's random samples are drawn: from the prior N(0, I), or from a density fitted to the
training codes after training (ex-post density estimation; Ghosh et al., ICLR 2020, sec. 4).

The mixture is a pure function of the checkpoint and the training images (10 components, full covariance,
fixed EM seed; genlab.gmm), so figures and metrics refit it rather than storing it.
"""

from __future__ import annotations

import hashlib

import torch

from genlab import data, gmm
from genlab import metrics as M

GMM_COMPONENTS = 10  # Ghosh et al. 2020 and pythae's GaussianMixtureSampler default
GMM_SEED = 0
PREFIX = M.GMM_PREFIX  # eval.json metric keys of the GMM-sampled images: gmm_fid, gmm_precision, ...
_FITTED: dict[str, gmm.GaussianMixture] = {}  # digest of the codes -> their mixture: a run's figures and its
#   evaluation (one process, `genlab.sweep.run_one`) fit it once, not twice


@torch.no_grad()
def fit_code_mixture(model, cfg, data_dir=None) -> gmm.GaussianMixture:
    """A 10-component full-covariance Gaussian mixture on the encoder means of the run's training images (of a
    seeded random `eval.gmm_codes` of them when that is set)."""
    images, _ = data.load(cfg.data.dataset, "train", data_dir, cfg.data.test_fraction)
    if cfg.data.n_train:
        images = images[: cfg.data.n_train]
    if 0 < cfg.eval.gmm_codes < images.shape[0]:  # random, not the first: a folder's images come sorted by class
        pick = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(GMM_SEED))
        images = images[pick[: cfg.eval.gmm_codes].sort().values]
    device = next(model.parameters()).device
    mus = torch.cat(
        [model.encode(data.to_unit(images[i : i + 2000].to(device)))[0].cpu() for i in range(0, images.shape[0], 2000)]
    )
    key = hashlib.sha256(mus.numpy().tobytes()).hexdigest()
    if key not in _FITTED:
        _FITTED.clear()  # one run's mixture at a time: the next run's codes differ
        _FITTED[key] = gmm.fit(mus, GMM_COMPONENTS, seed=GMM_SEED)
    return _FITTED[key]


@torch.no_grad()
def sample_from_mixture(
    model, mixture: gmm.GaussianMixture, n: int, generator: torch.Generator, batch: int = 1000
) -> torch.Tensor:
    """n decoded images in [-1, 1] from codes drawn from the mixture."""
    device = next(model.parameters()).device
    return torch.cat(
        [model.decode(mixture.sample(min(batch, n - i), generator).float().to(device)) for i in range(0, n, batch)]
    )
