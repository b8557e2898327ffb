"""Run dir -> the study's figures for that run (PNG), from its checkpoint only; never trains.

GAN: samples from fixed noise. Autoencoders (VAE, VAE-GAN): the first 64 test
images beside their reconstructions, latent interpolations (column c goes
from test image 2c to test image 2c+1, so column 0 is image 0 -> image 1),
random samples from N(0, I) with fixed noise, and from each code density the model offers (the GMM of Ghosh et al.
2020, the latent flow; genlab.eval.samplers). Families that sample by integrating an ODE (flow matching): trajectories
from noise to image. Every model: training curves.
Every figure is titled with dataset, model, z and epoch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab import data
from genlab.data.datasource import DataSource
from genlab.eval import samplers
from genlab.report import viz
from genlab.store.runs import read_jsonl
from genlab.train.loop import load_run, sample_noise_generator

N_GRID = 64
INTERP_STEPS = 8
INTERP_PAIRS = 8


def label(cfg, epoch: int) -> str:
    return f"{data.slug(cfg.data.dataset)} · {cfg.model_name.upper()} z={cfg.z_dim} · epoch {epoch}"


def interpolation_inputs(test_images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(start, end) images of each interpolation column: test images 0->1, 2->3, ..."""
    idx = torch.arange(2 * INTERP_PAIRS) % test_images.shape[0]  # a small image folder may hold fewer
    x = data.to_unit(test_images[idx])
    return x[0::2], x[1::2]


@torch.no_grad()
def interpolate(model, start: torch.Tensor, end: torch.Tensor, steps: int = INTERP_STEPS) -> torch.Tensor:
    """Decoded images along the straight line between the encoder means; (steps, pairs, C, H, W)."""
    mu_a, _ = model.encode(start)
    mu_b, _ = model.encode(end)
    t = torch.linspace(0, 1, steps, device=mu_a.device).view(steps, 1, 1)
    z = (1 - t) * mu_a.unsqueeze(0) + t * mu_b.unsqueeze(0)  # (steps, pairs, z_dim)
    return model.decode(z.flatten(0, 1)).view(steps, *start.shape)


@torch.no_grad()
def reconstruct(model, x: torch.Tensor) -> torch.Tensor:
    """Decoder applied to the encoder mean: the deterministic reconstruction."""
    mu, _ = model.encode(x)
    return model.decode(mu)


def run_figures(run_dir: Path, data_dir=None, which: str = "best", device="cpu") -> dict[str, Path]:
    """Write every figure of one run into run_dir/figures; returns name -> path."""
    run_dir = Path(run_dir)
    cfg, model, state = load_run(run_dir, which, device)
    epoch = state["epoch"]
    out = run_dir / "figures"
    paths: dict[str, Path] = {}
    fixed = sample_noise_generator(cfg.train.seed)
    samples = model.sample(N_GRID, fixed)
    kind = "random samples z ~ N(0, I)" if model.is_autoencoder else "samples (fixed noise)"
    paths["samples"] = viz.save_png(viz.titled(viz.grid(samples), f"{label(cfg, epoch)} · {kind}"), out / "samples.png")
    path = trajectories(model, cfg, epoch, out / "trajectories.png")
    if path:
        paths["trajectories"] = path
    if model.is_autoencoder:
        src = data.source_of(cfg.data, data_dir)
        test_images, _ = src.load("test")
        x = data.to_unit(test_images[:N_GRID]).to(device)
        pair = viz.side_by_side(
            [viz.grid(x), viz.grid(reconstruct(model, x))], ["inputs: first 64 test images", "reconstructions"]
        )
        paths["reconstructions"] = viz.save_png(
            viz.titled(pair, f"{label(cfg, epoch)} · inputs vs reconstructions"), out / "reconstructions.png"
        )
        for spec in samplers.code_samplers(model, cfg):
            if not spec.generative:
                continue
            fitted = spec.prepare(model, cfg, src, run_dir)
            grid = samplers.sample(model, spec, fitted, N_GRID, sample_noise_generator(cfg.train.seed), cfg)
            paths[f"samples_{spec.name}"] = viz.save_png(
                viz.titled(viz.grid(grid), f"{label(cfg, epoch)} · random samples {spec.caption}"), out / spec.figure
            )
        start, end = interpolation_inputs(test_images)
        steps = interpolate(model, start.to(device), end.to(device))
        paths["interpolation"] = viz.save_png(
            viz.titled(
                viz.grid(steps.flatten(0, 1), nrow=INTERP_PAIRS),
                f"{label(cfg, epoch)} · interpolation: rows are steps, column c goes test image 2c -> 2c+1",
            ),
            out / "interpolation.png",
        )
    paths["curves"] = training_curves(run_dir, cfg, model, out / "curves.png")
    fid_path = fid_by_epoch(run_dir, cfg, out / "fid-by-epoch.png")
    if fid_path:
        paths["fid_by_epoch"] = fid_path
    return paths


TRAJECTORY_SAMPLES, TRAJECTORY_FRAMES = 8, 9


def trajectories(model, cfg, epoch: int, path: Path) -> Path | None:
    """A few samples on their way from noise (left, t = 0) to image (right, t = 1), for families that sample by
    integrating (GenerativeModel.trajectory); the first rows of samples.png, as they start from the same noise."""
    traj = model.trajectory(TRAJECTORY_SAMPLES, sample_noise_generator(cfg.train.seed), TRAJECTORY_FRAMES)
    if traj is None:
        return None
    times = f"0, {1 / (TRAJECTORY_FRAMES - 1):g}, ..., 1"
    rows = traj.transpose(0, 1).flatten(0, 1)  # sample-major: one row per sample, one column per time
    return viz.save_png(
        viz.titled(
            viz.grid(rows, nrow=TRAJECTORY_FRAMES),
            f"{label(cfg, epoch)} · trajectories: rows are samples, columns t = {times}",
        ),
        path,
    )


def fid_by_epoch(run_dir: Path, cfg, path: Path) -> Path | None:
    """The cheap per-epoch FID the best checkpoint was chosen by (None when it was not measured)."""
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("event") == "epoch" and "fid_epoch" in r]
    if not rows:
        return None
    series = {
        f"FID ({cfg.eval.epoch_fid_samples} samples)": ([r["epoch"] for r in rows], [r["fid_epoch"] for r in rows])
    }
    return viz.curves(
        series,
        [list(series)],
        f"{data.slug(cfg.data.dataset)} · {cfg.model_name.upper()} z={cfg.z_dim} · "
        "FID by epoch (judge space; the best epoch is used)",
        ["FID"],
        path,
        xlabel="epoch",
    )


def training_curves(run_dir: Path, cfg, model, path: Path) -> Path:
    """The model's declared loss and diagnostic panels (GenerativeModel.curve_panels) over training steps."""
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "event" not in r]
    panels, ylabels = [list(p) for p in model.curve_panels], list(model.curve_ylabels)
    series = {
        name: ([r["step"] for r in rows if name in r], [r[name] for r in rows if name in r])
        for group in panels
        for name in group
    }
    return viz.curves(
        series,
        panels,
        f"{data.slug(cfg.data.dataset)} · {cfg.model_name.upper()} z={cfg.z_dim} · training curves",
        ylabels,
        path,
    )


def real_samples(src: DataSource, path: Path) -> Path:
    """The first 64 training images: what the models try to imitate."""
    images, _ = src.load("train")
    return viz.save_png(
        viz.titled(viz.grid(data.to_unit(images[:N_GRID])), f"{src.slug} · real training samples"), path
    )
