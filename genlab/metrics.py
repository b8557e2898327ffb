"""Pure metric functions on features, probabilities and images: no I/O, no training.

References (cited at each function): FID (Heusel et al. 2017), KID (Binkowski
et al. 2018), improved precision/recall (Kynkaanniemi et al. 2019), density and
coverage (Naeem et al. 2020), Inception/classifier score (Salimans et al.
2016), SSIM (Wang et al. 2004), IWAE bound and active units (Burda et al.
2016). Written here rather than imported: torchmetrics would pull torchvision
(which does not import beside torch 2.13) and `prdc` needs scikit-learn for
one k-NN call; each function is tested against a closed form or an
independent computation (tests/test_metrics.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# Result keys shared by evaluate, the comparison charts and the report.
FID, KID, KID_STD = "fid", "kid", "kid_std"
PRECISION, RECALL, DENSITY, COVERAGE = "precision", "recall", "density", "coverage"
CLASSIFIER_SCORE, CLASSES_COVERED, CLASS_KL = "classifier_score", "classes_covered", "class_kl"
NEAR_DUPLICATES = "near_duplicate_share"
RECON_MSE, RECON_SSIM, ELBO, IWAE, ACTIVE_UNITS = "recon_mse", "recon_ssim", "elbo", "iwae", "active_units"
INTERP_STEP, INTERP_MAX_SHARE = "interp_step_distance", "interp_max_step_share"


# ---------------------------------------------------------------- Frechet distance

def gaussian_stats(feats: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of (N, D) features in float64; covariance with the N-1 denominator."""
    f = feats.double().cpu().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """||mu1-mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2) (Heusel et al. 2017, eq. 6).

    Tr((S1 S2)^1/2) = sum of sqrt of the eigenvalues of S1^1/2 S2 S1^1/2, a symmetric PSD
    matrix, so no complex square root is needed; eigenvalues below 0 from rounding are clipped.
    """
    mu1, mu2, s1, s2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, s1, s2))
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_cross = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_cross)


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


# ---------------------------------------------------------------- KID

def _poly_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x.y / d + 1)^3 (Binkowski et al. 2018, sec. 3)."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel (Binkowski et al. 2018, eq. 3)."""
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, std) of unbiased MMD^2 over random subsets (the common protocol: 100 x 1,000)."""
    g = torch.Generator().manual_seed(seed)
    size = min(subset_size, real.shape[0], fake.shape[0])
    vals = []
    for _ in range(subsets):
        ri = torch.randperm(real.shape[0], generator=g)[:size]
        fi = torch.randperm(fake.shape[0], generator=g)[:size]
        vals.append(mmd2_unbiased(real[ri].double(), fake[fi].double()))
    return float(np.mean(vals)), float(np.std(vals))


# ---------------------------------------------------------------- k-NN based metrics

def pairwise_distances(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """(len(a), len(b)) Euclidean distances in float32 (half the time of float64; every comparison uses the
    same path, so ball membership is consistent), computed in row chunks to bound memory."""
    b = b.float()
    return torch.cat([torch.cdist(a[i:i + chunk].float(), b) for i in range(0, a.shape[0], chunk)])


def kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point in the same set."""
    d = pairwise_distances(x, x)
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def inside_any_ball(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, how many of the balls B(centre_i, radius_i) contain it; (len(points),)."""
    return (pairwise_distances(points, centres) <= radii.unsqueeze(0)).sum(1)


def precision_recall_indicators(real: torch.Tensor, fake: torch.Tensor, k: int = 3
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-fake 'inside the real manifold' and per-real 'inside the fake manifold' (Kynkaanniemi et al. 2019)."""
    in_real = inside_any_ball(fake, real, kth_neighbour_radius(real, k)) > 0
    in_fake = inside_any_ball(real, fake, kth_neighbour_radius(fake, k)) > 0
    return in_real.double(), in_fake.double()


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision (share of fakes in the real manifold) and recall (reals in the fake manifold)."""
    p, r = precision_recall_indicators(real, fake, k)
    return float(p.mean()), float(r.mean())


def density_coverage_indicators(real: torch.Tensor, fake: torch.Tensor, k: int = 5
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-fake count of real balls containing it / k, and per-real 'its ball holds a fake' (Naeem et al. 2020)."""
    radii = kth_neighbour_radius(real, k)
    d = pairwise_distances(fake, real)  # (M, N)
    inside = d <= radii.unsqueeze(0)
    return inside.sum(1).double() / k, inside.any(0).double()


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """density = (1/kM) sum_j sum_i 1[fake_j in B(real_i, NND_k)]; coverage = share of real balls hit."""
    dens, cov = density_coverage_indicators(real, fake, k)
    return float(dens.mean()), float(cov.mean())


# ---------------------------------------------------------------- classifier-based

def classifier_score(probs: torch.Tensor, eps: float = 1e-12) -> float:
    """exp E_x KL(p(y|x) || p(y)) (Salimans et al. 2016) with the judge as classifier; at most n_classes."""
    p = probs.double()
    py = p.mean(0, keepdim=True)
    kl = (p * (torch.log(p + eps) - torch.log(py + eps))).sum(1).mean()
    return float(torch.exp(kl))


def class_histogram(probs: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Share of samples the judge assigns to each class; (n_classes,)."""
    return torch.bincount(probs.argmax(1), minlength=n_classes).double() / probs.shape[0]


def classes_covered(hist: torch.Tensor, min_share_of_uniform: float = 0.1) -> int:
    """Classes holding at least 10% of their uniform share (1% of samples for 10 classes)."""
    return int((hist >= min_share_of_uniform / hist.numel()).sum())


def kl_divergence(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-12) -> float:
    """KL(p || q) in nats for two histograms."""
    p, q = p.double(), q.double()
    return float((p * (torch.log(p + eps) - torch.log(q + eps))).sum())


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Distance from each query to its nearest reference point (L2, flattened)."""
    q, r = queries.flatten(1).float(), reference.flatten(1).float()
    return torch.cat([torch.cdist(q[i:i + chunk], r).min(1).values for i in range(0, q.shape[0], chunk)])


# ---------------------------------------------------------------- VAE quality

def _gaussian_blur(x: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Valid-mode Gaussian filtering as two 1-D passes (separable: ~10x fewer operations than 2-D)."""
    t = torch.arange(size, dtype=x.dtype, device=x.device) - size // 2
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return F.conv2d(F.conv2d(x, g.view(1, 1, 1, size)), g.view(1, 1, size, 1))


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Per-image SSIM with an 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03 (Wang et al. 2004); (N,)."""
    a, b = a.float(), b.float()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _gaussian_blur(a), _gaussian_blur(b)
    saa = _gaussian_blur(a * a) - mu_a ** 2
    sbb = _gaussian_blur(b * b) - mu_b ** 2
    sab = _gaussian_blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return s.flatten(1).mean(1).double()


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Latent dims with Cov_x(E_q[z_u]) > 0.01 (Burda et al. 2016, sec. 5.2); (count, per-dim variance)."""
    var = mu.double().var(0)
    return int((var > threshold).sum()), var


def log_mean_exp(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])


# ---------------------------------------------------------------- uncertainty

def mean_ci(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, lo, hi): Student-t interval over independent runs (seeds); a single value has no width."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean())
    if len(v) < 2:
        return m, m, m
    half = float(stats.t.ppf((1 + confidence) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return m, m - half, m + half


def percentile_ci(samples: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """(lo, hi) percentile interval of bootstrap replicates."""
    a = (1 - confidence) / 2
    return float(np.quantile(samples, a)), float(np.quantile(samples, 1 - a))
