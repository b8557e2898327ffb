"""Named studies as data: which models, latent sizes, datasets and epochs; and run profiles.

The seed study `lab` reproduces "Generative Models Foundations (GAN vs VAE)":
GAN z 32/64/128 and VAE z 8/16/32 on MNIST and Fashion-MNIST, 10 epochs each,
compared at matched capacity (low 32<->8, mid 64<->16, high 128<->32).
A new question becomes a new entry here, not a new code path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from genlab.config import RunConfig, make_config
from genlab.errors import GenlabError, lookup


@dataclass(frozen=True)
class Study:
    name: str
    datasets: tuple[str, ...]
    arms: dict[str, tuple[int, ...]]  # model name -> latent sizes, in capacity order (low, mid, high)
    capacity_names: tuple[str, ...]  # one label per position in each arm's latent sizes
    overrides: tuple[str, ...] = ()  # applied to every run before the profile, e.g. train.epochs=10
    description: str = ""
    fixed: tuple[str, ...] = ()  # applied after the profile: settings that define the study whatever the profile

    def matched(self, model_name: str, capacity: int) -> int:
        """The latent size of `model_name` at capacity position `capacity` (0 = low)."""
        return self.arms[model_name][capacity]


@dataclass(frozen=True)
class Profile:
    name: str
    overrides: tuple[str, ...]  # applied after the study's own
    description: str


STUDIES: dict[str, Study] = {
    "lab": Study(
        name="lab",
        datasets=("mnist", "fashion-mnist"),
        arms={"gan": (32, 64, 128), "vae": (8, 16, 32), "vaegan": (8, 16, 32)},
        capacity_names=("low", "mid", "high"),
        overrides=("train.epochs=10",),
        description="GAN z 32/64/128 vs VAE z 8/16/32 (and the VAE-GAN hybrid the study proposes, z 8/16/32) on "
                    "MNIST and Fashion-MNIST, 10 epochs each",
    ),
    "smoke": Study(
        name="smoke",
        datasets=("mnist",),
        arms={"gan": (2, 4), "vae": (2, 4)},
        capacity_names=("low", "high"),
        fixed=("train.epochs=1", "data.n_train=1024", "model.width=32", "train.batch_size=64",
                   "eval.n_samples=200", "eval.epoch_fid_samples=200", "eval.kid_subsets=5",
                   "eval.kid_subset_size=100", "eval.iw_samples=5", "eval.iw_images=50", "eval.bootstrap=10"),
        description="a seconds-long check of an installation: tiny models, one epoch, MNIST only",
    ),
}

PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", ("train.epochs=4", "data.n_train=12000", "train.batch_size=64", "eval.n_samples=2000",
                               "eval.epoch_fid_samples=1000", "eval.kid_subsets=20", "eval.kid_subset_size=500",
                               "eval.iw_samples=20", "eval.iw_images=200", "eval.bootstrap=50",
                               "eval.memo_samples=500"),
                     "4 epochs on 12,000 images at batch 64 (748 steps), 2,000-sample metrics: minutes on a laptop CPU"),
    "full": Profile("full", (), "the study as specified: 10 epochs on all 60,000 images, 10,000-sample metrics"),
}


def get_study(name: str) -> Study:
    return lookup(STUDIES, name, "study")


def select_models(study: Study, models: list[str] | None) -> Study:
    """The study restricted to some of its models (e.g. the original 12-run GAN-vs-VAE study: gan,vae)."""
    if not models:
        return study
    for m in models:
        lookup(study.arms, m, f"model of study '{study.name}'")
    return replace(study, arms={m: zs for m, zs in study.arms.items() if m in models})


def get_profile(name: str) -> Profile:
    return lookup(PROFILES, name, "profile")


def expand(study: Study, profile: Profile, seeds: int, overrides: list[str] | None = None) -> list[RunConfig]:
    """Every run of the study: dataset x model x latent size x seed, with all overrides applied."""
    if not isinstance(seeds, int) or seeds < 1 or seeds > 100:
        raise GenlabError(f"--seeds {seeds!r} must be a whole number from 1 to 100")
    runs = []
    for dataset in study.datasets:
        for model_name, z_dims in study.arms.items():
            mine = scoped(overrides or [], model_name, study)
            for z in z_dims:
                for seed in range(seeds):
                    ov = [*study.overrides, *profile.overrides, *study.fixed, *mine, f"model.z_dim={z}",
                          f"train.seed={seed}"]
                    runs.append(make_config(model_name, dataset, ov))
    return runs


def scoped(overrides: list[str], model_name: str, study: Study) -> list[str]:
    """Overrides for one model: `gan.lr=1e-4` reaches only the GAN (as model.lr); others reach all."""
    out = []
    for item in overrides:
        item = item[2:] if item.startswith("--") else item
        head, dot, rest = item.partition(".")
        if dot and head in study.arms:
            if head == model_name:
                out.append(f"model.{rest}")
        else:
            out.append(item)
    return out
