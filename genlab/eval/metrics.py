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
RECOGNISABLE = "recognisable_share"
GMM_PREFIX = "gmm_"  # the sample metrics again, for autoencoder samples whose codes come from the ex-post GMM
FLOW_PREFIX = "flow_"  # ... from the latent flow (genlab.eval.latent_flow)
CODES_PREFIX = "codes_"  # ... decoded training codes: the ceiling of any code density (genlab.eval.samplers)
NEAR_DUPLICATES = "near_duplicate_share"
RECON_MSE, RECON_SSIM, ELBO, IWAE, ACTIVE_UNITS = "recon_mse", "recon_ssim", "elbo", "iwae", "active_units"
INTERP_STEP, INTERP_MAX_SHARE = "interp_step_distance", "interp_max_step_share"
SHARPNESS = "sharpness"  # Laplacian energy of the images relative to the test images' (1 = as sharp as real)
RECON_SHARPNESS = "recon_sharpness"  # the same for reconstructions of the test images
MODES, MODES_RECOGNISED, MODE_KL = "modes", "modes_recognisable", "mode_kl"  # Stacked MNIST's collapse figures


# ---------------------------------------------------------------- Frechet distance


def gaussian_stats(feats: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of (N, D) features in float64; covariance with the N-1 denominator."""
    f = feats.double().cpu().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def resample_counts(n: int, n_boot: int, generator: torch.Generator) -> torch.Tensor:
    """(n_boot, n) float64: how often each of n items appears in each of n_boot bootstrap resamples of size n.
    Every mean over a resample is then counts @ values / n, which vectorises the bootstrap."""
    idx = torch.randint(0, n, (n_boot, n), generator=generator)
    return torch.zeros(n_boot, n, dtype=torch.float64).scatter_add_(1, idx, torch.ones(n_boot, n, dtype=torch.float64))


def weighted_gaussian_stats(
    feats: torch.Tensor, counts: torch.Tensor, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Per resample (rows of `counts`): gaussian_stats of the resampled features, without building the sets.
    Returns means (B, D) and covariances (B, D, D), float64, with the N-1 denominator like gaussian_stats."""
    f = feats.double()
    f = f - f.mean(0)  # centre first: the second-moment formula then loses no precision
    n, d = f.shape
    iu = torch.triu_indices(d, d)
    second = torch.zeros(counts.shape[0], iu.shape[1], dtype=torch.float64)
    products = torch.empty(min(chunk, n), iu.shape[1], dtype=torch.float64)
    for i in range(0, n, chunk):  # sum_i w_bi f_i f_i^T as one matrix product over the upper triangles
        fc = f[i : i + chunk]
        upper_products(fc, products[: fc.shape[0]])
        second += counts[:, i : i + chunk] @ products[: fc.shape[0]]
    total = counts.sum(1, keepdim=True)
    mu = counts @ f / total
    cov = torch.zeros(counts.shape[0], d, d, dtype=torch.float64)
    cov[:, iu[0], iu[1]] = second
    cov = cov + cov.triu(1).transpose(1, 2)
    cov = (cov - total.unsqueeze(2) * mu.unsqueeze(2) * mu.unsqueeze(1)) / (total.unsqueeze(2) - 1)
    return (mu + feats.double().mean(0)).numpy(), cov.numpy()


def upper_products(f: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """out[:, k] = f[:, i] * f[:, j] for the k-th (i, j) of torch.triu_indices(d, d) (row-major, j >= i): the same
    values as gathering f[:, iu[0]] * f[:, iu[1]], written row block by row block, 3x faster than the gather."""
    d, at = f.shape[1], 0
    for i in range(d):
        torch.mul(f[:, i, None], f[:, i:], out=out[:, at : at + d - i])
        at += d - i
    return out


def weighted_classifier_score(probs: torch.Tensor, counts: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """classifier_score of each resample (rows of `counts`), as the same sums rewritten over weights; (B,)."""
    p = probs.double()
    total = counts.sum(1, keepdim=True)
    own = (p * torch.log(p + eps)).sum(1)  # sum_y p log p, per sample
    py = counts @ p / total  # (B, classes)
    return torch.exp((counts @ own) / total.squeeze(1) - (py * torch.log(py + eps)).sum(1))


def psd_sqrt(s: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance matrix (eigenvalues below 0 from rounding clipped)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(
    mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray, root1: np.ndarray | None = None
) -> float:
    """||mu1-mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2) (Heusel et al. 2017, eq. 6).

    Tr((S1 S2)^1/2) = sum of sqrt of the eigenvalues of S1^1/2 S2 S1^1/2, a symmetric PSD
    matrix, so no complex square root is needed; eigenvalues below 0 from rounding are clipped.
    `root1` = psd_sqrt(s1) when one reference meets many sets (bootstrap).
    """
    mu1, mu2, s1, s2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, s1, s2))
    root1 = psd_sqrt(s1) if root1 is None else root1
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


def _within(x: torch.Tensor) -> torch.Tensor:
    """The mean kernel value over distinct pairs of one set (a 0-d tensor): one term of the unbiased MMD^2."""
    m = x.shape[0]
    k = _poly_kernel(x, x)
    return (k.sum() - k.diagonal().sum()) / (m * (m - 1))


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, sxx: torch.Tensor | None = None) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel (Binkowski et al. 2018, eq. 3); `sxx` = _within(x) when
    it is already known (the same real subset met by many sample sets)."""
    sxx = _within(x) if sxx is None else sxx
    return float(sxx + _within(y) - 2 * _poly_kernel(x, y).mean())


def kid(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    real_terms: dict | None = None,
) -> tuple[float, float]:
    """(mean, std) of unbiased MMD^2 over random subsets (the common protocol: 100 x 1,000).

    The subsets are drawn from one seeded sequence, so every sample set of the same size meets the same real
    subsets: `real_terms` (a dict kept beside the real features) holds their within-set kernel means, computed once
    and reused bit for bit — a third of KID's kernels, per sample set after the first."""
    g = torch.Generator().manual_seed(seed)
    size = min(subset_size, real.shape[0], fake.shape[0])
    key = (seed, subsets, size, real.shape[0], fake.shape[0])
    known = real_terms.get(key) if real_terms is not None else None
    terms = []
    vals = []
    for s in range(subsets):
        ri = torch.randperm(real.shape[0], generator=g)[:size]
        fi = torch.randperm(fake.shape[0], generator=g)[:size]
        x = real[ri].double()
        terms.append(_within(x) if known is None else known[s])
        vals.append(mmd2_unbiased(x, fake[fi].double(), terms[-1]))
    if real_terms is not None and known is None:
        real_terms[key] = terms
    return float(np.mean(vals)), float(np.std(vals))


# ---------------------------------------------------------------- k-NN based metrics

CHUNK = 2048  # rows of a distance matrix held at once: 2048 x 10,000 floats = 80 MB


def knn_radii(x: torch.Tensor, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """Distance from each point to its k-th nearest other point in the same set, for every k in `ks`, from one
    pass over the distance matrix (row chunks, partial sort with topk)."""
    x = x.float()
    kmax = max(ks)
    near = torch.cat(
        [
            torch.cdist(x[i : i + CHUNK], x).topk(kmax + 1, dim=1, largest=False).values
            for i in range(0, x.shape[0], CHUNK)
        ]
    )
    return {k: near[:, k] for k in ks}  # column 0 is the point itself, at distance 0


def manifold_indicators(
    real: torch.Tensor,
    fake: torch.Tensor,
    pr_k: int = 3,
    dc_k: int = 5,
    real_radii: dict[int, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Per-sample indicators of improved precision and recall (Kynkaanniemi et al. 2019) and density and coverage
    (Naeem et al. 2020), all from one pass over the fake-to-real distances.

    precision: fake j lies in some real ball B(real_i, NND_pr_k(real_i)); recall: real i lies in some fake ball;
    density: number of real balls B(real_i, NND_dc_k) holding fake j, / dc_k; coverage: real ball i holds a fake.
    `real_radii` ({k: radii} from knn_radii) saves the real-real pass when one real set meets many fake sets.
    """
    real, fake = real.float(), fake.float()
    rr = real_radii if real_radii is not None else knn_radii(real, (pr_k, dc_k))
    fake_r = knn_radii(fake, (pr_k,))[pr_k]
    prec, dens = torch.empty(fake.shape[0]), torch.empty(fake.shape[0])
    rec = torch.zeros(real.shape[0], dtype=torch.bool)
    cov = torch.zeros(real.shape[0], dtype=torch.bool)
    for i in range(0, fake.shape[0], CHUNK):
        d = torch.cdist(fake[i : i + CHUNK], real)  # (chunk, N)
        prec[i : i + CHUNK] = (d <= rr[pr_k]).any(1).float()
        in_dc = d <= rr[dc_k]
        dens[i : i + CHUNK] = in_dc.sum(1).float() / dc_k
        cov |= in_dc.any(0)
        rec |= (d <= fake_r[i : i + CHUNK, None]).any(0)
    return {PRECISION: prec.double(), RECALL: rec.double(), DENSITY: dens.double(), COVERAGE: cov.double()}


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision (share of fakes in the real manifold) and recall (reals in the fake manifold)."""
    ind = manifold_indicators(real, fake, pr_k=k, dc_k=k)
    return float(ind[PRECISION].mean()), float(ind[RECALL].mean())


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """density = (1/kM) sum_j sum_i 1[fake_j in B(real_i, NND_k)]; coverage = share of real balls hit."""
    ind = manifold_indicators(real, fake, pr_k=k, dc_k=k)
    return float(ind[DENSITY].mean()), float(ind[COVERAGE].mean())


# ---------------------------------------------------------------- classifier-based


def classifier_score(probs: torch.Tensor, eps: float = 1e-12) -> float:
    """exp E_x KL(p(y|x) || p(y)) (Salimans et al. 2016) with the judge as classifier; at most the number of
    columns of `probs` (the judge's real classes plus junk: pure junk scores 1)."""
    p = probs.double()
    py = p.mean(0, keepdim=True)
    kl = (p * (torch.log(p + eps) - torch.log(py + eps))).sum(1).mean()
    return float(torch.exp(kl))


RECOGNISABLE_P = 0.9  # a sample is recognisable when the judge gives one real class at least this probability
COVERED_SHARE_OF_UNIFORM = 0.1  # a class is covered with at least this fraction of its uniform share


def coverage_rule(n_classes: int) -> str:
    """The class-coverage rule in words, with its threshold for this many classes (the protocol line, the report)."""
    return (
        f"classes holding at least {COVERED_SHARE_OF_UNIFORM:.0%} of their uniform share of the recognisable "
        f"samples ({COVERED_SHARE_OF_UNIFORM / max(n_classes, 1):.3g} of them for {n_classes} classes)"
    )


def is_covered(share_of_recognised: float, n_classes: int) -> bool:
    """One class's share of the recognisable samples meets the coverage rule (classes_covered counts these)."""
    return share_of_recognised >= COVERED_SHARE_OF_UNIFORM / n_classes


def recognisable(probs: torch.Tensor, threshold: float = RECOGNISABLE_P) -> torch.Tensor:
    """(N,) float 0/1: some real class (every column but the last, junk) has probability >= threshold."""
    return (probs[:, :-1].max(1).values >= threshold).double()


def class_assignments(probs: torch.Tensor, threshold: float = RECOGNISABLE_P) -> torch.Tensor:
    """(N,) class index per sample: its most probable real class when recognisable, else the junk bin (the last
    column's index)."""
    junk = probs.shape[1] - 1
    return torch.where(recognisable(probs, threshold).bool(), probs[:, :-1].argmax(1), torch.tensor(junk))


def class_histogram(probs: torch.Tensor, threshold: float = RECOGNISABLE_P) -> torch.Tensor:
    """Share of samples per real class among all samples, and in the last bin the share the judge cannot
    recognise (junk or ambiguous); sums to 1; (n_classes + 1,)."""
    return torch.bincount(class_assignments(probs, threshold), minlength=probs.shape[1]).double() / probs.shape[0]


def recognised_part(hist: torch.Tensor) -> torch.Tensor | None:
    """The real-class bins of a histogram with a junk bin, renormalised over recognisable samples; None when no
    sample was recognisable."""
    real = hist[:-1].double()
    total = real.sum()
    return real / total if total > 0 else None


def classes_covered(hist: torch.Tensor, min_share_of_uniform: float = COVERED_SHARE_OF_UNIFORM) -> int:
    """Classes holding at least 10% of their uniform share of the *recognisable* samples (1% for 10 classes);
    `hist` has a junk bin last. No recognisable sample covers no class."""
    real = recognised_part(hist)
    if real is None:
        return 0
    return int((real >= min_share_of_uniform / real.numel()).sum())


def class_kl(hist: torch.Tensor, train_hist: torch.Tensor) -> float | None:
    """KL(recognisable samples' class histogram || training class histogram), nats; None without any
    recognisable sample. `hist` has a junk bin last, `train_hist` has not."""
    real = recognised_part(hist)
    return None if real is None else kl_divergence(real, train_hist)


def mode_counts(channel_probs: torch.Tensor, threshold: float = RECOGNISABLE_P) -> dict[str, float]:
    """Stacked MNIST's collapse figures from per-channel judge probabilities (N, C, K + 1; last: junk):
    modes = distinct class tuples among the channels' most probable real classes (the published count: every
    sample labelled, VEEGAN / PacGAN); modes_recognisable = the same over samples whose every channel is
    recognisable (p >= threshold), so noise filed under a digit does not count; mode_kl = KL(tuple histogram ||
    uniform over K^C tuples), nats, as published (over all samples)."""
    n, c, k1 = channel_probs.shape
    k = k1 - 1
    real = channel_probs[:, :, :-1]
    labels = real.argmax(2)
    code = torch.zeros(n, dtype=torch.long)
    for i in range(c):
        code = code * k + labels[:, i]
    hist = torch.bincount(code, minlength=k**c).double() / max(n, 1)
    seen = hist > 0
    kl = float((hist[seen] * (hist[seen] * k**c).log()).sum())
    ok = (real.max(2).values >= threshold).all(1)
    return {
        MODES: int(seen.sum()),
        MODES_RECOGNISED: int(torch.unique(code[ok]).numel()),
        MODE_KL: kl,
        "all_channels_recognisable": float(ok.double().mean()),
    }


def kl_divergence(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-12) -> float:
    """KL(p || q) in nats for two histograms."""
    p, q = p.double(), q.double()
    return float((p * (torch.log(p + eps) - torch.log(q + eps))).sum())


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Distance from each query to its nearest reference point (L2, flattened)."""
    q, r = queries.flatten(1).float(), reference.flatten(1).float()
    return torch.cat([torch.cdist(q[i : i + chunk], r).min(1).values for i in range(0, q.shape[0], chunk)])


# ---------------------------------------------------------------- VAE quality


def _gaussian_blur(x: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Valid-mode Gaussian filtering as two 1-D passes (separable: ~10x fewer operations than 2-D)."""
    t = torch.arange(size, dtype=x.dtype, device=x.device) - size // 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]  # each channel filtered on its own (SSIM of a colour image: the mean over its channels)
    return F.conv2d(
        F.conv2d(x, g.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c),
        g.view(1, 1, size, 1).expand(c, 1, size, 1),
        groups=c,
    )


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Per-image SSIM with an 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03 (Wang et al. 2004); (N,)."""
    a, b = a.float(), b.float()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _gaussian_blur(a), _gaussian_blur(b)
    saa = _gaussian_blur(a * a) - mu_a**2
    sbb = _gaussian_blur(b * b) - mu_b**2
    sab = _gaussian_blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
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


def laplacian_energy(x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
    """(N,) mean squared response of the 3x3 Laplacian on [0, 1] pixels: edge energy, which blur removes and
    speckle inflates (the variance-of-Laplacian focus measure; Pech-Pacheco et al., ICPR 2000)."""
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=x.device).view(1, 1, 3, 3)
    out = []
    for i in range(0, x.shape[0], batch):
        xb = (x[i : i + batch].float() + 1) / 2
        c = xb.shape[1]
        r = torch.nn.functional.conv2d(xb, k.expand(c, 1, 3, 3), groups=c)
        out.append(r.pow(2).flatten(1).mean(1).cpu())
    return torch.cat(out)


def difference_ci(
    a: list[float], b: list[float], a_iv: tuple[float, float] | None = None, b_iv: tuple[float, float] | None = None
) -> tuple[float, float, float]:
    """(mean(a) - mean(b), lo, hi), 95 %: Welch's t-interval when each side has >= 2 seeds; otherwise the two
    sides' own intervals (a single run's bootstrap) combined in quadrature, which is sampling uncertainty only."""
    from scipy import stats

    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = float(va.mean() - vb.mean())
    if len(va) >= 2 and len(vb) >= 2:
        sa, sb = va.var(ddof=1) / len(va), vb.var(ddof=1) / len(vb)
        se = math.sqrt(sa + sb)
        if se == 0:
            return d, d, d
        dof = (sa + sb) ** 2 / (sa**2 / (len(va) - 1) + sb**2 / (len(vb) - 1))  # Welch-Satterthwaite
        half = float(stats.t.ppf(0.975, dof) * se)
        return d, d - half, d + half
    ha = (a_iv[1] - a_iv[0]) / 2 if a_iv else 0.0
    hb = (b_iv[1] - b_iv[0]) / 2 if b_iv else 0.0
    half = math.sqrt(ha**2 + hb**2)
    return d, d - half, d + half


def percentile_ci(samples: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """(lo, hi) percentile interval of bootstrap replicates."""
    a = (1 - confidence) / 2
    return float(np.quantile(samples, a)), float(np.quantile(samples, 1 - a))
