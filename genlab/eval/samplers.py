"""How an autoencoder's random samples are drawn, registered by name: from the prior N(0, I) (the model's own
`sample`), or from a density fitted to the training codes after training (ex-post density estimation; Ghosh et al.,
ICLR 2020, sec. 4; the two-stage VAE of Dai & Wipf, ICLR 2019).

- `gmm`: a 10-component full-covariance Gaussian mixture (genlab.eval.gmm), a pure function of the checkpoint and the
  training images (fixed EM seed), so figures and metrics refit it rather than storing it.
- `flow`: a flow-matching model of the codes (genlab.eval.latent_flow); its weights are saved in the run folder
  (RUN/latent-flow/, SHA-256 checked) so a second evaluation or figure pass reuses them instead of refitting.
- `codes`: not a sampler but its ceiling: decoded codes of real training images, i.e. what a perfect code density
  would give with this decoder (the "prior gap" is each sampler's FID minus this one's).

A model lists the names it offers (`GenerativeModel.samplers`); evaluation, figures, charts and the report walk
`code_samplers(model)` and never name one.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from genlab import data
from genlab.core.safeio import MAX_CACHE_BYTES, MAX_JSON_BYTES, read_capped
from genlab.data.datasource import DataSource
from genlab.eval import gmm, latent_flow
from genlab.eval import metrics as M
from genlab.store.runs import atomic_write

GMM_COMPONENTS = 10  # Ghosh et al. 2020 and pythae's GaussianMixtureSampler default
GMM_SEED = 0
CODES_SEED = 0  # which training images' codes: the same seeded pick for every sampler
FLOW_DIR = "latent-flow"  # in the run folder: weights.safetensors + fit.json
_FITTED: dict[str, Any] = {}  # (sampler, digest of the codes, recipe) -> its fit: a run's figures and its
#   evaluation (one process, genlab.study.one_run) fit each once, not twice


@dataclass(frozen=True)
class CodeSampler:
    """One way of drawing an autoencoder's codes, with what the tables, figures and protocol call it."""

    name: str
    prefix: str  # eval.json keys of its images' metrics: prefix + "fid", ...
    label: str  # its row and series name after the model's ("VAE z16, GMM sampler")
    figure: str  # its grid in RUN/figures/
    caption: str  # the grid's title: how the codes were drawn
    protocol: Callable[[Any], str]  # cfg -> the protocol line in eval.json
    prepare: Callable[[Any, Any, Any, Path | None], Any]  # (model, cfg, data source, run_dir) -> its fit
    draw: Callable[[Any, int, torch.Generator, Any], torch.Tensor]  # (fit, n, generator, cfg) -> codes
    generative: bool = True  # False: a reference row (tables), not a model's samples (charts, claims, verdicts)


@torch.no_grad()
def training_codes(model, cfg, src: DataSource) -> torch.Tensor:
    """Encoder means of the run's training images (of a seeded random `eval.gmm_codes` of them when that is set)."""
    images, _ = src.load("train")
    if cfg.data.n_train:
        images = images[: cfg.data.n_train]
    if 0 < cfg.eval.gmm_codes < images.shape[0]:  # random, not the first: a folder's images come sorted by class
        pick = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(CODES_SEED))
        images = images[pick[: cfg.eval.gmm_codes].sort().values]
    device = next(model.parameters()).device
    return torch.cat(
        [model.encode(data.to_unit(images[i : i + 2000].to(device)))[0].cpu() for i in range(0, images.shape[0], 2000)]
    )


def digest(codes: torch.Tensor) -> str:
    return hashlib.sha256(codes.contiguous().numpy().tobytes()).hexdigest()


def memo(key: str, make: Callable[[], Any]) -> Any:
    """One fit per key in this process; the previous run's fits are dropped (its codes differ)."""
    if key not in _FITTED:
        for k in [k for k in _FITTED if k.split(":")[0] == key.split(":")[0]]:
            del _FITTED[k]
        _FITTED[key] = make()
    return _FITTED[key]


def fit_code_mixture(model, cfg, src: DataSource, run_dir: Path | None = None) -> gmm.GaussianMixture:
    """The 10-component full-covariance Gaussian mixture on the run's training codes."""
    codes = training_codes(model, cfg, src)
    return memo(f"gmm:{digest(codes)}", lambda: gmm.fit(codes, GMM_COMPONENTS, seed=GMM_SEED))


def flow_recipe(cfg) -> latent_flow.FlowRecipe:
    return latent_flow.FlowRecipe(steps=cfg.eval.flow_steps, width=cfg.eval.flow_width)


def fit_code_flow(model, cfg, src: DataSource, run_dir: Path | None = None) -> latent_flow.VelocityMLP:
    """The flow-matching density of the run's training codes: loaded from RUN/latent-flow/ when it was fitted to
    these codes with this recipe, else fitted (and saved there when a run folder is given)."""
    codes = training_codes(model, cfg, src)
    recipe = flow_recipe(cfg)
    key = f"flow:{digest(codes)}:{json.dumps(recipe.to_dict(), sort_keys=True)}"

    def make() -> latent_flow.VelocityMLP:
        if run_dir is not None:
            saved = load_flow(Path(run_dir), codes, recipe)
            if saved is not None:
                return saved
        t0 = time.perf_counter()
        v = latent_flow.fit(codes, recipe)
        if run_dir is not None:
            save_flow(Path(run_dir), v, codes, recipe, time.perf_counter() - t0)
        return v

    return memo(key, make)


