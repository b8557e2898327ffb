"""Run dir -> eval.json: sample metrics in judge space, mode collapse, VAE quality; never trains.

Protocol (stated in every eval.json): n generated samples (eval.n_samples,
10,000 in the full profile) from the best-FID epoch's checkpoint vs the first
n test images, in the judge's 128-d penultimate features; the real-vs-real
floor is n training images vs the same test images. With one seed the
intervals are bootstrap intervals over generated samples (sampling
uncertainty only); across seeds the study aggregates mean and t-interval
(genlab.report.compare).

    genlab eval runs/lab-quick/mnist-gan-z64-s0
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab import data
from genlab.core.errors import GenlabError
from genlab.core.progress import bar
from genlab.core.threads import cached_per_thread_count
from genlab.data.datasource import DataSource
from genlab.eval import features, samplers
from genlab.eval import metrics as M
from genlab.models.vae import kl_to_standard_normal, reparameterize
from genlab.store.runs import read_jsonl, read_meta, update_meta, write_json
from genlab.train import compute
from genlab.train.loop import load_run

SAMPLE_SEED = 20_241_125  # generated samples for evaluation use their own fixed noise
MODE_SEED = SAMPLE_SEED + 1  # ... and Stacked MNIST's mode counts theirs
DUPLICATE_QUANTILE = 0.01  # a sample is a near-duplicate when closer to a training image than 99% of test images are
PR_K, DC_K = 3, 5  # neighbourhood sizes (Kynkaanniemi et al. 2019; Naeem et al. 2020)


@torch.no_grad()
def generate(model, n: int, seed: int, batch: int = 1000) -> torch.Tensor:
    """n samples in [-1, 1] from fixed noise, in batches."""
    g = torch.Generator().manual_seed(seed)
    with bar(total=n, desc="sampling", unit="img") as pb:
        out = []
        for i in range(0, n, batch):
            out.append(model.sample(min(batch, n - i), g))
            pb.update(out[-1].shape[0])
    x = torch.cat(out)
    bad = int((~torch.isfinite(x)).flatten(1).any(1).sum())
    if bad:  # a diverged sampler: say so, rather than fail later inside a matrix square root
        raise GenlabError(f"{bad} of {n} samples are not finite numbers: the model's sampler diverged")
    return x


def epoch_fid_hook(cfg, data_dir=None, device="cpu"):
    """A train() hook: FID of eval.epoch_fid_samples samples vs the test set at each epoch end."""
    src = data.source_of(cfg.data, data_dir)
    judge, _ = features.get_judge(src)
    judge.to(device)
    real, _, _ = features.real_features(src, "test", 10_000)
    real_stats = M.gaussian_stats(real)

    def hook(model, epoch: int) -> dict[str, float]:
        x = generate(model, cfg.eval.epoch_fid_samples, SAMPLE_SEED + epoch)
        feats, _ = judge.features_and_probs(x)
        return {"fid_epoch": M.frechet_distance(*real_stats, *M.gaussian_stats(feats))}

    return hook


@cached_per_thread_count(maxsize=16)
def real_reference(src: DataSource, n: int, index: int = 0) -> dict[str, Any]:
    """The first n test images in judge `index`'s space with what every run is compared against (Gaussian
    statistics, k-NN radii, KID's real-subset terms as they are met): computed once per process and thread count,
    not once per run or per sample set. Shared: callers read it, and only metrics.kid adds to its `kid_real_terms`."""
    real_f, real_p, _ = features.real_features(src, "test", n, index)
    return {
        "features": real_f,
        "probs": real_p,
        "stats": M.gaussian_stats(real_f),
        "radii": M.knn_radii(real_f, (PR_K, DC_K)),
        "kid_real_terms": {},
    }


def sample_metrics(ref: dict[str, Any], fake_f, fake_p, train_hist, kid_subsets, kid_subset_size) -> dict[str, Any]:
    """Every sample metric for real (`real_reference`) vs fake features, plus per-sample indicators for bootstrap."""
    real_f = ref["features"]
    ind = M.manifold_indicators(real_f, fake_f, PR_K, DC_K, ref["radii"])
    kid_mean, kid_std = M.kid(real_f, fake_f, kid_subsets, kid_subset_size, real_terms=ref.get("kid_real_terms"))
    ind[M.RECOGNISABLE] = M.recognisable(fake_p, features.RECOGNISABLE_P)
    hist = M.class_histogram(fake_p, features.RECOGNISABLE_P)
    values = {
        M.FID: M.frechet_distance(*ref["stats"], *M.gaussian_stats(fake_f)),
        M.KID: kid_mean,
        M.KID_STD: kid_std,
        **{k: float(v.mean()) for k, v in ind.items()},
        M.CLASSIFIER_SCORE: M.classifier_score(fake_p),
        M.CLASSES_COVERED: M.classes_covered(hist),
        M.CLASS_KL: M.class_kl(hist, train_hist),
    }
    return {"values": values, "hist": hist, "indicators": ind}


def bootstrap(
    ref, fake_f, fake_p, train_hist, result, n_boot: int, kid_subsets: int, seed: int = 0
) -> dict[str, list[float]]:
    """95% percentile intervals from resampling generated samples (and reals for recall/coverage).

    Vectorised: each resample is a row of counts, every per-sample mean a matrix product, and the resampled
    Gaussian statistics come from weighted second moments (metrics.weighted_gaussian_stats)."""
    g = torch.Generator().manual_seed(seed)
    mu_r, cov_r = ref["stats"]
    root = M.psd_sqrt(cov_r)
    n, m = fake_f.shape[0], ref["features"].shape[0]
    wf, wr = M.resample_counts(n, n_boot, g), M.resample_counts(m, n_boot, g)
    ind = result["indicators"]
    mus, covs = M.weighted_gaussian_stats(fake_f, wf)
    onehot = torch.nn.functional.one_hot(M.class_assignments(fake_p, features.RECOGNISABLE_P), fake_p.shape[1]).double()
    hists = wf @ onehot / n
    kls = [M.class_kl(h, train_hist) for h in hists]
    reps = {
        M.FID: [M.frechet_distance(mu_r, cov_r, mus[b], covs[b], root1=root) for b in range(n_boot)],
        M.PRECISION: (wf @ ind[M.PRECISION] / n).tolist(),
        M.DENSITY: (wf @ ind[M.DENSITY] / n).tolist(),
        M.RECALL: (wr @ ind[M.RECALL] / m).tolist(),
        M.COVERAGE: (wr @ ind[M.COVERAGE] / m).tolist(),
        M.RECOGNISABLE: (wf @ ind[M.RECOGNISABLE] / n).tolist(),
        M.CLASSIFIER_SCORE: M.weighted_classifier_score(fake_p, wf).tolist(),
    }
    if all(k is not None for k in kls):
        reps[M.CLASS_KL] = kls
    out = {k: list(M.percentile_ci(v)) for k, v in reps.items()}
    kid, std = result["values"][M.KID], result["values"][M.KID_STD]
    half = 1.96 * std / math.sqrt(kid_subsets)
    out[M.KID] = [kid - half, kid + half]
    return out


@cached_per_thread_count(maxsize=4)
def duplicate_threshold(src: DataSource, n: int) -> float:
    """Pixel distance below which only 1% of real test images lie from their nearest training image."""
    train, _ = src.load("train")
    test, _ = src.load("test")
    d = M.nearest_distances(data.to_unit(test[:n]), data.to_unit(train))
    return float(torch.quantile(d, DUPLICATE_QUANTILE))


def near_duplicate_share(x: torch.Tensor, src: DataSource, n: int) -> tuple[float, float]:
    """(share of the first n samples that are near-copies of a training image, the threshold used)."""
    n = min(n, x.shape[0])
    thr = duplicate_threshold(src, n)
    train, _ = src.load("train")
    d = M.nearest_distances(x[:n], data.to_unit(train))
    return float((d < thr).double().mean()), thr


@torch.no_grad()
def reconstructions(model, test_u8: torch.Tensor) -> torch.Tensor:
    """Decoded encoder means of the images, in [-1, 1]."""
    return torch.cat([model.decode(model.encode(b)[0]) for b in data.to_unit(test_u8).split(1000)])


@torch.no_grad()
def sharpness(images: torch.Tensor, real: float, n_boot: int) -> tuple[float, list[float]]:
    """Mean Laplacian energy of the images relative to the test images' (1 = as sharp as real images; below:
    blurred, above: speckled), with its bootstrap interval over the images."""
    rel = M.laplacian_energy(images) / max(real, 1e-12)
    return float(rel.double().mean()), mean_interval(rel, n_boot)


def mean_interval(per_item: torch.Tensor, n_boot: int, seed: int = 0) -> list[float]:
    """95% bootstrap interval of a mean over items (test images), resampling the items."""
    g = torch.Generator().manual_seed(seed)
    v = per_item.double()
    idx = torch.randint(0, v.numel(), (n_boot, v.numel()), generator=g)
    return list(M.percentile_ci(v[idx].mean(1).tolist()))


@torch.no_grad()
def vae_metrics(
    model, test_u8: torch.Tensor, iw_samples: int, iw_images: int, seed: int = 0, n_boot: int = 200
) -> dict[str, Any]:
    """Reconstruction MSE/SSIM, ELBO and IWAE bound in nats/image (with bootstrap intervals over test images),
    active units, KL per dim."""
    g = torch.Generator().manual_seed(seed)
    x = data.to_unit(test_u8)
    mus, logvars, mse, ssim, elbo = [], [], [], [], []
    for i in range(0, x.shape[0], 1000):
        xb = x[i : i + 1000]
        mu, logvar = model.encode(xb)
        x_hat = model.decode(mu)
        mse.append(((x_hat - xb) / 2).pow(2).flatten(1).mean(1))  # on [0, 1] intensities
        ssim.append(M.ssim((x_hat + 1) / 2, (xb + 1) / 2, data_range=1.0))
        z = reparameterize(mu, logvar, g)
        nll = model.nll(model.decode_logits(z), xb)
        elbo.append(-(nll + kl_to_standard_normal(mu, logvar).sum(1)))
        mus.append(mu)
        logvars.append(logvar)
    mu, logvar = torch.cat(mus).cpu(), torch.cat(logvars).cpu()
    au, var = M.active_units(mu)
    kl_dim = kl_to_standard_normal(mu, logvar).mean(0)
    per_image = {
        M.RECON_MSE: torch.cat(mse).cpu(),
        M.RECON_SSIM: torch.cat(ssim).cpu(),
        M.ELBO: torch.cat(elbo).cpu(),
        M.IWAE: iwae_bound(model, x[:iw_images], iw_samples, g).cpu(),
    }
    out: dict[str, Any] = {k: float(v.double().mean()) for k, v in per_image.items()}
    out[M.ACTIVE_UNITS] = au
    out["intervals"] = {k: mean_interval(v, n_boot) for k, v in per_image.items()}
    out["kl_per_dim"], out["mean_variance_per_dim"] = kl_dim.tolist(), var.tolist()
    return out


@torch.no_grad()
def iwae_bound(model, x: torch.Tensor, k: int, g: torch.Generator, batch: int = 50) -> torch.Tensor:
    """log p(x) >= log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x) (Burda et al. 2016, eq. 8), nats, per image."""
    out = []
    log2pi = math.log(2 * math.pi)
    for i in range(0, x.shape[0], batch):
        xb = x[i : i + batch]
        mu, logvar = model.encode(xb)
        b, d = mu.shape
        mu_k, lv_k = mu.repeat_interleave(k, 0), logvar.repeat_interleave(k, 0)
        z = reparameterize(mu_k, lv_k, g)
        log_px_z = -model.nll(model.decode_logits(z), xb.repeat_interleave(k, 0))
        log_pz = -0.5 * (z.pow(2) + log2pi).sum(1)
        log_qz = -0.5 * ((z - mu_k).pow(2) / lv_k.exp() + lv_k + log2pi).sum(1)
        out.append(M.log_mean_exp((log_px_z + log_pz - log_qz).view(b, k).double(), 1))
    return torch.cat(out)


def autoencoder_metrics(model, test_u8: torch.Tensor, ev, real_sharpness: float, out: dict[str, Any]) -> None:
    """An autoencoder's own figures into `out` (eval.json): reconstruction MSE, SSIM and sharpness, ELBO, IWAE,
    active units with their intervals, and the per-dimension KL and code variance; the same with or without a
    judge."""
    vm = vae_metrics(model, test_u8, ev.iw_samples, ev.iw_images, n_boot=ev.bootstrap)
    recon = reconstructions(model, test_u8)
    values, intervals = out["metrics"], out["intervals"]
    values[M.RECON_SHARPNESS], intervals[M.RECON_SHARPNESS] = sharpness(recon, real_sharpness, ev.bootstrap)
    intervals.update(vm.pop("intervals"))
    out["kl_per_dim"] = vm.pop("kl_per_dim")
    out["mean_variance_per_dim"] = vm.pop("mean_variance_per_dim")
    values.update(vm)


def evaluate_run(run_dir: Path, data_dir=None, device="cpu") -> dict[str, Any]:
    """Evaluate a run from its best checkpoint (generator and judge on `device`) and write eval.json."""
    run_dir = Path(run_dir)
    cfg, model, state = load_run(run_dir, "best", device)
    ev = cfg.eval
    src = data.source_of(cfg.data, data_dir)
    ds = src.name
    data.check_unchanged(read_meta(run_dir).get("data_sha256"), src, run_dir, "evaluating it")
    no_judge = features.why_no_judge(src)
    if no_judge:
        return evaluate_without_judge(run_dir, cfg, model, state, src, no_judge, device)
    judge, judge_info = features.get_judge(src)
    judge.to(device)
    n = ev.n_samples
    test_u8, _ = src.load("test")
    n_real = min(n, 10_000, test_u8.shape[0])  # a small folder has fewer
    ref = real_reference(src, n_real)
    _, train_labels = src.load("train")
    n_classes = len(src.classes)
    train_hist = torch.bincount(train_labels, minlength=n_classes).double() / train_labels.numel()

    x = generate(model, n, SAMPLE_SEED)
    fake_f, fake_p = judge.features_and_probs(x)
    res = sample_metrics(ref, fake_f, fake_p, train_hist, ev.kid_subsets, ev.kid_subset_size)
    intervals = bootstrap(ref, fake_f, fake_p, train_hist, res, ev.bootstrap, ev.kid_subsets)
    values = res["values"]
    values[M.NEAR_DUPLICATES], dup_thr = near_duplicate_share(x.cpu(), src, ev.memo_samples)
    real_sharpness = float(M.laplacian_energy(data.to_unit(test_u8[:n_real])).mean())
    values[M.SHARPNESS], intervals[M.SHARPNESS] = sharpness(x, real_sharpness, ev.bootstrap)

    floor = floor_metrics(src, n_real, ev.kid_subsets, ev.kid_subset_size)
    test_recognisable = float(M.recognisable(ref["probs"], features.RECOGNISABLE_P).mean())
    out: dict[str, Any] = {
        "run": run_dir.name,
        "model": cfg.model_name,
        "dataset": ds,
        "z_dim": cfg.z_dim,
        "seed": cfg.train.seed,
        "epoch": state["epoch"],
        "step": state["step"],
        "data_sha256": src.content_hashes(),
        "checkpoint": "best-FID epoch" if state.get("best_step") == state["step"] else "last epoch",
        "judge": judge_info,
        "protocol": {
            "n_fake": n,
            "n_real": n_real,
            "reference": f"first {n_real} images of the test split",
            "feature_space": judge_info.get("feature_space", f"judge penultimate layer ({features.FEATURE_DIM}-d)")
            + f", judge test accuracy {judge_info['test_accuracy']:.4f}",
            "floor": f"first {n_real} training images vs the same test images",
            "precision_recall_k": PR_K,
            "density_coverage_k": DC_K,
            "kid": f"{ev.kid_subsets} subsets of {min(ev.kid_subset_size, n, n_real)}, cubic polynomial kernel",
            "sample_seed": SAMPLE_SEED,
            "classes_covered": M.coverage_rule(n_classes) + "; class_kl over the recognisable samples too",
            "recognisable": f"share of samples to which the judge gives one real class probability >= "
            f"{features.RECOGNISABLE_P} (the rest, junk or ambiguous, fill the histogram's last "
            f"bin); the {n_real} test images: {test_recognisable:.4f}",
            "sharpness": "mean 3x3-Laplacian energy of the samples on [0, 1] pixels divided by that of the "
            "reference test images (1 = as sharp as real; < 1 blurred, > 1 speckled); recon_sharpness: the same "
            "for the test images' reconstructions",
            "near_duplicates": f"share of {min(ev.memo_samples, n)} samples whose nearest training image (pixel L2) is "
            f"closer than {dup_thr:.3f}, the distance 99% of test images exceed",
            "intervals": f"95% bootstrap over generated samples ({ev.bootstrap} resamples); one seed: sampling "
            "uncertainty only, not seed-to-seed variation",
            "comparable_to_papers": False,
        },
        "metrics": values,
        "intervals": intervals,
        "floor": floor,
        "test_recognisable_share": test_recognisable,
        "class_histogram": res["hist"].tolist(),
        "train_class_histogram": train_hist.tolist(),
        "class_names": [*src.classes, "junk"],
        "fid_by_epoch": [
            [r["epoch"], r["fid_epoch"]]
            for r in read_jsonl(run_dir / "metrics.jsonl")
            if r.get("event") == "epoch" and "fid_epoch" in r
        ],
    }
    if sampler := model.sampling_protocol():
        out["protocol"]["sampler"] = sampler
    out["sample_flops"] = compute.sample_flops(model)  # per image, counted after the samples above (warm)
    samples = {"": x}
    draws = {"": lambda k: generate(model, k, MODE_SEED)}  # how each sampler draws more (Stacked MNIST's modes)
    for spec in samplers.code_samplers(model, cfg):  # the same sample metrics for each ex-post code density
        #   (GMM: Ghosh et al. 2020; latent flow: Dai & Wipf 2019's second stage) and for decoded training codes
        fitted = spec.prepare(model, cfg, src, run_dir)
        xs = samplers.sample(model, spec, fitted, n, torch.Generator().manual_seed(SAMPLE_SEED), cfg)
        f_s, p_s = judge.features_and_probs(xs)
        res_s = sample_metrics(ref, f_s, p_s, train_hist, ev.kid_subsets, ev.kid_subset_size)
        iv_s = bootstrap(ref, f_s, p_s, train_hist, res_s, ev.bootstrap, ev.kid_subsets)
        values.update({spec.prefix + k: v for k, v in res_s["values"].items()})
        intervals.update({spec.prefix + k: v for k, v in iv_s.items()})
        values[spec.prefix + M.SHARPNESS], intervals[spec.prefix + M.SHARPNESS] = sharpness(
            xs, real_sharpness, ev.bootstrap
        )
        out[f"{spec.name}_class_histogram"] = res_s["hist"].tolist()
        out["protocol"][f"{spec.name}_sampler"] = spec.protocol(cfg)
        samples[spec.prefix] = xs
        if spec.generative:
            draws[spec.prefix] = functools.partial(draw_with, model, spec, fitted, cfg)
    if model.is_autoencoder:
        autoencoder_metrics(model, test_u8[:n_real].to(device), ev, real_sharpness, out)
        out["protocol"]["vae"] = (
            f"reconstruction of the first {n_real} test images through the encoder mean; "
            f"MSE on [0,1] pixels; SSIM 11x11 Gaussian window; ELBO with one z sample; IWAE "
            f"bound with k={ev.iw_samples} on {min(ev.iw_images, n_real)} images; nats/image, "
            f"{cfg.model.recon} pixel model"
        )
    out["judges"] = ensemble(src, cfg, device, n_real, samples, train_hist, values, intervals, floor, judge_info)
    out["instrument_spread"] = instrument_spread(out["judges"])
    if src.channel_source is not None:
        mode_metrics(src, judge, draws, ev.mode_samples, values, out)
    out["protocol"]["judges"] = (
        f"every judge-space metric measured under each of {len(out['judges'])} judges of "
        "the same recipe and data, different seeds (judges[k]; judge 0 is the headline); "
        "instrument_spread: [min, max] over them"
    )
    out["stability"] = stability(read_jsonl(run_dir / "metrics.jsonl"), model.generator_loss)
    if model.is_autoencoder:
        values[M.INTERP_STEP], values[M.INTERP_MAX_SHARE] = interpolation_smoothness(model, judge, test_u8.to(device))
    write_json(run_dir / "eval.json", out)
    update_meta(run_dir, evaluated=True)
    return out


def draw_with(model, spec, fitted, cfg, n: int) -> torch.Tensor:
    """n samples of an autoencoder through one code sampler, from the modes' own fixed noise."""
    return samplers.sample(model, spec, fitted, n, torch.Generator().manual_seed(MODE_SEED), cfg)


