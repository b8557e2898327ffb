"""Metrics against closed forms and independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.eval import metrics as M


def gaussian(n, d, mean=0.0, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + mean


def test_frechet_distance_of_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 8))
    s = a.T @ a / 50
    assert abs(M.frechet_distance(np.zeros(8), s, np.zeros(8), s)) < 1e-9


def test_frechet_distance_of_shifted_gaussians_is_squared_mean_distance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 8))
    s = a.T @ a / 50
    m1, m2 = rng.normal(size=8), rng.normal(size=8)
    assert M.frechet_distance(m1, s, m2, s) == pytest.approx(float(((m1 - m2) ** 2).sum()), rel=1e-9)


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook computation (pytorch-fid style) with scipy's sqrtm, dropping the imaginary part."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_scipy_reference():
    a = gaussian(2000, 32, seed=1).numpy()
    b = (gaussian(2000, 32, seed=2, scale=1.3) + 0.2).numpy() @ np.random.default_rng(3).normal(size=(32, 32)) / 5
    ours = M.fid(torch.from_numpy(a), torch.from_numpy(b))
    assert ours == pytest.approx(scipy_fid(a, b), rel=1e-6)


def test_kid_of_one_distribution_is_about_zero_and_grows_with_shift():
    a, b = gaussian(2000, 16, seed=1), gaussian(2000, 16, seed=2)
    same, std = M.kid(a, b, subsets=20, subset_size=500)
    assert abs(same) < 3 * std + 1e-3
    shifted, _ = M.kid(a, b + 0.5, subsets=20, subset_size=500)
    assert shifted > 10 * max(abs(same), std)


def test_kid_reusing_the_real_subsets_terms_gives_the_same_bits_for_every_sample_set():
    """The evaluation keeps KID's real-subset kernel means beside the real features and reuses them for each
    sample set (prior, GMM, flow, codes); every value must be the one computed from scratch."""
    real = gaussian(600, 8, seed=3)
    terms: dict = {}
    for seed in (4, 5, 6):
        fake = gaussian(600, 8, seed=seed) * 1.1
        assert M.kid(real, fake, subsets=7, subset_size=200, real_terms=terms) == M.kid(
            real, fake, subsets=7, subset_size=200
        )
    assert len(terms) == 1 and len(next(iter(terms.values()))) == 7
    smaller = gaussian(300, 8, seed=7)  # another size draws other subsets: its own entry, not the first one's
    assert M.kid(real, smaller, subsets=7, subset_size=200, real_terms=terms) == M.kid(
        real, smaller, subsets=7, subset_size=200
    )
    assert len(terms) == 2


def test_prdc_of_one_gaussian_small():
    """Two samples of one Gaussian: density ~1 and coverage ~0.97 by construction; P and R equal."""
    real, fake = gaussian(4000, 32, seed=1), gaussian(4000, 32, seed=2)
    dens, cov = M.density_coverage(real, fake, k=5)
    assert dens == pytest.approx(1.0, abs=0.1)
    assert cov == pytest.approx(0.97, abs=0.03)
    p, r = M.precision_recall(real, fake, k=5)
    assert 0.4 < p < 0.95 and 0.4 < r < 0.95 and abs(p - r) < 0.1


def test_precision_recall_brackets():
    real = gaussian(1000, 8, seed=1)
    far = gaussian(1000, 8, seed=2) + 20
    assert M.precision_recall(real, far) == (0.0, 0.0)
    narrow = gaussian(1000, 8, seed=3, scale=0.3)  # inside the real support, covering only its core
    p, r = M.precision_recall(real, narrow)
    assert p > 0.9 and r < 0.5


def test_manifold_metrics_match_a_brute_force_count():
    """The one-pass, chunked indicators equal the definitions computed from full distance matrices."""
    real, fake = gaussian(300, 6, seed=4), gaussian(250, 6, seed=5, scale=0.8)
    d_rr, d_ff, d_fr = torch.cdist(real, real), torch.cdist(fake, fake), torch.cdist(fake, real)
    r3, r5 = d_rr.sort(1).values[:, 3], d_rr.sort(1).values[:, 5]
    f3 = d_ff.sort(1).values[:, 3]
    old, M.CHUNK = M.CHUNK, 64  # several chunks, a ragged last one
    try:
        ind = M.manifold_indicators(real, fake, 3, 5)
    finally:
        M.CHUNK = old
    assert torch.equal(ind[M.PRECISION], (d_fr <= r3).any(1).double())
    assert torch.equal(ind[M.RECALL], (d_fr.T <= f3).any(1).double())
    assert torch.allclose(ind[M.DENSITY], (d_fr <= r5).sum(1).double() / 5)
    assert torch.equal(ind[M.COVERAGE], (d_fr <= r5).any(0).double())


def test_vectorised_bootstrap_equals_explicit_resamples():
    """Weighted statistics from resampling counts equal the statistics of the resampled sets themselves."""
    g = torch.Generator().manual_seed(0)
    f = gaussian(500, 12, seed=6) * 3 + 1
    probs = torch.softmax(gaussian(500, 11, seed=7) * 2, 1)
    counts = M.resample_counts(500, 5, g)
    assert torch.equal(counts.sum(1), torch.full((5,), 500.0, dtype=torch.float64))
    mus, covs = M.weighted_gaussian_stats(f, counts, chunk=128)
    scores = M.weighted_classifier_score(probs, counts)
    for b in range(5):
        idx = torch.repeat_interleave(torch.arange(500), counts[b].long())
        mu, cov = M.gaussian_stats(f[idx])
        np.testing.assert_allclose(mus[b], mu, atol=1e-10)
        np.testing.assert_allclose(covs[b], cov, atol=1e-10)
        assert float(scores[b]) == pytest.approx(M.classifier_score(probs[idx]), rel=1e-10)


def test_upper_products_are_the_gathered_products_bit_for_bit():
    """The bootstrap's second moments build the upper-triangle products row block by row block; the values must be
    exactly the gathered ones, so every interval keeps its bits."""
    f = gaussian(37, 9, seed=8).double()
    iu = torch.triu_indices(9, 9)
    out = M.upper_products(f, torch.empty(37, iu.shape[1], dtype=torch.float64))
    assert torch.equal(out, f[:, iu[0]] * f[:, iu[1]])


def onehots(classes: list[int], n_columns: int = 11) -> torch.Tensor:
    """Judge outputs certain of one column each (the last column is junk)."""
    return torch.nn.functional.one_hot(torch.tensor(classes), n_columns).double()


def test_one_class_samples_cover_one_class():
    probs = onehots([3] * 500)
    hist = M.class_histogram(probs)
    assert hist.shape == (11,) and hist[3] == 1 and hist[-1] == 0
    assert M.classes_covered(hist) == 1
    assert M.class_kl(hist, torch.full((10,), 0.1)) == pytest.approx(np.log(10), rel=1e-6)
    assert M.classifier_score(probs) == pytest.approx(1.0)
    uniform = onehots(list(range(10)) * 50)
    assert M.classes_covered(M.class_histogram(uniform)) == 10
    assert M.classifier_score(uniform) == pytest.approx(10.0, rel=1e-6)


def test_junk_fills_the_last_bin_and_class_metrics_read_only_recognisable_samples():
    """Collapse and garbage are told apart: junk never covers a class, and the class metrics say so."""
    junk = onehots([10] * 300 + [3] * 100 + [5] * 100)
    hist = M.class_histogram(junk)
    assert hist[-1] == pytest.approx(0.6) and hist[3] == pytest.approx(0.2) and hist.sum() == pytest.approx(1)
    assert M.recognisable(junk).mean() == pytest.approx(0.4)
    assert M.classes_covered(hist) == 2  # of the recognisable samples, not diluted by junk
    assert M.class_kl(hist, torch.full((10,), 0.1)) == pytest.approx(np.log(5), rel=1e-6)
    all_junk = M.class_histogram(onehots([10] * 50))
    assert M.classes_covered(all_junk) == 0 and M.class_kl(all_junk, torch.full((10,), 0.1)) is None
    # unsure samples (no real class at >= 0.9) are not recognisable, even when no junk is predicted
    unsure = torch.full((4, 11), 0.0, dtype=torch.float64)
    unsure[:, 2], unsure[:, 7] = 0.6, 0.4
    assert M.recognisable(unsure).sum() == 0 and M.class_histogram(unsure)[-1] == 1


def test_ssim_and_active_units():
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(M.ssim(x, x, 1.0), torch.ones(4, dtype=torch.float64))
    assert (M.ssim(x, torch.rand(4, 1, 28, 28), 1.0) < 0.2).all()
    mu = torch.zeros(100, 4)
    mu[:, 0] = torch.randn(100)
    assert M.active_units(mu)[0] == 1


def test_mean_ci_brackets_the_mean():
    m, lo, hi = M.mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo < 2.0 < hi
    assert M.mean_ci([5.0]) == (5.0, 5.0, 5.0)


@pytest.mark.slow
def test_prdc_matches_the_prdc_package_sanity_values():
    """The prdc README's check: 10k vs 10k samples of N(0, I) in 1000-d, k=5 ->
    precision 0.477, recall 0.471, density 1.056, coverage 0.974 (Naeem et al. 2020)."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(10_000, 1000, generator=g, dtype=torch.float64)
    fake = torch.randn(10_000, 1000, generator=g, dtype=torch.float64)
    p, r = M.precision_recall(real, fake, k=5)
    d, c = M.density_coverage(real, fake, k=5)
    assert p == pytest.approx(0.477, abs=0.03) and r == pytest.approx(0.471, abs=0.03)
    assert d == pytest.approx(1.056, abs=0.05) and c == pytest.approx(0.974, abs=0.02)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma == 0:
        return x
    t = torch.arange(-4, 5, dtype=x.dtype)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 1, 9), padding=(0, 4))
    return torch.nn.functional.conv2d(x, g.view(1, 1, 9, 1), padding=(4, 0))


@pytest.mark.slow
def test_fid_and_kid_grow_with_noise_and_blur(real_data):
    """Corrupting real test images more must move them further from the clean ones in judge space."""
    from genlab import data
    from genlab.eval import features

    judge, _ = features.get_judge(data.source("mnist", real_data))
    test, _ = data.source("mnist", real_data).load("test")
    x = data.to_unit(test)
    ref, _ = judge.features_and_probs(x[:2000])
    g = torch.Generator().manual_seed(0)
    other = x[2000:4000]
    noise = torch.randn(other.shape, generator=g)
    for corrupt, levels in (
        (lambda s: (other + s * noise).clamp(-1, 1), (0.0, 0.1, 0.25, 0.5)),
        (lambda s: _blur(other, s), (0.0, 0.6, 1.0, 1.6)),
    ):
        fids, kids = [], []
        for s in levels:
            f, _ = judge.features_and_probs(corrupt(s))
            fids.append(M.fid(ref, f))
            kids.append(M.kid(ref, f, subsets=20, subset_size=1000)[0])
        assert fids == sorted(fids) and fids[-1] > 2 * fids[0], fids
        assert kids == sorted(kids), kids