def save_flow(run_dir: Path, v: latent_flow.VelocityMLP, codes, recipe, seconds: float) -> None:
    blob = st_save({k: t.contiguous() for k, t in v.state_dict().items()})
    info = {
        "recipe": recipe.to_dict(),
        "dim": v.dim,
        "active_units": v.n_active,
        "codes": int(codes.shape[0]),
        "codes_sha256": digest(codes),
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "fit_seconds": round(seconds, 2),
        "threads": torch.get_num_threads(),
    }
    out = run_dir / FLOW_DIR
    out.mkdir(exist_ok=True)
    atomic_write(out / "weights.safetensors", blob)
    atomic_write(out / "fit.json", json.dumps(info, indent=1).encode())


def load_flow(run_dir: Path, codes, recipe) -> latent_flow.VelocityMLP | None:
    """The saved fit if it is whole and was made from these codes with this recipe; None (refit) otherwise."""
    folder = run_dir / FLOW_DIR
    if not (folder / "fit.json").exists():
        return None
    try:
        info = json.loads(read_capped(folder / "fit.json", MAX_JSON_BYTES, "the latent flow's record"))
        blob = read_capped(folder / "weights.safetensors", MAX_CACHE_BYTES, "the latent flow's weights")
        if (
            not isinstance(info, dict)
            or info.get("codes_sha256") != digest(codes)
            or info.get("recipe") != recipe.to_dict()
            or info.get("weights_sha256") != hashlib.sha256(blob).hexdigest()
        ):
            return None
        weights = st_load(blob)
        n_active = int(weights["active"].sum())
        v = latent_flow.VelocityMLP(codes.shape[1], recipe.width, recipe.depth, n_active=n_active)
        v.load_state_dict(weights)
        return v.eval()
    except (OSError, ValueError, SafetensorError, RuntimeError, KeyError):
        return None  # damaged or foreign: fit again (the new fit replaces it atomically)


@torch.no_grad()
def decode_codes(model, codes: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([model.decode(codes[i : i + batch].float().to(device)) for i in range(0, codes.shape[0], batch)])


@torch.no_grad()
def sample_from_mixture(
    model, mixture: gmm.GaussianMixture, n: int, generator: torch.Generator, batch: int = 1000
) -> torch.Tensor:
    """n decoded images in [-1, 1] from codes drawn from the mixture."""
    return decode_codes(model, draw_mixture(mixture, n, generator), batch)


def sample(model, spec: CodeSampler, fitted: Any, n: int, generator: torch.Generator, cfg) -> torch.Tensor:
    """n decoded images in [-1, 1] drawn with one registered sampler."""
    return decode_codes(model, spec.draw(fitted, n, generator, cfg))


def draw_mixture(mixture: gmm.GaussianMixture, n: int, generator: torch.Generator, cfg=None) -> torch.Tensor:
    return torch.cat([mixture.sample(min(1000, n - i), generator) for i in range(0, n, 1000)])


def draw_training_codes(codes: torch.Tensor, n: int, generator: torch.Generator, cfg=None) -> torch.Tensor:
    pick = torch.randint(0, codes.shape[0], (n,), generator=generator)
    return codes[pick]


SAMPLERS: dict[str, CodeSampler] = {
    "gmm": CodeSampler(
        "gmm",
        M.GMM_PREFIX,
        "GMM sampler",
        "samples-gmm.png",
        f"z ~ {GMM_COMPONENTS}-component GMM fitted to the training codes",
        lambda cfg: (
            f"{M.GMM_PREFIX}* metrics: the same protocol for decoder samples whose codes come from a "
            f"{GMM_COMPONENTS}-component full-covariance Gaussian mixture fitted to the encoder means of the training "
            "images"
        ),
        fit_code_mixture,
        draw_mixture,
    ),
    "flow": CodeSampler(
        "flow",
        M.FLOW_PREFIX,
        "latent flow",
        "samples-flow.png",
        "z ~ flow matching fitted to the training codes",
        lambda cfg: (
            f"{M.FLOW_PREFIX}* metrics: the same protocol for decoder samples whose codes come from a "
            f"flow-matching model of the encoder means of the training images (MLP velocity field, "
            f"{json.dumps(flow_recipe(cfg).to_dict())}; midpoint solver, {cfg.eval.flow_nfe} function evaluations)"
        ),
        fit_code_flow,
        lambda v, n, g, cfg: latent_flow.sample(v, n, g, cfg.eval.flow_nfe),
    ),
    "codes": CodeSampler(
        "codes",
        M.CODES_PREFIX,
        "decoded training codes",
        "",
        "",
        lambda cfg: (
            f"{M.CODES_PREFIX}* metrics: decoded encoder means of random training images, the best any "
            "code density can do with this decoder (a sampler's FID minus this one's is its prior gap)"
        ),
        lambda model, cfg, src, run_dir: training_codes(model, cfg, src),
        draw_training_codes,
        generative=False,
    ),
}


def code_samplers(model, cfg=None) -> list[CodeSampler]:
    """The registered samplers a model offers beyond its prior, in its order (none for a GAN); a flow with
    `eval.flow_steps=0` is left out."""
    names = [s for s in getattr(model, "samplers", ("prior",)) if s != "prior"]
    if cfg is not None and cfg.eval.flow_steps == 0:
        names = [s for s in names if s != "flow"]
    return [SAMPLERS[s] for s in names]
