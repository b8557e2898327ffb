"""The judge knows junk (outlier exposure): on the real judges, recognisable share and the judge-space metrics
separate digits and garments from noise, blobs, shuffled and speckled images (docs/evaluation.md)."""

from __future__ import annotations

import pytest
import torch

from genlab import data
from genlab.eval import features, junk, shipped_judges
from genlab.eval import metrics as M

N = 2000

# (dataset, least share of test images recognised, most share of noise/blobs/shuffled recognised): MNIST's
# numbers are the issue's; Fashion-MNIST's judge is less sure of real garments (shirt vs T-shirt vs pullover),
# measured 0.799 on these 2,000 test images (0.803 on all 10,000; judge v3, bench/judge_junk.py)
FLOORS = {
    "mnist": (0.97, {"uniform": 0.05, "blobs": 0.1, "shuffled": 0.1}),
    "fashion-mnist": (0.78, {"uniform": 0.05, "blobs": 0.1, "shuffled": 0.1}),
}
BLUR_KEPT = {"mnist": (0.95, 0.85), "fashion-mnist": (0.95, 0.80)}  # share of the clean value kept at sigma 0.6, 1.0
#   (measured: MNIST 0.996, 0.964; Fashion 0.974, 0.845)


def share(judge, x: torch.Tensor) -> float:
    _, probs = judge.features_and_probs(x)
    return float(M.recognisable(probs, features.RECOGNISABLE_P).mean())


@pytest.fixture(
    scope="module",
    params=[(ds, k) for ds in FLOORS for k in range(shipped_judges.ENSEMBLE)],
    ids=lambda p: f"{p[0]}-j{p[1]}",
)
def judged(request, real_data):
    """Every shipped judge of the ensemble (issue 23: the floors and junk tests hold for each)."""
    ds, k = request.param
    judge, info = features.get_judge(data.source(ds, real_data), k)
    test, _ = data.source(ds, real_data).load("test")
    return ds, judge, info, data.to_unit(test[:N]), data.to_unit(test[N : 2 * N])


@pytest.mark.slow
def test_judge_accuracy_meets_the_floor_with_junk_as_an_error(judged):
    ds, _, info, _, _ = judged
    assert info["test_accuracy"] >= features.ACCURACY_FLOOR[ds]
    assert info["version"] == features.JUDGE_VERSION and "junk" in info


@pytest.mark.slow
def test_recognisable_share_separates_images_from_junk(judged):
    ds, judge, _, x, _ = judged
    least_real, most_junk = FLOORS[ds]
    assert share(judge, x) >= least_real
    g = torch.Generator().manual_seed(7)
    for kind, most in most_junk.items():
        assert share(judge, junk.KINDS[kind](x, g)) <= most, kind


@pytest.mark.slow
def test_blur_is_not_junk(judged):
    """A VAE's blur must not be counted as junk: blurred test images stay recognisable (judge v2 called MNIST
    digits blurred with sigma 1.0 junk 100 % of the time, which biased every metric against the VAE)."""
    ds, judge, _, x, _ = judged
    clean = share(judge, x)
    shares = [share(judge, junk.blur(x, sigma)) for sigma in (0.6, 1.0, 1.5)]
    kept = BLUR_KEPT[ds]
    assert shares[0] >= kept[0] * clean and shares[1] >= kept[1] * clean, (clean, shares)  # VAE-like blur
    assert shares == sorted(shares, reverse=True), shares  # and more blur is never more recognisable


@pytest.mark.slow
def test_recognisable_share_falls_as_salt_and_pepper_grows(judged):
    _, judge, _, x, _ = judged
    g = torch.Generator().manual_seed(8)
    shares = [share(judge, junk.salt_and_pepper(x, rate, g)) for rate in (0.0, 0.05, 0.10, 0.20)]
    assert all(a > b for a, b in zip(shares, shares[1:])), shares
    assert shares[-1] < 0.1, shares


