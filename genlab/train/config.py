"""Run configuration: frozen dataclasses, JSON in and out, `--section.key=value` overrides.

The dataclasses are the single source of defaults. Every field carries its unit
in a comment and its bounds in `metadata`; one validator checks types, choices,
bounds and finiteness for every section, so a bad value anywhere gets the same
one-line GenlabError that names the key (and the closest valid key on a typo).
`config.json` in a run dir is the complete input to reproduce that run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

from genlab import data
from genlab.core.bounds import bounded
from genlab.core.errors import GenlabError, closest, lookup, shown
from genlab.models import MODELS
from genlab.store.runs import loads_finite


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "mnist"  # a registry entry in genlab.data.DATASETS, or folder:PATH (genlab.data.folders)
    n_train: int = bounded(0, 0, 500_000)  # training images used; 0 = the whole split
    # held-out share of a folder: dataset (by file-name hash)
    test_fraction: float = bounded(data.folders.DEFAULT_TEST_FRACTION, 0.05, 0.5)
    # a folder's images converted to size x size (a multiple of 4) with 1 (grey) or 3 (colour) channels; the
    # defaults are the judge's 28 x 28 grey (docs/datasets.md); the registry's datasets keep their own shape
    size: int = bounded(data.folders.SIZE, 8, 256)
    channels: int = bounded(data.folders.CHANNELS, 1, 3)

    def check(self) -> None:
        data.folders.check_conversion(self.size, self.channels)
        normal = data.check_name(self.dataset)
        if normal != self.dataset:  # a relative folder path: the config must hold the absolute one
            object.__setattr__(self, "dataset", normal)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = bounded(10, 1, 10_000)  # passes over the training images
    batch_size: int = bounded(128, 2, 65_536)  # images per optimizer step
    seed: int = bounded(0, 0, 2**31 - 1)  # seeds init, batch order and noise
    threads: int = bounded(0, 0, 1024)  # torch intra-op threads; 0 = torch's default
    log_every: int = bounded(50, 1, 10**9)  # steps between metrics.jsonl lines
    keep_checkpoints: int = bounded(2, 1, 1000)  # newest checkpoints kept (plus the best)
    checkpoint_every: int = bounded(0, 0, 10**9)  # also checkpoint every N steps inside an epoch; 0 = epoch ends
    lr_rampdown: float = bounded(0.0, 0.0, 1.0)  # last fraction of training over which every step size falls
    #   linearly to 0 (genlab/train/schedules.py); 0 = constant
    amp: bool = False  # bf16 autocast of the training step (weights and optimizer stay fp32); timed by
    #   bench/gpu_throughput.py --amp


@dataclass(frozen=True)
class EvalConfig:
    n_samples: int = bounded(10_000, 100, 1_000_000)  # generated images per metric evaluation
    epoch_fid_samples: int = bounded(2_000, 0, 1_000_000)  # samples for the cheap per-epoch FID; 0 = off
    kid_subsets: int = bounded(100, 1, 10_000)  # KID subsets averaged
    kid_subset_size: int = bounded(1_000, 10, 100_000)  # images per KID subset
    iw_samples: int = bounded(100, 1, 100_000)  # importance samples per image for the IWAE bound
    iw_images: int = bounded(1_000, 1, 10_000)  # test images the IWAE bound is averaged over
    bootstrap: int = bounded(200, 10, 100_000)  # bootstrap resamples for single-seed intervals
    memo_samples: int = bounded(1_000, 10, 100_000)  # samples checked for near-copies of all training images
    mode_samples: int = bounded(26_000, 100, 1_000_000)  # Stacked MNIST: samples whose label triples are counted
    #   (26,000 as in VEEGAN and PacGAN)
    gmm_codes: int = bounded(0, 0, 10_000_000)  # training codes the ex-post samplers (GMM, latent flow) are
    #   fitted on, a seeded random subset; 0 = all (the GMM's cost grows with them: 29 s on 60,000 codes of 32 dims
    #   on one thread)
    # optimizer steps of the latent flow (genlab.eval.latent_flow); 0 = no flow sampler
    flow_steps: int = bounded(8000, 0, 10_000_000)
    flow_width: int = bounded(256, 8, 8192)  # hidden units per layer of the latent flow's velocity MLP (512: MNIST z16
    #   FID 30.0 instead of 35.0 at 3x the fit time; docs/results.md, 2026-12-02)
    flow_nfe: int = bounded(32, 2, 10_000)  # velocity evaluations per latent-flow sample (midpoint steps x 2)
    judges: int = bounded(0, 0, 10)  # judges every metric is also measured under (the instrument's spread): 0 = the
    #   shipped ensemble (3 for MNIST and Fashion-MNIST) or 1 for an image folder; K > 1 trains K for a folder


SECTIONS: dict[str, type] = {"data": DataConfig, "train": TrainConfig, "eval": EvalConfig}


@dataclass(frozen=True)
class RunConfig:
    model_name: str  # key of genlab.models.MODELS
    model: Any  # that model's Config dataclass
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    @property
    def z_dim(self) -> int:
        return self.model.z_dim

    @property
    def run_name(self) -> str:
        """Run folder name: dataset, model, capacity and seed, all a reader needs to place it."""
        return f"{data.slug(self.data.dataset)}-{self.model_name}-z{self.z_dim}-s{self.train.seed}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": {"name": self.model_name, **dataclasses.asdict(self.model)}}
        for name in SECTIONS:
            out[name] = dataclasses.asdict(getattr(self, name))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _model_config_class(model_name: str) -> type:
    return lookup(MODELS, model_name, "model").Config


def _check_value(where: str, f: dataclasses.Field, value: Any, hint: Any) -> Any:
    """Type, choice, bound and finiteness check for one field; returns the value as its type."""
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise GenlabError(f"{where}={shown(value)} is not allowed; {closest(str(value), choices)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise GenlabError(f"{where}={shown(value)} must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GenlabError(f"{where}={shown(value)} must be a whole number")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GenlabError(f"{where}={shown(value)} must be a number")
        value = float(value)
        if not math.isfinite(value):
            raise GenlabError(f"{where}={shown(value)} must be a finite number")
    elif hint is str:
        if not isinstance(value, str):
            raise GenlabError(f"{where}={shown(value)} must be text")
        return value
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if lo is not None and value < lo:
        raise GenlabError(f"{where}={shown(value)} is too small; use a value >= {lo}")
    if hi is not None and value > hi:
        raise GenlabError(f"{where}={shown(value)} is too large; use a value <= {hi}")
    return value


def build_section(cls: type, values: Any, where: str) -> Any:
    """A validated dataclass from a dict; unknown keys name the closest valid key."""
    if not isinstance(values, dict):
        raise GenlabError(f"config section '{where}' must be an object, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise GenlabError(f"unknown config key {shown(f'{where}.{key}')}; {closest(str(key), fields)}")
        kwargs[key] = _check_value(f"{where}.{key}", fields[key], value, hints[key])
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        check()
    return obj


def from_dict(d: Any, saved: bool = False) -> RunConfig:
    """The inverse of RunConfig.to_dict, strict about every key and value. `saved`: d was written by an earlier run
    (config.json), so a model key it lacks takes the value its absence meant then (the config's ABSENT_MEANS), not
    today's default."""
    if not isinstance(d, dict):
        raise GenlabError("config must be a JSON object with keys model, data, train, eval")
    for key in d:
        if key != "model" and key not in SECTIONS:
            raise GenlabError(f"unknown config key {shown(key)}; {closest(str(key), ['model', *SECTIONS])}")
    model = d.get("model")
    if not isinstance(model, dict) or "name" not in model:
        raise GenlabError("config key 'model' must be an object with a 'name' (e.g. gan, vae)")
    model = dict(model)
    name = model.pop("name")
    cls = _model_config_class(name)
    if saved:  # a run written before a setting existed keeps its behaviour
        model = {**getattr(cls, "ABSENT_MEANS", {}), **model}
    sections = {s: build_section(c, d.get(s, {}), s) for s, c in SECTIONS.items()}
    model_cfg = build_section(cls, model, "model")
    MODELS[name].check_shape(model_cfg, data.source_of(sections["data"]).shape)
    return RunConfig(model_name=name, model=model_cfg, **sections)


def from_json(text: str, source: str = "config") -> RunConfig:
    try:
        d = loads_finite(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise GenlabError(f"{source} is not valid JSON ({e}); fix or delete it") from None
    try:
        return from_dict(d, saved=True)
    except GenlabError as e:  # name the file: a config read back from a run dir may be damaged or hostile
        raise GenlabError(f"{source}: {e}" if source != "config" else str(e)) from None


def parse_value(text: str) -> Any:
    """A CLI value as JSON where it parses (64, 0.5, true), else as plain text (gan, mlp)."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text


def apply_overrides(base: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`section.key=value` strings merged into a config dict (validated later by from_dict)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for item in overrides:
        item = item[2:] if item.startswith("--") else item
        key, sep, raw = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise GenlabError(f"override {shown(item)} must look like section.key=value, e.g. model.z_dim=64")
        if section != "model" and section not in SECTIONS:
            raise GenlabError(f"unknown config section {shown(section)}; {closest(section, ['model', *SECTIONS])}")
        out.setdefault(section, {})[name] = parse_value(raw)
    return out


# A model's defaults on an image folder (folder:PATH: the user's images, a small set), where they differ from its
# defaults on MNIST: chosen by the small-folder study (docs/results.md, 2026-12-02 night) and applied before the
# user's overrides, so each can be set back (e.g. --model.d_arch=mlp --model.augment=).
FOLDER_DEFAULTS: dict[str, tuple[str, ...]] = {
    # a conv D with differentiable augmentation (Zhao et al. 2020): on the 1,250-image shapes demo, 2 seeds, FID
    # and every class drawn where the MNIST recipe's MLP D memorised the set; and DCGAN's conv G (Radford et al.
    # 2016; 64 and 32 channels at 7 and 14 pixels): 3 seeds at z 32 / 64 / 128, every run recognisable 0.78-0.84
    # with all five classes, k-NN recall 0.17-0.40 where the MLP G's was 0.00-0.01, at ~1.9x the MLP G's time
    # (docs/results.md, 2026-12-05)
    "gan": ("model.arch=conv", "model.width=256", "model.d_arch=conv", "model.augment=color,translation,cutout"),
}


def make_config(model_name: str, dataset: str = "mnist", overrides: list[str] | None = None) -> RunConfig:
    """Defaults for a model and dataset (FOLDER_DEFAULTS on an image folder), with overrides applied and
    everything validated."""
    base = {"model": {"name": model_name}, "data": {"dataset": dataset}}
    folder = FOLDER_DEFAULTS.get(model_name, ()) if data.is_folder(dataset) else ()
    merged = apply_overrides(base, [*folder, *(overrides or [])])
    if merged["model"].get("name") != model_name:
        raise GenlabError(
            f"--model.name={shown(merged['model'].get('name'))} contradicts --model {shown(model_name)}; "
            "choose the model with --model alone"
        )
    return from_dict(merged)