def mode_metrics(src: DataSource, judge, draws: dict, n: int, values: dict, out: dict) -> None:
    """Stacked MNIST's collapse figures (modes of K^C, KL to uniform) for every sampler, and for the first n
    training images as the real floor, under judge 0 labelling every channel (metrics.mode_counts)."""
    for prefix, draw in draws.items():
        with bar(total=1, desc=f"modes of {n} {prefix or 'prior '}samples", unit="set") as pb:
            values.update({prefix + k: v for k, v in M.mode_counts(judge.channel_probs(draw(n))).items()})
            pb.update(1)
    train_u8, _ = src.load("train")
    n_real = min(n, train_u8.shape[0])
    out["floor"] = {**out["floor"], **M.mode_counts(judge.channel_probs(data.to_unit(train_u8[:n_real])))}
    k = len(src.channel_source.classes)
    out["protocol"]["modes"] = (
        f"{n} samples (seed {MODE_SEED}), each channel labelled by judge 0 ({src.channel_source.name}); modes: "
        f"distinct label {src.shape[0]}-tuples of {k ** src.shape[0]} among the channels' most probable classes (as "
        f"VEEGAN and PacGAN count); modes_recognisable: the same over samples whose every channel is recognisable "
        f"(p >= {features.RECOGNISABLE_P}); mode_kl: KL(tuple histogram || uniform), nats; floor: the first "
        f"{n_real} training images; no interval within a run: intervals are over seeds"
    )