@pytest.mark.slow
def test_precision_density_coverage_of_junk_sit_far_below_the_real_floor(judged):
    """Part 3 of the issue: noise, blobs and 20 % salt-and-pepper test images must score clearly worse than
    real-vs-real on every manifold metric (measured: each <= 0.13 where the floor is >= 0.83)."""
    _, judge, _, x, ref_x = judged
    ref, _ = judge.features_and_probs(ref_x)
    radii = M.knn_radii(ref, (3, 5))

    def manifold(imgs):
        f, _ = judge.features_and_probs(imgs)
        return {k: float(v.mean()) for k, v in M.manifold_indicators(ref, f, 3, 5, radii).items()}

    floor = manifold(x)
    g = torch.Generator().manual_seed(9)
    for name, imgs in (
        ("uniform", junk.uniform(x, g)),
        ("blobs", junk.blobs(x, g)),
        ("salt 20%", junk.salt_and_pepper(x, 0.2, g)),
    ):
        got = manifold(imgs)
        for key in (M.PRECISION, M.DENSITY, M.COVERAGE):
            assert got[key] < 0.25 * floor[key], (name, key, got[key], floor[key])


def test_junk_batches_are_deterministic_in_range_and_hold_every_kind():
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    a = junk.make_junk(x, torch.Generator().manual_seed(0))
    b = junk.make_junk(x, torch.Generator().manual_seed(0))
    eps = 1e-6  # blurring is a weighted mean: in [-1, 1] up to float rounding
    assert torch.equal(a, b) and a.shape == x.shape and a.min() >= -1 - eps and a.max() <= 1 + eps
    for kind, make in junk.KINDS.items():
        out = make(x[:8], torch.Generator().manual_seed(1))
        assert out.shape == (8, 1, 28, 28) and out.min() >= -1 and out.max() <= 1, kind
        assert not torch.equal(out, x[:8]), kind
    shuffled = junk.shuffled(x[:4], torch.Generator().manual_seed(2))
    assert torch.equal(shuffled.flatten(1).sort(1).values, x[:4].flatten(1).sort(1).values)  # same grey levels


def test_the_judges_fast_pooling_measures_exactly_what_max_pool2d_does_and_trains_as_it():
    x = torch.relu(torch.randn(8, 4, 28, 28, generator=torch.Generator().manual_seed(0)))  # ReLU: many ties at 0
    pool = features.MaxPool2()
    with torch.inference_mode():
        assert torch.equal(pool(x), torch.nn.functional.max_pool2d(x, 2))
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    pool(a).sum().backward()
    torch.nn.functional.max_pool2d(b, 2).sum().backward()
    assert torch.equal(a.grad, b.grad)  # with gradients it is max_pool2d itself: the judges' recipe is unchanged


def test_the_judges_features_are_the_same_bits_on_any_number_of_threads():
    """torch rounds differently with 1 and 2 intra-op threads (4e-6 apart on a trained judge): the features
    that define every FID must not move with the core count, nor with what ran earlier in the process."""
    torch.manual_seed(0)
    judge = features.Judge().eval()
    before = torch.get_num_threads()
    # three batches of 256 (the last one short), and one batch alone: the smoke study's 200-image reference, which
    # a 2-thread process once cached with 2-thread bits (CI's Ray-vs-local failure)
    for n in (700, 200):
        x = torch.rand(n, 1, 28, 28) * 2 - 1
        try:
            out = {}
            for threads in (1, 2, 3):
                torch.set_num_threads(threads)
                out[threads] = judge.features_and_probs(x)
                assert torch.get_num_threads() == threads  # the caller's setting comes back
        finally:
            torch.set_num_threads(before)
        for threads in (2, 3):
            assert torch.equal(out[1][0], out[threads][0]) and torch.equal(out[1][1], out[threads][1]), (n, threads)


def test_a_per_process_cache_never_hands_a_two_thread_result_to_a_one_thread_caller():
    """The real reference, the floor and the duplicate threshold are cached per process; their k-NN and kernel sums
    round differently on 1 and 2 threads, so the cache is kept per thread count: what a process computed earlier
    at 2 threads cannot change a later 1-thread evaluation (the Ray-vs-local comparison of CI)."""
    from genlab.core.threads import cached_per_thread_count

    calls = []

    @cached_per_thread_count(maxsize=4)
    def threads_seen(key: str) -> int:
        calls.append(key)
        return torch.get_num_threads()

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert threads_seen("ref") == 2
        torch.set_num_threads(1)
        assert threads_seen("ref") == 1 and threads_seen("ref") == 1
    finally:
        torch.set_num_threads(before)
    assert calls == ["ref", "ref"]  # once per thread count, then from the cache
    from genlab.eval import evaluate

    for cached in (evaluate.real_reference, evaluate.floor_metrics, evaluate.duplicate_threshold):
        assert getattr(cached, "keyed_by_thread_count", False), cached.__name__
