"""A full-covariance Gaussian mixture fitted by EM: the ex-post density of a VAE's latent codes.

Ghosh et al., ICLR 2020 ("From Variational to Deterministic Autoencoders", sec. 4): sampling a VAE's decoder
from a 10-component mixture fitted to the encoder means of the training images, instead of from the prior
N(0, I), avoids the "holes" the aggregate posterior leaves in the prior and gives markedly better samples
(pythae's GaussianMixtureSampler does the same with scikit-learn). Written here in ~60 lines of torch rather
than pulling scikit-learn into the base install for one estimator; deterministic for a given seed
(k-means++-style initialisation, a fixed number of EM iterations, sklearn's reg_covar on the diagonal).
Tested on a known mixture (tests/test_models.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

REG_COVAR = 1e-6  # added to every covariance diagonal, as sklearn.mixture.GaussianMixture(reg_covar=1e-6)


@dataclass
class GaussianMixture:
    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, D)
    covariances: torch.Tensor  # (K, D, D)

    def log_prob_components(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K): log w_k + log N(x; mu_k, S_k)."""
        chol = torch.linalg.cholesky(self.covariances)  # (K, D, D)
        diff = (x.unsqueeze(0) - self.means.unsqueeze(1)).transpose(1, 2)  # (K, D, N)
        sol = torch.linalg.solve_triangular(chol, diff, upper=False)  # (K, D, N)
        maha = sol.pow(2).sum(1).T  # (N, K)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)  # (K,)
        d = x.shape[1]
        return torch.log(self.weights) - 0.5 * (maha + logdet + d * math.log(2 * math.pi))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, D) draws: a component by weight, then its Gaussian."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], generator=generator, dtype=self.means.dtype)
        chol = torch.linalg.cholesky(self.covariances)
        return self.means[comp] + (chol[comp] @ eps.unsqueeze(2)).squeeze(2)


def fit(x: torch.Tensor, k: int = 10, iterations: int = 100, seed: int = 0, tol: float = 1e-6) -> GaussianMixture:
    """EM for a k-component full-covariance mixture on (N, D) points, in float64."""
    x = x.double()
    n, d = x.shape
    k = min(k, n)
    g = torch.Generator().manual_seed(seed)
    # k-means++ seeding of the means: each next centre drawn proportional to squared distance
    centres = [x[int(torch.randint(n, (1,), generator=g))]]
    for _ in range(1, k):
        dist = torch.cdist(x, torch.stack(centres)).min(1).values.pow(2)
        centres.append(x[int(torch.multinomial(dist / dist.sum(), 1, generator=g))])
    means = torch.stack(centres)
    resp = torch.nn.functional.one_hot(torch.cdist(x, means).argmin(1), k).double()
    eye = torch.eye(d, dtype=torch.float64)
    previous = -math.inf
    gm = None
    for _ in range(iterations):
        # M step
        nk = resp.sum(0) + 1e-10  # (K,)
        means = resp.T @ x / nk.unsqueeze(1)
        diff = x.unsqueeze(0) - means.unsqueeze(1)  # (K, N, D)
        cov = torch.einsum("kn,kni,knj->kij", resp.T, diff, diff) / nk.view(k, 1, 1) + REG_COVAR * eye
        gm = GaussianMixture(nk / n, means, cov)
        # E step
        logp = gm.log_prob_components(x)
        norm = torch.logsumexp(logp, 1, keepdim=True)
        resp = torch.exp(logp - norm)
        ll = float(norm.mean())
        if abs(ll - previous) < tol:
            break
        previous = ll
    return gm