def judge_record(index: int, info: dict[str, Any], values: dict, intervals: dict, floor: dict) -> dict[str, Any]:
    """One judge's entry in eval.json: which network (file, SHA-256, accuracy) and what it measured."""
    return {
        "index": index,
        "file": info.get("file", ""),
        "sha256": info.get("sha256") or info.get("weights_sha256", ""),
        "seed": info.get("seed"),
        "test_accuracy": info["test_accuracy"],
        "metrics": values,
        "intervals": intervals,
        "floor": floor,
    }


def ensemble(
    src: DataSource,
    cfg,
    device,
    n_real: int,
    samples: dict[str, torch.Tensor],
    train_hist,
    values0: dict,
    intervals0: dict,
    floor0: dict,
    info0: dict,
) -> list[dict[str, Any]]:
    """Every judge-space metric of the same samples under each judge of the ensemble (judge 0's from the headline
    computation), each with its own bootstrap interval and real-vs-real floor."""
    ev = cfg.eval
    judge_keys = {prefix + k for prefix in samples for k in floor0}

    def pick(d: dict) -> dict:
        """The judge-space entries of a values or intervals dict (every sampler's)."""
        return {k: v for k, v in d.items() if k in judge_keys}

    out = [judge_record(0, info0, pick(values0), pick(intervals0), dict(floor0))]
    for index in range(1, features.ensemble_size(src, ev.judges)):
        judge, info = features.get_judge(src, index)
        judge.to(device)
        ref = real_reference(src, n_real, index)
        vals, ivs = {}, {}
        for prefix, xs in samples.items():
            f, p = judge.features_and_probs(xs)
            res = sample_metrics(ref, f, p, train_hist, ev.kid_subsets, ev.kid_subset_size)
            iv = bootstrap(ref, f, p, train_hist, res, ev.bootstrap, ev.kid_subsets)
            vals.update({prefix + k: v for k, v in res["values"].items()})
            ivs.update({prefix + k: v for k, v in iv.items()})
        fl = floor_metrics(src, n_real, ev.kid_subsets, ev.kid_subset_size, index)
        out.append(judge_record(index, info, vals, ivs, fl))
    return out


def instrument_spread(judges: list[dict[str, Any]]) -> dict[str, list[float]]:
    """[min, max] over the judges of each metric they all measured (none for a single judge)."""
    if len(judges) < 2:
        return {}
    keys = set.intersection(*(set(j["metrics"]) for j in judges))
    out = {}
    for k in sorted(keys):
        vs = [j["metrics"][k] for j in judges if j["metrics"][k] is not None]
        if len(vs) == len(judges):
            out[k] = [float(min(vs)), float(max(vs))]
    return out


@cached_per_thread_count(maxsize=16)
def floor_metrics(src: DataSource, n: int, kid_subsets: int, kid_subset_size: int, index: int = 0) -> dict[str, float]:
    """Real-vs-real: n training images vs n test images in judge space, the best a model can hope for."""
    train_f, train_p, train_y = features.real_features(src, "train", n, index)
    hist = torch.bincount(train_y, minlength=len(src.classes)).double() / train_y.numel()
    res = sample_metrics(real_reference(src, n, index), train_f, train_p, hist, kid_subsets, kid_subset_size)
    return {k: v for k, v in res["values"].items()}


def stability(rows: list[dict[str, Any]], generator_loss: str | None) -> dict[str, float | None]:
    """Training stability from metrics.jsonl: spread of the per-epoch FID over the second half of training
    (relative to its mean), oscillation of the generator loss (std over the second half of log steps), and
    D saturation (share of log steps with D(x) > 0.95 or D(G(z)) < 0.05)."""
    fids = [r["fid_epoch"] for r in rows if r.get("event") == "epoch" and "fid_epoch" in r]
    steps = [r for r in rows if "event" not in r]
    half = steps[len(steps) // 2 :]
    g_key = generator_loss  # the model declares it (GenerativeModel.generator_loss)
    out: dict[str, float | None] = {"fid_epoch_rel_spread": None, "loss_g_std": None, "d_saturation": None}
    late = fids[len(fids) // 2 :]
    if len(late) >= 2:
        out["fid_epoch_rel_spread"] = float(np.std(late) / max(np.mean(late), 1e-12))
    if g_key and half:
        out["loss_g_std"] = float(np.std([r[g_key] for r in half if g_key in r]))
    if half and "d_real" in half[0]:
        out["d_saturation"] = float(np.mean([(r["d_real"] > 0.95) or (r["d_fake"] < 0.05) for r in half]))
    return out


@torch.no_grad()
def interpolation_smoothness(
    model, judge, test_u8: torch.Tensor, pairs: int = 100, steps: int = 8
) -> tuple[float, float]:
    """(mean judge-feature distance between consecutive interpolation steps, mean largest step as a share of
    the path length; 1/(steps-1) = perfectly even) over `pairs` test-image pairs 2i -> 2i+1."""
    pairs = min(pairs, test_u8.shape[0] // 2)  # a small image folder has fewer test images
    x = data.to_unit(test_u8[: 2 * pairs])
    mu_a, _ = model.encode(x[0::2])
    mu_b, _ = model.encode(x[1::2])
    t = torch.linspace(0, 1, steps, device=mu_a.device).view(steps, 1, 1)
    imgs = model.decode(((1 - t) * mu_a + t * mu_b).flatten(0, 1))
    f, _ = judge.features_and_probs(imgs)
    f = f.view(steps, pairs, -1)
    d = (f[1:] - f[:-1]).norm(dim=2)  # (steps-1, pairs)
    share = d.max(0).values / d.sum(0).clamp_min(1e-12)
    return float(d.mean()), float(share.mean())


NO_JUDGE = features.NO_JUDGE_UNLABELED


def evaluate_without_judge(
    run_dir: Path, cfg, model, state, src: DataSource, why: str = NO_JUDGE, device="cpu"
) -> dict[str, Any]:
    """eval.json for images no judge can label (an unlabeled folder, a shape without a judge): the metrics that
    need none (near-copies of training images, sharpness; for autoencoders reconstruction, ELBO, IWAE, active
    units) and `why` the rest is missing."""
    ev, ds = cfg.eval, src.name
    test_u8, _ = src.load("test")
    n_real = min(ev.n_samples, 10_000, test_u8.shape[0])
    x = generate(model, ev.n_samples, SAMPLE_SEED)
    values: dict[str, Any] = {}
    values[M.NEAR_DUPLICATES], dup_thr = near_duplicate_share(x.cpu(), src, ev.memo_samples)
    intervals: dict[str, Any] = {}
    real_sharpness = float(M.laplacian_energy(data.to_unit(test_u8[:n_real])).mean())
    values[M.SHARPNESS], intervals[M.SHARPNESS] = sharpness(x, real_sharpness, ev.bootstrap)
    protocol = {
        "n_fake": ev.n_samples,
        "n_real": n_real,
        "reference": f"the {n_real} test images of the folder",
        "feature_space": "none (no judge: unlabeled images)" if why == NO_JUDGE else "none (no judge for this shape)",
        "judge_skipped": why,
        "near_duplicates": f"share of {min(ev.memo_samples, ev.n_samples)} samples whose nearest training "
        f"image (pixel L2) is closer than {dup_thr:.3f}, the distance 99% of test images "
        "exceed",
        "intervals": f"95% bootstrap over test images ({ev.bootstrap} resamples)",
        "comparable_to_papers": False,
    }
    out: dict[str, Any] = {
        "run": run_dir.name,
        "model": cfg.model_name,
        "dataset": ds,
        "z_dim": cfg.z_dim,
        "data_sha256": src.content_hashes(),
        "seed": cfg.train.seed,
        "epoch": state["epoch"],
        "step": state["step"],
        "checkpoint": "last epoch",
        "judge_skipped": why,
        "protocol": protocol,
        "metrics": values,
        "intervals": intervals,
        "floor": {},
    }
    if model.is_autoencoder:
        autoencoder_metrics(model, test_u8[:n_real].to(device), ev, real_sharpness, out)
    out["stability"] = stability(read_jsonl(run_dir / "metrics.jsonl"), model.generator_loss)
    write_json(run_dir / "eval.json", out)
    update_meta(run_dir, evaluated=True)
    return out


def summary_line(result: dict[str, Any]) -> str:
    m, f = result["metrics"], result["floor"]
    if "judge" not in result:
        parts = [
            f"{result['run']} (epoch {result['epoch']}): no judge metrics "
            + ("(unlabeled images)" if result["judge_skipped"] == NO_JUDGE else "(no judge for this shape)"),
            f"near-copies of training images {m[M.NEAR_DUPLICATES]:.3f}",
        ]
        if M.RECON_MSE in m:
            parts.append(f"recon MSE {m[M.RECON_MSE]:.4f}, ELBO {m[M.ELBO]:.1f} nats, active units {m[M.ACTIVE_UNITS]}")
        return ", ".join(parts)
    parts = [
        f"{result['run']} (epoch {result['epoch']}): FID {m[M.FID]:.3f} (real-vs-real {f[M.FID]:.3f})",
        f"KID {m[M.KID]:.4f}",
        f"precision {m[M.PRECISION]:.3f}",
        f"recall {m[M.RECALL]:.3f}",
        f"recognisable {m[M.RECOGNISABLE]:.3f} (test images {result['test_recognisable_share']:.3f})",
        f"classes {m[M.CLASSES_COVERED]}/{len(result.get('class_names', [])) - 1 or 10}",
    ]
    if M.RECON_MSE in m:
        parts.append(f"recon MSE {m[M.RECON_MSE]:.4f}, ELBO {m[M.ELBO]:.1f} nats, active units {m[M.ACTIVE_UNITS]}")
    parts.append(f"[judge acc {result['judge']['test_accuracy']:.4f}, n={result['protocol']['n_fake']}]")
    return ", ".join(parts)
